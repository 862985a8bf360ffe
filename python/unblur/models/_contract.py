"""The denoiser contract: what a model's graph must declare, checked before it runs.

A model is described by its inputs, outputs (name, shape, element type) and metadata,
read either from an ONNX Runtime session or from the ONNX file itself (the `onnx`
package: no kernels are set up, used where ONNX Runtime is absent, e.g. with TensorRT
alone). ``check`` turns a description into a ``Contract`` or raises a ValueError that
says what is wrong. See the package's docstring for the contract itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Tensor", "Contract", "check", "describe_session", "describe_onnx", "MULTIPLE_KEY", "LAYOUTS"]

MULTIPLE_KEY = "unblur.multiple"
#: "noise-input": two inputs, the image (N, C, H, W) and the noise map (N, 1, H, W);
#: "noise-channel": one input (N, C+1, H, W) whose last channel is the noise map.
LAYOUTS = ("noise-input", "noise-channel")
_FLOATS = ("float32", "float16")
_MAX_MULTIPLE = 4096


@dataclass(frozen=True)
class Tensor:
    """One input or output: ``shape`` holds an int for a fixed dimension, a str for a
    named dynamic one and None for an unnamed dynamic one; None for an unknown rank."""

    name: str
    shape: tuple | None
    dtype: str  # 'float32', 'float16', 'float64', 'int64', ...

    def describe(self, what):
        return f"{what} ({self.name!r})"


@dataclass(frozen=True)
class Contract:
    layout: str
    channels: int  # C, the image's channels (1 or 3)
    multiple: int  # H and W must be multiples of it
    inputs: tuple  # Tensor: the image (and the noise map)
    output: Tensor
    max_batch: int | None  # 1 for a model with a fixed batch of 1, else None

    @property
    def input_names(self):
        return tuple(t.name for t in self.inputs)

    @property
    def dtype(self):
        """The image input's element type (the precision the model runs in)."""
        return self.inputs[0].dtype


def _fmt_shape(shape):
    if shape is None:
        return "unknown"
    return "[" + ", ".join(repr(d) if isinstance(d, str) else ("?" if d is None else str(d)) for d in shape) + "]"


def _static(d):
    return isinstance(d, int) and not isinstance(d, bool)


def _fail(reason):
    return ValueError(f"the model does not follow unblur's denoiser contract: {reason}")


def _check_rank4(t, what):
    if t.shape is None or len(t.shape) != 4:
        rank = "an unknown rank" if t.shape is None else f"rank {len(t.shape)}"
        raise _fail(f"{t.describe(what)} must have rank 4 (N, C, H, W), got {rank} (shape {_fmt_shape(t.shape)})")


def _check_dtype(t, what):
    if t.dtype not in _FLOATS:
        raise _fail(f"{t.describe(what)} must be float32 or float16, got {t.dtype}")


def _check_batch(t, what):
    n = t.shape[0]
    if _static(n) and n != 1:
        raise _fail(f"{t.describe(what)} has a fixed batch size {n}; the batch must be dynamic (or 1)")
    return 1 if _static(n) else None


def _check_spatial(t, what):
    for axis, label in ((2, "height"), (3, "width")):
        d = t.shape[axis]
        if _static(d):
            raise _fail(f"{t.describe(what)} has a fixed {label} {d} (shape {_fmt_shape(t.shape)}); H and W must be "
                        f"dynamic (export with dynamic axes for them)")


def _channels(t, what):
    c = t.shape[1]
    if not _static(c):
        raise _fail(f"{t.describe(what)} must have a fixed channel count, got {c!r} (shape {_fmt_shape(t.shape)})")
    return c


def _multiple(metadata):
    raw = (metadata or {}).get(MULTIPLE_KEY)
    if raw is None:
        return 1
    text = str(raw).strip()
    try:
        m = int(text)
    except ValueError:
        m = 0
    if not 1 <= m <= _MAX_MULTIPLE or text != str(m):
        raise _fail(f"metadata {MULTIPLE_KEY!r} must be a positive integer (at most {_MAX_MULTIPLE}), got {raw!r}")
    return m


