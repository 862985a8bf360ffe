// Wiener and Tikhonov deconvolution, single-source (csrc/gpu/exec.hpp): the CPU engine's
// solver (csrc/core/wiener.hpp documents the maths) step for step: the closed form on the
// periodic / reflect model, the automatic parameters (GCV or the discrepancy principle
// for lam; the power-law spectrum fit for Wiener's NSR) from the (tapered) data's
// spectrum, and for 'auto' preconditioned conjugate gradients in Fourier space started
// from the reflect solution. Every spectral loop is one fused pass; the parameter
// searches read one or two doubles per evaluation, the spectrum fit one table of ring
// sums (a few thousand doubles), PCG a few doubles per iteration.
//
// Differences from the CPU engine: the noise sigma is given by the caller (the Python
// layer estimates it on the device), and 'periodic' with fixed parameters takes the
// general closed form (the CPU engine has a leaner special case; equal up to rounding).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/wiener.hpp"  // options, QuadraticInfo
#include "gpu/blur_model.hpp"

namespace unblur::gpu {

/// The half spectrum of a grid as a 3-D view (g0, g1, n2 = g2 / 2 + 1) with its
/// frequencies, computed where they are needed (no tables to upload).
struct SpectrumGrid {
  Dims grid;  // the real grid
  Dims half;  // (g0, g1, n2)
  UNBLUR_HD double weight(Index c) const {  // Hermitian weight of column c: 1 or 2
    return (c == 0 || (grid.n[2] % 2 == 0 && c == half.n[2] - 1)) ? 1.0 : 2.0;
  }
  UNBLUR_HD static double cosine(Index k, Index n) {  // |forward difference|^2 = 2 - 2 cos(2 pi k / n)
    return 2.0 - 2.0 * cos(6.283185307179586476925 * double(k) / double(n));
  }
  UNBLUR_HD static double freq2(Index k, Index n) {  // (k / n)^2, k wrapped to [-n/2, n/2)
    const double kk = double(2 * k < n ? k : k - n);
    return (kk / double(n)) * (kk / double(n));
  }
  UNBLUR_HD double cosine_sum(Index i) const {
    const Index3 p = unravel(i, half);
    return cosine(p.i0, grid.n[0]) + cosine(p.i1, grid.n[1]) + cosine(p.i2, grid.n[2]);
  }
  UNBLUR_HD double freq2_sum(Index i) const {
    const Index3 p = unravel(i, half);
    return freq2(p.i0, grid.n[0]) + freq2(p.i1, grid.n[1]) + freq2(p.i2, grid.n[2]);
  }
  UNBLUR_HD double row_freq2(Index i) const {  // the leading axes' part (the CPU engine's row term)
    const Index3 p = unravel(i, half);
    return freq2(p.i0, grid.n[0]) + freq2(p.i1, grid.n[1]);
  }
  UNBLUR_HD double column_freq2(Index i) const { return freq2(i % half.n[2], grid.n[2]); }
};

inline SpectrumGrid spectrum_grid(const Dims& grid) {
  SpectrumGrid s;
  s.grid = grid;
  s.half = grid;
  s.half.n[2] = grid.n[2] / 2 + 1;
  return s;
}

/// What chooses the penalty c(f): Wiener (scalar, spectrum, auto) or Tikhonov.
template <typename T>
struct QuadraticChoice {
  bool wiener = true;
  WienerOptions<T> wiener_options;
  TikhonovOptions tikhonov_options;
  bool needs_sigma() const {
    return wiener ? wiener_options.mode == NsrMode::Auto : tikhonov_options.method == LambdaMethod::Discrepancy;
  }
  bool needs_data() const {
    return wiener ? wiener_options.mode == NsrMode::Auto : tikhonov_options.method != LambdaMethod::Fixed;
  }
  const SolverOptions& solver() const { return wiener ? wiener_options.solver : tikhonov_options.solver; }
};

/// The penalty c(f) = scale * unit(f) (unit == nullptr: 1).
template <typename T>
struct PenaltyGpu {
  const T* unit = nullptr;
  T scale = 0;
};

template <typename Exec>
struct QuadraticSolver {
  using T = typename Exec::Real;
  using C = Cplx<T>;
  template <typename U>
  using Buffer = typename Exec::template Buffer<U>;

