// Richardson–Lucy, single-source (csrc/gpu/exec.hpp): the CPU engine's algorithm
// (csrc/core/richardson_lucy.hpp, which documents the maths) step for step, with the
// same options, state and stopping rules, so that both engines give the same iterates
// up to rounding. Per iteration: two FFT pairs and three fused elementwise passes (the
// extrapolated point, the ratio with its residual, the update with its norms); the
// reductions are read on the host only when a rule needs them (automatic stop,
// callback, acceleration's step length, the last iteration's report).
//
// Differences from the CPU engine: the noise sigma of the automatic stop must be
// given (the Python layer estimates it on the device), and `initial` is not checked
// for negative values here (the Python layer does).
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/richardson_lucy.hpp"  // options, state, result, StopReason
#include "gpu/blur_model.hpp"

namespace unblur::gpu {

// The constants of csrc/core/richardson_lucy.cpp.
constexpr double kRlAlphaMax = 0.999;
constexpr double kRlExtrapolationFloor = 0.1;  // (core/richardson_lucy.cpp's kExtrapolationFloor)
constexpr double kRlHeldFraction = 1e-4;
constexpr double kRlTvFloor = 0.1;
constexpr double kRlTvStability = 8.0;
constexpr double kRlRatioEpsilon = 1e-12;

/// The TV denominator max(1 - lambda div(grad y / |grad y|_eps), floor) at grid pixel
/// (a, b, c); `first` is the first spatial axis of the 3-D view (3 - ndim).
template <typename T>
UNBLUR_HD inline T rl_tv_denominator(const T* y, const Dims& g, int first, T eps2, T lambda, Index a, Index b,
                                     Index c) {
  const Index stride[3] = {g.n[1] * g.n[2], g.n[2], 1};
  // p_axis at (i0, i1, i2): the forward difference / |grad| (0 at the far edge).
  auto p = [&](Index i0, Index i1, Index i2, int axis) {
    const Index idx[3] = {i0, i1, i2};
    const Index at = i0 * stride[0] + i1 * stride[1] + i2;
    T norm2 = eps2, along = 0;
    for (int k = first; k < 3; ++k) {
      const T d = idx[k] + 1 < g.n[k] ? y[at + stride[k]] - y[at] : T(0);
      norm2 += d * d;
      if (k == axis) along = d;
    }
    return along / gsqrt(norm2);
  };
  T div = 0;
  const Index idx[3] = {a, b, c};
  for (int k = first; k < 3; ++k) {
    div += p(a, b, c, k);
    if (idx[k] > 0) div -= p(a - (k == 0), b - (k == 1), c - (k == 2), k);
  }
  return gmax(T(1) - lambda * div, static_cast<T>(kRlTvFloor));
}

template <typename Exec>
class RichardsonLucyGpu {
 public:
  using T = typename Exec::Real;
  template <typename U>
  using Buffer = typename Exec::template Buffer<U>;

  /// image, psf, weights (nullptr: all 1) are the engine's arrays (device memory for the
  /// device executor). With options.iterations == 0, options.noise_sigma must be >= 0.
  RichardsonLucyGpu(const Exec& ex, const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                    const T* weights, const RichardsonLucyOptions& options)
      : ex_(ex),
        options_(checked(options)),
        model_(ex, image, shape, psf, psf_shape, options.zero_boundary ? DeconvBoundary::Auto : options.boundary),
        weights_(ex, weights && reflect() ? static_cast<std::size_t>(model_.observed_size()) : 0),
        inv_norm_(ex, needs_normaliser(weights) ? static_cast<std::size_t>(model_.grid_size()) : 0),
        work_(ex, static_cast<std::size_t>(model_.grid_size())),
        prediction_(ex, options.accelerate || options.tv_weight > 0 ? static_cast<std::size_t>(model_.grid_size())
                                                                     : 0) {
    prepare(weights);
  }

