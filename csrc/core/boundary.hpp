// Boundary rules shared by every operation that reads beyond an array's edges
// (convolution, filters, deconvolution), with the names of scipy.ndimage / numpy.pad.
#pragma once

#include <cstddef>

// The rules below also run in CUDA kernels (csrc/cuda): one definition for both engines.
#if defined(__CUDACC__)
#define UNBLUR_HOST_DEVICE __host__ __device__
#else
#define UNBLUR_HOST_DEVICE
#endif

namespace unblur {

/// How the image is extended beyond its edges (image a b c d, n = 4):
///   Constant  k k k | a b c d | k k k   (k = cval; cval = 0 is zero padding)
///   Reflect   c b a | a b c d | d c b   (half-sample symmetric; numpy.pad 'symmetric',
///                                        scipy.ndimage 'reflect')
///   Mirror    d c b | a b c d | c b a   (whole-sample symmetric; numpy.pad 'reflect',
///                                        scipy.ndimage 'mirror')
///   Nearest   a a a | a b c d | d d d   (numpy.pad 'edge')
///   Periodic  b c d | a b c d | a b c   (numpy.pad 'wrap', scipy.ndimage 'wrap')
/// Halos longer than the image repeat the rule as numpy.pad does (periodic reflections).
enum class Boundary { Constant = 0, Reflect = 1, Mirror = 2, Nearest = 3, Periodic = 4 };

/// Index into an axis of length n that position i (any integer) reads under `boundary`;
/// -1 for Constant outside [0, n). Reflect has period 2n, Mirror 2n - 2, Periodic n.
UNBLUR_HOST_DEVICE inline std::ptrdiff_t boundary_index(std::ptrdiff_t i, std::ptrdiff_t n, Boundary boundary) {
  if (i >= 0 && i < n) return i;
  auto mod = [](std::ptrdiff_t x, std::ptrdiff_t m) {
    const std::ptrdiff_t r = x % m;
    return r < 0 ? r + m : r;
  };
  switch (boundary) {
    case Boundary::Constant: return -1;
    case Boundary::Nearest: return i < 0 ? 0 : n - 1;
    case Boundary::Periodic: return mod(i, n);
    case Boundary::Reflect: {
      const std::ptrdiff_t r = mod(i, 2 * n);
      return r < n ? r : 2 * n - 1 - r;
    }
    case Boundary::Mirror: {
      if (n == 1) return 0;  // no sample besides the edge to mirror onto
      const std::ptrdiff_t r = mod(i, 2 * n - 2);
      return r < n ? r : 2 * n - 2 - r;
    }
  }
  return -1;
}

}  // namespace unblur
