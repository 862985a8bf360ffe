"""Point-spread functions: Gaussian, disk (defocus), motion, camera shake,
atmospheric turbulence, Airy, Moffat, and PSFs loaded from image files.

Every generator runs in the C++ core and returns a NumPy array that

* has an odd size on every axis, with the PSF's centre on the middle pixel
  (index ``n // 2``);
* sums to 1 (computed in float64, then cast);
* is float64 by default, float32 with ``dtype=np.float32`` (other dtypes: TypeError).

``size=None`` picks the smallest odd size (at least 3 per axis) that holds the PSF by
the rule given in each function's docstring. An explicit ``size`` (an int for every
axis, or one int per axis) must be odd and positive; the PSF is then evaluated on that
grid (cropping or padding it) and normalised.

Angles are in degrees, counter-clockwise on screen from the +x (column) axis. Rows point
down, so a direction at angle ``a`` moves ``+cos(a)`` columns and ``-sin(a)`` rows:
positive angles go up and to the right on screen.

Examples
--------
>>> import numpy as np, unblur
>>> h = unblur.psf.gaussian(1.5)
>>> h.shape, h.dtype, round(float(h.sum()), 12)
((13, 13), dtype('float64'), 1.0)
>>> unblur.psf.motion(9, angle=45, dtype=np.float32).dtype
dtype('float32')
"""

from __future__ import annotations

import math
import operator
import os
import warnings

import numpy as np

from . import _backend, _validate
from . import io as _io

__all__ = ["gaussian", "disk", "defocus", "motion", "shake", "turbulence", "airy", "moffat", "from_image"]


# ---- argument helpers ----------------------------------------------------------------------
def _as_like(psf, like):
    """`psf` as the array type of `like` (None or a NumPy array: unchanged)."""
    if like is None:
        return psf
    if not hasattr(like, "shape") or not hasattr(like, "dtype"):
        raise TypeError(f"like must be an array (NumPy or CuPy), got {type(like).__name__}")
    xp = _backend.namespace_of(like)
    if xp is np:
        return psf
    _backend.require_current_device(like, "like")
    return xp.asarray(psf)


def _dtype_arg(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _size_arg(size, ndim):
    """None, or a tuple of `ndim` odd positive ints."""
    if size is None:
        return None
    vals = list(size) if isinstance(size, (tuple, list, np.ndarray)) else [size] * ndim
    if len(vals) != ndim:
        raise ValueError(f"size must be an int or have {ndim} values (one per axis), got {len(vals)}")
    out = []
    for v in vals:
        if isinstance(v, bool):
            raise TypeError("size must contain ints, got bool")
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"size must contain ints, got {type(v).__name__}") from None
        if v < 1 or v % 2 == 0:
            raise ValueError(f"size must be odd and positive on every axis (centre on the middle pixel), got {v}")
        out.append(v)
    return out


def _angle(v, name):
    return _validate.finite_float(v, name)


def _seed_arg(seed, name="seed"):
    seed = _validate.positive_int(seed, name, minimum=0)
    if seed >= 2**64:
        raise ValueError(f"{name} must be in [0, 2**64), got {seed}")
    return seed


