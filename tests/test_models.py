"""unblur.models: the denoiser contract and its checker, and the Runner (padding to the
model's multiple, tiling, batching, the dtype / shape policy, sigma as a number or a
map) on ONNX Runtime's CPU provider, against NumPy references of tiny networks that the
tests build with onnx.helper; the IOBinding code on the CuPy stand-in (host buffers);
the GPU backends (ONNX Runtime's CUDA provider, TensorRT) where a GPU exists."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import types

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="unblur.models runs ONNX models with onnxruntime, which is not "
                                                "installed (pip install onnxruntime)")
onnx = pytest.importorskip("onnx", reason="these tests build their models with onnx.helper, and onnx is not "
                                          "installed (pip install onnx)")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from unblur import models  # noqa: E402
from unblur.models import _contract, _runner, _tensorrt, _tiling  # noqa: E402
from unblur.models._contract import Tensor  # noqa: E402
from unblur.models._onnxruntime import IOBindingBackend, cuda_provider_available  # noqa: E402

# The model runs in float32 and the references in float64: a few dozen products of
# terms below 1 per output.
ATOL32 = 1e-5


# ---- tiny models -------------------------------------------------------------------------------

def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _serialize(nodes, inputs, outputs, inits=(), metadata=None, check=True):
    graph = helper.make_graph(nodes, "unblur-test", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="unblur-tests")
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    if check:
        onnx.checker.check_model(model)
    return model.SerializeToString()


@dataclasses.dataclass
class ConvNet:
    """3 x 3 convolutions (zero padding) on the image and its noise map, ReLU between
    them, the result subtracted from the image (residual) or returned (not residual)."""

    channels: int
    layout: str
    weights: list  # [(W (out, in, 3, 3), b (out,)), ...]
    residual: bool
    fp16: bool = False
    multiple: int | None = None

    @property
    def radius(self):
        return len(self.weights)  # receptive-field radius: 1 pixel per 3 x 3 layer

    def onnx(self):
        c = self.channels
        f = TensorProto.FLOAT16 if self.fp16 else TensorProto.FLOAT
        nodes, inits = [], []
        if self.layout == "noise-input":
            inputs = [_vi("image", ["N", c, "H", "W"], f), _vi("sigma", ["N", 1, "H", "W"], f)]
            nodes.append(helper.make_node("Concat", ["image", "sigma"], ["v0"], axis=1))
            image = "image"
        else:
            inputs = [_vi("image_sigma", ["N", c + 1, "H", "W"], f)]
            nodes.append(helper.make_node("Identity", ["image_sigma"], ["v0"]))
            image = "image"
            for name, v in (("starts", [0]), ("ends", [c]), ("axes", [1])):
                inits.append(numpy_helper.from_array(np.array(v, dtype=np.int64), name))
            nodes.append(helper.make_node("Slice", ["image_sigma", "starts", "ends", "axes"], ["image"]))
        if self.fp16:
            nodes.append(helper.make_node("Cast", ["v0"], ["v0f"], to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Cast", ["image"], ["imagef"], to=TensorProto.FLOAT))
            v, image = "v0f", "imagef"
        else:
            v = "v0"
        for i, (w, b) in enumerate(self.weights):
            inits += [numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
                      numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
            nodes.append(helper.make_node("Conv", [v, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
            v = f"c{i}"
            if i < len(self.weights) - 1:
                nodes.append(helper.make_node("Relu", [v], [f"r{i}"]))
                v = f"r{i}"
        if self.residual:
            nodes.append(helper.make_node("Sub", [image, v], ["res"]))
            v = "res"
        nodes.append(helper.make_node("Cast" if self.fp16 else "Identity", [v], ["denoised"],
                                      **({"to": TensorProto.FLOAT16} if self.fp16 else {})))
        meta = {models.MULTIPLE_KEY: str(self.multiple)} if self.multiple else None
        return _serialize(nodes, inputs, [_vi("denoised", ["N", c, "H", "W"], f)], inits, meta)

    def reference(self, x, s):
        """x (N, C, H, W), s (N, 1, H, W) -> (N, C, H, W), in float64."""
        v = np.concatenate([x, s], axis=1).astype(np.float64)
        for i, (w, b) in enumerate(self.weights):
            p = np.pad(v, ((0, 0), (0, 0), (1, 1), (1, 1)))
            win = np.lib.stride_tricks.sliding_window_view(p, (3, 3), axis=(2, 3))  # (N, I, H, W, 3, 3)
            v = np.einsum("nihwab,oiab->nohw", win, w.astype(np.float64)) + b[None, :, None, None]
            if i < len(self.weights) - 1:
                v = np.maximum(v, 0)
        return x - v if self.residual else v

    def seam_error_bound(self, vmax):
        """E: the most the output changes at a pixel near a tile's edge when the pixels
        beyond the edge read as zeros (the tile's own padding) instead of the image's,
        for inputs (image, noise map) of magnitude <= vmax. A first-layer pre-activation
        changes by at most vmax * max_o sum |W1[o]|; a hidden pixel beyond the edge is 0
        in the tile against relu(pre) <= |pre| <= that + |b1| in the whole image; the
        second layer multiplies by at most max_o sum |W2[o]|."""
        w1, b1 = self.weights[0]
        d = vmax * np.abs(w1).reshape(len(w1), -1).sum(axis=1).max()
        if len(self.weights) == 1:
            return float(d)
        w2, _ = self.weights[1]
        return float(np.abs(w2).reshape(len(w2), -1).sum(axis=1).max() * (d + np.abs(b1).max()))


def conv_net(channels, layout, hidden=None, *, residual=True, fp16=False, multiple=None, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [channels + 1] + ([hidden] if hidden else []) + [channels]
    weights = [(rng.normal(0, 0.15, (o, i, 3, 3)), rng.normal(0, 0.05, o)) for i, o in zip(sizes[:-1], sizes[1:])]
    return ConvNet(channels, layout, weights, residual, fp16, multiple)


NETS = {
    "rgb-2in-2layers": conv_net(3, "noise-input", hidden=4, seed=1),
    "rgb-1in": conv_net(3, "noise-channel", seed=2),
    "grey-1in-2layers": conv_net(1, "noise-channel", hidden=3, seed=3),
    "grey-2in": conv_net(1, "noise-input", residual=False, seed=4),
}
_RUNNERS = {}


def runner_of(key):
    if key not in _RUNNERS:
        _RUNNERS[key] = models.load(NETS[key].onnx())
    return _RUNNERS[key]


def block_model(channels, multiple=8, declare=True):
    """Needs H, W multiples of `multiple`: y = the block means of image + sigma, upsampled.
    Without a multiple, AveragePool floors and the output is smaller than the input."""
    c = channels
    nodes = [helper.make_node("Add", ["image", "sigma"], ["v"]),
             helper.make_node("AveragePool", ["v"], ["pooled"], kernel_shape=[multiple, multiple],
                              strides=[multiple, multiple]),
             helper.make_node("Resize", ["pooled", "", "scales"], ["denoised"], mode="nearest")]
    inits = [numpy_helper.from_array(np.array([1, 1, multiple, multiple], dtype=np.float32), "scales")]
    meta = {models.MULTIPLE_KEY: str(multiple)} if declare else None
    return _serialize(nodes, [_vi("image", ["N", c, "H", "W"]), _vi("sigma", ["N", 1, "H", "W"])],
                      [_vi("denoised", ["N", c, "H", "W"])], inits, meta)


def block_reference(x, s, multiple):
    """x (N, C, H, W), s (N, 1, H, W): the contract's padding (reflect to multiples, crop back)."""
    n, c, h, w = x.shape
    hm, wm = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    v = x + s
    p = np.pad(v, ((0, 0), (0, 0), (0, hm - h), (0, wm - w)), mode="reflect") if (hm, wm) != (h, w) else v
    blocks = p.reshape(n, c, hm // multiple, multiple, wm // multiple, multiple).mean(axis=(3, 5))
    up = blocks.repeat(multiple, axis=2).repeat(multiple, axis=3)
    return up[:, :, :h, :w]


def nchw(image):
    """(H, W[, C]) or (N, H, W[, C]) with the model's C -> (N, C, H, W)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = a[None, :, :, None]
    elif a.ndim == 3:
        a = a[None]
    return a.transpose(0, 3, 1, 2)


def reference(net, image, sigma):
    """The network on an (H, W, C) or (N, H, W, C) image, as the Runner returns it."""
    x = nchw(image)
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), x[:, :1].shape[:1] + x.shape[2:])[:, None]
    y = net.reference(x, s).transpose(0, 2, 3, 1)
    return y.reshape(np.shape(image))


def rgb_or_grey(rng, channels, shape):
    return rng.random(shape + ((channels,) if channels > 1 else ()))


# ---- the contract ---------------------------------------------------------------------------------

def T(name, shape, dtype="float32"):
    return Tensor(name, tuple(shape) if shape is not None else None, dtype)


X3 = T("x", ["N", 3, "H", "W"])
S1 = T("s", ["N", 1, "H", "W"])
Y3 = T("y", ["N", 3, "H", "W"])


def test_contract_of_both_layouts():
    c = _contract.check([X3, S1], [Y3], {})
    assert (c.layout, c.channels, c.multiple, c.max_batch, c.input_names) == ("noise-input", 3, 1, None, ("x", "s"))
    c = _contract.check([T("xs", [None, 2, None, None], "float16")], [T("y", [None, None, None, None], "float16")],
                        {models.MULTIPLE_KEY: "8"})
    assert (c.layout, c.channels, c.multiple, c.dtype) == ("noise-channel", 1, 8, "float16")
    c = _contract.check([T("x", [1, 3, "H", "W"]), T("s", [1, 1, "H", "W"])], [T("y", [1, 3, "H", "W"])], {})
    assert c.max_batch == 1


@pytest.mark.parametrize(("inputs", "outputs", "meta", "match"), [
    ([X3, S1, T("t", ["N", 1, "H", "W"])], [Y3], {}, r"1 input .* or 2 inputs .*, got 3: 'x', 's', 't'"),
    ([], [Y3], {}, r"got 0: none"),
    ([X3, S1], [Y3, T("z", ["N", 3, "H", "W"])], {}, r"exactly 1 output .*got 2"),
    ([T("x", ["N", "H", "W"]), S1], [Y3], {}, r"input 0 \('x'\) must have rank 4 \(N, C, H, W\), got rank 3"),
    ([X3, T("s", None)], [Y3], {}, r"input 1 \('s'\) must have rank 4 .* got an unknown rank"),
    ([X3, S1], [T("y", ["N", "H", "W"])], {}, r"the output \('y'\) must have rank 4"),
    ([T("x", ["N", 3, 64, "W"]), S1], [Y3], {}, r"input 0 \('x'\) has a fixed height 64 .*must be\s+dynamic"),
    ([X3, T("s", ["N", 1, "H", 32])], [Y3], {}, r"input 1 \('s'\) has a fixed width 32"),
    ([X3, S1], [T("y", ["N", 3, 64, 64])], {}, r"the output \('y'\) has a fixed height 64"),
    ([T("x", [2, 3, "H", "W"]), S1], [Y3], {}, r"fixed batch size 2"),
    ([T("x", ["N", 2, "H", "W"]), S1], [Y3], {}, r"the image, must have 1 or 3 channels, got 2"),
    ([T("x", ["N", "C", "H", "W"]), S1], [Y3], {}, r"must have a fixed channel count, got 'C'"),
    ([X3, T("s", ["N", 3, "H", "W"])], [Y3], {}, r"the noise map, must have 1 channel \(N, 1, H, W\), got 3"),
    ([T("x", ["N", 3, "H", "W"])], [T("y", ["N", 2, "H", "W"])], {}, r"plus\s+the noise map \(2 or 4 channels\), got 3"),
    ([T("x", ["N", 5, "H", "W"])], [Y3], {}, r"\(2 or 4 channels\), got 5"),
    ([X3, S1], [T("y", ["N", 1, "H", "W"])], {}, r"must have the image's 3 channels, got 1"),
    ([T("x", ["N", 3, "H", "W"], "float64"), S1], [Y3], {}, r"input 0 \('x'\) must be float32 or float16, got float64"),
    ([X3, T("s", ["N", 1, "H", "W"], "int64")], [Y3], {}, r"input 1 .* got int64"),
    ([X3, S1], [T("y", ["N", 3, "H", "W"], "bfloat16")], {}, r"the output .* got bfloat16"),
    ([X3, S1], [Y3], {"unblur.multiple": "eight"}, r"'unblur.multiple' must be a positive integer .*'eight'"),
    ([X3, S1], [Y3], {"unblur.multiple": "0"}, r"'unblur.multiple' must be a positive integer"),
    ([X3, S1], [Y3], {"unblur.multiple": "8.0"}, r"'unblur.multiple' must be a positive integer"),
    ([X3, S1], [Y3], {"unblur.multiple": "1000000"}, r"at most 4096"),
])
def test_contract_errors_say_what_is_wrong(inputs, outputs, meta, match):
    with pytest.raises(ValueError, match="does not follow unblur's denoiser contract: .*" + match):
        _contract.check(inputs, outputs, meta)


def _identity_model(inputs, outputs, elem=TensorProto.FLOAT, metadata=None):
    """A graph whose outputs copy its first input (shapes as declared)."""
    nodes = [helper.make_node("Identity", [inputs[0][0]], [name]) for name, _ in outputs]
    return _serialize(nodes, [_vi(n, s, elem) for n, s in inputs], [_vi(n, s, elem) for n, s in outputs],
                      metadata=metadata)


def _conv1x1_model(channels_in, channels_out):
    w = numpy_helper.from_array(np.ones((channels_out, channels_in + 1, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Concat", ["image", "sigma"], ["v"], axis=1),
             helper.make_node("Conv", ["v", "w"], ["denoised"])]
    return _serialize(nodes, [_vi("image", ["N", channels_in, "H", "W"]), _vi("sigma", ["N", 1, "H", "W"])],
                      [_vi("denoised", ["N", channels_out, "H", "W"])], [w])


def _upsampling_model():
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    nodes = [helper.make_node("Add", ["image", "sigma"], ["v"]),
             helper.make_node("Resize", ["v", "", "scales"], ["denoised"], mode="nearest")]
    return _serialize(nodes, [_vi("image", ["N", 3, "H", "W"]), _vi("sigma", ["N", 1, "H", "W"])],
                      [_vi("denoised", ["N", 3, "H2", "W2"])], [scales])


def _space_to_depth_model():
    nodes = [helper.make_node("SpaceToDepth", ["image"], ["d"], blocksize=8),
             helper.make_node("DepthToSpace", ["d"], ["u"], blocksize=8),
             helper.make_node("Add", ["u", "sigma"], ["denoised"])]
    return _serialize(nodes, [_vi("image", ["N", 1, "H", "W"]), _vi("sigma", ["N", 1, "H", "W"])],
                      [_vi("denoised", ["N", 1, "H", "W"])])


NCHW = ["N", 3, "H", "W"]
BROKEN = {
    "three inputs": (lambda: _identity_model([("x", NCHW), ("s", ["N", 1, "H", "W"]), ("t", NCHW)], [("y", NCHW)]),
                     r"got 3: 'x', 's', 't'"),
    "two outputs": (lambda: _identity_model([("x", NCHW), ("s", ["N", 1, "H", "W"])], [("y", NCHW), ("z", NCHW)]),
                    r"exactly 1 output"),
    "rank 3": (lambda: _identity_model([("x", ["N", "H", "W"])], [("y", ["N", "H", "W"])]), r"must have rank 4"),
    "static size": (lambda: _identity_model([("x", ["N", 3, 64, 64]), ("s", ["N", 1, 64, 64])],
                                            [("y", ["N", 3, 64, 64])]), r"fixed height 64"),
    "batch of 2": (lambda: _identity_model([("x", [2, 3, "H", "W"]), ("s", [2, 1, "H", "W"])],
                                           [("y", [2, 3, "H", "W"])]), r"fixed batch size 2"),
    "two channels": (lambda: _identity_model([("x", ["N", 2, "H", "W"]), ("s", ["N", 1, "H", "W"])],
                                             [("y", ["N", 2, "H", "W"])]), r"must have 1 or 3 channels, got 2"),
    "dynamic channels": (lambda: _identity_model([("x", ["N", "C", "H", "W"]), ("s", ["N", 1, "H", "W"])],
                                                 [("y", ["N", "C", "H", "W"])]), r"fixed channel count, got 'C'"),
    "3-channel noise map": (lambda: _identity_model([("x", NCHW), ("s", NCHW)], [("y", NCHW)]),
                            r"must have 1 channel \(N, 1, H, W\), got 3"),
    "one input of 3 channels": (lambda: _identity_model([("x", NCHW)], [("y", NCHW)]), r"\(2 or 4 channels\), got 3"),
    "float64": (lambda: _identity_model([("x", NCHW), ("s", ["N", 1, "H", "W"])], [("y", NCHW)], TensorProto.DOUBLE),
                r"must be float32 or float16, got float64"),
    "output channels": (lambda: _conv1x1_model(3, 1), r"must have the image's 3 channels, got 1"),
    "bad multiple": (lambda: _identity_model([("x", NCHW), ("s", ["N", 1, "H", "W"])], [("y", NCHW)],
                                             metadata={models.MULTIPLE_KEY: "-8"}), r"'unblur.multiple'"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("describe", ["onnxruntime", "onnx"])
def test_broken_models_are_refused(name, describe):
    build, match = BROKEN[name]
    data = build()
    if describe == "onnx":
        description = _contract.describe_onnx(data)
    else:
        description = _contract.describe_session(ort.InferenceSession(data, providers=["CPUExecutionProvider"]))
    with pytest.raises(ValueError, match=match):
        _contract.check(*description)
    with pytest.raises(ValueError, match="does not follow unblur's denoiser contract: .*" + match):
        models.load(data)


@pytest.mark.parametrize("key", sorted(NETS))
def test_both_descriptions_agree(key):
    data = NETS[key].onnx()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert _contract.describe_onnx(data) == _contract.describe_session(session)
    data = block_model(3)
    assert _contract.describe_onnx(data)[2] == {models.MULTIPLE_KEY: "8"}


@pytest.mark.parametrize(("build", "match"), [
    (_upsampling_model, r"its output has shape \(1, 3, 32, 34\) for an input of shape \(1, 3, 16, 17\); it must be "
                        r"\(1, 3, 16, 17\); if H and W must be multiples"),
    (lambda: block_model(3, declare=False), r"its output has shape \(1, 3, 16, 16\) for an input of shape "
                                            r"\(1, 3, 16, 17\).*declare it in the metadata 'unblur.multiple'"),
    (_space_to_depth_model, r"the model fails on an input of shape \(1, 1, 16, 17\).*'unblur.multiple'"),
])
def test_load_runs_the_model_once_to_check_its_output(build, match):
    with pytest.raises(ValueError, match=match):
        models.load(build())


def test_load_refuses_what_is_not_a_model(tmp_path):
    with pytest.raises(ValueError, match="not an ONNX model"):
        models.load(b"\x08\x01garbage that is not a protobuf \xff\xff")
    with pytest.raises(ValueError, match="not an ONNX model"):
        _contract.describe_onnx(b"\x08\x01garbage that is not a protobuf \xff\xff")
    with pytest.raises(ValueError, match="path_or_bytes is empty"):
        models.load(b"")
    with pytest.raises(FileNotFoundError):
        models.load(tmp_path / "missing.onnx")


def test_load_from_a_path_and_its_attributes(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(block_model(3, multiple=4))
    for p in (path, str(path)):
        r = models.load(p)
        assert (r.channels, r.multiple, r.layout, r.dtype, r.input_names, r.output_name) == \
            (3, 4, "noise-input", np.float32, ("image", "sigma"), "denoised")
        assert r.backend == "auto" and "channels=3" in repr(r)


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"backend": "cuda"}, ValueError, r"backend must be one of \['auto', 'ort-cpu', 'ort-cuda', 'tensorrt'\]"),
    ({"backend": None}, TypeError, "backend must be a string"),
    ({"providers": "CPUExecutionProvider"}, TypeError, "providers must be a list"),
    ({"providers": [("CPUExecutionProvider", "fast")]}, TypeError, "providers must hold provider names"),
    ({"providers": ["CPUExecutionProvider"], "backend": "tensorrt"}, ValueError, "backend='tensorrt' takes none"),
    ({"cache_dir": 3}, TypeError, "cache_dir must be a path"),
    ({"max_tile": 0}, ValueError, "max_tile must be >= 1"),
    ({"max_batch": 2.5}, TypeError, "max_batch must be an int"),
])
def test_load_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        models.load(NETS["grey-2in"].onnx(), **kwargs)


def test_providers_reach_onnx_runtime(rng):
    r = models.load(NETS["grey-2in"].onnx(), backend="ort-cpu", providers=[("CPUExecutionProvider", {})])
    assert r._cpu.session.get_providers() == ["CPUExecutionProvider"]
    image = rng.random((9, 11))
    np.testing.assert_array_equal(r(image, 0.1), runner_of("grey-2in")(image, 0.1))


def test_load_rejects_a_path_of_the_wrong_type():
    with pytest.raises(TypeError, match="path_or_bytes must be a path"):
        models.load(12)


# ---- results against the NumPy references ------------------------------------------------------

@pytest.mark.parametrize("key", sorted(NETS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_equal_the_reference(rng, key, dtype):
    net, r = NETS[key], runner_of(key)
    image = rgb_or_grey(rng, net.channels, (23, 31)).astype(dtype)
    sigma = float(rng.uniform(0, 0.2))
    got = r(image, sigma)
    assert got.shape == image.shape and got.dtype == dtype
    np.testing.assert_allclose(got, reference(net, image, sigma), rtol=0, atol=ATOL32)


@pytest.mark.parametrize("key", ["rgb-2in-2layers", "grey-1in-2layers"])
def test_sigma_as_a_map(rng, key):
    net, r = NETS[key], runner_of(key)
    image = rgb_or_grey(rng, net.channels, (20, 27))
    sigma = rng.uniform(0, 0.3, (20, 27))
    np.testing.assert_allclose(r(image, sigma), reference(net, image, sigma), rtol=0, atol=ATOL32)
    # a trailing channel axis of size 1, and broadcasting (one level per row)
    np.testing.assert_array_equal(r(image, sigma[..., None]), r(image, sigma))
    if net.channels == 1:
        np.testing.assert_array_equal(r(image[..., None], sigma[..., None]), r(image, sigma)[..., None])
    rows = rng.uniform(0, 0.3, (20, 1))
    np.testing.assert_array_equal(r(image, rows), r(image, np.broadcast_to(rows, (20, 27)).copy()))
    # a scalar is the constant map, bit for bit
    np.testing.assert_array_equal(r(image, 0.07), r(image, np.full((20, 27), 0.07)))
    np.testing.assert_array_equal(r(image, np.float32(0.07)), r(image, np.array(0.07)))


def test_sigma_per_image_of_a_batch(rng):
    net, r = NETS["rgb-1in"], runner_of("rgb-1in")
    batch = rng.random((3, 12, 15, 3))
    levels = np.array([0.0, 0.1, 0.25]).reshape(3, 1, 1)
    got = r(batch, levels)
    for k in range(3):
        np.testing.assert_allclose(got[k], reference(net, batch[k], float(levels[k, 0, 0])), rtol=0, atol=ATOL32)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("shape", [(21, 30), (8, 8), (3, 5), (1, 9), (17, 1)])
def test_padding_to_the_multiple(rng, channels, shape):
    """The block model needs multiples of 8: the runner reflects the image to them and
    crops back, as block_reference does with numpy.pad(mode='reflect')."""
    r = models.load(block_model(channels))
    image = rgb_or_grey(rng, channels, shape)
    sigma = rng.uniform(0, 0.1, shape)
    got = r(image, sigma)
    want = block_reference(nchw(image), sigma[None, None], 8).transpose(0, 2, 3, 1).reshape(image.shape)
    assert got.shape == image.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_fp16_model(rng):
    net = dataclasses.replace(NETS["rgb-2in-2layers"], fp16=True)
    r = models.load(net.onnx())
    assert r.dtype == np.float16
    image = rng.random((19, 22, 3)).astype(np.float32)
    got = r(image, 0.1)
    assert got.dtype == np.float32
    # float16 inputs and outputs: a relative rounding of 2^-11 on values of order 1
    np.testing.assert_allclose(got, reference(net, image, 0.1), rtol=0, atol=4e-3)


# ---- tiling ---------------------------------------------------------------------------------------

def test_tile_layouts_and_windows(rng):
    """Tiles cover the axis, have one size (a multiple of m, at most `tile`), start at
    multiples of m, overlap by at least `overlap`; the normalised windows sum to 1; the
    raw sum is >= 1 so that each normalised weight is at most its raw raised cosine,
    which is at most sin²(π (j + ½) / (2 overlap)) at j pixels from an interior edge."""
    for _ in range(400):
        m = int(rng.choice([1, 2, 8]))
        tile = m * int(rng.integers(1, 24))
        overlap = int(rng.integers(0, tile - m + 1))
        length = m * int(rng.integers(1, 60))
        size, starts = _tiling.axis_layout(length, tile, overlap, m)
        assert starts[0] == 0 and starts[-1] + size == length and np.all(np.diff(starts) > 0)
        if len(starts) > 1:
            assert size <= tile and size % m == 0 and np.all(starts % m == 0)
            assert np.all(starts[:-1] + size - starts[1:] >= overlap)
        norm, raw = _tiling.axis_windows(length, size, starts)
        total, raw_total = np.zeros(length), np.zeros(length)
        for k, a in enumerate(starts):
            total[a:a + size] += norm[k]
            raw_total[a:a + size] += raw[k]
        np.testing.assert_allclose(total, 1, rtol=0, atol=1e-12)
        assert raw_total.min() >= 1 - 1e-12
        assert np.all(norm <= raw + 1e-12)
        if overlap:
            j = np.arange(min(overlap, size))
            edge = np.sin(np.pi * (j + 0.5) / (2 * overlap)) ** 2
            for k in range(1, len(starts)):  # rising edges inside the image
                assert np.all(norm[k, :len(j)] <= edge + 1e-12)
            for k in range(len(starts) - 1):  # falling edges
                assert np.all(norm[k, size - len(j):][::-1] <= edge + 1e-12)


def _near_seams(length, size, starts, radius):
    """Pixels of an axis within `radius` of an edge of a tile covering them, inside the image."""
    near = np.zeros(length, bool)
    for k, a in enumerate(starts):
        if k > 0:
            near[a:a + radius] = True
        if k < len(starts) - 1:
            near[a + size - radius:a + size] = True
    return near


def test_tiled_equals_untiled_within_the_seam_bound(rng):
    """The bound of unblur/models/_tiling.py: |tiled - untiled| <= 4 sin²(π (R - ½) / (2
    overlap)) E, with R the receptive-field radius (2 for two 3 x 3 layers), E the most a
    tile's output differs from the untiled one (near its edges, where its network sees
    zeros beyond the tile), and 4 the tiles (2 per axis at most) whose edge a pixel can
    be near; plus float32 rounding. E is checked both ways: the a-priori bound of
    ConvNet.seam_error_bound (loose: every weight at its worst sign) and the largest
    error of the very tiles used, each run alone (tight). Away from the seams (farther
    than R from the edges of the tiles covering a pixel) the results agree to rounding."""
    key = "rgb-2in-2layers"
    net, r = NETS[key], runner_of(key)
    h, w = 90, 75
    image = rng.random((h, w, 3))
    sigma = rng.uniform(0, 0.2, (h, w))
    untiled = r(image, sigma)
    e_prior = net.seam_error_bound(vmax=1.0)
    errors = {}
    for tile, overlap in ((32, 0), (32, 8), (32, 16), (40, 12)):
        th, ty = _tiling.axis_layout(h, tile, overlap)
        tw, tx = _tiling.axis_layout(w, tile, overlap)
        assert len(ty) * len(tx) >= 9
        e_tiles = max(float(np.abs(r(image[a:a + th, b:b + tw], sigma[a:a + th, b:b + tw])
                                   - untiled[a:a + th, b:b + tw]).max()) for a in ty for b in tx)
        assert e_tiles <= e_prior
        tiled = r(image, sigma, tile=tile, overlap=overlap)
        err = np.abs(tiled - untiled).max(axis=-1)
        errors[overlap] = float(err.max())
        factor = 4 * _tiling.window_bound(net.radius, overlap)
        assert errors[overlap] <= factor * e_tiles + ATOL32, (tile, overlap, errors[overlap], factor * e_tiles)
        assert errors[overlap] <= factor * e_prior + ATOL32
        far = ~_near_seams(h, th, ty, net.radius)[:, None] & ~_near_seams(w, tw, tx, net.radius)[None, :]
        assert err[far].max() <= 1e-6 and err[~far].max() > 1e-4
    assert errors[16] < errors[8] < errors[0] and errors[16] < errors[0] / 10


def test_tiles_keep_the_models_block_grid(rng):
    """Tiles start at multiples of the model's multiple, so the block model (no
    interaction beyond its 8 x 8 blocks) gives the untiled result exactly."""
    r = models.load(block_model(1))
    image = rng.random((70, 53))
    np.testing.assert_allclose(r(image, 0.05, tile=24, overlap=8), r(image, 0.05), rtol=0, atol=1e-6)


def test_one_tile_is_the_untiled_result(rng):
    r = runner_of("grey-2in")
    image = rng.random((40, 33))
    np.testing.assert_array_equal(r(image, 0.1, tile=40, overlap=8), r(image, 0.1))


def test_max_tile_tiles_automatically(rng):
    data = NETS["grey-2in"].onnx()
    image = rng.random((70, 45))
    limited = models.load(data, max_tile=32)
    np.testing.assert_array_equal(limited(image, 0.1, overlap=8), runner_of("grey-2in")(image, 0.1, tile=32, overlap=8))
    with pytest.raises(ValueError, match="tile must be <= 32"):
        limited(image, 0.1, tile=64)


# ---- batching, dtypes and shapes ------------------------------------------------------------------

def test_a_small_max_tile_tiles_with_the_default_overlap(rng):
    """load(max_tile=16): images larger than 16 are tiled without a tile= given, so the
    default overlap (32) must not be refused against a tile the caller never chose; it
    becomes the largest the automatic tile allows (tile - multiple)."""
    for model, m in ((NETS["grey-2in"].onnx(), 1), (block_model(1), 8)):
        r = models.load(model, max_tile=24)
        image = rng.random((40, 44)).astype(np.float32)
        np.testing.assert_array_equal(r(image, 0.1), r(image, 0.1, tile=24, overlap=24 - m))
    with pytest.raises(ValueError, match="overlap must be"):  # a tile the caller chose stays strict
        r(image, 0.1, tile=24)


def test_batches_give_the_results_of_single_images(rng):
    r = runner_of("rgb-2in-2layers")
    batch = rng.random((5, 24, 20, 3)).astype(np.float32)
    singles = np.stack([r(im, 0.1) for im in batch])
    for b in (None, 1, 2, 5, 9):
        np.testing.assert_allclose(r(batch, 0.1, batch=b), singles, rtol=0, atol=1e-6)
    # tiles of several images, batched across images
    tiled = np.stack([r(im, 0.1, tile=16, overlap=4) for im in batch])
    for b in (1, 3, 7):
        np.testing.assert_allclose(r(batch, 0.1, tile=16, overlap=4, batch=b), tiled, rtol=0, atol=1e-6)


def test_an_output_batch_fixed_at_1_runs_one_image_or_tile_at_a_time(rng):
    """'N dynamic or fixed at 1': an output declared (1, C, H, W) (dynamic axes given
    for the inputs only) is a model of batch 1, so batches and tiles run one by one
    rather than failing on the output's shape."""
    nodes = [helper.make_node("Add", ["image", "sigma"], ["a"]),
             helper.make_node("ReduceMean", ["a"], ["denoised"], axes=[0], keepdims=1)]
    m = _serialize(nodes, [_vi("image", ["N", 1, "H", "W"]), _vi("sigma", ["N", 1, "H", "W"])],
                   [_vi("denoised", [1, 1, "H", "W"])], check=False)
    r = models.load(m)
    assert r.contract.max_batch == 1
    batch = rng.random((3, 16, 18)).astype(np.float32)
    np.testing.assert_allclose(r(batch, 0.1), batch + np.float32(0.1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(r(batch, 0.1, tile=8, overlap=2, batch=4), batch + np.float32(0.1), rtol=0,
                               atol=1e-6)


def test_grey_shapes(rng):
    r = runner_of("grey-1in-2layers")
    image = rng.random((14, 19))
    want = r(image, 0.1)
    assert want.shape == (14, 19)
    np.testing.assert_array_equal(r(image[..., None], 0.1), want[..., None])  # (H, W, 1)
    batch = np.stack([image, image[::-1]])
    got = r(batch, 0.1)  # (N, H, W)
    assert got.shape == (2, 14, 19)
    np.testing.assert_allclose(got[0], want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got[1], r(image[::-1].copy(), 0.1), rtol=0, atol=1e-6)
    assert r(batch[..., None], 0.1).shape == (2, 14, 19, 1)


@pytest.mark.parametrize(("dtype", "out"), [(np.float32, np.float32), (np.float64, np.float64),
                                            (np.float16, np.float32), (np.uint8, np.float32),
                                            (np.uint16, np.float32), (">f8", np.float64)])
def test_dtype_policy(rng, dtype, out):
    r = runner_of("rgb-1in")
    if np.dtype(dtype).kind == "u":
        top = np.iinfo(dtype).max
        image = rng.integers(0, top + 1, (10, 13, 3)).astype(dtype)
        scaled = image / top
    else:
        image = rng.random((10, 13, 3)).astype(dtype)
        scaled = image.astype(np.float64)
    got = r(image, 0.05)
    assert got.dtype == out and got.shape == image.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, r(scaled, 0.05), rtol=0, atol=2e-6)


def test_non_contiguous_input(rng):
    r = runner_of("rgb-1in")
    base = rng.random((30, 40, 3))
    view = base[::2, ::3]
    np.testing.assert_array_equal(r(view, 0.1), r(view.copy(), 0.1))


# ---- argument errors ------------------------------------------------------------------------------

IMG = np.zeros((12, 12, 3))


@pytest.mark.parametrize(("image", "sigma", "kwargs", "exc", "match"), [
    (None, 0.1, {}, TypeError, "image must be an array"),
    ("abc", 0.1, {}, TypeError, "image must be an array"),
    (IMG.astype(complex), 0.1, {}, TypeError, "image must be real"),
    (np.zeros(12), 0.1, {}, ValueError, r"image must be \(H, W\), \(H, W, C\), .* got 1 dimensions"),
    (np.zeros((1, 2, 3, 4, 3)), 0.1, {}, ValueError, "got 5 dimensions"),
    (np.zeros((12, 12)), 0.1, {}, ValueError, r"a grey image, but the model takes 3 channels"),
    (np.zeros((12, 12, 4)), 0.1, {}, ValueError, r"the model takes 3 channels on the last axis"),
    (np.zeros((2, 12, 12, 1)), 0.1, {}, ValueError, r"the model takes 3 channels"),
    (np.zeros((0, 12, 3)), 0.1, {}, ValueError, "image is empty"),
    (np.full((12, 12, 3), np.nan), 0.1, {}, ValueError, "image contains NaN"),
    (IMG, -0.1, {}, ValueError, "sigma must be >= 0"),
    (IMG, float("nan"), {}, ValueError, "sigma must be finite"),
    (IMG, "0.1", {}, TypeError, "sigma must be a real number or an array"),
    (IMG, None, {}, TypeError, "sigma must be a real number or an array"),
    (IMG, True, {}, TypeError, "sigma must be a real number or an array"),
    (IMG, 1j, {}, TypeError, "sigma must be a real number or an array"),
    (IMG, np.complex64(1), {}, TypeError, "sigma must be a real number or an array, got dtype complex64"),
    (IMG, np.zeros((12, 12), complex), {}, TypeError, "sigma must be a real array"),
    (IMG, np.zeros((12, 12), bool), {}, TypeError, "sigma must be a real array"),
    (IMG, np.zeros((12, 12, 3)), {}, ValueError, "one noise level per pixel"),
    (IMG, np.zeros((11, 12)), {}, ValueError, r"sigma of shape \(11, 12\) does not broadcast to the image's pixels "
                                             r"\(12, 12\)"),
    (IMG, np.full((12, 12), -1.0), {}, ValueError, "sigma must be >= 0"),
    (IMG, np.full((12, 12), np.inf), {}, ValueError, "sigma contains NaN or infinite"),
    (IMG, 10**400, {}, ValueError, "sigma must be finite"),
    (IMG, 0.1, {"tile": 0}, ValueError, "tile must be >= 1"),
    (IMG, 0.1, {"tile": 16.0}, TypeError, "tile must be an int"),
    (IMG, 0.1, {"tile": True}, TypeError, "tile must be an int"),
    (IMG, 0.1, {"tile": 16, "overlap": 16}, ValueError, r"overlap must be < tile \(16\)"),
    (IMG, 0.1, {"tile": 16, "overlap": -1}, ValueError, "overlap must be >= 0"),
    (IMG, 0.1, {"overlap": 2.0}, TypeError, "overlap must be an int"),
    (IMG, 0.1, {"overlap": False}, TypeError, "overlap must be an int"),
    (IMG, 0.1, {"batch": 0}, ValueError, "batch must be >= 1"),
    (IMG, 0.1, {"batch": "2"}, TypeError, "batch must be an int"),
])
def test_invalid_arguments_name_the_argument(image, sigma, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        runner_of("rgb-1in")(image, sigma, **kwargs)


@pytest.mark.parametrize(("fp16", "image_scale", "sigma", "match"), [
    (False, 1e300, 0.1, "image has values beyond the model's float32 range"),
    (False, 1.0, 1e300, "sigma has values beyond the model's float32 range"),
    (False, 1.0, np.full((12, 12), 1e300), "sigma has values beyond the model's float32 range"),
    (True, 1e6, 0.1, "image has values beyond the model's float16 range"),
    (True, 1.0, 1e6, "sigma has values beyond the model's float16 range"),
])
def test_values_the_models_precision_cannot_hold_are_refused(fp16, image_scale, sigma, match):
    """Finite input that the cast to the model's element type would turn into inf (and
    the output into NaN / inf) is a ValueError naming the argument, not a silent inf."""
    r = models.load(dataclasses.replace(NETS["rgb-1in"], fp16=fp16).onnx())
    image = np.full((12, 12, 3), 0.5) * image_scale
    with pytest.raises(ValueError, match=match):
        r(image, sigma)
    with pytest.raises(ValueError, match=match):  # also through tiles
        r(image, sigma, tile=8, overlap=2)


def test_tile_must_fit_the_models_multiple():
    r = models.load(block_model(3))
    with pytest.raises(ValueError, match="tile must be a multiple of the model's multiple 8, got 20"):
        r(IMG, 0.1, tile=20)
    with pytest.raises(ValueError, match=r"overlap must be <= tile - 8 = 8 .*got 9"):
        r(IMG, 0.1, tile=16, overlap=9)


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"channels": ["grey"]}, TypeError, "channels must be a string"),
    ({"channels": 3}, TypeError, "channels must be a string"),
    ({"channels": "cmyk"}, ValueError, "channels must be one of"),
    ({"precision": ["fp16"]}, TypeError, "precision must be a string"),
    ({"precision": "fp8"}, ValueError, "precision must be one of"),
])
def test_shipped_model_arguments_are_named(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        models.shipped_model(**kwargs)
    with pytest.raises(exc, match=match):
        models.denoiser(**kwargs)


# ---- backends ------------------------------------------------------------------------------------

def test_available_backends():
    a = models.available_backends()
    assert set(a) == {"ort-cpu", "ort-cuda", "tensorrt"} and a["ort-cpu"] is None
    assert all(v is None or isinstance(v, str) for v in a.values())


@pytest.mark.skipif(_tensorrt.tensorrt_available(), reason="TensorRT is installed")
def test_tensorrt_unavailable_is_a_clear_error():
    with pytest.raises(models.BackendUnavailableError, match=r"backend 'tensorrt' needs NVIDIA's TensorRT"):
        models.load(NETS["grey-2in"].onnx(), backend="tensorrt")


@pytest.mark.skipif(cuda_provider_available(), reason="ONNX Runtime's CUDA provider is installed")
def test_ort_cuda_unavailable_is_a_clear_error():
    with pytest.raises(models.BackendUnavailableError, match="needs ONNX Runtime's CUDA provider"):
        models.load(NETS["grey-2in"].onnx(), backend="ort-cuda")


def test_cpu_backend_takes_numpy_only(fake_cupy):
    r = models.load(NETS["grey-2in"].onnx(), backend="ort-cpu")
    with pytest.raises(TypeError, match="image is a CuPy array but backend 'ort-cpu' runs NumPy arrays"):
        r(fake_cupy.zeros((8, 8)), 0.1)


@pytest.mark.skipif(_tensorrt.tensorrt_available() or cuda_provider_available(), reason="a GPU backend is installed")
def test_auto_without_a_gpu_backend(fake_cupy):
    r = models.load(NETS["grey-2in"].onnx())
    with pytest.raises(models.BackendUnavailableError, match="CuPy arrays run on TensorRT or on ONNX Runtime's CUDA"):
        r(fake_cupy.zeros((8, 8)), 0.1)


def _host_iobinding_runner(cupy, key):
    """A Runner whose CuPy backend is the IOBinding backend bound to host memory: the
    stand-in's arrays are NumPy buffers, so ONNX Runtime's CPU provider reads and writes
    them through the very binding code the CUDA path uses."""
    r = models.load(NETS[key].onnx())
    gpu = IOBindingBackend(r._model, device_type="cpu", xp=cupy, session=r._cpu.session)
    gpu.contract = r.contract
    r._gpu = gpu
    return r


@pytest.mark.parametrize("key", ["rgb-2in-2layers", "grey-1in-2layers"])
def test_iobinding_on_device_arrays_stays_on_the_device(fake_cupy, rng, key):
    cupy = fake_cupy
    r = _host_iobinding_runner(cupy, key)
    net = NETS[key]
    image = rgb_or_grey(rng, net.channels, (37, 29)).astype(np.float32)
    sigma = rng.uniform(0, 0.2, (37, 29))
    want = r(image, sigma, tile=16, overlap=4, batch=3)
    d_image, d_sigma = cupy.asarray(image), cupy.asarray(sigma)
    cupy.transfers.reset()
    with cupy.cuda.Stream():
        got = r(d_image, d_sigma, tile=16, overlap=4, batch=3)
        got_scalar = r(d_image, 0.1)
    t = cupy.transfers
    assert isinstance(got, cupy.ndarray) and got.dtype == np.float32 and got.shape == image.shape
    assert t.downloads == 0, t.summary()
    # uploads: the per-axis window lines and reflection indices only, nothing of the image's size
    assert t.largest_upload() <= 3 * 37, t.summary()
    np.testing.assert_allclose(got.get(), want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got_scalar.get(), r(image, 0.1), rtol=0, atol=1e-6)
    with pytest.raises(TypeError, match="sigma must be a CuPy array like the image"):
        r(d_image, sigma)
    with pytest.raises(TypeError, match="sigma must be a NumPy array like the image"):
        r(image, d_sigma)


def _host_view(ptr, shape, dtype):
    """The host memory at address `ptr` as a NumPy array (the stand-in's "device" arrays
    are NumPy buffers)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer((ctypes.c_char * nbytes).from_address(ptr), dtype=dtype).reshape(shape)


class _FakeBinding:
    def __init__(self):
        self.inputs, self.outputs = [], []

    def bind_input(self, name, device_type, device_id, element_type, shape, buffer_ptr):
        self.inputs.append((name, device_type, device_id, np.dtype(element_type), tuple(shape), buffer_ptr))

    def bind_output(self, name, device_type="cpu", device_id=0, element_type=None, shape=None, buffer_ptr=None):
        self.outputs.append((name, device_type, device_id, np.dtype(element_type), tuple(shape), buffer_ptr))


class _FakeCudaSession:
    def __init__(self, fake, providers):
        self.fake, self.providers = fake, providers

    def get_providers(self):
        return [name for name, _ in self.providers]

    def __getattr__(self, name):  # get_inputs, get_outputs, get_modelmeta
        return getattr(self.fake.cpu, name)

    def io_binding(self):
        b = _FakeBinding()
        self.fake.bindings.append(b)
        return b

    def run_with_iobinding(self, b):
        feeds = {name: _host_view(ptr, shape, dtype).copy() for name, _, _, dtype, shape, ptr in b.inputs}
        (y,) = self.fake.cpu.run(None, feeds)
        (_, _, _, dtype, shape, ptr), = b.outputs
        _host_view(ptr, shape, dtype)[...] = y


class _FakeOnnxRuntimeGPU:
    """Stands for onnxruntime-gpu: sessions keep their providers (with the options the
    backend gave them); IOBinding records what is bound and runs the model with the CPU
    provider from the bound host addresses."""

    def __init__(self, model):
        self.cpu = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        self.sessions, self.bindings = [], []

    def get_available_providers(self):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def SessionOptions(self):
        return ort.SessionOptions()

    def InferenceSession(self, model, sess_options=None, providers=None):
        self.sessions.append(providers)
        return _FakeCudaSession(self, providers)


def test_cuda_iobinding_plumbing(fake_cupy, monkeypatch, rng):
    """The 'ort-cuda' backend's own code, with onnxruntime-gpu emulated: one session per
    (device, stream) with the CUDA provider's device_id and user_compute_stream (none for
    the null stream, which is synchronised before the run instead), inputs and the
    CuPy-allocated output bound as 'cuda' memory of the current device, results equal to
    the CPU's."""
    from unblur.models import _onnxruntime

    cupy = fake_cupy
    key = "rgb-2in-2layers"
    data = NETS[key].onnx()
    r, cuda_runner = runner_of(key), models.load(data)  # (before ONNX Runtime is replaced)
    fake = _FakeOnnxRuntimeGPU(data)
    monkeypatch.setattr(_onnxruntime, "import_onnxruntime", lambda backend: fake)
    monkeypatch.setattr(_onnxruntime, "gpu_unavailable_reason", lambda: None)
    syncs = []
    monkeypatch.setattr(cupy.cuda.Stream.null, "synchronize", lambda: syncs.append(1), raising=False)
    gpu = IOBindingBackend(data)
    gpu.contract = r.contract
    cuda_runner._gpu = gpu
    image = rng.random((21, 26, 3)).astype(np.float32)
    want = r(image, 0.1, tile=16, overlap=4)
    got = cuda_runner(cupy.asarray(image), 0.1, tile=16, overlap=4, batch=2)
    np.testing.assert_allclose(got.get(), want, rtol=0, atol=1e-6)
    assert len(syncs) == len(fake.bindings) > 1  # the null stream: synchronised before each run
    s1, s2 = cupy.cuda.Stream(), cupy.cuda.Stream()
    for stream in (s1, s2, s1):
        with stream:
            cuda_runner(cupy.asarray(image), 0.1)
    with cupy.cuda.Device(1):
        on1 = cuda_runner(cupy.asarray(image), 0.1)
    np.testing.assert_allclose(on1.get(), r(image, 0.1), rtol=0, atol=1e-6)
    options = [dict(p)["CUDAExecutionProvider"] for p in fake.sessions]
    assert options == [{"device_id": "0"}, {"device_id": "0", "user_compute_stream": str(s1.ptr)},
                       {"device_id": "0", "user_compute_stream": str(s2.ptr)}, {"device_id": "1"}]
    assert all(dict(p)["CPUExecutionProvider"] == {} for p in fake.sessions)
    for b in fake.bindings:
        (image_in, sigma_in), (out,) = b.inputs, b.outputs
        assert [t[1] for t in (image_in, sigma_in, out)] == ["cuda"] * 3
        assert image_in[0] == "image" and sigma_in[0] == "sigma" and out[0] == "denoised"
        assert image_in[3] == sigma_in[3] == out[3] == np.float32
        assert image_in[4][1:] == (3,) + out[4][2:] and sigma_in[4][1] == 1 and out[4][1] == 3
    assert {b.inputs[0][2] for b in fake.bindings} == {0, 1}


