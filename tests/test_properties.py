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
