#include "cuda/filters.hpp"

#include "cuda/exec_device.cuh"
#include "gpu/gaussian_filter.hpp"

namespace unblur::cuda {

template <typename T>
void gaussian_filter(const T* in, T* out, const Shape& shape, const std::vector<double>& sigma, Boundary mode,
                     double cval, double truncate, cudaStream_t stream) {
  const DeviceExec<T> ex(stream);
  int passes = 0;
  for (std::size_t a = 0; a < sigma.size(); ++a) passes += gpu::gaussian_axis(sigma[a], truncate).radius > 0;
  typename DeviceExec<T>::template Buffer<T> work(ex, passes > 1 ? static_cast<std::size_t>(gpu::size_of(shape)) : 0);
  gpu::gaussian_filter(ex, in, out, work.data(), shape, sigma, mode, cval, truncate);
}

template void gaussian_filter<float>(const float*, float*, const Shape&, const std::vector<double>&, Boundary, double,
                                     double, cudaStream_t);
template void gaussian_filter<double>(const double*, double*, const Shape&, const std::vector<double>&, Boundary,
                                      double, double, cudaStream_t);

}  // namespace unblur::cuda
