"""Blind deblurring: ``unblur.estimate_psf`` finds the blur, ``unblur.restore`` removes it."""

from __future__ import annotations

import math

import numpy as np

from . import _backend, _deconv_common, _memory, _validate

__all__ = ["estimate_psf", "restore", "blind_richardson_lucy"]

_MODELS = ("auto", "gaussian", "defocus", "motion", "shake")
_PARAMETER_NAMES = {"gaussian": ("sigma",), "defocus": ("radius",), "motion": ("length", "angle")}
# Blur this small is treated as none: its MTF falls to one half above 0.25 cycles per
# pixel, as a well-focused camera's own does (lens, sensor and demosaicing: Gaussian
# sigma 0.5-0.7 px). MTF50 = 0.25 c/px is sigma 0.75 for a Gaussian
# (exp(-2 pi^2 sigma^2 f^2)), radius 1.41 for a disk (2 J1(x) / x = 1/2 at x = 2.215)
# and length 2.41 for linear motion (sinc(L f) = 1/2 at L f = 0.603).
_NO_BLUR = {"gaussian": 0.75, "defocus": 1.41, "motion": 2.41}
# Likelihood gain over "no blur", in nats per periodogram bin, at which the
# confidence is one half (see estimate_psf's Notes).
_GAIN_HALF = 0.01
# A blur is reported only if its BIC-penalised log-likelihood beats "no blur" by this
# many nats: the search tries thousands of candidates, so chance gains on pure noise
# reach about 10 nats (measured on 48x48 to 256x256 white noise); real blur on the
# benchmark photographs gains hundreds.
_MIN_EVIDENCE = 25.0
# The model's noise floor, per unit of the image's range (about 1.5 grey levels rms of
# an 8-bit image). Without it a noise-free image puts all the weight on fine spectral
# detail the power-law image model cannot describe: a noise-free disk(4) blur of the
# sample photograph came out as a Gaussian with floors of 0.001 and 0.003, and right
# with 0.006. At the benchmark's noise levels (0.01, 0.03) the floor is inactive.
_NOISE_FLOOR = 0.006
# 'auto''s search for a free-form shake kernel: the sizes tried, the crop they are
# estimated on, and how much better (nats per frequency bin) than the parametric answer
# the best must explain the spectrum to be chosen, absolutely and relative to the
# parametric answer's gain over no blur. On the quality bench (noise 0.01) the
# parametric classes' shake kernels improved on the parametric answer by at most
# 0.0011 nats per bin (0.3% of its gain), the shake class's best by 0.010 to 0.089
# (48% to 250%; the low-texture 'moon' 0.003); a noise-free motion blur of the sample
# photograph, which a free-form kernel fits a little better, by 0.012 (1.5%).
_SHAKE_SIZES = (17, 21, 25, 31)
_SHAKE_CROP = 256
_SHAKE_MARGIN = 0.005
_SHAKE_RELATIVE = 0.2  # ... and by this fraction of the parametric answer's own gain
_SHAKE_MIN_RADIUS = 1.5  # rms radius (px) below which a free-form kernel is not "shake"
DEFAULT_MAX_SIZE = 31


def _luminance(image, channel_axis):
    xp = _backend.namespace_of(image)
    if channel_axis is None:
        return image
    moved = xp.moveaxis(image, channel_axis, -1)
    if moved.shape[-1] == 3:
        w = xp.asarray([0.2126, 0.7152, 0.0722], dtype=moved.dtype)
        return xp.ascontiguousarray(moved @ w)
    return xp.ascontiguousarray(moved.mean(axis=-1))


