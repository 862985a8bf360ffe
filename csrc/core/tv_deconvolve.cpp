#include "core/tv_deconvolve.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include <omp.h>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"

namespace unblur {
namespace {

constexpr double kPi = 3.14159265358979323846;

// The w-step of the box constraint with its dual update: w = clamp(x + dw), dw += x - w;
// returns w's part of the x-step's right-hand side, rho_w (w - dw).
template <typename T>
inline T box_step(T x, T& dw, T lower, T upper, T rho_w) {
  const T t = x + dw;
  const T w = std::min(std::max(t, lower), upper);
  dw = t - w;
  return rho_w * (w - dw);
}

// Row i of the one-channel 2-D splitting steps: pointers to row i of each plane.
template <typename T>
struct TVRow {
  const T* x;
  const T* x_down;  // row i + 1 (periodic)
  const T* x_old;
  const T* g;
  T* dv0;
  T* dv1;
  T* du;
  T* hx;
  T* dw;  // nullptr without a box constraint
  T* rhs;
  const T* b0_up;  // b0 of row i - 1, or nullptr: then added later by the caller
  T* b0;           // row scratch for this row's b0 = v0 - dv0 ...
  T* b1;           // ... and b1 = v1 - dv1
  std::ptrdiff_t width, in_begin, in_end;  // columns [in_begin, in_end) are observed
};

template <typename T>
struct TVCoefficients {
  T ru, inv_in, inv_out, rw, rv, kappa, lower, upper;
};

// Per-row sums (single precision is plenty for one row of a stopping criterion).
template <typename T>
struct TVRowSums {
  T change = 0, norm = 0, fit = 0, tv = 0;
};

// The u, v, w and dual steps of one row, then rhs = rho_w (w - dw) + rho_v D^T b for
// it, with (D^T b)_j = b0_up_j - b0_j + b1_{j-1} - b1_j: the divergence needs b of the
// row above only, so b never leaves the cache. The data is zero outside the window,
// so u = (g + rho_u q) / (M + rho_u) needs only a per-pixel choice of the divisor.
template <typename T, bool Constrained, bool Objective>
UNBLUR_INLINE void tv_row_kernel(const TVRow<T>& r, const TVCoefficients<T>& k, TVRowSums<T>& sums) {
  const std::ptrdiff_t W = r.width;
  const T tiny = std::numeric_limits<T>::min();
  const T* x = r.x;
  const T* xd = r.x_down;
  const T* x_old = r.x_old;
  const T* g = r.g;
  T* dv0 = r.dv0;
  T* dv1 = r.dv1;
  T* du = r.du;
  T* hx = r.hx;
  T* dw = r.dw;
  T* rhs = r.rhs;
  T* b0 = r.b0;
  T* b1 = r.b1;
  auto pixel = [&](std::ptrdiff_t j, std::ptrdiff_t right, bool inside, T& ch, T& nr, T& fit,
                   T& tv) __attribute__((always_inline)) {
    const T xv = x[j];
    const T dx0 = xd[j] - xv, dx1 = x[j + right] - xv;
    const T t0 = dx0 + dv0[j], t1 = dx1 + dv1[j];
    const T mag = std::sqrt(t0 * t0 + t1 * t1);
    const T shrink = std::max(T(1) - k.kappa / std::max(mag, tiny), T(0));
    const T v0 = shrink * t0, v1 = shrink * t1;
    const T d0 = t0 - v0, d1 = t1 - v1;
    dv0[j] = d0;
    dv1[j] = d1;
    b0[j] = v0 - d0;
    b1[j] = v1 - d1;
    const T h = hx[j];
    const T q = h + du[j];
    const T u = (g[j] + k.ru * q) * (inside ? k.inv_in : k.inv_out);
    const T dunew = q - u;
    du[j] = dunew;
    hx[j] = u - dunew;
    if constexpr (Constrained) rhs[j] = box_step(xv, dw[j], k.lower, k.upper, k.rw);
    if constexpr (Objective) {
      tv += std::sqrt(dx0 * dx0 + dx1 * dx1);
      fit += inside ? T(0.5) * (h - g[j]) * (h - g[j]) : T(0);
    }
    const T d = xv - x_old[j];
    ch += d * d;
    nr += x_old[j] * x_old[j];
  };
  T ch = 0, nr = 0, fit = 0, tv = 0;
  const std::ptrdiff_t last = W - 1;
  const std::ptrdiff_t a = std::min(r.in_begin, last), bnd = std::min(r.in_end, last);
  // [0, a) outside, [a, bnd) inside, [bnd, W - 1) outside, then the wrapping column.
#pragma omp simd reduction(+ : ch, nr, fit, tv)
  for (std::ptrdiff_t j = 0; j < a; ++j) pixel(j, 1, false, ch, nr, fit, tv);
#pragma omp simd reduction(+ : ch, nr, fit, tv)
  for (std::ptrdiff_t j = a; j < bnd; ++j) pixel(j, 1, true, ch, nr, fit, tv);
#pragma omp simd reduction(+ : ch, nr, fit, tv)
  for (std::ptrdiff_t j = bnd; j < last; ++j) pixel(j, 1, false, ch, nr, fit, tv);
  pixel(last, -last, last >= r.in_begin && last < r.in_end, ch, nr, fit, tv);
  sums.change += ch;
  sums.norm += nr;
  sums.fit += fit;
  sums.tv += tv;

  const T rv = k.rv;
  const T* up = r.b0_up;
  const T start = Constrained ? rhs[0] : T(0);
  rhs[0] = start + rv * ((up ? up[0] : T(0)) - b0[0] + b1[last] - b1[0]);
  if (up) {
#pragma omp simd
    for (std::ptrdiff_t j = 1; j < W; ++j)
      rhs[j] = (Constrained ? rhs[j] : T(0)) + rv * (up[j] - b0[j] + b1[j - 1] - b1[j]);
  } else {
#pragma omp simd
    for (std::ptrdiff_t j = 1; j < W; ++j) rhs[j] = (Constrained ? rhs[j] : T(0)) + rv * (b1[j - 1] - b1[j] - b0[j]);
  }
}

// The x-step's spectral update on [begin, end) of the half spectrum, on interleaved
// (re, im) pairs: r^ <- x^ = (ru_n H^* a^ + r^) inv, a^ <- n H x^. (std::complex's
// operator* guards against NaN/inf with a library call that blocks vectorisation.)
template <typename T>
UNBLUR_INLINE void x_spectrum_kernel(const T* hp, T* ap, T* rp, const T* inv, T ru_n, T n, std::ptrdiff_t begin,
                                     std::ptrdiff_t end) {
#pragma omp simd
  for (std::ptrdiff_t s = begin; s < end; ++s) {
    const T hr = hp[2 * s], hi = hp[2 * s + 1], ar = ap[2 * s], ai = ap[2 * s + 1];
    const T xr = (ru_n * (hr * ar + hi * ai) + rp[2 * s]) * inv[s];
    const T xi = (ru_n * (hr * ai - hi * ar) + rp[2 * s + 1]) * inv[s];
    rp[2 * s] = xr;
    rp[2 * s + 1] = xi;
    ap[2 * s] = n * (hr * xr - hi * xi);
    ap[2 * s + 1] = n * (hr * xi + hi * xr);
  }
}

// Everything one solve holds: the grid geometry, the ADMM variables of all channels
// (channel-major planes of the grid) and the two spectra the x-step works in.
template <typename T>
class TVSolver {
 public:
  TVSolver(BlurOperator<T>& op, std::ptrdiff_t channels, const TVOptions& o)
      : op_(op), channels_(channels), n_(op.grid_size()), s_(op.spectrum_size()), threads_(op.threads()) {
    const Shape& grid = op.grid_shape();
    axes_ = static_cast<int>(grid.size());
    dims_ = pad_to_3d(grid);
    const auto obs = pad_to_3d(op.observed_shape());
    Shape off = op.offset();
    while (off.size() < 3) off.insert(off.begin(), 0);
    for (int a = 0; a < 3; ++a) {
      lo_[a] = off[a];
      hi_[a] = off[a] + obs[a];
    }
    constrained_ = o.has_bounds || o.positivity;
    lower_ = o.has_bounds ? static_cast<T>(o.lower) : T(0);
    upper_ = o.has_bounds ? static_cast<T>(o.upper) : std::numeric_limits<T>::infinity();
    rho_u_ = static_cast<T>(o.rho_data);
    rho_v_ = static_cast<T>(o.rho_tv);
    rho_w_ = constrained_ ? static_cast<T>(o.rho_constraint) : T(0);
    kappa_ = static_cast<T>(o.weight / o.rho_tv);
    weight_ = o.weight;

    const auto total = static_cast<std::size_t>(channels_ * n_);
    x_new_ = AlignedBuffer<T>(total);
    x_old_ = AlignedBuffer<T>(total);
    hx_ = AlignedBuffer<T>(total);
    du_ = AlignedBuffer<T>(total);
    rhs_ = AlignedBuffer<T>(total);
    data_ = AlignedBuffer<T>(total);
    if (constrained_) dw_ = AlignedBuffer<T>(total);
    gray2d_ = channels_ == 1 && axes_ == 2;
    for (int k = 0; k < axes_; ++k) {
      dv_[k] = AlignedBuffer<T>(total);
      if (!gray2d_) b_[k] = AlignedBuffer<T>(total);
    }
    if (gray2d_) {
      // Per thread: three rows of b (the row above, this row's b0 and b1) and the
      // b0 of its last row, which the next thread's first row needs.
      row_stride_ = (dims_[2] + 15) / 16 * 16;
      row_scratch_ = AlignedBuffer<T>(static_cast<std::size_t>(4 * threads_ * row_stride_));
    }
    spec_a_ = AlignedBuffer<std::complex<T>>(static_cast<std::size_t>(s_));
    spec_r_ = AlignedBuffer<std::complex<T>>(static_cast<std::size_t>(s_));
    make_inverse_denominator();
  }

