"""The ``unblur`` command line.

``unblur demo`` blurs the built-in sample photograph with a known PSF and noise (the
valid part of the blur, as a camera records it), restores it with
``unblur.deconvolve`` and its default choices, prints PSNR/SSIM before and after, and
writes a side-by-side PNG.
It also runs ``unblur.restore``, which estimates the PSF from the blurred image alone,
and reports that blind result next to the non-blind one.
``unblur restore``, ``deconvolve``, ``simulate``, ``estimate-psf`` and ``evaluate``
work on many files at once (files, globs, folders); ``unblur info`` prints what this
installation provides. Run ``unblur COMMAND --help`` for each command's options.

Rules every file command follows: outputs are named INPUT-<suffix> next to the input
(or in ``--output-dir``; ``-o`` names the one output of a single input); nothing is
overwritten without ``--overwrite``; an output may not be one of the inputs; a bad
file is reported in one line and the others go on; the exit status is 0 when every
file succeeded, 1 when any failed, 2 for a bad command line. ``--json`` prints one
JSON document (and nothing else) on stdout.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
import warnings

import numpy as np

from . import _deconvolve, _pnp

__all__ = ["main"]

_PSFS = ("motion", "gaussian", "disk", "shake")
_METHODS = _deconvolve._METHODS


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

    if args.noise < 0 or not np.isfinite(args.noise):  # a bad command line: status 2, like the others
        raise UsageError(f"--noise must be >= 0, got {args.noise}")
    if not args.strength > 0 or not np.isfinite(args.strength):
        raise UsageError(f"--strength must be > 0, got {args.strength}")
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


# ---- shared machinery of the file commands ----------------------------------------------

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".bmp", ".webp", ".gif")


class UsageError(Exception):
    """A bad command line: one line on stderr, exit status 2."""


def _expand(inputs):
    """Files named, matched by globs, or in folders (their images, sorted), in order, once each.
    A name that exists is taken as it is, even when it holds glob characters."""
    out, seen = [], set()
    for item in inputs:
        if any(c in item for c in "*?[") and not os.path.exists(item):  # 'shot [1].png' is a file
            found = sorted(glob.glob(item))
            if not found:
                raise UsageError(f"{item}: no file matches")
        elif os.path.isdir(item):
            found = sorted(os.path.join(item, f) for f in os.listdir(item)
                           if f.lower().endswith(_IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(item, f)))
            if not found:
                raise UsageError(f"{item}: the folder holds no image files")
        else:
            found = [item]  # a missing file is that file's error, not the whole run's
        for f in found:
            key = os.path.abspath(f)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


_WRITES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy")


def _output_path(args, path, suffix, n_inputs, extension=None, img=None):
    """Where the result of input `path` goes (see the module's rules). An input in a
    format unblur reads but does not write (BMP, GIF, WebP, ...) gives a PNG (a TIFF
    for float data)."""
    root, ext = os.path.splitext(os.path.basename(path))
    ext = extension if extension else (f".{args.format}" if getattr(args, "format", None) else ext.lower())
    if ext not in _WRITES:
        ext = ".tif" if img is not None and (img.float_data or img.volume) else ".png"
    if args.output is not None:
        out = args.output
    elif args.output_dir is not None:
        out = os.path.join(args.output_dir, f"{root}{suffix}{ext}")
    else:
        out = os.path.join(os.path.dirname(path), f"{root}{suffix}{ext}")
    return out


def _check_outputs(args, inputs):
    if getattr(args, "output", None) is not None and len(inputs) != 1:
        raise UsageError(f"-o/--output names one file, but there are {len(inputs)} inputs; use --output-dir")
    if getattr(args, "output", None) is not None:
        ext = os.path.splitext(args.output)[1].lower()
        if ext not in _WRITES:  # refused now, not after the work
            raise UsageError(f"-o {args.output}: unblur writes .png, .jpg, .tif and .npy files, "
                             f"not {ext or 'no extension'!r}")
    d = getattr(args, "output_dir", None)
    if d is not None:
        if not os.path.isdir(d):
            raise UsageError(f"--output-dir {d}: no such folder")
        if not os.access(d, os.W_OK):
            raise UsageError(f"--output-dir {d}: not writable")


def _guard_output(out, inputs, overwrite, rep, path):
    """Refuses `out` as the output of input `path` when it is an input, exists (without
    --overwrite), or is already the output of another input of this run."""
    if os.path.abspath(out) in {os.path.abspath(p) for p in inputs}:
        raise ValueError(f"{out}: the output would replace an input")
    owner = rep.outputs.setdefault(os.path.abspath(out), path)
    if owner != path:  # x/p.png and y/p.png into one --output-dir, a.png and a.jpg with --format
        raise ValueError(f"{out}: also the output of {owner}; use -o or separate --output-dir runs")
    if os.path.exists(out):
        if not overwrite:
            raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
        # Another name of an input (a symbolic or hard link): writing would replace it.
        if any(_same_file(out, p) for p in inputs):
            raise ValueError(f"{out}: the output would replace an input (it is a link to it)")


def _second_output(args, out_path):
    """The --compare or --picture file that goes with `out_path`, or None."""
    if getattr(args, "compare", False):
        return os.path.splitext(out_path)[0] + "-compare.png"
    if getattr(args, "picture", False):
        return os.path.splitext(out_path)[0] + "-view.png"
    return None


def _guard_outputs(args, out_path, inputs, rep, path):
    """_guard_output for every file the input will give, before the work: a failure
    then leaves none of them written."""
    for out in (out_path, _second_output(args, out_path)):
        if out is not None:
            _guard_output(out, inputs, args.overwrite, rep, path)


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:  # b missing or unreadable: not the same file
        return False


class _Reporter:
    """Human lines on stdout (unless --quiet or --json), a JSON document at the end with
    --json, a progress bar on stderr for long work."""

    def __init__(self, args, command):
        self.json = getattr(args, "json", False)
        self.quiet = getattr(args, "quiet", False) or self.json
        self.command = command
        self.results = []
        self.outputs = {}  # absolute output path -> the input it belongs to

    def line(self, text):
        if not self.quiet:
            print(text, flush=True)

    def add(self, result):
        self.results.append(result)

    def progress(self, total, desc):
        """A tqdm bar (when tqdm is installed, stderr is a terminal and output is not quiet)."""
        if self.quiet or total is None or not sys.stderr.isatty():
            return _NoBar()
        try:
            from tqdm import tqdm
        except ImportError:
            return _NoBar()
        return tqdm(total=total, desc=desc, leave=False, file=sys.stderr)

    def finish(self):
        failed = [r for r in self.results if r.get("error")]
        if self.json:
            doc = {"command": self.command, "results": _json_safe(self.results), "failed": len(failed)}
            print(json.dumps(doc, indent=2, default=str, allow_nan=False))  # (_json_safe did NumPy's types)
        elif failed and len(self.results) > 1:
            print(f"unblur {self.command}: {len(failed)} of {len(self.results)} files failed: "
                  + ", ".join(r["input"] for r in failed), file=sys.stderr)
        return 1 if failed else 0


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _json_safe(v):
    """`v` with NumPy scalars and arrays as Python values and NaN / infinities as None:
    JSON has no such numbers (json.dumps would write Infinity, which strict parsers refuse;
    the PSNR of identical images is infinite)."""
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return _json_safe(v.tolist())
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _for_each(args, command, inputs, work):
    """work(path, report) for each input; a failure is reported and the rest go on."""
    rep = _Reporter(args, command)
    files_bar = rep.progress(len(inputs), command) if len(inputs) > 1 else _NoBar()
    for path in inputs:
        result = {"input": path, "error": None}
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                work(path, result, rep)
            result["warnings"] = [str(w.message) for w in caught] or None
            for w in caught:
                print(f"unblur {command}: warning: {w.message}", file=sys.stderr)
        except (ValueError, TypeError, OSError, MemoryError, RuntimeError) as exc:
            result["error"] = str(exc) or type(exc).__name__
            where = "" if result["error"].startswith(path) else f"{path}: "
            print(f"unblur {command}: {where}{result['error']}", file=sys.stderr)
        result["seconds"] = round(time.perf_counter() - t0, 3)
        rep.add(result)
        files_bar.update(1)
    files_bar.close()
    return rep.finish()


def _device(args):
    """numpy, or cupy for --device gpu (checked: CuPy, a GPU, unblur's CUDA module)."""
    if getattr(args, "device", "cpu") != "gpu":
        return None
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
    except Exception as exc:
        raise UsageError(f"--device gpu needs CuPy and a CUDA GPU ({exc})") from None
    return cupy


def _to_device(xp, a):
    return a if xp is None else xp.asarray(a)


def _to_host(xp, a):
    return a if xp is None or isinstance(a, np.ndarray) else a.get()


_NOISE_HELP = ("the noise's standard deviation in the file's values scaled to [0, 1] (2.5/255 is 0.0098), for "
               "--method auto, tv, rl and pnp; default: estimated (for JPEG files from their quantisation "
               "tables, as compression removes the finest details the usual estimate measures)")
_NOISE_METHODS = ("auto", "tv", "rl", "pnp")


def _noise_arg(args):
    """--noise-sigma checked: None, or a number >= 0 for a method that takes it."""
    sigma = getattr(args, "noise_sigma", None)
    if sigma is None:
        return None
    if not (sigma >= 0 and np.isfinite(sigma)):
        raise UsageError(f"--noise-sigma must be a finite number >= 0, got {sigma}")
    if args.method not in _NOISE_METHODS:
        raise UsageError(f"--noise-sigma applies to --method {', '.join(_NOISE_METHODS)}; not {args.method}")
    return sigma


def _noise_level(args, img):
    """(sigma, source): --noise-sigma ('given'); for a JPEG file, the noise its tables
    imply per channel ('jpeg': unblur.io.jpeg_noise, as estimate_noise cannot see
    compression error), and for 8-bit pixels of another file that were once a JPEG
    (a PNG saved from one) the same from the tables unblur.io.detect_jpeg finds
    ('jpeg-detected'); else (None, 'estimated'): the methods' own estimate."""
    if args.noise_sigma is not None:
        return args.noise_sigma, "given"
    if args.method in _NOISE_METHODS:
        from . import io

        found = io.jpeg_noise(img)
        if found is not None:
            return found, "jpeg" if img.jpeg else "jpeg-detected"
    return None, "estimated"


def _noise_params(args, sigma, img, data, xp):
    """The method's noise_sigma for `data` (img's pixels or a page of them): sigma (a
    number, or one per channel) itself, or, where the file was decoded to linear light,
    the noise it becomes there: sigma times the sRGB curve's slope at each pixel's code
    value (stronger in the highlights) - a map for PnP, whose denoiser takes one, and
    its RMS for the others."""
    if sigma is None:
        return {}
    a = np.asarray(data)
    sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
    per_channel = sigma.size > 1 and img.colour and a.shape[-1] == sigma.size
    if not per_channel:
        sigma = float(sigma[0])
        if not img.linear:
            return {"noise_sigma": sigma}
    level = np.broadcast_to(sigma, a.shape)
    if img.linear:
        from . import io

        level = level * io._srgb_slope(io.linear_to_srgb(a.astype(np.float64)))
    if args.method == "pnp":
        return {"noise_sigma": _to_device(xp, np.ascontiguousarray(level, dtype=a.dtype))}
    return {"noise_sigma": float(np.sqrt(np.mean(np.square(level))))}


def _read(args, path):
    from . import io

    return io.read(path, linear=not args.no_linear)


def _iteration_callback(rep, total, desc):
    bar = rep.progress(total, desc)

    def cb(state):
        bar.update(1)
        return True

    return bar, cb


def _write_result(args, rep, path, out_path, img, restored, inputs, result):
    from . import io

    _guard_output(out_path, inputs, args.overwrite, rep, path)
    io.write(out_path, img.with_data(np.asarray(restored, dtype=img.data.dtype)), overwrite=args.overwrite,
             bits=getattr(args, "bits", None))
    result["output"] = out_path
    if getattr(args, "compare", False):
        cmp_path = _second_output(args, out_path)
        _guard_output(cmp_path, inputs, args.overwrite, rep, path)
        _compare_picture(img, restored).save(cmp_path)
        result["compare"] = cmp_path


def _display(img, data):
    """Values for looking at: sRGB code values in [0, 1], the middle page of a stack."""
    from . import io

    a = np.asarray(data, dtype=np.float64)
    if img.volume:
        a = a[a.shape[0] // 2]
    if img.linear:
        a = io.linear_to_srgb(a)
    elif img.float_data:  # data of any range: stretched to its 0.1 .. 99.9 percentiles
        lo, hi = np.percentile(a, [0.1, 99.9])
        a = (a - lo) / (hi - lo) if hi > lo else a * 0
    return np.clip(a, 0, 1)


def _compare_picture(img, restored):
    before, after = _display(img, img.data), _display(img, restored)
    if before.ndim == 2:
        before, after = (np.repeat(x[..., None], 3, axis=2) for x in (before, after))
    return _side_by_side([before, after], ["before", "after"])


def _psf_from_spec(spec):
    """A PSF from 'kind:name=value,...' or an image / .npy file."""
    from . import psf as psfs

    kinds = {
        "gaussian": (psfs.gaussian, {"sigma": float, "theta": float, "size": int}),
        "motion": (psfs.motion, {"length": float, "angle": float, "size": int}),
        "disk": (psfs.disk, {"radius": float, "size": int}),
        "defocus": (psfs.disk, {"radius": float, "size": int}),
        "shake": (psfs.shake, {"extent": float, "seed": int, "steps": int, "smoothness": float, "size": int}),
        "airy": (psfs.airy, {"radius": float, "size": int}),
        "moffat": (psfs.moffat, {"fwhm": float, "beta": float, "size": int}),
        "turbulence": (psfs.turbulence, {"d_over_r0": float, "seed": int, "size": int}),
    }
    kind, _, rest = spec.partition(":")
    if kind not in kinds:
        if os.path.exists(spec):
            return psfs.from_image(spec)
        raise UsageError(f"--psf {spec!r}: not a file, and not one of {', '.join(sorted(kinds))} "
                         "(e.g. gaussian:sigma=2, motion:length=21,angle=30, disk:radius=4)")
    fn, accepted = kinds[kind]
    params = {}
    for item in filter(None, rest.split(",")):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or name not in accepted:
            raise UsageError(f"--psf {spec!r}: {kind} takes {', '.join(f'{k}=...' for k in accepted)}; "
                             f"got {item!r}")
        try:
            params[name] = accepted[name](value)
        except ValueError:
            raise UsageError(f"--psf {spec!r}: {name} must be a number, got {value!r}") from None
    first = next(iter(accepted))
    if first not in params:
        raise UsageError(f"--psf {spec!r}: {kind} needs {first}=...")
    positional = params.pop(first)
    try:
        return fn(positional, **params)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--psf {spec!r}: {exc}") from None


# ---- the commands -------------------------------------------------------------------------

def _restore(args):
    from . import restore

    xp = _device(args)
    _noise_arg(args)
    inputs = _expand(args.inputs)
    _check_outputs(args, inputs)

    def work(path, result, rep):
        img = _read(args, path)
        if img.volume:
            raise ValueError("restore works on 2-D images (a stack needs deconvolve with a PSF)")
        sigma, source = _noise_level(args, img)
        result["noise_source"] = source
        out_path = _output_path(args, path, "-restored", len(inputs), img=img)
        _guard_outputs(args, out_path, inputs, rep, path)
        t0 = time.perf_counter()
        bar = rep.progress(1, os.path.basename(path))

        def progress(state):  # the estimation's stages, then the deconvolution's iterations
            if "steps" in state:
                bar.total = state["steps"]
                bar.update(1)
            return True

        with bar:
            restored, info = restore(_to_device(xp, img.data), model=args.model, size=args.size,
                                     method=args.method, channel_axis=img.channel_axis, return_info=True,
                                     threads=args.threads, callback=progress,
                                     **_noise_params(args, sigma, img, img.data, xp))
        restored = _to_host(xp, restored)
        est = info["estimate"]
        result.update(model=est["model"], params=est["params"], confidence=est["confidence"],
                      noise_sigma=est["noise_sigma"],
                      method=(info["deconvolve"] or {}).get("method"))
        _write_result(args, rep, path, out_path, img, restored, inputs, result)
        found = ", ".join(f"{k} {v:.2f}" for k, v in est["params"].items()) or "none"
        jpeg = " (deconvolved with the noise of the JPEG's quantisation tables)" if source in ("jpeg", "jpeg-detected") else ""
        rep.line(f"{path}: blur {est['model']} ({found}), confidence {est['confidence']:.2f}, noise "
                 f"{est['noise_sigma']:.4f}{jpeg}; {time.perf_counter() - t0:.1f} s -> {out_path}")

    return _for_each(args, "restore", inputs, work)


def _deconvolve_cmd(args):
    from . import deconvolve

    xp = _device(args)
    kernel = _psf_from_spec(args.psf)
    inputs = _expand(args.inputs)
    _check_outputs(args, inputs)
    params = {}
    if args.iterations is not None:
        if args.method not in ("rl", "tv", "pnp"):
            raise UsageError("--iterations applies to --method rl, tv and pnp")
        params["iterations"] = args.iterations
    _noise_arg(args)

    def work(path, result, rep):
        img = _read(args, path)
        sigma, source = _noise_level(args, img)
        result["noise_source"] = source
        out_path = _output_path(args, path, "-deconvolved", len(inputs), img=img)
        _guard_outputs(args, out_path, inputs, rep, path)
        h = kernel.astype(img.data.dtype)
        t0 = time.perf_counter()

        def run(x):
            # A bar over the iterations of rl / tv when their number is known.
            iterative = (args.method in ("rl", "tv") and "iterations" in params) or args.method == "pnp"
            total = params.get("iterations", _pnp.ITERATIONS) if iterative else None
            bar, cb = _iteration_callback(rep, total, os.path.basename(path))
            with bar:
                out, info = deconvolve(_to_device(xp, x), _to_device(xp, h), method=args.method,
                                       boundary=args.boundary, channel_axis=img.channel_axis, return_info=True,
                                       callback=cb if iterative else None, threads=args.threads, **params,
                                       **_noise_params(args, sigma, img, x, xp))
            return _to_host(xp, out), info

        if img.volume and h.ndim == 2:  # a 2-D PSF on a stack: page by page
            pages = [run(page) for page in img.data]
            restored, info = np.stack([p[0] for p in pages]), pages[0][1]
        else:
            if h.ndim != img.data.ndim - (img.channel_axis is not None):
                raise ValueError(f"a {h.ndim}-D PSF does not fit a {'stack' if img.volume else '2-D image'}")
            restored, info = run(img.data)
        result.update(method=info.get("method"), psf_shape=list(h.shape))
        _write_result(args, rep, path, out_path, img, restored, inputs, result)
        jpeg = " (noise from the JPEG's quantisation tables)" if source in ("jpeg", "jpeg-detected") else ""
        rep.line(f"{path}: {info.get('method')} with a {'x'.join(map(str, h.shape))} PSF{jpeg}; "
                 f"{time.perf_counter() - t0:.1f} s -> {out_path}")

    return _for_each(args, "deconvolve", inputs, work)


def _simulate(args):
    from . import convolve

    kernel = _psf_from_spec(args.psf)
    if not (args.noise >= 0 and np.isfinite(args.noise)):
        raise UsageError(f"--noise must be >= 0, got {args.noise}")
    inputs = _expand(args.inputs)
    _check_outputs(args, inputs)
    rng = np.random.default_rng(args.seed)

    def work(path, result, rep):
        img = _read(args, path)
        out_path = _output_path(args, path, "-blurred", len(inputs), img=img)
        _guard_output(out_path, inputs, args.overwrite, rep, path)
        h = kernel.astype(img.data.dtype)
        spatial = img.data.ndim - (img.channel_axis is not None)
        if h.ndim == 2 and spatial == 3:
            blurred = np.stack([convolve(p, h, boundary="reflect", channel_axis=img.channel_axis, threads=args.threads)
                                for p in img.data])
        else:
            blurred = convolve(img.data, h, boundary="reflect", channel_axis=img.channel_axis, threads=args.threads)
        blurred = blurred + rng.normal(0.0, args.noise, blurred.shape).astype(blurred.dtype)
        if not img.float_data:
            blurred = np.clip(blurred, 0.0, 1.0)
        result.update(psf_shape=list(h.shape), noise=args.noise)
        _write_result(args, rep, path, out_path, img, blurred, inputs, result)
        rep.line(f"{path}: blurred with a {'x'.join(map(str, h.shape))} PSF, noise sigma {args.noise:g} -> {out_path}")

    return _for_each(args, "simulate", inputs, work)


def _estimate_psf_cmd(args):
    from . import estimate_psf, io

    inputs = _expand(args.inputs)
    _check_outputs(args, inputs)

    def work(path, result, rep):
        img = _read(args, path)
        if img.volume:
            raise ValueError("estimate-psf works on 2-D images")
        out_path = _output_path(args, path, "-psf", len(inputs), extension=None if args.format else ".png")
        _guard_outputs(args, out_path, inputs, rep, path)
        kernel, info = estimate_psf(img.data, model=args.model, size=args.size, channel_axis=img.channel_axis,
                                    return_info=True, threads=args.threads)
        # PNG/TIFF of integers hold the PSF scaled to a peak of 1 (unblur.psf.from_image and
        # --psf FILE normalise the sum again); .npy and float TIFF hold it as it is.
        ext = os.path.splitext(out_path)[1].lower()
        bits = args.bits if args.bits is not None else 16 if ext in (".png", ".tif", ".tiff") else None
        stored = kernel if ext == ".npy" or bits == 32 else kernel / kernel.max()
        io.write(out_path, stored.astype(np.float32), bits=bits, overwrite=args.overwrite)
        result.update(output=out_path, model=info["model"], params=info["params"], confidence=info["confidence"],
                      blur_found=info["blur_found"], psf_shape=list(kernel.shape))
        if args.picture:
            view = _second_output(args, out_path)
            _guard_output(view, inputs, args.overwrite, rep, path)
            _psf_picture(kernel).save(view)
            result["picture"] = view
        found = ", ".join(f"{k} {v:.2f}" for k, v in info["params"].items()) or "none"
        rep.line(f"{path}: {info['model']} ({found}), confidence {info['confidence']:.2f}, "
                 f"{kernel.shape[0]}x{kernel.shape[1]} -> {out_path}")

    return _for_each(args, "estimate-psf", inputs, work)


def _psf_picture(kernel):
    """The PSF enlarged by a whole factor (nearest neighbour, its longer side at least
    256 px), peak white, square-root scaled so that its faint tails show."""
    from PIL import Image

    k = kernel / kernel.max()
    scale = max(1, -(-256 // max(k.shape)))
    big = np.kron(k, np.ones((scale, scale)))
    return Image.fromarray(np.round(np.sqrt(np.clip(big, 0, 1)) * 255).astype(np.uint8))  # sqrt shows the tails


def _evaluate(args):
    from . import io, metrics

    ref_img = io.read(args.reference, linear=False)
    inputs = _expand(args.inputs)

    def work(path, result, rep):
        img = io.read(path, linear=False)  # scored in the files' own code values, as is usual
        if img.data.shape != ref_img.data.shape:
            raise ValueError(f"shape {img.data.shape} differs from the reference's {ref_img.data.shape}")
        data_range = 1.0 if not (img.float_data or ref_img.float_data) else None
        p = metrics.psnr(ref_img.data, img.data, data_range=data_range)
        kwargs = {"channel_axis": ref_img.channel_axis} if not ref_img.volume else {}
        s = metrics.ssim(ref_img.data, img.data, data_range=data_range, **kwargs)
        result.update(psnr=p, ssim=s)
        rep.line(f"{path}: PSNR {p:.2f} dB, SSIM {s:.4f}")

    return _for_each(args, "evaluate", inputs, work)


def _info(args):
    from . import info

    out = info()
    # Installed versions from the packages' metadata: importing onnxruntime or tensorrt
    # only to print a version would load their native libraries (seconds, and memory).
    import importlib.metadata as metadata

    for name, dist in (("tifffile", "tifffile"), ("PIL", "pillow"), ("tqdm", "tqdm"), ("onnxruntime", "onnxruntime"),
                       ("tensorrt", "tensorrt")):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = None
        if version is None and name == "onnxruntime":  # the GPU build's distribution name
            try:
                version = metadata.version("onnxruntime-gpu")
            except metadata.PackageNotFoundError:
                pass
        out.setdefault("python_packages", {})[name] = version
    print(json.dumps(out, indent=2, default=str))
    return 0


def _add_common(p, *, writes=True, suffix=None, computes=True):
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, globs (quote them) or folders")
    if writes:
        p.add_argument("-o", "--output", default=None, help=f"the output file (one input only); default "
                                                            f"INPUT{suffix}.EXT next to the input")
        p.add_argument("--output-dir", default=None, help="write the outputs into this (existing) folder")
        p.add_argument("--format", choices=("png", "jpg", "tif", "npy"), default=None,
                       help="output format (default: the input's; PNG for BMP, GIF, WebP...)")
        p.add_argument("--bits", type=int, choices=(8, 16, 32), default=None,
                       help="bits per sample (default: the input's; 32 = float, TIFF/.npy)")
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    if computes:  # (evaluate scores the files' code values, with no threaded work to tune)
        p.add_argument("--no-linear", action="store_true",
                       help="work on the sRGB code values instead of linear light (see unblur.io)")
        p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout, nothing else")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines or bars")


def _build_parser():
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

    rest = sub.add_parser("restore", help="estimate each image's blur and remove it (blind)")
    _add_common(rest, suffix="-restored")
    rest.add_argument("--model", choices=("auto", "gaussian", "defocus", "motion", "shake"), default="auto",
                      help="blur family (default: auto)")
    rest.add_argument("--size", type=int, default=None, help="largest kernel size in pixels (odd)")
    rest.add_argument("--method", choices=_METHODS, default="auto",
                      help="deconvolution method once the PSF is estimated (default: auto; pnp: plug-and-play "
                           "with the shipped learned denoiser)")
    rest.add_argument("--noise-sigma", type=float, default=None, metavar="SIGMA", help=_NOISE_HELP)
    rest.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where to compute (default cpu)")
    rest.add_argument("--compare", action="store_true", help="also write OUTPUT-compare.png (before | after)")
    rest.set_defaults(func=_restore)

    dec = sub.add_parser("deconvolve", help="remove a known blur")
    _add_common(dec, suffix="-deconvolved")
    dec.add_argument("--psf", required=True,
                     help="gaussian:sigma=2 | motion:length=21,angle=30 | disk:radius=4 | shake:extent=15,seed=1 | "
                          "airy:radius=2 | moffat:fwhm=3 | turbulence:d_over_r0=2 | a PSF image or .npy file")
    dec.add_argument("--method", choices=_METHODS, default="auto",
                     help="deconvolution method (default: auto; pnp: plug-and-play with the shipped learned "
                          "denoiser, 2-D images)")
    dec.add_argument("--boundary", choices=("auto", "periodic", "reflect"), default="auto",
                     help="edge model (default: auto, no ringing)")
    dec.add_argument("--iterations", type=int, default=None, help="iterations (rl, tv)")
    dec.add_argument("--noise-sigma", type=float, default=None, metavar="SIGMA", help=_NOISE_HELP)
    dec.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where to compute (default cpu)")
    dec.add_argument("--compare", action="store_true", help="also write OUTPUT-compare.png (before | after)")
    dec.set_defaults(func=_deconvolve_cmd)

    sim = sub.add_parser("simulate", help="blur and add noise to sharp images (test data)")
    _add_common(sim, suffix="-blurred")
    sim.add_argument("--psf", required=True, help="as for deconvolve")
    sim.add_argument("--noise", type=float, default=0.01, help="Gaussian noise sigma, in [0, 1] units (default 0.01)")
    sim.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sim.set_defaults(func=_simulate)

    est = sub.add_parser("estimate-psf", help="estimate each image's blur; write the PSF and print it")
    _add_common(est, suffix="-psf")
    est.add_argument("--model", choices=("auto", "gaussian", "defocus", "motion", "shake"), default="auto",
                     help="blur family (default: auto)")
    est.add_argument("--size", type=int, default=None, help="largest kernel size in pixels (odd)")
    est.add_argument("--picture", action="store_true", help="also write OUTPUT-view.png, the PSF enlarged")
    est.set_defaults(func=_estimate_psf_cmd)

    ev = sub.add_parser("evaluate", help="PSNR and SSIM of images against a reference",
                        description="PSNR and SSIM of each INPUT against --reference, on the files' own code "
                                    "values (sRGB files are not linearised), as is usual for these metrics.")
    _add_common(ev, writes=False, computes=False)
    ev.add_argument("--reference", required=True, help="the sharp reference image")
    ev.set_defaults(func=_evaluate)

    inf = sub.add_parser("info", help="show what this installation provides (threads, FFTW, CUDA, GPUs, packages)")
    inf.set_defaults(func=_info)
    return parser


def main(argv=None):
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "threads", None) is not None:
            from ._validate import MAX_THREADS

            if args.threads < 1:
                raise UsageError(f"--threads must be >= 1, got {args.threads}")
            if args.threads > MAX_THREADS:
                raise UsageError(f"--threads must be <= {MAX_THREADS}, got {args.threads}")
        # Numbers whose fault is the command line's, not a file's: said once, status 2.
        if getattr(args, "iterations", None) is not None and args.iterations < 1:
            raise UsageError(f"--iterations must be >= 1, got {args.iterations}")
        size = getattr(args, "size", None)
        if size is not None and (size < 3 or size % 2 == 0):
            raise UsageError(f"--size must be odd and >= 3, got {size}")
        return args.func(args)
    except UsageError as exc:
        parser.exit(2, f"unblur {args.command}: error: {exc}\n")
    except (ValueError, TypeError, OSError) as exc:  # bad parameters or files: one line, no traceback
        parser.exit(2, f"unblur {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"unblur {args.command}: interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
