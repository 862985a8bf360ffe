"""Public Richardson–Lucy deconvolution: ``unblur.richardson_lucy``."""

from __future__ import annotations

import warnings

import numpy as np

from . import _backend, _deconv_common, _memory, _validate
from ._xp import richardson_lucy as _xp_rl

__all__ = ["richardson_lucy"]

_BOUNDARIES = _deconv_common.BOUNDARIES + ("zero",)


def richardson_lucy(image, psf, *, iterations=None, boundary="auto", accelerate=True, damping=0.0, tv_weight=0.0,
                    weights=None, background=0.0, initial=None, tolerance=1e-3, noise_sigma="auto", channel_axis=None,
                    return_info=False, callback=None, threads=None):
    """Richardson–Lucy deconvolution of a 2-D image or 3-D volume.

    Parameters
    ----------
    image : array, 2-D or 3-D (plus a channel axis)
        The blurred observation, >= 0 (Poisson counts or intensities). float32 and
        float64 are kept; other dtypes follow unblur's dtype policy. Negative values
        (e.g. from background subtraction) are clipped to 0 with a UserWarning.
    psf : array
        Point-spread function, odd sizes, centre at the middle pixel, as many
        dimensions as the image's spatial axes, non-negative (else a ValueError);
        normalised to sum 1. A NumPy PSF
        with a CuPy image is copied to the device; a CuPy PSF with a NumPy image is a
        TypeError.
    iterations : int, optional
        Run exactly this many iterations (>= 1). None (default) stops automatically:
        at the discrepancy principle (the weighted mean squared residual of the
        observed pixels drops to the noise variance, sigma from
        :func:`unblur.estimate_noise` of the image), or when the relative change of the
        estimate falls below `tolerance`, or after 200 iterations (500 without
        acceleration).
    boundary : {'auto', 'periodic', 'reflect', 'zero'}
        'auto' (default): the image is the valid part of the blur of a larger scene;
        the estimate also covers a halo of half a PSF around it, normalised as Bertero
        & Boccacci propose, so the edges do not ring. 'periodic': circular blur of the
        image itself. 'reflect': periodic on one period of the image's symmetric
        extension (twice its size along each blurred axis; see
        :func:`unblur.deconvolve`). 'zero': scikit-image's convention: the estimate has the image's
        shape and is zero outside it, the blur is the 'same' convolution with zero
        padding, there is no edge normalisation, and the start is 0.5 (with
        ``accelerate=False`` and ``iterations=N`` the result equals
        ``skimage.restoration.richardson_lucy(image, psf, num_iter=N, clip=False)``).
    accelerate : bool
        Biggs–Andrews vector extrapolation (default True): typically 3-10x fewer
        iterations for the same fit.
    damping : float
        Noise threshold d (image units, >= 0) of MATLAB deconvlucy's damped ratio:
        pixels whose residual ``|g - m|`` is within about d stop being fitted, which
        suppresses noise amplification. 0: off.
    tv_weight : float
        Total-variation regularisation weight lambda (>= 0; Dey et al. 2006); typical
        values 1e-3 .. 1e-2. 0: off.
    weights : array, optional
        Per-pixel weights of the data, the image's shape, >= 0 (default 1). 0 masks a
        pixel (saturated, dead, outside a field of view): the estimate there is
        inferred from its neighbours. The image's array type (NumPy or CuPy), else
        a TypeError.
    background : float
        Constant background b >= 0 added to the blurred estimate (image units).
    initial : array or dict, optional
        An image of the input's shape to start from (>= 0, not all 0; the halo of 'auto' is
        filled with its mean), or ``info["state"]`` of an earlier call (a list of them
        with `channel_axis`) to continue that run: N iterations, then M from the
        state, give exactly the N + M iterations of one call. The boundary must match;
        the image, or the state's arrays, must be of the image's array type.
    tolerance : float
        Relative change ``||x_new - x|| / ||x_new||`` below which the automatic stop
        ends the run (>= 0; 0 disables it). Ignored when `iterations` is given.
    noise_sigma : float >= 0 or 'auto'
        The automatic stop's noise level (the same for every channel); 'auto': each
        channel's :func:`unblur.estimate_noise`, or for the 8-bit pixels of a decoded
        JPEG (grey or RGB, NumPy) the level of the quantisation tables that
        :func:`unblur.io.detect_jpeg` finds (:func:`unblur.io.jpeg_noise`; the
        estimate cannot see a JPEG's error, and RL then runs into the noise).
        ``info["noise_source"]``: 'estimated', 'jpeg-detected' or 'given'. Give it where
        neither can see the noise. Ignored when `iterations` is given.
    channel_axis : int, optional
        Colour axis; each channel is restored independently (with `weights` and
        `initial` of the image's full shape).
    return_info : bool
        Also return a dict describing the run (see Returns).
    callback : callable, optional
        Called after each iteration with a dict (iteration, max_iterations,
        relative_change, objective = the weighted mean squared residual); returning
        False stops the run.
    threads : int, optional
        CPU threads (default :func:`unblur.get_threads`).

    Returns
    -------
    restored : array
        The image's shape and (policy) dtype.
    info : dict
        Only with ``return_info=True``: ``method`` ('richardson_lucy'),
        ``iterations`` (run by this call), ``noise_sigma`` (the discrepancy target; 0
        when `iterations` is given), ``noise_source`` (see `noise_sigma`), ``stopped_by``
        ('discrepancy', 'tolerance',
        'max_iterations', 'iterations' or 'callback'), ``boundary``, ``residual``,
        ``relative_change``, and ``state`` (the estimate on its whole grid and the
        acceleration history; pass it as `initial` to continue). With `channel_axis`,
        iterations, noise_sigma, stopped_by, residual, relative_change and state are
        lists, one entry per channel.

    Notes
    -----
    With A the blur (on the estimate's grid; 'auto' observes only the valid window),
    w the weights, b the background and g the data, one iteration from the point y
    (y = x_k without acceleration) is

    .. math::

        m = A y + b, \\qquad q = \\frac{g}{m + 10^{-12}}, \\qquad
        x_{k+1} = \\frac{y}{A^T w}\\, A^T (w\\, q)
                  \\Big/ \\Big(1 - \\lambda\\, \\mathrm{div}\\frac{\\nabla y}{|\\nabla y|_\\epsilon}\\Big).

    :math:`A^T w` is Bertero & Boccacci's normaliser; grid pixels where it is below
    1e-4 of its maximum are not determined by the data and are held at 0. In 3-D the
    adjoint correlates with the PSF, i.e. convolves with the PSF flipped along all
    axes. 'zero' has no normaliser and holds the halo at 0:
    :math:`x_{k+1} = y\\, A^T(1 + w (q - 1))`, which is scikit-image's update for w = 1.

    Damping (``damping = d > 0``) replaces q by :math:`1 + G(t)(q - 1)` with
    :math:`t = \\min((g - m)^2 / d^2, 1)` and :math:`G(t) = t^{9}(10 - 9t)`: G is 0
    for a perfect fit, rises smoothly, and is 1 (undamped) once the residual reaches d
    (MATLAB deconvlucy's DAMPAR, with the squared residual in image units in place of
    its Poisson deviance).

    TV (Dey et al.): forward differences with zero flux at the far edges,
    :math:`|\\nabla y|_\\epsilon = \\sqrt{|\\nabla y|^2 + \\epsilon^2}` with
    :math:`\\epsilon = \\max(10^{-3}, 8\\lambda)` times the data's mean, the divergence
    by backward differences, and the denominator clamped to >= 0.1. Where the image is
    flat the TV term acts as :math:`\\lambda \\Delta y / \\epsilon` and the
    multiplicative update amplifies rough perturbations by about
    :math:`8 \\lambda \\bar g / \\epsilon` per iteration: the lower bound on
    :math:`\\epsilon` keeps that below one (with :math:`10^{-3}` alone, rounding errors
    grew tenfold per iteration at :math:`\\lambda = 0.01`).

    Acceleration (Biggs & Andrews, second order): with :math:`h_k = x_k - x_{k-1}`
    and the corrections :math:`c_k = x_{k+1} - y_k`,
    :math:`\\alpha = \\langle c_{k-1}, c_{k-2}\\rangle / \\langle c_{k-2}, c_{k-2}\\rangle`
    clamped to [0, 0.999], and
    :math:`y_k = \\max(0.1\\,x_k, x_k + \\alpha h_k + \\tfrac{\\alpha^2}{2}(h_k - h_{k-1}))`
    (y = x for the first two iterations).

    The 1e-12 in q is absolute: except for 'zero' (scikit-image's iteration), each
    channel is computed scaled by the power of two that brings its largest value (of
    the pixels with weight > 0) into (0.5, 1], which is exact, so that the result, the
    noise level, the residual and the state are in the image's units and do not depend
    on them: ``richardson_lucy(c * g) == c * richardson_lucy(g)`` for a power of two c.

    The start is flat at the weighted mean of the data (0.5 for 'zero'). The
    automatic stop uses the residual of the point each iteration evaluates. Images
    with negative values are clipped to 0 (with a UserWarning), because RL's ratio is
    only meaningful for non-negative data.

    References
    ----------
    .. [1] W. H. Richardson, "Bayesian-based iterative method of image restoration",
       J. Opt. Soc. Am. 62(1), 55-59, 1972.
    .. [2] L. B. Lucy, "An iterative technique for the rectification of observed
       distributions", Astron. J. 79(6), 745-754, 1974.
    .. [3] D. S. C. Biggs and M. Andrews, "Acceleration of iterative image
       restoration algorithms", Applied Optics 36(8), 1766-1775, 1997.
    .. [4] N. Dey et al., "Richardson-Lucy algorithm with total variation
       regularization for 3D confocal microscope deconvolution", Microscopy Research
       and Technique 69(4), 260-266, 2006.
    .. [5] M. Bertero and P. Boccacci, "A simple method for the reduction of boundary
       effects in the Richardson-Lucy approach to image deconvolution", Astronomy &
       Astrophysics 437, 369-374, 2005.

    Examples
    --------
    >>> import numpy as np, unblur
    >>> scene = np.zeros((64, 64)); scene[20:44, 28:36] = 1.0
    >>> psf = unblur.psf.gaussian(1.5, size=9)
    >>> blurred = unblur.convolve(scene, psf, boundary="periodic")
    >>> restored, info = unblur.richardson_lucy(blurred, psf, boundary="periodic",
    ...                                         iterations=50, return_info=True)
    >>> bool(np.abs(restored - scene).mean() < np.abs(blurred - scene).mean())
    True
    >>> info["iterations"], info["stopped_by"]
    (50, 'iterations')
    """
    boundary = _validate.choice(boundary, "boundary", _BOUNDARIES)
    image, psf, channel_axis, _ = _deconv_common.prepare(
        image, psf, channel_axis=channel_axis, boundary="auto" if boundary == "zero" else boundary)
    xp = _backend.namespace_of(image)
    if bool((psf < 0).any()):
        # The blurred estimate could go negative and the multiplicative update collapse
        # (a sharpening kernel gave all zeros): RL is defined for non-negative PSFs.
        raise ValueError("psf must be non-negative for Richardson-Lucy")
    if iterations is not None:
        iterations = _validate.positive_int(iterations, "iterations")
    if not isinstance(accelerate, (bool, np.bool_)):
        raise TypeError(f"accelerate must be a bool, got {type(accelerate).__name__}")
    if not isinstance(return_info, (bool, np.bool_)):
        raise TypeError(f"return_info must be a bool, got {type(return_info).__name__}")
    damping = _validate.nonnegative_float(damping, "damping")
    tv_weight = _validate.nonnegative_float(tv_weight, "tv_weight")
    background = _validate.nonnegative_float(background, "background")
    tolerance = _validate.nonnegative_float(tolerance, "tolerance")
    noise_source = "given"
    if isinstance(noise_sigma, str):
        _validate.choice(noise_sigma, "noise_sigma", ("auto",))
        given_sigma, noise_source = -1.0, "estimated"  # the engines estimate each channel's
    else:
        given_sigma = _validate.nonnegative_float(noise_sigma, "noise_sigma")
    callback = _deconv_common.check_callback(callback)
    threads = _validate.threads_arg(threads)
    ndim = (2, 3)

    if weights is not None:
        _validate.like_image(weights, xp, "weights")
        weights, _ = _validate.as_image(weights, "weights", ndim=ndim, channel_axis=channel_axis, dtype=image.dtype)
        if tuple(weights.shape) != tuple(image.shape):
            raise ValueError(f"weights must have the image's shape {tuple(image.shape)}, got {tuple(weights.shape)}")
        if bool((weights < 0).any()):
            raise ValueError("weights must be >= 0")
        if not bool((weights > 0).any()):
            raise ValueError("weights must not all be zero")
    n_channels = 1 if channel_axis is None else image.shape[channel_axis]
    spatial = tuple(s for i, s in enumerate(image.shape) if i != channel_axis)
    _memory.require("richardson_lucy", _memory.richardson_lucy_bytes(
        spatial, psf.shape, boundary, image.dtype.itemsize, accelerate=bool(accelerate), weights=weights is not None,
        tv=tv_weight > 0, channels=n_channels), xp)
    states = None
    if isinstance(initial, (dict, list, tuple)):
        states = [initial] if isinstance(initial, dict) else list(initial)
        if len(states) != n_channels or not all(isinstance(s, dict) for s in states):
            raise ValueError(f"initial must be an image or info['state'] ({n_channels} of them, one per channel)")
        for s in states:
            if "estimate" not in s or "iterations" not in s:
                raise ValueError("initial is a dict but not an info['state'] of richardson_lucy")
            if s.get("boundary") != boundary:
                raise ValueError(f"initial is a state of boundary {s.get('boundary')!r}, not {boundary!r}")
            _validate.like_image(s["estimate"], xp, "initial['estimate']")
        initial = None
    elif initial is not None:
        _validate.like_image(initial, xp, "initial")
        initial, _ = _validate.as_image(initial, "initial", ndim=ndim, channel_axis=channel_axis, dtype=image.dtype)
        if tuple(initial.shape) != tuple(image.shape):
            raise ValueError(f"initial must have the image's shape {tuple(image.shape)}, got {tuple(initial.shape)}")
        if bool((initial < 0).any()):
            raise ValueError("initial must be >= 0")
        if not bool((initial > 0).any()):
            raise ValueError("initial must not be all zero (the multiplicative update never leaves 0)")

    if noise_source == "estimated":  # a decoded JPEG's pixels: its tables' level (auto_noise_sigma)
        found = _deconv_common.jpeg_noise_sigma(image, channel_axis)
        if found is not None:
            given_sigma, noise_source = found, "jpeg-detected"
    lowest = float(image.min())
    if lowest < 0:
        # Negatives that noise or FFT rounding explain (a few noise sigmas, or 1e-6 of
        # the range) are clipped silently; larger ones mean the data is not intensities
        # (e.g. background-subtracted), which the user should hear about.
        allowed = max(5.0 * _deconv_common.estimate_noise(image, channel_axis=channel_axis),
                      1e-6 * float(xp.abs(image).max()))
        if lowest < -allowed:
            warnings.warn(f"richardson_lucy: image has negative values down to {lowest:.3g}, beyond what noise "
                          "explains; they are clipped to 0 (Richardson-Lucy needs non-negative data)",
                          UserWarning, stacklevel=2)
        image = xp.maximum(image, image.dtype.type(0))

    def channels(a):
        if a is None:
            return iter([None] * n_channels)
        if channel_axis is None:
            return iter([a])
        return iter([xp.ascontiguousarray(c) for c in xp.moveaxis(a, channel_axis, 0)])

    weight_it, initial_it = channels(weights), channels(initial)
    state_it = iter(states if states is not None else [None] * n_channels)
    infos = []
    kwargs = dict(boundary=boundary, iterations=iterations or 0, max_iterations=0, accelerate=bool(accelerate),
                  damping=damping, tv_weight=tv_weight, background=background, tolerance=tolerance,
                  noise_sigma=given_sigma)

    cuda = None if xp is np else _backend.gpu_engine()

    def restore(channel):
        w, x0, s = next(weight_it), next(initial_it), next(state_it)
        # The engines' ratio g / (A x + 1e-12) has an absolute epsilon: each channel runs
        # scaled by a power of two that brings its maximum into (0.5, 1] (exact in
        # floating point), so the result does not depend on the data's units (the maximum
        # of the pixels with weight > 0: masked ones must not change the result). 'zero'
        # is scikit-image's iteration, epsilon and start (0.5) included: not scaled.
        e = 0
        if boundary != "zero":
            e = _deconv_common.unit_exponent(float((channel if w is None else xp.where(w > 0, channel, 0)).max()))
        channel, x0 = _deconv_common.times_power_of_two(channel, -e), _deconv_common.times_power_of_two(x0, -e)
        s = _scaled_state(s, -e, xp)
        cb = callback
        if callback is not None and e:
            def cb(progress):
                return callback({**progress, "objective": _deconv_common.ldexp(progress["objective"], 2 * e)})
        scaled = dict(kwargs, damping=_deconv_common.ldexp(damping, -e),
                      background=_deconv_common.ldexp(background, -e))
        if given_sigma >= 0:
            scaled["noise_sigma"] = _deconv_common.ldexp(given_sigma, -e)
        if xp is np:
            out, info = _backend.core().richardson_lucy(channel, psf, weights=w, initial=x0, state=s,
                                                        callback=cb, threads=threads, **scaled)
        elif cuda is not None:
            out, info = _cuda_richardson_lucy(cuda, channel, psf, weights=w, initial=x0, state=s, callback=cb,
                                              **scaled)
        else:
            out, info = _xp_rl.richardson_lucy(channel, psf, weights=w, initial=x0, state=s, callback=cb,
                                               **scaled)
        info = dict(info, noise_sigma=_deconv_common.ldexp(info["noise_sigma"], e),
                    residual=_deconv_common.ldexp(info["residual"], 2 * e), state=_scaled_state(info["state"], e, xp))
        infos.append(info)
        return _deconv_common.times_power_of_two(out, e)

    restored = _backend.per_channel(restore, image, channel_axis)
    if not return_info:
        return restored
    keys = ("iterations", "noise_sigma", "stopped_by", "residual", "relative_change", "state")
    if channel_axis is None:
        info = {k: infos[0][k] for k in keys}
    else:
        info = {k: [i[k] for i in infos] for k in keys}
    info.update(method="richardson_lucy", boundary=boundary, noise_source=noise_source)
    return restored, info


