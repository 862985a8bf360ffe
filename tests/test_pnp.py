"""Plug-and-play deconvolution: the data step on every face, the HQS loop, its arguments."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import unblur
from conftest import tol
from unblur import _core, _pnp
from unblur._xp import wiener as ref
from unblur._xp.blur_operator import BlurOperator

pytest.importorskip("onnxruntime")

import unblur.models  # noqa: E402

host = _core.gpu_on_host


def _psf(rng, shape, dtype):
    p = rng.random(shape).astype(dtype) + 0.05
    return (p / p.sum()).astype(dtype)


def _close(a, b, dtype):
    t = tol(dtype)
    np.testing.assert_allclose(a, b, rtol=t["rtol"], atol=t["atol"] * max(1.0, float(np.abs(b).max())))


def _dense(fn, grid):
    """The matrix of a linear map on grid arrays, column by column."""
    n = int(np.prod(grid))
    cols = []
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        cols.append(np.asarray(fn(e.reshape(grid)), np.float64).ravel())
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect"])
def test_data_prox_is_the_exact_minimiser(rng, boundary):
    """Against a dense solve of (A^T A + alpha I) x = A^T g + alpha z built column by column."""
    g = rng.random((9, 8))
    psf = _psf(rng, (3, 5), np.float64)
    grid = tuple(_core.quadratic_grid_shape(g.shape, psf.shape, boundary))
    z = rng.random(grid)
    alpha = 0.03
    if boundary == "auto":
        op = BlurOperator(psf, g.shape, extended=True)
        a = _dense(op.forward, grid)
        data = g
    else:
        op = BlurOperator(psf, grid, extended=False)
        a = _dense(op.forward_grid, grid)
        data = g if boundary == "periodic" else ref._reflect_data(g, psf.shape, grid)
    want = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ data.ravel() + alpha * z.ravel())
    got, info = _core.data_prox(g, psf, boundary, alpha, z, z.copy(), 1e-12, 500, 0)
    np.testing.assert_allclose(got.ravel(), want, rtol=1e-9, atol=1e-10)
    assert tuple(info["grid_shape"]) == grid
    assert (info["iterations"] > 0) == (boundary == "auto")


@pytest.mark.parametrize("boundary", ["auto", "periodic", "reflect"])
@pytest.mark.parametrize("shape, psf_shape", [((37, 42), (5, 7)), ((24, 31), (9, 3)), ((16, 16), (1, 1))])
def test_data_prox_faces_agree(rng, dtype, boundary, shape, psf_shape):
    """C++ core, the GPU algorithm on the host executor, and the array-API reference."""
    g = rng.random(shape).astype(dtype)
    psf = _psf(rng, psf_shape, dtype)
    grid = tuple(_core.quadratic_grid_shape(shape, psf_shape, boundary))
    z = rng.random(grid).astype(dtype)
    x0 = (z + 0.1 * rng.standard_normal(grid)).astype(dtype)
    alpha = float(rng.uniform(0.005, 0.5))
    t = 1e-10 if dtype == np.float64 else 0.0
    got, ci = _core.data_prox(g, psf, boundary, alpha, z, x0, t, 500, 0)
    gpu, gi = host.data_prox(g, psf, boundary, alpha, z, x0, t, 500)
    want, ri = ref.data_prox(g, psf, boundary, alpha, z, x0, tolerance=t)
    assert got.dtype == gpu.dtype == want.dtype == dtype
    # The engines and the reference take the same CG steps, but each reads its own
    # residual in the stop test (relative residual <= tolerance), and rounding, amplified
    # over the iterations, moves their residuals apart a little: where an iterate lies
    # that close to the tolerance one stops a step before the other (seen: 1.0079e-5 vs
    # 0.9984e-5 after 23 float32 steps, 1.0115e-10 vs 0.9377e-10 after 64 float64 steps).
    # A different algorithm (preconditioner, operator) would be many steps off.
    its = (ci["iterations"], gi["iterations"], ri["iterations"])
    assert max(its) - min(its) <= 2, its
    if boundary != "auto":  # closed forms: the same arithmetic on every face
        _close(got, want, dtype)
        _close(gpu, want, dtype)
        return
    # 'auto' stops the CG at a relative residual (1e-10 in float64, the default 1e-5 in
    # float32, where the reference iterates in float64 and the engines in float32). With
    # alpha near 0.005 the halo is weakly determined and CG's iterates are sensitive to
    # rounding, so the faces' solutions differ by far more than round-off (up to 6e-4 in
    # float32, 8e-13 on elements of 0.02 in float64: seen on ~3% and ~2% of fresh draws
    # against element-wise tolerances). Each is held to what the solver promises instead:
    # its true residual b - N x (N = A^T M A + alpha I, evaluated in float64) within the
    # stopping rule plus the round-off of storing x in its dtype, and any two solutions
    # within the distance their residuals allow, |x_a - x_b| <= (|r_a| + |r_b|) / alpha
    # (N's smallest eigenvalue is at least alpha).
    ext = BlurOperator(psf.astype(np.float64), shape, extended=True)
    b = ext.adjoint(g.astype(np.float64)) + alpha * z.astype(np.float64)
    stop = t if t > 0 else 1e-5

    def residual(x):
        x = x.astype(np.float64)
        r = np.linalg.norm(b - ext.adjoint(ext.forward(x)) - alpha * x)
        assert r <= stop * np.linalg.norm(b) + 4 * (1 + alpha) * np.finfo(dtype).eps * np.linalg.norm(x)
        return r

    r_ref = residual(want)
    for x in (got, gpu):
        dist = np.linalg.norm(x.astype(np.float64) - want.astype(np.float64))
        assert dist <= (residual(x) + r_ref) / alpha


def test_data_prox_bad_input(rng):
    g = rng.random((20, 20))
    psf = _psf(rng, (3, 3), np.float64)
    grid = tuple(_core.quadratic_grid_shape(g.shape, psf.shape, "auto"))
    z = rng.random(grid)
    for fn in (_core.data_prox, host.data_prox):
        for alpha in (0.0, -1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="alpha"):
                fn(g, psf, "auto", alpha, z, z)
        with pytest.raises(ValueError, match="z must have the model's grid shape"):
            fn(g, psf, "auto", 0.1, z[:-1], z)
        with pytest.raises(ValueError, match="x0"):
            fn(g, psf, "auto", 0.1, z, z[:, :-1].copy())
        with pytest.raises(TypeError, match="z must have dtype"):
            fn(g, psf, "auto", 0.1, z.astype(np.float32), z)


def _case(shape=(96, 96), noise=0.01, seed=0, psf=None):
    truth = unblur.data.astronaut()[60:60 + shape[0] + 14, 150:150 + shape[1] + 14, 1] / 255.0
    psf = unblur.psf.motion(9.0, 30.0) if psf is None else psf
    blurred = unblur.convolve(truth, psf, mode="valid")
    blurred = blurred + np.random.default_rng(seed).normal(0, noise, blurred.shape)
    k = psf.shape[0] // 2, psf.shape[1] // 2
    t = truth[k[0]:k[0] + blurred.shape[0], k[1]:k[1] + blurred.shape[1]]
    return t, blurred, psf


def _psnr(a, b):
    return float(unblur.metrics.psnr(a, b, data_range=1))


def test_pnp_beats_tv_on_a_valid_blur():
    """Measured here: PnP 31.0 dB, TV (deconvolve's default) 30.3, the blurred input 25.8
    (motion 9 px at 30 degrees, noise 0.01, 104x102); the bound is half the gain."""
    t, g, psf = _case()
    out, info = unblur.pnp_deconvolve(g, psf, return_info=True)
    tv = unblur.deconvolve(g, psf)
    assert out.shape == g.shape and out.dtype == g.dtype
    assert _psnr(t, out) > _psnr(t, tv) + 0.35
    assert info["method"] == "pnp" and info["iterations"] == 8 and len(info["sigmas"]) == 8
    assert info["sigmas"][0] == pytest.approx(49 / 255) and info["sigmas"][-1] == pytest.approx(info["noise_sigma"])
    assert all(a < b for a, b in zip(info["alphas"], info["alphas"][1:]))


def test_deconvolve_method_pnp_is_pnp_deconvolve():
    _, g, psf = _case((48, 48))
    a, info = unblur.deconvolve(g, psf, method="pnp", return_info=True)
    b = unblur.pnp_deconvolve(g, psf)
    np.testing.assert_array_equal(a, b)
    assert info["method"] == "pnp"


def test_pnp_periodic_boundary_on_a_periodic_blur():
    """Where the periodic model is exact. Measured: PnP 28.7 dB, TV 27.7, blurred 22.1.
    ('reflect' is checked for its data step above; on valid blurs neither it nor
    'periodic' is the right model, and PnP's weak final regularisation then amplifies
    the model error: 11 dB on _case's motion blur.)"""
    psf = unblur.psf.motion(9.0, 30.0)
    truth = unblur.data.astronaut()[60:124, 150:214, 1] / 255.0
    g = unblur.convolve(truth, psf, boundary="periodic") + np.random.default_rng(0).normal(0, 0.01, truth.shape)
    out = unblur.pnp_deconvolve(g, psf, boundary="periodic")
    tv = unblur.deconvolve(g, psf, boundary="periodic")
    assert out.shape == g.shape
    assert _psnr(truth, out) > _psnr(truth, tv) + 0.45


def test_pnp_float32_matches_float64():
    t, g, psf = _case((64, 64))
    a = unblur.pnp_deconvolve(g, psf, noise_sigma=0.01)
    b = unblur.pnp_deconvolve(g.astype(np.float32), psf, noise_sigma=0.01)
    assert b.dtype == np.float32
    # The denoiser runs in float32 either way; the data step's precision differs.
    assert np.abs(a - b).max() < 2e-3
    assert abs(_psnr(t, a) - _psnr(t, b)) < 0.02


def test_pnp_colour_per_channel_equals_channel_by_channel():
    t, g, psf = _case((48, 48))
    rgb = np.stack([g, 0.8 * g, np.flipud(g).copy()], axis=-1)
    grey = unblur.models.denoiser(channels="grey")
    out, info = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, noise_sigma=0.01, return_info=True, denoiser=grey)
    assert not info["joint_channels"] and len(info["cg_iterations"][0]) == 3
    for c in range(3):
        one = unblur.pnp_deconvolve(np.ascontiguousarray(rgb[..., c]), psf, noise_sigma=0.01)
        np.testing.assert_array_equal(out[..., c], one)


def _colour_case(shape=(40, 40), noise=0.01, rho=0.0):
    """Three channels of _case's scene (the second dimmed, the third flipped), blurred,
    with noise of sigma `noise` correlated between channels by `rho`."""
    t, g, psf = _case(shape, noise=0.0)
    t = np.stack([t, 0.8 * t, np.flipud(t)], axis=-1)
    g = np.stack([g, 0.8 * g, np.flipud(g)], axis=-1)
    rng = np.random.default_rng(5)
    n = np.sqrt(rho) * rng.normal(0, noise, g.shape[:2] + (1,)) + np.sqrt(1 - rho) * rng.normal(0, noise, g.shape)
    return t, g + n, psf


def test_pnp_default_denoiser_is_the_rgb_model_for_three_channels_and_the_grey_one_otherwise():
    _, rgb, psf = _colour_case((40, 40))
    out, info = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, noise_sigma=0.01, return_info=True)
    assert info["joint_channels"] and out.shape == rgb.shape
    assert abs(info["noise_correlation"]) < 0.15
    want = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, noise_sigma=0.01,
                                 denoiser=unblur.models.denoiser(channels="rgb"))
    np.testing.assert_array_equal(out, want)
    # Channels first, too; two channels go to the grey model one by one.
    first, info = unblur.pnp_deconvolve(np.moveaxis(rgb, -1, 0).copy(), psf, channel_axis=0, noise_sigma=0.01,
                                        return_info=True)
    assert info["joint_channels"]
    np.testing.assert_allclose(np.moveaxis(first, 0, -1), out, rtol=0, atol=1e-6)
    _, info = unblur.pnp_deconvolve(rgb[..., :2].copy(), psf, channel_axis=-1, noise_sigma=0.01, return_info=True)
    assert not info["joint_channels"]


