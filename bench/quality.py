"""Deconvolution quality on real (non-periodic) photographs, default parameters.

Run:  python bench/quality.py [--size 256] [--images 6] [--methods ...]

Natural images shipped inside the scikit-image wheel are blurred the way a camera
blurs: a crop larger than the result by the PSF's halo is convolved and only the
*valid* part is kept, so nothing outside the frame is periodic or zero. Gaussian,
defocus (disk), linear-motion and camera-shake PSFs from unblur.psf; white noise of
sigma 0.01 and 0.03 (images in [0, 1]). Every unblur method runs with its default
parameters (no per-image tuning); scikit-image's richardson_lucy and wiener get the
best of a parameter grid per image, chosen against the ground truth (an advantage no
real user has). The table gives mean PSNR / SSIM per blur class and noise level, and
the border check: mean PSNR of the 16-pixel border band minus the interior's.

The JPEG track (``--jpeg QUALITY``): each noisy observation is stored as an 8-bit grey
JPEG of that quality (Pillow) and read back with unblur.io.read, in code values. The
methods that take a noise level (deconvolve, rl, tv, pnp) are given the one the file's
quantisation tables imply (unblur.io.jpeg_noise, as the command line does), or with
``--jpeg-noise own`` their automatic level, as they get it on an array (since session
22 the same tables, found in the pixels by unblur.io.detect_jpeg); wiener and tikhonov
have no such parameter and always run on their automatic level (which also finds the
tables since session 22). The "blurred" row is the JPEG.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time

import numpy as np


# scikit-image names that load a benchmark image under another name (data.cat is
# data.chelsea): never held out (tests/test_bench_held_out.py matches pixels, not names).
ALIASES = {"cat": "chelsea"}


def load_images(size, count, names=None):
    """The benchmark's first `count` images as grey float64 in [0, 1], or the scikit-image
    images `names` (bench/pnp_tuning.py's held-out set); `size` is cropped later (cases)."""
    from skimage import color, data

    names = names or ["camera", "astronaut", "coffee", "chelsea", "rocket", "moon", "coins", "page"][:count]
    out = []
    for name in names:
        img = getattr(data, name)()
        if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
            img = img[0]
        if img.ndim == 3:
            img = color.rgb2gray(img[..., :3])
        img = img.astype(np.float64)
        if img.max() > 1.0:
            img = img / 255.0
        out.append((name, img))
    return out


def psf_classes(draw=0):
    """The PSF of each class for image i. draw > 0 is another set of cases (held out
    from any tuning): other motion angles and shake trajectories."""
    import unblur

    return {
        "gaussian": lambda i: unblur.psf.gaussian(2.0),
        "defocus": lambda i: unblur.psf.disk(4.0),
        "motion": lambda i: unblur.psf.motion(15.0, motion_angle(i, draw)),
        "shake": lambda i: unblur.psf.shake(15.0, seed=100 + i + 1000 * draw),
    }


def motion_angle(i, draw=0):
    return (30.0 + 20.0 * i + 13.0 * draw) % 180.0


def valid_blur(img, psf, size, rng):
    """A centred (size + K - 1) crop convolved in 'valid' mode: the camera's model."""
    import scipy.signal

    kh, kw = psf.shape
    h, w = size + kh - 1, size + kw - 1
    top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    scene = img[top : top + h, left : left + w]
    blurred = scipy.signal.fftconvolve(scene, psf, mode="valid")
    truth = scene[kh // 2 : kh // 2 + size, kw // 2 : kw // 2 + size]
    return truth, blurred


def scores(truth, est, band=16):
    import unblur

    est = np.clip(est, 0.0, 1.0)
    p = unblur.metrics.psnr(truth, est, data_range=1.0)
    s = unblur.metrics.ssim(truth, est, data_range=1.0)
    mask = np.zeros(truth.shape, bool)
    mask[:band] = mask[-band:] = True
    mask[:, :band] = mask[:, -band:] = True
    mse_b = np.mean((truth[mask] - est[mask]) ** 2)
    mse_i = np.mean((truth[~mask] - est[~mask]) ** 2)
    border = 10 * np.log10(1 / max(mse_b, 1e-20)) - 10 * np.log10(1 / max(mse_i, 1e-20))
    return p, s, border


def quantise(observed, bits):
    """The observation as a `bits`-bit file stores it: clipped to [0, 1], rounded to
    multiples of 1 / (2**bits - 1) (0: unchanged, float)."""
    if not bits:
        return observed
    levels = 2**bits - 1
    return np.round(np.clip(observed, 0.0, 1.0) * levels) / levels


def jpeg_roundtrip(observed, quality, path):
    """The observation as an 8-bit grey JPEG of `quality` stores it (written to `path` by
    Pillow, read back by unblur.io.read in code values scaled to [0, 1]): (pixels as
    float64, the noise level its quantisation tables imply, unblur.io.jpeg_noise)."""
    from PIL import Image

    import unblur.io

    code = np.round(np.clip(observed, 0.0, 1.0) * 255.0).astype(np.uint8)  # a 2-D uint8 array: mode 'L'
    Image.fromarray(code).save(path, quality=quality)
    img = unblur.io.read(path, linear=False)
    return np.asarray(img.data, dtype=np.float64), float(unblur.io.jpeg_noise(img)[0])


def cases(images, classes, noises, size, draw=0, bits=0):
    """Every benchmark case: (noise, class, image index, image name, psf, truth, blurred),
    the same noise draw for a case in every track (draw > 0: other noise draws; bits > 0:
    the noisy observation quantised as a bits-bit file stores it)."""
    for noise in noises:
        for cname, make in classes.items():
            for i, (iname, img) in enumerate(images):
                psf = make(i)
                rng = np.random.default_rng(1000 * i + int(noise * 1e4) + 100000 * draw)
                truth, blurred = valid_blur(img, psf, size, rng)
                yield (noise, cname, i, iname, psf, truth,
                       quantise(blurred + rng.normal(0.0, noise, blurred.shape), bits))


def skimage_rl_best(blurred, psf, truth):
    from skimage import restoration

    best = None
    for n in (5, 10, 20, 40, 80):
        est = restoration.richardson_lucy(blurred, psf, num_iter=n, clip=False)
        sc = scores(truth, est)
        if best is None or sc[0] > best[0][0]:
            best = (sc, n)
    return best


def skimage_wiener_best(blurred, psf, truth):
    from skimage import restoration

    best = None
    for b in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1):
        est = restoration.wiener(blurred, psf, balance=b, clip=False)
        sc = scores(truth, est)
        if best is None or sc[0] > best[0][0]:
            best = (sc, b)
    return best


UNBLUR_METHODS = ("deconvolve", "wiener", "tikhonov", "rl", "tv", "pnp")
CLASSICAL = ("deconvolve", "wiener", "tikhonov", "rl", "tv")
# Not run by default: pnp_deconvolve with its other self-ensemble modes (pnp-mean takes
# about 7 times pnp's time), and without the last step's refinement (pnp-unrefined).
PNP_VARIANTS = ("pnp-none", "pnp-mean", "pnp-unrefined")
# The methods with a noise_sigma parameter (the JPEG track gives them the tables' level).
NOISE_METHODS = ("deconvolve", "rl", "tv", "pnp") + PNP_VARIANTS


def unblur_method(name):
    import unblur

    if name == "deconvolve":
        return lambda g, h, **kw: unblur.deconvolve(g, h, **kw)
    if name == "rl":
        return lambda g, h, **kw: unblur.richardson_lucy(g, h, **kw)
    if name == "tv":
        return lambda g, h, **kw: unblur.tv_deconvolve(g, h, **kw)
    if name == "pnp":
        return lambda g, h, **kw: unblur.pnp_deconvolve(g, h, **kw)
    if name == "pnp-unrefined":
        return lambda g, h, **kw: unblur.pnp_deconvolve(g, h, refine="none", **kw)
    if name in PNP_VARIANTS:
        mode = name.split("-", 1)[1]
        return lambda g, h, **kw: unblur.pnp_deconvolve(g, h, self_ensemble=mode, **kw)
    return lambda g, h, **kw: getattr(unblur, name)(g, h, **kw)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--methods", nargs="*", default=list(UNBLUR_METHODS), choices=UNBLUR_METHODS + PNP_VARIANTS,
                        metavar="METHOD",
                        help=f"of {', '.join(UNBLUR_METHODS + PNP_VARIANTS)} (default: all but the last three)")
    parser.add_argument("--noise", nargs="*", type=float, default=[0.01, 0.03])
    parser.add_argument("--blind", action="store_true",
                        help="the blind track: unblur.restore (PSF unknown) instead of the non-blind methods")
    def draw_number(text):
        value = int(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"--draw must be >= 0, got {value}")
        return value

    parser.add_argument("--pnp", action="store_true",
                        help="blind track: also deconvolve the estimated PSF with unblur.pnp_deconvolve")
    def bits_number(text):
        value = int(text)
        if not 0 <= value <= 16:
            raise argparse.ArgumentTypeError(f"--bits must be 0 (float) or 1..16, got {value}")
        return value

    parser.add_argument("--bits", type=bits_number, default=0,
                        help="quantise each noisy observation as a file of this many bits stores it "
                             "(clipped to [0, 1]; 8: an 8-bit PNG); 0 (default): float")
    def jpeg_quality(text):
        value = int(text)
        if not 1 <= value <= 100:
            raise argparse.ArgumentTypeError(f"--jpeg must be a quality 1..100, got {value}")
        return value

    parser.add_argument("--jpeg", type=jpeg_quality, default=None, metavar="QUALITY",
                        help="the JPEG track: store each noisy observation as an 8-bit grey JPEG of this quality "
                             "and read it back (not with --bits or --blind)")
    parser.add_argument("--jpeg-noise", choices=("tables", "own"), default="tables",
                        help="JPEG track: the methods with a noise_sigma get the level the file's quantisation "
                             "tables imply (unblur.io.jpeg_noise; default), or their automatic level ('own': "
                             "noise_sigma='auto', which finds the tables in the decoded pixels)")
    parser.add_argument("--draw", type=draw_number, default=0,
                        help="0: the standard cases; 1, 2, ...: other noise draws, motion angles and shake "
                             "trajectories (cases no constant was tuned on)")
    args = parser.parse_args(argv)
    if args.jpeg is not None and (args.bits or args.blind):
        parser.error("--jpeg stores 8-bit files itself: not with --bits or --blind")
    if args.blind:
        return blind_track(args)

    import unblur

    images = load_images(args.size, args.images)
    classes = psf_classes()
    rows = {}  # (method, class, noise) -> list of (psnr, ssim, border)
    seconds = {}
    t_start = time.perf_counter()
    folder = tempfile.TemporaryDirectory() if args.jpeg is not None else None
    levels = []  # JPEG track: (noise before compression, the tables' level)
    for noise, cname, i, iname, psf, truth, blurred in cases(images, classes, args.noise, args.size, bits=args.bits):
        kw = {}
        if folder is not None:
            blurred, level = jpeg_roundtrip(blurred, args.jpeg, os.path.join(folder.name, "case.jpg"))
            levels.append((noise, level))
            if args.jpeg_noise == "tables":
                kw = {"noise_sigma": level}
        rows.setdefault(("blurred", cname, noise), []).append(scores(truth, blurred))
        for m in args.methods:
            t0 = time.perf_counter()
            est = unblur_method(m)(blurred, psf, **(kw if m in NOISE_METHODS else {}))
            seconds[m] = seconds.get(m, 0.0) + time.perf_counter() - t0
            rows.setdefault((f"unblur.{m}", cname, noise), []).append(scores(truth, est))
        rows.setdefault(("skimage RL (tuned)", cname, noise), []).append(skimage_rl_best(blurred, psf, truth)[0])
        rows.setdefault(("skimage wiener (tuned)", cname, noise), []).append(
            skimage_wiener_best(blurred, psf, truth)[0])

    methods = ["blurred"] + [f"unblur.{m}" for m in args.methods] + ["skimage RL (tuned)", "skimage wiener (tuned)"]
    print(f"# unblur {unblur.__version__} quality benchmark, {datetime.date.today()}")
    print(f"# {len(images)} images ({', '.join(n for n, _ in images)}), {args.size}x{args.size}, valid-mode blur;"
          f" command: python bench/quality.py --size {args.size} --images {args.images}"
          + (f" --bits {args.bits}" if args.bits else "") + (f"; observations quantised to {args.bits} bits" if args.bits else "")
          + (f" --jpeg {args.jpeg} --jpeg-noise {args.jpeg_noise}" if folder is not None else ""))
    if folder is not None:
        folder.cleanup()
        told = [m for m in args.methods if m in NOISE_METHODS] if args.jpeg_noise == "tables" else []
        print(f"# JPEG track: observations stored as 8-bit grey JPEGs of quality {args.jpeg}; the 'blurred' row is "
              f"the JPEG; " + (f"{', '.join(told)} told the tables' level, " if told else "")
              + ("the others" if told else "every method") + " on its automatic level (which finds a decoded "
              "JPEG's tables)")
        for noise in args.noise:
            v = np.array([lv for n, lv in levels if n == noise])
            print(f"# noise {noise} before compression: the tables' level {v.mean():.4f} "
                  f"(min {v.min():.4f}, max {v.max():.4f})")
    for noise in args.noise:
        print(f"\n## noise sigma {noise}: mean PSNR dB / SSIM (border band - interior PSNR, dB)")
        header = f"{'method':26s}" + "".join(f"{c:>24s}" for c in classes) + f"{'all':>24s}"
        print(header)
        for m in methods:
            cells, allv = [], []
            for c in classes:
                v = np.array(rows[(m, c, noise)])
                allv.append(v)
                cells.append(f"{v[:, 0].mean():6.2f} / {v[:, 1].mean():.3f} ({v[:, 2].mean():+5.1f})")
            a = np.concatenate(allv)
            cells.append(f"{a[:, 0].mean():6.2f} / {a[:, 1].mean():.3f} ({a[:, 2].mean():+5.1f})")
            print(f"{m:26s}" + "".join(f"{c:>24s}" for c in cells))

    # The targets, on the mean over all blur classes.
    print("\n## targets (means over all blur classes)")
    ok_all = True
    for noise in args.noise:
        def mean_of(m, k):
            return float(np.mean([np.array(rows[(m, c, noise)])[:, k].mean() for c in classes]))

        sk_p = max(mean_of("skimage RL (tuned)", 0), mean_of("skimage wiener (tuned)", 0))
        sk_s = max(mean_of("skimage RL (tuned)", 1), mean_of("skimage wiener (tuned)", 1))
        bl = mean_of("blurred", 0)
        for m in args.methods:
            name = f"unblur.{m}"
            p, s, b = mean_of(name, 0), mean_of(name, 1), mean_of(name, 2)
            # The issue states the PSNR targets "at sigma 0.01"; SSIM and the border
            # check at every noise level. The strict reading (+3 dB over scikit-image at
            # every level) is printed too.
            checks = [s >= sk_s + 0.05, b >= -1.5]
            if noise == 0.01:
                checks += [p >= sk_p + 3.0, p >= bl + 3.5]
            ok = all(checks)
            strict = ok and p >= sk_p + 3.0
            if m == "deconvolve":
                ok_all &= ok
            verdict = "meets" if ok else "misses"
            if ok and not strict:
                verdict += f" (strict reading, +3 dB at every noise level: misses by {sk_p + 3.0 - p:.2f} dB)"
            print(f"noise {noise}: {name:18s} PSNR {p:6.2f} (skimage best {sk_p:6.2f}, {p - sk_p:+5.2f}; "
                  f"blurred {bl:6.2f}, {p - bl:+5.2f})  SSIM {s:.3f} ({s - sk_s:+.3f})  border {b:+5.2f} dB"
                  f"  -> {verdict}")
    if "pnp" in args.methods:
        print("\n## plug-and-play (issue 8): unblur.pnp_deconvolve against the best classical unblur method "
              "(default parameters), mean PSNR over all cases")
        for noise in args.noise:
            def mean_psnr(m):
                return float(np.mean([np.array(rows[(m, c, noise)])[:, 0].mean() for c in classes]))

            classical = [m for m in args.methods if m in CLASSICAL]
            if not classical:
                continue
            best = max(classical, key=lambda m: mean_psnr(f"unblur.{m}"))
            p, q = mean_psnr("unblur.pnp"), mean_psnr(f"unblur.{best}")
            target, goal = {0.01: (0.7, 1.0), 0.03: (1.0, 1.5)}.get(noise, (None, None))
            verdict = "" if target is None else (f"(target +{target}, goal +{goal}) -> "
                                                 f"{'meets' if p - q >= target else 'misses'}")
            print(f"noise {noise}: pnp {p:6.2f} dB vs unblur.{best} {q:6.2f} dB: {p - q:+.2f} dB {verdict}")
        scene = load_images(512, 1)[0][1][:512, :512]  # camera, 512 x 512
        psf = unblur.psf.gaussian(2.0)
        k = psf.shape[0] // 2
        g = unblur.convolve(scene, psf, boundary="reflect")
        g = g + np.random.default_rng(0).normal(0, 0.01, g.shape)
        unblur.pnp_deconvolve(g[:64, :64], psf)  # loads the model
        t0 = time.perf_counter()
        unblur.pnp_deconvolve(g, psf)
        dt = time.perf_counter() - t0
        print(f"pnp_deconvolve of a {g.shape[0]}x{g.shape[1]} grey image (Gaussian PSF {psf.shape[0]}x{psf.shape[1]}, "
              f"{k} px halo): {dt:.2f} s (target <= 10 s on the 2-core machine) -> {'meets' if dt <= 10 else 'misses'}")
    print("\nseconds per method (all cases): " + ", ".join(f"{m} {t:.1f}" for m, t in seconds.items()))
    print(f"total {time.perf_counter() - t_start:.0f} s")
    return 0 if ok_all else 1


