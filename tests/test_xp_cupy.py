"""The array-API code "on CuPy", on the CPU.

Every public function runs once on a NumPy array (the C++ engine) and once on an array
of the CuPy stand-in (tests/cupy_standin.py, installed by the `fake_cupy` fixture with
UNBLUR_BACKEND=cupy: the _xp code under CuPy's rules). CuPy in gives CuPy out, of the
same dtype and shape, with values that agree with the C++ result within the tolerances
the C++-vs-_xp tests use (test_convolve, test_wiener, test_richardson_lucy, ...).

Transfer rule, for the call under test (its inputs already on the device; measured by
the stand-in's counters, see `measured`):

* no download (device -> host) of any array, except where the function documents one
  (estimate_psf's free-form shake estimator runs on a host copy);
* uploads only of set-up data, each at most `setup_limit` elements: a line of the
  FFT grid (frequency axes, boundary index lines, per-axis tapers, Gaussian taps) or
  a kernel (a NumPy PSF copied to the device, the blur candidates of estimate_psf).
  Nothing of the image's size goes up. Their number is reported, not bounded;
* scalar reads (float() / int() / bool() of device values: validation, convergence
  tests, line searches) are allowed and reported.

Run with ``-s`` to see each call's counts.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import unblur
from conftest import tol
from test_richardson_lucy import assert_state_close
from unblur import _deconv_common, _validate
from unblur._xp import psf as xp_psf
from unblur._xp import wiener as xp_wiener

# The C++-vs-_xp tolerances of the other test files, reused as they are.
ITER_FACTOR = {np.float32: 20, np.float64: 100}  # test_richardson_lucy: a few iterations


def _itol(dtype):
    t = tol(dtype)
    f = ITER_FACTOR[np.dtype(dtype).type]
    return {"rtol": t["rtol"] * f, "atol": t["atol"] * f}


def _close_scaled(got, want, dtype):
    """test_convolve's assert_close: errors relative to the output's scale."""
    scale = max(float(np.abs(want).max()), 1.0)
    t = tol(dtype)
    np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=5 * t["rtol"] + t["atol"])


def _close_wiener(got, want, dtype, scale=1.0):
    """test_wiener's _compare."""
    t = tol(dtype)
    np.testing.assert_allclose(got, want, rtol=t["rtol"] * scale, atol=t["atol"] * scale * max(1.0, np.abs(want).max()))


def setup_limit(shape, kernel_shape=()):
    """The largest set-up upload allowed: a line of a grid twice the image plus the
    kernel, or the kernel itself (see the module docstring)."""
    line = 2 * (max(shape) + (max(kernel_shape) if kernel_shape else 0))
    return max(line, int(np.prod(kernel_shape)) if kernel_shape else 0)


def measured(cp, limit, fn, *args, downloads=0, **kwargs):
    """fn(*args, **kwargs) under the stand-in's counters; checks the transfer rule
    (no upload above `limit` elements; None: the call is itself set-up, unbounded) and
    returns (result, number of scalar reads)."""
    cp.transfers.reset()
    out = fn(*args, **kwargs)
    t = cp.transfers
    summary = t.summary()
    log = list(t.log)
    assert t.downloads == downloads, f"downloads: {t.where('download')}"
    big = [(n, w) for k, n, w in log if k == "upload" and limit is not None and n > limit]
    assert not big, f"uploads larger than set-up data ({limit} elements): {big}"
    print(f"\n[{getattr(fn, '__name__', fn)}] {summary}")
    return out, t.scalar_reads


def on_device(cp, out, like):
    """CuPy in, CuPy out: the stand-in's array type, `like`'s dtype and shape; the
    values as a NumPy array (read after the measured call)."""
    assert type(out) is cp.ndarray, type(out)
    assert out.dtype == like.dtype and out.shape == like.shape, (out.dtype, out.shape, like.dtype, like.shape)
    return cp.asnumpy(out)


