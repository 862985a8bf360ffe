"""Richardson–Lucy: the C++ core against the array-API reference and scikit-image, and
properties that a wrong implementation fails."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import unblur
from conftest import tol
from unblur._xp import richardson_lucy as ref

# A few iterations amplify the FFT round-off of each step; these factors on the
# conftest tolerances cover it for the sizes used here.
ITER_FACTOR = {np.float32: 20, np.float64: 100}


def _itol(dtype):
    t = tol(dtype)
    f = ITER_FACTOR[np.dtype(dtype).type]
    return {"rtol": t["rtol"] * f, "atol": t["atol"] * f}


def assert_state_close(got, want, psf, shape, boundary, dtype, weights=None):
    """Compare two RL states' estimates (on the model's grid; ``shape``: the observed
    image's), each pixel within _itol scaled by how little of the data sees it.

    On the 'auto' grid a halo pixel p is seen by the fraction s(p) = (A^T w)(p) / max A^T w
    of the observations (w: the weights, or ones). The float32 FFTs leave absolute errors
    of a few eps * max in both A^T r and A^T w, so the multiplicative update there carries
    relative errors up to ~eps / s(p): measured over 300 random problems (40 x 45, 7 x 5
    PSF, 6 accelerated iterations), the C++ and xp faces were each 3e-6 from the float64
    result where s = 1 and 3e-4 where s = 0.002 (the corners), and 5e-13 from each other
    in float64. The tolerance is therefore _itol / s(p); pixels the engine holds (s below
    HELD_FRACTION, never updated) and every pixel of the other boundaries keep _itol.
    """
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    t = _itol(dtype)
    scale = np.ones(want.shape)
    if boundary == "auto":
        from unblur._xp.blur_operator import BlurOperator

        h = np.asarray(psf, np.float64)
        op = BlurOperator(h / h.sum(), tuple(shape), True)
        assert op.grid_shape == want.shape, (op.grid_shape, want.shape)
        support = op.adjoint(np.ones(op.observed_shape) if weights is None else np.asarray(weights, np.float64))
        s = support / support.max()
        scale = np.where(s > ref.HELD_FRACTION, 1 / np.maximum(s, ref.HELD_FRACTION), 1.0)
    bad = np.abs(got - want) > (t["atol"] + t["rtol"] * np.abs(want)) * scale
    assert not bad.any(), (f"{int(bad.sum())} of {bad.size} state pixels differ beyond the support-scaled "
                           f"tolerance; worst |diff| {np.abs(got - want)[bad].max():.3g} at support "
                           f"{float(np.min(np.where(bad, 1 / scale, 1))):.3g}")


def _scene(rng, shape):
    """A smooth non-negative scene with a few sharp features."""
    x = scipy.ndimage.gaussian_filter(rng.random(shape), 2.0) + 0.2
    sl = tuple(slice(n // 3, n // 3 + max(2, n // 6)) for n in shape)
    x[sl] += 1.0
    return x


def _psf(shape, sigma=1.3):
    grids = np.meshgrid(*[np.arange(k) - k // 2 for k in shape], indexing="ij")
    p = np.exp(-sum(g.astype(float) ** 2 for g in grids) / (2 * sigma**2))
    p[tuple(k // 2 + 1 for k in shape)] += 0.3  # asymmetric: catches a missing flip
    return p / p.sum()


def _blurred(rng, shape, psf_shape, dtype, noise=0.0):
    psf = _psf(psf_shape)
    x = _scene(rng, shape)
    g = unblur.convolve(x, psf, boundary="periodic")
    g = g + noise * rng.standard_normal(shape)
    return np.maximum(g, 0).astype(dtype), psf.astype(dtype), x


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect", "zero"])
@pytest.mark.parametrize("accelerate", [False, True])
def test_core_matches_reference(rng, dtype, simd, boundary, accelerate):
    g, psf, _ = _blurred(rng, (40, 45), (7, 5), dtype, noise=0.01)
    kw = dict(iterations=6, boundary=boundary, accelerate=accelerate)
    out, info = unblur.richardson_lucy(g, psf, return_info=True, **kw)
    want, rinfo = ref.richardson_lucy(g, psf / psf.sum(dtype=np.float64).astype(dtype), **kw)
    assert out.dtype == dtype and out.shape == g.shape
    np.testing.assert_allclose(out, want, **_itol(dtype))
    assert_state_close(info["state"]["estimate"], rinfo["state"]["estimate"], psf, g.shape, boundary, dtype)
    assert info["iterations"] == 6 and info["stopped_by"] == "iterations" and info["method"] == "richardson_lucy"


@pytest.mark.parametrize("options", [
    dict(damping=0.02), dict(tv_weight=0.01), dict(background=0.1), dict(weights=True),
    dict(damping=0.01, tv_weight=0.005, weights=True, background=0.05),
])
@pytest.mark.parametrize("boundary", ["auto", "reflect", "zero"])
def test_options_match_reference(rng, dtype, simd, options, boundary):
    g, psf, _ = _blurred(rng, (36, 33), (5, 7), dtype, noise=0.01)
    options = dict(options)
    if options.get("weights"):
        options["weights"] = (rng.random(g.shape) > 0.2).astype(dtype) * rng.random(g.shape).astype(dtype)
    psf = psf / psf.sum(dtype=np.float64).astype(dtype)
    out = unblur.richardson_lucy(g, psf, iterations=5, boundary=boundary, **options)
    want, _ = ref.richardson_lucy(g, psf, iterations=5, boundary=boundary, **options)
    np.testing.assert_allclose(out, want, **_itol(dtype))


@pytest.mark.parametrize("accelerate", [False, True])
def test_tv_iteration_is_stable(rng, accelerate):
    # The explicit TV update amplifies rough perturbations in flat regions by about
    # 8 lambda mean / epsilon per iteration; with epsilon = 1e-3 of the mean (before
    # its lower bound 8 lambda mean), a 1e-9 change of the input grew to ~1e-2 of the
    # output in 40 iterations. Now it stays at the size of the change.
    g, psf, _ = _blurred(rng, (36, 33), (5, 7), np.float64, noise=0.01)
    kw = dict(iterations=40, boundary="auto", accelerate=accelerate, tv_weight=0.01)
    a = unblur.richardson_lucy(g, psf, **kw)
    b = unblur.richardson_lucy(g + 1e-9 * rng.standard_normal(g.shape), psf, **kw)
    assert np.abs(a - b).max() < 1e-6


def test_3d_matches_reference_and_direct_flip(rng, dtype):
    g, psf, _ = _blurred(rng, (12, 14, 16), (3, 5, 3), dtype)
    out = unblur.richardson_lucy(g, psf, iterations=4, boundary="periodic", accelerate=True)
    want, _ = ref.richardson_lucy(g, psf, iterations=4, boundary="periodic", accelerate=True)
    np.testing.assert_allclose(out, want, **_itol(dtype))
    # One plain step, written with scipy.ndimage: x1 = x0 * (psf flipped on all axes) (*) (g / psf (*) x0).
    x0 = _scene(rng, g.shape).astype(np.float64)
    one = unblur.richardson_lucy(g, psf, iterations=1, boundary="periodic", accelerate=False,
                                 initial=x0.astype(dtype))
    p = psf.astype(np.float64)
    ratio = g / scipy.ndimage.convolve(x0, p, mode="wrap")
    direct = x0 * scipy.ndimage.convolve(ratio, p[::-1, ::-1, ::-1], mode="wrap")
    np.testing.assert_allclose(one, direct, rtol=1e-4 if dtype == np.float32 else 1e-9)
    wrong = x0 * scipy.ndimage.convolve(ratio, p, mode="wrap")  # no flip: must differ
    assert np.abs(wrong - direct).max() > 100 * np.abs(one - direct).max()


def test_zero_boundary_matches_skimage(rng, simd):
    import skimage.restoration as skimage_restoration
    psf = _psf((9, 7))
    img = np.maximum(scipy.signal.fftconvolve(_scene(rng, (50, 61)), psf, mode="same"), 0)
    for n in (1, 10):
        want = skimage_restoration.richardson_lucy(img, psf, num_iter=n, clip=False)
        out = unblur.richardson_lucy(img, psf, iterations=n, boundary="zero", accelerate=False)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_flux_is_conserved(rng):
    g, psf, _ = _blurred(rng, (40, 42), (7, 7), np.float64, noise=0.02)
    for n in (1, 7):
        out = unblur.richardson_lucy(g, psf, iterations=n, boundary="periodic", accelerate=False)
        assert out.sum() == pytest.approx(g.sum(), rel=1e-10)


@pytest.mark.parametrize("options", [dict(), dict(damping=0.05), dict(tv_weight=0.02), dict(accelerate=False)])
def test_positivity(rng, options):
    g, psf, _ = _blurred(rng, (48, 40), (9, 9), np.float32, noise=0.05)
    out = unblur.richardson_lucy(g, psf, iterations=30, **options)
    assert np.isfinite(out).all() and (out >= 0).all()


def test_periodic_converges_to_truth(rng):
    g, psf, x = _blurred(rng, (64, 64), (9, 9), np.float64)
    err = []
    for n in (5, 50, 300):
        out = unblur.richardson_lucy(g, psf, iterations=n, boundary="periodic")
        err.append(np.abs(out - x).mean())
    assert err[0] > err[1] > err[2]
    assert err[2] < 0.25 * np.abs(g - x).mean()


def test_auto_beats_periodic_at_the_border(rng):
    psf = _psf((11, 11), sigma=2.0)
    scene = _scene(rng, (90, 90))
    scene[:, 70:] += 1.5  # a bright region crossing the edge: periodic wrap-around hurts
    g = scipy.signal.fftconvolve(scene, psf, mode="valid")
    truth = scene[5:-5, 5:-5]
    border = np.ones(g.shape, bool)
    border[11:-11, 11:-11] = False
    errs = {}
    for b in ("auto", "periodic"):
        out = unblur.richardson_lucy(g, psf, iterations=40, boundary=b)
        errs[b] = np.abs(out - truth)[border].mean()
    assert errs["auto"] < 0.5 * errs["periodic"]


@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("boundary", ["auto", "zero"])
def test_resume_equals_one_run(rng, accelerate, boundary):
    g, psf, _ = _blurred(rng, (40, 36), (7, 5), np.float64, noise=0.01)
    kw = dict(boundary=boundary, accelerate=accelerate, return_info=True)
    full, info_full = unblur.richardson_lucy(g, psf, iterations=9, **kw)
    _, info4 = unblur.richardson_lucy(g, psf, iterations=4, **kw)
    rest, info5 = unblur.richardson_lucy(g, psf, iterations=5, initial=info4["state"], **kw)
    np.testing.assert_allclose(rest, full, rtol=1e-12, atol=1e-14)
    assert info5["state"]["iterations"] == 9 and info5["iterations"] == 5
    # The state passed in is not modified: resuming from it again gives the same.
    again = unblur.richardson_lucy(g, psf, iterations=5, initial=info4["state"], boundary=boundary,
                                   accelerate=accelerate)
    np.testing.assert_array_equal(again, rest)
    # The reference continues the same way.
    want, _ = ref.richardson_lucy(g, psf / psf.sum(), iterations=5, boundary=boundary, accelerate=accelerate,
                                  state=info4["state"])
    np.testing.assert_allclose(rest, want, **_itol(np.float64))


def test_zero_weight_pixels_are_ignored(rng):
    g, psf, _ = _blurred(rng, (40, 40), (7, 7), np.float64, noise=0.01)
    w = np.ones_like(g)
    w[10:14, 20:30] = 0
    w[0, :] = 0
    a, b = g.copy(), g.copy()
    a[w == 0] = 100.0
    b[w == 0] = 0.0
    ra = unblur.richardson_lucy(a, psf, iterations=10, weights=w)
    rb = unblur.richardson_lucy(b, psf, iterations=10, weights=w)
    np.testing.assert_allclose(ra, rb, rtol=1e-10, atol=1e-12)
    plain = unblur.richardson_lucy(a, psf, iterations=10)
    assert np.abs(plain - rb).max() > 1.0


def test_background(rng):
    g, psf, x = _blurred(rng, (48, 48), (7, 7), np.float64)
    b = 0.5
    with_b = unblur.richardson_lucy(g + b, psf, iterations=200, boundary="periodic", background=b)
    without = unblur.richardson_lucy(g + b, psf, iterations=200, boundary="periodic")
    assert with_b.mean() == pytest.approx(x.mean(), rel=0.01)
    assert without.mean() == pytest.approx(x.mean() + b, rel=0.01)
    assert np.abs(with_b - x).mean() < 0.5 * np.abs(without - x).mean()


def test_damping_and_tv_reduce_noise_amplification(rng):
    psf = _psf((9, 9), sigma=1.5)
    flat = np.full((64, 64), 0.5)
    sigma = 0.03
    g = np.maximum(flat + sigma * rng.standard_normal(flat.shape), 0)
    kw = dict(iterations=40, boundary="periodic")
    plain = unblur.richardson_lucy(g, psf, **kw).std()
    damped = unblur.richardson_lucy(g, psf, damping=3 * sigma, **kw).std()
    tv = unblur.richardson_lucy(g, psf, tv_weight=0.02, **kw).std()
    assert damped < 0.5 * plain and tv < 0.8 * plain


def test_automatic_stopping(rng):
    sigma = 0.02
    g, psf, _ = _blurred(rng, (64, 64), (9, 9), np.float64, noise=sigma)
    out, info = unblur.richardson_lucy(g, psf, return_info=True)
    assert info["stopped_by"] == "discrepancy"
    assert info["noise_sigma"] == pytest.approx(sigma, rel=0.3)
    assert info["residual"] <= info["noise_sigma"] ** 2
    assert 1 <= info["iterations"] < 200 and info["boundary"] == "auto"
    # Noise-free: no discrepancy to reach; the tolerance ends it.
    g0, psf0, _ = _blurred(rng, (48, 48), (7, 7), np.float64)
    _, info0 = unblur.richardson_lucy(g0, psf0, tolerance=1e-2, return_info=True, boundary="periodic")
    assert info0["stopped_by"] in ("tolerance", "discrepancy")
    _, info1 = unblur.richardson_lucy(g0, psf0, tolerance=0.0, return_info=True, boundary="periodic",
                                      accelerate=False)
    assert info1["stopped_by"] in ("max_iterations", "discrepancy")


@pytest.mark.parametrize("boundary", ["auto", "periodic"])
def test_a_given_noise_level_is_the_stops_target(rng, boundary):
    """noise_sigma replaces the estimate as the discrepancy target: the estimate itself,
    given, is the same run; a larger level stops earlier; units scale with the data."""
    g, psf, _ = _blurred(rng, (64, 64), (9, 9), np.float64, noise=0.02)
    auto, info = unblur.richardson_lucy(g, psf, boundary=boundary, return_info=True)
    same, same_info = unblur.richardson_lucy(g, psf, boundary=boundary, noise_sigma=info["noise_sigma"],
                                             return_info=True)
    np.testing.assert_array_equal(same, auto)
    assert same_info["iterations"] == info["iterations"]
    _, big = unblur.richardson_lucy(g, psf, boundary=boundary, noise_sigma=0.04, return_info=True)
    assert big["noise_sigma"] == 0.04 and big["stopped_by"] == "discrepancy" and big["residual"] <= 0.04**2
    assert big["iterations"] < info["iterations"]
    c = 2.0**-20
    scaled, scaled_info = unblur.richardson_lucy(g * c, psf, boundary=boundary, noise_sigma=0.04 * c,
                                                 return_info=True)
    assert scaled_info["iterations"] == big["iterations"] and scaled_info["noise_sigma"] == 0.04 * c
    # Colour: the same level for every channel.
    rgb = np.stack([g, g * 0.5], axis=-1)
    _, cinfo = unblur.richardson_lucy(rgb, psf, boundary=boundary, channel_axis=-1, noise_sigma=0.01,
                                      return_info=True)
    assert cinfo["noise_sigma"] == [0.01, 0.01]


def test_callback_reports_and_stops(rng):
    g, psf, _ = _blurred(rng, (32, 32), (5, 5), np.float32)
    seen = []

    def cb(state):
        seen.append(state)
        return state["iteration"] < 3

    _, info = unblur.richardson_lucy(g, psf, iterations=10, callback=cb, return_info=True)
    assert info["stopped_by"] == "callback" and info["iterations"] == 3
    assert [s["iteration"] for s in seen] == [1, 2, 3]
    assert all(s["max_iterations"] == 10 and s["objective"] >= 0 for s in seen)
    assert unblur.richardson_lucy(g, psf, iterations=2, callback=lambda s: None).shape == g.shape


def test_channel_axis_and_dtype_policy(rng):
    g, psf, _ = _blurred(rng, (30, 34), (5, 5), np.float32)
    rgb = np.stack([g, 0.5 * g, g**2], axis=-1)
    out, info = unblur.richardson_lucy(rgb, psf, iterations=3, channel_axis=-1, return_info=True)
    assert out.shape == rgb.shape and len(info["state"]) == 3
    for c in range(3):
        np.testing.assert_allclose(out[..., c], unblur.richardson_lucy(rgb[..., c], psf, iterations=3),
                                   **tol(np.float32))
    more = unblur.richardson_lucy(rgb, psf, iterations=2, channel_axis=-1, initial=info["state"])
    assert more.shape == rgb.shape
    as_int = unblur.richardson_lucy((g / g.max() * 255).astype(np.uint8), psf, iterations=2)
    assert as_int.dtype == np.float32


def test_negative_values_are_clipped_with_a_warning(rng):
    g, psf, _ = _blurred(rng, (32, 32), (5, 5), np.float64)
    h = g.copy()
    h[3, 4] = -0.5
    with pytest.warns(UserWarning, match="negative values.*clipped"):
        out = unblur.richardson_lucy(h, psf, iterations=3)
    h[3, 4] = 0
    np.testing.assert_array_equal(out, unblur.richardson_lucy(h, psf, iterations=3))


def test_negatives_from_noise_and_rounding_are_clipped_silently(rng):
    g, psf, _ = _blurred(rng, (48, 48), (5, 5), np.float64)
    dark = g * 0.02 + rng.normal(0, 0.01, g.shape)  # a dark image: noise dips below 0
    assert dark.min() < 0
    out = unblur.richardson_lucy(dark, psf, iterations=3)  # filterwarnings=error: no warning
    np.testing.assert_array_equal(out, unblur.richardson_lucy(np.maximum(dark, 0), psf, iterations=3))
    rounding = g.copy()
    rounding[0, 0] = -1e-9
    unblur.richardson_lucy(rounding, psf, iterations=2)


def test_initial_image(rng):
    g, psf, x = _blurred(rng, (40, 40), (7, 7), np.float64)
    out = unblur.richardson_lucy(g, psf, iterations=3, initial=x, boundary="periodic")
    want, _ = ref.richardson_lucy(g, psf / psf.sum(), iterations=3, initial=x, boundary="periodic")
    np.testing.assert_allclose(out, want, **_itol(np.float64))
    far = unblur.richardson_lucy(g, psf, iterations=3, boundary="periodic")
    assert np.abs(out - x).mean() < np.abs(far - x).mean()


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(iterations=0), ValueError, "iterations"),
    (dict(iterations=-2), ValueError, "iterations"),
    (dict(iterations=2.5), TypeError, "iterations"),
    (dict(damping=-1.0), ValueError, "damping"),
    (dict(tv_weight=-0.1), ValueError, "tv_weight"),
    (dict(background=-0.1), ValueError, "background"),
    (dict(tolerance=-1.0), ValueError, "tolerance"),
    (dict(boundary="mirror"), ValueError, "boundary"),
    (dict(weights=np.ones((5, 5))), ValueError, "weights"),
    (dict(weights=-np.ones((32, 32))), ValueError, "weights"),
    (dict(weights=np.zeros((32, 32))), ValueError, "weights"),
    (dict(initial=np.ones((31, 32))), ValueError, "initial"),
    (dict(initial=-np.ones((32, 32))), ValueError, "initial"),
    (dict(initial={"foo": 1}), ValueError, "initial"),
    (dict(callback=3), TypeError, "callback"),
    (dict(accelerate="yes"), TypeError, "accelerate"),
    (dict(threads=0), ValueError, "threads"),
    (dict(noise_sigma=-1.0), ValueError, "noise_sigma"),
    (dict(noise_sigma="x"), ValueError, "noise_sigma"),
    (dict(noise_sigma=None), TypeError, "noise_sigma"),
])
def test_bad_arguments(kwargs, exc, match):
    g = np.ones((32, 32))
    with pytest.raises(exc, match=match):
        unblur.richardson_lucy(g, np.ones((3, 3)), **kwargs)


def test_bad_image_and_psf():
    g = np.ones((32, 32))
    with pytest.raises(ValueError, match="image"):
        bad = g.copy()
        bad[0, 0] = np.nan
        unblur.richardson_lucy(bad, np.ones((3, 3)))
    with pytest.raises(ValueError, match="psf"):
        unblur.richardson_lucy(g, np.ones((33, 3)))
    with pytest.raises(ValueError, match="psf"):
        unblur.richardson_lucy(g, np.ones((4, 3)))
    with pytest.raises(ValueError, match="image"):
        unblur.richardson_lucy(np.ones(32), np.ones(3))
    with pytest.raises(TypeError, match="image"):
        unblur.richardson_lucy(g.astype(complex), np.ones((3, 3)))


def test_state_of_another_boundary_is_rejected(rng):
    g, psf, _ = _blurred(rng, (32, 32), (5, 5), np.float64)
    _, info = unblur.richardson_lucy(g, psf, iterations=2, return_info=True)
    with pytest.raises(ValueError, match="initial"):
        unblur.richardson_lucy(g, psf, iterations=2, boundary="periodic", initial=info["state"])


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect"])
@pytest.mark.parametrize("exponent", [-100, -40, 100])
def test_result_scales_with_the_data(rng, dtype, boundary, exponent):
    # RL is scale-equivariant, but the ratio g / (A x + 1e-12) has an absolute epsilon:
    # data of scale 1e-12 (physical units: fluxes, irradiances) came back 86% wrong
    # after 20 iterations, silently; float32 data of scale 1e30 came back all NaN
    # (squared residuals overflowed). ('zero' is scikit-image's iteration, its epsilon
    # included: test_zero_boundary_matches_skimage.)
    if dtype == np.float32 and exponent == -100:
        exponent = -60  # float32's normal range ends at 2**-126: a scaled image would be subnormal
    g, psf, _ = _blurred(rng, (32, 36), (5, 7), dtype, noise=0.01)
    c = 2.0 ** exponent  # a power of two: the scaled data is exactly the data, rescaled
    seen = {"unit": [], "scaled": []}
    kw = dict(boundary=boundary, damping=0.02, background=0.05, return_info=True)
    out, info = unblur.richardson_lucy(g, psf, callback=seen["unit"].append, **kw)
    kw.update(damping=0.02 * c, background=0.05 * c)
    got, got_info = unblur.richardson_lucy(g * dtype(c), psf, callback=seen["scaled"].append, **kw)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, out * dtype(c))
    assert got_info["iterations"] == info["iterations"] and got_info["stopped_by"] == info["stopped_by"]
    assert got_info["noise_sigma"] == info["noise_sigma"] * c
    assert got_info["residual"] == info["residual"] * c * c
    assert [s["objective"] for s in seen["scaled"]] == [s["objective"] * c * c for s in seen["unit"]]
    # The state is in the image's units: resuming from it continues the same run.
    _, half = unblur.richardson_lucy(g * dtype(c), psf, iterations=3, boundary=boundary, return_info=True)
    np.testing.assert_array_equal(half["state"]["estimate"] * dtype(1 / c),
                                  unblur.richardson_lucy(g, psf, iterations=3, boundary=boundary,
                                                         return_info=True)[1]["state"]["estimate"])
    rest = unblur.richardson_lucy(g * dtype(c), psf, iterations=4, boundary=boundary, initial=half["state"])
    np.testing.assert_array_equal(rest, unblur.richardson_lucy(g, psf, iterations=7, boundary=boundary) * dtype(c))
    start = unblur.richardson_lucy(g * dtype(c), psf, iterations=3, boundary=boundary, initial=g * dtype(c))
    np.testing.assert_array_equal(start, unblur.richardson_lucy(g, psf, iterations=3, boundary=boundary,
                                                                initial=g) * dtype(c))


def test_faint_data_is_restored_like_bright_data(rng):
    # The same check in the units a user has: not powers of two.
    g, psf, _ = _blurred(rng, (32, 32), (5, 5), np.float64, noise=0.01)
    out = unblur.richardson_lucy(g, psf, iterations=20)
    for c in (1e-9, 1e-15, 3e-30):
        np.testing.assert_allclose(unblur.richardson_lucy(g * c, psf, iterations=20) / c, out, rtol=1e-9)


def test_a_psf_with_negative_values_is_rejected(rng):
    # A sharpening kernel (sum 1, negative side lobes) gave an all-zero result, silently:
    # the blurred estimate goes negative and the multiplicative update collapses.
    g, _, _ = _blurred(rng, (32, 32), (5, 5), np.float64)
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float)
    with pytest.raises(ValueError, match="psf must be non-negative"):
        unblur.richardson_lucy(g, sharpen, iterations=3)


def test_an_all_zero_initial_image_is_rejected(rng):
    # The multiplicative update never leaves 0: the result was all zeros, silently.
    g, psf, _ = _blurred(rng, (32, 32), (5, 5), np.float64)
    with pytest.raises(ValueError, match="initial"):
        unblur.richardson_lucy(g, psf, iterations=3, initial=np.zeros_like(g))


@pytest.mark.gpu
def test_cupy_matches_numpy(rng):
    import cupy

    g, psf, _ = _blurred(rng, (40, 44), (7, 5), np.float32, noise=0.01)
    out = unblur.richardson_lucy(cupy.asarray(g), cupy.asarray(psf), iterations=5)
    assert isinstance(out, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(out), unblur.richardson_lucy(g, psf, iterations=5), **_itol(np.float32))
