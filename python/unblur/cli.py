"""The ``unblur`` command line.

``unblur demo`` blurs the built-in sample photograph with a known PSF and noise (the
valid part of the blur, as a camera records it), restores it with
``unblur.deconvolve`` and its default choices, prints PSNR/SSIM before and after, and
writes a side-by-side PNG.
It also runs ``unblur.restore``, which estimates the PSF from the blurred image alone,
and reports that blind result next to the non-blind one.
``unblur restore photo.png`` estimates the blur of a photograph and removes it.
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
    from . import convolve, data, deconvolve, metrics, restore

    if args.noise < 0 or not np.isfinite(args.noise):
        raise SystemExit(f"unblur demo: --noise must be >= 0, got {args.noise}")
    if not args.strength > 0:
        raise SystemExit(f"unblur demo: --strength must be > 0, got {args.strength}")
    if args.output is not None and os.path.exists(args.output) and not args.overwrite:
        raise SystemExit(f"unblur demo: {args.output} exists; pass --overwrite to replace it")
    output = args.output if args.output is not None else _unique_path("unblur-demo.png")

    rng = np.random.default_rng(args.seed)
    scene = data.astronaut().astype(np.float32) / 255.0
    kernel, description = _make_psf(args.psf, args.strength)
    kernel = kernel.astype(np.float32)
    # A camera sees the valid part of the blur of a larger scene: nothing beyond the
    # frame is periodic or zero. The sharp reference is the matching crop of the scene.
    blurred = convolve(scene, kernel, mode="valid", channel_axis=-1)
    kh, kw = kernel.shape
    sharp = scene[kh // 2 : kh // 2 + blurred.shape[0], kw // 2 : kw // 2 + blurred.shape[1]]
    blurred = blurred + rng.normal(0.0, args.noise, blurred.shape).astype(np.float32)
    blurred = np.clip(blurred, 0.0, 1.0)

    t0 = time.perf_counter()
    restored, info = deconvolve(blurred, kernel, channel_axis=-1, return_info=True)
    seconds = time.perf_counter() - t0
    restored = np.clip(restored, 0.0, 1.0)

    t0 = time.perf_counter()
    blind, binfo = restore(blurred, channel_axis=-1, return_info=True)
    blind_seconds = time.perf_counter() - t0
    blind = np.clip(blind, 0.0, 1.0)

    def scores(img):
        return (metrics.psnr(sharp, img, data_range=1.0),
                metrics.ssim(sharp, img, data_range=1.0, channel_axis=-1))

    (p0, s0), (p1, s1), (p2, s2) = scores(blurred), scores(restored), scores(blind)
    h, w = sharp.shape[:2]
    print(f"unblur demo: sample photograph {h}x{w} RGB, {description}, noise sigma {args.noise:g}")
    noise = info.get("noise_sigma")
    noise = float(np.mean(noise)) if noise is not None else float("nan")
    print(f"method: unblur.deconvolve chose {info['method']!r} (boundary {info['boundary']!r}, "
          f"estimated noise {noise:.4f}); {seconds * 1e3:.0f} ms")
    print(f"{'':10s} {'PSNR (dB)':>10s} {'SSIM':>8s}")
    print(f"{'blurred':10s} {p0:10.2f} {s0:8.4f}")
    print(f"{'restored':10s} {p1:10.2f} {s1:8.4f}")
    print(f"{'gain':10s} {p1 - p0:+10.2f} {s1 - s0:+8.4f}")
    est = binfo["estimate"]
    found = ", ".join(f"{k} {v:.2f}" for k, v in est["params"].items()) or "no blur"
    print(f"PSF unknown: unblur.restore estimated {est['model']} ({found}; confidence "
          f"{est['confidence']:.2f}); {blind_seconds * 1e3:.0f} ms")
    print(f"{'blind':10s} {p2:10.2f} {s2:8.4f}")
    print(f"{'gain':10s} {p2 - p0:+10.2f} {s2 - s0:+8.4f}")
    _side_by_side([sharp, blurred, restored, blind], ["sharp", "blurred", "restored (PSF known)",
                                                       "restored (blind)"]).save(output)
    print(f"wrote {output} (sharp | blurred | restored with the PSF | restored blind)")
    return 0


def _restore(args):
    from PIL import Image

    from . import restore

    if not os.path.exists(args.input):
        raise SystemExit(f"unblur restore: {args.input}: no such file")
    root, _ = os.path.splitext(args.input)
    output = args.output if args.output is not None else _unique_path(f"{root}-restored.png")
    if os.path.abspath(output) == os.path.abspath(args.input):
        raise SystemExit("unblur restore: --output must not be the input file")
    if args.output is not None and os.path.exists(output) and not args.overwrite:
        raise SystemExit(f"unblur restore: {output} exists; pass --overwrite to replace it")
    with Image.open(args.input) as im:
        rgb = im.mode not in ("L", "I", "I;16", "F")
        arr = np.asarray(im.convert("RGB" if rgb else "F"), dtype=np.float32)
    scale = 255.0 if rgb or arr.max() <= 255 else 65535.0
    image = arr / scale
    t0 = time.perf_counter()
    restored, info = restore(image, model=args.model, size=args.size, channel_axis=-1 if rgb else None,
                             return_info=True)
    seconds = time.perf_counter() - t0
    est = info["estimate"]
    found = ", ".join(f"{k} {v:.2f}" for k, v in est["params"].items()) or "none"
    print(f"{args.input}: {image.shape[1]}x{image.shape[0]}{' RGB' if rgb else ''}; blur: {est['model']} ({found}), "
          f"confidence {est['confidence']:.2f}, noise {est['noise_sigma']:.4f}; {seconds:.1f} s")
    out = np.round(np.clip(restored, 0.0, 1.0) * 255).astype(np.uint8)
    Image.fromarray(out).save(output)
    print(f"wrote {output}")
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
    rest = sub.add_parser("restore", help="estimate the blur of a photograph and remove it")
    rest.add_argument("input", help="image file (PNG, JPEG, TIFF, ...)")
    rest.add_argument("-o", "--output", default=None,
                      help="PNG to write (default: INPUT-restored.png, or -1, -2... if it exists)")
    rest.add_argument("--model", choices=("auto", "gaussian", "defocus", "motion", "shake"), default="auto",
                      help="blur family (default: auto)")
    rest.add_argument("--size", type=int, default=None, help="largest kernel size in pixels (odd)")
    rest.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    rest.set_defaults(func=_restore)
    inf = sub.add_parser("info", help="show what this installation provides")
    inf.set_defaults(func=_info)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:  # bad parameters or files: one line, no traceback
        parser.exit(2, f"unblur {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
