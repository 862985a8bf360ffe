"""bench/linear_light.py: the sRGB photograph pipeline runs end to end on a small case, and
its anchor (TV told a noise level) is TV's own 'auto' rule."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))

import linear_light  # noqa: E402


def test_tv_with_sigma_is_tvs_auto_rule(rng):
    import unblur

    g = unblur.convolve(rng.random((40, 44)), unblur.psf.gaussian(1.5), boundary="periodic")
    g += rng.normal(0, 0.02, g.shape)
    psf = unblur.psf.gaussian(1.5)
    sigma = unblur.estimate_noise(g)
    np.testing.assert_array_equal(linear_light.tv_with_sigma(g, psf, sigma), unblur.tv_deconvolve(g, psf))


def test_runs_end_to_end(capsys):
    pytest.importorskip("skimage")
    linear_light.main(["--images", "1", "--size", "48", "--noise", "0.03", "--psf", "gaussian"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("camera"))
    values = [float(v) for v in row.split()[3:]]
    assert len(values) == 9 and all(np.isfinite(values))
    assert "## mean PSNR dB" in out


@pytest.mark.parametrize("args", [["--noise", "0"], ["--noise", "1.5"], ["--psf", "blob"]])
def test_bad_arguments_are_usage_errors(args):
    with pytest.raises(SystemExit) as e:
        linear_light.main(args)
    assert e.value.code == 2
