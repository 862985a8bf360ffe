"""The Python layer's CUDA route, end to end on the CPU.

The `fake_cuda` fixture gives CuPy stand-in arrays (tests/cupy_standin.py) and puts
tests/cuda_on_host.py in place of unblur._cuda: every public function sends its
device addresses, shapes, dtype names, stream and state buffers exactly as it does to
the real module, and the CUDA engine's algorithms run on them by the host executor.
Each result must be the stand-in's array type, of the input's dtype and shape, agree
with the NumPy (C++ engine) result, leave the inputs as they were, and move nothing
between host and device beyond the documented set-up (the stand-in counts it).
"""

from __future__ import annotations

import numpy as np
import pytest
import unblur
from conftest import tol
from test_gpu_algorithms import _assert_quadratic_agrees, _scaled
from test_richardson_lucy import _blurred


def _problem(rng, dtype, shape=(36, 40), psf_shape=(5, 7)):
    g, psf, _ = _blurred(rng, shape, psf_shape, dtype, noise=0.01)
    return g, psf / psf.sum(dtype=np.float64).astype(dtype)


def _run(cp, fn, *args, **kwargs):
    """fn on device copies of the array arguments; checks that the inputs are untouched
    and that no array came back to the host during the call."""
    dev = [cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    before = [a.get().copy() for a in dev if isinstance(a, cp.ndarray)]
    cp.transfers.reset()
    out = fn(*dev, **kwargs)
    assert cp.transfers.downloads == 0, cp.transfers.where("download")
    after = [a.get() for a in dev if isinstance(a, cp.ndarray)]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    return out


def test_filters_and_metrics_take_the_cuda_route(fake_cuda, rng, dtype):
    cp, cuda = fake_cuda
    x = rng.random((33, 41)).astype(dtype)
    y = (x + 0.05 * rng.standard_normal(x.shape)).astype(dtype)
    got = _run(cp, unblur.gaussian_filter, x, (1.5, 2.5), mode="mirror")
    assert isinstance(got, cp.ndarray) and got.dtype == dtype
    np.testing.assert_allclose(got.get(), unblur.gaussian_filter(x, (1.5, 2.5), mode="mirror"), rtol=0,
                               atol=10 * tol(dtype)["atol"])
    rgb = np.stack([x, y, x], axis=-1)
    got = _run(cp, unblur.gaussian_filter, rgb, 1.0, channel_axis=-1)
    np.testing.assert_allclose(got.get(), unblur.gaussian_filter(rgb, 1.0, channel_axis=-1), rtol=0,
                               atol=10 * tol(dtype)["atol"])
    assert _run(cp, unblur.metrics.psnr, x, y, data_range=1.0) == pytest.approx(
        unblur.metrics.psnr(x, y, data_range=1.0), rel=1e-9)
    m, smap = _run(cp, unblur.metrics.ssim, x, y, data_range=1.0, full=True)
    want, want_map = unblur.metrics.ssim(x, y, data_range=1.0, full=True)
    assert m == pytest.approx(want, rel=1e-9) and isinstance(smap, cp.ndarray) and smap.dtype == dtype
    np.testing.assert_allclose(smap.get(), want_map, rtol=0, atol=1e-6)
    assert {"gaussian_filter", "psnr", "ssim"} <= set(cuda.calls)


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect", "zero"])
@pytest.mark.parametrize("options", [dict(), dict(accelerate=False, tv_weight=0.005), dict(damping=0.02),
                                     dict(weights=True, background=0.05)])
def test_richardson_lucy_takes_the_cuda_route(fake_cuda, rng, dtype, boundary, options):
    cp, cuda = fake_cuda
    g, psf = _problem(rng, dtype)
    options = dict(options)
    if options.pop("weights", False):
        options["weights"] = rng.random(g.shape).astype(dtype)
    want, winfo = unblur.richardson_lucy(g, psf, iterations=5, boundary=boundary, return_info=True, **options)
    dev = {k: cp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    got, info = _run(cp, unblur.richardson_lucy, g, psf, iterations=5, boundary=boundary, return_info=True, **dev)
    assert cuda.calls == ["richardson_lucy"]
    assert isinstance(got, cp.ndarray) and got.dtype == dtype and got.shape == g.shape
    np.testing.assert_allclose(got.get(), want, **_scaled(dtype, want))
    assert (info["iterations"], info["stopped_by"]) == (winfo["iterations"], winfo["stopped_by"])
    assert isinstance(info["state"]["estimate"], cp.ndarray)
    assert info["state"]["estimate"].shape == winfo["state"]["estimate"].shape


def test_richardson_lucy_cuda_route_resumes_stops_and_does_colour(fake_cuda, rng):
    cp, cuda = fake_cuda
    g, psf = _problem(rng, np.float64, shape=(40, 40))
    full = unblur.richardson_lucy(g, psf, iterations=9)
    _, first = _run(cp, unblur.richardson_lucy, g, psf, iterations=5, return_info=True)
    rest = _run(cp, unblur.richardson_lucy, g, psf, iterations=4, initial=first["state"])
    np.testing.assert_allclose(rest.get(), full, **_scaled(np.float64, full))
    # A CPU run's state continued on the "GPU" (one upload per state array).
    _, cpu_first = unblur.richardson_lucy(g, psf, iterations=5, return_info=True)
    cpu_state = dict(cpu_first["state"])
    rest = unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), iterations=4,
                                  initial={k: cp.asarray(v) if isinstance(v, np.ndarray) else v
                                           for k, v in cpu_state.items()})
    np.testing.assert_allclose(rest.get(), full, **_scaled(np.float64, full))
    # The automatic stop: the noise is estimated on the device and passed down.
    want, winfo = unblur.richardson_lucy(g, psf, return_info=True)
    got, info = _run(cp, unblur.richardson_lucy, g, psf, return_info=True)
    assert (info["iterations"], info["stopped_by"]) == (winfo["iterations"], winfo["stopped_by"])
    assert info["noise_sigma"] == pytest.approx(winfo["noise_sigma"], rel=1e-12)
    np.testing.assert_allclose(got.get(), want, **_scaled(np.float64, want))
    seen = []
    _run(cp, unblur.richardson_lucy, g, psf, iterations=10, callback=lambda s: seen.append(s) or len(seen) < 3)
    assert len(seen) == 3
    rgb = np.stack([g, 0.5 * g, g[::-1]], axis=-1)
    got = _run(cp, unblur.richardson_lucy, rgb, psf, iterations=4, channel_axis=-1)
    want = unblur.richardson_lucy(rgb, psf, iterations=4, channel_axis=-1)
    np.testing.assert_allclose(got.get(), want, **_scaled(np.float64, want))


