"""bench/denoise.py's correlated colour noise (`--channel-correlation`, used by it and by
bench/pnp_colour.py) and bench/pnp_grey_as_rgb.py, run small: the benchmarks' own
machinery, so that a change to pnp_deconvolve's model choice cannot silently break them."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))

import denoise  # noqa: E402
import pnp_grey_as_rgb  # noqa: E402


def test_correlated_noise_has_the_asked_correlation_and_rho_0_is_the_old_draw():
    shape = (256, 256, 3)
    plain = denoise.correlated_noise(np.random.default_rng(4), 0.05, shape, 0.0)
    np.testing.assert_array_equal(plain, np.random.default_rng(4).normal(0.0, 0.05, shape))
    for rho in (0.3, 0.8):
        n = denoise.correlated_noise(np.random.default_rng(5), 0.05, shape, rho)
        assert n.std() == pytest.approx(0.05, rel=0.02)
        r = np.corrcoef(n[..., 0].ravel(), n[..., 2].ravel())[0, 1]
        assert r == pytest.approx(rho, abs=0.02)
    same = denoise.correlated_noise(np.random.default_rng(6), 0.05, shape, 1.0)
    np.testing.assert_array_equal(same[..., 0], same[..., 1])


def test_pnp_grey_as_rgb_runs_and_reports(capsys):
    assert pnp_grey_as_rgb.main(["--images", "1", "--size", "32", "--noise", "0.03"]) == 0
    out = capsys.readouterr().out
    assert "defaults (grey model) / RGB model forced" in out and "grey model" in out
    for argv, message in ((["--images", "0"], "--images must be in 1..8"), (["--noise", "-0.1"], "--noise must be in"),
                          (["--noise", "nan"], "--noise must be in")):
        with pytest.raises(SystemExit):
            pnp_grey_as_rgb.main(argv)
        assert message in capsys.readouterr().err