# ---- generators ---------------------------------------------------------------------------
def gaussian(sigma, *, size=None, theta=0.0, ndim=None, dtype=np.float64, like=None):
    """Gaussian PSF, isotropic, anisotropic or rotated, integrated over each pixel.

    Parameters
    ----------
    sigma : float or sequence of float
        Standard deviation in pixels (> 0). A scalar gives an isotropic Gaussian with
        `ndim` axes; a sequence gives one sigma per axis in array order, e.g.
        ``(sigma_rows, sigma_cols)`` or ``(sigma_z, sigma_y, sigma_x)``.
    size : int or sequence of int, optional
        Odd size per axis. Default: ``2 * ceil(4 * sd) + 1`` per axis (at least 3),
        ``sd`` the standard deviation along that axis (of the rotated Gaussian).
    theta : float
        2-D only: rotation in degrees, counter-clockwise on screen. The axis of
        ``sigma[1]`` (columns, x at ``theta = 0``) turns to the direction `theta`.
    ndim : {1, 2, 3}, optional
        Number of axes for a scalar sigma (default 2); must match ``len(sigma)``.
    dtype : float32 or float64
    like : array, optional
        Return the PSF as this array's type: a CuPy array gives a CuPy PSF on its
        device (generated on the host, then copied once: a PSF-sized upload).

    Returns
    -------
    psf : ndarray, sum 1, centre on the middle pixel.

    Notes
    -----
    The continuous density is
    :math:`g(\\mathbf{x}) \\propto \\exp(-\\tfrac12 \\mathbf{x}^T \\Sigma^{-1} \\mathbf{x})`
    with :math:`\\Sigma = \\mathrm{diag}(\\sigma_i^2)`, or in 2-D
    :math:`\\Sigma = R(\\theta)\\,\\mathrm{diag}(\\sigma_x^2, \\sigma_y^2)\\,R(\\theta)^T` in
    (x, y-up) coordinates. Each pixel holds the integral of :math:`g` over its area:
    exactly (products of erf differences, :math:`\\Phi(k + \\tfrac12) - \\Phi(k -
    \\tfrac12)` per axis) when the axes are not rotated, so sub-pixel sigmas are
    accurate. A rotated Gaussian factors as :math:`N(y; 0, \\Sigma_{rr})\\, N(x;
    y\\Sigma_{rc}/\\Sigma_{rr}, \\Sigma_{cc} - \\Sigma_{rc}^2/\\Sigma_{rr})`: it is
    integrated exactly across columns and, down each pixel, over 64 sub-rows weighted
    by their exact marginal mass (error below 2e-5 of the peak for sigmas >= 0.2).
    Pixel integration adds the box variance 1/12 to the discrete second moments.

    References
    ----------
    .. [1] W. F. Sheppard, "On the calculation of the most probable values of
       frequency-constants", Proc. London Math. Soc. 29 (1898) (the 1/12 correction).

    Examples
    --------
    >>> import unblur
    >>> unblur.psf.gaussian((1.0, 3.0), theta=30).shape
    (15, 23)
    >>> unblur.psf.gaussian(2.0, ndim=3).shape
    (17, 17, 17)
    """
    theta = _angle(theta, "theta")
    if isinstance(sigma, np.ndarray) and sigma.ndim == 0:
        sigma = sigma.item()
    if isinstance(sigma, (tuple, list, np.ndarray)):
        sig = [_validate.positive_float(s, "sigma") for s in sigma]
        if not 1 <= len(sig) <= 3:
            raise ValueError(f"sigma must have 1, 2 or 3 values, got {len(sig)}")
        if ndim is not None and _validate.positive_int(ndim, "ndim") != len(sig):
            raise ValueError(f"ndim={ndim} does not match the {len(sig)} values of sigma")
    else:
        nd = 2 if ndim is None else _validate.positive_int(ndim, "ndim")
        if nd > 3:
            raise ValueError(f"ndim must be 1, 2 or 3, got {nd}")
        sig = [_validate.positive_float(sigma, "sigma")] * nd
    if theta != 0.0 and len(sig) != 2:
        raise ValueError("theta is only defined for 2-D Gaussians")
    return _as_like(_backend.core().gaussian_psf(sig, theta, _size_arg(size, len(sig)), _dtype_arg(dtype)), like)


def disk(radius, *, size=None, dtype=np.float64, like=None):
    """Anti-aliased uniform disk (pillbox), the geometric defocus PSF.

    Parameters
    ----------
    radius : float
        Radius in pixels (>= 0); ``radius <= 0.5`` gives a single-pixel delta.
    size : int or (int, int), optional
        Odd size. Default: ``2 * max(1, ceil(radius - 0.5)) + 1`` (every pixel the disk
        touches).
    dtype : float32 or float64
    like : array, optional
        Return the PSF as this array's type: a CuPy array gives a CuPy PSF on its
        device (generated on the host, then copied once: a PSF-sized upload).

    Returns
    -------
    psf : ndarray, 2-D, sum 1.

    Notes
    -----
    :math:`h(\\mathbf{x}) \\propto |P_{\\mathbf{x}} \\cap \\{\\|\\mathbf{u}\\| \\le R\\}|`, the
    area of pixel :math:`P_{\\mathbf{x}}` inside the circle: 1 for pixels whose farthest
    corner is inside, 0 for those whose nearest point is outside, and counted on a
    32 x 32 sub-grid (error below 1/1024 of a pixel's area per crossing) for pixels the
    edge crosses. Before normalisation the total is the circle's area :math:`\\pi R^2`.

    References
    ----------
    .. [1] J. W. Goodman, *Introduction to Fourier Optics*, 3rd ed., Roberts, 2005,
       ch. 6 (defocus in the geometric-optics limit).

    Examples
    --------
    >>> import unblur
    >>> unblur.psf.disk(4).shape
    (9, 9)
    """
    radius = _validate.nonnegative_float(radius, "radius")
    return _as_like(_backend.core().disk_psf(radius, _size_arg(size, 2), _dtype_arg(dtype)), like)


