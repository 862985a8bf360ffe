"""Reference collaborative Wiener filter (array API): block matching on a pilot
estimate, then Wiener shrinkage of each group of similar blocks in a 3-D transform.

This is the second stage of BM3D (Dabov, Foi, Katkovnik and Egiazarian, "Image denoising
by sparse 3-D transform-domain collaborative filtering", IEEE TIP 2007), with the pilot
given (unblur's plug-and-play gives it its learned denoiser's output). Same results as
unblur's C++ engine (core/collaborative.hpp), on NumPy or CuPy arrays:

1. Reference blocks (block x block) start every `step` pixels along each axis, plus the
   last position, so that every pixel is covered.
2. Each reference is compared, on the pilot, with every block whose corner lies within
   `radius` pixels of its own: the distance is the blocks' mean squared difference
   (float64). The group is the reference itself, then the other blocks in ascending
   distance (ties: the earlier in row-major scan order of the offsets), up to `group`
   blocks, of those at distance <= `tau`.
3. The group of noisy blocks and the group of pilot blocks are transformed (orthonormal
   DCT-II of each block, then an orthonormal DCT-II across the group); the noisy
   coefficients are multiplied by the empirical Wiener gains P^2 / (P^2 + s^2), s^2 the
   mean of sigma^2 over the reference block, and transformed back.
4. Each block estimate is added into the result with the group's weight
   1 / (max(s^2, tiny) * max(sum of the gains^2, 1)) times a Kaiser window (beta 2);
   the result is the weighted mean of every estimate covering a pixel.

Images smaller than one block along an axis are returned as the pilot. Written for
clarity; the distances of all references to one offset are computed at once.
"""

from __future__ import annotations

import numpy as np

from . import namespace

BLOCK = 8
STEP = 3
RADIUS = 12
GROUP = 16
TAU = 400.0 / 255.0**2  # BM3D's Wiener-stage match threshold, for images in [0, 1]
KAISER_BETA = 2.0
TINY = 1e-30
CHUNK = 2048  # references per batch (collaborative_wiener's working set; _memory's estimate)


def positions(n: int, block: int, step: int) -> list[int]:
    """Reference corners along an axis of length n: 0, step, 2 step, ... and n - block."""
    last = n - block
    p = list(range(0, last + 1, step))
    if p[-1] != last:
        p.append(last)
    return p


def dct_matrix(n: int):
    """The orthonormal DCT-II matrix C (NumPy float64): C @ v is v's transform."""
    k = np.arange(n, dtype=np.float64)[:, None]
    i = np.arange(n, dtype=np.float64)[None, :]
    c = np.cos(np.pi * (2.0 * i + 1.0) * k / (2.0 * n)) * np.sqrt(2.0 / n)
    c[0] /= np.sqrt(2.0)
    return c


def kaiser_window(block: int, beta: float = KAISER_BETA):
    """The separable Kaiser window (outer product of the 1-D window), NumPy float64."""
    w = np.kaiser(block, beta)
    return np.outer(w, w)


def _dct(n: int, xp):
    """dct_matrix(n) built on xp's device (no upload)."""
    k = xp.arange(n, dtype=xp.float64)[:, None]
    i = xp.arange(n, dtype=xp.float64)[None, :]
    c = xp.cos(np.pi * (2.0 * i + 1.0) * k / (2.0 * n)) * np.sqrt(2.0 / n)
    c[0] /= np.sqrt(2.0)
    return c


def _group_matrices(group: int, xp):
    """(group + 1, group, group): entry n holds dct_matrix(n) in its top-left corner and
    the identity below and right of it, so one batched product transforms groups of
    every size (entries beyond the group's size pass through unchanged)."""
    m = xp.zeros((group + 1, group, group), dtype=xp.float64)
    for n in range(group + 1):
        if n:
            m[n, :n, :n] = _dct(n, xp)
        rest = xp.arange(n, group)
        m[n, rest, rest] = 1.0
    return m


def _blocks(a, ys, xs, block, xp):
    """a's blocks at corners (ys[i], xs[i]): shape (len(ys), block, block)."""
    r = xp.arange(block)
    return a[(ys[:, None] + r[None, :])[:, :, None], (xs[:, None] + r[None, :])[:, None, :]]