def _scene(rng, shape):
    """A smooth non-negative scene with a sharp block (test_richardson_lucy's)."""
    x = scipy.ndimage.gaussian_filter(rng.random(shape), 2.0) + 0.2
    x[tuple(slice(n // 3, n // 3 + max(2, n // 6)) for n in shape)] += 1.0
    return x


def _psf(shape, sigma=1.3):
    """An asymmetric Gaussian-like PSF (catches a missing flip), sum 1."""
    grids = np.meshgrid(*[np.arange(k) - k // 2 for k in shape], indexing="ij")
    p = np.exp(-sum(g.astype(float) ** 2 for g in grids) / (2 * sigma**2))
    p[tuple(k // 2 + 1 for k in shape)] += 0.3
    return p / p.sum()


def _blurred(rng, shape, psf_shape, dtype, noise=0.01):
    psf = _psf(psf_shape)
    g = unblur.convolve(_scene(rng, shape), psf, boundary="periodic") + noise * rng.standard_normal(shape)
    return np.maximum(g, 0).astype(dtype), psf.astype(dtype)


# ---- the stand-in itself -----------------------------------------------------------------------
def test_standin_keeps_cupys_rules(fake_cupy):
    cp = fake_cupy
    x = cp.asarray(np.arange(6.0).reshape(2, 3))
    assert type(x).__module__.startswith("cupy") and not isinstance(x, np.ndarray)
    assert cp.transfers.uploads == 1
    for bad in (lambda: x + np.ones(3), lambda: np.ones(3) * x, lambda: cp.where(np.ones((2, 3), bool), x, 0),
                lambda: x * np.array(2.0), lambda: cp.maximum(x, np.zeros(3))):
        with pytest.raises(TypeError, match="Unsupported type"):
            bad()
    with pytest.raises(TypeError, match="no cupy.ndarray among the arguments"):
        cp.sum([1.0, 2.0])
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(x)
    with pytest.raises(TypeError, match="numpy.sum"):
        np.sum(x)
    with pytest.raises(TypeError):
        unblur._core.estimate_noise(x)  # the C++ engine cannot take device arrays
    with pytest.raises(TypeError, match="Unsupported type"):
        x[0] = np.zeros(3)
    # Scalars, NumPy scalars and NumPy ufuncs are fine; reductions stay on the device.
    assert type(np.float32(2) * x + 1.0) is cp.ndarray and type(np.exp(x)) is cp.ndarray
    s = x.sum()
    assert type(s) is cp.ndarray and s.shape == ()
    cp.transfers.reset()
    assert float(s) == 15.0 and bool(s > 1) and int(x[1, 2]) == 5
    assert cp.transfers.scalar_reads == 3 and cp.transfers.downloads == 0
    np.testing.assert_array_equal(x.get(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(cp.asnumpy(x), x.get())
    assert cp.transfers.downloads == 3
    x[:] = np.ones((2, 3))  # the one NumPy value CuPy's __setitem__ takes: an upload
    assert cp.transfers.uploads == 1
    assert cp.fft.rfftn(x.astype(cp.float32)).dtype == np.complex64
    assert x.flags.c_contiguous and not x[:, ::2].flags.c_contiguous and x.device.id == 0
    with cp.cuda.Device(1):
        assert cp.zeros(3).device.id == 1
    assert not hasattr(cp.cuda, "runtime")  # no GPU probe can find a device in the stand-in


def test_fixture_uses_the_fallback_and_leaves_no_trace(fake_cupy):
    import sys

    assert sys.modules["cupy"] is fake_cupy and unblur._backend.gpu_engine() is None
    assert unblur._backend.namespace_of(fake_cupy.zeros(2)) is fake_cupy


def test_the_standin_is_gone_after_the_fixture():
    import sys

    assert "cupy" not in sys.modules or not hasattr(sys.modules["cupy"], "transfers")


# ---- convolution, filters, FFTs, metrics ----------------------------------------------------------
CONV_CASES = [((61,), (7,)), ((37, 43), (5, 9)), ((13, 11, 17), (3, 5, 3))]


@pytest.mark.parametrize("shape,kshape", CONV_CASES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", ["constant", "reflect", "mirror", "nearest", "periodic"])
def test_convolve(fake_cupy, rng, dtype, shape, kshape, mode, boundary):
    cp = fake_cupy
    x, k = rng.standard_normal(shape).astype(dtype), rng.random(kshape).astype(dtype)
    want = unblur.convolve(x, k, mode=mode, boundary=boundary, cval=0.25)
    dx, dk = cp.asarray(x), cp.asarray(k)
    got, _ = measured(cp, setup_limit(shape, kshape), unblur.convolve, dx, dk, mode=mode, boundary=boundary,
                      cval=0.25)
    _close_scaled(on_device(cp, got, want), want, dtype)


@pytest.mark.parametrize("channel_axis", [0, -1])
def test_convolve_colour_and_host_kernel(fake_cupy, rng, dtype, channel_axis):
    cp = fake_cupy
    x = rng.random((3, 30, 34) if channel_axis == 0 else (30, 34, 3)).astype(dtype)
    k = unblur.psf.motion(7, 30).astype(dtype)
    want = unblur.convolve(x, k, boundary="reflect", channel_axis=channel_axis)
    # A NumPy kernel with a CuPy image is copied to the device (documented): one
    # kernel-sized upload.
    got, _ = measured(cp, k.size, unblur.convolve, cp.asarray(x), k, boundary="reflect", channel_axis=channel_axis)
    assert cp.transfers.uploads == 1
    _close_scaled(on_device(cp, got, want), want, dtype)


@pytest.mark.parametrize("shape", [(50,), (33, 40), (11, 12, 13)])
@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "constant", "wrap"])
def test_gaussian_filter(fake_cupy, rng, dtype, shape, mode):
    cp = fake_cupy
    x = rng.random(shape).astype(dtype)
    sigma = tuple(rng.uniform(0.5, 3.0, len(shape)))
    want = unblur.gaussian_filter(x, sigma, mode=mode, cval=0.4)
    taps = (2 * int(4.0 * max(sigma) + 0.5) + 1,)
    got, _ = measured(cp, setup_limit(shape, taps), unblur.gaussian_filter, cp.asarray(x), sigma, mode=mode, cval=0.4)
    np.testing.assert_allclose(on_device(cp, got, want), want, **tol(dtype))


def test_gaussian_filter_channels_zero_sigma_and_truncate(fake_cupy, rng, dtype):
    cp = fake_cupy
    x = rng.random((3, 30, 34)).astype(dtype)
    want = unblur.gaussian_filter(x, (0.0, 2.5), truncate=2.5, channel_axis=0)
    got, _ = measured(cp, setup_limit(x.shape, (13,)), unblur.gaussian_filter, cp.asarray(x), (0.0, 2.5), truncate=2.5,
                      channel_axis=0)
    np.testing.assert_allclose(on_device(cp, got, want), want, **tol(dtype))


@pytest.mark.parametrize("map_sigma", [False, True])
def test_collaborative_wiener(fake_cupy, rng, dtype, map_sigma):
    cp = fake_cupy
    shape = (37, 45)
    truth = np.tile(rng.random((5, 7)), (8, 7))[: shape[0], : shape[1]] + scipy.ndimage.gaussian_filter(
        rng.random(shape), 3.0)
    noisy = (truth + 0.05 * rng.standard_normal(shape)).astype(dtype)
    pilot = (truth + 0.01 * rng.standard_normal(shape)).astype(dtype)
    sigma = rng.uniform(0.02, 0.06, shape) if map_sigma else 0.05
    want = unblur.collaborative_wiener(noisy, pilot, sigma, radius=6)
    # set-up uploads only: the reference corners along each axis and the Kaiser taps
    got, _ = measured(cp, setup_limit(shape), unblur.collaborative_wiener, cp.asarray(noisy), cp.asarray(pilot),
                      cp.asarray(sigma) if map_sigma else sigma, radius=6)
    np.testing.assert_allclose(on_device(cp, got, want), want, **tol(dtype))


@pytest.mark.parametrize("shape", [(64,), (30, 47), (9, 10, 12)])
def test_fft_transforms(fake_cupy, rng, dtype, shape):
    cp = fake_cupy
    x = rng.standard_normal(shape).astype(dtype)
    dx = cp.asarray(x)
    scale = float(np.abs(np.fft.rfftn(x)).max())
    for fn, arg, host_arg in [
        (unblur.fft.rfftn, dx, x),
        (unblur.fft.fftn, dx, x),
        (lambda a: unblur.fft.irfftn(a, shape), cp.asarray(unblur.fft.rfftn(x)), unblur.fft.rfftn(x)),
        (unblur.fft.ifftn, cp.asarray(unblur.fft.fftn(x)), unblur.fft.fftn(x)),
    ]:
        want = fn(host_arg)
        got, _ = measured(cp, 0, fn, arg)
        got = on_device(cp, got, want)
        s = scale if np.iscomplexobj(want) else 1.0
        np.testing.assert_allclose(got / s, want / s, **tol(dtype))


@pytest.mark.parametrize("psf_shape,shape", [((5,), (17,)), ((3, 5), (16, 15)), ((3, 3, 5), (8, 9, 10))])
def test_psf2otf_and_back(fake_cupy, rng, dtype, psf_shape, shape):
    cp = fake_cupy
    psf = rng.random(psf_shape).astype(dtype)
    want = unblur.fft.psf2otf(psf, shape)
    got, _ = measured(cp, 0, unblur.fft.psf2otf, cp.asarray(psf), shape)
    np.testing.assert_allclose(on_device(cp, got, want), want, **tol(dtype))
    back_want = unblur.fft.otf2psf(want, shape, psf_shape)
    back, _ = measured(cp, 0, unblur.fft.otf2psf, got, shape, psf_shape)
    np.testing.assert_allclose(on_device(cp, back, back_want), back_want, **tol(dtype))


def test_fft_integer_input_and_bad_input(fake_cupy):
    cp = fake_cupy
    x = (np.arange(48) % 7).astype(np.uint8).reshape(6, 8)
    got = unblur.fft.rfftn(cp.asarray(x))
    assert got.dtype == np.complex64
    np.testing.assert_allclose(cp.asnumpy(got), unblur.fft.rfftn(x), **tol(np.float32))
    with pytest.raises(TypeError, match="spectrum must be complex64 or complex128"):
        unblur.fft.irfftn(cp.zeros((6, 5)), (6, 8))
    with pytest.raises(ValueError, match="contains NaN"):
        unblur.fft.ifftn(cp.full((4, 4), np.nan + 0j))


def test_metrics(fake_cupy, rng, dtype):
    cp = fake_cupy
    ref = rng.random((40, 44)).astype(dtype)
    img = (ref + 0.1 * rng.standard_normal(ref.shape)).astype(dtype)
    dref, dimg = cp.asarray(ref), cp.asarray(img)
    p, _ = measured(cp, 0, unblur.metrics.psnr, dref, dimg)
    assert isinstance(p, float) and p == pytest.approx(unblur.metrics.psnr(ref, img), rel=1e-9)
    want, want_map = unblur.metrics.ssim(ref, img, data_range=1.0, full=True)
    (m, smap), _ = measured(cp, setup_limit(ref.shape, (11,)), unblur.metrics.ssim, dref, dimg, data_range=1.0,
                            full=True)
    assert isinstance(m, float) and m == pytest.approx(want, abs=1e-6)
    np.testing.assert_allclose(on_device(cp, smap, want_map), want_map, rtol=0,
                               atol=1e-5 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("channel_axis", [0, -1])
def test_metrics_colour(fake_cupy, rng, dtype, channel_axis):
    cp = fake_cupy
    shape = (3, 24, 30) if channel_axis == 0 else (24, 30, 3)
    ref = rng.random(shape).astype(dtype)
    img = (ref + 0.1 * rng.standard_normal(shape)).astype(dtype)
    want, want_map = unblur.metrics.ssim(ref, img, data_range=1.0, channel_axis=channel_axis, full=True)
    (m, smap), _ = measured(cp, setup_limit(shape, (11,)), unblur.metrics.ssim, cp.asarray(ref), cp.asarray(img),
                            data_range=1.0, channel_axis=channel_axis, full=True)
    assert m == pytest.approx(want, abs=1e-6)
    np.testing.assert_allclose(on_device(cp, smap, want_map), want_map, rtol=0, atol=1e-5)
    p, _ = measured(cp, 0, unblur.metrics.psnr, cp.asarray(ref), cp.asarray(img))
    assert p == pytest.approx(unblur.metrics.psnr(ref, img), rel=1e-9)


def test_estimate_noise(fake_cupy, rng, dtype):
    cp = fake_cupy
    img = (0.5 + rng.normal(0, 0.05, (64, 60, 3))).astype(dtype)
    for kw, x in [({}, img[..., 0]), ({"channel_axis": -1}, img), ({}, img[:, :, 0][:, :41])]:
        got, _ = measured(cp, 0, unblur.estimate_noise, cp.asarray(x), **kw)
        assert isinstance(got, float) and got == pytest.approx(unblur.estimate_noise(x, **kw), rel=1e-6)
    # The profile, on a larger image (several groups): the CuPy fallback against the core.
    big = (rng.random((130, 128)) * (1 + rng.normal(0, 0.05, (130, 128)))).astype(dtype)
    (levels, sigmas), _ = measured(cp, 0, unblur.estimate_noise_profile, cp.asarray(big))
    want_levels, want_sigmas = unblur.estimate_noise_profile(big)
    assert isinstance(levels, np.ndarray) and len(levels) == len(want_levels) == 4
    np.testing.assert_allclose(levels, want_levels, rtol=1e-9)
    np.testing.assert_allclose(sigmas, want_sigmas, rtol=1e-9)


# ---- deconvolution -------------------------------------------------------------------------
def _photo(shape=(48, 52), corner=(100, 100)):
    img = unblur.data.astronaut()[..., 1].astype(np.float64) / 255
    return img[corner[0]:corner[0] + shape[0], corner[1]:corner[1] + shape[1]]


@pytest.mark.parametrize("boundary", ["periodic", "reflect", "auto"])
@pytest.mark.parametrize("nsr", [0.003, "auto", "array", "callable"])
def test_wiener(fake_cupy, rng, dtype, boundary, nsr):
    # test_wiener's case (its symmetric PSF: with the 50x tolerance of 'auto', whose CG
    # stops at relative residual 1e-5, an asymmetric PSF's rounding differences between
    # any two CG implementations, C++ vs the NumPy reference included, grow to ~4e-6
    # over ~40 iterations; test_tikhonov below covers asymmetric PSFs).
    cp = fake_cupy
    x = _photo()
    r = np.arange(-3, 4)
    psf = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.2**2))
    psf = (psf / psf.sum()).astype(dtype)
    g = (unblur.convolve(x, psf.astype(np.float64), boundary="periodic") + rng.normal(0, 0.01, x.shape)).astype(dtype)
    grid = xp_wiener.grid_shape(g.shape, psf.shape, boundary)
    host_arg = dev_arg = nsr
    if nsr == "array":
        host_arg = (1e-3 + xp_wiener.radial_frequency(grid) ** 2).astype(dtype)
        dev_arg = cp.asarray(host_arg)
    elif nsr == "callable":
        host_arg = dev_arg = lambda f: 1e-3 + f**2  # noqa: E731 (gets the image's array type)
    want, info = unblur.wiener(g, psf, nsr=host_arg, boundary=boundary, return_info=True)
    dg, dpsf = cp.asarray(g), cp.asarray(psf)
    (got, dinfo), _ = measured(cp, setup_limit(grid, psf.shape), unblur.wiener, dg, dpsf, nsr=dev_arg,
                               boundary=boundary, return_info=True)
    _close_wiener(on_device(cp, got, want), want, dtype, 1.0 if boundary != "auto" else 50.0)
    if nsr == "auto":
        assert dinfo["psd_model"]["alpha"] == pytest.approx(info["psd_model"]["alpha"], rel=1e-4)
    assert isinstance(dinfo["relative_residual"], float) and isinstance(dinfo["noise_sigma"], float)


def test_wiener_colour_and_host_parameters(fake_cupy, rng):
    cp = fake_cupy
    g = rng.random((36, 40, 3))
    psf = _psf((5, 5))
    grid = xp_wiener.grid_shape(g.shape[:2], psf.shape, "reflect")
    spectrum = 1e-3 + xp_wiener.radial_frequency(grid) ** 2
    want = unblur.wiener(g, psf, nsr=spectrum, boundary="reflect", channel_axis=-1)
    # NumPy PSF and NSR spectrum with a CuPy image: both copied to the device
    # (documented; the spectrum is the one upload of the grid's size).
    got, _ = measured(cp, spectrum.size, unblur.wiener, cp.asarray(g), psf, nsr=spectrum, boundary="reflect",
                      channel_axis=-1)
    sizes = [n for k, n, _ in cp.transfers.log if k == "upload"]
    assert sizes.count(spectrum.size) == 1 and sizes.count(psf.size) == 1
    _close_wiener(on_device(cp, got, want), want, np.float64)
    # A callable may also return a NumPy array (then copied) or a number.
    got = unblur.wiener(cp.asarray(g), cp.asarray(psf), nsr=lambda f: 0.01, boundary="reflect", channel_axis=-1)
    _close_wiener(cp.asnumpy(got), unblur.wiener(g, psf, nsr=0.01, boundary="reflect", channel_axis=-1), np.float64)


@pytest.mark.parametrize("boundary", ["periodic", "reflect", "auto"])
@pytest.mark.parametrize("regularizer", ["identity", "gradient", "laplacian"])
def test_tikhonov(fake_cupy, rng, dtype, boundary, regularizer):
    cp = fake_cupy
    g = rng.random((40, 45)).astype(dtype)
    psf = rng.random((5, 7)).astype(dtype)
    psf /= psf.sum()
    want = unblur.tikhonov(g, psf, lam=0.01, regularizer=regularizer, boundary=boundary)
    grid = xp_wiener.grid_shape(g.shape, psf.shape, boundary)
    got, _ = measured(cp, setup_limit(grid, psf.shape), unblur.tikhonov, cp.asarray(g), cp.asarray(psf), lam=0.01,
                      regularizer=regularizer, boundary=boundary)
    got = on_device(cp, got, want)
    if boundary != "auto":
        _close_wiener(got, want, dtype)
        return
    # test_wiener: 'auto' is CG to relative residual 1e-5; both results are compared
    # with the exact float64 solution instead of with each other.
    exact, _ = xp_wiener.tikhonov(g.astype(np.float64), psf.astype(np.float64), boundary, regularizer, "fixed",
                                  0.01, tolerance=1e-12, max_iterations=5000)
    for result in (got, want):
        assert np.linalg.norm(result - exact) / np.linalg.norm(exact) < 2e-3


@pytest.mark.parametrize("boundary", ["periodic", "reflect"])
@pytest.mark.parametrize("lam_method", ["gcv", "discrepancy"])
def test_tikhonov_automatic_lam(fake_cupy, rng, boundary, lam_method):
    cp = fake_cupy
    x = _photo((64, 64))
    psf = _psf((7, 7), 1.5)
    g = unblur.convolve(x, psf, boundary="periodic") + rng.normal(0, 0.01, x.shape)
    _, info = unblur.tikhonov(g, psf, lam_method=lam_method, boundary=boundary, return_info=True)
    grid = xp_wiener.grid_shape(g.shape, psf.shape, boundary)
    (_, dinfo), _ = measured(cp, setup_limit(grid, psf.shape), unblur.tikhonov, cp.asarray(g), cp.asarray(psf),
                             lam_method=lam_method, boundary=boundary, return_info=True)
    assert dinfo["lam"] == pytest.approx(info["lam"], rel=1e-4) and dinfo["lam_method"] == lam_method


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect", "zero"])
@pytest.mark.parametrize("accelerate", [False, True])
def test_richardson_lucy(fake_cupy, rng, dtype, boundary, accelerate):
    cp = fake_cupy
    g, psf = _blurred(rng, (40, 45), (7, 5), dtype)
    kw = dict(iterations=6, boundary=boundary, accelerate=accelerate, return_info=True)
    want, info = unblur.richardson_lucy(g, psf, **kw)
    (got, dinfo), _ = measured(cp, setup_limit(g.shape, psf.shape), unblur.richardson_lucy, cp.asarray(g),
                                   cp.asarray(psf), **kw)
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(dtype))
    assert_state_close(cp.asnumpy(dinfo["state"]["estimate"]), info["state"]["estimate"], psf, g.shape, boundary, dtype)
    assert dinfo["iterations"] == 6 and dinfo["stopped_by"] == "iterations"
    assert type(dinfo["residual"]) is float and type(dinfo["relative_change"]) is float


def test_richardson_lucy_given_noise_level(fake_cupy, rng, dtype):
    """The automatic stop with a given noise level: the CuPy route stops where the core does."""
    cp = fake_cupy
    g, psf = _blurred(rng, (40, 45), (7, 5), dtype)
    want, info = unblur.richardson_lucy(g, psf, noise_sigma=0.02, return_info=True)
    (got, dinfo), _ = measured(cp, setup_limit(g.shape, psf.shape), unblur.richardson_lucy, cp.asarray(g),
                               cp.asarray(psf), noise_sigma=0.02, return_info=True)
    assert dinfo["noise_sigma"] == info["noise_sigma"] == 0.02
    assert dinfo["iterations"] == info["iterations"] and dinfo["stopped_by"] == info["stopped_by"]
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(dtype))


@pytest.mark.parametrize("options", [dict(damping=0.02), dict(tv_weight=0.01), dict(background=0.1),
                                     dict(weights=True),
                                     dict(damping=0.01, tv_weight=0.005, weights=True, background=0.05)])
@pytest.mark.parametrize("boundary", ["auto", "reflect", "zero"])
def test_richardson_lucy_options(fake_cupy, rng, dtype, options, boundary):
    cp = fake_cupy
    g, psf = _blurred(rng, (36, 33), (5, 7), dtype)
    host, dev = dict(options), dict(options)
    if options.get("weights"):
        w = (rng.random(g.shape) > 0.2).astype(dtype) * rng.random(g.shape).astype(dtype)
        host["weights"], dev["weights"] = w, cp.asarray(w)
    want = unblur.richardson_lucy(g, psf, iterations=5, boundary=boundary, **host)
    got, _ = measured(cp, setup_limit(g.shape, psf.shape), unblur.richardson_lucy, cp.asarray(g), cp.asarray(psf),
                      iterations=5, boundary=boundary, **dev)
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(dtype))


def test_richardson_lucy_state_initial_colour_and_automatic_stop(fake_cupy, rng):
    cp = fake_cupy
    g, psf = _blurred(rng, (34, 38), (5, 5), np.float64)
    dg, dpsf = cp.asarray(g), cp.asarray(psf)
    limit = setup_limit(g.shape, psf.shape)
    # Resuming from a CuPy state: N + M iterations, as the C++ engine does.
    _, info = unblur.richardson_lucy(g, psf, iterations=3, return_info=True)
    want = unblur.richardson_lucy(g, psf, iterations=4, initial=info["state"])
    _, dinfo = unblur.richardson_lucy(dg, dpsf, iterations=3, return_info=True)
    assert type(dinfo["state"]["estimate"]) is cp.ndarray
    got, _ = measured(cp, limit, unblur.richardson_lucy, dg, dpsf, iterations=4, initial=dinfo["state"])
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(np.float64))
    # An initial image.
    x0 = np.full(g.shape, 0.6) + 0.1 * rng.random(g.shape)
    want = unblur.richardson_lucy(g, psf, iterations=4, initial=x0)
    got, _ = measured(cp, limit, unblur.richardson_lucy, dg, dpsf, iterations=4, initial=cp.asarray(x0))
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(np.float64))
    # Colour: one restoration per channel, lists in the info.
    c = np.stack([g, g[::-1], g[:, ::-1]], axis=-1)
    want, info = unblur.richardson_lucy(c, psf, iterations=4, channel_axis=-1, return_info=True)
    (got, dinfo), _ = measured(cp, limit, unblur.richardson_lucy, cp.asarray(c), dpsf, iterations=4, channel_axis=-1,
                               return_info=True)
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(np.float64))
    assert len(dinfo["state"]) == 3 and dinfo["iterations"] == [4, 4, 4]
    # The automatic stop (discrepancy / tolerance / cap) stops where the C++ engine does.
    want, info = unblur.richardson_lucy(g, psf, return_info=True)
    (got, dinfo), _ = measured(cp, limit, unblur.richardson_lucy, dg, dpsf, return_info=True)
    assert (dinfo["iterations"], dinfo["stopped_by"]) == (info["iterations"], info["stopped_by"])
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(np.float64))


