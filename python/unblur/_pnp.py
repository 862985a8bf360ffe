"""Plug-and-play deblurring: half-quadratic splitting with a learned denoiser (DPIR)."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from . import _backend, _deconv_common, _memory, _validate
from ._xp import blur_operator as _xp_blur
from ._xp import collaborative as _xp_collab
from ._xp import wiener as _xp_wiener

__all__ = ["pnp_deconvolve"]

# The default schedule (see pnp_deconvolve's Notes and bench/RESULTS.md): DPIR's form,
# its constants chosen on held-out images (bench/pnp_tuning.py), never on the
# benchmark's.
ITERATIONS = 8
LAM = 0.23
SIGMA_START = 49 / 255
# The noise level below which the schedule does not go (alpha stays finite for
# noiseless images; the denoiser is not trained below it).
SIGMA_FLOOR = 0.5 / 255
# The data step's conjugate gradients ('auto' boundary): warm-started from the previous
# estimate, so a loose tolerance and a few iterations suffice.
CG_TOLERANCE = 1e-5
CG_ITERATIONS = 30
# How the denoiser sees the 8 flips/rotations of its input (pnp_deconvolve's Notes):
# 'cycle' (DPIR's x8 for deblurring) turns step k's input by the (k mod 8)-th of them
# at no extra cost; 'mean' averages all 8 at every step (8 times the denoiser's work).
SELF_ENSEMBLE = "cycle"
SELF_ENSEMBLE_MODES = ("cycle", "mean", "none")
# The denoiser's noise level per pixel (pnp_deconvolve's noise_map): 'brightness'
# follows the noise's level at each pixel's brightness (estimate_noise's groups); on
# 8-bit sRGB photographs decoded to linear light it gained +2.8 / +2.4 dB with defocus,
# where one level for the whole image fell below the blurred input on rocket, and
# white noise moved by <= 0.01 dB (bench/RESULTS.md, 2026-12-07, session 20).
NOISE_MAP_MODES = ("auto", "brightness", "uniform")
# The last step's refinement (pnp_deconvolve's refine): 'wiener' filters the last data
# step's estimate by collaborative Wiener filtering (unblur.collaborative_wiener, BM3D's
# second stage) with the denoiser's output as its pilot: groups of similar blocks
# restore repeated fine structure that the model sees one neighbourhood at a time
# (bench/RESULTS.md, 2026-12-07, session 21).
REFINE_MODES = ("auto", "wiener", "none")
# The refinement's noise level, relative to the denoiser's at the last step: chosen on
# the held-out images (bench/RESULTS.md, session 21); above 1 it also absorbs the
# pilot's own error, which the Wiener gains P^2 / (P^2 + s^2) take for signal.
REFINE_SIGMA = 2.0

_default_denoisers = {}


def _denoiser_arg(denoiser, channels=1):
    """A callable (image, sigma) -> image: a shipped model's Runner (cached; the RGB one
    for 3-channel images, the grey one otherwise), a loaded Runner or any callable, or
    an ONNX file loaded with unblur.models.load."""
    if denoiser is None:
        kind = "rgb" if channels == 3 else "grey"
        if kind not in _default_denoisers:
            from . import models

            _default_denoisers[kind] = models.denoiser(channels=kind)
        return _default_denoisers[kind]
    if isinstance(denoiser, (str, bytes, os.PathLike)):
        from . import models

        return models.load(denoiser)
    if not callable(denoiser):
        raise TypeError(f"denoiser must be None (the shipped model), a path to an ONNX model, an "
                        f"unblur.models.Runner or a callable (image, sigma) -> image; got {type(denoiser).__name__}")
    return denoiser


def _check_model_channels(denoise, channels):
    """A Runner denoises images of its own channel count: a grey model each channel,
    any other only images of exactly its channels (jointly)."""
    from .models import Runner

    if isinstance(denoise, Runner) and denoise.channels not in (1, channels):
        c = denoise.channels
        raise ValueError(f"denoiser takes {c}-channel images (denoised jointly) but the image has {channels} "
                         f"channel{'s' if channels != 1 else ''}; use a grey model (run on each channel) or a "
                         f"{c}-channel image")


# The shipped RGB model beats the grey one on each channel only while the noise's
# correlation between channels is below about 0.2 (bench/RESULTS.md, 2026-12-07); the
# estimate on a blurred image is within about 0.03 of the truth.
RGB_MAX_NOISE_CORRELATION = 0.15
MAX_ITERATIONS = 100_000  # about 8 hours of 512 x 512 denoiser runs on the 2-core CPU


def _positive_int(v, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < 1:
        raise ValueError(f"{name} must be >= 1, got {v}")
    return int(v)


def schedule(noise_sigma, *, iterations=ITERATIONS, lam=LAM, sigma_start=SIGMA_START):
    """The denoiser's noise levels sigma_k (geometric from `sigma_start` down to the
    noise level) and the data step's weights alpha_k = lam * sigma^2 / sigma_k^2."""
    sigma = max(float(noise_sigma), SIGMA_FLOOR)
    start = max(float(sigma_start), sigma)
    sigmas = np.geomspace(start, sigma, iterations) if iterations > 1 else np.array([sigma])
    sigmas = [float(s) for s in sigmas]
    alphas = [lam * sigma * sigma / (s * s) for s in sigmas]
    if not all(0 < a < math.inf for a in alphas):  # sigma^2 overflowed: the ratio first
        alphas = [lam * (sigma / s) ** 2 if sigma / s > 1e-150 else 0.0 for s in sigmas]
    if not all(0 < a < math.inf for a in alphas):
        raise ValueError(f"lam, sigma_start and the noise level give data-step weights alpha_k = lam * sigma^2 / "
                         f"sigma_k^2 outside the floating-point range (lam={lam:g}, sigma_start={start:g}, noise "
                         f"level {sigma:g}: from {alphas[0]:g} to {alphas[-1]:g})")
    return sigmas, alphas