  const Exec& ex;
  SpectrumGrid sp;
  Index n_spec = 0;
  double grid_size = 0;

  QuadraticSolver(const Exec& e, const Dims& grid) : ex(e), sp(spectrum_grid(grid)) {
    n_spec = sp.half.size();
    grid_size = double(grid.size());
  }

  /// |R(f)|^2 of the regulariser into unit.
  void regularizer_spectrum(Regularizer reg, T* unit) const {
    const SpectrumGrid s = sp;
    const bool laplacian = reg == Regularizer::Laplacian;
    ex.for_each(n_spec, [=] UNBLUR_HD(Index i) {
      const double v = s.cosine_sum(i);
      unit[i] = static_cast<T>(laplacian ? v * v : v);
    });
  }

  /// {sum w (1 - phi)^2 |G|^2, sum w (1 - phi)} for the penalty lam * unit.
  Sums<2> residual_and_trace(const C* otf, const C* data, const T* unit, double lam) const {
    const SpectrumGrid s = sp;
    const double l2 = grid_size * grid_size;
    const Index n2 = sp.half.n[2];
    return ex.template sums<2>(n_spec, [=] UNBLUR_HD(Index i) {
      Sums<2> r;
      const double ore = otf[i].x, oim = otf[i].y;
      const double h2 = l2 * (ore * ore + oim * oim);
      const double p = lam * (unit ? double(unit[i]) : 1.0);
      const double d = h2 + p;
      const double om = d > 0 ? p / d : 1.0;
      const double gre = data[i].x, gim = data[i].y;
      const double w = s.weight(i % n2);
      r.v[0] = w * om * om * (gre * gre + gim * gim);
      r.v[1] = w * om;
      return r;
    });
  }

  double gcv(const C* otf, const C* data, const T* unit, double lam) const {
    const Sums<2> v = residual_and_trace(otf, data, unit, lam);
    if (!(v[1] > 0)) return std::numeric_limits<double>::infinity();
    return grid_size * v[0] / (v[1] * v[1]);
  }

  // The CPU engine's searches (csrc/core/wiener.cpp), evaluation for evaluation.
  double choose_lam_gcv(const C* otf, const C* data, const T* unit) const {
    const double lo = -12.0, hi = 4.0, step = 0.5;
    double best = lo, best_v = std::numeric_limits<double>::infinity();
    for (double e = lo; e <= hi + 1e-9; e += step) {
      const double v = gcv(otf, data, unit, std::pow(10.0, e));
      if (v < best_v) {
        best_v = v;
        best = e;
      }
    }
    double a = std::max(lo, best - step), b = std::min(hi, best + step);
    const double ratio = 0.6180339887498949;
    double x1 = b - ratio * (b - a), x2 = a + ratio * (b - a);
    double f1 = gcv(otf, data, unit, std::pow(10.0, x1)), f2 = gcv(otf, data, unit, std::pow(10.0, x2));
    while (b - a > 1e-4) {
      if (f1 <= f2) {
        b = x2;
        x2 = x1;
        f2 = f1;
        x1 = b - ratio * (b - a);
        f1 = gcv(otf, data, unit, std::pow(10.0, x1));
      } else {
        a = x1;
        x1 = x2;
        f1 = f2;
        x2 = a + ratio * (b - a);
        f2 = gcv(otf, data, unit, std::pow(10.0, x2));
      }
    }
    const double e = 0.5 * (a + b);
    return gcv(otf, data, unit, std::pow(10.0, e)) <= best_v ? std::pow(10.0, e) : std::pow(10.0, best);
  }

