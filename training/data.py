"""Procedurally generated training images for the learned denoiser.

Only generated images are used for training and validation: no benchmark, test or
sample photograph ever enters here, so the quality figures measured on them elsewhere
stay honest.

The images follow the dead-leaves model (Matheron; Lee, Mumford and Huang 2001: "Occlusion
models for natural images"): opaque shapes fall on the canvas one after the other, each
hiding what lies below, with radii drawn from a power law p(r) ~ r^-3. That law makes the
picture statistically scale-invariant, as natural images are, and the occlusions give the
sharp edges and T-junctions a denoiser has to keep. Each shape is a disk or ellipse, a
rotated rectangle or a convex polygon, with anti-aliased edges (coverage from a signed
distance), and is filled with a flat colour, a linear gradient, or a texture: stripes,
checks, grids, woven cloth, or foliage-like filtered noise. Sometimes the layers painted
so far are blurred before the rest fall on them (a background out of the depth of field).

All values are linear light in [0, 1] (grey: C = 1, colour: C = 3). The noise is additive
white Gaussian with a standard deviation drawn per image uniformly in [0, 50/255], or,
for some images, a smooth spatially varying map in that range; the noisy image is not
clipped (the sensor model the runtime assumes is Gaussian, and clipping would bias dark
and bright areas). The sigma map is what the network gets as its last input channel.

Everything is drawn from numpy Generators seeded by ``SeedSequence(seed, spawn_key=(i,))``
for batch ``i``: batch ``i`` is the same whichever process makes it and in whatever order,
so any number of loader workers gives the same training run.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
from scipy import ndimage

SIGMA_MAX = 50.0 / 255.0
VALIDATION_SIGMAS = (15.0 / 255.0, 25.0 / 255.0, 50.0 / 255.0)
# Fixed entropy of the validation set, independent of the training seed, so that runs
# with different seeds are measured on the same images.
VALIDATION_ENTROPY = 0x5EED_FA11


@dataclasses.dataclass(frozen=True)
class SceneOptions:
    """Parameters of the dead-leaves scenes (defaults are the training distribution)."""

    r_min: float = 1.5  # smallest shape radius, pixels
    r_max_fraction: float = 0.7  # largest radius as a fraction of the image side
    size_exponent: float = 3.0  # p(r) ~ r^-size_exponent (3: scale-invariant)
    coverage: float = 2.5  # expected painted area / image area (hidden parts included)
    max_shapes: int = 600
    p_texture: float = 0.45  # large shapes: textured, else gradient or flat
    p_gradient: float = 0.25
    p_depth_of_field: float = 0.3  # blur the layers painted so far, once, at a random depth
    p_soft_edges: float = 0.1  # a shape with a soft (slightly defocused) edge
    p_global_blur: float = 0.15  # a mild blur of the whole image (lens softness)
    texture_min_radius: float = 5.0  # below this, a texture would be invisible: flat or gradient
    # Additions of the "v2" scenes (SCENES below); at 0 no random number is drawn for
    # them, so the "v1" scenes (the defaults) are exactly those the first models saw.
    p_lines: float = 0.0  # thin straight lines among the shapes (wires, rails, masts, lattices)
    p_smooth: float = 0.0  # a smooth low-contrast scene: shaded surface, faint shapes, fine grain
    # Addition of the "v3" scenes (also none drawn at 0):
    p_streaks: float = 0.0  # of the textured fills: fine streaks along a turning direction (fur, hair, grass, grain)
    # Addition of the "v4" scenes (none drawn at 0):
    p_masonry: float = 0.0  # of the textured fills: bricks, tiles or paving in mortar, with fine grain


# The scene distributions the training command can use (train.py --scenes). v1: the dead
# leaves above. v2 adds what the dead leaves never draw and the first models were
# weakest on (docs/training.md): thin lines one to three pixels wide, alone or in
# lattices, and smooth low-contrast surfaces whose fine grain is signal, not noise.
SCENES = {
    "v1": SceneOptions(),
    "v2": SceneOptions(p_lines=0.35, p_smooth=0.2),
    "v3": SceneOptions(p_lines=0.35, p_smooth=0.2, p_streaks=0.35),
    # v4: v2 plus masonry, aimed at the brick wall, the held-out image that models trained
    # on PnP's own inputs lost (docs/training.md): long straight mortar lines in a
    # lattice of offset rows, over bricks whose fine grain is signal.
    "v4": SceneOptions(p_lines=0.35, p_smooth=0.2, p_masonry=0.3),
}


def power_law_radii(rng: np.random.Generator, n: int, r_min: float, r_max: float, exponent: float) -> np.ndarray:
    """Radii with density ~ r^-exponent on [r_min, r_max] by inverting the CDF."""
    u = rng.random(n)
    a = 1.0 - exponent
    if abs(a) < 1e-9:
        return r_min * (r_max / r_min) ** u
    lo, hi = r_min**a, r_max**a
    return (lo + u * (hi - lo)) ** (1.0 / a)


def _mean_square_radius(r_min: float, r_max: float, exponent: float) -> float:
    """E[r^2] of the power law above (to choose the number of shapes for a coverage)."""
    a = 1.0 - exponent
    norm = (r_max**a - r_min**a) / a if abs(a) > 1e-9 else math.log(r_max / r_min)
    b = 3.0 - exponent
    second = (r_max**b - r_min**b) / b if abs(b) > 1e-9 else math.log(r_max / r_min)
    return second / norm


def _draw_colours(rng: np.random.Generator, count: int, channels: int) -> np.ndarray:
    """Colour pairs (count, 2, channels) of one image: luminance law and saturation per image."""
    # Linear-light images are mostly dark: half of the images draw luminance with a
    # gamma of 2.2 (uniform in sRGB-like values), half uniformly in linear values.
    gamma = 2.2 if rng.random() < 0.5 else 1.0
    lum = rng.random((count, 2, 1)) ** gamma
    if channels == 1:
        colours = lum
    else:
        saturation = rng.uniform(0.0, 0.8)
        chroma = rng.uniform(-0.5, 0.5, size=(count, 2, 3)) * saturation
        colours = np.clip(lum + chroma - chroma.mean(axis=2, keepdims=True), 0.0, 1.0)
    # The second colour of a pair sets a texture's contrast: weak ones as common as strong.
    contrast = rng.uniform(0.15, 1.0, size=(count, 1))
    colours[:, 1] = colours[:, 0] + contrast * (colours[:, 1] - colours[:, 0])
    return colours.astype(np.float32)


def filtered_noise(rng: np.random.Generator, h: int, w: int, exponent: float, cutoff: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent, high frequencies above `cutoff` cycles/pixel
    removed, normalised to zero mean and unit variance. Thresholded, it gives foliage-like
    blobs; smooth, it gives clouds and varying noise maps."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f2 = fy * fy + fx * fx
    f2[0, 0] = 1.0
    amplitude = f2 ** (-exponent / 4.0) * np.exp(-f2 / (2.0 * cutoff * cutoff))
    amplitude[0, 0] = 0.0
    spectrum = (rng.standard_normal(f2.shape) + 1j * rng.standard_normal(f2.shape)) * amplitude
    field = np.fft.irfft2(spectrum, s=(h, w))
    field -= field.mean()
    std = field.std()
    return (field / std if std > 0 else field).astype(np.float32)


def streak_field(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fine streaks along a slowly turning direction (fur, hair, grass, wood grain), values
    in [0, 1], float32 (size, size): white noise filtered by an elongated Gaussian (streaks
    3-16 px long, 0.6-1.6 px wide), its coordinates bent by a smooth displacement field,
    then through a soft threshold."""
    theta = rng.uniform(0.0, math.pi)
    length = math.exp(rng.uniform(math.log(3.0), math.log(16.0)))
    width = rng.uniform(0.6, 1.6)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    along = fx * math.cos(theta) + fy * math.sin(theta)
    across = -fx * math.sin(theta) + fy * math.cos(theta)
    # A Gaussian streak of standard deviations (length / 2.5, width / 2) has this spectrum.
    amplitude = np.exp(-2.0 * math.pi**2 * ((length / 2.5) ** 2 * along**2 + (width / 2.0) ** 2 * across**2))
    spectrum = (rng.standard_normal(amplitude.shape) + 1j * rng.standard_normal(amplitude.shape)) * amplitude
    field = np.fft.irfft2(spectrum, s=(size, size))
    bend = rng.uniform(0.0, 0.08) * size
    grid = np.mgrid[0:size, 0:size].astype(np.float64)
    grid[0] += bend * filtered_noise(rng, size, size, 3.0, 0.03)
    grid[1] += bend * filtered_noise(rng, size, size, 3.0, 0.03)
    field = ndimage.map_coordinates(field, grid, order=1, mode="grid-wrap")
    field = (field - field.mean()) / max(float(field.std()), 1e-12)
    sharp = rng.uniform(1.0, 4.0)
    return (1.0 / (1.0 + np.exp(-sharp * (field - rng.uniform(-0.5, 0.5))))).astype(np.float32)


