#include "core/richardson_lucy.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <utility>

#include "core/boundary.hpp"
#include "core/error.hpp"
#include "core/fft.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"

// Memory. Image-sized buffers (grid or observation) one call allocates:
//   model: data (1), the operator's OTF (1), its spectrum (1) and its work buffer (1;
//   never touched by RL, so never paged in), the normaliser 1 / A^T w (1; none for
//   periodic / reflect without weights), work_ (1), prediction_ (1; acceleration or TV
//   only), a copy of the weights (1; only when given);
//   caller-owned state: the estimate (1) and, with acceleration, previous, previous_step
//   and correction (3); the output (1).
// Plain RL on 'auto' without weights: 7 (6 touched). Accelerated: 11 (10 touched);
// 12 with weights.

namespace unblur {
namespace {

constexpr double kAlphaMax = 0.999;      // Biggs–Andrews' alpha is clamped to [0, 1)
// The extrapolated point keeps at least this fraction of the current iterate. Clamped at
// 0 instead, a pixel that converges faster than the global alpha assumes (a large weight
// next to a small one, a delta PSF) was extrapolated to exactly 0 where the data are
// positive: its ratio g / (0 + 1e-12) (~1e9) then leaked through the FFT's rounding
// (float32: 6e-8 of the largest ratio, into every pixel) and the iterates exploded
// (boundary='zero' with weights: 224 for data <= 1e-3 after 6 iterations). A pixel at 0
// could also never recover (the updates are multiplicative).
constexpr double kExtrapolationFloor = 0.1;
constexpr double kHeldFraction = 1e-4;   // A^T w below this x max: pixel held at zero
constexpr double kTvFloor = 0.1;         // smallest TV denominator
constexpr double kTvStability = 8.0;     // TV epsilon >= this x tv_weight x the data mean
constexpr double kRatioEpsilon = 1e-12;  // added to the model before dividing (scikit-image's)

// The common case of the ratio step on one row: z <- g / (max(z + b, 0) + eps), and the
// row's squared residual added to *sse.
template <typename T>
UNBLUR_INLINE void ratio_row(const T* g, T* z, T b, T eps, std::ptrdiff_t n, T* sse) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (std::ptrdiff_t c = 0; c < n; ++c) {
    const T m = z[c] + b;
    const T res = g[c] - m;
    acc += res * res;
    z[c] = g[c] / (std::max(m, T(0)) + eps);
  }
  *sse += acc;
}

// The plain multiplicative update of one row, x <- max(x z, 0) (times the normaliser inv
// where there is one); sums[0] += |x_new - x|^2, sums[1] += |x_new|^2. The iterates are
// >= 0 in exact arithmetic; the clamp removes the FFTs' rounding-level negatives, which
// the multiplicative update would otherwise carry forward (and the TV denominator, below
// 1 at a dip, grow: see update()).
template <typename T, bool Normalised>
UNBLUR_INLINE void update_row(T* x, const T* z, const T* inv, std::ptrdiff_t n, T* sums) {
  T rc = 0, rn = 0;
#pragma omp simd reduction(+ : rc, rn)
  for (std::ptrdiff_t c = 0; c < n; ++c) {
    const T xn = std::max(Normalised ? x[c] * z[c] * inv[c] : x[c] * z[c], T(0));
    rc += (xn - x[c]) * (xn - x[c]);
    rn += xn * xn;
    x[c] = xn;
  }
  sums[0] += rc;
  sums[1] += rn;
}

}  // namespace

