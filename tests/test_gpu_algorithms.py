"""The CUDA engine's single-source algorithms (csrc/gpu) run by the host executor
(unblur._core.gpu_on_host), against the CPU engine on fresh random inputs.

The device build runs the very same code with kernels and cuFFT in place of loops and
FFTW, so these tests check its logic (grids, windows, normalisers, every option, state,
stopping rules) on machines without a GPU; tests/test_cuda.py checks the device build
itself where there is one."""

from __future__ import annotations

import numpy as np
import pytest
import unblur
from conftest import tol
from test_richardson_lucy import _blurred, _itol

host = unblur._core.gpu_on_host


def _scaled(dtype, ref):
    """_itol with the absolute part relative to the array's largest value: FFT rounding
    is relative to the array, not to each element (small halo pixels of 'auto' carry
    the round-off of their large neighbours)."""
    t = _itol(dtype)
    return {"rtol": t["rtol"], "atol": t["atol"] * max(1.0, float(np.abs(ref).max()))}


def _norm(psf):
    return psf / psf.sum(dtype=np.float64).astype(psf.dtype)


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect", "zero"])
@pytest.mark.parametrize("accelerate", [False, True])
def test_richardson_lucy_matches_the_cpu_engine(rng, dtype, boundary, accelerate):
    g, psf, _ = _blurred(rng, (40, 45), (7, 5), dtype, noise=0.01)
    psf = _norm(psf)
    kw = dict(iterations=6, boundary=boundary, accelerate=accelerate)
    want, winfo = unblur._core.richardson_lucy(g, psf, **kw)
    out, info = host.richardson_lucy(g, psf, **kw)
    assert out.dtype == dtype and out.shape == g.shape
    np.testing.assert_allclose(out, want, **_scaled(dtype, want))
    # The state covers the whole grid. In float64 all of it must agree. In float32 the
    # halo pixels of 'auto' and 'zero', which few observed pixels see, carry round-off
    # amplified by up to 1 / (A^T w) ~ 1e4 near the grid's corners (either engine lands
    # 3e-5 .. 2e-4 from a float64 run there, at random), so the state is compared where
    # the image is (the window at K / 2; all of it for 'periodic').
    for key in ("estimate", "previous", "previous_step", "correction") if accelerate else ("estimate",):
        a, b = info["state"][key], winfo["state"][key]
        if dtype == np.float32 and boundary != "periodic":
            window = tuple(slice(k // 2, k // 2 + n) for k, n in zip(psf.shape, g.shape))
            a, b = a[window], b[window]
        np.testing.assert_allclose(a, b, **_scaled(dtype, b))
    assert info["iterations"] == 6 and info["stopped_by"] == "iterations"
    assert info["residual"] == pytest.approx(winfo["residual"], rel=1e-4 if dtype == np.float32 else 1e-10)
    assert info["state"]["history"] == winfo["state"]["history"]


@pytest.mark.parametrize("options", [
    dict(damping=0.02), dict(tv_weight=0.01), dict(background=0.1), dict(weights=True),
    dict(damping=0.01, tv_weight=0.005, weights=True, background=0.05),
    dict(damping=0.01, tv_weight=0.005, weights=True, background=0.05, accelerate=False),
])
@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect", "zero"])
def test_richardson_lucy_options_match_the_cpu_engine(rng, dtype, options, boundary):
    g, psf, _ = _blurred(rng, (36, 33), (5, 7), dtype, noise=0.01)
    options = dict(options)
    if options.get("weights"):
        options["weights"] = (rng.random(g.shape) > 0.2).astype(dtype) * rng.random(g.shape).astype(dtype)
    psf = _norm(psf)
    want, _ = unblur._core.richardson_lucy(g, psf, iterations=5, boundary=boundary, **options)
    out, _ = host.richardson_lucy(g, psf, iterations=5, boundary=boundary, **options)
    np.testing.assert_allclose(out, want, **_itol(dtype))


@pytest.mark.parametrize("boundary", ["auto", "reflect", "zero"])
def test_richardson_lucy_3d_matches_the_cpu_engine(rng, dtype, boundary):
    g, psf, _ = _blurred(rng, (12, 15, 14), (3, 5, 3), dtype, noise=0.01)
    psf = _norm(psf)
    want, _ = unblur._core.richardson_lucy(g, psf, iterations=4, boundary=boundary, tv_weight=0.002)
    out, _ = host.richardson_lucy(g, psf, iterations=4, boundary=boundary, tv_weight=0.002)
    np.testing.assert_allclose(out, want, **_itol(dtype))


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect", "zero"])
def test_richardson_lucy_initial_image_and_resumed_state(rng, boundary):
    g, psf, _ = _blurred(rng, (30, 34), (5, 5), np.float64, noise=0.01)
    psf = _norm(psf)
    x0 = np.abs(g + 0.05 * rng.standard_normal(g.shape))
    want, _ = unblur._core.richardson_lucy(g, psf, iterations=3, boundary=boundary, initial=x0)
    out, _ = host.richardson_lucy(g, psf, iterations=3, boundary=boundary, initial=x0)
    np.testing.assert_allclose(out, want, **_itol(np.float64))
    # 4 iterations, then 3 from the state (a CPU engine's state, and the host run's own).
    full, _ = unblur._core.richardson_lucy(g, psf, iterations=7, boundary=boundary)
    _, cpu_first = unblur._core.richardson_lucy(g, psf, iterations=4, boundary=boundary)
    _, gpu_first = host.richardson_lucy(g, psf, iterations=4, boundary=boundary)
    for first in (cpu_first, gpu_first):
        rest, info = host.richardson_lucy(g, psf, iterations=3, boundary=boundary, state=first["state"])
        np.testing.assert_allclose(rest, full, **_itol(np.float64))
        assert info["state"]["iterations"] == 7


def test_richardson_lucy_automatic_stop_matches_the_cpu_engine(rng):
    g, psf, _ = _blurred(rng, (48, 48), (7, 7), np.float64, noise=0.02)
    psf = _norm(psf)
    sigma = unblur.estimate_noise(g)
    for kw in (dict(), dict(accelerate=False, tolerance=5e-3), dict(max_iterations=4, tolerance=0.0)):
        want, winfo = unblur._core.richardson_lucy(g, psf, noise_sigma=sigma, **kw)
        out, info = host.richardson_lucy(g, psf, noise_sigma=sigma, **kw)
        assert (info["iterations"], info["stopped_by"]) == (winfo["iterations"], winfo["stopped_by"])
        assert info["noise_sigma"] == sigma
        np.testing.assert_allclose(out, want, **_itol(np.float64))


def test_richardson_lucy_callback_sees_each_iteration_and_stops(rng):
    g, psf, _ = _blurred(rng, (32, 32), (5, 5), np.float64)
    seen = []

    def cb(state):
        seen.append(state)
        return state["iteration"] < 3

    out, info = host.richardson_lucy(g, _norm(psf), iterations=10, callback=cb)
    want, _ = unblur._core.richardson_lucy(g, _norm(psf), iterations=3)
    assert [s["iteration"] for s in seen] == [1, 2, 3] and info["stopped_by"] == "callback"
    np.testing.assert_allclose(out, want, **_itol(np.float64))


def test_richardson_lucy_automatic_stop_needs_a_noise_sigma(rng):
    g, psf, _ = _blurred(rng, (16, 16), (3, 3), np.float64)
    with pytest.raises(ValueError, match="noise_sigma"):
        host.richardson_lucy(g, _norm(psf))
    with pytest.raises(ValueError, match="odd sizes"):
        host.richardson_lucy(g, np.full((4, 3), 1 / 12), iterations=2)


# ---- Gaussian filter (csrc/gpu/gaussian_filter.hpp) --------------------------------------

@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "constant", "wrap"])
def test_gaussian_filter_matches_the_cpu_engine_and_scipy(rng, dtype, mode):
    import scipy.ndimage

    cases = [((37, 41), (1.5, 2.2)), ((9, 20, 33), (0.7, 0.0, 3.1)), ((50,), (12.0,)), ((6, 300), (0.3, 60.0)),
             ((3, 5), (9.0, 0.5))]  # radii beyond the array: the boundary rule repeats
    for shape, sigma in cases:
        x = rng.random(shape).astype(dtype)
        got = host.gaussian_filter(x, list(sigma), mode, 0.3, 4.0)
        assert got.dtype == dtype and got.shape == x.shape
        want = unblur._core.gaussian_filter(x, list(sigma), mode, 0.3, 4.0)
        np.testing.assert_allclose(got, want, rtol=0, atol=10 * tol(dtype)["atol"])
        ref = scipy.ndimage.gaussian_filter(x.astype(np.float64), sigma, mode=mode, cval=0.3)
        np.testing.assert_allclose(got, ref, rtol=0, atol=10 * tol(dtype)["atol"])