def test_volumes(fake_cupy, rng, dtype):
    # 3-D images through the deconvolutions whose tests above are 2-D.
    cp = fake_cupy
    g, psf = _blurred(rng, (12, 13, 14), (3, 5, 3), dtype)
    dg, dpsf = cp.asarray(g), cp.asarray(psf)
    limit = setup_limit((16, 18, 16), psf.shape)
    for fn, kw, check in [
        (unblur.wiener, dict(nsr=0.01, boundary="reflect"), lambda a, b: _close_wiener(a, b, dtype)),
        (unblur.wiener, dict(boundary="periodic"), lambda a, b: _close_wiener(a, b, dtype)),
        (unblur.tikhonov, dict(lam=0.01, regularizer="gradient", boundary="periodic"),
         lambda a, b: _close_wiener(a, b, dtype)),
        (unblur.richardson_lucy, dict(iterations=4), lambda a, b: np.testing.assert_allclose(a, b, **_itol(dtype))),
        (unblur.richardson_lucy, dict(iterations=4, boundary="reflect", tv_weight=0.01),
         lambda a, b: np.testing.assert_allclose(a, b, **_itol(dtype))),
    ]:
        want = fn(g, psf, **kw)
        got, _ = measured(cp, limit, fn, dg, dpsf, **kw)
        check(on_device(cp, got, want), want)
    for x in (g[0, 0], g):  # 1-D and 3-D noise estimates
        got, _ = measured(cp, 0, unblur.estimate_noise, cp.asarray(x))
        assert got == pytest.approx(unblur.estimate_noise(x), rel=1e-6)


