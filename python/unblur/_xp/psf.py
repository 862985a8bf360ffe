"""Reference PSF generators (array API): the same maths as csrc/core/psf.cpp.

Each function takes already-validated parameters and an explicit odd `shape` (the
default shapes come from the ``*_shape`` helpers, which follow the same rules as the
C++ core), computes in float64 with NumPy-style calls that also run on CuPy, and
returns the PSF normalised to sum 1. The random generators (shake, short-exposure
turbulence) reimplement the core's splitmix64 / xoshiro256** / Box-Muller chain in
plain Python, so a seed gives the same PSF here and in C++.
"""

from __future__ import annotations

import math

import numpy as np

from .fft import fast_fft_size

FIRST_ZERO_J1 = 3.8317059702075125
DISK_SUBSAMPLES = 32
ROTATED_SUBROWS = 64
SAMPLES_PER_PIXEL = 16
SUBHARMONIC_LEVELS = 6
_MASK64 = (1 << 64) - 1


# ---- helpers --------------------------------------------------------------------------
def _special(xp):
    """erf / erfc / j1 for the namespace: scipy.special or cupyx.scipy.special."""
    if xp is np:
        import scipy.special as special
    else:
        import cupyx.scipy.special as special
    return special


def _half(reach):
    return max(1, math.ceil(reach))


def _normalised(xp, acc):
    total = float(xp.sum(acc))
    if not (total > 0 and math.isfinite(total)):
        raise ValueError("the PSF has no mass inside the requested size; use a larger size")
    return acc / total


