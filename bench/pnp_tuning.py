"""Tuning the plug-and-play schedule (issue 8) on HELD-OUT images, never the benchmark's.

Run:  PYTHONPATH=python python bench/pnp_tuning.py [--configs ...] [--set tune|full] [--benchmark]

The NumPy prototype of unblur.pnp_deconvolve's HQS deblurring (the masked CG data step on the extended
grid, the shipped denoiser), with its schedule made a parameter, scored against
unblur.deconvolve (TV) on bench/quality.py's cases built from other scikit-image images
(no download): the same valid blur, centred crops, PSF classes, noise draws and levels.
The benchmark's own images (camera, astronaut, coffee, chelsea, rocket, moon) are never
used for tuning; --benchmark runs one chosen schedule on them once, as a check.

A configuration is a string of key=value pairs (defaults in brackets):
  it    iterations [8]
  lam   alpha scale, alpha_k = lam * sigma^2 / sigma_k^2 [0.23]
  s0    starting denoiser sigma, in 1/255 units, or 'xM' for M times the noise [49]
  end   final denoiser sigma as a multiple of the noise [1.0]
  corr  factor applied to unblur.estimate_noise(blurred) [1.0]
  lp    lam *= (sigma / 0.01) ** lp  (a noise-dependent lam) [0]
  cg    CG iteration cap [30]
  tol   CG relative residual^2 tolerance [1e-10]
  true  1: use the true noise sigma instead of the estimate (an oracle, for reference) [0]
  ens   self-ensemble of the LAST denoising step only: the mean over `ens` of the 8
        flips/rotations (1: none, 8: DPIR's x8, on the final step alone) [1]
  cyc   1: denoising step k sees the (k mod 8)-th flip/rotation of its input, undone
        after (DPIR's x8 for deblurring: no extra denoiser calls) [0]
  ds    the denoiser is told ds * sigma_k (its strength; alpha_k keeps sigma_k) [1.0]
  init  0: z_0 is the observation (edge-padded onto the grid); 1: unblur.deconvolve's TV
        result (edge-padded), the start for a lower s0 [0]
  rs    restarts: the schedule run `rs` more times from the last estimate, each from
        denoiser sigma rs0 (1/255 units) down to the noise in rsit steps [0]
  rs0   [15]
  rsit  [4]
  avg   the result is the mean of the last `avg` denoiser outputs (1: the last one) [1]

Per-case PSNRs are cached in /tmp/pnp-tune/results.json (TV's too; the environment variable
PNP_TUNE_CACHE names another folder, one per concurrent run), so re-running only
computes what is missing. Without --configs the script prints the whole table of the
configurations tried (a full recomputation takes about 40 minutes on 1 core).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality as q  # noqa: E402
import unblur  # noqa: E402
import unblur.models  # noqa: E402
from unblur._pnp import _orient, _unorient  # noqa: E402

CACHE_DIR = os.environ.get("PNP_TUNE_CACHE", "/tmp/pnp-tune")  # one per concurrent run
CACHE = os.path.join(CACHE_DIR, "results.json")
BENCHMARK = ("camera", "astronaut", "coffee", "chelsea", "rocket", "moon")
# Held-out images (all bundled with scikit-image, large enough for a 256 + K - 1 crop).
# Until 2026-12-07 the third was "cat", which is skimage.data.chelsea under another name
# (a benchmark image): retina took its place; tests/test_bench_held_out.py checks that no
# held-out image contains a patch of a benchmark image.
TUNE = ("coins", "clock", "retina", "brick", "immunohistochemistry", "stereo_motorcycle")
EXTRA = ("gravel", "grass", "cell", "hubble_deep_field")
NOISES = (0.01, 0.03)

DEFAULTS = dict(it=8, lam=0.23, s0="49", end=1.0, corr=1.0, lp=0.0, cg=30, tol=1e-10, true=0, ens=1, cyc=0, ds=1.0, init=0,
                rs=0, rs0=15.0, rsit=4, avg=1)
INTEGER_KEYS = ("it", "cg", "true", "ens", "cyc", "init", "rs", "rsit", "avg")

# Every configuration tried, in order (the table printed without --configs).
CONFIGS = [
    "it=8,lam=0.23",  # the prototype (DPIR's schedule)
    "it=8,lam=0.1",
    "it=8,lam=0.5",
    "it=8,lam=0.17",
    "it=8,lam=0.32",
    "it=8,lam=0.23,s0=25",
    "it=8,lam=0.23,end=0.7",
    "it=8,lam=0.23,end=1.4",
    "it=16,lam=0.23",
    "it=8,lam=0.17,lp=0.275",  # lam 0.17 at noise 0.01, 0.23 at 0.03
    "it=8,lam=0.17,lp=0.275,ens=8",  # + x8 self-ensemble of the final denoising step
    "it=8,lam=0.23,cyc=1",  # DPIR's schedule, each step's denoiser on another flip/rotation
    # Session 14, with the shipped soup model (bench/RESULTS.md): none gains at 0.03.
    "it=8,lam=0.23,cyc=1,ds=0.85",  # the denoiser told less noise than sigma_k
    "it=8,lam=0.23,cyc=1,ds=1.15",
    "it=8,lam=0.23,cyc=1,init=1",  # start from TV's result
    "it=8,lam=0.23,cyc=1,init=1,s0=25",
    "it=8,lam=0.23,cyc=1,init=1,s0=12",
    "it=8,lam=0.23,cyc=1,avg=2",  # the mean of the last denoiser outputs
    "it=8,lam=0.23,cyc=1,avg=4",
    "it=8,lam=0.23,cyc=1,rs=1",  # a second, shorter pass from the result
    # Session 16, with the model trained through PnP (shipped in session 15): lam, the
    # number of steps and the start again; within 0.02 dB of the default at 0.03.
    "it=8,lam=0.2,cyc=1",
    "it=8,lam=0.27,cyc=1",
    "it=8,lam=0.32,cyc=1",
    "it=8,lam=0.4,cyc=1",
    "it=6,lam=0.23,cyc=1",
    "it=11,lam=0.23,cyc=1",
    "it=8,lam=0.23,cyc=1,s0=35",
    "it=8,lam=0.23,cyc=1,s0=70",
    "it=8,lam=0.23,cyc=1,ens=8",  # the cycle, and all 8 orientations at the last step
]
CHOSEN = "it=8,lam=0.17,lp=0.275,ens=8"


def parse(cfg):
    p = dict(DEFAULTS)
    for item in filter(None, cfg.split(",")):
        k, v = item.split("=")
        if k not in p:
            raise ValueError(f"unknown key {k!r} in {cfg!r}")
        p[k] = v if k == "s0" else int(float(v)) if k in INTEGER_KEYS else float(v)
    for k, low in (("avg", 1), ("rsit", 1), ("rs", 0)):
        if p[k] < low:
            raise ValueError(f"{k} must be >= {low} in {cfg!r}, got {p[k]}")
    if not p["ds"] > 0:
        raise ValueError(f"ds must be > 0 in {cfg!r}, got {p['ds']}")
    return p


def load(names):
    return q.load_images(None, None, names)


def pnp(den, g, psf, sigma_n, p, both=False):
    """The prototype's HQS loop with the schedule as parameters (the data step unchanged).
    both=True (with ens > 1): also the result without the ensemble (its identity member)."""
    kh, kw = psf.shape
    n0, n1 = g.shape
    e0, e1 = ((n0 + kh - 1 + 7) // 8) * 8, ((n1 + kw - 1 + 7) // 8) * 8
    r0, c0 = kh // 2, kw // 2
    otf = unblur.fft.psf2otf(psf.astype(np.float64), (e0, e1))
    h2 = np.abs(otf) ** 2

    def conv(x, o):
        return np.fft.irfft2(o * np.fft.rfft2(x), s=(e0, e1))

    mask = np.zeros((e0, e1))
    mask[r0:r0 + n0, c0:c0 + n1] = 1
    g_grid = np.zeros((e0, e1))
    g_grid[r0:r0 + n0, c0:c0 + n1] = g
    atg = conv(g_grid, np.conj(otf))
    sig = max(sigma_n, 0.5 / 255)
    lam = p["lam"] * (sig / 0.01) ** p["lp"]
    s0 = p["s0"]
    start = sig * float(s0[1:]) if s0.startswith("x") else float(s0) / 255
    stop = sig * p["end"]
    start = max(start, stop)
    start_image = unblur.deconvolve(g, psf) if p["init"] else g
    z = np.pad(start_image, ((r0, e0 - n0 - r0), (c0, e1 - n1 - c0)), mode="edge").astype(np.float64)
    x = z.copy()
    plain = None
    sigmas = list(np.geomspace(start, stop, p["it"]))
    for _ in range(p["rs"]):
        sigmas += list(np.geomspace(max(p["rs0"] / 255, stop), stop, p["rsit"]))
    outputs = []
    for k, s in enumerate(sigmas):
        alpha = lam * sig**2 / s**2

        def normal(v, alpha=alpha):
            return conv(mask * conv(v, otf), np.conj(otf)) + alpha * v

        def precondition(r, alpha=alpha):
            return np.fft.irfft2(np.fft.rfft2(r) / (h2 + alpha), s=(e0, e1))

        b = atg + alpha * z
        r = b - normal(x)
        pp = precondition(r)
        rz, bb = np.sum(r * pp), np.sum(b * b)
        for _ in range(p["cg"]):
            ap = normal(pp)
            step = rz / np.sum(pp * ap)
            x = x + step * pp
            r = r - step * ap
            if np.sum(r * r) < p["tol"] * bb:
                break
            zr = precondition(r)
            rz_new = np.sum(r * zr)
            pp = zr + rz_new / rz * pp
            rz = rz_new
        sd = float(s) * p["ds"]  # the sigma the denoiser is told
        if k == len(sigmas) - 1 and p["ens"] > 1:
            z, plain = ensemble(den, x, sd, p["ens"])
        elif p["cyc"]:
            z = _unorient(den(np.ascontiguousarray(_orient(x, k % 8, np), dtype=np.float32), sd), k % 8, np)
            z = z.astype(np.float64)
        else:
            z = den(x.astype(np.float32), sd).astype(np.float64)
        outputs = (outputs + [z])[-p["avg"]:]
    if p["avg"] > 1:
        z = sum(outputs) / len(outputs)
    if both:
        plain = z if plain is None else plain
        return z[r0:r0 + n0, c0:c0 + n1], plain[r0:r0 + n0, c0:c0 + n1]
    return z[r0:r0 + n0, c0:c0 + n1]


def ensemble(den, x, s, n):
    """Mean of the denoiser over the first n of the 8 flips/rotations (each undone)."""
    acc, first = np.zeros_like(x), None
    for t in range(n):
        v = _orient(x, t, np)
        d = _unorient(den(np.ascontiguousarray(v, dtype=np.float32), s).astype(np.float64), t, np)
        first = d if first is None else first
        acc += d
    return acc / n, first


def all_cases(names, noises=NOISES):
    """bench/quality.py's cases (valid blur, its crops, PSFs and noise draws) on `names`."""
    images = load(names)
    for noise, cname, _i, iname, psf, truth, blurred in q.cases(images, q.psf_classes(), list(noises), 256):
        yield f"{iname}|{cname}|{noise}", noise, cname, psf, truth, blurred


