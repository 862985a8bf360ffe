"""Plug-and-play deblurring of colour photographs: the RGB denoiser against a grey one.

Run:  python bench/pnp_colour.py [--images 4] [--size 256] [--noise 0.01 0.03]
                                 [--rgb-model FILE ...] [--grey-model FILE] [--set benchmark|held-out]
                                 [--channel-correlation RHO] [--defaults] [--refine wiener none]

bench/quality.py's cases on the RGB images of its set (astronaut, coffee, chelsea,
rocket), or with --set held-out on the RGB images of bench/pnp_tuning.py's held-out set
(immunohistochemistry, stereo_motorcycle, hubble_deep_field, retina): each channel
blurred in 'valid' mode by the same Gaussian, defocus, motion or camera-shake PSF
(quality.psf_classes), white noise of sigma 0.01 and 0.03 independent per channel (with
--channel-correlation RHO correlated between channels, as a camera's is). Deconvolved, all with default parameters, by

* ``unblur.tv_deconvolve(..., channel_axis=-1)`` (vectorial TV; the default classical
  method of bench/quality.py),
* ``unblur.pnp_deconvolve`` with the grey model run on each channel apart,
* ``unblur.pnp_deconvolve`` with the RGB model denoising the three channels jointly
  (one row per --rgb-model file, in the same run, on the same cases).

Prints mean PSNR / SSIM (over the RGB image) per blur class and noise level and the
seconds per case; the models default to the shipped ones.
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
from denoise import colour_images, correlated_noise  # noqa: E402

HELD_OUT = ("immunohistochemistry", "stereo_motorcycle", "hubble_deep_field", "retina")  # pnp_tuning's RGB ones


def colour_case(img, psf, size, rng, noise, rho=0.0):
    """quality.valid_blur on each channel; the same crop for all three; noise of sigma
    `noise` with a correlation `rho` between channels (correlated_noise)."""
    truths, blurred = zip(*(quality.valid_blur(np.ascontiguousarray(img[..., c]), psf, size, rng) for c in range(3)))
    g = np.stack(blurred, axis=-1)
    return np.stack(truths, axis=-1), g + correlated_noise(rng, noise, g.shape, rho)


def score(truth, est):
    import unblur

    est = np.clip(est, 0.0, 1.0)
    return (unblur.metrics.psnr(truth, est, data_range=1.0),
            unblur.metrics.ssim(truth, est, data_range=1.0, channel_axis=-1))


def main(argv=None):
    import unblur
    import unblur.models

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--noise", nargs="*", type=float, default=[0.01, 0.03])
    p.add_argument("--rgb-model", nargs="+", help="RGB ONNX denoisers (default: the shipped one)")
    p.add_argument("--grey-model", help="grey ONNX denoiser (default: the shipped one)")
    p.add_argument("--set", choices=("benchmark", "held-out"), default="benchmark",
                   help="the benchmark's RGB images, or those of bench/pnp_tuning.py's held-out set")
    p.add_argument("--defaults", action="store_true",
                   help="also pnp_deconvolve's defaults: the RGB model, or the grey one per channel where the noise "
                        "is correlated between channels")
    p.add_argument("--refine", nargs="+", choices=("wiener", "none"), default=["wiener"],
                   help="pnp_deconvolve's last-step refinement; several: one row per value, same cases")
    p.add_argument("--channel-correlation", type=float, default=0.0, metavar="RHO",
                   help="the noise's correlation between channels (0: independent, 1: the same in all three)")
    args = p.parse_args(argv)
    if not 0.0 <= args.channel_correlation <= 1.0:
        p.error(f"--channel-correlation must be in [0, 1], got {args.channel_correlation}")
    for f in (args.rgb_model or []) + ([args.grey_model] if args.grey_model else []):
        if not os.path.isfile(f):
            p.error(f"no such model file: {f!r}")
    rgbs = [unblur.models.load(f) for f in args.rgb_model] if args.rgb_model else [unblur.models.denoiser(channels="rgb")]
    grey = unblur.models.load(args.grey_model) if args.grey_model else unblur.models.denoiser(channels="grey")
    if any(r.channels != 3 for r in rgbs) or grey.channels != 1:
        p.error(f"--rgb-model must take 3 channels and --grey-model 1 (got {[r.channels for r in rgbs]} and {grey.channels})")
    methods = {"unblur.tv (colour)": lambda g, h: unblur.tv_deconvolve(g, h, channel_axis=-1)}
    for refine in args.refine:
        tag = "" if args.refine == ["wiener"] else f", refine {refine}"
        methods["pnp, grey model per channel" + tag] = (
            lambda g, h, r=refine: unblur.pnp_deconvolve(g, h, denoiser=grey, channel_axis=-1, refine=r))
        for k, rgb in enumerate(rgbs):
            label = "pnp, RGB model (joint)" + (f" [{k}]" if len(rgbs) > 1 else "") + tag
            methods[label] = (lambda g, h, rgb=rgb, r=refine:
                              unblur.pnp_deconvolve(g, h, denoiser=rgb, channel_axis=-1, refine=r))
    chosen = defaultdict(int)  # what the defaults picked: the RGB model or the grey one per channel

    def defaults(g, h):
        out, info = unblur.pnp_deconvolve(g, h, channel_axis=-1, return_info=True)
        chosen["RGB model" if info["joint_channels"] else "grey model per channel"] += 1
        return out

    if args.defaults:
        methods["pnp, defaults (the model chosen by the noise)"] = defaults
    images = colour_images(args.images) if args.set == "benchmark" else colour_images(args.images, HELD_OUT)
    classes = quality.psf_classes()
    table = defaultdict(list)
    seconds = defaultdict(float)
    count = 0
    for noise in args.noise:
        for cname, make in classes.items():
            for i, (_, img) in enumerate(images):
                psf = make(i)
                rng = np.random.default_rng(1000 * i + int(noise * 1e4))
                truth, g = colour_case(img, psf, args.size, rng, noise, args.channel_correlation)
                count += 1
                for m, fn in methods.items():
                    t = time.perf_counter()
                    out = fn(g, psf)
                    seconds[m] += time.perf_counter() - t
                    table[noise, m, cname].append(score(truth, out))
    print(f"# bench/pnp_colour.py, {datetime.date.today()}, unblur {unblur.__version__}, {len(images)} RGB images "
          f"({', '.join(n for n, _ in images)}) {args.size}x{args.size}; rgb model(s) "
          f"{', '.join(f'[{k}] {f}' for k, f in enumerate(args.rgb_model or ['shipped']))}, "
          f"grey model {args.grey_model or 'shipped'}; noise correlation between channels {args.channel_correlation:g}")
    for noise in args.noise:
        print(f"## noise {noise}: mean PSNR dB / SSIM")
        print(f"{'method':34s}" + "".join(f"{c:>17s}" for c in classes) + f"{'all':>17s}")
        for m in methods:
            cells = []
            for c in list(classes) + ["all"]:
                vals = [v for k in (classes if c == "all" else [c]) for v in table[noise, m, k]]
                cells.append(f"{np.mean([v[0] for v in vals]):8.2f} / {np.mean([v[1] for v in vals]):.3f}")
            print(f"{m:34s}" + "".join(f"{x:>17s}" for x in cells))
        allv = {m: np.mean([v[0] for k in classes for v in table[noise, m, k]]) for m in methods}
        names = list(methods)
        for m in names[2:]:
            print(f"{m}: over grey per channel {allv[m] - allv[names[1]]:+.2f} dB; over colour TV "
                  f"{allv[m] - allv[names[0]]:+.2f} dB")
    print("seconds per case: " + ", ".join(f"{m} {seconds[m] / count:.2f}" for m in methods))
    if args.defaults:
        print("the defaults chose: " + ", ".join(f"{m} {n} of {count} cases" for m, n in sorted(chosen.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
