"""Reference FFT helpers: fast sizes, psf2otf and otf2psf (array API)."""

from __future__ import annotations

from . import namespace


def _smooth(m: int) -> bool:
    """Whether m's only prime factors are 2, 3, 5 and 7."""
    for p in (2, 3, 5, 7):
        while m % p == 0:
            m //= p
    return m == 1


def fast_fft_size(n: int, even: bool = False) -> int:
    """Smallest m >= n with prime factors in {2, 3, 5, 7}; even if asked."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    m = n
    while (even and m % 2) or not _smooth(m):
        m += 1
    return m


def smooth_size_at_most(n: int) -> int:
    """Largest m <= n with prime factors in {2, 3, 5, 7} (as smooth_size_at_most in C++)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    m = n
    while not _smooth(m):
        m -= 1
    return m


def fast_fft_shape(shape):
    shape = tuple(int(s) for s in shape)
    return tuple(fast_fft_size(s, even=(i == len(shape) - 1)) for i, s in enumerate(shape))


def psf2otf(psf, shape):
    """Half-spectrum OTF of `psf` on the periodic grid `shape`, centre at the origin."""
    xp = namespace(psf)
    grid = xp.zeros(tuple(shape), dtype=psf.dtype)
    grid[tuple(slice(0, s) for s in psf.shape)] = psf
    grid = xp.roll(grid, tuple(-(s // 2) for s in psf.shape), axis=tuple(range(psf.ndim)))
    out = xp.fft.rfftn(grid)
    return out.astype(_complex_of(xp, psf.dtype), copy=False)


def otf2psf(otf, shape, psf_shape):
    xp = namespace(otf)
    grid = xp.fft.irfftn(otf, s=tuple(shape), axes=tuple(range(len(shape))))
    grid = xp.roll(grid, tuple(s // 2 for s in psf_shape), axis=tuple(range(len(shape))))
    real = xp.float32 if otf.dtype == xp.complex64 else xp.float64
    return xp.ascontiguousarray(grid[tuple(slice(0, s) for s in psf_shape)].astype(real, copy=False))


def _complex_of(xp, dtype):
    return xp.complex64 if dtype == xp.float32 else xp.complex128
