"""Shared fixtures: fresh random inputs, per-dtype tolerances, the GPU skip."""

from __future__ import annotations

import collections
import json
import os
import sys

import numpy as np
import pytest
import unblur
from hypothesis import HealthCheck, settings

# Relative tolerances for comparisons between unblur's engines and references
# (FFT round-off grows like eps * log N; these hold for the sizes the tests use).
RTOL = {np.float32: 2e-5, np.float64: 1e-11}
ATOL = {np.float32: 2e-6, np.float64: 1e-13}


#: Under tools/sanitize.sh (ASan preloaded): shadow memory, redzones and the quarantine of
#: freed blocks inflate the resident memory, so tests that measure RSS or peaks skip.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
skip_under_asan = pytest.mark.skipif(UNDER_ASAN, reason="memory measurements are meaningless under AddressSanitizer "
                                     "(shadow memory, redzones, quarantine)")


def tol(dtype):
    t = np.dtype(dtype).type
    return {"rtol": RTOL[t], "atol": ATOL[t]}


@pytest.fixture
def rng(request):
    """A generator seeded differently every run (fresh inputs), seed printed on failure."""
    seed = np.random.SeedSequence().entropy % (2**32)
    request.node.user_properties.append(("seed", seed))
    return np.random.default_rng(seed)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture(params=["auto", "baseline"])
def simd(request):
    """Runs a test with each variant of the per-pixel kernels (AVX2 where the CPU has it,
    and the portable baseline), restoring the automatic choice afterwards."""
    unblur._core.set_simd(request.param)
    yield unblur._core.simd_level()
    unblur._core.set_simd("auto")


@pytest.fixture
def fake_cupy(monkeypatch):
    """tests/cupy_standin.py installed as `cupy` for one test (the array-API code "on
    CuPy", on the CPU), with UNBLUR_BACKEND=cupy so that the CUDA module is never
    handed its fake device pointers. Yields the stand-in module; its `transfers`
    counts host <-> device traffic. Everything is undone afterwards. (Never installed
    at collection: GPU below is decided without it.)"""
    import cupy_standin

    def clear_caches():
        for value in vars(unblur._backend).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()

    monkeypatch.setenv("UNBLUR_BACKEND", "cupy")
    for name, module in cupy_standin.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    clear_caches()
    cupy_standin.reset()
    yield cupy_standin.cupy
    cupy_standin.reset()
    clear_caches()  # monkeypatch then restores sys.modules and the environment


@pytest.fixture
def fake_cuda(fake_cupy, monkeypatch):
    """The CUDA route on the CPU: the CuPy stand-in, and tests/cuda_on_host.py in place
    of unblur._cuda (the CUDA engine's single-source algorithms run by the host
    executor, on the stand-in arrays' real addresses). Yields (cupy, the module)."""
    import cuda_on_host

    monkeypatch.setenv("UNBLUR_BACKEND", "auto")
    monkeypatch.setattr(unblur._backend, "cuda_module", lambda: cuda_on_host)
    cuda_on_host.calls.clear()
    yield fake_cupy, cuda_on_host


def _gpu_available():
    if not unblur._backend.cupy_available():
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


GPU = _gpu_available()


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs a CUDA GPU and CuPy")
    for item in items:
        if "gpu" in item.keywords and not GPU:
            item.add_marker(skip)


def pytest_runtest_makereport(item, call):
    # Print the random seed of a failing test so the failure can be replayed.
    if call.excinfo is not None:
        for k, v in item.user_properties:
            if k == "seed":
                print(f"\n[{item.nodeid}] rng seed = {v}")


# Hypothesis (tests/test_properties.py, tests/test_fuzz.py): the default profile "ci" runs
# a fast subset; HYPOTHESIS_PROFILE=thorough (or --hypothesis-profile=thorough) the long
# run. Example counts are per test (`examples(ci, thorough)`); no deadline, the machines
# are noisy.
settings.register_profile("ci", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", parent=settings.get_profile("ci"))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def thorough():
    return settings.get_current_profile_name() == "thorough"


def examples(ci, thorough_examples):
    """@settings with `ci` examples in the default profile, `thorough_examples` in "thorough"."""
    return settings(max_examples=thorough_examples if thorough() else ci)


#: Cases run per property / fuzz target (tests call CASE_COUNTS[name] += 1); the
#: terminal summary prints the totals, UNBLUR_CASE_REPORT=FILE writes them as JSON.
CASE_COUNTS = collections.Counter()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not CASE_COUNTS:
        return
    total = sum(CASE_COUNTS.values())
    terminalreporter.write_sep("-", f"hypothesis / fuzz cases: {total} (profile {settings.get_current_profile_name()})")
    for name, n in sorted(CASE_COUNTS.items()):
        terminalreporter.write_line(f"  {name:32s} {n}")
    path = os.environ.get("UNBLUR_CASE_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"profile": settings.get_current_profile_name(), "total": total, "cases": dict(CASE_COUNTS)},
                      f, indent=1)
