"""A training checkpoint from an exported float32 denoiser file, to fine-tune it.

    python training/from_onnx.py MODEL.onnx OUT

OUT/checkpoint.pt holds the weights of MODEL.onnx (a float32 file written by export.py,
such as the shipped python/unblur/models/weights/denoiser_grey_fp32.onnx) in the
architecture its `unblur.training` metadata records, ready for `train.py --init
OUT/checkpoint.pt`. The initializers are the model's float32 tensors, so the weights are
the exported model's exactly; the script checks that PyTorch then computes what ONNX
Runtime computes from the file. It saves rebuilding a shipped model with its whole recipe
(training/make_grey.sh, hours on a CPU) only to fine-tune it. The float16 files are refused:
their weights were rounded.
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


def read(path: Path) -> tuple[Denoiser, dict]:
    """(model, metadata) of a float32 file written by export.py; ValueError naming `model`
    for anything else."""
    import onnx
    from onnx import numpy_helper

    try:
        proto = onnx.load(str(path))
    except Exception as err:  # protobuf's DecodeError and friends
        raise ValueError(f"model {path}: not an ONNX file ({err})") from err
    meta = {p.key: p.value for p in proto.metadata_props}
    if "unblur.training" not in meta:
        raise ValueError(f"model {path}: no 'unblur.training' metadata (not a file written by training/export.py)")
    if meta.get("unblur.precision") != "float32":
        raise ValueError(f"model {path}: precision {meta.get('unblur.precision')!r}; only float32 files hold the exact weights")
    config = json.loads(meta["unblur.training"])["model"]
    model = Denoiser(**config)
    tensors = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
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


def convert(path: Path, out: Path) -> dict:
    target = out / "checkpoint.pt"
    if target.exists():
        raise FileExistsError(f"out: {target} exists; choose another folder")
    model, meta = read(path)
    diff = check(model, path)
    if not diff <= TOLERANCE:
        raise ValueError(f"model {path}: PyTorch and ONNX Runtime differ by {diff:.2e} of the output's scale "
                         f"(> {TOLERANCE}) with its weights")
    out.mkdir(parents=True, exist_ok=True)
    info = {"from_onnx": str(path), "training_info": json.loads(meta["unblur.training"])}
    # "step" 0: no training steps of its own (train.py --init reads it), as soup.py.
    torch.save({"model": model.state_dict(), "model_config": model.config(), "training_info": info, "step": 0}, str(target))
    return {"checkpoint": str(target), "model": model.config(), "relative_diff_vs_onnxruntime": diff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a float32 .onnx file written by training/export.py")
    ap.add_argument("out", type=Path, help="folder for checkpoint.pt")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        ap.error(f"model: no such file {args.model}")
    print(json.dumps(convert(args.model, args.out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