def _max_size(size, shape):
    if min(shape) < 16:
        raise ValueError(f"image of shape {tuple(shape)} is too small to estimate a blur (needs >= 16 pixels "
                         "on each side)")
    limit = min(shape) // 2
    if size is None:
        s = min(DEFAULT_MAX_SIZE, min(shape) // 3)
        return s - (1 - s % 2)
    s = _validate.positive_int(size, "size", minimum=3)
    if s % 2 == 0:
        raise ValueError(f"size must be odd, got {s}")
    if s > limit:
        raise ValueError(f"size={s} is too large for an image of shape {tuple(shape)} (at most {limit})")
    return s


def _fit_families(gray, families, max_size, sigma, threads, progress):
    """({family: (params, nll)}, nll of no blur, bins): C++ for NumPy, else _xp. One
    family at a time, reporting to `progress`; stops early when it says so."""
    from ._xp import blind

    grid = blind.spectral_grid(max_size)
    fits = {}
    if _backend.is_numpy(gray):
        host = np.ascontiguousarray(gray, dtype=np.float64)
        for family in families:
            fit, none, bins, _ = _backend.core().fit_blur_families(host, [family], max_size, grid, sigma, threads)
            fits[family] = (tuple(fit[family][0]), fit[family][1])
            if not progress(family):
                break
        return fits, none, bins
    model = blind.SpectralModel(gray, grid, sigma)
    for family in families:
        fits[family] = blind.fit_family(model, family, max_size)
        if not progress(family):
            break
    none = model.fit(_backend.namespace_of(gray).ones_like(model.power))[0]
    return fits, none, model.bins


class _Progress:
    """Numbered stages for a progress callback; remembers a request to stop."""

    def __init__(self, callback, steps):
        self.callback, self.steps, self.step, self.stopped = callback, steps, 0, False

    def __call__(self, stage):
        self.step += 1
        if self.callback is not None and not self.stopped:
            if self.callback({"stage": stage, "step": self.step, "steps": self.steps}) is False:
                self.stopped = True
        return not self.stopped


def _shake_sizes(shape, max_size):
    crop = min(shape[0], _SHAKE_CROP), min(shape[1], _SHAKE_CROP)
    return [n for n in _SHAKE_SIZES if n <= max_size and 3 * n <= min(crop)]


def _psf_of(family, params):
    from . import psf

    if family == "gaussian":
        return psf.gaussian(params[0])
    if family == "defocus":
        return psf.disk(params[0])
    return psf.motion(params[0], params[1])


def estimate_psf(image, model="auto", *, size=None, noise_sigma="auto", channel_axis=None, return_info=False,
                 callback=None, threads=None):
    """Estimate the blur of an image from the image alone (blind PSF estimation).

    Parameters
    ----------
    image : array, 2-D (plus a channel axis)
        The blurred photograph. Colour images are estimated on their luminance.
    model : {'auto', 'gaussian', 'defocus', 'motion', 'shake'}
        The blur family. 'auto' fits the parametric families and keeps the most likely
        one (or none when no blur explains the image better than no blur at all), then
        tries free-form shake kernels of 17 to 31 pixels on the central 256 x 256 crop
        and takes the best of them if it explains the spectrum clearly better (see
        Notes). 'shake' estimates one free-form camera-shake kernel of `size` pixels.
    size : odd int >= 3, optional
        The largest kernel to consider, in pixels (default: 31, or a third of the
        image's smaller side if that is less). For 'shake' it is the kernel's side:
        choose it a little larger than the blur (a much larger one is less accurate).
    noise_sigma : float >= 0 or 'auto'
        The noise's standard deviation (of the luminance, for a colour image), the
        spectral model's noise floor; 'auto': :func:`unblur.estimate_noise` of the
        luminance. A level known from elsewhere (a calibrated camera) goes here. (On a
        JPEG, whose compression removes the finest details the estimate measures, the
        level of :func:`unblur.io.jpeg_noise` helped a motion blur's estimate and
        misled a defocus one, so ``restore`` does not pass it.)
    channel_axis : int, optional
        Colour axis.
    return_info : bool
        Also return a dict: model ('none' when no blur was found), params (a dict:
        sigma; radius; length and angle in degrees, counter-clockwise from the x axis),
        blur_found, confidence, margin, noise_sigma and, per fitted family, its
        parameters and likelihood gain.
    callback : callable, optional
        Progress: called after each stage (a family fitted, a shake size tried) with a
        dict (stage, step, steps); returning False skips the remaining stages (the
        best answer among those done is returned).
    threads : int, optional
        CPU threads.

    Returns
    -------
    psf : ndarray (float64), odd-sized, sum 1; ``[[1.0]]`` when no blur was found
    info : dict, only with ``return_info=True``

    Notes
    -----
    A CuPy image is copied to the host once (its luminance, as float64) and estimated
    by the C++ engine when unblur's CUDA module is built: the search is thousands of
    small sequential steps, which a CPU runs faster than a GPU can be driven through
    them. With ``UNBLUR_BACKEND=cupy`` the array-API code runs on CuPy instead.

    The estimate does not depend on the image's units: the search runs on the
    luminance scaled by the power of two that brings its largest magnitude into
    (0.5, 1] (exact in floating point).

    The expected periodogram of the observation is modelled as
    :math:`a |H_\\theta(\\omega)|^2 / |D(\\omega)|^\\beta + \\sigma^2`: a power-law
    image spectrum, the candidate blur and white noise at the level
    :func:`unblur.estimate_noise` finds (at least 0.6% of the image's range: the
    power-law model cannot describe the fine detail of a noise-free image). The
    periodogram of the image's periodic component [2]_ (so the frame's edges leave no
    cross in the spectrum), averaged on a 128 x 128 frequency grid, is scored by the
    Whittle likelihood away from the frequency axes (where axis-aligned scene
    structure, such as buildings, gathers and would pass for blur); for each
    candidate the image spectrum's scale and slope are fitted by Fisher scoring, and
    the blur parameters are searched on a grid and refined by golden sections
    (maximum-likelihood blur identification, [1]_). Spectral zeros make defocus and
    motion blur sharply identifiable; a Gaussian's width trades off against the image
    spectrum's slope, so its estimate is the least accurate (bench/RESULTS.md).

    'shake' runs coarse-to-fine MAP estimation with an L0 gradient prior
    (the C++ core, csrc/core/blind_kernel.hpp, with ``unblur._xp.blind_kernel`` as its
    reference; Xu et al. 2013, Pan et al. 2014: a sparse latent image
    and a non-negative kernel fitted to its salient edges, alternately, on an image
    pyramid); its confidence is the same likelihood gain, measured for the estimated
    kernel. The alternation is non-convex and the result depends on the image, the
    noise draw and `size` (bench/RESULTS.md).

    'auto''s shake step keeps a free-form kernel only if it beats the parametric
    answer by more than 0.005 nats per bin and by more than 20% of that answer's own
    gain, and is not a compact blob (rms radius of at least 1.5 pixels): on the
    quality bench the parametric classes' shake kernels never did better than 0.0011
    nats per bin (0.3%), the shake class's did by 0.010 to 0.089 (48% to 250%).

    'auto' compares the families by the Bayesian information criterion (likelihood
    plus :math:`\\tfrac12 k \\log n` for k free parameters and n bins), and reports a
    blur only when it beats "no blur" by more than 25 nats on that scale (chance gains
    of the search on pure noise stay near 10) and is not negligible: blur whose MTF
    stays above one half up to 0.25 cycles per pixel (sigma < 0.75, radius < 1.41,
    length < 2.41 pixels) is what a well-focused camera does by itself. ``confidence``
    is :math:`G / (G + 0.01)` with G the likelihood gain of the chosen blur over no
    blur in nats per frequency bin (0: the blur explains nothing; 0.5 at 0.01 nats per
    bin); when no blur is found it is the confidence in that answer, one minus the
    same quantity for the strongest family whose blur is not negligible. ``margin`` is
    the gain of the chosen family over the runner-up, per bin
    (small: the families are hard to tell apart, as for small blurs).

    References
    ----------
    .. [1] R. L. Lagendijk, J. Biemond and D. E. Boekee, "Identification and
       restoration of noisy blurred images using the expectation-maximization
       algorithm", IEEE Trans. ASSP 38 (1990) 1180-1191.
    .. [2] L. Moisan, "Periodic plus smooth image decomposition", J. Math. Imaging
       Vis. 39 (2011) 161-179.

    Examples
    --------
    >>> import numpy as np, scipy.signal, unblur
    >>> scene = unblur.data.astronaut()[:240, :240, 1].astype(float) / 255
    >>> blurred = scipy.signal.fftconvolve(scene, unblur.psf.motion(15, 30), mode="valid")
    >>> blurred += np.random.default_rng(0).normal(0, 0.01, blurred.shape)
    >>> psf, info = unblur.estimate_psf(blurred, return_info=True)
    >>> info["model"], round(info["params"]["length"]), abs(info["params"]["angle"] - 30) < 2
    ('motion', 15, True)
    """
    model = _validate.choice(model, "model", _MODELS)
    image, channel_axis = _validate.as_image(image, "image", ndim=2, channel_axis=channel_axis)
    threads = _validate.threads_arg(threads)
    callback = _deconv_common.check_callback(callback)
    _memory.require("estimate_psf", _memory.estimate_psf_bytes(
        [s for i, s in enumerate(image.shape) if i != channel_axis],
        1 if channel_axis is None else image.shape[channel_axis]))  # on the host (the C++ engine)
    gray = _luminance(image, channel_axis)
    max_size = _max_size(size, gray.shape)
    # The blur does not depend on the data's units, but the engines' searches do (on a
    # photo in units of 1e12 the C++ search crashed): they run on the luminance scaled
    # by the power of two that brings its largest magnitude into (0.5, 1] (exact).
    units = _deconv_common.unit_exponent(float(_backend.namespace_of(gray).abs(gray).max()))
    gray = _deconv_common.times_power_of_two(gray, -units)
    if not _backend.is_numpy(gray) and _backend.gpu_engine() is not None:
        # The search is thousands of small, sequential steps on a 128 x 128 grid (the
        # array-API code on CuPy reads ~35,000 scalars back for one estimate): with the
        # CUDA engine the luminance is copied to the host once and the C++ engine runs it.
        gray = _to_host(gray)
    xp = _backend.namespace_of(gray)
    families = ("gaussian", "defocus", "motion") if model == "auto" else (model,)
    info = {"model": "none", "params": {}, "blur_found": False, "confidence": 0.0, "margin": 0.0,
            "noise_sigma": 0.0, "max_size": max_size, "families": {}}
    if float(xp.max(gray) - xp.min(gray)) == 0.0:  # nothing to estimate from
        info["reason"] = "flat image"
        delta = np.ones((1, 1))
        return (delta, info) if return_info else delta

    span = float(xp.max(gray) - xp.min(gray))
    if isinstance(noise_sigma, str):
        _validate.choice(noise_sigma, "noise_sigma", ("auto",))
        sigma = float(_deconv_common.estimate_noise(gray))
    else:
        sigma = _deconv_common.ldexp(_validate.nonnegative_float(noise_sigma, "noise_sigma"), -units)
    info["noise_sigma"] = _deconv_common.ldexp(sigma, units)
    floor_sigma = max(sigma, _NOISE_FLOOR * span)
    if model == "shake":
        out = _estimate_shake(gray, max_size, floor_sigma, info, return_info, threads)
        _Progress(callback, 1)("shake")
        return out
    shake_sizes = _shake_sizes(gray.shape, max_size) if model == "auto" else []
    progress = _Progress(callback, len(families) + len(shake_sizes))
    fits, none, bins = _fit_families(gray, families, max_size, floor_sigma, threads, progress)
    penalty = 0.5 * math.log(bins)
    scores = {}
    for family, (params, nll) in fits.items():
        named = dict(zip(_PARAMETER_NAMES[family], (float(p) for p in params)))
        gain = (none - nll) / bins
        info["families"][family] = {"params": named, "gain": gain}
        scores[family] = nll + penalty * len(params)
    ranked = sorted(scores, key=scores.__getitem__)
    best = ranked[0]
    params = fits[best][0]
    gain = (none - fits[best][1]) / bins
    found = none - scores[best] > _MIN_EVIDENCE and params[0] >= _NO_BLUR[best]
    if len(ranked) > 1:
        info["margin"] = (scores[ranked[1]] - scores[best]) / bins
    info["confidence"] = max(gain, 0.0) / (max(gain, 0.0) + _GAIN_HALF)
    if model == "auto" and shake_sizes and not progress.stopped:
        # Measured against the best parametric fit even when that is too small to
        # report: on a sharp photo it is the camera's own softness, which a free-form
        # kernel would otherwise pass off as shake.
        shake = _shake_search(gray, shake_sizes, floor_sigma, _psf_of(best, params), threads, progress)
        if shake is not None:
            psf, details = shake
            info["families"]["shake"] = details
            info.update(model="shake", params={"size": details["size"]}, blur_found=True,
                        confidence=details["confidence"])
            return (psf, info) if return_info else psf
    if not found:
        # Confidence in "no blur": against the strongest family whose blur is not
        # negligible (none: full confidence).
        real = [(none - fits[f][1]) / bins for f in fits if fits[f][0][0] >= _NO_BLUR[f]]
        strongest = max([0.0] + real)
        info["confidence"] = 1.0 - strongest / (strongest + _GAIN_HALF)
        info["reason"] = "no blur explains the image better than none"
        delta = np.ones((1, 1))
        return (delta, info) if return_info else delta
    info.update(model=best, params=dict(zip(_PARAMETER_NAMES[best], (float(p) for p in params))), blur_found=True)
    psf = _psf_of(best, params)
    return (psf, info) if return_info else psf


def _spectral_nll(host, psf, grid, sigma, threads):
    """(Whittle negative log-likelihood of `psf` on a host image, number of bins)."""
    nll, _, _, bins = _backend.core().blur_likelihood(host, np.ascontiguousarray(psf, dtype=np.float64), grid, sigma,
                                                      threads)
    return nll, bins


def _to_host(a):
    """A float64 NumPy copy of a NumPy or CuPy array (the shake estimator runs on the host)."""
    return np.asarray(a.get() if not isinstance(a, np.ndarray) and hasattr(a, "get") else a, dtype=np.float64)


def _rms_radius(psf):
    """Root-mean-square distance of the PSF's mass from its centroid, in pixels."""
    r, c = np.indices(psf.shape)
    w = psf / psf.sum()
    cr, cc = (w * r).sum(), (w * c).sum()
    return float(np.sqrt((w * ((r - cr) ** 2 + (c - cc) ** 2)).sum()))


def _estimate_kernel(host, size, threads):
    """(psf, info) of the camera-shake estimator on a 2-D float64 host image: the C++
    core (csrc/core/blind_kernel.hpp); unblur._xp.blind_kernel is its reference."""
    return _backend.core().estimate_kernel(np.ascontiguousarray(host, dtype=np.float64), size, threads=threads)


def _shake_search(gray, sizes, sigma, baseline, threads, progress):
    """'auto''s non-parametric candidate: shake kernels of a few sizes, estimated on the
    central crop (at most _SHAKE_CROP pixels a side; the blur is the same everywhere)
    and scored by the same spectral likelihood as the parametric blurs. Returns
    (psf, details) when the best of them beats `baseline` (the best parametric fit) by
    more than _SHAKE_MARGIN nats per bin and _SHAKE_RELATIVE of its gain, else None.

    The sizes run concurrently, one thread each (on a 256 x 256 crop one estimate per
    core beats FFTW's threads inside one estimate; and the kernels do not depend on
    the thread count)."""
    from concurrent.futures import ThreadPoolExecutor

    from ._xp import blind

    host = _to_host(gray)
    h, w = host.shape
    ch, cw = min(h, _SHAKE_CROP), min(w, _SHAKE_CROP)
    crop = np.ascontiguousarray(host[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw])
    grid = blind.spectral_grid(max(sizes))
    base, bins = _spectral_nll(crop, baseline, grid, sigma, threads)
    none = _spectral_nll(crop, np.ones((1, 1)), grid, sigma, threads)[0]
    best = None
    workers = max(1, min(len(sizes), threads or _backend.core().get_threads()))
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(_estimate_kernel, crop, n, 1) for n in sizes]
        for n, future in zip(sizes, futures):
            psf, kinfo = future.result()
            # No kernel, or a compact blob the parametric families cover: not shake.
            if kinfo["blur_found"] and _rms_radius(psf) >= _SHAKE_MIN_RADIUS:
                value = _spectral_nll(crop, psf, grid, sigma, threads)[0]
                if best is None or value < best[0]:
                    best = (value, psf, n)
            if not progress(f"shake {n}"):
                break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if best is None or none - best[0] <= _MIN_EVIDENCE:
        return None
    improvement, base_gain = (base - best[0]) / bins, (none - base) / bins
    if improvement <= max(_SHAKE_MARGIN, _SHAKE_RELATIVE * base_gain):
        return None
    gain = (none - best[0]) / bins
    return best[1], {"size": best[2], "sizes_tried": sizes, "gain": gain,
                     "gain_over_parametric": (base - best[0]) / bins,
                     "confidence": gain / (gain + _GAIN_HALF)}