# Row shifts and brick tones of a masonry texture come from tables indexed by row and
# brick number modulo this (no pattern repeats inside a 256-pixel texture).
MASONRY_TABLE = 64


def masonry(x, y, height: float, length: float, joint: float, shifts: np.ndarray, wander=0.0):
    """Bond of bricks `length` x `height` in texture coordinates (x along the rows): row
    r = floor(y / height) is shifted left by shifts[r % len(shifts)] bricks; joints
    `joint` px wide lie on the rows' and the bricks' borders, displaced by `wander` px.
    Returns the mortar coverage t in [0, 1] (anti-aliased from the distance to the
    nearest joint's centre line), and each pixel's row and brick numbers (int64)."""
    row = np.floor(y / height)  # in the coordinates' own precision (float32 in the scenes)
    xs = x + shifts[row.astype(np.int64) % len(shifts)] * length
    col = np.floor(xs / length)
    dy = np.abs(y - (row + 0.5) * height)  # from the row's centre line
    dx = np.abs(xs - (col + 0.5) * length)
    dist = np.minimum(0.5 * height - dy, 0.5 * length - dx)
    return np.clip(joint / 2.0 + 0.5 - dist + wander, 0.0, 1.0), row.astype(np.int64), col.astype(np.int64)


_ELLIPSE, _RECTANGLE, _POLYGON = 0, 1, 2
_MAX_EDGES = 8


