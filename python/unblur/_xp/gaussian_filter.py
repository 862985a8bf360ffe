"""Reference Gaussian filter (array API): one 1-D correlation per axis.

Each axis is extended by the kernel radius with the boundary rule, then the output is
the weighted sum of 2r + 1 shifted slices. Same results as unblur's C++ engine and as
scipy.ndimage.gaussian_filter (order 0), on NumPy or CuPy arrays.
"""

from __future__ import annotations

import math

import numpy as np

from . import namespace

MODES = ("reflect", "mirror", "nearest", "constant", "wrap", "periodic")


def gaussian_radius(sigma: float, truncate: float) -> int:
    """int(truncate * sigma + 0.5), as scipy.ndimage."""
    return int(truncate * sigma + 0.5)


def gaussian_kernel1d(sigma: float, truncate: float = 4.0):
    """The 2r + 1 weights exp(-x^2 / (2 sigma^2)), x = -r..r, normalised to sum 1 (NumPy float64)."""
    r = gaussian_radius(sigma, truncate)
    if r == 0:
        return np.ones(1)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 / (sigma * sigma) * x * x)
    return w / w.sum()


def boundary_indices(n: int, r: int, mode: str, xp=np):
    """Source index of positions -r .. n + r - 1 of a line of length n (-1: cval), in `xp`.

    'reflect' repeats with period 2n (d c b a | a b c d | d c b a), 'mirror' with
    period 2n - 2 (d c b | a b c d | c b a; a 1-sample line behaves as 'nearest'),
    'wrap' / 'periodic' with period n; 'nearest' repeats the edge sample.
    """
    i = xp.arange(-r, n + r)
    if mode == "constant":
        return xp.where((i >= 0) & (i < n), i, -1)
    if mode == "nearest" or (mode == "mirror" and n == 1):
        return xp.clip(i, 0, n - 1)
    if mode in ("wrap", "periodic"):
        return xp.mod(i, n)
    if mode == "reflect":
        m = xp.mod(i, 2 * n)
        return xp.where(m < n, m, 2 * n - 1 - m)
    if mode == "mirror":
        m = xp.mod(i, 2 * n - 2)
        return xp.where(m < n, m, 2 * n - 2 - m)
    raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")


def correlate_axis(x, weights, axis: int, mode: str = "reflect", cval: float = 0.0):
    """1-D correlation of `x` with the odd-length `weights` along `axis`."""
    xp = namespace(x)
    n = x.shape[axis]
    r = (len(weights) - 1) // 2
    idx = boundary_indices(n, r, mode, xp)  # made where x is: no upload
    ext = xp.take(x, xp.maximum(idx, 0), axis=axis)
    if mode == "constant":
        outside = xp.reshape(idx < 0, [-1 if a == axis else 1 for a in range(x.ndim)])
        ext = xp.where(outside, x.dtype.type(cval), ext)
    out = xp.zeros_like(x)
    for k, w in enumerate(weights):
        window = [slice(None)] * x.ndim
        window[axis] = slice(k, k + n)
        out = out + x.dtype.type(w) * ext[tuple(window)]
    return out


def gaussian_filter(x, sigma, mode: str = "reflect", cval: float = 0.0, truncate: float = 4.0):
    """Gaussian filter of a float array; `sigma` is one value per axis (0: axis untouched)."""
    if len(sigma) != x.ndim:
        raise ValueError(f"sigma must have {x.ndim} values, got {len(sigma)}")
    out = x
    for axis, s in enumerate(sigma):
        if not (s >= 0 and math.isfinite(s)):
            raise ValueError(f"sigma must be finite and >= 0, got {s}")
        if gaussian_radius(s, truncate) == 0:
            continue
        out = correlate_axis(out, gaussian_kernel1d(s, truncate), axis, mode, cval)
    return out
