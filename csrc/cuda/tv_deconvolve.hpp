// TV deconvolution on the GPU: the single-source ADMM of csrc/gpu/tv_deconvolve.hpp run
// by the device executor on device memory, queued on `stream`.
#pragma once

#include <cuda_runtime.h>

#include "core/array.hpp"
#include "core/blur_operator.hpp"
#include "core/iteration.hpp"
#include "core/tv_deconvolve.hpp"

namespace unblur::cuda {

/// As unblur::tv_deconvolve: image and out are channels x shape, channel-major.
template <typename T>
TVInfo tv_deconvolve(const T* image, const Shape& shape, std::ptrdiff_t channels, const T* psf,
                     const Shape& psf_shape, DeconvBoundary boundary, const TVOptions& options, T* out,
                     const IterationCallback& callback, cudaStream_t stream);

}  // namespace unblur::cuda
