"""Grow a trained denoiser by identity residual blocks, as the start of a fine-tune.

    python training/grow.py PARENT OUT --extra 1 [--seed 7]

PARENT is a training run's folder (or its checkpoint.pt); OUT/checkpoint.pt gets the same
model with `--extra` more residual blocks per side at every level but the bottom
(training/model.py `Denoiser(extra=...)`). The parent's weights are copied; each new block's
second convolution is zero, so the grown model computes exactly what its parent does (the
script checks it), and its first convolution is drawn from `--seed`: the same command gives
the same bits. Fine-tune it with `train.py --init OUT/checkpoint.pt --extra N`.

Why: a fine-tune of the 1.06 M model saturates (twice the steps gave nothing,
bench/RESULTS.md); growing it from the trained checkpoint adds capacity without the
20,000-step run from scratch.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.export import checkpoint_file as _checkpoint  # noqa: E402
from training.export import load_checkpoint  # noqa: E402
from training.model import Denoiser, parameter_count  # noqa: E402


def grown_state(parent: dict, blocks: int, before: int, extra: int) -> dict:
    """The parent's state dict (`blocks` + `before` residual blocks per down path) renamed
    for a model with `extra` more: only each down path's last module, the stride-2
    convolution, moves, by `extra` places; the new blocks take the freed places."""
    stride = str(blocks + before)
    out = {}
    for key, value in parent.items():
        part = key.split(".")
        if part[0] == "down" and part[2] == stride:
            part[2] = str(blocks + before + extra)
        out[".".join(part)] = value
    return out


def grow(parent_path: Path, out: Path, extra: int, seed: int = 7) -> dict:
    if extra < 1:
        raise ValueError(f"--extra must be >= 1, got {extra}")
    if (Path(out) / "checkpoint.pt").exists():  # never over a run, the parent's included
        raise FileExistsError(f"out: {Path(out) / 'checkpoint.pt'} exists; choose a new folder")
    try:
        parent, state = load_checkpoint(_checkpoint(parent_path))
    except Exception as e:  # not a torch file, or not one of train.py's checkpoints
        raise ValueError(f"parent: {parent_path} is not a training checkpoint ({type(e).__name__}: {e})") from e
    parent.eval()
    config = dict(state["model_config"])
    before = config.get("extra", 0)

    torch.manual_seed(seed)
    config["extra"] = before + extra
    model = Denoiser(**config)
    missing, unexpected = model.load_state_dict(grown_state(state["model"], config["blocks"], before, extra), strict=False)
    if unexpected:
        raise ValueError(f"{parent_path}: tensors with no place in the grown model: {unexpected[:4]}")
    model.eval()

    # The grown model must compute what its parent does (the new blocks are identities).
    x = torch.rand(2, config["channels"] + 1, 8 * model.multiple, 8 * model.multiple,
                   generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        gap = float((model(x) - parent(x)).abs().max())
    if gap > 1e-5:
        raise AssertionError(f"the grown model differs from its parent by {gap:.3g}")

    out.mkdir(parents=True, exist_ok=True)
    info = dict(state.get("training_info", {}))
    info["grown"] = {"parent": str(parent_path), "extra": extra, "seed": seed, "parent_step": state.get("step")}
    torch.save({"model": model.state_dict(), "model_config": model.config(), "step": state.get("step", 0),
                "training_info": info}, str(out / "checkpoint.pt"))
    summary = {"parameters": parameter_count(model), "parent_parameters": parameter_count(parent),
               "new_tensors": len(missing), "max_difference": gap, "config": model.config()}
    print(f"grown {parent_path} -> {out / 'checkpoint.pt'}: {summary['parent_parameters']:,} -> "
          f"{summary['parameters']:,} parameters ({len(missing)} new tensors), "
          f"max |grown - parent| = {gap:.2g}", flush=True)
    return summary


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("parent", type=Path, help="a training run's folder or checkpoint")
    p.add_argument("out", type=Path, help="output folder (OUT/checkpoint.pt)")
    p.add_argument("--extra", type=int, default=1, help="residual blocks added per side at each level but the bottom")
    p.add_argument("--seed", type=int, default=7, help="draws the new blocks' first convolutions")
    args = p.parse_args(argv)
    if not _checkpoint(args.parent).is_file():
        p.error(f"{args.parent}: no checkpoint")
    if args.extra < 1:
        p.error(f"--extra must be >= 1, got {args.extra}")
    if (args.out / "checkpoint.pt").exists():
        p.error(f"out: {args.out / 'checkpoint.pt'} exists; choose a new folder")
    return grow(args.parent, args.out, args.extra, args.seed)


if __name__ == "__main__":
    main()
