"""The TensorRT backend: an engine built from the ONNX model, cached on disk, run on
CuPy arrays on CuPy's current stream.

The engine is built with the TensorRT Python API (ONNX parser, one optimisation profile
covering batches 1 .. max_batch and spatial sizes multiple .. max_tile) for the current
GPU, and serialised to ``<cache_dir>/<key>.engine``; the key is a SHA-256 of the model's
bytes, the GPU's name and compute capability, TensorRT's version, the profile and the
precision (fp16 or fp32), so a changed model, GPU, TensorRT or profile builds a new engine and an unchanged one loads
in milliseconds. Files are written to a temporary name and renamed, so concurrent
processes never read half an engine; a folder that cannot be written costs a warning
(the engine built runs, and is built again next time). A cached file that no longer
deserialises (a TensorRT upgrade with the same version string, a truncated file) is
rebuilt.

Running: ``set_input_shape`` / ``set_tensor_address`` on the CuPy arrays' device
pointers, an output allocated with CuPy, ``execute_async_v3`` on the current stream's
handle. Nothing synchronises: the result is ready in stream order, like every other
CuPy operation on that stream. One execution context per device, guarded by a lock
(a context holds the shapes and addresses of one run at a time). A context also holds
one run's intermediate tensors, so runs on it must not overlap on the GPU (TensorRT:
one context per concurrent execution): each run's stream waits for an event recorded
after the previous run (a no-op on the same stream), which orders runs queued on
different streams without the host waiting.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings

import numpy as np

from ._onnxruntime import BackendUnavailableError

__all__ = ["TensorRTBackend", "tensorrt_available", "default_cache_dir", "DEFAULT_MAX_TILE", "DEFAULT_MAX_BATCH"]

DEFAULT_MAX_TILE = 1024
DEFAULT_MAX_BATCH = 8
_OPT_TILE = 512
_WORKSPACE = 1 << 30
_FORMAT = b"unblur-tensorrt-engine-1"


def _import_tensorrt():
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend 'tensorrt' needs NVIDIA's TensorRT Python package (pip install tensorrt); importing it "
            f"failed: {exc}") from None
    major, minor = (int(p) for p in tensorrt.__version__.split(".")[:2])
    if (major, minor) < (8, 6):
        raise BackendUnavailableError(f"backend 'tensorrt' needs TensorRT >= 8.6 (named tensors, "
                                      f"execute_async_v3), found {tensorrt.__version__}")
    return tensorrt


def _write_atomically(folder, path, data):
    """`data` to `path` in `folder` (created), under a temporary name then renamed."""
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".engine-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def tensorrt_available() -> bool:
    try:
        _import_tensorrt()
    except BackendUnavailableError:
        return False
    return True


def default_cache_dir() -> str:
    """$UNBLUR_CACHE_DIR/tensorrt, else $XDG_CACHE_HOME/unblur/tensorrt, else ~/.cache/unblur/tensorrt."""
    root = os.environ.get("UNBLUR_CACHE_DIR")
    if root:
        return os.path.join(root, "tensorrt")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "unblur", "tensorrt")


def _gpu_identity(cupy, device):
    props = cupy.cuda.runtime.getDeviceProperties(device)
    name = props["name"]
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    return f"{name.strip()} sm_{props['major']}{props['minor']}"


def profile_shapes(contract, max_tile, max_batch):
    """{input name: (min, opt, max)} shapes of the one optimisation profile."""
    m = contract.multiple
    opt_tile = max(m, min(max_tile, _OPT_TILE) // m * m)
    opt_batch = min(max_batch, 4)
    shapes = {}
    for i, t in enumerate(contract.inputs):
        c = t.shape[1]
        shapes[t.name] = ((1, c, m, m), (opt_batch, c, opt_tile, opt_tile), (max_batch, c, max_tile, max_tile))
    return shapes


def engine_key(model_bytes, gpu, trt_version, shapes, fp16):
    h = hashlib.sha256()
    for part in (_FORMAT, gpu.encode(), trt_version.encode(), repr(sorted(shapes.items())).encode(),
                 b"fp16" if fp16 else b"fp32"):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    h.update(hashlib.sha256(model_bytes).digest())
    return h.hexdigest()


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, model_bytes, contract, *, cache_dir=None, max_tile=None, max_batch=None):
        self._trt = _import_tensorrt()
        import cupy

        self._xp = cupy
        self.model_bytes = model_bytes
        self.contract = contract
        m = contract.multiple
        max_tile = DEFAULT_MAX_TILE if max_tile is None else max_tile
        self.max_tile = max(m, max_tile // m * m)
        max_batch = DEFAULT_MAX_BATCH if max_batch is None else max_batch
        self.max_batch = 1 if contract.max_batch == 1 else max_batch
        self.cache_dir = default_cache_dir() if cache_dir is None else os.fspath(cache_dir)
        self._logger = self._trt.Logger(self._trt.Logger.WARNING)
        self._lock = threading.Lock()
        self._engines = {}  # device id -> (engine, context, output dtype, engine path)
        self._last_run = {}  # device id -> an event recorded after the context's last run
        self._engine()  # build (or load) for the current device now: errors at load time

    @property
    def xp(self):
        return self._xp

    def engine_path(self):
        """The cache file of the current device's engine."""
        return self._engine()[3]

    def _engine(self):
        device = self._xp.cuda.Device().id
        with self._lock:
            entry = self._engines.get(device)
            if entry is None:
                entry = self._engines[device] = self._load_or_build(device)
            return entry

    def _load_or_build(self, device):
        trt = self._trt
        shapes = profile_shapes(self.contract, self.max_tile, self.max_batch)
        fp16 = self.contract.dtype == "float16"
        key = engine_key(self.model_bytes, _gpu_identity(self._xp, device), trt.__version__, shapes, fp16)
        path = os.path.join(self.cache_dir, f"{key}.engine")
        runtime = trt.Runtime(self._logger)
        engine = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                engine = runtime.deserialize_cuda_engine(f.read())
        if engine is None:
            serialized = self._build(shapes, fp16)
            try:
                _write_atomically(self.cache_dir, path, serialized)
            except OSError as exc:  # the cache saves the next build; this engine runs without it
                warnings.warn(f"cannot cache the TensorRT engine in {self.cache_dir!r} ({exc}); it will be built "
                              f"again next time (cache_dir= or $UNBLUR_CACHE_DIR choose another folder)",
                              RuntimeWarning, stacklevel=2)
            engine = runtime.deserialize_cuda_engine(serialized)
            if engine is None:
                raise RuntimeError("TensorRT could not deserialise the engine it has just built")
        context = engine.create_execution_context()
        if context is None:
            raise RuntimeError("TensorRT could not create an execution context (out of GPU memory?)")
        out_name = self.contract.output.name
        out_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(out_name)))
        return engine, context, out_dtype, path

    def _build(self, shapes, fp16):
        trt = self._trt
        builder = trt.Builder(self._logger)
        flags = 0
        if int(trt.__version__.split(".")[0]) < 10:  # explicit batch is the only mode from TensorRT 10
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(self.model_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ValueError(f"TensorRT's ONNX parser rejects the model: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, _WORKSPACE)
        flag = getattr(trt.BuilderFlag, "FP16", None)
        if fp16 and flag is not None:  # (strongly typed networks, TensorRT 11, take the model's types as they are)
            try:
                config.set_flag(flag)
            except Exception:
                pass
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in shapes.items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError("TensorRT failed to build an engine for the model (see TensorRT's log above)")
        return bytes(serialized)

    def run(self, feeds):
        cupy = self._xp
        engine, context, out_dtype, _ = self._engine()
        device = cupy.cuda.Device().id
        stream = cupy.cuda.get_current_stream()
        first = next(iter(feeds.values()))
        want = (first.shape[0], self.contract.channels) + tuple(first.shape[2:])
        with self._lock:
            for name, a in feeds.items():
                if not a.flags.c_contiguous:
                    raise TypeError(f"the model's input {name!r} must be C-contiguous")
                if not context.set_input_shape(name, tuple(a.shape)):
                    raise ValueError(f"TensorRT refuses the input shape {tuple(a.shape)} for {name!r} (the engine "
                                     f"takes batches up to {self.max_batch} and sizes up to {self.max_tile})")
                context.set_tensor_address(name, a.data.ptr)
            out_name = self.contract.output.name
            shape = tuple(context.get_tensor_shape(out_name))
            if shape != want:
                raise ValueError(f"the model's output has shape {shape} for an input of shape {tuple(first.shape)}; "
                                 f"the contract needs {want}")
            out = cupy.empty(shape, dtype=out_dtype)
            context.set_tensor_address(out_name, out.data.ptr)
            last = self._last_run.get(device)
            if last is not None:  # the previous run, maybe on another stream, has finished with the context
                stream.wait_event(last)
            if not context.execute_async_v3(stream.ptr):
                raise RuntimeError("TensorRT's execute_async_v3 failed (see TensorRT's log above)")
            done = cupy.cuda.Event(disable_timing=True)
            done.record(stream)
            self._last_run[device] = done
        return out
