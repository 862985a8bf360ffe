"""Many Python threads calling different algorithms at once (the GIL is released around
the C++ work, the FFT plan cache is shared): every result equals the serial one, bit
for bit, with no deadlock; repeated calls do not grow the process's memory; the same
input, parameters and thread count give bit-identical output.

The default run does a small mix; `-m slow` runs the issue's figures (8 threads x 100
mixed calls; 1,000 calls for the memory check)."""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np
import pytest
import unblur
from conftest import skip_under_asan


def _calls(seed):
    """A list of (name, function, args, kwargs) of mixed algorithms on fresh inputs."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(6):
        shape = tuple(int(n) for n in rng.integers(24, 72, 2))
        dtype = (np.float32, np.float64)[k % 2]
        img = rng.random(shape).astype(dtype)
        psf = unblur.psf.gaussian(float(rng.uniform(0.8, 2.0))).astype(dtype)
        out += [
            ("convolve", unblur.convolve, (img, psf), {"boundary": "reflect"}),
            ("gaussian_filter", unblur.gaussian_filter, (img, float(rng.uniform(0.5, 3.0))), {}),
            ("wiener", unblur.wiener, (img, psf), {}),
            ("tikhonov", unblur.tikhonov, (img, psf), {"boundary": "periodic"}),
            ("richardson_lucy", unblur.richardson_lucy, (img, psf), {"iterations": 5}),
            ("tv_deconvolve", unblur.tv_deconvolve, (img, psf), {"iterations": 5}),
            ("psf2otf", unblur.fft.psf2otf, (psf, shape), {}),
            ("ssim", unblur.metrics.ssim, (img, img * 0.9), {"data_range": 1.0}),
        ]
    return out


def _equal(a, b):
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return a == b


def _concurrent_equals_serial(threads, calls_per_thread):
    work = []
    for t in range(threads):
        calls = _calls(1000 + t)
        work.append([calls[i % len(calls)] for i in range(calls_per_thread)])
    serial = [[fn(*args, **kw) for _, fn, args, kw in calls] for calls in work]

    def run(calls):
        return [fn(*args, **kw) for _, fn, args, kw in calls]

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(run, calls) for calls in work]
        results = [f.result(timeout=600) for f in futures]  # a deadlock fails here
    for t, (got, want) in enumerate(zip(results, serial)):
        for i, (a, b) in enumerate(zip(got, want)):
            assert _equal(a, b), f"thread {t}, call {i} ({work[t][i][0]}) differs from the serial result"


def test_threads_calling_at_once_equal_the_serial_results():
    _concurrent_equals_serial(threads=4, calls_per_thread=8)


@pytest.mark.slow
def test_eight_threads_times_one_hundred_mixed_calls():
    _concurrent_equals_serial(threads=8, calls_per_thread=100)


def test_same_input_same_threads_bit_identical():
    for name, fn, args, kw in _calls(7):
        first, second = fn(*args, **kw), fn(*args, **kw)
        assert _equal(first, second), name


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_growth(n_calls):
    calls = _calls(3)
    for _, fn, args, kw in calls * 3:  # warm: plans cached, pools and caches at their size
        fn(*args, **kw)
    before = _rss_bytes()
    for i in range(n_calls):
        _, fn, args, kw = calls[i % len(calls)]
        fn(*args, **kw)
    return _rss_bytes() - before


@skip_under_asan
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_repeated_calls_do_not_grow_memory():
    assert _memory_growth(100) < 5 * 2**20


@pytest.mark.slow
@skip_under_asan
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_one_thousand_calls_grow_memory_by_less_than_5_mb():
    growth = _memory_growth(1000)
    print(f"\nRSS growth over 1000 mixed calls: {growth / 2**20:.2f} MiB")
    assert growth < 5 * 2**20