def _data_step(image, psf, boundary, threads, xp, cuda):
    """prox(alpha, z, x0) -> (x, info): the exact data step on the model's grid, on the
    image's engine (C++ core, CUDA, or the array-API reference on CuPy)."""
    if xp is np:
        core = _backend.core()

        def prox(alpha, z, x0):
            return core.data_prox(image, psf, boundary, alpha, z, x0, CG_TOLERANCE, CG_ITERATIONS, threads)
    elif cuda is not None:
        ptr = _backend.device_pointer

        def prox(alpha, z, x0):
            x = x0.copy()
            info = cuda.data_prox(ptr(image, "image"), list(image.shape), ptr(psf, "psf"), list(psf.shape),
                                  ptr(z, "z"), x.data.ptr, image.dtype.name, boundary, alpha, CG_TOLERANCE,
                                  CG_ITERATIONS, _backend.current_stream())
            return x, info
    else:

        def prox(alpha, z, x0):
            return _xp_wiener.data_prox(image, psf, boundary, alpha, z, x0, tolerance=CG_TOLERANCE,
                                        max_iterations=CG_ITERATIONS)
    return prox


def _start(image, psf_shape, boundary, xp):
    """The first denoiser input on the model's grid: the observation itself
    ('periodic'), its reflection ('reflect'), or ('auto') the observation with its edge
    values carried into the halo, where the scene beyond the edges is unknown."""
    if boundary == "periodic":
        return image.copy()
    grid = _xp_wiener.grid_shape(image.shape, psf_shape, boundary)
    if boundary == "reflect":
        return _xp_wiener._reflect_data(image, psf_shape, grid)
    offset = [k // 2 for k in psf_shape]
    pad = [(o, g - n - o) for o, g, n in zip(offset, grid, image.shape)]
    return xp.ascontiguousarray(xp.pad(image, pad, mode="edge"))


def _orient(v, t, xp):
    """The t-th of the 8 flips/rotations of v's first two (spatial) axes: a flip of
    axis 1 when t >= 4, then t % 4 quarter turns."""
    if t >= 4:
        v = xp.flip(v, axis=1)
    return xp.ascontiguousarray(xp.rot90(v, t % 4, axes=(0, 1)))


def _unorient(v, t, xp):
    v = xp.rot90(v, -(t % 4), axes=(0, 1))
    if t >= 4:
        v = xp.flip(v, axis=1)
    return xp.ascontiguousarray(v)


def _oriented(denoise, v, s, transforms, xp):
    """The denoiser's output for v, seen through each of `transforms` (indices into the
    8 flips/rotations) and brought back: their mean, each output checked. `s`: a number,
    or a noise-level map of v's spatial shape, turned with v."""
    out = None
    for t in transforms:
        w = _orient(v, t, xp)
        d = _unorient(_checked(denoise(w, s if isinstance(s, float) else _orient(s, t, xp)), w, xp), t, xp)
        out = d if out is None else out + d
    return out if len(transforms) == 1 else out / len(transforms)


def _checked(z, x, xp):
    """The denoiser's output for input x: the same array type and shape, finite; in
    x's dtype."""
    if _backend.namespace_of(z) is not xp or not hasattr(z, "shape"):
        raise TypeError(f"denoiser must return an array of its input's type ({type(x).__module__}.ndarray), got "
                        f"{type(z).__module__}.{type(z).__name__}")
    if tuple(z.shape) != tuple(x.shape):
        raise ValueError(f"denoiser returned shape {tuple(z.shape)} for an input of shape {tuple(x.shape)}")
    z = z.astype(x.dtype, copy=False)
    if not bool(xp.isfinite(z).all()):
        raise ValueError("denoiser returned non-finite values (NaN or inf)")
    return z


def _box3(v, xp):
    """The mean over each pixel's 3 x 3 neighbourhood (edges repeated)."""
    h, w = v.shape
    p = xp.pad(v, 1, mode="edge")
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def _noise_maps(stack, psf, boundary, threads, xp):
    """Per channel, the noise's level at each pixel of the model's grid relative to its
    RMS over the observation (a map of RMS 1), or None where the profile is all 0.

    The level at brightness b is interpolated between estimate_noise's groups (their
    mean level and MAD sigma; held constant beyond the first and last), b the 3 x 3
    mean of the observation (edge values carried into the halo, as PnP's start)."""
    levels = []
    for g in stack:
        at, sigmas = _deconv_common.noise_profile(g)
        b = _box3(_start(g, psf.shape, boundary, xp).astype(xp.float64), xp)
        levels.append(xp.interp(b, xp.asarray(at, dtype=xp.float64), xp.asarray(sigmas, dtype=xp.float64)))
    return _relative_maps(levels, [g.shape for g in stack], psf, boundary, threads, xp)


def _relative_maps(levels, shapes, psf, boundary, threads, xp):
    """Noise levels on the grid (per channel) as maps of RMS 1 over the observation, or
    None where every level is 0. Each estimate x_k mixes the observation's noise over
    the PSF's support, so the variance map is spread by the PSF: a bright sky's noise
    reaches the dark edge beside it."""
    from ._convolve import convolve

    offset = (0, 0) if boundary == "periodic" else tuple(k // 2 for k in psf.shape)
    maps = []
    for level, shape in zip(levels, shapes):
        top = float(level.max())
        if not top > 0:
            return None
        var = convolve((level / top) ** 2, psf.astype(xp.float64), boundary="nearest", threads=threads or None)
        m = xp.sqrt(xp.maximum(var, 0.0))
        window = tuple(slice(o, o + n) for o, n in zip(offset, shape))
        rms = float(xp.sqrt(xp.mean(m[window] ** 2)))
        if not rms > 0:
            return None
        maps.append(m / rms)
    return maps


def _given_maps(noise_sigma, image, channel_axis, spatial, xp):
    """noise_sigma given as an array: per channel, the map (float64), checked: the
    image's array type, real, finite, >= 0, of the image's spatial shape (one map for
    every channel) or of its whole shape (one per channel)."""
    _validate.like_image(noise_sigma, xp, "noise_sigma")
    dtype = getattr(noise_sigma, "dtype", None)
    if dtype is None or dtype == object or dtype.kind not in "fiu":
        raise TypeError(f"noise_sigma must be a number, 'auto' or a real array, got dtype {dtype}")
    shape = tuple(noise_sigma.shape)
    if shape not in (tuple(spatial), tuple(image.shape)):
        raise ValueError(f"noise_sigma as an array is the noise's standard deviation per pixel: shape {tuple(spatial)}"
                         + (f" or {tuple(image.shape)}" if channel_axis is not None else "") + f", got {shape}")
    m = noise_sigma.astype(xp.float64)
    if not bool(xp.isfinite(m).all()) or bool((m < 0).any()):
        raise ValueError("noise_sigma must be finite and >= 0 everywhere")
    if channel_axis is None or shape == tuple(spatial):
        return [m] * (1 if channel_axis is None else image.shape[channel_axis])
    return [xp.ascontiguousarray(c) for c in xp.moveaxis(m, channel_axis, 0)]


def _levels(s, maps, xp, dtype):
    """Step k's noise levels for the denoiser: s itself, or per map (one per channel, or
    one for a joint model) s times the relative map, at least SIGMA_FLOOR."""
    if maps is None:
        return [s]
    return [xp.maximum(s * m, SIGMA_FLOOR).astype(dtype) for m in maps]


def _refine(x, z, level, threads, xp):
    """The last step's collaborative Wiener estimate from the data step's x, guided by
    the denoiser's z, at REFINE_SIGMA times `level` (the denoiser's noise level, a
    number or a map)."""
    sigma = REFINE_SIGMA * (level.astype(xp.float64) if getattr(level, "ndim", 0) > 0 else float(level))
    if xp is np:
        return _backend.core().collaborative_wiener(x, z, sigma, threads=threads)
    return _xp_collab.collaborative_wiener(x, z, sigma)


def _restore_channels(stack, psf, boundary, denoise, joint, sigmas, alphas, threads, xp, cuda, callback,
                      self_ensemble="none", maps=None, refine="none"):
    """HQS on C channels at once (stack: C spatial arrays); `joint` denoises (H, W, C)
    in one call, else each channel alone; `self_ensemble` as in pnp_deconvolve; `maps`:
    None, or per channel the relative noise-level map on the grid (_noise_maps);
    `refine` 'wiener': the last scheduled step's output refined by _refine."""
    props = [_data_step(g, psf, boundary, threads, xp, cuda) for g in stack]
    if joint and maps is not None:  # one map for the joint model: the channels' RMS, once
        maps = [xp.sqrt(sum(m * m for m in maps) / len(maps))]
    z = [_start(g, psf.shape, boundary, xp) for g in stack]
    x = [zi.copy() for zi in z]
    cg = []
    n = len(sigmas)
    for k, (s, a) in enumerate(zip(sigmas, alphas)):
        steps = [prox(a, zi, xi) for prox, zi, xi in zip(props, z, x)]
        x = [xi for xi, _ in steps]
        cg.append([int(i["iterations"]) for _, i in steps])
        prev = z
        transforms = {"none": (0,), "cycle": (k % 8,), "mean": tuple(range(8))}[self_ensemble]
        levels = _levels(s, maps, xp, stack[0].dtype)
        if joint:
            d = _oriented(denoise, xp.stack(x, axis=-1), levels[0], transforms, xp)
            z = [xp.ascontiguousarray(d[..., c]) for c in range(len(x))]
        else:
            z = [_oriented(denoise, xi, levels[c % len(levels)], transforms, xp) for c, xi in enumerate(x)]
        if refine == "wiener" and k == n - 1:
            z = [_refine(xi, zi, levels[c % len(levels)], threads, xp) for c, (xi, zi) in enumerate(zip(x, z))]
        if callback is not None:
            num = sum(float(((zi - pi).astype(xp.float64) ** 2).sum()) for zi, pi in zip(z, prev))
            den = sum(float((pi.astype(xp.float64) ** 2).sum()) for pi in prev)
            state = dict(iteration=k + 1, max_iterations=n, relative_change=math.sqrt(num / den) if den > 0 else 0.0,
                         objective=None, sigma=s, alpha=a)
            if callback(state) is False:
                break
    return z, cg


def pnp_deconvolve(image, psf, *, denoiser=None, noise_sigma="auto", noise_map="auto", iterations=ITERATIONS, lam=LAM,
                   sigma_start=SIGMA_START, self_ensemble=SELF_ENSEMBLE, refine="auto", boundary="auto",
                   channel_axis=None, return_info=False, callback=None, threads=None):
    """Plug-and-play deconvolution: half-quadratic splitting with a learned denoiser.

    Alternates the exact data step of unblur's engines,
    :math:`x_k = \\arg\\min_x \\tfrac12 \\|M(h * x) - g\\|^2 + \\tfrac{\\alpha_k}{2}\\|x - z_{k-1}\\|^2`,
    with a denoiser, :math:`z_k = D(x_k, \\sigma_k)`, over a decreasing schedule of noise
    levels (Zhang et al.'s DPIR). The learned prior restores edges and textures that
    TV flattens.

    Parameters
    ----------
    image : array, 2-D (plus an optional channel axis)
        The blurred, noisy observation, in linear units of about [0, 1] (the denoiser's
        range; integers become float32 in [0, 1]). NumPy arrays run the data step on
        the C++ core and the denoiser on ONNX Runtime's CPU provider; CuPy arrays on
        the CUDA engine (or the array-API code on CuPy) and TensorRT / ONNX Runtime's
        CUDA provider, on CuPy's current stream, with no host copies of the image.
    psf : array
        Point-spread function, odd-sized, centred; normalised to sum 1.
    denoiser : None, path, Runner or callable
        None: unblur's shipped models (:func:`unblur.models.denoiser`): the RGB one for
        images of 3 channels (denoised together), the grey one otherwise (each channel
        apart). The RGB model was trained on noise independent per channel: a 3-channel
        image whose channels are equal (a grey picture stored as RGB) gets the grey
        model on one channel, copied to the three, and one whose noise is correlated
        between channels by more than 0.15 (``info["noise_correlation"]``, estimated from
        the finest Haar details; a camera's demosaicing and JPEG correlate it) the grey
        model on each channel. A path: an ONNX model checked against unblur's contract
        (docs/models.md). Or any callable ``denoiser(image, sigma) -> image`` on the
        image's array type. A grey model is run on each channel; a model whose
        ``channels`` equals the image's channel count denoises them together.
    noise_sigma : float >= 0, 'auto' or array
        The observation's noise standard deviation (its RMS where the level varies);
        'auto': :func:`unblur.estimate_noise`, or for the 8-bit pixels of a decoded JPEG
        (grey or RGB, NumPy) the level of the quantisation tables that
        :func:`unblur.io.detect_jpeg` finds (:func:`unblur.io.jpeg_noise`), as
        ``info["noise_source"]`` says ('estimated', 'jpeg-detected', 'given'). An array: the standard deviation at each
        pixel (a calibrated camera's :math:`\\sqrt{g\\,I + \\sigma_{read}^2}`, say), of the
        image's spatial shape or, with `channel_axis`, its whole shape; the schedule
        runs down to its RMS and, unless ``noise_map='uniform'``, it is the map.
    noise_map : {'auto', 'brightness', 'uniform'}
        How the denoiser's noise level varies over the image. 'brightness': with the
        brightness, as the observation's noise does where it follows the signal (photon
        noise; an sRGB photograph decoded to linear light, whose highlights carry
        several times the shadows' noise): the noise level of each brightness (the groups
        of :func:`unblur.estimate_noise`) at each pixel's local brightness, spread by the
        PSF and scaled to the RMS `noise_sigma` (an array `noise_sigma` is the map
        itself, spread by the PSF likewise); white noise gives a flat map.
        'uniform': one level for the whole image. 'auto' (the default): 'brightness' for
        unblur's models (the shipped ones and ONNX files, whose contract takes a
        noise-level map), 'uniform' for other callables, which get a number.
    iterations : int >= 1
        Outer iterations (denoiser calls), at most 100,000.
    lam : float > 0
        The prior's weight: :math:`\\alpha_k = \\lambda \\sigma^2 / \\sigma_k^2`. Much
        smaller values let the data step amplify noise faster than the schedule's
        denoiser levels assume: at noise 0.03, lam = 0.12 lost 3 to 17 dB against TV
        on the benchmark's camera, rocket and moon cases with defocus, motion and shake
        blur, where the default (0.23) was -0.14 to +1.23 dB.
    sigma_start : float > 0
        The first noise level of the schedule (in image units; at least the noise level).
    self_ensemble : {'cycle', 'mean', 'none'}
        How the denoiser uses the 8 flips and quarter-turn rotations of its input (a
        denoiser trained on all orientations errs differently in each). 'cycle' (the
        default): step k denoises the (k mod 8)-th of them and turns the result back, so
        the 8 steps see every orientation once at no extra cost (DPIR's "x8" for
        deblurring). 'mean': every step averages all 8, 8 times the denoiser's work, for
        a little more (bench/RESULTS.md). 'none': the image as it is.
    refine : {'auto', 'wiener', 'none'}
        The last step of the schedule. 'wiener': its denoiser output becomes the pilot of
        a collaborative Wiener filter (:func:`unblur.collaborative_wiener`, BM3D's
        second stage) of the last data step's estimate, at twice the denoiser's noise
        level (its map, with ``noise_map='brightness'``): similar blocks, found on the
        pilot, are filtered together, which restores repeated fine structure (brick,
        text, fabric, a tower's lattice) better than a model that sees each
        neighbourhood alone. On ten held-out images it gained +0.19 / +0.13 dB at noise
        0.03 / 0.01 (brick about +1 dB; star fields, with no similar blocks, down to
        -0.12), on bench/quality.py +0.09 / +0.03 (bench/RESULTS.md, session 21).
        'none': the denoiser's output is the result. 'auto' (the default): 'wiener' for
        unblur's models, 'none' for other callables. A callback that stops early skips
        it.
    boundary : {'auto', 'periodic', 'reflect'}
        As in :func:`unblur.deconvolve`. 'auto' (the observation is the valid part of
        the blur of a larger scene) estimates the scene on the observation plus the
        PSF's halo and denoises that whole grid, so no ringing starts at the edges.
    channel_axis : int, optional
        Colour axis.
    return_info : bool
        Also return a dict: method, boundary, noise_sigma, noise_source, noise_map ('brightness' or
        'uniform': the one used), iterations, sigmas, alphas, cg_iterations (per
        iteration and channel), grid_shape, self_ensemble, refine ('wiener' or 'none':
        the one used).
    callback : callable, optional
        Called after each iteration with a dict (iteration, max_iterations,
        relative_change of z, objective None, sigma, alpha); returning False stops.
    threads : int, optional
        CPU threads of the data step (the denoiser uses ONNX Runtime's own).

    Returns
    -------
    restored : array like `image` (its dtype; CuPy for CuPy)
    info : dict, only with ``return_info=True``

    Notes
    -----
    The schedule: :math:`\\sigma_k` geometric from `sigma_start` (49/255) down to the
    noise level (at least 0.5/255) over `iterations` (8) steps, and
    :math:`\\alpha_k = \\lambda \\sigma^2 / \\sigma_k^2` with :math:`\\lambda` = 0.23:
    DPIR's, whose constants were checked on held-out images (bench/pnp_tuning.py). On
    the periodic and reflect models the data step is the closed form
    :math:`X = (\\bar H G + \\alpha Z) / (|H|^2 + \\alpha)`; on 'auto' it is the
    preconditioned conjugate-gradient solve of the extended model (the one of
    :func:`unblur.wiener`), warm-started from the previous estimate. The result is the
    last denoiser output, cropped to the observation. ``self_ensemble='cycle'`` gained
    +0.10 / +0.07 dB over 'none' at noise 0.01 / 0.03 on ten held-out images (with the
    10,000-step grey model; worst case against TV -0.10 -> -0.07 dB) at the same cost;
    'mean' gains another +0.01 dB over 'cycle' on the benchmark's images in 6.7 times
    the time (bench/RESULTS.md).

    With ``noise_map='brightness'`` the denoiser's level at step k is
    :math:`\\sigma_k\\, r(p)` (at least 0.5/255), :math:`r` the relative noise-level map
    (RMS 1 over the observation), while the data step keeps the scalar
    :math:`\\alpha_k`: the noise an estimate :math:`x_k` carries is the observation's,
    filtered, so it scales with the local level. On 8-bit sRGB photographs restored in
    linear light (bench/linear_light.py) it gained +2.8 / +2.4 dB at noise 0.01 / 0.03
    with a defocus blur and +0.05 / +0.4 with a Gaussian one over a uniform level, and
    moved bench/quality.py's white-noise cases by at most 0.01 dB.

    References
    ----------
    .. [1] K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool and R. Timofte, "Plug-and-Play
       Image Restoration with Deep Denoiser Prior", IEEE TPAMI 44(10), 2022.
    .. [2] S. V. Venkatakrishnan, C. A. Bouman and B. Wohlberg, "Plug-and-Play priors
       for model based reconstruction", IEEE GlobalSIP, 2013.

    Examples
    --------
    >>> import numpy as np, unblur
    >>> truth = unblur.data.astronaut()[100:164, 100:164, 1] / 255.0
    >>> psf = unblur.psf.gaussian(1.5)
    >>> blurred = unblur.convolve(truth, psf, mode="valid")
    >>> blurred = blurred + np.random.default_rng(0).normal(0, 0.01, blurred.shape)
    >>> restored = unblur.pnp_deconvolve(blurred, psf)
    >>> k = psf.shape[0] // 2  # the valid blur's output is the scene less the PSF's halo
    >>> t = truth[k:-k, k:-k]
    >>> bool(unblur.metrics.psnr(t, restored, data_range=1) > unblur.metrics.psnr(t, blurred, data_range=1) + 2)
    True
    """
    image, psf, channel_axis, boundary = _deconv_common.prepare(image, psf, channel_axis=channel_axis,
                                                                boundary=boundary, ndim=(2,))
    threads = _validate.threads_arg(threads)
    callback = _deconv_common.check_callback(callback)
    if not isinstance(return_info, bool):
        raise TypeError(f"return_info must be a bool, got {type(return_info).__name__}")
    iterations = _positive_int(iterations, "iterations")
    if iterations > MAX_ITERATIONS:  # (np.geomspace's own refusal named nothing)
        raise ValueError(f"iterations must be <= {MAX_ITERATIONS} (each is a denoiser run), got {iterations}")
    lam = _validate.positive_float(lam, "lam")
    sigma_start = _validate.positive_float(sigma_start, "sigma_start")
    if not isinstance(noise_map, str):
        raise TypeError(f"noise_map must be one of {NOISE_MAP_MODES}, got {type(noise_map).__name__}")
    if noise_map not in NOISE_MAP_MODES:
        raise ValueError(f"noise_map must be one of {NOISE_MAP_MODES}, got {noise_map!r}")
    if not isinstance(refine, str):
        raise TypeError(f"refine must be one of {REFINE_MODES}, got {type(refine).__name__}")
    if refine not in REFINE_MODES:
        raise ValueError(f"refine must be one of {REFINE_MODES}, got {refine!r}")
    if not isinstance(self_ensemble, str):
        raise TypeError(f"self_ensemble must be one of {SELF_ENSEMBLE_MODES}, got {type(self_ensemble).__name__}")
    if self_ensemble not in SELF_ENSEMBLE_MODES:
        raise ValueError(f"self_ensemble must be one of {SELF_ENSEMBLE_MODES}, got {self_ensemble!r}")
    spatial = tuple(s for i, s in enumerate(image.shape) if i != channel_axis)
    if min(spatial) < 2:
        raise ValueError(f"image must be at least 2x2 for method='pnp', got spatial shape {spatial}")
    xp = _backend.namespace_of(image)
    channels = 1 if channel_axis is None else image.shape[channel_axis]
    if channel_axis is None:
        stack = [image]
    else:
        stack = [xp.ascontiguousarray(c) for c in xp.moveaxis(image, channel_axis, 0)]
    # The shipped RGB model was trained on noise independent per channel. A grey picture
    # stored as RGB (R = G = B, its noise included) is restored by the grey model on one
    # channel, copied to the three; noise correlated between the channels (a camera's
    # demosaicing, JPEG's chroma subsampling), which the RGB model takes for structure
    # (dB worse than the grey model, even than TV: bench/RESULTS.md, 2026-12-07), by the
    # grey model on each channel.
    grey_as_rgb = denoiser is None and channels == 3 and all(bool(xp.all(c == stack[0])) for c in stack[1:])
    noise_correlation = None
    if grey_as_rgb:
        stack = stack[:1]
    elif denoiser is None and channels == 3:
        noise_correlation = _xp_blur.estimate_noise_correlation(stack)
    per_channel = grey_as_rgb or (noise_correlation is not None and noise_correlation > RGB_MAX_NOISE_CORRELATION)
    denoise = _denoiser_arg(denoiser, 1 if per_channel else channels)
    _check_model_channels(denoise, channels)
    # The data step's working set per channel, the grid arrays z and x of every channel,
    # the denoiser's input and output on the grid, and the noise-level maps (float64, and
    # one step's levels in the image's dtype), and the last step's refinement of one
    # channel (its float64 sums, or on CuPy the array-API code's working set).
    grid_n = _memory.grid_elements(spatial, psf.shape, boundary)
    grid_shape = _xp_wiener.grid_shape(spatial, psf.shape, boundary)
    _memory.require("pnp_deconvolve", _memory.quadratic_bytes(spatial, psf.shape, boundary, image.dtype.itemsize)
                    + grid_n * image.dtype.itemsize * (5 * channels) + grid_n * 8 * channels
                    + _memory.collaborative_wiener_bytes(grid_shape, 8, _xp_collab.RADIUS, _xp_collab.STEP,
                                                         _xp_collab.GROUP, xp), xp)
    given = None
    noise_source = "given"
    if isinstance(noise_sigma, str):
        if noise_sigma != "auto":
            raise ValueError(f"noise_sigma must be 'auto', a number >= 0 or an array, got {noise_sigma!r}")
        sigma, noise_source = _deconv_common.auto_noise_sigma(image, channel_axis)
    elif getattr(noise_sigma, "ndim", 0) > 0:
        given = _given_maps(noise_sigma, image, channel_axis, spatial, xp)
        sigma = math.sqrt(sum(float(xp.mean(m * m)) for m in given) / len(given))
    else:
        sigma = _validate.nonnegative_float(noise_sigma, "noise_sigma")
    sigmas, alphas = schedule(sigma, iterations=iterations, lam=lam, sigma_start=sigma_start)
    cuda = None if xp is np else _backend.gpu_engine()
    joint = channels > 1 and getattr(denoise, "channels", 1) == channels
    from .models import Runner

    if noise_map == "auto":
        noise_map = "brightness" if isinstance(denoise, Runner) else "uniform"
    if refine == "auto":
        refine = "wiener" if isinstance(denoise, Runner) else "none"
    maps = None
    if noise_map == "brightness" and given is not None:
        if grey_as_rgb:
            given = given[:1]
        grid = [_start(m, psf.shape, boundary, xp) for m in given]
        maps = _relative_maps(grid, [m.shape for m in given], psf, boundary, threads, xp)
    elif noise_map == "brightness":
        maps = _noise_maps(stack, psf, boundary, threads, xp)
    z, cg = _restore_channels(stack, psf, boundary, denoise, joint, sigmas, alphas, threads, xp, cuda, callback,
                              self_ensemble, maps, refine)
    if grey_as_rgb:
        z, cg = z * channels, [c * channels for c in cg]
    offset = (0, 0) if boundary == "periodic" else tuple(k // 2 for k in psf.shape)
    window = tuple(slice(o, o + n) for o, n in zip(offset, spatial))
    outs = [xp.ascontiguousarray(zi[window]) for zi in z]
    out = outs[0] if channel_axis is None else xp.ascontiguousarray(xp.stack(outs, axis=channel_axis))
    if not return_info:
        return out
    info = dict(method="pnp", boundary=boundary, noise_sigma=sigma, noise_source=noise_source, noise_map=noise_map, iterations=len(cg), sigmas=sigmas[:len(cg)],
                alphas=alphas[:len(cg)], cg_iterations=cg if channels > 1 else [c[0] for c in cg],
                grid_shape=tuple(int(s) for s in z[0].shape), joint_channels=joint, self_ensemble=self_ensemble,
                grey_as_rgb=grey_as_rgb, noise_correlation=noise_correlation, refine=refine)
    return out, info