class _Shapes:
    """Every random parameter of one image's shapes, drawn at once (index = painting order).

    Arrays have one entry per shape: centre (cy, cx), radius `a` and second half-axis `b`,
    rotation, kind, the polygons' edge normals (angle) and offsets (polygons with fewer
    than 8 edges repeat their last edge, which does not change the distance), edge
    softness and the colour pair."""

    def __init__(self, rng: np.random.Generator, radii: np.ndarray, size: int, channels: int, options: SceneOptions):
        n = len(radii)
        self.radius = radii.astype(np.float32)
        self.centre = rng.uniform(-0.1 * size, 1.1 * size, size=(n, 2)).astype(np.float32)
        self.theta = rng.uniform(0.0, math.pi, n).astype(np.float32)
        u = rng.random(n)
        self.kind = np.where(u < 0.4, _ELLIPSE, np.where(u < 0.7, _RECTANGLE, _POLYGON))
        circle = rng.random(n) < 0.5
        b_ellipse = np.where(circle, 1.0, rng.uniform(0.3, 1.0, n))
        b_rectangle = rng.uniform(0.15, 1.0, n)
        self.b = (radii * np.where(self.kind == _RECTANGLE, b_rectangle, np.where(self.kind == _ELLIPSE, b_ellipse, 1.0))).astype(
            np.float32
        )
        # Polygons: vertices at random angles on the circle of the radius (so convex);
        # edge k's outward normal points at the middle of its arc, at distance r cos(gap/2).
        edges = rng.integers(3, _MAX_EDGES + 1, n)
        angles = np.sort(rng.uniform(0.0, 2.0 * math.pi, (n, _MAX_EDGES)), axis=1)
        used = np.arange(_MAX_EDGES)[None, :] < edges[:, None]
        angles = np.where(used, angles, 4.0 * math.pi)  # unused vertices sort last
        angles = np.sort(angles, axis=1)
        nxt = np.roll(angles, -1, axis=1)
        last = edges - 1
        nxt[np.arange(n), last] = angles[:, 0] + 2.0 * math.pi
        gaps = nxt - angles
        mids = angles + gaps / 2.0
        offsets = radii[:, None] * np.cos(gaps / 2.0)
        # Unused edges copy the last real one.
        keep = np.where(used, np.arange(_MAX_EDGES)[None, :], last[:, None])
        self.edge_cos = np.cos(np.take_along_axis(mids, keep, 1)).astype(np.float32)
        self.edge_sin = np.sin(np.take_along_axis(mids, keep, 1)).astype(np.float32)
        self.edge_offset = np.take_along_axis(offsets, keep, 1).astype(np.float32)
        soft = rng.random(n) < options.p_soft_edges
        self.softness = np.where(soft, rng.uniform(1.5, 4.0, n), 1.0).astype(np.float32)
        self.colours = _draw_colours(rng, n, channels)
        self.fill_draw = rng.random(n)
        # Half-size of the box that holds the shape (a rectangle's corner reaches hypot(a, b)).
        self.extent = np.where(self.kind == _RECTANGLE, np.hypot(radii, self.b), radii).astype(np.float32)

    def signed_distance(self, index: np.ndarray, y: np.ndarray, x: np.ndarray):
        """Signed distance (negative inside) to shapes `index` (K,) at offsets (y, x) from
        their centres (broadcastable to (K, h, w)), and the rotated coordinates (u, v).
        Each kind of shape is computed on its own subset."""
        theta = self.theta[index][:, None, None]
        cos, sin = np.cos(theta), np.sin(theta)
        u = x * cos + y * sin
        v = y * cos - x * sin
        out = np.empty(u.shape, dtype=np.float32)
        kinds = self.kind[index]
        for kind in (_ELLIPSE, _RECTANGLE, _POLYGON):
            sel = np.flatnonzero(kinds == kind)
            if len(sel) == 0:
                continue
            whole = len(sel) == len(index)
            uu, vv, ii = (u, v, index) if whole else (u[sel], v[sel], index[sel])
            a = self.radius[ii][:, None, None]
            b = self.b[ii][:, None, None]
            if kind == _ELLIPSE:
                qu, qv = uu / a, vv / b
                q = np.sqrt(qu * qu + qv * qv)
                # First-order distance to the ellipse: (q - 1) / |grad q|.
                grad = np.sqrt((qu / a) ** 2 + (qv / b) ** 2) / np.maximum(q, 1e-6)
                d = (q - 1.0) / np.maximum(grad, 1e-6)
            elif kind == _RECTANGLE:
                d = np.maximum(np.abs(uu) - a, np.abs(vv) - b)
            else:
                # Distance to a convex polygon ~ the largest distance to its edges' lines.
                c = self.edge_cos[ii][:, :, None, None]
                s = self.edge_sin[ii][:, :, None, None]
                h = self.edge_offset[ii][:, :, None, None]
                d = uu * c[:, 0] + vv * s[:, 0] - h[:, 0]
                for e in range(1, _MAX_EDGES):
                    np.maximum(d, uu * c[:, e] + vv * s[:, e] - h[:, e], out=d)
            if whole:
                out = d.astype(np.float32, copy=False)
            else:
                out[sel] = d
        return out, u, v

    def coverage(self, index: np.ndarray, y: np.ndarray, x: np.ndarray):
        """Anti-aliased coverage in [0, 1] (a one-pixel ramp, wider for soft edges), (K, h, w)."""
        sdf, u, v = self.signed_distance(index, y, x)
        soft = self.softness[index][:, None, None]
        return np.clip(0.5 - sdf / soft, 0.0, 1.0).astype(np.float32), u, v


