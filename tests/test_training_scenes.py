"""training/data.py's scene distributions (docs/training.md): the "v1" dead leaves are
unchanged by the "v2" additions (so the shipped models' command still reproduces them),
and the additions draw what they claim. NumPy and SciPy only: runs without PyTorch."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import data  # noqa: E402


def test_v1_scenes_are_the_original_ones():
    # Per-image clean means and noisy standard deviations of batch 0 (seed 0, 32 x 32),
    # recorded from training/data.py before the v2 additions (commit 7d4e367). A change
    # in the v1 random stream would move every value by far more than the tolerance,
    # which only allows for floating-point differences between library builds.
    expected = {
        1: ([0.65772, 0.293497, 0.353372, 0.405305], [0.256639, 0.266468, 0.250656, 0.253109]),
        3: ([0.670304, 0.274028, 0.466514, 0.681119], [0.276562, 0.220757, 0.285241, 0.271445]),
    }
    assert data.SCENES["v1"] == data.SceneOptions()
    for channels, (means, stds) in expected.items():
        clean, noisy, _ = data.training_batch(0, 0, 4, 32, channels)
        np.testing.assert_allclose([clean[i].mean() for i in range(4)], means, atol=2e-6)
        np.testing.assert_allclose([noisy[i].std() for i in range(4)], stds, atol=2e-6)
        again = data.training_batch(0, 0, 4, 32, channels, scenes="v1")
        np.testing.assert_array_equal(clean, again[0])


@pytest.mark.parametrize("channels", [1, 3])
def test_v2_differs_and_is_deterministic(channels):
    a = data.training_batch(3, 2, 4, 48, channels, scenes="v2")
    b = data.training_batch(3, 2, 4, 48, channels, scenes="v2")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].shape == (4, channels, 48, 48)
    assert not np.array_equal(a[0], data.training_batch(3, 2, 4, 48, channels, scenes="v1")[0])
    assert a[0].min() >= 0.0 and a[0].max() <= 1.0
    # Every image, smooth or not, lines or not, renders in both colour modes.
    everything = data.SceneOptions(p_lines=1.0, p_smooth=1.0)
    img = data.render_scene(np.random.default_rng(5), 40, channels, everything)
    assert img.shape == (channels, 40, 40) and np.isfinite(img).all()


def test_unknown_scenes():
    with pytest.raises(ValueError, match="scenes"):
        data.training_batch(0, 0, 1, 16, 1, scenes="v9")


def test_segment_coverage():
    # A horizontal segment of width 2 along row centre y = 10 (pixel rows 9 and 10 are
    # wholly inside, their neighbours 8 and 11 wholly outside), from x = 5 to x = 25.
    canvas = np.zeros((1, 20, 32), np.float32)
    data._paint_segment(canvas, (10.0, 5.0, 10.0, 25.0, 2.0), np.array([1.0], np.float32))
    np.testing.assert_allclose(canvas[0, 9:11, 7:24], 1.0)
    assert canvas[0, :8].max() == 0.0 and canvas[0, 12:].max() == 0.0
    assert canvas[0, :, :4].max() == 0.0 and canvas[0, :, 27:].max() == 0.0
    # The painted area is the segment's: length x width plus its two rounded caps.
    assert canvas.sum() == pytest.approx(20 * 2 + np.pi, rel=0.05)
    # Compositing: painting grey over white at full coverage gives grey.
    canvas[:] = 1.0
    data._paint_segment(canvas, (10.0, 5.0, 10.0, 25.0, 2.0), np.array([0.25], np.float32))
    np.testing.assert_allclose(canvas[0, 9:11, 7:24], 0.25)


def test_lines_appear():
    # Pixels on a thin line are local extrema across it: brighter (or darker) by more than
    # 0.1 than both neighbours along a row or a column. Scenes of a few large flat
    # shapes have almost none; with lines in every image there are several times more.
    def ridge_pixels(opts):
        count = 0
        for k in range(12):
            img = data.render_scene(np.random.default_rng(k), 64, 1, opts)[0].astype(np.float64)
            for a in (img, img.T):
                d1, d2 = a[1:-1] - a[2:], a[1:-1] - a[:-2]
                count += int(((d1 * d2 > 0) & (np.minimum(np.abs(d1), np.abs(d2)) > 0.1)).sum())
        return count

    few_shapes = dict(coverage=0.0, r_min=6.0, p_texture=0.0)  # 8 large flat or shaded shapes
    assert ridge_pixels(data.SceneOptions(p_lines=1.0, **few_shapes)) > 4 * ridge_pixels(data.SceneOptions(**few_shapes))


def test_smooth_scenes_are_low_contrast_with_grain():
    from scipy import ndimage

    smooth = data.SceneOptions(p_smooth=1.0)
    stds, plain_stds = [], []
    for k in range(40):
        img = data.render_scene(np.random.default_rng(k), 64, 1, smooth)[0]
        assert img.min() >= 0.0 and img.max() <= 1.0
        stds.append(img.std())
        plain_stds.append(data.render_scene(np.random.default_rng(k), 64, 1)[0].std())
        # Fine grain: the residual of a 3 x 3 mean is non-zero almost everywhere (the
        # dead leaves are flat inside their shapes).
        local = img - ndimage.uniform_filter(img, 3)
        assert np.mean(np.abs(local) > 1e-4) > 0.5
    # Low contrast: the typical smooth scene varies a few times less than a dead-leaves one.
    assert np.median(stds) < 0.5 * np.median(plain_stds)


def test_v1_and_v2_are_untouched_by_v3():
    # The v3 streaks draw nothing at p_streaks = 0: v2 is v2 plus only that option.
    assert data.SCENES["v3"] == dataclasses.replace(data.SCENES["v2"], p_streaks=data.SCENES["v3"].p_streaks)
    assert data.SCENES["v2"].p_streaks == 0.0 and data.SCENES["v1"].p_streaks == 0.0
    a = data.training_batch(2, 1, 3, 32, 1, scenes="v3")
    b = data.training_batch(2, 1, 3, 32, 1, scenes="v3")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].min() >= 0.0 and a[0].max() <= 1.0


def test_streaks_are_oriented():
    # A streak field varies far less along its streaks than across them: the mean squared
    # difference between neighbours is smallest along one direction and several times
    # larger across it, though the direction turns slowly over the field.
    rng = np.random.default_rng(4)
    ratios = []
    for _ in range(20):
        field = data.streak_field(rng, 96).astype(np.float64)
        assert field.shape == (96, 96) and field.min() >= 0.0 and field.max() <= 1.0
        d = [np.mean((field - np.roll(field, s, axis=(0, 1))) ** 2) for s in ((0, 1), (1, 0), (1, 1), (1, -1))]
        ratios.append(max(d) / min(d))
    # Isotropic noise gives ratios near 1-2 (the diagonals' step is sqrt 2 longer).
    noise = [data.filtered_noise(np.random.default_rng(k), 96, 96, 1.0, 0.3).astype(np.float64) for k in range(20)]
    iso = [max(dd) / min(dd) for dd in
           ([np.mean((f - np.roll(f, s, axis=(0, 1))) ** 2) for s in ((0, 1), (1, 0), (1, 1), (1, -1))] for f in noise)]
    assert np.median(ratios) > 2 * np.median(iso)


def test_streaks_appear_in_v3_textures():
    # With every textured fill a streak fill, the images differ from the same draws without.
    opts = data.SceneOptions(p_streaks=1.0, p_texture=1.0)
    img = data.render_scene(np.random.default_rng(1), 64, 3, opts)
    assert img.shape == (3, 64, 64) and np.isfinite(img).all()
    assert not np.array_equal(img, data.render_scene(np.random.default_rng(1), 64, 3,
                                                     data.SceneOptions(p_texture=1.0)))


def test_v1_to_v3_are_untouched_by_v4():
    # The v4 masonry draws nothing at p_masonry = 0: v4 is v2 plus only that option.
    assert data.SCENES["v4"] == dataclasses.replace(data.SCENES["v2"], p_masonry=data.SCENES["v4"].p_masonry)
    assert all(data.SCENES[k].p_masonry == 0.0 for k in ("v1", "v2", "v3"))
    a = data.training_batch(2, 1, 3, 32, 1, scenes="v4")
    b = data.training_batch(2, 1, 3, 32, 1, scenes="v4")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].min() >= 0.0 and a[0].max() <= 1.0
    assert not np.array_equal(a[0], data.training_batch(2, 1, 3, 32, 1, scenes="v2")[0])


def test_masonry_running_bond():
    # Bricks 20 x 10 px, joints 2 px wide, every other row shifted by half a brick;
    # pixel centres at (i + 0.5, j + 0.5).
    y, x = np.mgrid[0:40, 0:80].astype(np.float32) + np.float32(0.5)
    t, row, col = data.masonry(x, y, 10.0, 20.0, 2.0, np.array([0.0, 0.5]))
    assert set(np.unique(t)) == {0.0, 1.0}  # every pixel centre 0.5 px or 1.5 px or more from a joint
    # Bed joints: the first and last pixel row of every course.
    np.testing.assert_array_equal(t[0::10], 1.0)
    np.testing.assert_array_equal(t[9::10], 1.0)
    # Head joints: at x = 0, 20, 40... in even courses, at x = 10, 30... in odd ones.
    even, odd = t[2:8], t[12:18]
    np.testing.assert_array_equal(np.flatnonzero(even.min(axis=0)), [0, 19, 20, 39, 40, 59, 60, 79])
    np.testing.assert_array_equal(np.flatnonzero(odd.min(axis=0)), [9, 10, 29, 30, 49, 50, 69, 70])
    assert even[:, 1:19].max() == 0.0 and odd[:, 11:29].max() == 0.0
    # Mortar area: joint (1 / height + 1 / length) less the crossings.
    assert t.mean() == pytest.approx(2 * (1 / 10 + 1 / 20) - 4 / 200)
    # Row and brick numbers: the odd course's bricks start half a brick earlier.
    np.testing.assert_array_equal(row[:, 0], np.repeat(np.arange(4), 10))
    np.testing.assert_array_equal(col[0, :30], np.repeat([0, 1], [20, 10]))
    np.testing.assert_array_equal(col[10, :30], np.repeat([0, 1, 2], [10, 20, 0]))
    # Wander moves the joints' edges: half a pixel gives half coverage 1.5 px from a joint.
    t2, _, _ = data.masonry(x, y, 10.0, 20.0, 2.0, np.array([0.0, 0.5]), wander=0.5)
    np.testing.assert_allclose(t2[1, 5], 0.5)


def test_masonry_appears_in_v4_textures():
    opts = data.SceneOptions(p_masonry=1.0, p_texture=1.0)
    img = data.render_scene(np.random.default_rng(1), 64, 3, opts)
    assert img.shape == (3, 64, 64) and np.isfinite(img).all() and img.min() >= 0.0 and img.max() <= 1.0
    assert not np.array_equal(img, data.render_scene(np.random.default_rng(1), 64, 3,
                                                     data.SceneOptions(p_texture=1.0)))


@pytest.mark.parametrize("p_varying", [0.0, 1.0])
def test_log_noise_law(p_varying):
    # The same scenes and the same normal draws; only the levels' law differs. Both laws
    # take one uniform number per level, so the rest of the stream is untouched.
    uni = data.training_batch(2, 3, 64, 16, 1, p_varying=p_varying, scenes="v2")
    log = data.training_batch(2, 3, 64, 16, 1, p_varying=p_varying, scenes="v2", noise_law="log")
    np.testing.assert_array_equal(uni[0], log[0])
    np.testing.assert_allclose(log[1] - log[0], log[2] * (uni[1] - uni[0]) / uni[2], rtol=1e-4, atol=1e-6)
    levels = log[2].reshape(64, -1)
    assert levels.min() >= data.LOG_SIGMA_MIN * (1 - 1e-6) and levels.max() <= data.SIGMA_MAX * (1 + 1e-6)
    if p_varying == 0.0:
        # log-uniform: ln(sigma) uniform, so about 60% of the levels lie below 8/255
        # (uniform law: 16%); 64 draws, bounds at about 4 standard deviations.
        low = np.mean(levels[:, 0] < 8 / 255)
        assert 0.35 < low < 0.85
        assert np.mean(uni[2].reshape(64, -1)[:, 0] < 8 / 255) < 0.4


def test_unknown_noise_law():
    with pytest.raises(ValueError, match="noise_law"):
        data.training_batch(0, 0, 1, 16, 1, noise_law="gamma")


def test_channel_correlated_noise():
    # 0 (the default) is the batch as it was; r > 0 changes the noise only, correlated
    # between channels by a rho uniform in [0, r], with unit variance per channel.
    base = data.training_batch(5, 1, 8, 32, 3)
    same = data.training_batch(5, 1, 8, 32, 3, channel_correlation=0.0)
    for a, b in zip(base, same):
        np.testing.assert_array_equal(a, b)
    clean, noisy, sigma = data.training_batch(5, 1, 256, 32, 3, p_varying=0.0, channel_correlation=1.0)
    independent = data.training_batch(5, 1, 256, 32, 3, p_varying=0.0)
    np.testing.assert_array_equal(clean, independent[0])  # the scenes and noise levels are the same
    np.testing.assert_array_equal(sigma, independent[2])
    assert not np.array_equal(noisy, independent[1])
    ok = sigma[:, 0, 0, 0] > 0  # p_varying = 0: one level per image
    unit = ((noisy - clean) / np.where(sigma > 0, sigma, 1))[ok]
    assert abs(unit.std() - 1.0) < 0.02
    r = np.array([np.corrcoef(u[0].ravel(), u[1].ravel())[0, 1] for u in unit])
    assert r.min() > -0.1 and r.max() > 0.9  # from independent to nearly the same
    assert abs(r.mean() - 0.5) < 0.06  # rho uniform in [0, 1]: mean 1/2
    _, noisy_h, sigma_h = data.training_batch(5, 1, 256, 32, 3, p_varying=0.0, channel_correlation=0.3)
    r_h = np.array([np.corrcoef(u[0].ravel(), u[1].ravel())[0, 1]
                    for u in ((noisy_h - clean) / np.where(sigma_h > 0, sigma_h, 1))[ok]])
    assert r_h.max() < 0.3 + 0.15 and abs(r_h.mean() - 0.15) < 0.05
    # Grey batches have no channels to correlate: unchanged.
    for a, b in zip(data.training_batch(5, 1, 4, 32, 1), data.training_batch(5, 1, 4, 32, 1, channel_correlation=1.0)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="channel_correlation must be in"):
        data.training_batch(5, 1, 4, 32, 3, channel_correlation=1.5)
