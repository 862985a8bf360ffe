"""training/from_onnx.py: an exported float32 file back to a training checkpoint (torch and
onnx only: the training environment; CI skips it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import export, from_onnx, train  # noqa: E402
from training.model import Denoiser  # noqa: E402


def _exported(tmp_path, config=None):
    """A model with random weights everywhere (far from the identity), exported."""
    model = Denoiser(**(config or {"channels": 1, "width": 4, "levels": 2, "blocks": 1}))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    (tmp_path / "run").mkdir()
    export.export_all(model.eval(), tmp_path / "run", {"channels": model.channels}, threads=1)
    return model, tmp_path / "run"


@pytest.mark.parametrize("config", [{"channels": 1, "width": 4, "levels": 2, "blocks": 1},
                                    {"channels": 3, "width": 4, "levels": 2, "blocks": 1, "extra": 1}])
def test_the_weights_come_back_bit_for_bit(tmp_path, config):
    model, run = _exported(tmp_path, config)
    report = from_onnx.convert(run / "denoiser_fp32.onnx", tmp_path / "ck")
    assert report["relative_diff_vs_onnxruntime"] <= from_onnx.TOLERANCE
    state = torch.load(str(tmp_path / "ck" / "checkpoint.pt"), weights_only=False)
    assert state["model_config"] == model.config()
    for name, value in model.state_dict().items():
        assert torch.equal(state["model"][name], value), name
    # train.py --init accepts it.
    fresh = Denoiser(**config)
    train.load_checkpoint(tmp_path / "ck" / "checkpoint.pt", fresh, torch.device("cpu"), "--init ")
    x = torch.from_numpy(np.random.default_rng(1).random((1, config["channels"] + 1, 16, 16), dtype=np.float32))
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), model(x))


@pytest.mark.parametrize("config", [{"channels": 1, "width": 4, "levels": 2, "blocks": 1},
                                    {"channels": 3, "width": 4, "levels": 2, "blocks": 1}])
def test_float16_files_give_their_rounded_weights(tmp_path, config):
    model, run = _exported(tmp_path, config)
    report = from_onnx.convert(run / "denoiser_fp16.onnx", tmp_path / "ck", float16=True)
    assert report["relative_diff_vs_onnxruntime"] <= from_onnx.FLOAT16_TOLERANCE
    state = torch.load(str(tmp_path / "ck" / "checkpoint.pt"), weights_only=False)
    assert state["model_config"] == model.config()
    assert state["training_info"]["precision"].startswith("float16")
    for name, value in model.state_dict().items():
        assert state["model"][name].dtype == torch.float32
        assert torch.equal(state["model"][name], value.half().float()), name  # rounded, exactly
        assert not torch.equal(state["model"][name], value), name  # (and the rounding is real)


def test_refusals(tmp_path):
    _, run = _exported(tmp_path)
    with pytest.raises(ValueError, match="precision"):  # float16 weights were rounded
        from_onnx.convert(run / "denoiser_fp16.onnx", tmp_path / "a")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="model"):
        from_onnx.convert(tmp_path / "junk.onnx", tmp_path / "b")
    from_onnx.convert(run / "denoiser_fp32.onnx", tmp_path / "c")
    before = (tmp_path / "c" / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="out"):  # nothing is written over
        from_onnx.convert(run / "denoiser_fp32.onnx", tmp_path / "c")
    assert (tmp_path / "c" / "checkpoint.pt").read_bytes() == before
    with pytest.raises(SystemExit):
        from_onnx.main([str(tmp_path / "missing.onnx"), str(tmp_path / "d")])
    with pytest.raises(ValueError, match="--float16"):  # the refusal names the way out
        from_onnx.convert(run / "denoiser_fp16.onnx", tmp_path / "e")


def test_the_shipped_grey_model_converts(tmp_path):
    shipped = Path(__file__).resolve().parent.parent / "python/unblur/models/weights/denoiser_grey_fp32.onnx"
    report = from_onnx.convert(shipped, tmp_path / "grey")
    assert report["model"] == {"channels": 1, "width": 16, "levels": 3, "blocks": 2}
    assert report["relative_diff_vs_onnxruntime"] <= from_onnx.TOLERANCE


def test_the_shipped_rgb_model_converts_from_float16(tmp_path):
    shipped = Path(__file__).resolve().parent.parent / "python/unblur/models/weights/denoiser_rgb_fp16.onnx"
    report = from_onnx.convert(shipped, tmp_path / "rgb", float16=True)
    assert report["model"]["channels"] == 3
    assert report["relative_diff_vs_onnxruntime"] <= from_onnx.FLOAT16_TOLERANCE