class _Painter:
    """Paints one image (C, H, W): large shapes one by one over their bounding boxes, with
    textures; small shapes (most of them under the power law) in stacks of boxes computed
    at once and composited in order, with flat colours (a texture would not show)."""

    def __init__(self, rng: np.random.Generator, size: int, channels: int, options: SceneOptions):
        self.rng = rng
        self.size = size
        self.channels = channels
        self.options = options
        # Small shapes are painted in fixed square boxes around their centres, of half-side
        # m for radii below each class limit t: the coverage reaches at most sqrt(2)(t + 2)
        # (a rectangle's corner plus the softest edge ramp) and must stay inside. The canvas
        # has a margin of a whole box so that no box needs clipping.
        self.small_classes = [(t, int(math.ceil(math.sqrt(2.0) * (t + 2.0))) + 1) for t in (2.5, options.texture_min_radius)]
        m = 2 * max(half for _, half in self.small_classes)
        self.margin = m
        self.padded = np.zeros((channels, size + 2 * m, size + 2 * m), dtype=np.float32)
        self.canvas = self.padded[:, m:-m, m:-m]
        # Two noise fields per image for foliage textures: a shape reads the field at its
        # own pixels (cheaper than filtering noise per shape, and just as random).
        self.noise = [
            filtered_noise(rng, size, size, rng.uniform(1.0, 2.5), rng.uniform(0.08, 0.35)),
            filtered_noise(rng, size, size, rng.uniform(1.0, 2.5), rng.uniform(0.08, 0.35)),
        ]
        # Two streak fields per image ("v3"), likewise; none drawn at p_streaks = 0.
        self.streaks = [streak_field(rng, size), streak_field(rng, size)] if options.p_streaks > 0 else None
        # One fine-grain field per image for masonry ("v4"); none drawn at p_masonry = 0.
        self.grain = (filtered_noise(rng, size, size, rng.uniform(0.0, 1.5), rng.uniform(0.25, 0.5))
                      if options.p_masonry > 0 else None)

    # -- fills: functions of rotated coordinates (u, v) in pixels and of the pixels' box --

    def fill(self, u, v, box, radius: float, colours: np.ndarray, draw: float) -> np.ndarray:
        opt = self.options
        c1, c2 = colours[0], colours[1]
        if radius >= opt.texture_min_radius and draw < opt.p_texture:
            return self._texture(u, v, box, c1, c2)
        if draw < opt.p_texture + opt.p_gradient:
            theta = self.rng.uniform(0.0, 2.0 * math.pi)
            t = 0.5 + (u * math.cos(theta) + v * math.sin(theta)) / (2.0 * max(radius, 1.0))
            t = np.clip(t, 0.0, 1.0)
            return c1[:, None, None] + (c2 - c1)[:, None, None] * t[None]
        return c1[:, None, None]

    def _texture(self, u, v, box, c1, c2) -> np.ndarray:
        rng = self.rng
        if self.streaks is not None and rng.random() < self.options.p_streaks:
            t = self.streaks[int(rng.integers(2))][box]
            light = np.clip(0.8 + 0.2 * self.noise[1][box], 0.4, 1.2)  # unevenly lit, like the foliage
            out = c1[:, None, None] + (c2 - c1)[:, None, None] * t[None]
            return np.clip(out * light[None], 0.0, 1.0)
        if self.grain is not None and rng.random() < self.options.p_masonry:
            return self._masonry(u, v, box, c1, c2)
        theta = rng.uniform(0.0, math.pi)
        cos, sin = math.cos(theta), math.sin(theta)
        # Texture coordinates: rotated independently of the shape, random phase.
        x = u * cos + v * sin + rng.uniform(0, 100)
        y = -u * sin + v * cos + rng.uniform(0, 100)
        period = math.exp(rng.uniform(math.log(2.5), math.log(24.0)))
        kind = rng.integers(5)
        if kind == 0:  # stripes, from sine to square wave
            sharp = rng.uniform(1.0, 5.0)
            t = np.clip(0.5 + sharp * 0.5 * np.sin(x * (2.0 * math.pi / period)), 0.0, 1.0)
        elif kind == 1:  # checks (anti-aliased by the product of sines)
            sharp = rng.uniform(2.0, 8.0)
            s = np.sin(x * (math.pi / period)) * np.sin(y * (math.pi / period))
            t = np.clip(0.5 + sharp * s, 0.0, 1.0)
        elif kind == 2:  # grid of lines, coverage from the distance to the nearest line
            width = rng.uniform(0.8, max(1.0, period / 3.0))
            dx = np.abs((x / period) % 1.0 - 0.5) * period  # distance to the cell's centre line
            dy = np.abs((y / period) % 1.0 - 0.5) * period
            dist = 0.5 * period - np.maximum(dx, dy)  # distance to the nearest grid line
            t = np.clip(width / 2.0 + 0.5 - dist, 0.0, 1.0)
        elif kind == 3:  # woven cloth: warp and weft threads crossing over and under
            period = max(period, 3.0)
            n = int(rng.integers(2, 5))  # 2: plain weave, 3-4: twills
            over_len = int(rng.integers(1, n))
            i = np.floor(x / period)
            j = np.floor(y / period)
            warp_on_top = ((i + j) % n) < over_len
            # Each thread is shaded across its width (round yarn), darker at its edges.
            shade_warp = 0.55 + 0.45 * np.sin(math.pi * ((x / period) % 1.0))
            shade_weft = 0.55 + 0.45 * np.sin(math.pi * ((y / period) % 1.0))
            warp = c1[:, None, None] * shade_warp[None]
            weft = c2[:, None, None] * shade_weft[None]
            return np.where(warp_on_top[None], warp, weft)
        else:  # foliage: thresholded filtered noise, leaves lit unevenly
            field = self.noise[int(rng.integers(2))][box]
            other = self.noise[1][box]
            sharp = rng.uniform(2.0, 10.0)
            t = 1.0 / (1.0 + np.exp(-sharp * (field - rng.uniform(-0.8, 0.8))))
            light = np.clip(0.75 + 0.25 * other, 0.3, 1.2)
            out = c1[:, None, None] + (c2 - c1)[:, None, None] * t[None]
            return np.clip(out * light[None], 0.0, 1.0)
        return c1[:, None, None] + (c2 - c1)[:, None, None] * t[None]

    def _masonry(self, u, v, box, c1, c2) -> np.ndarray:
        """Bricks (colour c1, varying per brick) in rows 4-28 px high, each row shifted by
        half a brick (running bond) or by a random amount, separated by mortar joints
        (colour c2) 0.8 px to a quarter of the row wide whose edges wander by a fraction
        of a pixel; the bricks carry fine grain, the whole is unevenly lit."""
        rng = self.rng
        theta = rng.uniform(0.0, math.pi)
        cos, sin = math.cos(theta), math.sin(theta)
        height = math.exp(rng.uniform(math.log(4.0), math.log(28.0)))
        length = height * rng.uniform(1.0, 4.0)
        joint = rng.uniform(0.8, max(1.0, height / 4.0))
        x = u * cos + v * sin + rng.uniform(0, 100)
        y = -u * sin + v * cos + rng.uniform(0, 100)
        shifts = 0.5 * (np.arange(MASONRY_TABLE) % 2) if rng.random() < 0.6 else rng.random(MASONRY_TABLE)
        tones = 1.0 + rng.uniform(0.0, 0.15) * rng.standard_normal((MASONRY_TABLE, MASONRY_TABLE))
        grain = self.grain[box]
        wander = rng.uniform(0.0, 0.6) * grain  # irregular joint edges, in pixels
        t, row, col = masonry(x, y, height, length, joint, shifts, wander)
        tone = tones[row % MASONRY_TABLE, col % MASONRY_TABLE]
        brick = c1[:, None, None] * (tone * (1.0 + rng.uniform(0.01, 0.12) * grain))[None]
        out = brick + (c2[:, None, None] - brick) * t[None]
        light = np.clip(0.85 + 0.15 * self.noise[0][box], 0.5, 1.2)
        return np.clip(out * light[None], 0.0, 1.0)

    def paint_background(self, colours: np.ndarray) -> None:
        size = self.size
        coords = np.arange(size, dtype=np.float32) + 0.5 - size / 2
        yy = np.repeat(coords[:, None], size, axis=1)
        xx = np.repeat(coords[None, :], size, axis=0)
        self.canvas[:] = self.fill(xx, yy, (slice(None), slice(None)), size / 2.0, colours, self.rng.random())

    def paint_large(self, shapes: _Shapes, i: int) -> None:
        size = self.size
        cy, cx = (float(c) for c in shapes.centre[i])
        extent = float(shapes.extent[i])
        y0, y1 = max(0, int(cy - extent - 2)), min(size, int(cy + extent + 3))
        x0, x1 = max(0, int(cx - extent - 2)), min(size, int(cx + extent + 3))
        if y0 >= y1 or x0 >= x1:
            return
        box = (slice(y0, y1), slice(x0, x1))
        yy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
        xx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
        alpha, u, v = shapes.coverage(np.array([i]), yy, xx)
        alpha, u, v = alpha[0], u[0], v[0]
        if not alpha.any():
            return
        fill = self.fill(u, v, box, float(shapes.radius[i]), shapes.colours[i], float(shapes.fill_draw[i]))
        region = self.canvas[(slice(None),) + box]
        region += alpha[None] * (fill - region)

    def prepare_small(self, shapes: _Shapes, index: np.ndarray):
        """Coverage boxes of shapes `index` (all with radius < texture_min_radius), computed
        at once per size class: {shape: (row, column, coverage, colour)} for those that
        touch the image. They are composited later, one by one in painting order (flat
        colours: a texture would not show at this size)."""
        boxes = {}
        lower = 0.0
        for limit, m in self.small_classes:
            radius = shapes.radius[index]
            boxes.update(self._small_boxes(shapes, index[(radius >= lower) & (radius < limit)], m))
            lower = limit
        return boxes

    def _small_boxes(self, shapes: _Shapes, index: np.ndarray, m: int):
        # Box rows top - m + 1 .. top + m (image coordinates), top = floor(cy). Boxes that
        # miss the image are dropped.
        cy, cx = shapes.centre[index, 0], shapes.centre[index, 1]
        top = np.floor(cy).astype(np.int64)
        left = np.floor(cx).astype(np.int64)
        size = self.size
        inside = (top + m >= 0) & (top - m + 1 < size) & (left + m >= 0) & (left - m + 1 < size)
        index, top, left, cy, cx = index[inside], top[inside], left[inside], cy[inside], cx[inside]
        if len(index) == 0:
            return {}
        offs = np.arange(-m + 1, m + 1, dtype=np.float32) + 0.5
        yy = (top - cy).astype(np.float32)[:, None, None] + offs[None, :, None]
        xx = (left - cx).astype(np.float32)[:, None, None] + offs[None, None, :]
        alpha, _, _ = shapes.coverage(index, yy, xx)
        colour = shapes.colours[index, 0][:, :, None, None]
        rows = (top - m + 1 + self.margin).tolist()  # the boxes' corners in the padded canvas
        cols = (left - m + 1 + self.margin).tolist()
        return {int(i): (rows[k], cols[k], alpha[k], colour[k]) for k, i in enumerate(index)}

    def paint_small(self, box) -> None:
        r, c, alpha, colour = box
        side = alpha.shape[-1]
        region = self.padded[:, r : r + side, c : c + side]
        region += alpha * (colour - region)


