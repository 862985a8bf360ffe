"""ONNX Runtime backends: the CPU provider on NumPy arrays, the CUDA provider on CuPy
arrays through IOBinding.

A backend runs one batch: ``run(feeds)`` takes {input name: array} (contiguous NCHW
arrays of the model's input types, in the backend's namespace) and returns the output
array in the same namespace. The Runner (``_runner.py``) does everything else.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from . import _contract

__all__ = ["BackendUnavailableError", "import_onnxruntime", "CPUBackend", "IOBindingBackend", "cuda_provider_available",
           "gpu_unavailable_reason", "session_options", "make_session"]


class BackendUnavailableError(RuntimeError):
    """A backend was asked for (or is needed for an array type) but cannot run here."""


def import_onnxruntime(backend):
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend {backend!r} needs ONNX Runtime: pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA); "
            f"importing it failed: {exc}") from None
    return onnxruntime


def gpu_unavailable_reason():
    """None when CuPy sees a GPU, else why not."""
    from .. import _backend

    if not _backend.cupy_available():
        return "CuPy is not installed"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy finds no GPU"
    except Exception as exc:  # CuPy raises more than ImportError without a driver
        return f"CuPy finds no usable GPU ({exc})"
    return None


def cuda_provider_available() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def session_options(ort):
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only: ORT's warnings are about its own graph rewrites
    from .. import _core

    # The C++ engine's thread setting (unblur.set_threads) bounds ONNX Runtime's too.
    so.intra_op_num_threads = int(_core.get_threads())
    return so


def make_session(ort, model_bytes, providers):
    try:
        return ort.InferenceSession(model_bytes, sess_options=session_options(ort), providers=providers)
    except Exception as exc:  # ORT's own exception types (InvalidProtobuf, Fail, ...)
        text = str(exc)
        if "Protobuf parsing failed" in text or "INVALID_PROTOBUF" in text or "No graph was found" in text:
            raise ValueError(f"path_or_bytes is not an ONNX model: {text}") from None
        raise ValueError(f"ONNX Runtime cannot load the model: {text}") from None


def _output_dtype(contract):
    return np.dtype(contract.output.dtype)


class CPUBackend:
    """ONNX Runtime on NumPy arrays (the providers given, by default the CPU provider)."""

    name = "ort-cpu"
    max_tile = None
    max_batch = None

    def __init__(self, model_bytes, providers=None):
        ort = import_onnxruntime(self.name)
        self.providers = list(providers) if providers is not None else ["CPUExecutionProvider"]
        self.session = make_session(ort, model_bytes, self.providers)
        self.contract = None  # set by the Runner once checked

    @property
    def xp(self):
        return np

    def describe(self):
        return _contract.describe_session(self.session)

    def run(self, feeds):
        (out,) = self.session.run([self.contract.output.name], feeds)
        return out


class IOBindingBackend:
    """ONNX Runtime with inputs and outputs bound to device memory (IOBinding).

    The production use is ``device_type='cuda'``: CuPy arrays on the current device,
    a session whose CUDA provider computes on CuPy's current stream (one session per
    (device, stream), created on first use), outputs allocated with CuPy. The same
    binding code runs with ``device_type='cpu'`` on host buffers, which is how it is
    tested without a GPU (with tests/cupy_standin.py's arrays).

    Streams: ONNX Runtime takes the stream as the CUDA provider's ``user_compute_stream``
    and treats 0 (CuPy's default, the legacy null stream) as "no stream given", running
    on a stream of its own; in that case the current stream is synchronised before the
    run so that the inputs are complete. A run with IOBinding synchronises the provider
    at its end (ORT's default), so the outputs are complete when it returns.
    """

    name = "ort-cuda"
    max_tile = None
    max_batch = None
    _SESSIONS = 4  # sessions kept per backend (distinct streams in use)

    def __init__(self, model_bytes, providers=None, *, device_type="cuda", xp=None, session=None):
        self.model_bytes = model_bytes
        self.device_type = device_type
        self.contract = None
        self._lock = threading.Lock()
        self._sessions = collections.OrderedDict()
        if device_type == "cuda":
            self._ort = import_onnxruntime(self.name)
            if "CUDAExecutionProvider" not in self._ort.get_available_providers():
                raise BackendUnavailableError(
                    f"backend 'ort-cuda' needs ONNX Runtime's CUDA provider (pip install onnxruntime-gpu); this "
                    f"onnxruntime has {self._ort.get_available_providers()}")
            reason = gpu_unavailable_reason()
            if reason is not None:
                raise BackendUnavailableError(f"backend 'ort-cuda' needs a CUDA GPU through CuPy: {reason}")
            import cupy

            self._xp = cupy
            self._providers = _cuda_providers(providers)
        else:
            if session is None or xp is None:
                raise ValueError("an IOBinding backend on the host needs its session and array namespace")
            self._xp = xp
            self._sessions[None] = session
            self.name = "ort-iobinding-host"

    @property
    def xp(self):
        return self._xp

    def _device_and_stream(self):
        if self.device_type != "cuda":
            return 0, None
        cupy = self._xp
        return cupy.cuda.Device().id, cupy.cuda.get_current_stream()

    def session(self):
        """The session for the current device and stream (created on first use)."""
        device, stream = self._device_and_stream()
        key = None if stream is None else (device, stream.ptr)
        with self._lock:
            s = self._sessions.get(key)
            if s is not None:
                self._sessions.move_to_end(key)
                return s
        s = make_session(self._ort, self.model_bytes, _with_stream(self._providers, device, stream.ptr))
        if "CUDAExecutionProvider" not in s.get_providers():
            # ORT falls back to the next provider when CUDA's cannot start (its CUDA or cuDNN
            # libraries missing); device pointers would then reach the CPU provider.
            raise BackendUnavailableError(f"ONNX Runtime could not start its CUDA provider on GPU {device} (are "
                                          f"its CUDA and cuDNN libraries installed?); the session has "
                                          f"{s.get_providers()}")
        with self._lock:
            self._sessions[key] = s
            while len(self._sessions) > self._SESSIONS:
                self._sessions.popitem(last=False)
        return s

    def describe(self):
        return _contract.describe_session(self.session())

    def run(self, feeds):
        xp = self._xp
        device, stream = self._device_and_stream()
        session = self.session()
        first = next(iter(feeds.values()))
        out = xp.empty((first.shape[0], self.contract.channels) + tuple(first.shape[2:]), dtype=_output_dtype(self.contract))
        binding = session.io_binding()
        for name, a in feeds.items():
            if not a.flags.c_contiguous:
                raise TypeError(f"the model's input {name!r} must be C-contiguous")
            binding.bind_input(name=name, device_type=self.device_type, device_id=device, element_type=a.dtype.type,
                               shape=tuple(a.shape), buffer_ptr=a.data.ptr)
        binding.bind_output(name=self.contract.output.name, device_type=self.device_type, device_id=device,
                            element_type=out.dtype.type, shape=tuple(out.shape), buffer_ptr=out.data.ptr)
        if stream is not None and stream.ptr == 0:
            stream.synchronize()
        session.run_with_iobinding(binding)
        return out


def _cuda_providers(providers):
    """The provider list for the CUDA backend: the user's (which must name the CUDA
    provider) or the CUDA provider then the CPU one (for operators CUDA lacks)."""
    if providers is None:
        return [("CUDAExecutionProvider", {}), ("CPUExecutionProvider", {})]
    out, found = [], False
    for p in providers:
        name, opts = (p, {}) if isinstance(p, str) else (p[0], dict(p[1]))
        found |= name == "CUDAExecutionProvider"
        out.append((name, opts))
    if not found:
        raise ValueError("providers must include 'CUDAExecutionProvider' for backend 'ort-cuda'")
    return out


def _with_stream(providers, device, stream_ptr):
    out = []
    for name, opts in providers:
        if name == "CUDAExecutionProvider":
            opts = dict(opts, device_id=str(device))
            if stream_ptr:
                opts["user_compute_stream"] = str(stream_ptr)
        out.append((name, opts))
    return out
