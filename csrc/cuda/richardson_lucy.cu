#include "cuda/richardson_lucy.hpp"

#include "cuda/exec_device.cuh"
#include "gpu/richardson_lucy.hpp"

namespace unblur::cuda {

Shape deconv_grid_shape(const Shape& shape, const Shape& psf_shape, DeconvBoundary boundary) {
  return gpu::BlurModel<DeviceExec<float>>::geometry(shape, psf_shape, boundary).grid;
}

template <typename T>
RichardsonLucyResult richardson_lucy(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                                     const T* weights, const RichardsonLucyOptions& options,
                                     RichardsonLucyState<T>& state, RichardsonLucyStart start, const T* initial,
                                     T* out, const IterationCallback& callback, cudaStream_t stream) {
  const DeviceExec<T> ex(stream);
  gpu::RichardsonLucyGpu<DeviceExec<T>> solver(ex, image, shape, psf, psf_shape, weights, options);
  return solver.run(state, start, initial, out, callback);
}

template RichardsonLucyResult richardson_lucy<float>(const float*, const Shape&, const float*, const Shape&,
                                                     const float*, const RichardsonLucyOptions&,
                                                     RichardsonLucyState<float>&, RichardsonLucyStart, const float*,
                                                     float*, const IterationCallback&, cudaStream_t);
template RichardsonLucyResult richardson_lucy<double>(const double*, const Shape&, const double*, const Shape&,
                                                      const double*, const RichardsonLucyOptions&,
                                                      RichardsonLucyState<double>&, RichardsonLucyStart,
                                                      const double*, double*, const IterationCallback&,
                                                      cudaStream_t);

}  // namespace unblur::cuda
