"""Property-based tests (hypothesis) of the CUDA engine's single-source algorithms.

csrc/gpu holds each GPU algorithm once, over an executor; `unblur._core.gpu_on_host`
runs it with the host executor (loops, FFTW), and tests/test_gpu_algorithms.py compares
that with the CPU engine (`unblur._core`) on fixed cases. Here the same comparison runs
over random inputs: shapes 1 x N, N x 1, odd, even and prime, 1-D, 2-D and 3-D;
float32 and float64; random non-negative odd-sized PSFs no larger than the image, and
deltas; every parameter and boundary mode of gaussian_filter, psnr / ssim, Wiener /
Tikhonov (closed forms; 'auto', whose conjugate gradients stop at a residual, by the
relaxed comparison of test_gpu_algorithms), richardson_lucy (acceleration, damping, TV,
background, weights, the 'zero' boundary, the automatic stop), tv_deconvolve and
blind_richardson_lucy. (gpu_on_host has no convolve or psf2otf: the CUDA engine's are
not single-source, and tests/test_cuda.py checks them on a GPU.) The properties:

* gpu_on_host agrees with the CPU engine within the tolerances test_gpu_algorithms
  derives (its `_scaled`, `_itol` and `_assert_quadratic_agrees`; each test says which
  and why it applies);
* finite input gives finite output, of the CPU engine's shape and dtype;
* invalid input (wrong dimensionality, empty axes, even or too large PSFs, NaN or
  negative parameters, negative iterations, unknown names, wrong dtypes, non-contiguous
  arrays, mismatched shapes) raises the same exception type, a TypeError or ValueError,
  from both engines, never anything else;
* Richardson-Lucy results are >= 0 (every update clamps at 0).

Three kinds of input make the two engines part by more than rounding without either
port being wrong, and the tests say so where they meet them (each counted in the
summary, so a run shows how often):

* GCV ties: where GCV is flat (every delta PSF with the identity regulariser), rounding
  picks lam; the test then checks that both lam give equal GCV (computed here in
  NumPy) and compares the solves at the CPU engine's lam (`gpu_tikhonov_gcv_tie`);
* 'auto' CG: test_gpu_algorithms' relaxed rule is not a bound over random inputs
  (`_assert_cg_agrees` says why and what replaces it where it fails,
  `gpu_quadratic_cg_at_rounding`);
* iterations that amplify rounding (accelerated RL with boundary='zero' and weights on
  data far below its start 0.5): `agrees_or_unstable` holds the CUDA engine to what a
  one-ulp change of the input does to the CPU engine (`*_unstable`).
* weighted RL at pixels that few weighted observations see: the update divides by the
  normaliser A^T w there, so its FFT rounding (relative to the normaliser's peak) is
  amplified by peak / (A^T w) at that pixel, up to 1e4 (the engines hold pixels below
  1e-4 of the peak at zero); `rl_weighted_slack` adds that per pixel.

The engines' argument checks differed in a few places, and a few inputs broke a property
in both; each has a test below (fixed since, except `test_known_gcv_...`, a strict xfail:
where GCV is flat the choice of lam is decided by rounding).

The last section runs the same properties on the real CUDA module through the public
API (CuPy arrays, float32, against the CPU engine with test_cuda.py's float32
tolerances); it is marked `gpu` and skipped without a GPU and CuPy. The same tests also
run on the CUDA route of the Python layer with tests/cupy_standin.py and
tests/cuda_on_host.py (the `fake_cuda` fixture), which checks the tests themselves and
the route on machines without a GPU.

The default profile "ci" runs a fast subset; ``HYPOTHESIS_PROFILE=thorough`` a few
thousand cases (counted: the terminal summary prints the totals per property).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import unblur
from conftest import examples, tol
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_cuda import GPU_ATOL, needs_module
from test_gpu_algorithms import _assert_quadratic_agrees, _scaled
from test_properties import _fft_tol, count, delta, make_array, random_psf
from test_richardson_lucy import _itol

core = unblur._core
host = unblur._core.gpu_on_host

DTYPES = ["float32", "float64"]
SIZES = {1: [1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 16, 17, 19, 23, 31, 32, 37, 64, 97, 127],
         2: [1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 16, 17, 19, 23, 31, 32, 37],
         3: [1, 2, 3, 4, 5, 7, 8, 9, 11, 13]}


@pytest.fixture(autouse=True, scope="module")
def _instant_plans():
    """FFTW_ESTIMATE plans for the CPU engine (the host executor always uses them): the
    properties meet hundreds of shapes once each, and measuring a plan costs up to a
    second; plan choice changes results by rounding only."""
    old = unblur.fft.get_planner()
    unblur.fft.set_planner("estimate")
    yield
    unblur.fft.set_planner(old)


# ---- shapes, images, PSFs ------------------------------------------------------------------
@st.composite
def shapes(draw, ndims=(1, 2, 3), min_size=1, sizes=None):
    """A shape of 1 to 3 axes; one axis in four is forced to 1 (1 x N, N x 1, ...)."""
    ndim = draw(st.sampled_from(ndims))
    pool = [s for s in (sizes or SIZES)[ndim] if s >= min_size]
    shape = list(draw(st.tuples(*[st.sampled_from(pool)] * ndim)))
    if min_size <= 1 and ndim > 1 and draw(st.integers(0, 3)) == 0:
        shape[draw(st.integers(0, ndim - 1))] = 1
    return tuple(shape)


def psf_shape_for(draw, shape, largest=9):
    """Odd sizes, no larger than the image along any axis."""
    return tuple(draw(st.sampled_from([k for k in (1, 3, 5, 7, 9) if k <= min(n, largest)])) for n in shape)


def normalised(h, dtype):
    """h in `dtype`, divided by its sum (as test_gpu_algorithms._norm does)."""
    h = np.asarray(h).astype(dtype)
    return h / h.sum(dtype=np.float64).astype(dtype)


@st.composite
def psfs(draw, shape, dtype, seed):
    kshape = psf_shape_for(draw, shape)
    kind = draw(st.sampled_from(["random", "random", "sparse", "delta"]))
    h = delta(kshape) if kind == "delta" else random_psf(kshape, seed + 1, sparse=kind == "sparse")
    return normalised(h, dtype)


def image(draw, shape, dtype, seed, signed=None):
    signed = draw(st.booleans()) if signed is None else signed
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 255.0]))
    return make_array(shape, dtype, seed, signed=signed, scale=scale, sparse=draw(st.integers(0, 5)) == 0)


def scaled_tol(base, ref):
    """`base` with its absolute part relative to the reference's largest value, as
    test_gpu_algorithms._scaled: FFT rounding is relative to the array, not to each
    element (and the fixed cases there have data of magnitude 1)."""
    return {"rtol": base["rtol"], "atol": base["atol"] * max(1.0, float(np.abs(ref).max()))}


def check_like(got, want):
    """Property 2: the CPU engine's shape and dtype, finite."""
    assert isinstance(got, np.ndarray)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    assert np.isfinite(want).all()
    assert np.isfinite(got).all()


def _as_float64(kw):
    """RL keywords with the weights (if any) in float64, for agrees_or_unstable's rerun64."""
    w = kw.get("weights")
    return dict(kw, weights=np.asarray(w, np.float64)) if w is not None else kw


def rl_weighted_slack(want, psf, kw, iterations):
    """Per-pixel rounding allowance of weighted Richardson-Lucy, added to the tolerance.

    An update multiplies x by A^T(w q) / A^T w. Both are FFT results whose rounding is
    about eps log2(N) times their peak (Higham, sec. 24.1), so at a pixel where the
    normaliser n = A^T w is small the ratio's relative error is about 2 eps log2(N)
    peak(n) / n, once per iteration (3 times that with acceleration, whose extrapolated
    point weighs the last three iterates up to 1, alpha and alpha^2). Where n is within
    a few decades of its peak this is far below _itol; at a pixel seen only through
    the PSF's tail by weighted observations (found: n = 1.6e-4 of the peak, the engines
    0.08 % apart after 3 iterations) it is the larger term. n is computed here as the
    engines' model has it on the result's window: w extended by zeros ('auto'),
    periodically or half-sample symmetrically, correlated with the PSF; pixels below
    1e-4 of the peak are held at zero by both (the bound is capped there). The 'zero'
    boundary has no normaliser, and without weights n = A^T 1 is within a factor of
    2**ndim of its peak on the window."""
    w = kw.get("weights")
    if w is None or kw["boundary"] == "zero":
        return 0.0
    import scipy.ndimage

    h = psf.astype(np.float64) / psf.sum(dtype=np.float64)
    mode = {"auto": "constant", "periodic": "wrap", "reflect": "reflect"}[kw["boundary"]]
    n = scipy.ndimage.correlate(np.asarray(w, np.float64), h, mode=mode, cval=0.0)
    peak = float(n.max())
    if not peak > 0:
        return 0.0
    gain = peak / np.maximum(n, 1e-4 * peak)
    grid = int(np.prod([a + b for a, b in zip(want.shape, psf.shape)]))
    per_iteration = 2.0 * float(np.finfo(want.dtype).eps) * math.log2(max(grid, 2)) * gain
    return per_iteration * (3 if kw.get("accelerate") else 1) * max(int(iterations), 1) * np.abs(want)


