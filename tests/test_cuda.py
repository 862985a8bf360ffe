"""The CUDA engine (unblur._cuda): its argument checks, which run without a GPU, and,
on a machine with a GPU and CuPy, its results against the C++ engine on fresh random
inputs (per-dtype tolerances), the CuPy fallback, streams and devices."""

from __future__ import annotations

import numpy as np
import pytest
import unblur
from conftest import GPU

cuda = unblur._backend.cuda_module()
needs_module = pytest.mark.skipif(cuda is None, reason="unblur._cuda is not built")

# cuFFT and FFTW round differently; relative to the output's scale (the kernel sums
# to about 1 and the image is in [0, 1)).
GPU_ATOL = {np.float32: 2e-5, np.float64: 1e-12}


# ---- without a GPU: the bindings' own checks ------------------------------------------

@needs_module
@pytest.mark.parametrize(("args", "exc", "match"), [
    ((0, [4, 4], 1, [3, 3], 1, "float32", "same", "constant", 0.0, 0), ValueError, "image is a null device pointer"),
    ((1, [4, 4], 1, [3, 3], 0, "float32", "same", "constant", 0.0, 0), ValueError, "out is a null device pointer"),
    ((1, [4, 4], 1, [3, 3], 1, "float16", "same", "constant", 0.0, 0), TypeError, "dtype must be 'float32' or"),
    ((1, [4, 4], 1, [3, 3], 1, "float32", "middle", "constant", 0.0, 0), ValueError, "mode must be one of"),
    ((1, [4, 4], 1, [3, 3], 1, "float32", "same", "sideways", 0.0, 0), ValueError, "boundary must be one of"),
    ((1, [4, 4], 1, [3], 1, "float32", "same", "constant", 0.0, 0), ValueError, "as many axes as the image"),
    ((1, [4, 4], 1, [5, 5], 1, "float32", "valid", "constant", 0.0, 0), ValueError, "mode 'valid' has no output"),
    ((1, [4, 4, 4, 4], 1, [1, 1, 1, 1], 1, "float32", "same", "constant", 0.0, 0), ValueError, "1 to 3 axes"),
])
def test_convolve_rejects_bad_arguments_before_touching_the_device(args, exc, match):
    with pytest.raises(exc, match=match):
        cuda.convolve(*args)


@needs_module
def test_psf2otf_rejects_a_psf_larger_than_the_grid():
    with pytest.raises(ValueError, match="does not fit the grid"):
        cuda.psf2otf(1, [5, 5], [4, 4], 1, "float32", 0)


@needs_module
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_output_shape_is_the_cpu_engines(rng, mode):
    for _ in range(5):
        d = int(rng.integers(1, 4))
        shape = [int(n) for n in rng.integers(5, 30, d)]
        kshape = [int(k) for k in rng.integers(1, 6, d)]
        assert cuda.convolve_output_shape(shape, kshape, mode) == unblur._core.convolve_output_shape(shape, kshape, mode)


@needs_module
@pytest.mark.skipif(GPU, reason="runs only where no GPU is usable")
def test_pool_and_transfer_reports_need_no_device():
    # No pool exists before the first allocation, so these make no CUDA call.
    assert cuda.memory_stats() == {"reserved": 0, "used": 0, "fallback_devices": 0}
    cuda.release_memory()
    cuda.reset_transfer_stats()
    assert all(v == 0 for v in cuda.transfer_stats().values())


@needs_module
@pytest.mark.skipif(GPU, reason="runs only where no GPU is usable")
def test_a_failed_cuda_call_names_the_call():
    # Without a usable device the first CUDA call fails; the error says which.
    with pytest.raises(RuntimeError, match=r"cudaGetDevice\(&device\) failed"):
        cuda.convolve(1, [4, 4], 1, [3, 3], 1, "float32", "same", "constant", 0.0, 0)


@pytest.mark.parametrize(("value", "engine"), [("", "default"), ("auto", "default"), ("CuPy", None)])
def test_backend_variable_chooses_the_gpu_engine(monkeypatch, value, engine):
    monkeypatch.setenv("UNBLUR_BACKEND", value)
    assert unblur._backend.gpu_engine() is (cuda if engine == "default" else None)


def test_backend_variable_rejects_other_values(monkeypatch):
    monkeypatch.setenv("UNBLUR_BACKEND", "gpu")
    with pytest.raises(ValueError, match="UNBLUR_BACKEND must be 'auto'.*got 'gpu'"):
        unblur._backend.gpu_engine()