template <typename T>
RichardsonLucy<T>::RichardsonLucy(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                                  const T* weights, const RichardsonLucyOptions& options)
    : options_(options),
      model_(make_deconv_model<T>(image, shape, psf, psf_shape,
                                  options.zero_boundary ? DeconvBoundary::Auto : options.boundary, options.threads)),
      image_shape_(shape) {
  auto finite_nonneg = [](double v) { return std::isfinite(v) && v >= 0; };
  UNBLUR_REQUIRE(options.iterations >= 0, "iterations must be >= 1 (or 0 for automatic), got " << options.iterations);
  UNBLUR_REQUIRE(options.max_iterations >= 0, "max_iterations must be >= 0, got " << options.max_iterations);
  UNBLUR_REQUIRE(finite_nonneg(options.damping), "damping must be >= 0, got " << options.damping);
  UNBLUR_REQUIRE(finite_nonneg(options.tv_weight), "tv_weight must be >= 0, got " << options.tv_weight);
  UNBLUR_REQUIRE(finite_nonneg(options.background), "background must be >= 0, got " << options.background);
  UNBLUR_REQUIRE(finite_nonneg(options.tolerance), "tolerance must be >= 0, got " << options.tolerance);
  BlurOperator<T>& op = model_.op;
  const int nt = op.threads();
  const std::ptrdiff_t n_obs = op.observed_size(), n_grid = op.grid_size();
  const bool reflect = !options.zero_boundary && options.boundary == DeconvBoundary::Reflect;

  if (weights != nullptr) {
    const std::ptrdiff_t n_img = shape_size(shape);
    bool ok = true;
    for (std::ptrdiff_t i = 0; i < n_img; ++i) ok = ok && std::isfinite(weights[i]) && weights[i] >= 0;
    UNBLUR_REQUIRE(ok, "weights must be finite and >= 0");
    weights_ = AlignedBuffer<T>(static_cast<std::size_t>(n_obs));
    if (reflect)
      reflect_pad(weights, shape, weights_.data(), op.grid_shape(), model_.result_offset, nt);
    else
      std::memcpy(weights_.data(), weights, sizeof(T) * static_cast<std::size_t>(n_obs));
  }
  const T* w = weights_.size() ? weights_.data() : nullptr;
  const T* g = model_.data.data();
  const auto [wsum, gsum] = ordered_sums<2>(n_obs, nt, [&](std::ptrdiff_t i, std::array<double, 2>& acc) {
    const double wi = w ? double(w[i]) : 1.0;
    acc[0] += wi;
    acc[1] += wi * double(g[i]);
  });
  UNBLUR_REQUIRE(wsum > 0, "weights must not all be zero");
  weight_sum_ = wsum;
  data_mean_ = gsum / wsum;
  // |grad|_eps = sqrt(|grad|^2 + eps^2): where the image is flat the TV term acts as
  // lambda Laplacian(x) / eps, and the multiplicative update amplifies rough
  // perturbations by about 8 lambda mean / eps per iteration, so eps >= 8 lambda mean
  // keeps the iteration stable. With eps = 1e-3 mean alone, lambda = 0.01 turned a 1e-9
  // change of the input into 1.7e-2 of the output after 30 iterations (float32
  // rounding alike); with the bound, 2e-7, at the same PSNR (bench notes in
  // bench/RESULTS.md, "TV-RL stability").
  tv_epsilon_ = data_mean_ > 0 ? std::max(1e-3, kTvStability * options.tv_weight) * data_mean_ : 1e-8;

  work_ = AlignedBuffer<T>(static_cast<std::size_t>(n_grid));
  if (options.accelerate || options.tv_weight > 0) prediction_ = AlignedBuffer<T>(static_cast<std::size_t>(n_grid));

  if (options.zero_boundary) {
    // No normaliser; the halo is held at zero: the window's indicator.
    inv_norm_ = AlignedBuffer<T>(static_cast<std::size_t>(n_grid));
    AlignedBuffer<T> ones(static_cast<std::size_t>(n_obs));
    std::fill(ones.data(), ones.data() + n_obs, T(1));
    op.embed(ones.data(), inv_norm_.data(), T(0));
  } else if (!op.is_periodic() || w != nullptr) {
    // Bertero–Boccacci: 1 / A^T w, zero where A^T w is negligible.
    T* nrm = work_.data();
    if (w != nullptr) {
      op.embed(w, nrm, T(0));
    } else {
      AlignedBuffer<T> ones(static_cast<std::size_t>(n_obs));
      std::fill(ones.data(), ones.data() + n_obs, T(1));
      op.embed(ones.data(), nrm, T(0));
    }
    op.adjoint_grid(nrm, nrm);
    const T peak = *std::max_element(nrm, nrm + n_grid);
    const T held = static_cast<T>(kHeldFraction) * peak;
    inv_norm_ = AlignedBuffer<T>(static_cast<std::size_t>(n_grid));
    T* inv = inv_norm_.data();
#pragma omp parallel for num_threads(nt) schedule(static)
    for (std::ptrdiff_t i = 0; i < n_grid; ++i) inv[i] = nrm[i] > held ? T(1) / nrm[i] : T(0);
  }

  if (options.iterations == 0)
    noise_sigma_ = options.noise_sigma >= 0 ? options.noise_sigma : estimate_noise<T>(image, shape, nt);
}

