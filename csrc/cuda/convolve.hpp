// N-D convolution and psf2otf on the GPU: device pointers, shapes, the caller's stream.
//
// Same definition as the CPU engine (csrc/core/convolve.hpp): with c = K / 2 per axis,
// the 'same' output is out[p] = sum_j kernel[j] ext[p + c - j], ext the image extended
// by the Boundary rule (core/boundary.hpp, shared with the CPU engine); 'full' and
// 'valid' shift and size the output window the same way. Mechanism: the region of ext
// the outputs read (M + K - 1 per axis) is written into a zeroed grid of a 2-3-5-7
// smooth size P >= M + K - 1, so circular convolution with the kernel placed at the
// origin equals the linear one on the wanted outputs; R2C, one fused product with the
// kernel's spectrum (and 1/|P|), C2R, crop: three kernels and three transforms, on
// stream-ordered temporaries. No host <-> device copies, no synchronisation.
#pragma once

#include <cuda_runtime.h>

#include "core/array.hpp"
#include "core/boundary.hpp"
#include "core/convolve.hpp"
#include "cuda/fft.hpp"

namespace unblur::cuda {

/// Output shape of convolve (the CPU engine's rule); ValueError for bad shapes.
Shape convolve_output_shape(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode);

/// out = image (*) kernel. All three are C-contiguous device arrays of T on the current
/// device: image `shape` (1 to 3 axes), kernel `kernel_shape` (as many axes), out
/// convolve_output_shape(...). Queued on `stream`.
template <typename T>
void convolve(const T* image, const Shape& shape, const T* kernel, const Shape& kernel_shape, T* out,
              ConvolveMode mode, Boundary boundary, T cval, cudaStream_t stream);

/// otf (the half spectrum of `shape`) = FFT of the PSF zero-padded to `shape` with its
/// centre pixel (index psf_shape / 2 per axis) moved to the origin, as
/// unblur::psf2otf. The PSF must fit in `shape`.
template <typename T>
void psf2otf(const T* psf, const Shape& psf_shape, const Shape& shape, Complex<T>* otf, cudaStream_t stream);

}  // namespace unblur::cuda
