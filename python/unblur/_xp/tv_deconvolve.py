"""Reference total-variation deconvolution by ADMM (see csrc/core/tv_deconvolve.hpp).

The same iteration as the C++ core, step for step, written with whole-array
operations: the test oracle on NumPy and the GPU fallback on CuPy.
"""

from __future__ import annotations

import math

from . import namespace
from .blur_operator import BlurOperator, reflect_grid_shape, reflect_pad


def _model(image, psf, boundary):
    """(operator, data on the operator's observed shape, result window)."""
    if boundary == "periodic":
        op = BlurOperator(psf, image.shape, extended=False)
        return op, image, tuple(slice(0, n) for n in image.shape)
    if boundary == "reflect":
        offset = tuple(k // 2 for k in psf.shape)
        grid = reflect_grid_shape(image.shape, psf.shape)
        data = reflect_pad(image, grid, offset)
        op = BlurOperator(psf, grid, extended=False)
        return op, data, tuple(slice(o, o + n) for o, n in zip(offset, image.shape))
    op = BlurOperator(psf, image.shape, extended=True)
    return op, image, tuple(slice(o, o + n) for o, n in zip(op.offset, image.shape))


def _inverse_denominator(op, rho_u, rho_v, rho_w):
    """1 / (rho_u |H|^2 + rho_v sum_a 4 sin^2(pi m_a / n_a) + rho_w) on the half spectrum."""
    xp = op.xp
    grid = op.grid_shape
    d2 = 0
    for a, size in enumerate(grid):
        m = xp.arange(op.otf.shape[a], dtype=xp.float64)
        term = 4 * xp.sin(math.pi * m / size) ** 2
        d2 = d2 + term.reshape((-1,) + (1,) * (len(grid) - a - 1))
    h2 = xp.abs(op.otf.astype(xp.complex128)) ** 2
    den = rho_u * h2 + rho_v * d2 + rho_w
    return (1.0 / den).astype(op.dtype)


def _grad(x, spatial):
    """Forward differences along the spatial axes (the last `spatial` axes), periodic."""
    xp = namespace(x)
    return [xp.roll(x, -1, axis=a) - x for a in range(x.ndim - spatial, x.ndim)]


def _grad_adjoint(b, spatial, ndim):
    xp = namespace(b[0])
    return sum(xp.roll(bk, 1, axis=a) - bk for bk, a in zip(b, range(ndim - spatial, ndim)))


def tv_deconvolve(image, psf, boundary, weight, max_iterations, tolerance, positivity, bounds, rho, callback=None):
    """Restores `image` (channels x spatial) blurred by `psf`; vectorial TV over channels.

    Returns ``(restored, info)`` with info = dict(iterations, stopped_by, relative_change).
    """
    xp = namespace(image)
    dtype = image.dtype
    channels = image.shape[0]
    spatial = image.ndim - 1
    rho_u, rho_v, rho_w = (float(r) for r in rho)
    constrained = positivity or bounds is not None
    if not constrained:
        rho_w = 0.0
    lower, upper = (bounds if bounds is not None else (0.0, math.inf))

    ops, data, x0 = [], [], []
    for c in range(channels):
        op, d, window = _model(image[c], psf, boundary)
        ops.append(op)
        data.append(op.embed(d, 0.0))
        x0.append(op.embed(d, float(d.astype(xp.float64).mean())))
    op = ops[0]
    g = xp.stack(data)
    x = xp.stack(x0)
    if constrained:
        x = xp.clip(x, lower, upper)
    mask = xp.stack([op.embed(xp.ones(op.observed_shape, dtype=dtype), 0.0)] * channels).astype(bool)
    inv = _inverse_denominator(op, rho_u, rho_v, rho_w)
    cast = dtype.type
    kappa = cast(weight / rho_v)

    def blur(v):
        return xp.stack([op.forward_grid(vc) for vc in v])

    du = xp.zeros_like(x)
    dw = xp.zeros_like(x)
    dv = [xp.zeros_like(x) for _ in range(spatial)]

    def splitting_steps(x, hx, objective=True):
        nonlocal du, dw, dv
        dx = _grad(x, spatial)
        t = [d + z for d, z in zip(dx, dv)]
        mag = xp.sqrt(sum((tk * tk).sum(axis=0) for tk in t))
        shrink = xp.where(mag > kappa, 1 - kappa / xp.where(mag > 0, mag, 1), 0).astype(dtype)
        v = [shrink * tk for tk in t]
        dv = [tk - vk for tk, vk in zip(t, v)]
        b = [vk - zk for vk, zk in zip(v, dv)]
        q = hx + du
        u = xp.where(mask, (g + cast(rho_u) * q) / cast(1 + rho_u), q)
        du = q - u
        a = u - du
        rhs = xp.zeros_like(x)
        if constrained:
            tw = x + dw
            w = xp.clip(tw, lower, upper)
            dw = tw - w
            rhs = cast(rho_w) * (w - dw)
        rhs = rhs + cast(rho_v) * _grad_adjoint(b, spatial, x.ndim)
        if not objective:  # only the callback reports it: two scalar reads saved per iteration
            return a, rhs, None
        fit = 0.5 * float((((hx - g) * mask).astype(xp.float64) ** 2).sum())
        tv = float(xp.sqrt(sum((d.astype(xp.float64) ** 2).sum(axis=0) for d in dx)).sum())
        return a, rhs, fit + weight * tv

    a, rhs, _ = splitting_steps(x, blur(x), objective=False)
    info = {"iterations": 0, "stopped_by": "iterations", "relative_change": 0.0}
    axes = tuple(range(1, spatial + 1))
    for k in range(1, max_iterations + 1):
        xs = (cast(rho_u) * xp.conj(op.otf) * xp.fft.rfftn(a, axes=axes) + xp.fft.rfftn(rhs, axes=axes)) * inv
        x_new = xp.fft.irfftn(xs, s=op.grid_shape, axes=axes).astype(dtype)
        hx = xp.fft.irfftn(op.otf * xs, s=op.grid_shape, axes=axes).astype(dtype)
        change2 = float(((x_new - x).astype(xp.float64) ** 2).sum())
        norm2 = float((x.astype(xp.float64) ** 2).sum())
        change = math.sqrt(change2 / norm2) if norm2 > 0 else (1.0 if change2 > 0 else 0.0)
        x = x_new
        a, rhs, objective = splitting_steps(x, hx, objective=callback is not None)
        info["iterations"], info["relative_change"] = k, change
        if callback is not None:
            state = {"iteration": k, "max_iterations": max_iterations, "relative_change": change,
                     "objective": objective}
            r = callback(state)
            if r is False:
                info["stopped_by"] = "callback"
                break
        if tolerance > 0 and change < tolerance:
            info["stopped_by"] = "tolerance"
            break

    out = xp.stack([xp.ascontiguousarray(xc[window]) for xc in x])
    if constrained:
        out = xp.clip(out, lower, upper)
    return out.astype(dtype, copy=False), info
