"""Working-memory estimates and the memory limit.

Each heavy function estimates the working memory of a call from its sizes before it
allocates anything (the counts of grid-sized buffers below are the engines' own, see
the comments in csrc/core), and raises a MemoryError naming the function when the
estimate exceeds the limit set with :func:`unblur.set_memory_limit` or the memory the
machine (or, for CuPy arrays, the GPU) has available now. The estimates are upper
bounds of the engines' temporaries plus the output, within a few buffers.
"""

from __future__ import annotations

import math
import time

import numpy as np

_limit = None  # bytes, or None: the machine's available memory only


def set_memory_limit(limit):
    """Refuse calls whose working memory would exceed `limit` bytes (None: only the
    machine's available memory). Accepts an int or a string such as '2GiB', '500MB'.

    Examples
    --------
    >>> import unblur
    >>> unblur.set_memory_limit("4GiB"); unblur.get_memory_limit()
    4294967296
    >>> unblur.set_memory_limit(None)
    """
    global _limit
    if limit is None:
        _limit = None
        return
    if isinstance(limit, str):
        limit = parse_bytes(limit)
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)):
        raise TypeError(f"limit must be a number of bytes, a string like '2GiB', or None; got {type(limit).__name__}")
    if limit <= 0:
        raise ValueError(f"limit must be > 0 bytes, got {limit}")
    _limit = int(limit)


def get_memory_limit():
    """The limit set by :func:`set_memory_limit` (bytes), or None."""
    return _limit


_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text):
    s = text.strip().lower().replace(" ", "")
    for unit in sorted(_UNITS, key=len, reverse=True):
        if s.endswith(unit):
            number = s[: -len(unit)]
            try:
                value = float(number)
            except ValueError:
                break
            if not (value > 0 and math.isfinite(value)):
                break
            return int(value * _UNITS[unit])
    raise ValueError(f"limit must look like '512MiB' or '2GB', got {text!r}")


def available_bytes(xp=np):
    """Memory available for a new allocation now: the machine's (MemAvailable), or the
    current GPU's free memory for CuPy; None when unknown."""
    if xp is not np:
        try:
            free, _total = xp.cuda.runtime.memGetInfo()
            return int(free)
        except Exception:
            return None
    global _meminfo
    now = time.monotonic()
    if now - _meminfo[0] < _MEMINFO_SECONDS:
        return _meminfo[1]
    value = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    value = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    _meminfo = (now, value)
    return value


#: MemAvailable is read at most every this many seconds: reading /proc/meminfo took
#: 17 us, 10% of a small convolve, and small calls come in loops.
_MEMINFO_SECONDS = 0.05
_meminfo = (-math.inf, None)  # (time read, bytes)


def _gib(n):
    return f"{n / 2**30:.2f} GiB"


def require(what, nbytes, xp=np):
    """MemoryError unless `nbytes` of working memory fit the limit and what is available."""
    nbytes = int(nbytes)
    if _limit is not None and nbytes > _limit:
        raise MemoryError(f"{what} needs about {_gib(nbytes)} of working memory, more than unblur's limit of "
                          f"{_gib(_limit)} (unblur.set_memory_limit)")
    avail = available_bytes(xp)
    if avail is not None and nbytes > avail:
        where = "the GPU has free" if xp is not np else "this machine has available"
        raise MemoryError(f"{what} needs about {_gib(nbytes)} of working memory, more than {where} "
                          f"({_gib(avail)})")


def grid_elements(shape, psf_shape, boundary):
    """Elements of a deconvolution's FFT grid (the engines' rule)."""
    from . import _core

    b = "auto" if boundary == "zero" else boundary
    return int(np.prod(_core.quadratic_grid_shape(list(shape), list(psf_shape), b)))


# Grid-sized buffers per channel (real; a half spectrum counts as one), from the engines:
# RL (core/richardson_lucy.cpp's memory comment): 7 plain, 11 accelerated, +1 weights, +1 TV.
# Wiener / Tikhonov (core/wiener.cpp): model 4, spectrum 1, penalty 1, tapered data 2, CG 6.
# TV (core/tv_deconvolve.cpp): model 4, x, x_old, hx, du, dw, rhs, data, 1/den, 2 spectra,
#   and dv, b per axis.

def richardson_lucy_bytes(shape, psf_shape, boundary, itemsize, *, accelerate, weights, tv, channels=1):
    n = grid_elements(shape, psf_shape, boundary)
    buffers = (11 if accelerate else 7) + (1 if weights else 0) + (1 if tv and not accelerate else 0)
    return n * itemsize * buffers + channels * int(np.prod(shape)) * itemsize


def quadratic_bytes(shape, psf_shape, boundary, itemsize, channels=1):
    n = grid_elements(shape, psf_shape, boundary)
    return n * itemsize * 14 + channels * int(np.prod(shape)) * itemsize


