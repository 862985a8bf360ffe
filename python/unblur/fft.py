"""FFT engine: real and complex transforms, OTFs, fast sizes and the plan cache.

NumPy arrays run on FFTW through a plan cache: the first transform of a
(shape, precision, threads) plans it, every later one reuses the plan. CuPy arrays
run on cupy.fft. Transforms follow numpy.fft's conventions (``norm="backward"``:
forward unscaled, inverse scaled by 1/N) over *all* axes of the array.

Examples
--------
>>> import numpy as np, unblur
>>> x = np.random.default_rng(0).random((64, 48), dtype=np.float32)
>>> X = unblur.fft.rfftn(x)
>>> X.shape, X.dtype
((64, 25), dtype('complex64'))
>>> bool(np.allclose(unblur.fft.irfftn(X, x.shape), x, atol=1e-6))
True
"""

from __future__ import annotations

import numpy as np

from . import _backend, _validate
from ._xp import fft as _xp_fft

__all__ = [
    "rfftn",
    "irfftn",
    "fftn",
    "ifftn",
    "psf2otf",
    "otf2psf",
    "fast_fft_size",
    "fast_fft_shape",
    "set_planner",
    "get_planner",
    "plan_cache_stats",
    "clear_plan_cache",
]

_PLANNERS = {"estimate": 0, "measure": 1, "patient": 2}


def _real_input(x, name):
    x, _ = _validate.as_image(x, name, ndim=(1, 2, 3))
    return x