def test_richardson_lucy_clips_negatives_with_a_warning(fake_cupy, rng):
    cp = fake_cupy
    g, psf = _blurred(rng, (30, 30), (5, 5), np.float64)
    g[5:8, 5:8] = -0.5
    with pytest.warns(UserWarning, match="negative values"):
        want = unblur.richardson_lucy(g, psf, iterations=3)
    with pytest.warns(UserWarning, match="negative values"):
        got = unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), iterations=3)
    np.testing.assert_allclose(cp.asnumpy(got), want, **_itol(np.float64))


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect"])
@pytest.mark.parametrize("shape,psf_shape,channel_axis", [((30, 27), (5, 3), None), ((20, 22, 3), (3, 5), -1),
                                                          ((9, 10, 11), (3, 3, 5), None)])
@pytest.mark.parametrize("positivity,bounds", [(True, None), (False, (0.1, 0.8))])
def test_tv_deconvolve(fake_cupy, rng, dtype, boundary, shape, psf_shape, channel_axis, positivity, bounds):
    cp = fake_cupy
    img = rng.random(shape).astype(dtype)
    psf = rng.random(psf_shape).astype(dtype)
    psf /= psf.sum()
    kw = dict(weight=0.05, iterations=6, boundary=boundary, positivity=positivity, bounds=bounds, rho=(1.0, 2.0, 1.5),
              channel_axis=channel_axis, return_info=True)
    want, info = unblur.tv_deconvolve(img, psf, **kw)
    (got, dinfo), _ = measured(cp, setup_limit(shape, psf_shape), unblur.tv_deconvolve, cp.asarray(img),
                               cp.asarray(psf), **kw)
    np.testing.assert_allclose(on_device(cp, got, want), want, **tol(dtype))
    assert dinfo["iterations"] == info["iterations"] == 6


