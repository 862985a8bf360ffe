"""Package-level behaviour: info(), the optional CUDA module, sample data, docstring
examples, and the command line."""

from __future__ import annotations

import doctest
import importlib
import os
import re

import numpy as np
import pytest
import unblur
import unblur.cli


def test_info_reports_engines():
    info = unblur.info()
    assert info["cpu_threads"] == unblur.get_threads() >= 1
    assert info["fft_planner"] in ("estimate", "measure", "patient")
    if os.environ.get("UNBLUR_EXPECT_CUDA_MODULE") == "1":
        # CI compiles and links unblur._cuda wherever nvcc exists; it must import.
        assert info["cuda_module"] is True
    if info["cuda_module"]:
        assert info["cuda_runtime"] >= 12000
        assert info["cufft"] >= 11000  # the module is linked with cuFFT (CUDA 12's is 11.x)
        assert isinstance(info["gpus"], list)
        if not info["gpus"]:
            assert info["gpu_unavailable_reason"]


def test_sample_image():
    img = unblur.data.astronaut()
    assert img.shape == (384, 384, 3) and img.dtype == np.uint8
    assert 60 < img.mean() < 200


@pytest.mark.parametrize("module", ["unblur", "unblur.fft", "unblur.psf", "unblur.metrics", "unblur._convolve",
                                    "unblur._filters", "unblur.data", "unblur._deconv_common",
                                    "unblur._blind", "unblur._pnp", "unblur.models"])
def test_docstring_examples_run(module):
    if module == "unblur.models":
        pytest.importorskip("onnxruntime", reason="the shipped models' examples need ONNX Runtime")
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_functions_have_examples():
    names = ["convolve", "gaussian_filter", "collaborative_wiener"]
    names += [f"psf.{n}" for n in unblur.psf.__all__]
    names += [f"metrics.{n}" for n in unblur.metrics.__all__]
    for name in names:
        obj = unblur
        for part in name.split("."):
            obj = getattr(obj, part)
        assert obj.__doc__ and ">>>" in obj.__doc__, f"{name} has no docstring example"


def test_demo_runs_and_never_overwrites(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert unblur.cli.main(["demo", "--strength", "9"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "unblur-demo.png").exists()
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    psnr_blurred, ssim_blurred = map(float, lines["blurred"])
    psnr_restored, ssim_restored = map(float, lines["restored"])
    assert psnr_restored > psnr_blurred + 1.0
    assert ssim_restored > ssim_blurred
    psnr_blind, _ = map(float, lines["blind"])
    assert psnr_blind > psnr_blurred + 1.0
    assert "unblur.restore estimated motion" in out
    # A second run must not overwrite the first picture.
    first = (tmp_path / "unblur-demo.png").read_bytes()
    assert unblur.cli.main(["demo", "--strength", "9", "--psf", "gaussian"]) == 0
    assert (tmp_path / "unblur-demo.png").read_bytes() == first
    assert (tmp_path / "unblur-demo-1.png").exists()
    # An explicit output that exists needs --overwrite.
    with pytest.raises(SystemExit, match="exists; pass --overwrite"):
        unblur.cli.main(["demo", "-o", "unblur-demo.png"])


@pytest.mark.parametrize("args,match", [(["--noise", "-1"], "--noise must be >= 0"),
                                        (["--strength", "0"], "--strength must be > 0"),
                                        (["--strength", "1e9"], "more than the limit")])
def test_demo_bad_arguments(tmp_path, monkeypatch, capsys, args, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        unblur.cli.main(["demo", *args])
    assert exc.value.code != 0
    assert re.search(match, str(exc.value.code) + capsys.readouterr().err)
    assert not list(tmp_path.iterdir())