# ---- on a GPU: the results ------------------------------------------------------------

gpu = pytest.mark.gpu


def _cupy():
    import cupy

    return cupy


@gpu
@needs_module
@pytest.mark.parametrize("mode", ["same", "full", "valid"])
@pytest.mark.parametrize("boundary", ["constant", "reflect", "mirror", "nearest", "periodic"])
def test_convolve_matches_the_cpu_engine(rng, dtype, mode, boundary):
    cp = _cupy()
    for ndim in (1, 2, 3):
        shape = tuple(int(n) for n in rng.integers(7, 40 if ndim < 3 else 16, ndim))
        kshape = tuple(int(k) for k in rng.integers(1, 7, ndim))
        image = rng.random(shape).astype(dtype)
        kernel = rng.random(kshape).astype(dtype)
        kernel /= kernel.sum()
        want = unblur.convolve(image, kernel, mode=mode, boundary=boundary, cval=0.25)
        got = unblur.convolve(cp.asarray(image), cp.asarray(kernel), mode=mode, boundary=boundary, cval=0.25)
        assert isinstance(got, cp.ndarray) and got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(cp.asnumpy(got), want, rtol=0, atol=GPU_ATOL[np.dtype(dtype).type])


@gpu
@needs_module
def test_convolve_colour_and_fallback_agree(rng, monkeypatch):
    cp = _cupy()
    image = cp.asarray(rng.random((48, 40, 3)).astype(np.float32))
    kernel = cp.asarray(unblur.psf.motion(9, 30).astype(np.float32))
    got = unblur.convolve(image, kernel, boundary="reflect", channel_axis=-1)
    monkeypatch.setenv("UNBLUR_BACKEND", "cupy")  # the array-API code on CuPy
    fallback = unblur.convolve(image, kernel, boundary="reflect", channel_axis=-1)
    np.testing.assert_allclose(cp.asnumpy(got), cp.asnumpy(fallback), rtol=0, atol=GPU_ATOL[np.float32])


@gpu
@needs_module
def test_work_runs_on_the_current_stream_and_plans_are_reused(rng):
    cp = _cupy()
    image = cp.asarray(rng.random((64, 64)))
    kernel = cp.asarray(unblur.psf.gaussian(2.0))
    want = unblur.convolve(cp.asnumpy(image), cp.asnumpy(kernel), boundary="periodic")
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        got = unblur.convolve(image, kernel, boundary="periodic")
        cached = cuda.plan_cache_size()
        again = unblur.convolve(image, kernel, boundary="periodic")
        assert cuda.plan_cache_size() == cached  # same shape, same stream: the same plan
    stream.synchronize()
    np.testing.assert_allclose(cp.asnumpy(got), want, rtol=0, atol=GPU_ATOL[np.float64])
    np.testing.assert_array_equal(cp.asnumpy(again), cp.asnumpy(got))


@gpu
@needs_module
def test_psf2otf_matches_the_cpu_engine(rng, dtype):
    cp = _cupy()
    psf = rng.random((5, 7)).astype(dtype)
    for shape in [(16, 16), (15, 22), (5, 7)]:
        want = unblur.fft.psf2otf(psf, shape)
        got = unblur.fft.psf2otf(cp.asarray(psf), shape)
        assert isinstance(got, cp.ndarray) and got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(cp.asnumpy(got), want, rtol=0, atol=10 * GPU_ATOL[np.dtype(dtype).type])


@gpu
@needs_module
def test_an_array_on_another_device_is_refused(rng):
    cp = _cupy()
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    with cp.cuda.Device(1):
        image = cp.asarray(rng.random((16, 16)))
    with pytest.raises(ValueError, match="image is on GPU 1 but the current device is GPU 0"):
        unblur.convolve(image, cp.asarray(np.ones((3, 3)) / 9))


# ---- Richardson–Lucy on the GPU (csrc/gpu/richardson_lucy.hpp; its logic is also
# checked on the host by tests/test_gpu_algorithms.py) -----------------------------------

def _rl_problem(rng, dtype, shape=(40, 45), psf_shape=(7, 5)):
    from test_richardson_lucy import _blurred

    g, psf, _ = _blurred(rng, shape, psf_shape, dtype, noise=0.01)
    return g, psf / psf.sum(dtype=np.float64).astype(dtype)