def test_cuda_provider_options():
    from unblur.models._onnxruntime import _cuda_providers, _with_stream

    default = _cuda_providers(None)
    assert default == [("CUDAExecutionProvider", {}), ("CPUExecutionProvider", {})]
    assert _with_stream(default, 2, 0x7f00) == [("CUDAExecutionProvider", {"device_id": "2",
                                                                           "user_compute_stream": str(0x7f00)}),
                                                ("CPUExecutionProvider", {})]
    mine = _cuda_providers([("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"})])
    assert _with_stream(mine, 0, 0) == [("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC",
                                                                   "device_id": "0"})]
    with pytest.raises(ValueError, match="providers must include 'CUDAExecutionProvider' for backend 'ort-cuda'"):
        _cuda_providers(["CPUExecutionProvider"])


def test_device_arrays_must_be_on_the_current_device(fake_cupy):
    r = _host_iobinding_runner(fake_cupy, "grey-2in")
    with fake_cupy.cuda.Device(1):
        other = fake_cupy.zeros((8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="image is on GPU 1 but the current device is GPU 0"):
        r(other, 0.1)


def test_tensorrt_engine_cache_key_and_profile(monkeypatch, tmp_path):
    contract = runner_of("rgb-2in-2layers").contract
    shapes = _tensorrt.profile_shapes(contract, 1024, 8)
    assert shapes == {"image": ((1, 3, 1, 1), (4, 3, 512, 512), (8, 3, 1024, 1024)),
                      "sigma": ((1, 1, 1, 1), (4, 1, 512, 512), (8, 1, 1024, 1024))}
    block = models.load(block_model(3)).contract
    assert _tensorrt.profile_shapes(block, 100, 2)["image"] == ((1, 3, 8, 8), (2, 3, 96, 96), (2, 3, 100, 100))
    base = dict(model_bytes=b"model", gpu="NVIDIA H100 sm_90", trt_version="10.3.0", shapes=shapes, fp16=False)
    key = _tensorrt.engine_key(**base)
    assert key == _tensorrt.engine_key(**base) and len(key) == 64
    for change in ({"model_bytes": b"model2"}, {"gpu": "NVIDIA A100 sm_80"}, {"trt_version": "10.4.0"},
                   {"shapes": _tensorrt.profile_shapes(contract, 512, 8)}, {"fp16": True}):
        assert _tensorrt.engine_key(**{**base, **change}) != key, change
    monkeypatch.setenv("UNBLUR_CACHE_DIR", str(tmp_path))
    assert _tensorrt.default_cache_dir() == os.path.join(str(tmp_path), "tensorrt")
    monkeypatch.delenv("UNBLUR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _tensorrt.default_cache_dir() == os.path.join(str(tmp_path), "unblur", "tensorrt")


class _FakeTensorRT:
    """Stands for the tensorrt module, as far as the backend uses it: the builder records
    its profile and flags and "serialises" the model's bytes behind a magic; the runtime
    deserialises them (None for anything else, as TensorRT does for a foreign file); the
    context records shapes, addresses and streams and runs the model with ONNX Runtime's
    CPU provider from the bound host addresses."""

    MAGIC = b"FAKE-TRT-ENGINE\0"
    __version__ = "10.0.1"

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class MemoryPoolType:
        WORKSPACE = "workspace"

    class BuilderFlag:
        FP16 = "fp16"

    class NetworkDefinitionCreationFlag:
        EXPLICIT_BATCH = 0

    class TensorIOMode:
        INPUT, OUTPUT = "input", "output"

    def __init__(self):
        self.builds, self.profiles, self.flags, self.streams = 0, [], [], []
        fake = self

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags):
                return types.SimpleNamespace(model=None)

            def create_builder_config(self):
                return types.SimpleNamespace(set_memory_pool_limit=lambda pool, size: None,
                                             set_flag=fake.flags.append,
                                             add_optimization_profile=lambda p: fake.profiles.append(p.shapes))

            def create_optimization_profile(self):
                p = types.SimpleNamespace(shapes={})
                p.set_shape = lambda name, lo, opt, hi: p.shapes.__setitem__(name, (tuple(lo), tuple(opt), tuple(hi)))
                return p

            def build_serialized_network(self, network, config):
                fake.builds += 1
                return fake.MAGIC + network.model

        class OnnxParser:
            def __init__(self, network, logger):
                self.network, self.num_errors = network, 0

            def parse(self, model):
                self.network.model = bytes(model)
                return True

        class Runtime:
            def __init__(self, logger):
                pass

            def deserialize_cuda_engine(self, data):
                data = bytes(data)
                return _FakeEngine(fake, data[len(fake.MAGIC):]) if data.startswith(fake.MAGIC) else None

        self.Builder, self.OnnxParser, self.Runtime = Builder, OnnxParser, Runtime

    @staticmethod
    def nptype(dtype):
        return np.dtype(dtype).type


class _FakeEngine:
    def __init__(self, fake, model):
        self.fake = fake
        self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        types_ = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
        self.dtypes = {a.name: types_[a.type] for a in self.session.get_inputs() + self.session.get_outputs()}

    def get_tensor_dtype(self, name):
        return self.dtypes[name]

    def create_execution_context(self):
        return _FakeContext(self)


class _FakeContext:
    def __init__(self, engine):
        self.engine, self.shapes, self.addresses = engine, {}, {}

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr

    def get_tensor_shape(self, name):
        n, _, h, w = next(iter(self.shapes.values()))
        return (n, self.engine.session.get_outputs()[0].shape[1], h, w)

    def execute_async_v3(self, stream_handle):
        self.engine.fake.streams.append(stream_handle)
        out = self.engine.session.get_outputs()[0].name
        dtypes = self.engine.dtypes
        feeds = {name: _host_view(self.addresses[name], shape, dtypes[name]).copy() for name, shape in self.shapes.items()}
        (y,) = self.engine.session.run(None, feeds)
        _host_view(self.addresses[out], y.shape, dtypes[out])[...] = y
        return True


@pytest.fixture
def fake_tensorrt(fake_cupy, monkeypatch):
    """The fake tensorrt module, the CuPy stand-in with a GPU's properties, a GPU 'found'."""
    import sys

    trt = _FakeTensorRT()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    props = {"name": b"Fake GPU", "major": 9, "minor": 0}
    monkeypatch.setattr(fake_cupy.cuda, "runtime", types.SimpleNamespace(getDeviceProperties=lambda d: props,
                                                                        getDeviceCount=lambda: 1), raising=False)
    monkeypatch.setattr(_runner, "_gpu_reason", lambda: None)
    # Events, which order the backend's runs across streams (the stand-in's streams run
    # everything at once, in order).
    event = type("Event", (), {"__init__": lambda self, **kw: None, "record": lambda self, stream=None: None})
    monkeypatch.setattr(fake_cupy.cuda, "Event", event, raising=False)
    monkeypatch.setattr(fake_cupy.cuda.Stream, "wait_event", lambda self, e: None, raising=False)
    return trt


def test_tensorrt_plumbing_and_engine_cache(fake_tensorrt, fake_cupy, tmp_path, rng):
    """The TensorRT backend's own code with TensorRT emulated: one build, cached under
    the key's file name and found again; a foreign file rebuilt; a new profile a new
    engine; the profile's shapes; inputs and the output bound by address, run on the
    current stream's handle; images larger than max_tile tiled automatically."""
    trt, cupy = fake_tensorrt, fake_cupy
    key = "rgb-2in-2layers"
    data, cpu = NETS[key].onnx(), runner_of(key)
    r = models.load(data, backend="tensorrt", cache_dir=tmp_path, max_tile=64, max_batch=4)
    (engine,) = tmp_path.glob("*.engine")
    assert trt.builds == 1 and r._gpu.engine_path() == str(engine) and len(engine.stem) == 64
    assert trt.profiles == [{"image": ((1, 3, 1, 1), (4, 3, 64, 64), (4, 3, 64, 64)),
                             "sigma": ((1, 1, 1, 1), (4, 1, 64, 64), (4, 1, 64, 64))}]
    assert trt.flags == [] and list(tmp_path.iterdir()) == [engine]  # no temporary file left
    image = rng.random((100, 90, 3)).astype(np.float32)
    with cupy.cuda.Stream() as stream:
        got = r(cupy.asarray(image), 0.1)
    assert set(trt.streams[1:]) == {stream.ptr}  # (the first run is load's probe, on the null stream)
    np.testing.assert_allclose(got.get(), cpu(image, 0.1, tile=64), rtol=0, atol=1e-6)
    with pytest.raises(TypeError, match="image is a NumPy array but backend 'tensorrt' runs CuPy arrays"):
        r(image, 0.1)
    with pytest.raises(ValueError, match="tile must be <= 64"):
        r(cupy.asarray(image), 0.1, tile=128)
    models.load(data, backend="tensorrt", cache_dir=tmp_path, max_tile=64, max_batch=4)
    assert trt.builds == 1
    engine.write_bytes(b"not an engine")
    models.load(data, backend="tensorrt", cache_dir=tmp_path, max_tile=64, max_batch=4)
    assert trt.builds == 2 and engine.read_bytes().startswith(trt.MAGIC)
    models.load(data, backend="tensorrt", cache_dir=tmp_path, max_tile=128, max_batch=4)
    assert trt.builds == 3 and len(list(tmp_path.glob("*.engine"))) == 2
    half = dataclasses.replace(NETS[key], fp16=True).onnx()
    models.load(half, backend="tensorrt", cache_dir=tmp_path)
    assert trt.flags == ["fp16"] and trt.profiles[-1]["image"][2] == (8, 3, 1024, 1024)


def test_tensorrt_runs_on_different_streams_are_ordered(fake_tensorrt, fake_cupy, tmp_path, monkeypatch, rng):
    """One execution context holds one run's intermediate tensors: a run queued on
    another stream while the last one may still execute would share them (TensorRT:
    one context per concurrent execution). So each run waits, on its own stream, for an
    event recorded after the previous run on the context's stream; nothing waits on the
    host."""
    trt, cupy = fake_tensorrt, fake_cupy
    log = []

    class Event:
        def __init__(self, **kwargs):
            pass

        def record(self, stream=None):
            stream = cupy.cuda.get_current_stream() if stream is None else stream
            log.append(("record", stream.ptr, self))

    monkeypatch.setattr(cupy.cuda, "Event", Event, raising=False)
    monkeypatch.setattr(cupy.cuda.Stream, "wait_event", lambda self, e: log.append(("wait", self.ptr, e)),
                        raising=False)
    monkeypatch.setattr(cupy.cuda.Stream, "synchronize", lambda self: log.append(("sync", self.ptr)))
    r = models.load(NETS["grey-2in"].onnx(), backend="tensorrt", cache_dir=tmp_path)
    image = cupy.asarray(rng.random((12, 13)).astype(np.float32))
    run = _FakeContext.execute_async_v3
    monkeypatch.setattr(_FakeContext, "execute_async_v3",
                        lambda self, h: (log.append(("execute", h)), run(self, h))[1])
    log.clear()
    a, b = cupy.cuda.Stream(), cupy.cuda.Stream()
    with a:
        r(image, 0.1)
    with b:
        r(image, 0.1)
    execute_b = log.index(("execute", b.ptr))
    recorded = [e for op, ptr, *e in log[:execute_b] if op == "record" and ptr == a.ptr]
    assert recorded and log.index(("execute", a.ptr)) < log.index(("record", a.ptr, recorded[-1][0]))
    assert ("wait", b.ptr, recorded[-1][0]) in log[:execute_b]
    assert not [op for op, *_ in log if op == "sync"]


def test_tensorrt_runs_when_its_engine_cache_cannot_be_written(fake_tensorrt, fake_cupy, tmp_path, rng):
    """The engine cache saves the next load a build; a cache_dir that cannot be created
    or written (here: under a file) costs a warning, not the backend: the engine just
    built runs."""
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"the user's file")
    with pytest.warns(RuntimeWarning, match="cannot cache the TensorRT engine"):
        r = models.load(NETS["grey-2in"].onnx(), backend="tensorrt", cache_dir=blocker / "tensorrt")
    image = rng.random((12, 13)).astype(np.float32)
    np.testing.assert_allclose(r(fake_cupy.asarray(image), 0.1).get(), runner_of("grey-2in")(image, 0.1), rtol=0,
                               atol=1e-6)
    assert blocker.read_bytes() == b"the user's file" and sorted(tmp_path.iterdir()) == [blocker]


