"""The blur forward model shared by the deconvolution methods, and noise estimation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import unblur
from conftest import tol
from unblur._xp import blur_operator as ref


def _op(psf, shape, extended):
    return unblur._core.blur_operator(psf, list(shape), extended)


@pytest.mark.parametrize("shape,psf_shape", [((40, 37), (7, 5)), ((12, 14, 11), (3, 5, 3)), ((50,), (9,))])
def test_extended_forward_is_valid_convolution(rng, dtype, simd, shape, psf_shape):
    psf = rng.random(psf_shape).astype(dtype)
    op = _op(psf, shape, True)
    assert op.offset == [k // 2 for k in psf_shape]
    assert all(g >= n + k - 1 for g, n, k in zip(op.grid_shape, shape, psf_shape))
    x = rng.random(op.grid_shape).astype(dtype)
    g = op.forward(x)
    scene = x[tuple(slice(0, n + k - 1) for n, k in zip(shape, psf_shape))]
    want = scipy.signal.fftconvolve(scene.astype(np.float64), psf.astype(np.float64), mode="valid")
    np.testing.assert_allclose(g, want, **tol(dtype))
    r = ref.BlurOperator(psf, shape, True)
    assert tuple(op.grid_shape) == r.grid_shape
    np.testing.assert_allclose(g, r.forward(x), **tol(dtype))


@pytest.mark.parametrize("extended", [False, True])
def test_adjoint_is_the_transpose(rng, dtype, simd, extended):
    psf = rng.random((5, 7)).astype(dtype)
    shape = (31, 26)
    op = _op(psf, shape, extended)
    x = rng.standard_normal(op.grid_shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    ax, aty = op.forward(x).astype(np.float64), op.adjoint(y).astype(np.float64)
    lhs, rhs = float(np.vdot(ax, y)), float(np.vdot(x, aty))
    # <Ax, y> = <x, A^T y>, to rounding relative to the sizes of the terms (the sums
    # themselves can cancel to near zero).
    scale = np.linalg.norm(ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(aty)
    assert abs(lhs - rhs) <= 10 * tol(dtype)["rtol"] * scale
    want = ref.BlurOperator(psf, shape, extended).adjoint(y)
    # FFT rounding is bounded relative to the whole array's scale, not each element's:
    # with this unnormalised PSF (sum ~17) and normal data the values reach ~6, so the
    # absolute tolerance scales with the largest one (seed 911142329: 2.4e-6 off at an
    # element of 0.017, five float32 ulps of the maximum).
    t = tol(dtype)
    np.testing.assert_allclose(op.adjoint(y), want, rtol=t["rtol"], atol=t["atol"] * max(1.0, float(np.abs(want).max())))


def test_periodic_forward_is_circular_convolution(rng, dtype):
    psf = rng.random((5, 3)).astype(dtype)
    x = rng.random((20, 23)).astype(dtype)
    op = _op(psf, x.shape, False)
    assert op.periodic and op.offset == [0, 0]
    np.testing.assert_allclose(op.forward(x), unblur.convolve(x, psf, boundary="periodic"), **tol(dtype))


def test_crop_and_embed(rng):
    psf = np.ones((3, 5))
    op = _op(psf, (6, 7), True)
    y = rng.random((6, 7))
    grid = op.embed(y, -1.0)
    assert grid.shape == tuple(op.grid_shape)
    np.testing.assert_array_equal(op.crop(grid), y)
    assert (grid == -1.0).sum() == grid.size - y.size


def test_operator_bad_input():
    with pytest.raises(ValueError, match="psf must have odd sizes"):
        _op(np.ones((4, 3)), (10, 10), True)
    with pytest.raises(ValueError, match="dimensions"):
        _op(np.ones((3, 3)), (10,), True)
    with pytest.raises(ValueError, match="larger than the image"):
        _op(np.ones((11, 3)), (10, 10), False)
    op = _op(np.ones((3, 3)), (10, 10), False)
    with pytest.raises(ValueError, match="grid's shape"):
        op.forward(np.ones((9, 10)))
    with pytest.raises(TypeError, match="x must have dtype float64"):
        op.forward(np.ones((10, 10), np.float32))


@pytest.mark.parametrize("sigma", [0.005, 0.03, 0.1])
def test_noise_estimate_on_a_smooth_image(rng, dtype, sigma):
    yy, xx = np.mgrid[0:256, 0:256] / 256.0
    clean = 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)
    noisy = (clean + rng.normal(0, sigma, clean.shape)).astype(dtype)
    est = unblur._core.estimate_noise(noisy)
    assert est == pytest.approx(sigma, rel=0.08)
    assert est == pytest.approx(ref.estimate_noise(noisy), rel=1e-6)



def _plain_estimate(image):
    return float(np.median(np.abs(ref._haar_diagonal(np.asarray(image, np.float64), np)))) / 0.6744897501960817


@pytest.mark.parametrize("sigma", [0.004, 0.006, 0.01, 0.015, 0.02])
def test_noise_estimate_on_8_bit_data(rng, dtype, sigma):
    # 8-bit samples put the Haar details on multiples of q = 0.5 / 255, and a plain
    # median moves in whole steps of q (at sigma 0.004 it read 0.70 of the truth, at 0.01
    # 0.87 or 1.16 with the seed): the grouped-data median interpolates within its step.
    # The truth is the noise plus the rounding's own, 1 / (12 x 255^2) in variance.
    yy, xx = np.mgrid[0:512, 0:512] / 512.0
    clean = 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)
    noisy = (np.round((clean + rng.normal(0, sigma, clean.shape)) * 255) / 255).astype(dtype)
    truth = np.sqrt(sigma**2 + 1 / (12 * 255**2))
    est = unblur._core.estimate_noise(noisy)
    assert est == pytest.approx(truth, rel=0.04)
    assert est == pytest.approx(ref.estimate_noise(noisy), rel=1e-9)
    # The same 8-bit image as integers, which the public function scales to [0, 1] in
    # float32: q then carries float32's rounding, up to eps32 / q = 3e-5 of itself.
    as_uint8 = np.round(noisy.astype(np.float64) * 255).astype(np.uint8)
    assert unblur.estimate_noise(as_uint8) == pytest.approx(est, rel=1e-4)


def test_noise_estimate_quantised_and_continuous_cases(rng):
    # Continuous data keep the plain median, bit for bit.
    g = rng.normal(0, 0.02, (64, 66)) + 0.5
    assert unblur._core.estimate_noise(g) == _plain_estimate(g)
    assert ref.estimate_noise(g) == _plain_estimate(g)
    # Piecewise-constant float data (exact zeros, continuous edge values): no lattice,
    # the plain median (0 here), not an interpolation toward the smallest edge.
    steps = np.zeros((64, 64))
    steps[:, 33:] = 0.3137
    steps[41:, :] += rng.random()
    assert unblur._core.estimate_noise(steps) == 0.0 == ref.estimate_noise(steps)
    # Quantised data whose median detail is 0 (a clean 8-bit image, a two-level one)
    # keep the plain median 0: interpolating within 0's half step would read the level
    # step of a two-level image as noise.
    flat = np.round(steps * 255) / 255
    flat[::7, ::5] += 1 / 255
    two_level = (steps > 0.2) * 0.5
    for x in (flat, two_level):
        assert unblur._core.estimate_noise(x) == 0.0 == ref.estimate_noise(x)
    # Any step (integer counts, 16-bit, an offset) and every layout agree with the reference.
    for scale, offset in ((1.0, 0.0), (1 / 65535, 0.25), (3.0, -7.0)):
        counts = np.round(rng.normal(0, 4.0, (3, 40, 37)) + 100) * scale + offset
        for x in (counts, counts[0], counts[0, 0]):
            x = np.ascontiguousarray(x)
            assert unblur._core.estimate_noise(x) == pytest.approx(ref.estimate_noise(x), rel=1e-12)


def test_noise_estimate_of_signal_dependent_noise_is_its_rms(rng, dtype):
    # Noise whose level follows the signal (photon noise; sRGB decoded to linear light):
    # the median of all details measures the median brightness's noise, 0.83 of the RMS
    # here; the blocks grouped by level and the groups' sigmas combined as an RMS give
    # the RMS.
    yy, xx = np.mgrid[0:512, 0:512] / 512.0
    clean = 0.05 + 0.9 * xx**2 * (0.75 + 0.25 * np.cos(3 * yy))
    noise = rng.normal(0, 1, clean.shape) * 0.03 * clean
    noisy = (clean + noise).astype(dtype)
    rms = float(np.sqrt(np.mean(noise**2)))
    est = unblur._core.estimate_noise(noisy)
    assert est == pytest.approx(rms, rel=0.04)
    assert _plain_estimate(noisy) < 0.9 * rms  # what one median over the image gives
    assert est == pytest.approx(ref.estimate_noise(noisy), rel=1e-12)


@pytest.mark.parametrize("shape", [(2047,), (4100,), (90, 95), (130, 131), (3, 70, 66), (5, 257, 254)])
def test_noise_estimate_groups_match_the_reference(rng, dtype, shape):
    # 1 to 16 groups (n // 1024 blocks), ties in the blocks' levels (quantised data).
    x = (rng.random(shape) * rng.random(shape)).astype(dtype)
    assert unblur._core.estimate_noise(x) == pytest.approx(ref.estimate_noise(x), rel=1e-12)
    q = (np.round(x * 255) / 255).astype(dtype)
    assert unblur._core.estimate_noise(q) == pytest.approx(ref.estimate_noise(q), rel=1e-12)


@pytest.mark.parametrize("shape", [(2047,), (4100,), (90, 95), (130, 131), (3, 70, 66), (5, 257, 254)])
def test_noise_profile_matches_the_reference(rng, dtype, shape):
    # The groups' levels are means (summed in another order by each face), their sigmas
    # medians (the same values); one group under 2,048 blocks.
    for x in ((rng.random(shape) * rng.random(shape)).astype(dtype),
              (np.round(rng.random(shape) * 255) / 255).astype(dtype)):
        levels, sigmas = unblur._core.noise_profile(x)
        want_levels, want_sigmas = ref.noise_profile(x)
        blocks = x.size // (2 if x.ndim == 1 else 4)
        assert len(levels) == len(want_levels) == (1 if blocks < 2048 else min(16, blocks // 1024))
        np.testing.assert_allclose(levels, want_levels, rtol=1e-12)
        np.testing.assert_allclose(sigmas, want_sigmas, rtol=1e-12)
        assert all(a < b for a, b in zip(levels, levels[1:]))


def test_noise_profile_follows_the_noise_level(rng, dtype):
    # Noise of standard deviation 0.002 + 0.04 b on a smooth image of brightness b: each
    # group's sigma is the level at its mean brightness (each from ~1,000 blocks, so the
    # MAD's own spread, ~4 %, plus the level's spread within the group); the estimate is
    # the sizes-weighted RMS of the groups' sigmas.
    yy, xx = np.mgrid[0:256, 0:256] / 256.0
    clean = 0.1 + 0.8 * xx * (0.9 + 0.1 * np.cos(4 * yy))
    noisy = (clean + rng.normal(0, 1, clean.shape) * (0.002 + 0.04 * clean)).astype(dtype)
    levels, sigmas = unblur.estimate_noise_profile(noisy)
    assert len(levels) == 16 and levels[0] < 0.15 and levels[-1] > 0.8
    np.testing.assert_allclose(sigmas, 0.002 + 0.04 * np.asarray(levels), rtol=0.12)
    assert unblur.estimate_noise(noisy) == pytest.approx(float(np.sqrt(np.mean(np.square(sigmas)))), rel=0.01)
    # A channel axis: one profile per channel.
    profiles = unblur.estimate_noise_profile(np.stack([noisy, noisy[::-1]], axis=0), channel_axis=0)
    assert len(profiles) == 2
    np.testing.assert_allclose(profiles[1][0], levels, rtol=1e-12)
    with pytest.raises(ValueError, match="too small"):
        unblur.estimate_noise_profile(np.zeros((1, 5)))
    bad = noisy.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        unblur.estimate_noise_profile(bad)


def test_noise_estimate_of_non_finite_or_huge_data(rng):
    # The core refuses NaN and infinity itself (native callers skip the Python checks);
    # samples near the double's limit, whose block means overflow, still give the
    # reference's estimate (the brightness histogram clamps before it indexes).
    x = rng.random((96, 90))
    for bad in (np.nan, np.inf):
        y = x.copy()
        y[40, 41] = bad
        with pytest.raises(ValueError, match="NaN or infinity"):
            unblur._core.estimate_noise(y)
        with pytest.raises(ValueError, match="NaN or infinity"):
            unblur._core.fit_blur_families(y, ["gaussian"], 7, 32, 0.01)
    huge = x * 5e307  # block sums up to 2e308: means overflow, details do not
    huge[:2, :2] = 1.7e308  # one block's mean overflows for certain
    est = unblur._core.estimate_noise(huge)
    with np.errstate(over="ignore", invalid="ignore"):  # the block means overflow as the core's do
        want = ref.estimate_noise(huge)
    assert np.isfinite(est) and est == pytest.approx(want, rel=1e-12)

def test_noise_estimate_of_a_clean_photo_is_small():
    img = unblur.data.astronaut()[..., 1].astype(np.float64) / 255
    assert unblur._core.estimate_noise(img) < 0.01
    vol = np.repeat(img[None, :64, :64], 3, axis=0)
    assert unblur._core.estimate_noise(np.ascontiguousarray(vol)) == pytest.approx(ref.estimate_noise(vol), rel=1e-6)


def test_deconv_models(rng):
    g = rng.random((10, 13))
    psf = np.ones((3, 5)) / 15
    data, grid, result_offset, offset = unblur._core.deconv_model(g, psf, "periodic")
    np.testing.assert_array_equal(data, g)
    assert grid == [10, 13] and result_offset == [0, 0]
    data, grid, result_offset, offset = unblur._core.deconv_model(g, psf, "auto")
    np.testing.assert_array_equal(data, g)
    assert grid[0] >= 12 and grid[1] >= 17 and result_offset == offset == [1, 2]
    data, grid, result_offset, offset = unblur._core.deconv_model(g, psf, "reflect")
    assert data.shape == tuple(grid) and grid[0] >= 12 and grid[1] >= 17 and result_offset == [1, 2]
    np.testing.assert_array_equal(data[1:11, 2:15], g)
    np.testing.assert_array_equal(data[0, 2:15], g[0])          # half-sample symmetric
    np.testing.assert_array_equal(data[1:11, 0], g[:, 1])
    with pytest.raises(ValueError, match="boundary must be one of"):
        unblur._core.deconv_model(g, psf, "zero")


def test_public_noise_estimate(rng):
    img = 0.5 + rng.normal(0, 0.05, (64, 64, 3))
    assert unblur.estimate_noise(img, channel_axis=-1) == pytest.approx(0.05, rel=0.15)
    assert unblur.estimate_noise((img * 255).clip(0, 255).astype(np.uint8)[..., 0]) == pytest.approx(0.05, rel=0.15)
    with pytest.raises(ValueError, match="too small to estimate noise"):
        unblur.estimate_noise(np.ones((1, 5)))
    with pytest.raises(ValueError, match="image contains NaN"):
        unblur.estimate_noise(np.full((4, 4), np.nan))


@pytest.mark.parametrize("rho", [0.0, 0.1, 0.3, 0.8, 1.0])
def test_estimate_noise_correlation_between_channels(rho):
    # On a blurred image the finest Haar details are nearly all noise: the estimate is
    # the noise's correlation between channels.
    scene = unblur.data.astronaut()[100:300, 100:300].astype(np.float64) / 255
    psf = unblur.psf.disk(4.0)
    blurred = [scipy.signal.fftconvolve(scene[..., c], psf, mode="valid") for c in range(3)]
    rng = np.random.default_rng(int(rho * 10))
    common = rng.normal(0, 0.02, blurred[0].shape)
    noisy = [b + np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.normal(0, 0.02, b.shape) for b in blurred]
    assert ref.estimate_noise_correlation(noisy) == pytest.approx(rho, abs=0.04)
    # Equal constant channels (no detail) count as the same: 1.
    assert ref.estimate_noise_correlation([np.full((8, 8), 0.5)] * 3) == 1.0