defocus = disk


def motion(length, angle=0.0, *, size=None, dtype=np.float64, like=None):
    """Linear motion blur: a uniform segment of `length` pixels through the centre.

    Parameters
    ----------
    length : float
        Length of the motion in pixels (>= 0). Below 1 the kernel is a centred,
        delta-like spot; 0 is an exact delta.
    angle : float
        Direction in degrees, counter-clockwise on screen from +x.
    size : int or (int, int), optional
        Odd size. Default: ``2 * max(1, ceil(length / 2 * |sin(angle)|)) + 1`` rows and
        ``2 * max(1, ceil(length / 2 * |cos(angle)|)) + 1`` columns.
    dtype : float32 or float64
    like : array, optional
        Return the PSF as this array's type: a CuPy array gives a CuPy PSF on its
        device (generated on the host, then copied once: a PSF-sized upload).

    Returns
    -------
    psf : ndarray, 2-D, sum 1, centroid exactly on the centre pixel.

    Notes
    -----
    The segment :math:`\\{t (\\cos a, -\\sin a) : |t| \\le L/2\\}` (columns, rows) is sampled
    at :math:`n = \\lceil 16 L \\rceil` equally weighted midpoints
    :math:`t_k = ((k + \\tfrac12)/n - \\tfrac12) L` and each sample is splatted bilinearly
    onto its four neighbouring pixels. Bilinear splatting preserves the first moment
    exactly, so the centroid is the centre pixel; along the direction the second moment
    is :math:`L^2/12` plus the splatting kernel's variance (at most 1/4).

    References
    ----------
    .. [1] R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed., 2018,
       sec. 5.6 (uniform linear motion blur).

    Examples
    --------
    >>> import unblur
    >>> unblur.psf.motion(10, angle=30).shape
    (7, 11)
    """
    length = _validate.nonnegative_float(length, "length")
    angle = _angle(angle, "angle")
    return _as_like(_backend.core().motion_psf(length, angle, _size_arg(size, 2), _dtype_arg(dtype)), like)


