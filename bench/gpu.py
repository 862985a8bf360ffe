"""GPU benchmarks (issue 5): unblur's CUDA engine against the CuPy fallback, cuCIM and
the floors measured in the same run, with device-synchronised timing.

Run (on a machine with a GPU, CuPy and unblur._cuda built):
    PYTHONPATH=python python bench/gpu.py [--size 2048] [--big 4096] [--repeat 7]

1. Richardson–Lucy, size x size float32, 31x31 Gaussian PSF, 30 iterations, plain
   (accelerate=False): unblur's CUDA engine ('auto' and 'periodic'), the CuPy fallback
   (UNBLUR_BACKEND=cupy, the array-API code on CuPy) and cucim.skimage.restoration.
   richardson_lucy where it imports; the cuFFT floor: the two R2C and two C2R
   transforms per iteration on unblur's grid (cupy.fft on the same shape, cuFFT plans
   cached), times 30.
2. big x big float32 Wiener (periodic, scalar NSR) and separable Gaussian (sigma 2,
   and sigma 8): against the memory-bandwidth floor, bytes moved / the device-to-device
   copy bandwidth measured here (cupy.copyto of a 1 GiB buffer). Two floors are
   printed: "in+out" (read the image once, write the result once) and "passes" (every
   pass the algorithm makes over an image-sized array reads and writes it once; the
   pass counts are written next to it).
3. Host <-> device traffic of each timed call, from unblur._cuda.transfer_stats().

Timing: each callable runs once to warm up (plans, pools), then `repeat` times between
CUDA events on the current stream; the median is reported. Results are checked against
each other (the fallback, and the CPU engine on a crop) before they are timed.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def fail(message):
    print(f"bench/gpu.py: {message}", file=sys.stderr)
    sys.exit(1)


try:
    import cupy as cp
except Exception as exc:  # CuPy raises more than ImportError without a driver
    fail(f"needs CuPy and a CUDA GPU ({exc})")

import unblur  # noqa: E402

cuda = unblur._backend.cuda_module()


def gpu_time(fn, repeat):
    """Median seconds of fn() between CUDA events on the current stream, after a warm-up."""
    fn()
    cp.cuda.get_current_stream().synchronize()
    times = []
    for _ in range(repeat):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
    return float(np.median(times))


def fallback(fn):
    """fn() on the array-API code on CuPy (UNBLUR_BACKEND=cupy)."""
    def run():
        old = os.environ.get("UNBLUR_BACKEND")
        os.environ["UNBLUR_BACKEND"] = "cupy"
        try:
            return fn()
        finally:
            if old is None:
                del os.environ["UNBLUR_BACKEND"]
            else:
                os.environ["UNBLUR_BACKEND"] = old
    return run


def gaussian_psf(size, sigma):
    r = np.arange(size) - size // 2
    p = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return (p / p.sum()).astype(np.float32)


def test_image(size):
    grey = unblur.data.astronaut().astype(np.float64).mean(axis=-1)
    grey = (grey - grey.min()) / (grey.max() - grey.min())
    reps = -(-size // grey.shape[0])
    return (0.05 + 0.95 * np.tile(grey, (reps, reps))[:size, :size]).astype(np.float32)


def traffic(fn):
    cuda.reset_transfer_stats()
    fn()
    cp.cuda.get_current_stream().synchronize()
    s = cuda.transfer_stats()
    return f"H2D {s['host_to_device']} copies, D2H {s['device_to_host']} copies / {s['device_to_host_bytes']} B"


def richardson_lucy(size, repeat):
    print(f"\n1. Richardson-Lucy, {size}x{size} float32, 31x31 PSF, 30 iterations (plain)")
    g = cp.asarray(unblur.convolve(test_image(size), gaussian_psf(31, 4.0)))
    h = cp.asarray(gaussian_psf(31, 4.0))
    rows = []
    for boundary in ("auto", "periodic"):
        def run(boundary=boundary):
            return unblur.richardson_lucy(g, h, iterations=30, accelerate=False, boundary=boundary)
        t = gpu_time(run, repeat)
        grid = tuple(cuda.deconv_grid_shape([size, size], [31, 31], boundary))
        real = cp.zeros(grid, cp.float32)
        spec = cp.fft.rfftn(real)

        def floor(real=real, spec=spec, grid=grid):
            for _ in range(30):
                a = cp.fft.rfftn(real)
                cp.fft.irfftn(spec, s=grid)
                cp.fft.rfftn(real)
                cp.fft.irfftn(a, s=grid)
        tf = gpu_time(floor, repeat)
        rows.append((f"unblur CUDA '{boundary}' (grid {grid[0]}x{grid[1]})", t, tf))
        print(f"   unblur CUDA {boundary:9s}: {t * 1e3:8.2f} ms   cuFFT floor {tf * 1e3:8.2f} ms   "
              f"ratio to floor {t / tf:5.2f}   [{traffic(run)}]")
    t_auto = rows[0][1]
    fb = fallback(lambda: unblur.richardson_lucy(g, h, iterations=30, accelerate=False, boundary="auto"))
    np.testing.assert_allclose(cp.asnumpy(fb()), cp.asnumpy(unblur.richardson_lucy(g, h, iterations=30,
                               accelerate=False)), rtol=1e-3, atol=1e-3)
    t_fb = gpu_time(fb, max(2, repeat // 2))
    print(f"   CuPy fallback auto   : {t_fb * 1e3:8.2f} ms   unblur CUDA is {t_fb / t_auto:5.2f}x faster")
    try:
        from cucim.skimage.restoration import richardson_lucy as cucim_rl
    except Exception as exc:
        print(f"   cuCIM: not importable ({type(exc).__name__}: {exc})")
        return
    t_cc = gpu_time(lambda: cucim_rl(g, h, num_iter=30, clip=False), repeat)
    t_zero = gpu_time(lambda: unblur.richardson_lucy(g, h, iterations=30, accelerate=False, boundary="zero"), repeat)
    print(f"   cuCIM richardson_lucy: {t_cc * 1e3:8.2f} ms   unblur CUDA 'zero' (its convention) "
          f"{t_zero * 1e3:8.2f} ms: {t_cc / t_zero:5.2f}x faster")


def bandwidth():
    src = cp.ones(1 << 28, cp.float32)  # 1 GiB
    dst = cp.empty_like(src)
    t = gpu_time(lambda: cp.copyto(dst, src), 5)
    return 2 * src.nbytes / t  # bytes read + written per second


def bandwidth_targets(size, repeat):
    bw = bandwidth()
    print(f"\n2. {size}x{size} float32 against the memory-bandwidth floor (copy bandwidth {bw / 1e9:.0f} GB/s)")
    x = cp.asarray(np.tile(test_image(1024), (size // 1024 + 1,) * 2)[:size, :size])
    n = x.nbytes
    psf = cp.asarray(gaussian_psf(31, 4.0))

    def report(name, fn, passes):
        t = gpu_time(fn, repeat)
        ideal, per_pass = 2 * n / bw, passes * 2 * n / bw
        print(f"   {name:28s}: {t * 1e3:8.3f} ms   in+out floor {ideal * 1e3:7.3f} ms ({t / ideal:5.2f}x)   "
              f"{passes}-pass floor {per_pass * 1e3:7.3f} ms ({t / per_pass:5.2f}x)   [{traffic(fn)}]")

    # Wiener periodic, scalar NSR: PSF placement, 3 real FFTs (PSF, image, inverse), the
    # OTF scaling and the closed-form pass: about 3 x 2 (each FFT >= one read + write of
    # the grid) + 3 passes.
    report("wiener periodic nsr=0.01", lambda: unblur.wiener(x, psf, nsr=0.01, boundary="periodic"), 9)
    report("gaussian_filter sigma=2", lambda: unblur.gaussian_filter(x, 2.0), 2)
    report("gaussian_filter sigma=8", lambda: unblur.gaussian_filter(x, 8.0), 2)
    crop = cp.asnumpy(x[:256, :256])
    np.testing.assert_allclose(cp.asnumpy(unblur.gaussian_filter(x[:256, :256].copy(), 2.0)),
                               unblur.gaussian_filter(crop, 2.0), rtol=0, atol=1e-5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2048, help="RL image side (default 2048)")
    parser.add_argument("--big", type=int, default=4096, help="Wiener / Gaussian image side (default 4096)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement (median)")
    args = parser.parse_args()
    for name in ("size", "big", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if cuda is None:
        fail("unblur._cuda is not built (build with UNBLUR_CUDA=ON)")
    if cp.cuda.runtime.getDeviceCount() == 0:
        fail("no CUDA device")
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    print(f"device: {props['name'].decode()}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}, "
          f"cuFFT {cuda.cufft_version()}, CuPy {cp.__version__}")
    richardson_lucy(args.size, args.repeat)
    bandwidth_targets(args.big, args.repeat)


if __name__ == "__main__":
    main()
