"""Training inputs that look like plug-and-play's: the denoiser's input at step k of
unblur.pnp_deconvolve's schedule on a blurred, noisy image (train.py --pnp-fraction).

A denoiser trained on white Gaussian noise sees something else inside PnP: the data
step's output x_k = argmin ||h * x - g||^2 + alpha_k ||x - z_{k-1}||^2, whose error is
the noise coloured by the blur's inverse filter (strong where |H|^2 is near alpha_k, nil
where the blur passes everything) plus what the previous denoising step got wrong. Here
those inputs are made exactly: a generated clean image f is blurred (periodically, so
the closed-form data step is the exact model) by a random PSF of the field's classes
(Gaussian, defocus disk, linear motion, camera shake), noise is added, and the schedule
of unblur/_pnp.py (the same constants) is run from its start up to a random step k with
the model being trained as the denoiser (no gradients). The training pair is (x_k with
the noise map sigma_k, f).

The random draws (PSF, noise level and noise, step, the noise-estimate error) come from
their own stream, SeedSequence(seed, spawn_key=(index, 1)), so the scenes of batch
`index` are those of the plain run and a run with --pnp-fraction 0 is unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

# unblur/_pnp.py's schedule (ITERATIONS, LAM, SIGMA_START, SIGMA_FLOOR); checked equal by
# tests/test_training_scenes.py.
ITERATIONS = 8
LAM = 0.23
SIGMA_START = 49 / 255
SIGMA_FLOOR = 0.5 / 255
# The observation's noise: log-uniform over this range (the benchmark's 0.01 and 0.03 in
# the middle), and the schedule's noise level = the true one times U(ESTIMATE_ERROR), as
# unblur.estimate_noise is within about 0.95-1.15x of the truth on blurred images.
NOISE_RANGE = (1.0 / 255, 16.0 / 255)
ESTIMATE_ERROR = (0.95, 1.15)
PSF_SIZE = 21  # at most 21 x 21, so a 64 x 64 patch holds its support three times over
PSF_KINDS = ("gaussian", "disk", "motion", "shake")


def pnp_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of batch `index`'s PnP draws, independent of its scenes' generator."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, 1)))


def _splat(points: np.ndarray, size: int) -> np.ndarray:
    """Bilinear accumulation of (y, x) points (pixels, centre 0) on a size x size grid."""
    r = size // 2
    h = np.zeros((size + 1, size + 1))
    p = points + r
    i0 = np.floor(p).astype(int)
    w = p - i0
    for dy in (0, 1):
        for dx in (0, 1):
            wt = (w[:, 0] if dy else 1 - w[:, 0]) * (w[:, 1] if dx else 1 - w[:, 1])
            np.add.at(h, (np.clip(i0[:, 0] + dy, 0, size), np.clip(i0[:, 1] + dx, 0, size)), wt)
    return h[:size, :size]


def random_psf(rng: np.random.Generator, size: int = PSF_SIZE) -> np.ndarray:
    """A PSF (size x size, odd, centred, sum 1) of a random class and extent."""
    r = size // 2
    kind = PSF_KINDS[rng.integers(len(PSF_KINDS))]
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    if kind == "gaussian":
        s = rng.uniform(0.7, 3.0)
        h = np.exp(-(x * x + y * y) / (2 * s * s))
    elif kind == "disk":
        radius = rng.uniform(1.0, min(6.0, r - 1.0))
        sub = (np.arange(4) + 0.5) / 4 - 0.5  # 4 x 4 supersampling of each pixel
        yy = y[..., None, None] + sub[:, None]
        xx = x[..., None, None] + sub[None, :]
        h = (yy * yy + xx * xx <= radius * radius).mean(axis=(-1, -2))
    elif kind == "motion":
        length = rng.uniform(3.0, 2 * r - 2.0)
        theta = rng.uniform(0, math.pi)
        t = np.linspace(-length / 2, length / 2, 400)
        h = _splat(np.stack([t * math.sin(theta), t * math.cos(theta)], axis=1), size)
    else:  # shake: a random walk with momentum, recentred, slightly smoothed
        steps = 300
        v = np.cumsum(rng.normal(0, 1, (steps, 2)), axis=0)
        v = v / max(1e-9, np.abs(v).max())
        path = np.cumsum(v, axis=0)
        path -= path.mean(axis=0)
        extent = rng.uniform(3.0, r - 1.0)
        path *= extent / max(1e-9, np.abs(path).max())
        h = ndimage.gaussian_filter(_splat(path, size), 0.5)
    h = np.maximum(h, 0)
    return (h / h.sum()).astype(np.float32)


def draw(rng: np.random.Generator, count: int, channels: int, size: int, first_step: int = 0) -> dict:
    """The PnP draws of `count` images of size x size: the PSFs (on the periodic grid,
    centre at [0, 0]), the true and the scheduled noise level, the step (uniform in
    [first_step, ITERATIONS)), the noise."""
    if size < PSF_SIZE:
        raise ValueError(f"size must be at least {PSF_SIZE} (the largest PSF), got {size}")
    if not 0 <= first_step < ITERATIONS:
        raise ValueError(f"first_step must be in [0, {ITERATIONS}), got {first_step}")
    psf = np.zeros((count, size, size), dtype=np.float32)
    for i in range(count):
        h = random_psf(rng)
        r = h.shape[0] // 2
        psf[i, : h.shape[0], : h.shape[1]] = h
        psf[i] = np.roll(psf[i], (-r, -r), axis=(0, 1))
    lo, hi = NOISE_RANGE
    sigma = np.exp(rng.uniform(math.log(lo), math.log(hi), count)).astype(np.float32)
    estimate = (sigma * rng.uniform(*ESTIMATE_ERROR, count)).astype(np.float32)
    step = rng.integers(first_step, ITERATIONS, count).astype(np.int64)
    noise = rng.standard_normal((count, channels, size, size), dtype=np.float32)
    return {"psf": psf, "sigma": sigma, "estimate": estimate, "step": step, "noise": noise}


def schedule(sigma: float) -> list:
    """unblur/_pnp.py's sigma_k for a noise level (its `schedule`, alphas aside)."""
    s = max(float(sigma), SIGMA_FLOOR)
    return [float(v) for v in np.geomspace(max(SIGMA_START, s), s, ITERATIONS)]