def test_tv_deconvolve_defaults_stop_where_the_cpu_engine_does(fake_cupy, rng):
    cp = fake_cupy
    g, psf = _blurred(rng, (40, 42), (5, 5), np.float64, noise=0.02)
    want, info = unblur.tv_deconvolve(g, psf, return_info=True)
    (got, dinfo), _ = measured(cp, setup_limit(g.shape, psf.shape), unblur.tv_deconvolve, cp.asarray(g),
                               cp.asarray(psf), return_info=True)
    assert (dinfo["iterations"], dinfo["stopped_by"]) == (info["iterations"], info["stopped_by"])
    assert dinfo["weight"] == pytest.approx(info["weight"], rel=1e-9)
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(np.float64))


@pytest.mark.parametrize("method,params", [("wiener", dict(nsr=0.01)), ("tikhonov", dict(lam=0.01)),
                                           ("rl", dict(iterations=5)), ("tv", dict(iterations=5))])
def test_deconvolve(fake_cupy, rng, method, params):
    cp = fake_cupy
    g, psf = _blurred(rng, (36, 40), (5, 5), np.float32)
    want = unblur.deconvolve(g, psf, method, boundary="reflect", **params)
    got, _ = measured(cp, setup_limit(g.shape, psf.shape), unblur.deconvolve, cp.asarray(g), cp.asarray(psf),
                      method, boundary="reflect", **params)
    np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(np.float32))


