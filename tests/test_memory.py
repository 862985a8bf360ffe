"""Working-memory estimates and the memory limit: a call that would not fit is refused
with a MemoryError naming the function before anything is allocated, and the
estimates bound the measured peaks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import unblur
from unblur import _memory


@pytest.fixture(autouse=True)
def _no_limit_after():
    yield
    unblur.set_memory_limit(None)


@pytest.mark.parametrize("call", [
    lambda g, h: unblur.richardson_lucy(g, h, iterations=2),
    lambda g, h: unblur.wiener(g, h),
    lambda g, h: unblur.tikhonov(g, h),
    lambda g, h: unblur.tv_deconvolve(g, h, iterations=2),
    lambda g, h: unblur.deconvolve(g, h),
])
def test_a_call_over_the_limit_is_refused_before_it_starts(rng, call):
    g = rng.random((512, 512)).astype(np.float32)
    h = unblur.psf.gaussian(2.0).astype(np.float32)
    unblur.set_memory_limit("8MiB")  # a 512 x 512 float32 grid is 1 MiB; every method needs more
    t0 = time.perf_counter()
    with pytest.raises(MemoryError, match=r"needs about [0-9.]+ GiB of working memory, more than unblur's limit"):
        call(g, h)
    assert time.perf_counter() - t0 < 0.5  # refused up front, not after iterating
    unblur.set_memory_limit("1GiB")
    small = np.ascontiguousarray(g[:96, :96])
    assert call(small, h).shape == small.shape


def test_the_machines_available_memory_is_a_limit_too(rng, monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda xp=np: 2**20)
    with pytest.raises(MemoryError, match=r"richardson_lucy needs about .* more than this machine has available"):
        unblur.richardson_lucy(rng.random((256, 256)), unblur.psf.gaussian(1.0))


def test_limit_arguments():
    unblur.set_memory_limit("1.5 GiB")
    assert unblur.get_memory_limit() == int(1.5 * 2**30)
    unblur.set_memory_limit(10**9)
    assert unblur.get_memory_limit() == 10**9
    unblur.set_memory_limit("500MB")
    assert unblur.get_memory_limit() == 500 * 10**6
    for bad, exc in [("lots", ValueError), ("-1GB", ValueError), (0, ValueError), (1.5, TypeError), (True, TypeError)]:
        with pytest.raises(exc, match="limit"):
            unblur.set_memory_limit(bad)


_PEAK = textwrap.dedent("""
    import os, sys
    import numpy as np
    import unblur
    from unblur import _memory
    unblur.fft.set_planner("estimate")  # no planning time; the buffers are the same
    name, n = sys.argv[1], 2048  # large enough that the call, not the imports, sets the peak
    g = np.random.default_rng(0).random((n, n)).astype(np.float32)
    h = unblur.psf.gaussian(2.0).astype(np.float32)
    calls = {"rl": (lambda: unblur.richardson_lucy(g, h, iterations=2),
                    _memory.richardson_lucy_bytes((n, n), h.shape, "auto", 4, accelerate=True, weights=False,
                                                  tv=False)),
             "wiener": (lambda: unblur.wiener(g, h), _memory.quadratic_bytes((n, n), h.shape, "auto", 4)),
             "tv": (lambda: unblur.tv_deconvolve(g, h, iterations=2), _memory.tv_bytes((n, n), h.shape, "auto", 4))}
    fn, estimate = calls[name]
    with open("/proc/self/statm") as f:
        rss_before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current RSS: the peak is then this call's
    fn()
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    print(hwm - rss_before, estimate)
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc peak reset")
@pytest.mark.parametrize("name", ["rl", pytest.param("wiener", marks=pytest.mark.slow),
                                  pytest.param("tv", marks=pytest.mark.slow)])
def test_the_estimate_bounds_the_measured_peak(name):
    # Only unblur's own location on the path: nothing else the test session imported.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(unblur.__file__)))
    r = subprocess.run([sys.executable, "-c", _PEAK, name], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    peak, estimate = (int(v) for v in r.stdout.split())
    assert peak <= estimate, f"{name}: measured peak {peak} above the estimate {estimate}"
    assert estimate < 2.0 * peak + 8 * 2**20, f"{name}: estimate {estimate} far above the peak {peak}"