def _rl_tol(dtype):
    from test_richardson_lucy import _itol

    return _itol(dtype)


@gpu
@needs_module
@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect", "zero"])
@pytest.mark.parametrize("options", [
    dict(accelerate=False), dict(), dict(damping=0.02, tv_weight=0.005), dict(background=0.05, weights=True),
])
def test_richardson_lucy_matches_the_cpu_engine(rng, dtype, boundary, options):
    cp = _cupy()
    g, psf = _rl_problem(rng, dtype)
    options = dict(options)
    if options.get("weights"):
        options["weights"] = rng.random(g.shape).astype(dtype)
    want, winfo = unblur.richardson_lucy(g, psf, iterations=6, boundary=boundary, return_info=True, **options)
    gpu_options = {k: cp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    got, info = unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), iterations=6, boundary=boundary,
                                       return_info=True, **gpu_options)
    assert isinstance(got, cp.ndarray) and got.dtype == dtype and got.shape == g.shape
    np.testing.assert_allclose(cp.asnumpy(got), want, **_rl_tol(dtype))
    assert isinstance(info["state"]["estimate"], cp.ndarray)
    from test_richardson_lucy import assert_state_close

    assert_state_close(cp.asnumpy(info["state"]["estimate"]), winfo["state"]["estimate"], psf, g.shape, boundary, dtype,
                       weights=options.get("weights"))


@gpu
@needs_module
def test_richardson_lucy_automatic_stop_resume_and_colour(rng):
    cp = _cupy()
    g, psf = _rl_problem(rng, np.float64, shape=(48, 48))
    want, winfo = unblur.richardson_lucy(g, psf, return_info=True)
    got, info = unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), return_info=True)
    assert (info["iterations"], info["stopped_by"]) == (winfo["iterations"], winfo["stopped_by"])
    np.testing.assert_allclose(cp.asnumpy(got), want, **_rl_tol(np.float64))
    full = unblur.richardson_lucy(g, psf, iterations=9)
    _, first = unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), iterations=5, return_info=True)
    rest = unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), iterations=4, initial=first["state"])
    np.testing.assert_allclose(cp.asnumpy(rest), full, **_rl_tol(np.float64))
    rgb = np.stack([g, 0.5 * g, g[::-1]], axis=-1).astype(np.float32)
    want = unblur.richardson_lucy(rgb, psf.astype(np.float32), iterations=5, channel_axis=-1)
    got = unblur.richardson_lucy(cp.asarray(rgb), cp.asarray(psf.astype(np.float32)), iterations=5, channel_axis=-1)
    np.testing.assert_allclose(cp.asnumpy(got), want, **_rl_tol(np.float32))


@gpu
@needs_module
def test_richardson_lucy_fallback_agrees_with_the_cuda_engine(rng, monkeypatch):
    cp = _cupy()
    g, psf = _rl_problem(rng, np.float32)
    got = unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), iterations=8, tv_weight=0.002)
    monkeypatch.setenv("UNBLUR_BACKEND", "cupy")
    fallback = unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), iterations=8, tv_weight=0.002)
    np.testing.assert_allclose(cp.asnumpy(got), cp.asnumpy(fallback), **_rl_tol(np.float32))


@gpu
@needs_module
@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "constant", "wrap"])
def test_gaussian_filter_matches_the_cpu_engine(rng, dtype, mode):
    cp = _cupy()
    # Row tiles, the leading-axis pass, several tiles per row, and radii beyond the
    # shared-memory budget (sigma 700: 5601 taps, read from global memory).
    cases = [((37, 41), (1.5, 2.2)), ((9, 20, 33), (0.7, 0.0, 3.1)), ((5, 700), (0.3, 9.0)), ((100,), (700.0,)),
             ((700, 3), (650.0, 0.0))]
    for shape, sigma in cases:
        x = rng.random(shape).astype(dtype)
        want = unblur.gaussian_filter(x, sigma, mode=mode, cval=0.3)
        got = unblur.gaussian_filter(cp.asarray(x), sigma, mode=mode, cval=0.3)
        assert isinstance(got, cp.ndarray) and got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(cp.asnumpy(got), want, rtol=0, atol=10 * GPU_ATOL[np.dtype(dtype).type])


