// Blind Richardson-Lucy on the GPU: csrc/gpu/blind_richardson_lucy.hpp run by the
// device executor on device memory, queued on `stream`.
#pragma once

#include <cuda_runtime.h>

#include "core/array.hpp"
#include "core/blind_richardson_lucy.hpp"
#include "core/iteration.hpp"

namespace unblur::cuda {

/// As unblur::blind_richardson_lucy; psf (device) is overwritten with the estimate.
template <typename T>
int blind_richardson_lucy(const T* image, const Shape& shape, T* psf, const Shape& psf_shape, T* out,
                          const BlindRLOptions& options, const IterationCallback& callback, cudaStream_t stream);

}  // namespace unblur::cuda