  // (Public, not the constructor's body: see BlurModel::build.)
  void prepare(const T* weights) {
    const Exec& ex = ex_;
    const RichardsonLucyOptions& options = options_;
    const Index n_obs = model_.observed_size(), n_grid = model_.grid_size();
    if (weights && reflect()) {
      reflect_pad(ex, weights, model_.image(), weights_.data(), model_.grid(), model_.result_offset());
      w_ = weights_.data();
    } else {
      w_ = weights;
    }
    const T* w = w_;
    const T* g = model_.data();
    const Sums<3> totals = ex.template sums<3>(n_obs, [=] UNBLUR_HD(Index i) {
      Sums<3> s;
      const double wi = w ? double(w[i]) : 1.0;
      const bool ok = wi >= 0 && wi <= 1.7976931348623157e308;  // finite and >= 0 (NaN fails both)
      s.v[0] = ok ? wi : 0.0;
      s.v[1] = ok ? wi * double(g[i]) : 0.0;
      s.v[2] = ok ? 0.0 : 1.0;
      return s;
    });
    UNBLUR_REQUIRE(totals[2] == 0, "weights must be finite and >= 0");
    UNBLUR_REQUIRE(totals[0] > 0, "weights must not all be zero");
    weight_sum_ = totals[0];
    data_mean_ = totals[1] / totals[0];
    tv_epsilon_ = data_mean_ > 0 ? std::max(1e-3, kRlTvStability * options.tv_weight) * data_mean_ : 1e-8;

    if (options.zero_boundary) {
      // No normaliser; the halo is held at zero: the window's indicator.
      fill_window(inv_norm_.data(), T(1), T(0));
    } else if (inv_norm_.size()) {
      // Bertero–Boccacci: 1 / A^T w, zero where A^T w is negligible.
      T* nrm = work_.data();
      if (w)
        model_.embed(w, nrm, T(0));
      else
        fill_window(nrm, T(1), T(0));
      model_.apply(nrm, nrm, true);
      const double peak = ex.template sums<1, Max>(n_grid, [=] UNBLUR_HD(Index i) {
        Sums<1, Max> s;
        s.v[0] = double(nrm[i]);
        return s;
      })[0];
      const T held = static_cast<T>(kRlHeldFraction) * static_cast<T>(peak);
      T* inv = inv_norm_.data();
      ex.for_each(n_grid, [=] UNBLUR_HD(Index i) { inv[i] = nrm[i] > held ? T(1) / nrm[i] : T(0); });
    }
  }

  const Shape& grid_shape() const { return model_.grid_shape(); }
  Index grid_size() const { return model_.grid_size(); }

  /// grid = `inside` in the observed window, `outside` elsewhere.
  void fill_window(T* grid, T inside, T outside) const {
    const Dims gd = model_.grid(), n = model_.observed(), o = model_.window();
    ex_.for_each(gd.size(), [=] UNBLUR_HD(Index t) {
      const Index3 p = unravel(t, gd);
      const Index a = p.i0 - o.n[0], b = p.i1 - o.n[1], c = p.i2 - o.n[2];
      grid[t] = (a >= 0 && a < n.n[0] && b >= 0 && b < n.n[1] && c >= 0 && c < n.n[2]) ? inside : outside;
    });
  }

  void initialise(RichardsonLucyState<T>& state, RichardsonLucyStart start, const T* initial) {
    const Index n = model_.grid_size();
    T* x = state.estimate;
    if (start == RichardsonLucyStart::Default) {
      if (options_.zero_boundary)
        fill_window(x, T(0.5), T(0));
      else
        ex_.fill(x, n, static_cast<T>(data_mean_));
    } else if (start == RichardsonLucyStart::Image) {
      UNBLUR_REQUIRE(initial != nullptr, "initial image missing");
      const Dims img = model_.image();
      const Sums<2> check = ex_.template sums<2>(img.size(), [=] UNBLUR_HD(Index i) {
        Sums<2> s;
        const double v = double(initial[i]);
        const bool ok = v >= 0 && v <= 1.7976931348623157e308;  // finite and >= 0 (NaN fails both)
        s.v[0] = ok ? v : 0.0;
        s.v[1] = ok ? 0.0 : 1.0;
        return s;
      });
      UNBLUR_REQUIRE(check[1] == 0, "initial must be finite and >= 0");
      const double sum = check[0];
      if (reflect())
        reflect_pad(ex_, initial, img, x, model_.grid(), model_.result_offset());
      else if (model_.is_periodic())
        ex_.copy(x, initial, n);
      else
        model_.embed(initial, x, options_.zero_boundary ? T(0) : static_cast<T>(sum / double(img.size())));
    }
    if (start != RichardsonLucyStart::State) {
      if (inv_norm_.size()) {
        const T* inv = inv_norm_.data();
        ex_.for_each(n, [=] UNBLUR_HD(Index i) {
          if (inv[i] == T(0)) x[i] = T(0);
        });
      }
      state.history = 0;
      state.iterations = 0;
    }
    if (options_.accelerate && state.history == 0) {
      ex_.copy(state.previous, x, n);
      ex_.fill(state.previous_step, n, T(0));
      ex_.fill(state.correction, n, T(0));
      state.correction_dot = 0;
      state.correction_norm2 = 0;
    }
  }

