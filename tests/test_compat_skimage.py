"""unblur.compat.skimage against scikit-image 0.26 itself, on fresh random inputs.

What "equal" means here, per function:

* wiener, richardson_lucy: the same closed form / the same iteration computed by
  other FFT code, so the results differ by FFT round-off, which grows like eps log N
  relative to the largest value, not to each value: ``_close`` allows conftest's RTOL
  (float32 2e-5, float64 1e-11) times ``|want| + max|want|``. Measured: float32
  <= 1.1e-6, float64 <= 3e-15 of the maximum (wiener; richardson_lucy after 10
  iterations: 5e-7 and 1.6e-15; its multiplicative update does not amplify rounding).
  The tolerances of the balance and PSFs used: the filter's gain
  max|H| / (|H|^2 + balance |D|^2) stays small for balance >= 0.01.
* unsupervised_wiener: a Gibbs sampler, random. unblur draws the same numbers from
  the same generator in the same order (two normal arrays, two gamma variates per
  iteration), so with the same seed the chains are the same up to the rounding of the
  arithmetic between draws, which the chain carries along (each gamma draw's scale is
  a smooth function of the previous sample) but does not amplify: over 30 seeds of
  noisy 48 x 53 images the largest relative differences were 1.5e-6 (float32; both
  libraries lose digits to the cancellation in the residual ``Y - H X``) and 2.4e-15
  (float64) in the chains and 8.7e-7 / 1.8e-15 of the maximum in the image. So the
  rule is: identical chain lengths (the same stopping iteration) and ``_close`` for the
  image and for every element of both chains, and the caller's generator left in the
  state scikit-image leaves it (its next draw is the same).
* denoise_tv_chambolle: the same array operations in the same order (see
  unblur.compat.skimage._tv_chambolle), so the results are bit-identical on NumPy;
  asserted exactly, since one different rounding of the monitored energy could change
  the stopping iteration.
"""

from __future__ import annotations

import doctest
import inspect

import numpy as np
import pytest
import scipy.signal
import skimage.restoration as skr
import unblur
import unblur.compat.skimage as compat_module
from conftest import RTOL
from unblur.compat import skimage as compat

NAMES = ["wiener", "unsupervised_wiener", "richardson_lucy", "denoise_tv_chambolle"]


def _close(got, want, dtype, scale=None):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    r = RTOL[np.dtype(dtype).type]
    scale = float(np.abs(want).max()) if scale is None else scale
    np.testing.assert_allclose(got, want, rtol=r, atol=r * scale)


def _scene(rng, shape):
    """A smooth random image in [0, 1] (what deblurring is for)."""
    x = unblur.gaussian_filter(rng.random(shape), 1.5) if len(shape) in (2, 3) else rng.random(shape)
    x = x - x.min()
    return x / x.max()


def _blurred(rng, shape, psf, dtype, noise=0.01):
    x = _scene(rng, shape)
    g = scipy.signal.fftconvolve(x, psf / psf.sum(), mode="same") + rng.normal(0, noise, shape)
    return g.astype(dtype)


# ---- the interface ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_signature_is_skimages(name):
    ours = inspect.signature(getattr(compat, name)).parameters
    theirs = inspect.signature(getattr(skr, name)).parameters
    assert list(ours) == list(theirs)
    for key in theirs:
        assert ours[key].kind == theirs[key].kind, key
        assert ours[key].default == theirs[key].default, key


