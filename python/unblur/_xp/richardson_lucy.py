"""Reference Richardson–Lucy (array API): the maths of csrc/core/richardson_lucy.hpp,
written plainly. NumPy: the test oracle; CuPy: the GPU fallback."""

from __future__ import annotations

from . import namespace
from .blur_operator import BlurOperator, estimate_noise, reflect_grid_shape, reflect_pad

ALPHA_MAX = 0.999
#: The extrapolated point keeps at least this fraction of the current iterate (see the C++
#: core's kExtrapolationFloor).
EXTRAPOLATION_FLOOR = 0.1
HELD_FRACTION = 1e-4
TV_FLOOR = 0.1
RATIO_EPSILON = 1e-12
TV_STABILITY = 8.0
_STATE_ARRAYS = ("estimate", "previous", "previous_step", "correction")


class _Model:
    """The blur model of one boundary: operator, data, result window (as the core's)."""

    def __init__(self, image, psf, boundary):
        shape = tuple(image.shape)
        self.reflect = boundary == "reflect"
        if boundary in ("auto", "zero"):
            self.op = BlurOperator(psf, shape, True)
            self.data = image
            offset = self.op.offset
        elif boundary == "periodic":
            self.op = BlurOperator(psf, shape, False)
            self.data = image
            offset = (0,) * len(shape)
        else:  # reflect
            offset = tuple(k // 2 for k in psf.shape)
            self.grid, self.offset = reflect_grid_shape(shape, psf.shape), offset
            self.data = reflect_pad(image, self.grid, offset)
            self.op = BlurOperator(psf, self.grid, False)
        self.window = tuple(slice(o, o + n) for o, n in zip(offset, shape))

    def extend(self, observed):
        """An image-shaped array brought to the data's shape (reflect: padded)."""
        if self.reflect:
            return reflect_pad(observed, self.grid, self.offset)
        return observed


def _tv_denominator(y, tv_weight, eps):
    xp = namespace(y)
    grads = []
    for k in range(y.ndim):
        d = xp.diff(y, axis=k)
        pad = [(0, 0)] * y.ndim
        pad[k] = (0, 1)
        grads.append(xp.pad(d, pad))
    norm = xp.sqrt(sum(d * d for d in grads) + y.dtype.type(eps * eps))
    div = xp.zeros_like(y)
    for k, d in enumerate(grads):
        p = d / norm
        pad = [(0, 0)] * y.ndim
        pad[k] = (1, 0)
        shifted = xp.pad(xp.take(p, xp.arange(p.shape[k] - 1), axis=k), pad)
        div += p - shifted
    return xp.maximum(1 - y.dtype.type(tv_weight) * div, y.dtype.type(TV_FLOOR))


def richardson_lucy(image, psf, *, weights=None, boundary="auto", iterations=0, max_iterations=0,
                    accelerate=True, damping=0.0, tv_weight=0.0, background=0.0, tolerance=1e-3,
                    noise_sigma=-1.0, initial=None, state=None, callback=None):
    """Returns ``(restored, info)`` as ``unblur._core.richardson_lucy`` does."""
    xp = namespace(image)
    t = image.dtype.type
    zero = boundary == "zero"
    model = _Model(image, psf, boundary)
    op, data = model.op, model.data
    w = None if weights is None else xp.ascontiguousarray(model.extend(weights))
    wsum = float(data.size if w is None else xp.sum(w, dtype=xp.float64))
    if not wsum > 0:
        raise ValueError("weights must not all be zero")
    data_mean = float(xp.sum(data if w is None else w * data, dtype=xp.float64)) / wsum
    # At least TV_STABILITY * tv_weight of the mean: a smaller epsilon makes the explicit
    # TV update amplify perturbations in flat regions (see the C++ core's comment).
    tv_eps = max(1e-3, TV_STABILITY * tv_weight) * data_mean if data_mean > 0 else 1e-8

    inv = None
    if zero:
        inv = op.embed(xp.ones(op.observed_shape, dtype=image.dtype), 0.0)
    elif not op.periodic or w is not None:
        nrm = op.adjoint(xp.ones(op.observed_shape, dtype=image.dtype) if w is None else w)
        held = t(HELD_FRACTION) * nrm.max()
        inv = xp.where(nrm > held, 1 / xp.where(nrm > held, nrm, 1), 0).astype(image.dtype)
    sigma = 0.0
    if iterations == 0:
        sigma = noise_sigma if noise_sigma >= 0 else estimate_noise(image)

    # Start.
    history, total = 0, 0
    dot = norm2 = 0.0
    if state is not None:
        x = xp.array(state["estimate"], copy=True)
        total = int(state["iterations"])
        if accelerate and "previous" in state:
            xprev = xp.array(state["previous"], copy=True)
            hprev = xp.array(state["previous_step"], copy=True)
            corr = xp.array(state["correction"], copy=True)
            history = int(state["history"])
            dot, norm2 = float(state["correction_dot"]), float(state["correction_norm2"])
    else:
        if initial is None:
            if zero:
                x = op.embed(xp.full(image.shape, 0.5, dtype=image.dtype), 0.0)
            else:
                x = xp.full(op.grid_shape, t(data_mean), dtype=image.dtype)
        elif model.reflect:
            x = xp.ascontiguousarray(model.extend(initial))
        elif op.periodic:
            x = xp.array(initial, copy=True)
        else:
            x = op.embed(initial, 0.0 if zero else float(xp.sum(initial, dtype=xp.float64)) / initial.size)
        if inv is not None:
            x = xp.where(inv == 0, t(0), x)
    if accelerate and history == 0:
        xprev, hprev, corr = x.copy(), xp.zeros_like(x), xp.zeros_like(x)
        dot = norm2 = 0.0

    cap = iterations or max_iterations or (200 if accelerate else 500)
    b = t(background)
    it = 0
    while True:
        it += 1
        y = x
        if accelerate and history >= 2:
            alpha = min(max(dot / norm2 if norm2 > 0 else 0.0, 0.0), ALPHA_MAX)
            h = x - xprev
            y = xp.maximum(x + t(alpha) * h + t(0.5 * alpha * alpha) * (h - hprev), t(EXTRAPOLATION_FLOOR) * x)
        m = op.forward(y) + b
        res = data - m
        sse = float(xp.sum((res * res) if w is None else w * res * res, dtype=xp.float64))
        q = data / (xp.maximum(m, t(0)) + t(RATIO_EPSILON))
        if damping > 0:
            tt = xp.minimum(res * res * t(1.0 / (damping * damping)), t(1))
            q = 1 + tt**9 * (10 - 9 * tt) * (q - 1)
        wv = t(1) if w is None else w
        r = (1 + wv * (q - 1)) if zero else (wv * q)
        z = op.adjoint(r.astype(image.dtype, copy=False))
        xn = y * z
        if inv is not None:
            xn = xn * inv
        if tv_weight > 0:
            xn = xn / _tv_denominator(y, tv_weight, tv_eps)
        # >= 0 in exact arithmetic; the clamp drops the FFTs' rounding-level negatives, which
        # the TV denominator (< 1 at a dip) would otherwise grow (csrc/core/richardson_lucy.cpp).
        xn = xp.maximum(xn, t(0)).astype(image.dtype, copy=False)
        change = float(xp.sum((xn - x).astype(xp.float64) ** 2))
        nrm = float(xp.sum(xn.astype(xp.float64) ** 2))
        if accelerate:
            gn = xn - y
            dot = float(xp.sum(gn.astype(xp.float64) * corr))
            norm2 = float(xp.sum(corr.astype(xp.float64) ** 2))
            hprev, xprev, corr = x - xprev, x, gn
            history += 1
        x = xn
        total += 1
        residual = sse / wsum
        rel = (change / nrm) ** 0.5 if nrm > 0 else 0.0
        stopped = None
        if callback is not None:
            ret = callback({"iteration": it, "max_iterations": cap, "relative_change": rel, "objective": residual})
            if ret is False:
                stopped = "callback"
        if stopped is None:
            if iterations:
                stopped = "iterations" if it >= iterations else None
            elif residual <= sigma * sigma:
                stopped = "discrepancy"
            elif rel < tolerance:
                stopped = "tolerance"
            elif it >= cap:
                stopped = "max_iterations"
        if stopped is not None:
            break

    out_state = {"estimate": x, "boundary": boundary, "iterations": total, "history": history,
                 "correction_dot": dot, "correction_norm2": norm2}
    if accelerate:
        out_state.update(previous=xprev, previous_step=hprev, correction=corr)
    info = {"iterations": it, "stopped_by": stopped, "noise_sigma": float(sigma), "residual": residual,
            "relative_change": rel, "state": out_state}
    return xp.ascontiguousarray(x[model.window]), info


__all__ = ["richardson_lucy"]
