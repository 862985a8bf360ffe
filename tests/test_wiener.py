"""Wiener and Tikhonov deconvolution: C++ vs the _xp reference, scikit-image, properties."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import unblur
from conftest import tol
from unblur._xp import wiener as ref


def _gaussian_psf(radius, sigma):
    r = np.arange(-radius, radius + 1)
    k = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return k / k.sum()


def _photo(shape=(128, 128), corner=(100, 100)):
    img = unblur.data.astronaut()[..., 1].astype(np.float64) / 255
    return img[corner[0]:corner[0] + shape[0], corner[1]:corner[1] + shape[1]]


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2))


def _compare(a, b, dtype, scale=1.0):
    t = tol(dtype)
    np.testing.assert_allclose(a, b, rtol=t["rtol"] * scale, atol=t["atol"] * scale * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("boundary", ["periodic", "reflect", "auto"])
@pytest.mark.parametrize("regularizer", ["identity", "gradient", "laplacian"])
def test_tikhonov_matches_reference(rng, dtype, boundary, regularizer):
    g = rng.random((40, 45)).astype(dtype)
    psf = rng.random((5, 7)).astype(dtype)
    psf /= psf.sum()
    out = unblur.tikhonov(g, psf, lam=0.01, regularizer=regularizer, boundary=boundary)
    want, _ = ref.tikhonov(g, psf, boundary, regularizer, "fixed", 0.01)
    assert out.dtype == dtype and out.shape == g.shape
    if boundary != "auto":
        _compare(out, want, dtype)
        return
    # 'auto' is iterative (CG to relative residual 1e-5 of the normal equations): both
    # solvers stop near the exact solution, and their distance is bounded by the
    # residual times the conditioning, not by per-element rounding. Compare both with
    # the exact solution of the float64 problem instead.
    exact, _ = ref.tikhonov(g.astype(np.float64), psf.astype(np.float64), boundary, regularizer, "fixed", 0.01,
                            tolerance=1e-12, max_iterations=5000)
    # Error <= condition number x residual: 1e-3 allows a conditioning of 100 for these
    # small random PSFs (measured errors: 2e-4 .. 1e-3).
    for got in (out, want):
        err = np.linalg.norm(got - exact) / np.linalg.norm(exact)
        assert err < 2e-3, err


@pytest.mark.parametrize("shape", [(40, 46), (33, 1), (17, 29)])
def test_reflect_model_inverts_reflect_blurred_data_exactly(shape):
    # 'reflect' is periodic on one whole period of the symmetric extension (2N per
    # blurred axis), so for a PSF symmetric in each axis the blur with reflecting edges
    # (convolve's 'reflect' = scipy.ndimage's) is exactly the model, and nsr = 0 (an
    # OTF without zeros) gives the image back to rounding. The grid cut short of the
    # period that 'reflect' had before (N + K - 1 rounded to a fast size) wrapped the
    # extension onto itself with a jump: 0.18 .. 0.24 max error on these cases.
    rng = np.random.default_rng(7)
    x = rng.random(shape)
    rows = np.array([1.0, 3.0, 1.0]) / 5  # OTF (3 + 2 cos w) / 5 >= 1/5
    cols = np.array([1.0, 2.0, 5.0, 2.0, 1.0]) / 11  # (5 + 4 cos w + 2 cos 2w) / 11 >= 2/11
    psf = np.outer(rows, cols if shape[1] > 1 else [1.0])
    g = unblur.convolve(x, psf, boundary="reflect")
    np.testing.assert_allclose(g, scipy.ndimage.convolve(x, psf, mode="reflect"), atol=1e-14)
    grid = unblur._core.quadratic_grid_shape(list(shape), list(psf.shape), "reflect")
    assert list(grid) == [2 * n if k > 1 else n for n, k in zip(shape, psf.shape)]
    faces = {"core wiener": unblur.wiener(g, psf, nsr=0.0, boundary="reflect"),
             "core tikhonov": unblur.tikhonov(g, psf, lam=0.0, boundary="reflect"),
             "xp wiener": ref.wiener(g, psf, "reflect", 0.0)[0]}
    for face, out in faces.items():
        assert np.abs(out - x).max() < 1e-10, (face, np.abs(out - x).max())


@pytest.mark.parametrize("boundary", ["periodic", "reflect", "auto"])
@pytest.mark.parametrize("nsr", [0.003, "auto", "array", "callable"])
def test_wiener_matches_reference(rng, dtype, simd, boundary, nsr):
    x = _photo((48, 52))
    psf = _gaussian_psf(3, 1.2)
    g = (unblur.convolve(x, psf, boundary="periodic") + rng.normal(0, 0.01, x.shape)).astype(dtype)
    grid = ref.grid_shape(g.shape, psf.shape, boundary)
    if nsr == "array":
        arg = (1e-3 + ref.radial_frequency(grid) ** 2).astype(dtype)
    elif nsr == "callable":
        arg = lambda f: 1e-3 + f**2  # noqa: E731
    else:
        arg = nsr
    out, info = unblur.wiener(g, psf.astype(dtype), nsr=arg, boundary=boundary, return_info=True)
    ref_nsr = None if nsr == "auto" else (0.003 if nsr == 0.003 else (1e-3 + ref.radial_frequency(grid) ** 2).astype(dtype))
    want, rinfo = ref.wiener(g, psf.astype(dtype), boundary, ref_nsr)
    if boundary == "auto" and dtype == np.float32 and info["iterations"] != rinfo["iterations"]:
        # 'auto' is CG stopped at relative residual 1e-5. float32 rounding (which FFTW's
        # measured plans vary from process to process) can move the stop by an iteration,
        # and near the stop one iteration still moves this solution by up to 0.002 (nsr
        # 0.003: conditioning ~300), so the two are not elementwise close. Both must then
        # be as close to the exact solution as the stopping rule leaves the float64
        # reference: within twice its error, plus float32's rounding through the solve
        # (eps32 x conditioning ~ 2e-5; 1e-4 allowed).
        exact, _ = ref.wiener(g.astype(np.float64), psf, boundary,
                              None if ref_nsr is None else (ref_nsr if nsr == 0.003 else ref_nsr.astype(np.float64)),
                              tolerance=1e-13, max_iterations=5000)
        norm = np.linalg.norm(exact)
        err, err_ref = np.linalg.norm(out - exact) / norm, np.linalg.norm(want - exact) / norm
        assert err <= 2 * err_ref + 1e-4, (err, err_ref)
        assert abs(info["iterations"] - rinfo["iterations"]) <= 2, (info["iterations"], rinfo["iterations"])
    else:
        # Same steps up to rounding (periodic/reflect are direct; 'auto' took as many CG steps).
        _compare(out, want, dtype, 1.0 if boundary != "auto" else 50.0)
    assert info["iterations"] == (0 if boundary != "auto" else rinfo["iterations"]) or dtype == np.float32
    if nsr == "auto":
        assert info["psd_model"]["alpha"] == pytest.approx(rinfo["psd_alpha"], rel=1e-4)


def test_automatic_lam_matches_reference(rng):
    x = _photo((64, 64))
    psf = _gaussian_psf(3, 1.5)
    g = unblur.convolve(x, psf, boundary="periodic") + rng.normal(0, 0.01, x.shape)
    for boundary in ("periodic", "reflect"):
        for method in ("gcv", "discrepancy"):
            _, info = unblur.tikhonov(g, psf, lam_method=method, boundary=boundary, return_info=True)
            _, rinfo = ref.tikhonov(g, psf, boundary, "laplacian", method)
            assert info["lam"] == pytest.approx(rinfo["lam"], rel=1e-4)
            assert info["lam_method"] == method


def test_skimage_compatibility(rng):
    import skimage.restoration as skr
    g = rng.random((50, 61))
    psf = rng.random((7, 5))
    psf /= psf.sum()
    want = skr.wiener(g, psf, balance=0.05, clip=False)
    np.testing.assert_allclose(unblur.tikhonov(g, psf, lam=0.05, boundary="periodic"), want, rtol=1e-4, atol=1e-10)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    want = skr.wiener(g, psf, balance=0.05, reg=delta, clip=False)
    np.testing.assert_allclose(unblur.wiener(g, psf, nsr=0.05, boundary="periodic"), want, rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(unblur.tikhonov(g, psf, lam=0.05, regularizer="identity", boundary="periodic"),
                               want, rtol=1e-4, atol=1e-10)


def test_noise_free_periodic_blur_is_inverted(dtype):
    x = _photo((64, 70)).astype(dtype)
    psf = np.zeros((3, 5), dtype)  # |H| >= 0.2: rounding is not amplified much
    psf[1, 2], psf[0, 2], psf[2, 2], psf[1, 1], psf[1, 3] = 0.6, 0.1, 0.1, 0.1, 0.1
    g = unblur.convolve(x, psf, boundary="periodic")
    y = unblur.wiener(g, psf, nsr=1e-9, boundary="periodic")
    assert np.abs(y - x).max() < (1e-3 if dtype == np.float32 else 1e-6)


def test_auto_boundary_has_no_edge_artefacts(rng):
    x = _photo((192, 192), (80, 120))
    psf = _gaussian_psf(6, 2.0)
    g = scipy.signal.fftconvolve(x, psf, mode="valid") + rng.normal(0, 0.005, (180, 180))
    truth = x[6:-6, 6:-6]
    band = np.ones(truth.shape, bool)
    band[16:-16, 16:-16] = False
    res = {}
    for boundary in ("auto", "periodic"):
        y, info = unblur.tikhonov(g, psf, lam=3e-3, boundary=boundary, return_info=True)
        res[boundary] = (_psnr(y[band], truth[band]), _psnr(y[~band], truth[~band]))
    border, interior = res["auto"]
    assert border > interior - 1.5
    assert border > res["periodic"][0] + 3
    assert info["iterations"] == 0
    _, info = unblur.wiener(g, psf, boundary="auto", return_info=True)
    assert 0 < info["iterations"] < 100


def test_gcv_is_near_the_psnr_optimum(rng):
    x = _photo((128, 128))
    psf = _gaussian_psf(5, 1.8)
    g = unblur.convolve(x, psf, boundary="periodic") + rng.normal(0, 0.01, x.shape)
    lams = 10.0 ** np.arange(-5, 0.01, 0.25)
    scores = [_psnr(unblur.tikhonov(g, psf, lam=lam, boundary="periodic"), x) for lam in lams]
    best = lams[int(np.argmax(scores))]
    _, info = unblur.tikhonov(g, psf, boundary="periodic", return_info=True)
    assert best / 3 <= info["lam"] <= best * 3
    # 'auto' on a valid-mode observation: the tapered reflect GCV stays near the optimum too
    gv = scipy.signal.fftconvolve(x, psf, mode="valid") + rng.normal(0, 0.01, (118, 118))
    scores = [_psnr(unblur.tikhonov(gv, psf, lam=lam), x[5:-5, 5:-5]) for lam in lams]
    best = lams[int(np.argmax(scores))]
    _, info = unblur.tikhonov(gv, psf, return_info=True)
    assert best / 3 <= info["lam"] <= best * 3


def test_cg_residual_decreases(rng, dtype):
    x = _photo((96, 96))
    psf = _gaussian_psf(4, 1.5)
    g = (scipy.signal.fftconvolve(x, psf, mode="valid") + rng.normal(0, 0.01, (88, 88))).astype(dtype)
    seen = []
    _, info = unblur.tikhonov(g, psf, lam=1e-3, callback=lambda s: seen.append(s["objective"]), return_info=True)
    assert len(seen) == info["iterations"] >= 2
    assert seen[-1] <= (1e-3 if dtype == np.float32 else 1e-4) < seen[0]
    assert all(b < 2 * min(seen[:i + 1]) for i, b in enumerate(seen[1:]))
    stopped = []
    unblur.tikhonov(g, psf, lam=1e-3, callback=lambda s: stopped.append(1) or False)
    assert len(stopped) == 1


def test_channels_and_info(rng):
    g = rng.random((30, 32, 3))
    psf = _gaussian_psf(2, 1.0)
    out, info = unblur.wiener(g, psf, nsr=0.01, boundary="reflect", channel_axis=-1, return_info=True)
    assert out.shape == g.shape
    np.testing.assert_allclose(out[..., 1], unblur.wiener(g[..., 1], psf, nsr=0.01, boundary="reflect"), rtol=1e-12)
    assert info["method"] == "wiener" and info["boundary"] == "reflect" and len(info["noise_sigma"]) == 3
    assert info["nsr"] == [0.01] * 3 and info["iterations"] == [0, 0, 0]
    _, info = unblur.tikhonov(g[..., 0], psf, lam_method="discrepancy", boundary="periodic", return_info=True)
    assert set(info) >= {"method", "boundary", "noise_sigma", "lam", "lam_method", "iterations"}
    assert info["lam_method"] == "discrepancy" and info["lam"] > 0
    img = (rng.random((20, 20)) * 255).astype(np.uint8)
    assert unblur.wiener(img, psf, nsr=0.1).dtype == np.float32


def test_bad_input():
    g = np.random.default_rng(1).random((20, 20))
    psf = np.ones((3, 3)) / 9
    bad = g.copy()
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="image contains NaN"):
        unblur.wiener(bad, psf)
    with pytest.raises(ValueError, match="psf of shape"):
        unblur.tikhonov(g, np.ones((21, 3)))
    with pytest.raises(ValueError, match="psf must have odd sizes"):
        unblur.wiener(g, np.ones((4, 3)))
    with pytest.raises(ValueError, match="nsr must be >= 0"):
        unblur.wiener(g, psf, nsr=-1.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        unblur.tikhonov(g, psf, lam=-0.5)
    with pytest.raises(ValueError, match="nsr array must have the half-spectrum shape"):
        unblur.wiener(g, psf, nsr=np.ones((20, 20)), boundary="periodic")
    with pytest.raises(ValueError, match="nsr must be finite and >= 0"):
        unblur.wiener(g, psf, nsr=-np.ones((20, 11)), boundary="periodic")
    with pytest.raises(ValueError, match="nsr must be 'auto'"):
        unblur.wiener(g, psf, nsr="gcv")
    with pytest.raises(ValueError, match="regularizer must be one of"):
        unblur.tikhonov(g, psf, regularizer="tv")
    with pytest.raises(ValueError, match="lam_method must be one of"):
        unblur.tikhonov(g, psf, lam_method="lcurve")
    with pytest.raises(ValueError, match="boundary must be one of"):
        unblur.wiener(g, psf, boundary="zero")
    with pytest.raises(TypeError, match="callback must be callable"):
        unblur.tikhonov(g, psf, callback=3)
    with pytest.raises(TypeError, match="threads must be an int"):
        unblur.wiener(g, psf, threads=1.5)
    with pytest.raises(ValueError, match="nsr spectrum has the wrong shape"):
        unblur._core.wiener(g, psf, "periodic", np.ones((3, 3)))
    with pytest.raises(ValueError, match="lam must be finite"):
        unblur._core.tikhonov(g, psf, "periodic", "laplacian", "fixed", -1.0)


@pytest.mark.gpu
def test_cupy_matches_numpy(rng):
    import cupy

    g = rng.random((40, 44))
    psf = _gaussian_psf(2, 1.0)
    for boundary in ("periodic", "auto"):
        want = unblur.tikhonov(g, psf, lam=0.01, boundary=boundary)
        got = unblur.tikhonov(cupy.asarray(g), cupy.asarray(psf), lam=0.01, boundary=boundary)
        assert isinstance(got, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-3, atol=1e-6)
        want = unblur.wiener(g, psf, boundary=boundary)
        got = unblur.wiener(cupy.asarray(g), cupy.asarray(psf), boundary=boundary)
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-3, atol=1e-6)
