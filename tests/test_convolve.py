"""unblur.convolve against scipy.signal, scipy.ndimage and the _xp reference; the FFT and
direct methods against each other; boundaries against numpy.pad; bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import unblur
from conftest import tol
from unblur._xp import convolve as xp_convolve

METHODS = ["fft", "direct", "auto"]
BOUNDARIES = ["constant", "reflect", "mirror", "nearest", "periodic"]
NDIMAGE_MODE = {"constant": "constant", "reflect": "reflect", "mirror": "mirror", "nearest": "nearest",
                "periodic": "wrap"}
# (image shape, odd kernel shape) in 1-D, 2-D and 3-D, sizes that are not fast FFT sizes.
CASES = [((61,), (7,)), ((37, 43), (5, 9)), ((13, 11, 17), (3, 5, 3))]


def assert_close(got, want, dtype):
    """Errors relative to the output's scale (FFT round-off is global, not per pixel)."""
    assert got.dtype == dtype
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max()), 1.0)
    t = tol(dtype)
    np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=5 * t["rtol"] + t["atol"])


def inputs(rng, shape, kshape, dtype):
    return rng.standard_normal(shape).astype(dtype), rng.random(kshape).astype(dtype)


@pytest.mark.parametrize("shape,kshape", CASES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("method", METHODS)
def test_matches_scipy_signal(rng, dtype, shape, kshape, mode, method):
    x, k = inputs(rng, shape, kshape, dtype)
    want = scipy.signal.fftconvolve(x.astype(np.float64), k.astype(np.float64), mode=mode)
    assert_close(unblur.convolve(x, k, mode=mode, method=method), want, dtype)


@pytest.mark.parametrize("shape,kshape", CASES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("even", [False, True], ids=["odd", "even"])
@pytest.mark.parametrize("method", ["fft", "direct"])
def test_matches_scipy_ndimage(rng, dtype, shape, kshape, boundary, even, method):
    if even:
        kshape = tuple(k + 1 for k in kshape)
    x, k = inputs(rng, shape, kshape, dtype)
    cval = 0.75 if boundary == "constant" else 0.0
    want = scipy.ndimage.convolve(x.astype(np.float64), k.astype(np.float64), mode=NDIMAGE_MODE[boundary],
                                  cval=cval)
    got = unblur.convolve(x, k, boundary=boundary, cval=cval, method=method)
    assert_close(got, want, dtype)


@pytest.mark.parametrize("shape,kshape", CASES + [((40, 36), (6, 4)), ((9, 10, 8), (4, 3, 2))])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_methods_agree_with_reference(rng, shape, kshape, mode, boundary):
    x, k = inputs(rng, shape, kshape, np.float64)
    cval = -0.5 if boundary == "constant" else 0.0
    want = xp_convolve.convolve(x, k, mode, boundary, cval)
    for method in METHODS:
        got = unblur.convolve(x, k, mode=mode, boundary=boundary, cval=cval, method=method)
        assert_close(got, want, np.float64)


@pytest.mark.parametrize("shape,kshape", [((5,), (13,)), ((4, 7), (9, 15)), ((3, 2, 4), (7, 5, 6))])
@pytest.mark.parametrize("mode", ["full", "same"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_kernel_larger_than_image(rng, dtype, shape, kshape, mode, boundary):
    # Halos longer than the image repeat the boundary rule as numpy.pad does.
    x, k = inputs(rng, shape, kshape, dtype)
    want = xp_convolve.convolve(x.astype(np.float64), k.astype(np.float64), mode, boundary, 0.25)
    for method in ["fft", "direct"]:
        got = unblur.convolve(x, k, mode=mode, boundary=boundary, cval=0.25, method=method)
        assert_close(got, want, dtype)
    if boundary == "constant":
        got = unblur.convolve(x, k, mode=mode, boundary=boundary)
        want = scipy.signal.fftconvolve(x.astype(np.float64), k.astype(np.float64), mode=mode)
        if mode == "same" and all(kk % 2 == 1 for kk in kshape):  # scipy centres even kernels elsewhere
            assert_close(got, want, dtype)
        if mode == "full":
            assert_close(got, want, dtype)


def test_boundary_extension_matches_numpy_pad():
    # A delta kernel offset by d reads the extended image at i - d: the extension itself.
    x = np.arange(1.0, 5.0)  # a b c d
    pads = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "periodic": "wrap", "wrap": "wrap"}
    for boundary, pad in pads.items():
        for d in (-9, -4, -1, 1, 5, 11):
            k = np.zeros(2 * abs(d) + 1)
            k[abs(d) + d] = 1.0
            want = np.pad(x, abs(d), mode=pad)[abs(d) - d: abs(d) - d + 4]
            for method in ("fft", "direct"):
                got = unblur.convolve(x, k, boundary=boundary, method=method)
                np.testing.assert_allclose(got, want, atol=1e-12, err_msg=f"{boundary} {d} {method}")


def test_periodic_same_is_circular_convolution(rng):
    # Any N (here prime), at a fast FFT size: exact circular convolution of size N.
    x = rng.standard_normal((31, 37))
    k = rng.random((5, 3))
    want = np.zeros_like(x)
    for (i, j), w in np.ndenumerate(k):
        want += w * np.roll(x, (i - 2, j - 1), axis=(0, 1))
    for method in ("fft", "direct"):
        np.testing.assert_allclose(unblur.convolve(x, k, boundary="periodic", method=method), want,
                                   rtol=1e-12, atol=1e-12)
    plan = unblur._core.convolve_fft_plan([31, 37], [5, 3], "same", "periodic")
    assert plan == {"tiles": [1, 1], "grid": list(unblur.fft.fast_fft_shape((35, 39)))}


def test_is_convolution_not_correlation():
    x = np.zeros(9)
    x[4] = 1.0
    k = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(unblur.convolve(x, k)[3:6], k, atol=1e-14)
    np.testing.assert_allclose(unblur.convolve(x, k, method="direct")[3:6], k, atol=1e-14)


@pytest.mark.parametrize("channel_axis", [0, -1])
def test_channel_axis(rng, dtype, channel_axis):
    img = rng.random((3, 30, 26) if channel_axis == 0 else (30, 26, 3)).astype(dtype)
    k = rng.random((5, 7)).astype(dtype)
    for mode in ("same", "full", "valid"):
        got = unblur.convolve(img, k, mode=mode, boundary="reflect", channel_axis=channel_axis)
        chans = np.moveaxis(img, channel_axis, 0)
        want = np.stack([xp_convolve.convolve(c.astype(np.float64), k.astype(np.float64), mode, "reflect")
                         for c in chans])
        assert_close(got, np.moveaxis(want, 0, channel_axis), dtype)


def test_dtype_policy_and_kernel_cast(rng):
    img = rng.integers(0, 256, (20, 20)).astype(np.uint8)
    k = rng.random((3, 3))  # float64 kernel is cast to the image's float32
    got = unblur.convolve(img, k)
    assert got.dtype == np.float32
    want = scipy.ndimage.convolve(img / 255.0, k, mode="constant")
    assert_close(got, want, np.float32)


# Sizes where the FFT method cuts the image into overlap-save tiles (checked below).
TILED = [((8000,), (15,)), ((300, 260), (9, 7)), ((70, 66, 68), (5, 3, 4))]


@pytest.mark.parametrize("shape,kshape", TILED)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", ["constant", "reflect", "periodic"])
def test_tiled_fft_matches_reference(rng, dtype, shape, kshape, mode, boundary):
    plan = unblur._core.convolve_fft_plan(list(shape), list(kshape), mode, boundary, 0.5,
                                          dtype == np.float64, 2)
    assert np.prod(plan["tiles"]) > 1
    x, k = inputs(rng, shape, kshape, dtype)
    want = xp_convolve.convolve(x.astype(np.float64), k.astype(np.float64), mode, boundary, 0.5)
    for threads in (1, 2):
        got = unblur.convolve(x, k, mode=mode, boundary=boundary, cval=0.5, method="fft", threads=threads)
        assert_close(got, want, dtype)


def test_auto_picks_by_cost(rng):
    choose = unblur._core.convolve_method
    assert choose([512, 512], [3, 3]) == "direct"
    assert choose([2048, 2048], [31, 31]) == "fft"
    assert choose([64, 64, 64], [15, 15, 15]) == "fft"
    cost = unblur._core.convolve_cost([2048, 2048], [31, 31], threads=1)
    assert 0 < cost["fft"] < cost["direct"]


def test_threads_and_large_kernel_agree(rng):
    x = rng.standard_normal((130, 150)).astype(np.float32)
    k = rng.random((31, 25)).astype(np.float32)
    want = scipy.signal.fftconvolve(x.astype(np.float64), k.astype(np.float64), mode="same")
    for threads in (1, 2):
        for method in ("fft", "direct"):
            assert_close(unblur.convolve(x, k, method=method, threads=threads), want, np.float32)


def test_concurrent_calls(rng):
    # The GIL is released and plans are shared: calls from many threads at once agree
    # with serial ones (tiled and whole-grid FFT, direct).
    jobs = [(rng.standard_normal((200, 190)).astype(np.float32), rng.random(ks).astype(np.float32), m)
            for ks in ((7, 5), (21, 23)) for m in ("fft", "direct")] * 2
    want = [unblur.convolve(x, k, method=m, boundary="mirror") for x, k, m in jobs]
    got = [None] * len(jobs)

    def work(i):
        x, k, m = jobs[i]
        for _ in range(3):
            got[i] = unblur.convolve(x, k, method=m, boundary="mirror", threads=1)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for g, w in zip(got, want):
        assert_close(g, w.astype(np.float64), np.float32)


def test_non_contiguous_inputs_are_copied(rng):
    base = rng.standard_normal((40, 60))
    x = base[::2, ::3]
    k = np.asfortranarray(rng.random((5, 4)))[:, ::-1]
    want = scipy.ndimage.convolve(np.ascontiguousarray(x), np.ascontiguousarray(k), mode="mirror")
    assert_close(unblur.convolve(x, k, boundary="mirror"), want, np.float64)


def test_unaligned_input(rng):
    buf = rng.standard_normal(33 * 35 + 1).astype(np.float32)
    x = buf[1:].reshape(33, 35)
    k = rng.random((5, 5)).astype(np.float32)
    want = scipy.signal.fftconvolve(x.astype(np.float64), k.astype(np.float64), mode="same")
    for method in ("fft", "direct"):
        assert_close(unblur._core.convolve(x, k, "same", "constant", 0.0, method, 0), want, np.float32)


def test_list_inputs():
    np.testing.assert_allclose(unblur.convolve([0.0, 1.0, 0.0], [1.0, 2.0, 3.0]), [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"kernel": np.ones(3)}, ValueError, "kernel must have 2 dimensions"),
        ({"kernel": np.ones((0, 3))}, ValueError, "kernel is empty"),
        ({"kernel": np.array([[1.0, np.nan]])}, ValueError, "kernel contains NaN"),
        ({"kernel": np.ones((3, 3), complex)}, TypeError, "kernel must be real"),
        ({"kernel": "abc"}, TypeError, "kernel must be"),
        ({"image": np.array([[1.0, np.inf], [0, 0]])}, ValueError, "image contains NaN"),
        ({"image": np.ones((4, 4), complex)}, TypeError, "image must be real"),
        ({"image": np.ones((2, 2, 2, 2))}, ValueError, "spatial dimensions"),
        ({"mode": "middle"}, ValueError, "mode must be one of"),
        ({"mode": 1}, TypeError, "mode must be a string"),
        ({"boundary": "zero"}, ValueError, "boundary must be one of"),
        ({"method": "fastest"}, ValueError, "method must be one of"),
        ({"cval": "a"}, TypeError, "cval must be a real"),
        ({"cval": np.nan}, ValueError, "cval must be finite"),
        ({"threads": 0}, ValueError, "threads must be >= 1"),
        ({"channel_axis": 5}, ValueError, "channel_axis"),
        ({"mode": "valid", "kernel": np.ones((3, 9))}, ValueError, "kernel of shape .* is larger"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = {"image": np.ones((6, 6)), "kernel": np.ones((3, 3))}
    args.update(kwargs)
    image, kernel = args.pop("image"), args.pop("kernel")
    with pytest.raises(exc, match=match):
        unblur.convolve(image, kernel, **args)


def test_core_checks_on_its_own():
    core = unblur._core
    with pytest.raises(TypeError, match="image must be float32 or float64"):
        core.convolve(np.ones((4, 4), np.int32), np.ones((3, 3)))
    with pytest.raises(TypeError, match="kernel must have dtype float32"):
        core.convolve(np.ones((4, 4), np.float32), np.ones((3, 3)))
    with pytest.raises(TypeError, match="C-contiguous"):
        core.convolve(np.ones((4, 8))[:, ::2], np.ones((3, 3)))
    with pytest.raises(ValueError, match="kernel has 1 dimensions"):
        core.convolve(np.ones((4, 4)), np.ones(3))
    with pytest.raises(ValueError, match="larger than the image"):
        core.convolve(np.ones((4, 4)), np.ones((5, 3)), "valid")
    with pytest.raises(ValueError, match="boundary must be one of"):
        core.convolve(np.ones((4, 4)), np.ones((3, 3)), "same", "zero")
    with pytest.raises(ValueError, match="mode must be one of"):
        core.convolve(np.ones((4, 4)), np.ones((3, 3)), "middle")
