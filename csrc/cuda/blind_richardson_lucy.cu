#include "cuda/blind_richardson_lucy.hpp"

#include "cuda/exec_device.cuh"
#include "gpu/blind_richardson_lucy.hpp"

namespace unblur::cuda {

template <typename T>
int blind_richardson_lucy(const T* image, const Shape& shape, T* psf, const Shape& psf_shape, T* out,
                          const BlindRLOptions& options, const IterationCallback& callback, cudaStream_t stream) {
  const DeviceExec<T> ex(stream);
  return gpu::blind_richardson_lucy(ex, image, shape, psf, psf_shape, out, options, callback);
}

template int blind_richardson_lucy<float>(const float*, const Shape&, float*, const Shape&, float*,
                                          const BlindRLOptions&, const IterationCallback&, cudaStream_t);
template int blind_richardson_lucy<double>(const double*, const Shape&, double*, const Shape&, double*,
                                           const BlindRLOptions&, const IterationCallback&, cudaStream_t);

}  // namespace unblur::cuda