  /// z (the blurred point on the grid) := the ratio on the observed window, 0 elsewhere;
  /// returns the weighted sum of squared residuals when `want`.
  double ratio(T* z, bool want) const {
    const Dims gd = model_.grid(), nd = model_.observed(), od = model_.window();
    const T* data = model_.data();
    const T* w = w_;
    const T b = static_cast<T>(options_.background);
    const T eps = static_cast<T>(kRlRatioEpsilon);
    const bool zero = options_.zero_boundary;
    const bool damped = options_.damping > 0;
    const T inv_d2 = damped ? static_cast<T>(1.0 / (options_.damping * options_.damping)) : T(0);
    return ex_.template sums_if<1>(want, gd.size(), [=] UNBLUR_HD(Index t) {
      Sums<1> s;
      const Index3 p = unravel(t, gd);
      const Index a = p.i0 - od.n[0], bb = p.i1 - od.n[1], c = p.i2 - od.n[2];
      if (a < 0 || a >= nd.n[0] || bb < 0 || bb >= nd.n[1] || c < 0 || c >= nd.n[2]) {
        z[t] = T(0);
        return s;
      }
      const Index o = ravel(a, bb, c, nd);
      const T m = z[t] + b;
      const T res = data[o] - m;
      const T wv = w ? w[o] : T(1);
      s.v[0] = double(wv * res * res);
      T q = data[o] / (gmax(m, T(0)) + eps);
      if (!damped && !w) {
        z[t] = q;  // (without weights, zero-boundary 1 + (q - 1) is q: the CPU's common path)
        return s;
      }
      if (damped) {
        const T tt = gmin(res * res * inv_d2, T(1));
        const T t2 = tt * tt, t4 = t2 * t2;
        const T damp = t4 * t4 * tt * (T(10) - T(9) * tt);
        q = T(1) + damp * (q - T(1));
      }
      z[t] = zero ? T(1) + wv * (q - T(1)) : wv * q;
      return s;
    })[0];
  }

