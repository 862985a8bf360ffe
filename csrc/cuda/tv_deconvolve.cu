#include "cuda/tv_deconvolve.hpp"

#include "cuda/exec_device.cuh"
#include "gpu/tv_deconvolve.hpp"

namespace unblur::cuda {

template <typename T>
TVInfo tv_deconvolve(const T* image, const Shape& shape, std::ptrdiff_t channels, const T* psf,
                     const Shape& psf_shape, DeconvBoundary boundary, const TVOptions& options, T* out,
                     const IterationCallback& callback, cudaStream_t stream) {
  const DeviceExec<T> ex(stream);
  return gpu::tv_deconvolve(ex, image, shape, channels, psf, psf_shape, boundary, options, out, callback);
}

template TVInfo tv_deconvolve<float>(const float*, const Shape&, std::ptrdiff_t, const float*, const Shape&,
                                     DeconvBoundary, const TVOptions&, float*, const IterationCallback&, cudaStream_t);
template TVInfo tv_deconvolve<double>(const double*, const Shape&, std::ptrdiff_t, const double*, const Shape&,
                                      DeconvBoundary, const TVOptions&, double*, const IterationCallback&,
                                      cudaStream_t);

}  // namespace unblur::cuda