def _offsets(xp, n):
    """Pixel offsets -n//2 .. n//2 of an odd axis, as float64."""
    return xp.arange(n, dtype=xp.float64) - float(n // 2)


def _normal_mass(xp, z0, z1):
    """P(z0 < Z < z1) for standard normal Z, accurate in both tails."""
    sp = _special(xp)
    s = 1.0 / math.sqrt(2.0)
    upper = 0.5 * (sp.erfc(z0 * s) - sp.erfc(z1 * s))
    lower = 0.5 * (sp.erfc(-z1 * s) - sp.erfc(-z0 * s))
    middle = 0.5 * (sp.erf(z1 * s) - sp.erf(z0 * s))
    return xp.where(z0 >= 0, upper, xp.where(z1 <= 0, lower, middle))


# ---- RNG (must match csrc/core/random.hpp bit for bit) ---------------------------------
def _splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & _MASK64


class Rng:
    """xoshiro256** seeded by splitmix64, with Box-Muller normal pairs."""

    def __init__(self, seed: int):
        sm = seed & _MASK64
        self.s = []
        for _ in range(4):
            sm, z = _splitmix64(sm)
            self.s.append(z)

    def next(self) -> int:
        s = self.s
        result = (_rotl((s[1] * 5) & _MASK64, 7) * 9) & _MASK64
        t = (s[1] << 17) & _MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        return float(self.next() >> 11) * 2.0**-53

    def normal_pair(self):
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        r = math.sqrt(-2.0 * math.log(u1))
        a = 2.0 * 3.14159265358979323846 * u2
        return r * math.cos(a), r * math.sin(a)


# ---- Gaussian -----------------------------------------------------------------------------
def _deg(theta):
    # Same rounding as the core: theta * (pi / 180).
    return theta * (3.14159265358979323846 / 180.0)


def gaussian_shape(sigma, theta=0.0):
    sigma = tuple(float(s) for s in sigma)
    if len(sigma) == 2:
        rr, _, cc = _cov(sigma, theta)
        return (2 * _half(4 * math.sqrt(rr)) + 1, 2 * _half(4 * math.sqrt(cc)) + 1)
    return tuple(2 * _half(4 * s) + 1 for s in sigma)


def _cov(sigma, theta):
    c, s = math.cos(_deg(theta)), math.sin(_deg(theta))
    a, b = sigma[1] ** 2, sigma[0] ** 2
    return a * s * s + b * c * c, -(a - b) * c * s, a * c * c + b * s * s


def gaussian(sigma, shape, theta=0.0, xp=np):
    """Pixel-integrated Gaussian, sigma per axis; 2-D may be rotated by theta degrees."""
    sigma = tuple(float(s) for s in sigma)
    if len(sigma) == 2:
        rr, rc, cc = _cov(sigma, theta)
        if rc != 0.0:
            slope = rc / rr
            sd = math.sqrt(max(cc - rc * slope, 0.0))
            sub = (xp.arange(ROTATED_SUBROWS, dtype=xp.float64) + 0.5) / ROTATED_SUBROWS - 0.5
            y = (_offsets(xp, shape[0])[:, None] + sub[None, :])[:, :, None]  # (rows, sub, 1)
            x = _offsets(xp, shape[1])[None, None, :]
            sd_rows, half_sub = math.sqrt(rr), 0.5 / ROTATED_SUBROWS
            wy = _normal_mass(xp, (y - half_sub) / sd_rows, (y + half_sub) / sd_rows)
            m = y * slope
            mass = _normal_mass(xp, (x - 0.5 - m) / sd, (x + 0.5 - m) / sd)
            return _normalised(xp, xp.sum(wy * mass, axis=1))
        sigma = (math.sqrt(rr), math.sqrt(cc))
    out = None
    for axis, (n, s) in enumerate(zip(shape, sigma)):
        x = _offsets(xp, n)
        p = _normal_mass(xp, (x - 0.5) / s, (x + 0.5) / s)
        p = xp.reshape(p, tuple(n if a == axis else 1 for a in range(len(shape))))
        out = p if out is None else out * p
    return _normalised(xp, out)


# ---- disk -------------------------------------------------------------------------------
def disk_shape(radius):
    n = 2 * _half(radius - 0.5) + 1
    return (n, n)


def disk_area(xp, cy, cx, radius, rows, cols):
    """Fraction of each pixel of a rows x cols grid inside the circle (cy, cx, radius)."""
    r2 = radius * radius
    y = (xp.arange(rows, dtype=xp.float64) - cy)[:, None]
    x = (xp.arange(cols, dtype=xp.float64) - cx)[None, :]
    ny, fy = xp.maximum(xp.abs(y) - 0.5, 0.0), xp.abs(y) + 0.5
    nx, fx = xp.maximum(xp.abs(x) - 0.5, 0.0), xp.abs(x) + 0.5
    inside = (fx * fx + fy * fy) <= r2
    outside = (nx * nx + ny * ny) >= r2
    frac = xp.where(inside, 1.0, 0.0)
    edge = ~inside & ~outside
    ei, ej = xp.nonzero(edge)
    if ei.size:
        sub = (xp.arange(DISK_SUBSAMPLES, dtype=xp.float64) + 0.5) / DISK_SUBSAMPLES - 0.5
        sy = (ei.astype(xp.float64) - cy)[:, None, None] + sub[None, :, None]
        sx = (ej.astype(xp.float64) - cx)[:, None, None] + sub[None, None, :]
        count = xp.sum((sx * sx + sy * sy) <= r2, axis=(1, 2))
        frac[ei, ej] = count * (1.0 / (DISK_SUBSAMPLES * DISK_SUBSAMPLES))
    return frac


def disk(radius, shape, xp=np):
    if radius <= 0.5:  # inside the centre pixel: a delta (the sub-grid would miss a tiny disk)
        acc = xp.zeros(tuple(shape), dtype=xp.float64)
        acc[shape[0] // 2, shape[1] // 2] = 1.0
        return acc
    return _normalised(xp, disk_area(xp, float(shape[0] // 2), float(shape[1] // 2), radius, *shape))


# ---- bilinear splatting, motion --------------------------------------------------------
def splat_bilinear(xp, row, col, w, shape):
    """Point masses w at fractional (row, col), spread bilinearly; outside mass dropped."""
    rows, cols = shape
    fr, fc = xp.floor(row), xp.floor(col)
    tr, tc = row - fr, col - fc
    r0, c0 = fr.astype(xp.int64), fc.astype(xp.int64)
    acc = xp.zeros(rows * cols, dtype=xp.float64)
    for a, wr in ((0, 1.0 - tr), (1, tr)):
        for b, wc in ((0, 1.0 - tc), (1, tc)):
            r, c = r0 + a, c0 + b
            ok = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
            idx = xp.where(ok, r * cols + c, 0)
            acc += xp.bincount(idx, weights=xp.where(ok, w * wr * wc, 0.0), minlength=rows * cols)
    return xp.reshape(acc, (rows, cols))


def motion_shape(length, angle):
    c, s = math.cos(_deg(angle)), math.sin(_deg(angle))
    return (2 * _half(0.5 * length * abs(s)) + 1, 2 * _half(0.5 * length * abs(c)) + 1)


def motion(length, angle, shape, xp=np):
    c, s = math.cos(_deg(angle)), math.sin(_deg(angle))
    n = max(1, math.ceil(SAMPLES_PER_PIXEL * length))
    t = ((xp.arange(n, dtype=xp.float64) + 0.5) / n - 0.5) * length
    col = float(shape[1] // 2) + t * c
    row = float(shape[0] // 2) - t * s
    w = xp.full(n, 1.0 / n)
    return _normalised(xp, splat_bilinear(xp, row, col, w, shape))


# ---- camera shake --------------------------------------------------------------------------
def shake_trajectory(extent, seed, steps, smoothness, xp=np):
    """The sampled trajectory as a dict of arrays dy, dx, weight (centroid 0)."""
    rng = Rng(seed)
    innovation = math.sqrt(1.0 - smoothness * smoothness)
    py, px = [0.0] * steps, [0.0] * steps
    vy, vx = rng.normal_pair()
    y = x = 0.0
    for t in range(1, steps):
        h0, h1 = rng.normal_pair()
        vy = smoothness * vy + innovation * h0
        vx = smoothness * vx + innovation * h1
        y += vy
        x += vx
        py[t], px[t] = y, x
    span = max(max(py) - min(py), max(px) - min(px))
    scale = extent / span if span > 0 else 0.0
    py = [v * scale for v in py]
    px = [v * scale for v in px]
    vy_ = xp.asarray(py, dtype=xp.float64)
    vx_ = xp.asarray(px, dtype=xp.float64)
    dy, dx = vy_[1:] - vy_[:-1], vx_[1:] - vx_[:-1]
    lengths = [math.sqrt(a * a + b * b) for a, b in zip(np.diff(py), np.diff(px))]
    counts = [max(1, math.ceil(SAMPLES_PER_PIXEL * n)) for n in lengths]
    seg = np.repeat(np.arange(steps - 1), counts)
    k = np.concatenate([np.arange(n) for n in counts])
    nrep = np.repeat(np.asarray(counts, dtype=np.float64), counts)
    seg, f, nrep = xp.asarray(seg), xp.asarray((k + 0.5) / nrep), xp.asarray(nrep)
    sy = vy_[seg] + f * dy[seg]
    sx = vx_[seg] + f * dx[seg]
    w = (1.0 / (steps - 1)) / nrep
    wsum = xp.sum(w)
    sy = sy - xp.sum(w * sy) / wsum
    sx = sx - xp.sum(w * sx) / wsum
    return {"dy": sy, "dx": sx, "weight": w, "vertex_y": vy_, "vertex_x": vx_}


def shake_shape(trajectory):
    ry = float(abs(trajectory["dy"]).max())
    rx = float(abs(trajectory["dx"]).max())
    return (2 * _half(ry) + 1, 2 * _half(rx) + 1)


def shake(extent, seed, steps, smoothness, shape=None, xp=np):
    tr = shake_trajectory(extent, seed, steps, smoothness, xp)
    shape = shake_shape(tr) if shape is None else tuple(shape)
    row = float(shape[0] // 2) + tr["dy"]
    col = float(shape[1] // 2) + tr["dx"]
    return _normalised(xp, splat_bilinear(xp, row, col, tr["weight"], shape))


# ---- atmospheric turbulence ------------------------------------------------------------
def turbulence_shape(d_over_r0, oversampling):
    n = 2 * _half(2.0 * oversampling * (4.0 + 2.0 * d_over_r0)) + 1
    return (n, n)


def turbulence_grid_size(shape):
    return fast_fft_size(max(2 * max(shape), 64), even=True)


def _crop_periodic(xp, grid, shape):
    hy, hx = shape[0] // 2, shape[1] // 2
    grid = xp.roll(grid, (hy, hx), axis=(0, 1))
    return xp.maximum(grid[: shape[0], : shape[1]], 0.0)


def _signed_index(xp, m):
    k = xp.arange(m)
    return xp.where(k < (m + 1) // 2, k, k - m).astype(xp.float64)


def turbulence(d_over_r0, oversampling, shape, short_exposure=False, seed=0, xp=np):
    m = turbulence_grid_size(shape)
    if not short_exposure:
        fy = (_signed_index(xp, m) / m)[:, None]
        fx = (xp.arange(m // 2 + 1, dtype=xp.float64) / m)[None, :]
        u = 2.0 * oversampling * xp.sqrt(fy * fy + fx * fx)
        uc = xp.minimum(u, 1.0)
        otf = (2.0 / math.pi) * (xp.arccos(uc) - uc * xp.sqrt(1.0 - uc * uc))
        otf = xp.where(u < 1.0, otf * xp.exp(-3.44 * (u * d_over_r0) ** (5.0 / 3.0)), 0.0)
        grid = xp.fft.irfftn(otf, s=(m, m), axes=(0, 1)) * (m * m)
        return _normalised(xp, _crop_periodic(xp, grid, shape))
    pupil = disk_area(xp, float(m // 2), float(m // 2), m / (4.0 * oversampling), m, m)
    rng = Rng(seed)
    noise = np.empty(m * m, dtype=np.complex128)
    for k in range(m * m):
        re, im = rng.normal_pair()
        noise[k] = complex(re, im)
    noise = xp.asarray(noise.reshape(m, m))
    df = 1.0 / (2.0 * oversampling)
    f = _signed_index(xp, m) * df
    f2 = f[:, None] ** 2 + f[None, :] ** 2
    psd_scale = 0.023 * d_over_r0 ** (5.0 / 3.0)
    safe = xp.where(f2 > 0, f2, 1.0)
    amplitude = xp.where(f2 > 0, xp.sqrt(psd_scale * safe ** (-11.0 / 6.0)) * df, 0.0)
    phase = xp.real(xp.fft.ifft2(noise * amplitude)) * (m * m)
    # Subharmonics: SUBHARMONIC_LEVELS levels of 3 x 3 frequencies at df / 3, df / 9, ...
    dx = 2.0 * oversampling / m
    pos = (xp.arange(m, dtype=xp.float64) - float(m // 2)) * dx
    divisor = 1.0
    for _ in range(SUBHARMONIC_LEVELS):
        divisor *= 3.0
        dfp = df / divisor
        for a in (-1, 0, 1):
            for b in (-1, 0, 1):
                re, im = rng.normal_pair()
                if a == 0 and b == 0:
                    continue
                fy, fx = a * dfp, b * dfp
                amp = math.sqrt(psd_scale * (fy * fy + fx * fx) ** (-11.0 / 6.0)) * dfp
                arg = 2.0 * math.pi * (fx * pos[None, :] + fy * pos[:, None])
                phase = phase + amp * (re * xp.cos(arg) - im * xp.sin(arg))
    field = xp.fft.fft2(pupil * xp.exp(1j * phase))
    intensity = xp.real(field) ** 2 + xp.imag(field) ** 2
    return _normalised(xp, _crop_periodic(xp, intensity, shape))


# ---- Airy and Moffat --------------------------------------------------------------------------
def supersampling(scale):
    return min(9, 2 * math.ceil(4.0 / scale) + 1)


def _radial_supersampled(xp, shape, s, profile):
    sub = (xp.arange(s, dtype=xp.float64) + 0.5) / s - 0.5
    y = (_offsets(xp, shape[0])[:, None] + sub[None, :])[:, None, :, None]
    x = (_offsets(xp, shape[1])[:, None] + sub[None, :])[None, :, None, :]
    return xp.sum(profile(y * y + x * x), axis=(2, 3))


def airy_shape(radius):
    n = 2 * _half(4.0 * radius) + 1
    return (n, n)


def airy(radius, shape, xp=np):
    sp = _special(xp)
    k = FIRST_ZERO_J1 / radius

    def profile(r2):
        v = k * xp.sqrt(r2)
        safe = xp.where(v < 1e-8, 1.0, v)
        return xp.where(v < 1e-8, 1.0, (2.0 * sp.j1(safe) / safe) ** 2)

    return _normalised(xp, _radial_supersampled(xp, shape, supersampling(radius), profile))


def _moffat_alpha(fwhm, beta):
    return fwhm / (2.0 * math.sqrt(math.expm1(math.log(2.0) / beta)))  # no cancellation at large beta


def moffat_shape(fwhm, beta):
    r99 = _moffat_alpha(fwhm, beta) * math.sqrt(math.expm1(math.log(100.0) / (beta - 1.0)))
    n = 2 * _half(min(r99, 10.0 * fwhm)) + 1
    return (n, n)


def moffat(fwhm, beta, shape, xp=np):
    a = _moffat_alpha(fwhm, beta)
    inv_a2 = 1.0 / (a * a)
    return _normalised(
        xp, _radial_supersampled(xp, shape, supersampling(fwhm), lambda r2: xp.exp(-beta * xp.log1p(r2 * inv_a2)))
    )