  T* data(std::ptrdiff_t c) { return data_.data() + c * n_; }
  T* estimate() { return x_old_.data(); }

  // x0 is in estimate(): blur it, zero the duals and take the first u, v, w steps.
  void start() {
    for (std::ptrdiff_t c = 0; c < channels_; ++c) op_.forward_grid(x_old_.data() + c * n_, hx_.data() + c * n_);
    zero(du_);
    if (constrained_) zero(dw_);
    for (int k = 0; k < axes_; ++k) zero(dv_[k]);
    splitting_steps(x_old_.data(), x_old_.data(), false);
  }

  // One ADMM iteration: the x-step, then the u, v, w and dual steps. Returns the
  // relative change of x; sets objective() when `objective` is asked for.
  double iterate(bool objective) {
    x_step();
    const double change = splitting_steps(x_new_.data(), x_old_.data(), objective);
    std::swap(x_new_, x_old_);
    return change;
  }

  double objective() const { return objective_; }

 private:
  void zero(AlignedBuffer<T>& b) {
    T* p = b.data();
    const std::ptrdiff_t total = channels_ * n_;
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::ptrdiff_t i = 0; i < total; ++i) p[i] = T(0);
  }

  // inv[s] = 1 / (|L| (rho_u |H|^2 + rho_v |D|^2 + rho_w)) on the half spectrum, with
  // |D_a|^2 = 4 sin^2(pi m / n) for forward differences along axis a.
  void make_inverse_denominator() {
    inv_den_ = AlignedBuffer<T>(static_cast<std::size_t>(s_));
    const auto sd = pad_to_3d(op_.fft().spectrum_shape());
    const double n = static_cast<double>(n_);
    std::array<std::vector<double>, 3> d2;
    for (int a = 0; a < 3; ++a) {
      d2[a].assign(static_cast<std::size_t>(sd[a]), 0.0);
      if (a < 3 - axes_) continue;  // an axis the grid does not have
      for (std::ptrdiff_t m = 0; m < sd[a]; ++m) {
        const double sn = std::sin(kPi * static_cast<double>(m) / static_cast<double>(dims_[a]));
        d2[a][static_cast<std::size_t>(m)] = 4 * sn * sn;
      }
    }
    const std::complex<T>* otf = op_.otf();
    const double ru = rho_u_, rv = rho_v_, rw = rho_w_;
    const std::ptrdiff_t rows = sd[0] * sd[1];
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::ptrdiff_t r = 0; r < rows; ++r) {
      const double dr = d2[0][static_cast<std::size_t>(r / sd[1])] + d2[1][static_cast<std::size_t>(r % sd[1])];
      for (std::ptrdiff_t j = 0; j < sd[2]; ++j) {
        const std::ptrdiff_t s = r * sd[2] + j;
        const double h2 = std::norm(std::complex<double>(otf[s])) * n * n;
        const double den = ru * h2 + rv * (dr + d2[2][static_cast<std::size_t>(j)]) + rw;
        inv_den_[static_cast<std::size_t>(s)] = static_cast<T>(1.0 / (n * den));
      }
    }
  }

