"""training/compare.py: the check that a training run reproduced the shipped model
(docs/training.md). Needs only onnx; no training runs here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import compare  # noqa: E402


def _model(path, weight, seconds, precision="float32"):
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.asarray(weight, np.float32), name="net.head.weight")
    node = helper.make_node("Mul", ["input", "net.head.weight"], ["output"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [2])], [w])
    model = helper.make_model(graph)
    for key, value in {"unblur.precision": precision,
                       "unblur.training": f'{{"seed": 0, "steps": 5000, "training_s": {seconds}}}'}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def test_same_weights_are_reported_identical_whatever_the_training_time(tmp_path, capsys):
    a = _model(tmp_path / "a.onnx", [0.5, -1.25], 2201.7)
    b = _model(tmp_path / "b.onnx", [0.5, -1.25], 1687.2)
    r = compare.compare(a, b)
    assert r["identical"] and r["tensors"] == 1 and r["mismatched"] == []
    assert set(r["metadata_differs"]) == {"unblur.training"}
    assert compare.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "bit-identical" in out and "training_s: 2201.7 vs 1687.2" in out


def test_one_ulp_of_difference_is_a_mismatch(tmp_path):
    w = np.array([0.5, -1.25], np.float32)
    a = _model(tmp_path / "a.onnx", w, 1.0)
    b = _model(tmp_path / "b.onnx", np.nextafter(w, np.float32(2)), 1.0)
    r = compare.compare(a, b)
    assert not r["identical"] and r["mismatched"] == ["net.head.weight"]
    assert r["max_abs_diff"] == pytest.approx(float(np.spacing(np.float32(1.25))), rel=1e-6)
    assert compare.main([str(a), str(b)]) == 1
