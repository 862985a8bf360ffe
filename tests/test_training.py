"""The training code's generator and model (training/, docs/training.md): shapes, ranges,
determinism, size. Skipped where PyTorch is not installed (it is a training-only dependency,
not one of unblur's); no training runs here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import data  # noqa: E402
from training.model import Denoiser, parameter_count  # noqa: E402


@pytest.mark.parametrize("channels", [1, 3])
def test_batch_shapes_and_ranges(channels):
    clean, noisy, sigma = data.training_batch(seed=0, index=0, batch_size=3, size=32, channels=channels, p_varying=0.5)
    assert clean.shape == noisy.shape == (3, channels, 32, 32)
    assert sigma.shape == (3, 1, 32, 32)
    assert clean.dtype == noisy.dtype == sigma.dtype == np.float32
    assert clean.min() >= 0.0 and clean.max() <= 1.0
    assert sigma.min() >= 0.0 and sigma.max() <= data.SIGMA_MAX + 1e-7
    # The noise is sigma times a standard normal: its normalised residual has unit variance.
    mask = np.broadcast_to(sigma, noisy.shape) > 1e-3
    z = ((noisy - clean) / np.maximum(sigma, 1e-6))[mask]
    assert abs(z.std() - 1.0) < 0.1 and abs(z.mean()) < 0.1


def test_scenes_have_structure():
    # Dead leaves: many distinct values (shapes, textures), not a flat image.
    image = data.render_scene(np.random.default_rng(1), 64, 3)
    assert image.std() > 0.01
    assert len(np.unique(image.round(3))) > 50


def test_batches_are_deterministic():
    a = data.training_batch(seed=7, index=5, batch_size=2, size=24, channels=3)
    b = data.training_batch(seed=7, index=5, batch_size=2, size=24, channels=3)
    c = data.training_batch(seed=7, index=6, batch_size=2, size=24, channels=3)
    d = data.training_batch(seed=8, index=5, batch_size=2, size=24, channels=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], d[0])


def test_validation_set_is_fixed():
    clean1, noisy1 = data.validation_set(1, count=2, size=16)
    clean2, noisy2 = data.validation_set(1, count=2, size=16)
    np.testing.assert_array_equal(clean1, clean2)
    assert sorted(noisy1) == sorted(data.VALIDATION_SIGMAS)
    for s in data.VALIDATION_SIGMAS:
        np.testing.assert_array_equal(noisy1[s], noisy2[s])


def test_psnr():
    clean = np.full((2, 1, 4, 4), 0.5, np.float32)
    assert data.psnr(clean + 0.1, clean) == pytest.approx(20.0, abs=1e-4)


@pytest.mark.parametrize("channels", [1, 3])
def test_model_size_multiple_and_identity_start(channels):
    model = Denoiser(channels)
    assert parameter_count(model) <= 2_000_000
    assert model.multiple == 8
    x = torch.rand(2, channels + 1, 16, 24)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, channels, 16, 24)
    # The last convolution starts at zero: the untrained network returns its noisy input.
    torch.testing.assert_close(y, x[:, :channels], rtol=0, atol=0)


def test_model_width_option():
    assert parameter_count(Denoiser(3, width=32, blocks=4)) > 4 * parameter_count(Denoiser(3))
    assert Denoiser(3, levels=4).multiple == 16


def test_channel_correlation_option(tmp_path, capsys):
    from training import train

    args = train.parse_args(["--out", str(tmp_path), "--channels", "3", "--channel-correlation", "0.8"])
    assert args.channel_correlation == 0.8
    for argv, message in ((["--channels", "1", "--channel-correlation", "0.5"], "needs --channels 3"),
                          (["--channels", "3", "--channel-correlation", "1.5"], "is not in [0, 1]")):
        with pytest.raises(SystemExit):
            train.parse_args(["--out", str(tmp_path), *argv])
        assert message in capsys.readouterr().err
