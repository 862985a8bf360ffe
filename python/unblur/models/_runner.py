"""load() and the Runner: argument checks, layout, padding, tiling, batching, dispatch.

The backends run one batch each; everything else is here and works on any array
namespace (NumPy, CuPy), so the GPU paths share every line of it with the CPU path
that the tests run end to end.
"""

from __future__ import annotations

import math
import numbers
import os
import threading

import numpy as np

from .. import _backend, _validate
from . import _contract, _tiling
from ._onnxruntime import BackendUnavailableError, CPUBackend, IOBindingBackend, cuda_provider_available
from ._onnxruntime import gpu_unavailable_reason as _gpu_reason

__all__ = ["load", "Runner", "BACKENDS", "available_backends"]

BACKENDS = ("auto", "ort-cpu", "ort-cuda", "tensorrt")
#: Without `batch`, one model run takes at most this many pixels (tiles or images).
BATCH_PIXELS = 1 << 22


def available_backends():
    """{backend: None if it can run here, else the reason it cannot} for 'ort-cpu',
    'ort-cuda' and 'tensorrt' ('auto' picks TensorRT > ORT-CUDA for CuPy arrays, ORT-CPU
    for NumPy arrays)."""
    from ._tensorrt import tensorrt_available

    out = {}
    try:
        import onnxruntime  # noqa: F401

        out["ort-cpu"] = None
    except ImportError:
        out["ort-cpu"] = "onnxruntime is not installed"
    gpu = _gpu_reason()
    if out["ort-cpu"] is not None:
        out["ort-cuda"] = "onnxruntime is not installed"
    elif not cuda_provider_available():
        out["ort-cuda"] = "this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
    else:
        out["ort-cuda"] = gpu
    out["tensorrt"] = gpu if tensorrt_available() else "tensorrt is not installed (pip install tensorrt)"
    return out


def _model_bytes(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        if not data:
            raise ValueError("path_or_bytes is empty")
        return data
    if isinstance(path_or_bytes, (str, os.PathLike)):
        with open(path_or_bytes, "rb") as f:
            return f.read()
    raise TypeError(f"path_or_bytes must be a path (str, os.PathLike) or the model's bytes, "
                    f"got {type(path_or_bytes).__name__}")


def _providers_arg(providers):
    if providers is None:
        return None
    if isinstance(providers, (str, bytes)) or not isinstance(providers, (list, tuple)):
        raise TypeError(f"providers must be a list of ONNX Runtime provider names or (name, options) pairs, "
                        f"got {type(providers).__name__}")
    for p in providers:
        ok = isinstance(p, str) or (isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str)
                                    and isinstance(p[1], dict))
        if not ok:
            raise TypeError(f"providers must hold provider names or (name, options dict) pairs, got {p!r}")
    return list(providers)


def _optional_int(v, name, minimum=1):
    return None if v is None else _validate.positive_int(v, name, minimum)


