"""training/grow.py and Denoiser(extra=...): a grown model computes what its parent does,
and the growth is reproducible (needs torch: skipped in CI, run in the training environment
with --noconftest)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import grow  # noqa: E402
from training.model import Denoiser, parameter_count  # noqa: E402

CONFIG = {"channels": 1, "width": 4, "levels": 2, "blocks": 1}


def _parent(tmp_path, config=CONFIG, seed=0):
    """A checkpoint of a model whose every weight is random (the tail too, so the model is
    far from the identity and a misplaced weight shows in its output)."""
    model = Denoiser(**config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    path = tmp_path / "parent.pt"
    torch.save({"model": model.state_dict(), "model_config": model.config(), "step": 123,
                "training_info": {"channels": 1}}, str(path))
    return model.eval(), path


def _load(path):
    state = torch.load(str(path), weights_only=False)
    model = Denoiser(**state["model_config"])
    model.load_state_dict(state["model"])
    return model.eval(), state


def _inputs(channels=1, size=16, seed=1):
    return torch.rand(3, channels + 1, size, size + 8, generator=torch.Generator().manual_seed(seed))


def test_grown_model_computes_what_its_parent_does(tmp_path):
    parent, path = _parent(tmp_path)
    summary = grow.grow(path, tmp_path / "grown", extra=1, seed=3)
    grown, state = _load(tmp_path / "grown" / "checkpoint.pt")
    assert state["model_config"] == {**CONFIG, "extra": 1}
    assert state["step"] == 123 and state["training_info"]["grown"]["extra"] == 1
    # One new block (two convolutions) per side at each of the two levels.
    assert summary["new_tensors"] == 2 * 2 * 2
    sides, convs = 2, 2  # per new block: two 3x3 convolutions of the level's width (4, then 8)
    assert parameter_count(grown) == parameter_count(parent) + sides * convs * (4 * 4 * 9 + 8 * 8 * 9)
    x = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(grown(x), parent(x), rtol=0, atol=1e-6)
        # The new blocks are not empty: their first convolutions are drawn, only the second
        # ones start at zero, so training moves the output at once.
        new = grown.down[0][CONFIG["blocks"]]
        assert float(new.conv1.weight.abs().sum()) > 0 and float(new.conv2.weight.abs().sum()) == 0
        new.conv2.weight.normal_()
        assert float((grown(x) - parent(x)).abs().max()) > 1e-3


def test_growing_twice_and_reproducibility(tmp_path):
    parent, path = _parent(tmp_path)
    grow.grow(path, tmp_path / "a", extra=1, seed=3)
    grow.grow(path, tmp_path / "b", extra=1, seed=3)
    grow.grow(path, tmp_path / "c", extra=1, seed=4)
    a, b, c = (torch.load(str(tmp_path / k / "checkpoint.pt"), weights_only=False)["model"] for k in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same bits
    assert not torch.equal(a["down.0.1.conv1.weight"], c["down.0.1.conv1.weight"])

    grow.grow(tmp_path / "a", tmp_path / "aa", extra=2, seed=5)
    twice, state = _load(tmp_path / "aa" / "checkpoint.pt")
    assert state["model_config"]["extra"] == 3
    # The first growth's blocks keep their places and weights; the stride conv moved to the end.
    assert torch.equal(state["model"]["down.1.1.conv1.weight"], a["down.1.1.conv1.weight"])
    assert torch.equal(state["model"]["down.1.4.weight"], a["down.1.2.weight"])
    x = _inputs(seed=2)
    with torch.no_grad():
        torch.testing.assert_close(twice(x), parent(x), rtol=0, atol=1e-6)


def test_the_grey_model_grown_by_one_block_fits_the_budget():
    # The shipped grey architecture plus one block per side at levels 0-2: 1.26 M parameters,
    # under the 2 M; fp32 + fp16 ~ 6 bytes a parameter, 7.5 MB.
    assert parameter_count(Denoiser(1, extra=1)) == 1_256_880
    assert parameter_count(Denoiser(1)) == 1_063_344
    assert "extra" not in Denoiser(1).config()  # older checkpoints' configurations still match


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match="extra"):
        Denoiser(1, extra=-1)
    _, path = _parent(tmp_path)
    with pytest.raises(ValueError, match="extra"):
        grow.grow(path, tmp_path / "x", extra=0)
    with pytest.raises(SystemExit):
        grow.main([str(tmp_path / "missing"), str(tmp_path / "y")])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="parent"):
        grow.grow(tmp_path / "junk.pt", tmp_path / "j", extra=1)
    # Nothing is written over an existing run, the parent's own folder included.
    grow.grow(path, tmp_path / "z", extra=1)
    before = (tmp_path / "z" / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="out"):
        grow.grow(path, tmp_path / "z", extra=1, seed=9)
    with pytest.raises(SystemExit):
        grow.main([str(tmp_path / "z"), str(tmp_path / "z")])
    assert (tmp_path / "z" / "checkpoint.pt").read_bytes() == before


def test_fine_tuning_an_ungrown_checkpoint_as_grown_says_how(tmp_path):
    from training import train

    _, path = _parent(tmp_path)
    model = Denoiser(**CONFIG, extra=1)
    with pytest.raises(SystemExit, match="training/grow.py"):
        train.load_checkpoint(path, model, torch.device("cpu"), "--init ")
    grow.grow(path, tmp_path / "g", extra=1)
    train.load_checkpoint(tmp_path / "g" / "checkpoint.pt", model, torch.device("cpu"), "--init ")