def _estimate_shake(gray, size, sigma, info, return_info, threads):
    from ._xp import blind

    host = _to_host(gray)
    psf, kinfo = _estimate_kernel(host, size, threads)
    grid = blind.spectral_grid(size)
    host = np.ascontiguousarray(host)
    nll, bins = _spectral_nll(host, psf, grid, sigma, threads)
    none = _spectral_nll(host, np.ones((1, 1)), grid, sigma, threads)[0]
    gain = (none - nll) / bins
    info["families"]["shake"] = {"params": {"size": size}, "gain": gain, "residual": kinfo["residual"]}
    info["confidence"] = max(gain, 0.0) / (max(gain, 0.0) + _GAIN_HALF)
    if not kinfo["blur_found"] or psf.size == 1:
        info["reason"] = "no structure to estimate a kernel from"
        psf = np.ones((1, 1))
        return (psf, info) if return_info else psf
    info.update(model="shake", params={"size": size}, blur_found=True)
    return (psf, info) if return_info else psf


def restore(image, *, model="auto", size=None, method="auto", channel_axis=None, return_info=False,
            callback=None, threads=None, **params):
    """Deblur a photograph whose blur is unknown: estimate the PSF, then deconvolve.

    Parameters
    ----------
    image : array, 2-D (plus a channel axis)
        The blurred photograph (float32/float64 kept; integers become float32 in [0, 1]).
    model, size : see :func:`unblur.estimate_psf`
    method : str
        The non-blind method, see :func:`unblur.deconvolve` ('auto': its default).
    channel_axis : int, optional
        Colour axis: the PSF is estimated on the luminance and every channel is
        deconvolved with it.
    return_info : bool
        Also return a dict: 'psf' (the estimate), 'estimate' (estimate_psf's info) and
        'deconvolve' (deconvolve's info, None when no blur was found).
    callback : callable, optional
        Progress: first the estimation's stages (dicts with stage, step, steps; see
        :func:`estimate_psf`), then the deconvolution's iterations (the dicts of
        :func:`unblur.deconvolve` with stage 'deconvolve'). Returning False skips the
        remaining estimation stages, or stops the deconvolution.
    threads : int, optional
        CPU threads.
    **params
        Passed to the deconvolution method (``noise_sigma`` too: the PSF's estimate
        keeps its own noise level).

    Returns
    -------
    restored : array like `image`. When no blur is found the image comes back
        unchanged (as a copy, converted by the dtype policy).
    info : dict, only with ``return_info=True``

    Examples
    --------
    >>> import numpy as np, scipy.signal, unblur
    >>> scene = unblur.data.astronaut()[:240, :240, 1].astype(np.float32) / 255
    >>> blurred = scipy.signal.fftconvolve(scene, unblur.psf.disk(4), mode="valid").astype(np.float32)
    >>> restored, info = unblur.restore(blurred, return_info=True)
    >>> info["estimate"]["model"], round(info["estimate"]["params"]["radius"])
    ('defocus', 4)
    """
    from ._deconvolve import _METHODS, deconvolve

    image, channel_axis = _validate.as_image(image, "image", ndim=2, channel_axis=channel_axis)
    _deconv_common.check_callback(callback)
    method = _validate.choice(method, "method", _METHODS)  # now, not only when a blur is found
    # A noise_sigma in params is the deconvolution's only: given to the estimate as well,
    # a JPEG's level fixed a motion blur (11 px, estimated 3.2 on the estimate's own level,
    # 10.7 on the JPEG's) but broke a defocus one (radius 3 became a Gaussian), so the
    # estimate keeps its own (bench/RESULTS.md, session 20).
    psf, est = estimate_psf(image, model, size=size, channel_axis=channel_axis, return_info=True, callback=callback,
                            threads=threads)
    info = {"psf": psf, "estimate": est, "deconvolve": None}
    if not est["blur_found"]:
        out = image.copy()
        return (out, info) if return_info else out

    xp = _backend.namespace_of(image)
    stage = None if callback is None else (lambda state: callback({**state, "stage": "deconvolve"}))
    out, dinfo = deconvolve(image, xp.asarray(psf), method, channel_axis=channel_axis, return_info=True,
                            callback=stage, threads=threads, **params)
    info["deconvolve"] = dinfo
    return (out, info) if return_info else out


