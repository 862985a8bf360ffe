"""The denoiser shipped inside the package (python/unblur/models/weights, made by
training/train.py: docs/training.md), through unblur.models on ONNX Runtime's CPU
provider."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="the models need ONNX Runtime (the 'models' or 'test' extra)")

import unblur.models  # noqa: E402


def _camera_crop():
    from skimage import data

    return data.camera()[160:288, 192:320].astype(np.float32) / 255  # 128 x 128, edges and flat sky


def _psnr(ref, x):
    return float(10 * np.log10(1.0 / np.mean((ref.astype(np.float64) - x) ** 2)))


def _astronaut_crop():
    from skimage import data

    return data.astronaut()[40:168, 180:308].astype(np.float32) / 255  # 128 x 128 RGB: face, suit, flag


def test_the_shipped_files_are_there_and_small():
    files = [unblur.models.shipped_model("grey", "fp32"), unblur.models.shipped_model("grey", "fp16"),
             unblur.models.shipped_model("rgb", "fp16")]
    assert sum(os.path.getsize(f) for f in files) <= 10 * 10**6  # the budget for all shipped files
    assert unblur.models.shipped_model() == files[0] and unblur.models.shipped_model("rgb") == files[2]
    with pytest.raises(ValueError, match="no shipped model"):
        unblur.models.shipped_model("rgb", "fp32")
    with pytest.raises(ValueError, match="channels must be one of"):
        unblur.models.shipped_model("cmyk")


@pytest.mark.parametrize("channels, count", [("grey", 1), ("rgb", 3)])
def test_the_shipped_models_follow_the_contract(channels, count):
    runner = unblur.models.denoiser(channels=channels)
    assert (runner.channels, runner.multiple, runner.layout) == (count, 8, "noise-channel")


@pytest.mark.parametrize("sigma, gain, over_grey", [(15, 6.7, 1.2), (25, 8.5, 1.0), (50, 11.5, 0.8)])
def test_the_rgb_model_denoises_a_colour_photograph_better_than_the_grey_one_per_channel(sigma, gain, over_grey):
    # Measured with the shipped RGB model (fp16, training/make_rgb.sh, session 19 of
    # 2026-12-07) on this crop: 24.59 -> 32.61 dB at 15/255, 20.20 -> 30.20 at 25/255,
    # 14.14 -> 27.17 at 50/255 (gains 8.0, 10.0, 13.0 dB), and +1.78 / +1.76 / +1.65 dB over
    # the shipped grey model run on each channel (the RGB model before it: 32.26 / 29.88 /
    # 26.82 dB, +1.44 / +1.43 / +1.30); the bounds are 1.3-1.5 dB (gain) and 0.6-0.9 dB (the
    # margin) under, guards against a broken export or a model that lost its colour.
    clean = _astronaut_crop()
    noisy = clean + np.random.default_rng(sigma).normal(0, sigma / 255, clean.shape).astype(np.float32)
    out = unblur.models.denoiser(channels="rgb")(noisy, sigma / 255)
    assert out.shape == clean.shape and out.dtype == np.float32
    grey = unblur.models.denoiser()
    per_channel = np.stack([grey(np.ascontiguousarray(noisy[..., c]), sigma / 255) for c in range(3)], axis=-1)
    assert _psnr(clean, out) - _psnr(clean, noisy) >= gain
    assert _psnr(clean, out) - _psnr(clean, per_channel) >= over_grey


@pytest.mark.parametrize("sigma, gain", [(15, 6.0), (25, 7.5), (50, 9.5)])
def test_the_shipped_model_denoises_a_photograph(sigma, gain):
    # A crop of a test photograph (never a training image: training uses generated dead
    # leaves only). Measured with the shipped model: 24.64 -> 32.20 dB at 15/255,
    # 20.17 -> 29.06 at 25/255, 14.20 -> 25.53 at 50/255 (gains 7.6, 8.9, 11.3 dB);
    # the bounds are about 1 dB under, a guard against a broken export or runner.
    clean = _camera_crop()
    noisy = clean + np.random.default_rng(sigma).normal(0, sigma / 255, clean.shape).astype(np.float32)
    out = unblur.models.denoiser()(noisy, sigma / 255)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert _psnr(clean, out) - _psnr(clean, noisy) >= gain


def test_fp16_gives_the_fp32_result():
    clean = _camera_crop()
    noisy = clean + np.random.default_rng(0).normal(0, 0.1, clean.shape).astype(np.float32)
    a = unblur.models.denoiser("fp32")(noisy, 0.1)
    b = unblur.models.denoiser("fp16")(noisy, 0.1)
    # fp16 weights and activations (I/O float32): measured max 4.2e-4 at this level
    # (5.6e-4 and 6.6e-4 with the two previous grey models).
    np.testing.assert_allclose(b, a, rtol=0, atol=2e-3)
