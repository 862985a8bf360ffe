"""Pictures of the benchmark: PSNR against time per method, and a before/after mosaic.

Run:  PYTHONPATH=python python bench/plots.py [--size 256] [--images 4] [--noise 0.01] [--out bench/plots]

Uses bench/quality.py's cases (valid-mode blurred photographs of scikit-image's images,
four blur classes, one noise level). For every case each unblur method runs with its
defaults, and scikit-image's Richardson–Lucy and Wiener with their per-image best
parameters (chosen against the truth, as in quality.py). Writes:

* psnr_vs_time.png: mean PSNR over the cases against mean seconds per case, one point
  per method (log time);
* mosaic.png: for one case of each blur class, truth | blurred | unblur.deconvolve |
  unblur.restore (PSF unknown), with each panel's PSNR.

Needs matplotlib (pip install matplotlib). Times are this machine's, in this run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import quality  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "plots"))
    args = parser.parse_args()
    if args.size < 64 or args.images < 1 or not args.noise >= 0:
        parser.error("--size >= 64, --images >= 1 and --noise >= 0")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("bench/plots.py needs matplotlib (pip install matplotlib)") from None
    import unblur
    from skimage import restoration

    os.makedirs(args.out, exist_ok=True)
    methods = {
        "unblur.deconvolve": lambda b, h: unblur.deconvolve(b, h),
        "unblur.wiener": lambda b, h: unblur.wiener(b, h),
        "unblur.tikhonov": lambda b, h: unblur.tikhonov(b, h),
        "unblur.richardson_lucy": lambda b, h: unblur.richardson_lucy(np.maximum(b, 0), h),
        "unblur.tv_deconvolve": lambda b, h: unblur.tv_deconvolve(b, h),
        "unblur.restore (no PSF)": lambda b, h: unblur.restore(b),
        "skimage RL (tuned)": None,
        "skimage wiener (tuned)": None,
    }
    psnr = {m: [] for m in methods}
    secs = {m: [] for m in methods}
    examples = {}
    images = quality.load_images(args.size, args.images)
    for noise, cname, i, iname, psf, truth, blurred in quality.cases(images, quality.psf_classes(), [args.noise],
                                                                       args.size):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            if name == "skimage RL (tuned)":
                (p, _, _), _ = quality.skimage_rl_best(blurred, psf, truth)
            elif name == "skimage wiener (tuned)":
                best = max((quality.scores(truth, restoration.wiener(blurred, psf, bal))[0]
                            for bal in (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)))
                p = best
            else:
                est = fn(blurred, psf)
                p = quality.scores(truth, est)[0]
                if i == 0 and name in ("unblur.deconvolve", "unblur.restore (no PSF)"):
                    examples.setdefault(cname, {"truth": truth, "blurred": blurred})[name] = np.clip(est, 0, 1)
            secs[name].append(time.perf_counter() - t0)
            psnr[name].append(p)
        print(f"{cname:9s} {iname:10s} " + " ".join(f"{psnr[m][-1]:6.2f}" for m in methods), flush=True)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, name in enumerate(methods):
        t, p = float(np.mean(secs[name])), float(np.mean(psnr[name]))
        ax.scatter(t, p, s=40, marker="o" if name.startswith("unblur") else "s")
        # Alternate the labels above and below: deconvolve and tv_deconvolve coincide.
        ax.annotate(name, (t, p), textcoords="offset points", xytext=(6, 5 if k % 2 else -11), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("seconds per image (this machine; skimage's include its parameter search)")
    ax.set_ylabel("mean PSNR (dB)")
    ax.set_title(f"{len(images)} images x 4 blur classes, {args.size}x{args.size}, noise {args.noise:g}")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "psnr_vs_time.png"), dpi=130)

    cols = ["truth", "blurred", "unblur.deconvolve", "unblur.restore (no PSF)"]
    fig, axes = plt.subplots(len(examples), len(cols), figsize=(2.6 * len(cols), 2.7 * len(examples)))
    axes = np.atleast_2d(axes)
    for r, (cname, panels) in enumerate(examples.items()):
        for c, col in enumerate(cols):
            img = np.clip(panels[col], 0, 1)
            axes[r, c].imshow(img, cmap="gray", vmin=0, vmax=1)
            label = col if col == "truth" else f"{col}\n{quality.scores(panels['truth'], img)[0]:.2f} dB"
            axes[r, c].set_title(label if r == 0 or col != "truth" else "", fontsize=8)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(cname)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "mosaic.png"), dpi=110)
    print(f"wrote {args.out}/psnr_vs_time.png and {args.out}/mosaic.png")


if __name__ == "__main__":
    main()