  // x^ = (rho_u H^* a^ + r^) / den, then x = irfft(x^) and h * x = irfft(H x^):
  // two forward and two inverse transforms per channel.
  void x_step() {
    const RealFFT<T>& fft = op_.fft();
    const std::complex<T>* otf = op_.otf();
    const T* inv = inv_den_.data();
    const T n = static_cast<T>(n_);
    const T ru_n = rho_u_ * n;
    std::complex<T>* sa = spec_a_.data();
    std::complex<T>* sr = spec_r_.data();
    const std::ptrdiff_t ns = s_;
    for (std::ptrdiff_t c = 0; c < channels_; ++c) {
      fft.forward(hx_.data() + c * n_, sa);
      fft.forward(rhs_.data() + c * n_, sr);
      const T* hp = reinterpret_cast<const T*>(otf);
      T* ap = reinterpret_cast<T*>(sa);
      T* rp = reinterpret_cast<T*>(sr);
      const auto kernel = unblur::kernel<&x_spectrum_kernel<T>>();
#pragma omp parallel num_threads(threads_)
      {
        const std::ptrdiff_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        kernel(hp, ap, rp, inv, ru_n, n, ns * t / nt, ns * (t + 1) / nt);
      }
      fft.inverse(sr, x_new_.data() + c * n_);
      fft.inverse(sa, hx_.data() + c * n_);
    }
  }

