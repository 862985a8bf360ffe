"""Which method when: every deconvolution method on one blurred, noisy photograph.

    python examples/compare_methods.py [--noise 0.01] [--size 256]

Blurs a crop of the sample photograph (valid-mode, as a camera records it), adds
noise, and runs each method with its automatic parameters, printing PSNR, SSIM and
time; then `unblur.restore`, which does not know the PSF.
"""

import argparse
import time

import numpy as np
import unblur


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    scene = unblur.data.astronaut()[..., 1].astype(np.float32) / 255
    psf = unblur.psf.motion(11, 30).astype(np.float32)
    blurred = unblur.convolve(scene, psf, mode="valid")[: args.size, : args.size]
    kh, kw = psf.shape
    sharp = scene[kh // 2: kh // 2 + blurred.shape[0], kw // 2: kw // 2 + blurred.shape[1]]
    blurred = blurred + rng.normal(0, args.noise, blurred.shape).astype(np.float32)

    def score(x):
        return unblur.metrics.psnr(sharp, x, data_range=1.0), unblur.metrics.ssim(sharp, x, data_range=1.0)

    print(f"{'method':24s} {'PSNR':>7s} {'SSIM':>7s} {'seconds':>8s}")
    print(f"{'blurred':24s} {score(blurred)[0]:7.2f} {score(blurred)[1]:7.4f}")
    runs = [("deconvolve (auto)", lambda: unblur.deconvolve(blurred, psf)),
            ("wiener", lambda: unblur.wiener(blurred, psf)),
            ("tikhonov", lambda: unblur.tikhonov(blurred, psf)),
            ("richardson_lucy", lambda: unblur.richardson_lucy(np.maximum(blurred, 0), psf)),
            ("tv_deconvolve", lambda: unblur.tv_deconvolve(blurred, psf)),
            ("restore (PSF unknown)", lambda: unblur.restore(blurred))]
    for name, run in runs:
        t0 = time.perf_counter()
        out = run()
        seconds = time.perf_counter() - t0
        p, s = score(out)
        print(f"{name:24s} {p:7.2f} {s:7.4f} {seconds:8.2f}")


if __name__ == "__main__":
    main()
