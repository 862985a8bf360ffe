"""INT8 versions of the exported denoiser (onnxruntime.quantization), and how they compare.

- denoiser_int8_dynamic.onnx: dynamic quantization: weights stored in uint8, activations
  quantized per call from their observed range (Conv -> ConvInteger; the transposed
  convolutions stay float). No calibration data.
- denoiser_int8_static.onnx: static QDQ quantization: int8 weights per output channel,
  uint8 activations with ranges calibrated (min-max) on generated training-distribution
  images (never the validation images). The final residual sum (noisy input + correction)
  stays float, so the output is not limited to 8 bits.

Each is compared with the float32 file on the validation set (PSNR at sigma 15/25/50) and
timed on the CPU (one 256 x 256 image, ONNX Runtime's CPU provider).

Standalone: ``python training/quantize.py DIR [--threads N]`` after an export into DIR.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import data as gen  # noqa: E402
from training.export import onnxruntime_session, read_metadata  # noqa: E402

CALIBRATION_ENTROPY = gen.VALIDATION_ENTROPY + 2


class GeneratedCalibration:
    """onnxruntime.quantization.CalibrationDataReader over generated images (training
    distribution: uniform sigma in [0, 50/255], some spatially varying maps)."""

    def __init__(self, channels: int, batches: int = 8, batch_size: int = 4, size: int = 96):
        rng = np.random.default_rng(np.random.SeedSequence(CALIBRATION_ENTROPY, spawn_key=(channels,)))
        self.items = []
        for _ in range(batches):
            _, noisy, sigma = gen.make_batch(rng, batch_size, size, channels, p_varying=0.25)
            self.items.append({"input": np.concatenate([noisy, sigma], axis=1)})
        self.iterator = iter(self.items)

    def get_next(self):
        return next(self.iterator, None)

    def rewind(self):
        self.iterator = iter(self.items)


def _final_add(path: Path) -> list[str]:
    """Name of the node that adds the correction to the noisy input (the graph's output)."""
    import onnx

    graph = onnx.load(str(path)).graph
    output = graph.output[0].name
    return [n.name for n in graph.node if output in n.output and n.op_type == "Add"]


def _copy_metadata(source: Path, target: Path, precision: str) -> None:
    import onnx

    proto = onnx.load(str(target))
    metadata = read_metadata(source)
    metadata["unblur.precision"] = precision
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(target))


def quantize(out: Path, channels: int) -> dict[str, Path]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = out / "denoiser_fp32.onnx"
    dynamic = out / "denoiser_int8_dynamic.onnx"
    static = out / "denoiser_int8_static.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # ONNX shape inference + graph optimisation. ONNX Runtime's symbolic shape inference
        # gives up on this graph ("Incomplete symbolic shape inference": dynamic H and W);
        # ONNX's own inference is enough for the quantizers.
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        # ConvInteger runs on the CPU with uint8 weights only.
        quantize_dynamic(str(prepared), str(dynamic), weight_type=QuantType.QUInt8)
        quantize_static(
            str(prepared),
            str(static),
            GeneratedCalibration(channels),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=_final_add(prepared),
        )
    _copy_metadata(fp32, dynamic, "int8 dynamic (float32 input and output)")
    _copy_metadata(fp32, static, "int8 static QDQ (float32 input and output)")
    return {"dynamic": dynamic, "static": static}


def evaluate(path: Path, validation, threads: int, repeats: int = 10) -> dict:
    """Validation PSNR per sigma and the median and best times of one 256 x 256 image (the
    best is what the machine can do, the median what it did under its load)."""
    session = onnxruntime_session(path, threads)
    clean, noisy = validation
    psnrs = {}
    for sigma, images in noisy.items():
        x = np.concatenate([images, np.full((len(images), 1) + images.shape[2:], sigma, np.float32)], axis=1)
        (y,) = session.run(None, {"input": x})
        psnrs[str(round(sigma * 255))] = round(gen.psnr(y, clean), 3)
    c = clean.shape[1]
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.random((1, c, 256, 256), np.float32), np.full((1, 1, 256, 256), 25 / 255, np.float32)], axis=1)
    session.run(None, {"input": x})  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, {"input": x})
        times.append(time.perf_counter() - t)
    return {
        "bytes": path.stat().st_size,
        "psnr": psnrs,
        "ms_256x256_median": round(1e3 * statistics.median(times), 1),
        "ms_256x256_best": round(1e3 * min(times), 1),
    }


def quantize_all(out: Path, channels: int, threads: int = 0) -> dict:
    out = Path(out)
    files = quantize(out, channels)
    validation = gen.validation_set(channels)
    report = {}
    names = ["denoiser_fp32.onnx", "denoiser_fp16.onnx", files["dynamic"].name, files["static"].name]
    for name in names:
        if (out / name).exists():
            report[name] = evaluate(out / name, validation, threads)
    reference = report["denoiser_fp32.onnx"]["psnr"]
    print(f"{'file':28s} {'MB':>5s} {'ms/256^2 median, best':>22s}   PSNR (loss vs fp32) at sigma " + "/".join(reference), flush=True)
    for name, entry in report.items():
        entry["psnr_loss_vs_fp32"] = {s: round(reference[s] - v, 3) for s, v in entry["psnr"].items()}
        cells = "  ".join(f"{v:.2f} ({entry['psnr_loss_vs_fp32'][s]:+.2f})" for s, v in entry["psnr"].items())
        times = f"{entry['ms_256x256_median']:.1f}, {entry['ms_256x256_best']:.1f}"
        print(f"{name:28s} {entry['bytes'] / 1e6:5.2f} {times:>22s}   {cells}", flush=True)
    return report


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Write DIR/denoiser_int8_{dynamic,static}.onnx from DIR/denoiser_fp32.onnx and compare.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: its default)")
    args = parser.parse_args()
    channels = int(read_metadata(args.out / "denoiser_fp32.onnx")["unblur.channels"])
    report = quantize_all(args.out, channels, args.threads)
    with open(args.out / "int8_report.json", "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _main()