  // Given x and h * x (in hx_), the u, v and w steps with their dual updates, writing
  // a = u - du into hx_ and rhs = rho_v D^T (v - dv) + rho_w (w - dw) into rhs_.
  // Returns ||x - x_old|| / ||x_old||.
  double splitting_steps(const T* x, const T* x_old, bool objective) {
    if (gray2d_) {
      if (objective)
        return constrained_ ? splitting_steps_gray2d<true, true>(x, x_old) : splitting_steps_gray2d<false, true>(x, x_old);
      return constrained_ ? splitting_steps_gray2d<true, false>(x, x_old) : splitting_steps_gray2d<false, false>(x, x_old);
    }
    const std::ptrdiff_t P = dims_[0], H = dims_[1], W = dims_[2], C = channels_, N = n_;
    const int first_axis = 3 - axes_;
    const T ru = rho_u_, inv_ru1 = T(1) / (T(1) + rho_u_), rw = rho_w_, kappa = kappa_;
    const T lower = lower_, upper = upper_;
    const bool constrained = constrained_;
    T* hx = hx_.data();
    T* du = du_.data();
    T* dw = constrained ? dw_.data() : nullptr;
    T* rhs = rhs_.data();
    const T* g = data_.data();
    std::array<T*, 3> dv{}, b{};
    for (int k = 0; k < axes_; ++k) {
      dv[static_cast<std::size_t>(k)] = dv_[k].data();
      b[static_cast<std::size_t>(k)] = b_[k].data();
    }
    const int naxes = axes_;
    const auto sums = ordered_row_sums<4>(P * H, threads_, [&](std::ptrdiff_t r, std::array<double, 4>& acc) {
      const std::ptrdiff_t p = r / H, i = r % H;
      const bool row_in = p >= lo_[0] && p < hi_[0] && i >= lo_[1] && i < hi_[1];
      // Offsets of the next sample along each active axis (periodic on the grid).
      const std::ptrdiff_t base = r * W;
      std::array<std::ptrdiff_t, 3> next_row{};
      next_row[0] = (((p + 1) % P) * H + i) * W - base;
      next_row[1] = (p * H + (i + 1) % H) * W - base;
      for (std::ptrdiff_t j = 0; j < W; ++j) {
        const std::ptrdiff_t idx = base + j;
        std::array<std::ptrdiff_t, 3> step{next_row[0], next_row[1], (j + 1 < W) ? 1 : 1 - W};
        // Vectorial shrinkage: one magnitude over all channels and axes.
        T n2 = 0, g2 = 0;
        for (std::ptrdiff_t c = 0; c < C; ++c) {
          const T* xc = x + c * N;
          for (int k = 0; k < naxes; ++k) {
            const std::ptrdiff_t st = step[static_cast<std::size_t>(first_axis + k)];
            const T dx = xc[idx + st] - xc[idx];
            const T t = dx + dv[static_cast<std::size_t>(k)][c * N + idx];
            n2 += t * t;
            g2 += dx * dx;
          }
        }
        const T mag = std::sqrt(n2);
        const T shrink = mag > kappa ? T(1) - kappa / mag : T(0);
        if (objective) acc[3] += std::sqrt(static_cast<double>(g2));
        const bool inside = row_in && j >= lo_[2] && j < hi_[2];
        for (std::ptrdiff_t c = 0; c < C; ++c) {
          const std::ptrdiff_t e = c * N + idx;
          const T xv = x[e];
          for (int k = 0; k < naxes; ++k) {
            const std::ptrdiff_t st = step[static_cast<std::size_t>(first_axis + k)];
            T* dvk = dv[static_cast<std::size_t>(k)];
            const T t = x[e + st] - xv + dvk[e];
            const T v = shrink * t;
            const T dnew = t - v;
            dvk[e] = dnew;
            b[static_cast<std::size_t>(k)][e] = v - dnew;
          }
          // u-step: exact minimiser of 1/2 M (u - g)^2 + rho_u / 2 (u - h*x - du)^2.
          const T h = hx[e];
          const T q = h + du[e];
          const T u = inside ? (g[e] + ru * q) * inv_ru1 : q;
          if (objective && inside) acc[2] += 0.5 * static_cast<double>((h - g[e]) * (h - g[e]));
          const T dunew = q - u;
          du[e] = dunew;
          hx[e] = u - dunew;
          rhs[e] = constrained ? box_step(xv, dw[e], lower, upper, rw) : T(0);
          const T d = xv - x_old[e];
          acc[0] += static_cast<double>(d * d);
          acc[1] += static_cast<double>(x_old[e]) * static_cast<double>(x_old[e]);
        }
      }
    });
    const double change = sums[0], norm = sums[1];
    add_divergence_term();
    objective_ = sums[2] + weight_ * sums[3];
    if (norm > 0) return std::sqrt(change / norm);
    return change > 0 ? 1.0 : 0.0;
  }