def shake(extent=15, *, seed=0, steps=64, smoothness=0.9, size=None, dtype=np.float64, like=None):
    """Camera shake: a random smooth trajectory, rasterised with anti-aliasing.

    Parameters
    ----------
    extent : float
        The larger side of the trajectory's bounding box, in pixels (>= 0).
    seed : int
        Seed in [0, 2**64). The same seed gives the same PSF on every platform.
    steps : int
        Number of trajectory vertices (time samples), >= 2. The path is sampled every
        1/16 pixel; more than ``MAX_SHAKE_SAMPLES`` (2**24) samples is a ValueError.
    smoothness : float
        Inertia of the velocity, in [0, 1): 0 is a plain random walk, values near 1
        give long smooth sweeps.
    size : int or (int, int), optional
        Odd size. Default: ``2 * max(1, ceil(r)) + 1`` per axis, ``r`` the largest
        distance of the trajectory from its centroid along that axis.
    dtype : float32 or float64
    like : array, optional
        Return the PSF as this array's type: a CuPy array gives a CuPy PSF on its
        device (generated on the host, then copied once: a PSF-sized upload).

    Returns
    -------
    psf : ndarray, 2-D, sum 1, centroid exactly on the centre pixel.

    Notes
    -----
    Velocity follows an AR(1) process, :math:`v_t = s\\,v_{t-1} + \\sqrt{1 - s^2}\\, g_t`
    with :math:`g_t` standard normal 2-vectors, and position
    :math:`x_t = x_{t-1} + v_t` (a random walk with inertia in the spirit of [1]_). The
    path is scaled to the requested extent; each segment gets equal exposure time
    (slow motion is brighter), sampled every 1/16 pixel and splatted bilinearly after
    the time-weighted centroid has been moved to the centre pixel, sub-pixel part
    included. Normal numbers come from xoshiro256** [2]_ seeded by splitmix64 and
    Box-Muller, implemented in unblur (not the platform's std:: distributions).

    References
    ----------
    .. [1] G. Boracchi and A. Foi, "Modeling the performance of image restoration from
       motion blur", IEEE Trans. Image Process. 21(8), 3502-3517, 2012.
    .. [2] D. Blackman and S. Vigna, "Scrambled linear pseudorandom number
       generators", ACM Trans. Math. Softw. 47(4), 2021.

    Examples
    --------
    >>> import numpy as np, unblur
    >>> a = unblur.psf.shake(12, seed=3)
    >>> bool(np.array_equal(a, unblur.psf.shake(12, seed=3)))
    True
    """
    extent = _validate.nonnegative_float(extent, "extent")
    seed = _seed_arg(seed)
    steps = _validate.positive_int(steps, "steps", minimum=2)
    if steps > 1_000_000:
        raise ValueError(f"steps must be <= 1000000, got {steps}")
    smoothness = _validate.nonnegative_float(smoothness, "smoothness")
    if smoothness >= 1:
        raise ValueError(f"smoothness must be in [0, 1), got {smoothness:g}")
    psf = _backend.core().shake_psf(extent, seed, steps, smoothness, _size_arg(size, 2), _dtype_arg(dtype))
    return _as_like(psf, like)


#: The most trajectory samples (16 per pixel of path) a shake PSF may take.
MAX_SHAKE_SAMPLES = 1 << 24


