"""Reference N-D convolution (array API): pad by the boundary rule, FFT, crop.

The definition the C++ engine is tested against, written to be read: the image is
extended with ``xp.pad`` by exactly the halo the wanted outputs read, linearly
convolved with the kernel through ``xp.fft`` on a grid large enough to avoid any
wrap-around, and cropped to the outputs that saw the whole kernel.
"""

from __future__ import annotations

from . import namespace

# unblur's boundary names -> numpy.pad / cupy.pad modes.
PAD_MODES = {
    "constant": "constant",
    "reflect": "symmetric",  # d c b a | a b c d
    "mirror": "reflect",  # d c b | a b c d
    "nearest": "edge",
    "periodic": "wrap",
    "wrap": "wrap",
}


def output_shape(shape, kernel_shape, mode):
    """full: N + K - 1, same: N, valid: N - K + 1 per axis."""
    if mode == "full":
        return tuple(n + k - 1 for n, k in zip(shape, kernel_shape))
    if mode == "same":
        return tuple(shape)
    if mode == "valid":
        return tuple(n - k + 1 for n, k in zip(shape, kernel_shape))
    raise ValueError(f"mode must be 'full', 'same' or 'valid', got {mode!r}")


def convolve(image, kernel, mode="same", boundary="constant", cval=0.0):
    """Convolution of `image` with `kernel` (same ndim), centre at ``kernel.shape // 2``.

    Output index ``u`` on an axis is full-convolution index ``u + offset`` with
    offset 0 ('full'), K // 2 ('same') or K - 1 ('valid'); it reads image samples
    ``u + offset - (K - 1)`` to ``u + offset``, taken from the extended image.
    """
    xp = namespace(image)
    shape, kshape = tuple(image.shape), tuple(kernel.shape)
    out_shape = output_shape(shape, kshape, mode)
    offset = {"full": [0] * len(shape), "same": [k // 2 for k in kshape], "valid": [k - 1 for k in kshape]}[mode]
    before = [k - 1 - o for k, o in zip(kshape, offset)]
    after = [m + k - 1 - n - b for m, k, n, b in zip(out_shape, kshape, shape, before)]
    pad_mode = PAD_MODES[boundary]
    extra = {"constant_values": cval} if pad_mode == "constant" else {}
    ext = xp.pad(image, list(zip(before, after)), mode=pad_mode, **extra)
    # Linear convolution of ext (M + K - 1) with the kernel fits a grid of M + 2K - 2;
    # its samples K - 1 ... M + K - 2 are the outputs that saw the whole kernel.
    grid = tuple(e + k - 1 for e, k in zip(ext.shape, kshape))
    axes = tuple(range(len(shape)))
    spectrum = xp.fft.rfftn(ext, s=grid, axes=axes) * xp.fft.rfftn(kernel, s=grid, axes=axes)
    full = xp.fft.irfftn(spectrum, s=grid, axes=axes)
    out = full[tuple(slice(k - 1, k - 1 + m) for k, m in zip(kshape, out_shape))]
    return xp.ascontiguousarray(out.astype(image.dtype, copy=False))