def _segments(rng: np.random.Generator, size: int) -> list:
    """Thin straight segments of one image: (y0, x0, y1, x1, width). Free lines (lengths
    log-uniform up to twice the side, so many cross the whole image), or a lattice: two
    parallel rails with zigzag braces between them (a mast, a truss, a railing)."""
    segs = []
    for _ in range(int(rng.integers(1, 4))):
        width = float(rng.uniform(0.6, 3.0))
        cy, cx = rng.uniform(-0.1 * size, 1.1 * size, 2)
        theta = rng.uniform(0.0, math.pi)
        dy, dx = math.sin(theta), math.cos(theta)
        length = math.exp(rng.uniform(math.log(6.0), math.log(2.0 * size)))
        if rng.random() < 0.6:
            for _ in range(int(rng.integers(1, 5))):  # a bundle of near-parallel lines
                off = rng.normal(0.0, 0.08 * size)
                segs.append((cy + off * dx - dy * length / 2, cx - off * dy - dx * length / 2,
                             cy + off * dx + dy * length / 2, cx - off * dy + dx * length / 2,
                             max(0.6, width * rng.uniform(0.6, 1.4))))
        else:
            gap = rng.uniform(4.0, 0.3 * size)  # the rails' distance
            pitch = gap * rng.uniform(0.5, 1.5)  # the braces' spacing along the rails
            ny, nx = dx, -dy  # the normal
            for side in (-0.5, 0.5):
                oy, ox = cy + side * gap * ny, cx + side * gap * nx
                segs.append((oy - dy * length / 2, ox - dx * length / 2, oy + dy * length / 2, ox + dx * length / 2, width))
            brace = max(0.6, width * rng.uniform(0.4, 1.0))
            for k in range(int(length / pitch)):
                t0 = -length / 2 + k * pitch
                s0, s1 = (-0.5, 0.5) if k % 2 == 0 else (0.5, -0.5)
                segs.append((cy + t0 * dy + s0 * gap * ny, cx + t0 * dx + s0 * gap * nx,
                             cy + (t0 + pitch) * dy + s1 * gap * ny, cx + (t0 + pitch) * dx + s1 * gap * nx, brace))
    return segs