def turbulence(d_over_r0, *, size=None, oversampling=2.0, short_exposure=False, seed=None,
               dtype=np.float64, threads=None, like=None):
    """Atmospheric-turbulence PSF of a circular aperture (long or short exposure).

    Parameters
    ----------
    d_over_r0 : float
        Aperture diameter over Fried's parameter, D / r0 (>= 0; 0 is diffraction-limited).
    size : int or (int, int), optional
        Odd size. Default: ``2 * ceil(2 * oversampling * (4 + 2 * d_over_r0)) + 1``
        (four lambda/D plus two seeing FWHMs on each side).
    oversampling : float
        Pixel size is lambda / (2 * oversampling * D); 1 is Nyquist sampling of the
        diffraction-limited PSF. Must be >= 1.
    short_exposure : bool
        False: the long-exposure (time-averaged) PSF. True: one instantaneous speckle
        PSF through a random Kolmogorov phase screen; needs `seed`. Its centroid wanders
        with the screen's tilt and is not re-centred.
    seed : int, optional
        Seed of the phase screen (short exposure only).
    dtype : float32 or float64
    threads : int, optional
        FFTW threads (default: ``unblur.get_threads()``).
    like : array, optional
        Return the PSF as this array's type: a CuPy array gives a CuPy PSF on its
        device (generated on the host, then copied once: a PSF-sized upload).

    Returns
    -------
    psf : ndarray, 2-D, sum 1.

    Notes
    -----
    With :math:`\\rho` in cycles per pixel and :math:`u = 2\\,\\mathrm{oversampling}\\,\\rho`
    the frequency over the cut-off D/lambda, the long-exposure OTF is [1]_

    .. math:: \\mathrm{OTF}(u) = T(u) \\exp(-3.44 (u D / r_0)^{5/3}),\\quad
              T(u) = \\tfrac{2}{\\pi}(\\arccos u - u\\sqrt{1 - u^2}),\\ u \\le 1,

    evaluated on a periodic grid of ``fast_fft_size(max(2 * max(size), 64))`` pixels,
    inverse-transformed with unblur's FFT engine, cropped, round-off negatives clipped
    to 0 and normalised. The short exposure is :math:`|\\mathcal{F}\\{P\\, e^{i\\phi}\\}|^2`
    on the same grid, where the pupil :math:`P` (diameter grid/(2 oversampling) samples,
    anti-aliased edge) carries a phase screen made by the FFT method [2]_: complex white
    noise times :math:`\\sqrt{0.023\\, r_0^{-5/3} f^{-11/3}}\\,\\Delta f`, the zero frequency
    removed, plus six levels of 3 x 3 subharmonics [3]_ (frequencies down to
    :math:`\\Delta f / 3^6`), without which the steep Kolmogorov spectrum loses a
    third of its structure function and the mean short exposure is too sharp. For large D/r0 the long-exposure FWHM approaches
    :math:`0.98\\,\\lambda/r_0 = 1.96\\,\\mathrm{oversampling}\\, D/r_0` pixels; for D/r0 -> 0
    it is the (point-sampled) Airy pattern with first dark ring at 2.44 oversampling
    pixels.

    References
    ----------
    .. [1] D. L. Fried, "Optical resolution through a randomly inhomogeneous medium for
       very long and very short exposures", J. Opt. Soc. Am. 56(10), 1372-1379, 1966.
    .. [2] J. D. Schmidt, *Numerical Simulation of Optical Wave Propagation*, SPIE
       Press, 2010, ch. 9.
    .. [3] R. G. Lane, A. Glindemann and J. C. Dainty, "Simulation of a Kolmogorov
       phase screen", Waves in Random Media 2(3), 209-224, 1992.

    Examples
    --------
    >>> import unblur
    >>> unblur.psf.turbulence(2.0, oversampling=1.0).shape
    (33, 33)
    >>> unblur.psf.turbulence(2.0, oversampling=1.0, short_exposure=True, seed=1).shape
    (33, 33)
    """
    d_over_r0 = _validate.nonnegative_float(d_over_r0, "d_over_r0")
    oversampling = _validate.positive_float(oversampling, "oversampling")
    if oversampling < 1:
        raise ValueError(f"oversampling must be >= 1 (1 is Nyquist sampling), got {oversampling:g}")
    if not isinstance(short_exposure, (bool, np.bool_)):
        raise TypeError(f"short_exposure must be a bool, got {type(short_exposure).__name__}")
    if short_exposure:
        if seed is None:
            raise ValueError("seed is required with short_exposure=True (the phase screen is random)")
        seed = _seed_arg(seed)
    else:
        seed = 0 if seed is None else _seed_arg(seed)
    psf = _backend.core().turbulence_psf(d_over_r0, oversampling, bool(short_exposure), seed, _size_arg(size, 2),
                                         _dtype_arg(dtype), _validate.threads_arg(threads))
    return _as_like(psf, like)


def airy(radius, *, size=None, dtype=np.float64, like=None):
    """Diffraction-limited PSF of a circular aperture (Airy pattern), pixel-integrated.

    Parameters
    ----------
    radius : float
        Radius of the first dark ring in pixels (> 0), i.e. 1.22 lambda / D.
    size : int or (int, int), optional
        Odd size. Default: ``2 * max(1, ceil(4 * radius)) + 1`` (about four dark rings).
    dtype : float32 or float64
    like : array, optional
        Return the PSF as this array's type: a CuPy array gives a CuPy PSF on its
        device (generated on the host, then copied once: a PSF-sized upload).

    Returns
    -------
    psf : ndarray, 2-D, sum 1.

    Notes
    -----
    :math:`I(r) = [2 J_1(v)/v]^2`, :math:`v = 3.8317\\, r / \\mathrm{radius}`, averaged
    over :math:`S \\times S` points per pixel with
    ``S = min(9, 2 * ceil(4 / radius) + 1)`` (S = 9 for radius <= 1 pixel).

    References
    ----------
    .. [1] M. Born and E. Wolf, *Principles of Optics*, 7th ed., Cambridge, 1999,
       sec. 8.5.2.

    Examples
    --------
    >>> import unblur
    >>> unblur.psf.airy(2.5).shape
    (21, 21)
    """
    radius = _validate.positive_float(radius, "radius")
    return _as_like(_backend.core().airy_psf(radius, _size_arg(size, 2), _dtype_arg(dtype)), like)


