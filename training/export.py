"""Export the denoiser to ONNX (float32 and float16) and check the files.

The files follow the contract in model.py: input "input" (N, C + 1, H, W) float32 with the
sigma map last, output "output" (N, C, H, W) float32; N, H and W are dynamic (H, W
multiples of `unblur.multiple`); opset 17. Metadata (`metadata_props`) tells the runtime
what it needs without knowing this code:

    unblur.multiple   "8"                 H and W must be multiples of this (pad, then crop)
    unblur.channels   "1" or "3"          C
    unblur.layout     "concat-noise-map"  the input is the image's channels + a sigma map
    unblur.range      "0-1 linear"        linear light, nominally [0, 1], sigma in the same units
    unblur.sigma_max  "0.196078"          the largest sigma seen in training (50/255)
    unblur.precision  "float32" / "float16 (float32 input and output)"
    unblur.training   JSON: the architecture and the training run's settings and figures

The float16 file stores its weights in float16 and computes in float16; casts at the
input and before the final residual sum keep its input and output float32.

Standalone: ``python training/export.py DIR`` re-exports DIR/checkpoint.pt.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np

# Idle OpenMP threads must sleep, not spin, on a shared machine (see docs/training.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import data as gen  # noqa: E402
from training.model import Denoiser, HalfPrecisionDenoiser  # noqa: E402

OPSET = 17


def _export(module: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    common = dict(opset_version=OPSET, input_names=["input"], output_names=["output"], verbose=False)
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        _run_exporter(module, example, path, common)
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)


def _run_exporter(module, example, path, common) -> None:
    with warnings.catch_warnings():
        # The exporters' deprecation and "training mode" chatter is not ours to act on.
        warnings.simplefilter("ignore")
        if importlib.util.find_spec("onnxscript") is not None:
            # torch.export-based exporter (PyTorch's default since 2.9): needs onnxscript.
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                dynamic_shapes={"x": {0: "batch", 2: "height", 3: "width"}},
                **common,
            )
        else:
            # The TorchScript exporter: deprecated, but needs nothing beyond onnx.
            axes = {0: "batch", 2: "height", 3: "width"}
            torch.onnx.export(module, (example,), str(path), dynamo=False, dynamic_axes={"input": axes, "output": axes}, **common)


def export_onnx(model: Denoiser, path: Path, half: bool = False, training_info: dict | None = None) -> Path:
    """Write `model` to `path` as ONNX (float16 weights and compute if `half`) with metadata."""
    import onnx

    path = Path(path)
    net = copy.deepcopy(model).cpu().float().eval()
    module = HalfPrecisionDenoiser(net) if half else net
    m = net.multiple
    example = torch.rand(2, net.channels + 1, 4 * m, 6 * m)
    _export(module.eval(), example, path)
    proto = onnx.load(str(path))
    metadata = {
        "unblur.multiple": str(net.multiple),
        "unblur.channels": str(net.channels),
        "unblur.layout": "concat-noise-map",
        "unblur.range": "0-1 linear",
        "unblur.sigma_max": f"{gen.SIGMA_MAX:.6f}",
        "unblur.precision": "float16 (float32 input and output)" if half else "float32",
        "unblur.training": json.dumps({"model": net.config(), **(training_info or {})}, sort_keys=True),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "unblur training/"
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return path


def read_metadata(path: Path) -> dict:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def onnxruntime_session(path: Path, threads: int = 0):
    """A CPU ONNX Runtime session, or None when onnxruntime is not installed."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verification_input(channels: int, multiple: int) -> np.ndarray:
    """Generated images of a shape unlike the export example (dynamic axes exercised), with
    a spatially varying sigma map."""
    rng = np.random.default_rng(np.random.SeedSequence(gen.VALIDATION_ENTROPY + 1))
    h, w = 9 * multiple, 13 * multiple
    clean = np.stack([gen.render_scene(rng, max(h, w), channels)[:, :h, :w] for _ in range(3)])
    sigma = np.stack([gen.sigma_map(rng, max(h, w), p_varying=1.0)[None, :h, :w] for _ in range(3)])
    noisy = clean + sigma * rng.standard_normal(clean.shape, dtype=np.float32)
    return np.concatenate([noisy, sigma], axis=1).astype(np.float32)


def compare_with_torch(model: Denoiser, path: Path, threads: int = 0) -> dict:
    """Max |ONNX Runtime - PyTorch float32| on generated input, or {} without onnxruntime."""
    session = onnxruntime_session(path, threads)
    if session is None:
        return {}
    net = copy.deepcopy(model).cpu().float().eval()
    x = verification_input(net.channels, net.multiple)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    (got,) = session.run(None, {"input": x})
    if got.shape != expected.shape or got.dtype != np.float32:
        raise RuntimeError(f"{path.name}: output {got.dtype} {got.shape}, expected float32 {expected.shape}")
    return {
        "max_abs_diff": float(np.abs(got - expected).max()),
        "mean_abs_diff": float(np.abs(got - expected).mean()),
        "shape": list(x.shape),
    }


def export_all(model: Denoiser, out: Path, training_info: dict | None = None, threads: int = 0) -> dict:
    """denoiser_fp32.onnx and denoiser_fp16.onnx in `out`, checked; returns their figures."""
    report = {}
    for name, half in (("denoiser_fp32.onnx", False), ("denoiser_fp16.onnx", True)):
        path = export_onnx(model, Path(out) / name, half=half, training_info=training_info)
        entry = {"bytes": path.stat().st_size, "checker": "ok"}
        entry.update(compare_with_torch(model, path, threads))
        report[name] = entry
        diff = f", max |onnxruntime - torch| = {entry['max_abs_diff']:.2e}" if "max_abs_diff" in entry else " (onnxruntime not installed)"
        print(f"exported {path} ({entry['bytes'] / 1e6:.2f} MB, onnx.checker ok{diff})", flush=True)
    return report


def checkpoint_file(path: Path) -> Path:
    """A training run's folder (its checkpoint.pt) or a checkpoint file."""
    path = Path(path)
    return path / "checkpoint.pt" if path.is_dir() else path


def load_checkpoint(path: Path) -> tuple[Denoiser, dict]:
    state = torch.load(str(path), map_location="cpu", weights_only=False)
    model = Denoiser(**state["model_config"])
    model.load_state_dict(state["model"])
    return model, state


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Export DIR/checkpoint.pt to DIR/denoiser_fp32.onnx and denoiser_fp16.onnx.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    model, state = load_checkpoint(args.out / "checkpoint.pt")
    report = export_all(model, args.out, state.get("training_info"), args.threads)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    _main()
