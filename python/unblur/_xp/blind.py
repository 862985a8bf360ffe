"""Reference parametric blur identification (array API; see csrc/core/blind.hpp).

The blurred observation's spectrum is modelled as E|G(w)|^2 = a |H_theta(w)|^2 / |D(w)|^beta
+ sigma^2: a power-law image spectrum (|D|^2 = 4 sin^2(pi q / S) + 4 sin^2(pi r / S),
the forward-difference symbol), the candidate blur and white noise of the level
estimate_noise finds. The periodogram of the observation's periodic component (the
periodic-plus-smooth split, so the frame's edges add no cross to the spectrum),
averaged onto an S x S frequency grid and away from the frequency axes, is scored by
the Whittle likelihood; a and beta
are fitted for each candidate by Fisher scoring and the blur parameters by a grid then
golden-section search. Same maths and the same search as the C++ core.
"""

from __future__ import annotations

import math

import numpy as np

from . import namespace
from . import psf as _psf
from .blur_operator import estimate_noise

FAMILIES = ("gaussian", "defocus", "motion")
BETA_RANGE = (0.0, 4.0)
AXIS_BAND = 1  # S-grid bins this close to a frequency axis are not scored
GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))


def periodic_component(image):
    """Moisan's periodic component: the image minus the smooth field that carries its
    edge discontinuities (which would otherwise add a cross to the spectrum)."""
    xp = namespace(image)
    m, n = image.shape
    v = xp.zeros_like(image)
    v[0, :] += image[-1, :] - image[0, :]
    v[-1, :] += image[0, :] - image[-1, :]
    v[:, 0] += image[:, -1] - image[:, 0]
    v[:, -1] += image[:, 0] - image[:, -1]
    q = xp.arange(m, dtype=image.dtype)[:, None]
    r = xp.arange(n // 2 + 1, dtype=image.dtype)[None, :]
    den = 2 * xp.cos(2 * math.pi * q / m) + 2 * xp.cos(2 * math.pi * r / n) - 4
    den[0, 0] = 1
    s = xp.fft.rfft2(v) / den
    s[0, 0] = 0
    return image - xp.fft.irfft2(s, s=(m, n))


def spectral_grid(max_size):
    """S, the side of the frequency grid: 128, doubled until S >= 2 max_size + 2 (as
    spectral_grid_size in C++)."""
    s = 128
    while s < 2 * max_size + 2:
        s *= 2
    return s


class SpectralModel:
    """The binned periodogram of one image and the likelihood of candidate blurs."""

    def __init__(self, image, grid, sigma=None):
        xp = namespace(image)
        image = xp.asarray(image, dtype=xp.float64)
        m, n = image.shape
        self.grid = grid
        self.sigma2 = float(estimate_noise(image) if sigma is None else sigma) ** 2
        p = periodic_component(image)
        power = xp.abs(xp.fft.rfft2(p)) ** 2 / (m * n)
        # Each rfft bin stands for itself and its mirror, except the first and (even n)
        # last columns; the DC bin carries no blur information.
        w = xp.full(power.shape, 2.0)
        w[:, 0] = 1.0
        if n % 2 == 0:
            w[:, -1] = 1.0
        w[0, 0] = 0.0
        q = xp.arange(m)
        fq = xp.where(q <= m // 2, q, q - m) / m
        fr = xp.arange(n // 2 + 1) / n
        bq = xp.round(fq * grid).astype(xp.int64) % grid
        br = xp.round(fr * grid).astype(xp.int64)
        half = grid // 2 + 1
        index = (bq[:, None] * half + br[None, :]).ravel()
        count = xp.bincount(index, weights=w.ravel(), minlength=grid * half)
        total = xp.bincount(index, weights=(w * power).ravel(), minlength=grid * half)
        # Bins within AXIS_BAND of the frequency axes are left out: axis-aligned
        # structure (buildings, horizons, a frame's residual seam) concentrates there,
        # which the isotropic image model would explain as blur. This also drops DC.
        cq = xp.arange(grid)
        cq = xp.minimum(cq, grid - cq)
        off_axis = (cq[:, None] > AXIS_BAND) & (xp.arange(half)[None, :] > AXIS_BAND)
        keep = (count > 0) & off_axis.ravel()
        self.keep = keep
        self.count = count[keep]
        self.power = total[keep] / self.count
        sq = xp.sin(math.pi * xp.arange(grid) / grid) ** 2
        sr = xp.sin(math.pi * xp.arange(half) / grid) ** 2
        d2 = (4 * sq[:, None] + 4 * sr[None, :]).ravel()[keep]
        self.log_d2 = xp.log(d2)
        self.bins = float(self.count.sum())

    def otf_power(self, psf):
        """|H|^2 of a centred PSF on the S x S grid, at the kept bins."""
        xp = namespace(self.power)
        psf = xp.asarray(psf)
        s = self.grid
        kh, kw = psf.shape
        pad = xp.zeros((s, s))
        pad[:kh, :kw] = psf
        pad = xp.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
        return (xp.abs(xp.fft.rfft2(pad)) ** 2).ravel()[self.keep]

    def fit(self, otf_power, start=None):
        """Whittle negative log-likelihood of a blur, minimised over the image
        spectrum's scale a and slope beta. Returns (nll, log a, beta)."""
        xp = namespace(otf_power)
        c, i_, lq, s2 = self.count, self.power, self.log_d2, self.sigma2
        hp = xp.maximum(otf_power, 1e-30)

        def nll(u, beta):
            # A trial step may overflow exp: the likelihood is then inf and the line
            # search rejects the step (as in C++, where the overflow is silent).
            with np.errstate(over="ignore", invalid="ignore"):
                v = xp.exp(u - 0.5 * beta * lq) * hp + s2
                return float(xp.sum(c * (xp.log(v) + i_ / v)))

        if start is None:
            beta = 2.0
            signal = float(xp.sum(c * xp.maximum(i_ - s2, 0.0))) + 1e-30
            u = math.log(signal / float(xp.sum(c * hp * xp.exp(-0.5 * beta * lq))))
        else:
            u, beta = start
        f = nll(u, beta)
        for _ in range(50):
            sig = xp.exp(u - 0.5 * beta * lq) * hp
            v = sig + s2
            r = c * (v - i_) / (v * v)
            fi = c * sig * sig / (v * v)
            g0 = float(xp.sum(r * sig))
            g1 = float(xp.sum(r * sig * (-0.5 * lq)))
            j00 = float(xp.sum(fi))
            j01 = float(xp.sum(fi * (-0.5 * lq)))
            j11 = float(xp.sum(fi * (0.25 * lq * lq)))
            det = j00 * j11 - j01 * j01
            if not det > 0:
                break
            du = -(j11 * g0 - j01 * g1) / det
            db = -(j00 * g1 - j01 * g0) / det
            step = 1.0
            while step > 1e-4:
                un = u + step * du
                bn = min(max(beta + step * db, BETA_RANGE[0]), BETA_RANGE[1])
                fn = nll(un, bn)
                if fn <= f:
                    break
                step *= 0.5
            else:
                break
            done = f - fn <= 1e-10 * abs(f) + 1e-12
            u, beta, f = un, bn, fn
            if done:
                break
        return f, u, beta


def make_psf(family, params):
    if family == "gaussian":
        return _psf.gaussian((params[0],) * 2, _psf.gaussian_shape((params[0],) * 2))
    if family == "defocus":
        return _psf.disk(params[0], _psf.disk_shape(params[0]))
    if family == "motion":
        return _psf.motion(params[0], params[1], _psf.motion_shape(params[0], params[1]))
    raise ValueError(f"unknown family {family!r}")


def _golden(f, lo, hi, iterations):
    """Minimum of a unimodal f on [lo, hi] by golden-section search: (x, f(x))."""
    a, b = lo, hi
    x1 = a + GOLDEN * (b - a)
    x2 = b - GOLDEN * (b - a)
    f1, f2 = f(x1), f(x2)
    for _ in range(iterations):
        if f1 <= f2:
            b, x2, f2 = x2, x1, f1
            x1 = a + GOLDEN * (b - a)
            f1 = f(x1)
        else:
            a, x1, f1 = x1, x2, f2
            x2 = b - GOLDEN * (b - a)
            f2 = f(x2)
    return (x1, f1) if f1 <= f2 else (x2, f2)


def parameter_grid(family, max_size):
    """The coarse search grid of a family for kernels up to max_size pixels wide."""
    half = (max_size - 1) / 2.0
    if family == "gaussian":
        top = max(half / 3.0, 0.5)
        return [0.25 * (top / 0.25) ** (k / 39.0) for k in range(40)]
    if family == "defocus":
        return [0.5 + 0.25 * k for k in range(int((half - 0.5) / 0.25) + 1)]
    if family == "motion":
        lengths = [2.0 + k for k in range(int(2 * half - 1))]
        return [(length, 3.0 * a) for length in lengths for a in range(60)]
    raise ValueError(f"unknown family {family!r}")


def fit_family(model, family, max_size):
    """Best parameters of one family: (params, nll)."""
    cache = {}

    def score(params):
        key = tuple(round(p, 9) for p in params)
        if key not in cache:
            cache[key] = model.fit(model.otf_power(make_psf(family, params)))[0]
        return cache[key]

    grid = parameter_grid(family, max_size)
    if family in ("gaussian", "defocus"):
        values = [score((x,)) for x in grid]
        k = min(range(len(grid)), key=values.__getitem__)
        lo = grid[max(k - 1, 0)]
        hi = grid[min(k + 1, len(grid) - 1)]
        if family == "gaussian":  # refined on log sigma
            _golden(lambda t: score((math.exp(t),)), math.log(lo), math.log(hi), 20)
        else:
            _golden(lambda t: score((t,)), lo, hi, 20)
    else:
        values = [score(p) for p in grid]
        k = min(range(len(grid)), key=values.__getitem__)
        length, angle = grid[k]
        # Coordinate refinement: length within +-1 px, angle within +-3 degrees, twice.
        for _ in range(2):
            length = _golden(lambda t: score((t, angle)), max(length - 1.0, 1.0), length + 1.0, 16)[0]
            angle = _golden(lambda t: score((length, t)), angle - 3.0, angle + 3.0, 16)[0]
    # The best of everything scored (the refinement never loses the grid's best).
    key = min(cache, key=cache.__getitem__)
    params = key if family != "motion" else (key[0], key[1] % 180.0)
    return params, cache[key]
