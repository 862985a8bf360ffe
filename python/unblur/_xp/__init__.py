"""Array-API reference implementations of every unblur algorithm.

The same code runs on NumPy (the test oracle the C++ core is checked against) and on
CuPy (the GPU fallback when unblur._cuda lacks an operation). Each function takes
validated, C-contiguous float arrays, like the engines do; the public API in `unblur`
does the validation. Written for clarity over speed.
"""

from __future__ import annotations

import numpy as np


def namespace(x):
    """numpy or cupy, by the array's type."""
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np
