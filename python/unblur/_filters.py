"""Public filters: the Gaussian filter of scipy.ndimage, and the collaborative Wiener
filter guided by a pilot estimate (BM3D's second stage), on unblur's engines."""

from __future__ import annotations

from . import _backend, _memory, _validate
from ._xp import collaborative as _xp_collab
from ._xp import gaussian_filter as _xp_gaussian

__all__ = ["gaussian_filter", "collaborative_wiener"]

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


def collaborative_wiener(image, pilot, noise_sigma, *, block=_xp_collab.BLOCK, step=_xp_collab.STEP,
                         radius=_xp_collab.RADIUS, group=_xp_collab.GROUP, tau=_xp_collab.TAU, channel_axis=None,
                         threads=None):
    """Denoise an image by collaborative Wiener filtering, guided by a pilot estimate.

    The second stage of BM3D [1]_ with the first stage's estimate replaced by any
    `pilot` (a learned denoiser's output, say): blocks similar to each reference block
    are found on the pilot and stacked; the stack of noisy blocks is shrunk in a 3-D
    transform by the empirical Wiener gains the pilot's stack gives. Repeated structure
    (brick, fabric, text) is restored from all its copies at once, where a denoiser that
    looks at one neighbourhood sees each copy alone. ``unblur.pnp_deconvolve`` uses it
    on its last step (``refine='wiener'``).

    Parameters
    ----------
    image : array, 2-D (plus an optional channel axis)
        The noisy image; float32 and float64 are preserved, integers become float32 in
        [0, 1] (unblur's dtype policy).
    pilot : array
        An estimate of the clean image: same shape as `image` (converted to its dtype).
    noise_sigma : float or array
        The noise's standard deviation: one number, or per pixel an array of the
        image's spatial shape (or its whole shape, one map per channel).
    block : int
        Side of the square blocks (1..32).
    step : int
        Distance between reference blocks along each axis (1..block); the last row and
        column of blocks are always references, so every pixel is covered.
    radius : int
        Search radius (0..256): candidates lie within this many pixels of the
        reference along each axis.
    group : int
        Most blocks in a group (1..64), the reference included.
    tau : float
        Largest mean squared difference (on the pilot) of a block from its reference;
        the default, BM3D's 400/255^2, is for images in [0, 1].
    channel_axis : int or None
        Axis of colour channels; each channel is filtered on its own.
    threads : int or None
        CPU threads (None: ``unblur.get_threads()``). The result does not depend on it.

    Returns
    -------
    estimate : array
        Same shape, dtype and array type (NumPy or CuPy) as `image`.

    Notes
    -----
    Per reference block the group's noisy and pilot blocks get an orthonormal 2-D DCT
    each and an orthonormal DCT across the group; the noisy coefficients are scaled by
    :math:`P^2 / (P^2 + s^2)`, :math:`s^2` the mean of :math:`\\sigma^2` over the
    reference block, and transformed back. Each block estimate is added with the weight
    :math:`1 / (s^2 \\max(\\sum \\text{gain}^2, 1))` times a Kaiser window
    (beta 2), and the result is the weighted mean at each pixel. Images smaller than
    one block along an axis come back as the pilot. NumPy arrays run on the C++ core;
    CuPy arrays on the array-API reference (``unblur._xp.collaborative``, which the
    core is tested against).

    References
    ----------
    .. [1] K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Image denoising by sparse
       3-D transform-domain collaborative filtering", IEEE Transactions on Image
       Processing 16(8), 2080-2095 (2007).

    Examples
    --------
    >>> import numpy as np, unblur
    >>> rng = np.random.default_rng(0)
    >>> clean = np.tile(np.repeat([0.2, 0.8], 4), (64, 8))  # stripes 4 pixels wide
    >>> noisy = clean + rng.normal(0, 0.1, clean.shape)
    >>> pilot = unblur.gaussian_filter(noisy, 1.0)  # a poor pilot: blurs the stripes
    >>> out = unblur.collaborative_wiener(noisy, pilot, 0.1)
    >>> psnr = lambda x: unblur.metrics.psnr(clean, x, data_range=1.0)
    >>> bool(psnr(out) > psnr(pilot) + 3 and psnr(out) > psnr(noisy) + 3)
    True
    """
    image, channel_axis = _validate.as_image(image, "image", ndim=2, channel_axis=channel_axis)
    xp = _backend.namespace_of(image)
    _validate.like_image(pilot, xp, "pilot")
    pilot, _ = _validate.as_image(pilot, "pilot", ndim=2, channel_axis=channel_axis, dtype=image.dtype)
    if tuple(pilot.shape) != tuple(image.shape):
        raise ValueError(f"pilot must have the image's shape {tuple(image.shape)}, got {tuple(pilot.shape)}")
    block = _validate.positive_int(block, "block")
    if block > 32:
        raise ValueError(f"block must be <= 32, got {block}")
    step = _validate.positive_int(step, "step")
    if step > block:
        raise ValueError(f"step must be <= block ({block}), got {step}")
    radius = _validate.positive_int(radius, "radius", minimum=0)
    if radius > 256:
        raise ValueError(f"radius must be <= 256, got {radius}")
    group = _validate.positive_int(group, "group")
    if group > 64:
        raise ValueError(f"group must be <= 64, got {group}")
    tau = _validate.nonnegative_float(tau, "tau")
    threads = _validate.threads_arg(threads)
    spatial = [n for i, n in enumerate(image.shape) if i != channel_axis]
    channels = 1 if channel_axis is None else image.shape[channel_axis]
    if hasattr(noise_sigma, "shape") and getattr(noise_sigma, "ndim", 0) > 0:
        from ._pnp import _given_maps

        maps = [xp.ascontiguousarray(m) for m in _given_maps(noise_sigma, image, channel_axis, spatial, xp)]
    else:
        maps = [_validate.nonnegative_float(noise_sigma, "noise_sigma")] * channels
    need = _memory.collaborative_wiener_bytes(spatial, image.dtype.itemsize, radius, step, group, xp, threads)
    _memory.require("collaborative_wiener", need, xp)
    params = dict(block=block, step=step, radius=radius, group=group, tau=tau)
    if not _backend.is_numpy(image):
        run_one = _xp_collab.collaborative_wiener
    else:
        core = _backend.core()

        def run_one(y, p, s, **kw):
            return core.collaborative_wiener(y, p, s, threads=threads, **kw)

    if channel_axis is None:
        return run_one(image, pilot, maps[0], **params)
    out = xp.empty_like(image)
    for c, (y, p) in enumerate(zip(xp.moveaxis(image, channel_axis, 0), xp.moveaxis(pilot, channel_axis, 0))):
        xp.moveaxis(out, channel_axis, 0)[c] = run_one(xp.ascontiguousarray(y), xp.ascontiguousarray(p), maps[c],
                                                       **params)
    return out
