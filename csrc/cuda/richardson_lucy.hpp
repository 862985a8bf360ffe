// Richardson–Lucy on the GPU: the single-source algorithm of csrc/gpu/richardson_lucy.hpp
// run by the device executor. Arrays are device memory on the current device; work is
// queued on `stream` (the reductions the stopping rules and the acceleration need are
// read back with a synchronisation of that stream, K doubles at a time).
#pragma once

#include <cuda_runtime.h>

#include "core/array.hpp"
#include "core/blur_operator.hpp"
#include "core/iteration.hpp"
#include "core/richardson_lucy.hpp"

namespace unblur::cuda {

/// The estimate's grid for an image of `shape` and a PSF of `psf_shape` under the
/// model `boundary` (zero_boundary uses Auto's): the CPU engine's grid.
Shape deconv_grid_shape(const Shape& shape, const Shape& psf_shape, DeconvBoundary boundary);

/// Runs RL as unblur::RichardsonLucy does (same options, state and result); the state's
/// buffers hold deconv_grid_shape(...) values each. With options.iterations == 0,
/// options.noise_sigma must be given (>= 0).
template <typename T>
RichardsonLucyResult richardson_lucy(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                                     const T* weights, const RichardsonLucyOptions& options,
                                     RichardsonLucyState<T>& state, RichardsonLucyStart start, const T* initial,
                                     T* out, const IterationCallback& callback, cudaStream_t stream);

}  // namespace unblur::cuda
