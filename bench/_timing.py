"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import time


def best_time(fn, repeat):
    """Best wall time of `repeat` calls of fn, after one warm-up call (FFTW plans,
    caches, first touches of fresh pages)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine():
    """CPU model, core count and Python version, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