def tv_bytes(shape, psf_shape, boundary, itemsize, channels=1):
    n = grid_elements(shape, psf_shape, boundary)
    return n * itemsize * (4 + channels * (10 + 2 * len(shape))) + channels * int(np.prod(shape)) * itemsize


# ---- convolution, filtering, blind estimation -----------------------------------------------
def _per_channel_bytes(out_elements, in_elements, channels):
    """What _backend.per_channel holds besides the work of one channel: the output of
    every channel, and one channel's contiguous input and result."""
    if channels == 1:
        return out_elements
    return out_elements * channels + in_elements + out_elements


def convolve_bytes(shape, kernel_shape, mode, boundary, cval, method, threads, itemsize, channels=1):
    """unblur.convolve: the output and, from the core's own plan (core/convolve.cpp),
    the extended image (direct) or the FFT buffers: on one grid the image, its spectrum
    and the kernel spectrum's two; with overlap-save tiles one tile's image and spectrum
    per thread and the kernel spectrum (made through two more); and in either case
    about one buffer per thread, plus one, of FFTW's plans and scratch (measured:
    tests/test_memory.py)."""
    from . import _core

    shape, kernel_shape = [int(s) for s in shape], [int(k) for k in kernel_shape]
    out = [n + k - 1 if mode == "full" else n - k + 1 if mode == "valid" else n for n, k in zip(shape, kernel_shape)]
    wide = itemsize == 8
    if method == "auto":
        method = _core.convolve_method(shape, kernel_shape, mode, boundary, cval, wide, threads)
    if method == "direct":
        work = math.prod(m + k - 1 for m, k in zip(out, kernel_shape))
    else:
        plan = _core.convolve_fft_plan(shape, kernel_shape, mode, boundary, cval, wide, threads)
        # A half spectrum of grid g holds prod(g[:-1]) * (g[-1] // 2 + 1) complex values.
        tiles, grid = math.prod(plan["tiles"]), math.prod(plan["grid"]) + 2 * math.prod(plan["grid"][:-1])
        workers = min(tiles, threads if threads > 0 else _core.get_threads())
        workers = workers if tiles > 1 else (threads if threads > 0 else _core.get_threads())
        work = (4 + workers + 1) * grid if tiles == 1 else (3 * workers + 3) * grid
    return itemsize * (work + _per_channel_bytes(math.prod(out), math.prod(shape), channels))


def gaussian_filter_bytes(shape, sigma, truncate, threads, itemsize, channels=1):
    """unblur.gaussian_filter: the output, one intermediate image between the axes'
    passes, and per thread the FFT route's block of 16 extended lines with their
    spectra and kernel (core/gaussian_filter.cpp)."""
    from . import _core

    n = math.prod(int(s) for s in shape)
    reach = max(int(truncate * float(s) + 0.5) for s in sigma)
    line = max(int(s) for s in shape) + 2 * reach + 2
    workers = threads if threads > 0 else _core.get_threads()
    return itemsize * (n + _per_channel_bytes(n, n, channels) + workers * 40 * line)


def collaborative_wiener_bytes(shape, itemsize, radius, step, group, xp=np, threads=0):
    """unblur.collaborative_wiener on one channel: the output, the pilot in float64 and
    the float64 numerator and denominator images (core/collaborative.cpp; its per-thread
    scratch, a few groups of blocks, with its stack: 1 MiB a thread at most), and the
    validation's finiteness mask (a byte a pixel). On CuPy the array-API reference instead holds
    float64 copies of both inputs, the sums, and for one chunk of references
    (_xp/collaborative.CHUNK) each one's distance to every candidate with their order
    (24 bytes a candidate) and about ten arrays of the group's blocks in float64."""
    from ._xp import collaborative

    h, w = (int(s) for s in shape)
    n = h * w
    if xp is np:
        from . import _core

        return n * (itemsize + 25) + (threads if threads > 0 else _core.get_threads()) * 2**20
    refs = (h // step + 2) * (w // step + 2)
    chunk = min(refs, collaborative.CHUNK)
    return n * (itemsize + 33) + chunk * ((2 * radius + 1) ** 2 * 24 + group * 64 * 8 * 10)


def blind_richardson_lucy_bytes(shape, psf_shape, itemsize):
    """unblur.blind_richardson_lucy (core/blind_richardson_lucy.cpp): the observation,
    ratio and ones; the extended estimate, its normaliser and update; four spectra and
    the model's two grid buffers: 12 grid-sized buffers, plus the output."""
    return itemsize * (12 * grid_elements(shape, psf_shape, "auto") + math.prod(int(s) for s in shape))


def estimate_psf_bytes(shape, channels=1):
    """unblur.estimate_psf: the luminance (float64 when computed from colour) and the
    core's full-image float64 work (the noise estimate, the periodic component and its
    periodogram), measured at 33-40 bytes a pixel; the searches then run on small grids."""
    n = math.prod(int(s) for s in shape)
    return 48 * n + (8 * n if channels > 1 else 0)