def check(inputs, outputs, metadata) -> Contract:
    """The contract of a model with these inputs, outputs (lists of Tensor) and metadata
    (dict of str), or a ValueError naming what breaks it."""
    inputs, outputs = tuple(inputs), tuple(outputs)
    if len(inputs) not in (1, 2):
        names = ", ".join(repr(t.name) for t in inputs) or "none"
        raise _fail(f"it must have 1 input (the image with the noise map as its last channel) or 2 inputs (the "
                    f"image, the noise map), got {len(inputs)}: {names}")
    if len(outputs) != 1:
        names = ", ".join(repr(t.name) for t in outputs) or "none"
        raise _fail(f"it must have exactly 1 output (the denoised image), got {len(outputs)}: {names}")
    for i, t in enumerate(inputs):
        _check_rank4(t, f"input {i}")
        _check_dtype(t, f"input {i}")
    out = outputs[0]
    _check_rank4(out, "the output")
    _check_dtype(out, "the output")
    max_batch = None
    for i, t in enumerate(inputs):
        b = _check_batch(t, f"input {i}")
        max_batch = b if b is not None else max_batch
        _check_spatial(t, f"input {i}")
    _check_spatial(out, "the output")

    c0 = _channels(inputs[0], "input 0")
    if len(inputs) == 2:
        layout, channels = "noise-input", c0
        if channels not in (1, 3):
            raise _fail(f"{inputs[0].describe('input 0')}, the image, must have 1 or 3 channels, got {channels}")
        cn = _channels(inputs[1], "input 1")
        if cn != 1:
            raise _fail(f"{inputs[1].describe('input 1')}, the noise map, must have 1 channel (N, 1, H, W), got {cn}")
    else:
        layout, channels = "noise-channel", c0 - 1
        if c0 not in (2, 4):
            raise _fail(f"{inputs[0].describe('input 0')}, the only input, must have the image's 1 or 3 channels plus "
                        f"the noise map (2 or 4 channels), got {c0}")
    co = out.shape[1]
    if _static(co) and co != channels:
        raise _fail(f"{out.describe('the output')} must have the image's {channels} channel"
                    f"{'s' if channels > 1 else ''}, got {co} (shape {_fmt_shape(out.shape)})")
    if _static(out.shape[0]) and out.shape[0] != 1:
        raise _fail(f"{out.describe('the output')} has a fixed batch size {out.shape[0]}; it must follow the input's")
    if _static(out.shape[0]):  # an output of batch 1: one image or tile per run
        max_batch = 1
    return Contract(layout=layout, channels=channels, multiple=_multiple(metadata), inputs=inputs, output=out,
                    max_batch=max_batch)


# ---- descriptions ---------------------------------------------------------------------------

_ORT_TYPES = {"float": "float32", "double": "float64", "float16": "float16"}


def _ort_dtype(type_str):
    s = str(type_str)
    if s.startswith("tensor(") and s.endswith(")"):
        s = s[len("tensor("):-1]
        return _ORT_TYPES.get(s, s)
    return s  # sequences, maps: not tensors


def _ort_shape(shape):
    if shape is None:
        return None
    return tuple(d if isinstance(d, (int, str)) else None for d in shape)


def describe_session(session):
    """(inputs, outputs, metadata) of an onnxruntime.InferenceSession."""
    ins = [Tensor(a.name, _ort_shape(a.shape), _ort_dtype(a.type)) for a in session.get_inputs()]
    outs = [Tensor(a.name, _ort_shape(a.shape), _ort_dtype(a.type)) for a in session.get_outputs()]
    meta = dict(session.get_modelmeta().custom_metadata_map)
    return ins, outs, meta


def _onnx_tensor(value_info):
    import onnx

    t = value_info.type
    if not t.HasField("tensor_type"):
        return Tensor(value_info.name, None, t.WhichOneof("value") or "unknown")
    tt = t.tensor_type
    try:
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type))
    except Exception:  # types NumPy lacks (bfloat16, float8) or an undefined one
        dtype = onnx.TensorProto.DataType.Name(tt.elem_type).lower()
    if not tt.HasField("shape"):
        return Tensor(value_info.name, None, dtype)
    dims = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(str(d.dim_param))
        else:
            dims.append(None)
    return Tensor(value_info.name, tuple(dims), dtype)


def describe_onnx(model_bytes):
    """(inputs, outputs, metadata) of a serialised ONNX model, read with the onnx package
    (graph inputs that are initializers are weights, not inputs)."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(model_bytes)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"path_or_bytes is not an ONNX model: {exc}") from None
    if not model.HasField("graph"):
        raise ValueError("path_or_bytes is not an ONNX model: it has no graph")
    weights = {init.name for init in model.graph.initializer}
    ins = [_onnx_tensor(v) for v in model.graph.input if v.name not in weights]
    outs = [_onnx_tensor(v) for v in model.graph.output]
    meta = {p.key: p.value for p in model.metadata_props}
    return ins, outs, meta