def load(path_or_bytes, *, backend="auto", providers=None, cache_dir=None, max_tile=None, max_batch=None):
    """Loads an ONNX denoiser and checks it against unblur's model contract.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
        The ONNX file, or its contents.
    backend : {'auto', 'ort-cpu', 'ort-cuda', 'tensorrt'}
        'auto': NumPy arrays run on ONNX Runtime's CPU provider, CuPy arrays on TensorRT
        where it is installed, else on ONNX Runtime's CUDA provider (chosen at the first
        CuPy call). The others run only their array type: NumPy for 'ort-cpu', CuPy for
        'ort-cuda' and 'tensorrt'. A backend that cannot run here raises
        BackendUnavailableError (at load for an explicit one, at the first call of that
        array type for 'auto').
    providers : list, optional
        ONNX Runtime execution providers (names or (name, options) pairs) for the ORT
        backends; default ``["CPUExecutionProvider"]`` for 'ort-cpu' and the CUDA
        provider (then the CPU one) for 'ort-cuda', which always gets the current device
        and CuPy's current stream as its ``device_id`` and ``user_compute_stream``.
        Not for 'tensorrt'.
    cache_dir : str or os.PathLike, optional
        Where TensorRT engines are cached (default ``$UNBLUR_CACHE_DIR/tensorrt``, else
        ``$XDG_CACHE_HOME/unblur/tensorrt``, else ``~/.cache/unblur/tensorrt``); a folder
        that cannot be written costs a RuntimeWarning and a rebuild next time.
    max_tile, max_batch : int, optional
        The largest spatial size and batch one model run takes. TensorRT builds its
        engine for them (defaults 1024 and 8) and larger images are tiled; for ONNX
        Runtime they default to no limit (whole images, batches of at most 4 Mpx).

    Returns
    -------
    Runner
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, one of {list(BACKENDS)}; got {type(backend).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    providers = _providers_arg(providers)
    if providers is not None and backend == "tensorrt":
        raise ValueError("providers is for the ONNX Runtime backends; backend='tensorrt' takes none")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path, got {type(cache_dir).__name__}")
    max_tile = _optional_int(max_tile, "max_tile")
    max_batch = _optional_int(max_batch, "max_batch")
    model = _model_bytes(path_or_bytes)
    return Runner(model, backend=backend, providers=providers, cache_dir=cache_dir, max_tile=max_tile,
                  max_batch=max_batch)


class Runner:
    """A loaded denoiser: ``runner(image, sigma)`` returns the denoised image.

    Attributes: ``channels`` (C, 1 or 3), ``multiple`` (H and W are padded to multiples
    of it), ``layout`` ('noise-input' or 'noise-channel'), ``dtype`` (the model's
    precision), ``input_names``, ``output_name``, ``backend`` (as asked), ``contract``.
    """

    def __init__(self, model_bytes, *, backend="auto", providers=None, cache_dir=None, max_tile=None,
                 max_batch=None):
        self._model = model_bytes
        self.backend = backend
        self._providers = providers
        self._cache_dir = cache_dir
        self._max_tile = max_tile
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._cpu = None  # NumPy backend
        self._gpu = None  # CuPy backend
        if backend in ("auto", "ort-cpu"):
            try:
                self._cpu = CPUBackend(model_bytes, providers)
            except BackendUnavailableError:
                if backend == "ort-cpu":
                    raise
        if self._cpu is not None:
            description = self._cpu.describe()
        elif backend == "ort-cuda":
            self._gpu = IOBindingBackend(model_bytes, providers)
            description = self._gpu.describe()
        else:  # 'tensorrt', or 'auto' without ONNX Runtime
            description = _describe_without_session(model_bytes, backend)
        self.contract = _contract.check(*description)
        if self._cpu is not None:
            self._cpu.contract = self.contract
            _probe(self._cpu, self.contract)
        if self._gpu is not None:
            self._gpu.contract = self.contract
            _probe(self._gpu, self.contract)
        if backend == "tensorrt":
            self._gpu = self._tensorrt()
            _probe(self._gpu, self.contract)

    # ---- what the model is
    channels = property(lambda self: self.contract.channels)
    multiple = property(lambda self: self.contract.multiple)
    layout = property(lambda self: self.contract.layout)
    dtype = property(lambda self: np.dtype(self.contract.dtype))
    input_names = property(lambda self: self.contract.input_names)
    output_name = property(lambda self: self.contract.output.name)

    def __repr__(self):
        return (f"<unblur.models.Runner backend={self.backend!r} channels={self.channels} layout={self.layout!r} "
                f"multiple={self.multiple} dtype={self.dtype}>")

    # ---- backends
    def _tensorrt(self):
        from ._tensorrt import TensorRTBackend, _import_tensorrt

        _import_tensorrt()
        reason = _gpu_reason()
        if reason is not None:
            raise BackendUnavailableError(f"backend 'tensorrt' needs a CUDA GPU through CuPy: {reason}")
        return TensorRTBackend(self._model, self.contract, cache_dir=self._cache_dir, max_tile=self._max_tile,
                               max_batch=self._max_batch)

    def _gpu_backend(self):
        with self._lock:
            if self._gpu is not None:
                return self._gpu
            from ._tensorrt import tensorrt_available

            if tensorrt_available():
                gpu = self._tensorrt()
            elif cuda_provider_available():
                gpu = IOBindingBackend(self._model, self._providers)
                gpu.contract = self.contract
            else:
                raise BackendUnavailableError(
                    "CuPy arrays run on TensorRT or on ONNX Runtime's CUDA provider, and neither is installed "
                    "(pip install tensorrt, or onnxruntime-gpu)")
            _probe(gpu, self.contract)
            self._gpu = gpu
            return gpu

    def backend_for(self, xp):
        """The backend that runs arrays of namespace `xp` (created on first use for 'auto')."""
        if xp is np:
            if self._cpu is None:
                if self.backend == "auto":
                    raise BackendUnavailableError("NumPy arrays run on ONNX Runtime's CPU provider: pip install "
                                                  "onnxruntime (or give CuPy arrays)")
                raise TypeError(f"image is a NumPy array but backend {self.backend!r} runs CuPy arrays; give a "
                                f"CuPy array (cupy.asarray) or load the model with backend='ort-cpu' or 'auto'")
            return self._cpu
        if self.backend == "ort-cpu":
            raise TypeError("image is a CuPy array but backend 'ort-cpu' runs NumPy arrays; give a NumPy array "
                            "(cupy.asnumpy) or load the model with backend='auto', 'ort-cuda' or 'tensorrt'")
        return self._gpu_backend()

    # ---- the call
    def __call__(self, image, sigma, *, tile=None, overlap=32, batch=None):
        """Denoises `image` whose noise has standard deviation `sigma`.

        Parameters
        ----------
        image : array
            (H, W) or (H, W, C), or a batch (N, H, W) or (N, H, W, C), with C the
            model's channels. For a grey model (C = 1) a 3-D array is a batch (N, H, W)
            unless its last axis has size 1 ((H, W, 1)). NumPy or CuPy (on the current
            device; computed on CuPy's current stream). Linear units, about [0, 1];
            integer images are scaled to [0, 1] (unblur's dtype policy). Not clipped.
        sigma : float or array
            The noise standard deviation in the image's units (after the integer
            scaling): one number, or per pixel an array broadcastable to the image's
            pixels, i.e. to its shape without the channel axis ((H, W), (N, 1, 1),
            (N, H, W)); a trailing channel axis of size 1 is accepted. Arrays must be
            of the image's type (NumPy or CuPy). >= 0.
        tile : int, optional
            Cut images into tiles of at most `tile` x `tile` pixels (a multiple of the
            model's `multiple`), blended with raised-cosine windows over `overlap`
            pixels; the result equals the untiled one but within the network's
            receptive field of the seams, where it differs by less than
            sin²(π (R - ½) / (2 overlap)) of the seam error (see unblur/models/_tiling.py).
            Default: whole images (TensorRT: tiles of its engine's largest size when
            an image is larger).
        overlap : int
            Least overlap of neighbouring tiles in pixels, 0 <= overlap <= tile - multiple
            (for the automatic tile of a `max_tile`, at most what it allows).
            Tiles start at multiples of the model's `multiple`, so a network that
            down-samples sees the same grid of blocks in a tile as in the whole image.
        batch : int, optional
            Tiles or images per model run; default as many as make 4 Mpx (at most the
            backend's max_batch).

        Returns
        -------
        array
            The denoised image: the input's shape and array type, float32 (float64 for
            float64 input).
        """
        xp = _backend.namespace_of(image)
        if xp is not np and hasattr(image, "device"):
            _backend.require_current_device(image, "image")
        engine = self.backend_for(xp)
        x, shape, out_dtype = self._image(image)
        noise = self._sigma(sigma, xp, shape, x.shape)
        self._check_range(xp, x, noise)
        tile, overlap, batch = self._tiling_args(engine, tile, overlap, batch)
        y = self._denoise(engine, xp, x, noise, tile, overlap, batch, out_dtype)
        return y.reshape(shape)

    def _image(self, image):
        c = self.channels
        ndim = getattr(image, "ndim", None)
        if ndim is None and not (image is None or isinstance(image, (str, bytes, dict, set))):
            ndim = np.ndim(image)
        if ndim is not None and ndim not in (2, 3, 4):
            raise ValueError(f"image must be (H, W), (H, W, C), (N, H, W) or (N, H, W, C), got {ndim} dimensions "
                             f"(shape {tuple(np.shape(image)) if _backend.is_numpy(image) else tuple(image.shape)})")
        x, _ = _validate.as_image(image, "image", ndim=(2, 3, 4))
        shape = tuple(x.shape)
        if x.ndim == 2:
            if c != 1:
                raise ValueError(f"image has shape {shape}, a grey image, but the model takes {c} channels: give "
                                 f"(H, W, {c}) or (N, H, W, {c})")
            x4 = x.reshape((1,) + shape + (1,))
        elif x.ndim == 3 and c == 1 and shape[-1] != 1:
            x4 = x.reshape(shape + (1,))  # a batch of grey images
        elif shape[-1] != c:
            raise ValueError(f"image has shape {shape}; the model takes {c} channel{'s' if c > 1 else ''} on the "
                             f"last axis: (H, W{', C' if c > 1 else ''}) or (N, H, W{', C' if c > 1 else ''})"
                             + (f" with C = {c}" if c > 1 else ""))
        else:
            x4 = x.reshape((1,) + shape) if x.ndim == 3 else x
        return x4, shape, x.dtype

    def _sigma(self, sigma, xp, shape, x4shape):
        """A float, or an array of shape (N, H, W) (a broadcast view) in the image's namespace."""
        if isinstance(sigma, np.ndarray) and sigma.ndim == 0:
            sigma = sigma[()]
        if isinstance(sigma, (numbers.Real, np.generic)) and not isinstance(sigma, (bool, np.bool_)):
            if isinstance(sigma, np.generic) and sigma.dtype.kind not in "fiu":
                raise TypeError(f"sigma must be a real number or an array, got dtype {sigma.dtype}")
            return _validate.nonnegative_float(sigma, "sigma")
        if sigma is None or isinstance(sigma, (bool, np.bool_, str, bytes, complex, dict, set)):
            raise TypeError(f"sigma must be a real number or an array, got {type(sigma).__name__}")
        sxp = _backend.namespace_of(sigma)
        if sxp is np and not isinstance(sigma, np.ndarray):
            try:
                sigma = np.asarray(sigma)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"sigma must be a real number or an array: {exc}") from None
        _validate.like_image(sigma, xp, "sigma")
        if sigma.dtype == object or sigma.dtype.kind not in "fiub" or sigma.dtype.kind == "b":
            raise TypeError(f"sigma must be a real array, got dtype {sigma.dtype}")
        if sxp is not np:
            _backend.require_current_device(sigma, "sigma")
        n, h, w, _ = x4shape
        has_channel = len(shape) == 4 or (len(shape) == 3 and (self.channels == 3 or shape[-1] == 1))
        pixels = shape[:-1] if has_channel else shape
        s = sigma
        if s.ndim == len(pixels) + 1:  # a trailing channel axis
            if s.shape[-1] != 1:
                raise ValueError(f"sigma has shape {tuple(s.shape)}: one noise level per pixel (the model takes a "
                                 f"1-channel noise map), so no channel axis or one of size 1")
            s = s.reshape(tuple(s.shape[:-1]))
        try:
            s = xp.broadcast_to(s, pixels)
        except ValueError:
            raise ValueError(f"sigma of shape {tuple(sigma.shape)} does not broadcast to the image's pixels "
                             f"{pixels}") from None
        if not bool(xp.isfinite(s).all()):
            raise ValueError("sigma contains NaN or infinite values")
        if not bool((s >= 0).all()):
            raise ValueError("sigma must be >= 0")
        return s.reshape((n, h, w))

    def _check_range(self, xp, x4, noise):
        """Finite values that the cast to the model's element types would make infinite
        (a float64 image on a float32 model, a float32 one on a float16 model) are a
        ValueError, not an inf that the network turns into NaN."""
        for what, v, dtype in (("image", x4, self.contract.inputs[0].dtype),
                               ("sigma", noise, self.contract.inputs[-1].dtype)):
            top = float(np.finfo(dtype).max)
            if isinstance(v, float):
                big = v > top
            else:
                info = np.finfo(v.dtype) if v.dtype.kind == "f" else np.iinfo(v.dtype)  # (integer sigma maps)
                big = float(info.max) > top and bool((xp.abs(v) > top).any())
            if big:
                raise ValueError(f"{what} has values beyond the model's {dtype} range (|v| <= {top:.4g}); the model "
                                 f"works in linear units of about [0, 1]")

    def _tiling_args(self, engine, tile, overlap, batch):
        m = self.multiple
        limit = self._max_tile if self._max_tile is not None else engine.max_tile
        chosen = tile is not None
        if tile is not None:
            tile = _validate.positive_int(tile, "tile")
            if tile % m:
                raise ValueError(f"tile must be a multiple of the model's multiple {m}, got {tile}")
            if limit is not None and tile > limit:
                raise ValueError(f"tile must be <= {limit}, the largest size one model run takes here, got {tile}")
        elif limit is not None:
            tile = max(m, limit // m * m)
        if isinstance(overlap, bool):
            raise TypeError("overlap must be an int, got bool")
        overlap = _validate.positive_int(overlap, "overlap", minimum=0)
        if tile is not None and not chosen:  # the largest tile one run takes: as much of `overlap` as it allows
            overlap = min(overlap, tile - m)
        if tile is not None and overlap > tile - m:
            raise ValueError(f"overlap must be <= tile - {m} = {tile - m} (tiles step by multiples of the model's "
                             f"multiple {m}), got {overlap}" if m > 1 else f"overlap must be < tile ({tile}), got {overlap}")
        batch = _optional_int(batch, "batch")
        return tile, overlap, batch

    def _batch_size(self, engine, batch, pixels):
        limits = [b for b in (self.contract.max_batch, engine.max_batch, self._max_batch) if b is not None]
        b = batch if batch is not None else max(1, BATCH_PIXELS // pixels)
        return max(1, min([b] + limits))

    def _denoise(self, engine, xp, x4, noise, tile, overlap, batch, out_dtype):
        """x4 (N, H, W, C), noise a float or (N, H, W) -> the denoised (N, H, W, C) in out_dtype."""
        contract = self.contract
        n, h, w, c = x4.shape
        m = contract.multiple
        acc = np.float64 if out_dtype == np.float64 else np.float32
        img_dtype = np.dtype(contract.inputs[0].dtype)
        noise_dtype = np.dtype(contract.inputs[-1].dtype)
        hm, wm = _tiling.round_up(h, m), _tiling.round_up(w, m)
        # NCHW in the model's precision, extended by reflection to multiples of m.
        x = xp.ascontiguousarray(xp.moveaxis(x4, 3, 1), dtype=img_dtype)
        x = _tiling.pad_reflect(x, xp, (hm, wm))
        s = None
        if not isinstance(noise, float):
            s = _tiling.pad_reflect(noise.reshape((n, 1, h, w)).astype(noise_dtype), xp, (hm, wm))
        th, ty = _tiling.axis_layout(hm, tile or hm, overlap, m)
        tw, tx = _tiling.axis_layout(wm, tile or wm, overlap, m)
        single = len(ty) == 1 and len(tx) == 1
        if not single:
            wy = xp.asarray(_tiling.axis_windows(hm, th, ty)[0].astype(acc))
            wx = xp.asarray(_tiling.axis_windows(wm, tw, tx)[0].astype(acc))
        out = xp.zeros((n, c, hm, wm), dtype=acc)
        jobs = [(k, i, j) for k in range(n) for i in range(len(ty)) for j in range(len(tx))]
        step = self._batch_size(engine, batch, th * tw)
        for first in range(0, len(jobs), step):
            group = jobs[first:first + step]
            feeds = self._feeds(xp, x, s, noise, group, ty, tx, th, tw, noise_dtype)
            y = engine.run(feeds)
            want = (len(group), c, th, tw)
            if tuple(y.shape) != want:
                raise ValueError(f"the model's output has shape {tuple(y.shape)} for an input of shape "
                                 f"{tuple(next(iter(feeds.values())).shape)}; the contract needs {want}")
            if single:
                out[group[0][0]:group[-1][0] + 1] = y
                continue
            for b, (k, i, j) in enumerate(group):
                weight = wy[i][:, None] * wx[j][None, :]
                out[k, :, ty[i]:ty[i] + th, tx[j]:tx[j] + tw] += y[b].astype(acc) * weight
        out = xp.moveaxis(out[:, :, :h, :w], 1, 3)
        return xp.ascontiguousarray(out.astype(out_dtype, copy=False))

    def _feeds(self, xp, x, s, noise, group, ty, tx, th, tw, noise_dtype):
        """The inputs of one model run: the group's images (one tile per axis: a slice
        of the batch) or its tiles (stacked), with their noise maps."""
        if len(ty) == 1 and len(tx) == 1:
            k0, k1 = group[0][0], group[-1][0] + 1  # consecutive images
            xs = x[k0:k1]
            ss = None if s is None else s[k0:k1]
        else:
            def crop(a, k, i, j):
                return a[k, :, ty[i]:ty[i] + th, tx[j]:tx[j] + tw]

            xs = xp.stack([crop(x, *g) for g in group])
            ss = None if s is None else xp.stack([crop(s, *g) for g in group])
        if ss is None:
            ss = xp.full((xs.shape[0], 1, th, tw), noise, dtype=noise_dtype)
        names = self.contract.input_names
        if self.contract.layout == "noise-input":
            return {names[0]: xp.ascontiguousarray(xs), names[1]: xp.ascontiguousarray(ss)}
        both = xp.concatenate([xs, ss.astype(xs.dtype, copy=False)], axis=1)
        return {names[0]: xp.ascontiguousarray(both)}


def _describe_without_session(model_bytes, backend):
    """The model's description for 'tensorrt' (or 'auto' without ONNX Runtime): read with
    the onnx package, else with a throw-away ONNX Runtime session."""
    if backend == "auto":
        from ._tensorrt import tensorrt_available

        if not tensorrt_available():
            raise BackendUnavailableError("backend 'auto' needs ONNX Runtime (NumPy and CuPy arrays; pip install "
                                          "onnxruntime) or TensorRT (CuPy arrays), and neither is installed")
    try:
        import onnx  # noqa: F401
    except ImportError:
        from ._onnxruntime import import_onnxruntime, make_session

        try:
            ort = import_onnxruntime(backend)
        except BackendUnavailableError:
            raise BackendUnavailableError(f"backend {backend!r} reads the model's inputs with the onnx package (or "
                                          f"ONNX Runtime), and neither is installed: pip install onnx") from None
        return _contract.describe_session(make_session(ort, model_bytes, ["CPUExecutionProvider"]))
    return _contract.describe_onnx(model_bytes)


def _probe(engine, contract):
    """One run on a small input of unequal sides: the output must have the input's shape
    (catches models that resize, crop or swap axes, and multiples the metadata omits)."""
    xp = engine.xp
    m = contract.multiple
    h = m * math.ceil(16 / m)
    w = h + m
    if engine.max_tile is not None:  # (TensorRT: inside its engine's profile)
        h, w = min(h, engine.max_tile), min(w, engine.max_tile)
        if h == w and h > m:
            h -= m
    feeds = {}
    for t in contract.inputs:
        feeds[t.name] = xp.zeros((1, t.shape[1], h, w), dtype=np.dtype(t.dtype))
    try:
        y = engine.run(feeds)
    except BackendUnavailableError:
        raise
    except Exception as exc:
        raise ValueError(f"the model fails on an input of shape (1, {contract.inputs[0].shape[1]}, {h}, {w}): {exc}"
                         + ("" if contract.multiple > 1 else
                            f" (if H and W must be multiples of some n, declare it in the metadata "
                            f"{_contract.MULTIPLE_KEY!r})")) from None
    want = (1, contract.channels, h, w)
    if tuple(y.shape) != want:
        hint = "" if m > 1 else (f"; if H and W must be multiples of some n, declare it in the metadata "
                                 f"{_contract.MULTIPLE_KEY!r}")
        raise ValueError(f"the model does not follow unblur's denoiser contract: its output has shape "
                         f"{tuple(y.shape)} for an input of shape (1, {contract.inputs[0].shape[1]}, {h}, {w}); "
                         f"it must be {want}{hint}")