  // splitting_steps for one channel of a 2-D grid (the common case), row by row with
  // the divergence term fused in (tv_row_kernel). Each thread takes a block of rows;
  // the first row of a block gets the b0 of the row above, which another thread
  // computes, after a barrier.
  template <bool Constrained, bool Objective>
  double splitting_steps_gray2d(const T* x, const T* x_old) {
    const std::ptrdiff_t H = dims_[1], W = dims_[2], stride = row_stride_;
    TVCoefficients<T> k;
    k.ru = rho_u_;
    k.inv_in = T(1) / (T(1) + rho_u_);
    k.inv_out = T(1) / rho_u_;
    k.rw = rho_w_;
    k.rv = rho_v_;
    k.kappa = kappa_;
    k.lower = lower_;
    k.upper = upper_;
    const auto kernel = unblur::kernel<&tv_row_kernel<T, Constrained, Objective>>();
    T* hx = hx_.data();
    T* du = du_.data();
    T* dw = Constrained ? dw_.data() : nullptr;
    T* rhs = rhs_.data();
    const T* g = data_.data();
    T* dv0 = dv_[0].data();
    T* dv1 = dv_[1].data();
    T* scratch = row_scratch_.data();
    const std::ptrdiff_t lo_r = lo_[1], hi_r = hi_[1], lo_c = lo_[2], hi_c = hi_[2];
    // The threads' sums, added in thread order after the region (a reduction clause
    // would add them in the order the threads finish: csrc/core/parallel.hpp).
    std::vector<std::array<double, 4>> partial(static_cast<std::size_t>(threads_));
    int team = 1;
#pragma omp parallel num_threads(threads_)
    {
      const std::ptrdiff_t nt = omp_get_num_threads(), t = omp_get_thread_num();
#pragma omp single nowait
      team = static_cast<int>(nt);
      std::array<double, 4>& acc = partial[static_cast<std::size_t>(t)];
      acc = {};
      auto first_row = [&](std::ptrdiff_t tt) { return H * tt / nt; };
      const std::ptrdiff_t r0 = first_row(t), r1 = first_row(t + 1);
      T* up = scratch + 4 * t * stride;
      T* b0 = up + stride;
      T* b1 = b0 + stride;
      T* edge = b1 + stride;
      TVRow<T> row{};
      row.width = W;
      row.b1 = b1;
      for (std::ptrdiff_t i = r0; i < r1; ++i) {
        const std::ptrdiff_t base = i * W;
        row.x = x + base;
        row.x_down = x + ((i + 1) % H) * W;
        row.x_old = x_old + base;
        row.g = g + base;
        row.dv0 = dv0 + base;
        row.dv1 = dv1 + base;
        row.du = du + base;
        row.hx = hx + base;
        row.dw = Constrained ? dw + base : nullptr;
        row.rhs = rhs + base;
        row.b0_up = i > r0 ? up : nullptr;
        row.b0 = b0;
        const bool row_in = i >= lo_r && i < hi_r;
        row.in_begin = row_in ? lo_c : W;
        row.in_end = row_in ? hi_c : W;
        TVRowSums<T> sums;
        kernel(row, k, sums);
        acc[0] += static_cast<double>(sums.change);
        acc[1] += static_cast<double>(sums.norm);
        if constexpr (Objective) {
          acc[2] += static_cast<double>(sums.fit);
          acc[3] += static_cast<double>(sums.tv);
        }
        std::swap(up, b0);  // this row's b0 is the next row's "up"
      }
      if (r1 > r0) std::memcpy(edge, up, static_cast<std::size_t>(W) * sizeof(T));
#pragma omp barrier
      if (r1 > r0) {
        const std::ptrdiff_t above = (r0 + H - 1) % H;
        std::ptrdiff_t owner = 0;
        while (!(first_row(owner) <= above && above < first_row(owner + 1))) ++owner;
        const T* b0_above = scratch + (4 * owner + 3) * stride;
        T* out = rhs + r0 * W;
        const T rv = rho_v_;
#pragma omp simd
        for (std::ptrdiff_t j = 0; j < W; ++j) out[j] += rv * b0_above[j];
      }
    }
    double change = 0, norm = 0, fit = 0, tv = 0;
    for (int t = 0; t < team; ++t) {
      const auto& acc = partial[static_cast<std::size_t>(t)];
      change += acc[0];
      norm += acc[1];
      fit += acc[2];
      tv += acc[3];
    }
    if constexpr (Objective) objective_ = fit + weight_ * tv;
    if (norm > 0) return std::sqrt(change / norm);
    return change > 0 ? 1.0 : 0.0;
  }