def read_cache():
    if os.path.exists(CACHE):
        with open(CACHE) as f:
            return json.load(f)
    return {}


def write_cache(cache):
    os.makedirs(CACHE_DIR, exist_ok=True)
    tmp = CACHE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(cache, f)
    os.replace(tmp, CACHE)


def evaluate(cfgs, names, noises, cache, den):
    """Fill the cache: per case TV's PSNR, the estimated noise, each config's PSNR and seconds."""
    cases = list(all_cases(names, noises))
    for key, noise, cname, psf, truth, blurred in cases:
        if key not in cache.setdefault("tv", {}):
            cache["tv"][key] = float(q.scores(truth, unblur.deconvolve(blurred, psf))[0])
            cache.setdefault("est", {})[key] = float(unblur.estimate_noise(blurred))
    write_cache(cache)
    for cfg in cfgs:
        p = parse(cfg)
        done = cache.setdefault(cfg, {})
        twin = ",".join(i for i in cfg.split(",") if not i.startswith("ens="))
        twin_done = cache.setdefault(twin, {}) if twin != cfg else {}
        todo = [c for c in cases if c[0] not in done]
        if not todo:
            continue
        t_cfg = time.perf_counter()
        for key, noise, cname, psf, truth, blurred in todo:
            sigma = noise if p["true"] else cache["est"][key] * p["corr"]
            t = time.perf_counter()
            est, plain = pnp(den, blurred, psf, sigma, p, both=True)
            dt = time.perf_counter() - t
            done[key] = [float(q.scores(truth, est)[0]), dt]
            if twin != cfg and key not in twin_done:  # seconds: of the whole ensemble run
                twin_done[key] = [float(q.scores(truth, plain)[0]), dt * p["it"] / (p["it"] + p["ens"] - 1)]
        write_cache(cache)
        print(f"  [{cfg}: {len(todo)} cases in {time.perf_counter() - t_cfg:.0f} s]", flush=True)


