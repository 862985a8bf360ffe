"""Quadratic deconvolution: ``unblur.wiener`` and ``unblur.tikhonov``."""

from __future__ import annotations

import numbers

import numpy as np

from . import _backend, _deconv_common, _memory, _validate
from ._xp import wiener as _xp_wiener

__all__ = ["wiener", "tikhonov"]

_REGULARIZERS = ("identity", "gradient", "laplacian")
_LAM_METHODS = ("gcv", "discrepancy")

_REFERENCES = """
    References
    ----------
    .. [1] N. Wiener, "Extrapolation, Interpolation, and Smoothing of Stationary Time
       Series", MIT Press, 1949.
    .. [2] B. R. Hunt, "The application of constrained least squares estimation to
       image restoration by digital computer", IEEE Trans. Computers C-22(9), 1973.
    .. [3] G. H. Golub, M. Heath and G. Wahba, "Generalized cross-validation as a
       method for choosing a good ridge parameter", Technometrics 21(2), 1979.
    .. [4] S. J. Reeves, "Fast image restoration without boundary artifacts", IEEE
       Trans. Image Processing 14(10), 2005.
    .. [5] M. S. C. Almeida and M. A. T. Figueiredo, "Deconvolution of images with
       unknown boundaries using the alternating direction method of multipliers",
       IEEE Trans. Image Processing 22(8), 2013.
"""


def _require_memory(name, image, psf, channel_axis, boundary):
    spatial = _spatial(image, channel_axis)
    channels = 1 if channel_axis is None else image.shape[channel_axis]
    _memory.require(name, _memory.quadratic_bytes(spatial, psf.shape, boundary, image.dtype.itemsize, channels),
                    _backend.namespace_of(image))


def _spatial(image, channel_axis):
    return tuple(s for i, s in enumerate(image.shape) if i != channel_axis)


