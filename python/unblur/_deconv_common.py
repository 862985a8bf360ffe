"""What every deconvolution function shares: argument checks, boundary names, the
noise estimate, the progress callback."""

from __future__ import annotations

import math

import numpy as np

from . import _backend, _validate
from ._xp import blur_operator as _xp_blur

__all__ = ["estimate_noise"]

BOUNDARIES = ("auto", "periodic", "reflect")


def prepare(image, psf, *, channel_axis=None, boundary="auto", ndim=(2, 3)):
    """Validates a deconvolution's image, PSF and boundary.

    Returns ``(image, psf, channel_axis, boundary)``: the image by the dtype policy
    (C-contiguous), the PSF cast to its dtype, odd-sized and normalised to sum 1, the
    channel axis normalised, the boundary name checked.
    """
    image, channel_axis = _validate.as_image(image, "image", ndim=ndim, channel_axis=channel_axis)
    spatial = tuple(s for i, s in enumerate(image.shape) if i != channel_axis)
    xp = _backend.namespace_of(image)
    psf = _validate.as_psf(psf, "psf", ndim=len(spatial), dtype=image.dtype, xp=xp, require_odd=True)
    if any(k > n for k, n in zip(psf.shape, spatial)):
        raise ValueError(f"psf of shape {tuple(psf.shape)} is larger than the image's spatial shape {spatial}")
    boundary = _validate.choice(boundary, "boundary", BOUNDARIES)
    return image, psf, channel_axis, boundary


def check_callback(callback):
    """None, or `callback` as the engines call it: a TypeError unless callable; a
    NumPy False (what a callback comparing NumPy values returns) becomes False, which
    the engines and the Python loops test for by identity ("returning False stops")."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")

    def engine_callback(state):
        result = callback(state)
        if isinstance(result, np.bool_):
            return bool(result)
        return result

    return engine_callback


def estimate_noise(image, *, channel_axis=None):
    """The RMS of the noise in an image.

    The median absolute deviation of the finest diagonal wavelet (Haar) detail,
    divided by 0.6745: robust to edges and texture, which touch few coefficients.
    Taken in up to 16 groups of pixels of similar brightness and combined as an RMS,
    so that noise whose level follows the signal's (photon noise; an sRGB photograph
    decoded to linear light) is measured by its RMS over the image.

    Parameters
    ----------
    image : array, 1-D to 3-D (plus a channel axis)
    channel_axis : int, optional
        Colour axis; the estimate is the mean over channels.

    Returns
    -------
    sigma : float
        In the image's units (integer images are first scaled to [0, 1]).

    Notes
    -----
    With Haar coefficients :math:`d = (a - b - c + e) / 2` over disjoint 2x2 blocks
    (consecutive pairs divided by :math:`\\sqrt 2` in 1-D), white noise of variance
    :math:`\\sigma^2` gives :math:`d` of variance :math:`\\sigma^2`, and
    :math:`\\hat\\sigma = \\operatorname{median}|d| / \\Phi^{-1}(3/4)`.

    The 2x2 blocks are cut by their mean into :math:`K` groups of near-equal size
    (whole bins of a 4,096-bin histogram of the means), :math:`K = \\lfloor n / 1024
    \\rfloor` clipped to 1..16 (:math:`n` blocks), and :math:`\\hat\\sigma^2` is the mean
    over the blocks of their group's :math:`\\hat\\sigma_k^2`. White noise gives every group
    the same :math:`\\sigma`; on 8-bit sRGB photographs decoded to linear
    light, where one median over the image read 0.48-0.98 of the RMS error, the grouped
    estimate read 0.90-1.05.

    Quantised samples (8- or 16-bit files, integer counts) put every :math:`|d|` on a
    multiple of one step :math:`q` (half the sample step), and a plain median then moves
    in whole steps: for an 8-bit image with noise 0.01 it read 0.0087 or 0.0116. Where
    the details lie on such a lattice and their median is not 0, each multiple
    :math:`v` stands for the interval :math:`[v - q/2, v + q/2]` and the median is
    interpolated within its interval (the grouped-data median): within 3% of the truth
    (the noise and the rounding's own, :math:`1/(12 \\cdot 255^2)` in variance) on a smooth
    8-bit image at noise 0.004 to 0.03. Continuous data keep the plain median.

    References
    ----------
    .. [1] D. L. Donoho and I. M. Johnstone, "Ideal spatial adaptation by wavelet
       shrinkage", Biometrika 81(3), 1994.

    Examples
    --------
    >>> import numpy as np, unblur
    >>> noisy = 0.5 + np.random.default_rng(0).normal(0, 0.02, (256, 256))
    >>> round(unblur.estimate_noise(noisy), 2)
    0.02
    """
    channels, xp = _noise_channels(image, channel_axis)
    if xp is np:
        core = _backend.core()
        values = [core.estimate_noise(c) for c in channels]
    else:
        values = [_xp_blur.estimate_noise(c) for c in channels]
    return float(np.mean(values))


def noise_sigma_arg(noise_sigma, image, channel_axis):
    """A method's `noise_sigma` and where it came from: 'auto' (auto_noise_sigma) or a
    number >= 0 ('given')."""
    if isinstance(noise_sigma, str):
        if noise_sigma != "auto":
            raise ValueError(f"noise_sigma must be 'auto' or a number >= 0, got {noise_sigma!r}")
        return auto_noise_sigma(image, channel_axis)
    return _validate.nonnegative_float(noise_sigma, "noise_sigma"), "given"


def jpeg_noise_sigma(image, channel_axis):
    """The noise level of a decoded JPEG's pixels in the image's units: unblur.io.jpeg_noise
    of the tables unblur.io.detect_jpeg finds (one number, the channels' RMS), or None
    where the image is not a grey or RGB NumPy image of a JPEG's 8-bit samples (after
    the dtype policy: uint8 images are multiples of 1/255). CuPy images are not looked
    at (that would copy them to the host)."""
    if not isinstance(image, np.ndarray):
        return None
    a = image if channel_axis is None else np.moveaxis(image, channel_axis, -1)
    if not (a.ndim == 2 or (a.ndim == 3 and channel_axis is not None and a.shape[-1] == 3)):
        return None
    from . import io

    level = io.jpeg_noise(a)
    if level is None:
        return None
    sigma = math.sqrt(float(np.mean(np.square(level))))
    # jpeg_noise is in code values scaled to [0, 1]; an image of code values 0..255 is not
    return sigma if a.dtype.kind == "f" and float(a.max()) <= 1.0 else 255.0 * sigma


def auto_noise_sigma(image, channel_axis):
    """noise_sigma='auto': (sigma, source). A decoded JPEG's pixels ('jpeg-detected'):
    the level of its quantisation tables (jpeg_noise_sigma), as estimate_noise reads the
    finest details that JPEG removes (0.1-0.6 of the error; every automatic method then
    regularised far too weakly, bench/RESULTS.md session 20); else estimate_noise
    ('estimated')."""
    found = jpeg_noise_sigma(image, channel_axis)
    if found is not None:
        return found, "jpeg-detected"
    return float(estimate_noise(image, channel_axis=channel_axis)), "estimated"


def estimate_noise_profile(image, *, channel_axis=None):
    """The noise level as a function of brightness.

    :func:`estimate_noise`'s groups: the 2x2 blocks (pairs in 1-D) cut by their mean into
    up to 16 groups of near-equal size, each group's noise the MAD of its finest Haar
    details. Noise whose level follows the signal (photon noise in microscopy and
    astronomy; an sRGB photograph decoded to linear light) shows as sigmas that rise with
    the level; white noise as a flat profile. :func:`unblur.pnp_deconvolve` turns it into
    the denoiser's noise-level map.

    Parameters
    ----------
    image : array, 1-D to 3-D (plus a channel axis)
    channel_axis : int, optional
        Colour axis: one profile per channel.

    Returns
    -------
    levels, sigmas : NumPy float64 arrays
        Each group's mean block level and noise standard deviation, levels ascending
        (one group for images under 2,048 blocks), in the image's units (integer images
        are first scaled to [0, 1]). With `channel_axis`, a list of such pairs.

    Examples
    --------
    >>> import numpy as np, unblur
    >>> ramp = np.tile(np.linspace(0.1, 0.9, 256), (256, 1))
    >>> noisy = ramp + np.random.default_rng(0).normal(0, 1, ramp.shape) * 0.05 * ramp
    >>> levels, sigmas = unblur.estimate_noise_profile(noisy)
    >>> bool(sigmas[-1] > 5 * sigmas[0])  # the level follows the brightness
    True
    """
    channels, xp = _noise_channels(image, channel_axis)
    profiles = [tuple(np.asarray(v, dtype=np.float64) for v in noise_profile(c)) for c in channels]
    return profiles[0] if channel_axis is None else profiles


def _noise_channels(image, channel_axis):
    """The checked image's channels (one without `channel_axis`) and its namespace."""
    image, channel_axis = _validate.as_image(image, "image", ndim=(1, 2, 3), channel_axis=channel_axis)
    spatial = [s for i, s in enumerate(image.shape) if i != channel_axis]
    if (len(spatial) == 1 and spatial[0] < 2) or (len(spatial) > 1 and min(spatial[-2:]) < 2):
        raise ValueError(f"image of spatial shape {tuple(spatial)} is too small to estimate noise (needs 2x2)")
    xp = _backend.namespace_of(image)
    return ([image] if channel_axis is None else [xp.ascontiguousarray(c) for c in xp.moveaxis(image, channel_axis, 0)]), xp