def agrees_or_unstable(got, want, tolerance, rerun, g, name, slack=0.0, rerun64=None):
    """Property 1 with `tolerance` (its atol plus the per-pixel `slack`, e.g.
    rl_weighted_slack); True if it holds. Where it does not, the case may be
    one the CPU engine itself cannot reproduce to that tolerance: its result is taken
    again on the input moved by about one ulp (up and down, `rerun(image)`) and, with
    `rerun64` (the same call in float64) for float32 input, in double precision; if that
    alone moves it by more than the tolerance, the CUDA engine may be as far from it as
    twice that (returns False: the iteration amplifies rounding; see the module notes).
    Otherwise the disagreement stands. (The float64 probe catches what the ulp one
    cannot: an input of mostly zeros is not moved by scaling, but the iteration's own
    rounding is; found: 500 damped iterations on such an image, CPU float32 7.5e-4 from
    float64, the CUDA engine 2.5e-4, the two 5.0e-4 apart.)"""
    atol = tolerance["atol"] + np.asarray(slack)
    excess = np.abs(got.astype(np.float64) - want) - (atol + tolerance["rtol"] * np.abs(want.astype(np.float64)))
    if not (excess > 0).any():
        return True
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    failure = AssertionError(
        f"{int((excess > 0).sum())} of {excess.size} elements outside rtol={tolerance['rtol']:g}, "
        f"atol={tolerance['atol']:g} + slack; worst at {worst}: got {got[worst]!r}, want {want[worst]!r}, "
        f"allowed {float(np.broadcast_to(atol, excess.shape)[worst] + tolerance['rtol'] * abs(float(want[worst]))):.3g}")
    # Per element: where the CPU engine's own result moves by more than the tolerance
    # under the probes, the CUDA engine may be as far as twice that plus the tolerance.
    eps = float(np.finfo(g.dtype).eps)
    want64 = want.astype(np.float64)
    probes = [rerun((g.astype(np.float64) * f).astype(g.dtype)) for f in (1 + eps, 1 - eps / 2)]
    if rerun64 is not None and g.dtype != np.float64:
        probes.append(rerun64(g.astype(np.float64)))
    moved = np.max([np.abs(np.asarray(p, np.float64) - want64) for p in probes], axis=0)
    allowed = atol + tolerance["rtol"] * np.abs(want64)
    bad = excess > 0
    if not (moved[bad] > allowed[bad]).all():
        raise failure
    diff = np.abs(got.astype(np.float64) - want64)
    assert (diff[bad] <= 2 * moved[bad] + allowed[bad]).all(), (diff[bad], moved[bad], allowed[bad])
    count(f"{name}_unstable")
    return False


def outcome(fn):
    """(result, None) or (None, the exception)."""
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001 (the tests check the type)
        return None, exc


def refusal_kind(exc):
    return TypeError if isinstance(exc, TypeError) else ValueError if isinstance(exc, ValueError) else None


def assert_same_refusal(cpu_exc, gpu_exc):
    """Both refused, with the same kind of exception: TypeError or ValueError. (Not the
    same class: a check made by the bindings raises ValueError itself, one made by the
    core unblur's ValueError subclass, whose name depends on the module imported last;
    see test_known_the_cpu_engines_errors_change_class_when_cuda_is_imported.)"""
    assert cpu_exc is not None and gpu_exc is not None, (cpu_exc, gpu_exc)
    assert refusal_kind(cpu_exc) is not None, repr(cpu_exc)
    assert refusal_kind(gpu_exc) is refusal_kind(cpu_exc), (repr(cpu_exc), repr(gpu_exc))


# ---- Gaussian filter (csrc/gpu/gaussian_filter.hpp) ----------------------------------------
MODES = ["reflect", "mirror", "nearest", "constant", "wrap", "periodic"]
SIGMAS = [0.0, 0.3, 0.7, 1.5, 3.0, 12.0, 40.0]  # 12 and 40: the CPU engine's FFT route


@st.composite
def gaussian_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(shapes())
    seed = draw(st.integers(0, 2**32 - 1))
    x = image(draw, shape, dtype, seed)
    sigma = [draw(st.sampled_from(SIGMAS)) for _ in shape]
    return x, sigma, draw(st.sampled_from(MODES)), draw(st.sampled_from([0.0, 0.3, -2.0])), \
        draw(st.sampled_from([4.0, 2.5, 1.0, 0.1]))


@examples(150, 1000)
@given(gaussian_cases())
def test_gaussian_filter_matches_the_cpu_engine(case):
    count("gpu_gaussian_filter")
    x, sigma, mode, cval, truncate = case
    want = core.gaussian_filter(x, sigma, mode, cval, truncate, 1)
    got = host.gaussian_filter(x, sigma, mode, cval, truncate)
    check_like(got, want)
    # test_gpu_algorithms: rtol 0, atol 10 x the dtype's for data of magnitude 1 (the
    # weights sum to 1, so the rounding is relative to the largest input or cval).
    magnitude = max(float(np.abs(x).max()), abs(cval))
    np.testing.assert_allclose(got, want, rtol=0, atol=10 * tol(x.dtype)["atol"] * max(1.0, magnitude))
    if not any(sigma):
        np.testing.assert_array_equal(got, x)  # sigma 0 on every axis: a copy, in both
        np.testing.assert_array_equal(want, x)


# ---- metrics (csrc/gpu/metrics.hpp) --------------------------------------------------------
@st.composite
def metric_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(shapes(min_size=draw(st.sampled_from([1, 7, 11]))))
    seed = draw(st.integers(0, 2**32 - 1))
    a = image(draw, shape, dtype, seed)
    other = draw(st.sampled_from(["same", "noisy", "noisy", "random"]))
    if other == "same":
        b = a.copy()
    elif other == "random":
        b = make_array(shape, dtype, seed + 1, signed=draw(st.booleans()), scale=float(np.abs(a).max()) or 1.0)
    else:
        noise = np.random.default_rng(seed + 2).normal(0, 0.05 * (float(np.abs(a).max()) or 1.0), shape)
        b = (a + noise).astype(dtype)
    ssim_kw = dict(data_range=draw(st.sampled_from([1.0, 255.0, 0.5])), sigma=draw(st.sampled_from([1.5, 0.8, 2.5])),
                   truncate=draw(st.sampled_from([3.5, 2.0])), K1=draw(st.sampled_from([0.01, 0.1])),
                   K2=draw(st.sampled_from([0.03, 0.1])))
    return a, b, other, ssim_kw


@examples(100, 800)
@given(metric_cases())
def test_psnr_and_ssim_match_the_cpu_engine(case):
    count("gpu_metrics")
    a, b, other, kw = case
    p_cpu = core.psnr(a, b, kw["data_range"], 1)
    p_gpu = host.psnr(a, b, kw["data_range"])
    assert isinstance(p_gpu, float)
    if other == "same":
        assert p_cpu == p_gpu == math.inf
    else:
        assert p_gpu == pytest.approx(p_cpu, rel=1e-12)  # test_gpu_algorithms (MSE in double in both)
    args = (kw["data_range"], kw["sigma"], kw["truncate"], kw["K1"], kw["K2"], True)
    window = 2 * int(kw["truncate"] * kw["sigma"] + 0.5) + 1
    (cpu, cpu_exc), (gpu, gpu_exc) = outcome(lambda: core.ssim(a, b, *args, 1)), outcome(lambda: host.ssim(a, b, *args))
    if min(a.shape) < window:
        assert_same_refusal(cpu_exc, gpu_exc)
        assert "window" in str(cpu_exc) and "window" in str(gpu_exc)
        return
    assert cpu_exc is None and gpu_exc is None, (cpu_exc, gpu_exc)
    (m_cpu, map_cpu), (m_gpu, map_gpu) = cpu, gpu
    check_like(map_gpu, map_cpu)
    # test_gpu_algorithms: the map to 1e-12 (float64) / 1e-6 (float32, the map's own
    # rounding; both compute in double), the mean to rel 1e-12; its abs part is the
    # float64 map's bound (a mean moves no more than its terms), for means near 0.
    np.testing.assert_allclose(map_gpu, map_cpu, rtol=0, atol=1e-12 if a.dtype == np.float64 else 1e-6)
    assert m_gpu == pytest.approx(m_cpu, rel=1e-12, abs=1e-12)
    assert -1.0 - 1e-9 <= m_gpu <= 1.0 + 1e-9
    if other == "same":
        assert m_gpu == pytest.approx(1.0, abs=1e-9)
    assert host.ssim(a, b, *args[:-1], False)[1] is None


# ---- Wiener / Tikhonov (csrc/gpu/wiener.hpp) -----------------------------------------------
def noise_sigma_of(g):
    """The noise estimate the CUDA route computes on the device (-1: too small; then
    the CPU engine refuses too, wherever a parameter needs it)."""
    try:
        return core.estimate_noise(g, 1)
    except ValueError:
        return -1.0