  // rhs += rho_v D^T b with (D_a^T b)_i = b_{i - e_a} - b_i (periodic).
  void add_divergence_term() {
    const std::ptrdiff_t P = dims_[0], H = dims_[1], W = dims_[2], C = channels_, N = n_;
    const int first_axis = 3 - axes_;
    const T rv = rho_v_;
    T* rhs = rhs_.data();
    std::array<const T*, 3> b{};
    for (int k = 0; k < axes_; ++k) b[static_cast<std::size_t>(k)] = b_[k].data();
    const int naxes = axes_;
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (std::ptrdiff_t rc = 0; rc < C * P * H; ++rc) {
      const std::ptrdiff_t c = rc / (P * H), r = rc % (P * H);
      const std::ptrdiff_t p = r / H, i = r % H;
      const std::ptrdiff_t base = c * N + r * W;
      std::array<std::ptrdiff_t, 3> prev_row{};
      prev_row[0] = c * N + (((p + P - 1) % P) * H + i) * W;
      prev_row[1] = c * N + (p * H + (i + H - 1) % H) * W;
      T* out = rhs + base;
      for (int k = 0; k < naxes; ++k) {
        const int a = first_axis + k;
        const T* bk = b[static_cast<std::size_t>(k)];
        const T* cur = bk + base;
        if (a < 2) {
          const T* prev = bk + prev_row[static_cast<std::size_t>(a)];
          for (std::ptrdiff_t j = 0; j < W; ++j) out[j] += rv * (prev[j] - cur[j]);
        } else {
          out[0] += rv * (cur[W - 1] - cur[0]);
          for (std::ptrdiff_t j = 1; j < W; ++j) out[j] += rv * (cur[j - 1] - cur[j]);
        }
      }
    }
  }

