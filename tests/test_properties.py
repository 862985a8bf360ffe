"""Property-based tests (hypothesis) of the public API.

Random shapes (1 x N, N x 1, odd, even, prime, up to 251 pixels a side in 2-D; 3-D
volumes), every dtype of the dtype policy (float32 / float64 kept, float16 -> float32,
integers and bool -> float32 in [0, 1], either byte order), random non-negative
odd-sized PSFs and deltas, parameters and boundary modes. The properties:

* finite input gives finite output, of the documented shape and (policy) dtype;
* a delta PSF leaves the image unchanged, for parameters where that is exact, within
  a rounding bound derived per method (see `_fft_tol` and each test);
* deconvolving a constant (the blur of a constant by a normalised PSF) returns it;
* results do not depend on the thread count (1, 2, 3) beyond rounding, and the same
  thread count gives bit-identical results twice;
* invalid input raises TypeError or ValueError, never anything else.

The default profile "ci" runs a fast subset; ``HYPOTHESIS_PROFILE=thorough`` runs over
10,000 cases in all (counted: the terminal summary prints the totals, and
UNBLUR_CASE_REPORT=FILE writes them as JSON).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
import unblur
from conftest import CASE_COUNTS, examples
from hypothesis import assume, given
from hypothesis import strategies as st
from unblur import _deconv_common, cli

# ---- dtypes, images, PSFs -----------------------------------------------------------------
#: Every dtype of the policy, byte-swapped ones included.
DTYPES = ["float32", "float64", "float16", "uint8", "uint16", "int8", "int16", "int32", "int64", "uint32", "uint64",
          "bool", ">f8", ">f4", ">i2", ">u2"]
SMALL = [1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 16, 17]
MEDIUM = [19, 23, 31, 32, 37, 47, 64]
LARGE = [97, 127, 128, 251]


def policy(dtype):
    """The dtype an array of `dtype` is computed in (the documented policy)."""
    dt = np.dtype(dtype)
    return np.dtype(np.float64) if dt.kind == "f" and dt.itemsize == 8 else np.dtype(np.float32)


def make_array(shape, dtype, seed, *, signed=True, scale=1.0, sparse=False):
    """A random array of `dtype`: floats uniform in [-scale, scale] (or [0, scale]),
    integers over their whole range (non-negative unless signed), bool half true."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        a = rng.random(shape) < 0.5
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        lo = info.min if signed else 0
        a = rng.integers(lo, info.max, size=shape, dtype=dt.newbyteorder("="), endpoint=True)
    else:
        a = rng.uniform(-scale if signed else 0.0, scale, size=shape)
    if sparse:
        a = np.where(rng.random(shape) < 0.9, np.zeros((), a.dtype), a)
    return np.asarray(a).astype(dt)


def as_policy(a):
    """What the dtype policy makes of `a` (the reference for 'unchanged')."""
    dt = np.dtype(a.dtype)
    if dt.kind == "b":
        return a.astype(np.float32)
    if dt.kind in "iu":
        return (a.astype(np.float32) / np.float32(np.iinfo(dt).max)).astype(np.float32)
    return a.astype(policy(dt))