def table(cfgs, names, noises, cache, title):
    keys = {n: [f"{i}|{c}|{n}" for i in names for c in q.psf_classes()] for n in noises}
    print(f"\n# {title}: mean PSNR gain of PnP over unblur.deconvolve (TV), dB; {len(names)} images "
          f"({', '.join(names)}) x 4 PSFs, 256x256, valid blur")
    head = "".join(f"{f'noise {n}':>12s}" for n in noises)
    print(f"{'configuration':58s}{head}{'worst case':>12s}{'s/case':>8s}")
    tv = cache["tv"]
    for cfg in cfgs:
        res = cache.get(cfg, {})
        if not all(k in res for ks in keys.values() for k in ks):
            continue
        cells, worst, secs = [], [], []
        for n in noises:
            d = np.array([res[k][0] - tv[k] for k in keys[n]])
            cells.append(f"{d.mean():+12.2f}")
            worst.append(d.min())
            secs += [res[k][1] for k in keys[n]]
        print(f"{cfg:58s}{''.join(cells)}{min(worst):+12.2f}{np.mean(secs):8.2f}")


def noise_report(names, noises, cache):
    print("\n# unblur.estimate_noise(blurred) / true noise sigma, per PSF class (mean, [min, max])")
    for n in noises:
        cells = []
        for c in q.psf_classes():
            r = np.array([cache["est"][f"{i}|{c}|{n}"] / n for i in names])
            cells.append(f"{c} {r.mean():.3f} [{r.min():.2f}, {r.max():.2f}]")
        r = np.array([cache["est"][f"{i}|{c}|{n}"] / n for i in names for c in q.psf_classes()])
        print(f"noise {n}: " + "; ".join(cells) + f"; all {r.mean():.3f}")