def test_auto_prefers_tensorrt_for_device_arrays(fake_tensorrt, fake_cupy, tmp_path, monkeypatch):
    monkeypatch.setenv("UNBLUR_CACHE_DIR", str(tmp_path))
    r = models.load(NETS["grey-2in"].onnx())
    image = np.linspace(0, 1, 20 * 24, dtype=np.float32).reshape(20, 24)
    got = r(fake_cupy.asarray(image), 0.1)
    assert r._gpu.name == "tensorrt" and list((tmp_path / "tensorrt").glob("*.engine"))
    np.testing.assert_allclose(got.get(), r(image, 0.1), rtol=0, atol=1e-6)


def test_auto_without_onnxruntime(fake_tensorrt, fake_cupy, monkeypatch, tmp_path, rng):
    """TensorRT alone: the contract read with the onnx package, CuPy arrays on TensorRT,
    NumPy arrays a clear error."""
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    r = models.load(NETS["grey-2in"].onnx(), cache_dir=tmp_path)
    assert r._cpu is None and (r.channels, r.layout) == (1, "noise-input")
    with pytest.raises(models.BackendUnavailableError, match="NumPy arrays run on ONNX Runtime's CPU provider"):
        r(np.zeros((8, 8)), 0.1)
    image = rng.random((20, 24)).astype(np.float32)
    got = r(fake_cupy.asarray(image), 0.1)
    np.testing.assert_allclose(got.get(), runner_of("grey-2in")(image, 0.1), rtol=0, atol=1e-6)
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(models.BackendUnavailableError, match="backend 'auto' needs ONNX Runtime .* or TensorRT"):
        models.load(NETS["grey-2in"].onnx())


