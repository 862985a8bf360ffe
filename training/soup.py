"""Average the weights of fine-tunes of one checkpoint (a "model soup") and export it.

    python training/soup.py OUT A B --weight T
    python training/soup.py OUT A B C ... --weights WA WB WC ...

OUT/checkpoint.pt holds (1 - T) x A's weights + T x B's, or WA x A's + WB x B's + ...
(the weights >= 0, summing to 1; A, B, ...: training runs' folders, or their
checkpoint.pt files, of the same architecture); OUT/denoiser_fp32.onnx and
OUT/denoiser_fp16.onnx are exported and checked as train.py's are. Averaging is
meaningful for models fine-tuned from the same parent (their weights stay in one basin,
Wortsman et al. 2022, "Model soups"), or for a model and its own fine-tunes; the script
refuses models whose architectures differ, or that are neither siblings (one parent)
nor one model and fine-tunes of it, and never writes over an existing OUT/checkpoint.pt
(OUT may not be one of the runs). The arithmetic is float64, summed in the order
given, then rounded to the weights' dtype: the same inputs give the same bits.
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
    return average_many([a, b], [1.0 - weight, weight])


def average_many(states: list, weights: list) -> dict:
    """sum_i weights[i] x states[i] for every floating-point tensor (float64, in order);
    other tensors (counters) from the first."""
    first = states[0]
    for s in states[1:]:
        if set(first) != set(s):
            raise ValueError(f"the models' tensors differ: {sorted(set(first) ^ set(s))[:4]}")
    out = {}
    for k, x in first.items():
        for s in states[1:]:
            if s[k].shape != x.shape:
                raise ValueError(f"tensor {k!r}: shapes {tuple(x.shape)} and {tuple(s[k].shape)}")
        if x.is_floating_point():
            total = weights[0] * x.double()
            for w, s in zip(weights[1:], states[1:]):
                total = total + w * s[k].double()
            out[k] = total.to(x.dtype)
        else:
            out[k] = x.clone()
    return out


def _fine_tune_of(init, run: Path) -> bool:
    """Whether a model whose training_info "init" is `init` was fine-tuned from `run`'s
    checkpoint (a model and its own fine-tune also share one basin)."""
    if not isinstance(init, dict) or "checkpoint" not in init:
        return False
    return Path(init["checkpoint"]).resolve() == _checkpoint(run).resolve()


def _shares_ok(weights) -> bool:
    """Each weight >= 0 and their sum 1 (to 1e-9); NaN fails both."""
    return all(w >= 0 for w in weights) and abs(sum(weights) - 1.0) <= 1e-9


def _check_lineage(runs: list, states: list) -> None:
    """Siblings (one parent), or one model and fine-tunes of it; anything else (models
    trained from scratch, without a recorded parent, included) is refused."""
    parents = [s.get("training_info", {}).get("init") for s in states]
    if parents[0] is not None and all(p == parents[0] for p in parents):
        return
    for j, run in enumerate(runs):
        if all(_fine_tune_of(parents[i], run) for i in range(len(runs)) if i != j):
            return
    raise ValueError("the models are fine-tunes of different parents, and not one model and fine-tunes of it: "
                     + " vs ".join(repr(p) for p in parents))


def soup_many(out: Path, runs: list, weights: list, threads: int = 0, pair_record: bool = False) -> dict:
    """OUT = sum_i weights[i] x runs[i]'s weights, saved and exported (see the module's
    docstring). The soup's record in training_info: the weights and each model's
    training_info, or with `pair_record` (two models) the second's weight and the two
    as "a" and "b", the record the shipped models carry."""
    if (out / "checkpoint.pt").exists():
        raise FileExistsError(f"out: {out / 'checkpoint.pt'} exists; choose another folder")
    if len(runs) < 2 or len(weights) != len(runs):
        raise ValueError(f"need two or more models and one weight each, got {len(runs)} and {len(weights)}")
    if not _shares_ok(weights):
        raise ValueError(f"weights must be >= 0 and sum to 1, got {list(weights)}")
    model, first = load_checkpoint(_checkpoint(runs[0]))
    states = [first] + [torch.load(str(_checkpoint(r)), map_location="cpu", weights_only=False) for r in runs[1:]]
    for s in states[1:]:
        if s["model_config"] != first["model_config"]:
            raise ValueError(f"architectures differ: {first['model_config']} vs {s['model_config']}")
    _check_lineage(runs, states)
    model.load_state_dict(average_many([model.state_dict()] + [s["model"] for s in states[1:]], list(weights)))
    model.eval()
    infos = [s.get("training_info") for s in states]
    if pair_record:
        record = {"weight": weights[1], "a": infos[0], "b": infos[1]}
    else:
        record = {"weights": list(weights), "models": infos}
    info = {"soup": record, "channels": first.get("training_info", {}).get("channels")}
    out.mkdir(parents=True, exist_ok=True)
    # "step" 0: the average has no training steps of its own (train.py --init reads it).
    torch.save({"model": model.state_dict(), "model_config": first["model_config"], "training_info": info,
                "step": 0}, str(out / "checkpoint.pt"))
    return export_all(model, out, info, threads)


def soup(out: Path, a: Path, b: Path, weight: float, threads: int = 0) -> dict:
    """(1 - weight) x A + weight x B (the record the shipped models carry)."""
    return soup_many(out, [a, b], [1.0 - weight, weight], threads, pair_record=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="runs (folders or checkpoint.pt files)")
    share = ap.add_mutually_exclusive_group(required=True)
    share.add_argument("--weight", type=float, help="with two runs: the second's share, in [0, 1]")
    share.add_argument("--weights", type=float, nargs="+", help="each run's share, >= 0, summing to 1")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if len(args.runs) < 2:
        ap.error(f"need two or more runs, got {len(args.runs)}")
    if args.weight is not None:
        if len(args.runs) != 2:
            ap.error(f"--weight takes exactly two runs, got {len(args.runs)}: use --weights")
        if not 0.0 <= args.weight <= 1.0:
            ap.error(f"--weight must be in [0, 1], got {args.weight}")
    else:
        if len(args.weights) != len(args.runs):
            ap.error(f"--weights: {len(args.weights)} weight(s) for {len(args.runs)} runs")
        if not _shares_ok(args.weights):
            ap.error(f"--weights must be >= 0 and sum to 1, got {args.weights}")
    if args.threads < 0:
        ap.error(f"--threads must be >= 0 (0: ONNX Runtime's default), got {args.threads}")
    for run in args.runs:
        if not _checkpoint(run).is_file():
            ap.error(f"{run}: no checkpoint at {_checkpoint(run)}")
    if (args.out / "checkpoint.pt").exists():
        ap.error(f"out: {args.out / 'checkpoint.pt'} exists; choose another folder (nothing is overwritten)")
    if args.weight is not None:
        result = soup(args.out, args.runs[0], args.runs[1], args.weight, args.threads)
    else:
        result = soup_many(args.out, args.runs, args.weights, args.threads)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
