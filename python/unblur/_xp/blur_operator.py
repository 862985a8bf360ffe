"""Reference blur forward model g = M (h * x) on a periodic grid (see
csrc/core/blur_operator.hpp), and the noise-level estimate, in the array API."""

from __future__ import annotations

from . import namespace
from .fft import fast_fft_shape, psf2otf


class BlurOperator:
    """periodic: grid = observation shape, offset 0; extended: grid >= N + K - 1, offset K // 2."""

    def __init__(self, psf, shape, extended):
        self.xp = xp = namespace(psf)
        shape = tuple(int(s) for s in shape)
        if extended:
            self.grid_shape = fast_fft_shape(tuple(n + k - 1 for n, k in zip(shape, psf.shape)))
            self.offset = tuple(k // 2 for k in psf.shape)
        else:
            self.grid_shape = shape
            self.offset = (0,) * len(shape)
        self.observed_shape = shape
        self.periodic = not extended
        self.otf = psf2otf(psf, self.grid_shape)
        self.dtype = psf.dtype
        self._window = tuple(slice(o, o + n) for o, n in zip(self.offset, shape))
        del xp

    def _apply(self, x, otf):
        xp = self.xp
        out = xp.fft.irfftn(xp.fft.rfftn(x) * otf, s=self.grid_shape, axes=tuple(range(x.ndim)))
        return out.astype(self.dtype, copy=False)

    def forward_grid(self, x):
        return self._apply(x, self.otf)

    def adjoint_grid(self, y):
        return self._apply(y, self.xp.conj(self.otf))

    def crop(self, x):
        return self.xp.ascontiguousarray(x[self._window])

    def embed(self, y, fill=0.0):
        grid = self.xp.full(self.grid_shape, fill, dtype=y.dtype)
        grid[self._window] = y
        return grid

    def forward(self, x):
        return self.crop(self.forward_grid(x))

    def adjoint(self, y):
        return self.adjoint_grid(self.embed(y))


def estimate_noise(image):
    """sigma = median(|Haar diagonal detail|) / 0.6745 over 2x2 blocks of the last two axes."""
    xp = namespace(image)
    x = image.astype(xp.float64)
    if x.ndim == 1:
        n = (x.shape[0] // 2) * 2
        d = xp.abs(x[0:n:2] - x[1:n:2]) / (2.0**0.5)
    else:
        h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
        x = x[..., :h, :w]
        d = xp.abs(x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2.0
    return float(xp.median(d)) / 0.6744897501960817
