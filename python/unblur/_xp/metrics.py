"""Reference image-quality metrics (array API): PSNR and Gaussian-window SSIM.

Computed in float64 on NumPy or CuPy arrays, with the same definitions as the C++
engine (see unblur.metrics).
"""

from __future__ import annotations

import math

from . import namespace
from .gaussian_filter import gaussian_filter, gaussian_radius


def mean_squared_error(reference, image) -> float:
    xp = namespace(reference)
    d = reference.astype(xp.float64) - image.astype(xp.float64)
    return float(xp.mean(d * d))


def psnr(reference, image, data_range: float) -> float:
    """10 log10(data_range^2 / MSE); inf for identical arrays."""
    mse = mean_squared_error(reference, image)
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def ssim(reference, image, data_range: float, sigma: float = 1.5, truncate: float = 3.5,
         K1: float = 0.01, K2: float = 0.03):
    """(mean SSIM over the map cropped by the window radius, full SSIM map in the input dtype)."""
    xp = namespace(reference)
    x = reference.astype(xp.float64)
    y = image.astype(xp.float64)
    sigmas = (sigma,) * x.ndim

    def blur(a):
        return gaussian_filter(a, sigmas, "reflect", 0.0, truncate)

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    S = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = gaussian_radius(sigma, truncate)
    inner = S[tuple(slice(pad, n - pad) for n in S.shape)]
    return float(xp.mean(inner)), S.astype(reference.dtype)
