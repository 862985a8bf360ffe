"""Deblurring 8-bit sRGB photographs in linear light (the command line's default path).

Run:  python bench/linear_light.py [--images 6] [--size 256] [--noise 0.01 0.03] [--psf gaussian defocus]

A lens blurs light, so each of bench/quality.py's grey images is taken as sRGB code values,
decoded to linear light, blurred there ('valid' mode, the camera's model), encoded back to
sRGB, given white noise on the code values and stored as 8 bits: an 8-bit photograph.
It is then restored as ``unblur deblur`` restores a file: decoded to linear light,
deblurred, encoded back, and scored on the code values against the sharp image's.

In linear light that noise follows the signal (the sRGB curve is steep at the bright end),
so its level is not one number. Each method runs with its automatic noise level
(``unblur.estimate_noise``) and, as the anchor measured in the same run, with the RMS of
the linear-light error it actually has (an oracle no user has): the distance between the
two columns is what the automatic noise level costs. PnP's denoiser is told a noise level
that follows the brightness (``noise_map='auto'``); 'pnp flat' is the same with one level
for the whole image (``noise_map='uniform'``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402


def tv_with_sigma(image, psf, sigma):
    """unblur.tv_deconvolve with its 'auto' weight and penalties computed from `sigma`."""
    import unblur
    from unblur import _tv

    weight = _tv.AUTO_WEIGHT * sigma * sigma / float(image.max() - image.min())
    return unblur.tv_deconvolve(image, psf, weight=weight, rho=(_tv.RHO_DATA, _tv.RHO_TV * weight / sigma, _tv.RHO_DATA))


def main(argv=None):
    import unblur
    from unblur.io import linear_to_srgb, srgb_to_linear

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--noise", nargs="+", type=float, default=[0.01, 0.03],
                        help="white noise on the sRGB code values, in [0, 1] units")
    parser.add_argument("--psf", nargs="+", default=["gaussian", "defocus"], choices=list(quality.psf_classes()))
    args = parser.parse_args(argv)
    for v in args.noise:
        if not 0 < v < 1:
            parser.error(f"--noise must be in (0, 1), got {v}")

    classes = quality.psf_classes()
    images = quality.load_images(args.size, args.images)
    columns = ("pnp auto", "pnp rms", "pnp flat", "tv auto", "tv rms", "blurred")
    print(f"# unblur {unblur.__version__}, {datetime.date.today()}; command: python bench/linear_light.py "
          f"--images {args.images} --size {args.size} --noise {' '.join(map(str, args.noise))} --psf {' '.join(args.psf)}")
    print("# PSNR dB on the sRGB code values; 'rms': told the RMS of the linear-light error (the anchor); "
          "'pnp flat': one noise level for the whole image (noise_map='uniform'), where 'auto' follows the brightness")
    print(f"{'image':10s} {'psf':9s} {'noise':>6s} {'estimate':>9s} {'rms':>8s} {'ratio':>6s}  "
          + " ".join(f"{c:>9s}" for c in columns))
    totals = {}
    for noise in args.noise:
        for cname in args.psf:
            for i, (iname, img) in enumerate(images):
                psf = classes[cname](i)
                rng = np.random.default_rng(1000 * i + int(noise * 1e4))
                truth_linear, blurred = quality.valid_blur(srgb_to_linear(img), psf, args.size, rng)
                code = quality.quantise(linear_to_srgb(blurred) + rng.normal(0.0, noise, blurred.shape), 8)
                observed = srgb_to_linear(code)
                estimate = unblur.estimate_noise(observed)
                rms = float(np.sqrt(np.mean((observed - blurred) ** 2)))
                truth = linear_to_srgb(truth_linear)

                def score(x):
                    return quality.scores(truth, linear_to_srgb(np.clip(x, 0.0, 1.0)))[0]

                row = (score(unblur.pnp_deconvolve(observed, psf)),
                       score(unblur.pnp_deconvolve(observed, psf, noise_sigma=rms)),
                       score(unblur.pnp_deconvolve(observed, psf, noise_map="uniform")),
                       score(unblur.tv_deconvolve(observed, psf)),
                       score(tv_with_sigma(observed, psf, rms)),
                       score(observed))
                totals.setdefault(noise, []).append(row)
                print(f"{iname:10s} {cname:9s} {noise:6.3f} {estimate:9.5f} {rms:8.5f} {estimate / rms:6.2f}  "
                      + " ".join(f"{v:9.2f}" for v in row), flush=True)
    print("\n## mean PSNR dB")
    print(f"{'noise':>6s}  " + " ".join(f"{c:>9s}" for c in columns))
    for noise, rows in totals.items():
        print(f"{noise:6.3f}  " + " ".join(f"{v:9.2f}" for v in np.mean(rows, axis=0)))


if __name__ == "__main__":
    main()
