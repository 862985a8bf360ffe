"""train.py in pieces (--stop-at, then --resume) gives the weights of an uninterrupted run
(docs/training.md). Skipped where PyTorch is not installed; a few steps of a small model."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import train  # noqa: E402

# A small model on batches of 4 patches of 32 x 32, one of them through the whole PnP
# schedule (--unrolled), no validation during the run, a log row every step, no export.
BASE = ["--seed", "3", "--channels", "1", "--width", "8", "--batch-size", "4", "--patch", "32", "--val-every", "1000",
        "--log-every", "1", "--checkpoint-every", "1000", "--threads", "1", "--no-export", "--unrolled", "0.25"]
SMALL = ["--steps", "6", *BASE]


def _state(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)


def test_stop_at_and_resume_equal_an_uninterrupted_run(tmp_path):
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    train.main(["--out", str(whole), *SMALL])
    stopped = train.main(["--out", str(pieces), *SMALL, "--stop-at", "2"])
    assert stopped["stopped_at"] == 2 and _state(pieces)["step"] == 2
    assert not (pieces / "denoiser_fp32.onnx").exists() and not (pieces / "summary.json").exists()
    train.main(["--out", str(pieces), *SMALL, "--stop-at", "4", "--resume"])
    assert _state(pieces)["step"] == 4
    summary = train.main(["--out", str(pieces), *SMALL, "--resume"])
    assert summary["training"]["steps"] == 6 and summary["steps_this_run"] == 2
    a, b = _state(whole), _state(pieces)
    assert a["step"] == b["step"] == 6
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    # Adam's moments too: the next step of either run would be the same.
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(sa[key], sb[key])
    # The piece's losses are the uninterrupted run's (log.csv, one row a step).
    assert _losses(whole) == _losses(pieces)


def test_stopping_where_the_checkpoint_already_is_is_refused(tmp_path):
    train.main(["--out", str(tmp_path), *SMALL, "--stop-at", "2"])
    with pytest.raises(SystemExit, match="already at step 2"):
        train.main(["--out", str(tmp_path), *SMALL, "--stop-at", "2", "--resume"])


@pytest.mark.parametrize("argv", [[*SMALL, "--stop-at", "0"], [*BASE, "--minutes", "1", "--stop-at", "3"]],
                         ids=["step-0", "minutes"])
def test_stop_at_needs_steps_and_a_positive_step(tmp_path, argv, capsys):
    with pytest.raises(SystemExit):
        train.main(["--out", str(tmp_path), *argv])
    assert "--stop-at needs --steps and a step > 0" in capsys.readouterr().err
    assert not (tmp_path / "checkpoint.pt").exists()


def _losses(out: Path) -> list[str]:
    with open(out / "log.csv", newline="") as f:
        return [row["loss"] for row in csv.DictReader(f) if row["loss"]]