def random_psf(shape, seed, *, sparse=False):
    rng = np.random.default_rng(seed)
    h = rng.random(shape)
    if sparse:
        h = np.where(rng.random(shape) < 0.5, 0.0, h)
    h[tuple(n // 2 for n in shape)] += 0.05  # a positive sum
    return h


def delta(shape, scale=1.0):
    h = np.zeros(shape)
    h[tuple(n // 2 for n in shape)] = scale
    return h


def eps(dtype):
    return float(np.finfo(policy(dtype)).eps)


def _fft_tol(dtype, grid, magnitude, gain=1.0, passes=1):
    """Rounding bound of `passes` FFT round trips on `grid`: each costs ~log2(N) eps
    relative to the data's magnitude (Higham, Accuracy and Stability, sec. 24.1), times
    `gain` (the largest amplification of the filter) and a safety factor of 16."""
    n = max(2, int(np.prod(grid)))
    return 16.0 * eps(dtype) * math.log2(n) * max(magnitude, 1e-300) * max(gain, 1.0) * passes


def count(name):
    CASE_COUNTS[name] += 1


def shape_strategy(ndim, sizes):
    return st.tuples(*[st.sampled_from(sizes)] * ndim)


@st.composite
def images(draw, ndims=(2, 3), dtypes=DTYPES, large=True, channel=True, min_size=1):
    """(array, channel_axis, spatial shape, seed)."""
    ndim = draw(st.sampled_from(ndims))
    sizes = [s for s in SMALL + MEDIUM if s >= min_size]
    if ndim == 3:
        sizes = [s for s in SMALL + [19, 23] if s >= min_size]
    elif large and draw(st.integers(0, 9)) == 0:
        sizes = LARGE
    spatial = draw(shape_strategy(ndim, sizes))
    channel_axis = None
    shape = spatial
    if channel and draw(st.integers(0, 3)) == 0:
        position = draw(st.integers(0, ndim))
        shape = spatial[:position] + (draw(st.integers(1, 3)),) + spatial[position:]
        channel_axis = draw(st.sampled_from([position, position - ndim - 1]))
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**32 - 1))
    signed = draw(st.booleans())
    scale = draw(st.sampled_from([1.0, 1e-3, 255.0, 1e4]))
    a = make_array(shape, dtype, seed, signed=signed, scale=scale, sparse=draw(st.integers(0, 5)) == 0)
    return a, channel_axis, spatial, seed


def odd_psf_shape(draw, spatial, largest=9):
    return tuple(draw(st.sampled_from([k for k in (1, 3, 5, 7, 9, 11) if k <= min(n, largest)] or [1]))
                 for n in spatial)


def spatial_of(a, channel_axis):
    return tuple(n for i, n in enumerate(a.shape) if channel_axis is None or i != channel_axis % a.ndim)


def check_result(out, a, shape=None):
    assert isinstance(out, np.ndarray)
    assert out.dtype == policy(a.dtype), (out.dtype, a.dtype)
    assert out.shape == (a.shape if shape is None else shape), (out.shape, a.shape, shape)
    assert np.isfinite(out).all()


def quiet(fn, *args, **kwargs):
    """fn(...) with warnings silenced (richardson_lucy warns about clipped negatives)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---- convolution and the Gaussian filter ----------------------------------------------------
@st.composite
def convolve_cases(draw):
    a, channel_axis, spatial, seed = draw(images(ndims=(1, 2, 3)))
    kshape = tuple(draw(st.integers(1, min(9, n + 2))) for n in spatial)
    kernel = random_psf(kshape, seed + 1, sparse=draw(st.booleans()))
    if draw(st.booleans()):
        kernel = kernel - kernel.mean()  # kernels may be signed
    mode = draw(st.sampled_from(["same", "full", "valid"]))
    boundary = draw(st.sampled_from(["constant", "reflect", "mirror", "nearest", "periodic", "wrap"]))
    cval = draw(st.sampled_from([0.0, 1.0, -2.5]))
    method = draw(st.sampled_from(["auto", "fft", "direct"]))
    return a, channel_axis, spatial, kernel, mode, boundary, cval, method


@examples(40, 1500)
@given(convolve_cases())
def test_convolve_shape_dtype_finite_and_the_reference(case):
    count("convolve")
    a, channel_axis, spatial, kernel, mode, boundary, cval, method = case
    kw = dict(mode=mode, boundary=boundary, cval=cval, method=method, channel_axis=channel_axis, threads=1)
    if mode == "valid" and any(k > n for k, n in zip(kernel.shape, spatial)):
        with pytest.raises(ValueError, match="larger than"):
            unblur.convolve(a, kernel, **kw)
        return
    out = unblur.convolve(a, kernel, **kw)
    grow = {"same": 0, "full": 1, "valid": -1}[mode]
    want = tuple(n + grow * (k - 1) for n, k in zip(spatial, kernel.shape))
    if channel_axis is not None:
        axis = channel_axis % a.ndim
        want = want[:axis] + (a.shape[axis],) + want[axis:]
    check_result(out, a, want)
    # The array-API reference (NumPy), channel by channel.
    from unblur._xp import convolve as xp_convolve

    x = as_policy(a)
    xb = "periodic" if boundary == "wrap" else boundary
    if channel_axis is None:
        ref = xp_convolve.convolve(x, kernel.astype(x.dtype), mode, xb, cval)
    else:
        axis = channel_axis % a.ndim
        ref = np.stack([xp_convolve.convolve(np.ascontiguousarray(c), kernel.astype(x.dtype), mode, xb, cval)
                        for c in np.moveaxis(x, axis, 0)], axis=axis)
    magnitude = np.abs(kernel).sum() * max(float(np.abs(x).max()), abs(cval))
    np.testing.assert_allclose(out, ref, rtol=0, atol=_fft_tol(x.dtype, out.shape, magnitude))


@examples(30, 800)
@given(images(ndims=(1, 2, 3)), st.data())
def test_convolve_with_a_delta_is_the_identity(img, data):
    count("convolve_delta")
    a, channel_axis, spatial, _ = img
    kshape = tuple(data.draw(st.sampled_from([k for k in (1, 3, 5, 7) if k <= 2 * n + 1])) for n in spatial)
    scale = data.draw(st.sampled_from([1.0, 0.5, 2.0, 3.0]))
    boundary = data.draw(st.sampled_from(["constant", "reflect", "mirror", "nearest", "periodic"]))
    method = data.draw(st.sampled_from(["auto", "fft", "direct"]))
    out = unblur.convolve(a, delta(kshape, scale), boundary=boundary, method=method, channel_axis=channel_axis)
    check_result(out, a)
    x = as_policy(a)
    # Direct sums are exact (one non-zero product, a power-of-two or exact scale); the
    # FFT route rounds: the bound of one round trip on the padded grid.
    grid = tuple(n + k for n, k in zip(a.shape, kshape + (0,) * (a.ndim - len(kshape))))
    tol = 0.0 if method == "direct" else _fft_tol(x.dtype, grid, scale * float(np.abs(x).max()))
    np.testing.assert_allclose(out, (x * x.dtype.type(scale)).astype(x.dtype), rtol=0, atol=tol)


@st.composite
def gaussian_cases(draw):
    a, channel_axis, spatial, seed = draw(images(ndims=(1, 2, 3)))
    per_axis = draw(st.booleans())
    sig = st.sampled_from([0.0, 0.3, 0.5, 1.0, 1.7, 3.0, 8.0])
    sigma = tuple(draw(sig) for _ in spatial) if per_axis else draw(sig)
    mode = draw(st.sampled_from(["reflect", "mirror", "nearest", "constant", "wrap", "periodic"]))
    cval = draw(st.sampled_from([0.0, 0.5]))
    truncate = draw(st.sampled_from([4.0, 1.0, 2.5, 0.1]))
    return a, channel_axis, spatial, sigma, mode, cval, truncate


@examples(40, 1200)
@given(gaussian_cases())
def test_gaussian_filter_shape_dtype_finite_and_scipy(case):
    count("gaussian_filter")
    import scipy.ndimage as ndi

    a, channel_axis, spatial, sigma, mode, cval, truncate = case
    out = unblur.gaussian_filter(a, sigma, mode=mode, cval=cval, truncate=truncate, channel_axis=channel_axis)
    check_result(out, a)
    x = as_policy(a).astype(np.float64)
    sig = list(sigma) if isinstance(sigma, tuple) else [sigma] * len(spatial)
    if channel_axis is not None:
        sig.insert(channel_axis % a.ndim, 0.0)
    ref = ndi.gaussian_filter(x, sig, mode="wrap" if mode == "periodic" else mode, cval=cval, truncate=truncate)
    magnitude = max(float(np.abs(x).max()), abs(cval))
    np.testing.assert_allclose(out, ref, rtol=0, atol=_fft_tol(out.dtype, out.shape, magnitude, passes=len(sig)))
    if np.all(np.asarray(sig) == 0):
        np.testing.assert_array_equal(out, as_policy(a))  # sigma 0 on every axis: a copy


@examples(25, 600)
@given(images(ndims=(1, 2, 3), dtypes=["float32", "float64", "uint8", "int16"]), st.data())
def test_gaussian_filter_keeps_a_constant(img, data):
    count("gaussian_constant")
    a, channel_axis, spatial, _ = img
    c = as_policy(a).flat[0]
    const = np.full(a.shape, a.flat[0], a.dtype)
    mode = data.draw(st.sampled_from(["reflect", "mirror", "nearest", "wrap", "constant"]))
    sigma = data.draw(st.sampled_from([0.5, 1.0, 2.0, 5.0]))
    out = unblur.gaussian_filter(const, sigma, mode=mode, cval=float(c), channel_axis=channel_axis)
    # The normalised weights sum to 1 within r eps per axis, r the radius.
    r = int(4.0 * sigma + 0.5)
    np.testing.assert_allclose(out, np.full(a.shape, c), rtol=4 * (2 * r + 1) * len(spatial) * eps(out.dtype), atol=0)


# ---- deconvolution ------------------------------------------------------------------------
METHODS = ("wiener", "tikhonov", "rl", "tv")
FUNCTIONS = {"wiener": unblur.wiener, "tikhonov": unblur.tikhonov, "rl": unblur.richardson_lucy,
             "tv": unblur.tv_deconvolve}


@st.composite
def method_params(draw, method, fixed_iterations=False):
    """Random valid parameters of one method."""
    if method == "wiener":
        nsr = draw(st.one_of(st.just("auto"), st.sampled_from([0.0, 1e-6, 1e-3, 0.1, 1.0, 10.0]),
                             st.just("callable")))
        return {"nsr": (lambda f: 1e-3 * (1.0 + 100.0 * f * f)) if nsr == "callable" else nsr}
    if method == "tikhonov":
        return {"lam": draw(st.one_of(st.just("auto"), st.sampled_from([0.0, 1e-6, 1e-3, 0.1, 1.0]))),
                "regularizer": draw(st.sampled_from(["laplacian", "gradient", "identity"])),
                "lam_method": draw(st.sampled_from(["gcv", "discrepancy"]))}
    if method == "rl":
        iterations = draw(st.integers(1, 12)) if fixed_iterations else draw(st.one_of(st.none(), st.integers(1, 12)))
        return {"iterations": iterations, "accelerate": draw(st.booleans()),
                "damping": draw(st.sampled_from([0.0, 0.0, 0.01, 0.1])),
                "tv_weight": draw(st.sampled_from([0.0, 0.0, 0.002, 0.01])),
                "background": draw(st.sampled_from([0.0, 0.0, 0.01])),
                "tolerance": draw(st.sampled_from([1e-3, 0.0, 0.1]))}
    iterations = draw(st.integers(1, 25)) if fixed_iterations else draw(st.one_of(st.none(), st.integers(1, 25)))
    params = {"weight": draw(st.one_of(st.just("auto"), st.sampled_from([0.0, 1e-4, 1e-2, 0.1]))),
              "iterations": iterations, "positivity": draw(st.booleans())}
    if draw(st.integers(0, 3)) == 0:
        params["bounds"] = draw(st.sampled_from([(0.0, 1.0), (-1.0, 2.0), (-1e3, 1e3)]))
    if draw(st.integers(0, 3)) == 0:
        params["rho"] = draw(st.sampled_from([1.0, 0.05, (0.1, 0.5, 0.1)]))
    return params


@st.composite
def deconv_cases(draw, methods=METHODS, fixed_iterations=False, dtypes=DTYPES):
    method = draw(st.sampled_from(methods))
    a, channel_axis, spatial, seed = draw(images(dtypes=dtypes, large=draw(st.integers(0, 3)) == 0))
    boundaries = ["auto", "periodic", "reflect"] + (["zero"] if method == "rl" else [])
    boundary = draw(st.sampled_from(boundaries))
    kshape = odd_psf_shape(draw, spatial)
    psf = delta(kshape) if draw(st.integers(0, 4)) == 0 else random_psf(kshape, seed + 7, sparse=draw(st.booleans()))
    params = draw(method_params(method, fixed_iterations))
    return method, a, channel_axis, spatial, boundary, psf, params


def needs_noise_estimate(method, params, spatial):
    """Whether the call estimates the noise, which needs 2 x 2 pixels (a ValueError on
    a 1 x N image: the documented minimum of unblur.estimate_noise)."""
    small = min(spatial[-2:]) < 2
    if not small:
        return False
    if method == "wiener":
        return params.get("nsr") == "auto"
    if method == "tikhonov":
        return params.get("lam") == "auto" and params.get("lam_method") == "discrepancy"
    if method == "rl":
        return params.get("iterations") is None or True  # the info's noise level too
    return True  # tv: weight 'auto' and rho need sigma


@examples(60, 2500)
@given(deconv_cases())
def test_deconvolution_is_finite_with_the_image_shape_and_policy_dtype(case):
    method, a, channel_axis, spatial, boundary, psf, params = case
    count(f"deconv_{method}")
    fn = FUNCTIONS[method]
    try:
        out = quiet(fn, a, psf, boundary=boundary, channel_axis=channel_axis, threads=1, **params)
    except ValueError as exc:
        # The one documented refusal of valid-looking input: too small for the noise estimate.
        assert needs_noise_estimate(method, params, spatial), exc
        assert "estimate" in str(exc) or "2x2" in str(exc), exc
        return
    check_result(out, a)
    if method == "tv" and params.get("bounds") is not None:
        lo, hi = params["bounds"]
        assert out.min() >= lo and out.max() <= hi  # exactly in the constraint set
    elif method == "tv" and params["positivity"]:
        assert out.min() >= 0
    if method == "rl":
        # Multiplicative updates of non-negative data: >= 0 in exact arithmetic, and every
        # update clamps the FFTs' rounding-level negatives at 0 (see the test below).
        assert out.min() >= 0


@examples(30, 800)
@given(deconv_cases(), st.data())
def test_deconvolve_with_a_method_is_that_method(case, data):
    method, a, channel_axis, spatial, boundary, psf, params = case
    count("deconvolve_dispatch")
    assume(boundary != "zero")
    kw = dict(boundary=boundary, channel_axis=channel_axis, threads=1, **params)
    try:
        direct = quiet(FUNCTIONS[method], a, psf, **kw)
    except ValueError:
        with pytest.raises(ValueError):
            quiet(unblur.deconvolve, a, psf, method=method, **kw)
        return
    via = quiet(unblur.deconvolve, a, psf, method=method, **kw)
    np.testing.assert_array_equal(via, direct)  # the same call, bit for bit


@st.composite
def delta_cases(draw):
    method = draw(st.sampled_from(METHODS))
    a, channel_axis, spatial, seed = draw(images(large=draw(st.integers(0, 3)) == 0))
    kshape = odd_psf_shape(draw, spatial)
    boundary = draw(st.sampled_from(["auto", "periodic", "reflect"] + (["zero"] if method == "rl" else [])))
    scale = draw(st.sampled_from([1.0, 0.25, 7.0]))
    return method, a, channel_axis, spatial, boundary, delta(kshape, scale), draw(st.integers(1, 15))


def _rl_epsilon(x, boundary):
    """RL's 1e-12 (the ratio g / (A x + 1e-12)) in the image's units: the engines run on
    each channel scaled by the power of two that brings its maximum into (0.5, 1]
    ('zero', scikit-image's iteration, is not scaled); the largest channel's is a bound."""
    if boundary == "zero":
        return 1e-12
    return 1e-12 * 2.0 ** _deconv_common.unit_exponent(float(np.max(x)))


@examples(40, 1500)
@given(delta_cases())
def test_a_delta_psf_leaves_the_image_unchanged(case):
    """With H = 1 every method's fixed point is the data, for these parameters:

    * wiener, nsr=0 / tikhonov, lam=0: X = G H* / |H|^2 = G, any boundary (for 'auto',
      CG on A^T A = I converges in one step). Bound: two FFT round trips.
    * richardson_lucy (damping, TV, background off): x1 = x0 * g / (x0 + 1e-12) = g
      from the flat start x0 (the mean), then q = 1 at every iteration. Bound: the
      1e-12 of the ratio relative to the start (1e-12 max|g| / mean(g) in the first
      iteration, 1e-12 later), plus the rounding of an FFT round trip per iteration.
      The 1e-12 is in the units of the image scaled to its unit exponent (its maximum in
      (0.5, 1]; not for 'zero'), so in the image's units it is 1e-12 times that power of
      two (_rl_epsilon). Non-negative images only (RL clips negatives).
    * tv_deconvolve, weight=0 (positivity off, or a non-negative image): ADMM starts
      at x = g, where u = Hx = g, v = Dx (no shrinkage at threshold 0) and w = x are
      a fixed point; the rounding of each iteration's FFTs is contracted, not
      accumulated, so the bound is a few round trips.
    """
    method, a, channel_axis, spatial, boundary, psf, iterations = case
    count(f"delta_{method}")
    if method == "tv" and min(spatial[-2:]) < 2:
        with pytest.raises(ValueError, match="estimate noise"):  # TV always estimates the noise
            unblur.tv_deconvolve(a, psf, weight=0.0, boundary=boundary, channel_axis=channel_axis)
        return
    x = as_policy(a)
    if method in ("rl",):
        x = np.abs(x)
        a = x
    kw = dict(boundary=boundary, channel_axis=channel_axis, threads=1)
    magnitude = float(np.abs(x).max())
    grid = tuple(n + 2 * k for n, k in zip(x.shape, psf.shape + (0,) * (x.ndim - psf.ndim)))
    if method == "wiener":
        out = unblur.wiener(a, psf, nsr=0.0, **kw)
        tol = _fft_tol(x.dtype, grid, magnitude, passes=2)
    elif method == "tikhonov":
        out = unblur.tikhonov(a, psf, lam=0.0, **kw)
        tol = _fft_tol(x.dtype, grid, magnitude, passes=2)
    elif method == "rl":
        out = unblur.richardson_lucy(a, psf, iterations=iterations, **kw)
        # The start: 0.5 for 'zero', else the mean (over the model's grid, not quite the
        # image's: hence the factor 2).
        start = 0.5 if boundary == "zero" else (float(x.mean()) if x.any() else 1.0)
        tol = _fft_tol(x.dtype, grid, magnitude, passes=iterations + 1) \
            + 2 * _rl_epsilon(x, boundary) * (magnitude / start + iterations)
    else:
        positivity = bool(x.min() >= 0)
        out = unblur.tv_deconvolve(a, psf, weight=0.0, iterations=iterations, positivity=positivity, **kw)
        tol = _fft_tol(x.dtype, grid, magnitude, passes=4)
    check_result(out, a)
    np.testing.assert_allclose(out, x, rtol=0, atol=tol)


def _otf_floor(psf, grid):
    """min |H| over the model's grid (what a zero-regularisation filter divides by)."""
    return float(np.abs(unblur.fft.psf2otf(psf / psf.sum(), grid)).min())


@st.composite
def constant_cases(draw):
    method = draw(st.sampled_from(METHODS + ("deconvolve",)))
    ndim = draw(st.sampled_from([2, 2, 3]))
    sizes = SMALL[2:] + MEDIUM if ndim == 2 else [3, 4, 5, 7, 8, 11]
    spatial = draw(shape_strategy(ndim, sizes))
    boundary = draw(st.sampled_from(["auto", "periodic", "reflect"]))
    kshape = odd_psf_shape(draw, spatial)
    seed = draw(st.integers(0, 2**32 - 1))
    psf = random_psf(kshape, seed) if draw(st.integers(0, 3)) else delta(kshape)
    dtype = draw(st.sampled_from(["float32", "float64", "uint8", "uint16"]))
    if np.dtype(dtype).kind == "u":
        c = draw(st.integers(1, np.iinfo(dtype).max))
    else:
        c = draw(st.sampled_from([1.0, 0.37, 1e-3, 255.0, 4096.5]))
    return method, np.full(spatial, c, dtype=dtype), boundary, psf, draw(st.integers(0, 2**16))


@examples(40, 1500)
@given(constant_cases())
def test_deconvolving_a_blurred_constant_returns_the_constant(case):
    """The blur of a constant c by a PSF of sum 1 is c (all boundaries: the valid part
    of the blur of a constant scene is that constant). Per method:

    * wiener nsr=0: at f = 0 X = G/H(0) = c; elsewhere G is FFT rounding (~eps log N c)
      divided by |H|: bound eps log N c / min|H| ('auto': the same on the CG grid).
    * tikhonov, Laplacian or gradient regulariser, any lam (R(0) = 0): as Wiener, with
      the amplification min(1/min|H|, 1 / (2 sqrt(lam) min_{f != 0} |R|)).
    * richardson_lucy: the flat start is c and q = c / (A c) = 1 on 'periodic' and
      'reflect'; on 'auto', halo pixels whose normaliser A^T 1 is below 1e-4 of its
      maximum are held at 0, so A x misses at most their PSF mass m: a relative
      deviation <= m / (1 - m) per iteration (m measured below).
    * tv_deconvolve: a constant has TV 0 and fits the data exactly: the minimiser, and
      the ADMM start, for any weight.
    * deconvolve: its default (TV, automatic weight).
    """
    method, image, boundary, psf, variant = case
    count(f"constant_{method}")
    x = as_policy(image)
    c = float(x.flat[0])
    kw = dict(boundary=boundary, threads=1)
    grid = unblur._core.quadratic_grid_shape(list(x.shape), list(psf.shape), boundary)
    base = _fft_tol(x.dtype, grid, c, passes=2)
    if method == "wiener":
        out = unblur.wiener(image, psf, nsr=0.0, **kw)
        tol = base / max(_otf_floor(psf, grid), 1e-300) if _otf_floor(psf, grid) > 0 else np.inf
    elif method == "tikhonov":
        regularizer = ("laplacian", "gradient")[variant % 2]
        lam = [0.0, 1e-4, 0.1, "auto"][variant // 2 % 4]
        out, info = unblur.tikhonov(image, psf, lam=lam, regularizer=regularizer, return_info=True, **kw)
        gain = 1.0 / max(_otf_floor(psf, grid), 1e-300)
        if info["lam"] > 0:
            w = 2 * np.pi / max(grid)
            r_min = (2 - 2 * np.cos(w)) ** (2 if regularizer == "laplacian" else 1) ** 0.5
            gain = min(gain, 1.0 / (2.0 * np.sqrt(info["lam"]) * r_min))
        tol = base * gain
    elif method == "rl":
        iterations = variant % 12 + 1 if variant % 3 else None
        out, info = unblur.richardson_lucy(image, psf, iterations=iterations, return_info=True, **kw)
        m = _rl_missing_mass(psf, x.shape) if boundary == "auto" else 0.0
        tol = c * (info["iterations"] + 1) * (m / (1 - m) + _rl_epsilon(x, boundary) / c) \
            + base * (info["iterations"] + 1)
    elif method == "tv":
        weight = ["auto", 0.0, 1e-3, 0.1, 10.0][variant % 5]
        out = unblur.tv_deconvolve(image, psf, weight=weight, **kw)
        tol = base * 4
    else:
        out = unblur.deconvolve(image, psf, **kw)
        tol = base * 4
    check_result(out, image)
    np.testing.assert_allclose(out, np.full(x.shape, c), rtol=0, atol=tol)


def _rl_missing_mass(psf, shape):
    """The largest PSF mass that, on the 'auto' model, falls on grid pixels held at 0
    (normaliser below 1e-4 of its maximum), for an observed window of `shape`."""
    from scipy.signal import fftconvolve

    h = psf / psf.sum()
    window = np.ones(shape)
    grid = tuple(n + k - 1 for n, k in zip(shape, h.shape))
    # A^T 1 on the grid: the PSF mass that each grid pixel sends into the window.
    normaliser = fftconvolve(window, h[::-1, ::-1] if h.ndim == 2 else h[::-1, ::-1, ::-1], mode="full")
    held = normaliser < 1e-4 * normaliser.max()
    missing = fftconvolve(held.astype(float), h, mode="valid")  # mass from held pixels at each observed pixel
    assert missing.shape == tuple(shape) and normaliser.shape == grid
    return float(max(missing.max(), 0.0))


@pytest.mark.parametrize("face", ["core", "gpu_on_host", "xp"])
def test_richardson_lucy_zero_boundary_with_damping_stays_non_negative(face):
    # Found by test_deconvolution_is_finite_with_the_image_shape_and_policy_dtype (thorough).
    # float32, a 32 x 32 image 90 % zeros, a 3 x 3 box, boundary='zero', damping=0.1,
    # tv_weight=0.05, no acceleration, 500 iterations: the result's minimum was -0.86 ..
    # -1.13 of its peak over these seeds, on all three faces (automatic stop, which
    # ran to its cap of 500). A rounding-level negative
    # (-1e-8) where the data are 0: the damped ratio is 1 there, and the TV denominator at
    # a dip is below 1 (down to its floor 0.1), so each update multiplied it by up to 10.
    # Every update now clamps at 0.
    from unblur._xp.richardson_lucy import richardson_lucy as xp_rl
    psf = np.full((3, 3), 1 / 9, np.float32)
    kw = dict(boundary="zero", accelerate=False, tv_weight=0.05, damping=0.1, iterations=500)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        a = (rng.random((32, 32)) * (rng.random((32, 32)) < 0.1)).astype(np.float32)
        if face == "core":
            out = unblur.richardson_lucy(a, psf, threads=1, **kw)
        elif face == "gpu_on_host":
            out, _ = unblur._core.gpu_on_host.richardson_lucy(a, psf, noise_sigma=0.0, **kw)
        else:
            out, _ = xp_rl(a, psf, **kw)
        assert out.min() >= 0, (seed, out.min())
        assert out.max() > 0.5 * a.max()  # not a collapse to zero either


# ---- threads: independence and determinism -------------------------------------------------
# Every sum in the core goes through csrc/core/parallel.hpp (fixed blocks added in
# order), so every function repeats bit for bit for any thread count. (OpenMP's
# reduction clause, used before, added the threads' partials in the order they
# finished: with 3+ threads the last bits of the CG and RL iterates varied between runs.)
#: Wiener / Tikhonov on the 'auto' boundary stop their conjugate gradients at a relative
#: residual of 1e-5: the thread count changes the rounding, so the iteration at which
#: they stop (61 or 62 in one case), so the result by up to that residual times the
#: system's condition (7.7e-4 of the peak, float64, 97 x 97, nsr=1e-3, 1 vs 2 threads).
#: Compared in the relative 2-norm.
CG_RTOL = 1e-2


@st.composite
def threaded_calls(draw):
    """(name, fn(threads) -> array, dtype, grid for the tolerance, passes)."""
    kind = draw(st.sampled_from(["convolve", "gaussian_filter", "wiener", "tikhonov", "rl", "tv", "psf2otf", "ssim",
                                 "turbulence"]))
    ndim = draw(st.sampled_from([2, 2, 3]))
    sizes = [16, 31, 64, 97, 128] if ndim == 2 else [8, 13, 16, 24]
    spatial = draw(shape_strategy(ndim, sizes))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    seed = draw(st.integers(0, 2**32 - 1))
    a = make_array(spatial, dtype, seed, signed=False)
    psf = random_psf(odd_psf_shape(draw, spatial), seed + 3)
    boundary = draw(st.sampled_from(["auto", "periodic", "reflect"]))
    iterations = draw(st.integers(1, 15))
    if kind == "convolve":
        mode = draw(st.sampled_from(["same", "full", "valid"]))
        method = draw(st.sampled_from(["fft", "auto", "direct"]))
        return kind, lambda t: unblur.convolve(a, psf, mode=mode, method=method, boundary="reflect", threads=t), \
            dtype, spatial, 1
    if kind == "gaussian_filter":
        sigma = draw(st.sampled_from([1.0, 3.0, 30.0]))  # 30: the FFT route
        return kind, lambda t: unblur.gaussian_filter(a, sigma, threads=t), dtype, spatial, ndim
    if kind in ("wiener", "tikhonov"):
        auto = draw(st.booleans())
        name = f"{kind}_cg" if boundary == "auto" else kind
        if kind == "wiener":
            nsr = "auto" if auto else 1e-3
            return name, lambda t: unblur.wiener(a, psf, nsr=nsr, boundary=boundary, threads=t), dtype, spatial, 8
        lam = "auto" if auto else 1e-3
        return name, lambda t: unblur.tikhonov(a, psf, lam=lam, boundary=boundary, threads=t), dtype, spatial, 8
    if kind == "rl":
        return kind, lambda t: unblur.richardson_lucy(a, psf, iterations=iterations, boundary=boundary, threads=t), \
            dtype, spatial, 4 * iterations
    if kind == "tv":
        return kind, lambda t: unblur.tv_deconvolve(a, psf, iterations=iterations, boundary=boundary, threads=t), \
            dtype, spatial, 4 * iterations
    if kind == "psf2otf":
        grid = tuple(n + draw(st.integers(0, 40)) for n in spatial)
        return kind, lambda t: unblur.fft.psf2otf(psf.astype(dtype), grid, threads=t), dtype, grid, 1
    if kind == "ssim":
        b = make_array(spatial, dtype, seed + 1, signed=False)
        assume(min(spatial) >= 11)
        return kind, lambda t: np.asarray(unblur.metrics.ssim(a, b, data_range=1.0, full=True)[1]), dtype, spatial, 1
    d = draw(st.sampled_from([0.0, 1.0, 3.0]))
    short = draw(st.booleans())
    return kind, lambda t: unblur.psf.turbulence(d, short_exposure=short, seed=5, dtype=dtype, threads=t), \
        dtype, (128, 128), 2


@examples(30, 1200)
@given(threaded_calls())
def test_results_do_not_depend_on_the_thread_count_and_repeat_bit_for_bit(call):
    kind, fn, dtype, grid, passes = call
    count(f"threads_{kind}")
    results = {t: fn(t) for t in (1, 2, 3)}
    again = {t: fn(t) for t in (1, 2, 3)}
    for t in (1, 2, 3):
        # The same thread count twice: the same plans, the same static OpenMP partition.
        np.testing.assert_array_equal(results[t], again[t], err_msg=f"{kind}: threads={t} twice")
    magnitude = float(np.abs(results[1]).max())
    for t in (2, 3):
        if kind.endswith("_cg"):
            difference = np.linalg.norm((results[t] - results[1]).ravel())
            assert difference <= CG_RTOL * np.linalg.norm(results[1].ravel()), f"{kind}: threads={t} vs 1"
            continue
        np.testing.assert_allclose(results[t], results[1], rtol=0,
                                   atol=_fft_tol(dtype, grid, magnitude, passes=passes),
                                   err_msg=f"{kind}: threads={t} vs 1")


@pytest.mark.parametrize("method", ["wiener_auto_boundary", "richardson_lucy_zero"])
def test_many_threads_reductions_are_bit_reproducible(method):
    # These two varied in their last bits from run to run with OpenMP reduction clauses
    # (4 threads, within 40 runs every time it was tried).
    rng = np.random.default_rng(0)
    a, psf = rng.random((128, 64)), rng.random((5, 5))
    if method == "wiener_auto_boundary":
        def run():
            return unblur.wiener(a, psf, nsr=1e-3, boundary="auto", threads=4)
    else:
        def run():
            return unblur.richardson_lucy(a, psf, iterations=10, boundary="zero", threads=4)
    first = run()
    for _ in range(40):
        np.testing.assert_array_equal(run(), first)


@examples(15, 400)
@given(st.sampled_from(METHODS), st.integers(0, 2**32 - 1), st.sampled_from(["float32", "float64"]),
       st.sampled_from(["auto", "periodic", "reflect"]))
def test_automatic_stopping_is_deterministic(method, seed, dtype, boundary):
    """The automatic rules (discrepancy, tolerance, GCV, noise estimate) read sums:
    the same input and thread count must give the same result and info twice."""
    count("deterministic_auto")
    rng = np.random.default_rng(seed)
    truth = np.kron(rng.random((6, 6)), np.ones((8, 8))).astype(dtype)
    psf = unblur.psf.gaussian(1.2)
    g = unblur.convolve(truth, psf.astype(dtype), boundary="reflect") + rng.normal(0, 0.01, truth.shape).astype(dtype)
    g = np.abs(g)
    fn = FUNCTIONS[method]
    (o1, i1), (o2, i2) = (fn(g, psf, boundary=boundary, return_info=True) for _ in range(2))
    np.testing.assert_array_equal(o1, o2)
    assert {k: v for k, v in i1.items() if k != "state"} == {k: v for k, v in i2.items() if k != "state"}


# ---- FFT, metrics, noise ----------------------------------------------------------------------
@st.composite
def otf_cases(draw):
    ndim = draw(st.integers(1, 3))
    psf_shape = tuple(draw(st.integers(1, 9)) for _ in range(ndim))
    shape = tuple(k + draw(st.sampled_from([0, 1, 2, 5, 10, 30])) for k in psf_shape)
    dtype = draw(st.sampled_from(["float32", "float64", "uint8", "float16", "bool"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return make_array(psf_shape, dtype, seed, signed=draw(st.booleans())), shape, draw(st.booleans())


@examples(40, 1200)
@given(otf_cases())
def test_psf2otf_is_the_transform_of_the_centred_psf(case):
    count("psf2otf")
    psf, shape, is_delta = case
    if is_delta:
        psf = delta(psf.shape).astype(psf.dtype)
    otf = unblur.fft.psf2otf(psf, shape)
    h = as_policy(psf)
    assert otf.shape == shape[:-1] + (shape[-1] // 2 + 1,)
    assert otf.dtype == (np.complex128 if h.dtype == np.float64 else np.complex64)
    assert np.isfinite(otf).all()
    # The PSF's centre (index k // 2) at the origin of the grid, then numpy's rfftn.
    padded = np.zeros(shape, np.float64)
    padded[tuple(slice(0, k) for k in psf.shape)] = h
    ref = np.fft.rfftn(np.roll(padded, [-(k // 2) for k in psf.shape], axis=tuple(range(len(shape)))))
    np.testing.assert_allclose(otf, ref, rtol=0, atol=_fft_tol(h.dtype, shape, float(np.abs(h).sum())))
    if is_delta:  # a flat spectrum: the centre value everywhere
        centre = float(h[tuple(k // 2 for k in h.shape)])
        np.testing.assert_allclose(otf, np.full(otf.shape, centre), rtol=0, atol=8 * eps(h.dtype) * centre)


@st.composite
def metric_pairs(draw):
    a, channel_axis, spatial, seed = draw(images(ndims=(1, 2, 3), large=False, min_size=1))
    other = draw(st.sampled_from(["same", "noisy", "random"]))
    if other == "same":
        b = a.copy()
    elif other == "random":
        b = make_array(a.shape, a.dtype, seed + 1)
    else:
        x = as_policy(a).astype(np.float64)
        b = x + np.random.default_rng(seed).normal(0, 0.01, a.shape)
        b = b.astype(policy(a.dtype))
    return a, b, channel_axis, spatial, other


@examples(40, 1200)
@given(metric_pairs(), st.sampled_from([None, 1.0, 255.0]))
def test_psnr_and_ssim_properties(pair, data_range):
    count("metrics")
    # The properties hold for any units; the warnings about integer images in other units
    # (data_range > 1, or a float partner beyond 1) have their own test in test_metrics.py.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*integer image", category=UserWarning)
        _psnr_and_ssim_properties(pair, data_range)


def _psnr_and_ssim_properties(pair, data_range):
    a, b, channel_axis, spatial, other = pair
    x = as_policy(a)
    integer = np.dtype(a.dtype).kind in "biu"
    if data_range is None and not integer and not float(x.max()) > float(x.min()):
        with pytest.raises(ValueError, match="data_range"):
            unblur.metrics.psnr(a, b)
        return
    p = unblur.metrics.psnr(a, b, data_range=data_range)
    assert isinstance(p, float)
    if other == "same":
        assert p == np.inf
    else:
        assert not np.isnan(p)
        if data_range is not None:
            assert p == unblur.metrics.psnr(b, a, data_range=data_range)  # MSE is symmetric
    win = 11
    if min(spatial) < win:
        with pytest.raises(ValueError, match="at least 11 pixels"):
            unblur.metrics.ssim(a, b, data_range=data_range, channel_axis=channel_axis)
        return
    s, smap = unblur.metrics.ssim(a, b, data_range=data_range, channel_axis=channel_axis, full=True)
    assert isinstance(s, float) and -1.0 - 1e-9 <= s <= 1.0 + 1e-9
    assert smap.shape == a.shape and np.isfinite(smap).all()
    if other == "same":
        assert s == pytest.approx(1.0, abs=1e-6)
    if data_range is not None:
        assert unblur.metrics.ssim(b, a, data_range=data_range, channel_axis=channel_axis) == \
            pytest.approx(s, abs=1e-9)


@examples(40, 1200)
@given(images(ndims=(1, 2, 3), min_size=2), st.integers(-20, 20))
def test_estimate_noise_is_non_negative_finite_and_scales_exactly(img, k):
    count("estimate_noise")
    a, channel_axis, spatial, _ = img
    sigma = unblur.estimate_noise(a, channel_axis=channel_axis)
    assert isinstance(sigma, float) and np.isfinite(sigma) and sigma >= 0
    x = as_policy(a)
    # A power of two scales every Haar detail, and so the median, exactly.
    scaled = unblur.estimate_noise(x * x.dtype.type(2.0 ** k), channel_axis=channel_axis)
    if sigma * 2.0 ** k > 1e-30:  # float32 underflow aside
        assert scaled == pytest.approx(sigma * 2.0 ** k, rel=1e-6 if x.dtype == np.float32 else 1e-12)
    assert unblur.estimate_noise(np.full(a.shape, a.flat[0]), channel_axis=channel_axis) == 0.0


# ---- PSF generators ------------------------------------------------------------------------
@st.composite
def psf_calls(draw):
    """(name, kwargs, expected shape or None, symmetric about the centre, centroid exact)."""
    kind = draw(st.sampled_from(["gaussian", "disk", "motion", "shake", "turbulence", "airy", "moffat"]))
    dtype = draw(st.sampled_from([np.float32, np.float64, "float32", "float64"]))
    size = draw(st.one_of(st.none(), st.sampled_from([1, 3, 5, 9, 15, 31])))
    pos = st.floats(0.05, 20.0, allow_nan=False)
    if kind == "gaussian":
        nd = draw(st.integers(1, 3))
        sigma = draw(st.one_of(pos, st.tuples(*[pos] * nd)))
        theta = draw(st.floats(-720, 720)) if isinstance(sigma, tuple) and nd == 2 else 0.0
        kw = dict(sigma=sigma, theta=theta, ndim=None if isinstance(sigma, tuple) else nd)
        n_axes = len(sigma) if isinstance(sigma, tuple) else nd
        if draw(st.booleans()) and size is not None:
            size = tuple(draw(st.sampled_from([1, 3, 7, 13])) for _ in range(n_axes))
        return kind, dict(kw, size=size, dtype=dtype), theta == 0.0, False, n_axes
    if kind == "disk":
        return kind, dict(radius=draw(st.floats(0.0, 20.0)), size=size, dtype=dtype), True, False, 2
    if kind == "motion":
        return kind, dict(length=draw(st.floats(0.0, 40.0)), angle=draw(st.floats(-1000, 1000)), size=size,
                          dtype=dtype), False, size is None, 2
    if kind == "shake":
        return kind, dict(extent=draw(st.floats(0.0, 40.0)), seed=draw(st.integers(0, 2**64 - 1)),
                          steps=draw(st.integers(2, 300)), smoothness=draw(st.floats(0.0, 0.999)), size=size,
                          dtype=dtype), False, False, 2
    if kind == "turbulence":
        short = draw(st.booleans())
        return kind, dict(d_over_r0=draw(st.floats(0.0, 6.0)), oversampling=draw(st.floats(1.0, 3.0)),
                          short_exposure=short, seed=draw(st.integers(0, 2**64 - 1)) if short else None,
                          size=size, dtype=dtype), not short, False, 2
    if kind == "airy":
        return kind, dict(radius=draw(st.floats(0.1, 6.0)), size=size, dtype=dtype), True, False, 2
    return kind, dict(fwhm=draw(st.floats(0.2, 10.0)), beta=draw(st.floats(1.05, 10.0)), size=size,
                      dtype=dtype), True, False, 2


@examples(60, 2000)
@given(psf_calls())
def test_psf_generators_are_odd_non_negative_normalised_and_deterministic(call):
    kind, kw, symmetric, centroid_exact, n_axes = call
    count(f"psf_{kind}")
    fn = getattr(unblur.psf, kind)
    try:
        h = fn(**kw)
    except ValueError as exc:
        # Documented refusals of in-range parameters: no mass inside a small explicit
        # size, or more pixels than the core makes.
        assert "no mass" in str(exc) or "limit" in str(exc), exc
        return
    assert h.dtype == np.dtype(kw["dtype"]) and h.ndim == n_axes
    assert all(n % 2 == 1 for n in h.shape) and np.isfinite(h).all() and h.min() >= 0
    size = kw.get("size")
    if size is not None:
        assert h.shape == (tuple(size) if isinstance(size, tuple) else (size,) * n_axes)
    assert abs(float(h.sum(dtype=np.float64)) - 1.0) < (1e-12 if h.dtype == np.float64 else 1e-5)
    np.testing.assert_array_equal(h, fn(**kw))  # deterministic (seeded generators too)
    h64 = h.astype(np.float64)
    centroid = [float((h64.sum(axis=tuple(j for j in range(h.ndim) if j != i)) * np.arange(n)).sum())
                for i, n in enumerate(h.shape)]
    if symmetric:
        np.testing.assert_allclose(h64, h64[tuple(slice(None, None, -1) for _ in h.shape)], rtol=0,
                                   atol=8 * eps(h.dtype) * float(h64.max()))
    if symmetric or centroid_exact:
        np.testing.assert_allclose(centroid, [n // 2 for n in h.shape], rtol=0, atol=1e-9 if h.dtype == np.float64
                                   else 1e-4 * max(h.shape))


# ---- invalid input: TypeError or ValueError, nothing else ---------------------------------------
GOOD_IMAGE = np.random.default_rng(0).random((12, 13))
GOOD_PSF = np.ones((3, 3)) / 9

BAD_ARRAYS = [
    None, "image", b"bytes", {"a": 1}, {1, 2}, 3.0, [[1, 2], [3]], [["a", "b"]],
    np.zeros((3, 3), dtype=object), np.zeros((4, 4), dtype=complex), np.zeros((4, 4), dtype=np.complex64),
    np.zeros((0, 5)), np.zeros((5, 0)), np.zeros((0,)), np.zeros(()), np.zeros((2, 2, 2, 2, 2)),
    np.zeros((4, 4), "M8[s]"), np.zeros((4, 4), "m8[s]"), np.zeros((4, 4), dtype=[("a", "f8")]),
    np.array([["a", "b"], ["c", "d"]]), np.zeros((4, 4), np.longdouble) if np.dtype(np.longdouble).itemsize > 8
    else np.zeros((4, 4), dtype=object), np.zeros((4, 4), dtype="V8"),
]


def _with_nonfinite(a, value, where):
    a = np.array(a, dtype=np.float64)
    a.flat[where % a.size] = value
    return a


def invalid_images():
    finite_bad = st.sampled_from(BAD_ARRAYS)
    nonfinite = st.builds(_with_nonfinite, st.just(GOOD_IMAGE), st.sampled_from([np.nan, np.inf, -np.inf]),
                          st.integers(0, 10**6))
    nonfinite32 = nonfinite.map(lambda a: a.astype(np.float32))
    return st.one_of(finite_bad, nonfinite, nonfinite32)


BAD_NUMBERS = [-1.0, -1e-300, np.nan, np.inf, -np.inf, "1", None, [1.0], 1j, True, object()]
BAD_INTS = [0, -1, 1.5, "2", True, 2**70, np.float64(3.0), [3]]  # (None: automatic, valid)
BAD_THREADS = [0, -1, 1.5, "2", True, 10**6, 2**64, np.float32(2)]
BAD_CHOICE = ["", "bogus", None, 3, b"auto", ["auto"]]
BAD_AXES = [5, -6, 1.0, "0", [0]]


def _call(name, **override):
    """The call `name` with one argument replaced (the others valid)."""
    image = override.pop("image", GOOD_IMAGE)
    psf = override.pop("psf", GOOD_PSF)
    if name == "convolve":
        return lambda: unblur.convolve(image, psf, **override)
    if name == "gaussian_filter":
        sigma = override.pop("sigma", 1.0)
        return lambda: unblur.gaussian_filter(image, sigma, **override)
    if name == "deconvolve":
        method = override.pop("method", "wiener")
        return lambda: unblur.deconvolve(image, psf, method, **override)
    if name in FUNCTIONS:
        return lambda: FUNCTIONS[name](image, psf, **override)
    if name == "psf2otf":
        shape = override.pop("shape", (16, 16))
        return lambda: unblur.fft.psf2otf(psf, shape, **override)
    if name == "estimate_noise":
        return lambda: unblur.estimate_noise(image, **override)
    if name in ("psnr", "ssim"):
        other = override.pop("other", GOOD_IMAGE)
        fn = getattr(unblur.metrics, name)
        return lambda: fn(image, other, **override)
    raise AssertionError(name)


ARGUMENTS = {  # function -> {argument: invalid values}
    "convolve": {"mode": BAD_CHOICE, "boundary": BAD_CHOICE, "method": BAD_CHOICE, "cval": BAD_NUMBERS[2:],
                 "channel_axis": BAD_AXES, "threads": BAD_THREADS},
    "gaussian_filter": {"sigma": BAD_NUMBERS + [[1.0, 2.0, 3.0], np.ones((2, 2))], "mode": BAD_CHOICE,
                        "cval": BAD_NUMBERS[2:], "truncate": [0.0] + BAD_NUMBERS, "channel_axis": BAD_AXES,
                        "threads": BAD_THREADS},
    "wiener": {"nsr": BAD_NUMBERS[:5] + ["bogus", True, None, np.ones((3, 3)), np.full((12, 13), -1.0)],
               "boundary": BAD_CHOICE + ["zero"], "channel_axis": BAD_AXES, "return_info": [1, "yes", None],
               "threads": BAD_THREADS},
    "tikhonov": {"lam": BAD_NUMBERS[:5] + ["bogus", True, None], "regularizer": BAD_CHOICE,
                 "lam_method": BAD_CHOICE, "boundary": BAD_CHOICE, "channel_axis": BAD_AXES,
                 "return_info": [1, "yes", None], "callback": [1, "f"], "threads": BAD_THREADS},
    "rl": {"iterations": BAD_INTS, "boundary": BAD_CHOICE, "accelerate": [1, "yes", None],
           "damping": BAD_NUMBERS, "tv_weight": BAD_NUMBERS, "background": BAD_NUMBERS, "tolerance": BAD_NUMBERS,
           "weights": [np.ones((3, 3)), -np.ones((12, 13)), np.zeros((12, 13)), "w", np.full((12, 13), np.nan)],
           "initial": [np.ones((3, 3)), -np.ones((12, 13)), "x", {"estimate": 1}, [1, 2],
                       np.full((12, 13), np.inf)],
           "channel_axis": BAD_AXES, "return_info": [1, "yes", None], "callback": [1, "f"], "threads": BAD_THREADS},
    "tv": {"weight": BAD_NUMBERS[:5] + ["bogus", True, None], "iterations": BAD_INTS, "boundary": BAD_CHOICE,
           "positivity": [1, "yes", None], "bounds": [(1.0, 0.0), (0.0,), "ab", (np.nan, 1.0), (0.0, np.inf), 3.0],
           "rho": [0.0, -1.0, np.nan, (1.0, 2.0), "r", (1.0, -1.0, 1.0)], "tolerance": BAD_NUMBERS,
           "channel_axis": BAD_AXES, "callback": [1, "f"], "threads": BAD_THREADS},
    "deconvolve": {"method": BAD_CHOICE, "boundary": BAD_CHOICE, "callback": [1, "f"], "channel_axis": BAD_AXES,
                   "threads": BAD_THREADS, "bogus_option": [1.0]},
    "psf2otf": {"shape": [None, 16, "ab", (16,), (16, 16, 16, 16), (2, 2), (0, 16), (-1, 16), (16.0, 16), (True, 16)],
                "threads": BAD_THREADS},
    "estimate_noise": {"channel_axis": BAD_AXES},
    "psnr": {"data_range": [0.0] + [v for v in BAD_NUMBERS if v is not None], "other": [np.ones((12, 12)), np.ones((13, 12)), None, "x",
                                                           np.full((12, 13), np.nan), np.zeros((12, 13), complex)]},
    "ssim": {"data_range": [0.0] + [v for v in BAD_NUMBERS if v is not None], "sigma": [0.0] + BAD_NUMBERS, "truncate": [0.0] + BAD_NUMBERS,
             "K1": BAD_NUMBERS, "K2": BAD_NUMBERS, "channel_axis": BAD_AXES, "full": [1, "yes", None],
             "other": [np.ones((12, 12)), None, np.full((12, 13), np.inf)]},
}
IMAGE_FUNCTIONS = list(ARGUMENTS)
BAD_KERNELS = [np.ones((3,)), np.ones((3, 3, 3)), np.full((3, 3), np.nan), np.ones((0, 3)), np.ones((3, 3)) + 1j,
               None, "psf", [[1, 2], [3]], np.zeros((3, 3), dtype=object), np.zeros((3, 3), "m8[s]")]
#: Deconvolution also needs odd sizes, a positive sum and a PSF no larger than the image.
BAD_PSFS = BAD_KERNELS + [np.ones((2, 2)), np.ones((3, 4)), np.zeros((3, 3)), -np.ones((3, 3)), np.ones((15, 15))]
NEEDS_ODD = {"wiener", "tikhonov", "rl", "tv", "deconvolve"}


@st.composite
def invalid_calls(draw):
    name = draw(st.sampled_from(IMAGE_FUNCTIONS))
    what = draw(st.sampled_from(["image", "psf", "argument"]))
    if name == "psf2otf" and what == "image":
        return name, "psf", _call(name, psf=draw(invalid_images()))
    if what == "image" or name in ("estimate_noise", "psnr", "ssim") and what == "psf":
        if name == "estimate_noise" and draw(st.booleans()):
            return name, "image", _call(name, image=draw(st.sampled_from([np.ones((1, 5)), np.ones((5, 1))])))
        return name, "image", _call(name, image=draw(invalid_images()))
    if what == "psf" and name != "gaussian_filter":
        return name, "psf", _call(name, psf=draw(st.sampled_from(BAD_PSFS if name in NEEDS_ODD else BAD_KERNELS)))
    argument = draw(st.sampled_from(sorted(ARGUMENTS[name])))
    value = draw(st.sampled_from(ARGUMENTS[name][argument]))
    if name == "tv" and argument == "tolerance":
        return name, argument, _call(name, tolerance=value)  # checked whether or not iterations is given
    return name, argument, _call(name, **{argument: value})


@examples(120, 3000)
@given(invalid_calls())
def test_invalid_input_is_a_type_or_value_error(call):
    name, argument, fn = call
    count(f"invalid_{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((TypeError, ValueError)):
            fn()


@st.composite
def invalid_psf_generator_calls(draw):
    kind = draw(st.sampled_from(["gaussian", "disk", "motion", "shake", "turbulence", "airy", "moffat"]))
    bad_pos = st.sampled_from([-1.0, np.nan, np.inf, "1", None, 1j, True, [1.0, 2.0, 3.0, 4.0]])
    bad_size = st.sampled_from([0, 2, -3, 4.0, "3", True, (3, 3, 3), (3, 4), 10**9 + 1, [3, None]])
    bad_dtype = st.sampled_from([np.int32, "complex128", np.float16, object, "bogus", 3.5])
    which = draw(st.sampled_from(["main", "size", "dtype", "other"]))
    main = {"gaussian": "sigma", "disk": "radius", "motion": "length", "shake": "extent",
            "turbulence": "d_over_r0", "airy": "radius", "moffat": "fwhm"}[kind]
    good = {"sigma": 1.0, "radius": 2.0, "length": 5.0, "extent": 5.0, "d_over_r0": 1.0, "fwhm": 2.0}
    kw = {main: good[main]}
    if which == "main":
        kw[main] = draw(bad_pos)
    elif which == "size":
        kw["size"] = draw(bad_size)
    elif which == "dtype":
        kw["dtype"] = draw(bad_dtype)
    else:
        other = {"gaussian": {"theta": [np.nan, "x"], "ndim": [0, 4, 1.5]},
                 "motion": {"angle": [np.inf, None]},
                 "shake": {"seed": [-1, 2**64, 1.5], "steps": [1, 0, 10**7, 2.5], "smoothness": [1.0, -0.1, np.nan]},
                 "turbulence": {"oversampling": [0.5, np.nan, 0.0], "short_exposure": [1, "yes"],
                                "threads": BAD_THREADS},
                 "moffat": {"beta": [1.0, 0.5, np.nan]},
                 "disk": {"like": [3, "x"]}, "airy": {"like": [3, "x"]}}[kind]
        arg = draw(st.sampled_from(sorted(other)))
        kw[arg] = draw(st.sampled_from(other[arg]))
        if kind == "turbulence" and arg == "short_exposure" and kw[arg] == "yes":
            kw["seed"] = 1
    return kind, kw


@examples(60, 1500)
@given(invalid_psf_generator_calls())
def test_invalid_psf_generator_arguments_are_type_or_value_errors(call):
    kind, kw = call
    count("invalid_psf")
    with pytest.raises((TypeError, ValueError)):
        getattr(unblur.psf, kind)(**kw)


# ---- regressions ---------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [1025, 50_000, 100_000, 10**6, 2**31 - 1, 2**31, 2**70])
def test_a_huge_thread_count_is_a_value_error_not_a_dead_process(threads, capsys):
    # threads=50000 ended the process ("libgomp: Thread creation failed", exit 1),
    # 100000 and 10**6 were segmentation faults, 2**31 - 1 "libgomp: Out of memory".
    x, k = np.ones((8, 9)), np.ones((3, 3))
    with pytest.raises(ValueError, match="threads must be <= 1024"):
        unblur.convolve(x, k, threads=threads)
    with pytest.raises(ValueError, match="threads must be <= 1024"):
        unblur.set_threads(threads)
    with pytest.raises(ValueError, match="threads must be <= 1024"):
        unblur.psf.turbulence(1.0, threads=threads)
    assert unblur.get_threads() <= 1024
    assert unblur.convolve(x, k, threads=1024).shape == (8, 9)
    # The command line says so in one line (exit status 2) before doing anything.
    with pytest.raises(SystemExit) as exc:
        cli.main(["simulate", "a.png", "--psf", "disk:radius=2", "--threads", str(threads)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--threads must be <= 1024" in err and "Traceback" not in err


@pytest.mark.parametrize("threads", [1025, 10**6, 2**31 - 1])
def test_the_core_itself_bounds_the_thread_count(threads):
    # For native callers and the bindings, not only through the Python layer's check.
    core = unblur._core
    x, k = np.ones((8, 9)), np.ones((3, 3))
    with pytest.raises(ValueError, match="threads must be <= 1024"):
        core.gaussian_filter(x, [1.0, 1.0], threads=threads)
    with pytest.raises(ValueError, match="threads must be <= 1024"):
        core.richardson_lucy(x, k, iterations=1, threads=threads)
    with pytest.raises(ValueError, match=r"threads must be in \[1, 1024\]"):
        core.set_threads(threads)
    assert core.get_threads() <= 1024


def test_the_core_itself_bounds_path_sampling():
    # The Python layer used to measure the shake trajectory itself before calling the
    # core; now the core refuses before sampling, for every caller.
    core = unblur._core
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"samples at 16 per pixel: more than the limit of 16777216"):
        core.shake_psf(1e9, 0, 64, 0.9, [33, 33], "float64")
    with pytest.raises(ValueError, match=r"samples at 16 per pixel: more than the limit of 16777216"):
        core.motion_psf(1e9, 0.0, [33, 33], "float64")
    assert time.perf_counter() - t0 < 1
    assert core.motion_psf(1e6, 0.0, [33, 33], "float64").shape == (33, 33)  # 1.6e7 samples: allowed


@pytest.mark.parametrize("extent, steps, smoothness", [(1e9, 64, 0.9), (1e6, 64, 0.9), (30000, 10**6, 0.0)])
def test_shake_refuses_a_trajectory_too_long_to_sample_instead_of_hanging(extent, steps, smoothness):
    # psf.shake(1e9) ran for minutes and filled the memory: the core samples the
    # trajectory every 1/16 pixel before it checks the PSF's size.
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="samples"):
        unblur.psf.shake(extent, steps=steps, smoothness=smoothness, size=33)
    assert time.perf_counter() - t0 < 10


def test_shake_keeps_every_result_under_the_sample_limit():
    for kwargs in (dict(extent=15), dict(extent=200, steps=1000), dict(extent=3000, steps=2000, smoothness=0.99),
                   dict(extent=40, steps=10**5, smoothness=0.0, size=101)):
        psf = unblur.psf.shake(**kwargs)
        assert psf.ndim == 2 and abs(psf.sum() - 1) < 1e-12


@pytest.mark.parametrize("method", METHODS)
def test_deconvolve_gives_the_methods_own_result_bit_for_bit(method):
    # deconvolve normalised the PSF (in float32), then the method normalised it again:
    # results differed from the method's in the last bit (found by
    # test_deconvolve_with_a_method_is_that_method: wiener, a 2 x 7 float32 image).
    rng = np.random.default_rng(3)
    image = rng.random((2, 7)).astype(np.float32)
    psf = np.array([[0.0, 0.49927786, 0.60149836, 0.05, 0.14792608, 0.92821102, 0.0]])
    params = {"rl": {"iterations": 5}, "tv": {"iterations": 5}}.get(method, {})
    if method in ("rl", "tv"):
        image = rng.random((9, 11)).astype(np.float32)
    direct = FUNCTIONS[method](image, psf, boundary="periodic", **params)
    np.testing.assert_array_equal(unblur.deconvolve(image, psf, method=method, boundary="periodic", **params), direct)


@pytest.mark.parametrize("dtype", ["m8[s]", "m8[ns]", "M8[D]"])
def test_time_dtypes_are_type_errors_for_images_and_kernels(dtype):
    # np.issubdtype(timedelta64, np.integer) is True: a timedelta kernel or PSF was
    # silently taken as numbers (convolve and wiener returned results), a timedelta
    # image was "ValueError: Invalid integer data type 'm'." (from np.iinfo).
    x = np.random.default_rng(0).random((8, 9))
    t = np.ones((3, 3), dtype)
    for call in (lambda: unblur.convolve(x, t), lambda: unblur.wiener(x, t), lambda: unblur.convolve(t, x[:3, :3]),
                 lambda: unblur.gaussian_filter(t, 1.0), lambda: unblur.metrics.psnr(t, t)):
        with pytest.raises(TypeError, match="numeric"):
            call()


def test_a_zero_dimensional_array_is_a_scalar_sigma():
    # gaussian_filter(x, np.array(1.0)) raised "TypeError: iteration over a 0-d array"
    # (not naming sigma), though unblur.psf.gaussian takes such a sigma.
    x = np.random.default_rng(0).random((9, 10))
    np.testing.assert_array_equal(unblur.gaussian_filter(x, np.array(1.5)), unblur.gaussian_filter(x, 1.5))
    np.testing.assert_array_equal(unblur.gaussian_filter(x, np.float32(1.5)), unblur.gaussian_filter(x, 1.5))
    with pytest.raises(TypeError, match="sigma"):
        unblur.gaussian_filter(x, np.array(True))