@pytest.mark.parametrize("axis", [-1, 0])
def test_pnp_a_grey_picture_stored_as_rgb_gets_the_grey_model(axis):
    # R = G = B, noise included: the RGB model, trained on independent noise per channel,
    # restored such an image ~1 dB worse than the grey model and put colour fringes on it.
    t, g, psf = _case((48, 48), noise=0.03)
    rgb = np.stack([g] * 3, axis=axis)
    out, info = unblur.pnp_deconvolve(rgb, psf, channel_axis=axis, return_info=True)
    grey, grey_info = unblur.pnp_deconvolve(g, psf, return_info=True)
    assert info["grey_as_rgb"] and not info["joint_channels"] and not grey_info["grey_as_rgb"]
    assert out.shape == rgb.shape
    for c in range(3):
        np.testing.assert_array_equal(np.take(out, c, axis=axis), grey)
    assert info["cg_iterations"] == [[n] * 3 for n in grey_info["cg_iterations"]]
    # What it replaces: the RGB model on the same picture is worse and not grey.
    joint = unblur.pnp_deconvolve(rgb, psf, channel_axis=axis, denoiser=unblur.models.denoiser(channels="rgb"))
    assert _psnr(t, np.clip(np.take(joint, 0, axis=axis), 0, 1)) < _psnr(t, np.clip(grey, 0, 1))
    # One channel off by one step of its precision is a colour image: the RGB model.
    almost = rgb.copy()
    almost[(2, 0, 0) if axis == 0 else (0, 0, 2)] += 1e-6
    assert not unblur.pnp_deconvolve(almost, psf, channel_axis=axis, return_info=True)[1]["grey_as_rgb"]


