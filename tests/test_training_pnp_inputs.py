"""training/pnp_inputs.py (train.py --pnp-fraction): its schedule is unblur's, its PSFs are
PSFs, its draws are deterministic, and (with PyTorch) its inputs are the exact data step
of the periodic blur model, checked against SciPy's wrap-around convolution. The NumPy half
runs without PyTorch (CI); the rest is skipped there. In the training environment:
/work/trainenv/bin/python -m pytest tests/test_training_pnp_inputs.py --noconftest -q"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import pnp_inputs as P  # noqa: E402


def test_schedule_is_unblurs():
    _pnp = pytest.importorskip("unblur._pnp")  # the training environment lacks unblur
    assert (P.ITERATIONS, P.LAM, P.SIGMA_START, P.SIGMA_FLOOR) == (_pnp.ITERATIONS, _pnp.LAM, _pnp.SIGMA_START,
                                                                   _pnp.SIGMA_FLOOR)
    for sigma in (0.0, 0.001, 0.01, 0.03, 0.06, 0.3):
        np.testing.assert_allclose(P.schedule(sigma), _pnp.schedule(sigma)[0], rtol=1e-12)


def _centroid(h):
    r = h.shape[0] // 2
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return float((h * y).sum()), float((h * x).sum())


def test_psfs_are_normalised_centred_and_of_every_kind():
    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(200):
        state = rng.bit_generator.state
        kind = P.PSF_KINDS[rng.integers(len(P.PSF_KINDS))]
        rng.bit_generator.state = state  # random_psf draws the same kind
        h = P.random_psf(rng)
        seen.add(kind)
        assert h.shape == (P.PSF_SIZE, P.PSF_SIZE) and h.dtype == np.float32
        assert h.min() >= 0 and abs(float(h.sum()) - 1) < 1e-5
        cy, cx = _centroid(h)
        # Gaussian, disk and motion are symmetric about the centre; a shake path is
        # centred on its mean point, which its smoothing and splatting move slightly.
        assert abs(cy) < (1.0 if kind == "shake" else 0.05) and abs(cx) < (1.0 if kind == "shake" else 0.05), kind
        # Its support stays inside the box (nothing piled up on the border).
        assert h[0].sum() + h[-1].sum() + h[:, 0].sum() + h[:, -1].sum() < 0.02
    assert seen == set(P.PSF_KINDS)


def test_draws_are_deterministic_and_in_range():
    a = P.draw(P.pnp_rng(3, 5), 6, 1, 32)
    b = P.draw(P.pnp_rng(3, 5), 6, 1, 32)
    c = P.draw(P.pnp_rng(3, 6), 6, 1, 32)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["noise"], c["noise"])
    assert a["psf"].shape == (6, 32, 32) and a["noise"].shape == (6, 1, 32, 32)
    np.testing.assert_allclose(a["psf"].sum(axis=(1, 2)), 1, atol=1e-5)
    lo, hi = P.NOISE_RANGE
    assert np.all((a["sigma"] >= lo) & (a["sigma"] <= hi))
    ratio = a["estimate"] / a["sigma"]
    assert np.all((ratio >= P.ESTIMATE_ERROR[0] - 1e-6) & (ratio <= P.ESTIMATE_ERROR[1] + 1e-6))
    assert np.all((a["step"] >= 0) & (a["step"] < P.ITERATIONS))
    late = P.draw(P.pnp_rng(3, 5), 50, 1, 32, first_step=5)["step"]
    assert late.min() >= 5 and set(late.tolist()) == {5, 6, 7}
    with pytest.raises(ValueError, match="first_step"):
        P.draw(P.pnp_rng(3, 5), 1, 1, 32, first_step=8)
    with pytest.raises(ValueError, match="size"):
        P.draw(P.pnp_rng(3, 5), 1, 1, P.PSF_SIZE - 1)


def test_the_scene_stream_is_not_touched():
    # The PnP draws have their own generator: the scenes of a batch are the plain run's.
    from training import data

    before = data.training_batch(1, 4, 2, 32, 1, scenes="v2")
    P.draw(P.pnp_rng(1, 4), 2, 1, 32)
    after = data.training_batch(1, 4, 2, 32, 1, scenes="v2")
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)


def _wrap_convolve(image, psf_grid):
    """Circular convolution with a PSF stored on the periodic grid (centre at [0, 0]),
    by SciPy, with no FFT."""
    s = psf_grid.shape[0]
    r = P.PSF_SIZE // 2
    kernel = np.roll(psf_grid, (r, r), axis=(0, 1))[: 2 * r + 1, : 2 * r + 1]
    assert s > 2 * r + 1
    return ndimage.convolve(image.astype(np.float64), kernel.astype(np.float64), mode="wrap")


def _observation(clean, draws, i):
    """Image i's blurred, noisy observation g, by SciPy, in float64."""
    return _wrap_convolve(clean[i, 0], draws["psf"][i]) + draws["sigma"][i] * draws["noise"][i, 0].astype(np.float64)


