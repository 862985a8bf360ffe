"""PnP's gain over TV per benchmark image (issue 8's analysis of where the mean is lost).

Run:  python bench/pnp_per_image.py [--noise 0.01 0.03] [--set benchmark|held-out]
                                     [--model shipped FILE ...] [--denoise]

bench/quality.py's cases (6 images x 4 PSF classes, valid blur, the same noise draws),
`unblur.pnp_deconvolve` and `unblur.deconvolve` (TV) with default parameters; prints each
case, then the mean gain per (noise, image) and per noise. `--set held-out` uses
bench/pnp_tuning.py's ten held-out images instead of the benchmark's. `--model` names
the denoisers to compare ('shipped': the packaged grey model; or ONNX files), each with
the same cases and the same TV baseline, in one run; 'bm3d' runs PnP with BM3D (the bm3d
package, where installed) as its prior: a reference for how good a denoiser has to be, not
one unblur ships (about 1 s a call at 256 x 256). --denoise instead compares the
denoiser alone with scikit-image's TV at its best of 15 weights, per image (256 x 256
crops, one Gaussian noise draw per level).
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


def bm3d_denoiser():
    """BM3D as a PnP prior: (image, sigma) -> image, sigma the white-noise level PnP's step
    asks for (the data step's noise is coloured; BM3D is told it is white, as the model is)."""
    import bm3d

    def denoise(image, sigma):
        return bm3d.bm3d(np.asarray(image, np.float64), sigma_psd=float(sigma)).astype(np.asarray(image).dtype)

    return denoise


def load_denoiser(name):
    import unblur.models

    if name == "bm3d":
        return bm3d_denoiser()
    return unblur.models.denoiser() if name == "shipped" else unblur.models.load(name)


def denoise(noises, images, model):
    from denoise import best_tv

    den = load_denoiser(model)
    weights = np.geomspace(0.003, 0.3, 15)  # lower than bench/denoise.py's: noise 0.01-0.03 here
    rng = np.random.default_rng(1)
    print(f"# PSNR (dB): noisy, the denoiser ({model}), skimage TV with its best of 15 weights")
    for name, img in images:
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
    ap.add_argument("--set", choices=("benchmark", "held-out"), default="benchmark",
                    help="the benchmark's six images, or bench/pnp_tuning.py's ten held-out ones")
    ap.add_argument("--model", nargs="+", default=["shipped"],
                    help="denoisers to compare: 'shipped', 'bm3d' (a reference) or ONNX files (--denoise: the first)")
    args = ap.parse_args(argv)
    for m in args.model:
        if m not in ("shipped", "bm3d") and not os.path.isfile(m):
            ap.error(f"--model {m!r}: not 'shipped', not 'bm3d' and no such file")
        if m == "bm3d":
            try:
                import bm3d  # noqa: F401
            except ImportError:
                ap.error("--model bm3d needs the bm3d package (pip install bm3d)")
    if args.set == "benchmark":
        images = q.load_images(256, 6)
    else:
        from pnp_tuning import EXTRA, TUNE

        images = q.load_images(None, None, list(TUNE + EXTRA))
    if args.denoise:
        return denoise(args.noise, images, args.model[0])
    dens = [load_denoiser(m) for m in args.model]
    labels = [os.path.basename(m) for m in args.model]
    print("# models: " + ", ".join(f"[{k}] {m}" for k, m in enumerate(args.model)))
    gains = {}
    for noise, cname, _i, name, psf, truth, blurred in q.cases(images, q.psf_classes(), args.noise, 256):
        tv = q.scores(truth, unblur.deconvolve(blurred, psf))[0]
        line = f"noise {noise:.2f} {name:20s} {cname:9s} TV {tv:6.2f}"
        for k, den in enumerate(dens):
            pnp = q.scores(truth, unblur.pnp_deconvolve(blurred, psf, denoiser=den))[0]
            gains.setdefault((k, noise, name), []).append(pnp - tv)
            line += f"  [{k}] {pnp:6.2f} {pnp - tv:+.2f}"
        print(line, flush=True)
    print("\n# mean gain of PnP over TV per image (dB), one column per model")
    for noise in args.noise:
        for name, _img in images:
            print(f"noise {noise:.2f} {name:20s} " + "  ".join(f"[{k}] {np.mean(gains[(k, noise, name)]):+.2f}"
                                                           for k in range(len(dens))))
    print("\n# mean gain over every case, and the worst case (dB)")
    for noise in args.noise:
        for k, label in enumerate(labels):
            g = [v for (kk, nn, _), vals in gains.items() if kk == k and nn == noise for v in vals]
            print(f"noise {noise:.2f} [{k}] {label:28s} mean {np.mean(g):+.3f}  worst {min(g):+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