@st.composite
def quadratic_cases(draw, boundaries=("periodic", "periodic", "reflect", "reflect", "auto"), ndims=(1, 2, 3)):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(shapes(ndims=ndims))
    seed = draw(st.integers(0, 2**32 - 1))
    g = image(draw, shape, dtype, seed)
    psf = draw(psfs(shape, dtype, seed))
    boundary = draw(st.sampled_from(boundaries))
    kind = draw(st.sampled_from(["wiener", "tikhonov"]))
    if kind == "wiener":
        nsr = draw(st.sampled_from([None, 0.001, 0.01, 0.1, 1.0, "spectrum"]))
        if nsr == "spectrum":
            grid = core.quadratic_grid_shape(list(shape), list(psf.shape), boundary)
            half = tuple(grid[:-1]) + (grid[-1] // 2 + 1,)
            nsr = (0.001 + 0.01 * np.random.default_rng(seed + 3).random(half)).astype(dtype)
        return dict(g=g, psf=psf, boundary=boundary, kind=kind, nsr=nsr)
    return dict(g=g, psf=psf, boundary=boundary, kind=kind,
                regularizer=draw(st.sampled_from(["identity", "gradient", "laplacian"])),
                lam_method=draw(st.sampled_from(["fixed", "gcv", "discrepancy"])),
                lam=draw(st.sampled_from([0.001, 0.003, 0.1])))


def _quadratic_cpu(c, g, psf, tolerance=0.0, max_iterations=500):
    if c["kind"] == "wiener":
        return core.wiener(g, psf, c["boundary"], c["nsr"], None, tolerance, max_iterations, 1)
    return core.tikhonov(g, psf, c["boundary"], c["regularizer"], c["lam_method"], c["lam"], None, tolerance,
                         max_iterations, 1)


def _gcv_data(g, kshape, boundary):
    """The data whose spectrum the GCV search reads (csrc/gpu/wiener.hpp, the CPU
    engine's alike): the image ('periodic'), reflect-padded over the reflect grid
    ('reflect', 'auto'), then tapered toward its mean at the grid's edges ('auto')."""
    x = g.astype(np.float64)
    if boundary == "periodic":
        return x
    grid = core.quadratic_grid_shape(list(g.shape), list(kshape), "reflect")
    x = np.pad(x, [(k // 2, m - n - k // 2) for n, k, m in zip(g.shape, kshape, grid)], mode="symmetric")
    if boundary == "auto":
        mean, w = x.mean(), np.ones(x.shape)
        for axis, (m, k) in enumerate(zip(x.shape, kshape)):
            band = min(m // 4, 2 * k)
            line = np.ones(m)
            if band:
                ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(band) + 0.5) / band)
                line[:band], line[m - band:] = ramp, ramp[::-1]
            w = w * line.reshape([m if a == axis else 1 for a in range(x.ndim)])
        x = mean + (x - mean) * w
    return x


def _gcv(x, psf, regularizer, lam):
    """GCV(lam) = L sum w (1 - phi)^2 |G|^2 / (sum w (1 - phi))^2 on the half spectrum of x
    (core/wiener.cpp's SpectralStats::gcv), in float64."""
    grid = x.shape
    padded = np.zeros(grid)
    padded[tuple(slice(0, k) for k in psf.shape)] = psf
    h2 = np.abs(np.fft.rfftn(np.roll(padded, [-(k // 2) for k in psf.shape], axis=tuple(range(x.ndim))))) ** 2
    g2 = np.abs(np.fft.rfftn(x)) ** 2
    freqs = np.meshgrid(*[np.arange(n) for n in grid[:-1]], np.arange(grid[-1] // 2 + 1), indexing="ij")
    v = sum(2 - 2 * np.cos(2 * np.pi * k / n) for k, n in zip(freqs, grid))
    unit = {"identity": np.ones_like(v), "gradient": v, "laplacian": v * v}[regularizer]
    col = np.arange(grid[-1] // 2 + 1)
    w = np.where((col == 0) | ((grid[-1] % 2 == 0) & (col == grid[-1] // 2)), 1.0, 2.0)
    p = lam * unit
    d = h2 + p
    om = np.where(d > 0, p / np.where(d > 0, d, 1.0), 1.0)
    return float(x.size * (w * om * om * g2).sum() / (w * om).sum() ** 2)


def _assert_gcv_tie(c, lam_cpu, lam_gpu):
    """Both lam minimise GCV to rounding: GCV(lam_gpu) and GCV(lam_cpu) agree within the
    rounding of the spectra the engines compute in T (test_properties._fft_tol, two
    transforms) plus that of their double sums over the half spectrum."""
    g, psf = c["g"], c["psf"]
    x = _gcv_data(g, psf.shape, c["boundary"])
    a, b = (_gcv(x, psf.astype(np.float64), c["regularizer"], lam) for lam in (lam_cpu, lam_gpu))
    bound = _fft_tol(g.dtype, x.shape, max(a, b), passes=2) + 4 * x.size * np.finfo(np.float64).eps * max(a, b)
    assert abs(a - b) <= bound, (lam_cpu, lam_gpu, a, b, bound)


def _assert_cg_agrees(c, got, want, lam):
    """'auto' (CG stopped at a relative residual of 1e-5): test_gpu_algorithms'
    _assert_quadratic_agrees, the CUDA engine as close to the float64 solution at 1e-12
    as twice the CPU engine's distance plus a floor (1e-5 of the peak in float32, 1e-12
    in float64). Neither part is a bound over random inputs: on ill-conditioned systems
    the CG path follows the rounding (two runs agree to 1e-10 for 15 iterations, then
    part; one stops an iteration earlier, 3x farther from the solution), and the CPU
    engine against itself on its input moved by one ulp breaks the rule in 16 of 1735
    random cases; in float64 iterates that both stopped far below the rule (relative
    residual 5e-9) differ by 2e-9 of the peak, the CPU engine's being 2.5e-10 from the
    solution. Where the rule fails, the CPU engine's distance is taken as the largest
    over its input moved by one ulp up and down, and the floor, for float64 too, as the
    float32 one: 1e-5 of the peak, the stopping rule's own resolution (CG's relative
    residual 1e-5; below it the rule does not determine the iterate). Each engine's
    stop is checked against that rule separately."""
    g, psf = c["g"], c["psf"]
    fixed = dict(c, lam_method="fixed", lam=lam) if c["kind"] == "tikhonov" else dict(c)
    if isinstance(fixed.get("nsr"), np.ndarray):
        fixed["nsr"] = fixed["nsr"].astype(np.float64)
    exact, _ = _quadratic_cpu(fixed, g.astype(np.float64), psf.astype(np.float64), 1e-12, 5000)
    try:
        _assert_quadratic_agrees(got, want, g.dtype, "auto", exact)
        return
    except AssertionError:
        pass
    rerun = dict(fixed, nsr=c.get("nsr"))
    eps = float(np.finfo(g.dtype).eps)
    err_cpu = max(float(np.abs(_quadratic_cpu(rerun, (g.astype(np.float64) * f).astype(g.dtype), psf)[0]
                               - exact).max()) for f in (1.0, 1 + eps, 1 - eps / 2))
    floor = 1e-5 * float(np.abs(exact).max())
    err_gpu = float(np.abs(got - exact).max())
    assert err_gpu <= 2 * err_cpu + floor, (err_gpu, err_cpu, floor)
    count("gpu_quadratic_cg_at_rounding")


def _assert_quadratic_match(c, got, want, lam):
    if c["boundary"] == "auto":
        _assert_cg_agrees(c, got, want, lam)
        return
    # Closed forms: FFT rounding only. test_gpu_algorithms' tolerance (conftest's in
    # float64, _itol in float32) with its absolute part relative to the result's peak.
    base = _itol(want.dtype) if want.dtype == np.float32 else tol(want.dtype)
    np.testing.assert_allclose(got, want, **scaled_tol(base, want))


def _quadratic_gpu(c, g, psf, sigma, **override):
    c = dict(c, **override)
    return host.quadratic(g, psf, c["boundary"], c["kind"], c.get("nsr"), c.get("regularizer", "laplacian"),
                          c.get("lam_method", "fixed"), c.get("lam", 0.0), sigma)


@examples(200, 1500)
@given(quadratic_cases())
def test_wiener_and_tikhonov_match_the_cpu_engine(c):
    count(f"gpu_{c['kind']}_{'cg' if c['boundary'] == 'auto' else 'closed'}")
    g, psf = c["g"], c["psf"]
    sigma = noise_sigma_of(g)
    (cpu, cpu_exc) = outcome(lambda: _quadratic_cpu(c, g, psf))
    (gpu, gpu_exc) = outcome(lambda: _quadratic_gpu(c, g, psf, sigma))
    if cpu_exc is not None or gpu_exc is not None:
        # The one refusal of valid-looking input: a parameter that needs the noise
        # estimate of an image with an axis shorter than 2.
        assert sigma < 0, (cpu_exc, gpu_exc)
        assert_same_refusal(cpu_exc, gpu_exc)
        return
    (want, winfo), (got, info) = cpu, gpu
    check_like(got, want)
    assert tuple(info["grid_shape"]) == tuple(winfo["grid_shape"])
    if c["boundary"] == "auto":  # each stopped by its rule
        for i in (info, winfo):
            assert i["relative_residual"] <= 1e-5 or i["iterations"] == 500, i
    else:
        assert info["iterations"] == winfo["iterations"] == 0
    f32 = g.dtype == np.float32
    if c["kind"] == "wiener" and c["nsr"] is None:
        for key in ("psd_alpha", "psd_amplitude", "noise_sigma"):
            assert info[key] == pytest.approx(winfo[key], rel=1e-4 if f32 else 1e-9)  # test_gpu_algorithms
    if c["kind"] == "tikhonov" and info["lam"] != pytest.approx(winfo["lam"], rel=1e-3 if f32 else 1e-9):
        # Different lam (beyond test_gpu_algorithms' tolerance) only where GCV is flat
        # to rounding, so that rounding picks among equal minima (a delta PSF with the
        # identity regulariser: GCV(lam) = |G|^2 / L for every lam; plateaus at the ends
        # of the range). Then the solve is compared at the CPU engine's lam.
        assert c["lam_method"] == "gcv", (info["lam"], winfo["lam"])
        _assert_gcv_tie(c, winfo["lam"], info["lam"])
        count("gpu_tikhonov_gcv_tie")
        got, info = _quadratic_gpu(c, g, psf, sigma, lam_method="fixed", lam=winfo["lam"])
    _assert_quadratic_match(c, got, want, winfo["lam"])


# ---- Richardson-Lucy (csrc/gpu/richardson_lucy.hpp) ----------------------------------------
RL_BOUNDARIES = ["auto", "periodic", "reflect", "zero"]


@st.composite
def rl_cases(draw, dtypes=DTYPES, ndims=(1, 2, 3), automatic=True):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes(ndims=ndims))
    seed = draw(st.integers(0, 2**32 - 1))
    g = image(draw, shape, dtype, seed, signed=False)
    psf = draw(psfs(shape, dtype, seed))
    kw = dict(boundary=draw(st.sampled_from(RL_BOUNDARIES)), accelerate=draw(st.booleans()),
              damping=draw(st.sampled_from([0.0, 0.0, 0.01, 0.02, 0.1])),
              tv_weight=draw(st.sampled_from([0.0, 0.0, 0.002, 0.005, 0.01])),
              background=draw(st.sampled_from([0.0, 0.0, 0.05, 0.1])))
    if draw(st.integers(0, 2)) == 0:
        rng = np.random.default_rng(seed + 5)
        kw["weights"] = ((rng.random(shape) > 0.2) * rng.random(shape)).astype(dtype)
    if automatic and draw(st.integers(0, 3)) == 0:
        # The automatic stop, capped (the iteration count is compared too).
        kw.update(iterations=0, max_iterations=draw(st.integers(1, 6)), tolerance=draw(st.sampled_from([0.0, 1e-3])))
    else:
        kw["iterations"] = draw(st.integers(1, 6))  # "a few": what _itol covers
    return g, psf, kw


@examples(300, 2000)
@given(rl_cases())
def test_richardson_lucy_matches_the_cpu_engine_and_is_non_negative(case):
    g, psf, kw = case
    count(f"gpu_richardson_lucy_{kw['boundary']}")
    if kw["iterations"] == 0:
        kw = dict(kw, noise_sigma=noise_sigma_of(g))
    (cpu, cpu_exc) = outcome(lambda: core.richardson_lucy(g, psf, threads=1, **kw))
    (gpu, gpu_exc) = outcome(lambda: host.richardson_lucy(g, psf, **kw))
    w = kw.get("weights")
    if cpu_exc is not None or gpu_exc is not None:
        # Valid-looking input refused: weights that are all zero, or the automatic stop
        # on an image too small for the noise estimate.
        assert (w is not None and not w.any()) or kw.get("noise_sigma", 0.0) < 0, (cpu_exc, gpu_exc)
        assert_same_refusal(cpu_exc, gpu_exc)
        return
    (want, winfo), (got, info) = cpu, gpu
    check_like(got, want)
    assert want.min() >= 0 and got.min() >= 0, (want.min(), got.min())  # every update clamps at 0
    # test_gpu_algorithms: _itol (a few iterations amplify each step's FFT rounding),
    # absolute part relative to the result's peak (_scaled); see agrees_or_unstable.
    if not agrees_or_unstable(got, want, _scaled(g.dtype, want),
                              lambda x: core.richardson_lucy(x, psf, threads=1, **kw)[0], g, "gpu_richardson_lucy",
                              slack=rl_weighted_slack(want, psf, kw, winfo["iterations"]),
                              rerun64=lambda x: core.richardson_lucy(x, psf.astype(np.float64), threads=1,
                                                                     **_as_float64(kw))[0]):
        return
    assert (info["iterations"], info["stopped_by"]) == (winfo["iterations"], winfo["stopped_by"])
    if kw["iterations"]:
        assert info["iterations"] == kw["iterations"] and info["stopped_by"] == "iterations"
    else:
        assert info["noise_sigma"] == kw["noise_sigma"]
    # rel: test_gpu_algorithms. abs: a residual sum((g - A x)^2) / n moves by at most
    # 2 sqrt(r) d + d^2 when the iterates differ by d (the tolerance above), for
    # residuals at the rounding level (a delta PSF, an image of zeros).
    t = _scaled(g.dtype, want)
    d = t["atol"] + t["rtol"] * float(np.abs(want).max())
    r = winfo["residual"]
    assert info["residual"] == pytest.approx(r, rel=1e-4 if g.dtype == np.float32 else 1e-10,
                                             abs=2 * math.sqrt(r) * d + d * d)


# ---- TV deconvolution (csrc/gpu/tv_deconvolve.hpp) -----------------------------------------
@st.composite
def tv_cases(draw, dtypes=DTYPES, ndims=(1, 2, 3)):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes(ndims=ndims, sizes={1: SIZES[1][:-2], 2: SIZES[2], 3: SIZES[3]}))
    channels = draw(st.sampled_from([1, 1, 2, 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    g = image(draw, (channels,) + shape if channels > 1 else shape, dtype, seed)
    psf = draw(psfs(shape, dtype, seed))
    positivity = draw(st.booleans())
    bounds = draw(st.sampled_from([None, None, (0.1, 0.8), (-1.0, 2.0)]))
    rho = draw(st.sampled_from([(1.0, 2.0, 1.5), (0.1, 0.5, 0.1), (1.0, 1.0, 1.0)]))
    # > 0: the automatic stop (still at most 6 iterations, the "few" _itol covers).
    tolerance = draw(st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.1]))
    iterations = draw(st.integers(1, 6))
    args = (g, psf, channels > 1, draw(st.sampled_from(["auto", "periodic", "reflect"])),
            draw(st.sampled_from([0.0, 0.001, 0.05, 0.5])), iterations, tolerance, positivity, bounds, rho, None)
    return args


@examples(150, 1000)
@given(tv_cases())
def test_tv_deconvolve_matches_the_cpu_engine(args):
    g, psf, channel_first, boundary, weight, iterations, tolerance, positivity, bounds, rho, _ = args
    count(f"gpu_tv_{boundary}")
    seen = {"cpu": [], "gpu": []}
    want, winfo = core.tv_deconvolve(*args[:-1], seen["cpu"].append, 1)
    got, info = host.tv_deconvolve(*args[:-1], seen["gpu"].append)
    changes = {face: [s["relative_change"] for s in states] for face, states in seen.items()}
    assert len(changes["cpu"]) == winfo["iterations"] and len(changes["gpu"]) == info["iterations"]
    if info["iterations"] != winfo["iterations"]:
        # Only a tie of the stopping rule: the one that ran on had a relative change
        # within test_gpu_algorithms' rel 1e-3 of the tolerance where the other stopped.
        n = min(info["iterations"], winfo["iterations"])
        longer = max(changes.values(), key=len)
        assert tolerance > 0 and longer[n - 1] == pytest.approx(tolerance, rel=1e-3), (n, longer[n - 1])
        count("gpu_tv_stop_tie")
        args = args[:5] + (n, 0.0) + args[7:]
        want, winfo = core.tv_deconvolve(*args, 1)
        got, info = host.tv_deconvolve(*args)
    check_like(got, want)
    # test_gpu_algorithms: _itol (data in [0, 1) there), absolute part relative to the peak.
    t = scaled_tol(_itol(g.dtype), want)
    np.testing.assert_allclose(got, want, **t)
    assert info["stopped_by"] == winfo["stopped_by"]
    assert info["iterations"] == iterations if info["stopped_by"] == "iterations" else info["iterations"] <= iterations
    # rel 1e-3 (test_gpu_algorithms); abs: |x_k - x_k-1| / |x_k| moves by at most twice
    # the iterates' difference (the tolerance above), for changes at the rounding level.
    slack = 2 * (t["rtol"] + t["atol"] * math.sqrt(want.size) / max(float(np.linalg.norm(want)), 1e-300))
    assert info["relative_change"] == pytest.approx(winfo["relative_change"], rel=1e-3, abs=slack)
    for x in (got, want):
        if bounds is not None:
            assert x.min() >= bounds[0] and x.max() <= bounds[1]  # projected: exactly in the box
        elif positivity:
            assert x.min() >= 0


# ---- blind Richardson-Lucy (csrc/gpu/blind_richardson_lucy.hpp) ----------------------------
@st.composite
def blind_cases(draw, dtypes=DTYPES):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes(ndims=(2,)))
    seed = draw(st.integers(0, 2**32 - 1))
    g = image(draw, shape, dtype, seed, signed=False)
    if draw(st.booleans()):
        g = (g + g.dtype.type(0.1) * max(float(g.max()), 1e-3)).astype(dtype)  # strictly positive, as the fixed case
    assume(g.any())  # (an image of zeros: test_known_blind_richardson_lucy_of_zeros_is_a_runtime_error)
    psf = draw(psfs(shape, dtype, seed))
    return g, psf, draw(st.integers(1, 4)), draw(st.integers(0, 3))


@examples(100, 800)
@given(blind_cases())
def test_blind_richardson_lucy_matches_the_cpu_engine(case):
    count("gpu_blind_richardson_lucy")
    g, h0, iterations, psf_iterations = case
    want, want_h, want_done = core.blind_richardson_lucy(g, h0, iterations, psf_iterations, None, 1)
    got, got_h, done = host.blind_richardson_lucy(g, h0, iterations, psf_iterations)
    check_like(got, want)
    check_like(got_h, want_h)
    assert done == want_done == iterations
    np.testing.assert_allclose(got, want, **_scaled(g.dtype, want))
    np.testing.assert_allclose(got_h, want_h, **_scaled(g.dtype, want_h))
    assert got_h.min() >= 0 and float(got_h.sum(dtype=np.float64)) == pytest.approx(1.0, rel=1e-5)


# ---- invalid input: the same TypeError / ValueError from both engines ---------------------
GOOD = np.random.default_rng(0).random((12, 13))
GOOD_PSF = np.full((3, 3), 1 / 9)
RHO = (1.0, 2.0, 1.5)


def _engine_calls(name, a):
    """(cpu call, gpu_on_host call) of `name` with the arguments `a` (a dict)."""
    if name == "gaussian_filter":
        args = (a["image"], a["sigma"], a["mode"], a["cval"], a["truncate"])
        return lambda: core.gaussian_filter(*args, 1), lambda: host.gaussian_filter(*args)
    if name == "psnr":
        return (lambda: core.psnr(a["image"], a["other"], a["data_range"], 1),
                lambda: host.psnr(a["image"], a["other"], a["data_range"]))
    if name == "ssim":
        args = (a["image"], a["other"], a["data_range"], a["sigma"], a["truncate"], a["K1"], a["K2"], a["full"])
        return lambda: core.ssim(*args, 1), lambda: host.ssim(*args)
    if name == "wiener":
        return (lambda: core.wiener(a["image"], a["psf"], a["boundary"], a["nsr"], None, a["tolerance"],
                                    a["max_iterations"], 1),
                lambda: host.quadratic(a["image"], a["psf"], a["boundary"], "wiener", a["nsr"], "laplacian", "fixed",
                                       0.0, 0.05, None, a["tolerance"], a["max_iterations"]))
    if name == "tikhonov":
        return (lambda: core.tikhonov(a["image"], a["psf"], a["boundary"], a["regularizer"], a["lam_method"],
                                      a["lam"], None, a["tolerance"], a["max_iterations"], 1),
                lambda: host.quadratic(a["image"], a["psf"], a["boundary"], a["kind"], None, a["regularizer"],
                                       a["lam_method"], a["lam"], 0.05, None, a["tolerance"], a["max_iterations"]))
    if name == "richardson_lucy":
        kw = {k: v for k, v in a.items() if k not in ("image", "psf")}
        return (lambda: core.richardson_lucy(a["image"], a["psf"], threads=1, **kw),
                lambda: host.richardson_lucy(a["image"], a["psf"], **kw))
    if name == "tv_deconvolve":
        args = (a["image"], a["psf"], a["channel_first"], a["boundary"], a["weight"], a["iterations"],
                a["tolerance"], a["positivity"], a["bounds"], a["rho"], None)
        return lambda: core.tv_deconvolve(*args, 1), lambda: host.tv_deconvolve(*args)
    if name == "blind_richardson_lucy":
        args = (a["image"], a["psf"], a["iterations"], a["psf_iterations"])
        return lambda: core.blind_richardson_lucy(*args, None, 1), lambda: host.blind_richardson_lucy(*args)
    raise AssertionError(name)


VALID = {  # a valid call of each function (tested below: both engines accept it)
    "gaussian_filter": dict(image=GOOD, sigma=[1.0, 2.0], mode="reflect", cval=0.0, truncate=4.0),
    "psnr": dict(image=GOOD, other=GOOD[::-1].copy(), data_range=1.0),
    "ssim": dict(image=GOOD, other=GOOD[::-1].copy(), data_range=1.0, sigma=1.5, truncate=3.5, K1=0.01, K2=0.03,
                 full=True),
    "wiener": dict(image=GOOD, psf=GOOD_PSF, boundary="reflect", nsr=0.01, tolerance=0.0, max_iterations=500),
    "tikhonov": dict(image=GOOD, psf=GOOD_PSF, boundary="reflect", kind="tikhonov", regularizer="laplacian",
                     lam_method="fixed", lam=0.01, tolerance=0.0, max_iterations=500),
    "richardson_lucy": dict(image=GOOD, psf=GOOD_PSF, boundary="auto", iterations=2),
    "tv_deconvolve": dict(image=GOOD, psf=GOOD_PSF, channel_first=False, boundary="auto", weight=0.01, iterations=2,
                          tolerance=0.0, positivity=True, bounds=None, rho=RHO),
    "blind_richardson_lucy": dict(image=GOOD + 0.1, psf=GOOD_PSF, iterations=2, psf_iterations=1),
}
DECONV = ("wiener", "tikhonov", "richardson_lucy", "tv_deconvolve", "blind_richardson_lucy")

BAD_NONNEG = [-1.0, -1e-300, math.nan, math.inf, -math.inf]  # checked "finite and >= 0"
BAD_POS = [0.0, -1.0, math.nan, math.inf]  # checked "finite and > 0"
BAD_TYPES = ["1", None, [1.0], 1j]  # not numbers: pybind11's TypeError
BAD_NAMES = ["", "bogus", "Reflect", "zero ", 3, None]
BAD_IMAGES = [  # for every function
    np.zeros(()), np.ones((2, 2, 2, 2)), np.ones((0, 13)), np.ones((12, 0)), GOOD.astype(np.float16),
    (GOOD * 100).astype(np.int32), GOOD.astype(np.complex128), np.asfortranarray(np.ones((12, 13))), GOOD[:, ::2],
    GOOD.astype(">f8"), GOOD.astype(object), GOOD.tolist(), None, "image",
]
BAD_PSFS = [  # for the deconvolutions
    np.ones((3,)), np.ones((3, 3, 3)), np.ones((2, 2)) / 4, np.ones((3, 4)) / 12, np.ones((0, 3)),
    GOOD_PSF.astype(np.float32), GOOD_PSF.astype(np.int64), GOOD_PSF.astype(np.complex128),
    np.asfortranarray(np.ones((3, 5)) / 15), np.ones((13, 1)) / 13, None,
]
#: Argument -> invalid values, per function (the ones both engines check).
BAD_ARGUMENTS = {
    "gaussian_filter": {"sigma": [[1.0], [1.0, 2.0, 3.0], [-1.0, 1.0], [math.nan, 1.0], [1.0, math.inf], None, "ab",
                                  [1e12, 1.0]],
                        "mode": BAD_NAMES, "truncate": BAD_POS + BAD_TYPES},
    "psnr": {"other": [GOOD[:, :12].copy(), GOOD.astype(np.float32), GOOD.T.copy(), None],
             "data_range": BAD_POS + BAD_TYPES},
    "ssim": {"other": [GOOD[:11].copy(), GOOD.astype(np.float32), None], "data_range": BAD_POS + BAD_TYPES,
             "sigma": BAD_POS + BAD_TYPES, "truncate": BAD_POS + BAD_TYPES, "K1": BAD_NONNEG + BAD_TYPES,
             "K2": BAD_NONNEG + BAD_TYPES, "full": ["yes", [1]]},  # (pybind11 takes None and ints as bools)
    "wiener": {"boundary": BAD_NAMES + ["zero"], "nsr": BAD_NONNEG,  # (a str or list: test_known_nsr_of_another_type_is_a_runtime_error)
               "tolerance": BAD_NONNEG + BAD_TYPES, "max_iterations": [0, -1, 1.5, "3", None]},
    "tikhonov": {"boundary": BAD_NAMES + ["zero"], "regularizer": BAD_NAMES, "lam_method": BAD_NAMES,
                 "lam": BAD_NONNEG + BAD_TYPES, "tolerance": BAD_NONNEG, "max_iterations": [0, -1, 1.5, None]},
    "richardson_lucy": {"boundary": BAD_NAMES, "iterations": [-1, -100, 1.5, "2", None],
                        "max_iterations": [-1, 2.5], "damping": BAD_NONNEG + BAD_TYPES,
                        "tv_weight": BAD_NONNEG + BAD_TYPES, "background": BAD_NONNEG + BAD_TYPES,
                        "tolerance": BAD_NONNEG + BAD_TYPES, "accelerate": ["yes", [1]],
                        "weights": [np.ones((3, 3)), np.zeros((12, 13)), np.full((12, 13), math.nan),
                                    -np.ones((12, 13)), np.ones((12, 13), np.float32), "w", [1.0]],
                        "initial": [np.ones((3, 3)), np.ones((12, 13), np.float32), "x"],
                        "state": [{"estimate": GOOD}, {"boundary": "reflect", "estimate": GOOD, "iterations": 1}, 3]},
    "tv_deconvolve": {"boundary": BAD_NAMES + ["zero"], "weight": BAD_NONNEG + BAD_TYPES,
                      "iterations": [0, -1, 1.5, None], "tolerance": BAD_NONNEG + BAD_TYPES,
                      "bounds": [(1.0, 0.0), (0.5, 0.5), (math.nan, 1.0), (0.0, math.inf), (0.0,), "ab"],
                      "rho": [(0.0, 1.0, 1.0), (1.0, -1.0, 1.0), (1.0, 1.0, math.nan), (1.0, math.inf, 1.0),
                              (1.0, 1.0), None],
                      "channel_first": [True]},  # with a 1-D image: no spatial axes left
    "blind_richardson_lucy": {"iterations": [0, -1, 1.5, None], "psf_iterations": [-1, 1.5, None],
                              "psf": [-GOOD_PSF, np.zeros((3, 3)), np.array([[0.5, -0.1, 0.6]]),
                                      np.full((3, 3), math.nan), np.full((3, 3), math.inf)]},
}


@st.composite
def invalid_engine_calls(draw):
    name = draw(st.sampled_from(sorted(VALID)))
    a = dict(VALID[name])
    what = draw(st.sampled_from(["image", "psf", "argument"] if name in DECONV else ["image", "argument"]))
    if what == "image":
        bad = draw(st.sampled_from(BAD_IMAGES if name != "psnr" else [  # (psnr takes any number of axes)
            b for b in BAD_IMAGES if not (isinstance(b, np.ndarray) and b.size and (b.ndim == 0 or b.ndim > 3))]))
        if name == "gaussian_filter" and isinstance(bad, np.ndarray) and bad.ndim >= 1 and min(bad.shape) == 0:
            bad = GOOD.astype(np.float16)  # an empty axis: see test_known_gaussian_filter_empty_axis
        a["image"] = bad
        if name in ("psnr", "ssim") and draw(st.booleans()):
            a["other"] = bad  # both arrays bad alike
        if name == "gaussian_filter" and isinstance(bad, np.ndarray):
            a["sigma"] = [1.0] * bad.ndim  # the image is the only thing wrong
    elif what == "psf":
        a["psf"] = draw(st.sampled_from(BAD_PSFS))
        if name in ("wiener", "tikhonov", "richardson_lucy", "tv_deconvolve") and \
                isinstance(a["psf"], np.ndarray) and a["psf"].shape == (13, 1):
            a["boundary"] = "periodic"  # larger than the image: only the periodic model refuses
    else:
        argument = draw(st.sampled_from(sorted(BAD_ARGUMENTS[name])))
        a[argument] = draw(st.sampled_from(BAD_ARGUMENTS[name][argument]))
        if name == "tv_deconvolve" and argument == "channel_first":
            a["image"], a["psf"] = GOOD[0].copy(), np.ones((3,)) / 3
    return name, what, a


@examples(300, 2000)
@given(invalid_engine_calls())
def test_invalid_input_is_the_same_type_or_value_error_from_both_engines(call):
    name, what, a = call
    count(f"gpu_invalid_{name}")
    cpu, gpu = _engine_calls(name, a)
    (_, cpu_exc), (_, gpu_exc) = outcome(cpu), outcome(gpu)
    assert_same_refusal(cpu_exc, gpu_exc)


@pytest.mark.parametrize("sigma", [-1.0, math.nan, math.inf])
def test_the_cuda_engines_automatic_stop_needs_a_noise_sigma(sigma):
    # A documented difference: the CUDA engine's caller (the Python layer) estimates the
    # noise and passes it; the CPU engine estimates it itself when it is negative.
    with pytest.raises(ValueError, match="noise_sigma"):
        host.richardson_lucy(GOOD, GOOD_PSF, iterations=0, noise_sigma=sigma)
    assert host.richardson_lucy(GOOD, GOOD_PSF, iterations=0, noise_sigma=0.05)[1]["noise_sigma"] == 0.05


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_valid_base_calls_are_accepted_by_both_engines(name):
    # The invalid calls above change one argument of these: each must be valid as it is.
    cpu, gpu = _engine_calls(name, VALID[name])
    for result in (cpu(), gpu()):
        value = result if isinstance(result, float) else result[0]
        assert np.all(np.isfinite(value))


# ---- the engines' checks that differed (found by the properties above, fixed since) --------
@pytest.mark.parametrize("cval", [math.nan, math.inf])
def test_gaussian_filter_refuses_a_nonfinite_cval(cval):
    cpu, gpu = _engine_calls("gaussian_filter", dict(VALID["gaussian_filter"], mode="constant", cval=cval))
    (_, cpu_exc), (got, gpu_exc) = outcome(cpu), outcome(gpu)
    assert isinstance(cpu_exc, ValueError)
    assert gpu_exc is not None, f"gpu_on_host returned {int((~np.isfinite(got)).sum())} non-finite of {got.size}"


def test_gaussian_filter_refuses_an_empty_axis():
    cpu, gpu = _engine_calls("gaussian_filter", dict(VALID["gaussian_filter"], image=np.ones((0, 13))))
    (_, cpu_exc), (_, gpu_exc) = outcome(cpu), outcome(gpu)
    assert isinstance(cpu_exc, ValueError)
    assert gpu_exc is not None


@pytest.mark.parametrize("value", [-0.5, math.inf])
def test_richardson_lucy_checks_each_weight(value):
    w = np.random.default_rng(1).random(GOOD.shape)
    w[3, 4] = value
    cpu, gpu = _engine_calls("richardson_lucy", dict(VALID["richardson_lucy"], weights=w))
    (_, cpu_exc), (_, gpu_exc) = outcome(cpu), outcome(gpu)
    assert isinstance(cpu_exc, ValueError)
    assert gpu_exc is not None


@pytest.mark.parametrize("value", [-1.0, math.nan])
def test_richardson_lucy_checks_the_initial_image(value):
    x0 = GOOD.copy()
    x0[0, 0] = value
    cpu, gpu = _engine_calls("richardson_lucy", dict(VALID["richardson_lucy"], initial=x0))
    (_, cpu_exc), (_, gpu_exc) = outcome(cpu), outcome(gpu)
    assert isinstance(cpu_exc, ValueError)
    assert gpu_exc is not None


def test_quadratic_checks_the_nsr_spectrum_shape():
    # A spectrum larger than the half spectrum (12 x 7 for 'periodic'), so that the
    # missing check reads nothing out of bounds here.
    spectrum = np.full((12, 13), 0.01)
    cpu, gpu = _engine_calls("wiener", dict(VALID["wiener"], boundary="periodic", nsr=spectrum))
    (_, cpu_exc), (_, gpu_exc) = outcome(cpu), outcome(gpu)
    assert isinstance(cpu_exc, ValueError) and "shape" in str(cpu_exc)
    assert gpu_exc is not None


@pytest.mark.parametrize("nsr", ["0.1", [0.1]])
def test_nsr_of_another_type_is_a_type_error(nsr):
    cpu, gpu = _engine_calls("wiener", dict(VALID["wiener"], nsr=nsr))
    (_, cpu_exc), (_, gpu_exc) = outcome(cpu), outcome(gpu)
    assert isinstance(cpu_exc, TypeError), repr(cpu_exc)
    assert isinstance(gpu_exc, TypeError), repr(gpu_exc)


def test_the_cpu_engines_errors_keep_their_class_when_cuda_is_imported():
    if unblur._backend.cuda_module() is None:
        pytest.skip("unblur._cuda is not built")  # (then the class cannot change)
    _, exc = outcome(lambda: core.gaussian_filter(GOOD, [math.nan, 1.0], "reflect", 0.0, 4.0, 1))
    assert isinstance(exc, ValueError)
    assert isinstance(exc, core.CoreValueError), f"{type(exc).__module__}.{type(exc).__name__}"


def test_rl_weighted_slack_matters_only_where_few_weighted_observations_see_a_pixel():
    # The allowance must leave the comparison about as strict as _itol (a few per cent
    # more) wherever the normaliser is near its peak, or the RL properties could not
    # fail there.
    psf = np.array([[0.001, 0.004, 0.99, 0.004, 0.001]], np.float32)
    w = np.ones((9, 12), np.float32)
    w[4, 3:10] = 0.0  # (4, 6) is seen only through the PSF's 0.001 tails: 2e-3 of the peak
    want = np.full(w.shape, 0.8, np.float32)
    base = _itol(np.float32)["rtol"]
    for boundary in ("auto", "periodic", "reflect"):
        slack = rl_weighted_slack(want, psf, dict(weights=w, boundary=boundary, accelerate=False), 3)
        seen = slice(None), slice(0, 2)  # full weight around: normaliser ~1
        assert float((slack[seen] / want[seen]).max()) < base / 20, boundary
        assert float(slack[4, 6] / want[4, 6]) > base, boundary  # ~500 x the peak-relative rounding
    assert rl_weighted_slack(want, psf, dict(weights=w, boundary="zero"), 3) == 0.0
    assert rl_weighted_slack(want, psf, dict(boundary="auto"), 3) == 0.0


def test_blind_richardson_lucy_of_zeros_is_a_value_error():
    g = np.zeros((8, 9))
    calls = {"public": lambda: unblur.blind_richardson_lucy(g, GOOD_PSF, iterations=2)}
    calls["cpu"], calls["gpu_on_host"] = _engine_calls("blind_richardson_lucy", dict(VALID["blind_richardson_lucy"],
                                                                                   image=g))
    for name, call in calls.items():
        _, exc = outcome(call)
        assert isinstance(exc, ValueError), (name, repr(exc))


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="GCV's search (core/wiener.cpp, gpu/wiener.hpp: the same grid and golden sections) "
                          "takes the first strictly smaller value; where GCV is flat (a delta PSF with the "
                          "identity regulariser: GCV(lam) = |G|^2 / L for every lam) the engines' rounding picks "
                          "lam, up to 14 decades apart")
def test_known_gcv_lam_of_a_flat_gcv_is_decided_by_rounding():
    chosen = []
    for seed in range(20):
        g = np.random.default_rng(seed).random((8, 8))
        _, cpu = core.tikhonov(g, np.ones((1, 1)), "periodic", "identity", "gcv", 0.0, None, 0.0, 500, 1)
        _, gpu = host.quadratic(g, np.ones((1, 1)), "periodic", "tikhonov", None, "identity", "gcv")
        chosen.append((seed, cpu["lam"], gpu["lam"]))
    assert all(a == pytest.approx(b, rel=1e-9) for _, a, b in chosen), chosen


@pytest.mark.parametrize("face", ["public", "gpu_on_host"])
def test_accelerated_zero_boundary_rl_with_weights_stays_bounded(face):
    rng = np.random.default_rng(3)
    g = (rng.random((12, 13)) * 1e-3).astype(np.float32)
    w = ((rng.random(g.shape) > 0.2) * rng.random(g.shape)).astype(np.float32)
    h = np.ones((1, 1), np.float32)
    kw = dict(boundary="zero", weights=w, iterations=6)
    if face == "public":
        out, plain = (unblur.richardson_lucy(g, h, accelerate=a, **kw) for a in (True, False))
    else:
        out, plain = (host.richardson_lucy(g, h, accelerate=a, **kw)[0] for a in (True, False))
    assert plain.max() <= 1.0  # without acceleration: from the start 0.5 toward the data (0.5 at most)
    assert out.max() <= 1.0, f"accelerated: {out.max():.3g} (data <= {g.max():.3g})"


THIN = np.random.default_rng(2).random((1, 16)).astype(np.float32)
THIN_PSF = np.array([[0.25, 0.5, 0.25]], np.float32)


@pytest.mark.parametrize("name", ["wiener", "tikhonov", "richardson_lucy"])
def test_cuda_route_noise_estimate_of_a_thin_image_is_refused(fake_cuda, name):
    cp, _ = fake_cuda
    fn = {"wiener": lambda x: unblur.wiener(x, THIN_PSF),
          "tikhonov": lambda x: unblur.tikhonov(x, THIN_PSF, lam_method="discrepancy"),
          "richardson_lucy": lambda x: unblur.richardson_lucy(x, THIN_PSF)}[name]
    _, cpu_exc = outcome(lambda: fn(THIN))
    assert isinstance(cpu_exc, ValueError) and "estimate noise" in str(cpu_exc)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _, gpu_exc = outcome(lambda: fn(cp.asarray(THIN)))
    assert not seen, [str(w.message) for w in seen]
    assert isinstance(gpu_exc, ValueError) and "estimate noise" in str(gpu_exc), repr(gpu_exc)


# ---- the real CUDA module through the public API (CuPy arrays) -----------------------------
# float32, against the CPU engine with tests/test_cuda.py's tolerances. Each test runs on
# "cuda" (unblur._cuda and CuPy: marked gpu, skipped without them) and on "cuda_on_host"
# (the Python layer's CUDA route with the CuPy stand-in and the host executor).
@pytest.fixture(params=[pytest.param("cuda", marks=[pytest.mark.gpu, needs_module]), "cuda_on_host"])
def device(request):
    """(the array module, its name) for the CUDA route."""
    if request.param == "cuda":
        import cupy

        yield cupy, "cuda"
        cupy.cuda.get_current_stream().synchronize()
    else:
        cp, _ = request.getfixturevalue("fake_cuda")
        yield cp, "cuda_on_host"


def on_device(ci, thorough_examples):
    """examples(...) for a test that takes the `device` fixture (the same for every example)."""
    s = examples(ci, thorough_examples)
    return settings(s, suppress_health_check=list(s.suppress_health_check) + [HealthCheck.function_scoped_fixture])


F32_ATOL = GPU_ATOL[np.float32]
SMALL_SIZES = {1: [1, 2, 5, 16, 31, 64], 2: [1, 3, 8, 13, 17, 32], 3: [1, 3, 4, 7, 9]}


def to_host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@on_device(6, 60)
@given(gaussian_cases())
def test_cuda_gaussian_filter_matches_the_cpu_engine(device, case):
    cp, face = device
    count(f"{face}_gaussian_filter")
    x, sigma, mode, cval, truncate = case
    x = x.astype(np.float32)
    want = unblur.gaussian_filter(x, sigma, mode=mode, cval=cval, truncate=truncate)
    got = unblur.gaussian_filter(cp.asarray(x), sigma, mode=mode, cval=cval, truncate=truncate)
    assert isinstance(got, cp.ndarray)
    got = to_host(got)
    check_like(got, want)
    # test_cuda: 10 x GPU_ATOL for data of magnitude 1, relative to the largest input or cval.
    magnitude = max(float(np.abs(x).max()), abs(cval))
    np.testing.assert_allclose(got, want, rtol=0, atol=10 * F32_ATOL * max(1.0, magnitude))


@on_device(6, 60)
@given(metric_cases())
def test_cuda_metrics_match_the_cpu_engine(device, case):
    cp, face = device
    count(f"{face}_metrics")
    a, b, other, kw = case
    a, b = a.astype(np.float32), b.astype(np.float32)
    da, db = cp.asarray(a), cp.asarray(b)
    p = unblur.metrics.psnr(da, db, data_range=kw["data_range"])
    want = unblur.metrics.psnr(a, b, data_range=kw["data_range"])
    if other == "same":
        assert p == want == math.inf
    else:
        assert p == pytest.approx(want, rel=1e-9)  # test_cuda
    window = 2 * int(kw["truncate"] * kw["sigma"] + 0.5) + 1
    if min(a.shape) < window:
        for x, y in ((a, b), (da, db)):
            with pytest.raises(ValueError):
                unblur.metrics.ssim(x, y, full=True, **kw)
        return
    m, smap = unblur.metrics.ssim(da, db, full=True, **kw)
    want, want_map = unblur.metrics.ssim(a, b, full=True, **kw)
    assert isinstance(smap, cp.ndarray)
    smap = to_host(smap)
    check_like(smap, want_map)
    assert m == pytest.approx(want, rel=1e-9, abs=1e-9)  # test_cuda (abs: means near 0)
    np.testing.assert_allclose(smap, want_map, rtol=0, atol=1e-6)


@on_device(6, 60)
@given(quadratic_cases(ndims=(2, 3)), st.booleans())
def test_cuda_wiener_and_tikhonov_match_the_cpu_engine(device, c, psf_on_device):
    cp, face = device
    count(f"{face}_quadratic")
    c = dict(c, g=c["g"].astype(np.float32), psf=c["psf"].astype(np.float32))
    g, psf, nsr = c["g"], c["psf"], c.get("nsr")
    if isinstance(nsr, np.ndarray):
        c["nsr"] = nsr = nsr.astype(np.float32)
    if c["kind"] == "wiener":
        fn = unblur.wiener
        kw = dict(nsr="auto" if nsr is None else nsr)
        needs_sigma = nsr is None
    else:
        fn = unblur.tikhonov
        kw = dict(regularizer=c["regularizer"], lam=c["lam"] if c["lam_method"] == "fixed" else "auto")
        if c["lam_method"] != "fixed":
            kw["lam_method"] = c["lam_method"]
        needs_sigma = c["lam_method"] == "discrepancy"
    kw["boundary"] = c["boundary"]
    assume(not (needs_sigma and noise_sigma_of(g) < 0))  # test_known_cuda_route_noise_estimate_of_a_thin_image
    want, winfo = fn(g, psf, return_info=True, **kw)

    def on_device(**override):
        dev_kw = dict(kw, **override)
        if isinstance(dev_kw.get("nsr"), np.ndarray):
            dev_kw["nsr"] = cp.asarray(dev_kw["nsr"])
        got, info = fn(cp.asarray(g), cp.asarray(psf) if psf_on_device else psf, return_info=True, **dev_kw)
        assert isinstance(got, cp.ndarray)
        return to_host(got), info

    got, info = on_device()
    check_like(got, want)
    if fn is unblur.tikhonov and info["lam"] != pytest.approx(winfo["lam"], rel=1e-3):
        # As on the host (test_wiener_and_tikhonov_match_the_cpu_engine): only a GCV tie.
        assert c["lam_method"] == "gcv", (info["lam"], winfo["lam"])
        _assert_gcv_tie(c, winfo["lam"], info["lam"])
        got, info = on_device(lam=winfo["lam"])  # (a number: lam_method is not used)
    # test_cuda / test_gpu_algorithms: _assert_quadratic_agrees, float32 (the closed
    # forms' absolute part relative to the result's peak, as on the host).
    _assert_quadratic_match(c, got, want, winfo.get("lam"))  # (wiener's info has no lam)


@on_device(8, 80)
@given(rl_cases(dtypes=["float32"], ndims=(2, 3)))
def test_cuda_richardson_lucy_matches_the_cpu_engine_and_is_non_negative(device, case):
    cp, face = device
    count(f"{face}_richardson_lucy")
    g, psf, kw = case
    kw = dict(kw)
    kw.pop("max_iterations", None)  # (the engines' cap; the public API has its own)
    if kw["iterations"] == 0:
        kw["iterations"] = None  # the automatic stop: the noise estimate on the device
        assume(noise_sigma_of(g) >= 0)  # test_known_cuda_route_noise_estimate_of_a_thin_image
    w = kw.get("weights")
    (cpu, cpu_exc) = outcome(lambda: unblur.richardson_lucy(g, psf, return_info=True, **kw))
    dev_kw = dict(kw, weights=cp.asarray(w)) if w is not None else kw
    (gpu, gpu_exc) = outcome(lambda: unblur.richardson_lucy(cp.asarray(g), cp.asarray(psf), return_info=True,
                                                            **dev_kw))
    if cpu_exc is not None or gpu_exc is not None:
        assert w is not None and not w.any(), (cpu_exc, gpu_exc)
        assert_same_refusal(cpu_exc, gpu_exc)
        return
    (want, winfo), (got, info) = cpu, gpu
    assert isinstance(got, cp.ndarray)
    got = to_host(got)
    check_like(got, want)
    assert got.min() >= 0 and want.min() >= 0
    # test_cuda's _itol, peak-relative; see agrees_or_unstable.
    if not agrees_or_unstable(got, want, _scaled(np.float32, want), lambda x: unblur.richardson_lucy(x, psf, **kw), g,
                              f"{face}_richardson_lucy", slack=rl_weighted_slack(want, psf, kw, winfo["iterations"]),
                              rerun64=lambda x: unblur.richardson_lucy(x, psf.astype(np.float64), **_as_float64(kw))):
        return
    if kw["iterations"] is not None:
        assert info["iterations"] == winfo["iterations"] == kw["iterations"]


@on_device(6, 60)
@given(tv_cases(dtypes=["float32"], ndims=(2, 3)))
def test_cuda_tv_deconvolve_matches_the_cpu_engine(device, args):
    cp, face = device
    count(f"{face}_tv_deconvolve")
    g, psf, channel_first, boundary, weight, iterations, _, positivity, bounds, rho, _ = args
    if channel_first:
        g = np.moveaxis(g, 0, -1).copy()  # the public API's channel_axis=-1
    kw = dict(weight=weight, iterations=iterations, boundary=boundary, positivity=positivity, bounds=bounds, rho=rho,
              channel_axis=-1 if channel_first else None)
    (cpu, cpu_exc) = outcome(lambda: unblur.tv_deconvolve(g, psf, return_info=True, **kw))
    (gpu, gpu_exc) = outcome(lambda: unblur.tv_deconvolve(cp.asarray(g), cp.asarray(psf), return_info=True, **kw))
    if cpu_exc is not None or gpu_exc is not None:
        assert_same_refusal(cpu_exc, gpu_exc)
        return
    (want, winfo), (got, info) = cpu, gpu
    assert isinstance(got, cp.ndarray)
    got = to_host(got)
    check_like(got, want)
    np.testing.assert_allclose(got, want, **scaled_tol(_itol(np.float32), want))  # test_cuda's _itol
    assert info["iterations"] == winfo["iterations"] == iterations


@on_device(5, 50)
@given(blind_cases(dtypes=["float32"]))
def test_cuda_blind_richardson_lucy_matches_the_cpu_engine(device, case):
    cp, face = device
    count(f"{face}_blind_richardson_lucy")
    g, h0, iterations, psf_iterations = case
    want, want_h = unblur.blind_richardson_lucy(g, h0, iterations=iterations, psf_iterations=psf_iterations)
    dev_h = cp.asarray(h0)
    got, got_h = unblur.blind_richardson_lucy(cp.asarray(g), dev_h, iterations=iterations,
                                              psf_iterations=psf_iterations)
    assert isinstance(got, cp.ndarray) and isinstance(got_h, cp.ndarray)
    np.testing.assert_array_equal(to_host(dev_h), h0)  # the caller's PSF is not overwritten
    got, got_h = to_host(got), to_host(got_h)
    check_like(got, want)
    check_like(got_h, want_h)
    np.testing.assert_allclose(got, want, **_scaled(np.float32, want))  # test_cuda
    np.testing.assert_allclose(got_h, want_h, **_scaled(np.float32, want_h))


PUBLIC_GOOD = GOOD.astype(np.float32)
PUBLIC_PSF = GOOD_PSF.astype(np.float32)
PUBLIC_CALLS = {  # name -> (function, valid keyword arguments)
    "gaussian_filter": (lambda x, h, **kw: unblur.gaussian_filter(x, **kw), dict(sigma=1.0)),
    "psnr": (lambda x, h, **kw: unblur.metrics.psnr(x, x[::-1], **kw), dict(data_range=1.0)),
    "ssim": (lambda x, h, **kw: unblur.metrics.ssim(x, x[::-1], **kw), dict(data_range=1.0)),
    "wiener": (unblur.wiener, dict(nsr=0.01)),
    "tikhonov": (unblur.tikhonov, dict(lam=0.01)),
    "richardson_lucy": (unblur.richardson_lucy, dict(iterations=2)),
    "tv_deconvolve": (unblur.tv_deconvolve, dict(weight=0.01, iterations=2)),
    "blind_richardson_lucy": (unblur.blind_richardson_lucy, dict(iterations=2)),
}
PUBLIC_BAD_IMAGES = [np.ones((2, 2, 2, 2, 2), np.float32), np.ones((0, 5), np.float32),
                     np.full((12, 13), np.nan, np.float32), np.zeros((12, 13), np.complex64)]
PUBLIC_BAD_ARGUMENTS = {
    "gaussian_filter": {"sigma": [-1.0, math.nan], "mode": ["bogus"], "truncate": [0.0, math.nan]},
    "psnr": {"data_range": [0.0, math.nan]},
    "ssim": {"data_range": [0.0, -1.0], "sigma": [0.0, math.nan], "K1": [-1.0]},
    "wiener": {"nsr": [-1.0, math.nan], "boundary": ["zero", "bogus"]},
    "tikhonov": {"lam": [-1.0, math.inf], "regularizer": ["bogus"], "boundary": ["bogus"]},
    "richardson_lucy": {"iterations": [-1, 0, 1.5], "damping": [math.nan, -1.0], "tv_weight": [-1.0],
                        "background": [math.inf], "boundary": ["bogus"]},
    "tv_deconvolve": {"weight": [-1.0, math.nan], "iterations": [-1, 0], "boundary": ["zero"],
                      "bounds": [(1.0, 0.0)]},
    "blind_richardson_lucy": {"iterations": [-1, 0], "psf_iterations": [-1]},
}
PUBLIC_BAD_PSFS = [np.ones((3, 3, 3), np.float32), -PUBLIC_PSF, np.full((3, 3), np.nan, np.float32),
                   np.zeros((3, 3), np.float32), np.ones((15, 15), np.float32)]


@st.composite
def invalid_public_calls(draw):
    name = draw(st.sampled_from(sorted(PUBLIC_CALLS)))
    fn, kw = PUBLIC_CALLS[name]
    kw = dict(kw)
    x, h = PUBLIC_GOOD, PUBLIC_PSF
    deconv = name not in ("gaussian_filter", "psnr", "ssim")
    what = draw(st.sampled_from(["image", "argument"] + (["psf"] if deconv else [])))
    if what == "image":
        x = draw(st.sampled_from(PUBLIC_BAD_IMAGES))
    elif what == "psf":
        h = draw(st.sampled_from(PUBLIC_BAD_PSFS))
    else:
        argument = draw(st.sampled_from(sorted(PUBLIC_BAD_ARGUMENTS[name])))
        kw[argument] = draw(st.sampled_from(PUBLIC_BAD_ARGUMENTS[name][argument]))
    return name, fn, x, h, kw, draw(st.booleans())


@on_device(15, 150)
@given(invalid_public_calls())
def test_cuda_invalid_input_is_the_same_error_as_on_numpy(device, call):
    cp, face = device
    name, fn, x, h, kw, psf_on_device = call
    count(f"{face}_invalid_{name}")
    (_, cpu_exc) = outcome(lambda: fn(x, h, **kw))
    (_, gpu_exc) = outcome(lambda: fn(cp.asarray(x), cp.asarray(h) if psf_on_device else h, **kw))
    assert_same_refusal(cpu_exc, gpu_exc)
