"""Deblur a photograph whose blur is unknown, from Python.

    python examples/deblur_photo.py [PHOTO] [-o OUTPUT]

Without PHOTO it blurs the sample photograph with a 15-pixel motion (in linear light,
as a lens does) and restores that. Reads and writes through unblur.io, so 16-bit
files stay 16-bit, alpha and ICC profiles are kept, and the deblurring happens in
linear light.
"""

import argparse
import os
import tempfile

import numpy as np
import unblur
import unblur.io


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photo", nargs="?", help="an image file (default: a blurred sample photograph)")
    parser.add_argument("-o", "--output", help="where to write the result (default: PHOTO-restored.png)")
    args = parser.parse_args()
    if args.photo is None:
        folder = tempfile.mkdtemp(prefix="unblur-example-")
        light = unblur.io.srgb_to_linear(unblur.data.astronaut().astype(np.float32) / 255)
        blurred = unblur.convolve(light, unblur.psf.motion(15, 30).astype(np.float32), mode="valid",
                                  channel_axis=-1)
        args.photo = os.path.join(folder, "blurred.png")
        unblur.io.write(args.photo, unblur.io.linear_to_srgb(blurred))
        print(f"wrote a motion-blurred sample photograph to {args.photo}")
    img = unblur.io.read(args.photo)  # float32, linear light, alpha apart
    restored, info = unblur.restore(img.data, channel_axis=img.channel_axis, return_info=True)
    est = info["estimate"]
    print(f"blur: {est['model']} {est['params']} (confidence {est['confidence']:.2f}); "
          f"deconvolved by {info['deconvolve']['method']}")
    output = args.output or os.path.splitext(args.photo)[0] + "-restored.png"
    unblur.io.write(output, restored, like=img)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
