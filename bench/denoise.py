"""The learned denoiser alone against scikit-image's TV and non-local means (issue 8).

Run:  python bench/denoise.py --model FILE [--size 256] [--images 6] [--sigmas 15 25 50]
      python bench/denoise.py --colour --model RGB_FILE [--grey-model FILE] [--channel-correlation RHO] ...

Grey versions of the natural images shipped inside the scikit-image wheel (bench/quality.py's
set), a centred crop of `size`, white Gaussian noise of sigma / 255 (seeded, not
clipped). With --colour: the RGB images of that set (astronaut, coffee, chelsea, rocket),
noise independent per channel (--channel-correlation RHO: correlated between channels, as
a camera's is); the model must take 3 channels, and --grey-model adds a grey model run
on each channel apart (what a colour image got before an RGB model existed); TV is scikit-image's colour TV (channel_axis), NL-means its colour version, and
BM3D the package's CBM3D (bm3d_rgb). Methods:

* the ONNX denoiser through ``unblur.models`` (ONNX Runtime on the CPU), told the true
  noise level;
* ``skimage.restoration.denoise_tv_chambolle`` with the best weight per image of a grid
  (chosen against the truth: an advantage no real user has);
* ``skimage.restoration.denoise_nl_means`` as scikit-image's documentation recommends
  (fast mode, patch 5, distance 6, h = 0.8 sigma with the true sigma);
* BM3D (the ``bm3d`` package) where it is installed, as the next target.

Prints mean PSNR per method and noise level, the denoiser's gain over each, and the
seconds per image; everything measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import load_images  # noqa: E402  (the same images as the quality bench)


def psnr(ref, x):
    return float(10 * np.log10(1.0 / np.mean((np.asarray(ref, np.float64) - x) ** 2)))


def crop(img, size):
    r0, c0 = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return np.ascontiguousarray(img[r0:r0 + size, c0:c0 + size])


def best_tv(noisy, truth, weights=None):
    """(PSNR, weight) of scikit-image's TV at its best weight of `weights` (default: 15
    from 0.01 to 1, for noise 15-50 /255)."""
    from skimage.restoration import denoise_tv_chambolle

    axis = -1 if noisy.ndim == 3 else None
    best = (-np.inf, None)
    for w in np.geomspace(0.01, 1.0, 15) if weights is None else weights:
        p = psnr(truth, denoise_tv_chambolle(noisy, weight=w, channel_axis=axis))
        best = max(best, (p, w), key=lambda t: t[0])
    return best


COLOUR_IMAGES = ("astronaut", "coffee", "chelsea", "rocket")  # quality.py's set, the RGB ones


def correlated_noise(rng, sigma, shape, rho=0.0):
    """White noise of sigma `sigma` on (H, W, C), its channels correlated by `rho` (a
    camera's demosaicing and JPEG's chroma subsampling correlate them): sqrt(rho) x a field
    common to the channels + sqrt(1 - rho) x independent ones. rho = 0 draws exactly what
    rng.normal(0, sigma, shape) draws."""
    independent = rng.normal(0.0, sigma, shape)
    if rho == 0:
        return independent
    common = rng.normal(0.0, sigma, shape[:-1] + (1,))
    return np.sqrt(rho) * common + np.sqrt(1.0 - rho) * independent


def colour_images(count, names=COLOUR_IMAGES):
    """The first `count` of the scikit-image RGB images `names`, float64 in [0, 1]."""
    from skimage import data

    out = []
    for name in names[:count]:
        img = getattr(data, name)()
        img = img[0] if isinstance(img, tuple) else img  # stereo_motorcycle: (left, right, disparity)
        out.append((name, img[..., :3].astype(np.float64) / 255.0))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="ONNX denoiser (unblur.models contract)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--sigmas", nargs="*", type=float, default=[15.0, 25.0, 50.0])
    parser.add_argument("--no-bm3d", action="store_true", help="skip BM3D even where installed")
    parser.add_argument("--colour", action="store_true", help="RGB images and an RGB model (see above)")
    parser.add_argument("--grey-model", help="--colour: also run this grey model on each channel")
    parser.add_argument("--channel-correlation", type=float, default=0.0, metavar="RHO",
                        help="--colour: the noise's correlation between channels (0: independent)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.channel_correlation <= 1.0:
        parser.error(f"--channel-correlation must be in [0, 1], got {args.channel_correlation}")
    if args.channel_correlation and not args.colour:
        parser.error("--channel-correlation needs --colour")

    import unblur
    import unblur.models
    from skimage.restoration import denoise_nl_means

    try:
        import bm3d
    except ImportError:
        bm3d = None
    if args.no_bm3d:
        bm3d = None

    runner = unblur.models.load(args.model)
    want = 3 if args.colour else 1
    if runner.channels != want:
        parser.error(f"--model takes {runner.channels} channel(s); {'--colour needs' if args.colour else 'grey images need'} "
                     f"{want}")
    grey_runner = unblur.models.load(args.grey_model) if args.colour and args.grey_model else None
    if args.colour:
        source = colour_images(args.images)
    else:
        source = load_images(args.size, args.images)
    images = [(name, crop(img, min(args.size, *img.shape[:2]))) for name, img in source]
    kind = "RGB" if args.colour else "grey"
    print(f"# unblur {unblur.__version__} denoiser benchmark, {datetime.date.today()}")
    print(f"# model {os.path.basename(args.model)}; {len(images)} {kind} images ({', '.join(n for n, _ in images)}), "
          f"{args.size}x{args.size} crops; command: python bench/denoise.py " + " ".join(argv or sys.argv[1:]))
    methods = ["noisy", "unblur denoiser"] + (["grey model per channel"] if grey_runner else []) + [
        "skimage TV (best weight)", "skimage NL-means"] + (["BM3D"] if bm3d else [])
    axis = -1 if args.colour else None
    seconds = {m: 0.0 for m in methods}
    table = {}
    for s in args.sigmas:
        sigma = s / 255.0
        scores = {m: [] for m in methods}
        for i, (name, truth) in enumerate(images):
            rng = np.random.default_rng(1000 + i + int(s))
            noise = correlated_noise(rng, sigma, truth.shape, args.channel_correlation) if args.colour \
                else rng.normal(0.0, sigma, truth.shape)
            noisy = (truth + noise).astype(np.float32)
            scores["noisy"].append(psnr(truth, noisy))
            t = time.perf_counter()
            out = runner(noisy, sigma)
            seconds["unblur denoiser"] += time.perf_counter() - t
            scores["unblur denoiser"].append(psnr(truth, out))
            if grey_runner:
                t = time.perf_counter()
                per = np.stack([grey_runner(np.ascontiguousarray(noisy[..., c]), sigma) for c in range(3)], axis=-1)
                seconds["grey model per channel"] += time.perf_counter() - t
                scores["grey model per channel"].append(psnr(truth, per))
            t = time.perf_counter()
            p, _w = best_tv(noisy.astype(np.float64), truth)
            seconds["skimage TV (best weight)"] += (time.perf_counter() - t) / 15  # one weight's time
            scores["skimage TV (best weight)"].append(p)
            t = time.perf_counter()
            nl = denoise_nl_means(noisy.astype(np.float64), h=0.8 * sigma, sigma=sigma, fast_mode=True,
                                  patch_size=5, patch_distance=6, channel_axis=axis)
            seconds["skimage NL-means"] += time.perf_counter() - t
            scores["skimage NL-means"].append(psnr(truth, nl))
            if bm3d:
                t = time.perf_counter()
                b = (bm3d.bm3d_rgb(noisy.astype(np.float64), sigma_psd=sigma) if args.colour
                     else bm3d.bm3d(noisy.astype(np.float64), sigma_psd=sigma))
                seconds["BM3D"] += time.perf_counter() - t
                scores["BM3D"].append(psnr(truth, b))
        table[s] = {m: float(np.mean(v)) for m, v in scores.items()}

    print("\n## mean PSNR (dB) by noise sigma (/255)")
    print(f"{'method':28s}" + "".join(f"{s:>10g}" for s in args.sigmas))
    for m in methods:
        print(f"{m:28s}" + "".join(f"{table[s][m]:10.2f}" for s in args.sigmas))
    print("\n## the denoiser's gain (dB)")
    for m in methods[2:]:
        print(f"{'over ' + m:28s}" + "".join(f"{table[s]['unblur denoiser'] - table[s][m]:+10.2f}" for s in args.sigmas))
    n = len(images) * len(args.sigmas)
    print("\nseconds per image: " + ", ".join(f"{m} {seconds[m] / n:.3f}" for m in methods[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
