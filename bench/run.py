"""unblur core benchmarks: each target timed against its anchor in the same run.

Run:  ./dev.sh bench            (or: python bench/run.py [--repeat N] [--size N])

Prints, per target, the best-of-N wall time of unblur and of its anchor on the same
data and the ratio anchor / unblur (> 1 means unblur is faster), and checks that the
two results agree, so a fast wrong answer cannot pass. Absolute times vary between
runs on shared machines; only the ratios measured in one run are meaningful.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time

import numpy as np
from _timing import best_time, machine


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args(argv)

    import scipy
    import scipy.ndimage
    import scipy.signal
    import unblur

    n = args.size
    rng = np.random.default_rng(0)
    image = rng.random((n, n), dtype=np.float32)
    kernel = unblur.psf.gaussian(5.0, size=31).astype(np.float32)
    print(f"# unblur {unblur.__version__} core benchmarks, {datetime.date.today()}")
    print(f"# machine: {machine()}; unblur threads: {unblur.get_threads()}; "
          f"numpy {np.__version__}, scipy {scipy.__version__}")
    print(f"# command: python bench/run.py --repeat {args.repeat} --size {n}")
    rows = []

    # 1. FFT convolution, same-size output, zero boundary, vs scipy.signal.fftconvolve.
    ours = lambda: unblur.convolve(image, kernel, mode="same", method="fft")  # noqa: E731
    ref = lambda: scipy.signal.fftconvolve(image, kernel, mode="same")  # noqa: E731
    err = float(np.abs(ours() - ref()).max())
    t_u, t_r = best_time(ours, args.repeat), best_time(ref, args.repeat)
    rows.append((f"convolve fft {n}x{n} f32, 31x31, same", "scipy.signal.fftconvolve", t_u, t_r, 2.0, err))
    one = lambda: unblur.convolve(image, kernel, mode="same", method="fft", threads=1)  # noqa: E731
    rows.append(("  same, unblur on 1 thread (for reference)", "scipy.signal.fftconvolve",
                 best_time(one, args.repeat), t_r, None, float(np.abs(one() - ref()).max())))

    # 2. Gaussian filter, sigma 2, reflect, truncate 4, vs scipy.ndimage.gaussian_filter.
    ours = lambda: unblur.gaussian_filter(image, 2.0, mode="reflect", truncate=4.0)  # noqa: E731
    ref = lambda: scipy.ndimage.gaussian_filter(image, 2.0, mode="reflect", truncate=4.0)  # noqa: E731
    err = float(np.abs(ours() - ref()).max())
    t_u, t_r = best_time(ours, args.repeat), best_time(ref, args.repeat)
    rows.append((f"gaussian_filter {n}x{n} f32, sigma 2", "scipy.ndimage.gaussian_filter", t_u, t_r, 2.0, err))
    one = lambda: unblur.gaussian_filter(image, 2.0, mode="reflect", truncate=4.0, threads=1)  # noqa: E731
    rows.append(("  sigma 2, unblur on 1 thread (for reference)", "scipy.ndimage.gaussian_filter",
                 best_time(one, args.repeat), t_r, None, float(np.abs(one() - ref()).max())))

    print()
    print(f"{'target':42s} {'anchor':30s} {'unblur s':>9s} {'anchor s':>9s} {'ratio':>7s} {'need':>5s} "
          f"{'max|diff|':>9s}  ok")
    ok_all = True
    for name, anchor, t_u, t_r, need, err in rows:
        ratio = t_r / t_u
        ok = (need is None or ratio >= need) and err < 1e-4
        ok_all &= ok
        need_text = "-" if need is None else f"{need:.1f}"
        print(f"{name:42s} {anchor:30s} {t_u:9.4f} {t_r:9.4f} {ratio:7.2f} {need_text:>5s} {err:9.2e}  "
              f"{'yes' if ok else 'NO'}")

    # 3. Plan reuse: the first transform of a new shape plans (FFTW_MEASURE); later
    # calls of that shape take the plan from the cache and plan nothing.
    shape = (n + 52, n)  # a shape no target above has planned (fast size 2100 x 2048)
    x = rng.random(shape, dtype=np.float32)
    s0 = unblur.fft.plan_cache_stats()
    t0 = time.perf_counter()
    unblur.fft.rfftn(x)
    first = time.perf_counter() - t0
    s1 = unblur.fft.plan_cache_stats()
    later = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        unblur.fft.rfftn(x)
        later.append(time.perf_counter() - t0)
    s2 = unblur.fft.plan_cache_stats()
    plans_first, plans_later = s1["misses"] - s0["misses"], s2["misses"] - s1["misses"]
    plan_s_first = s1["planning_seconds"] - s0["planning_seconds"]
    plan_s_later = s2["planning_seconds"] - s1["planning_seconds"]
    ok = plans_first == 1 and plans_later == 0 and plan_s_later == 0.0 and s2["hits"] - s1["hits"] == args.repeat
    ok_all &= ok
    print()
    print(f"plan reuse, rfftn {shape[0]}x{shape[1]} f32 (a new shape):")
    print(f"  first call        {first:8.4f} s, plans made {plans_first}, planning {plan_s_first:.4f} s")
    print(f"  next {args.repeat} calls (best) {min(later):8.4f} s, plans made {plans_later}, "
          f"planning {plan_s_later:.4f} s, cache hits {s2['hits'] - s1['hits']}  -> {'yes' if ok else 'NO'}")
    print()
    print("all targets met" if ok_all else "SOME TARGETS MISSED")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