def noise_profile(image):
    """The noise level as a function of brightness on a 1-D to 3-D array (no channel
    axis): (levels, sigmas), lists ascending in level, one per brightness group of
    :func:`estimate_noise` (its mean 2x2-block level and MAD sigma; one group under
    2,048 blocks). On the C++ core for NumPy, the array-API code for CuPy."""
    xp = _backend.namespace_of(image)
    if xp is np:
        levels, sigmas = _backend.core().noise_profile(image)
        return list(levels), list(sigmas)
    return _xp_blur.noise_profile(image)


def unit_exponent(peak):
    """The e with ``peak * 2**-e`` in (0.5, 1] (0 for a peak <= 0).

    Scaling data by 2**-e is exact in floating point: methods whose engines hold an
    absolute constant (RL's 1e-12 in g / (A x + 1e-12)) run on data scaled so, and
    their results do not depend on the data's units."""
    if not peak > 0:
        return 0
    mantissa, e = math.frexp(peak)
    return e - 1 if mantissa == 0.5 else e


def ldexp(v, e):
    """float `v` * 2**e; +-inf where that overflows (math.ldexp raises)."""
    try:
        return math.ldexp(v, e)
    except OverflowError:
        return math.copysign(math.inf, v)


def times_power_of_two(a, e):
    """Array `a` * 2**e in its dtype, exact (None stays None; e = 0 returns `a`)."""
    if a is None or e == 0:
        return a
    return _backend.namespace_of(a).ldexp(a, e).astype(a.dtype, copy=False)
