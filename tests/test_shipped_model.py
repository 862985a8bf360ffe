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


def test_the_shipped_files_are_there_and_small():
    sizes = [os.path.getsize(unblur.models.shipped_model("grey", p)) for p in ("fp32", "fp16")]
    assert sum(sizes) <= 10 * 10**6  # the budget for fp32 + fp16 together
    with pytest.raises(ValueError, match="no shipped model"):
        unblur.models.shipped_model("rgb")


def test_the_shipped_model_follows_the_contract():
    runner = unblur.models.denoiser()
    assert (runner.channels, runner.multiple, runner.layout) == (1, 8, "noise-channel")


@pytest.mark.parametrize("sigma, gain", [(15, 6.0), (25, 7.5), (50, 9.5)])
def test_the_shipped_model_denoises_a_photograph(sigma, gain):
    # A crop of a test photograph (never a training image: training uses generated dead
    # leaves only). Measured with the shipped model: 24.64 -> 31.79 dB at 15/255,
    # 20.17 -> 28.76 at 25/255, 14.20 -> 25.27 at 50/255 (gains 7.2, 8.6, 11.1 dB);
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
    # fp16 weights and activations (I/O float32): measured max 1.7e-4 at this level.
    np.testing.assert_allclose(b, a, rtol=0, atol=2e-3)