# ---- blind deblurring and PSFs ---------------------------------------------------------------------
@pytest.mark.parametrize("psf_iterations", [0, 1, 3])
def test_blind_richardson_lucy(fake_cupy, rng, dtype, psf_iterations):
    cp = fake_cupy
    g = (rng.random((37, 41)) + 0.05).astype(dtype)
    h0 = rng.random((7, 5)).astype(dtype)
    want, want_h = unblur.blind_richardson_lucy(g, h0, iterations=4, psf_iterations=psf_iterations)
    (got, h), _ = measured(cp, setup_limit(g.shape, h0.shape), unblur.blind_richardson_lucy, cp.asarray(g),
                           cp.asarray(h0), iterations=4, psf_iterations=psf_iterations)
    np.testing.assert_allclose(on_device(cp, got, want), want, **tol(dtype))
    np.testing.assert_allclose(on_device(cp, h, want_h), want_h, **tol(dtype))


def test_blind_richardson_lucy_square_start_and_callback(fake_cupy, rng):
    cp = fake_cupy
    g = rng.random((40, 40))
    seen = []
    _, psf, info = unblur.blind_richardson_lucy(cp.asarray(g), 5, iterations=9, return_info=True,
                                                callback=lambda s: seen.append(s) or len(seen) < 3)
    assert info["iterations"] == 3 and type(psf) is cp.ndarray and psf.shape == (5, 5)
    want = unblur.blind_richardson_lucy(g, 5, iterations=3)[1]
    np.testing.assert_allclose(cp.asnumpy(psf), want, **tol(np.float64))


def _disk_blurred(rng, size=80, radius=3.0):
    scene = unblur.data.astronaut()[..., 1].astype(np.float64) / 255
    top, left = rng.integers(0, scene.shape[0] - size - 40, 2)
    g = scipy.signal.fftconvolve(scene[top:top + size + 40, left:left + size + 40], unblur.psf.disk(radius),
                                 mode="valid")
    return g + rng.normal(0.0, 0.01, g.shape)


def test_estimate_psf_and_restore(fake_cupy, rng):
    cp = fake_cupy
    g = _disk_blurred(rng)
    want_psf, want = unblur.estimate_psf(g, size=9, return_info=True)
    # The blur candidates are made on the host and copied up one by one: kernel-sized,
    # at their own sizes (a Gaussian of the largest sigma searched, (9 - 1) / 6, is 13
    # pixels wide).
    (psf, got), _ = measured(cp, 15 * 15, unblur.estimate_psf, cp.asarray(g), size=9, return_info=True)
    assert type(psf) is np.ndarray  # documented: the estimate is a NumPy array
    assert got["model"] == want["model"] and got["params"].keys() == want["params"].keys()
    for name, value in want["params"].items():
        assert got["params"][name] == pytest.approx(value, rel=1e-6), name
    np.testing.assert_allclose(psf, want_psf, rtol=1e-6, atol=1e-9)
    want_out = unblur.restore(g, size=9, method="tikhonov", lam=0.01)
    out, _ = measured(cp, 15 * 15, unblur.restore, cp.asarray(g), size=9, method="tikhonov", lam=0.01)
    np.testing.assert_allclose(on_device(cp, out, want_out), want_out, rtol=1e-5, atol=1e-8)


@pytest.mark.slow
def test_estimate_psf_auto_with_shake_sizes(fake_cupy, rng):
    # 'auto' on >= 51 pixels also tries free-form kernels, on a host copy (documented):
    # one download of the image.
    cp = fake_cupy
    g = _disk_blurred(rng, size=120)
    want = unblur.estimate_psf(g, return_info=True)[1]
    (_, got), _ = measured(cp, 41 * 41, unblur.estimate_psf, cp.asarray(g), return_info=True, downloads=1)
    assert got["model"] == want["model"]


@pytest.mark.slow
def test_estimate_psf_shake_runs_on_a_host_copy(fake_cupy, rng):
    # Documented: the free-form estimator runs on the host (one download of the image).
    cp = fake_cupy
    g = _disk_blurred(rng, size=100)
    want_psf, want = unblur.estimate_psf(g, "shake", size=15, return_info=True)
    (psf, got), _ = measured(cp, 0, unblur.estimate_psf, cp.asarray(g), "shake", size=15, return_info=True,
                             downloads=1)
    assert type(psf) is np.ndarray and got["model"] == want["model"]
    np.testing.assert_allclose(psf, want_psf, rtol=1e-12, atol=1e-15)


def test_estimate_psf_colour_and_flat(fake_cupy, rng):
    cp = fake_cupy
    g = _disk_blurred(rng, size=60)
    c = np.stack([g, 0.9 * g, 0.8 * g], axis=0)
    want = unblur.estimate_psf(c, size=7, channel_axis=0, return_info=True)[1]
    (_, got), _ = measured(cp, 11 * 11, unblur.estimate_psf, cp.asarray(c), size=7, channel_axis=0, return_info=True)
    assert got["model"] == want["model"]
    for name, value in want["params"].items():
        assert got["params"][name] == pytest.approx(value, rel=1e-6), name
    psf, info = unblur.estimate_psf(cp.full((32, 32), 0.5), return_info=True)
    assert info["reason"] == "flat image" and type(psf) is np.ndarray
    restored = unblur.restore(cp.full((32, 32), 0.5))
    assert type(restored) is cp.ndarray