def _assert_data_step(x, g, h, alpha, z, where):
    """x solves the data step's normal equations H^T (H x - g) + alpha (x - z) = 0."""
    flipped = np.roll(np.flip(h, (0, 1)), (1, 1), axis=(0, 1))  # h(-x) on the periodic grid
    residual = _wrap_convolve(_wrap_convolve(x, h) - g, flipped) + alpha * (x - z)
    scale = np.abs(alpha * z).max() + np.abs(_wrap_convolve(g, flipped)).max()
    assert np.abs(residual).max() < 2e-5 * scale, where


def _exact_data_step(g, h, alpha, z):
    """argmin ||h * x - g||^2 + alpha ||x - z||^2 on the periodic grid, in float64."""
    otf = np.fft.fft2(h.astype(np.float64))
    return np.real(np.fft.ifft2((otf.conj() * np.fft.fft2(g) + alpha * np.fft.fft2(z)) / (abs(otf) ** 2 + alpha)))


def _tensors(torch, draws):
    return {k: torch.from_numpy(np.asarray(v)) for k, v in draws.items()}


def test_inputs_are_the_exact_data_step():
    torch = pytest.importorskip("torch")
    n, s = 5, 32
    rng = np.random.default_rng(11)
    clean = rng.uniform(0, 1, (n, 1, s, s)).astype(np.float32)
    draws = P.draw(P.pnp_rng(0, 0), n, 1, s)
    draws["step"] = np.array([0, 1, 2, 7, 3])
    calls = []

    class Recorder(torch.nn.Module):  # a 'denoiser' that halves the image and records its noise maps
        def forward(self, x):
            calls.append(x[:, 1].clone())
            return 0.5 * x[:, :1]

    model = Recorder().train()
    tensors = _tensors(torch, draws)
    x, smap = P.inputs(model, torch.from_numpy(clean.copy()), tensors)
    assert model.training  # restored
    x, smap = x.numpy().astype(np.float64), smap.numpy()
    # One denoiser call per step before the deepest one, on the images still running.
    assert len(calls) == 7 and [len(c) for c in calls] == [4, 3, 2, 1, 1, 1, 1]
    for i in range(n):
        k = int(draws["step"][i])
        sched = P.schedule(float(draws["estimate"][i]))
        np.testing.assert_allclose(smap[i, 0], sched[k], rtol=1e-6)
        h = draws["psf"][i]
        g = _observation(clean, draws, i)
        # Replay the chain with SciPy's convolutions, checking each data step by its normal
        # equations H^T (H x - g) + alpha (x - z) = 0 instead of solving them.
        z = g
        for j in range(k + 1):
            alpha = P.LAM * max(float(draws["estimate"][i]), P.SIGMA_FLOOR) ** 2 / sched[j] ** 2
            if j < k:  # the exact solve, in float64, for the next step's z
                z = 0.5 * _exact_data_step(g, h, alpha, z)
        _assert_data_step(x[i, 0], g, h, alpha, z, (i, k))