def test_gaussian_filter_zero_sigma_copies_and_bad_sigma_is_refused(rng):
    x = rng.random((8, 9))
    np.testing.assert_array_equal(host.gaussian_filter(x, [0.0, 0.0]), x)
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        host.gaussian_filter(x, [1.0, -1.0])
    with pytest.raises(ValueError, match="one value per axis"):
        host.gaussian_filter(x, [1.0])


# ---- metrics (csrc/gpu/metrics.hpp) -------------------------------------------------------

@pytest.mark.parametrize("shape", [(40, 37), (13, 14, 15), (60,)])
def test_metrics_match_the_cpu_engine_and_skimage(rng, dtype, shape):
    import skimage.metrics

    a = rng.random(shape).astype(dtype)
    b = (a + 0.1 * rng.standard_normal(shape)).astype(dtype)
    assert host.psnr(a, b, 1.0) == pytest.approx(unblur._core.psnr(a, b, 1.0), rel=1e-12)
    assert host.psnr(a, a, 1.0) == float("inf")
    mssim, smap = host.ssim(a, b, 1.0, 1.5, 3.5, 0.01, 0.03, True)
    want, want_map = unblur._core.ssim(a, b, 1.0, 1.5, 3.5, 0.01, 0.03, True)
    assert mssim == pytest.approx(want, rel=1e-12)
    assert smap.dtype == dtype
    np.testing.assert_allclose(smap, want_map, rtol=0, atol=1e-12 if dtype == np.float64 else 1e-6)
    ref = skimage.metrics.structural_similarity(a.astype(np.float64), b.astype(np.float64), data_range=1.0,
                                                gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert mssim == pytest.approx(ref, abs=1e-5)
    assert host.ssim(a, b, 1.0, 1.5, 3.5, 0.01, 0.03, False)[1] is None


def test_ssim_refuses_a_window_longer_than_an_axis(rng):
    a = rng.random((8, 30))
    with pytest.raises(ValueError, match="SSIM window"):
        host.ssim(a, a, 1.0)


# ---- Wiener / Tikhonov (csrc/gpu/wiener.hpp) ---------------------------------------------

def _assert_quadratic_agrees(got, want, dtype, boundary, exact):
    """Closed forms ('periodic', 'reflect'): FFT rounding only, the per-dtype tolerance.
    'auto' stops CG at a relative residual of 1e-5, and for an ill-conditioned penalty
    the stopped iterate is itself ~1e-2 of the peak away from the solution (float32,
    identity, small GCV lam), so two runs can differ by that much without either being
    wrong: the CUDA solver must then be as close to the solution (`exact`, float64 at
    a residual of 1e-12) as the CPU engine is, to within the dtype's rounding floor."""
    if boundary != "auto":
        np.testing.assert_allclose(got, want, **(tol(dtype) if dtype == np.float64 else _itol(dtype)))
        return
    floor = (1e-5 if dtype == np.float32 else 1e-12) * float(np.abs(exact).max())
    err_cpu = float(np.abs(want - exact).max())
    err_gpu = float(np.abs(got - exact).max())
    assert err_gpu <= 2 * err_cpu + floor, (err_gpu, err_cpu)


@pytest.mark.parametrize("boundary", ["periodic", "reflect", "auto"])
@pytest.mark.parametrize("nsr", [None, 0.01, "spectrum"])
def test_wiener_matches_the_cpu_engine(rng, dtype, boundary, nsr):
    g, psf, _ = _blurred(rng, (40, 45), (7, 5), dtype, noise=0.01)
    psf = _norm(psf)
    if nsr == "spectrum":
        grid = unblur._core.quadratic_grid_shape(g.shape, psf.shape, boundary)
        nsr = (0.001 + 0.01 * rng.random(tuple(grid[:-1]) + (grid[-1] // 2 + 1,))).astype(dtype)
    want, winfo = unblur._core.wiener(g, psf, boundary, nsr, None, 0.0, 500, 0)
    got, info = host.quadratic(g, psf, boundary, "wiener", nsr, sigma=unblur._core.estimate_noise(g))
    assert got.dtype == dtype and got.shape == g.shape
    exact = None
    if boundary == "auto":
        nsr64 = nsr.astype(np.float64) if isinstance(nsr, np.ndarray) else nsr
        exact, _ = unblur._core.wiener(g.astype(np.float64), psf.astype(np.float64), boundary, nsr64, None, 1e-12,
                                       5000, 0)
    _assert_quadratic_agrees(got, want, dtype, boundary, exact)
    assert tuple(info["grid_shape"]) == tuple(winfo["grid_shape"])
    assert info["iterations"] > 0 if boundary == "auto" else info["iterations"] == 0
    if nsr is None:
        for key in ("psd_alpha", "psd_amplitude", "noise_sigma"):
            assert info[key] == pytest.approx(winfo[key], rel=1e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("boundary", ["periodic", "reflect", "auto"])
@pytest.mark.parametrize("regularizer", ["identity", "gradient", "laplacian"])
@pytest.mark.parametrize("lam_method", ["fixed", "gcv", "discrepancy"])
def test_tikhonov_matches_the_cpu_engine(rng, dtype, boundary, regularizer, lam_method):
    g, psf, _ = _blurred(rng, (36, 33), (5, 7), dtype, noise=0.01)
    psf = _norm(psf)
    want, winfo = unblur._core.tikhonov(g, psf, boundary, regularizer, lam_method, 0.003, None, 0.0, 500, 0)
    got, info = host.quadratic(g, psf, boundary, "tikhonov", None, regularizer, lam_method, 0.003,
                               unblur._core.estimate_noise(g))
    assert info["lam"] == pytest.approx(winfo["lam"], rel=1e-3 if dtype == np.float32 else 1e-9)
    exact = None
    if boundary == "auto":
        exact, _ = unblur._core.tikhonov(g.astype(np.float64), psf.astype(np.float64), boundary, regularizer,
                                         "fixed", winfo["lam"], None, 1e-12, 5000, 0)
    _assert_quadratic_agrees(got, want, dtype, boundary, exact)


def test_quadratic_3d_and_callback(rng):
    g, psf, _ = _blurred(rng, (12, 15, 14), (3, 5, 3), np.float64, noise=0.01)
    psf = _norm(psf)
    want, _ = unblur._core.tikhonov(g, psf, "auto", "laplacian", "gcv", 0.0, None, 1e-11, 5000, 0)
    seen = []
    got, info = host.quadratic(g, psf, "auto", "tikhonov", None, "laplacian", "gcv", 0.0, -1.0,
                               lambda s: seen.append(s["iteration"]) is None, 1e-11, 5000)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert seen == list(range(1, info["iterations"] + 1)) and info["iterations"] > 0
    _, stopped = host.quadratic(g, psf, "auto", "tikhonov", None, "laplacian", "fixed", 0.01, -1.0,
                                lambda s: s["iteration"] < 2)
    assert stopped["iterations"] == 2


def test_quadratic_refuses_bad_parameters(rng):
    g, psf, _ = _blurred(rng, (16, 16), (3, 3), np.float64)
    with pytest.raises(ValueError, match="noise sigma must be given"):
        host.quadratic(g, _norm(psf), "auto", "wiener", None)
    with pytest.raises(ValueError, match="nsr must be finite and >= 0"):
        host.quadratic(g, _norm(psf), "auto", "wiener", -1.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        host.quadratic(g, _norm(psf), "auto", "kalman", 0.1)


# ---- TV deconvolution (csrc/gpu/tv_deconvolve.hpp) ----------------------------------------

@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect"])
@pytest.mark.parametrize("channels,shape,psf_shape", [(1, (30, 27), (5, 3)), (3, (20, 22), (3, 5)),
                                                      (1, (9, 10, 11), (3, 3, 5)), (2, (8, 9, 7), (3, 1, 3))])
@pytest.mark.parametrize("positivity,bounds", [(True, None), (False, (0.1, 0.8)), (False, None)])
def test_tv_matches_the_cpu_engine(rng, dtype, boundary, channels, shape, psf_shape, positivity, bounds):
    img = rng.random((channels,) + shape).astype(dtype)
    psf = rng.random(psf_shape).astype(dtype)
    psf /= psf.sum()
    src = img if channels > 1 else img[0]
    args = (src, psf, channels > 1, boundary, 0.05, 6, 0.0, positivity, bounds, (1.0, 2.0, 1.5), None)
    want, winfo = unblur._core.tv_deconvolve(*args)
    got, info = host.tv_deconvolve(*args)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, **_itol(dtype))
    assert info["iterations"] == winfo["iterations"] == 6 and info["stopped_by"] == "iterations"
    assert info["relative_change"] == pytest.approx(winfo["relative_change"], rel=1e-3)


def test_tv_callback_and_tolerance_match_the_cpu_engine(rng):
    img = rng.random((24, 26))
    psf = np.ones((3, 3)) / 9
    got, want = [], []
    args = (img, psf, False, "auto", 0.02, 5, 0.0, True, None, (1.0, 2.0, 1.5))
    unblur._core.tv_deconvolve(*args, want.append)
    host.tv_deconvolve(*args, got.append)
    assert [s["iteration"] for s in got] == [1, 2, 3, 4, 5]
    for a, b in zip(got, want):
        assert a["objective"] == pytest.approx(b["objective"], rel=1e-9)
        assert a["relative_change"] == pytest.approx(b["relative_change"], rel=1e-9)
    stop = (img, psf, False, "auto", 0.02, 300, 1e-3, True, None, (1.0, 2.0, 1.5), None)
    assert host.tv_deconvolve(*stop)[1]["iterations"] == unblur._core.tv_deconvolve(*stop)[1]["iterations"]


def test_the_cuda_engine_copies_only_through_its_counted_helper():
    # Every cudaMemcpy* of the CUDA engine is in csrc/cuda/transfer.hpp's transfer(),
    # which counts copies by direction (tests/test_cuda.py checks the counts per
    # algorithm on a GPU): a copy added anywhere else would escape that check.
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / "csrc"
    offenders = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".hpp", ".cpp", ".cu", ".cuh") or path.name == "transfer.hpp":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bcudaMemcpy\w*\s*\(", line):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []


# ---- blind Richardson-Lucy (csrc/gpu/blind_richardson_lucy.hpp) ---------------------------

@pytest.mark.parametrize("psf_iterations", [0, 1, 3])
def test_blind_richardson_lucy_matches_the_cpu_engine(rng, dtype, psf_iterations):
    g = (rng.random((37, 41)) + 0.1).astype(dtype)
    h0 = rng.random((7, 5)).astype(dtype)
    h0 /= h0.sum()
    want, want_h, want_done = unblur._core.blind_richardson_lucy(g, h0, 4, psf_iterations)
    got, got_h, done = host.blind_richardson_lucy(g, h0, 4, psf_iterations)
    assert done == want_done == 4 and got.dtype == got_h.dtype == dtype
    np.testing.assert_allclose(got, want, **_scaled(dtype, want))
    np.testing.assert_allclose(got_h, want_h, **_scaled(dtype, want_h))
    assert float(got_h.sum()) == pytest.approx(1.0, rel=1e-5)


def test_blind_richardson_lucy_callback_and_bad_psf(rng):
    g = rng.random((20, 22)) + 0.1
    h0 = np.full((3, 3), 1 / 9)
    _, _, done = host.blind_richardson_lucy(g, h0, 10, 1, lambda s: s["iteration"] < 3)
    assert done == 3
    with pytest.raises(ValueError, match="finite and >= 0"):
        host.blind_richardson_lucy(g, np.array([[0.5, -0.1, 0.6]]), 2, 1)
    with pytest.raises(ValueError, match="positive sum"):
        host.blind_richardson_lucy(g, np.zeros((3, 3)), 2, 1)