@pytest.mark.parametrize("boundary", ["periodic", "reflect", "auto"])
@pytest.mark.parametrize("call", [dict(fn="wiener"), dict(fn="wiener", nsr=0.01), dict(fn="wiener", nsr="spectrum"),
                                  dict(fn="tikhonov"), dict(fn="tikhonov", lam=0.003, regularizer="identity"),
                                  dict(fn="tikhonov", lam_method="discrepancy", regularizer="gradient")])
def test_wiener_and_tikhonov_take_the_cuda_route(fake_cuda, rng, dtype, boundary, call):
    cp, cuda = fake_cuda
    g, psf = _problem(rng, dtype)
    call = dict(call)
    fn = getattr(unblur, call.pop("fn"))
    if call.get("nsr") == "spectrum":
        grid = unblur._core.quadratic_grid_shape(g.shape, psf.shape, boundary)
        call["nsr"] = (0.001 + 0.01 * rng.random(tuple(grid[:-1]) + (grid[-1] // 2 + 1,))).astype(dtype)
    want, winfo = fn(g, psf, boundary=boundary, return_info=True, **call)
    dev = {k: cp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in call.items()}
    got, info = _run(cp, fn, g, psf, boundary=boundary, return_info=True, **dev)
    assert cuda.calls == [f"quadratic:{fn.__name__}"]
    assert isinstance(got, cp.ndarray) and got.dtype == dtype and got.shape == g.shape
    assert info["grid_shape"] == winfo["grid_shape"]
    assert (info["iterations"] > 0) == (boundary == "auto")
    exact = None
    if boundary == "auto":
        if fn is unblur.tikhonov:
            exact = unblur._core.tikhonov(g.astype(np.float64), psf.astype(np.float64), boundary,
                                          call.get("regularizer", "laplacian"), "fixed", winfo["lam"], None, 1e-12,
                                          5000, 0)[0]
        else:
            nsr = call.get("nsr")
            exact = unblur._core.wiener(g.astype(np.float64), psf.astype(np.float64), boundary,
                                        nsr.astype(np.float64) if isinstance(nsr, np.ndarray) else nsr, None, 1e-12,
                                        5000, 0)[0]
    _assert_quadratic_agrees(got.get(), want, dtype, boundary, exact)


@pytest.mark.parametrize("kw", [dict(), dict(positivity=False, bounds=(0.1, 0.8)), dict(channel_axis=-1)])
def test_tv_and_blind_rl_take_the_cuda_route(fake_cuda, rng, dtype, kw):
    from test_richardson_lucy import _itol

    cp, cuda = fake_cuda
    shape = (30, 27, 3) if "channel_axis" in kw else (30, 27)
    img = rng.random(shape).astype(dtype)
    psf = (np.ones((3, 5)) / 15).astype(dtype)
    want = unblur.tv_deconvolve(img, psf, weight=0.05, iterations=6, **kw)
    got = _run(cp, unblur.tv_deconvolve, img, psf, weight=0.05, iterations=6, **kw)
    assert cuda.calls == ["tv_deconvolve"] and isinstance(got, cp.ndarray) and got.shape == img.shape
    np.testing.assert_allclose(got.get(), want, **_itol(dtype))
    if "channel_axis" in kw:
        return
    h0 = rng.random((5, 3)).astype(dtype)
    h0 /= h0.sum()
    want, want_h = unblur.blind_richardson_lucy(img + 0.1, h0, iterations=3, psf_iterations=2)
    got, got_h = _run(cp, unblur.blind_richardson_lucy, img + 0.1, h0, iterations=3, psf_iterations=2)
    assert isinstance(got_h, cp.ndarray)
    np.testing.assert_allclose(got.get(), want, **_scaled(dtype, want))
    np.testing.assert_allclose(got_h.get(), want_h, **_scaled(dtype, want_h))


def test_convolve_and_psf2otf_take_the_cuda_route(fake_cuda, rng, dtype):
    cp, cuda = fake_cuda
    x = rng.random((20, 23)).astype(dtype)
    k = rng.random((3, 5)).astype(dtype)
    got = _run(cp, unblur.convolve, x, k, mode="full", boundary="reflect")
    np.testing.assert_allclose(got.get(), unblur.convolve(x, k, mode="full", boundary="reflect"),
                               **tol(dtype))
    otf = _run(cp, unblur.fft.psf2otf, k, (16, 18))
    np.testing.assert_allclose(otf.get(), unblur.fft.psf2otf(k, (16, 18)), rtol=0, atol=10 * tol(dtype)["atol"])
    assert cuda.calls == ["convolve", "psf2otf"]


def test_estimate_psf_with_the_cuda_engine_runs_the_cpu_engine_on_one_host_copy(fake_cuda, rng):
    cp, _ = fake_cuda
    from test_blind import _blurred as blind_case

    true = unblur.psf.motion(11, 30)
    g = blind_case(rng, true, size=160)
    want, winfo = unblur.estimate_psf(g, model="motion", return_info=True)
    dev = cp.asarray(g)
    cp.transfers.reset()
    got, info = unblur.estimate_psf(dev, model="motion", return_info=True)
    assert cp.transfers.downloads == 1  # the documented host copy, nothing else
    np.testing.assert_array_equal(got, want)
    assert info["params"] == winfo["params"]


@pytest.mark.parametrize("make", [
    lambda like: unblur.psf.gaussian(1.5, like=like), lambda like: unblur.psf.disk(3.0, like=like),
    lambda like: unblur.psf.motion(9, 30, like=like), lambda like: unblur.psf.shake(9, seed=3, like=like),
    lambda like: unblur.psf.turbulence(2.0, seed=1, size=15, like=like), lambda like: unblur.psf.airy(2.0, like=like),
    lambda like: unblur.psf.moffat(3.0, like=like),
])
def test_psf_generators_return_the_type_of_like(fake_cuda, make):
    cp, _ = fake_cuda
    want = make(None)
    cp.transfers.reset()
    got = make(cp.zeros(1))
    assert isinstance(got, cp.ndarray) and got.dtype == want.dtype and got.shape == want.shape
    assert cp.transfers.uploads == 1 and cp.transfers.downloads == 0
    np.testing.assert_array_equal(got.get(), want)
    np.testing.assert_array_equal(make(np.zeros(1)), want)


def test_psf_like_must_be_an_array():
    with pytest.raises(TypeError, match="like must be an array"):
        unblur.psf.gaussian(1.0, like="cupy")


def test_the_host_stand_in_has_the_cuda_modules_signatures():
    """tests/cuda_on_host.py must take exactly unblur._cuda's arguments (names and
    order), or the CUDA route tested here differs from the one that runs on a GPU."""
    import inspect
    import re

    import cuda_on_host

    cuda = unblur._backend.cuda_module()
    if cuda is None:
        pytest.skip("unblur._cuda is not built")
    checked = 0
    for name, fn in vars(cuda_on_host).items():
        if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != "cuda_on_host":
            continue
        if not hasattr(cuda, name):
            continue
        first = cuda.__dict__[name].__doc__.splitlines()[0]
        want = re.findall(r"(?:\(|, )(\w+):", first)
        assert list(inspect.signature(fn).parameters) == want, name
        checked += 1
    assert checked >= 10