  double choose_lam_discrepancy(const C* otf, const C* data, const T* unit, double sigma) const {
    const double target = grid_size * grid_size * sigma * sigma;
    double a = -14.0, b = 6.0;
    if (residual_and_trace(otf, data, unit, std::pow(10.0, a))[0] >= target) return std::pow(10.0, a);
    if (residual_and_trace(otf, data, unit, std::pow(10.0, b))[0] <= target) return std::pow(10.0, b);
    for (int it = 0; it < 60 && b - a > 1e-6; ++it) {
      const double m = 0.5 * (a + b);
      if (residual_and_trace(otf, data, unit, std::pow(10.0, m))[0] < target)
        a = m;
      else
        b = m;
    }
    return std::pow(10.0, 0.5 * (a + b));
  }

  /// Wiener's automatic NSR: S(f) = A / (|f|^2 + f0^2)^(alpha / 2) fitted to the ring
  /// averages of the data's power where the blur passes most of it; nsr = sigma^2 / S.
  void fit_power_spectrum(const C* otf, const C* data, double sigma, QuadraticInfo& info, T* nsr) const {
    const SpectrumGrid s = sp;
    const double l = grid_size, l2 = l * l;
    const Index m = std::max({sp.grid.n[0], sp.grid.n[1], sp.grid.n[2]});
    const Index rings = m / 2 + 1, n2 = sp.half.n[2];
    // Per ring: weight, power, |H|^2 and |f| sums; the entry after the rings holds the
    // total power (every frequency but 0).
    const std::vector<Sums<4>> bins = ex.template binned_sums<4>(n_spec, rings, [=] UNBLUR_HD(Index i) {
      Binned<4> b;
      if (i == 0) return b;
      const double f = sqrt(s.freq2_sum(i));
      const double g2 = (double(data[i].x) * double(data[i].x) + double(data[i].y) * double(data[i].y)) / l;
      const double w = s.weight(i % n2);
      const Index k = static_cast<Index>(llround(f * double(m)));
      b.extra = w * g2;  // every frequency but 0 counts toward the total power
      if (k == 0 || k >= rings) return b;
      b.bin = k;
      b.v[0] = w;
      b.v[1] = w * g2;
      b.v[2] = w * l2 * (double(otf[i].x) * double(otf[i].x) + double(otf[i].y) * double(otf[i].y));
      b.v[3] = w * f;
      return b;
    });
    const double total_power = bins[static_cast<std::size_t>(rings)][0];
    const double variance = total_power / l;
    sigma = std::max(sigma, 1e-4 * std::sqrt(variance));
    const double s2 = sigma * sigma;
    const double f0 = 1.0 / static_cast<double>(m);
    std::vector<double> xs, ys;
    for (double threshold : {0.5, 0.1, 0.01, 0.0}) {
      xs.clear();
      ys.clear();
      for (Index k = 1; k < rings; ++k) {
        const Sums<4>& r = bins[static_cast<std::size_t>(k)];
        if (r[0] <= 0) continue;
        const double p = r[1] / r[0], h2 = r[2] / r[0], f = r[3] / r[0];
        if (h2 < threshold || h2 <= 0 || p <= 2 * s2) continue;
        xs.push_back(std::log(f * f + f0 * f0));
        ys.push_back(std::log((p - s2) / h2));
      }
      if (xs.size() >= 3) break;
    }
    double alpha = 2.0, log_a = std::log(std::max(variance, 1e-30)) + std::log(f0 * f0);
    if (xs.size() >= 2) {
      const double n = static_cast<double>(xs.size());
      double mx = 0, my = 0;
      for (std::size_t j = 0; j < xs.size(); ++j) {
        mx += xs[j] / n;
        my += ys[j] / n;
      }
      double sxy = 0, sxx = 0;
      for (std::size_t j = 0; j < xs.size(); ++j) {
        sxy += (xs[j] - mx) * (ys[j] - my);
        sxx += (xs[j] - mx) * (xs[j] - mx);
      }
      alpha = sxx > 0 ? -2.0 * sxy / sxx : 2.0;
      alpha = std::min(4.0, std::max(0.5, alpha));
      log_a = my + 0.5 * alpha * mx;
    } else if (xs.size() == 1) {
      log_a = ys[0] + alpha * 0.5 * xs[0];
    }
    info.noise_sigma = sigma;
    info.psd_amplitude = std::exp(log_a);
    info.psd_alpha = alpha;
    info.psd_f0 = f0;
    const double inv_a = s2 / info.psd_amplitude, half_alpha = 0.5 * alpha, f02 = f0 * f0;
    ex.for_each(n_spec, [=] UNBLUR_HD(Index i) {
      // (the CPU engine's order of additions: the same penalty to the last bit)
      nsr[i] = static_cast<T>(inv_a * pow((s.row_freq2(i) + f02) + s.column_freq2(i), half_alpha));
    });
  }

