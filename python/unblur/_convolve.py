"""Public N-D convolution: ``unblur.convolve``."""

from __future__ import annotations

import numpy as np

from . import _backend, _memory, _validate
from ._xp import convolve as _xp_convolve

__all__ = ["convolve"]

_MODES = ("full", "same", "valid")
_BOUNDARIES = ("constant", "reflect", "mirror", "nearest", "periodic", "wrap")
_METHODS = ("auto", "fft", "direct")


def convolve(image, kernel, *, mode="same", boundary="constant", cval=0.0, method="auto",
             channel_axis=None, threads=None):
    """N-dimensional convolution of an image (1-D, 2-D or 3-D) with a kernel.

    Parameters
    ----------
    image : array
        Signal, image or volume; float32 and float64 are kept, other dtypes follow
        unblur's dtype policy (integers become float32 in [0, 1]).
    kernel : array
        As many dimensions as `image` has spatial axes; cast to the image's dtype.
        Its centre is index ``k // 2`` on each axis (the PSF convention of
        :func:`unblur.fft.psf2otf`). A NumPy kernel with a CuPy image is copied to
        the device; a CuPy kernel with a NumPy image is a TypeError.
    mode : {'same', 'full', 'valid'}
        Output size per axis: 'same' N (aligned with the image), 'full' N + K - 1
        (every output the kernel touches), 'valid' N - K + 1 (only outputs that need no
        extension; the kernel must fit inside the image).
    boundary : {'constant', 'reflect', 'mirror', 'nearest', 'periodic'}
        How the image is extended beyond its edges for 'same' and 'full' (image
        ``a b c d``; 'valid' reads no extension):

        ============  =======================  ======================  ===============
        boundary      extension                numpy.pad mode          scipy.ndimage
        ============  =======================  ======================  ===============
        'constant'    ``k k k | a b c d``      'constant' (k = cval)   'constant'
        'reflect'     ``c b a | a b c d``      'symmetric'             'reflect'
        'mirror'      ``d c b | a b c d``      'reflect'               'mirror'
        'nearest'     ``a a a | a b c d``      'edge'                  'nearest'
        'periodic'    ``b c d | a b c d``      'wrap'                  'wrap'
        ============  =======================  ======================  ===============

        'wrap' is an alias of 'periodic'. Extensions longer than the image repeat the
        rule exactly as ``numpy.pad`` does.
    cval : float
        The value outside the image for ``boundary='constant'`` (0: zero padding).
    method : {'auto', 'fft', 'direct'}
        'fft' transforms the extended image on a fast FFT grid; 'direct' sums the
        products in vectorised loops (faster for small kernels); 'auto' picks the
        cheaper by a cost model. Both give the same result to rounding. CuPy arrays
        always take the FFT route (cuFFT, on CuPy's current stream).
    channel_axis : int, optional
        Axis of colour channels; each channel is convolved with the same kernel.
    threads : int, optional
        CPU threads (default: :func:`unblur.get_threads`).

    Returns
    -------
    out : array of the image's (policy) dtype
        Shape ``N + K - 1``, ``N`` or ``N - K + 1`` per spatial axis; the channel axis
        is kept.

    Notes
    -----
    This is convolution (the kernel is flipped), not correlation. With
    ``c = K // 2``, the 'same' output is

    .. math:: y[p] = \\sum_j h[j]\\, f_e[p + c - j],

    where :math:`f_e` is the image extended by `boundary`. For odd kernels this equals
    ``scipy.signal.fftconvolve(..., mode='same')`` (zero boundary) and
    ``scipy.ndimage.convolve(..., origin=0)``. For even kernels it equals
    ``scipy.ndimage.convolve``, while scipy.signal's 'same' is shifted by one pixel
    (it centres even kernels at ``(K - 1) // 2``). 'full' and 'valid' equal
    ``scipy.signal.fftconvolve`` for any kernel (zero boundary).

    The FFT method writes the extended image (the output region plus a K - 1 halo)
    into a buffer of a fast FFT size at least M + K - 1 per axis, so the circular
    convolution has no wrap-around on the wanted outputs; 'periodic' 'same' is then
    exact circular convolution of any size N at a fast FFT size. When the kernel is
    small next to the image the output is cut into overlap-save tiles, each computed by
    the same rule on a smaller grid (fewer operations, transforms that stay in cache,
    one tile per thread).

    Examples
    --------
    >>> import numpy as np, unblur
    >>> x = np.zeros((5, 5)); x[2, 2] = 1
    >>> k = np.arange(9.0).reshape(3, 3)
    >>> bool(np.allclose(unblur.convolve(x, k)[1:4, 1:4], k))
    True
    >>> unblur.convolve(x, k, mode="full").shape, unblur.convolve(x, k, mode="valid").shape
    ((7, 7), (3, 3))
    """
    image, channel_axis = _validate.as_image(image, "image", ndim=(1, 2, 3), channel_axis=channel_axis)
    spatial = image.ndim - (channel_axis is not None)
    xp = _backend.namespace_of(image)
    kernel = _validate.as_kernel(kernel, "kernel", ndim=spatial, dtype=image.dtype, xp=xp)
    mode = _validate.choice(mode, "mode", _MODES)
    boundary = _validate.choice(boundary, "boundary", _BOUNDARIES)
    if boundary == "wrap":
        boundary = "periodic"
    cval = _validate.finite_float(cval, "cval")
    method = _validate.choice(method, "method", _METHODS)
    threads = _validate.threads_arg(threads)
    if mode == "valid":
        shape = [s for i, s in enumerate(image.shape) if i != channel_axis]
        if any(k > n for k, n in zip(kernel.shape, shape)):
            raise ValueError(
                f"kernel of shape {tuple(kernel.shape)} is larger than the image's spatial shape "
                f"{tuple(shape)}; mode='valid' needs it to fit"
            )

    spatial = [s for i, s in enumerate(image.shape) if i != channel_axis]
    channels = 1 if channel_axis is None else image.shape[channel_axis]
    _memory.require("convolve", _memory.convolve_bytes(spatial, kernel.shape, mode, boundary, cval,
                                                       method if xp is np else "fft", threads, image.dtype.itemsize,
                                                       channels), xp)
    if xp is np:
        core = _backend.core()

        def run(x):
            return core.convolve(x, kernel, mode, boundary, cval, method, threads)
    elif _backend.gpu_engine() is not None:
        cuda = _backend.gpu_engine()
        k = _backend.device_pointer(kernel, "kernel")

        def run(x):
            out = xp.empty(tuple(cuda.convolve_output_shape(list(x.shape), list(kernel.shape), mode)), dtype=x.dtype)
            cuda.convolve(_backend.device_pointer(x, "image"), list(x.shape), k, list(kernel.shape), out.data.ptr,
                          x.dtype.name, mode, boundary, cval, _backend.current_stream())
            return out
    else:

        def run(x):
            return _xp_convolve.convolve(x, kernel, mode, boundary, cval)

    return _backend.per_channel(run, image, channel_axis)
