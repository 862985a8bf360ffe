// Total-variation deconvolution by ADMM, single-source (csrc/gpu/exec.hpp): the CPU
// engine's algorithm (csrc/core/tv_deconvolve.hpp documents the maths) in its general
// form (any dimension, vectorial TV over channels): per iteration and channel two
// forward and two inverse FFTs and one fused spectral pass (the x-step), then one fused
// pass of the u, v, w and dual steps over every pixel (with the stopping sums) and one
// pass adding the divergence term. Only the stopping sums are read back.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/tv_deconvolve.hpp"  // TVOptions, TVInfo
#include "gpu/blur_model.hpp"

namespace unblur::gpu {

template <typename Exec>
struct TvGpu {
  using T = typename Exec::Real;
  using C = Cplx<T>;
  template <typename U>
  using Buffer = typename Exec::template Buffer<U>;

  static void require_options(const TVOptions& o) {
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

  const Exec& ex;
  const BlurModel<Exec>& model;
  Index channels, n, s;
  int axes;
  bool constrained;
  T lower, upper, rho_u, rho_v, rho_w, kappa;
  double weight;
  Buffer<T> x_new, x_old, hx, du, dw, rhs, data, inv_den, dv0, dv1, dv2, b0, b1, b2;
  Buffer<C> spec_a, spec_r;
  double objective = 0;

  TvGpu(const Exec& e, const BlurModel<Exec>& m, Index ch, const TVOptions& o)
      : ex(e),
        model(m),
        channels(ch),
        n(m.grid_size()),
        s(m.fft().spectrum_size()),
        axes(static_cast<int>(m.grid_shape().size())),
        constrained(o.has_bounds || o.positivity),
        lower(o.has_bounds ? static_cast<T>(o.lower) : T(0)),
        upper(o.has_bounds ? static_cast<T>(o.upper) : std::numeric_limits<T>::infinity()),
        rho_u(static_cast<T>(o.rho_data)),
        rho_v(static_cast<T>(o.rho_tv)),
        rho_w(constrained ? static_cast<T>(o.rho_constraint) : T(0)),
        kappa(static_cast<T>(o.weight / o.rho_tv)),
        weight(o.weight),
        x_new(e, total()),
        x_old(e, total()),
        hx(e, total()),
        du(e, total()),
        dw(e, constrained ? total() : 0),
        rhs(e, total()),
        data(e, total()),
        inv_den(e, static_cast<std::size_t>(s)),
        dv0(e, total()),
        dv1(e, axes > 1 ? total() : 0),
        dv2(e, axes > 2 ? total() : 0),
        b0(e, total()),
        b1(e, axes > 1 ? total() : 0),
        b2(e, axes > 2 ? total() : 0),
        spec_a(e, static_cast<std::size_t>(s)),
        spec_r(e, static_cast<std::size_t>(s)) {}

  std::size_t total() const { return static_cast<std::size_t>(channels * n); }

  /// inv[s] = 1 / (|L| (rho_u |H|^2 + rho_v |D|^2 + rho_w)), |D_a|^2 = 4 sin^2(pi m / n_a).
  void make_inverse_denominator() {
    const Dims g = model.grid();
    Dims half = g;
    half.n[2] = g.n[2] / 2 + 1;
    const int first = 3 - axes;
    const double nn = double(n), ru = rho_u, rv = rho_v, rw = rho_w;
    const C* otf = model.otf();
    T* inv = inv_den.data();
    ex.for_each(half.size(), [=] UNBLUR_HD(Index i) {
      const Index3 p = unravel(i, half);
      const Index m[3] = {p.i0, p.i1, p.i2};
      double d2[3] = {0, 0, 0};
      for (int a = first; a < 3; ++a) {
        const double sn = sin(3.14159265358979323846 * double(m[a]) / double(g.n[a]));
        d2[a] = 4 * sn * sn;
      }
      const double h2 = (double(otf[i].x) * double(otf[i].x) + double(otf[i].y) * double(otf[i].y)) * nn * nn;
      const double den = ru * h2 + rv * ((d2[0] + d2[1]) + d2[2]) + rw;
      inv[i] = static_cast<T>(1.0 / (nn * den));
    });
  }

  /// x^ = (rho_u H^* a^ + r^) inv; x = irfft(x^), h * x = irfft(H x^).
  void x_step() {
    const C* h = model.otf();
    const T* inv = inv_den.data();
    const T nt = static_cast<T>(n);
    const T ru_n = rho_u * nt;
    C* sa = spec_a.data();
    C* sr = spec_r.data();
    for (Index c = 0; c < channels; ++c) {
      model.fft().forward(hx.data() + c * n, sa);
      model.fft().forward(rhs.data() + c * n, sr);
      ex.for_each(s, [=] UNBLUR_HD(Index k) {
        const T hr = h[k].x, hi = h[k].y, ar = sa[k].x, ai = sa[k].y;
        const T xr = (ru_n * (hr * ar + hi * ai) + sr[k].x) * inv[k];
        const T xi = (ru_n * (hr * ai - hi * ar) + sr[k].y) * inv[k];
        sr[k].x = xr;
        sr[k].y = xi;
        sa[k].x = nt * (hr * xr - hi * xi);
        sa[k].y = nt * (hr * xi + hi * xr);
      });
      model.fft().inverse(sr, x_new.data() + c * n);
      model.fft().inverse(sa, hx.data() + c * n);
    }
  }

  /// The u, v, w and dual steps at every pixel, then rhs += rho_v D^T b; returns
  /// ||x - x_old|| / ||x_old|| (and sets `objective` when asked).
  double splitting_steps(const T* x, const T* xo, bool want_objective) {
    const Dims g = model.grid(), nd = model.observed(), od = model.window();
    const Index N = n, Cn = channels;
    const int first = 3 - axes, naxes = axes;
    const T ru = rho_u, inv_ru1 = T(1) / (T(1) + rho_u), rw = rho_w, kap = kappa, lo = lower, hi = upper;
    const bool cons = constrained;
    T* hxp = hx.data();
    T* dup = du.data();
    T* dwp = cons ? dw.data() : nullptr;
    T* rp = rhs.data();
    const T* gp = data.data();
    T* dv[3] = {dv0.data(), dv1.data(), dv2.data()};
    T* bb[3] = {b0.data(), b1.data(), b2.data()};
    T* dva = dv[0];
    T* dvb = dv[1];
    T* dvc = dv[2];
    T* ba = bb[0];
    T* bbp = bb[1];
    T* bc = bb[2];
    const Sums<4> sums = ex.template sums<4>(g.size(), [=] UNBLUR_HD(Index idx) {
      Sums<4> acc;
      T* dvk_all[3] = {dva, dvb, dvc};
      T* bk_all[3] = {ba, bbp, bc};
      const Index3 p = unravel(idx, g);
      // The next sample along each axis (periodic on the grid), as an offset.
      Index step[3];
      step[0] = ravel((p.i0 + 1) % g.n[0], p.i1, p.i2, g) - idx;
      step[1] = ravel(p.i0, (p.i1 + 1) % g.n[1], p.i2, g) - idx;
      step[2] = (p.i2 + 1 < g.n[2]) ? 1 : 1 - g.n[2];
      T n2 = 0, g2 = 0;
      for (Index c = 0; c < Cn; ++c) {
        const T* xc = x + c * N;
        for (int k = 0; k < naxes; ++k) {
          const T dx = xc[idx + step[first + k]] - xc[idx];
          const T t = dx + dvk_all[k][c * N + idx];
          n2 += t * t;
          g2 += dx * dx;
        }
      }
      const T mag = gsqrt(n2);
      const T shrink = mag > kap ? T(1) - kap / mag : T(0);
      acc.v[3] = sqrt(double(g2));
      const Index a = p.i0 - od.n[0], b = p.i1 - od.n[1], cc = p.i2 - od.n[2];
      const bool inside = a >= 0 && a < nd.n[0] && b >= 0 && b < nd.n[1] && cc >= 0 && cc < nd.n[2];
      for (Index c = 0; c < Cn; ++c) {
        const Index e = c * N + idx;
        const T xv = x[e];
        for (int k = 0; k < naxes; ++k) {
          T* dvk = dvk_all[k];
          const T t = x[e + step[first + k]] - xv + dvk[e];
          const T v = shrink * t;
          const T dnew = t - v;
          dvk[e] = dnew;
          bk_all[k][e] = v - dnew;
        }
        const T h = hxp[e];
        const T q = h + dup[e];
        const T u = inside ? (gp[e] + ru * q) * inv_ru1 : q;
        if (inside) acc.v[2] += 0.5 * double((h - gp[e]) * (h - gp[e]));
        const T dunew = q - u;
        dup[e] = dunew;
        hxp[e] = u - dunew;
        if (cons) {
          const T t = xv + dwp[e];
          const T w = gmin(gmax(t, lo), hi);
          dwp[e] = t - w;
          rp[e] = rw * (w - dwp[e]);
        } else {
          rp[e] = T(0);
        }
        const T d = xv - xo[e];
        acc.v[0] += double(d * d);
        acc.v[1] += double(xo[e]) * double(xo[e]);
      }
      return acc;
    });
    // rhs += rho_v D^T b, (D_a^T b)_i = b_{i - e_a} - b_i (periodic).
    const T rv = rho_v;
    ex.for_each(Cn * N, [=] UNBLUR_HD(Index e) {
      const T* bk_all[3] = {ba, bbp, bc};
      const Index c = e / N, idx = e % N;
      const Index3 p = unravel(idx, g);
      const Index prev[3] = {ravel((p.i0 + g.n[0] - 1) % g.n[0], p.i1, p.i2, g),
                             ravel(p.i0, (p.i1 + g.n[1] - 1) % g.n[1], p.i2, g),
                             ravel(p.i0, p.i1, (p.i2 + g.n[2] - 1) % g.n[2], g)};
      T acc = rp[e];
      for (int k = 0; k < naxes; ++k) acc += rv * (bk_all[k][c * N + prev[first + k]] - bk_all[k][e]);
      rp[e] = acc;
    });
    if (want_objective) objective = sums[2] + weight * sums[3];
    if (sums[1] > 0) return std::sqrt(sums[0] / sums[1]);
    return sums[0] > 0 ? 1.0 : 0.0;
  }

  /// x0 is in x_old: blur it, zero the duals, take the first u, v, w steps.
  void start() {
    for (Index c = 0; c < channels; ++c) model.apply(x_old.data() + c * n, hx.data() + c * n, false);
    ex.fill(du.data(), channels * n, T(0));
    if (constrained) ex.fill(dw.data(), channels * n, T(0));
    ex.fill(dv0.data(), channels * n, T(0));
    if (axes > 1) ex.fill(dv1.data(), channels * n, T(0));
    if (axes > 2) ex.fill(dv2.data(), channels * n, T(0));
    splitting_steps(x_old.data(), x_old.data(), false);
  }

  double iterate(bool want_objective) {
    x_step();
    const double change = splitting_steps(x_new.data(), x_old.data(), want_objective);
    ex.copy(x_old.data(), x_new.data(), channels * n);  // (the CPU engine swaps buffers)
    return change;
  }
};

/// The CPU engine's tv_deconvolve: image is channels x shape (channel-major), out too.
template <typename Exec>
TVInfo tv_deconvolve(const Exec& ex, const typename Exec::Real* image, const Shape& shape, Index channels,
                     const typename Exec::Real* psf, const Shape& psf_shape, DeconvBoundary boundary,
                     const TVOptions& options, typename Exec::Real* out, const IterationCallback& callback) {
  using T = typename Exec::Real;
  UNBLUR_REQUIRE(channels >= 1, "channels must be >= 1, got " << channels);
  TvGpu<Exec>::require_options(options);
  const Index n_obs = size_of(shape);
  const BlurModel<Exec> model(ex, image, shape, psf, psf_shape, boundary);
  TvGpu<Exec> solver(ex, model, channels, options);
  solver.make_inverse_denominator();
  const Index n = model.grid_size();
  const bool constrained = options.has_bounds || options.positivity;
  const T lo = options.has_bounds ? static_cast<T>(options.lower) : T(0);
  const T hi = options.has_bounds ? static_cast<T>(options.upper) : std::numeric_limits<T>::infinity();
  for (Index c = 0; c < channels; ++c) {
    // This channel's data (reflect-padded for 'reflect'), embedded in the window.
    typename Exec::template Buffer<T> padded(ex, boundary == DeconvBoundary::Reflect ? static_cast<std::size_t>(n) : 0);
    const T* d = image + c * n_obs;
    if (boundary == DeconvBoundary::Reflect) {
      reflect_pad(ex, d, model.image(), padded.data(), model.grid(), model.result_offset());
      d = padded.data();
    }
    const Index n_data = model.observed_size();
    const double mean = ex.template sums<1>(n_data, [=] UNBLUR_HD(Index i) {
      Sums<1> r;
      r.v[0] = double(d[i]);
      return r;
    })[0] / double(n_data);
    model.embed(d, solver.data.data() + c * n, T(0));
    T* x0 = solver.x_old.data() + c * n;
    model.embed(d, x0, static_cast<T>(mean));
    if (constrained) ex.for_each(n, [=] UNBLUR_HD(Index i) { x0[i] = gmin(gmax(x0[i], lo), hi); });
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
      state.objective = solver.objective;
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
  for (Index c = 0; c < channels; ++c) {
    T* o = out + c * n_obs;
    model.extract(solver.x_old.data() + c * n, o);
    if (constrained) ex.for_each(n_obs, [=] UNBLUR_HD(Index i) { o[i] = gmin(gmax(o[i], lo), hi); });
  }
  return info;
}

}  // namespace unblur::gpu