def moffat(fwhm, beta=2.5, *, size=None, dtype=np.float64, like=None):
    """Moffat profile, the usual model of seeing-limited stellar images.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum in pixels (> 0).
    beta : float
        Power-law index (> 1, <= 1e300); large beta tends to a Gaussian of the same fwhm.
    size : int or (int, int), optional
        Odd size. Default: ``2 * max(1, ceil(min(r99, 10 * fwhm))) + 1`` with
        ``r99 = alpha * sqrt(100 ** (1 / (beta - 1)) - 1)`` the radius that holds 99 %
        of the continuous profile's flux.
    dtype : float32 or float64
    like : array, optional
        Return the PSF as this array's type: a CuPy array gives a CuPy PSF on its
        device (generated on the host, then copied once: a PSF-sized upload).

    Returns
    -------
    psf : ndarray, 2-D, sum 1.

    Notes
    -----
    :math:`I(r) = (1 + (r/\\alpha)^2)^{-\\beta}`,
    :math:`\\alpha = \\mathrm{fwhm} / (2\\sqrt{2^{1/\\beta} - 1})`, averaged over
    ``S = min(9, 2 * ceil(4 / fwhm) + 1)`` points per pixel axis.

    References
    ----------
    .. [1] A. F. J. Moffat, "A theoretical investigation of focal stellar images in the
       photographic emulsion", Astron. Astrophys. 3, 455-461, 1969.

    Examples
    --------
    >>> import unblur
    >>> unblur.psf.moffat(3.0).shape
    (27, 27)
    """
    fwhm = _validate.positive_float(fwhm, "fwhm")
    beta = _validate.finite_float(beta, "beta")
    if beta <= 1:
        raise ValueError(f"beta must be > 1 (finite flux), got {beta:g}")
    if beta > 1e300:
        raise ValueError(f"beta must be <= 1e300, got {beta:g} (the profile is Gaussian long before)")
    return _as_like(_backend.core().moffat_psf(fwhm, beta, _size_arg(size, 2), _dtype_arg(dtype)), like)


# ---- loading ------------------------------------------------------------------------------
def _too_large(name, pixels, *, in_decoder=False):
    if pixels > _io.MAX_PIXELS:
        raise (_io._TooLarge if in_decoder else ValueError)(
            f"path {name!r}: {pixels} pixels is more than unblur reads (unblur.io.MAX_PIXELS = {_io.MAX_PIXELS}); "
            "a decompression bomb?")