def benchmark(cfg, den):
    """The one held-out check on bench/quality.py's own cases."""
    images = q.load_images(256, 6)
    assert tuple(n for n, _ in images) == BENCHMARK
    p = parse(cfg)
    res, res_plain, seconds = {}, {}, []
    for noise, cname, _i, _name, psf, truth, blurred in q.cases(images, q.psf_classes(), list(NOISES), 256):
        sigma = unblur.estimate_noise(blurred) * p["corr"]
        t = time.perf_counter()
        est, plain = pnp(den, blurred, psf, sigma, p, both=True)
        seconds.append(time.perf_counter() - t)
        tv = q.scores(truth, unblur.deconvolve(blurred, psf))[0]
        res.setdefault((noise, cname), []).append((q.scores(truth, est)[0], tv))
        res_plain.setdefault((noise, cname), []).append((q.scores(truth, plain)[0], tv))
    if p["ens"] > 1:
        print("\n# benchmark check, the same run without the final-step ensemble (its identity member)")
        for noise in NOISES:
            v = np.array([x for (n, _c), cs in res_plain.items() if n == noise for x in cs])
            print(f"noise {noise:.2f} all       PnP {v[:, 0].mean():6.2f}  TV {v[:, 1].mean():6.2f}  "
                  f"gain {(v[:, 0] - v[:, 1]).mean():+.2f} dB")
    print(f"\n# benchmark check (bench/quality.py's 6 images), schedule {cfg}")
    for (noise, cname), v in sorted(res.items()):
        v = np.array(v)
        print(f"noise {noise:.2f} {cname:9s} PnP {v[:, 0].mean():6.2f}  TV {v[:, 1].mean():6.2f}  "
              f"gain {(v[:, 0] - v[:, 1]).mean():+.2f} dB")
    for noise in NOISES:
        v = np.array([x for (n, _c), cs in res.items() if n == noise for x in cs])
        print(f"noise {noise:.2f} all       PnP {v[:, 0].mean():6.2f}  TV {v[:, 1].mean():6.2f}  "
              f"gain {(v[:, 0] - v[:, 1]).mean():+.2f} dB")
    print(f"PnP seconds per 256x256 case: {np.mean(seconds):.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="*", help="configurations to run (default: the table of all tried)")
    ap.add_argument("--set", choices=("tune", "full"), default="tune",
                    help="tune: the 6 tuning images; full: also " + ", ".join(EXTRA))
    ap.add_argument("--noise", nargs="*", type=float, default=list(NOISES))
    ap.add_argument("--benchmark", action="store_true", help="run CHOSEN once on the benchmark's images")
    ap.add_argument("--noise-report", action="store_true")
    args = ap.parse_args(argv)
    names = TUNE if args.set == "tune" else TUNE + EXTRA
    assert not set(names) & (set(BENCHMARK) | set(q.ALIASES))
    den = unblur.models.denoiser()
    cache = read_cache()
    if args.benchmark:
        benchmark(CHOSEN, den)
        return 0
    cfgs = args.configs if args.configs else CONFIGS
    evaluate(cfgs, names, args.noise, cache, den)
    if args.noise_report or not args.configs:
        noise_report(names, args.noise, cache)
    table(cfgs, names, args.noise, cache, f"held-out set '{args.set}'")
    if not args.configs and args.set == "tune":
        evaluate([CHOSEN, CONFIGS[0]], TUNE + EXTRA, args.noise, cache, den)
        table([CONFIGS[0], CHOSEN], TUNE + EXTRA, args.noise, cache, "held-out set 'full'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