def _paint_segment(canvas: np.ndarray, seg, colour: np.ndarray) -> None:
    """Composite one anti-aliased segment (coverage from the distance to it) in place."""
    y0, x0, y1, x1, width = seg
    size_y, size_x = canvas.shape[1:]
    reach = width / 2.0 + 1.5
    top, bottom = max(0, int(min(y0, y1) - reach)), min(size_y, int(max(y0, y1) + reach) + 1)
    left, right = max(0, int(min(x0, x1) - reach)), min(size_x, int(max(x0, x1) + reach) + 1)
    if top >= bottom or left >= right:
        return
    py = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5 - y0
    px = np.arange(left, right, dtype=np.float32)[None, :] + 0.5 - x0
    vy, vx = y1 - y0, x1 - x0
    t = np.clip((py * vy + px * vx) / max(vy * vy + vx * vx, 1e-6), 0.0, 1.0)
    dist = np.hypot(py - t * vy, px - t * vx)
    alpha = np.clip(width / 2.0 + 0.5 - dist, 0.0, 1.0)
    region = canvas[:, top:bottom, left:right]
    region += alpha[None] * (colour[:, None, None] - region)


def _smooth_surface(rng: np.random.Generator, size: int, channels: int):
    """A smooth, low-contrast shaded surface (C, S, S), its grain (S, S) and the factor
    that pulls the shapes' colours towards its mean."""
    base = _draw_colours(rng, 1, channels)[0, 0]
    contrast = math.exp(rng.uniform(math.log(0.01), math.log(0.12)))
    shading = filtered_noise(rng, size, size, rng.uniform(2.5, 4.0), rng.uniform(0.02, 0.12))
    surface = base[:, None, None] + contrast * shading[None]
    grain = math.exp(rng.uniform(math.log(0.002), math.log(0.03))) * filtered_noise(
        rng, size, size, rng.uniform(0.0, 1.5), rng.uniform(0.2, 0.5))
    return surface.astype(np.float32), grain, float(rng.uniform(0.05, 0.5))


