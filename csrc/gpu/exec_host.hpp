// The host executor: runs the single-source GPU algorithms (csrc/gpu) with plain loops
// and FFTW, so that their logic is tested on machines without a GPU. Not a fast path:
// one thread, FFTW_ESTIMATE plans, elements in index order.
#pragma once

#include <algorithm>
#include <complex>
#include <memory>
#include <vector>

#include "core/fft.hpp"
#include "gpu/exec.hpp"
#include "gpu/gaussian_filter.hpp"

namespace unblur::gpu {

template <typename T>
class HostExec {
 public:
  using Real = T;
  using C = Cplx<T>;

  template <typename U>
  class Buffer {
   public:
    Buffer(const HostExec&, std::size_t n) : v_(n) {}
    U* data() const { return const_cast<U*>(v_.data()); }  // pointer semantics, as device memory
    std::size_t size() const { return v_.size(); }

   private:
    std::vector<U> v_;
  };

  class Fft {
   public:
    explicit Fft(const Shape& shape) : plan_(RealFFT<T>::get(shape, 1, PlannerEffort::Estimate)) {}
    Index real_size() const { return plan_->real_size(); }
    Index spectrum_size() const { return plan_->spectrum_size(); }
    void forward(const T* in, C* out) const { plan_->forward(in, reinterpret_cast<std::complex<T>*>(out)); }
    void inverse(C* in, T* out) const { plan_->inverse(reinterpret_cast<std::complex<T>*>(in), out); }

   private:
    std::shared_ptr<const RealFFT<T>> plan_;
  };

  std::shared_ptr<const Fft> fft(const Shape& shape) const { return std::make_shared<const Fft>(shape); }

  template <typename F>
  void for_each(Index n, F f) const {
    for (Index i = 0; i < n; ++i) f(i);
  }

  template <int K, typename Op = Plus, typename F>
  Sums<K, Op> sums(Index n, F f) const {
    Sums<K, Op> total;
    for (Index i = 0; i < n; ++i) total += f(i);
    return total;
  }
  template <int K, typename F>
  Sums<K> sums_if(bool want, Index n, F f) const {
    if (want) return sums<K>(n, f);
    for (Index i = 0; i < n; ++i) f(i);
    return Sums<K>();
  }

  /// One Gaussian pass along `axis` of the 3-D view d (csrc/gpu/gaussian_filter.hpp).
  void filter_axis(const T* in, T* out, const Dims& d, int axis, const GaussianAxis& g, Boundary mode,
                   T cval) const {
    const Index r = g.radius;
    std::vector<T> taps(static_cast<std::size_t>(2 * r + 1));
    for (Index k = -r; k <= r; ++k) taps[static_cast<std::size_t>(k + r)] = gaussian_tap<T>(g, k);
    if (axis != 2) {
      for (Index t = 0; t < d.size(); ++t) out[t] = gaussian_output(in, d, axis, taps.data(), r, mode, cval, t);
      return;
    }
    const Index n = d.n[2];
    std::vector<T> line(static_cast<std::size_t>(n + 2 * r));
    for (Index row = 0; row < d.n[0] * d.n[1]; ++row) {
      for (Index q = -r; q < n + r; ++q) line[static_cast<std::size_t>(q + r)] = row_sample(in, row, n, q, mode, cval);
      for (Index i = 0; i < n; ++i) out[row * n + i] = correlate_window(taps.data(), r, line.data() + i);
    }
  }

  template <int K, typename F>
  std::vector<Sums<K>> binned_sums(Index n, Index bins, F f) const {
    std::vector<Sums<K>> out(static_cast<std::size_t>(bins + 1));
    double extra = 0;
    for (Index i = 0; i < n; ++i) {
      const Binned<K> b = f(i);
      extra += b.extra;
      if (b.bin < 0 || b.bin >= bins) continue;
      for (int k = 0; k < K; ++k) out[static_cast<std::size_t>(b.bin)].v[k] += b.v[k];
    }
    out[static_cast<std::size_t>(bins)].v[0] = extra;
    return out;
  }

  template <typename U>
  void copy(U* dst, const U* src, Index n) const {
    std::copy(src, src + n, dst);
  }
  template <typename U>
  void fill(U* dst, Index n, U value) const {
    std::fill(dst, dst + n, value);
  }
};

}  // namespace unblur::gpu
