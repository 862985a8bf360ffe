// Metrics on the GPU: the single-source MSE / PSNR / SSIM of csrc/gpu/metrics.hpp on
// device memory, queued on `stream`; the returned value is the one scalar read back.
#pragma once

#include <cuda_runtime.h>

#include "core/array.hpp"
#include "core/metrics.hpp"

namespace unblur::cuda {

template <typename T>
double mean_squared_error(const T* reference, const T* image, std::ptrdiff_t n, cudaStream_t stream);
template <typename T>
double psnr(const T* reference, const T* image, std::ptrdiff_t n, double data_range, cudaStream_t stream);
/// Mean SSIM; the map is written to ssim_map (device, the images' shape) unless nullptr.
template <typename T>
double ssim(const T* reference, const T* image, const Shape& shape, const SsimOptions& options, T* ssim_map,
            cudaStream_t stream);

}  // namespace unblur::cuda