def test_pnp_noise_correlated_between_channels_gets_the_grey_model_on_each():
    # The RGB model, trained on noise independent per channel, took correlated noise (a
    # camera's) for structure: at rho 0.8 it was 1.8 / 3.2 dB worse than the grey model
    # per channel on bench/pnp_colour.py, below colour TV at noise 0.03.
    t, rgb, psf = _colour_case((64, 64), noise=0.03, rho=0.8)
    out, info = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, return_info=True)
    assert 0.6 < info["noise_correlation"] < 1.0 and not info["joint_channels"] and not info["grey_as_rgb"]
    grey = unblur.models.denoiser(channels="grey")
    np.testing.assert_array_equal(out, unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, denoiser=grey))
    joint = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, denoiser=unblur.models.denoiser(channels="rgb"))
    assert _psnr(t, np.clip(out, 0, 1)) > _psnr(t, np.clip(joint, 0, 1))
    # An explicit denoiser is what runs, whatever the noise.
    _, info = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, denoiser=unblur.models.denoiser(channels="rgb"),
                                    return_info=True)
    assert info["joint_channels"] and info["noise_correlation"] is None


class _ColourIdentity:
    """A 3-channel denoiser that returns its input and records the shapes it is given."""

    channels = 3

    def __init__(self):
        self.seen = []

    def __call__(self, x, sigma):
        self.seen.append(x.shape)
        return x


def test_pnp_joint_colour_denoiser_is_called_on_all_channels():
    _, g, psf = _case((32, 32))
    rgb = np.stack([g, g, g], axis=-1)
    colour = _ColourIdentity()
    unblur.pnp_deconvolve(rgb, psf, channel_axis=2, denoiser=colour, iterations=3)
    assert len(colour.seen) == 3 and all(s[-1] == 3 and len(s) == 3 for s in colour.seen)