def _complex_input(x, name, ndim=(1, 2, 3)):
    xp = _backend.namespace_of(x)
    if xp is np:
        x = np.asarray(x)
    if not xp.issubdtype(x.dtype, xp.complexfloating):
        raise TypeError(f"{name} must be complex64 or complex128, got {x.dtype}")
    if x.ndim not in ndim:
        raise ValueError(f"{name} must have 1, 2 or 3 dimensions, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if x.dtype not in (xp.complex64, xp.complex128):
        x = x.astype(xp.complex128)
    x = xp.ascontiguousarray(x)
    if not bool(xp.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return xp, x


def _shape_arg(shape, name, ndim=None):
    try:
        shape = tuple(_validate.positive_int(s, name) for s in shape)
    except TypeError:
        if not hasattr(shape, "__iter__"):
            raise TypeError(f"{name} must be a sequence of ints, got {type(shape).__name__}") from None
        raise
    if not 1 <= len(shape) <= 3:
        raise ValueError(f"{name} must have 1 to 3 entries, got {len(shape)}")
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} entries, got {len(shape)}")
    return shape


def rfftn(x, *, threads=None):
    """Real-to-complex FFT over all axes (the half spectrum, last axis n // 2 + 1).

    float32 gives complex64, float64 complex128; integers follow the dtype policy.
    """
    x = _real_input(x, "x")
    if not _backend.is_numpy(x):
        return _backend.namespace_of(x).fft.rfftn(x)
    return _backend.core().rfftn(x, _validate.threads_arg(threads))


def irfftn(spectrum, shape, *, threads=None):
    """Inverse of :func:`rfftn`: the real array of `shape` whose half spectrum is given."""
    xp, spectrum = _complex_input(spectrum, "spectrum")
    shape = _shape_arg(shape, "shape", spectrum.ndim)
    expected = shape[:-1] + (shape[-1] // 2 + 1,)
    if tuple(spectrum.shape) != expected:
        raise ValueError(f"spectrum has shape {tuple(spectrum.shape)}, but shape {shape} needs {expected}")
    if xp is not np:
        out = xp.fft.irfftn(spectrum, s=shape, axes=tuple(range(len(shape))))
        return out.astype(xp.float32 if spectrum.dtype == xp.complex64 else xp.float64, copy=False)
    return _backend.core().irfftn(spectrum, list(shape), _validate.threads_arg(threads))


def fftn(x, *, threads=None):
    """Complex FFT over all axes; real input is promoted to complex."""
    xp = _backend.namespace_of(x)
    if xp is np:
        x = np.asarray(x)
    if not xp.issubdtype(x.dtype, xp.complexfloating):
        real = _real_input(x, "x")
        x = real.astype(xp.complex64 if real.dtype == xp.float32 else xp.complex128)
    xp, x = _complex_input(x, "x")
    if xp is not np:
        return xp.fft.fftn(x)
    return _backend.core().fftn(x, False, _validate.threads_arg(threads))


def ifftn(x, *, threads=None):
    """Inverse complex FFT over all axes, scaled by 1/N."""
    xp, x = _complex_input(x, "x")
    if xp is not np:
        return xp.fft.ifftn(x)
    return _backend.core().fftn(x, True, _validate.threads_arg(threads))


def psf2otf(psf, shape, *, threads=None):
    """Optical transfer function of `psf` on a periodic grid of `shape`.

    The PSF is zero-padded to `shape` and circularly shifted so that its centre pixel
    (index ``psf.shape[i] // 2`` on each axis, the middle pixel of an odd-sized PSF)
    lands at the origin, then transformed with :func:`rfftn`. Multiplying
    ``rfftn(image)`` by the OTF is periodic convolution with the PSF. As MATLAB's
    ``psf2otf``, but returning the half spectrum of a real transform.

    Parameters
    ----------
    psf : array, 1-D to 3-D
        The point-spread function (not renormalised here).
    shape : sequence of int
        Grid shape, at least ``psf.shape`` on every axis.

    Returns
    -------
    otf : complex array of shape ``shape[:-1] + (shape[-1] // 2 + 1,)``
    """
    psf = _real_input(psf, "psf")
    shape = _shape_arg(shape, "shape", psf.ndim)
    if any(p > s for p, s in zip(psf.shape, shape)):
        raise ValueError(f"psf of shape {psf.shape} is larger than shape {shape}")
    if not _backend.is_numpy(psf):
        cuda = _backend.gpu_engine()
        if cuda is None:
            return _xp_fft.psf2otf(psf, shape)
        xp = _backend.namespace_of(psf)
        psf = xp.ascontiguousarray(psf)
        otf = xp.empty(shape[:-1] + (shape[-1] // 2 + 1,), dtype=xp.complex64 if psf.dtype == xp.float32 else xp.complex128)
        cuda.psf2otf(_backend.device_pointer(psf, "psf"), list(psf.shape), list(shape), otf.data.ptr, psf.dtype.name,
                     _backend.current_stream())
        return otf
    return _backend.core().psf2otf(psf, list(shape), _validate.threads_arg(threads))


def otf2psf(otf, shape, psf_shape, *, threads=None):
    """Inverse of :func:`psf2otf`: the PSF of `psf_shape` whose OTF on `shape` is `otf`."""
    xp, otf = _complex_input(otf, "otf")
    shape = _shape_arg(shape, "shape", otf.ndim)
    psf_shape = _shape_arg(psf_shape, "psf_shape", otf.ndim)
    expected = shape[:-1] + (shape[-1] // 2 + 1,)
    if tuple(otf.shape) != expected:
        raise ValueError(f"otf has shape {tuple(otf.shape)}, but shape {shape} needs {expected}")
    if any(p > s for p, s in zip(psf_shape, shape)):
        raise ValueError(f"psf_shape {psf_shape} is larger than shape {shape}")
    if xp is not np:
        return _xp_fft.otf2psf(otf, shape, psf_shape)
    return _backend.core().otf2psf(otf, list(shape), list(psf_shape), _validate.threads_arg(threads))


def fast_fft_size(n, *, even=False):
    """Smallest size >= n whose prime factors are 2, 3, 5 and 7 (even if `even`)."""
    n = _validate.positive_int(n, "n")
    return int(_backend.core().fast_fft_size(n, bool(even)))


def fast_fft_shape(shape):
    """:func:`fast_fft_size` per axis, the last axis even (for real transforms)."""
    shape = _shape_arg(shape, "shape")
    return tuple(_backend.core().fast_fft_shape(list(shape)))


def set_planner(effort):
    """How hard FFTW searches for fast plans of new shapes.

    'estimate' plans instantly with heuristics; 'measure' (the default) times a few
    algorithms the first time a shape is seen (milliseconds to a second), then reuses
    the plan; 'patient' searches longer for large repeated workloads.

    The chosen plan decides the last bits of every transform. 'measure' and 'patient'
    choose by timing, so two processes can round differently (iterative methods can
    grow that into visible differences); 'estimate' chooses the same plans in every
    process, for results that are reproducible bit for bit.
    """
    _validate.choice(effort, "effort", _PLANNERS)
    _backend.core().set_planner_effort(_PLANNERS[effort])


def get_planner():
    code = _backend.core().get_planner_effort()
    return next(k for k, v in _PLANNERS.items() if v == code)


def plan_cache_stats():
    """Plans held, cache hits and misses, and seconds spent planning so far."""
    return dict(_backend.core().plan_cache_stats())


def clear_plan_cache():
    """Drops every cached FFTW plan (the next transform of each shape plans again)."""
    _backend.core().clear_plan_cache()
