"""Peak memory of Richardson–Lucy on a 2048x2048 float32 image, in image-sized buffers.

Run:  python bench/memory_rl.py [--size 2048] [--accelerate]

Each measurement runs in a fresh child process: the input image and PSF are made and
one warm-up call on a tiny image loads the libraries; then the peak resident set size
(ru_maxrss) is read before and after one richardson_lucy call. The growth, divided by
the size of one float32 image, is the number of image-sized buffers the call held at
its peak (FFT plans, the extended grid and the spectra included; the grid is a little
larger than the image, 2100^2 vs 2048^2, so one grid buffer counts as 1.05 images).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import numpy as np
import unblur
size, accelerate, boundary = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
rng = np.random.default_rng(0)
image = rng.random((size, size), dtype=np.float32) * 0.8 + 0.1
psf = unblur.psf.gaussian(5.0, size=31).astype(np.float32)
unblur.richardson_lucy(image[:64, :64].copy(), psf, iterations=2, accelerate=accelerate, boundary=boundary)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = unblur.richardson_lucy(image, psf, iterations=10, accelerate=accelerate, boundary=boundary)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"kib": after - before, "image_kib": size * size * 4 / 1024}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args(argv)
    print(f"# peak memory of unblur.richardson_lucy, {args.size}x{args.size} float32, 31x31 PSF, 10 iterations")
    print("# command: python bench/memory_rl.py --size", args.size)
    worst = 0.0
    for boundary in ("auto", "periodic"):
        for accelerate in (False, True):
            res = subprocess.run([sys.executable, "-c", CHILD, str(args.size), "1" if accelerate else "0", boundary],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            buffers = r["kib"] / r["image_kib"]
            worst = max(worst, buffers)
            print(f"boundary={boundary:8s} accelerate={accelerate!s:5s}  peak growth {r['kib'] / 1024:7.1f} MiB"
                  f" = {buffers:5.2f} image-sized float32 buffers (output included)")
    ok = worst <= 12
    print(f"largest: {worst:.2f} buffers (target <= 12) -> {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
