#include "cuda/metrics.hpp"

#include "cuda/exec_device.cuh"
#include "gpu/metrics.hpp"

namespace unblur::cuda {

template <typename T>
double mean_squared_error(const T* reference, const T* image, std::ptrdiff_t n, cudaStream_t stream) {
  return gpu::mean_squared_error(DeviceExec<double>(stream), reference, image, n);
}

template <typename T>
double psnr(const T* reference, const T* image, std::ptrdiff_t n, double data_range, cudaStream_t stream) {
  return gpu::psnr(DeviceExec<double>(stream), reference, image, n, data_range);
}

template <typename T>
double ssim(const T* reference, const T* image, const Shape& shape, const SsimOptions& options, T* ssim_map,
            cudaStream_t stream) {
  return gpu::ssim(DeviceExec<double>(stream), reference, image, shape, options, ssim_map);
}

#define UNBLUR_INSTANTIATE(T)                                                                          \
  template double mean_squared_error<T>(const T*, const T*, std::ptrdiff_t, cudaStream_t);           \
  template double psnr<T>(const T*, const T*, std::ptrdiff_t, double, cudaStream_t);                 \
  template double ssim<T>(const T*, const T*, const Shape&, const SsimOptions&, T*, cudaStream_t);
UNBLUR_INSTANTIATE(float)
UNBLUR_INSTANTIATE(double)
#undef UNBLUR_INSTANTIATE

}  // namespace unblur::cuda
