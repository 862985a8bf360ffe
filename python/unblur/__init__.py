"""unblur: fast deblurring and deconvolution on CPU (C++/FFTW) and GPU (CUDA).

NumPy arrays run on the C++ engine, CuPy arrays on the GPU. See ``unblur.info()``
for what this installation provides.
"""

from __future__ import annotations

import os as _os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

# The C++ engine's OpenMP threads (its own loops and FFTW's) sleep when idle instead
# of spinning: on a loaded machine spinning threads steal the cores the working ones
# need (FFTW's plan measurements ran 30x slower here). libgomp reads this once, when
# it loads with unblur._core just below; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import _backend, _core, data, fft, io, metrics, psf
from ._blind import blind_richardson_lucy, estimate_psf, restore
from ._convolve import *  # noqa: F401,F403  (convolve)
from ._convolve import __all__ as _convolve_all
from ._deconv_common import estimate_noise, estimate_noise_profile
from ._deconvolve import deconvolve
from ._filters import *  # noqa: F401,F403  (gaussian_filter)
from ._filters import __all__ as _filters_all
from ._memory import get_memory_limit, set_memory_limit
from ._pnp import pnp_deconvolve
from ._richardson_lucy import *  # noqa: F401,F403
from ._richardson_lucy import __all__ as _rl_all
from ._tv import *  # noqa: F401,F403
from ._tv import __all__ as _tv_all
from ._validate import thread_count as _thread_count
from ._wiener import *  # noqa: F401,F403
from ._wiener import __all__ as _wiener_all

try:
    __version__ = _version("unblur")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+source"

__all__ = ["data", "fft", "io", "metrics", "psf", "estimate_noise", "estimate_noise_profile", "deconvolve", "estimate_psf",
           "restore", "blind_richardson_lucy", "pnp_deconvolve", "get_threads", "set_threads", "get_memory_limit", "set_memory_limit", "info",
           "__version__"]
__all__ += list(_convolve_all) + list(_filters_all) + list(_rl_all) + list(_tv_all) + list(_wiener_all)


def get_threads() -> int:
    """Default number of CPU threads used by the C++ engine (FFTW and OpenMP loops)."""
    return int(_core.get_threads())


def set_threads(threads: int) -> None:
    """Sets the default number of CPU threads (1 to 1024); per-call ``threads=`` overrides it."""
    _core.set_threads(_thread_count(threads, "threads"))


def info() -> dict:
    """What this installation provides: version, CPU threads, FFTW, CUDA module and devices."""
    cuda = _backend.cuda_module()
    out = {
        "version": __version__,
        "cpu_threads": get_threads(),
        "fft_planner": fft.get_planner(),
        "fftw": _core.fftw_version(),
        "cuda_module": cuda is not None,
        "cupy": _backend.cupy_available(),
    }
    if cuda is not None:
        dev = cuda.device_info()
        out["cuda_runtime"] = dev["runtime_version"]
        out["cufft"] = cuda.cufft_version()
        out["gpus"] = dev["devices"]
        if dev["reason"]:
            out["gpu_unavailable_reason"] = dev["reason"]
    return out
