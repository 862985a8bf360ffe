"""The held-out images that PnP's schedule and the denoiser's training choices were tuned on
(bench/pnp_tuning.py's TUNE + EXTRA) share no picture with the benchmark's six
(bench/quality.py): not by name, and not by pixels either. scikit-image has aliases
(data.cat is data.chelsea), so the check matches a patch from the centre of each held-out
image, the part the cases crop, against every position of every benchmark image."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("skimage")
from skimage.feature import match_template  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))

import pnp_tuning  # noqa: E402
import quality  # noqa: E402

HELD_OUT = pnp_tuning.TUNE + pnp_tuning.EXTRA


def centre_patch(img, size=48):
    r, c = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return img[r : r + size, c : c + size]


def best_match(patch, images):
    """The highest normalised cross-correlation of `patch` at any position of any image."""
    return max(float(match_template(img, patch).max()) for _, img in images)


def test_benchmark_names_are_the_benchmarks_images():
    assert tuple(n for n, _ in quality.load_images(256, 6)) == pnp_tuning.BENCHMARK


def test_held_out_names_are_not_benchmark_names():
    assert not set(HELD_OUT) & set(pnp_tuning.BENCHMARK)
    assert len(set(HELD_OUT)) == len(HELD_OUT) == 10


def test_the_check_finds_an_alias():
    # The check itself: data.cat (an alias of chelsea, the held-out image until
    # 2026-12-07) and a shifted crop of camera are found in the benchmark.
    bench = quality.load_images(256, 6)
    (_, cat), = quality.load_images(None, None, ["cat"])
    assert best_match(centre_patch(cat), bench) > 0.999
    camera = dict(bench)["camera"]
    assert best_match(camera[101:149, 203:251], bench) > 0.999


@pytest.mark.parametrize("name", HELD_OUT)
def test_no_held_out_image_is_in_the_benchmark(name):
    bench = quality.load_images(256, 6)
    (_, img), = quality.load_images(None, None, [name])
    assert best_match(centre_patch(img), bench) < 0.95


def test_aliases_are_the_benchmark_images_they_name():
    bench = dict(quality.load_images(256, 6))
    for alias, name in quality.ALIASES.items():
        (_, img), = quality.load_images(None, None, [alias])
        assert np.array_equal(img, bench[name])
        assert alias not in HELD_OUT