def blind_richardson_lucy(image, psf, *, iterations=10, psf_iterations=1, return_info=False, callback=None,
                          threads=None):
    """Blind Richardson-Lucy: alternate multiplicative updates of the image and the PSF
    (MATLAB's ``deconvblind``), starting from an initial PSF.

    Parameters
    ----------
    image : array, 2-D
        The blurred observation (negative values are clipped to 0).
    psf : array or odd int
        The initial PSF (odd sizes, non-negative; normalised here), or its size for a
        uniform square start. Its size is the size of the result. A NumPy PSF with a
        CuPy image is copied to the device; a CuPy PSF with a NumPy image is a
        TypeError.
    iterations : int >= 1
        Alternations; each runs one image update and `psf_iterations` PSF updates.
    psf_iterations : int >= 0
        PSF updates per alternation (0: plain Richardson-Lucy with a fixed PSF).
    return_info : bool
        Also return a dict (iterations).
    callback : callable, optional
        Called after each alternation with a dict (iteration, max_iterations);
        returning False stops.
    threads : int, optional
        CPU threads.

    Returns
    -------
    restored : array like `image` (float32 or float64 by the dtype policy)
    psf : array of the same dtype, the estimated PSF, sum 1
    info : dict, only with ``return_info=True``

    Notes
    -----
    The observation is modelled as the valid part of the blur of a larger scene (the
    'auto' boundary of :func:`unblur.richardson_lucy`), so the image lives on the
    extended domain; with :math:`A_h f = \\mathrm{valid}(h * f)`,

    .. math:: f \\leftarrow f \\, \\frac{A_h^T (g / A_h f)}{A_h^T 1}, \\qquad
              h \\leftarrow h \\, \\frac{A_f^T (g / A_h f)}{A_f^T 1}, \\quad
              h \\leftarrow h / \\textstyle\\sum h

    [1]_, [2]_. Blind RL is a weak estimator: it moves a PSF that starts too wide
    towards the truth only slowly and rarely widens one that starts too narrow, so
    start from a PSF of about the right size (for example :func:`estimate_psf`'s).
    The engines run on the image scaled by the power of two that brings its maximum
    into (0.5, 1] (exact), so the result scales with the data and the PSF does not
    depend on its units.
    NumPy arrays run on the C++ engine (csrc/core/blind_richardson_lucy.hpp), CuPy
    arrays on the CUDA engine (csrc/gpu/blind_richardson_lucy.hpp), or on the
    array-API reference (``unblur._xp.blind_richardson_lucy``) where it is not built
    or ``UNBLUR_BACKEND=cupy``.

    References
    ----------
    .. [1] D. A. Fish, A. M. Brinicombe, E. R. Pike and J. G. Walker, "Blind
       deconvolution by means of the Richardson-Lucy algorithm", J. Opt. Soc. Am. A
       12 (1995) 58-65.
    .. [2] D. S. C. Biggs and M. Andrews, "Acceleration of iterative image restoration
       algorithms", Applied Optics 36 (1997) 1766-1775.

    Examples
    --------
    >>> import numpy as np, scipy.signal, unblur
    >>> scene = unblur.data.astronaut()[:160, :160, 1] / 255.0
    >>> blurred = scipy.signal.fftconvolve(scene, unblur.psf.gaussian(2.0, size=13), mode="valid")
    >>> restored, psf = unblur.blind_richardson_lucy(blurred, unblur.psf.gaussian(3.0, size=13))
    >>> restored.shape == blurred.shape, psf.shape, round(float(psf.sum()), 6)
    (True, (13, 13), 1.0)
    """
    from ._xp import blind_richardson_lucy as _brl

    image, _ = _validate.as_image(image, "image", ndim=2)
    if isinstance(psf, (int, np.integer)) and not isinstance(psf, bool):
        size = _validate.positive_int(psf, "psf", minimum=1)
        if size % 2 == 0:
            raise ValueError(f"psf size must be odd, got {size}")
        psf = np.ones((size, size))
    xp = _backend.namespace_of(image)
    psf = _validate.as_psf(psf, "psf", ndim=2, dtype=image.dtype, xp=xp, require_odd=True)
    if float(psf.min()) < 0:
        raise ValueError("psf must be non-negative for blind Richardson-Lucy")
    if psf.shape[0] > image.shape[0] or psf.shape[1] > image.shape[1]:
        raise ValueError(f"psf of shape {psf.shape} is larger than the image {image.shape}")
    iterations = _validate.positive_int(iterations, "iterations")
    psf_iterations = _validate.positive_int(psf_iterations, "psf_iterations", minimum=0)
    callback = _deconv_common.check_callback(callback)
    threads = _validate.threads_arg(threads)
    _memory.require("blind_richardson_lucy", _memory.blind_richardson_lucy_bytes(image.shape, psf.shape,
                                                                                image.dtype.itemsize), xp)
    # The ratio g / (model + 1e-12) has an absolute epsilon: the engines run on the image
    # scaled by the power of two that brings its maximum into (0.5, 1] (exact).
    units = _deconv_common.unit_exponent(float(image.max()))
    image = _deconv_common.times_power_of_two(image, -units)
    if _backend.is_numpy(image):
        restored, est, done = _backend.core().blind_richardson_lucy(
            image, np.ascontiguousarray(psf, dtype=image.dtype), iterations, psf_iterations, callback, threads)
    elif _backend.gpu_engine() is not None:
        cuda = _backend.gpu_engine()
        est = xp.array(psf, dtype=image.dtype, copy=True)  # updated in place: the caller's stays as it was
        restored = xp.empty_like(image)
        done = cuda.blind_richardson_lucy(_backend.device_pointer(image, "image"), list(image.shape), est.data.ptr,
                                          list(est.shape), restored.data.ptr, image.dtype.name, iterations,
                                          psf_iterations, callback, _backend.current_stream())
    else:
        restored, est, done = _brl.blind_richardson_lucy(image, psf, iterations, 1, psf_iterations, callback)
        restored, est = restored.astype(image.dtype), est.astype(image.dtype)
    restored = _deconv_common.times_power_of_two(restored, units)
    if return_info:
        return restored, est, {"iterations": done}
    return restored, est