  /// out = the data tapered toward its mean by a raised cosine over min(n / 4, 2 K)
  /// samples at each edge of every axis (the CPU engine's `tapered`).
  void tapered(const T* data, const Shape& psf_shape, T* out) const {
    const Dims g = sp.grid, k = dims_of(psf_shape);
    const Index total = g.size();
    const double mean = ex.template sums<1>(total, [=] UNBLUR_HD(Index i) {
      Sums<1> s;
      s.v[0] = double(data[i]);
      return s;
    })[0] / double(total);
    ex.for_each(total, [=] UNBLUR_HD(Index t) {
      const Index3 p = unravel(t, g);
      const Index at[3] = {p.i0, p.i1, p.i2};
      double w = 1.0;
      for (int a = 0; a < 3; ++a) {
        const Index n = g.n[a], band = gmin(n / 4, 2 * k.n[a]);
        const Index i = at[a] < band ? at[a] : (n - 1 - at[a] < band ? n - 1 - at[a] : -1);
        if (i >= 0) w *= 0.5 - 0.5 * cos(3.14159265358979323846 * (double(i) + 0.5) / double(band));
      }
      out[t] = static_cast<T>(mean + (double(data[t]) - mean) * w);
    });
  }

  /// G <- conj(o) G / (L^2 |o|^2 + c) in place (o = OTF / L).
  void apply_closed_form(const C* otf, const PenaltyGpu<T>& pen, C* g) const {
    const T l2 = static_cast<T>(grid_size * grid_size);
    const T* unit = pen.unit;
    const T scale = pen.scale;
    ex.for_each(n_spec, [=] UNBLUR_HD(Index i) {
      const T ore = otf[i].x, oim = otf[i].y, gre = g[i].x, gim = g[i].y;
      const T d = l2 * (ore * ore + oim * oim) + (unit ? scale * unit[i] : scale);
      const T f = d > T(0) ? T(1) / d : T(0);
      g[i].x = (ore * gre + oim * gim) * f;
      g[i].y = (ore * gim - oim * gre) * f;
    });
  }

