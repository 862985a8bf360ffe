"""Plug-and-play on grey pictures stored as RGB (R = G = B): the grey model against the RGB one.

Run:  python bench/pnp_grey_as_rgb.py [--images 6] [--size 256] [--noise 0.01 0.03]

bench/quality.py's non-blind cases (its grey images, the four PSF classes, white noise),
each replicated to three equal channels, noise included, as a grey photograph saved in
an RGB file is. Restored by

* ``unblur.pnp_deconvolve(..., channel_axis=-1)`` with its defaults: for equal channels
  the grey model on one channel, copied to the three (`info["grey_as_rgb"]`),
* the same with the RGB model forced (``denoiser=unblur.models.denoiser(channels="rgb")``),
  what the defaults gave before,

and scored on the first channel against the grey truth; the RGB model's largest
difference between channels (colour on a grey picture) is printed too.
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

import quality  # noqa: E402


def main(argv=None):
    import unblur
    import unblur.models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.03])
    args = parser.parse_args(argv)
    if not 1 <= args.images <= 8:
        parser.error(f"--images must be in 1..8, got {args.images}")
    if args.size < 32:
        parser.error(f"--size must be >= 32, got {args.size}")
    bad = [n for n in args.noise if not 0.0 <= n <= 1.0]  # (NaN fails both)
    if bad:
        parser.error(f"--noise must be in [0, 1] (the image's range), got {bad[0]}")

    rgb_model = unblur.models.denoiser(channels="rgb")
    images = quality.load_images(args.size, args.images)
    print(f"# {datetime.date.today()}; unblur {unblur.__version__}; {args.images} images, {args.size} px; "
          f"threads {unblur.get_threads()}")
    psnr = defaultdict(list)
    fringe = defaultdict(float)
    seconds = defaultdict(float)
    for noise, cname, _, iname, psf, truth, blurred in quality.cases(images, quality.psf_classes(), args.noise,
                                                                     args.size):
        rgb = np.ascontiguousarray(np.repeat(blurred[..., None], 3, axis=-1))
        t0 = time.perf_counter()
        out, info = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, return_info=True)
        seconds["default"] += time.perf_counter() - t0
        if not info["grey_as_rgb"]:
            raise SystemExit(f"{iname}/{cname}: pnp_deconvolve did not take the equal channels as grey")
        t0 = time.perf_counter()
        joint = unblur.pnp_deconvolve(rgb, psf, channel_axis=-1, denoiser=rgb_model)
        seconds["rgb"] += time.perf_counter() - t0
        for key, est in (("default", out), ("rgb", joint)):
            psnr[noise, cname, key].append(unblur.metrics.psnr(truth, np.clip(est[..., 0], 0.0, 1.0), data_range=1.0))
            psnr[noise, "all", key].append(psnr[noise, cname, key][-1])
        fringe[noise] = max(fringe[noise], float(np.abs(joint - joint[..., :1]).max()))
        print(f"noise {noise} {cname:9s} {iname:10s} default {psnr[noise, cname, 'default'][-1]:6.2f}  "
              f"RGB model {psnr[noise, cname, 'rgb'][-1]:6.2f}", flush=True)

    classes = list(quality.psf_classes()) + ["all"]
    print("\n## mean PSNR (dB) of the first channel: defaults (grey model) / RGB model forced")
    print("noise   " + "".join(f"{c:>20s}" for c in classes))
    for noise in args.noise:
        row = "".join(f"{np.mean(psnr[noise, c, 'default']):9.2f} /{np.mean(psnr[noise, c, 'rgb']):8.2f} "
                      for c in classes)
        gain = np.mean(psnr[noise, "all", "default"]) - np.mean(psnr[noise, "all", "rgb"])
        print(f"{noise:<8g}{row}  grey model {gain:+.2f} dB; RGB model's largest channel difference "
              f"{fringe[noise]:.3f}")
    n = len(psnr[args.noise[0], "all", "default"]) * len(args.noise)
    print(f"\nseconds per case: defaults {seconds['default'] / n:.2f}, RGB model {seconds['rgb'] / n:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