# ---- on a GPU ------------------------------------------------------------------------------------

def _gpu_case(rng):
    image = rng.random((75, 61, 3)).astype(np.float32)
    sigma = rng.uniform(0, 0.2, (75, 61)).astype(np.float32)
    want = runner_of("rgb-2in-2layers")(image, sigma, tile=32, overlap=8)
    return image, sigma, want


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_provider_available(), reason="needs onnxruntime-gpu (ONNX Runtime's CUDA provider)")
def test_ort_cuda_matches_the_cpu(rng):
    import cupy

    r = models.load(NETS["rgb-2in-2layers"].onnx(), backend="ort-cuda")
    image, sigma, want = _gpu_case(rng)
    for stream in (cupy.cuda.Stream.null, cupy.cuda.Stream(non_blocking=True)):
        with stream:
            got = r(cupy.asarray(image), cupy.asarray(sigma), tile=32, overlap=8)
            stream.synchronize()
        assert isinstance(got, cupy.ndarray) and got.dtype == np.float32
        # cuDNN's convolutions against MLAS's: float32 rounding, different sums
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=0, atol=1e-4)


@pytest.mark.gpu
def test_tensorrt_matches_the_cpu_and_caches_its_engine(rng, tmp_path):
    pytest.importorskip("tensorrt", reason="needs NVIDIA's TensorRT Python package")
    import cupy

    data = NETS["rgb-2in-2layers"].onnx()
    r = models.load(data, backend="tensorrt", cache_dir=tmp_path, max_tile=64, max_batch=4)
    engines = list(tmp_path.glob("*.engine"))
    assert len(engines) == 1
    stamp = engines[0].stat().st_mtime_ns
    image, sigma, want = _gpu_case(rng)
    with cupy.cuda.Stream(non_blocking=True) as stream:
        got = r(cupy.asarray(image), cupy.asarray(sigma), tile=32, overlap=8)
        stream.synchronize()
    # TensorRT may use TF32 for float32 convolutions (10 mantissa bits)
    np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=0, atol=5e-3)
    # a second load finds the engine; a different profile builds another
    models.load(data, backend="tensorrt", cache_dir=tmp_path, max_tile=64, max_batch=4)
    assert list(tmp_path.glob("*.engine")) == engines and engines[0].stat().st_mtime_ns == stamp
    models.load(data, backend="tensorrt", cache_dir=tmp_path, max_tile=128, max_batch=4)
    assert len(list(tmp_path.glob("*.engine"))) == 2
    # larger than max_tile: tiled automatically, same blend as explicit tiles
    with pytest.raises(ValueError, match="tile must be <= 64"):
        r(cupy.asarray(image), 0.1, tile=128)


@pytest.mark.gpu
def test_auto_runs_cupy_arrays_on_a_gpu_backend(rng):
    import cupy

    if models.available_backends()["tensorrt"] and models.available_backends()["ort-cuda"]:
        pytest.skip("neither TensorRT nor ONNX Runtime's CUDA provider is installed")
    r = models.load(NETS["grey-2in"].onnx())
    image = rng.random((33, 40)).astype(np.float32)
    got = r(cupy.asarray(image), 0.1)
    assert isinstance(got, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(got), r(image, 0.1), rtol=0, atol=5e-3)
