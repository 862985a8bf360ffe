"""Dispatch by array type, in one place.

numpy.ndarray -> the C++ engine (unblur._core); cupy.ndarray -> the CUDA engine
(unblur._cuda) where it implements the operation, else the array-API reference in
unblur._xp running on CuPy. Results come back as the input's array type.
"""

from __future__ import annotations

import functools
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
    moved = xp.moveaxis(image, channel_axis, 0)
    out = xp.stack([fn(xp.ascontiguousarray(c)) for c in moved])
    return xp.ascontiguousarray(xp.moveaxis(out, 0, channel_axis))
