"""A gallery of unblur's PSF generators, written to a PNG grid.

Each tile shows one PSF, scaled to its own maximum and gamma-compressed (so faint
rings and tails show), enlarged with nearest-neighbour pixels and labelled.

    python examples/psf_gallery.py [out.png]
"""

from __future__ import annotations

import sys

import numpy as np
import unblur
from PIL import Image, ImageDraw

TILE = 192  # pixels per tile side
LABEL = 16  # pixels for the caption


def gallery():
    p = unblur.psf
    return [
        ("gaussian(3)", p.gaussian(3.0)),
        ("gaussian((1.5, 5), theta=30)", p.gaussian((1.5, 5.0), theta=30)),
        ("gaussian(0.6)", p.gaussian(0.6, size=9)),
        ("disk(7)", p.disk(7.0)),
        ("motion(25, 30)", p.motion(25.0, 30.0)),
        ("motion(0.6, 0)", p.motion(0.6, size=9)),
        ("shake(21, seed=0)", p.shake(21, seed=0)),
        ("shake(21, seed=1)", p.shake(21, seed=1)),
        ("shake(21, s=0.5)", p.shake(21, seed=2, smoothness=0.5)),
        ("turbulence(0, os=2)", p.turbulence(0.0, oversampling=2.0)),
        ("turbulence(8, os=1)", p.turbulence(8.0, oversampling=1.0)),
        ("turbulence(8) short", p.turbulence(8.0, oversampling=1.0, short_exposure=True, seed=3)),
        ("airy(4)", p.airy(4.0)),
        ("moffat(6, 2.5)", p.moffat(6.0, 2.5)),
        ("moffat(6, 1.5)", p.moffat(6.0, 1.5)),
    ]


def tile(name, h):
    img = (h / h.max()) ** 0.4  # gamma: faint structure visible
    pil = Image.fromarray((255 * img).astype(np.uint8))
    scale = max(1, TILE // max(h.shape))
    pil = pil.resize((h.shape[1] * scale, h.shape[0] * scale), Image.NEAREST)
    if max(pil.size) > TILE:
        pil.thumbnail((TILE, TILE), Image.LANCZOS)
    out = Image.new("L", (TILE, TILE + LABEL), 0)
    out.paste(pil, ((TILE - pil.size[0]) // 2, LABEL + (TILE - pil.size[1]) // 2))
    ImageDraw.Draw(out).text((2, 2), f"{name} {h.shape[0]}x{h.shape[1]}", fill=255)
    return out


def main(path="psf_gallery.png", columns=5):
    tiles = [tile(name, h) for name, h in gallery()]
    rows = -(-len(tiles) // columns)
    sheet = Image.new("L", (columns * (TILE + 4), rows * (TILE + LABEL + 4)), 40)
    for k, t in enumerate(tiles):
        sheet.paste(t, ((k % columns) * (TILE + 4), (k // columns) * (TILE + LABEL + 4)))
    sheet.save(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
