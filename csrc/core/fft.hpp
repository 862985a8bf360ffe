// FFT engine: a cache of FFTW plans, reused by (kind, shape, precision, threads, effort).
//
// Planning goes through one mutex (FFTW's planner is not thread-safe); execution uses
// FFTW's new-array interface and is safe from any number of threads at once. Plans are
// made on 64-byte aligned scratch buffers; arrays of another alignment are staged
// through aligned copies, so any pointer works.
//
// All transforms are unnormalised, as FFTW's: inverse(forward(x)) == N * x.
#pragma once

#include <complex>
#include <cstddef>
#include <memory>

#include "core/array.hpp"
#include "core/fast_size.hpp"  // fast_fft_size, fast_fft_shape, smooth_size_at_most

namespace unblur {

/// How hard FFTW searches for a fast plan the first time a shape is seen.
enum class PlannerEffort { Estimate = 0, Measure = 1, Patient = 2 };
void set_planner_effort(PlannerEffort effort);
PlannerEffort get_planner_effort();

struct PlanCacheStats {
  std::size_t plans = 0;         ///< plans held by the cache now
  std::size_t hits = 0;          ///< requests answered from the cache
  std::size_t misses = 0;        ///< requests that had to plan
  double planning_seconds = 0;   ///< wall time spent in FFTW's planner
};
PlanCacheStats plan_cache_stats();
/// FFTW's version string (e.g. "fftw-3.3.10-sse2-avx"), of the library loaded.
const char* fftw_version_string();
/// Drops every cached plan (transforms in flight keep theirs alive).
void clear_plan_cache();

/// Shape of the half spectrum of a real transform: the last axis becomes n/2 + 1.
Shape spectrum_shape(const Shape& shape);

/// Real-to-complex and complex-to-real transforms of one shape (1-D, 2-D or 3-D).
template <typename T>
class RealFFT {
 public:
  /// The cached plan pair for `shape`, planned on first use with `threads` (<= 0: default).
  static std::shared_ptr<const RealFFT> get(const Shape& shape, int threads = 0);
  /// As get, planned with `effort` instead of the global setting (cached separately):
  /// for code that meets many shapes once, where measuring would cost more than it saves.
  static std::shared_ptr<const RealFFT> get(const Shape& shape, int threads, PlannerEffort effort);

  const Shape& shape() const { return shape_; }
  const Shape& spectrum_shape() const { return spectrum_shape_; }
  std::ptrdiff_t real_size() const { return real_size_; }
  std::ptrdiff_t spectrum_size() const { return spectrum_size_; }

  /// out[spectrum_size] = FFT(in[real_size]); `in` is left unchanged.
  void forward(const T* in, std::complex<T>* out) const;
  /// out[real_size] = unnormalised inverse FFT(in[spectrum_size]); `in` is overwritten.
  void inverse(std::complex<T>* in, T* out) const;

  RealFFT(const Shape& shape, int threads, PlannerEffort effort);
  ~RealFFT();
  RealFFT(const RealFFT&) = delete;
  RealFFT& operator=(const RealFFT&) = delete;

 private:
  Shape shape_, spectrum_shape_;
  std::ptrdiff_t real_size_ = 0, spectrum_size_ = 0;
  void* forward_plan_ = nullptr;
  void* inverse_plan_ = nullptr;
};

/// Complex-to-complex transforms of one shape.
template <typename T>
class ComplexFFT {
 public:
  static std::shared_ptr<const ComplexFFT> get(const Shape& shape, int threads = 0);
  const Shape& shape() const { return shape_; }
  std::ptrdiff_t size() const { return size_; }
  /// out = FFT(in) (sign -1); in-place (in == out) is allowed.
  void forward(const std::complex<T>* in, std::complex<T>* out) const;
  /// out = unnormalised inverse FFT(in) (sign +1); in-place is allowed.
  void backward(const std::complex<T>* in, std::complex<T>* out) const;

  ComplexFFT(const Shape& shape, int threads, PlannerEffort effort);
  ~ComplexFFT();
  ComplexFFT(const ComplexFFT&) = delete;
  ComplexFFT& operator=(const ComplexFFT&) = delete;

 private:
  Shape shape_;
  std::ptrdiff_t size_ = 0;
  void* forward_plan_ = nullptr;
  void* backward_plan_ = nullptr;
  void* forward_inplace_ = nullptr;
  void* backward_inplace_ = nullptr;
};

/// spectrum = scale * FFT(kernel placed at the origin of the grid `shape`), or, with
/// `multiply`, spectrum *= that. A pruned transform: the trailing axes of the kernel's
/// nonzero leading slices only, then the leading axis column by column, so a small
/// kernel on a large grid costs about half a full transform. `spectrum` holds
/// spectrum_shape(shape) values.
template <typename T>
void kernel_spectrum(const T* kernel, const Shape& kernel_shape, const Shape& shape, std::complex<T>* spectrum,
                     T scale, bool multiply, int threads = 0);

/// Optical transfer function of a PSF: the PSF zero-padded to `shape`, circularly
/// shifted so its centre pixel (index psf_shape[i] / 2 on each axis) sits at the
/// origin, then transformed. `otf` holds spectrum_shape(shape) elements.
template <typename T>
void psf2otf(const T* psf, const Shape& psf_shape, const Shape& shape, std::complex<T>* otf,
             int threads = 0);

/// Inverse of psf2otf: the PSF of `psf_shape` whose OTF on the grid `shape` is `otf`.
template <typename T>
void otf2psf(const std::complex<T>* otf, const Shape& shape, const Shape& psf_shape, T* psf,
             int threads = 0);

}  // namespace unblur
