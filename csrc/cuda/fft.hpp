// cuFFT in the CUDA engine: plans cached per (device, stream, precision, shape) and
// reused, stream-ordered temporaries.
//
// Conventions as the CPU engine's (csrc/core/fft.hpp): half spectra of real transforms
// (the last axis n / 2 + 1), unnormalised (inverse(forward(x)) == N x), row-major
// shapes of 1 to 3 axes. Every call is checked (csrc/cuda/check.hpp) and runs on the
// caller's stream; nothing here synchronises the device or copies to the host.
#pragma once

#include <cuda_runtime.h>
#include <cufft.h>

#include <cstddef>
#include <memory>
#include <mutex>

#include "core/array.hpp"

namespace unblur::cuda {

/// cuFFT's version number (e.g. 12000 for 12.0), from the library loaded at run time.
int cufft_version();

/// The complex element type cuFFT pairs with T (float2-like cufftComplex for float,
/// cufftDoubleComplex for double).
template <typename T>
struct ComplexOf;
template <>
struct ComplexOf<float> {
  using type = cufftComplex;
};
template <>
struct ComplexOf<double> {
  using type = cufftDoubleComplex;
};
template <typename T>
using Complex = typename ComplexOf<T>::type;

/// n elements of device memory from unblur's stream-ordered pool (cuda/memory.hpp),
/// released on the same stream when the buffer goes (work queued before that on the
/// stream still sees it).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer(std::size_t n, cudaStream_t stream);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
  cudaStream_t stream_ = nullptr;
};

/// Real-to-complex and complex-to-real transforms of one shape, bound to one stream.
template <typename T>
class RealPlan {
 public:
  /// The cached plans for `shape` on the current device and `stream` (made on first use).
  static std::shared_ptr<RealPlan> get(const Shape& shape, cudaStream_t stream);

  const Shape& shape() const { return shape_; }
  std::ptrdiff_t real_size() const { return real_size_; }
  std::ptrdiff_t spectrum_size() const { return spectrum_size_; }

  /// out[spectrum_size] = FFT(in[real_size]).
  void forward(const T* in, Complex<T>* out) const;
  /// out[real_size] = unnormalised inverse FFT(in); `in` is overwritten (cuFFT's C2R).
  void inverse(Complex<T>* in, T* out) const;

  RealPlan(const Shape& shape, cudaStream_t stream);
  ~RealPlan();
  RealPlan(const RealPlan&) = delete;
  RealPlan& operator=(const RealPlan&) = delete;

 private:
  Shape shape_;
  std::ptrdiff_t real_size_ = 0, spectrum_size_ = 0;
  cufftHandle forward_ = 0, inverse_ = 0;
  // One host thread at a time per plan: a cuFFT plan is not safe to execute from two
  // threads at once, and plans are shared by everything on the same stream.
  mutable std::mutex exec_;
};

/// Drops every cached plan (plans in use elsewhere are destroyed when released).
void clear_plan_cache();
/// Number of plans the cache holds.
std::size_t plan_cache_size();

}  // namespace unblur::cuda