  /// q = N(v) = FFT(A^T A v + C v) / L for v = FFT(v) / L on the extended model;
  /// returns sum w Re(conj(v) q). s and work are scratch.
  double apply_normal(const BlurModel<Exec>& model, const PenaltyGpu<T>& pen, const C* v, C* q, C* s,
                      T* work) const {
    const C* o = model.otf();
    ex.for_each(n_spec, [=] UNBLUR_HD(Index i) {
      const T ore = o[i].x, oim = o[i].y, vre = v[i].x, vim = v[i].y;
      s[i].x = ore * vre - oim * vim;
      s[i].y = ore * vim + oim * vre;
    });
    model.fft().inverse(s, work);  // h * v on the grid
    const Dims g = model.grid(), nd = model.observed(), od = model.window();
    ex.for_each(g.size(), [=] UNBLUR_HD(Index t) {  // M^T M: zero outside the observation window
      const Index3 p = unravel(t, g);
      const Index a = p.i0 - od.n[0], b = p.i1 - od.n[1], c = p.i2 - od.n[2];
      if (!(a >= 0 && a < nd.n[0] && b >= 0 && b < nd.n[1] && c >= 0 && c < nd.n[2])) work[t] = T(0);
    });
    model.fft().forward(work, s);
    const T l1 = static_cast<T>(grid_size);
    const T* unit = pen.unit;
    const T scale = pen.scale;
    const SpectrumGrid spg = sp;
    const Index n2 = sp.half.n[2];
    return ex.template sums<1>(n_spec, [=] UNBLUR_HD(Index i) {
      Sums<1> r;
      const T ore = o[i].x, oim = o[i].y, sre = s[i].x, sim = s[i].y;
      const T c_i = unit ? scale * unit[i] : scale;
      const T qre = l1 * (ore * sre + oim * sim) + c_i * v[i].x;
      const T qim = l1 * (ore * sim - oim * sre) + c_i * v[i].y;
      q[i].x = qre;
      q[i].y = qim;
      r.v[0] = spg.weight(i % n2) * (double(v[i].x) * qre + double(v[i].y) * qim);
      return r;
    })[0];
  }

  /// The data step's closed form (M = identity on the grid) in place in g:
  /// G <- (conj(o) G + alpha Z / L) / (L^2 |o|^2 + alpha), o = OTF / L, Z = FFT(z).
  void prox_closed_form(const C* o, const C* z, T alpha, C* g) const {
    const T l2 = static_cast<T>(grid_size * grid_size), inv_l = static_cast<T>(1.0 / grid_size);
    ex.for_each(n_spec, [=] UNBLUR_HD(Index i) {
      const T ore = o[i].x, oim = o[i].y, gre = g[i].x, gim = g[i].y;
      const T f = T(1) / (l2 * (ore * ore + oim * oim) + alpha);
      g[i].x = (ore * gre + oim * gim + alpha * inv_l * z[i].x) * f;
      g[i].y = (ore * gim - oim * gre + alpha * inv_l * z[i].y) * f;
    });
  }

  /// a <- fa * a and b <- fb * b over the half spectrum (the data step's representation).
  void scale_spectra(C* a, T fa, C* b, T fb) const {
    ex.for_each(n_spec, [=] UNBLUR_HD(Index i) {
      a[i].x *= fa;
      a[i].y *= fa;
      b[i].x *= fb;
      b[i].y *= fb;
    });
  }

