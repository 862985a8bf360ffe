#include "cuda/wiener.hpp"

#include "cuda/exec_device.cuh"
#include "gpu/wiener.hpp"

namespace unblur::cuda {

template <typename T>
QuadraticInfo quadratic(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                        DeconvBoundary boundary, bool wiener, const WienerOptions<T>& wiener_options,
                        const TikhonovOptions& tikhonov_options, double sigma, T* out,
                        const IterationCallback& callback, cudaStream_t stream) {
  gpu::QuadraticChoice<T> choice;
  choice.wiener = wiener;
  choice.wiener_options = wiener_options;
  choice.tikhonov_options = tikhonov_options;
  const DeviceExec<T> ex(stream);
  return gpu::quadratic_solve(ex, image, shape, psf, psf_shape, boundary, choice, sigma, out, callback);
}

template QuadraticInfo quadratic<float>(const float*, const Shape&, const float*, const Shape&, DeconvBoundary, bool,
                                        const WienerOptions<float>&, const TikhonovOptions&, double, float*,
                                        const IterationCallback&, cudaStream_t);
template QuadraticInfo quadratic<double>(const double*, const Shape&, const double*, const Shape&, DeconvBoundary,
                                         bool, const WienerOptions<double>&, const TikhonovOptions&, double, double*,
                                         const IterationCallback&, cudaStream_t);

template <typename T>
QuadraticInfo data_prox(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                        DeconvBoundary boundary, double alpha, const T* z, T* x, const SolverOptions& solver,
                        cudaStream_t stream) {
  const DeviceExec<T> ex(stream);
  return gpu::data_prox(ex, image, shape, psf, psf_shape, boundary, alpha, z, x, solver);
}

template QuadraticInfo data_prox<float>(const float*, const Shape&, const float*, const Shape&, DeconvBoundary,
                                        double, const float*, float*, const SolverOptions&, cudaStream_t);
template QuadraticInfo data_prox<double>(const double*, const Shape&, const double*, const Shape&, DeconvBoundary,
                                         double, const double*, double*, const SolverOptions&, cudaStream_t);

}  // namespace unblur::cuda
