"""A stand-in for unblur._cuda that runs the CUDA engine's algorithms on the host.

With the CuPy stand-in (tests/cupy_standin.py, whose `x.data.ptr` is the NumPy
buffer's real address), the public API sends stand-in arrays down the CUDA route of
the Python layer: device addresses, shapes, dtype names, the stream, state buffers,
outputs allocated from the pool. This module receives those calls with unblur._cuda's
signatures, views the addresses as NumPy arrays and runs the single-source algorithms
by the host executor (unblur._core.gpu_on_host), writing into the output buffers. So
the Python side of the CUDA route is exercised end to end without a GPU; only the
device executor is left out (tests/test_cuda.py runs it where there is a GPU).
Operations without a single-source version (convolve, psf2otf) run the C++ engine.
"""

from __future__ import annotations

import ctypes

import numpy as np
import unblur

host = unblur._core.gpu_on_host
core = unblur._core

calls: list[str] = []  # the names called, for the tests to check the route was taken


def _view(ptr, shape, dtype):
    """The array at address `ptr` (writable, C-contiguous)."""
    assert ptr, "null device pointer"
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) if len(shape) else 1
    buf = (ctypes.c_char * (n * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(buf, dtype=dtype).reshape(tuple(shape))


def _spectrum_shape(shape):
    return tuple(shape[:-1]) + (shape[-1] // 2 + 1,)


def _record(name):
    calls.append(name)


def convolve_output_shape(shape, kernel_shape, mode):
    return core.convolve_output_shape(list(shape), list(kernel_shape), mode)


def convolve(image, shape, kernel, kernel_shape, out, dtype, mode, boundary, cval, stream):
    _record("convolve")
    x, k = _view(image, shape, dtype), _view(kernel, kernel_shape, dtype)
    result = core.convolve(x, k, mode, boundary, cval)
    _view(out, result.shape, dtype)[...] = result


def psf2otf(psf, psf_shape, shape, otf, dtype, stream):
    _record("psf2otf")
    h = _view(psf, psf_shape, dtype)
    cdtype = np.complex64 if np.dtype(dtype) == np.float32 else np.complex128
    _view(otf, _spectrum_shape(shape), cdtype)[...] = unblur.fft.psf2otf(h, tuple(shape))


def gaussian_filter(image, out, shape, sigma, mode, cval, truncate, dtype, stream):
    _record("gaussian_filter")
    x = _view(image, shape, dtype)
    _view(out, shape, dtype)[...] = host.gaussian_filter(x, list(sigma), mode, cval, truncate)


def psnr(reference, image, n, data_range, dtype, stream):
    _record("psnr")
    return host.psnr(_view(reference, (n,), dtype), _view(image, (n,), dtype), data_range)


def ssim(reference, image, shape, data_range, sigma, truncate, K1, K2, ssim_map, dtype, stream):
    _record("ssim")
    m, smap = host.ssim(_view(reference, shape, dtype), _view(image, shape, dtype), data_range, sigma, truncate, K1,
                        K2, bool(ssim_map))
    if ssim_map:
        _view(ssim_map, shape, dtype)[...] = smap
    return m


def deconv_grid_shape(shape, psf_shape, boundary):
    return list(core.quadratic_grid_shape(list(shape), list(psf_shape), "auto" if boundary == "zero" else boundary))


_STATE = ("estimate", "previous", "previous_step", "correction")


def richardson_lucy(image, shape, psf, psf_shape, weights, initial, out, dtype, boundary, iterations, max_iterations,
                    accelerate, damping, tv_weight, background, tolerance, noise_sigma, start, estimate, previous,
                    previous_step, correction, history, iterations_done, correction_dot, correction_norm2, callback,
                    stream):
    _record("richardson_lucy")
    grid = deconv_grid_shape(shape, psf_shape, boundary)
    buffers = dict(zip(_STATE, (estimate, previous, previous_step, correction)))
    views = {k: _view(p, grid, dtype) for k, p in buffers.items() if p}
    state = None
    if start == "state":
        state = dict({k: v.copy() for k, v in views.items()}, boundary=boundary, iterations=iterations_done,
                     history=history, correction_dot=correction_dot, correction_norm2=correction_norm2)
    result, info = host.richardson_lucy(
        _view(image, shape, dtype), _view(psf, psf_shape, dtype),
        weights=_view(weights, shape, dtype) if weights else None, boundary=boundary, iterations=iterations,
        max_iterations=max_iterations, accelerate=accelerate, damping=damping, tv_weight=tv_weight,
        background=background, tolerance=tolerance, noise_sigma=noise_sigma,
        initial=_view(initial, shape, dtype) if start == "image" else None, state=state, callback=callback)
    _view(out, shape, dtype)[...] = result
    for k, v in views.items():
        v[...] = info["state"][k]
    s = info["state"]
    return dict({k: info[k] for k in ("iterations", "stopped_by", "noise_sigma", "residual", "relative_change")},
                history=s["history"], iterations_done=s["iterations"], correction_dot=s["correction_dot"],
                correction_norm2=s["correction_norm2"])


def quadratic(image, shape, psf, psf_shape, out, dtype, boundary, kind, nsr_mode, nsr, nsr_spectrum, regularizer,
              lam_method, lam, sigma, callback, tolerance, max_iterations, stream):
    _record(f"quadratic:{kind}")
    value = None if nsr_mode == "auto" else nsr if nsr_mode == "scalar" else _view(
        nsr_spectrum, _spectrum_shape(core.quadratic_grid_shape(list(shape), list(psf_shape), boundary)), dtype)
    result, info = host.quadratic(_view(image, shape, dtype), _view(psf, psf_shape, dtype), boundary, kind, value,
                                  regularizer, lam_method, lam, sigma, callback, tolerance, max_iterations)
    _view(out, shape, dtype)[...] = result
    return info


def data_prox(image, shape, psf, psf_shape, z, x, dtype, boundary, alpha, tolerance, max_iterations, stream):
    _record("data_prox")
    grid = core.quadratic_grid_shape(list(shape), list(psf_shape), boundary)
    xv = _view(x, grid, dtype)
    result, info = host.data_prox(_view(image, shape, dtype), _view(psf, psf_shape, dtype), boundary, alpha,
                                  _view(z, grid, dtype), xv.copy(), tolerance, max_iterations)
    xv[...] = result
    return info


def tv_deconvolve(image, shape, channels, psf, psf_shape, out, dtype, boundary, weight, max_iterations, tolerance,
                  positivity, bounds, rho, callback, stream):
    _record("tv_deconvolve")
    full = (channels,) + tuple(shape)
    x = _view(image, full, dtype)
    result, info = host.tv_deconvolve(x if channels > 1 else x[0], _view(psf, psf_shape, dtype), channels > 1,
                                      boundary, weight, max_iterations, tolerance, positivity, bounds, rho, callback)
    _view(out, full, dtype)[...] = result.reshape(full)
    return info


def blind_richardson_lucy(image, shape, psf, psf_shape, out, dtype, iterations, psf_iterations, callback, stream):
    _record("blind_richardson_lucy")
    h = _view(psf, psf_shape, dtype)
    result, estimate, done = host.blind_richardson_lucy(_view(image, shape, dtype), h.copy(), iterations,
                                                        psf_iterations, callback)
    _view(out, shape, dtype)[...] = result
    h[...] = estimate
    return done
