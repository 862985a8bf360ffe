"""unblur.deconvolve: method choice, pass-through of parameters, info, errors."""

from __future__ import annotations

import numpy as np
import pytest
import unblur


def _scene(rng, n=96):
    """A crop of the sample photograph near its centre, blurred in 'valid' mode."""
    photo = unblur.data.astronaut()[..., 1].astype(np.float64) / 255
    psf = unblur.psf.gaussian(1.5)
    k = psf.shape[0]
    # A detailed region (face, suit, patches); a random place can be flat sky, where
    # there is little blur to remove and the gain says nothing.
    top, left = 120 + rng.integers(0, 40, size=2)
    scene = photo[top : top + n + k - 1, left : left + n + k - 1]
    truth = scene[k // 2 : k // 2 + n, k // 2 : k // 2 + n]
    blurred = unblur.convolve(scene, psf, mode="valid") + rng.normal(0, 0.01, truth.shape)
    return truth, psf, np.clip(blurred, 0.0, 1.0)


@pytest.mark.parametrize("method", ["auto", "wiener", "tikhonov", "rl", "tv"])
def test_every_method_improves_a_valid_mode_blur(rng, method):
    truth, psf, blurred = _scene(rng)
    restored, info = unblur.deconvolve(blurred, psf, method, return_info=True)
    assert restored.shape == blurred.shape and restored.dtype == blurred.dtype
    assert info["method"] == (unblur._deconvolve.AUTO_METHOD if method == "auto" else method)
    assert info["boundary"] == "auto"
    before = unblur.metrics.psnr(truth, blurred, data_range=1)
    after = unblur.metrics.psnr(truth, np.clip(restored, 0, 1), data_range=1)
    assert after > before + 1.0


def test_parameters_pass_through(rng):
    truth, psf, blurred = _scene(rng)
    _, info = unblur.deconvolve(blurred, psf, "rl", iterations=3, accelerate=False, return_info=True)
    assert info["iterations"] == 3
    _, info = unblur.deconvolve(blurred, psf, "wiener", nsr=0.01, boundary="periodic", return_info=True)
    assert info["nsr"] == 0.01 and info["boundary"] == "periodic"


def test_callback_reaches_iterative_methods(rng):
    truth, psf, blurred = _scene(rng)
    seen = []
    unblur.deconvolve(blurred, psf, "rl", iterations=4, callback=lambda s: seen.append(s["iteration"]))
    assert seen == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="callback is for iterative methods"):
        unblur.deconvolve(blurred, psf, "wiener", callback=print)


@pytest.mark.parametrize("method, kwargs", [("rl", dict(iterations=6)), ("tv", dict(iterations=6)),
                                            ("tikhonov", dict(lam=1e-3))])
def test_a_callback_returning_numpy_false_stops(rng, method, kwargs):
    # "returning False stops": a callback that compares NumPy values returns np.False_,
    # which the engines took for "go on" (they tested for the object False).
    truth, psf, blurred = _scene(rng, n=48)
    seen = []

    def stop_after_two(state):
        seen.append(state["iteration"])
        return np.int64(state["iteration"]) < 2  # np.bool_

    _, info = unblur.deconvolve(blurred, psf, method, callback=stop_after_two, return_info=True, **kwargs)
    assert seen == [1, 2] and info["iterations"] == 2
    if method != "tikhonov":
        assert info["stopped_by"] == "callback"


def test_colour(rng):
    truth, psf, blurred = _scene(rng)
    rgb = np.stack([blurred, blurred[::-1], blurred.T], axis=-1)
    out = unblur.deconvolve(rgb, psf, channel_axis=-1)
    assert out.shape == rgb.shape


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"method": "magic"}, ValueError, "method must be one of"),
        ({"boundary": "zero"}, ValueError, "boundary must be one of"),
        ({"method": "wiener", "iterations": 3}, TypeError, "method 'wiener'"),
        ({"callback": 3}, TypeError, "callback must be callable"),
    ],
)
def test_bad_input(rng, kwargs, exc, match):
    _, psf, blurred = _scene(rng, 32)
    with pytest.raises(exc, match=match):
        unblur.deconvolve(blurred, psf, **kwargs)


def test_bad_images_and_psfs():
    with pytest.raises(ValueError, match="image contains NaN"):
        unblur.deconvolve(np.full((16, 16), np.nan), np.ones((3, 3)))
    with pytest.raises(ValueError, match="psf must have odd sizes"):
        unblur.deconvolve(np.ones((16, 16)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="larger than the image"):
        unblur.deconvolve(np.ones((8, 8)), np.ones((9, 9)))
    with pytest.raises(ValueError, match="psf must have a positive sum"):
        unblur.deconvolve(np.ones((16, 16)), np.zeros((3, 3)))
