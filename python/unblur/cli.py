"""The ``unblur`` command line.

``unblur demo`` blurs the built-in sample photograph with a known PSF and noise,
restores it, prints PSNR/SSIM before and after, and writes a side-by-side PNG.
``unblur info`` prints what this installation provides.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

__all__ = ["main"]

_PSFS = ("motion", "gaussian", "disk", "shake")


def _make_psf(kind, strength):
    from . import psf

    if kind == "motion":
        return psf.motion(strength, 30.0), f"linear motion, {strength:g} px at 30 deg"
    if kind == "gaussian":
        return psf.gaussian(strength / 5.0), f"Gaussian, sigma {strength / 5.0:g} px"
    if kind == "disk":
        return psf.disk(strength / 3.0), f"defocus disk, radius {strength / 3.0:g} px"
    return psf.shake(strength, seed=1), f"camera shake, extent {strength:g} px (seed 1)"


def _restore(blurred, kernel, noise_sigma):
    """Regularised inverse filter with a Laplacian penalty (constrained least squares).

    A stop-gap until the deconvolution module (issue 3) lands. The FFT model is
    periodic, so the image is extended by twice the PSF size: a symmetric extension
    whose outer part fades into a copy blurred twice more by the PSF, so that the
    frame carries little energy where the PSF's spectrum vanishes (the seam of a bare
    symmetric extension rings badly for oblique motion blur). The penalty weight is
    noise power / image power: lambda = sigma^2 / A for an image spectrum A / |L|^2
    (L the Laplacian's transfer function), with A fitted to the observed spectrum
    where the blur passes at least half the power. The sharp image is never used.
    """
    from . import convolve, fft

    h, w = blurred.shape[:2]
    pad = 2 * max(kernel.shape)
    shape = fft.fast_fft_shape((h + 2 * pad, w + 2 * pad))
    g = np.pad(blurred, ((pad, shape[0] - h - pad), (pad, shape[1] - w - pad), (0, 0)), mode="symmetric")
    smooth = convolve(g, kernel, boundary="periodic", channel_axis=-1)
    smooth = convolve(smooth, kernel, boundary="periodic", channel_axis=-1)

    def ramp(n, lo, hi):  # 1 on observed pixels, falling to 0 over half the pad outside
        x = np.arange(n, dtype=np.float64)
        return np.clip(0.5 + np.minimum(x - lo, hi - 1 - x) / (pad / 2), 0.0, 1.0)

    weight = np.outer(ramp(shape[0], pad, pad + h), ramp(shape[1], pad, pad + w))[..., None]
    g = (weight * g + (1.0 - weight) * smooth).astype(blurred.dtype)

    otf = fft.psf2otf(kernel, shape)
    lap = fft.psf2otf(np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], blurred.dtype), shape)
    h2, l2 = np.abs(otf) ** 2, np.abs(lap) ** 2
    spectra = [fft.rfftn(np.ascontiguousarray(g[..., c])) for c in range(g.shape[2])]
    power = sum(np.abs(s) ** 2 for s in spectra) / (len(spectra) * np.prod(shape))
    passband = (h2 > 0.5) & (l2 > 0)
    level = float(np.median(power[passband] * l2[passband] / h2[passband]))
    lam = noise_sigma**2 / level
    filt = np.conj(otf) / (h2 + lam * l2)
    out = np.stack([fft.irfftn(s * filt, shape) for s in spectra], axis=-1)
    return np.clip(out[pad : pad + h, pad : pad + w], 0.0, 1.0).astype(blurred.dtype), lam


def _side_by_side(images, labels):
    from PIL import Image, ImageDraw

    tiles = [Image.fromarray(np.round(np.clip(im, 0, 1) * 255).astype(np.uint8)) for im in images]
    w, h = tiles[0].size
    gap, band = 8, 22
    canvas = Image.new("RGB", (len(tiles) * w + (len(tiles) - 1) * gap, h + band), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        x = i * (w + gap)
        canvas.paste(tile, (x, band))
        draw.text((x + 4, 5), label, fill="black")
    return canvas


def _unique_path(path):
    """`path` itself if free, else path-1, path-2, ... (never overwrite a user's file)."""
    if not os.path.exists(path):
        return path
    root, ext = os.path.splitext(path)
    i = 1
    while os.path.exists(f"{root}-{i}{ext}"):
        i += 1
    return f"{root}-{i}{ext}"


def _demo(args):
    from . import convolve, data, metrics

    if args.noise < 0 or not np.isfinite(args.noise):
        raise SystemExit(f"unblur demo: --noise must be >= 0, got {args.noise}")
    if not args.strength > 0:
        raise SystemExit(f"unblur demo: --strength must be > 0, got {args.strength}")
    if args.output is not None and os.path.exists(args.output) and not args.overwrite:
        raise SystemExit(f"unblur demo: {args.output} exists; pass --overwrite to replace it")
    output = args.output if args.output is not None else _unique_path("unblur-demo.png")

    rng = np.random.default_rng(args.seed)
    sharp = data.astronaut().astype(np.float32) / 255.0
    kernel, description = _make_psf(args.psf, args.strength)
    kernel = kernel.astype(np.float32)
    blurred = convolve(sharp, kernel, mode="same", boundary="reflect", channel_axis=-1)
    blurred = blurred + rng.normal(0.0, args.noise, blurred.shape).astype(np.float32)
    blurred = np.clip(blurred, 0.0, 1.0)

    t0 = time.perf_counter()
    restored, lam = _restore(blurred, kernel, max(args.noise, 1e-4))
    seconds = time.perf_counter() - t0

    def scores(img):
        return (metrics.psnr(sharp, img, data_range=1.0),
                metrics.ssim(sharp, img, data_range=1.0, channel_axis=-1))

    (p0, s0), (p1, s1) = scores(blurred), scores(restored)
    h, w = sharp.shape[:2]
    print(f"unblur demo: sample photograph {h}x{w} RGB, {description}, noise sigma {args.noise:g}")
    print("method: regularised inverse filter with a Laplacian penalty, weight from the noise")
    print(f"        level and a fitted image spectrum (lambda = {lam:.3g}); {seconds * 1e3:.0f} ms")
    print(f"{'':10s} {'PSNR (dB)':>10s} {'SSIM':>8s}")
    print(f"{'blurred':10s} {p0:10.2f} {s0:8.4f}")
    print(f"{'restored':10s} {p1:10.2f} {s1:8.4f}")
    print(f"{'gain':10s} {p1 - p0:+10.2f} {s1 - s0:+8.4f}")
    _side_by_side([sharp, blurred, restored], ["sharp", "blurred", "restored"]).save(output)
    print(f"wrote {output} (sharp | blurred | restored)")
    return 0


def _info(_args):
    from . import info

    print(json.dumps(info(), indent=2, default=str))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="unblur", description="Fast deblurring and deconvolution.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="blur the sample photograph, restore it, report PSNR/SSIM")
    demo.add_argument("--psf", choices=_PSFS, default="motion", help="blur kind (default: motion)")
    demo.add_argument("--strength", type=float, default=15.0,
                      help="blur size in pixels: motion length / shake extent; "
                           "Gaussian sigma = strength/5; disk radius = strength/3 (default 15)")
    demo.add_argument("--noise", type=float, default=0.01, help="noise sigma, image in [0, 1] (default 0.01)")
    demo.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    demo.add_argument("-o", "--output", default=None,
                      help="PNG to write (default: unblur-demo.png, or -1, -2... if it exists)")
    demo.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    demo.set_defaults(func=_demo)
    inf = sub.add_parser("info", help="show what this installation provides")
    inf.set_defaults(func=_info)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:  # bad parameters or files: one line, no traceback
        parser.exit(2, f"unblur {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
