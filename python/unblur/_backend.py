"""Dispatch by array type, in one place.

numpy.ndarray -> the C++ engine (unblur._core); cupy.ndarray -> the CUDA engine
(unblur._cuda) where it implements the operation, else the array-API reference in
unblur._xp running on CuPy. Results come back as the input's array type.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np

from . import _core


def namespace_of(x):
    """numpy for NumPy arrays and array-likes, cupy for CuPy arrays."""
    mod = type(x).__module__
    if mod.startswith("cupy"):
        import cupy

        return cupy
    return np


def is_numpy(x) -> bool:
    return namespace_of(x) is np


@functools.lru_cache(maxsize=1)
def cuda_module():
    """unblur._cuda if it was built and imports, else None (imported lazily)."""
    try:
        from . import _cuda
    except ImportError:
        return None
    return _cuda


def gpu_engine():
    """The CUDA engine for CuPy arrays: unblur._cuda, or None when it is not built or
    UNBLUR_BACKEND=cupy asks for the array-API code on CuPy instead (the fallback)."""
    choice = os.environ.get("UNBLUR_BACKEND", "").strip().lower()
    if choice not in ("", "auto", "cupy"):
        raise ValueError(f"UNBLUR_BACKEND must be 'auto' (the CUDA engine where built) or 'cupy' (the array-API "
                         f"code on CuPy), got {os.environ['UNBLUR_BACKEND']!r}")
    if choice == "cupy":
        return None
    return cuda_module()


def require_current_device(a, name):
    """ValueError unless CuPy array `a` lives on the current device (where unblur runs
    and allocates its results)."""
    import cupy

    current = cupy.cuda.Device().id
    if a.device.id != current:
        raise ValueError(f"{name} is on GPU {a.device.id} but the current device is GPU {current}; "
                         f"use it inside `with cupy.cuda.Device({a.device.id}):` or copy it to GPU {current}")


def device_pointer(a, name):
    """The device address of CuPy array `a`, checked: on the current device and
    C-contiguous (the CUDA engine reads it in place, no copy)."""
    require_current_device(a, name)
    if not a.flags.c_contiguous:
        raise TypeError(f"{name} must be C-contiguous")
    return a.data.ptr


def current_stream():
    """The address of CuPy's current stream: the CUDA engine queues its work there."""
    import cupy

    return cupy.cuda.get_current_stream().ptr


def cupy_available() -> bool:
    if "cupy" in sys.modules:
        return True
    try:
        import cupy  # noqa: F401
    except Exception:  # CuPy raises more than ImportError without a driver
        return False
    return True


def core():
    return _core


def per_channel(fn, image, channel_axis):
    """Applies fn (spatial array -> spatial array) to each channel and restacks them."""
    if channel_axis is None:
        return fn(image)
    xp = namespace_of(image)
    axis = channel_axis % image.ndim
    out = None
    # Each result straight into its place in the (C-contiguous) output: one channel's
    # input and result at a time besides it, not a list of results, their stack and
    # a transposed copy (2.3x the output's memory for RGB).
    for i, c in enumerate(xp.moveaxis(image, axis, 0)):
        r = fn(xp.ascontiguousarray(c))
        if out is None:
            out = xp.empty(r.shape[:axis] + (image.shape[axis],) + r.shape[axis:], dtype=r.dtype)
        xp.moveaxis(out, axis, 0)[i] = r
        del r
    return out
