"""TV deconvolution against its FFT floor, measured in one run.

Run:  python bench/bench_tv.py [--size 1024] [--iterations 100] [--repeat 3] [--threads N]

The floor is the time of only the FFTs tv_deconvolve needs (2 forward + 2 inverse real
transforms per channel and iteration) on the same grid with the same cached FFTW plans,
timed in C++ by ``unblur._core.tv_fft_floor``. The ratio total / floor says how much the
pointwise ADMM steps and the set-up cost on top of the transforms (target: <= 1.5).
Best of `repeat` for each. scikit-image has no TV deconvolution; its closest relative,
``skimage.restoration.denoise_tv_chambolle`` (TV *denoising*, no blur operator), is
printed for context only. The benchmark also checks that the result beats the input.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from _timing import best_time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--simd", choices=["auto", "baseline"], default="auto",
                        help="per-pixel kernel variants (baseline = the portable SSE2 ones)")
    parser.add_argument("--skimage", action="store_true", help="also time skimage's TV denoising")
    args = parser.parse_args(argv)

    import scipy.signal
    import unblur

    unblur._core.set_simd(args.simd)
    n, iters = args.size, args.iterations
    threads = args.threads or unblur.get_threads()
    rng = np.random.default_rng(0)
    psf = unblur.psf.gaussian(2.0, size=13)
    scene = unblur.gaussian_filter(rng.random((n + 12, n + 12)), 4.0)
    scene = ((scene - scene.min()) / (scene.max() - scene.min())).astype(np.float64)
    truth = scene[6:-6, 6:-6].astype(np.float32)
    g = (scipy.signal.fftconvolve(scene, psf, mode="valid") + rng.normal(0, 0.01, (n, n))).astype(np.float32)
    psf32 = psf.astype(np.float32)

    _, grid, _, _ = unblur._core.deconv_model(g, psf32, "auto")
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; threads {threads}; "
          f"Python {platform.python_version()}; kernels {unblur._core.simd_level()}")
    print(f"# command: python bench/bench_tv.py --size {n} --iterations {iters} --repeat {args.repeat}"
          + (f" --threads {args.threads}" if args.threads else "") + (" --simd baseline" if args.simd == "baseline" else ""))
    print(f"# image {n}x{n} float32, psf 13x13, boundary 'auto' -> FFT grid {grid[0]}x{grid[1]}")

    def run():
        return unblur.tv_deconvolve(g, psf32, iterations=iters, threads=threads, return_info=True)

    t_total = best_time(run, args.repeat)
    out, info = run()
    floor = min(unblur._core.tv_fft_floor(grid, np.dtype(np.float32), iters, 1, threads)
                for _ in range(args.repeat + 1))
    mse_in = float(np.mean((g - truth) ** 2))
    mse_out = float(np.mean((out - truth) ** 2))
    assert mse_out < mse_in, "TV result is worse than its input"
    print(f"tv_deconvolve, {iters} iterations          {t_total * 1e3:9.1f} ms  ({t_total / iters * 1e3:.2f} ms/iter)")
    print(f"FFT floor: 4 rfft/irfft x {iters}          {floor * 1e3:9.1f} ms  ({floor / iters * 1e3:.2f} ms/iter)")
    print(f"ratio total / FFT floor                 {t_total / floor:9.2f}   (target <= 1.5)")
    print(f"check: MSE input {mse_in:.2e} -> TV {mse_out:.2e}; weight {info['weight']:.2e}")
    if args.skimage:
        try:
            from skimage.restoration import denoise_tv_chambolle
        except ImportError:
            return
        t_sk = best_time(lambda: denoise_tv_chambolle(g, weight=0.05, max_num_iter=iters), 1)
        print(f"context: skimage denoise_tv_chambolle ({iters} it, denoising only) {t_sk * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