def test_module_interface_and_examples():
    assert sorted(compat.__all__) == sorted(NAMES)
    assert unblur.compat.skimage is compat_module
    for name in NAMES:
        assert ">>>" in getattr(compat, name).__doc__
    result = doctest.testmod(compat_module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ---- wiener -----------------------------------------------------------------------------------------------
WIENER_CASES = [
    # image shape, psf shape, regulariser
    ((40, 51), (5, 5), None),
    ((40, 51), (4, 6), None),  # even PSF: centre k // 2, as skimage's ir2tf
    ((41, 50), (7, 3), "delta"),
    ((40, 51), (5, 5), "asymmetric"),  # only the real part of its transfer function counts
    ((40, 51), (3, 5), "transfer"),  # a complex regulariser: a transfer function
    ((24, 26, 3), (5, 5, 1), None),  # colour as skimage sees it: a volume, Laplacian along channels too
    ((12, 14, 10), (3, 5, 3), "delta"),
]


def _regulariser(kind, image_shape, is_real, rng):
    ndim = len(image_shape)
    if kind is None:
        return None
    if kind == "delta":
        reg = np.zeros((3,) * ndim)
        reg[(1,) * ndim] = 1
        return reg
    if kind == "asymmetric":
        return rng.normal(size=(2,) + (3,) * (ndim - 1))
    lap = np.zeros((3,) * ndim)
    lap[(1,) * ndim] = 2 * ndim
    for axis in range(ndim):
        for side in (0, 2):
            idx = [1] * ndim
            idx[axis] = side
            lap[tuple(idx)] = -1
    padded = np.zeros(image_shape)
    padded[(slice(0, 3),) * ndim] = lap
    padded = np.roll(padded, (-1,) * ndim, axis=tuple(range(ndim)))
    return np.fft.rfftn(padded) if is_real else np.fft.fftn(padded)


@pytest.mark.parametrize("shape, psf_shape, reg_kind", WIENER_CASES)
@pytest.mark.parametrize("is_real", [True, False])
def test_wiener_matches_skimage(rng, dtype, shape, psf_shape, reg_kind, is_real):
    psf = rng.random(psf_shape)  # not normalised: skimage uses the PSF as given
    g = _blurred(rng, shape, psf, dtype)
    reg = _regulariser(reg_kind, shape, is_real, rng)
    for clip in (False, True):
        want = skr.wiener(g, psf, 0.05, reg=reg, is_real=is_real, clip=clip)
        got = compat.wiener(g, psf, 0.05, reg=reg, is_real=is_real, clip=clip)
        _close(got, want, dtype)
    assert np.abs(got).max() <= 1 if not is_real else got.max() <= 1


def test_wiener_transfer_function_psf_and_other_inputs(rng, dtype):
    shape = (32, 45)
    g = _blurred(rng, shape, np.ones((5, 5)), dtype)
    tf = np.fft.rfftn(np.roll(np.pad(np.ones((5, 5)) / 25, ((0, 27), (0, 40))), (-2, -2), (0, 1)))
    for psf in (tf, tf.real.copy()):  # an array of the spectrum's shape is a transfer function
        _close(compat.wiener(g, psf, 0.1), skr.wiener(g, psf, 0.1), dtype)
    negative = -rng.random((5, 5))  # a sum < 0 cannot be normalised: the NumPy route
    _close(compat.wiener(g, negative, 0.1, clip=False), skr.wiener(g, negative, 0.1, clip=False), dtype)
    for other in (rng.random(60), rng.random((6, 5, 4, 7))):  # 1-D and 4-D: NumPy route
        psf = rng.random((3,) * other.ndim)
        _close(compat.wiener(other.astype(dtype), psf, 0.1), skr.wiener(other.astype(dtype), psf, 0.1), dtype)


def test_wiener_integer_and_float16_images(rng):
    g8 = (rng.random((30, 33)) * 255).astype(np.uint8)
    psf = rng.random((3, 3))
    want = skr.wiener(g8, psf, 0.1, clip=False)  # float64, values not rescaled
    _close(compat.wiener(g8, psf, 0.1, clip=False), want, np.float64)
    g16 = rng.random((30, 33)).astype(np.float16)
    _close(compat.wiener(g16, psf, 0.1), skr.wiener(g16, psf, 0.1), np.float32)


# ---- unsupervised_wiener ----------------------------------------------------------------------------------
def _same_chain(got, want, dtype):
    (x, chains), (x_ref, chains_ref) = got, want
    _close(x, x_ref, dtype)
    for key in ("noise", "prior"):
        assert len(chains[key]) == len(chains_ref[key])
        assert chains[key][0] == chains_ref[key][0] == 1
        assert all(isinstance(v, float) for v in chains[key][1:])
        np.testing.assert_allclose(chains[key], chains_ref[key], rtol=RTOL[np.dtype(dtype).type], atol=0)


@pytest.mark.parametrize("is_real", [True, False])
def test_unsupervised_wiener_same_seed_same_chain(rng, dtype, is_real):
    psf = rng.random((5, 5))
    g = _blurred(rng, (48, 53), psf, dtype, noise=0.02)
    seed = int(rng.integers(2**31))
    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    got = compat.unsupervised_wiener(g, psf, is_real=is_real, clip=False, rng=ours)
    want = skr.unsupervised_wiener(g, psf, is_real=is_real, clip=False, rng=theirs)
    _same_chain(got, want, dtype)
    assert ours.random() == theirs.random()  # the generator is left where skimage leaves it
    clipped = compat.unsupervised_wiener(g, psf, is_real=is_real, rng=seed)[0]
    _close(clipped, skr.unsupervised_wiener(g, psf, is_real=is_real, rng=seed)[0], dtype)


def test_unsupervised_wiener_options(rng, dtype):
    psf = rng.random((3, 5))
    g = _blurred(rng, (40, 40), psf, dtype, noise=0.05)  # square: half spectrum 40 x 21
    reg = np.zeros((3, 3))
    reg[1, 1] = 1
    params = {"threshold": 1e-3, "burnin": 5, "min_num_iter": 8, "max_num_iter": 60}
    samples = {"ours": [], "theirs": []}
    seed = int(rng.integers(2**31))
    got = compat.unsupervised_wiener(g, psf, reg=reg, rng=seed,
                                     user_params=dict(params, callback=lambda x: samples["ours"].append(x.copy())))
    want = skr.unsupervised_wiener(g, psf, reg=reg, rng=seed,
                                   user_params=dict(params, callback=lambda x: samples["theirs"].append(x.copy())))
    _same_chain(got, want, dtype)
    assert len(samples["ours"]) == len(samples["theirs"]) == len(got[1]["noise"]) - 1
    for a, b in zip(samples["ours"][:3], samples["theirs"][:3]):
        _close(a, b, dtype)
    # An 18 x 34 image has a square half spectrum (18 x 18), which skimage's norm takes for a
    # full spectrum (its columns are counted once): reproduced. In float64: on so few pixels
    # the float32 chains carry the two libraries' different roundings further (15 seeds: up
    # to 3.9e-6 relative, and one run 3.1e-5 at the 33rd sample, above float32's 2e-5; the
    # 40 x 40 and 48 x 53 chains stay below 1e-6), and this case checks the norm, not
    # float32 rounding; float64 chains agree to 5e-15.
    g = _blurred(rng, (18, 34), psf, np.float64, noise=0.05)
    _same_chain(compat.unsupervised_wiener(g, psf, rng=seed), skr.unsupervised_wiener(g, psf, rng=seed), dtype)
    # max_num_iter reached before the threshold
    short = {"max_num_iter": 20, "burnin": 3, "min_num_iter": 5, "threshold": 0.0}
    got = compat.unsupervised_wiener(g, psf, user_params=short, rng=seed)
    _same_chain(got, skr.unsupervised_wiener(g, psf, user_params=short, rng=seed), np.float64)
    assert len(got[1]["noise"]) == 21


def test_unsupervised_wiener_transfer_function_and_default_rng(rng):
    psf = np.ones((5, 5)) / 25
    g = _blurred(rng, (32, 36), psf, np.float64, noise=0.02)
    tf = np.fft.rfftn(np.roll(np.pad(psf, ((0, 27), (0, 31))), (-2, -2), (0, 1)))
    _same_chain(compat.unsupervised_wiener(g, tf, rng=3), skr.unsupervised_wiener(g, tf, rng=3), np.float64)
    x, chains = compat.unsupervised_wiener(g, psf)  # rng=None: a fresh generator
    assert x.shape == g.shape and len(chains["noise"]) > 30


# ---- richardson_lucy --------------------------------------------------------------------------------------
def _rl_case(rng, kind, dtype):
    """(image, psf) for one of the routes."""
    if kind == "odd":  # the C++ engine, PSF normalised
        psf = rng.random((5, 7))
        return np.maximum(_blurred(rng, (40, 45), psf, dtype), 0), (psf / psf.sum()).astype(dtype)
    if kind == "unnormalised":  # the C++ engine on the scaled problem
        psf = rng.random((5, 5))
        return np.maximum(_blurred(rng, (40, 45), psf, dtype), 0), psf
    if kind == "even":  # scipy's 'same' centring of an even PSF: NumPy route
        psf = rng.random((4, 6))
        return np.maximum(_blurred(rng, (40, 45), psf, dtype), 0), psf
    if kind == "negative image":  # not clipped as unblur.richardson_lucy would: NumPy route
        psf = rng.random((5, 5))
        g = _blurred(rng, (40, 45), psf, dtype) * dtype(0.8) + dtype(0.2)
        g[rng.random(g.shape) < 0.02] = -0.01  # sparse: the estimate stays positive (see below)
        return g, psf
    if kind == "signed psf":
        psf = rng.random((5, 5)) - 0.1
        return np.maximum(_blurred(rng, (40, 45), np.abs(psf), dtype), 0), psf
    if kind == "large psf":  # larger than the image along one axis
        psf = rng.random((3, 21))
        return np.maximum(_blurred(rng, (30, 15), psf[:, 3:18], dtype), 0), psf
    if kind == "colour":  # a volume with a PSF of shape (k, k, 1): channels apart
        psf = rng.random((7, 7, 1))
        return np.maximum(_blurred(rng, (30, 33, 3), psf, dtype), 0), psf
    if kind == "volume":
        psf = rng.random((3, 5, 3))
        return np.maximum(_blurred(rng, (10, 12, 14), psf, dtype), 0), psf
    if kind == "1-D":
        psf = rng.random(7)
        return np.maximum(_blurred(rng, (80,), psf, dtype), 0), psf
    psf = rng.random((3, 3, 3, 3))  # 4-D: the FFT route
    return np.maximum(_blurred(rng, (6, 7, 8, 9), psf, dtype), 0), psf


RL_KINDS = ["odd", "unnormalised", "even", "negative image", "signed psf", "large psf", "colour", "volume", "1-D",
            "4-D"]


@pytest.mark.parametrize("kind", RL_KINDS)
def test_richardson_lucy_matches_skimage(rng, dtype, kind):
    g, psf = _rl_case(rng, kind, dtype)
    # (Where negative regions make the estimate change sign, the blurred estimate crosses 0
    # and the ratio g / (h * x) is unstable: on a blurred image minus 0.2 with noise 0.1,
    # skimage itself moves by 1.6e-15, 7e-13 and 9e-8 of the maximum after 2, 4 and 10
    # iterations (float64) when the image is multiplied by 1 + 1e-15, and by 1.6e-4 after 2
    # iterations in float32 for a 1-ulp change, where ours came 10x closer than skimage's to
    # the float64 result. Those results are not determined to rounding by either library,
    # so they are no test of the implementation.)
    for num_iter, clip, filter_epsilon in ((10, False, None), (4, True, None), (6, False, 0.3)):
        want = skr.richardson_lucy(g, psf, num_iter=num_iter, clip=clip, filter_epsilon=filter_epsilon)
        got = compat.richardson_lucy(g, psf, num_iter=num_iter, clip=clip, filter_epsilon=filter_epsilon)
        _close(got, want, dtype)


def test_richardson_lucy_defaults_zero_iterations_and_integers(rng):
    g8 = (rng.random((30, 31)) * 200).astype(np.uint8)  # float64, not rescaled
    psf = np.ones((3, 3)) / 9
    _close(compat.richardson_lucy(g8, psf, clip=False), skr.richardson_lucy(g8, psf, clip=False), np.float64)
    _close(compat.richardson_lucy(g8, psf), skr.richardson_lucy(g8, psf), np.float64)  # 50 iterations, clipped
    g = rng.random((20, 21)).astype(np.float32)
    zero = compat.richardson_lucy(g, psf, num_iter=0)
    _close(zero, skr.richardson_lucy(g, psf, num_iter=0), np.float32)
    assert (zero == 0.5).all()
    g16 = g.astype(np.float16)
    _close(compat.richardson_lucy(g16, psf, 5), skr.richardson_lucy(g16, psf, 5), np.float32)


# ---- denoise_tv_chambolle ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, channel_axis", [((50, 61), None), ((14, 15, 16), None), ((90,), None),
                                                 ((30, 33, 3), -1), ((3, 30, 33), 0), ((12, 13, 2), 2)])