@gpu
@needs_module
def test_gaussian_filter_colour_matches_and_leaves_the_input(rng):
    cp = _cupy()
    x = rng.random((40, 30, 3)).astype(np.float32)
    xd = cp.asarray(x)
    got = unblur.gaussian_filter(xd, 2.0, channel_axis=-1)
    np.testing.assert_array_equal(cp.asnumpy(xd), x)
    np.testing.assert_allclose(cp.asnumpy(got), unblur.gaussian_filter(x, 2.0, channel_axis=-1), rtol=0,
                               atol=10 * GPU_ATOL[np.float32])


@gpu
@needs_module
def test_metrics_match_the_cpu_engine(rng, dtype):
    cp = _cupy()
    for shape in [(40, 37), (13, 14, 15), (64, 48, 3)]:
        a = rng.random(shape).astype(dtype)
        b = (a + 0.1 * rng.standard_normal(shape)).astype(dtype)
        da, db = cp.asarray(a), cp.asarray(b)
        assert unblur.metrics.psnr(da, db, data_range=1.0) == pytest.approx(unblur.metrics.psnr(a, b, data_range=1.0),
                                                                          rel=1e-9)
        axis = -1 if len(shape) == 3 and shape[-1] == 3 else None
        m, smap = unblur.metrics.ssim(da, db, data_range=1.0, channel_axis=axis, full=True)
        want, want_map = unblur.metrics.ssim(a, b, data_range=1.0, channel_axis=axis, full=True)
        assert m == pytest.approx(want, rel=1e-9) and isinstance(smap, cp.ndarray) and smap.dtype == dtype
        np.testing.assert_allclose(cp.asnumpy(smap), want_map, rtol=0, atol=1e-6)
    assert cuda.mean_squared_error(da.data.ptr, db.data.ptr, da.size, da.dtype.name, 0) == pytest.approx(
        unblur._core.mean_squared_error(a, b), rel=1e-9)


@gpu
@needs_module
@pytest.mark.parametrize("boundary", ["periodic", "reflect", "auto"])
@pytest.mark.parametrize("call", [
    dict(fn="wiener"), dict(fn="wiener", nsr=0.01), dict(fn="tikhonov"),
    dict(fn="tikhonov", lam_method="discrepancy", regularizer="gradient"), dict(fn="tikhonov", lam=0.003,
                                                                               regularizer="identity"),
])
def test_wiener_and_tikhonov_match_the_cpu_engine(rng, dtype, boundary, call):
    from test_gpu_algorithms import _assert_quadratic_agrees

    cp = _cupy()
    g, psf = _rl_problem(rng, dtype, shape=(36, 33), psf_shape=(5, 7))
    call = dict(call)
    fn = getattr(unblur, call.pop("fn"))
    want, winfo = fn(g, psf, boundary=boundary, return_info=True, **call)
    got, info = fn(cp.asarray(g), cp.asarray(psf), boundary=boundary, return_info=True, **call)
    assert isinstance(got, cp.ndarray) and got.dtype == dtype and got.shape == g.shape
    assert info["iterations"] > 0 if boundary == "auto" else info["iterations"] == 0
    exact = None
    if boundary == "auto":
        if fn is unblur.tikhonov:
            fixed = dict(call, lam=winfo["lam"])
            fixed.pop("lam_method", None)
            exact = unblur._core.tikhonov(g.astype(np.float64), psf.astype(np.float64), boundary,
                                          fixed.get("regularizer", "laplacian"), "fixed", fixed["lam"], None, 1e-12,
                                          5000, 0)[0]
        else:
            exact = unblur._core.wiener(g.astype(np.float64), psf.astype(np.float64), boundary, call.get("nsr"), None,
                                        1e-12, 5000, 0)[0]
    _assert_quadratic_agrees(cp.asnumpy(got), want, dtype, boundary, exact)


@gpu
@needs_module
@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect"])
@pytest.mark.parametrize("kw", [dict(), dict(positivity=False, bounds=(0.1, 0.8)), dict(channel_axis=-1)])
def test_tv_deconvolve_matches_the_cpu_engine(rng, dtype, boundary, kw):
    from test_richardson_lucy import _itol

    cp = _cupy()
    shape = (30, 27, 3) if "channel_axis" in kw else (30, 27)
    img = rng.random(shape).astype(dtype)
    psf = (np.ones((3, 5)) / 15).astype(dtype)
    want, winfo = unblur.tv_deconvolve(img, psf, weight=0.05, iterations=6, boundary=boundary, return_info=True, **kw)
    got, info = unblur.tv_deconvolve(cp.asarray(img), cp.asarray(psf), weight=0.05, iterations=6, boundary=boundary,
                                     return_info=True, **kw)
    assert isinstance(got, cp.ndarray) and got.dtype == dtype and got.shape == img.shape
    np.testing.assert_allclose(cp.asnumpy(got), want, **_itol(dtype))
    assert info["iterations"] == winfo["iterations"]


