"""bench/pnp_steps.py's bookkeeping: the recorded denoiser inputs, whose step k is the
(k mod 8)-th flip/rotation of the estimate, are turned back before they are scored."""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))

import pnp_steps  # noqa: E402

import unblur  # noqa: E402


def test_step_errors_score_every_step_in_the_truths_orientation():
    rng = np.random.default_rng(5)
    # A smooth, asymmetric scene, so a flipped or turned estimate is far from it.
    y, x = np.mgrid[0:40, 0:40] / 40.0
    scene = 0.2 + 0.5 * x + 0.2 * y**2 + 0.05 * rng.standard_normal((40, 40))
    psf = unblur.psf.gaussian(1.0)
    k = psf.shape[0] // 2
    blurred = unblur.convolve(scene, psf, mode="valid")
    truth = scene[k:-k, k:-k]
    record = []

    def gentle(v, s):  # a 'denoiser' that leaves its input almost as it is
        return v * 0.999

    unblur.pnp_deconvolve(blurred, psf, denoiser=pnp_steps.recorder(gentle, record), noise_sigma=0.001)
    rows = pnp_steps.step_errors(record, truth, psf)
    assert len(rows) == 8
    sigmas = [r[0] for r in rows]
    assert sigmas[0] > sigmas[-1]
    for _, ex, ez in rows:
        assert ex < 0.05 * 255 and ez < 0.05 * 255  # aligned: a few percent of the range
    # Without turning step 1's arrays back, its error is that of a mirrored scene.
    x1 = record[1][0][k:k + truth.shape[0], k:k + truth.shape[1]]
    assert 255 * np.sqrt(np.mean((x1 - truth) ** 2)) > 4 * rows[1][1]
