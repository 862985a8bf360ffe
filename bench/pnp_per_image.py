"""PnP's gain over TV per benchmark image (issue 8's analysis of where the mean is lost).

Run:  python bench/pnp_per_image.py [--noise 0.01 0.03] [--denoise]

bench/quality.py's cases (6 images x 4 PSF classes, valid blur, the same noise draws),
`unblur.pnp_deconvolve` and `unblur.deconvolve` (TV) with default parameters; prints each
case, then the mean gain per (noise, image). Every default denoiser call runs the shipped
grey model. --denoise instead compares the denoiser alone with scikit-image's TV at its
best of 15 weights, per image (256 x 256 crops, one Gaussian noise draw per level).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality as q  # noqa: E402
import unblur  # noqa: E402


def positive_float(text):
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"--noise must be > 0, got {text!r}")
    return v


def denoise(noises):
    import unblur.models
    from denoise import best_tv

    den = unblur.models.denoiser()
    weights = np.geomspace(0.003, 0.3, 15)  # lower than bench/denoise.py's: noise 0.01-0.03 here
    rng = np.random.default_rng(1)
    print("# PSNR (dB): noisy, the shipped grey denoiser, skimage TV with its best of 15 weights")
    for name, img in q.load_images(256, 6):
        for s in noises:
            noisy = img + s * rng.standard_normal(img.shape)
            ours = unblur.metrics.psnr(img, np.asarray(den(noisy.astype(np.float32), s), np.float64), data_range=1)
            tv = best_tv(noisy, img, weights)[0]
            print(f"noise {s:.2f} {name:10s} noisy {unblur.metrics.psnr(img, noisy, data_range=1):6.2f}  "
                  f"denoiser {ours:6.2f}  TV best {tv:6.2f}  {ours - tv:+.2f} dB")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", nargs="+", type=positive_float, default=[0.01, 0.03])
    ap.add_argument("--denoise", action="store_true", help="the denoiser alone against TV's best weight")
    args = ap.parse_args(argv)
    if args.denoise:
        return denoise(args.noise)
    gains = {}
    for noise, cname, _i, name, psf, truth, blurred in q.cases(q.load_images(256, 6), q.psf_classes(),
                                                                args.noise, 256):
        tv = q.scores(truth, unblur.deconvolve(blurred, psf))[0]
        pnp = q.scores(truth, unblur.pnp_deconvolve(blurred, psf))[0]
        gains.setdefault((noise, name), []).append(pnp - tv)
        print(f"noise {noise:.2f} {name:10s} {cname:9s} TV {tv:6.2f}  PnP {pnp:6.2f}  {pnp - tv:+.2f} dB", flush=True)
    print("\n# mean gain of PnP over TV per image (dB)")
    for (noise, name), g in sorted(gains.items()):
        print(f"noise {noise:.2f} {name:10s} {np.mean(g):+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
