"""training/soup.py: the weight average and its refusals (needs torch: skipped in CI,
run in the training environment with --noconftest)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import soup  # noqa: E402


def test_average_is_the_weighted_mean_in_float64():
    g = torch.Generator().manual_seed(0)
    a = {"w": torch.randn(4, 3, generator=g), "steps": torch.tensor(7)}
    b = {"w": torch.randn(4, 3, generator=g), "steps": torch.tensor(9)}
    out = soup.average(a, b, 0.25)
    want = (0.75 * a["w"].double() + 0.25 * b["w"].double()).float()
    assert torch.equal(out["w"], want) and out["w"].dtype == torch.float32
    assert int(out["steps"]) == 7  # integer buffers come from the first model
    assert torch.equal(soup.average(a, b, 0.0)["w"], a["w"])
    assert torch.equal(soup.average(a, b, 1.0)["w"], b["w"])


def test_average_refuses_different_models():
    a = {"w": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match="tensors differ"):
        soup.average(a, {"v": torch.zeros(2, 2)}, 0.5)
    with pytest.raises(ValueError, match="shapes"):
        soup.average(a, {"w": torch.zeros(2, 3)}, 0.5)


def test_soup_of_two_checkpoints(tmp_path):
    from training.model import Denoiser

    config = {"channels": 1, "width": 4, "levels": 1, "blocks": 1}
    models = [Denoiser(**config) for _ in range(2)]
    for k, m in enumerate(models):
        torch.manual_seed(k)
        for p in m.parameters():
            torch.nn.init.normal_(p)
        info = {"init": {"checkpoint": "parent.pt", "step": 10}, "channels": 1}
        torch.save({"model": m.state_dict(), "model_config": config, "training_info": info}, str(tmp_path / f"{k}.pt"))
    soup.soup(tmp_path / "out", tmp_path / "0.pt", tmp_path / "1.pt", 0.5)
    state = torch.load(str(tmp_path / "out" / "checkpoint.pt"), weights_only=False)
    for name, value in state["model"].items():
        a, b = models[0].state_dict()[name], models[1].state_dict()[name]
        if value.is_floating_point():
            assert torch.equal(value, (0.5 * a.double() + 0.5 * b.double()).to(a.dtype))
    assert (tmp_path / "out" / "denoiser_fp32.onnx").is_file()
    assert state["step"] == 0 and state["training_info"]["soup"]["weight"] == 0.5  # usable as train.py --init
    # Fine-tunes of different parents are refused.
    other = torch.load(str(tmp_path / "1.pt"), weights_only=False)
    other["training_info"]["init"]["checkpoint"] = "elsewhere.pt"
    torch.save(other, str(tmp_path / "2.pt"))
    with pytest.raises(ValueError, match="different parents"):
        soup.soup(tmp_path / "out2", tmp_path / "0.pt", tmp_path / "2.pt", 0.5)


def test_soup_of_a_model_and_its_own_fine_tune(tmp_path):
    # B fine-tuned from A's checkpoint (train.py --init A): allowed, either way round; a
    # model fine-tuned from something else is still refused.
    from training.model import Denoiser

    config = {"channels": 1, "width": 4, "levels": 1, "blocks": 1}
    torch.manual_seed(3)
    parent, child = Denoiser(**config), Denoiser(**config)
    (tmp_path / "a").mkdir()
    torch.save({"model": parent.state_dict(), "model_config": config, "training_info": {"channels": 1}},
               str(tmp_path / "a" / "checkpoint.pt"))
    info = {"init": {"checkpoint": str(tmp_path / "a" / "checkpoint.pt"), "step": 0}, "channels": 1}
    torch.save({"model": child.state_dict(), "model_config": config, "training_info": info}, str(tmp_path / "b.pt"))
    soup.soup(tmp_path / "s1", tmp_path / "a", tmp_path / "b.pt", 0.5)
    soup.soup(tmp_path / "s2", tmp_path / "b.pt", tmp_path / "a" / "checkpoint.pt", 0.5)
    s1 = torch.load(str(tmp_path / "s1" / "checkpoint.pt"), weights_only=False)["model"]
    s2 = torch.load(str(tmp_path / "s2" / "checkpoint.pt"), weights_only=False)["model"]
    for name in s1:
        assert torch.equal(s1[name], s2[name])
    info["init"]["checkpoint"] = str(tmp_path / "elsewhere.pt")
    torch.save({"model": child.state_dict(), "model_config": config, "training_info": info}, str(tmp_path / "c.pt"))
    with pytest.raises(ValueError, match="different parents"):
        soup.soup(tmp_path / "s3", tmp_path / "a", tmp_path / "c.pt", 0.5)
