"""collaborative_wiener: the C++ core against the array-API reference (fresh random
inputs, both dtypes, numbers and maps for sigma, several parameter sets), the thread
count, the noise-free limit, what it is for (repeated structure), channels, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import unblur
from conftest import tol
from unblur import _core
from unblur._xp import collaborative as xp_cw

PARAMS = [dict(), dict(block=6, step=2, radius=5, group=5), dict(block=4, step=4, radius=7, group=3, tau=0.02),
          dict(block=8, step=3, radius=6, group=16, tau=1.0)]


def scene(rng, shape):
    """A pilot whose blocks match each other at many distances around the default tau: a
    repeated random tile (period 5 x 7) plus a smooth random field."""
    tile = rng.random((5, 7))
    reps = (shape[0] // 5 + 1, shape[1] // 7 + 1)
    base = 0.6 * np.tile(tile, reps)[: shape[0], : shape[1]]
    return base + 0.4 * ndi.gaussian_filter(rng.random(shape), 3.0)


def group_sizes(pilot, params):
    p = dict(block=xp_cw.BLOCK, step=xp_cw.STEP, radius=xp_cw.RADIUS, group=xp_cw.GROUP, tau=xp_cw.TAU)
    p.update(params)
    py = np.asarray(xp_cw.positions(pilot.shape[0], p["block"], p["step"]))
    px = np.asarray(xp_cw.positions(pilot.shape[1], p["block"], p["step"]))
    ry, rx = np.repeat(py, len(px)), np.tile(px, len(py))
    return xp_cw.match(pilot.astype(np.float64), ry, rx, block=p["block"], radius=p["radius"], group=p["group"],
                       tau=p["tau"])[2]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("shape", [(40, 37), (23, 61)])
@pytest.mark.parametrize("map_sigma", [False, True])
def test_core_matches_reference(rng, dtype, params, shape, map_sigma):
    truth = scene(rng, shape)
    noisy = (truth + 0.05 * rng.standard_normal(shape)).astype(dtype)
    pilot = (truth + 0.01 * rng.standard_normal(shape)).astype(dtype)
    sigma = rng.uniform(0.01, 0.08, shape) if map_sigma else float(rng.uniform(0.01, 0.08))
    # the case exercises groups, not only lone references (where groups are full, the
    # order of the candidates decides which blocks join)
    assert group_sizes(pilot, params).max() >= 2
    got = unblur.collaborative_wiener(noisy, pilot, sigma, **params)
    want = xp_cw.collaborative_wiener(noisy, pilot, sigma, **params)
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_allclose(got, want, **tol(dtype))
    assert not np.allclose(got, noisy, atol=1e-3) and not np.allclose(got, pilot, atol=1e-3)


def test_images_smaller_than_a_block_come_back_as_the_pilot(rng, dtype):
    for shape in [(7, 30), (30, 5), (1, 1)]:
        noisy, pilot = rng.random(shape).astype(dtype), rng.random(shape).astype(dtype)
        got = unblur.collaborative_wiener(noisy, pilot, 0.1)
        assert np.array_equal(got, pilot) and got is not pilot
        assert np.array_equal(xp_cw.collaborative_wiener(noisy, pilot, 0.1), pilot)


def test_result_does_not_depend_on_the_thread_count(rng):
    # 80 rows: three stripes of references (2 * radius + block = 32 rows), so both passes
    # (even and odd stripes) and stripes that add into the same rows are exercised.
    truth = scene(rng, (80, 70))
    noisy = truth + 0.05 * rng.standard_normal(truth.shape)
    one = unblur.collaborative_wiener(noisy, truth, 0.05, threads=1)
    for n in (2, 3, 5):
        assert np.array_equal(unblur.collaborative_wiener(noisy, truth, 0.05, threads=n), one)


def test_without_noise_the_image_comes_back(rng, dtype):
    # sigma 0: every gain is 1 (or the coefficient is kept), so each block estimate is the
    # block itself and the weighted mean at each pixel is the pixel.
    truth = scene(rng, (33, 41))
    noisy = (truth + 0.05 * rng.standard_normal(truth.shape)).astype(dtype)
    got = unblur.collaborative_wiener(noisy, truth.astype(dtype), 0.0)
    np.testing.assert_allclose(got, noisy, rtol=0, atol=50 * np.finfo(dtype).eps)


def test_repeated_structure_is_restored_from_its_copies(rng):
    # With the clean image as its pilot the filter is the oracle Wiener filter of each
    # group: far better than the noisy image, and better than a local filter of it.
    clean = np.tile(np.repeat([0.2, 0.8, 0.5], 3), (72, 8))
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    out = unblur.collaborative_wiener(noisy, clean, 0.1)
    psnr = lambda x: unblur.metrics.psnr(clean, x, data_range=1.0)  # noqa: E731
    assert psnr(out) > psnr(noisy) + 10
    assert psnr(out) > psnr(unblur.gaussian_filter(noisy, 1.0)) + 10


@pytest.mark.parametrize("channel_axis", [0, -1])
def test_channels_one_at_a_time(rng, channel_axis):
    planes = [scene(rng, (30, 34)) for _ in range(3)]
    truth = np.stack(planes, axis=channel_axis)
    noisy = truth + 0.05 * rng.standard_normal(truth.shape)
    maps = rng.uniform(0.02, 0.06, truth.shape)
    got = unblur.collaborative_wiener(noisy, truth, maps, channel_axis=channel_axis)
    for c in range(3):
        take = (lambda a: np.take(a, c, axis=channel_axis))  # noqa: E731
        want = unblur.collaborative_wiener(np.ascontiguousarray(take(noisy)), np.ascontiguousarray(take(truth)),
                                           np.ascontiguousarray(take(maps)))
        assert np.array_equal(take(got), want)
    # one spatial map serves every channel
    spatial = maps[0] if channel_axis == 0 else maps[..., 0]
    got = unblur.collaborative_wiener(noisy, truth, spatial, channel_axis=channel_axis)
    want = unblur.collaborative_wiener(noisy, truth, np.stack([spatial] * 3, axis=channel_axis),
                                       channel_axis=channel_axis)
    assert np.array_equal(got, want)


def test_views_and_fortran_order_are_accepted(rng):
    # Any memory layout of the image, the pilot or the map gives the result of a
    # C-contiguous copy.
    truth = scene(rng, (40, 44))
    noisy = truth + 0.05 * rng.standard_normal(truth.shape)
    sd = rng.uniform(0.02, 0.06, (44, 40)).T  # a transposed view
    want = unblur.collaborative_wiener(noisy.copy(), truth.copy(), np.ascontiguousarray(sd))
    got = unblur.collaborative_wiener(np.asfortranarray(noisy), truth[:, ::-1].copy()[:, ::-1], sd)
    np.testing.assert_array_equal(got, want)
    wide = np.zeros((40, 88))
    wide[:, ::2] = noisy
    np.testing.assert_array_equal(unblur.collaborative_wiener(wide[:, ::2], truth, np.asfortranarray(sd)), want)


def test_integer_images_follow_the_dtype_policy(rng):
    clean = (scene(rng, (32, 32)) * 200).astype(np.uint8)
    got = unblur.collaborative_wiener(clean, clean, 0.0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, clean / np.float32(255), atol=1e-5)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(pilot=np.zeros((20, 21))), ValueError, "pilot must have the image's shape"),
    (dict(pilot="x"), TypeError, "pilot"),
    (dict(block=0), ValueError, "block must be >= 1"),
    (dict(block=33), ValueError, "block must be <= 32"),
    (dict(block=2.5), TypeError, "block must be an int"),
    (dict(step=9), ValueError, r"step must be <= block \(8\)"),
    (dict(radius=-1), ValueError, "radius must be >= 0"),
    (dict(radius=257), ValueError, "radius must be <= 256"),
    (dict(group=0), ValueError, "group must be >= 1"),
    (dict(group=65), ValueError, "group must be <= 64"),
    (dict(tau=-1.0), ValueError, "tau must be >= 0"),
    (dict(tau=float("nan")), ValueError, "tau must be finite"),
    (dict(noise_sigma=-0.1), ValueError, "noise_sigma must be >= 0"),
    (dict(noise_sigma=float("inf")), ValueError, "noise_sigma must be finite"),
    (dict(noise_sigma="auto"), TypeError, "noise_sigma must be a real number"),
    (dict(noise_sigma=np.ones((3, 3))), ValueError, "noise_sigma as an array"),
    (dict(noise_sigma=-np.ones((20, 20))), ValueError, "noise_sigma must be finite and >= 0"),
    (dict(image=np.full((20, 20), np.nan)), ValueError, "image contains NaN"),
    (dict(image=np.zeros((4, 20, 20))), ValueError, "image must have 2 spatial dimensions"),
    (dict(threads=0), ValueError, "threads must be >= 1"),
])
def test_bad_input(kwargs, error, match):
    args = dict(image=np.zeros((20, 20)), pilot=np.zeros((20, 20)), noise_sigma=0.1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        unblur.collaborative_wiener(**args)


def test_core_checks_its_arguments():
    # the second line of defence, for native callers of the module
    a = np.zeros((16, 16))
    with pytest.raises(ValueError, match="same shape"):
        _core.collaborative_wiener(a, np.zeros((16, 15)), 0.1)
    with pytest.raises(TypeError, match="pilot must have dtype float64"):
        _core.collaborative_wiener(a, a.astype(np.float32), 0.1)
    with pytest.raises(ValueError, match="group must be in 1..64"):
        _core.collaborative_wiener(a, a, 0.1, group=100)
    with pytest.raises(ValueError, match="sigma must be finite"):
        _core.collaborative_wiener(a, a, -1.0)