def _nsr_arg(nsr, spatial, psf_shape, boundary, dtype, xp):
    """None (auto), a float, or a spectrum array on the grid's half spectrum, in the
    image's namespace `xp`: a NumPy spectrum for a CuPy image is copied to the device,
    a CuPy one for a NumPy image is refused (TypeError). A callable gets the radial
    frequencies as an `xp` array."""
    if isinstance(nsr, str):
        if nsr != "auto":
            raise ValueError(f"nsr must be 'auto', a number >= 0, an array or a callable; got {nsr!r}")
        return None
    grid = _xp_wiener.grid_shape(spatial, psf_shape, boundary)
    want = grid[:-1] + (grid[-1] // 2 + 1,)
    if callable(nsr):
        values = nsr(_xp_wiener.radial_frequency(grid, xp))
        what = "nsr(f)"
        if not hasattr(values, "shape"):
            values = xp.asarray(values, dtype=np.float64)
        if values.ndim == 0:
            values = _backend.namespace_of(values).broadcast_to(values, want)
        if tuple(values.shape) != want:
            raise ValueError(f"nsr(f) must return an array of the shape of f, {want}; got {tuple(values.shape)}")
    elif isinstance(nsr, numbers.Real) and not isinstance(nsr, bool):
        return _validate.nonnegative_float(nsr, "nsr")
    elif isinstance(nsr, bool) or nsr is None:
        raise TypeError(f"nsr must be 'auto', a number, an array or a callable; got {type(nsr).__name__}")
    else:
        values = nsr
        what = "nsr"
        if not hasattr(values, "shape"):
            values = np.asarray(values)
        if tuple(values.shape) != want:
            raise ValueError(f"nsr array must have the half-spectrum shape {want} of the {boundary!r} grid "
                             f"{grid}, got {tuple(values.shape)}")
    if values.dtype.kind not in "fiu":
        raise TypeError(f"{what} must be real, got dtype {values.dtype}")
    if _backend.namespace_of(values) is not xp:
        if xp is np:
            raise TypeError(f"{what} is a CuPy array but the image is a NumPy array; give both as NumPy arrays "
                            f"(cupy.asnumpy) or both as CuPy arrays")
        values = xp.asarray(values)  # a host spectrum for a device image: copied once
    values = values.astype(dtype)
    if not bool(xp.isfinite(values).all()) or bool((values < 0).any()):
        raise ValueError(f"{what} must be finite and >= 0")
    return xp.ascontiguousarray(values)


def _run(image, channel_axis, run):
    infos = []

    def one(x):
        out, info = run(x)
        infos.append(info)
        return out

    out = _backend.per_channel(one, image, channel_axis)
    if len(infos) == 1:
        return out, infos[0]
    return out, {key: [i[key] for i in infos] for key in infos[0]}


def _info(method, boundary, raw, image, extra):
    sigma = raw.get("noise_sigma")
    if sigma is None:  # report the estimate even when the parameters did not need it
        sigma = float(_deconv_common.estimate_noise(image)) if min(image.shape[-2:]) >= 2 else None
    info = dict(method=method, boundary=boundary, noise_sigma=sigma, iterations=int(raw["iterations"]),
                relative_residual=float(raw["relative_residual"]), grid_shape=tuple(raw["grid_shape"]))
    info.update(extra(raw))
    return info


def wiener(image, psf, *, nsr="auto", boundary="auto", channel_axis=None, return_info=False, threads=None):
    """Wiener deconvolution.

    Parameters
    ----------
    image : array
        2-D image or 3-D volume (plus `channel_axis`); float32/float64 are kept, other
        dtypes follow unblur's dtype policy.
    psf : array
        Point-spread function, odd sizes, centre at index ``k // 2`` per axis (the
        :func:`unblur.fft.psf2otf` convention); normalised to sum 1. A NumPy PSF
        with a CuPy image is copied to the device (the PSF generators of
        :mod:`unblur.psf` return NumPy arrays); a CuPy PSF with a NumPy image is a
        TypeError.
    nsr : 'auto', float, array or callable
        Noise-to-signal power ratio NSR(f):

        * a number >= 0: the same at every frequency (a white signal prior);
        * a callable ``nsr(f)`` of the radial frequency ``f`` (cycles per pixel,
          an array with the half-spectrum shape of the grid, of the image's array
          type: NumPy or CuPy) returning NSR values;
        * an array on the half spectrum of the model's grid: ``rfftn`` layout of
          ``unblur._core.quadratic_grid_shape(shape, psf.shape, boundary)`` (the
          image's shape for 'periodic', a fast FFT size >= N + K - 1 otherwise).
          A NumPy array with a CuPy image is copied to the device; a CuPy array
          with a NumPy image is a TypeError;
        * 'auto': ``sigma^2 / S(f)`` with sigma from :func:`unblur.estimate_noise`
          (for the 8-bit pixels of a decoded JPEG, grey or RGB NumPy, the level of
          the quantisation tables :func:`unblur.io.detect_jpeg` finds:
          ``info["noise_source"]`` 'jpeg-detected') and a fitted power-law image
          spectrum (see Notes).
    boundary : {'auto', 'periodic', 'reflect'}
        'periodic': circular blur of the image (exact closed form, other libraries'
        convention); 'reflect': closed form on the image extended symmetrically
        (one period, 2N along each blurred axis: see :func:`unblur.deconvolve`);
        'auto': the image is the valid part of the blur of a larger scene, solved
        exactly by preconditioned conjugate gradients (no ringing at the edges).
    channel_axis : int, optional
        Colour axis; channels are restored independently.
    return_info : bool
        Also return a dict: method, boundary, noise_sigma, noise_source, nsr (the number,
        'auto', 'array' or 'callable'), psd_model (for 'auto': amplitude, alpha, f0),
        iterations (CG; 0 for closed forms), relative_residual, grid_shape. With a
        channel axis the per-channel values are lists.
    threads : int, optional
        CPU threads (default :func:`unblur.get_threads`).

    Returns
    -------
    restored : array of the image's (policy) dtype and shape
    info : dict, only with ``return_info=True``

    Notes
    -----
    With OTF :math:`H`, data spectrum :math:`G` and penalty :math:`c(f) = \\mathrm{NSR}(f)`,

    .. math:: \\hat X(f) = \\frac{\\overline{H(f)}\\, G(f)}{|H(f)|^2 + \\mathrm{NSR}(f)},

    the minimiser of :math:`\\|h * x - g\\|^2 + x^T C x` with :math:`C` diagonal in
    Fourier space. With a scalar NSR and ``boundary='periodic'`` this equals
    ``skimage.restoration.wiener(image, psf, balance=nsr, reg=delta, clip=False)``.

    For ``nsr='auto'``, :math:`\\mathrm{NSR}(f) = \\sigma^2 / S(f)` with
    :math:`S(f) = A / (|f|^2 + f_0^2)^{\\alpha/2}`, :math:`f_0 = 1/\\max(L)`. The data's
    power :math:`P(f) = |G(f)|^2 / |L|` is averaged over rings of width :math:`1/\\max L`;
    on rings where the blur passes most power (mean :math:`|H|^2 \\ge 0.5`, relaxed to
    0.1, 0.01, 0 if fewer than 3 rings qualify) and the signal clears the noise
    (:math:`P > 2\\sigma^2`), :math:`\\log((P - \\sigma^2)/|H|^2)` is fitted by least
    squares as :math:`\\log A - \\tfrac{\\alpha}{2}\\log(|f|^2 + f_0^2)`, with
    :math:`\\alpha` clipped to [0.5, 4] and :math:`\\sigma` floored at 1e-4 times the
    data's standard deviation. For 'reflect' and 'auto' the fit uses the reflected data
    tapered to its mean over 2K pixels at the edges, so edge kinks do not bias it.

    For ``boundary='auto'`` the normal equations
    :math:`(A^T A + C) x = A^T g`, :math:`A = M(h*\\cdot)` with :math:`M` the crop to the
    observed window, are solved on the extended grid by conjugate gradients in Fourier
    space, preconditioned by :math:`(|H|^2 + c)^{-1}` and started from the closed form
    on the observation reflected over the extended grid; they stop at relative residual 1e-5 or 500 iterations
    ([4]_, [5]_).
    """ + _REFERENCES + """
    Examples
    --------
    >>> import numpy as np, unblur
    >>> x = unblur.data.astronaut()[100:228, 100:228, 1] / 255.0
    >>> psf = np.ones((5, 5)) / 25
    >>> g = unblur.convolve(x, psf, boundary="periodic")
    >>> y = unblur.wiener(g, psf, nsr=1e-6, boundary="periodic")
    >>> bool(np.abs(y - x).max() < 1e-2)
    True
    >>> y, info = unblur.wiener(g, psf, return_info=True)
    >>> info["method"], info["boundary"]
    ('wiener', 'auto')
    """
    image, psf, channel_axis, boundary = _deconv_common.prepare(image, psf, channel_axis=channel_axis,
                                                                boundary=boundary)
    _require_memory("wiener", image, psf, channel_axis, boundary)
    threads = _validate.threads_arg(threads)
    if not isinstance(return_info, bool):
        raise TypeError(f"return_info must be a bool, got {type(return_info).__name__}")
    spatial = _spatial(image, channel_axis)
    nsr_kind = "auto" if isinstance(nsr, str) else "callable" if callable(nsr) else (
        "number" if isinstance(nsr, numbers.Real) else "array")
    xp = _backend.namespace_of(image)
    value = _nsr_arg(nsr, spatial, psf.shape, boundary, image.dtype, xp)

    cuda = None if xp is np else _backend.gpu_engine()
    # a decoded JPEG's pixels: the noise of its tables (estimate_noise cannot see it)
    jpeg = _deconv_common.jpeg_noise_sigma(image, channel_axis) if value is None else None
    if xp is np:
        core = _backend.core()

        def run(x):
            return core.wiener(x, psf, boundary, value, None, 0.0, 500, threads, -1.0 if jpeg is None else jpeg)
    elif cuda is not None:
        mode = "auto" if value is None else "scalar" if isinstance(value, float) else "spectrum"

        def run(x):
            return _cuda_quadratic(cuda, x, psf, boundary, "wiener", nsr_mode=mode,
                                   nsr=value if mode == "scalar" else 0.0, nsr_spectrum=value if mode == "spectrum"
                                   else None, needs_sigma=mode == "auto")
    else:

        def run(x):
            return _xp_wiener.wiener(x, psf, boundary, value, noise_sigma=jpeg)

    out, raw = _run(image, channel_axis, run)
    if not return_info:
        return out

    def extra(r):
        e = dict(nsr=value if nsr_kind == "number" else nsr_kind, lam_method=None,
                 noise_source="jpeg-detected" if jpeg is not None else "estimated")
        if nsr_kind == "auto":
            e["psd_model"] = dict(amplitude=r["psd_amplitude"], alpha=r["psd_alpha"], f0=r["psd_f0"])
        return e

    return out, _merge_info("wiener", boundary, raw, image, channel_axis, extra)


def _merge_info(method, boundary, raw, image, channel_axis, extra):
    if channel_axis is None:
        return _info(method, boundary, raw, image, extra)
    xp = _backend.namespace_of(image)
    channels = [xp.ascontiguousarray(c) for c in xp.moveaxis(image, channel_axis, 0)]
    per = []
    for i, c in enumerate(channels):
        one = {k: (v[i] if isinstance(v, list) else v) for k, v in raw.items()}
        per.append(_info(method, boundary, one, c, extra))
    merged = dict(per[0])
    for key in ("noise_sigma", "nsr", "lam", "iterations", "relative_residual", "psd_model"):
        if key in merged:
            merged[key] = [p[key] for p in per]
    return merged


def tikhonov(image, psf, *, lam="auto", regularizer="laplacian", lam_method="gcv", boundary="auto",
             channel_axis=None, return_info=False, callback=None, threads=None):
    """Tikhonov-regularised (constrained least squares) deconvolution.

    Minimises :math:`\\|M(h * x) - g\\|^2 + \\lambda \\|R x\\|^2`.

    Parameters
    ----------
    image, psf : array
        As in :func:`unblur.wiener`.
    lam : 'auto' or float
        Regularisation weight >= 0; 'auto' chooses it by `lam_method`.
    regularizer : {'laplacian', 'gradient', 'identity'}
        R: the 5-point (7-point in 3-D) periodic Laplacian, periodic forward
        differences along every axis, or the identity.
    lam_method : {'gcv', 'discrepancy'}
        For ``lam='auto'``: generalised cross-validation, or the discrepancy principle
        :math:`\\|g - h*x\\|^2 = |L| \\sigma^2` with sigma from
        :func:`unblur.estimate_noise`. For the 8-bit pixels of a decoded JPEG (grey or
        RGB NumPy; :func:`unblur.io.detect_jpeg`) 'auto' is the discrepancy principle
        with the level of its quantisation tables (``info["noise_source"]``
        'jpeg-detected', ``info["lam_method"]`` 'discrepancy'): GCV assumes white noise,
        which a JPEG's error is not, and took lam towards 0 (5 dB on
        bench/quality.py's JPEG track).
    boundary : {'auto', 'periodic', 'reflect'}
        As in :func:`unblur.wiener`.
    channel_axis : int, optional
    return_info : bool
        Also return a dict: method, boundary, noise_sigma, noise_source, lam, lam_method,
        iterations (CG; 0 for closed forms), relative_residual, grid_shape (lists per
        channel).
    callback : callable, optional
        Called after each conjugate-gradient iteration (``boundary='auto'``) with a dict
        (iteration, max_iterations, relative_change, objective = relative residual);
        returning False stops the solver.
    threads : int, optional

    Returns
    -------
    restored : array
    info : dict, only with ``return_info=True``

    Notes
    -----
    On the periodic and reflect models the minimiser is

    .. math:: \\hat X(f) = \\frac{\\overline{H(f)} G(f)}{|H(f)|^2 + \\lambda |R(f)|^2},

    with :math:`|R|^2 = 1`, :math:`\\sum_d (2 - 2\\cos\\omega_d)` or
    :math:`(\\sum_d (2 - 2\\cos\\omega_d))^2`. With the Laplacian and
    ``boundary='periodic'`` it equals ``skimage.restoration.wiener(image, psf,
    balance=lam, clip=False)``.

    GCV ([3]_) minimises, with the filter :math:`\\phi = |H|^2 / (|H|^2 + \\lambda|R|^2)`,

    .. math:: V(\\lambda) = |L| \\frac{\\sum_f (1 - \\phi)^2 |G|^2}{(\\sum_f (1 - \\phi))^2}

    over :math:`\\log_{10}\\lambda \\in [-12, 4]`: a half-decade grid, then a golden
    section search to 1e-4 decades. The discrepancy principle bisects in
    :math:`\\log\\lambda` (the residual grows with lam). Both work on the periodic model,
    or for 'reflect' and 'auto' on the reflected data tapered to its mean over 2K
    pixels at the edges (untapered, the edges' kinks drive GCV to a vanishing lam).
    ``boundary='auto'`` then solves the normal equations exactly by preconditioned
    conjugate gradients, as described in :func:`unblur.wiener`.
    """ + _REFERENCES + """
    Examples
    --------
    >>> import numpy as np, unblur
    >>> x = unblur.data.astronaut()[100:228, 100:228, 1] / 255.0
    >>> psf = np.ones((5, 5)) / 25
    >>> g = unblur.convolve(x, psf, boundary="periodic")
    >>> y, info = unblur.tikhonov(g, psf, lam=1e-4, boundary="periodic", return_info=True)
    >>> info["lam"], info["iterations"]
    (0.0001, 0)
    """
    image, psf, channel_axis, boundary = _deconv_common.prepare(image, psf, channel_axis=channel_axis,
                                                                boundary=boundary)
    _require_memory("tikhonov", image, psf, channel_axis, boundary)
    threads = _validate.threads_arg(threads)
    regularizer = _validate.choice(regularizer, "regularizer", _REGULARIZERS)
    lam_method = _validate.choice(lam_method, "lam_method", _LAM_METHODS)
    callback = _deconv_common.check_callback(callback)
    if not isinstance(return_info, bool):
        raise TypeError(f"return_info must be a bool, got {type(return_info).__name__}")
    if isinstance(lam, str):
        if lam != "auto":
            raise ValueError(f"lam must be 'auto' or a number >= 0, got {lam!r}")
        method, value = lam_method, 0.0
    else:
        method, value = "fixed", _validate.nonnegative_float(lam, "lam")
    xp = _backend.namespace_of(image)
    # A decoded JPEG's pixels: GCV assumes white noise, and a JPEG's error has none at the
    # finest scales, so GCV takes lam towards 0 (5 dB on bench/quality.py's JPEG track);
    # the discrepancy principle with the noise of its tables instead.
    jpeg = _deconv_common.jpeg_noise_sigma(image, channel_axis) if method != "fixed" else None
    if jpeg is not None:
        method = "discrepancy"
    given = -1.0 if jpeg is None else jpeg
    cuda = None if xp is np else _backend.gpu_engine()
    if xp is np:
        core = _backend.core()

        def run(x):
            return core.tikhonov(x, psf, boundary, regularizer, method, value, callback, 0.0, 500, threads, given)
    elif cuda is not None:

        def run(x):
            return _cuda_quadratic(cuda, x, psf, boundary, "tikhonov", regularizer=regularizer, lam_method=method,
                                   lam=value, callback=callback, needs_sigma=method == "discrepancy")
    else:

        def run(x):
            return _xp_wiener.tikhonov(x, psf, boundary, regularizer, method, value, callback=callback,
                                       noise_sigma=jpeg)

    out, raw = _run(image, channel_axis, run)
    if not return_info:
        return out

    def extra(r):
        return dict(lam=float(r["lam"]), lam_method=method if method != "fixed" else None, regularizer=regularizer,
                    noise_source="jpeg-detected" if jpeg is not None else "estimated")

    return out, _merge_info("tikhonov", boundary, raw, image, channel_axis, extra)


def _cuda_quadratic(cuda, x, psf, boundary, kind, *, nsr_mode="auto", nsr=0.0, nsr_spectrum=None,
                    regularizer="laplacian", lam_method="fixed", lam=0.0, callback=None, needs_sigma=False):
    """One channel of wiener / tikhonov on the CUDA engine: (CuPy result, info)."""
    import cupy

    ptr = _backend.device_pointer
    # The automatic parameters need the noise level: estimated on the device (one scalar read).
    sigma = _deconv_common.estimate_noise(x) if needs_sigma else -1.0  # (with its too-small check)
    out = cupy.empty_like(x)
    info = cuda.quadratic(ptr(x, "image"), list(x.shape), ptr(psf, "psf"), list(psf.shape), out.data.ptr,
                          x.dtype.name, boundary, kind, nsr_mode, nsr,
                          0 if nsr_spectrum is None else ptr(nsr_spectrum, "nsr"), regularizer, lam_method, lam,
                          sigma, callback, 0.0, 500, _backend.current_stream())
    return out, info