def render_scene(rng: np.random.Generator, size: int, channels: int, options: SceneOptions = SceneOptions()) -> np.ndarray:
    """One dead-leaves image, float32 (channels, size, size) in [0, 1]."""
    opt = options
    painter = _Painter(rng, size, channels, opt)
    r_max = max(opt.r_min * 2.0, opt.r_max_fraction * size)
    mean_area = math.pi * _mean_square_radius(opt.r_min, r_max, opt.size_exponent)
    count = int(min(opt.max_shapes, max(8, opt.coverage * size * size / mean_area)))
    radii = power_law_radii(rng, count, opt.r_min, r_max, opt.size_exponent)
    shapes = _Shapes(rng, radii, size, channels, opt)
    painter.paint_background(_draw_colours(rng, 1, channels)[0])
    blur_at = int(rng.integers(count // 4, 3 * count // 4 + 1)) if rng.random() < opt.p_depth_of_field else -1
    small = radii < opt.texture_min_radius
    large = ~small
    smooth = opt.p_smooth > 0 and rng.random() < opt.p_smooth
    grain = None
    if smooth:
        # Few shapes, faint against the surface: a surface whose texture is its shading
        # and grain (a planet, skin, a wall, a sky), where a denoiser must keep the grain.
        surface, grain, pull = _smooth_surface(rng, size, channels)
        painter.canvas[:] = surface
        mean = surface.mean(axis=(1, 2))
        shapes.colours = (mean[None, None, :] + pull * (shapes.colours - mean[None, None, :])).astype(np.float32)
        keep = rng.random(count) < rng.uniform(0.05, 0.4)
        small &= keep
        large &= keep
    lines = {}
    if opt.p_lines > 0 and rng.random() < opt.p_lines:
        for seg in _segments(rng, size):
            colour = _draw_colours(rng, 1, channels)[0, 0]
            lines.setdefault(int(rng.integers(0, count + 1)), []).append((seg, colour))
    small_boxes = painter.prepare_small(shapes, np.flatnonzero(small))
    for i in range(count):
        if i == blur_at:
            sigma = rng.uniform(1.0, 4.0)
            painter.canvas[:] = ndimage.gaussian_filter(painter.canvas, (0, sigma, sigma), mode="reflect")
        for seg, colour in lines.get(i, ()):
            _paint_segment(painter.canvas, seg, colour)
        if small[i]:
            box = small_boxes.get(i)
            if box is not None:
                painter.paint_small(box)
        elif large[i]:
            painter.paint_large(shapes, i)
    for seg, colour in lines.get(count, ()):
        _paint_segment(painter.canvas, seg, colour)
    if grain is not None:
        painter.canvas += grain[None]
    image = np.ascontiguousarray(painter.canvas)
    if rng.random() < opt.p_global_blur:
        sigma = rng.uniform(0.3, 1.0)
        image = ndimage.gaussian_filter(image, (0, sigma, sigma), mode="reflect")
    return np.clip(image, 0.0, 1.0, out=image)


# The noise laws of the training images (train.py --noise-law): "uniform", the default
# (DRUNet's: sigma uniform in [0, SIGMA_MAX]), or "log": log-uniform in
# [LOG_SIGMA_MIN, SIGMA_MAX], which gives the low levels where plug-and-play ends (the
# benchmark's 0.01 and 0.03 are 2.55 and 7.65 /255) 60% of the draws instead of 16%.
NOISE_LAWS = ("uniform", "log")
LOG_SIGMA_MIN = 0.5 / 255.0


def _draw_sigma(rng: np.random.Generator, sigma_max: float, law: str, size=None):
    if law == "uniform":
        return rng.uniform(0.0, sigma_max, size=size)
    if law == "log":
        return np.exp(rng.uniform(math.log(LOG_SIGMA_MIN), math.log(sigma_max), size=size))
    raise ValueError(f"law must be one of {NOISE_LAWS}, got {law!r}")


def sigma_map(rng: np.random.Generator, size: int, p_varying: float, sigma_max: float = SIGMA_MAX,
              law: str = "uniform") -> np.ndarray:
    """Per-pixel noise standard deviation, float32 (size, size): constant, drawn from `law`
    (uniform in [0, sigma_max], or log-uniform from LOG_SIGMA_MIN), or (with probability
    p_varying) a smooth map between two such values, along a linear ramp or a
    low-frequency noise field. Both laws draw the same random numbers in the same order."""
    if rng.random() >= p_varying:
        return np.full((size, size), _draw_sigma(rng, sigma_max, law), dtype=np.float32)
    s0, s1 = _draw_sigma(rng, sigma_max, law, size=2)
    if rng.random() < 0.5:
        theta = rng.uniform(0.0, 2.0 * math.pi)
        coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
        ramp = coords[None, :] * math.cos(theta) + coords[:, None] * math.sin(theta)
    else:
        ramp = filtered_noise(rng, size, size, 3.0, 0.03)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    return (s0 + (s1 - s0) * ramp).astype(np.float32)


def make_batch(
    rng: np.random.Generator,
    batch_size: int,
    size: int,
    channels: int,
    p_varying: float = 0.25,
    options: SceneOptions = SceneOptions(),
    noise_law: str = "uniform",
    channel_correlation: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean, noisy, sigma): float32 arrays (N, C, S, S), (N, C, S, S), (N, 1, S, S); the
    noise levels drawn from `noise_law` (NOISE_LAWS). With `channel_correlation` r > 0
    (colour only) each image's noise has a correlation rho between its channels, drawn
    uniform in [0, r]: sqrt(rho) x one field common to the channels + sqrt(1 - rho) x
    independent ones (unit variance in every channel), as a camera's demosaicing and
    JPEG's chroma subsampling correlate it; 0 leaves the batch as it was, bit for bit."""
    if noise_law not in NOISE_LAWS:
        raise ValueError(f"noise_law must be one of {NOISE_LAWS}, got {noise_law!r}")
    if not 0.0 <= channel_correlation <= 1.0:
        raise ValueError(f"channel_correlation must be in [0, 1], got {channel_correlation}")
    clean = np.empty((batch_size, channels, size, size), dtype=np.float32)
    sigma = np.empty((batch_size, 1, size, size), dtype=np.float32)
    for i in range(batch_size):
        clean[i] = render_scene(rng, size, channels, options)
        sigma[i, 0] = sigma_map(rng, size, p_varying, law=noise_law)
    noise = rng.standard_normal(clean.shape, dtype=np.float32)
    if channel_correlation > 0 and channels > 1:  # drawn after the rest: the rest is unchanged
        rho = rng.uniform(0.0, channel_correlation, (batch_size, 1, 1, 1)).astype(np.float32)
        common = rng.standard_normal((batch_size, 1, size, size), dtype=np.float32)
        noise = np.sqrt(rho) * common + np.sqrt(1.0 - rho) * noise
    noisy = clean + sigma * noise
    return clean, noisy, sigma


def batch_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of training batch `index`: independent of every other batch."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def training_batch(
    seed: int, index: int, batch_size: int, size: int, channels: int, p_varying: float = 0.25, scenes: str = "v1",
    noise_law: str = "uniform", channel_correlation: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training batch number `index` of the run seeded by `seed` (deterministic), of the
    scene distribution SCENES[scenes], the noise law `noise_law` (NOISE_LAWS) and the
    noise's correlation between channels (make_batch)."""
    if scenes not in SCENES:
        raise ValueError(f"scenes must be one of {sorted(SCENES)}, got {scenes!r}")
    return make_batch(batch_rng(seed, index), batch_size, size, channels, p_varying, SCENES[scenes], noise_law,
                      channel_correlation)


def batches(seed: int, batch_size: int, size: int, channels: int, start: int = 0, p_varying: float = 0.25,
            scenes: str = "v1", noise_law: str = "uniform", channel_correlation: float = 0.0):
    """Endless stream of training batches start, start + 1, ..."""
    index = start
    while True:
        yield training_batch(seed, index, batch_size, size, channels, p_varying, scenes, noise_law,
                             channel_correlation)
        index += 1


def validation_set(channels: int, count: int = 16, size: int = 96, sigmas=VALIDATION_SIGMAS):
    """Fixed validation images: clean (N, C, S, S) and {sigma: noisy} with noise drawn from a
    fixed seed, the same for every training run (independent of the training seed)."""
    rng = np.random.default_rng(np.random.SeedSequence(VALIDATION_ENTROPY, spawn_key=(channels,)))
    clean = np.stack([render_scene(rng, size, channels) for _ in range(count)])
    noisy = {}
    for sigma in sigmas:
        noisy[sigma] = (clean + np.float32(sigma) * rng.standard_normal(clean.shape, dtype=np.float32)).astype(np.float32)
    return clean, noisy


def psnr(estimate: np.ndarray, clean: np.ndarray) -> float:
    """Mean over images of the PSNR (peak 1) of `estimate` (clipped to [0, 1]) against `clean`."""
    est = np.clip(estimate, 0.0, 1.0).astype(np.float64)
    mse = ((est - clean.astype(np.float64)) ** 2).reshape(len(clean), -1).mean(axis=1)
    return float(np.mean(10.0 * np.log10(1.0 / np.maximum(mse, 1e-12))))


def measure_throughput(size: int = 64, channels: int = 3, batch_size: int = 16, batches_: int = 4, seed: int = 0) -> float:
    """Images per second of the generator in this process (one core)."""
    training_batch(seed, 10_000, 2, size, channels)  # warm-up (imports, FFT caches)
    start = time.perf_counter()
    for i in range(batches_):
        training_batch(seed, i, batch_size, size, channels)
    return batches_ * batch_size / (time.perf_counter() - start)


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Measure the generator or write sample images.")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--samples", metavar="PNG", help="write a 4 x 4 grid of 16 clean | noisy pairs (needs Pillow)")
    parser.add_argument("--scenes", default="v1", choices=sorted(SCENES))
    args = parser.parse_args()
    if args.samples:
        from PIL import Image

        clean, noisy, _ = training_batch(0, 0, 16, args.size, args.channels, scenes=args.scenes)
        tiles = np.concatenate([clean, np.clip(noisy, 0, 1)], axis=3)  # clean | noisy side by side
        rows = [np.concatenate(list(tiles[r * 4 : r * 4 + 4]), axis=2) for r in range(4)]
        grid = np.concatenate(rows, axis=1)
        grid = np.clip(grid, 0, 1) ** (1 / 2.2)  # linear -> display
        pixels = (grid.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        Image.fromarray(pixels.squeeze(-1) if args.channels == 1 else pixels).save(args.samples)
        print(f"wrote {args.samples}")
    rate = measure_throughput(args.size, args.channels, args.batch_size, args.batches)
    print(f"{rate:.1f} images/s ({args.size}x{args.size}, {args.channels} channel(s), one process)")


if __name__ == "__main__":
    _main()
