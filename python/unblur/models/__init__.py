"""Learned denoisers: ONNX models run by ONNX Runtime (CPU, CUDA) or TensorRT.

``runner = unblur.models.load("denoiser.onnx")`` checks the model against the contract
below and returns a Runner; ``runner(image, sigma)`` denoises NumPy arrays on the CPU
and CuPy arrays on the GPU (on CuPy's current stream, inputs and outputs in CuPy's
memory), padding, tiling and batching as needed. docs/models.md has the same contract
with examples.

The denoiser contract
---------------------
Format
    ONNX, tensors in NCHW order, float32 (float16 models are accepted: the runner casts
    to and from the model's types; it computes its blending in float32, float64 for
    float64 images).
Inputs, one of two layouts (told apart by the number of graph inputs)
    * "noise-input", 2 inputs: input 0 the noisy image (N, C, H, W), input 1 the noise
      map (N, 1, H, W);
    * "noise-channel", 1 input: (N, C+1, H, W), the image's C channels then the noise
      map.
    C is 1 (grey) or 3 (RGB) and fixed in the graph. The image is in linear units of
    about [0, 1] (unblur's images; integer images are scaled to [0, 1]); the noise map
    holds, per pixel, the standard deviation of the noise in the same units (0.1 for
    noise of σ = 25.5 on a 0..255 scale).
Output
    exactly one, (N, C, H, W): the denoised image, same units.
Shapes
    H and W dynamic (named or unnamed dimensions, never fixed numbers); N dynamic or
    fixed at 1 (then one image or tile per run). A model may need H and W to be
    multiples of some n (down-sampling U-Nets: 8 for DRUNet): it says so in the model's
    metadata, key ``unblur.multiple``, value n as a decimal string (default 1). The
    runner extends the image by reflection at the bottom and right to multiples of n
    and crops the result back.

``load`` raises a ValueError naming the broken rule (wrong number of inputs or outputs,
rank other than 4, fixed H or W, a fixed batch other than 1, channel counts other than
1 / 3 (+1) or a noise map with more than one channel, an output whose channels or
shape do not follow the input's, element types other than float32 / float16, a bad
``unblur.multiple``). It also runs the model once on a small input of unequal sides,
so a model that resizes or crops, or needs a multiple it does not declare, is caught
there rather than in the first real call.

Backends
--------
'auto' (default): NumPy -> ONNX Runtime's CPU provider; CuPy -> TensorRT if installed,
else ONNX Runtime's CUDA provider. 'ort-cpu', 'ort-cuda', 'tensorrt' force one, which
then takes only its array type (TypeError otherwise: no hidden host <-> device copies).
A backend that cannot run here raises ``BackendUnavailableError``;
``available_backends()`` says which can and why the others cannot.
"""

from __future__ import annotations

import os

from ._contract import LAYOUTS, MULTIPLE_KEY, Contract, Tensor
from ._onnxruntime import BackendUnavailableError
from ._runner import BACKENDS, Runner, available_backends, load

__all__ = ["load", "Runner", "BackendUnavailableError", "available_backends", "BACKENDS", "LAYOUTS",
           "MULTIPLE_KEY", "Contract", "Tensor", "denoiser", "shipped_model", "CHANNELS"]

#: The shipped models: training/train.py's output (the grey one: weight averages of its
#: runs, training/soup.py; docs/training.md says how each was made). The RGB model ships
#: in fp16 only: the issue's budget (fp32 and fp16 files together <= 10 MB) holds three
#: 1.06 M-parameter files, and fp16 gives fp32's results (ONNX Runtime runs it on the CPU
#: as fast; bench/RESULTS.md).
_SHIPPED = {("grey", "fp32"): "denoiser_grey_fp32.onnx", ("grey", "fp16"): "denoiser_grey_fp16.onnx",
            ("rgb", "fp16"): "denoiser_rgb_fp16.onnx"}
CHANNELS = {"grey": 1, "rgb": 3}


def shipped_model(channels="grey", precision="auto"):
    """Path of a model shipped inside the package (nothing is downloaded).

    Parameters
    ----------
    channels : {'grey', 'rgb'}
        The image channels the model takes: 'grey' one, 'rgb' three (denoised jointly).
    precision : {'auto', 'fp32', 'fp16'}
        'auto': fp32 where it ships (grey), else fp16 (rgb). fp16: half the file, the same
        results to ~2e-4 (float32 input and output).
    """
    from .. import _validate

    _validate.choice(channels, "channels", CHANNELS)
    _validate.choice(precision, "precision", ("auto", "fp32", "fp16"))
    if precision == "auto":
        precision = "fp32" if (channels, "fp32") in _SHIPPED else "fp16"
    key = (channels, precision)
    if key not in _SHIPPED:
        raise ValueError(f"no shipped model for channels={channels!r}, precision={precision!r}; "
                         f"there are {sorted(_SHIPPED)}")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", _SHIPPED[key])


def denoiser(precision="auto", *, channels="grey", backend="auto"):
    """A Runner for one of unblur's shipped denoisers (see :func:`shipped_model`).

    ``channels='grey'`` takes (H, W) images, ``channels='rgb'`` (H, W, 3) images, whose
    channels it denoises together (better than one grey call per channel, and a third
    of the work: docs/models.md).

    Examples
    --------
    >>> import numpy as np, unblur.models
    >>> clean = np.kron(np.random.default_rng(0).random((8, 8)), np.ones((8, 8))).astype(np.float32)
    >>> noisy = clean + np.random.default_rng(1).normal(0, 0.1, clean.shape).astype(np.float32)
    >>> out = unblur.models.denoiser()(noisy, 0.1)
    >>> bool(np.abs(out - clean).mean() < 0.5 * np.abs(noisy - clean).mean())
    True
    >>> rgb = np.repeat(clean[..., None], 3, axis=-1) * np.array([1.0, 0.8, 0.5], np.float32)
    >>> noisy_rgb = rgb + np.random.default_rng(2).normal(0, 0.1, rgb.shape).astype(np.float32)
    >>> out = unblur.models.denoiser(channels="rgb")(noisy_rgb, 0.1)
    >>> out.shape, bool(np.abs(out - rgb).mean() < 0.5 * np.abs(noisy_rgb - rgb).mean())
    ((64, 64, 3), True)
    """
    return load(shipped_model(channels, precision), backend=backend)
