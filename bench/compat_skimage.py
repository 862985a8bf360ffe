"""unblur.compat.skimage against scikit-image itself, timed in one run on the same data.

Run:  PYTHONPATH=python python bench/compat_skimage.py [--size 512] [--repeat 5] [--dtype float64]

For each function of the drop-in module: the best-of-N wall time of scikit-image's
function and of unblur.compat.skimage's with the same arguments on a size x size
image (the sample photograph's grey level, tiled), the ratio (> 1: unblur is faster)
and the largest difference of the two results relative to the largest value
(checked, so a fast wrong answer cannot pass). float64 by default, the dtype
``skimage.img_as_float`` gives.

- wiener: balance 0.05, the default Laplacian, 7 x 7 Gaussian PSF (sum 1).
- unsupervised_wiener: the same PSF, ``rng=0`` for both (the same chain).
- richardson_lucy: 30 iterations, the same PSF.
- denoise_tv_chambolle: weight 0.1, default eps (stops after a few iterations), and
  eps=0 with 100 iterations (fixed work).

Times are best-of-N wall times after a warm-up call (FFTW plans); only the ratios of
one run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.signal
import skimage.restoration as skr
import unblur
from _timing import best_time, machine
from unblur.compat import skimage as compat


def gaussian_psf(size, sigma):
    r = np.arange(size) - size // 2
    p = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return p / p.sum()


def photo(size):
    grey = unblur.data.astronaut()[..., 1] / 255.0
    reps = size // grey.shape[0] + 1
    return np.tile(grey, (reps, reps))[:size, :size].copy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    x = photo(args.size)
    psf = gaussian_psf(7, 1.5)
    blurred = scipy.signal.fftconvolve(x, psf, mode="same")
    noisy_blurred = np.maximum(blurred + rng.normal(0, 0.01, x.shape), 0).astype(dtype)
    noisy = (x + rng.normal(0, 0.1, x.shape)).astype(dtype)

    cases = [
        ("wiener", dict(image=noisy_blurred, psf=psf, balance=0.05)),
        ("unsupervised_wiener", dict(image=noisy_blurred, psf=psf, rng=0)),
        ("richardson_lucy", dict(image=noisy_blurred, psf=psf, num_iter=30)),
        ("denoise_tv_chambolle", dict(image=noisy, weight=0.1)),
        ("denoise_tv_chambolle", dict(image=noisy, weight=0.1, eps=0.0, max_num_iter=100)),
    ]
    print(f"{args.size}x{args.size} {dtype}, threads={unblur.get_threads()}, repeat={args.repeat}; {machine()}")
    for name, kwargs in cases:
        ours_fn, theirs_fn = getattr(compat, name), getattr(skr, name)
        ours, theirs = ours_fn(**kwargs), theirs_fn(**kwargs)
        if name == "unsupervised_wiener":
            assert len(ours[1]["noise"]) == len(theirs[1]["noise"])  # the same chain
            ours, theirs = ours[0], theirs[0]
        err = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
        assert err < (1e-4 if dtype == np.float32 else 1e-10), (name, err)
        t_ours = best_time(lambda: ours_fn(**kwargs), args.repeat)
        t_theirs = best_time(lambda: theirs_fn(**kwargs), args.repeat)
        extra = {k: v for k, v in kwargs.items() if k not in ("image", "psf")}
        label = f"{name}({', '.join(f'{k}={v}' for k, v in extra.items())})"
        print(f"{label:60s} unblur {t_ours * 1e3:8.1f} ms   skimage {t_theirs * 1e3:8.1f} ms   "
              f"speed-up {t_theirs / t_ours:5.2f}x   max rel diff {err:.1e}")


if __name__ == "__main__":
    main()