@gpu
@needs_module
def test_algorithms_copy_no_image_data_between_host_and_device(rng):
    # The engine's copies are counted (csrc/cuda/transfer.hpp): uploads must be zero and
    # downloads only the scalars of reductions and stopping rules (and Wiener's table of
    # ring sums), never anything of the image's size.
    cp = _cupy()
    g, psf = _rl_problem(rng, np.float32, shape=(64, 64), psf_shape=(7, 7))
    x, h = cp.asarray(g), cp.asarray(psf)
    calls = {
        "convolve": lambda: unblur.convolve(x, h),
        "gaussian_filter": lambda: unblur.gaussian_filter(x, 2.0),
        "richardson_lucy": lambda: unblur.richardson_lucy(x, h),
        "richardson_lucy (fixed)": lambda: unblur.richardson_lucy(x, h, iterations=10, accelerate=False),
        "wiener": lambda: unblur.wiener(x, h),
        "tikhonov": lambda: unblur.tikhonov(x, h),
        "tv_deconvolve": lambda: unblur.tv_deconvolve(x, h, iterations=10),
        "ssim": lambda: unblur.metrics.ssim(x, x * 0.5, data_range=1.0),
    }
    for name, call in calls.items():
        call()  # plans made, pools warm
        cuda.reset_transfer_stats()
        call()
        cp.cuda.get_current_stream().synchronize()
        stats = cuda.transfer_stats()
        assert stats["host_to_device"] == 0, (name, stats)
        assert stats["largest_device_to_host"] < g.nbytes // 4, (name, stats)


@gpu
@needs_module
def test_blind_richardson_lucy_matches_the_cpu_engine(rng, dtype):
    from test_gpu_algorithms import _scaled

    cp = _cupy()
    g = (rng.random((37, 41)) + 0.1).astype(dtype)
    h0 = rng.random((7, 5)).astype(dtype)
    h0 /= h0.sum()
    want, want_h = unblur.blind_richardson_lucy(g, h0, iterations=4, psf_iterations=2)
    h_dev = cp.asarray(h0)
    got, got_h = unblur.blind_richardson_lucy(cp.asarray(g), h_dev, iterations=4, psf_iterations=2)
    assert isinstance(got, cp.ndarray) and isinstance(got_h, cp.ndarray) and got.dtype == dtype
    np.testing.assert_array_equal(cp.asnumpy(h_dev), h0)  # the caller's PSF is not overwritten
    np.testing.assert_allclose(cp.asnumpy(got), want, **_scaled(dtype, want))
    np.testing.assert_allclose(cp.asnumpy(got_h), want_h, **_scaled(dtype, want_h))


@gpu
@needs_module
def test_temporaries_come_from_a_pool_that_keeps_and_releases_memory(rng):
    cp = _cupy()
    g, psf = _rl_problem(rng, np.float32, shape=(64, 64), psf_shape=(7, 7))
    unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), iterations=3)
    cp.cuda.get_current_stream().synchronize()
    stats = cuda.memory_stats()
    assert stats["used"] == 0
    if stats["fallback_devices"] == 0:
        assert stats["reserved"] > 0  # freed, and kept for the next call
    cuda.release_memory()
    assert cuda.memory_stats()["reserved"] == 0


@gpu
@needs_module
def test_threads_on_their_own_streams_equal_the_serial_results(rng):
    import concurrent.futures

    cp = _cupy()
    cases = []
    for k in range(8):
        g, psf = _rl_problem(rng, (np.float32, np.float64)[k % 2], shape=(48 + 4 * k, 52))
        cases.append((cp.asarray(g), cp.asarray(psf)))
    serial = [cp.asnumpy(unblur.richardson_lucy(g, h, iterations=6)) for g, h in cases]

    def run(case):
        with cp.cuda.Stream(non_blocking=True) as stream:
            out = unblur.richardson_lucy(*case, iterations=6)
            stream.synchronize()
            return cp.asnumpy(out)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, cases * 4))
    for i, got in enumerate(results):
        np.testing.assert_array_equal(got, serial[i % len(cases)])