  RichardsonLucyResult run(RichardsonLucyState<T>& state, RichardsonLucyStart start, const T* initial, T* out,
                           const IterationCallback& callback = {}) {
    UNBLUR_REQUIRE(state.estimate != nullptr, "state.estimate is required");
    if (options_.accelerate)
      UNBLUR_REQUIRE(state.previous && state.previous_step && state.correction,
                     "acceleration needs state.previous, previous_step and correction");
    if (start == RichardsonLucyStart::State)
      UNBLUR_REQUIRE(state.history >= 0 && state.iterations >= 0, "state has negative counters");
    initialise(state, start, initial);

    const Index n = model_.grid_size();
    const Dims gd = model_.grid();
    const int first = 3 - static_cast<int>(model_.grid_shape().size());
    const int cap = options_.iterations > 0 ? options_.iterations
                    : options_.max_iterations > 0 ? options_.max_iterations
                    : (options_.accelerate ? 200 : 500);
    const bool tv = options_.tv_weight > 0;
    const T lambda = static_cast<T>(options_.tv_weight);
    const T eps2 = static_cast<T>(tv_epsilon_ * tv_epsilon_);
    const T* inv = inv_norm_.size() ? inv_norm_.data() : nullptr;
    T* z = work_.data();
    T* x = state.estimate;
    T* xp = state.previous;
    T* hp = state.previous_step;
    T* gc = state.correction;

    RichardsonLucyResult result;
    result.noise_sigma = options_.iterations == 0 ? options_.noise_sigma : 0;
    const double target = options_.noise_sigma * options_.noise_sigma;
    for (int it = 1;; ++it) {
      // Reductions are read only where a rule needs them.
      const bool want = options_.iterations == 0 || callback || options_.accelerate || it >= options_.iterations;
      const T* y = x;
      if (options_.accelerate && state.history >= 2) {
        double alpha = state.correction_norm2 > 0 ? state.correction_dot / state.correction_norm2 : 0.0;
        alpha = std::min(std::max(alpha, 0.0), kRlAlphaMax);
        const T a1 = static_cast<T>(alpha), a2 = static_cast<T>(0.5 * alpha * alpha);
        T* yp = prediction_.data();
        const T* xc = x;
        const T floor = static_cast<T>(kRlExtrapolationFloor);
        ex_.for_each(n, [=] UNBLUR_HD(Index i) {
          const T h = xc[i] - xp[i];
          yp[i] = gmax(xc[i] + a1 * h + a2 * (h - hp[i]), floor * xc[i]);
        });
        y = yp;
      }
      model_.apply(y, z, false);
      const double sse = ratio(z, want);
      model_.apply(z, z, true);

      double change = 0, norm = 0;
      if (options_.accelerate) {
        // x_{k+1} into xp's buffer (x_{k-1} is no longer needed once h_k is stored).
        const T* xc = x;
        const Sums<4> s = ex_.template sums<4>(n, [=] UNBLUR_HD(Index i) {
          Sums<4> r;
          T xn = y[i] * z[i];
          if (inv) xn *= inv[i];
          if (tv) {
            const Index3 p = unravel(i, gd);
            xn /= rl_tv_denominator(y, gd, first, eps2, lambda, p.i0, p.i1, p.i2);
          }
          xn = gmax(xn, T(0));  // rounding-level negatives (csrc/core/richardson_lucy.cpp)
          const T xo = xc[i];
          hp[i] = xo - xp[i];
          xp[i] = xn;
          const T gn = xn - y[i];
          r.v[2] = double(gn * gc[i]);
          r.v[3] = double(gc[i] * gc[i]);
          gc[i] = gn;
          r.v[0] = double((xn - xo) * (xn - xo));
          r.v[1] = double(xn * xn);
          return r;
        });
        change = s[0];
        norm = s[1];
        std::swap(x, xp);
        state.correction_dot = s[2];
        state.correction_norm2 = s[3];
        ++state.history;
      } else if (tv) {
        T* xn_buf = prediction_.data();
        const T* xc = x;
        const Sums<2> s = ex_.template sums_if<2>(want, n, [=] UNBLUR_HD(Index i) {
          Sums<2> r;
          const Index3 p = unravel(i, gd);
          T xn = xc[i] * z[i] / rl_tv_denominator(xc, gd, first, eps2, lambda, p.i0, p.i1, p.i2);
          if (inv) xn *= inv[i];
          xn = gmax(xn, T(0));
          xn_buf[i] = xn;
          r.v[0] = double((xn - xc[i]) * (xn - xc[i]));
          r.v[1] = double(xn * xn);
          return r;
        });
        change = s[0];
        norm = s[1];
        ex_.copy(x, xn_buf, n);
      } else {
        T* xc = x;
        const Sums<2> s = ex_.template sums_if<2>(want, n, [=] UNBLUR_HD(Index i) {
          Sums<2> r;
          const T xn = gmax(inv ? xc[i] * z[i] * inv[i] : xc[i] * z[i], T(0));
          r.v[0] = double((xn - xc[i]) * (xn - xc[i]));
          r.v[1] = double(xn * xn);
          xc[i] = xn;
          return r;
        });
        change = s[0];
        norm = s[1];
      }
      ++state.iterations;
      result.iterations = it;
      result.residual = sse / weight_sum_;
      result.relative_change = norm > 0 ? std::sqrt(change / norm) : 0.0;

      if (callback) {
        IterationState st;
        st.iteration = it;
        st.max_iterations = cap;
        st.relative_change = result.relative_change;
        st.objective = result.residual;
        if (!callback(st)) {
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
      ex_.for_each(n, [=] UNBLUR_HD(Index i) {
        const T v = e[i];
        e[i] = p[i];
        p[i] = v;
      });
    }
    model_.extract(state.estimate, out);
    return result;
  }

  static const RichardsonLucyOptions& checked(const RichardsonLucyOptions& o) {
    auto finite_nonneg = [](double v) { return std::isfinite(v) && v >= 0; };
    UNBLUR_REQUIRE(o.iterations >= 0, "iterations must be >= 1 (or 0 for automatic), got " << o.iterations);
    UNBLUR_REQUIRE(o.max_iterations >= 0, "max_iterations must be >= 0, got " << o.max_iterations);
    UNBLUR_REQUIRE(finite_nonneg(o.damping), "damping must be >= 0, got " << o.damping);
    UNBLUR_REQUIRE(finite_nonneg(o.tv_weight), "tv_weight must be >= 0, got " << o.tv_weight);
    UNBLUR_REQUIRE(finite_nonneg(o.background), "background must be >= 0, got " << o.background);
    UNBLUR_REQUIRE(finite_nonneg(o.tolerance), "tolerance must be >= 0, got " << o.tolerance);
    UNBLUR_REQUIRE(o.iterations > 0 || (std::isfinite(o.noise_sigma) && o.noise_sigma >= 0),
                   "the automatic stop needs noise_sigma >= 0 (estimate_noise of the image), got " << o.noise_sigma);
    return o;
  }
  bool reflect() const { return !options_.zero_boundary && options_.boundary == DeconvBoundary::Reflect; }
  bool needs_normaliser(const T* weights) const {
    return options_.zero_boundary || !model_.is_periodic() || weights != nullptr;
  }

 private:
  const Exec& ex_;
  RichardsonLucyOptions options_;
  BlurModel<Exec> model_;
  Buffer<T> weights_;     // the reflect-padded weights (reflect only)
  Buffer<T> inv_norm_;    // 1 / A^T w on the grid (0 where held), or empty (all 1)
  Buffer<T> work_;        // A y, then the ratio, then A^T ratio
  Buffer<T> prediction_;  // y (acceleration) or the new estimate (TV)
  const T* w_ = nullptr;  // the weights on the observed grid, or nullptr
  double weight_sum_ = 0, data_mean_ = 0, tv_epsilon_ = 0;
};

}  // namespace unblur::gpu
