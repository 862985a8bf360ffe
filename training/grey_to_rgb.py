"""An RGB denoiser started from a trained grey one, as the start of a colour fine-tune.

    python training/grey_to_rgb.py GREY OUT

GREY is a grey training run's folder (or its checkpoint.pt); OUT/checkpoint.pt gets an RGB
model (channels 3) of the same architecture whose first convolution gives each colour input
a third of the grey input's weights (the noise-map input keeps its own) and whose last
convolution gives each colour output the grey output's weights. On a grey image (R = G = B)
it computes exactly the grey model's output in every channel (the script checks it). No
random number is drawn: the same command gives the same bits. Fine-tune it with
`train.py --channels 3 --init OUT/checkpoint.pt`.

Why: the shipped RGB model is a 5,000-step run from scratch; every later gain of the grey
model (more steps, the v2 and v4 scenes, training through PnP) came from fine-tunes of a
long run. This start alone is a poor denoiser of colour noise (it sees only the mean of the
channels, whose noise is a third as strong) and a fine-tune on the v4 scenes levels off
below the RGB model on the generated validation set, but in colour PnP it is level with it,
and one round of the unrolled fine-tune on it went ahead (bench/RESULTS.md, session 16).
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
from training.model import Denoiser  # noqa: E402


def rgb_state(grey: dict) -> dict:
    """The grey model's state dict for the RGB model: only head and tail change shape."""
    out = dict(grey)
    head = grey["head.weight"]  # (W, 2, 3, 3): the image, then the noise map
    out["head.weight"] = torch.cat([head[:, :1].repeat(1, 3, 1, 1) / 3.0, head[:, 1:2]], dim=1)
    out["tail.weight"] = grey["tail.weight"].repeat(3, 1, 1, 1)  # (1, W, 3, 3) -> (3, W, 3, 3)
    return out


def grey_to_rgb(grey_path: Path, out: Path) -> dict:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} is a file, not a folder")
    if (out / "checkpoint.pt").exists():  # never over a run, the parent's included
        raise FileExistsError(f"out: {out / 'checkpoint.pt'} exists; choose a new folder")
    try:
        grey, state = load_checkpoint(_checkpoint(grey_path))
    except Exception as e:  # not a torch file, or not one of train.py's checkpoints
        raise ValueError(f"grey: {grey_path} is not a training checkpoint ({type(e).__name__}: {e})") from e
    config = dict(state["model_config"])
    if config["channels"] != 1:
        raise ValueError(f"grey: {grey_path} is a {config['channels']}-channel model, not a grey one")
    grey.eval()
    config["channels"] = 3
    model = Denoiser(**config)
    model.load_state_dict(rgb_state(state["model"]), strict=True)
    model.eval()

    # On a grey image the RGB model must give the grey model's output in every channel.
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 8 * model.multiple, 8 * model.multiple, generator=g)
    s = 0.2 * torch.rand(2, 1, 1, 1, generator=g).expand_as(x)
    with torch.no_grad():
        want = grey(torch.cat([x, s], 1))
        gap = float((model(torch.cat([x.repeat(1, 3, 1, 1), s], 1)) - want).abs().max())
    # float32 rounding only (a third of a weight, summed three times), relative to the output
    if gap > 1e-5 * max(1.0, float(want.abs().max())):
        raise AssertionError(f"the RGB model differs from the grey one on a grey image by {gap:.3g}")

    out.mkdir(parents=True, exist_ok=True)
    info = dict(state.get("training_info", {}))
    info["from_grey"] = {"parent": str(grey_path), "parent_step": state.get("step")}
    torch.save({"model": model.state_dict(), "model_config": model.config(), "step": state.get("step", 0),
                "training_info": info}, str(out / "checkpoint.pt"))
    print(f"{grey_path} -> {out / 'checkpoint.pt'}: RGB model, max |rgb(grey image) - grey| = {gap:.2g}", flush=True)
    return {"max_difference": gap, "config": model.config()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grey", type=Path, help="a grey training run's folder or checkpoint")
    p.add_argument("out", type=Path, help="output folder (OUT/checkpoint.pt)")
    args = p.parse_args(argv)
    if not _checkpoint(args.grey).is_file():
        p.error(f"{args.grey}: no checkpoint")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"out: {args.out} is a file, not a folder")
    if (args.out / "checkpoint.pt").exists():
        p.error(f"out: {args.out / 'checkpoint.pt'} exists; choose a new folder")
    return grey_to_rgb(args.grey, args.out)


if __name__ == "__main__":
    main()