def test_denoise_tv_chambolle_is_skimages(rng, dtype, shape, channel_axis):
    noisy = (rng.random(shape) + rng.normal(0, 0.2, shape)).astype(dtype)
    for kwargs in (dict(), dict(weight=0.3, eps=1e-5), dict(weight=0.05, eps=0.0, max_num_iter=17)):
        want = skr.denoise_tv_chambolle(noisy, channel_axis=channel_axis, **kwargs)
        got = compat.denoise_tv_chambolle(noisy, channel_axis=channel_axis, **kwargs)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype_in", [np.uint8, np.uint16, np.int8, np.int16, np.bool_, np.float16])
def test_denoise_tv_chambolle_converts_as_skimage(rng, dtype_in):
    if dtype_in == np.bool_:
        image = rng.random((30, 31)) > 0.5
    elif dtype_in == np.float16:
        image = rng.random((30, 31)).astype(np.float16)
    else:
        info = np.iinfo(dtype_in)
        image = rng.integers(info.min, info.max, (30, 31), endpoint=True).astype(dtype_in)
    want = skr.denoise_tv_chambolle(image, weight=0.2)
    got = compat.denoise_tv_chambolle(image, weight=0.2)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_denoise_tv_chambolle_one_iteration_returns_a_copy(rng):
    image = rng.random((10, 11))
    out = compat.denoise_tv_chambolle(image, max_num_iter=1)
    np.testing.assert_array_equal(out, skr.denoise_tv_chambolle(image, max_num_iter=1))
    assert out is not image and not np.shares_memory(out, image)


