"""The deconvolution boundary models side by side on real (non-periodic) photographs.

Run:  python bench/boundary.py [--images 6] [--size 256] [--noise 0.01 0.03]

bench/quality.py's cases (valid-mode blur of the scikit-image photographs by Gaussian,
defocus, motion and camera-shake PSFs, white noise), each deconvolved by Wiener,
Tikhonov, Richardson-Lucy and TV with their default parameters on every boundary model:
'auto' (the valid-blur model, the default), 'reflect' and 'periodic'. Prints the mean
PSNR per method, boundary and blur class, and each boundary's time relative to 'auto'
measured in the same run (medians over the cases; one thread, so that the ratios do
not depend on the machine's other load as much).

For each PSF class it also prints the PSF's mirror asymmetry, max |h - flip(h)| per
axis relative to max h: 'reflect' is an exact model only for PSFs symmetric in each
axis (the blur of a symmetric extension is then the symmetric extension of the blur).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (bench/quality.py: the cases)

BOUNDARIES = ("auto", "reflect", "periodic")
METHODS = ("wiener", "tikhonov", "rl", "tv")


def run(method, g, psf, boundary):
    import unblur

    fn = {"wiener": unblur.wiener, "tikhonov": unblur.tikhonov, "rl": unblur.richardson_lucy,
          "tv": unblur.tv_deconvolve}[method]
    t0 = time.perf_counter()
    out = fn(g, psf, boundary=boundary)
    return out, time.perf_counter() - t0


def asymmetry(psf):
    h = psf / psf.max()
    return max(float(np.abs(h - np.flip(h, axis=a)).max()) for a in range(h.ndim))


def main(argv=None):
    import unblur

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--noise", nargs="*", type=float, default=[0.01, 0.03])
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    args = p.parse_args(argv)
    unblur.set_threads(1)
    images = quality.load_images(args.size, args.images)
    classes = quality.psf_classes()
    psnr = defaultdict(list)
    times = defaultdict(list)
    asym = defaultdict(list)
    for noise, cname, _, _, psf, truth, blurred in quality.cases(images, classes, args.noise, args.size):
        asym[cname].append(asymmetry(psf))
        for method in args.methods:
            for b in BOUNDARIES:
                out, dt = run(method, blurred, psf, b)
                psnr[noise, method, b, cname].append(quality.scores(truth, out)[0])
                times[method, b].append(dt)
    print(f"# bench/boundary.py, {datetime.date.today()}, unblur {unblur.__version__}, {args.images} images "
          f"{args.size}x{args.size}, 1 thread")
    print("PSF mirror asymmetry (max over axes of max|h - flip(h)| / max h): "
          + ", ".join(f"{c} {max(v):.2f}" for c, v in asym.items()))
    cls = list(classes)
    for noise in args.noise:
        print(f"## noise {noise}: mean PSNR dB")
        print(f"{'method':10s} {'boundary':9s} " + " ".join(f"{c:>9s}" for c in cls) + f" {'all':>9s}")
        for method in args.methods:
            for b in BOUNDARIES:
                row = [float(np.mean(psnr[noise, method, b, c])) for c in cls]
                allv = float(np.mean([v for c in cls for v in psnr[noise, method, b, c]]))
                print(f"{method:10s} {b:9s} " + " ".join(f"{v:9.2f}" for v in row) + f" {allv:9.2f}")
    print("## time per case relative to 'auto' (medians)")
    for method in args.methods:
        base = float(np.median(times[method, "auto"]))
        print(f"{method:10s} " + "  ".join(f"{b} {float(np.median(times[method, b])) / base:5.2f}x" for b in BOUNDARIES)
              + f"   ('auto' {base * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