  BlurOperator<T>& op_;
  std::ptrdiff_t channels_, n_, s_;
  int threads_, axes_ = 2;
  std::array<std::ptrdiff_t, 3> dims_{}, lo_{}, hi_{};
  bool constrained_ = false, gray2d_ = false;
  std::ptrdiff_t row_stride_ = 0;
  T lower_ = 0, upper_ = 0, rho_u_ = 0, rho_v_ = 0, rho_w_ = 0, kappa_ = 0;
  double weight_ = 0, objective_ = 0;
  AlignedBuffer<T> x_new_, x_old_, hx_, du_, dw_, rhs_, data_, inv_den_, row_scratch_;
  std::array<AlignedBuffer<T>, 3> dv_, b_;
  AlignedBuffer<std::complex<T>> spec_a_, spec_r_;
};

void require_options(const TVOptions& o) {
  UNBLUR_REQUIRE(std::isfinite(o.weight) && o.weight >= 0, "weight must be finite and >= 0, got " << o.weight);
  UNBLUR_REQUIRE(o.max_iterations >= 1, "iterations must be >= 1, got " << o.max_iterations);
  UNBLUR_REQUIRE(std::isfinite(o.tolerance) && o.tolerance >= 0, "tolerance must be >= 0, got " << o.tolerance);
  UNBLUR_REQUIRE(std::isfinite(o.rho_data) && o.rho_data > 0, "rho (data) must be > 0, got " << o.rho_data);
  UNBLUR_REQUIRE(std::isfinite(o.rho_tv) && o.rho_tv > 0, "rho (tv) must be > 0, got " << o.rho_tv);
  if (o.has_bounds || o.positivity)
    UNBLUR_REQUIRE(std::isfinite(o.rho_constraint) && o.rho_constraint > 0,
                   "rho (constraint) must be > 0, got " << o.rho_constraint);
  if (o.has_bounds)
    UNBLUR_REQUIRE(std::isfinite(o.lower) && std::isfinite(o.upper) && o.lower < o.upper,
                   "bounds must be finite with lower < upper, got (" << o.lower << ", " << o.upper << ")");
}

}  // namespace

