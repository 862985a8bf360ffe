// Filters on the GPU: the single-source separable Gaussian (csrc/gpu/gaussian_filter.hpp)
// on device memory, queued on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <vector>

#include "core/array.hpp"
#include "core/boundary.hpp"

namespace unblur::cuda {

/// out = in filtered by a Gaussian of sigma[a] along each axis a (scipy.ndimage's
/// kernel and modes, as unblur::gaussian_filter). in and out must not overlap.
template <typename T>
void gaussian_filter(const T* in, T* out, const Shape& shape, const std::vector<double>& sigma, Boundary mode,
                     double cval, double truncate, cudaStream_t stream);

}  // namespace unblur::cuda
