"""Richardson–Lucy against scikit-image and against its own FFT floor, measured in one run.

Run:  PYTHONPATH=python python bench/bench_richardson_lucy.py [--size 2048] [--repeat 3]

1. Plain RL (accelerate=False), float32, size x size, 31x31 Gaussian PSF, 30
   iterations: seconds per iteration of unblur ('auto' and 'zero') and of
   skimage.restoration.richardson_lucy(num_iter=30); unblur's 'zero' result is checked
   against scikit-image's.
2. The FFT floor: the best time of the two r2c and two c2r transforms one iteration
   needs on unblur's grid (``_core.rl_fft_floor``, FFTW plans of the grid timed
   directly), and unblur's per-iteration time over it. Per-iteration times are
   (t(31 iterations) - t(1 iteration)) / 30, so set-up (OTF, normaliser, plans) is
   left out.
3. Accelerated RL ('auto') against scikit-image's best PSNR on a blurred, noisy image:
   the iteration where each reaches it (found by resuming one iteration at a time,
   which equals one run) and the wall time of one call with that many iterations.

Times are best-of-N wall times; only the ratios of one run mean anything on a shared
machine.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.signal
import skimage.restoration
import unblur
from _timing import best_time


def gaussian_psf(size, sigma, dtype):
    r = np.arange(size) - size // 2
    p = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return (p / p.sum()).astype(dtype)


def test_image(size, dtype, rng):
    """The sample photograph's grey level, tiled/cropped to size x size, in [0.05, 1]."""
    grey = unblur.data.astronaut().astype(np.float64).mean(axis=-1)
    grey = (grey - grey.min()) / (grey.max() - grey.min())
    reps = -(-size // grey.shape[0])
    tiled = np.tile(grey, (reps, reps))[:size, :size]
    return (0.05 + 0.95 * tiled).astype(dtype)


def plain_rl(size, repeat, rng):
    dtype = np.float32
    psf = gaussian_psf(31, 4.0, dtype)
    scene = test_image(size, dtype, rng)
    g = scipy.signal.fftconvolve(scene, psf, mode="same").astype(dtype)
    g = np.maximum(g + 0.01 * rng.standard_normal(g.shape).astype(dtype), 0)
    n = 30

    def ours(boundary, iters):
        return unblur.richardson_lucy(g, psf, iterations=iters, boundary=boundary, accelerate=False)

    rows = {}
    for b in ("auto", "zero"):
        t1 = best_time(lambda: ours(b, 1), repeat)
        tn = best_time(lambda: ours(b, n + 1), repeat)
        rows[b] = (tn - t1) / n
    t_sk = best_time(lambda: skimage.restoration.richardson_lucy(g, psf, num_iter=n, clip=False), max(1, repeat - 1))
    sk_iter = t_sk / n
    want = skimage.restoration.richardson_lucy(g, psf, num_iter=n, clip=False)
    got = ours("zero", n)
    rel = float(np.abs(got - want).max() / np.abs(want).max())
    _, info = unblur.richardson_lucy(g, psf, iterations=1, accelerate=False, return_info=True)
    grid = info["state"]["estimate"].shape
    floor = unblur._core.rl_fft_floor(list(grid), np.dtype(dtype), repeats=max(5, 2 * repeat))
    print(f"plain RL, float32 {size}x{size}, 31x31 PSF, {n} iterations (threads={unblur.get_threads()})")
    print(f"  scikit-image              {sk_iter * 1e3:8.1f} ms/iteration  ({t_sk:.2f} s for {n})")
    for b, t in rows.items():
        print(f"  unblur boundary={b:<5}     {t * 1e3:8.1f} ms/iteration   skimage/unblur = {sk_iter / t:5.2f}x")
    print(f"  FFT floor on grid {grid}: {floor * 1e3:8.1f} ms/iteration (2 r2c + 2 c2r, _core.rl_fft_floor)")
    for b, t in rows.items():
        print(f"  unblur {b:<5} / FFT floor = {t / floor:5.2f}x")
    print(f"  check: 'zero' vs scikit-image after {n} iterations: max rel diff {rel:.2e}")
    return rel


def psnr_interior(truth, x, margin):
    sl = (slice(margin, -margin),) * 2
    return unblur.metrics.psnr(truth[sl], x[sl], data_range=1.0)


def accelerated_vs_skimage(size, repeat, rng, max_iter):
    dtype = np.float32
    k = 15
    psf = gaussian_psf(k, 2.5, dtype)
    big = test_image(size + k - 1, dtype, rng)
    g = scipy.signal.fftconvolve(big, psf, mode="valid").astype(dtype)
    truth = big[k // 2:-(k // 2), k // 2:-(k // 2)]
    g = np.maximum(g + 0.01 * rng.standard_normal(g.shape).astype(dtype), 0)
    margin = k

    def curve(boundary, accelerate, limit, stop_at=None):
        """PSNR after each iteration (resuming one at a time equals one run)."""
        out, info = unblur.richardson_lucy(g, psf, iterations=1, boundary=boundary, accelerate=accelerate,
                                           return_info=True)
        values = [psnr_interior(truth, out, margin)]
        while len(values) < limit and (stop_at is None or values[-1] < stop_at):
            out, info = unblur.richardson_lucy(g, psf, iterations=1, boundary=boundary, accelerate=accelerate,
                                               initial=info["state"], return_info=True)
            values.append(psnr_interior(truth, out, margin))
        return values

    # scikit-image's iterates are unblur's 'zero' plain iterates (checked in part 1).
    sk = curve("zero", False, max_iter)
    k_sk = int(np.argmax(sk)) + 1
    best = sk[k_sk - 1]
    check = psnr_interior(truth, skimage.restoration.richardson_lucy(g, psf, num_iter=k_sk, clip=False), margin)
    acc = curve("auto", True, 200, stop_at=best)
    reached = acc[-1] >= best
    k_acc = len(acc)
    t_sk = best_time(lambda: skimage.restoration.richardson_lucy(g, psf, num_iter=k_sk, clip=False), repeat)
    t_acc = best_time(lambda: unblur.richardson_lucy(g, psf, iterations=k_acc), repeat)
    _, auto_info = unblur.richardson_lucy(g, psf, return_info=True)
    t_auto = best_time(lambda: unblur.richardson_lucy(g, psf), repeat)
    auto_psnr = psnr_interior(truth, unblur.richardson_lucy(g, psf), margin)
    print(f"\naccelerated RL vs scikit-image's best PSNR, float32 {size}x{size}, {k}x{k} PSF, noise 0.01, "
          f"PSNR without a {margin}-pixel border")
    print(f"  scikit-image: best {best:.2f} dB at num_iter={k_sk} (max {max_iter} tried; direct check "
          f"{check:.2f} dB), {t_sk:.3f} s")
    print(f"  unblur accelerate=True, 'auto': {acc[-1]:.2f} dB at {k_acc} iterations "
          f"({'reached' if reached else 'NOT reached'}), {t_acc:.3f} s   time ratio {t_sk / t_acc:.1f}x")
    print(f"  unblur automatic stop: {auto_info['iterations']} iterations ({auto_info['stopped_by']}), "
          f"{auto_psnr:.2f} dB, {t_auto:.3f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--psnr-size", type=int, default=512)
    ap.add_argument("--max-iter", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="unblur's CPU threads (default: all)")
    args = ap.parse_args()
    if args.threads:
        unblur.set_threads(args.threads)
    rng = np.random.default_rng(0)
    rel = plain_rl(args.size, args.repeat, rng)
    accelerated_vs_skimage(args.psnr_size, args.repeat, rng, args.max_iter)
    if rel > 1e-3:
        raise SystemExit(f"'zero' disagrees with scikit-image: {rel:.2e}")


if __name__ == "__main__":
    main()
