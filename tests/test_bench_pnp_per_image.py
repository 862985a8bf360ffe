"""bench/pnp_per_image.py's BM3D reference prior (`--model bm3d`): where the bm3d package is
installed it denoises in the caller's dtype; where it is not, the option is refused with a
message naming the package (the bench extra brings it; the test extra does not)."""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))

import pnp_per_image  # noqa: E402

HAVE_BM3D = importlib.util.find_spec("bm3d") is not None


@pytest.mark.skipif(not HAVE_BM3D, reason="the bm3d package is not installed")
def test_bm3d_prior_denoises_in_the_callers_dtype():
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:48, 0:48] / 48.0
    clean = 0.3 + 0.4 * (x > 0.5) + 0.2 * y
    sigma = 0.05
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    denoise = pnp_per_image.load_denoiser("bm3d")
    for dtype in (np.float64, np.float32):
        out = denoise(noisy.astype(dtype), sigma)
        assert out.dtype == dtype and out.shape == clean.shape
        # Denoised: the error is well below the noise's (a pass-through would keep it).
        assert np.sqrt(np.mean((out - clean) ** 2)) < 0.5 * sigma


@pytest.mark.skipif(HAVE_BM3D, reason="the bm3d package is installed")
def test_bm3d_prior_without_the_package_is_refused(capsys):
    with pytest.raises(SystemExit):
        pnp_per_image.main(["--model", "bm3d"])
    assert "bm3d package" in capsys.readouterr().err


def test_unknown_model_is_refused(capsys):
    with pytest.raises(SystemExit):
        pnp_per_image.main(["--model", "no-such-model.onnx"])
    assert "no such file" in capsys.readouterr().err