def test_pnp_custom_denoiser_schedule_and_callback():
    _, g, psf = _case((32, 32))
    calls, states = [], []

    def identity(x, sigma):
        calls.append(sigma)
        return x

    _, info = unblur.pnp_deconvolve(g, psf, denoiser=identity, iterations=5, lam=0.5, sigma_start=0.1,
                                    noise_sigma=0.02, return_info=True, callback=states.append)
    np.testing.assert_allclose(calls, np.geomspace(0.1, 0.02, 5))
    np.testing.assert_allclose(info["alphas"], 0.5 * 0.02**2 / np.geomspace(0.1, 0.02, 5) ** 2)
    assert [s["iteration"] for s in states] == [1, 2, 3, 4, 5]
    assert all(s["max_iterations"] == 5 and s["relative_change"] >= 0 for s in states)
    # Stopping early.
    _, info = unblur.pnp_deconvolve(g, psf, denoiser=identity, return_info=True,
                                    callback=lambda s: s["iteration"] < 2)
    assert info["iterations"] == 2


def _orientations(v, t):
    """The t-th flip/rotation as pnp_deconvolve's self_ensemble defines it: a flip of the
    columns when t >= 4, then t % 4 quarter turns."""
    return np.rot90(v[:, ::-1] if t >= 4 else v, t % 4)


def test_pnp_self_ensemble_cycle_turns_each_step_by_the_next_orientation():
    """With an identity denoiser every mode has the same iterates; 'cycle' must show step
    k the (k mod 8)-th flip/rotation of the iterate 'none' shows, and 'mean' all 8 (a
    non-square image, so the quarter turns swap its sides)."""
    _, g, psf = _case((30, 37))
    seen = {"none": [], "cycle": [], "mean": []}
    for mode, inputs in seen.items():
        def identity(x, sigma, inputs=inputs):
            inputs.append(x.copy())
            return x
        unblur.pnp_deconvolve(g, psf, denoiser=identity, iterations=10, noise_sigma=0.01, self_ensemble=mode)
    assert len(seen["none"]) == len(seen["cycle"]) == 10 and len(seen["mean"]) == 80
    for k, x in enumerate(seen["none"]):
        np.testing.assert_array_equal(seen["cycle"][k], _orientations(x, k % 8))
        for t in range(8):
            np.testing.assert_allclose(seen["mean"][8 * k + t], _orientations(x, t), rtol=0, atol=1e-12)
    assert {x.shape for x in seen["cycle"]} == {seen["none"][0].shape, seen["none"][0].shape[::-1]}


def test_pnp_self_ensemble_undoes_each_orientation():
    """A denoiser that is not orientation-equivariant (it adds a fraction of the pixel
    above): 'cycle' and 'mean' must give the manual computation from the data step's
    output; 'none' the denoiser's own."""
    _, g, psf = _case((30, 37))

    def shear(x, sigma):
        out = x.copy()
        out[1:] += 0.25 * x[:-1]
        return out

    steps = []
    unblur.pnp_deconvolve(g, psf, denoiser=lambda x, s: steps.append(x.copy()) or x, iterations=1, noise_sigma=0.01,
                          self_ensemble="none")
    x = steps[0]
    k = psf.shape[0] // 2, psf.shape[1] // 2
    window = (slice(k[0], k[0] + g.shape[0]), slice(k[1], k[1] + g.shape[1]))

    def undo(d, t):
        d = np.rot90(d, -(t % 4))
        return d[:, ::-1] if t >= 4 else d

    want = {"none": shear(x, 0), "cycle": shear(x, 0),  # step 1 of 'cycle' sees orientation 0
            "mean": np.mean([undo(shear(np.ascontiguousarray(_orientations(x, t)), 0), t) for t in range(8)], axis=0)}
    for mode, w in want.items():
        out = unblur.pnp_deconvolve(g, psf, denoiser=shear, iterations=1, noise_sigma=0.01, self_ensemble=mode)
        np.testing.assert_allclose(out, w[window], rtol=0, atol=1e-12)
    assert np.abs(want["mean"] - want["none"]).max() > 1e-3  # the shear is not equivariant: the test can fail
    # Two steps: the second step of 'cycle' sees the image turned a quarter.
    calls = []
    unblur.pnp_deconvolve(g, psf, denoiser=lambda x, s: calls.append(x.shape) or shear(x, s), iterations=2,
                          noise_sigma=0.01, self_ensemble="cycle")
    assert calls == [x.shape, x.shape[::-1]]


def test_pnp_self_ensemble_joint_colour_turns_the_spatial_axes_only():
    _, g, psf = _case((24, 29))
    rgb = np.stack([g, 0.8 * g, np.flipud(g).copy()], axis=-1)
    colour = _ColourIdentity()
    plain = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, denoiser=colour, iterations=2, self_ensemble="none")
    turned = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, denoiser=colour, iterations=2, self_ensemble="cycle")
    seen = colour.seen
    assert seen[2][:2] == seen[3][1::-1] and seen[3][2] == 3
    np.testing.assert_allclose(turned, plain, rtol=0, atol=1e-12)  # an equivariant denoiser: no change