template <typename T>
TVInfo tv_deconvolve(const T* image, const Shape& shape, std::ptrdiff_t channels, const T* psf,
                     const Shape& psf_shape, DeconvBoundary boundary, const TVOptions& options, T* out,
                     const IterationCallback& callback) {
  require_shape(shape, "image");
  UNBLUR_REQUIRE(channels >= 1, "channels must be >= 1, got " << channels);
  require_options(options);
  const std::ptrdiff_t n_obs = shape_size(shape);
  const int threads = resolve_threads(options.threads);

  // One model per channel for its data (the operator is the same for all of them).
  DeconvModel<T> model = make_deconv_model<T>(image, shape, psf, psf_shape, boundary, threads);
  TVSolver<T> solver(model.op, channels, options);
  const std::ptrdiff_t n = model.op.grid_size();
  for (std::ptrdiff_t c = 0; c < channels; ++c) {
    const T* data = model.data.data();
    AlignedBuffer<T> other;
    if (c > 0) {
      DeconvModel<T> mc = make_deconv_model<T>(image + c * n_obs, shape, psf, psf_shape, boundary, threads);
      other = std::move(mc.data);
      data = other.data();
    }
    const std::ptrdiff_t n_data = model.op.observed_size();
    double mean = 0;
    for (std::ptrdiff_t i = 0; i < n_data; ++i) mean += static_cast<double>(data[i]);
    mean /= static_cast<double>(n_data);
    model.op.embed(data, solver.data(c), T(0));
    // Start from the observation, the unobserved halo filled with its mean.
    T* x0 = solver.estimate() + c * n;
    model.op.embed(data, x0, static_cast<T>(mean));
    if (options.has_bounds || options.positivity) {
      const T lo = options.has_bounds ? static_cast<T>(options.lower) : T(0);
      const T hi = options.has_bounds ? static_cast<T>(options.upper) : std::numeric_limits<T>::infinity();
      for (std::ptrdiff_t i = 0; i < n; ++i) x0[i] = std::min(std::max(x0[i], lo), hi);
    }
  }

  solver.start();
  TVInfo info;
  info.stopped_by = "iterations";
  for (int k = 1; k <= options.max_iterations; ++k) {
    const double change = solver.iterate(static_cast<bool>(callback));
    info.iterations = k;
    info.relative_change = change;
    if (callback) {
      IterationState state;
      state.iteration = k;
      state.max_iterations = options.max_iterations;
      state.relative_change = change;
      state.objective = solver.objective();
      if (!callback(state)) {
        info.stopped_by = "callback";
        break;
      }
    }
    if (options.tolerance > 0 && change < options.tolerance) {
      info.stopped_by = "tolerance";
      break;
    }
  }

  const bool constrained = options.has_bounds || options.positivity;
  const T lo = options.has_bounds ? static_cast<T>(options.lower) : T(0);
  const T hi = options.has_bounds ? static_cast<T>(options.upper) : std::numeric_limits<T>::infinity();
  for (std::ptrdiff_t c = 0; c < channels; ++c) {
    T* o = out + c * n_obs;
    model.extract(solver.estimate() + c * n, o);
    if (constrained)
      for (std::ptrdiff_t i = 0; i < n_obs; ++i) o[i] = std::min(std::max(o[i], lo), hi);
  }
  return info;
}

template TVInfo tv_deconvolve<float>(const float*, const Shape&, std::ptrdiff_t, const float*, const Shape&,
                                     DeconvBoundary, const TVOptions&, float*, const IterationCallback&);
template TVInfo tv_deconvolve<double>(const double*, const Shape&, std::ptrdiff_t, const double*, const Shape&,
                                      DeconvBoundary, const TVOptions&, double*, const IterationCallback&);

}  // namespace unblur
