"""bench/quality.py's case generator and options: --bits stores each noisy observation as
a file of that many bits would (clipped to [0, 1], rounded), and leaves float cases
untouched; --jpeg stores it as a grey JPEG and gives the noise methods the level of its
quantisation tables."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))

import quality  # noqa: E402


def test_quantise(rng):
    x = rng.normal(0.5, 0.4, (40, 30))
    assert quality.quantise(x, 0) is x
    q = quality.quantise(x, 8)
    assert q.min() >= 0.0 and q.max() <= 1.0
    np.testing.assert_allclose(q * 255, np.round(q * 255), atol=1e-9)
    inside = (x > 0) & (x < 1)
    assert np.abs(q - x)[inside].max() <= 0.5 / 255 + 1e-12
    assert np.abs(quality.quantise(x, 16) - np.clip(x, 0, 1)).max() <= 0.5 / 65535 + 1e-12


def test_cases_with_bits_are_the_float_cases_rounded():
    images = [("ramp", np.linspace(0, 1, 80 * 90).reshape(80, 90))]
    classes = {"gaussian": quality.psf_classes()["gaussian"]}
    plain = list(quality.cases(images, classes, [0.01], 48))
    stored = list(quality.cases(images, classes, [0.01], 48, bits=8))
    assert len(plain) == len(stored) == 1
    np.testing.assert_array_equal(stored[0][6], quality.quantise(plain[0][6], 8))
    np.testing.assert_array_equal(stored[0][5], plain[0][5])


def test_an_unknown_method_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        quality.main(["--methods", "tv", "bogus"])
    assert e.value.code == 2 and "--methods" in capsys.readouterr().err


@pytest.mark.parametrize("bits", ["-1", "17", "x"])
def test_bad_bits_is_a_usage_error(bits, capsys):
    with pytest.raises(SystemExit) as e:
        quality.main(["--bits", bits])
    assert e.value.code == 2 and "--bits" in capsys.readouterr().err


def test_jpeg_roundtrip_is_the_file_pillow_decodes(tmp_path, rng):
    from PIL import Image

    import unblur.io

    clean = np.add.outer(np.linspace(0.1, 0.9, 64), np.linspace(0.0, 0.3, 72))
    observed = clean + rng.normal(0.0, 0.02, clean.shape)
    path = str(tmp_path / "case.jpg")
    pixels, level = quality.jpeg_roundtrip(observed, 90, path)
    with Image.open(path) as f:
        assert f.format == "JPEG" and f.mode == "L"
        decoded = np.asarray(f, dtype=np.float64) / 255.0
    np.testing.assert_allclose(pixels, decoded, rtol=0, atol=1e-7)  # io.read decodes to float32
    assert level == float(unblur.io.jpeg_noise(unblur.io.read(path, linear=False))[0])
    # the compression is real: the file differs from the 8-bit observation, more so at a lower quality
    err90 = np.sqrt(np.mean((pixels - quality.quantise(observed, 8)) ** 2))
    pixels50, _ = quality.jpeg_roundtrip(observed, 50, path)
    err50 = np.sqrt(np.mean((pixels50 - quality.quantise(observed, 8)) ** 2))
    assert 0.5 / 255 < err90 < err50


@pytest.mark.parametrize("mode,given", [("tables", True), ("own", False)])
def test_jpeg_track_gives_the_tables_level_to_the_noise_methods(mode, given, monkeypatch, capsys):
    import unblur

    seen = []
    original = unblur.tv_deconvolve

    def recording(g, h, **kw):
        seen.append(kw.get("noise_sigma"))
        return original(g, h, **kw)

    monkeypatch.setattr(unblur, "tv_deconvolve", recording)
    quality.main(["--jpeg", "90", "--jpeg-noise", mode, "--images", "1", "--size", "48", "--noise", "0.02",
                  "--methods", "tv", "wiener"])
    out = capsys.readouterr().out
    assert "JPEG track" in out and "quality 90" in out
    assert len(seen) == 4  # one case per blur class
    if given:
        assert all(s is not None and 0.005 < s < 0.05 for s in seen)
    else:
        assert seen == [None] * 4


@pytest.mark.parametrize("argv", [["--jpeg", "0"], ["--jpeg", "101"], ["--jpeg", "x"], ["--jpeg", "90", "--bits", "8"],
                                  ["--jpeg", "90", "--blind"], ["--jpeg", "90", "--jpeg-noise", "bogus"]])
def test_bad_jpeg_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as e:
        quality.main(argv)
    assert e.value.code == 2 and "--jpeg" in capsys.readouterr().err