def _read_array(path):
    name = os.fspath(path)
    if str(name).lower().endswith(".npy"):
        try:
            # Memory-mapped first: the header's shape is checked before any data is read.
            a = np.load(name, allow_pickle=False, mmap_mode="r")
        except Exception as exc:
            raise ValueError(f"path {name!r}: not a readable .npy file ({exc})") from None
        if a.dtype.kind not in "biuf":
            raise ValueError(f"path {name!r}: PSF must be real numbers, got dtype {a.dtype}")
        if a.ndim not in (2, 3):
            raise ValueError(f"path {name!r}: PSF must be 2-D or 3-D, got shape {a.shape}")
        _too_large(name, math.prod(a.shape))
        return np.array(a, dtype=np.float64)
    from PIL import Image, UnidentifiedImageError

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = _io.MAX_PIXELS  # Pillow's own bomb check, at unblur's limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(name) as img:
                frames, pixels = [], 0
                for k in range(getattr(img, "n_frames", 1)):
                    img.seek(k)
                    pixels += img.width * img.height  # every page counts, before it is decoded
                    _too_large(name, pixels, in_decoder=True)
                    frames.append(_gray(img))
    except _io._TooLarge as exc:
        raise ValueError(str(exc)) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ValueError(f"path {name!r}: refused as a probable decompression bomb ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"path {name!r}: not a readable image ({exc})") from None
    except Exception as exc:  # Pillow's plugins raise nearly anything on corrupt files (see unblur.io)
        raise ValueError(f"path {name!r}: not a readable image ({type(exc).__name__}: {exc})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = old
    if len(frames) == 1:
        return frames[0]
    if len({f.shape for f in frames}) != 1:
        raise ValueError(f"path {name!r}: the frames of a multi-page image differ in size")
    return np.stack(frames)  # a multi-page TIFF is a 3-D PSF


def _gray(img):
    if img.mode == "P":
        img = img.convert("RGBA")
    a = np.asarray(img)
    if a.ndim == 3:
        if a.shape[2] >= 3:
            return a[..., :3].astype(np.float64).mean(axis=2)  # RGB(A): average, alpha ignored
        return a[..., 0].astype(np.float64)  # LA: luminance
    return a.astype(np.float64)


def from_image(path, *, center=True, dtype=np.float64, like=None):
    """Loads a PSF from an image file (anything Pillow reads) or a ``.npy`` array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Colour images are averaged over R, G, B (alpha ignored); a
        multi-page TIFF or a 3-D ``.npy`` gives a 3-D PSF.
    center : bool
        Shift by whole pixels so that the centroid lands on the middle pixel, growing
        the array with zeros as needed (mass is never cropped). Otherwise even axes get
        one zero row/column appended at the end.
    dtype : float32 or float64
    like : array, optional
        Return the PSF as this array's type: a CuPy array gives a CuPy PSF on its
        device (generated on the host, then copied once: a PSF-sized upload).

    Returns
    -------
    psf : ndarray with odd sizes, sum 1.

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    ValueError
        The file cannot be read, has more than ``unblur.io.MAX_PIXELS`` pixels (all
        pages together; refused before they are decoded), or holds an empty,
        non-finite or all-zero PSF.

    Notes
    -----
    Values are converted to float64 without rescaling; negatives (e.g. from background
    subtraction) are clipped to 0 and nothing else is changed before normalisation.
    With `center`, :math:`k_i = \\lfloor c_i + \\tfrac12 \\rfloor` (:math:`c_i` the centroid
    on axis i) becomes the middle index of an axis of size
    :math:`2\\max(k_i, n_i - 1 - k_i) + 1`, so the centroid ends within half a pixel of
    the centre.

    References
    ----------
    .. [1] S. van der Walt et al., "scikit-image: image processing in Python", PeerJ 2,
       e453, 2014 (the PSF conventions of skimage.restoration).

    Examples
    --------
    >>> import numpy as np, tempfile, os, unblur
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "psf.npy")
    >>> np.save(p, np.array([[0, 0, 0, 0], [0, 1, 2, 0], [0, 0, 1, 0]], float))
    >>> h = unblur.psf.from_image(p)
    >>> h.shape, round(float(h.sum()), 12)
    ((3, 5), 1.0)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not isinstance(center, (bool, np.bool_)):
        raise TypeError(f"center must be a bool, got {type(center).__name__}")
    dt = _dtype_arg(dtype)
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"path {name!r}: no such file")
    if os.path.isdir(name):
        raise ValueError(f"path {name!r} is a directory, not a PSF file")
    a = _read_array(name)
    if a.size == 0:
        raise ValueError(f"path {name!r}: the PSF is empty (shape {a.shape})")
    if not np.isfinite(a).all():
        raise ValueError(f"path {name!r}: the PSF contains NaN or infinite values")
    a = np.maximum(a, 0.0)
    if float(a.max()) * a.size * max(a.shape) > 1e300:
        # Values near float64's limit (a float file may hold anything finite): the sums
        # below would overflow to inf and the centroid to NaN. The PSF is normalised
        # anyway, so scale it to a peak of 1 first (only then: other files are untouched).
        a = a / a.max()
    total = float(a.sum())
    if not total > 0:
        raise ValueError(f"path {name!r}: the PSF is all zero (after clipping negatives)")
    if center:
        pads = []
        for axis, n in enumerate(a.shape):
            profile = a.sum(axis=tuple(i for i in range(a.ndim) if i != axis))
            c = float((profile * np.arange(n)).sum() / total)
            k = int(np.floor(c + 0.5))
            h = max(k, n - 1 - k)
            pads.append((h - k, h - (n - 1 - k)))
        a = np.pad(a, pads)
    else:
        a = np.pad(a, [(0, 1 - n % 2) for n in a.shape])
    return _as_like(np.ascontiguousarray((a / a.sum()).astype(dt)), like)
