"""bench/quality.py's case generator: --bits stores each noisy observation as a file of
that many bits would (clipped to [0, 1], rounded), and leaves float cases untouched."""

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
