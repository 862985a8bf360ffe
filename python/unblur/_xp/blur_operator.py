"""Reference blur forward model g = M (h * x) on a periodic grid (see
csrc/core/blur_operator.hpp), and the noise-level estimate, in the array API."""

from __future__ import annotations

import math

from . import namespace
from .fft import fast_fft_shape, psf2otf


def reflect_grid_shape(shape, psf_shape):
    """The 'reflect' model's grid (core/blur_operator.hpp's reflect_grid_shape): one period
    of the half-sample symmetric extension, 2 n, along each axis the PSF blurs (the
    smallest multiple of it that holds the PSF), n where the PSF has one tap."""
    out = []
    for n, k in zip(shape, psf_shape):
        n, k = int(n), int(k)
        out.append(2 * n * -(-k // (2 * n)) if k > 1 else n)
    return tuple(out)


def reflect_pad(image, grid, offset):
    """`image` extended half-sample symmetrically (period 2 n: d c b a | a b c d | d c b a)
    over `grid`, its first pixel at `offset` (core/blur_operator.hpp's reflect_pad)."""
    xp = namespace(image)
    idx = []
    for o, n, g in zip(offset, image.shape, grid):
        r = xp.mod(xp.arange(g) - o, 2 * n)
        idx.append(xp.where(r < n, r, 2 * n - 1 - r))
    return xp.ascontiguousarray(image[xp.ix_(*idx)])


class BlurOperator:
    """periodic: grid = observation shape, offset 0; extended: grid >= N + K - 1, offset K // 2."""

    def __init__(self, psf, shape, extended):
        self.xp = xp = namespace(psf)
        shape = tuple(int(s) for s in shape)
        if extended:
            self.grid_shape = fast_fft_shape(tuple(n + k - 1 for n, k in zip(shape, psf.shape)))
            self.offset = tuple(k // 2 for k in psf.shape)
        else:
            self.grid_shape = shape
            self.offset = (0,) * len(shape)
        self.observed_shape = shape
        self.periodic = not extended
        self.otf = psf2otf(psf, self.grid_shape)
        self.dtype = psf.dtype
        self._window = tuple(slice(o, o + n) for o, n in zip(self.offset, shape))
        del xp

    def _apply(self, x, otf):
        xp = self.xp
        out = xp.fft.irfftn(xp.fft.rfftn(x) * otf, s=self.grid_shape, axes=tuple(range(x.ndim)))
        return out.astype(self.dtype, copy=False)

    def forward_grid(self, x):
        return self._apply(x, self.otf)

    def adjoint_grid(self, y):
        return self._apply(y, self.xp.conj(self.otf))

    def crop(self, x):
        return self.xp.ascontiguousarray(x[self._window])

    def embed(self, y, fill=0.0):
        grid = self.xp.full(self.grid_shape, fill, dtype=y.dtype)
        grid[self._window] = y
        return grid

    def forward(self, x):
        return self.crop(self.forward_grid(x))

    def adjoint(self, y):
        return self.adjoint_grid(self.embed(y))


def _blocks(x, xp):
    """The four samples (a, b, c, e) of each disjoint 2x2 block of the last two axes, in
    float64 (an odd last row or column left out)."""
    h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    x = x[..., :h, :w].astype(xp.float64)
    return x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]


def _haar_diagonal(x, xp):
    a, b, c, e = _blocks(x, xp)
    return (a - b - c + e) / 2.0


def median_abs(d, tiny=0.0):
    """median(|d|) as the core's estimate_noise takes it (blur_operator.cpp says why):
    where every |d| lies within 0.01 q + (k + 1) tiny of a multiple k q of one step q (the
    smallest |d| above `tiny`, the rounding of one value), as quantised data give, and the
    median is not 0, the grouped-data median, interpolated within its step (each multiple
    v standing for [v - q/2, v + q/2]); otherwise the plain median."""
    xp = namespace(d)
    d = xp.abs(d).ravel()
    n = d.size
    above = d[d > tiny]
    if above.size:
        q = float(above.min())
        k = xp.rint(d / q)
        if bool(xp.all(xp.abs(d - k * q) <= 0.01 * q + (k + 1) * tiny)):
            v = float(xp.rint(xp.partition(d, n // 2)[n // 2] / q)) * q
            if v > 0:
                lo = v - 0.5 * q
                below = int(xp.count_nonzero(d < lo))
                inside = int(xp.count_nonzero((d >= lo) & (d <= v + 0.5 * q)))
                return lo + (0.5 * n - below) / inside * q
    return float(xp.median(d))


def _rounding(x, used):
    """2 eps x the largest |sample| `used`: the rounding bound of one Haar detail of `x`
    (0 for integer samples, which are exact)."""
    xp = namespace(x)
    if not xp.issubdtype(x.dtype, xp.floating) or used.size == 0:
        return 0.0
    return 2.0 * float(xp.finfo(x.dtype).eps) * float(xp.abs(used).max())


def _noise_groups(image):
    """The brightness groups of estimate_noise: (sizes, sigmas, levels), each group's
    number of 2x2 blocks (1-D: pairs), MAD sigma and mean block level, in the order of
    their levels. One group under 2,048 blocks."""
    xp = namespace(image)
    x = image.astype(xp.float64)
    if x.ndim == 1:
        n = (x.shape[0] // 2) * 2
        a, b = x[0:n:2], x[1:n:2]
        d = xp.abs(a - b) / (2.0**0.5)
        level = (a + b) / 2.0
        used = image[:n]
    else:
        a, b, c, e = _blocks(x, xp)
        d = xp.abs(a - b - c + e) / 2.0
        level = (a + b + c + e) / 4.0
        used = image[..., :(x.shape[-2] // 2) * 2, :(x.shape[-1] // 2) * 2]
    tiny = _rounding(image, used)
    d, level = d.ravel(), level.ravel()
    n = int(d.size)
    groups = min(16, max(1, n // 1024))
    if groups == 1:
        return [n], [median_abs(d, tiny) / 0.6744897501960817], [float(xp.sum(level / n))]
    bins = 4096
    lo, hi = float(level.min()), float(level.max())
    scale = bins / (hi - lo) if hi > lo else 0.0
    t = xp.nan_to_num(xp.floor((level - lo) * scale), nan=0.0, posinf=bins - 1.0, neginf=0.0)  # as the core clamps
    fine = xp.clip(t, 0, bins - 1).astype(xp.int64)
    count = xp.bincount(fine, minlength=bins)
    below = xp.cumsum(count) - count
    group = xp.minimum(below * groups // n, groups - 1)[fine]
    sizes, sigmas, levels = [], [], []
    for g in range(groups):
        inside = group == g
        part = d[inside]
        if part.size:
            sizes.append(int(part.size))
            sigmas.append(median_abs(part, tiny) / 0.6744897501960817)
            levels.append(float(xp.sum(level[inside] / part.size)))  # (as the core: no overflow near 1e308)
    return sizes, sigmas, levels


def estimate_noise(image):
    """RMS noise: median(|Haar diagonal detail|) / 0.6745 over 2x2 blocks of the last two
    axes (:func:`median_abs`: interpolated on quantised data), in K = n // 1024 groups
    (1 to 16) of blocks by their mean, combined as an RMS over the blocks, as the core's
    estimate_noise (blur_operator.cpp says why and how the groups are cut)."""
    sizes, sigmas, _ = _noise_groups(image)
    if len(sizes) == 1:
        return sigmas[0]
    top = max(sigmas)
    if not top > 0:
        return 0.0
    total = 0.0  # of (sigma / top)^2, as the core sums (squares near 1e154 and above overflow)
    for size, sigma in zip(sizes, sigmas):
        r = sigma / top
        total += size * r * r
    return top * math.sqrt(total / sum(sizes))


def noise_profile(image):
    """The noise level as a function of brightness: (levels, sigmas), the mean 2x2-block
    level and MAD sigma of each of estimate_noise's brightness groups, levels ascending."""
    _, sigmas, levels = _noise_groups(image)
    return levels, sigmas


def estimate_noise_correlation(channels):
    """The noise's mean correlation between the 2-D `channels` (a list of >= 2 arrays of
    one shape), in [-1, 1], from their finest Haar diagonal details (where a natural, and
    still more a blurred, image is mostly noise): for each pair a, b with robust variances
    v(.) = (median|.| / 0.6745)^2, rho_ab = (v(a + b) - v(a - b)) / (v(a + b) + v(a - b)),
    which is 2 cov / (var a + var b) for Gaussian noise. Channels with no detail at all
    (equal constants) give 1."""
    xp = namespace(channels[0])
    d = [_haar_diagonal(c, xp) for c in channels]
    tiny = max(_rounding(c, c) for c in channels)  # (median_abs: interpolated on quantised data)
    rhos = []
    for i in range(len(d)):
        for j in range(i + 1, len(d)):
            plus = median_abs(d[i] + d[j], 2 * tiny) ** 2
            minus = median_abs(d[i] - d[j], 2 * tiny) ** 2
            rhos.append(1.0 if plus + minus == 0 else (plus - minus) / (plus + minus))
    return sum(rhos) / len(rhos)