def test_pnp_noiseless_schedule_has_a_floor():
    _, g, psf = _case((32, 32), noise=0.0)
    _, info = unblur.pnp_deconvolve(g, psf, noise_sigma=0.0, denoiser=lambda x, s: x, return_info=True)
    assert info["sigmas"][-1] == pytest.approx(0.5 / 255)
    assert np.isfinite(info["alphas"]).all() and min(info["alphas"]) > 0


def test_pnp_schedule_at_extreme_levels():
    """A noise level whose square overflows still has alpha_k = lam (sigma_k = sigma at
    every step); weights that underflow to 0 (a huge sigma_start, a tiny lam) are a
    ValueError naming the arguments, not the C++ data step's complaint about 'alpha'."""
    _, g, psf = _case((32, 32))
    out, info = unblur.pnp_deconvolve(g, psf, noise_sigma=1e300, denoiser=lambda x, s: x, iterations=2,
                                      return_info=True)
    assert info["alphas"] == [0.23, 0.23] and np.isfinite(out).all()
    for kwargs in ({"sigma_start": 1e300}, {"lam": 5e-324}):
        with pytest.raises(ValueError, match="lam, sigma_start and the noise level") as e:
            unblur.pnp_deconvolve(g, psf, noise_sigma=0.01, denoiser=lambda x, s: x, **kwargs)
        assert type(e.value) is ValueError


def test_pnp_bad_input():
    _, g, psf = _case((32, 32))
    with pytest.raises(ValueError, match="iterations"):
        unblur.pnp_deconvolve(g, psf, iterations=0)
    with pytest.raises(TypeError, match="iterations"):
        unblur.pnp_deconvolve(g, psf, iterations=2.5)
    with pytest.raises(ValueError, match="iterations must be <= 100000"):  # was np.geomspace's "Maximum allowed size"
        unblur.pnp_deconvolve(g, psf, iterations=10**20)
    with pytest.raises(ValueError, match="lam"):
        unblur.pnp_deconvolve(g, psf, lam=0)
    with pytest.raises(ValueError, match="sigma_start"):
        unblur.pnp_deconvolve(g, psf, sigma_start=-1)
    with pytest.raises(ValueError, match="noise_sigma"):
        unblur.pnp_deconvolve(g, psf, noise_sigma="high")
    with pytest.raises(ValueError, match="noise_sigma"):
        unblur.pnp_deconvolve(g, psf, noise_sigma=-0.1)
    with pytest.raises(TypeError, match="denoiser"):
        unblur.pnp_deconvolve(g, psf, denoiser=3)
    with pytest.raises(ValueError, match="image"):
        unblur.pnp_deconvolve(np.zeros((8, 8, 8)), np.ones((3, 3, 3)) / 27)
    with pytest.raises(ValueError, match="image"):
        unblur.deconvolve(np.random.default_rng(0).random((8, 8, 8)), np.ones((3, 3, 3)) / 27, method="pnp")
    with pytest.raises(TypeError, match="callback"):
        unblur.pnp_deconvolve(g, psf, callback=1)
    with pytest.raises(ValueError, match="self_ensemble"):
        unblur.pnp_deconvolve(g, psf, self_ensemble="x8")
    with pytest.raises(TypeError, match="self_ensemble"):
        unblur.pnp_deconvolve(g, psf, self_ensemble=8)
    with pytest.raises(ValueError, match="image"):
        unblur.pnp_deconvolve(np.full((32, 32), np.nan), psf)


@pytest.mark.parametrize(("shape", "channel_axis", "got"), [((24, 24), None, "1 channel"),
                                                             ((24, 24, 2), -1, "2 channels"),
                                                             ((4, 24, 24), 0, "4 channels")])
def test_pnp_a_colour_model_on_an_image_of_other_channels(shape, channel_axis, got):
    """A 3-channel model denoises 3-channel images only (jointly): on others the error
    names the denoiser and the image's channels at once, not the grid-sized array
    that the model would be handed after the first data step."""
    rgb = unblur.models.denoiser(channels="rgb")
    calls = []
    image = np.random.default_rng(0).random(shape)
    with pytest.raises(ValueError, match=f"denoiser takes 3-channel images.*the image has {got}"):
        unblur.pnp_deconvolve(image, unblur.psf.gaussian(1.0), denoiser=rgb, channel_axis=channel_axis,
                              callback=calls.append)
    assert calls == []


def _photon_case(a=0.03, size=128, seed=0):
    """Noise whose level follows the signal, a sqrt(b) (photon-like), on a linear-light
    crop (a bright sky beside dark structure), defocus 4 px, 'valid'."""
    from unblur.io import srgb_to_linear

    psf = unblur.psf.disk(4.0)
    k = psf.shape[0] // 2
    truth = srgb_to_linear(unblur.data.astronaut()[:size + 2 * k, 300:300 + size + 2 * k, 1] / 255.0)
    b = unblur.convolve(truth, psf, mode="valid")
    g = b + np.random.default_rng(seed).normal(0, 1, b.shape) * a * np.sqrt(b)
    return truth[k:-k, k:-k], g, psf


