"""Denoisers compared inside PnP on periodic blurs, where `pnp_deconvolve(boundary='periodic')`
is exactly training/pnp_inputs.py's chain (so a difference is the denoiser's, not a model
mismatch): 256 x 256 crops of held-out images, shake and Gaussian PSFs, noise 0.01 and 0.03.

Run:  python bench/pnp_periodic.py [--model shipped FILE ...] [--images brick cell clock gravel]
Prints the PSNR (dB) of each model's result per case.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality as q  # noqa: E402
import unblur  # noqa: E402
import unblur.models  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", nargs="+", default=["shipped"], help="'shipped' or ONNX files")
    ap.add_argument("--images", nargs="+", default=["brick", "cell", "clock", "gravel"])  # held out (not "cat": chelsea)
    args = ap.parse_args(argv)
    for m in args.model:
        if m != "shipped" and not os.path.isfile(m):
            ap.error(f"--model {m}: no such file")
    from skimage import data as skdata

    for name in args.images:
        if not callable(getattr(skdata, name, None)):
            ap.error(f"--images {name}: not an image of skimage.data")
    dens = [None if m == "shipped" else unblur.models.load(m) for m in args.model]
    rng = np.random.default_rng(0)
    labels = [m if m == "shipped" else os.path.join(os.path.basename(os.path.dirname(os.path.abspath(m))),
                                                    os.path.basename(m)) for m in args.model]
    print("# image psf noise  " + "  ".join(f"[{i}] {label}" for i, label in enumerate(labels)))
    for name, f in q.load_images(None, None, args.images):
        f = f[:256, :256]
        for pname, psf in (("shake", unblur.psf.shake(15.0, seed=101)), ("gaussian", unblur.psf.gaussian(2.0))):
            for noise in (0.01, 0.03):
                g = (ndimage.convolve(f, psf, mode="wrap") + rng.normal(0, noise, f.shape)).astype(np.float32)
                row = [unblur.metrics.psnr(f, unblur.pnp_deconvolve(g, psf, denoiser=d, boundary="periodic",
                                                                      noise_sigma=noise), data_range=1)
                       for d in dens]
                print(f"{name:6s} {pname:8s} {noise:.2f}  " + "  ".join(f"[{i}] {v:6.2f}" for i, v in enumerate(row)),
                      flush=True)


if __name__ == "__main__":
    main()
