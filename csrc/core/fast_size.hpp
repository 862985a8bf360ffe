// FFT-friendly sizes, header-only so that the CUDA engine (which does not link FFTW)
// picks the same grids as the CPU engine: a GPU result is then the CPU's up to rounding.
#pragma once

#include <cstddef>

#include "core/array.hpp"
#include "core/error.hpp"

namespace unblur {

/// True when n's only prime factors are 2, 3, 5 and 7.
inline bool is_smooth_size(std::ptrdiff_t n) {
  for (std::ptrdiff_t p : {2, 3, 5, 7})
    while (n % p == 0) n /= p;
  return n == 1;
}

/// Smallest n' >= n whose only prime factors are 2, 3, 5 and 7 (FFTW's and cuFFT's
/// fastest sizes); even n' when `even` (the last axis of a real transform).
inline std::ptrdiff_t fast_fft_size(std::ptrdiff_t n, bool even = false) {
  UNBLUR_REQUIRE(n >= 1, "FFT size must be >= 1, got " << n);
  std::ptrdiff_t m = n;
  while ((even && (m & 1)) || !is_smooth_size(m)) ++m;
  return m;
}

/// Largest n' <= n whose only prime factors are 2, 3, 5 and 7 (n >= 1).
inline std::ptrdiff_t smooth_size_at_most(std::ptrdiff_t n) {
  UNBLUR_REQUIRE(n >= 1, "size must be >= 1, got " << n);
  std::ptrdiff_t m = n;
  while (!is_smooth_size(m)) --m;
  return m;
}

/// fast_fft_size on every axis, the last one even.
inline Shape fast_fft_shape(const Shape& shape) {
  Shape out(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) out[i] = fast_fft_size(shape[i], i + 1 == shape.size());
  return out;
}

}  // namespace unblur