@pytest.mark.parametrize("kind", ["gaussian", "gaussian_rotated", "disk", "motion", "shake", "turbulence_long",
                                  "turbulence_short", "airy", "moffat"])
def test_reference_psf_generators_on_the_device(fake_cupy, rng, dtype, kind):
    # The public generators are NumPy-only (C++); their _xp references take `xp` and
    # are what the CuPy paths would use.
    cp = fake_cupy
    if kind == "gaussian":
        s = tuple(rng.uniform(0.3, 3, 2))
        want, make = unblur.psf.gaussian(s, dtype=dtype), lambda: xp_psf.gaussian(s, xp_psf.gaussian_shape(s), xp=cp)
    elif kind == "gaussian_rotated":
        s, th = tuple(rng.uniform(0.4, 4, 2)), rng.uniform(-180, 180)
        want = unblur.psf.gaussian(s, theta=th, dtype=dtype)
        make = lambda: xp_psf.gaussian(s, xp_psf.gaussian_shape(s, th), th, xp=cp)  # noqa: E731
    elif kind == "disk":
        r = rng.uniform(0.5, 9)
        want, make = unblur.psf.disk(r, dtype=dtype), lambda: xp_psf.disk(r, xp_psf.disk_shape(r), xp=cp)
    elif kind == "motion":
        length, a = rng.uniform(0, 25), rng.uniform(-360, 360)
        want = unblur.psf.motion(length, a, dtype=dtype)
        make = lambda: xp_psf.motion(length, a, xp_psf.motion_shape(length, a), xp=cp)  # noqa: E731
    elif kind == "shake":
        e, seed, steps, sm = rng.uniform(1, 20), int(rng.integers(0, 2**63)), int(rng.integers(2, 100)), 0.7
        want = unblur.psf.shake(e, seed=seed, steps=steps, smoothness=sm, dtype=dtype)
        make = lambda: xp_psf.shake(e, seed, steps, sm, xp=cp)  # noqa: E731
    elif kind.startswith("turbulence"):
        short = kind.endswith("short")
        d, o, seed = rng.uniform(0.5, 3), rng.uniform(1, 1.5), int(rng.integers(0, 2**32))
        want = unblur.psf.turbulence(d, oversampling=o, short_exposure=short, seed=seed, dtype=dtype)
        make = lambda: xp_psf.turbulence(d, o, xp_psf.turbulence_shape(d, o), short, seed, xp=cp)  # noqa: E731
    elif kind == "airy":
        r = rng.uniform(0.5, 6)
        want, make = unblur.psf.airy(r, dtype=dtype), lambda: xp_psf.airy(r, xp_psf.airy_shape(r), xp=cp)
    else:
        f, b = rng.uniform(0.5, 8), rng.uniform(1.5, 6)
        want, make = unblur.psf.moffat(f, b, dtype=dtype), lambda: xp_psf.moffat(f, b, xp_psf.moffat_shape(f, b), xp=cp)
    # Generators are set-up themselves: the shake trajectory's samples and the short
    # exposure's noise field come from the bit-exact host RNG and go up whole.
    got, _ = measured(cp, None, make)
    assert type(got) is cp.ndarray and got.shape == want.shape
    np.testing.assert_allclose(cp.asnumpy(got), want, **tol(dtype))


def test_the_fallback_is_the_reference_bit_for_bit(fake_cupy, rng):
    # The stand-in computes with NumPy, so the public functions on it must give exactly
    # what the _xp reference gives on NumPy arrays: no CuPy-only branch computes
    # anything differently from the oracle the C++ engine is tested against.
    from unblur._xp import blind_richardson_lucy as xp_brl
    from unblur._xp import convolve as xp_conv
    from unblur._xp import richardson_lucy as xp_rl
    from unblur._xp import tv_deconvolve as xp_tv

    cp = fake_cupy
    g, psf = _blurred(rng, (40, 44), (5, 7), np.float64)
    dg, dpsf = cp.asarray(g), cp.asarray(psf)
    psf1 = psf / psf.sum()
    # The RL methods run on the image scaled by the power of two that brings its maximum
    # into (0.5, 1] (exact) and scale the result back: the reference on that image.
    e = _deconv_common.unit_exponent(float(g.max()))
    g_unit = np.ldexp(g, -e)
    cases = [
        (unblur.convolve(dg, dpsf, boundary="mirror"), xp_conv.convolve(g, psf, "same", "mirror")),
        (unblur.wiener(dg, dpsf), xp_wiener.wiener(g, psf1, "auto", None)[0]),
        (unblur.tikhonov(dg, dpsf, lam_method="discrepancy", boundary="reflect"),
         xp_wiener.tikhonov(g, psf1, "reflect", "laplacian", "discrepancy")[0]),
        (unblur.richardson_lucy(dg, dpsf, iterations=4, tv_weight=0.01),
         np.ldexp(xp_rl.richardson_lucy(g_unit, psf1, iterations=4, tv_weight=0.01)[0], e)),
        (unblur.blind_richardson_lucy(dg, dpsf, iterations=3)[0],
         np.ldexp(xp_brl.blind_richardson_lucy(g_unit, psf1, 3, 1, 1)[0], e)),
    ]
    rho = (1.0, 2.0, 1.5)
    cases.append((unblur.tv_deconvolve(dg, dpsf, weight=0.05, iterations=4, rho=rho),
                  xp_tv.tv_deconvolve(g[None], psf1, "auto", 0.05, 4, 0.0, True, None, rho)[0][0]))
    for got, want in cases:
        np.testing.assert_array_equal(cp.asnumpy(got), want)


# ---- argument checks specific to CuPy arrays --------------------------------------------------------
def test_non_contiguous_device_arrays_are_accepted(fake_cupy, rng):
    cp = fake_cupy
    x = rng.random((40, 90))
    psf = _psf((5, 5))
    view, host = cp.asarray(x)[:, ::2], x[:, ::2]
    assert not view.flags.c_contiguous
    for fn, kw in [(unblur.convolve, {}), (unblur.wiener, dict(nsr=0.01)), (unblur.tikhonov, dict(lam=0.01)),
                   (unblur.richardson_lucy, dict(iterations=3)), (unblur.tv_deconvolve, dict(iterations=3))]:
        want = fn(host, psf, **kw)
        got, _ = measured(cp, setup_limit(host.shape, psf.shape), fn, view, psf, **kw)
        np.testing.assert_allclose(on_device(cp, got, want), want, **_itol(np.float64))
    got = unblur.gaussian_filter(view, 1.5)
    np.testing.assert_allclose(cp.asnumpy(got), unblur.gaussian_filter(host, 1.5), **tol(np.float64))
    assert unblur.metrics.psnr(view, view * 0.9) == pytest.approx(unblur.metrics.psnr(host, host * 0.9), rel=1e-9)


