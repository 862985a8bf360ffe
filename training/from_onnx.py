"""A training checkpoint from an exported float32 denoiser file, to fine-tune it.

    python training/from_onnx.py MODEL.onnx OUT [--float16]

OUT/checkpoint.pt holds the weights of MODEL.onnx (a float32 file written by export.py,
such as the shipped python/unblur/models/weights/denoiser_grey_fp32.onnx) in the
architecture its `unblur.training` metadata records, ready for `train.py --init
OUT/checkpoint.pt`. The initializers are the model's float32 tensors, so the weights are
the exported model's exactly; the script checks that PyTorch then computes what ONNX
Runtime computes from the file. It saves rebuilding a shipped model with its whole recipe
(training/make_grey.sh, hours on a CPU) only to fine-tune it. The float16 files are refused
unless --float16 is given: their weights were rounded, and with it the checkpoint holds the
rounded values (exactly: float16 widens to float32 without loss), which is what a model
shipped only in float16 (the RGB one before 2026-12-07) is; training/make_rgb.sh starts
from one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.model import Denoiser  # noqa: E402

# The largest |PyTorch - ONNX Runtime| accepted on the check's input, relative to the
# output's largest magnitude (at least 1): the order of the sums differs between the two
# (the shipped grey file: 2e-7).
TOLERANCE = 1e-5
# The same for a float16 file, which computes in float16 where ONNX Runtime has the kernels.
FLOAT16_TOLERANCE = 5e-3


def read(path: Path, float16: bool = False) -> tuple[Denoiser, dict]:
    """(model, metadata) of a float32 file written by export.py (or, with `float16`, of its
    float16 file: the weights widened); ValueError naming `model` for anything else."""
    import onnx
    from onnx import numpy_helper

    try:
        proto = onnx.load(str(path))
    except Exception as err:  # protobuf's DecodeError and friends
        raise ValueError(f"model {path}: not an ONNX file ({err})") from err
    meta = {p.key: p.value for p in proto.metadata_props}
    if "unblur.training" not in meta:
        raise ValueError(f"model {path}: no 'unblur.training' metadata (not a file written by training/export.py)")
    precision = meta.get("unblur.precision", "")
    if precision != "float32" and not (float16 and precision.startswith("float16")):
        raise ValueError(f"model {path}: precision {precision!r}; only float32 files hold the exact weights"
                         + ("" if float16 else " (--float16 takes a float16 file's rounded ones)"))
    config = json.loads(meta["unblur.training"])["model"]
    model = Denoiser(**config)
    tensors = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    if precision != "float32":
        # export.py's float16 graph wraps the model (as "net") between casts.
        tensors = {k.removeprefix("net."): v.astype(np.float32) for k, v in tensors.items() if v.dtype == np.float16}
    state = model.state_dict()
    missing = sorted(set(state) - set(tensors))
    if missing:
        raise ValueError(f"model {path}: weights {missing[:4]} of the architecture {config} are not in the file")
    for name, value in state.items():
        if tuple(tensors[name].shape) != tuple(value.shape):
            raise ValueError(f"model {path}: tensor {name!r} has shape {tensors[name].shape}, the architecture {tuple(value.shape)}")
    model.load_state_dict({name: torch.from_numpy(np.array(tensors[name])) for name in state})
    return model.eval(), meta


def check(model: Denoiser, path: Path, size: int = 64) -> float:
    """max |PyTorch - ONNX Runtime| / max(1, max |ONNX Runtime|) on a fixed random image
    and noise map."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    x = rng.random((1, model.channels + 1, size, size), dtype=np.float32)
    x[:, -1] = 0.1
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        ours = model(torch.from_numpy(x)).numpy()
    return float(np.abs(ours - reference).max() / max(1.0, float(np.abs(reference).max())))


def convert(path: Path, out: Path, float16: bool = False) -> dict:
    target = out / "checkpoint.pt"
    if target.exists():
        raise FileExistsError(f"out: {target} exists; choose another folder")
    model, meta = read(path, float16)
    diff = check(model, path)
    tolerance = TOLERANCE if meta["unblur.precision"] == "float32" else FLOAT16_TOLERANCE
    if not diff <= tolerance:
        raise ValueError(f"model {path}: PyTorch and ONNX Runtime differ by {diff:.2e} of the output's scale "
                         f"(> {tolerance}) with its weights")
    out.mkdir(parents=True, exist_ok=True)
    info = {"from_onnx": str(path), "precision": meta["unblur.precision"],
            "training_info": json.loads(meta["unblur.training"])}
    # "step" 0: no training steps of its own (train.py --init reads it), as soup.py.
    torch.save({"model": model.state_dict(), "model_config": model.config(), "training_info": info, "step": 0}, str(target))
    return {"checkpoint": str(target), "model": model.config(), "relative_diff_vs_onnxruntime": diff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a float32 .onnx file written by training/export.py (--float16: or its float16 file)")
    ap.add_argument("out", type=Path, help="folder for checkpoint.pt")
    ap.add_argument("--float16", action="store_true", help="accept a float16 file (its rounded weights)")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        ap.error(f"model: no such file {args.model}")
    print(json.dumps(convert(args.model, args.out, args.float16), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