# The parameters behind each class's PSF (psf_classes), for the blind track's errors.
TRUE_PARAMETERS = {
    "gaussian": lambda i, draw=0: ("gaussian", {"sigma": 2.0}),
    "defocus": lambda i, draw=0: ("defocus", {"radius": 4.0}),
    "motion": lambda i, draw=0: ("motion", {"length": 15.0, "angle": motion_angle(i, draw)}),
    "shake": lambda i, draw=0: ("shake", {}),
}


def parameter_ok(family, truth, info):
    """Within 10% (sigma, radius, length) and 5 degrees (angle), with the right model."""
    if info["model"] != family:
        return False
    est = info["params"]
    for name, value in truth.items():
        if name == "angle":
            if abs((est[name] - value + 90.0) % 180.0 - 90.0) > 5.0:
                return False
        elif abs(est[name] / value - 1.0) > 0.1:
            return False
    return True


def blind_track(args):
    """unblur.restore with no PSF against the blurred input and against non-blind
    deconvolution with the true PSF; errors of the estimated parameters; a sharp input;
    the time of estimate + restore on a 512 x 512 image."""
    import unblur

    images = load_images(args.size, args.images)
    classes = psf_classes(args.draw)
    rows = {}
    params = []  # (noise, class, image, truth, estimate info, ok)
    t_start = time.perf_counter()
    for noise, cname, i, iname, psf, truth, blurred in cases(images, classes, args.noise, args.size, args.draw, args.bits):
        rows.setdefault(("blurred", cname, noise), []).append(scores(truth, blurred))
        rows.setdefault(("non-blind, true PSF", cname, noise), []).append(
            scores(truth, unblur.deconvolve(blurred, psf)))
        restored, info = unblur.restore(blurred, return_info=True)
        rows.setdefault(("unblur.restore", cname, noise), []).append(scores(truth, restored))
        if args.pnp:  # the same estimated PSF, deconvolved by plug-and-play
            pnp = (unblur.pnp_deconvolve(blurred, info["psf"]) if info["estimate"]["blur_found"]
                   else restored)
            rows.setdefault(("restore, method='pnp'", cname, noise), []).append(scores(truth, pnp))
        if cname == "shake":  # the non-parametric estimator, told the kernel size
            shaken = unblur.restore(blurred, model="shake", size=21)
            rows.setdefault(("restore shake, size 21", cname, noise), []).append(scores(truth, shaken))
        family, true_params = TRUE_PARAMETERS[cname](i, args.draw)
        est = info["estimate"]
        ok = parameter_ok(family, true_params, est) if true_params else None
        params.append((noise, cname, iname, true_params, est, ok))

    print(f"# unblur {unblur.__version__} quality benchmark, blind track, {datetime.date.today()}")
    print(f"# {len(images)} images ({', '.join(n for n, _ in images)}), {args.size}x{args.size}, valid-mode blur;"
          f" command: python bench/quality.py --blind --size {args.size} --images {args.images} --draw {args.draw}"
          + (f" --bits {args.bits}" if args.bits else ""))
    methods = ["blurred", "unblur.restore", "restore shake, size 21", "non-blind, true PSF"]
    if args.pnp:
        methods.insert(2, "restore, method='pnp'")
    for noise in args.noise:
        print(f"\n## noise sigma {noise}: mean PSNR dB / SSIM")
        print(f"{'method':26s}" + "".join(f"{c:>17s}" for c in classes) + f"{'all':>17s}")
        for m in methods:
            cells = []
            for c in classes:
                v = np.array(rows.get((m, c, noise), np.full((1, 3), np.nan)))
                cells.append(f"{v[:, 0].mean():6.2f} / {v[:, 1].mean():.3f}")
            a = np.concatenate([np.array(rows.get((m, c, noise), np.full((1, 3), np.nan))) for c in classes])
            cells.append(f"{a[:, 0].mean():6.2f} / {a[:, 1].mean():.3f}")
            print(f"{m:26s}" + "".join(f"{c:>17s}" for c in cells))

    print("\n## estimated blur (truth -> estimate; ok = right model, within 10% and 5 degrees)")
    for noise, cname, iname, truth, est, ok in params:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in est["params"].items()) or "no blur"
        want = ", ".join(f"{k} {v:g}" for k, v in truth.items()) or "(non-parametric)"
        flag = "" if ok is None else ("ok" if ok else "MISS")
        print(f"noise {noise:<5g} {cname:9s} {iname:10s} {want:28s} -> {est['model']:8s} {shown:30s} "
              f"confidence {est['confidence']:.2f}  {flag}")

    print("\n## targets")
    ok_all = True
    low = min(args.noise)
    judged = [p for p in params if p[0] == low and p[5] is not None]
    frac = np.mean([p[5] for p in judged]) if judged else float("nan")
    ok_all &= frac >= 0.9
    print(f"parametric estimates right at noise {low}: {sum(p[5] for p in judged)}/{len(judged)} = {frac:.0%} "
          f"(target >= 90%)  -> {'meets' if frac >= 0.9 else 'misses'}")

    def mean_psnr(m, noise):
        return float(np.mean(np.concatenate([np.array(rows[(m, c, noise)])[:, 0] for c in classes])))

    if args.pnp:
        for noise in args.noise:
            r, p = mean_psnr("unblur.restore", noise), mean_psnr("restore, method='pnp'", noise)
            print(f"noise {noise}: restore with PnP {p:.2f} dB vs restore (default method) {r:.2f} dB: {p - r:+.2f} dB "
                  f"(issue 8 target >= +0.5) -> {'meets' if p - r >= 0.5 else 'misses'}")
    r, b, n = mean_psnr("unblur.restore", low), mean_psnr("blurred", low), mean_psnr("non-blind, true PSF", low)
    ok1, ok2 = r >= b + 2.5, r >= n - 2.0
    ok_all &= ok1 and ok2
    print(f"noise {low}: restore {r:.2f} dB vs blurred {b:.2f} ({r - b:+.2f}, target >= +2.5) -> "
          f"{'meets' if ok1 else 'misses'}; vs non-blind with the true PSF {n:.2f} ({r - n:+.2f}, target >= -2, "
          f"goal -1) -> {'meets' if ok2 else 'misses'}")
    sharp = images[0][1]
    top, left = (sharp.shape[0] - args.size) // 2, (sharp.shape[1] - args.size) // 2
    sharp = sharp[top:top + args.size, left:left + args.size]
    back, sinfo = unblur.restore(sharp, return_info=True)
    p_sharp = float(unblur.metrics.psnr(sharp, np.clip(back, 0, 1), data_range=1.0)) if np.any(back != sharp) \
        else float("inf")
    ok_all &= p_sharp >= 40
    print(f"sharp input ({images[0][0]}): restore finds {sinfo['estimate']['model']!r}, PSNR against itself "
          f"{p_sharp:.1f} dB (target >= 40) -> {'meets' if p_sharp >= 40 else 'misses'}")
    import scipy.signal

    big = load_images(512, 2)[1][1]  # astronaut, 512 x 512 (timing only: 'same'-mode blur keeps the size)
    rng = np.random.default_rng(7)
    g512 = scipy.signal.fftconvolve(big, unblur.psf.motion(15.0, 30.0), mode="same")
    g512 = g512 + rng.normal(0.0, 0.01, g512.shape)
    assert g512.shape == (512, 512)
    t0 = time.perf_counter()
    unblur.restore(g512)
    t512 = time.perf_counter() - t0
    ok_all &= t512 <= 10
    print(f"estimate + restore, 512x512 grey (astronaut), motion blur: {t512:.2f} s on {unblur.get_threads()} threads "
          f"(target <= 10 s) -> {'meets' if t512 <= 10 else 'misses'}")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