def test_integer_device_images_follow_the_dtype_policy(fake_cupy, rng):
    cp = fake_cupy
    x = rng.integers(0, 256, (30, 34)).astype(np.uint8)
    psf = _psf((5, 5)).astype(np.float32)
    for fn, kw in [(unblur.gaussian_filter, dict(sigma=1.2)), (unblur.convolve, dict(kernel=psf))]:
        got = fn(cp.asarray(x), **kw)
        assert got.dtype == np.float32
        np.testing.assert_allclose(cp.asnumpy(got), fn(x, **kw), **tol(np.float32))
    y = np.clip(x.astype(int) + rng.integers(-9, 10, x.shape), 0, 255).astype(np.uint8)
    assert unblur.metrics.psnr(cp.asarray(x), cp.asarray(y)) == pytest.approx(unblur.metrics.psnr(x, y), rel=1e-9)


def test_mixed_array_types_are_a_clear_type_error(fake_cupy, rng):
    cp = fake_cupy
    g = rng.random((30, 32))
    psf = _psf((5, 5))
    dg, dpsf = cp.asarray(g), cp.asarray(psf)
    # A CuPy kernel / PSF / NSR spectrum with a NumPy image would need a download.
    with pytest.raises(TypeError, match="kernel is a CuPy array but the image is a NumPy array"):
        unblur.convolve(g, dpsf)
    for fn in (unblur.wiener, unblur.richardson_lucy, unblur.tv_deconvolve, unblur.blind_richardson_lucy,
               unblur.deconvolve):
        with pytest.raises(TypeError, match="psf is a CuPy array but the image is a NumPy array"):
            fn(g, dpsf)
    grid = xp_wiener.grid_shape(g.shape, psf.shape, "periodic")
    with pytest.raises(TypeError, match="nsr is a CuPy array but the image is a NumPy array"):
        unblur.wiener(g, psf, nsr=cp.full(grid[:-1] + (grid[-1] // 2 + 1,), 0.01), boundary="periodic")
    with pytest.raises(TypeError, match=r"nsr\(f\) is a CuPy array"):
        unblur.wiener(g, psf, nsr=lambda f: cp.full(f.shape, 0.01), boundary="periodic")
    # Image-sized data must be where the image is, in both directions.
    with pytest.raises(TypeError, match="weights must be a CuPy array like the image, got numpy.ndarray"):
        unblur.richardson_lucy(dg, dpsf, weights=np.ones_like(g))
    with pytest.raises(TypeError, match="weights must be a NumPy array like the image, got cupy.ndarray"):
        unblur.richardson_lucy(g, psf, weights=cp.ones_like(dg))
    with pytest.raises(TypeError, match="initial must be a CuPy array like the image"):
        unblur.richardson_lucy(dg, dpsf, initial=np.ones_like(g))
    _, info = unblur.richardson_lucy(dg, dpsf, iterations=2, return_info=True)
    with pytest.raises(TypeError, match=r"initial\['estimate'\] must be a NumPy array like the image"):
        unblur.richardson_lucy(g, psf, iterations=2, initial=info["state"])
    with pytest.raises(TypeError, match="reference and image must both be NumPy arrays or both CuPy arrays"):
        unblur.metrics.psnr(g, dg)
    with pytest.raises(TypeError, match="reference and image must both be"):
        unblur.metrics.ssim(dg, g)


def test_arrays_on_another_device_are_refused(fake_cupy, rng):
    cp = fake_cupy
    g = rng.random((24, 24))
    with cp.cuda.Device(1):
        other = cp.asarray(g)
        other_psf = cp.asarray(_psf((3, 3)))
    with pytest.raises(ValueError, match="image is on GPU 1 but the current device is GPU 0"):
        unblur.convolve(other, cp.asarray(_psf((3, 3))))
    with pytest.raises(ValueError, match="kernel is on GPU 1 but the current device is GPU 0"):
        unblur.convolve(cp.asarray(g), other_psf)
    with pytest.raises(ValueError, match="psf is on GPU 1"):
        unblur.wiener(cp.asarray(g), other_psf)
    with cp.cuda.Device(1):  # inside the device's scope it runs
        assert type(unblur.convolve(other, other_psf)) is cp.ndarray


def test_device_values_are_checked_like_host_ones(fake_cupy):
    cp = fake_cupy
    with pytest.raises(ValueError, match="image contains NaN or infinite values"):
        unblur.gaussian_filter(cp.full((8, 8), np.nan), 1.0)
    with pytest.raises(TypeError, match="image must be real"):
        unblur.convolve(cp.zeros((8, 8), dtype=cp.complex128), cp.ones((3, 3)))
    with pytest.raises(ValueError, match="psf must have a positive sum"):
        unblur.wiener(cp.ones((16, 16)), cp.zeros((3, 3)))
    with pytest.raises(ValueError, match="weights must be >= 0"):
        unblur.richardson_lucy(cp.ones((16, 16)), cp.ones((3, 3)), weights=-cp.ones((16, 16)))
    with pytest.raises(ValueError, match="psf must be non-negative"):
        unblur.blind_richardson_lucy(cp.ones((16, 16)), cp.asarray([[0.5, -0.1, 0.6]]))


def test_check_out_with_device_arrays(fake_cupy):
    # No public function takes out= yet; the shared check is ready for CuPy arrays
    # (whose flags have no `writeable`).
    cp = fake_cupy
    out = cp.empty((4, 5), dtype=cp.float32)
    assert _validate.check_out(out, (4, 5), np.float32, xp=cp) is out
    with pytest.raises(TypeError, match="out must be a cupy array"):
        _validate.check_out(np.empty((4, 5), np.float32), (4, 5), np.float32, xp=cp)
    with pytest.raises(TypeError, match="out must be a numpy array"):
        _validate.check_out(out, (4, 5), np.float32)
    with pytest.raises(TypeError, match="out must have dtype float64"):
        _validate.check_out(out, (4, 5), np.float64, xp=cp)
    with pytest.raises(ValueError, match=r"out must have shape \(5, 4\)"):
        _validate.check_out(out, (5, 4), np.float32, xp=cp)
    with pytest.raises(TypeError, match="out must be C-contiguous"):
        _validate.check_out(cp.empty((4, 10), dtype=cp.float32)[:, ::2], (4, 5), np.float32, xp=cp)
