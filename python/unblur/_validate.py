"""Argument checks and the dtype policy, applied before any dispatch.

Every public function runs its arguments through these helpers, so nothing reaches
the C++ core (or the CUDA module) unchecked. Errors name the argument:
TypeError for the kind of thing passed (type, dtype), ValueError for its value
(shape, range, non-finite numbers).

Dtype policy (one place, as in ARCHITECTURE.md): float32 and float64 are preserved;
float16 becomes float32; bool and integer images become float32 scaled to [0, 1]
(by the maximum of the integer type); complex, object and string arrays are rejected.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from . import _backend

__all__ = [
    "policy_dtype",
    "as_image",
    "as_kernel",
    "as_psf",
    "like_image",
    "check_out",
    "finite_float",
    "positive_float",
    "nonnegative_float",
    "positive_int",
    "axis_tuple",
    "threads_arg",
    "thread_count",
    "MAX_THREADS",
    "choice",
]


def policy_dtype(dtype, name="image"):
    """The floating dtype that an array of `dtype` is computed in."""
    dtype = np.dtype(dtype)
    if dtype.kind in "fiub" and not dtype.isnative:
        dtype = dtype.newbyteorder("=")  # byte-swapped data (e.g. read from a big-endian file)
    if dtype in (np.float32, np.float64):
        return dtype
    # Integers by kind: NumPy counts timedelta64 as an integer type, which is not pixels.
    if dtype == np.float16 or dtype == np.bool_ or dtype.kind in "iu":
        return np.dtype(np.float32)
    if np.issubdtype(dtype, np.complexfloating):
        raise TypeError(f"{name} must be real; complex dtype {dtype} is not supported")
    raise TypeError(f"{name} must be a numeric array (float or integer), got dtype {dtype}")


def _asarray(x, name):
    xp = _backend.namespace_of(x)
    if xp is not np and hasattr(x, "device"):
        _backend.require_current_device(x, name)
    if xp is np and not isinstance(x, np.ndarray):
        if x is None or isinstance(x, (str, bytes, dict, set)):
            raise TypeError(f"{name} must be an array, got {type(x).__name__}")
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must be an array: {exc}") from None
    return xp, x


def _convert(x, xp, name, dtype=None):
    """Applies the dtype policy (or casts to `dtype`), giving a C-contiguous array."""
    src = np.dtype(x.dtype)
    target = policy_dtype(src, name) if dtype is None else np.dtype(dtype)
    if dtype is not None:
        policy_dtype(src, name)  # still reject complex / object inputs
    if src == np.bool_:
        x = x.astype(target)
    elif src.kind in "iu":
        # Integer images are scaled to [0, 1] by the largest value of their type.
        x = x.astype(target) / target.type(np.iinfo(src).max)
        x = x.astype(target, copy=False)
    else:
        x = x.astype(target, copy=False)
    return xp.ascontiguousarray(x)


def _require_finite(x, xp, name):
    if not bool(xp.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def as_image(x, name="image", *, ndim=(2, 3), channel_axis=None, dtype=None, finite=True):
    """Validates an image or volume and converts it by the dtype policy.

    Returns ``(array, channel_axis)`` where `array` is C-contiguous and
    ``channel_axis`` is normalised to a non-negative int or None. `ndim` counts the
    spatial axes only.
    """
    xp, x = _asarray(x, name)
    if x.dtype == object or x.dtype.kind in "USV":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    channel_axis = _channel_axis(channel_axis, x.ndim, name)
    spatial = x.ndim - (channel_axis is not None)
    if isinstance(ndim, int):
        ndim = (ndim,)
    if spatial not in ndim:
        want = str(ndim[0]) if len(ndim) == 1 else ", ".join(str(n) for n in ndim[:-1]) + f" or {ndim[-1]}"
        extra = " plus the channel axis" if channel_axis is not None else ""
        raise ValueError(f"{name} must have {want} spatial dimensions{extra}, got an array of shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    x = _convert(x, xp, name, dtype)
    if finite:
        _require_finite(x, xp, name)
    return x, channel_axis


def _channel_axis(channel_axis, ndim, name):
    if channel_axis is None:
        return None
    try:
        axis = operator.index(channel_axis)
    except TypeError:
        raise TypeError(f"channel_axis must be an int or None, got {type(channel_axis).__name__}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"channel_axis={channel_axis} is out of range for {name} with {ndim} dimensions")
    return axis % ndim


def as_kernel(k, name, *, ndim, dtype, xp=None):
    """A convolution kernel: same dimensionality as the image, finite, cast to `dtype`.

    `xp` is the image's namespace: a NumPy kernel for a CuPy image is copied to the
    device (a small upload); a CuPy kernel for a NumPy image is a TypeError (the data
    would have to leave the device unasked)."""
    kxp, k = _asarray(k, name)
    if xp is not None and kxp is not xp:
        if xp is np:
            raise TypeError(f"{name} is a CuPy array but the image is a NumPy array; give both as NumPy arrays "
                            f"(cupy.asnumpy) or both as CuPy arrays")
        k = xp.asarray(k)
        kxp = xp
    if k.dtype == object or k.dtype.kind in "USV":
        raise TypeError(f"{name} must be a numeric array, got dtype {k.dtype}")
    if k.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions like the image, got shape {k.shape}")
    if k.size == 0:
        raise ValueError(f"{name} is empty (shape {k.shape})")
    policy_dtype(k.dtype, name)
    k = kxp.ascontiguousarray(k.astype(dtype, copy=False))
    _require_finite(k, kxp, name)
    return k


def like_image(x, xp, name):
    """TypeError unless `x` has the image's array type (namespace `xp`): image-sized
    data is never moved between host and device implicitly."""
    if _backend.namespace_of(x) is not xp:
        want = "NumPy" if xp is np else "CuPy"
        raise TypeError(f"{name} must be a {want} array like the image, got {type(x).__module__}.{type(x).__name__}")
    return x


def as_psf(psf, name="psf", *, ndim, dtype, xp=None, require_odd=False):
    """A point-spread function: finite, positive sum, normalised to sum 1."""
    k = as_kernel(psf, name, ndim=ndim, dtype=dtype, xp=xp)
    if require_odd and any(s % 2 == 0 for s in k.shape):
        raise ValueError(f"{name} must have odd sizes (centre at the middle pixel), got shape {k.shape}")
    total = float(k.sum(dtype=np.float64))
    if not total > 0:
        raise ValueError(f"{name} must have a positive sum, got {total:g}")
    return k / k.dtype.type(total)


def check_out(out, shape, dtype, name="out", xp=np):
    """A caller-provided output array: right type, shape, dtype, C-contiguous, writable."""
    if out is None:
        return None
    if _backend.namespace_of(out) is not xp or not hasattr(out, "dtype"):
        raise TypeError(f"{name} must be a {xp.__name__} array")
    if np.dtype(out.dtype) != np.dtype(dtype):
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(out.shape)}")
    if not out.flags.c_contiguous:
        raise TypeError(f"{name} must be C-contiguous")
    if xp is np and not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


def finite_float(v, name):
    """A finite real number (bools rejected) as a float."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    try:
        v = float(v)
    except OverflowError:  # an int beyond float's range (10**400)
        raise ValueError(f"{name} must be finite, got an integer too large for a float") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def positive_float(v, name):
    v = finite_float(v, name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {v:g}")
    return v


def nonnegative_float(v, name):
    v = finite_float(v, name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v:g}")
    return v


def positive_int(v, name, minimum=1):
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(v).__name__}") from None
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def axis_tuple(v, n, name, convert):
    """A scalar or a length-n sequence of scalars -> tuple of n converted values."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v.item()  # a 0-d array is a scalar (it cannot be iterated)
    if isinstance(v, (list, tuple, np.ndarray)):
        vals = list(v)
        if len(vals) != n:
            raise ValueError(f"{name} must be a scalar or have {n} values (one per axis), got {len(vals)}")
        return tuple(convert(x, name) for x in vals)
    return (convert(v, name),) * n


#: The most CPU threads a call (or ``unblur.set_threads``) may ask for. More OpenMP
#: threads than cores never helps, and libgomp ends the whole process when it cannot
#: create them: on the 2-core development machine ``threads=50000`` exited with
#: "libgomp: Thread creation failed", 100000 was a segmentation fault.
MAX_THREADS = 1024


def thread_count(v, name="threads"):
    """An int in [1, MAX_THREADS]."""
    v = positive_int(v, name)
    if v > MAX_THREADS:
        raise ValueError(f"{name} must be <= {MAX_THREADS}, got {v}")
    return v


def threads_arg(threads):
    """None -> 0 (the engine's default); else an int in [1, MAX_THREADS]."""
    if threads is None:
        return 0
    return thread_count(threads)


def choice(v, name, options):
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a string, one of {sorted(options)}; got {type(v).__name__}")
    if v not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {v!r}")
    return v