# ---- arguments --------------------------------------------------------------------------------------------
IMAGE = np.linspace(0, 1, 24 * 25).reshape(24, 25)
PSF = np.ones((3, 3)) / 9

BAD = [
    # (function, args, kwargs, exception, message fragment)
    ("wiener", (None, PSF, 0.1), {}, TypeError, "image"),
    ("wiener", (IMAGE + 0j, PSF, 0.1), {}, TypeError, "image"),
    ("wiener", (np.where(IMAGE > 0.5, np.nan, IMAGE), PSF, 0.1), {}, ValueError, "image"),
    ("wiener", (IMAGE, np.ones(3), 0.1), {}, ValueError, "psf"),
    ("wiener", (IMAGE, np.ones((30, 3)), 0.1), {}, ValueError, "psf"),
    ("wiener", (IMAGE, "psf", 0.1), {}, TypeError, "psf"),
    ("wiener", (IMAGE, PSF, "0.1"), {}, TypeError, "balance"),
    ("wiener", (IMAGE, PSF, -1.0), {}, ValueError, "balance"),
    ("wiener", (IMAGE, PSF, np.ones(3)), {}, TypeError, "balance"),
    ("wiener", (IMAGE, PSF, 0.1), dict(reg=np.ones((3, 3), complex)), ValueError, "reg"),
    ("wiener", (IMAGE, PSF, 0.1), dict(reg=np.ones((3, 3, 3))), ValueError, "reg"),
    ("wiener", (IMAGE, PSF, 0.1), dict(is_real=1), TypeError, "is_real"),
    ("wiener", (IMAGE, PSF, 0.1), dict(clip="yes"), TypeError, "clip"),
    ("unsupervised_wiener", (np.ones((4, 5, 6)), np.ones((3, 3, 3))), {}, ValueError, "2-D"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(user_params=[("burnin", 3)]), TypeError, "user_params"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(user_params={"max_iter": 5}), ValueError, "max_iter"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(user_params={"burnin": -1}), ValueError, "burnin"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(user_params={"burnin": 2.5}), TypeError, "burnin"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(user_params={"max_num_iter": 16}), ValueError, "max_num_iter"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(user_params={"threshold": "1e-4"}), TypeError, "threshold"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(user_params={"callback": 3}), TypeError, "callback"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(rng="seed"), TypeError, "rng"),
    ("unsupervised_wiener", (IMAGE, PSF), dict(clip=None), TypeError, "clip"),
    ("richardson_lucy", (IMAGE, PSF + 0j), {}, TypeError, "psf"),
    ("richardson_lucy", (IMAGE, np.ones((3, 3, 1))), {}, ValueError, "psf"),
    ("richardson_lucy", (IMAGE, PSF), dict(num_iter=2.5), TypeError, "num_iter"),
    ("richardson_lucy", (IMAGE, PSF), dict(num_iter=True), TypeError, "num_iter"),
    ("richardson_lucy", (IMAGE, PSF), dict(num_iter=-1), ValueError, "num_iter"),
    ("richardson_lucy", (IMAGE, PSF), dict(filter_epsilon=-1e-3), ValueError, "filter_epsilon"),
    ("richardson_lucy", (IMAGE, PSF), dict(filter_epsilon="small"), TypeError, "filter_epsilon"),
    ("richardson_lucy", (IMAGE, PSF), dict(clip=1), TypeError, "clip"),
    ("richardson_lucy", (IMAGE.astype(object), PSF), {}, TypeError, "image"),
    ("denoise_tv_chambolle", (IMAGE + 1j,), {}, TypeError, "image"),
    ("denoise_tv_chambolle", (np.array([]),), {}, ValueError, "image"),
    ("denoise_tv_chambolle", (IMAGE,), dict(weight=0), ValueError, "weight"),
    ("denoise_tv_chambolle", (IMAGE,), dict(weight="strong"), TypeError, "weight"),
    ("denoise_tv_chambolle", (IMAGE,), dict(eps=-1e-4), ValueError, "eps"),
    ("denoise_tv_chambolle", (IMAGE,), dict(max_num_iter=0), ValueError, "max_num_iter"),
    ("denoise_tv_chambolle", (IMAGE,), dict(channel_axis=2), ValueError, "channel_axis"),
    ("denoise_tv_chambolle", (IMAGE,), dict(channel_axis=1.0), TypeError, "channel_axis"),
    ("denoise_tv_chambolle", (np.ones(5),), dict(channel_axis=0), ValueError, "channel_axis"),
]


