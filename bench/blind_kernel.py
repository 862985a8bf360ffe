"""Blind kernel estimation on the quality bench's images: camera-shake PSFs, valid-mode blur.

Run:  python bench/blind_kernel.py [--size 256] [--images 6] [--noise 0.01] [--kernel 21] [--sets 100,300,...]

For each seed set s and image i: psf.shake(15, seed=s + i), noise sigma 0.01, the C++
estimator (unblur._core.estimate_kernel, what estimate_psf(model='shake') runs). Prints
PSNR of the blurred input, of unblur.tv_deconvolve with the true PSF and with the
estimated PSF, the kernel similarity (normalised cross-correlation maximised over
shifts up to +-2 px; plain and zero-mean) and the seconds per estimate; on set 100 the
NumPy reference (unblur._xp.blind_kernel) also runs on the same inputs, is checked
against the C++ kernel and timed (the speed-up).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from quality import load_images, valid_blur  # noqa: E402


def embed(psf, size):
    out = np.zeros((size, size))
    h, w = psf.shape
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = psf
    return out


def kernel_ncc(a, b, max_shift=2, zero_mean=False):
    """max over integer shifts |d| <= max_shift of <a, shift(b)> / (|a| |b|)."""
    n = max(a.shape + b.shape) + 2 * max_shift
    a, b = embed(a, n), embed(b, n)
    if zero_mean:
        a, b = a - a.mean(), b - b.mean()
    best = -1.0
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            s = np.roll(b, (dy, dx), axis=(0, 1))
            best = max(best, float((a * s).sum() / np.sqrt((a * a).sum() * (s * s).sum())))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--kernel", type=int, default=21)
    parser.add_argument("--extent", type=float, default=15.0)
    def seed_sets(text):
        try:
            sets = [int(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--sets must be comma-separated non-negative ints, got {text!r}") from None
        if not sets or min(sets) < 0:
            raise argparse.ArgumentTypeError(f"--sets must be comma-separated non-negative ints, got {text!r}")
        return sets

    parser.add_argument("--sets", type=seed_sets, default=[100, 300, 500, 700, 900],
                        help="shake seed sets: image i of set s gets psf.shake(extent, seed=s + i); set 100 is "
                             "the one the estimator's constants were chosen on")
    parser.add_argument("--large", type=int, default=512,
                        help="also time estimate + tv_deconvolve on one image of this side (0: skip)")
    args = parser.parse_args(argv)

    import unblur
    from _timing import machine
    from unblur._xp.blind_kernel import estimate_kernel as reference

    def estimate(image, size):
        return unblur._core.estimate_kernel(np.ascontiguousarray(image), size)

    print(f"# {machine()}; unblur {unblur.__version__}, {unblur.get_threads()} threads")
    images = load_images(args.size, args.images)
    rows, speed = [], []
    print(f"{'set':>4s} {'image':10s} {'blurred':>8s} {'true psf':>9s} {'est psf':>8s} {'gap':>6s} {'NCC':>6s} "
          f"{'NCC0':>6s} {'C++ s':>6s} {'ref s':>6s}")
    for base in args.sets:
        for i, (name, img) in enumerate(images):
            psf = unblur.psf.shake(args.extent, seed=base + i)
            # Set 100 keeps the noise draws of the quality bench's standard cases.
            rng = np.random.default_rng(1000 * i + int(args.noise * 1e4) + (0 if base == 100 else base))
            truth, blurred = valid_blur(img, psf, args.size, rng)
            blurred = blurred + rng.normal(0.0, args.noise, blurred.shape)
            t0 = time.perf_counter()
            est, info = estimate(blurred, args.kernel)
            seconds = time.perf_counter() - t0
            ref_seconds = float("nan")
            if base == 100:  # the reference, timed on the same inputs, and checked
                t0 = time.perf_counter()
                want, _ = reference(blurred, args.kernel)
                ref_seconds = time.perf_counter() - t0
                assert np.abs(want - est).max() < 1e-9, "C++ and reference kernels differ"
                speed.append(ref_seconds / seconds)

            def psnr(x):
                return unblur.metrics.psnr(truth, np.clip(x, 0, 1), data_range=1.0)

            p_b = psnr(blurred)
            p_t = psnr(unblur.tv_deconvolve(blurred, psf))
            p_e = psnr(unblur.tv_deconvolve(blurred, est))
            ncc, ncc0 = kernel_ncc(psf, est), kernel_ncc(psf, est, zero_mean=True)
            rows.append((base, p_b, p_t, p_e, p_t - p_e, ncc, ncc0, seconds))
            print(f"{base:4d} {name:10s} {p_b:8.2f} {p_t:9.2f} {p_e:8.2f} {p_t - p_e:6.2f} {ncc:6.3f} {ncc0:6.3f} "
                  f"{seconds:6.2f} {ref_seconds:6.2f}", flush=True)
    print("\nper set: mean gap dB, median gap, cases with gap > 5 dB, mean NCC")
    table = np.array(rows)
    for base in np.unique(table[:, 0]):
        part = table[table[:, 0] == base]
        print(f"{int(base):4d}  {part[:, 4].mean():5.2f}  {np.median(part[:, 4]):5.2f}  {int((part[:, 4] > 5).sum())}/"
              f"{len(part)}  {part[:, 5].mean():.3f}")
    print(f" all  {table[:, 4].mean():5.2f}  {np.median(table[:, 4]):5.2f}  {int((table[:, 4] > 5).sum())}/{len(table)}"
          f"  {table[:, 5].mean():.3f}")
    if speed:
        print(f"\nC++ core vs the NumPy reference, same inputs: {np.median(speed):.2f}x faster (median of "
              f"{len(speed)}; C++ {np.median(table[:, 7]):.2f} s per {args.size}x{args.size} estimate)")
    if args.large:
        # The scene is the astronaut (512 px) reflected outwards so that a valid-mode blur
        # still leaves args.large pixels.
        name, img = load_images(512, 2)[1]
        psf = unblur.psf.shake(args.extent, seed=100)
        img = np.pad(img, max(0, (args.large + max(psf.shape) - img.shape[0]) // 2 + 1), mode="reflect")
        rng = np.random.default_rng(7)
        truth, blurred = valid_blur(img, psf, args.large, rng)
        blurred = blurred + rng.normal(0.0, args.noise, blurred.shape)
        unblur.tv_deconvolve(blurred[:64, :64], psf)  # first-use costs out of the timing
        t0 = time.perf_counter()
        est, _ = estimate(blurred, args.kernel)
        t1 = time.perf_counter()
        restored = unblur.tv_deconvolve(blurred, est)
        t2 = time.perf_counter()
        p = unblur.metrics.psnr(truth, np.clip(restored, 0, 1), data_range=1.0)
        print(f"\n{name} {blurred.shape[0]}x{blurred.shape[1]}: estimate {t1 - t0:.2f} s + tv_deconvolve {t2 - t1:.2f} s"
              f" = {t2 - t0:.2f} s; kernel NCC {kernel_ncc(psf, est):.3f}, PSNR {p:.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