def test_pnp_noise_map_follows_the_brightness():
    """Measured here: 'brightness' 33.11 dB, 'uniform' 32.04 (32.54 and 31.51 with
    refine='none'), TV 30.30, the blurred input 25.48; the bound is half the gain. White
    noise gives a flat map (next test)."""
    t, g, psf = _photon_case()
    out, info = unblur.pnp_deconvolve(g, psf, return_info=True)
    uniform, info_u = unblur.pnp_deconvolve(g, psf, noise_map="uniform", return_info=True)
    assert info["noise_map"] == "brightness" and info_u["noise_map"] == "uniform"
    assert _psnr(t, out) > _psnr(t, uniform) + 0.5
    # What the denoiser is told: per pixel, following the brightness, turned with its
    # input ('cycle' shows step k the (k mod 8)-th flip/rotation), of RMS sigma_k over
    # the observation, and at the last step the noise's own level there.
    den = unblur.models.denoiser()
    seen = []

    def recording(x, s):
        seen.append((x.copy(), np.array(s)))
        return den(x, s)

    again, info = unblur.pnp_deconvolve(g, psf, denoiser=recording, noise_map="brightness", refine="wiener",
                                        return_info=True)
    np.testing.assert_array_equal(again, out)
    assert len(seen) == 8
    for k, (x, s) in enumerate(seen):
        assert s.shape == x.shape
        smooth = scipy.ndimage.uniform_filter(x, 9)
        assert np.corrcoef(smooth.ravel(), s.ravel())[0, 1] > 0.8, k
    x, s = (_orientations_inverse(v, 7) for v in seen[-1])
    k = psf.shape[0] // 2
    inner = s[k:k + g.shape[0], k:k + g.shape[1]]
    assert float(np.sqrt(np.mean(inner.astype(np.float64) ** 2))) == pytest.approx(info["sigmas"][-1], rel=0.02)
    bright, dark = scipy.ndimage.uniform_filter(g, 9) > 0.6, scipy.ndimage.uniform_filter(g, 9) < 0.1
    assert bright.sum() > 500 and dark.sum() > 500
    ratio = float(np.median(inner[bright]) / np.median(inner[dark]))
    assert ratio > 2.5  # the noise's own ratio is sqrt(0.6 / 0.1) ~ 2.4 at the least


def _orientations_inverse(v, t):
    """Undoes _orientations(., t)."""
    v = np.rot90(v, -(t % 4))
    return v[:, ::-1] if t >= 4 else v


def test_pnp_noise_sigma_as_a_map():
    """The noise's standard deviation per pixel, given (a calibrated camera's): measured
    here 32.73 dB, against 32.33 with its RMS as one level and 32.54 with the map
    estimated from the brightness; the bound is half the first gain."""
    t, g, psf = _photon_case()
    sd = 0.03 * np.sqrt(np.clip(g, 0, None))  # the model's level at the observed brightness
    seen = []
    den = unblur.models.denoiser()

    def recording(x, s):
        seen.append(np.array(s))
        return den(x, s)

    out, info = unblur.pnp_deconvolve(g, psf, noise_sigma=sd, denoiser=recording, noise_map="brightness",
                                      return_info=True)
    # (refine='none' for both: the recording callable is not one of unblur's models)
    flat, info_flat = unblur.pnp_deconvolve(g, psf, noise_sigma=sd, noise_map="uniform", return_info=True,
                                            refine="none")
    rms = float(np.sqrt(np.mean(sd**2)))
    assert info["noise_sigma"] == pytest.approx(rms) and info_flat["noise_sigma"] == pytest.approx(rms)
    assert info["noise_map"] == "brightness" and info_flat["noise_map"] == "uniform"
    assert _psnr(t, out) > _psnr(t, flat) + 0.2
    # The last step's map is the given one, its variance spread by the PSF.
    k = psf.shape[0] // 2
    last = _orientations_inverse(seen[-1], 7)[k:k + g.shape[0], k:k + g.shape[1]]
    spread = np.sqrt(scipy.ndimage.convolve(sd**2, psf, mode="nearest"))
    assert np.corrcoef(last.ravel(), spread.ravel())[0, 1] > 0.99
    np.testing.assert_allclose(last, np.maximum(spread * rms / np.sqrt(np.mean(spread**2)), 0.5 / 255), rtol=0.02)
    # Colour: one map for every channel, or one per channel.
    rgb = np.stack([g, g * 0.8, g * 0.6], axis=-1)
    a = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, noise_sigma=sd, iterations=2)
    b = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, noise_sigma=np.stack([sd] * 3, axis=-1), iterations=2)
    np.testing.assert_array_equal(a, b)


def test_pnp_noise_sigma_map_bad_input():
    _, g, psf = _case((32, 32))
    h, w = g.shape
    with pytest.raises(ValueError, match=rf"noise_sigma .*shape \({h}, {w}\), got \({h}, {w - 1}\)"):
        unblur.pnp_deconvolve(g, psf, noise_sigma=np.full((h, w - 1), 0.01))
    with pytest.raises(ValueError, match="noise_sigma must be finite and >= 0"):
        unblur.pnp_deconvolve(g, psf, noise_sigma=np.full(g.shape, -0.01))
    with pytest.raises(ValueError, match="noise_sigma must be finite and >= 0"):
        unblur.pnp_deconvolve(g, psf, noise_sigma=np.full(g.shape, np.nan))
    with pytest.raises(TypeError, match="noise_sigma"):
        unblur.pnp_deconvolve(g, psf, noise_sigma=np.full(g.shape, "a"))
    with pytest.raises(TypeError, match="noise_sigma"):
        unblur.pnp_deconvolve(g, psf, noise_sigma=[0.01, 0.02])
    # All 0: no noise anywhere, the schedule's floor.
    out = unblur.pnp_deconvolve(g, psf, noise_sigma=np.zeros(g.shape))
    assert np.isfinite(out).all()


