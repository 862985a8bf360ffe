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


def _save(path, model, config, init):
    info = {"channels": 1} if init is None else {"init": {"checkpoint": str(init), "step": 0}, "channels": 1}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "model_config": config, "training_info": info}, str(path))


def test_average_many_is_the_weighted_sum_in_order():
    g = torch.Generator().manual_seed(1)
    states = [{"w": torch.randn(3, 5, generator=g), "n": torch.tensor(k)} for k in range(3)]
    out = soup.average_many(states, [0.2, 0.3, 0.5])
    want = ((0.2 * states[0]["w"].double() + 0.3 * states[1]["w"].double()) + 0.5 * states[2]["w"].double()).float()
    assert torch.equal(out["w"], want) and int(out["n"]) == 0
    # Two models: the same bits as the two-model average.
    assert torch.equal(soup.average_many(states[:2], [0.75, 0.25])["w"], soup.average(states[0], states[1], 0.25)["w"])
    with pytest.raises(ValueError, match="shapes"):
        soup.average_many([states[0], states[1], {"w": torch.zeros(2, 2), "n": torch.tensor(0)}], [0.2, 0.3, 0.5])


def test_soup_of_a_parent_and_three_fine_tunes(tmp_path):
    from training.model import Denoiser

    config = {"channels": 1, "width": 4, "levels": 1, "blocks": 1}
    torch.manual_seed(5)
    models = [Denoiser(**config) for _ in range(4)]
    parent = tmp_path / "parent" / "checkpoint.pt"
    _save(parent, models[0], config, None)
    runs = [parent.parent]
    for k in (1, 2, 3):
        _save(tmp_path / f"ft{k}" / "checkpoint.pt", models[k], config, parent)
        runs.append(tmp_path / f"ft{k}")
    weights = [0.3, 0.7 / 3, 0.7 / 3, 0.7 / 3]
    soup.soup_many(tmp_path / "out", runs, weights)
    state = torch.load(str(tmp_path / "out" / "checkpoint.pt"), weights_only=False)
    want = soup.average_many([m.state_dict() for m in models], weights)
    for name, value in state["model"].items():
        assert torch.equal(value, want[name])
    assert state["training_info"]["soup"]["weights"] == weights and len(state["training_info"]["soup"]["models"]) == 4
    assert (tmp_path / "out" / "denoiser_fp32.onnx").is_file()
    # The siblings alone are fine too; a fine-tune of another model among them is not.
    soup.soup_many(tmp_path / "siblings", runs[1:], [0.5, 0.25, 0.25])
    _save(tmp_path / "stray" / "checkpoint.pt", models[3], config, tmp_path / "elsewhere.pt")
    with pytest.raises(ValueError, match="different parents"):
        soup.soup_many(tmp_path / "bad", runs[:3] + [tmp_path / "stray"], weights)
    # Weights must be one per model, >= 0, summing to 1.
    for bad in ([0.5, 0.5], [0.5, 0.5, 0.5, -0.5], [0.3, 0.3, 0.3, 0.3], [0.3, 0.7, 0.0, float("nan")]):
        with pytest.raises(ValueError, match="weight"):
            soup.soup_many(tmp_path / "bad", runs, bad)


def test_soup_refuses_models_trained_from_scratch(tmp_path):
    # Two models without a recorded parent are not in one basin, even though their
    # (missing) parents compare equal.
    from training.model import Denoiser

    config = {"channels": 1, "width": 4, "levels": 1, "blocks": 1}
    for k in range(2):
        _save(tmp_path / f"{k}.pt", Denoiser(**config), config, None)
    with pytest.raises(ValueError, match="different parents"):
        soup.soup(tmp_path / "out", tmp_path / "0.pt", tmp_path / "1.pt", 0.5)


def test_command_line_refusals(tmp_path, capsys):
    from training.model import Denoiser

    config = {"channels": 1, "width": 4, "levels": 1, "blocks": 1}
    for k in range(3):
        _save(tmp_path / f"{k}.pt", Denoiser(**config), config, "parent.pt")
    runs = [str(tmp_path / f"{k}.pt") for k in range(3)]
    cases = [
        ([runs[0], "--weight", "0.5"], "two or more runs"),
        (runs + ["--weight", "0.5"], "exactly two runs"),
        (runs[:2] + ["--weight", "1.5"], "in \\[0, 1\\]"),
        (runs + ["--weights", "0.5", "0.5"], "2 weight\\(s\\) for 3 runs"),
        (runs + ["--weights", "0.5", "0.5", "0.5"], "sum to 1"),
        (runs + ["--weights", "0.5", "0.5", "nan"], "sum to 1"),
        (runs[:2] + ["--weight", "nan"], "in \\[0, 1\\]"),
        (runs[:2] + [str(tmp_path / "missing.pt"), "--weights", "0.2", "0.3", "0.5"], "no checkpoint"),
        (runs[:2], "one of the arguments --weight --weights is required"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit):
            soup.main([str(tmp_path / "out")] + args)
        assert __import__("re").search(message, capsys.readouterr().err), (args, message)
    assert not (tmp_path / "out").exists()
    assert soup.main([str(tmp_path / "out")] + runs + ["--weights", "0.2", "0.3", "0.5", "--threads", "1"]) == 0
    # Nothing is overwritten: not a soup made before, not one of the runs.
    before = (tmp_path / "out" / "checkpoint.pt").read_bytes()
    with pytest.raises(SystemExit):
        soup.main([str(tmp_path / "out")] + runs[:2] + ["--weight", "0.5"])
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "out" / "checkpoint.pt").read_bytes() == before
    with pytest.raises(FileExistsError, match="out"):
        soup.soup(tmp_path / "out", tmp_path / "0.pt", tmp_path / "1.pt", 0.5)
    assert (tmp_path / "out" / "checkpoint.pt").read_bytes() == before