_STATE_ARRAYS = ("estimate", "previous", "previous_step", "correction")


def _scaled_state(state, e, xp):
    """A state of richardson_lucy with its arrays times 2**e (the correction products
    times 4**e); e = 0 or no state: unchanged."""
    if state is None or e == 0:
        return state
    out = dict(state)
    for key in _STATE_ARRAYS:
        if key in out:
            out[key] = _deconv_common.times_power_of_two(xp.asarray(out[key]), e)
    for key in ("correction_dot", "correction_norm2"):
        if key in out:
            out[key] = _deconv_common.ldexp(float(out[key]), 2 * e)
    return out


def _cuda_richardson_lucy(cuda, image, psf, *, weights, initial, state, callback, boundary, iterations,
                          max_iterations, accelerate, damping, tv_weight, background, tolerance, noise_sigma):
    """One channel on the CUDA engine (unblur._cuda): CuPy arrays in and out, the state
    in device arrays of the estimate's grid, the same info as the CPU engine's."""
    import cupy

    ptr = _backend.device_pointer
    grid = tuple(cuda.deconv_grid_shape(list(image.shape), list(psf.shape), boundary))
    names = _STATE_ARRAYS if accelerate else _STATE_ARRAYS[:1]
    arrays = {k: cupy.empty(grid, dtype=image.dtype) for k in names}
    start, history, done, dot, norm2 = ("image" if initial is not None else "default"), 0, 0, 0.0, 0.0
    if state is not None:
        def copy_in(key):
            a = cupy.asarray(state[key], dtype=image.dtype)  # a CPU run's state is uploaded once
            if tuple(a.shape) != grid:
                raise ValueError(f"initial[{key!r}] does not match the estimate's grid {grid}")
            arrays[key][...] = a

        copy_in("estimate")
        done = int(state["iterations"])
        if accelerate and all(k in state for k in _STATE_ARRAYS[1:]):
            for k in _STATE_ARRAYS[1:]:
                copy_in(k)
            history, dot, norm2 = int(state["history"]), float(state["correction_dot"]), \
                float(state["correction_norm2"])
        start = "state"
    if iterations == 0 and noise_sigma < 0:
        noise_sigma = _deconv_common.estimate_noise(image)  # on the device; one scalar read; 2x2 checked
    out = cupy.empty(image.shape, dtype=image.dtype)
    r = cuda.richardson_lucy(
        ptr(image, "image"), list(image.shape), ptr(psf, "psf"), list(psf.shape),
        0 if weights is None else ptr(weights, "weights"), 0 if initial is None else ptr(initial, "initial"),
        out.data.ptr, image.dtype.name, boundary, iterations, max_iterations, accelerate, damping, tv_weight,
        background, tolerance, noise_sigma, start, *[arrays[k].data.ptr if k in arrays else 0 for k in _STATE_ARRAYS],
        history, done, dot, norm2, callback, _backend.current_stream())
    new_state = dict(arrays, boundary=boundary, iterations=r["iterations_done"], history=r["history"],
                     correction_dot=r["correction_dot"], correction_norm2=r["correction_norm2"])
    info = {k: r[k] for k in ("iterations", "stopped_by", "noise_sigma", "residual", "relative_change")}
    info["state"] = new_state
    return out, info
