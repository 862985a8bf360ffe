"""gaussian_filter: C++ (direct and FFT routes) vs the _xp reference vs scipy.ndimage,
every boundary mode, anisotropic and zero sigma, channels, dtype policy, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import unblur
from conftest import tol
from unblur._xp import gaussian_filter as xp_gauss

MODES = ["reflect", "mirror", "nearest", "constant", "wrap"]
SHAPES = [(41,), (33, 47), (9, 14, 11)]


def scipy_reference(x, sigma, mode="reflect", cval=0.0, truncate=4.0):
    # scipy in float64, so the reference carries no float32 rounding of its own.
    return ndi.gaussian_filter(x.astype(np.float64), sigma, mode=mode, cval=cval, truncate=truncate)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_matches_scipy_and_reference(rng, dtype, shape, mode):
    x = rng.random(shape).astype(dtype)
    sigma = tuple(rng.uniform(0.6, 3.0) for _ in shape)
    cval = float(rng.uniform(-1, 1))
    got = unblur.gaussian_filter(x, sigma, mode=mode, cval=cval)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_allclose(got, scipy_reference(x, sigma, mode, cval), **tol(dtype))
    np.testing.assert_allclose(got, xp_gauss.gaussian_filter(x, sigma, mode, cval), **tol(dtype))


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(23, 37), (6, 7, 9), (30,)])
def test_both_routes_match_scipy(rng, dtype, method, mode, shape):
    # Radii from a few pixels to several times the axis length (the extension repeats).
    x = rng.random(shape).astype(dtype)
    for s in (1.3, 5.0, 16.0):
        sigma = (s,) * len(shape)
        got = unblur._core.gaussian_filter(x, list(sigma), mode, 0.25, 4.0, 0, method)
        np.testing.assert_allclose(got, scipy_reference(x, sigma, mode, 0.25), **tol(dtype))


def test_auto_takes_fft_for_large_radius(rng, dtype):
    # The cost model switches to the FFT route for large kernels; check it does and is right.
    n, big, small = 300, 30.0, 2.0
    assert unblur._core.choose_gaussian_method(n, int(4 * big + 0.5), np.dtype(dtype).itemsize) == "fft"
    assert unblur._core.choose_gaussian_method(n, int(4 * small + 0.5), np.dtype(dtype).itemsize) == "direct"
    x = rng.random((n, 64)).astype(dtype)
    got = unblur.gaussian_filter(x, (big, small))
    np.testing.assert_allclose(got, scipy_reference(x, (big, small)), **tol(dtype))
    direct = unblur._core.gaussian_filter(x, [big, small], "reflect", 0.0, 4.0, 0, "direct")
    np.testing.assert_allclose(got, direct, **tol(dtype))


def test_anisotropic_and_zero_sigma(rng, dtype):
    x = rng.random((20, 25, 18)).astype(dtype)
    for sigma in [(0.0, 1.5, 2.5), (2.0, 0.0, 0.0), (0.0, 0.0, 1.0), (1.0, 2.0, 0.0)]:
        got = unblur.gaussian_filter(x, sigma, mode="nearest")
        np.testing.assert_allclose(got, scipy_reference(x, sigma, "nearest"), **tol(dtype))
    np.testing.assert_array_equal(unblur.gaussian_filter(x, 0), x)
    # A sigma too small for a 1-pixel radius is the identity too (weights {1}).
    np.testing.assert_array_equal(unblur.gaussian_filter(x, 0.1), x)


def test_truncate(rng, dtype):
    x = rng.random((40, 30)).astype(dtype)
    for truncate in (0.5, 2.0, 6.3):
        got = unblur.gaussian_filter(x, 1.7, truncate=truncate, mode="mirror")
        np.testing.assert_allclose(got, scipy_reference(x, 1.7, "mirror", truncate=truncate), **tol(dtype))


def test_periodic_is_wrap(rng):
    x = rng.random((16, 21))
    np.testing.assert_array_equal(unblur.gaussian_filter(x, 2, mode="periodic"), unblur.gaussian_filter(x, 2, mode="wrap"))


def test_tiny_axes(rng, dtype):
    # Axes of length 1 and 2: every mode's extension rule repeats many times.
    for shape in [(1,), (2,), (1, 5), (2, 1), (3, 1, 2)]:
        x = rng.random(shape).astype(dtype)
        for mode in MODES:
            got = unblur.gaussian_filter(x, 1.5, mode=mode, cval=0.5)
            np.testing.assert_allclose(got, scipy_reference(x, 1.5, mode, 0.5), **tol(dtype))


@pytest.mark.parametrize("channel_axis", [0, -1])
def test_channel_axis(rng, dtype, channel_axis):
    x = rng.random((3, 24, 26) if channel_axis == 0 else (24, 26, 3)).astype(dtype)
    sigma = (1.5, 2.5)
    got = unblur.gaussian_filter(x, sigma, channel_axis=channel_axis)
    full_sigma = (0.0,) + sigma if channel_axis == 0 else sigma + (0.0,)
    np.testing.assert_allclose(got, scipy_reference(x, full_sigma), **tol(dtype))


def test_linear_and_mass_preserving(rng):
    x = rng.random((32, 32))
    y = rng.random((32, 32))
    lhs = unblur.gaussian_filter(2 * x - 3 * y, 2.0)
    rhs = 2 * unblur.gaussian_filter(x, 2.0) - 3 * unblur.gaussian_filter(y, 2.0)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)
    # Periodic boundaries conserve the total.
    assert unblur.gaussian_filter(x, 3.0, mode="wrap").sum() == pytest.approx(x.sum(), rel=1e-12)


def test_dtype_policy():
    img = np.zeros((9, 9), np.uint8)
    img[4, 4] = 255
    out = unblur.gaussian_filter(img, 1.0)
    assert out.dtype == np.float32
    assert out.sum() == pytest.approx(1.0, rel=1e-5)
    assert unblur.gaussian_filter(img.astype(np.float16), 1.0).dtype == np.float32
    assert unblur.gaussian_filter([[1.0, 2.0], [3.0, 4.0]], 1.0).dtype == np.float64


def test_threads_and_noncontiguous_input(rng):
    x = rng.random((50, 60))
    one = unblur.gaussian_filter(x[:, ::2], 2.0, threads=1)
    two = unblur.gaussian_filter(x[:, ::2], 2.0, threads=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, scipy_reference(x[:, ::2], 2.0), **tol(np.float64))


def test_kernel_matches_reference():
    for sigma, truncate in [(0.0, 4.0), (0.3, 4.0), (1.5, 3.5), (7.2, 4.0)]:
        w = np.asarray(unblur._core.gaussian_kernel1d(sigma, truncate))
        np.testing.assert_allclose(w, xp_gauss.gaussian_kernel1d(sigma, truncate), rtol=1e-14, atol=1e-16)
        assert w.sum() == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"sigma": -1.0}, ValueError, "sigma must be >= 0"),
        ({"sigma": float("nan")}, ValueError, "sigma must be finite"),
        ({"sigma": (1.0, 2.0, 3.0)}, ValueError, "sigma must be a scalar or have 2 values"),
        ({"sigma": "2"}, TypeError, "sigma must be a real number"),
        ({"sigma": (1.0, -2.0)}, ValueError, "sigma must be >= 0"),
        ({"truncate": 0.0}, ValueError, "truncate must be > 0"),
        ({"truncate": -2.0}, ValueError, "truncate must be > 0"),
        ({"truncate": float("inf")}, ValueError, "truncate must be finite"),
        ({"mode": "circular"}, ValueError, "mode must be one of"),
        ({"mode": 3}, TypeError, "mode must be a string"),
        ({"cval": float("nan")}, ValueError, "cval must be finite"),
        ({"cval": "0"}, TypeError, "cval must be a real number"),
        ({"threads": 0}, ValueError, "threads must be >= 1"),
        ({"threads": 1.5}, TypeError, "threads must be an int"),
        ({"channel_axis": 5}, ValueError, "channel_axis=5 is out of range"),
        ({"channel_axis": "x"}, TypeError, "channel_axis must be an int"),
    ],
)
def test_bad_parameters(kwargs, exc, match):
    args = {"sigma": 1.0, **kwargs}
    sigma = args.pop("sigma")
    with pytest.raises(exc, match=match):
        unblur.gaussian_filter(np.ones((8, 8)), sigma, **args)


@pytest.mark.parametrize(
    "image,exc,match",
    [
        (np.array([[1.0, np.nan], [0.0, 0.0]]), ValueError, "image contains NaN"),
        (np.array([[1.0, np.inf], [0.0, 0.0]]), ValueError, "image contains NaN or infinite"),
        (np.zeros((0, 4)), ValueError, "image is empty"),
        (np.zeros((2, 2, 2, 2)), ValueError, "image must have 1, 2 or 3 spatial dimensions"),
        (np.float64(3.0), ValueError, "image must have 1, 2 or 3 spatial dimensions"),
        (np.ones((3, 3), complex), TypeError, "image must be real"),
        ("abc", TypeError, "image must be an array"),
        (None, TypeError, "image must be an array"),
    ],
)
def test_bad_image(image, exc, match):
    with pytest.raises(exc, match=match):
        unblur.gaussian_filter(image, 1.0)


def test_core_checks_its_arguments():
    core = unblur._core
    with pytest.raises(TypeError, match="image must be float32 or float64"):
        core.gaussian_filter(np.ones((4, 4), np.int32), [1.0, 1.0])
    with pytest.raises(TypeError, match="C-contiguous"):
        core.gaussian_filter(np.ones((4, 8))[:, ::2], [1.0, 1.0])
    with pytest.raises(ValueError, match="sigma must have 2 values"):
        core.gaussian_filter(np.ones((4, 4)), [1.0])
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        core.gaussian_filter(np.ones((4, 4)), [1.0, -1.0])
    with pytest.raises(ValueError, match="truncate must be finite and > 0"):
        core.gaussian_filter(np.ones((4, 4)), [1.0, 1.0], "reflect", 0.0, 0.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        core.gaussian_filter(np.ones((4, 4)), [1.0, 1.0], "bogus")
    with pytest.raises(ValueError, match="method must be"):
        core.gaussian_filter(np.ones((4, 4)), [1.0, 1.0], "reflect", 0.0, 4.0, 0, "bogus")
    with pytest.raises(ValueError, match="too large"):
        core.gaussian_filter(np.ones((4, 4)), [1e12, 1.0])


@pytest.mark.gpu
def test_cupy_matches_numpy(rng, dtype):
    import cupy

    x = rng.random((3, 30, 34)).astype(dtype)
    got = unblur.gaussian_filter(cupy.asarray(x), (1.5, 2.0), mode="mirror", channel_axis=0)
    assert isinstance(got, cupy.ndarray) and got.dtype == dtype
    np.testing.assert_allclose(cupy.asnumpy(got), unblur.gaussian_filter(x, (1.5, 2.0), mode="mirror", channel_axis=0),
                               **tol(dtype))