def inputs(model, clean, draws: dict) -> tuple:
    """(x, sigma_map): the denoiser's input at each image's drawn step, (N, C, S, S) and
    (N, 1, S, S), for clean images (N, C, S, S) and the draws of `draw` (as tensors).
    `model` maps (N, C + 1, S, S) (image and noise map) to (N, C, S, S)."""
    import torch  # here, so that the NumPy half of this module runs without PyTorch

    with torch.no_grad():
        was_training = model.training
        model.eval()
        try:
            return _inputs(torch, model, clean, draws)
        finally:
            model.train(was_training)


def clean_previous_inputs(clean, draws: dict) -> tuple:
    """(x, sigma_map) as `inputs`, but with a perfect previous step (z_{k-1} = the clean
    image): the data step's output is then the clean image plus the observation's noise
    coloured by the data step alone, H^* n / (|H|^2 + alpha_k), with no error carried
    from earlier denoising and no model call (train.py --pnp-previous clean)."""
    import torch

    n, c, s1, s2 = clean.shape
    otf = torch.fft.rfft2(draws["psf"])[:, None]
    h2 = otf.real ** 2 + otf.imag ** 2
    sched = torch.tensor([schedule(v) for v in draws["estimate"].tolist()], dtype=clean.dtype)
    sig = sched[torch.arange(n), draws["step"]].view(n, 1, 1, 1)
    est = draws["estimate"].clamp(min=SIGMA_FLOOR).view(n, 1, 1, 1)
    alpha = LAM * est ** 2 / sig ** 2
    noise = draws["sigma"].view(n, 1, 1, 1) * draws["noise"]
    coloured = torch.fft.irfft2(otf.conj() * torch.fft.rfft2(noise) / (h2 + alpha), s=(s1, s2))
    return clean + coloured, sig.expand(n, 1, s1, s2).contiguous()