template <typename T>
void RichardsonLucy<T>::initialise(RichardsonLucyState<T>& state, RichardsonLucyStart start, const T* initial) {
  BlurOperator<T>& op = model_.op;
  const int nt = op.threads();
  const std::ptrdiff_t n = op.grid_size();
  T* x = state.estimate;
  if (start == RichardsonLucyStart::Default) {
    if (options_.zero_boundary) {
      AlignedBuffer<T> half(static_cast<std::size_t>(op.observed_size()));
      std::fill(half.data(), half.data() + half.size(), T(0.5));
      op.embed(half.data(), x, T(0));
    } else {
      std::fill(x, x + n, static_cast<T>(data_mean_));
    }
  } else if (start == RichardsonLucyStart::Image) {
    UNBLUR_REQUIRE(initial != nullptr, "initial image missing");
    const std::ptrdiff_t m = shape_size(image_shape_);
    double sum = 0;
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      UNBLUR_REQUIRE(std::isfinite(initial[i]) && initial[i] >= 0, "initial must be finite and >= 0");
      sum += double(initial[i]);
    }
    if (!options_.zero_boundary && options_.boundary == DeconvBoundary::Reflect)
      reflect_pad(initial, image_shape_, x, op.grid_shape(), model_.result_offset, nt);
    else if (op.is_periodic())
      std::memcpy(x, initial, sizeof(T) * static_cast<std::size_t>(n));
    else
      op.embed(initial, x, options_.zero_boundary ? T(0) : static_cast<T>(sum / double(m)));
  }
  if (start != RichardsonLucyStart::State) {
    if (inv_norm_.size()) {
      const T* inv = inv_norm_.data();
#pragma omp parallel for num_threads(nt) schedule(static)
      for (std::ptrdiff_t i = 0; i < n; ++i)
        if (inv[i] == T(0)) x[i] = T(0);
    }
    state.history = 0;
    state.iterations = 0;
  }
  if (options_.accelerate && state.history == 0) {
    std::memcpy(state.previous, x, sizeof(T) * static_cast<std::size_t>(n));
    std::fill(state.previous_step, state.previous_step + n, T(0));
    std::fill(state.correction, state.correction + n, T(0));
    state.correction_dot = 0;
    state.correction_norm2 = 0;
  }
}