@pytest.mark.parametrize("name, args, kwargs, error, fragment", BAD,
                         ids=[f"{b[0]}-{b[4]}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments(name, args, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        getattr(compat, name)(*args, **kwargs)


def test_inputs_are_not_modified(rng):
    g = rng.random((20, 22))
    psf = rng.random((3, 3))
    g0, psf0 = g.copy(), psf.copy()
    compat.wiener(g, psf, 0.1)
    compat.unsupervised_wiener(g, psf, rng=0)
    compat.richardson_lucy(g, psf, 3)
    compat.richardson_lucy(g, psf, 3, filter_epsilon=0.1)
    compat.denoise_tv_chambolle(g)
    np.testing.assert_array_equal(g, g0)
    np.testing.assert_array_equal(psf, psf0)


# ---- CuPy arrays (the stand-in of tests/cupy_standin.py) --------------------------------------------------
def test_cupy_arrays_give_the_numpy_results(fake_cupy, rng):
    cp = fake_cupy
    dtype = np.float32
    psf = rng.random((5, 5))
    g = np.maximum(_blurred(rng, (32, 35), psf, dtype, noise=0.02), 0)
    dg = cp.asarray(g)

    def same(got, want):
        assert type(got).__module__.startswith("cupy")
        _close(got.get(), want, dtype)

    same(compat.wiener(dg, psf, 0.05), compat.wiener(g, psf, 0.05))  # unblur.tikhonov on the device
    same(compat.wiener(dg, cp.asarray(psf), 0.05, is_real=False), compat.wiener(g, psf, 0.05, is_real=False))
    reg = rng.random((3, 3))
    same(compat.wiener(dg, psf, 0.05, reg=reg), compat.wiener(g, psf, 0.05, reg=reg))
    same(compat.richardson_lucy(dg, psf, 5), compat.richardson_lucy(g, psf, 5))
    even = rng.random((4, 4))
    same(compat.richardson_lucy(dg, even, 5, filter_epsilon=0.1), compat.richardson_lucy(g, even, 5, filter_epsilon=0.1))
    (x, chains), (x_ref, chains_ref) = compat.unsupervised_wiener(dg, psf, rng=5), compat.unsupervised_wiener(g, psf, rng=5)
    same(x, x_ref)
    np.testing.assert_allclose(chains["noise"], chains_ref["noise"], rtol=RTOL[dtype])
    colour = rng.random((20, 21, 3)).astype(dtype)
    got = compat.denoise_tv_chambolle(cp.asarray(colour), weight=0.2, channel_axis=-1)
    np.testing.assert_array_equal(got.get(), skr.denoise_tv_chambolle(colour, weight=0.2, channel_axis=-1))
    with pytest.raises(TypeError, match="psf"):
        compat.wiener(g, cp.asarray(psf), 0.05)


@pytest.mark.slow
def test_defaults_on_a_photograph(dtype):
    """Every function with scikit-image's defaults on a 384 x 384 photograph (the
    default run's cases are small)."""
    photo = (unblur.data.astronaut()[..., 1] / 255.0).astype(dtype)
    psf = np.ones((5, 5)) / 25
    g = np.maximum(scipy.signal.fftconvolve(photo, psf, mode="same")
                   + np.random.default_rng(0).normal(0, 0.01, photo.shape), 0).astype(dtype)
    _close(compat.wiener(g, psf, 0.05), skr.wiener(g, psf, 0.05), dtype)
    _close(compat.richardson_lucy(g, psf), skr.richardson_lucy(g, psf), dtype)
    _same_chain(compat.unsupervised_wiener(g, psf, rng=1), skr.unsupervised_wiener(g, psf, rng=1), dtype)
    colour = unblur.data.astronaut().astype(dtype) / 255
    np.testing.assert_array_equal(compat.denoise_tv_chambolle(colour, channel_axis=-1),
                                  skr.denoise_tv_chambolle(colour, channel_axis=-1))