def test_clean_previous_inputs_are_the_data_step_from_the_clean_image():
    # --pnp-previous clean: the data step at the drawn step with z = the clean image, so
    # H^T (H x - g) + alpha (x - clean) = 0, and the noise map is the step's sigma_k.
    torch = pytest.importorskip("torch")
    n, s = 4, 32
    rng = np.random.default_rng(12)
    clean = rng.uniform(0, 1, (n, 1, s, s)).astype(np.float32)
    draws = P.draw(P.pnp_rng(2, 1), n, 1, s)
    draws["step"] = np.array([0, 3, 6, 7])
    tensors = _tensors(torch, draws)
    x, smap = P.clean_previous_inputs(torch.from_numpy(clean.copy()), tensors)
    x, smap = x.numpy().astype(np.float64), smap.numpy()
    for i in range(n):
        k = int(draws["step"][i])
        sched = P.schedule(float(draws["estimate"][i]))
        np.testing.assert_allclose(smap[i, 0], sched[k], rtol=1e-6)
        alpha = P.LAM * max(float(draws["estimate"][i]), P.SIGMA_FLOOR) ** 2 / sched[k] ** 2
        _assert_data_step(x[i, 0], _observation(clean, draws, i), draws["psf"][i], alpha, clean[i, 0], (i, k))
        # What is left is coloured noise, weaker than the map says (the data step passes at
        # most about sigma_k at any frequency).
        err = (x[i, 0] - clean[i, 0]).std()
        assert 0 < err < sched[k], (i, k, err, sched[k])


def _orient_np(v, t):
    """unblur._pnp._orient's documented order on an (H, W) array: a flip of the columns
    for t >= 4, then t % 4 quarter turns (the reference for pnp_inputs._turn)."""
    return np.rot90(np.flip(v, axis=1) if t >= 4 else v, t % 4)


def test_turns_are_unblurs_orientations_and_undo_them():
    torch = pytest.importorskip("torch")
    v = np.random.default_rng(13).random((2, 3, 6, 6)).astype(np.float32)
    tv = torch.from_numpy(v)
    for t in range(8):
        turned = P._turn(torch, tv, t).numpy()
        np.testing.assert_array_equal(turned[1, 2], _orient_np(v[1, 2], t))
        np.testing.assert_array_equal(P._turn(torch, P._turn(torch, tv, t), t, undo=True).numpy(), v)


def test_the_orientation_reference_is_unblurs():
    # Where unblur is installed (CI; not the training environment, not torch needed).
    _pnp = pytest.importorskip("unblur._pnp")
    v = np.random.default_rng(16).random((5, 7))
    for t in range(8):
        np.testing.assert_array_equal(_orient_np(v, t), _pnp._orient(v, t, np))


def test_unrolled_is_the_whole_schedule_with_cycled_orientations():
    # A 'denoiser' that is not orientation-equivariant (it adds a ramp along the columns
    # of what it sees, scaled by the noise map): the unrolled chain must equal a NumPy
    # replay of the 8 exact periodic data steps, step k's denoiser seeing the (k mod 8)-th
    # orientation of its input, turned back after.
    torch = pytest.importorskip("torch")
    n, s = 3, 32
    rng = np.random.default_rng(14)
    clean = rng.uniform(0, 1, (n, 1, s, s)).astype(np.float32)
    draws = P.draw(P.pnp_rng(3, 2), n, 1, s)
    ramp = np.arange(s, dtype=np.float64) / s

    class Ramp(torch.nn.Module):
        def forward(self, x):
            return 0.9 * x[:, :1] + x[:, 1:2] * torch.arange(s, dtype=x.dtype) / s

    tensors = _tensors(torch, draws)
    for cycle in (True, False):
        out = P.unrolled(Ramp(), torch.from_numpy(clean.copy()), tensors, cycle=cycle).numpy()
        for i in range(n):
            g = _observation(clean, draws, i)
            sched = P.schedule(float(draws["estimate"][i]))
            est = max(float(draws["estimate"][i]), P.SIGMA_FLOOR)
            z = g
            for k in range(P.ITERATIONS):
                alpha = P.LAM * est ** 2 / sched[k] ** 2
                x = _exact_data_step(g, draws["psf"][i], alpha, z)
                t = k % 8 if cycle else 0
                d = 0.9 * _orient_np(x, t) + sched[k] * ramp[None, :]
                # undo: t % 4 quarter turns back, then the flip
                d = np.rot90(d, -(t % 4))
                z = np.flip(d, axis=1) if t >= 4 else d
            np.testing.assert_allclose(out[i, 0], z, atol=2e-5, err_msg=f"image {i}, cycle {cycle}")


