"""``unblur.deconvolve``: one call that picks a non-blind method and its parameters."""

from __future__ import annotations

from . import _deconv_common, _validate

__all__ = ["deconvolve"]

_METHODS = ("auto", "wiener", "tikhonov", "rl", "tv", "pnp")


def _method_function(method):
    if method == "rl":
        from ._richardson_lucy import richardson_lucy

        return richardson_lucy
    if method == "tv":
        from ._tv import tv_deconvolve

        return tv_deconvolve
    if method == "pnp":
        from ._pnp import pnp_deconvolve

        return pnp_deconvolve
    from . import _wiener

    return _wiener.wiener if method == "wiener" else _wiener.tikhonov


# The default method: on bench/quality.py (six photographs, valid-mode Gaussian,
# defocus, motion and shake blur, noise 0.01 and 0.03, default parameters) TV had the
# best mean PSNR and SSIM at both noise levels (bench/RESULTS.md, 2026-11-25).
AUTO_METHOD = "tv"


def _choose(image, channel_axis):
    return AUTO_METHOD


def deconvolve(image, psf, method="auto", *, boundary="auto", channel_axis=None, return_info=False,
               callback=None, threads=None, **params):
    """Deconvolve an image with a known PSF, choosing the method and its parameters.

    Parameters
    ----------
    image : array, 2-D or 3-D (plus a channel axis)
        The blurred observation. float32/float64 are kept; integer images become
        float32 in [0, 1].
    psf : array
        Point-spread function, odd-sized, centred on its middle pixel; normalised to
        sum 1 here. A NumPy PSF with a CuPy image is copied to the device; a CuPy PSF
        with a NumPy image is a TypeError.
    method : {'auto', 'wiener', 'tikhonov', 'rl', 'tv', 'pnp'}
        'auto' picks the classical method that gave the best results with default
        parameters on bench/quality.py. The others call :func:`unblur.wiener`,
        :func:`unblur.tikhonov`, :func:`unblur.richardson_lucy`,
        :func:`unblur.tv_deconvolve` and :func:`unblur.pnp_deconvolve` (plug-and-play
        with the shipped learned denoiser: 2-D images; needs onnxruntime, the
        ``models`` extra).
    boundary : {'auto', 'periodic', 'reflect'}
        'auto' treats the image as the valid part of the blur of a larger scene (no
        ringing at the edges); 'periodic' assumes circular blur; 'reflect' extends the
        image symmetrically (one whole period, twice its size: an exact model for data
        blurred with reflecting edges by a PSF symmetric in each axis; for diagonal
        motion and camera shake prefer 'auto').
    channel_axis : int, optional
        Colour axis.
    return_info : bool
        Also return a dict of what was chosen (method, parameters, iterations, noise).
    callback : callable, optional
        For iterative methods: called with a dict (iteration, max_iterations,
        relative_change, objective) after each iteration; returning False stops.
    threads : int, optional
        CPU threads.
    **params
        Passed to the chosen method (e.g. ``iterations=``, ``nsr=``, ``weight=``).

    Returns
    -------
    restored : array like `image`
    info : dict, only with ``return_info=True``

    Examples
    --------
    >>> import numpy as np, unblur
    >>> truth = np.kron(np.random.default_rng(0).random((12, 12)), np.ones((8, 8)))
    >>> psf = unblur.psf.gaussian(1.5)
    >>> blurred = unblur.convolve(truth, psf, boundary="reflect")
    >>> restored, info = unblur.deconvolve(blurred, psf, return_info=True)
    >>> info["method"] in ("wiener", "tikhonov", "rl", "tv")
    True
    >>> bool(unblur.metrics.psnr(truth, restored, data_range=1) > unblur.metrics.psnr(truth, blurred, data_range=1))
    True
    """
    method = _validate.choice(method, "method", _METHODS)
    # Checked here (errors before any work), but the method gets the caller's PSF: it
    # normalises it itself, and a PSF normalised twice in float32 differs in the last
    # bit, so the result would not be the method's own.
    given_psf = psf
    image, psf, channel_axis, boundary = _deconv_common.prepare(image, psf, channel_axis=channel_axis,
                                                                 boundary=boundary)
    _deconv_common.check_callback(callback)
    chosen = _choose(image, channel_axis) if method == "auto" else method
    fn = _method_function(chosen)
    kwargs = dict(boundary=boundary, channel_axis=channel_axis, return_info=True, threads=threads, **params)
    if chosen != "wiener":
        kwargs["callback"] = callback
    elif callback is not None:
        raise ValueError("callback is for iterative methods; method='wiener' is a closed form")
    try:
        restored, info = fn(image, given_psf, **kwargs)
    except TypeError as exc:  # an option the chosen method does not take
        raise TypeError(f"method {chosen!r}: {exc}") from None
    info = dict(info)
    info["method"] = chosen
    return (restored, info) if return_info else restored
