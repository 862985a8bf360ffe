"""Tiles and their blending windows, and reflection padding, for any array namespace.

A large image is cut, per axis, into tiles of one size that overlap; each tile's result
is weighted by a smooth window and the weighted results are added. The windows are
computed on the host (one line per axis, a few hundred numbers) and copied to the
device once per call; everything of the image's size stays in the image's namespace.

The windows (``axis_windows``): between consecutive tiles k and k+1, which overlap
on ``ov`` pixels, tile k+1 rises as sin²(π (j + ½) / (2 ov)) and tile k falls as
cos²(π (j + ½) / (2 ov)) on the same pixels j = 0 .. ov-1, so the two add up to 1
there; a tile's window is the product of its rising and falling parts, and 1 at the
image's borders (no neighbour there). Where a pixel lies in three tiles (a large
overlap against the tile), the raw sum exceeds 1; dividing by it makes the windows a
partition of unity everywhere. The raw sum is never below 1 (with r_k the rising ramp
of tile k extended by 0 before the tile and 1 after its overlap, w_k = r_k (1 - r_k+1),
and r_k+1 <= r_k pointwise for tiles of one size with increasing starts, so
Σ w_k >= Σ r_k - Σ r_k+1 = r_0 = 1), hence each normalised weight is at most its raw
value, sin²(π (j + ½) / (2 ov)) at j pixels from the tile's edge, and ov >= overlap.

Why that gives tiled == untiled: the untiled result is Σ_k w_k y (the weights sum to 1),
the tiled one Σ_k w_k y_k, where y_k, tile k's output, differs from y only within the
network's receptive-field radius R of tile k's edges inside the image (there the tile's
network sees its own zero padding instead of the neighbouring pixels; at the image's
borders the tiles are flush with the image, so both see the same padding). So
|tiled - untiled| <= Σ_{k with x near k's edge} w_k(x) |y_k(x) - y(x)|
                 <= (number of such tiles) · sin²(π (R - ½) / (2 overlap)) · E,
E the largest change of the output when the pixels beyond a tile's edge are replaced by
zeros. With R = 1 (one 3 x 3 convolution) and overlap = 32 the factor is 6e-4.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["round_up", "axis_layout", "axis_windows", "reflect_index", "pad_reflect", "window_bound"]


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def axis_layout(length: int, tile: int, overlap: int, multiple: int = 1):
    """Tiles along one axis of `length` pixels: ``(size, starts)``.

    One tile of the whole axis when it fits in `tile`. Otherwise the fewest tiles of
    one size (a multiple of `multiple`, at most `tile`) whose neighbours overlap by at
    least `overlap`, the smallest such size (so overlaps stay close to what was asked
    for), starts spread evenly from 0 to ``length - size`` in steps that are multiples
    of `multiple`: a network that down-samples by `multiple` then sees the same grid of
    blocks in every tile as in the whole image. `length` and `tile` are multiples of
    `multiple`, and ``overlap <= tile - multiple`` (the largest overlap a step of
    `multiple` allows).
    """
    m = multiple
    if length <= tile:
        return length, np.zeros(1, dtype=np.int64)
    if length % m or tile % m or not 0 <= overlap <= tile - m:
        raise ValueError(f"axis_layout: length {length} and tile {tile} must be multiples of {m}, and "
                         f"0 <= overlap {overlap} <= tile - {m}")

    def steps_fit(size, n):
        # n tiles of `size` from 0 to length - size, steps of m * floor or ceil of q / (n - 1)
        q = (length - size) // m
        return m * -(-q // (n - 1)) <= size - overlap

    n = 1 + -(-((length - tile) // m) // ((tile - overlap) // m))  # the fewest tiles of size `tile` that fit
    size = max(m, round_up(-(-(length + (n - 1) * overlap) // n), m))
    while not steps_fit(size, n):  # terminates: size = tile fits
        size += m
    q = (length - size) // m
    starts = m * ((np.arange(n, dtype=np.int64) * q + (n - 1) // 2) // (n - 1))
    return size, np.unique(starts)


def axis_windows(length: int, size: int, starts):
    """Blending weights along one axis: ``(normalised, raw)``, each (tiles, size) float64.

    ``normalised`` sums to 1 over the tiles at every pixel; ``raw`` is the product of
    each tile's raised-cosine ramps (see the module's docstring)."""
    starts = np.asarray(starts, dtype=np.int64)
    n = len(starts)
    raw = np.ones((n, size))
    for k in range(n):
        if k > 0:
            ov = int(starts[k - 1] + size - starts[k])
            if ov > 0:
                j = np.arange(ov)
                raw[k, :ov] *= np.sin(np.pi * (j + 0.5) / (2 * ov)) ** 2
        if k < n - 1:
            ov = int(starts[k] + size - starts[k + 1])
            if ov > 0:
                j = np.arange(ov)
                raw[k, size - ov:] *= np.cos(np.pi * (j + 0.5) / (2 * ov)) ** 2
    total = np.zeros(length)
    for k in range(n):
        total[starts[k]:starts[k] + size] += raw[k]
    norm = np.stack([raw[k] / total[starts[k]:starts[k] + size] for k in range(n)])
    return norm, raw


def reflect_index(length: int, padded: int):
    """Indices 0 .. padded-1 into an axis of `length`, mirrored at the end without
    repeating the edge pixel (NumPy's 'reflect'); a single pixel repeats."""
    i = np.arange(padded, dtype=np.int64)
    if length == 1:
        return np.zeros(padded, dtype=np.int64)
    period = 2 * (length - 1)
    i = i % period
    return np.where(i < length, i, period - i)


def pad_reflect(x, xp, shape):
    """`x` (..., H, W) extended at the bottom and right by reflection to ``shape`` (H', W').

    Index arrays rather than xp.pad: the same rule in every namespace, whatever the pad's
    size against the image (a 3-pixel image padded to 8)."""
    for axis, want in zip((-2, -1), shape):
        have = x.shape[axis]
        if want != have:
            x = xp.take(x, xp.asarray(reflect_index(have, want)), axis=x.ndim + axis)
    return x


def window_bound(radius: int, overlap: int) -> float:
    """The largest weight a tile has within `radius` pixels of its edge inside the image:
    sin²(π (radius - ½) / (2 overlap)) (1 with no overlap)."""
    if overlap <= 0 or radius - 0.5 >= overlap:
        return 1.0
    return math.sin(math.pi * (radius - 0.5) / (2 * overlap)) ** 2
