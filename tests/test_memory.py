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
from conftest import skip_under_asan
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


def test_pnp_over_the_limit_is_refused_before_it_starts(rng):
    pytest.importorskip("onnxruntime")
    g = rng.random((512, 512)).astype(np.float32)
    h = unblur.psf.gaussian(2.0).astype(np.float32)
    unblur.set_memory_limit("8MiB")
    with pytest.raises(MemoryError, match=r"pnp_deconvolve needs about [0-9.]+ GiB of working memory"):
        unblur.pnp_deconvolve(g, h, iterations=1)
    unblur.set_memory_limit("1GiB")
    small = np.ascontiguousarray(g[:96, :96])
    assert unblur.pnp_deconvolve(small, h, iterations=1).shape == small.shape


@pytest.mark.parametrize("call", [
    lambda g, h: unblur.convolve(g, h),
    lambda g, h: unblur.convolve(np.stack([g] * 3, -1), h, channel_axis=-1),
    lambda g, h: unblur.gaussian_filter(g, 3.0),
    lambda g, h: unblur.collaborative_wiener(g, g, 0.05),
    lambda g, h: unblur.estimate_psf(g),
    lambda g, h: unblur.blind_richardson_lucy(g, h, iterations=2),
    lambda g, h: unblur.restore(g),
])
def test_filters_and_blind_estimation_are_refused_over_the_limit_too(rng, call):
    g = rng.random((512, 512)).astype(np.float32)
    h = unblur.psf.gaussian(2.0).astype(np.float32)
    unblur.set_memory_limit("512KiB")  # less than the 1 MiB output
    with pytest.raises(MemoryError, match=r"needs about [0-9.]+ GiB of working memory, more than unblur's limit"):
        call(g, h)
    unblur.set_memory_limit("1GiB")
    out = call(g, h)
    out = out[0] if isinstance(out, tuple) else out  # blind_richardson_lucy: (image, psf)
    assert out.ndim >= 2 and np.isfinite(out).all()  # estimate_psf: a PSF (a delta for this noise)


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
    rgb = np.random.default_rng(1).random((n, n, 3)).astype(np.float32) if name.endswith("rgb") or "rgb_" in name \
        else None
    h = unblur.psf.gaussian(2.0).astype(np.float32)
    k7, k31, k101 = (np.full((k, k), 1 / k**2, np.float32) for k in (7, 31, 101))
    calls = {"rl": (lambda: unblur.richardson_lucy(g, h, iterations=2),
                    _memory.richardson_lucy_bytes((n, n), h.shape, "auto", 4, accelerate=True, weights=False,
                                                  tv=False)),
             "wiener": (lambda: unblur.wiener(g, h), _memory.quadratic_bytes((n, n), h.shape, "auto", 4)),
             "tv": (lambda: unblur.tv_deconvolve(g, h, iterations=2), _memory.tv_bytes((n, n), h.shape, "auto", 4)),
             "blind_rl": (lambda: unblur.blind_richardson_lucy(g, h, iterations=2),
                          _memory.blind_richardson_lucy_bytes((n, n), h.shape, 4)),
             "estimate_psf": (lambda: unblur.estimate_psf(g), _memory.estimate_psf_bytes((n, n))),
             "estimate_psf_rgb": (lambda: unblur.estimate_psf(rgb, channel_axis=-1),
                                  _memory.estimate_psf_bytes((n, n), 3)),
             "gaussian": (lambda: unblur.gaussian_filter(g, 2.0),
                          _memory.gaussian_filter_bytes((n, n), (2.0,), 4.0, 0, 4)),
             "gaussian_fft": (lambda: unblur.gaussian_filter(g, 60.0),
                              _memory.gaussian_filter_bytes((n, n), (60.0,), 4.0, 0, 4)),
             "gaussian_rgb": (lambda: unblur.gaussian_filter(rgb, 2.0, channel_axis=-1),
                              _memory.gaussian_filter_bytes((n, n), (2.0,), 4.0, 0, 4, 3)),
             "collaborative": (lambda: unblur.collaborative_wiener(g, g, 0.05),
                               _memory.collaborative_wiener_bytes((n, n), 4, 12, 3, 16))}
    for k, method in ((k7, "direct"), (k7, "fft"), (k31, "auto"), (k101, "fft")):
        calls[f"convolve_{method}_{len(k)}"] = (
            lambda k=k, method=method: unblur.convolve(g, k, method=method),
            _memory.convolve_bytes((n, n), k.shape, "same", "constant", 0.0, method, 0, 4))
    calls["convolve_full_31"] = (lambda: unblur.convolve(g, k31, mode="full"),
                                 _memory.convolve_bytes((n, n), k31.shape, "full", "constant", 0.0, "auto", 0, 4))
    calls["convolve_rgb_31"] = (lambda: unblur.convolve(rgb, k31, channel_axis=-1),
                                _memory.convolve_bytes((n, n), k31.shape, "same", "constant", 0.0, "auto", 0, 4, 3))
    fn, estimate = calls[name]
    # A first call on a small image: lazy imports and FFT plans are not working memory.
    full = g, rgb
    g, rgb = (None if a is None else a[:256, :256].copy() for a in full)
    calls[name][0]()
    g, rgb = full
    with open("/proc/self/statm") as f:
        rss_before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current RSS: the peak is then this call's
    fn()
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    print(hwm - rss_before, estimate)
""")


@skip_under_asan
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc peak reset")
@pytest.mark.parametrize("name", ["rl", "convolve_auto_31", "gaussian_rgb", "blind_rl", "collaborative",
                                  *(pytest.param(n, marks=pytest.mark.slow) for n in (
                                      "wiener", "tv", "estimate_psf", "estimate_psf_rgb", "gaussian", "gaussian_fft",
                                      "convolve_direct_7", "convolve_fft_7", "convolve_fft_101", "convolve_full_31",
                                      "convolve_rgb_31"))])
def test_the_estimate_bounds_the_measured_peak(name):
    # Only unblur's own location on the path: nothing else the test session imported.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(unblur.__file__)))
    r = subprocess.run([sys.executable, "-c", _PEAK, name], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    peak, estimate = (int(v) for v in r.stdout.split())
    assert peak <= estimate, f"{name}: measured peak {peak} above the estimate {estimate}"
    assert estimate < 2.0 * peak + 8 * 2**20, f"{name}: estimate {estimate} far above the peak {peak}"


# ---- reading files --------------------------------------------------------------------------
_READ_PEAK = textwrap.dedent("""
    import os, sys, tempfile
    import numpy as np
    import tifffile
    from PIL import Image as PILImage
    import unblur.io
    from unblur import _memory
    kind, n = sys.argv[1], 2048
    rng = np.random.default_rng(0)
    d = tempfile.mkdtemp()
    if kind.startswith("png") or kind.startswith("jpeg"):
        bands = {"png_rgb": 3, "png_rgba": 4, "png_grey": 0, "jpeg_rgb": 3}[kind]
        a = rng.integers(0, 256, (n, n, bands) if bands else (n, n), dtype=np.uint8)
        path = os.path.join(d, "a.jpg" if kind.startswith("jpeg") else "a.png")
        PILImage.fromarray(a).save(path)
        del a
    elif kind.startswith("tiff"):
        path = os.path.join(d, "a.tif")
        if kind == "tiff16_rgb":
            tifffile.imwrite(path, rng.integers(0, 65536, (n, n, 3), dtype=np.uint16), photometric="rgb")
        else:
            tifffile.imwrite(path, rng.random((n, n), dtype=np.float32))
    else:
        path = os.path.join(d, "a.npy")
        np.save(path, rng.integers(0, 256, (n, n, 3), dtype=np.uint8))
    estimates = []
    require = _memory.require
    _memory.require = lambda what, nbytes, xp=np: (estimates.append(int(nbytes)), require(what, nbytes, xp))
    with open("/proc/self/statm") as f:
        rss_before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    img = unblur.io.read(path)
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    print(hwm - rss_before, estimates[0], img.data.nbytes)
""")


@skip_under_asan
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc peak reset")
@pytest.mark.parametrize("kind", ["png_rgb", "png_rgba", "png_grey", "jpeg_rgb", "tiff16_rgb", "tiff_float",
                                  "npy_rgb"])
def test_reading_a_file_peaks_within_its_estimate(kind):
    # 2048 x 2048. An 8-bit RGB PNG peaked at 74 bytes a pixel (float64 intermediates,
    # whole-array sRGB decoding into new arrays); now 26, of which the float32 result
    # is 12.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(unblur.__file__)))
    r = subprocess.run([sys.executable, "-c", _READ_PEAK, kind], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    peak, estimate, result = (int(v) for v in r.stdout.split())
    assert peak <= estimate, f"{kind}: measured peak {peak} above the estimate {estimate}"
    assert estimate < 2.0 * peak + 8 * 2**20, f"{kind}: estimate {estimate} far above the peak {peak}"
    if kind in ("png_rgb", "jpeg_rgb"):
        assert peak < 2.3 * result, f"{kind}: {peak / 2048**2:.1f} bytes a pixel"


@pytest.mark.parametrize("suffix", [".png", ".tif", ".npy"])
def test_a_file_too_large_for_the_limit_is_refused_before_decoding(tmp_path, suffix):
    import tifffile
    from PIL import Image as PILImage

    a = np.zeros((1024, 1024, 3), np.uint8)
    path = str(tmp_path / f"a{suffix}")
    if suffix == ".png":
        PILImage.fromarray(a).save(path)
    elif suffix == ".tif":
        tifffile.imwrite(path, a, photometric="rgb")
    else:
        np.save(path, a)
    unblur.set_memory_limit("4MiB")  # the float32 result alone is 12 MiB
    with pytest.raises(MemoryError, match=r"reading .*a\.(png|tif|npy) needs about [0-9.]+ GiB of working memory, "
                                          r"more than unblur's limit"):
        unblur.io.read(path)
    unblur.set_memory_limit("1GiB")
    assert unblur.io.read(path).data.shape == a.shape


def test_a_multispectral_tiff_is_estimated_by_its_samples_once(tmp_path, monkeypatch):
    # The samples of a pixel were counted twice (once in the MAX_PIXELS count, once per
    # pixel): a 1 x 1 TIFF of 65,535 samples was estimated at 25 GB and refused.
    import tifffile

    path = str(tmp_path / "cube.tif")
    tifffile.imwrite(path, np.zeros((16, 16, 64), np.uint8), photometric="minisblack", planarconfig="contig")
    seen = []
    require = _memory.require
    monkeypatch.setattr(_memory, "require", lambda what, nbytes, xp=np: (seen.append(nbytes), require(what, nbytes, xp)))
    img = unblur.io.read(path)
    assert img.data.shape == (16, 16, 64)
    assert seen == [16 * 16 * 64 * (2 * 1 + 4)]
