"""unblur.metrics: PSNR and SSIM, C++ vs the _xp reference vs scikit-image, data_range
rules, dtype promotion, channels, full maps, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from unblur import metrics
from unblur._xp import metrics as xp_metrics


def sk_ssim(ref, img, data_range, **kwargs):
    return structural_similarity(ref, img, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=data_range, **kwargs)


@pytest.fixture(scope="module")
def camera_pair():
    cam = data.camera().astype(np.float64) / 255.0
    return cam, ndi.gaussian_filter(cam, 1.7)


# ---- PSNR ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(50,), (40, 37), (8, 9, 10), (4, 6, 7, 3)])
def test_psnr_matches_skimage(rng, dtype, shape):
    ref = rng.random(shape).astype(dtype)
    img = (ref + 0.05 * rng.standard_normal(shape)).astype(dtype)
    R = float(rng.uniform(0.5, 2.0))
    got = metrics.psnr(ref, img, data_range=R)
    assert isinstance(got, float)
    assert got == pytest.approx(peak_signal_noise_ratio(ref, img, data_range=R), rel=1e-6)
    assert got == pytest.approx(xp_metrics.psnr(ref, img, R), rel=1e-12)


def test_psnr_identical_is_inf(rng):
    x = rng.random((16, 16))
    assert metrics.psnr(x, x.copy()) == float("inf")


def test_psnr_default_data_range(rng, dtype):
    # Float: the reference's max - min.
    ref = (3 * rng.random((30, 30)) - 1).astype(dtype)
    img = (ref + 0.1).astype(dtype)
    R = float(ref.max()) - float(ref.min())
    assert metrics.psnr(ref, img) == pytest.approx(peak_signal_noise_ratio(ref, img, data_range=R), rel=1e-6)


def test_psnr_integer_inputs_use_unit_range(rng):
    # uint8 images become float32 in [0, 1]: data_range 1 there equals skimage's 255 on the raw values.
    ref = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    img = np.clip(ref.astype(int) + rng.integers(-9, 10, ref.shape), 0, 255).astype(np.uint8)
    want = peak_signal_noise_ratio(ref, img, data_range=255)
    assert metrics.psnr(ref, img) == pytest.approx(want, rel=1e-5)


def test_psnr_wider_dtype(rng):
    ref = rng.random((20, 20))
    img = (ref + 1e-6).astype(np.float32)  # float32 rounding must not be applied to ref
    want = xp_metrics.psnr(ref, img.astype(np.float64), 1.0)
    assert metrics.psnr(ref, img, data_range=1.0) == pytest.approx(want, rel=1e-12)


def test_psnr_core_threads_agree(rng):
    from unblur import _core

    a, b = rng.random(100_001), rng.random(100_001)
    assert _core.psnr(a, b, 1.0, 1) == pytest.approx(_core.psnr(a, b, 1.0, 2), rel=1e-13)
    assert _core.mean_squared_error(a, b) == pytest.approx(np.mean((a - b) ** 2), rel=1e-12)


# ---- SSIM ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(40, 45), (15, 17, 20), (60,)])
def test_ssim_matches_skimage_random(rng, dtype, shape):
    ref = rng.random(shape).astype(dtype)
    img = (ref + 0.2 * rng.standard_normal(shape)).astype(dtype)
    got = metrics.ssim(ref, img, data_range=1.0)
    assert isinstance(got, float)
    assert abs(got - sk_ssim(ref, img, 1.0)) < 1e-4
    assert got == pytest.approx(xp_metrics.ssim(ref, img, 1.0)[0], rel=1e-12)


def test_ssim_camera(camera_pair, dtype):
    cam, blurred = camera_pair
    ref, img = cam.astype(dtype), blurred.astype(dtype)
    got, smap = metrics.ssim(ref, img, data_range=1.0, full=True)
    want, want_map = sk_ssim(ref, img, 1.0, full=True)
    assert abs(got - want) < 1e-4
    assert 0.5 < got < 0.95
    assert smap.shape == ref.shape and smap.dtype == dtype
    # The map is computed in double: compare with skimage run in double too.
    _, map64 = sk_ssim(ref.astype(np.float64), img.astype(np.float64), 1.0, full=True)
    np.testing.assert_allclose(smap, map64, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-10)
    assert np.abs(smap - want_map).max() < 1e-3  # skimage's own float32 map (cancellation in float32)


@pytest.mark.parametrize("channel_axis", [-1, 0])
def test_ssim_colour(rng, dtype, channel_axis):
    shape = (30, 33, 3) if channel_axis == -1 else (3, 30, 33)
    ref = rng.random(shape).astype(dtype)
    img = np.clip(ref + 0.1 * rng.standard_normal(shape), 0, 1).astype(dtype)
    got, smap = metrics.ssim(ref, img, data_range=1.0, channel_axis=channel_axis, full=True)
    want, want_map = sk_ssim(ref.astype(np.float64), img.astype(np.float64), 1.0, channel_axis=channel_axis,
                             full=True)
    assert abs(got - want) < 1e-4
    assert smap.shape == shape
    np.testing.assert_allclose(smap, want_map, rtol=0, atol=1e-5)
    assert abs(got - sk_ssim(ref, img, 1.0, channel_axis=channel_axis)) < 1e-4


def test_ssim_parameters_match_skimage(rng):
    ref = rng.random((48, 40))
    img = ref + 0.1 * rng.standard_normal(ref.shape)
    got = metrics.ssim(ref, img, data_range=2.0, sigma=2.2, K1=0.02, K2=0.05)
    want = structural_similarity(ref, img, gaussian_weights=True, sigma=2.2, K1=0.02, K2=0.05,
                                 use_sample_covariance=False, data_range=2.0)
    assert abs(got - want) < 1e-10
    # skimage fixes truncate at 3.5 for Gaussian weights; other values against the reference.
    got = metrics.ssim(ref, img, data_range=2.0, sigma=2.2, truncate=2.5, K1=0.02, K2=0.05)
    assert got == pytest.approx(xp_metrics.ssim(ref, img, 2.0, 2.2, 2.5, 0.02, 0.05)[0], rel=1e-12)


def test_ssim_identical_and_default_data_range(rng, dtype):
    ref = rng.random((24, 24)).astype(dtype)
    assert metrics.ssim(ref, ref) == pytest.approx(1.0, abs=1e-12)
    img = (ref * 0.9).astype(dtype)
    R = float(ref.max()) - float(ref.min())
    assert metrics.ssim(ref, img) == pytest.approx(metrics.ssim(ref, img, data_range=R), rel=1e-14)


def test_ssim_integer_inputs(rng):
    ref = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    img = np.clip(ref.astype(int) + rng.integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
    want = sk_ssim(ref.astype(np.float64), img.astype(np.float64), 255.0)
    assert abs(metrics.ssim(ref, img) - want) < 1e-4


def test_ssim_smallest_image():
    # An 11-pixel axis (the default window) leaves one row of the map to average.
    ref = np.linspace(0, 1, 11 * 12).reshape(11, 12)
    img = ref ** 2
    assert abs(metrics.ssim(ref, img, data_range=1.0) - sk_ssim(ref, img, 1.0)) < 1e-10


# ---- bad input ------------------------------------------------------------------------------

def _ok():
    return np.linspace(0, 1, 256).reshape(16, 16)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: metrics.psnr(_ok(), _ok()[:8]), ValueError, r"reference and image must have the same shape.*\(16, 16\).*\(8, 16\)"),
        (lambda: metrics.ssim(_ok(), _ok().T[:15]), ValueError, "reference and image must have the same shape"),
        (lambda: metrics.psnr(np.ones((4, 4)), np.zeros((4, 4))), ValueError, "data_range"),
        (lambda: metrics.ssim(np.ones((16, 16)), _ok()), ValueError, "data_range"),
        (lambda: metrics.psnr(_ok(), _ok(), data_range=0), ValueError, "data_range must be > 0"),
        (lambda: metrics.psnr(_ok(), _ok(), data_range=float("nan")), ValueError, "data_range must be finite"),
        (lambda: metrics.psnr(_ok(), _ok(), data_range="1"), TypeError, "data_range must be a real number"),
        (lambda: metrics.ssim(_ok(), _ok(), data_range=-1), ValueError, "data_range must be > 0"),
        (lambda: metrics.psnr(_ok(), np.full((16, 16), np.nan)), ValueError, "image contains NaN"),
        (lambda: metrics.ssim(np.full((16, 16), np.inf), _ok()), ValueError, "reference contains NaN"),
        (lambda: metrics.psnr(_ok().astype(complex), _ok()), TypeError, "reference must be real"),
        (lambda: metrics.psnr(_ok(), "abc"), TypeError, "image must be an array"),
        (lambda: metrics.psnr(np.zeros((0, 3)), np.zeros((0, 3))), ValueError, "reference is empty"),
        (lambda: metrics.ssim(np.zeros((2,) * 4), np.zeros((2,) * 4)), ValueError, "reference must have 1, 2 or 3"),
        (lambda: metrics.ssim(_ok(), _ok(), sigma=0), ValueError, "sigma must be > 0"),
        (lambda: metrics.ssim(_ok(), _ok(), sigma=float("nan")), ValueError, "sigma must be finite"),
        (lambda: metrics.ssim(_ok(), _ok(), truncate=0), ValueError, "truncate must be > 0"),
        (lambda: metrics.ssim(_ok(), _ok(), K1=-0.1), ValueError, "K1 must be >= 0"),
        (lambda: metrics.ssim(_ok(), _ok(), K2="a"), TypeError, "K2 must be a real number"),
        (lambda: metrics.ssim(_ok(), _ok(), full="yes"), TypeError, "full must be a bool"),
        (lambda: metrics.ssim(_ok(), _ok(), channel_axis=3), ValueError, "channel_axis=3 is out of range"),
        (lambda: metrics.ssim(_ok()[:10], _ok()[:10]), ValueError, "at least 11 pixels along every spatial axis"),
        (lambda: metrics.ssim(_ok(), _ok(), sigma=3.0), ValueError, "at least 23 pixels"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_core_checks_its_arguments():
    from unblur import _core

    a = np.ones((16, 16))
    with pytest.raises(TypeError, match="image must have dtype float64"):
        _core.psnr(a, a.astype(np.float32), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        _core.ssim(a, a[:12].copy(), 1.0)
    with pytest.raises(ValueError, match="data_range must be finite and > 0"):
        _core.psnr(a, a, -1.0)
    with pytest.raises(ValueError, match="at least as long as the SSIM window"):
        _core.ssim(a[:5].copy(), a[:5].copy(), 1.0)


@pytest.mark.gpu
def test_cupy_matches_numpy(rng, dtype):
    import cupy

    ref = rng.random((3, 24, 30)).astype(dtype)
    img = (ref + 0.1 * rng.standard_normal(ref.shape)).astype(dtype)
    g = metrics.ssim(cupy.asarray(ref), cupy.asarray(img), data_range=1.0, channel_axis=0)
    assert g == pytest.approx(metrics.ssim(ref, img, data_range=1.0, channel_axis=0), abs=1e-6)
    p = metrics.psnr(cupy.asarray(ref), cupy.asarray(img), data_range=1.0)
    assert p == pytest.approx(metrics.psnr(ref, img, data_range=1.0), rel=1e-9)


def test_integer_images_in_the_wrong_units_are_warned_about(rng):
    # Integer images are scaled to [0, 1] (the dtype policy): scikit-image's habit of
    # data_range=255 gave 74 dB where scikit-image says 26, and a float image in 0..255
    # against a uint8 reference gave -43 dB, both silently.
    ref = rng.integers(0, 256, (32, 32)).astype(np.uint8)
    img = np.clip(ref.astype(int) + rng.integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
    for metric in (metrics.psnr, metrics.ssim):
        with pytest.warns(UserWarning, match="data_range=255 with integer images"):
            metric(ref, img, data_range=255)
        with pytest.warns(UserWarning, match="reference is an integer image.*image is a float image with values up"):
            metric(ref, img.astype(np.float64))
        with pytest.warns(UserWarning, match="image is an integer image.*reference is a float image"):
            metric(ref.astype(np.float32), img)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The intended uses: integers alone, or against a float image in [0, 1].
        unscaled = metrics.psnr(ref, img)
        assert metrics.psnr(ref, img.astype(np.float64) / 255) == pytest.approx(unscaled, abs=1e-4)
        metrics.ssim(ref, img, data_range=1.0)
        metrics.psnr(ref.astype(np.float64), img.astype(np.float64), data_range=255)