def test_pnp_noise_map_on_white_noise_is_flat():
    t, g, psf = _case((128, 128), noise=0.02)
    seen = []
    den = unblur.models.denoiser()

    def recording(x, s):
        seen.append(np.array(s))
        return den(x, s)

    out = unblur.pnp_deconvolve(g, psf, denoiser=recording, noise_map="brightness")
    uniform = unblur.pnp_deconvolve(g, psf, noise_map="uniform", refine="none")  # as the recording callable
    last = seen[-1]
    # Each group's MAD sigma from ~1,000 blocks spreads by ~4 %.
    assert last.std() / last.mean() < 0.08
    assert abs(_psnr(t, out) - _psnr(t, uniform)) < 0.05


def test_pnp_noise_map_modes():
    _, g, psf = _case((64, 64))
    calls = []

    def identity(x, sigma):
        calls.append(sigma)
        return x

    _, info = unblur.pnp_deconvolve(g, psf, denoiser=identity, iterations=2, return_info=True)
    assert info["noise_map"] == "uniform" and all(isinstance(s, float) for s in calls)  # callables get numbers
    calls.clear()
    _, info = unblur.pnp_deconvolve(g, psf, denoiser=identity, iterations=2, noise_map="brightness", return_info=True)
    assert info["noise_map"] == "brightness" and all(np.shape(s) == info["grid_shape"] for s in calls)
    _, info = unblur.pnp_deconvolve(g, psf, iterations=2, return_info=True)
    assert info["noise_map"] == "brightness"  # unblur's models take a map
    # A noiseless image (every group's sigma 0): the schedule's floor, no NaN.
    flat = np.full((64, 64), 0.25)
    out, info = unblur.pnp_deconvolve(flat, psf, noise_map="brightness", return_info=True)
    assert np.isfinite(out).all() and info["noise_sigma"] == 0.0
    np.testing.assert_allclose(out, 0.25, atol=5e-3)
    with pytest.raises(ValueError, match="noise_map"):
        unblur.pnp_deconvolve(g, psf, noise_map="photon")
    with pytest.raises(TypeError, match="noise_map"):
        unblur.pnp_deconvolve(g, psf, noise_map=None)


def test_pnp_refine_modes():
    _, g, psf = _case((48, 48))

    def identity(x, sigma):
        return x

    _, info = unblur.pnp_deconvolve(g, psf, iterations=2, return_info=True)
    assert info["refine"] == "wiener"  # unblur's models
    _, info = unblur.pnp_deconvolve(g, psf, denoiser=identity, iterations=2, return_info=True)
    assert info["refine"] == "none"  # other callables: their output is the result
    _, info = unblur.pnp_deconvolve(g, psf, denoiser=identity, iterations=2, refine="wiener", return_info=True)
    assert info["refine"] == "wiener"
    with pytest.raises(ValueError, match="refine must be one of"):
        unblur.pnp_deconvolve(g, psf, refine="bm3d")
    with pytest.raises(TypeError, match="refine must be one of"):
        unblur.pnp_deconvolve(g, psf, refine=True)


@pytest.mark.parametrize("noise_map", ["uniform", "brightness"])
def test_pnp_refine_is_the_collaborative_filter_of_the_last_step(noise_map):
    # The last step's result is unblur.collaborative_wiener of that step's data-step
    # estimate, guided by the denoiser's output, at REFINE_SIGMA times the denoiser's
    # level (number or map).
    _, g, psf = _case((64, 60))
    seen = []

    def smooth(x, sigma):
        seen.append((x.copy(), sigma))
        return unblur.gaussian_filter(x, 1.0)

    out, info = unblur.pnp_deconvolve(g, psf, denoiser=smooth, iterations=3, self_ensemble="none",
                                      noise_map=noise_map, refine="wiener", return_info=True)
    x, sigma = seen[-1]
    level = _pnp.REFINE_SIGMA * (np.asarray(sigma, np.float64) if np.ndim(sigma) else float(sigma))
    want = unblur.collaborative_wiener(x, unblur.gaussian_filter(x, 1.0), level)
    k = psf.shape[0] // 2, psf.shape[1] // 2
    np.testing.assert_array_equal(out, want[k[0]:k[0] + g.shape[0], k[1]:k[1] + g.shape[1]])
    plain = unblur.pnp_deconvolve(g, psf, denoiser=smooth, iterations=3, self_ensemble="none", noise_map=noise_map,
                                  refine="none")
    assert np.abs(plain - out).max() > 1e-3


