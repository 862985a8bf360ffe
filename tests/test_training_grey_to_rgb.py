"""training/grey_to_rgb.py: the RGB model started from a grey one computes the grey model's
output on grey images, differs on colour ones, and is made the same way every time (needs
torch: skipped in CI, run in the training environment with --noconftest)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import grey_to_rgb as g2r  # noqa: E402
from training.export import load_checkpoint  # noqa: E402
from training.model import Denoiser  # noqa: E402

CONFIG = {"channels": 1, "width": 4, "levels": 2, "blocks": 1}


def _checkpoint(tmp_path, config=CONFIG, seed=0, name="grey.pt"):
    """A checkpoint of a model whose every weight is random (head and tail too, so a
    misplaced weight shows in the output)."""
    model = Denoiser(**config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    path = tmp_path / name
    torch.save({"model": model.state_dict(), "model_config": model.config(), "step": 77,
                "training_info": {"channels": config["channels"]}}, str(path))
    return model.eval(), path


def test_rgb_model_computes_the_grey_one_on_grey_images(tmp_path):
    grey, path = _checkpoint(tmp_path)
    g2r.grey_to_rgb(path, tmp_path / "rgb")
    rgb, state = load_checkpoint(tmp_path / "rgb" / "checkpoint.pt")
    rgb.eval()
    assert state["model_config"] == {**CONFIG, "channels": 3}
    assert state["step"] == 77 and state["training_info"]["from_grey"]["parent_step"] == 77
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(3, 1, 16, 24, generator=gen)
    s = torch.rand(3, 1, 16, 24, generator=gen)  # a varying noise map too
    with torch.no_grad():
        want = grey(torch.cat([x, s], 1))
        got = rgb(torch.cat([x.repeat(1, 3, 1, 1), s], 1))
        # The random weights make outputs of some hundreds: float32 rounding (a third of
        # each input weight, summed over three channels) is relative to that.
        tol = 1e-5 * float(want.abs().max())
        for c in range(3):
            torch.testing.assert_close(got[:, c:c + 1], want, rtol=0, atol=tol)
        # A colour image: each channel keeps its own input (the residual) and gets the
        # correction of the channels' mean, so the outputs differ from channel to channel
        # by exactly the inputs' differences.
        xc = torch.rand(3, 3, 16, 24, generator=gen)
        out = rgb(torch.cat([xc, s], 1))
        corr = grey.correction(torch.cat([xc.mean(1, keepdim=True), s], 1))
        torch.testing.assert_close(out, xc + corr, rtol=0, atol=1e-5 * float(corr.abs().max()))
        assert float((out[:, 0] - out[:, 1]).abs().max()) > 1e-2


def test_same_bits_every_time(tmp_path):
    _, path = _checkpoint(tmp_path)
    g2r.grey_to_rgb(path, tmp_path / "a")
    g2r.grey_to_rgb(path, tmp_path / "b")
    a = torch.load(str(tmp_path / "a" / "checkpoint.pt"), weights_only=False)["model"]
    b = torch.load(str(tmp_path / "b" / "checkpoint.pt"), weights_only=False)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_refusals(tmp_path):
    _, path = _checkpoint(tmp_path)
    _, rgb_path = _checkpoint(tmp_path, {**CONFIG, "channels": 3}, name="rgb.pt")
    with pytest.raises(ValueError, match="3-channel"):
        g2r.grey_to_rgb(rgb_path, tmp_path / "x")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="grey"):
        g2r.grey_to_rgb(tmp_path / "junk.pt", tmp_path / "j")
    with pytest.raises(SystemExit):
        g2r.main([str(tmp_path / "missing"), str(tmp_path / "y")])
    (tmp_path / "a_file").write_bytes(b"mine")
    with pytest.raises(ValueError, match="out: .* is a file"):
        g2r.grey_to_rgb(path, tmp_path / "a_file")
    with pytest.raises(SystemExit):
        g2r.main([str(path), str(tmp_path / "a_file")])
    assert (tmp_path / "a_file").read_bytes() == b"mine"
    # Nothing is written over an existing run.
    g2r.grey_to_rgb(path, tmp_path / "z")
    before = (tmp_path / "z" / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="out"):
        g2r.grey_to_rgb(path, tmp_path / "z")
    with pytest.raises(SystemExit):
        g2r.main([str(path), str(tmp_path / "z")])
    assert (tmp_path / "z" / "checkpoint.pt").read_bytes() == before
