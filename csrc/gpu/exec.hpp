// Single-source GPU algorithms: the pieces every executor shares.
//
// The algorithms of csrc/gpu/*.hpp are written once against an executor `Exec`:
//
//   Exec::Real / Exec::Cplx        the element types (Cplx<T> = {x, y}, cuFFT's layout)
//   Exec::Buffer<U>                owning storage for n elements: .data(), .size()
//   ex.for_each(n, f)              f(i) for i in [0, n), in any order (elementwise steps)
//   ex.sums<K, Op>(n, f)           the Op-reduction (Plus, Max) over i of f(i), a Sums<K, Op>
//                                  (f may also write: each i is visited once)
//   ex.sums_if<K>(want, n, f)      as sums when `want`, else f(i) run for its writes only
//   ex.binned_sums<K>(n, bins, f)  per-bin sums of f(i) (a Binned<K>): a host vector of
//                                  bins + 1 Sums<K>, the last one's [0] the sum of `extra`
//   ex.fft(shape)                  shared plans: forward(const T*, Cplx*), inverse(Cplx*, T*)
//                                  (half spectra, unnormalised, `inverse` may overwrite its input)
//   ex.copy(dst, src, n), ex.fill(dst, n, v)
//   ex.filter_axis(in, out, dims, axis, g, mode, cval)   one Gaussian pass (gaussian_filter.hpp)
//
// csrc/cuda/exec_device.cuh runs them on a GPU (kernels on the caller's stream, cuFFT,
// stream-ordered memory); csrc/gpu/exec_host.hpp runs the very same code on the host
// (loops, FFTW), which is how the GPU algorithms are tested on machines without a GPU:
// tests/test_gpu_algorithms.py compares that host run with the CPU engine. Only the
// launch mechanism and cuFFT are then left to the GPU tests.
//
// Elementwise bodies are lambdas marked UNBLUR_HD (host and device under nvcc, which
// needs --extended-lambda) that capture raw pointers and scalars by value.
#pragma once

#include <cmath>
#include <cstddef>

#include "core/array.hpp"
#include "core/boundary.hpp"  // UNBLUR_HOST_DEVICE, boundary_index

#define UNBLUR_HD UNBLUR_HOST_DEVICE

namespace unblur::gpu {

using Index = long long;

/// A complex number as cuFFT stores it (cufftComplex / cufftDoubleComplex and
/// std::complex<T> have the same layout).
template <typename T>
struct Cplx {
  T x, y;
};

/// How a reduction combines: sums (identity 0) or maxima.
struct Plus {
  static constexpr double identity = 0.0;
  UNBLUR_HD static double apply(double a, double b) { return a + b; }
};
struct Max {
  static constexpr double identity = -1.7976931348623157e308;
  UNBLUR_HD static double apply(double a, double b) { return a < b ? b : a; }
};

/// K values carried through a reduction (in double), combined by Op.
template <int K, typename Op = Plus>
struct Sums {
  double v[K];
  UNBLUR_HD Sums() {
    for (int k = 0; k < K; ++k) v[k] = Op::identity;
  }
  UNBLUR_HD Sums& operator+=(const Sums& o) {
    for (int k = 0; k < K; ++k) v[k] = Op::apply(v[k], o.v[k]);
    return *this;
  }
  UNBLUR_HD double operator[](int k) const { return v[k]; }
};

/// One element's contribution to a binned reduction: K values into bin `bin` (< 0: none)
/// and `extra` into a total kept after the bins.
template <int K>
struct Binned {
  Index bin = -1;
  double v[K] = {};
  double extra = 0;
};

/// A shape padded to three axes with leading 1s (offsets with leading 0s).
struct Dims {
  Index n[3] = {1, 1, 1};
  UNBLUR_HD Index size() const { return n[0] * n[1] * n[2]; }
};

inline Dims dims_of(const Shape& s, Index lead = 1) {
  Dims d;
  d.n[0] = d.n[1] = d.n[2] = lead;
  for (std::size_t i = 0; i < s.size(); ++i) d.n[3 - s.size() + i] = static_cast<Index>(s[i]);
  return d;
}

inline Index size_of(const Shape& s) {
  Index n = 1;
  for (auto v : s) n *= static_cast<Index>(v);
  return n;
}

struct Index3 {
  Index i0, i1, i2;
};
UNBLUR_HD inline Index3 unravel(Index t, const Dims& d) {
  // 32-bit division where everything fits (a GPU emulates 64-bit division in ~100
  // instructions, and elementwise passes unravel every element).
  if (t < (Index(1) << 31) && d.n[1] * d.n[2] < (Index(1) << 31)) {
    const unsigned tt = static_cast<unsigned>(t), n2 = static_cast<unsigned>(d.n[2]);
    const unsigned n1 = static_cast<unsigned>(d.n[1]);
    const unsigned q = tt / n2;
    return {Index(q / n1), Index(q % n1), Index(tt - q * n2)};
  }
  const Index q = t / d.n[2];
  return {q / d.n[1], q % d.n[1], t - q * d.n[2]};
}
UNBLUR_HD inline Index ravel(Index i0, Index i1, Index i2, const Dims& d) { return (i0 * d.n[1] + i1) * d.n[2] + i2; }

template <typename T>
UNBLUR_HD inline T gmin(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
UNBLUR_HD inline T gmax(T a, T b) {
  return a < b ? b : a;
}
UNBLUR_HD inline float gsqrt(float v) { return sqrtf(v); }
UNBLUR_HD inline double gsqrt(double v) { return sqrt(v); }

}  // namespace unblur::gpu