def test_pnp_refine_restores_repeated_structure():
    """scikit-image's brick (a wall of repeated courses), its top-left 112 x 112, Gaussian
    blur 2, noise 0.03: measured 32.42 dB for refine='wiener', 31.40 for 'none' (+1.02)
    with the shipped grey model; the bound is half the gain."""
    from skimage import data

    truth = data.brick()[:112, :112] / 255.0
    psf = unblur.psf.gaussian(2.0)
    g = unblur.convolve(truth, psf, mode="valid")
    g = g + np.random.default_rng(3).normal(0, 0.03, g.shape)
    k = psf.shape[0] // 2
    t = truth[k:k + g.shape[0], k:k + g.shape[1]]
    a = unblur.pnp_deconvolve(g, psf, refine="wiener")
    b = unblur.pnp_deconvolve(g, psf, refine="none")
    assert _psnr(t, a) > _psnr(t, b) + 0.51


def test_pnp_leaves_the_input_alone():
    _, g, psf = _case((32, 32))
    before = g.copy()
    unblur.pnp_deconvolve(g, psf)
    np.testing.assert_array_equal(g, before)


def _shipped_on(cp):
    """The shipped model, fed across the host boundary (the stand-ins have no GPU
    runtime for ONNX Runtime): the same denoiser for every face."""
    den = unblur.models.denoiser()
    return lambda x, s: cp.asarray(den(cp.asnumpy(x), s if isinstance(s, float) else cp.asnumpy(s)))


def test_pnp_faces_agree_end_to_end(fake_cuda):
    """The C++ core, the CUDA route (host executor) and the CuPy fallback give the same
    restoration with the same denoiser."""
    cp, cuda = fake_cuda
    _, g, psf = _case((40, 44))
    g = g.astype(np.float32)
    den = unblur.models.denoiser()
    want = unblur.pnp_deconvolve(g, psf, denoiser=den, noise_sigma=0.01)  # (a flat map: one brightness group)
    got = unblur.pnp_deconvolve(cp.asarray(g), cp.asarray(psf), denoiser=_shipped_on(cp), noise_sigma=0.01,
                                noise_map="brightness", refine="wiener")
    assert "data_prox" in cuda.calls
    assert type(got).__module__.startswith("cupy") and got.dtype == np.float32
    # float32 rounding in the data step, then amplified a little by the network.
    np.testing.assert_allclose(cp.asnumpy(got), want, atol=2e-4)


@pytest.mark.parametrize(("self_ensemble", "shape"), [("cycle", (40, 44)), ("mean", (40, 44)), ("none", (40, 44)),
                                                     ("cycle", (92, 100))])
def test_pnp_cupy_fallback_matches(fake_cupy, self_ensemble, shape):
    """(92 x 100: two brightness groups, a map that is not flat.)"""
    cp = fake_cupy
    _, g, psf = _case(shape)
    den = unblur.models.denoiser()
    want, info = unblur.pnp_deconvolve(g, psf, denoiser=den, noise_sigma=0.01, self_ensemble=self_ensemble,
                                       return_info=True)
    assert info["noise_map"] == "brightness"
    got = unblur.pnp_deconvolve(cp.asarray(g), cp.asarray(psf), denoiser=_shipped_on(cp), noise_sigma=0.01,
                                self_ensemble=self_ensemble, noise_map="brightness", refine="wiener")
    np.testing.assert_allclose(cp.asnumpy(got), want, atol=1e-6)


def test_pnp_cupy_fallback_with_a_given_noise_map(fake_cupy):
    cp = fake_cupy
    _, g, psf = _case((40, 44))
    sd = 0.005 + 0.02 * np.clip(g, 0, 1)
    den = unblur.models.denoiser()
    want = unblur.pnp_deconvolve(g, psf, denoiser=den, noise_sigma=sd)
    got = unblur.pnp_deconvolve(cp.asarray(g), cp.asarray(psf), denoiser=_shipped_on(cp), noise_sigma=cp.asarray(sd),
                                noise_map="brightness", refine="wiener")
    np.testing.assert_allclose(cp.asnumpy(got), want, atol=1e-6)
    with pytest.raises(TypeError, match="noise_sigma must be a CuPy array"):
        unblur.pnp_deconvolve(cp.asarray(g), cp.asarray(psf), denoiser=_shipped_on(cp), noise_sigma=sd)


def test_restore_with_pnp_uses_the_estimated_psf():
    t, g, _ = _case((128, 128), psf=unblur.psf.disk(3.0))
    out, info = unblur.restore(g, method="pnp", return_info=True)
    assert info["estimate"]["model"] == "defocus" and info["deconvolve"]["method"] == "pnp"
    np.testing.assert_array_equal(out, unblur.pnp_deconvolve(g, info["psf"]))
    assert _psnr(t, out) > _psnr(t, g) + 2.0


def test_pnp_checks_what_the_denoiser_returns(tmp_path):
    _, g, psf = _case((32, 32))
    with pytest.raises(ValueError, match="denoiser returned shape"):
        unblur.pnp_deconvolve(g, psf, denoiser=lambda x, s: x[:-1])
    with pytest.raises(ValueError, match="non-finite"):
        unblur.pnp_deconvolve(g, psf, denoiser=lambda x, s: x * np.nan)
    with pytest.raises(TypeError, match="denoiser must return an array"):
        unblur.pnp_deconvolve(g, psf, denoiser=lambda x, s: x.tolist())
    with pytest.raises((OSError, ValueError), match="nothing.onnx"):
        unblur.pnp_deconvolve(g, psf, denoiser=str(tmp_path / "nothing.onnx"))