template <typename T>
double RichardsonLucy<T>::ratio(T* z) const {
  const BlurOperator<T>& op = model_.op;
  const auto gd = pad_to_3d(op.grid_shape()), nd = pad_to_3d(op.observed_shape()), od = pad_to_3d(op.offset(), 0);
  const T* data = model_.data.data();
  const T* w = weights_.size() ? weights_.data() : nullptr;
  const T b = static_cast<T>(options_.background);
  const T eps = static_cast<T>(kRatioEpsilon);
  const bool zero = options_.zero_boundary;
  const bool damped = options_.damping > 0;
  const T inv_d2 = damped ? static_cast<T>(1.0 / (options_.damping * options_.damping)) : T(0);
  const std::ptrdiff_t rows = gd[0] * gd[1];
  const auto ratio_common = kernel<&ratio_row<T>>();
  return ordered_row_sums<1>(rows, op.threads(), [&](std::ptrdiff_t r, std::array<double, 1>& acc) {
    T* row = z + r * gd[2];
    const std::ptrdiff_t a = r / gd[1] - od[0], bb = r % gd[1] - od[1];
    if (a < 0 || a >= nd[0] || bb < 0 || bb >= nd[1]) {
      std::fill(row, row + gd[2], T(0));
      return;
    }
    std::fill(row, row + od[2], T(0));
    std::fill(row + od[2] + nd[2], row + gd[2], T(0));
    T* zr = row + od[2];
    const std::ptrdiff_t o = (a * nd[1] + bb) * nd[2];
    const T* gr = data + o;
    const T* wr = w ? w + o : nullptr;
    T row_sse = 0;  // one row in T; rows add up in double
    if (!damped && !wr) {  // (without weights, zero-boundary 1 + (q - 1) is q)
      ratio_common(gr, zr, b, eps, nd[2], &row_sse);  // branch-free, vectorised
    } else {
      for (std::ptrdiff_t c = 0; c < nd[2]; ++c) {
        const T m = zr[c] + b;
        const T res = gr[c] - m;
        const T wv = wr ? wr[c] : T(1);
        row_sse += wv * res * res;
        T q = gr[c] / (std::max(m, T(0)) + eps);
        if (damped) {
          const T t = std::min(res * res * inv_d2, T(1));
          const T t2 = t * t, t4 = t2 * t2;
          const T damp = t4 * t4 * t * (T(10) - T(9) * t);
          q = T(1) + damp * (q - T(1));
        }
        zr[c] = zero ? T(1) + wv * (q - T(1)) : wv * q;
      }
    }
    acc[0] += double(row_sse);
  })[0];
}

template <typename T>
T RichardsonLucy<T>::tv_denominator(const T* y, std::ptrdiff_t a, std::ptrdiff_t b, std::ptrdiff_t c) const {
  const auto gd = pad_to_3d(grid_shape());
  const T eps2 = static_cast<T>(tv_epsilon_ * tv_epsilon_);
  const std::array<std::ptrdiff_t, 3> stride{gd[1] * gd[2], gd[2], 1};
  const int first = 3 - static_cast<int>(grid_shape().size());
  // p_axis at pixel (i0, i1, i2): forward difference / |grad| (Neumann: 0 at the far edge).
  auto p = [&](std::ptrdiff_t i0, std::ptrdiff_t i1, std::ptrdiff_t i2, int axis) {
    const std::array<std::ptrdiff_t, 3> idx{i0, i1, i2};
    const std::ptrdiff_t at = i0 * stride[0] + i1 * stride[1] + i2;
    T norm2 = eps2, along = 0;
    for (int k = first; k < 3; ++k) {
      const T d = idx[k] + 1 < gd[k] ? y[at + stride[k]] - y[at] : T(0);
      norm2 += d * d;
      if (k == axis) along = d;
    }
    return along / std::sqrt(norm2);
  };
  T div = 0;
  const std::array<std::ptrdiff_t, 3> idx{a, b, c};
  for (int k = first; k < 3; ++k) {
    div += p(a, b, c, k);
    if (idx[k] > 0) div -= p(a - (k == 0), b - (k == 1), c - (k == 2), k);
  }
  return std::max(T(1) - static_cast<T>(options_.tv_weight) * div, static_cast<T>(kTvFloor));
}