def _problem(torch, clean, draws: dict) -> tuple:
    """The periodic deblurring problem of each image: the observation g (blurred, noisy),
    H^* G and |H|^2 of the data step, the schedule's sigma_k (N, K) and the (floored)
    noise estimate (N, 1, 1, 1)."""
    n, c, s1, s2 = clean.shape
    otf = torch.fft.rfft2(draws["psf"])[:, None]  # (N, 1, S, S//2 + 1)
    g = torch.fft.irfft2(torch.fft.rfft2(clean) * otf, s=(s1, s2)) + draws["sigma"].view(n, 1, 1, 1) * draws["noise"]
    ht_g = otf.conj() * torch.fft.rfft2(g)
    h2 = otf.real ** 2 + otf.imag ** 2
    sched = torch.tensor([schedule(v) for v in draws["estimate"].tolist()], dtype=clean.dtype)  # (N, K)
    est = draws["estimate"].clamp(min=SIGMA_FLOOR).view(n, 1, 1, 1)
    return g, ht_g, h2, sched, est


def _inputs(torch, model, clean, draws: dict) -> tuple:
    n, c, s1, s2 = clean.shape
    g, ht_g, h2, sched, est = _problem(torch, clean, draws)
    step = draws["step"]
    z = g.clone()
    out = torch.empty_like(clean)
    for j in range(int(step.max()) + 1):
        active = step >= j
        idx = active.nonzero().flatten()
        sig = sched[idx, j].view(-1, 1, 1, 1)
        alpha = LAM * est[idx] ** 2 / sig ** 2
        x = torch.fft.irfft2((ht_g[idx] + alpha * torch.fft.rfft2(z[idx])) / (h2[idx] + alpha), s=(s1, s2))
        last = step[idx] == j
        out[idx[last]] = x[last]
        more = ~last
        if more.any():
            xm = x[more]
            smap = sig[more].expand(-1, 1, s1, s2)
            z[idx[more]] = model(torch.cat([xm, smap], dim=1)).float()
    sigma_map = sched[torch.arange(n), step].view(n, 1, 1, 1).expand(n, 1, s1, s2).contiguous()
    return out, sigma_map


def _turn(torch, v, t: int, undo: bool = False):
    """The t-th of the 8 flips/quarter turns of v's last two (spatial) axes, in
    unblur._pnp._orient's order (a flip of the columns for t >= 4, then t % 4 quarter
    turns), or with `undo` its inverse."""
    if not undo:
        if t >= 4:
            v = torch.flip(v, dims=(-1,))
        return torch.rot90(v, t % 4, dims=(-2, -1))
    v = torch.rot90(v, -(t % 4), dims=(-2, -1))
    return torch.flip(v, dims=(-1,)) if t >= 4 else v


def unrolled(model, clean, draws: dict, cycle: bool = True):
    """The final estimate of the whole PnP schedule (all ITERATIONS steps, with gradients
    through every denoiser call and data step: the denoiser trained as PnP's prior, end
    to end, train.py --unrolled) on periodically blurred, noisy copies of `clean`
    (N, C, S, S), with the draws of `draw` (as tensors; their `step` is not used). With
    `cycle`, step k's denoiser sees the (k mod 8)-th flip/turn of its input, as
    unblur.pnp_deconvolve's default self_ensemble='cycle'."""
    import torch

    n, c, s1, s2 = clean.shape
    g, ht_g, h2, sched, est = _problem(torch, clean, draws)
    z = g
    for k in range(ITERATIONS):
        sig = sched[:, k].view(n, 1, 1, 1)
        alpha = LAM * est ** 2 / sig ** 2
        x = torch.fft.irfft2((ht_g + alpha * torch.fft.rfft2(z)) / (h2 + alpha), s=(s1, s2))
        t = k % 8 if cycle else 0
        v = torch.cat([x, sig.expand(n, 1, s1, s2)], dim=1)
        z = _turn(torch, model(_turn(torch, v, t)).to(x.dtype), t, undo=True)  # bfloat16 under autocast
    return z
