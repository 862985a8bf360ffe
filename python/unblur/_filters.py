"""Public filters: the Gaussian filter of scipy.ndimage, on unblur's engines."""

from __future__ import annotations

from . import _backend, _memory, _validate
from ._xp import gaussian_filter as _xp_gaussian

__all__ = ["gaussian_filter"]

_MODES = ("reflect", "mirror", "nearest", "constant", "wrap", "periodic")


def gaussian_filter(image, sigma, *, mode="reflect", cval=0.0, truncate=4.0, channel_axis=None, threads=None):
    """Gaussian filter of a 1-D signal, 2-D image or 3-D volume.

    Each spatial axis is correlated with a sampled, normalised 1-D Gaussian, as
    :func:`scipy.ndimage.gaussian_filter` (order 0) does, with the same results.
    Small kernels run as direct separable passes; large ones as an FFT convolution of
    the boundary-extended lines, chosen per axis by a cost model (exact to rounding).

    Parameters
    ----------
    image : array, 1-D to 3-D spatial (plus an optional channel axis)
        float32 and float64 are preserved; integers become float32 in [0, 1] and
        float16 float32 (unblur's dtype policy). Must be finite.
    sigma : float or sequence of float
        Standard deviation of the Gaussian in pixels, one value for all spatial axes
        or one per spatial axis. 0 leaves an axis unfiltered.
    mode : {'reflect', 'mirror', 'nearest', 'constant', 'wrap', 'periodic'}
        How the image extends beyond its edges, as in scipy.ndimage; for a line
        ``a b c d``: 'reflect' ``d c b a | a b c d | d c b a``, 'mirror'
        ``d c b | a b c d | c b a``, 'nearest' ``a a a | a b c d | d d d``, 'constant'
        ``k k k | a b c d | k k k`` with ``k = cval``, 'wrap' (alias 'periodic')
        ``b c d | a b c d | a b c``. The rules repeat when the kernel is longer than
        the axis.
    cval : float
        The value outside the image in 'constant' mode.
    truncate : float
        The kernel stops at ``r = int(truncate * sigma + 0.5)`` pixels from its centre.
    channel_axis : int or None
        Axis of colour channels; each channel is filtered on its own.
    threads : int or None
        CPU threads (None: ``unblur.get_threads()``).

    Returns
    -------
    filtered : array
        Same shape as `image`, dtype by the dtype policy, same array type (NumPy or
        CuPy) as `image`.

    Notes
    -----
    Along an axis of length n, with weights
    :math:`w_k = e^{-k^2 / (2\\sigma^2)} / \\sum_{j=-r}^{r} e^{-j^2 / (2\\sigma^2)}`,

    .. math:: y_i = \\sum_{k=-r}^{r} w_k \\, x_{e(i + k)},

    where :math:`e` maps positions outside ``[0, n)`` back into the image by `mode`.
    The axes are filtered one after the other, in order. The direct route costs about
    ``r + 1`` multiply-adds per sample and axis; the FFT route ``O(log n)``; the
    switch happens near r = 45 (float32) and r = 25 (float64).

    References
    ----------
    .. [1] P. Virtanen et al., "SciPy 1.0: fundamental algorithms for scientific
       computing in Python", Nature Methods 17, 261-272 (2020):
       ``scipy.ndimage.gaussian_filter``, whose conventions this follows.
    .. [2] R. C. Gonzalez, R. E. Woods, "Digital Image Processing", 4th ed.,
       Pearson, 2018, section 3.5 (smoothing spatial filters).

    Examples
    --------
    >>> import numpy as np, unblur
    >>> impulse = np.zeros((9, 9), np.float32)
    >>> impulse[4, 4] = 1
    >>> out = unblur.gaussian_filter(impulse, 1.0)
    >>> out.dtype, round(float(out.sum()), 5)
    (dtype('float32'), 1.0)
    >>> bool(out[4, 4] == out.max())
    True
    """
    image, channel_axis = _validate.as_image(image, "image", ndim=(1, 2, 3), channel_axis=channel_axis)
    spatial = image.ndim - (channel_axis is not None)
    sigma = _validate.axis_tuple(sigma, spatial, "sigma", _validate.nonnegative_float)
    mode = _validate.choice(mode, "mode", _MODES)
    cval = _validate.finite_float(cval, "cval")
    truncate = _validate.positive_float(truncate, "truncate")
    threads = _validate.threads_arg(threads)
    channels = 1 if channel_axis is None else image.shape[channel_axis]
    _memory.require("gaussian_filter", _memory.gaussian_filter_bytes(
        [s for i, s in enumerate(image.shape) if i != channel_axis], sigma, truncate, threads, image.dtype.itemsize,
        channels),
        _backend.namespace_of(image))

    cuda = None if _backend.is_numpy(image) else _backend.gpu_engine()
    if cuda is not None:
        import cupy

        def run(x):
            out = cupy.empty_like(x)
            cuda.gaussian_filter(_backend.device_pointer(x, "image"), out.data.ptr, list(x.shape), list(sigma), mode,
                                 cval, truncate, x.dtype.name, _backend.current_stream())
            return out

    elif not _backend.is_numpy(image):

        def run(x):
            return _xp_gaussian.gaussian_filter(x, sigma, mode, cval, truncate)

    else:
        core = _backend.core()

        def run(x):
            return core.gaussian_filter(x, list(sigma), mode, cval, truncate, threads)

    return _backend.per_channel(run, image, channel_axis)
