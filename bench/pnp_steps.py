"""PnP step by step: the error of each denoiser input x_k and output z_k against the truth
(issue 8's diagnostic of where plug-and-play's estimate stops improving).

Run:  python bench/pnp_steps.py [--model shipped FILE ...] [--images clock gravel brick]
                                [--psf gaussian motion] [--noise 0.03]

bench/quality.py's cases (valid blur of a 256 x 256 crop, the same noise draws) on
scikit-image images (default: three of bench/pnp_tuning.py's held-out ones, never the
benchmark's), `unblur.pnp_deconvolve` with default parameters and each model. For every
step it prints sigma_k and the RMS errors of x_k (the data step's output, the denoiser's
input) and z_k (the denoiser's output) on the observation's window, all in 1/255 units,
and the final PSNR.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality as q  # noqa: E402
import unblur  # noqa: E402
import unblur.models  # noqa: E402
from unblur._pnp import _unorient  # noqa: E402

SIZE = 256


def positive_float(text):
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"--noise must be > 0, got {text!r}")
    return v


def recorder(den, record):
    """The denoiser, recording each call's (input, output, sigma)."""

    def call(x, s):
        z = den(x, s)
        record.append((x, z, s))
        return z

    return call


def step_errors(record, truth, psf):
    """(sigma_k, rms(x_k - f), rms(z_k - f)) per step, in 1/255, on the observation's window.
    Step k's arrays are the (k mod 8)-th flip/rotation ('cycle' self-ensemble): undone first."""
    ky, kx = psf.shape[0] // 2, psf.shape[1] // 2
    window = (slice(ky, ky + truth.shape[0]), slice(kx, kx + truth.shape[1]))
    rows = []
    for k, (x, z, s) in enumerate(record):
        x, z = _unorient(x, k % 8, np)[window], _unorient(z, k % 8, np)[window]
        rows.append((255 * s, 255 * np.sqrt(np.mean((x - truth) ** 2)), 255 * np.sqrt(np.mean((z - truth) ** 2))))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", default=["shipped"], help="'shipped' or ONNX files")
    ap.add_argument("--images", nargs="+", default=["clock", "gravel", "brick"])  # held out (not "cat": chelsea)
    ap.add_argument("--psf", nargs="+", default=["gaussian", "motion"], choices=sorted(q.psf_classes()))
    ap.add_argument("--noise", nargs="+", type=positive_float, default=[0.03])
    args = ap.parse_args(argv)
    from skimage import data as skdata

    unknown = [n for n in args.images if not callable(getattr(skdata, n, None))]
    if unknown:
        ap.error(f"--images: not scikit-image sample images: {', '.join(unknown)}")
    models = [(m, unblur.models.denoiser() if m == "shipped" else unblur.models.load(m)) for m in args.model]
    classes = q.psf_classes()
    images = q.load_images(SIZE, 0, args.images)
    print("# per step, sigma_k: rms(x_k - f) / rms(z_k - f), all in 1/255")
    for noise, cname, _, iname, psf, truth, blurred in q.cases(images, {c: classes[c] for c in args.psf}, args.noise,
                                                                SIZE):
        for mi, (name, den) in enumerate(models):
            record = []
            out = unblur.pnp_deconvolve(blurred.astype(np.float32), psf, denoiser=recorder(den, record))
            p = unblur.metrics.psnr(truth, np.clip(out, 0, 1), data_range=1)
            rows = "  ".join(f"{s:4.1f}: {ex:4.1f} / {ez:4.1f}" for s, ex, ez in step_errors(record, truth, psf))
            print(f"noise {noise:.2f} {iname:8s} {cname:8s} [{mi}] PSNR {p:5.2f}  {rows}", flush=True)
    for mi, (name, _) in enumerate(models):
        print(f"# [{mi}] {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
