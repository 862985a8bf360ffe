"""Wiener / Tikhonov benchmark against scikit-image, timed in one run on the same data.

Run:  PYTHONPATH=python python bench/bench_wiener.py [--size N] [--repeat N]

Prints the best-of-N wall time of unblur.wiener (boundary='periodic', fixed nsr: the
same filter as skimage.restoration.wiener with a delta regulariser) and of scikit-image
on the same float32 data, the ratio (> 1: unblur is faster) and the agreement of the two
results; then the time and CG iteration count of boundary='auto'.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.signal
import unblur
from _timing import best_time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from skimage.restoration import wiener as sk_wiener

    n = args.size
    rng = np.random.default_rng(0)
    photo = unblur.data.astronaut()[..., 1].astype(np.float32) / 255
    x = np.tile(photo, (n // photo.shape[0] + 1, n // photo.shape[1] + 1))[:n, :n].copy()
    r = np.arange(-7, 8)
    psf = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 2.0**2)).astype(np.float32)
    psf /= psf.sum()
    g = (unblur.convolve(x, psf, boundary="periodic") + rng.normal(0, 0.01, x.shape)).astype(np.float32)
    delta = np.zeros((3, 3), np.float32)
    delta[1, 1] = 1
    nsr = 1e-3
    print(f"{n}x{n} float32, psf 15x15, threads={unblur.get_threads()}, repeat={args.repeat}")

    ours = unblur.wiener(g, psf, nsr=nsr, boundary="periodic")
    theirs = sk_wiener(g, psf, balance=nsr, reg=delta, clip=False)
    err = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    assert err < 1e-4, err
    t_ours = best_time(lambda: unblur.wiener(g, psf, nsr=nsr, boundary="periodic"), args.repeat)
    t_sk = best_time(lambda: sk_wiener(g, psf, balance=nsr, reg=delta, clip=False), args.repeat)
    print(f"wiener periodic   unblur {t_ours * 1e3:8.1f} ms   skimage {t_sk * 1e3:8.1f} ms   "
          f"ratio {t_sk / t_ours:5.2f}x   max rel diff {err:.1e}")

    ours = unblur.tikhonov(g, psf, lam=nsr, boundary="periodic")
    theirs = sk_wiener(g, psf, balance=nsr, clip=False)
    err = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    assert err < 1e-4, err
    t_ours = best_time(lambda: unblur.tikhonov(g, psf, lam=nsr, boundary="periodic"), args.repeat)
    t_sk = best_time(lambda: sk_wiener(g, psf, balance=nsr, clip=False), args.repeat)
    print(f"tikhonov periodic unblur {t_ours * 1e3:8.1f} ms   skimage {t_sk * 1e3:8.1f} ms   "
          f"ratio {t_sk / t_ours:5.2f}x   max rel diff {err:.1e}")

    gv = scipy.signal.fftconvolve(x, psf, mode="valid").astype(np.float32)
    gv += rng.normal(0, 0.01, gv.shape).astype(np.float32)
    for name, fn in [("wiener auto nsr=auto", lambda: unblur.wiener(gv, psf, return_info=True)),
                     ("tikhonov auto lam=gcv", lambda: unblur.tikhonov(gv, psf, return_info=True)),
                     ("tikhonov auto lam=1e-3", lambda: unblur.tikhonov(gv, psf, lam=1e-3, return_info=True))]:
        _, info = fn()
        t = best_time(fn, max(1, args.repeat // 2))
        print(f"{name:24s} {t * 1e3:8.1f} ms   CG iterations {info['iterations']}   "
              f"residual {info['relative_residual']:.1e}")


if __name__ == "__main__":
    main()