template <typename T>
RichardsonLucyResult RichardsonLucy<T>::run(RichardsonLucyState<T>& state, RichardsonLucyStart start,
                                            const T* initial, T* out, const IterationCallback& callback) {
  UNBLUR_REQUIRE(state.estimate != nullptr, "state.estimate is required");
  if (options_.accelerate)
    UNBLUR_REQUIRE(state.previous && state.previous_step && state.correction,
                   "acceleration needs state.previous, previous_step and correction");
  if (start == RichardsonLucyStart::State)
    UNBLUR_REQUIRE(state.history >= 0 && state.iterations >= 0, "state has negative counters");
  initialise(state, start, initial);

  BlurOperator<T>& op = model_.op;
  const int nt = op.threads();
  const std::ptrdiff_t n = op.grid_size();
  const auto gd = pad_to_3d(grid_shape());
  const std::ptrdiff_t rows = gd[0] * gd[1], cols = gd[2];
  const int cap = options_.iterations > 0 ? options_.iterations
                  : options_.max_iterations > 0 ? options_.max_iterations
                  : (options_.accelerate ? 200 : 500);
  const bool tv = options_.tv_weight > 0;
  const T* inv = inv_norm_.size() ? inv_norm_.data() : nullptr;
  T* z = work_.data();
  T* x = state.estimate;
  T* xp = state.previous;
  T* hp = state.previous_step;
  T* gc = state.correction;

  RichardsonLucyResult result;
  result.noise_sigma = options_.iterations == 0 ? noise_sigma_ : 0;
  const double target = noise_sigma_ * noise_sigma_;
  for (int it = 1;; ++it) {
    // The point the RL step evaluates.
    const T* y = x;
    if (options_.accelerate && state.history >= 2) {
      double alpha = state.correction_norm2 > 0 ? state.correction_dot / state.correction_norm2 : 0.0;
      alpha = std::min(std::max(alpha, 0.0), kAlphaMax);
      const T a1 = static_cast<T>(alpha), a2 = static_cast<T>(0.5 * alpha * alpha);
      T* yp = prediction_.data();
#pragma omp parallel for num_threads(nt) schedule(static)
      for (std::ptrdiff_t i = 0; i < n; ++i) {
        const T h = x[i] - xp[i];
        yp[i] = std::max(x[i] + a1 * h + a2 * (h - hp[i]), static_cast<T>(kExtrapolationFloor) * x[i]);
      }
      y = yp;
    }
    op.forward_grid(y, z);
    const double sse = ratio(z);
    op.adjoint_grid(z, z);

    double change = 0, norm = 0;
    if (options_.accelerate) {
      // x_{k+1} into xp's buffer (x_{k-1} is no longer needed once h_k is stored).
      const auto sums = ordered_row_sums<4>(rows, nt, [&](std::ptrdiff_t r, std::array<double, 4>& acc) {
        T rc = 0, rn = 0, rd = 0, rg = 0;
        for (std::ptrdiff_t c = 0; c < cols; ++c) {
          const std::ptrdiff_t i = r * cols + c;
          T xn = y[i] * z[i];
          if (inv) xn *= inv[i];
          if (tv) xn /= tv_denominator(y, r / gd[1], r % gd[1], c);
          xn = std::max(xn, T(0));
          const T xo = x[i];
          hp[i] = xo - xp[i];
          xp[i] = xn;
          const T gn = xn - y[i];
          rd += gn * gc[i];
          rg += gc[i] * gc[i];
          gc[i] = gn;
          rc += (xn - xo) * (xn - xo);
          rn += xn * xn;
        }
        acc[0] += double(rc);
        acc[1] += double(rn);
        acc[2] += double(rd);
        acc[3] += double(rg);
      });
      change = sums[0];
      norm = sums[1];
      std::swap(x, xp);
      state.correction_dot = sums[2];
      state.correction_norm2 = sums[3];
      ++state.history;
    } else if (tv) {
      T* xn_buf = prediction_.data();
      const auto sums = ordered_row_sums<2>(rows, nt, [&](std::ptrdiff_t r, std::array<double, 2>& acc) {
        T rc = 0, rn = 0;
        for (std::ptrdiff_t c = 0; c < cols; ++c) {
          const std::ptrdiff_t i = r * cols + c;
          T xn = x[i] * z[i] / tv_denominator(x, r / gd[1], r % gd[1], c);
          if (inv) xn *= inv[i];
          // A rounding-level negative is a dip, where the TV denominator is below 1: the
          // update would multiply it by up to 1 / kTvFloor per iteration (boundary='zero'
          // with damping made -1e-8 into -0.9 of the data's peak in 500 iterations).
          xn = std::max(xn, T(0));
          xn_buf[i] = xn;
          rc += (xn - x[i]) * (xn - x[i]);
          rn += xn * xn;
        }
        acc[0] += double(rc);
        acc[1] += double(rn);
      });
      change = sums[0];
      norm = sums[1];
      std::memcpy(x, xn_buf, sizeof(T) * static_cast<std::size_t>(n));
    } else {
      const auto update = inv ? kernel<&update_row<T, true>>() : kernel<&update_row<T, false>>();
      const auto sums = ordered_row_sums<2>(rows, nt, [&](std::ptrdiff_t r, std::array<double, 2>& acc) {
        T row[2] = {0, 0};
        update(x + r * cols, z + r * cols, inv ? inv + r * cols : nullptr, cols, row);
        acc[0] += double(row[0]);
        acc[1] += double(row[1]);
      });
      change = sums[0];
      norm = sums[1];
    }
    ++state.iterations;
    result.iterations = it;
    result.residual = sse / weight_sum_;
    result.relative_change = norm > 0 ? std::sqrt(change / norm) : 0.0;

    if (callback) {
      IterationState s;
      s.iteration = it;
      s.max_iterations = cap;
      s.relative_change = result.relative_change;
      s.objective = result.residual;
      if (!callback(s)) {
        result.stopped_by = StopReason::Callback;
        break;
      }
    }
    if (options_.iterations > 0) {
      if (it >= options_.iterations) {
        result.stopped_by = StopReason::Iterations;
        break;
      }
      continue;
    }
    if (result.residual <= target) {
      result.stopped_by = StopReason::Discrepancy;
      break;
    }
    if (result.relative_change < options_.tolerance) {
      result.stopped_by = StopReason::Tolerance;
      break;
    }
    if (it >= cap) {
      result.stopped_by = StopReason::MaxIterations;
      break;
    }
  }
  // The estimate may sit in the `previous` buffer after an odd number of swaps.
  if (x != state.estimate) {
    T* e = state.estimate;
    T* p = state.previous;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i) std::swap(e[i], p[i]);
  }
  model_.extract(state.estimate, out);
  return result;
}

template <typename T>
double richardson_lucy_fft_floor(const Shape& grid, int repeats, int threads) {
  require_shape(grid, "grid");
  UNBLUR_REQUIRE(repeats >= 1, "repeats must be >= 1, got " << repeats);
  auto fft = RealFFT<T>::get(grid, resolve_threads(threads));
  AlignedBuffer<T> x(static_cast<std::size_t>(fft->real_size())), y(static_cast<std::size_t>(fft->real_size()));
  AlignedBuffer<std::complex<T>> s(static_cast<std::size_t>(fft->spectrum_size()));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(i % 7) * T(0.125);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fft->forward(x.data(), s.data());
    fft->inverse(s.data(), y.data());
    fft->forward(y.data(), s.data());
    fft->inverse(s.data(), y.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

template class RichardsonLucy<float>;
template class RichardsonLucy<double>;
template double richardson_lucy_fft_floor<float>(const Shape&, int, int);
template double richardson_lucy_fft_floor<double>(const Shape&, int, int);

}  // namespace unblur
