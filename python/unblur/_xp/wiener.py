"""Reference Wiener and Tikhonov deconvolution (array API; see csrc/core/wiener.hpp).

Same maths as the C++ core: closed forms on the periodic / reflect model, GCV or the
discrepancy principle for lam, the power-law spectrum fit for Wiener's automatic NSR,
and preconditioned conjugate gradients (in real space here) for the extended model.
"""

from __future__ import annotations

import math

import numpy as np

from . import namespace
from .blur_operator import BlurOperator, estimate_noise, reflect_grid_shape, reflect_pad
from .fft import fast_fft_shape


def grid_shape(shape, psf_shape, boundary):
    """core's quadratic_grid_shape: the image's shape ('periodic'), one period of the
    symmetric extension ('reflect'), the extended model's fast grid ('auto', whose
    closed-form start pads the observation reflectively over that grid)."""
    if boundary == "periodic":
        return tuple(int(s) for s in shape)
    if boundary == "reflect":
        return reflect_grid_shape(shape, psf_shape)
    return fast_fft_shape(tuple(n + k - 1 for n, k in zip(shape, psf_shape)))


def _freq_axes(grid, xp=np):
    """Per-axis integer frequencies of the half spectrum, broadcastable (in `xp`)."""
    d = len(grid)
    out = []
    for i, n in enumerate(grid):
        k = xp.arange(n // 2 + 1) if i == d - 1 else xp.arange(n)
        shape = [1] * d
        shape[i] = -1
        out.append((k.reshape(shape), n))
    return out


def radial_frequency(grid, xp=np):
    """|f| in cycles per pixel on the half spectrum of `grid` (an `xp` array)."""
    f2 = 0.0
    for k, n in _freq_axes(grid, xp):
        kk = xp.where(2 * k < n, k, k - n)
        f2 = f2 + (kk / n) ** 2
    return xp.sqrt(f2)


def regularizer_spectrum(grid, regularizer, xp=np):
    """|R(f)|^2 (float64, in `xp`); None for the identity."""
    if regularizer == "identity":
        return None
    s = 0.0
    for k, n in _freq_axes(grid, xp):
        s = s + (2.0 - 2.0 * xp.cos(2 * np.pi * k / n))
    return s * s if regularizer == "laplacian" else s + 0.0


def _weights(grid, xp=np):
    """How many bins of the full spectrum each half-spectrum column stands for."""
    n = grid[-1]
    w = xp.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


def _reflect_data(image, psf_shape, grid):
    return reflect_pad(image, grid, [k // 2 for k in psf_shape])


def _taper_line(n, k):
    """The edge taper along one axis of n samples (PSF size k): a raised cosine over
    min(n / 4, 2 k) samples at each end, 1 inside (core's `tapered`)."""
    band = min(n // 4, 2 * k)
    t = np.ones(n)
    i = np.arange(band)
    t[:band] = 0.5 - 0.5 * np.cos(np.pi * (i + 0.5) / band)
    t[n - band:] = t[:band][::-1]
    return t


def taper_rms(grid, psf_shape):
    """core/wiener.hpp's taper_rms: the RMS of _tapered's window (separable: the product
    of the axes' mean squares, square-rooted)."""
    return math.sqrt(math.prod(float(np.mean(_taper_line(int(n), int(k)) ** 2)) for n, k in zip(grid, psf_shape)))


def _tapered(data, psf_shape):
    xp = namespace(data)
    mean = float(data.astype(xp.float64).mean())
    w = 1.0
    d = data.ndim
    for axis, (n, k) in enumerate(zip(data.shape, psf_shape)):
        t = _taper_line(n, k)
        shape = [1] * d
        shape[axis] = -1
        w = w * xp.asarray(t.reshape(shape))  # one line per axis to the device; their product there
    return (mean + (data.astype(xp.float64) - mean) * w).astype(data.dtype)


def _complement(h2, r2, lam):
    """1 - phi, phi = |H|^2 / (|H|^2 + lam |R|^2): the filter's complement."""
    xp = namespace(h2)
    p = lam * (r2 if r2 is not None else 1.0)
    d = h2 + p
    return xp.where(d > 0, p / xp.where(d > 0, d, 1.0), 1.0)


def _residual_and_trace(h2, r2, g2w, w, lam):
    """(sum (1 - phi)^2 |G|^2 w, sum (1 - phi) w) as 0-d arrays where h2 is (not read)."""
    om = _complement(h2, r2, lam)
    return (om * om * g2w).sum(), (om * w).sum()


def choose_lam_gcv(h2, r2, g2w, w, size):
    xp = namespace(h2)

    def gcv(e):  # one scalar read per evaluation
        num, den = _residual_and_trace(h2, r2, g2w, w, 10.0**e)
        return float(xp.where(den > 0, size * num / xp.where(den > 0, den * den, 1.0), math.inf))

    lo, hi, step = -12.0, 4.0, 0.5
    grid = [lo + step * i for i in range(int(round((hi - lo) / step)) + 1)]
    vals = [gcv(e) for e in grid]
    best = grid[int(np.argmin(vals))]
    best_v = min(vals)
    a, b = max(lo, best - step), min(hi, best + step)
    ratio = 0.6180339887498949
    x1, x2 = b - ratio * (b - a), a + ratio * (b - a)
    f1, f2 = gcv(x1), gcv(x2)
    while b - a > 1e-4:
        if f1 <= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - ratio * (b - a)
            f1 = gcv(x1)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + ratio * (b - a)
            f2 = gcv(x2)
    e = 0.5 * (a + b)
    return 10.0**e if gcv(e) <= best_v else 10.0**best


def choose_lam_discrepancy(h2, r2, g2w, w, size, sigma):
    target = size * size * sigma * sigma

    def residual(e):  # one scalar read per evaluation; the trace is not needed
        om = _complement(h2, r2, 10.0**e)
        return float((om * om * g2w).sum())

    a, b = -14.0, 6.0
    if residual(a) >= target:
        return 10.0**a
    if residual(b) <= target:
        return 10.0**b
    for _ in range(60):
        if b - a <= 1e-6:
            break
        m = 0.5 * (a + b)
        if residual(m) < target:
            a = m
        else:
            b = m
    return 10.0 ** (0.5 * (a + b))


def fit_power_spectrum(h2, g2, w, grid, sigma):
    """NSR(f) = sigma^2 / S(f) with S fitted on rings where |H|^2 >= 0.5 (see wiener.hpp).

    h2 = |H|^2, g2 = |G|^2 on the half spectrum and w, the half-spectrum weights of the
    last axis, all in one namespace; NSR comes back in it. The rings are binned and
    fitted where the arrays are: only the fit's few numbers are read back (the total
    power, the number of usable rings per threshold tried, alpha and log A).
    """
    xp = namespace(h2)
    size = float(np.prod(grid))
    m = max(grid)
    f = radial_frequency(grid, xp)
    wf = xp.broadcast_to(w, f.shape)
    p = g2 / size
    wp = wf * p
    total = float(wp.ravel()[1:].sum())  # the DC bin left out
    k = xp.floor(f * m + 0.5).astype(xp.int64)  # half away from zero, as the engines' lround (f >= 0)
    use = (k > 0) & (k <= m // 2)
    use[(0,) * use.ndim] = False
    rings = m // 2 + 1
    bins = xp.where(use, k, 0).ravel()

    def ring_sum(values):
        # Unused bins add zeros to ring 0, which the fit never reads.
        return xp.bincount(bins, weights=xp.where(use, values, 0.0).ravel(), minlength=rings)[1:]

    cnt, ps, hs, fs = ring_sum(wf), ring_sum(wp), ring_sum(wf * h2), ring_sum(wf * f)
    filled = cnt > 0
    per_ring = xp.where(filled, cnt, 1.0)
    pj, hj, fj = ps / per_ring, hs / per_ring, fs / per_ring
    variance = total / size
    sigma = max(sigma, 1e-4 * math.sqrt(variance))
    s2 = sigma * sigma
    f0 = 1.0 / m
    usable = filled & (hj > 0) & (pj > 2 * s2)
    for threshold in (0.5, 0.1, 0.01, 0.0):
        chosen = usable & (hj >= threshold)
        n = int(chosen.sum())
        if n >= 3:
            break
    alpha, log_a = 2.0, math.log(max(variance, 1e-30)) + math.log(f0 * f0)
    if n >= 1:
        xs = xp.log(fj * fj + f0 * f0)
        ys = xp.log(xp.where(chosen, (pj - s2) / xp.where(chosen, hj, 1.0), 1.0))
        mx = xp.where(chosen, xs, 0.0).sum() / n
        my = xp.where(chosen, ys, 0.0).sum() / n
        if n >= 2:
            dx = xp.where(chosen, xs - mx, 0.0)
            sxx = (dx * dx).sum()
            slope = xp.where(sxx > 0, -2.0 * (dx * (ys - my)).sum() / xp.where(sxx > 0, sxx, 1.0), 2.0)
            alpha = float(xp.clip(slope, 0.5, 4.0))
        log_a = float(my + 0.5 * alpha * mx)
    amp = math.exp(log_a)
    nsr = s2 / amp * (f * f + f0 * f0) ** (0.5 * alpha)
    return nsr, dict(noise_sigma=sigma, psd_amplitude=amp, psd_alpha=alpha, psd_f0=f0)


def _pcg(normal, precond, b, x, tolerance, max_iterations, callback=None):
    """Preconditioned CG for normal(x) = b from x (real space, float64); returns
    (x, iterations, final relative residual), stopping as the core's solver does."""
    r = b - normal(x)
    z = precond(r)
    p = z
    rz = float((r * z).sum())
    bb = float((b * b).sum())
    tol = tolerance if tolerance > 0 else 1e-5
    rel = math.sqrt(float((r * r).sum()) / bb) if bb > 0 else 0.0
    it = 0
    if bb > 0 and rel > tol:
        while it < max_iterations:
            q = normal(p)
            pq = float((p * q).sum())
            if not pq > 0:
                break
            alpha = rz / pq
            x = x + alpha * p
            r = r - alpha * q
            it += 1
            rel = math.sqrt(float((r * r).sum()) / bb)
            if callback is not None:
                change = abs(alpha) * math.sqrt(float((p * p).sum()) / max(float((x * x).sum()), 1e-300))
                state = dict(iteration=it, max_iterations=max_iterations, relative_change=change, objective=rel)
                if callback(state) is False:
                    break
            if rel <= tol:
                break
            z = precond(r)
            rz_new = float((r * z).sum())
            p = z + (rz_new / rz) * p
            rz = rz_new
    return x, it, rel


def _solve(image, psf, boundary, choose, *, tolerance=0.0, max_iterations=500, callback=None):
    """choose(h2, spectrum, w, grid, size) -> (penalty spectrum (xp), info); spectrum()
    gives the parameter-estimation spectrum (of the tapered data), made only if asked."""
    xp = namespace(image)
    dtype = image.dtype
    grid = grid_shape(image.shape, psf.shape, boundary)
    op = BlurOperator(psf, grid, extended=False)  # the periodic model on the grid
    data = image if boundary == "periodic" else _reflect_data(image, psf.shape, grid)
    size = float(np.prod(grid))
    h2 = xp.abs(op.otf.astype(xp.complex128)) ** 2
    w = _weights(grid, xp)

    def spectrum():
        # Tapered on every boundary, 'periodic' too (core's solve says why).
        return xp.fft.rfftn(_tapered(data, psf.shape).astype(xp.float64))

    pen, info = choose(h2, spectrum, w, grid, size)
    info["grid_shape"] = tuple(grid)
    info["iterations"] = 0
    info["relative_residual"] = 0.0
    den = h2 + pen
    dinv = xp.where(den > 0, 1.0 / xp.where(den > 0, den, 1.0), 0.0)
    G = xp.fft.rfftn(data.astype(xp.float64))
    x = xp.fft.irfftn(xp.conj(op.otf) * G * dinv, s=grid, axes=tuple(range(len(grid))))
    start = tuple(k // 2 for k in psf.shape) if boundary != "periodic" else (0,) * len(grid)
    window = tuple(slice(o, o + n) for o, n in zip(start, image.shape))
    if boundary != "auto":
        return xp.ascontiguousarray(x[window]).astype(dtype), info
    ext = BlurOperator(psf.astype(xp.float64), image.shape, extended=True)
    pinv = xp.where(den > 0, 1.0 / xp.where(den > 0, den, 1.0), 1.0)
    axes = tuple(range(len(grid)))

    def normal(v):
        cv = xp.fft.irfftn(pen * xp.fft.rfftn(v), s=grid, axes=axes)
        return ext.adjoint(ext.forward(v)) + cv

    def precond(r):
        return xp.fft.irfftn(pinv * xp.fft.rfftn(r), s=grid, axes=axes)

    b = ext.adjoint(image.astype(xp.float64))
    x, it, rel = _pcg(normal, precond, b, x, tolerance, max_iterations, callback)
    info["iterations"] = it
    info["relative_residual"] = rel
    return xp.ascontiguousarray(x[window]).astype(dtype), info


def wiener(image, psf, boundary, nsr, noise_sigma=None, **kwargs):
    """nsr: a float, a spectrum on the grid's half spectrum, or None (automatic, with
    `noise_sigma`, or estimate_noise of the image where it is None)."""
    xp = namespace(image)

    def choose(h2, spectrum, w, grid, size):
        info = dict(noise_sigma=None, lam=0.0)
        if nsr is None:
            sigma = estimate_noise(image) if noise_sigma is None else noise_sigma
            pen, fit = fit_power_spectrum(h2, xp.abs(spectrum()) ** 2, w, grid, sigma)
            info.update(fit)
            return pen, info
        if isinstance(nsr, float):
            info["lam"] = nsr
            return nsr, info
        return nsr.astype(xp.float64), info

    return _solve(image, psf, boundary, choose, **kwargs)


def tikhonov(image, psf, boundary, regularizer, lam_method, lam=0.0, noise_sigma=None, **kwargs):
    """lam_method 'discrepancy' uses `noise_sigma`, or estimate_noise of the image where
    it is None."""
    xp = namespace(image)

    def choose(h2, spectrum, w, grid, size):
        r2 = regularizer_spectrum(grid, regularizer, xp)
        info = dict(noise_sigma=None)
        value = lam
        if lam_method == "gcv":
            value = choose_lam_gcv(h2, r2, xp.abs(spectrum()) ** 2 * w, w, size)
        elif lam_method == "discrepancy":
            sigma = estimate_noise(image) if noise_sigma is None else noise_sigma
            info["noise_sigma"] = sigma
            # The tapered data's noise is sigma times the taper's RMS.
            value = choose_lam_discrepancy(h2, r2, xp.abs(spectrum()) ** 2 * w, w, size,
                                           sigma * taper_rms(grid, psf.shape))
        info["lam"] = value
        return value * (r2 if r2 is not None else 1.0), info

    return _solve(image, psf, boundary, choose, **kwargs)



def data_prox(image, psf, boundary, alpha, z, x0, *, tolerance=0.0, max_iterations=500):
    """The plug-and-play data step (core/wiener.hpp's data_prox): on the model's grid,
    argmin_x 1/2 ||M (h * x) - g||^2 + alpha / 2 ||x - z||^2. Periodic and reflect:
    the closed form (g the observation, or its reflect extension on the whole grid);
    'auto': PCG on the extended model from x0, preconditioned by 1 / (|H|^2 + alpha).
    Returns (x on the grid, info)."""
    xp = namespace(image)
    dtype = image.dtype
    grid = grid_shape(image.shape, psf.shape, boundary)
    axes = tuple(range(len(grid)))
    op = BlurOperator(psf.astype(xp.float64), grid, extended=False)
    h2 = xp.abs(op.otf) ** 2
    info = dict(noise_sigma=None, lam=float(alpha), grid_shape=tuple(grid), iterations=0, relative_residual=0.0)
    z64 = z.astype(xp.float64)
    if boundary != "auto":
        data = image if boundary == "periodic" else _reflect_data(image, psf.shape, grid)
        G = xp.fft.rfftn(data.astype(xp.float64))
        X = (xp.conj(op.otf) * G + alpha * xp.fft.rfftn(z64)) / (h2 + alpha)
        return xp.fft.irfftn(X, s=grid, axes=axes).astype(dtype), info
    ext = BlurOperator(psf.astype(xp.float64), image.shape, extended=True)

    def normal(v):
        return ext.adjoint(ext.forward(v)) + alpha * v

    def precond(r):
        return xp.fft.irfftn(xp.fft.rfftn(r) / (h2 + alpha), s=grid, axes=axes)

    b = ext.adjoint(image.astype(xp.float64)) + alpha * z64
    x, it, rel = _pcg(normal, precond, b, x0.astype(xp.float64), tolerance, max_iterations)
    info["iterations"] = it
    info["relative_residual"] = rel
    return x.astype(dtype), info
