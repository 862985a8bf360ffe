"""Average the weights of two fine-tunes of one checkpoint (a "model soup") and export it.

    python training/soup.py OUT A B --weight T

OUT/checkpoint.pt holds (1 - T) x A's weights + T x B's (A and B: training runs' folders,
or their checkpoint.pt files, of the same architecture); OUT/denoiser_fp32.onnx and
OUT/denoiser_fp16.onnx are exported and checked as train.py's are. Averaging is
meaningful for models fine-tuned from the same parent (their weights stay in one basin,
Wortsman et al. 2022, "Model soups"), or for a model and its own fine-tune; the script
refuses models whose architectures differ, or whose parents differ unless one is the
other's parent. The arithmetic is float64 then rounded to the weights' dtype: the same
inputs give the same bits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.export import checkpoint_file as _checkpoint  # noqa: E402
from training.export import export_all, load_checkpoint  # noqa: E402


def average(a: dict, b: dict, weight: float) -> dict:
    """(1 - weight) a + weight b for every floating-point tensor; others (counters) from a."""
    if set(a) != set(b):
        raise ValueError(f"the models' tensors differ: {sorted(set(a) ^ set(b))[:4]}")
    out = {}
    for k, x in a.items():
        y = b[k]
        if x.shape != y.shape:
            raise ValueError(f"tensor {k!r}: shapes {tuple(x.shape)} and {tuple(y.shape)}")
        if x.is_floating_point():
            out[k] = ((1.0 - weight) * x.double() + weight * y.double()).to(x.dtype)
        else:
            out[k] = x.clone()
    return out


def _fine_tune_of(init, run: Path) -> bool:
    """Whether a model whose training_info "init" is `init` was fine-tuned from `run`'s
    checkpoint (a model and its own fine-tune also share one basin)."""
    if not isinstance(init, dict) or "checkpoint" not in init:
        return False
    return Path(init["checkpoint"]).resolve() == _checkpoint(run).resolve()


def soup(out: Path, a: Path, b: Path, weight: float, threads: int = 0) -> dict:
    model_a, state_a = load_checkpoint(_checkpoint(a))
    state_b = torch.load(str(_checkpoint(b)), map_location="cpu", weights_only=False)
    if state_a["model_config"] != state_b["model_config"]:
        raise ValueError(f"architectures differ: {state_a['model_config']} vs {state_b['model_config']}")
    parents = [s.get("training_info", {}).get("init") for s in (state_a, state_b)]
    if parents[0] != parents[1] and not (_fine_tune_of(parents[1], a) or _fine_tune_of(parents[0], b)):
        raise ValueError(f"the models are fine-tunes of different parents, and neither is a fine-tune of the other: "
                         f"{parents[0]!r} vs {parents[1]!r}")
    model_a.load_state_dict(average(model_a.state_dict(), state_b["model"], weight))
    model_a.eval()
    info = {
        "soup": {"weight": weight, "a": state_a.get("training_info"), "b": state_b.get("training_info")},
        "channels": state_a.get("training_info", {}).get("channels"),
    }
    out.mkdir(parents=True, exist_ok=True)
    # "step" 0: the average has no training steps of its own (train.py --init reads it).
    torch.save({"model": model_a.state_dict(), "model_config": state_a["model_config"], "training_info": info,
                "step": 0}, str(out / "checkpoint.pt"))
    return export_all(model_a, out, info, threads)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("a", type=Path, help="first run (folder or checkpoint.pt)")
    ap.add_argument("b", type=Path, help="second run (folder or checkpoint.pt)")
    ap.add_argument("--weight", type=float, required=True, help="B's share, in [0, 1]")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        ap.error(f"--weight must be in [0, 1], got {args.weight}")
    if args.threads < 0:
        ap.error(f"--threads must be >= 0 (0: ONNX Runtime's default), got {args.threads}")
    for name in ("a", "b"):
        if not _checkpoint(getattr(args, name)).is_file():
            ap.error(f"{name}: no checkpoint at {_checkpoint(getattr(args, name))}")
    print(json.dumps(soup(args.out, args.a, args.b, args.weight, args.threads), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