def test_unrolled_passes_gradients_through_every_step():
    # The loss on the final estimate reaches the denoiser through all 8 calls: for a
    # 'denoiser' x -> a x, the gradient in a equals the loss's finite difference in a
    # (float64), which a gradient through the last call alone would not.
    torch = pytest.importorskip("torch")
    n, s = 2, 32
    clean = torch.from_numpy(np.random.default_rng(15).uniform(0, 1, (n, 1, s, s)))
    draws = {k: torch.from_numpy(np.asarray(v)).double() if np.asarray(v).dtype.kind == "f" else torch.from_numpy(np.asarray(v))
             for k, v in P.draw(P.pnp_rng(4, 0), n, 1, s).items()}
    calls = []

    class Scale(torch.nn.Module):
        def __init__(self, a):
            super().__init__()
            self.a = torch.nn.Parameter(torch.tensor(a, dtype=torch.float64))

        def forward(self, x):
            calls.append(1)
            return (self.a * x[:, :1]).double()

    def loss(model):
        out = P.unrolled(model, clean, draws)
        return ((out - clean) ** 2).mean()

    model = Scale(0.95)
    loss(model).backward()
    assert len(calls) == P.ITERATIONS
    eps = 1e-6
    with torch.no_grad():
        numeric = (loss(Scale(0.95 + eps)) - loss(Scale(0.95 - eps))) / (2 * eps)
    assert float(model.a.grad) == pytest.approx(float(numeric), rel=1e-5)
    # Through the last call alone the gradient would be 2 mean((z - clean) z) / a.
    with torch.no_grad():
        out = P.unrolled(Scale(0.95), clean, draws)
        last_only = float(2 * ((out - clean) * out).mean() / 0.95)
    assert abs(last_only - float(numeric)) > 1e-3 * abs(float(numeric))


def test_train_unrolled_option(tmp_path, monkeypatch):
    # train.py --unrolled: refusals, and in a run the images after the --pnp-fraction ones
    # go through the whole schedule (the scenes of the plain batch), the others not.
    pytest.importorskip("torch")
    from training import data as gen
    from training import train

    base = ["--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "4", "--patch", "32", "--width", "4",
            "--levels", "2", "--blocks", "1", "--threads", "1", "--no-export", "--val-every", "1000", "--seed", "3",
            "--channels", "1"]
    for bad in (["--unrolled", "1.5"], ["--unrolled", "0.1"], ["--unrolled", "0.5", "--pnp-fraction", "0.75"],
                ["--unrolled", "0.5", "--patch", "16"]):
        with pytest.raises(SystemExit):
            train.parse_args(base + bad)
    seen = []
    real = P.unrolled

    def recording(model, clean, draws, cycle=True):
        seen.append((clean.clone(), {k: v.clone() for k, v in draws.items()}))
        return real(model, clean, draws, cycle)

    monkeypatch.setattr(train.pnp_inputs, "unrolled", recording)
    summary = train.main(base + ["--unrolled", "0.5", "--pnp-fraction", "0.25"])
    assert len(seen) == 2
    for index, (clean, draws) in enumerate(seen):
        expected = gen.training_batch(3, index, 4, 32, 1, 0.25, "v1")[0]
        np.testing.assert_array_equal(clean.numpy(), expected[1:3])  # after the one PnP-input image
        all_draws = P.draw(P.pnp_rng(3, index), 3, 1, 32)
        np.testing.assert_array_equal(draws["psf"].numpy(), all_draws["psf"][1:3])
    assert summary["training"]["unrolled"] == 0.5
