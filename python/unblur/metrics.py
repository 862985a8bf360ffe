"""Image-quality metrics: PSNR and SSIM.

NumPy arrays run on the C++ engine (sums in double, OpenMP); CuPy arrays on the CUDA
engine (the same sums and moments in double), or the array-API reference in float64
where unblur._cuda is not built. Both arguments follow unblur's dtype policy (integer
images become float32 in [0, 1]) and are compared in the wider of their two dtypes.

Examples
--------
>>> import numpy as np
>>> from unblur import metrics
>>> ref = np.linspace(0, 1, 64 * 64).reshape(64, 64)
>>> round(metrics.psnr(ref, ref + 0.01), 6)
40.0
>>> round(metrics.ssim(ref, ref), 6)
1.0
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _backend, _validate
from ._xp import metrics as _xp_metrics

__all__ = ["psnr", "ssim"]


def _pair(reference, image, *, ndim, channel_axis=None):
    """Validated (reference, image, channel_axis, reference was integer, either was) of one
    dtype; a UserWarning where an integer image meets a float one in other units."""
    ref_xp = _backend.namespace_of(reference)
    if ref_xp is not _backend.namespace_of(image):
        raise TypeError("reference and image must both be NumPy arrays or both CuPy arrays")
    # Integer and bool references were scaled to [0, 1] by the dtype policy (data_range 1).
    integer, image_integer = _kind(reference) in "biu", _kind(image) in "biu"
    ref, channel_axis = _validate.as_image(reference, "reference", ndim=ndim, channel_axis=channel_axis)
    img, _ = _validate.as_image(image, "image", ndim=ndim, channel_axis=channel_axis)
    if tuple(ref.shape) != tuple(img.shape):
        raise ValueError(
            f"reference and image must have the same shape, got reference {tuple(ref.shape)} "
            f"and image {tuple(img.shape)}"
        )
    wider = np.result_type(np.dtype(ref.dtype), np.dtype(img.dtype))
    xp = _backend.namespace_of(ref)
    ref = xp.ascontiguousarray(ref.astype(wider, copy=False))
    img = xp.ascontiguousarray(img.astype(wider, copy=False))
    if integer != image_integer:
        # One integer image (now in [0, 1]) against a float one: a float image far beyond
        # 1 is in the integers' raw units (0..255), and the score would be meaningless.
        name, other = ("image", img) if integer else ("reference", ref)
        top = float(xp.abs(other).max())
        if top > 2.0:
            warnings.warn(f"{'reference' if integer else 'image'} is an integer image, which unblur scales to "
                          f"[0, 1], but {name} is a float image with values up to {top:.4g}: they are in different "
                          f"units (divide the float image by the integer type's maximum)", UserWarning, stacklevel=3)
    return ref, img, channel_axis, integer, integer or image_integer


def _kind(a):
    try:
        return (a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype).kind
    except (TypeError, ValueError):
        return "O"  # not an array; as_image says why


def _data_range(data_range, reference, integer, any_integer=False):
    if data_range is not None:
        data_range = _validate.positive_float(data_range, "data_range")
        if any_integer and data_range > 1.0:  # scikit-image's habit (data_range=255) in the wrong units
            warnings.warn(f"data_range={data_range:g} with integer images, which unblur scales to [0, 1]: the "
                          f"range of the scaled values is 1 (data_range=None)", UserWarning, stacklevel=3)
        return data_range
    if integer:
        return 1.0  # the dtype policy scaled integer images to [0, 1]
    span = float(reference.max()) - float(reference.min())
    if not span > 0:
        raise ValueError("data_range cannot be estimated from a constant reference; pass data_range explicitly")
    return span


def psnr(reference, image, *, data_range=None):
    """Peak signal-to-noise ratio of `image` against `reference`, in dB.

    Parameters
    ----------
    reference : array
        The ground truth (1 to 4 axes, channels included).
    image : array
        The image to score; same shape as `reference`.
    data_range : float, optional
        Span of the values, the "peak". None: 1.0 for integer references (the dtype
        policy scales them to [0, 1]); ``reference.max() - reference.min()`` for float
        references (an error when the reference is constant). Integer inputs with a
        data_range above 1 (scikit-image's 255), or an integer image against a float
        one beyond 2, give a UserWarning: the units differ.

    Returns
    -------
    psnr : float
        ``inf`` when the images are identical.

    Notes
    -----
    .. math:: \\mathrm{PSNR} = 10 \\log_{10} \\frac{R^2}{\\mathrm{MSE}}, \\qquad
              \\mathrm{MSE} = \\frac{1}{N} \\sum_i (x_i - y_i)^2

    with :math:`R` = `data_range`, accumulated in double precision.
    Agrees with ``skimage.metrics.peak_signal_noise_ratio(..., data_range=R)``.

    References
    ----------
    .. [1] A. Horé, D. Ziou, "Image quality metrics: PSNR vs. SSIM", 20th
       International Conference on Pattern Recognition, 2366-2369 (2010).

    Examples
    --------
    >>> import numpy as np
    >>> from unblur.metrics import psnr
    >>> ref = np.zeros((8, 8), np.uint8)
    >>> noisy = ref.copy(); noisy[0, 0] = 255
    >>> round(psnr(ref, noisy), 4)  # MSE = 1/64 on the [0, 1] scale
    18.0618
    """
    ref, img, _, integer, any_integer = _pair(reference, image, ndim=(1, 2, 3, 4))
    data_range = _data_range(data_range, ref, integer, any_integer)
    if not _backend.is_numpy(ref):
        cuda = _backend.gpu_engine()
        if cuda is not None:
            return float(cuda.psnr(_backend.device_pointer(ref, "reference"), _backend.device_pointer(img, "image"),
                                   int(ref.size), data_range, ref.dtype.name, _backend.current_stream()))
        return _xp_metrics.psnr(ref, img, data_range)
    return float(_backend.core().psnr(ref, img, data_range))


def ssim(reference, image, *, data_range=None, sigma=1.5, truncate=3.5, K1=0.01, K2=0.03, channel_axis=None,
         full=False):
    """Structural similarity index (Gaussian window) of `image` against `reference`.

    Parameters
    ----------
    reference : array, 1-D to 3-D spatial (plus an optional channel axis)
        The ground truth.
    image : array
        The image to score; same shape as `reference`.
    data_range : float, optional
        Span of the values. None: 1.0 for integer references (the dtype policy scales
        them to [0, 1]); ``reference.max() - reference.min()`` for float references.
        Integer inputs in other units give a UserWarning, as for :func:`psnr`.
    sigma : float
        Standard deviation of the Gaussian window, in pixels.
    truncate : float
        The window has radius ``r = int(truncate * sigma + 0.5)`` (5 by default, an
        11-pixel window); every spatial axis must be at least ``2 r + 1`` long.
    K1, K2 : float
        Stabilising constants, :math:`C_1 = (K_1 R)^2`, :math:`C_2 = (K_2 R)^2`.
    channel_axis : int or None
        Axis of colour channels: SSIM is computed per channel and averaged.
    full : bool
        Also return the SSIM map.

    Returns
    -------
    mssim : float
        Mean SSIM over the map, leaving out `r` pixels at every edge.
    ssim_map : array
        Only with ``full=True``: the SSIM at every pixel (same shape as the inputs).

    Notes
    -----
    With Gaussian-weighted local means :math:`\\mu_x, \\mu_y`, variances
    :math:`\\sigma_x^2 = G * x^2 - \\mu_x^2`, :math:`\\sigma_y^2` and covariance
    :math:`\\sigma_{xy} = G * (xy) - \\mu_x \\mu_y` (population statistics, 'reflect'
    boundaries, computed in double precision):

    .. math:: \\mathrm{SSIM} = \\frac{(2 \\mu_x \\mu_y + C_1)(2 \\sigma_{xy} + C_2)}
              {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)}

    Agrees with ``skimage.metrics.structural_similarity(reference, image,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=R)``.

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
       assessment: from error visibility to structural similarity", IEEE
       Transactions on Image Processing 13(4), 600-612 (2004).
       :DOI:`10.1109/TIP.2003.819861`

    Examples
    --------
    >>> import numpy as np
    >>> from unblur import gaussian_filter
    >>> from unblur.metrics import ssim
    >>> ref = np.random.default_rng(0).random((64, 64))
    >>> ssim(ref, ref, data_range=1.0)
    1.0
    >>> bool(ssim(ref, gaussian_filter(ref, 2.0), data_range=1.0) < 0.5)
    True
    """
    ref, img, channel_axis, integer, any_integer = _pair(reference, image, ndim=(1, 2, 3), channel_axis=channel_axis)
    sigma = _validate.positive_float(sigma, "sigma")
    truncate = _validate.positive_float(truncate, "truncate")
    K1 = _validate.nonnegative_float(K1, "K1")
    K2 = _validate.nonnegative_float(K2, "K2")
    if not isinstance(full, (bool, np.bool_)):
        raise TypeError(f"full must be a bool, got {type(full).__name__}")
    data_range = _data_range(data_range, ref, integer, any_integer)
    win = 2 * int(truncate * sigma + 0.5) + 1
    spatial = [n for a, n in enumerate(ref.shape) if a != channel_axis]
    if min(spatial) < win:
        raise ValueError(
            f"reference and image must be at least {win} pixels along every spatial axis (the SSIM window "
            f"for sigma={sigma:g}, truncate={truncate:g}), got shape {tuple(ref.shape)}"
        )

    xp = _backend.namespace_of(ref)
    if xp is np:
        core = _backend.core()

        def one(x, y):
            return core.ssim(x, y, data_range, sigma, truncate, K1, K2, bool(full))

    elif _backend.gpu_engine() is not None:
        cuda = _backend.gpu_engine()

        def one(x, y):
            smap = xp.empty_like(x) if full else None
            m = cuda.ssim(_backend.device_pointer(x, "reference"), _backend.device_pointer(y, "image"), list(x.shape),
                          data_range, sigma, truncate, K1, K2, 0 if smap is None else smap.data.ptr, x.dtype.name,
                          _backend.current_stream())
            return m, smap

    else:

        def one(x, y):
            return _xp_metrics.ssim(x, y, data_range, sigma, truncate, K1, K2)

    if channel_axis is None:
        mssim, smap = one(ref, img)
    else:
        results = [
            one(xp.ascontiguousarray(x), xp.ascontiguousarray(y))
            for x, y in zip(xp.moveaxis(ref, channel_axis, 0), xp.moveaxis(img, channel_axis, 0))
        ]
        mssim = sum(m for m, _ in results) / len(results)
        smap = None
        if full:
            smap = xp.ascontiguousarray(xp.moveaxis(xp.stack([s for _, s in results]), 0, channel_axis))
    mssim = float(mssim)
    return (mssim, smap) if full else mssim