  /// PCG for (A^T A + C) x = A^T g (+ extra) on the extended model, in Fourier space; x
  /// (FFT(x) / L) holds the initial guess on entry; `extra` (may be null, FFT(v) / L) is
  /// added to the right-hand side. Returns the iteration count.
  int conjugate_gradients(const BlurModel<Exec>& model, const PenaltyGpu<T>& pen, const SolverOptions& options,
                          const IterationCallback& callback, C* x, double& final_residual,
                          const C* extra = nullptr) const {
    const std::size_t ns = static_cast<std::size_t>(n_spec);
    Buffer<C> rs(ex, ns), ps(ex, ns), qs(ex, ns), ss(ex, ns);
    Buffer<T> work_buf(ex, static_cast<std::size_t>(model.grid_size()));
    C* r = rs.data();
    C* p = ps.data();
    C* q = qs.data();
    C* s = ss.data();
    T* work = work_buf.data();
    const C* o = model.otf();
    const T l2 = static_cast<T>(grid_size * grid_size);
    const T* unit = pen.unit;
    const T scale = pen.scale;
    const SpectrumGrid spg = sp;
    const Index n2 = sp.half.n[2];

    // b = conj(o) FFT(embedded g); r = b - N x0; p = P^-1 r.
    model.embed(model.data(), work, T(0));
    model.fft().forward(work, r);
    apply_normal(model, pen, x, q, s, work);
    const Sums<3> init = ex.template sums<3>(n_spec, [=] UNBLUR_HD(Index i) {
      Sums<3> acc;
      const T ore = o[i].x, oim = o[i].y, gre = r[i].x, gim = r[i].y;
      const T bre = ore * gre + oim * gim + (extra ? extra[i].x : T(0));
      const T bim = ore * gim - oim * gre + (extra ? extra[i].y : T(0));
      const T res_re = bre - q[i].x, res_im = bim - q[i].y;
      r[i].x = res_re;
      r[i].y = res_im;
      const T d = l2 * (ore * ore + oim * oim) + (unit ? scale * unit[i] : scale);
      const T dinv = d > T(0) ? T(1) / d : T(1);
      p[i].x = dinv * res_re;
      p[i].y = dinv * res_im;
      const double w = spg.weight(i % n2);
      const double r2 = double(res_re) * res_re + double(res_im) * res_im;
      acc.v[0] = w * (double(bre) * bre + double(bim) * bim);
      acc.v[1] = w * r2;
      acc.v[2] = w * r2 * dinv;
      return acc;
    });
    const double bb = init[0];
    double rz = init[2];
    const double tol = options.tolerance > 0 ? options.tolerance : 1e-5;
    final_residual = bb > 0 ? std::sqrt(init[1] / bb) : 0.0;
    if (!(bb > 0) || final_residual <= tol) return 0;

    int it = 0;
    while (it < options.max_iterations) {
      const double pq = apply_normal(model, pen, p, q, s, work);
      if (!(pq > 0)) break;
      const T alpha = static_cast<T>(rz / pq);
      const Sums<4> st = ex.template sums<4>(n_spec, [=] UNBLUR_HD(Index i) {
        Sums<4> acc;
        const double w = spg.weight(i % n2);
        x[i].x += alpha * p[i].x;
        x[i].y += alpha * p[i].y;
        r[i].x -= alpha * q[i].x;
        r[i].y -= alpha * q[i].y;
        acc.v[2] = w * (double(p[i].x) * p[i].x + double(p[i].y) * p[i].y);
        acc.v[3] = w * (double(x[i].x) * x[i].x + double(x[i].y) * x[i].y);
        const double r2 = double(r[i].x) * r[i].x + double(r[i].y) * r[i].y;
        const T d = l2 * (o[i].x * o[i].x + o[i].y * o[i].y) + (unit ? scale * unit[i] : scale);
        const T dinv = d > T(0) ? T(1) / d : T(1);
        acc.v[0] = w * r2;
        acc.v[1] = w * r2 * dinv;
        return acc;
      });
      ++it;
      final_residual = std::sqrt(st[0] / bb);
      if (callback) {
        IterationState state;
        state.iteration = it;
        state.max_iterations = options.max_iterations;
        state.relative_change = st[3] > 0 ? std::abs(static_cast<double>(alpha)) * std::sqrt(st[2] / st[3]) : 0.0;
        state.objective = final_residual;
        if (!callback(state)) break;
      }
      if (final_residual <= tol) break;
      const T beta = static_cast<T>(st[1] / rz);
      rz = st[1];
      ex.for_each(n_spec, [=] UNBLUR_HD(Index i) {
        const T d = l2 * (o[i].x * o[i].x + o[i].y * o[i].y) + (unit ? scale * unit[i] : scale);
        const T dinv = d > T(0) ? T(1) / d : T(1);
        p[i].x = dinv * r[i].x + beta * p[i].x;
        p[i].y = dinv * r[i].y + beta * p[i].y;
      });
    }
    return it;
  }
};

/// Wiener / Tikhonov of `image` (shape) by a normalised odd-sized psf into out (the
/// image's shape). `sigma` is the noise estimate, needed (>= 0) when choice.needs_sigma().
template <typename Exec>
QuadraticInfo quadratic_solve(const Exec& ex, const typename Exec::Real* image, const Shape& shape,
                              const typename Exec::Real* psf, const Shape& psf_shape, DeconvBoundary boundary,
                              const QuadraticChoice<typename Exec::Real>& choice, double sigma,
                              typename Exec::Real* out, const IterationCallback& callback) {
  using T = typename Exec::Real;
  using C = Cplx<T>;
  const SolverOptions& so = choice.solver();
  UNBLUR_REQUIRE(so.tolerance >= 0 && std::isfinite(so.tolerance), "tolerance must be >= 0, got " << so.tolerance);
  UNBLUR_REQUIRE(so.max_iterations >= 1, "max_iterations must be >= 1, got " << so.max_iterations);
  if (choice.wiener && choice.wiener_options.mode == NsrMode::Scalar)
    UNBLUR_REQUIRE(choice.wiener_options.nsr >= 0 && std::isfinite(choice.wiener_options.nsr),
                   "nsr must be finite and >= 0, got " << choice.wiener_options.nsr);
  if (choice.wiener && choice.wiener_options.mode == NsrMode::Spectrum)
    UNBLUR_REQUIRE(choice.wiener_options.nsr_spectrum != nullptr, "nsr spectrum is missing");
  if (!choice.wiener && choice.tikhonov_options.method == LambdaMethod::Fixed)
    UNBLUR_REQUIRE(choice.tikhonov_options.lam >= 0 && std::isfinite(choice.tikhonov_options.lam),
                   "lam must be finite and >= 0, got " << choice.tikhonov_options.lam);
  if (choice.needs_sigma())
    UNBLUR_REQUIRE(std::isfinite(sigma) && sigma >= 0, "noise sigma must be given (>= 0), got " << sigma);

  QuadraticInfo info;
  info.noise_sigma = choice.needs_sigma() ? sigma : -1.0;
  const BlurModel<Exec> closed(ex, image, shape, psf, psf_shape,
                               boundary == DeconvBoundary::Periodic ? DeconvBoundary::Periodic
                                                                    : DeconvBoundary::Reflect,
                               boundary == DeconvBoundary::Auto);
  for (auto g : closed.grid_shape()) info.grid_shape.push_back(static_cast<int>(g));
  const QuadraticSolver<Exec> solver(ex, closed.grid());
  const std::size_t ns = static_cast<std::size_t>(solver.n_spec);
  typename Exec::template Buffer<C> spectrum(ex, ns);
  closed.fft().forward(closed.data(), spectrum.data());

  // The penalty.
  typename Exec::template Buffer<T> unit_buf(ex, ns);
  PenaltyGpu<T> pen;
  const C* stats = spectrum.data();
  // (Every boundary's automatic parameters see the tapered data, 'periodic' too: the
  // CPU engine's solve says why.)
  typename Exec::template Buffer<C> smooth_spectrum(ex, choice.needs_data() ? ns : 0);
  double noise_scale = 1.0;
  if (choice.needs_data()) {
    typename Exec::template Buffer<T> smooth(ex, static_cast<std::size_t>(closed.grid_size()));
    solver.tapered(closed.data(), psf_shape, smooth.data());
    closed.fft().forward(smooth.data(), smooth_spectrum.data());
    stats = smooth_spectrum.data();
    noise_scale = taper_rms(closed.grid_shape(), psf_shape);
  }
  if (choice.wiener) {
    const WienerOptions<T>& w = choice.wiener_options;
    if (w.mode == NsrMode::Scalar) {
      info.lam = w.nsr;
      pen = {nullptr, static_cast<T>(w.nsr)};
    } else if (w.mode == NsrMode::Spectrum) {
      pen = {w.nsr_spectrum, T(1)};
    } else {
      solver.fit_power_spectrum(closed.otf(), stats, sigma, info, unit_buf.data());
      pen = {unit_buf.data(), T(1)};
    }
  } else {
    const TikhonovOptions& t = choice.tikhonov_options;
    const T* unit = nullptr;
    if (t.regularizer != Regularizer::Identity) {
      solver.regularizer_spectrum(t.regularizer, unit_buf.data());
      unit = unit_buf.data();
    }
    double lam = t.lam;
    if (t.method == LambdaMethod::GCV) lam = solver.choose_lam_gcv(closed.otf(), stats, unit);
    if (t.method == LambdaMethod::Discrepancy)
      lam = solver.choose_lam_discrepancy(closed.otf(), stats, unit, sigma * noise_scale);
    info.lam = lam;
    pen = {unit, static_cast<T>(lam)};
  }

  solver.apply_closed_form(closed.otf(), pen, spectrum.data());
  if (boundary == DeconvBoundary::Periodic) {
    closed.fft().inverse(spectrum.data(), out);
    return info;
  }
  typename Exec::template Buffer<T> grid(ex, static_cast<std::size_t>(closed.grid_size()));
  if (boundary == DeconvBoundary::Reflect) {
    closed.fft().inverse(spectrum.data(), grid.data());
    closed.extract(grid.data(), out);
    return info;
  }
  const BlurModel<Exec> extended(ex, image, shape, psf, psf_shape, DeconvBoundary::Auto);
  UNBLUR_CHECK(extended.grid_shape() == closed.grid_shape(), "the reflect and extended models must share their grid");
  info.iterations = solver.conjugate_gradients(extended, pen, so, callback, spectrum.data(), info.relative_residual);
  extended.fft().inverse(spectrum.data(), grid.data());
  extended.extract(grid.data(), out);
  return info;
}

/// The plug-and-play data step (core/wiener.hpp's data_prox) on the model's grid:
/// argmin_x 1/2 ||M (h * x) - g||^2 + alpha / 2 ||x - z||^2. `z` and `x` hold grid
/// values; 'auto' runs the PCG from the x given, the other boundaries' closed form
/// writes x.
template <typename Exec>
QuadraticInfo data_prox(const Exec& ex, const typename Exec::Real* image, const Shape& shape,
                        const typename Exec::Real* psf, const Shape& psf_shape, DeconvBoundary boundary,
                        double alpha, const typename Exec::Real* z, typename Exec::Real* x,
                        const SolverOptions& so) {
  using T = typename Exec::Real;
  using C = Cplx<T>;
  UNBLUR_REQUIRE(so.tolerance >= 0 && std::isfinite(so.tolerance), "tolerance must be >= 0, got " << so.tolerance);
  UNBLUR_REQUIRE(so.max_iterations >= 1, "max_iterations must be >= 1, got " << so.max_iterations);
  UNBLUR_REQUIRE(alpha > 0 && std::isfinite(alpha), "alpha must be finite and > 0, got " << alpha);
  QuadraticInfo info;
  const BlurModel<Exec> model(ex, image, shape, psf, psf_shape, boundary);
  for (auto g : model.grid_shape()) info.grid_shape.push_back(static_cast<int>(g));
  const QuadraticSolver<Exec> solver(ex, model.grid());
  const std::size_t ns = static_cast<std::size_t>(solver.n_spec);
  typename Exec::template Buffer<C> zs(ex, ns);
  model.fft().forward(z, zs.data());
  const T a = static_cast<T>(alpha);
  if (boundary != DeconvBoundary::Auto) {
    typename Exec::template Buffer<C> gs(ex, ns);
    model.fft().forward(model.data(), gs.data());
    solver.prox_closed_form(model.otf(), zs.data(), a, gs.data());
    model.fft().inverse(gs.data(), x);
    return info;
  }
  typename Exec::template Buffer<C> xs(ex, ns);
  model.fft().forward(x, xs.data());
  const T inv_l = static_cast<T>(1.0 / solver.grid_size);
  solver.scale_spectra(zs.data(), a * inv_l, xs.data(), inv_l);
  const PenaltyGpu<T> pen{nullptr, a};
  info.lam = alpha;
  info.iterations = solver.conjugate_gradients(model, pen, so, IterationCallback{}, xs.data(), info.relative_residual,
                                               zs.data());
  model.fft().inverse(xs.data(), x);
  return info;
}

}  // namespace unblur::gpu
