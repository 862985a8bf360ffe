"""Property-based tests (hypothesis) of the public API."""

from __future__ import annotations

import numpy as np
import pytest
import unblur
from unblur import cli


# ---- regressions ---------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [1025, 50_000, 100_000, 10**6, 2**31 - 1, 2**31, 2**70])
def test_a_huge_thread_count_is_a_value_error_not_a_dead_process(threads, capsys):
    # threads=50000 ended the process ("libgomp: Thread creation failed", exit 1),
    # 100000 and 10**6 were segmentation faults, 2**31 - 1 "libgomp: Out of memory".
    x, k = np.ones((8, 9)), np.ones((3, 3))
    with pytest.raises(ValueError, match="threads must be <= 1024"):
        unblur.convolve(x, k, threads=threads)
    with pytest.raises(ValueError, match="threads must be <= 1024"):
        unblur.set_threads(threads)
    with pytest.raises(ValueError, match="threads must be <= 1024"):
        unblur.psf.turbulence(1.0, threads=threads)
    assert unblur.get_threads() <= 1024
    assert unblur.convolve(x, k, threads=1024).shape == (8, 9)
    # The command line says so in one line (exit status 2) before doing anything.
    with pytest.raises(SystemExit) as exc:
        cli.main(["evaluate", "a.png", "--reference", "b.png", "--threads", str(threads)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--threads must be <= 1024" in err and "Traceback" not in err


@pytest.mark.parametrize("extent, steps, smoothness", [(1e9, 64, 0.9), (1e6, 64, 0.9), (30000, 10**6, 0.0)])
def test_shake_refuses_a_trajectory_too_long_to_sample_instead_of_hanging(extent, steps, smoothness):
    # psf.shake(1e9) ran for minutes and filled the memory: the core samples the
    # trajectory every 1/16 pixel before it checks the PSF's size.
    import time

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="samples"):
        unblur.psf.shake(extent, steps=steps, smoothness=smoothness, size=33)
    assert time.perf_counter() - t0 < 10


def test_shake_keeps_every_result_under_the_sample_limit():
    for kwargs in (dict(extent=15), dict(extent=200, steps=1000), dict(extent=3000, steps=2000, smoothness=0.99),
                   dict(extent=40, steps=10**5, smoothness=0.0, size=101)):
        psf = unblur.psf.shake(**kwargs)
        assert psf.ndim == 2 and abs(psf.sum() - 1) < 1e-12
