// Wiener and Tikhonov on the GPU: the single-source solver of csrc/gpu/wiener.hpp run by
// the device executor on device memory, queued on `stream`.
#pragma once

#include <cuda_runtime.h>

#include "core/array.hpp"
#include "core/blur_operator.hpp"
#include "core/iteration.hpp"
#include "core/wiener.hpp"

namespace unblur::cuda {

/// Wiener (`wiener` true: the WienerOptions; nsr_spectrum in device memory) or Tikhonov
/// (the TikhonovOptions) of `image` into `out`, as unblur::wiener / unblur::tikhonov.
/// `sigma` is the noise estimate that automatic parameters need (>= 0 then).
template <typename T>
QuadraticInfo quadratic(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                        DeconvBoundary boundary, bool wiener, const WienerOptions<T>& wiener_options,
                        const TikhonovOptions& tikhonov_options, double sigma, T* out,
                        const IterationCallback& callback, cudaStream_t stream);

/// The plug-and-play data step (unblur::data_prox) on device memory: z and x hold the
/// model's grid; 'auto' runs the PCG from the x given.
template <typename T>
QuadraticInfo data_prox(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                        DeconvBoundary boundary, double alpha, const T* z, T* x, const SolverOptions& solver,
                        cudaStream_t stream);

}  // namespace unblur::cuda