def match(pilot, ry, rx, *, block=BLOCK, radius=RADIUS, group=GROUP, tau=TAU):
    """Block matching on the pilot for the references at corners (ry, rx): (cy, cx,
    count), the group's corners (n_refs, group) in group order (the reference first)
    and each group's size (>= 1); unused entries repeat the reference."""
    xp = namespace(pilot)
    h, w = pilot.shape
    p = pilot.astype(xp.float64)
    ref = _blocks(p, ry, rx, block, xp).reshape(len(ry), -1)
    side = 2 * radius + 1
    dist = xp.empty((len(ry), side * side), dtype=xp.float64)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            cy, cx = ry + dy, rx + dx
            ok = (cy >= 0) & (cy <= h - block) & (cx >= 0) & (cx <= w - block)
            cand = _blocks(p, xp.clip(cy, 0, h - block), xp.clip(cx, 0, w - block), block, xp).reshape(len(ry), -1)
            d = xp.sum((cand - ref) ** 2, axis=1) / float(block * block)
            dist[:, (dy + radius) * side + dx + radius] = xp.where(ok, d, xp.inf)
    dist[:, radius * side + radius] = -1.0  # the reference leads its group
    order = xp.argsort(dist, axis=1, kind="stable")[:, :group]
    count = xp.sum(xp.take_along_axis(dist, order, axis=1) <= tau, axis=1)
    used = xp.arange(group)[None, :] < count[:, None]
    cy = xp.where(used, ry[:, None] + order // side - radius, ry[:, None])
    cx = xp.where(used, rx[:, None] + order % side - radius, rx[:, None])
    return cy, cx, count


def collaborative_wiener(noisy, pilot, sigma, *, block=BLOCK, step=STEP, radius=RADIUS, group=GROUP, tau=TAU,
                         chunk=CHUNK):
    """The Wiener estimate of `noisy` (2-D) guided by `pilot` (same shape); `sigma`: the
    noise's standard deviation, a number or an array of the image's shape. Returns an
    array of noisy's dtype. References are processed `chunk` at a time; every group size
    in one batch (_group_matrices), with no transfer between host and device."""
    xp = namespace(noisy)
    h, w = noisy.shape
    if h < block or w < block:
        return pilot.astype(noisy.dtype, copy=True)
    y = noisy.astype(xp.float64)
    p = pilot.astype(xp.float64)
    var = sigma.astype(xp.float64) ** 2 if getattr(sigma, "ndim", 0) > 0 else None
    py, px = xp.asarray(positions(h, block, step)), xp.asarray(positions(w, block, step))
    n_refs = len(py) * len(px)
    d2 = _dct(block, xp)
    k = xp.asarray(np.kaiser(block, KAISER_BETA))
    win = k[:, None] * k[None, :]
    mats = _group_matrices(group, xp)
    r = xp.arange(block)
    num = xp.zeros(h * w, dtype=xp.float64)
    den = xp.zeros(h * w, dtype=xp.float64)
    for start in range(0, n_refs, chunk):
        i = xp.arange(start, min(start + chunk, n_refs))
        ry, rx = py[i // len(px)], px[i % len(px)]
        cy, cx, count = match(p, ry, rx, block=block, radius=radius, group=group, tau=tau)
        m = len(ry)
        shape = (m, group, block, block)
        yb = _blocks(y, cy.reshape(-1), cx.reshape(-1), block, xp).reshape(shape)
        pb = _blocks(p, cy.reshape(-1), cx.reshape(-1), block, xp).reshape(shape)
        g = mats[count]  # (m, group, group): each group's transform across its blocks
        # 2-D DCT of each block, then the DCT across the group
        ty = xp.einsum("mgk,mkab->mgab", g, d2 @ yb @ d2.T)
        tp = xp.einsum("mgk,mkab->mgab", g, d2 @ pb @ d2.T)
        if var is None:
            s2 = xp.full(m, float(sigma) ** 2)
        else:
            s2 = xp.mean(_blocks(var, ry, rx, block, xp).reshape(m, -1), axis=1)
        s = s2[:, None, None, None]
        used = (xp.arange(group)[None, :] < count[:, None])[:, :, None, None]
        pos = tp * tp + s > 0
        gain = xp.where(pos, tp * tp / xp.where(pos, tp * tp + s, 1.0), 1.0)  # no noise, zero pilot: keep
        gain = xp.where(used, gain, 0.0)
        est = d2.T @ xp.einsum("mgk,mgab->mkab", g, gain * ty) @ d2
        weight = 1.0 / (xp.maximum(s2, TINY) * xp.maximum(xp.sum(gain * gain, axis=(1, 2, 3)), 1.0))
        wk = xp.where(used, weight[:, None, None, None] * win, 0.0)
        at = ((cy[:, :, None, None] + r[:, None]) * w + (cx[:, :, None, None] + r[None, :])).reshape(-1)
        num += xp.bincount(at, weights=(wk * est).reshape(-1), minlength=h * w)
        den += xp.bincount(at, weights=xp.broadcast_to(wk, shape).reshape(-1), minlength=h * w)
    return (num / den).reshape(h, w).astype(noisy.dtype)
