#include "core/wiener.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace unblur {
namespace {

constexpr double kTwoPi = 6.283185307179586476925;

// The half spectrum of a real transform on a grid, seen as rows (a, b) of n2 columns,
// with per-axis tables so that no loop divides indices.
struct Spectrum {
  std::array<std::ptrdiff_t, 3> grid{};  // real grid, padded to 3-D with leading 1s
  std::ptrdiff_t rows = 0, d1 = 0, n2 = 0, size = 0;
  double grid_size = 0;
  std::array<std::vector<double>, 3> cosine;  // 2 - 2 cos(2 pi k / n): |forward difference|^2
  std::array<std::vector<double>, 3> freq2;   // (k / n)^2 with k wrapped to [-n/2, n/2)
  std::vector<double> weight;                 // Hermitian weight of a column: 1 or 2

  explicit Spectrum(const Shape& shape) {
    grid = pad_to_3d(shape);
    n2 = grid[2] / 2 + 1;
    d1 = grid[1];
    rows = grid[0] * grid[1];
    size = rows * n2;
    grid_size = static_cast<double>(grid[0] * grid[1] * grid[2]);
    for (int axis = 0; axis < 3; ++axis) {
      const std::ptrdiff_t n = grid[static_cast<std::size_t>(axis)];
      const std::ptrdiff_t len = axis == 2 ? n2 : n;
      auto& cs = cosine[static_cast<std::size_t>(axis)];
      auto& f2 = freq2[static_cast<std::size_t>(axis)];
      cs.resize(static_cast<std::size_t>(len));
      f2.resize(static_cast<std::size_t>(len));
      for (std::ptrdiff_t k = 0; k < len; ++k) {
        const double kk = static_cast<double>(2 * k < n ? k : k - n);
        cs[static_cast<std::size_t>(k)] = 2.0 - 2.0 * std::cos(kTwoPi * static_cast<double>(k) / static_cast<double>(n));
        f2[static_cast<std::size_t>(k)] = (kk / static_cast<double>(n)) * (kk / static_cast<double>(n));
      }
    }
    weight.assign(static_cast<std::size_t>(n2), 2.0);
    weight[0] = 1.0;
    if (grid[2] % 2 == 0) weight[static_cast<std::size_t>(n2 - 1)] = 1.0;
  }
  double w(std::ptrdiff_t c) const { return weight[static_cast<std::size_t>(c)]; }
  double row_cosine(std::ptrdiff_t r) const {
    return cosine[0][static_cast<std::size_t>(r / d1)] + cosine[1][static_cast<std::size_t>(r % d1)];
  }
  double row_freq2(std::ptrdiff_t r) const {
    return freq2[0][static_cast<std::size_t>(r / d1)] + freq2[1][static_cast<std::size_t>(r % d1)];
  }
};

// The penalty spectrum c(f) = scale * unit(f) (unit == nullptr: 1 everywhere).
template <typename T>
struct Penalty {
  const T* unit = nullptr;
  T scale = 0;
  T at(std::ptrdiff_t i) const { return unit ? scale * unit[i] : scale; }
};

// |R(f)|^2 of a regulariser on the half spectrum (Identity: empty buffer, meaning 1).
template <typename T>
AlignedBuffer<T> regularizer_spectrum(const Spectrum& sp, Regularizer reg, int threads) {
  if (reg == Regularizer::Identity) return {};
  AlignedBuffer<T> out(static_cast<std::size_t>(sp.size));
  T* o = out.data();
  const double* last = sp.cosine[2].data();
  const bool laplacian = reg == Regularizer::Laplacian;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t r = 0; r < sp.rows; ++r) {
    const double base = sp.row_cosine(r);
    T* row = o + r * sp.n2;
    for (std::ptrdiff_t c = 0; c < sp.n2; ++c) {
      const double s = base + last[c];
      row[c] = static_cast<T>(laplacian ? s * s : s);
    }
  }
  return out;
}

// G <- factor * conj(o) G / (L^2 |o|^2 + c), in place (o = OTF / L, so an unnormalised
// inverse transform of the result with factor 1 is the restored grid).
template <typename T>
void apply_closed_form(const BlurOperator<T>& op, const Penalty<T>& pen, std::complex<T>* spectrum, int threads) {
  const std::ptrdiff_t n = op.spectrum_size();
  const T* o = reinterpret_cast<const T*>(op.otf());
  T* g = reinterpret_cast<T*>(spectrum);
  const T l2 = static_cast<T>(static_cast<double>(op.grid_size()) * static_cast<double>(op.grid_size()));
  const T* unit = pen.unit;
  const T scale = pen.scale;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T ore = o[2 * i], oim = o[2 * i + 1], gre = g[2 * i], gim = g[2 * i + 1];
    const T d = l2 * (ore * ore + oim * oim) + (unit ? scale * unit[i] : scale);
    const T f = d > T(0) ? T(1) / d : T(0);
    g[2 * i] = (ore * gre + oim * gim) * f;
    g[2 * i + 1] = (ore * gim - oim * gre) * f;
  }
}

// Spectral quantities for choosing a parameter: per frequency |H|^2 and |G|^2.
template <typename T>
struct SpectralStats {
  const Spectrum* sp;
  const std::complex<T>* otf;  // OTF / L
  const std::complex<T>* data;  // FFT of the data on the grid
  const T* unit;                // |R|^2 (nullptr: 1)

  // Returns {sum w (1 - phi)^2 |G|^2, sum w (1 - phi)} for penalty lam * unit.
  std::array<double, 2> residual_and_trace(double lam, int threads) const {
    const double l2 = sp->grid_size * sp->grid_size;
    const std::ptrdiff_t rows = sp->rows, n2 = sp->n2;
    return ordered_row_sums<2>(rows, threads, [&](std::ptrdiff_t r, std::array<double, 2>& acc) {
      double rn = 0, rd = 0;
      for (std::ptrdiff_t c = 0; c < n2; ++c) {
        const std::ptrdiff_t i = r * n2 + c;
        const double ore = otf[i].real(), oim = otf[i].imag();
        const double h2 = l2 * (ore * ore + oim * oim);
        const double p = lam * (unit ? static_cast<double>(unit[i]) : 1.0);
        const double d = h2 + p;
        const double om = d > 0 ? p / d : 1.0;
        const double gre = data[i].real(), gim = data[i].imag();
        const double w = sp->w(c);
        rn += w * om * om * (gre * gre + gim * gim);
        rd += w * om;
      }
      acc[0] += rn;
      acc[1] += rd;
    });
  }

  double gcv(double lam, int threads) const {
    const auto v = residual_and_trace(lam, threads);
    if (!(v[1] > 0)) return std::numeric_limits<double>::infinity();
    return sp->grid_size * v[0] / (v[1] * v[1]);
  }
};

// lam minimising GCV over log10 lam in [-12, 4]: a grid every half decade, then a
// golden-section search in the bracket around the best grid point.
template <typename T>
double choose_lam_gcv(const SpectralStats<T>& st, int threads) {
  const double lo = -12.0, hi = 4.0, step = 0.5;
  double best = lo, best_v = std::numeric_limits<double>::infinity();
  for (double e = lo; e <= hi + 1e-9; e += step) {
    const double v = st.gcv(std::pow(10.0, e), threads);
    if (v < best_v) {
      best_v = v;
      best = e;
    }
  }
  double a = std::max(lo, best - step), b = std::min(hi, best + step);
  const double ratio = 0.6180339887498949;
  double x1 = b - ratio * (b - a), x2 = a + ratio * (b - a);
  double f1 = st.gcv(std::pow(10.0, x1), threads), f2 = st.gcv(std::pow(10.0, x2), threads);
  while (b - a > 1e-4) {
    if (f1 <= f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - ratio * (b - a);
      f1 = st.gcv(std::pow(10.0, x1), threads);
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + ratio * (b - a);
      f2 = st.gcv(std::pow(10.0, x2), threads);
    }
  }
  const double e = 0.5 * (a + b);
  return st.gcv(std::pow(10.0, e), threads) <= best_v ? std::pow(10.0, e) : std::pow(10.0, best);
}

// lam with ||residual||^2 = L sigma^2 (the residual grows with lam): bisection in log10 lam.
template <typename T>
double choose_lam_discrepancy(const SpectralStats<T>& st, double sigma, int threads) {
  const double l = st.sp->grid_size;
  const double target = l * l * sigma * sigma;  // in the units of sum w |(1 - phi) G|^2
  double a = -14.0, b = 6.0;
  if (st.residual_and_trace(std::pow(10.0, a), threads)[0] >= target) return std::pow(10.0, a);
  if (st.residual_and_trace(std::pow(10.0, b), threads)[0] <= target) return std::pow(10.0, b);
  for (int it = 0; it < 60 && b - a > 1e-6; ++it) {
    const double m = 0.5 * (a + b);
    if (st.residual_and_trace(std::pow(10.0, m), threads)[0] < target)
      a = m;
    else
      b = m;
  }
  return std::pow(10.0, 0.5 * (a + b));
}

// Fits S(f) = A / (|f|^2 + f0^2)^(alpha/2) to the power spectrum of the data where the
// blur passes most power, and writes NSR(f) = sigma^2 / S(f) into nsr.
template <typename T>
void fit_power_spectrum(const Spectrum& sp, const std::complex<T>* otf, const std::complex<T>* data,
                        double sigma, QuadraticInfo& info, T* nsr, int threads) {
  const double l = sp.grid_size, l2 = l * l;
  const std::ptrdiff_t m = std::max({sp.grid[0], sp.grid[1], sp.grid[2]});
  const std::size_t rings = static_cast<std::size_t>(m / 2 + 1);
  // Per ring (|f| rounded to a multiple of 1 / m, |f| <= 1/2): weights, sum of |G|^2 / L,
  // of |H|^2 and of |f|.
  std::vector<double> cnt(rings, 0), pow_sum(rings, 0), h2_sum(rings, 0), f_sum(rings, 0);
  double total_power = 0;
  for (std::ptrdiff_t r = 0; r < sp.rows; ++r) {
    const double fr = sp.row_freq2(r);
    for (std::ptrdiff_t c = 0; c < sp.n2; ++c) {
      const std::ptrdiff_t i = r * sp.n2 + c;
      const double f = std::sqrt(fr + sp.freq2[2][static_cast<std::size_t>(c)]);
      const double g2 = std::norm(std::complex<double>(data[i])) / l;
      if (i != 0) total_power += sp.w(c) * g2;
      const auto k = static_cast<std::size_t>(std::lround(f * static_cast<double>(m)));
      if (i == 0 || k == 0 || k >= rings) continue;
      const double w = sp.w(c);
      cnt[k] += w;
      pow_sum[k] += w * g2;
      h2_sum[k] += w * l2 * std::norm(std::complex<double>(otf[i]));
      f_sum[k] += w * f;
    }
  }
  // Noise floor: a clean image still gets a finite NSR.
  const double variance = total_power / l;
  sigma = std::max(sigma, 1e-4 * std::sqrt(variance));
  const double s2 = sigma * sigma;
  const double f0 = 1.0 / static_cast<double>(m);
  std::vector<double> xs, ys;
  for (double threshold : {0.5, 0.1, 0.01, 0.0}) {
    xs.clear();
    ys.clear();
    for (std::size_t k = 1; k < rings; ++k) {
      if (cnt[k] <= 0) continue;
      const double p = pow_sum[k] / cnt[k], h2 = h2_sum[k] / cnt[k], f = f_sum[k] / cnt[k];
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
  const double inv_a = s2 / info.psd_amplitude, half_alpha = 0.5 * alpha;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t r = 0; r < sp.rows; ++r) {
    const double fr = sp.row_freq2(r) + f0 * f0;
    for (std::ptrdiff_t c = 0; c < sp.n2; ++c)
      nsr[r * sp.n2 + c] = static_cast<T>(inv_a * std::pow(fr + sp.freq2[2][static_cast<std::size_t>(c)], half_alpha));
  }
}

// Preconditioned conjugate gradients for (A^T A + C) x = A^T g on the extended model,
// in Fourier space (all operators but the window mask are diagonal there). x is
// represented by X = FFT(x) / L, so the unnormalised inverse transform of X is x.
// On entry X holds the initial guess; returns the iteration count. `extra` (may be
// null) is added to the right-hand side, in the same representation (FFT(v) / L): the
// data step of plug-and-play solves (A^T A + alpha I) x = A^T g + alpha z.
template <typename T>
int conjugate_gradients(BlurOperator<T>& op, const Spectrum& sp, const T* data, const Penalty<T>& pen,
                        const SolverOptions& options, const IterationCallback& callback,
                        std::complex<T>* xs, double& final_residual, int threads,
                        const std::complex<T>* extra = nullptr) {
  using C = std::complex<T>;
  const std::ptrdiff_t n = op.spectrum_size(), rows = sp.rows, n2 = sp.n2;
  const RealFFT<T>& fft = op.fft();
  const C* otf = op.otf();
  const T l2 = static_cast<T>(sp.grid_size * sp.grid_size), l1 = static_cast<T>(sp.grid_size);
  AlignedBuffer<C> rs(static_cast<std::size_t>(n)), ps(static_cast<std::size_t>(n)), qs(static_cast<std::size_t>(n)),
      ss(static_cast<std::size_t>(n));
  AlignedBuffer<T> work(static_cast<std::size_t>(op.grid_size())), obs(static_cast<std::size_t>(op.observed_size()));
  T* x = reinterpret_cast<T*>(xs);
  T* rr_ = reinterpret_cast<T*>(rs.data());
  T* p = reinterpret_cast<T*>(ps.data());
  T* q = reinterpret_cast<T*>(qs.data());
  T* s = reinterpret_cast<T*>(ss.data());
  const T* o = reinterpret_cast<const T*>(otf);
  const T* e = reinterpret_cast<const T*>(extra);
  const T* unit = pen.unit;
  const T scale = pen.scale;

  // q = N(v) = FFT(A^T A v + C v) / L for v given as FFT(v) / L; returns sum w Re(conj(v) q).
  // The inverse transform of o v is (h * v) / L, hence the factor L on the data term.
  auto apply_normal = [&](const T* v, T* out) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      const T ore = o[2 * i], oim = o[2 * i + 1], vre = v[2 * i], vim = v[2 * i + 1];
      s[2 * i] = ore * vre - oim * vim;
      s[2 * i + 1] = ore * vim + oim * vre;
    }
    fft.inverse(ss.data(), work.data());  // h * v on the grid
    op.crop(work.data(), obs.data());     // the observation window M
    op.embed(obs.data(), work.data(), T(0));
    fft.forward(work.data(), ss.data());
    return ordered_row_sums<1>(rows, threads, [&](std::ptrdiff_t r, std::array<double, 1>& total) {
      double acc = 0;
      for (std::ptrdiff_t c = 0; c < n2; ++c) {
        const std::ptrdiff_t i = r * n2 + c;
        const T ore = o[2 * i], oim = o[2 * i + 1], sre = s[2 * i], sim = s[2 * i + 1];
        const T c_i = unit ? scale * unit[i] : scale;
        const T qre = l1 * (ore * sre + oim * sim) + c_i * v[2 * i];
        const T qim = l1 * (ore * sim - oim * sre) + c_i * v[2 * i + 1];
        out[2 * i] = qre;
        out[2 * i + 1] = qim;
        acc += sp.w(c) * (static_cast<double>(v[2 * i]) * qre + static_cast<double>(v[2 * i + 1]) * qim);
      }
      total[0] += acc;
    })[0];
  };
  auto inv_precond = [&](std::ptrdiff_t i) {
    const T d = l2 * (o[2 * i] * o[2 * i] + o[2 * i + 1] * o[2 * i + 1]) + (unit ? scale * unit[i] : scale);
    return d > T(0) ? T(1) / d : T(1);
  };

  // b = FFT(A^T g) / L = conj(o) FFT(embedded g); r = b - N x0; p = P^-1 r.
  op.embed(data, work.data(), T(0));
  fft.forward(work.data(), rs.data());
  apply_normal(x, q);
  const auto start = ordered_row_sums<3>(rows, threads, [&](std::ptrdiff_t r, std::array<double, 3>& acc) {
    double b_acc = 0, r_acc = 0, z_acc = 0;
    for (std::ptrdiff_t c = 0; c < n2; ++c) {
      const std::ptrdiff_t i = r * n2 + c;
      const T ore = o[2 * i], oim = o[2 * i + 1], gre = rr_[2 * i], gim = rr_[2 * i + 1];
      const T bre = ore * gre + oim * gim + (e ? e[2 * i] : T(0));
      const T bim = ore * gim - oim * gre + (e ? e[2 * i + 1] : T(0));
      const T res_re = bre - q[2 * i], res_im = bim - q[2 * i + 1];
      rr_[2 * i] = res_re;
      rr_[2 * i + 1] = res_im;
      const T dinv = inv_precond(i);
      p[2 * i] = dinv * res_re;
      p[2 * i + 1] = dinv * res_im;
      const double w = sp.w(c);
      const double r2 = static_cast<double>(res_re) * res_re + static_cast<double>(res_im) * res_im;
      b_acc += w * (static_cast<double>(bre) * bre + static_cast<double>(bim) * bim);
      r_acc += w * r2;
      z_acc += w * r2 * dinv;
    }
    acc[0] += b_acc;
    acc[1] += r_acc;
    acc[2] += z_acc;
  });
  const double bb = start[0], rr = start[1];
  double rz = start[2];
  // 1e-5: the boundary components of the solution carry little residual energy, so a
  // looser stop (1e-3 was tried) leaves the reflect start's edge artefacts in (motion blur
  // lost 9 dB); float32 FFTs still reach it (the CG sums run in double).
  const double tol = options.tolerance > 0 ? options.tolerance : 1e-5;
  final_residual = bb > 0 ? std::sqrt(rr / bb) : 0.0;
  if (!(bb > 0) || final_residual <= tol) return 0;

  int it = 0;
  while (it < options.max_iterations) {
    const double pq = apply_normal(p, q);
    if (!(pq > 0)) break;  // p = 0 or a breakdown in rounding: x cannot improve further
    const T alpha = static_cast<T>(rz / pq);
    const auto sums = ordered_row_sums<4>(rows, threads, [&](std::ptrdiff_t r, std::array<double, 4>& acc) {
      double a_rr = 0, a_rz = 0, a_pp = 0, a_xx = 0;
      for (std::ptrdiff_t c = 0; c < n2; ++c) {
        const std::ptrdiff_t i = r * n2 + c;
        const double w = sp.w(c);
        for (std::ptrdiff_t k = 2 * i; k < 2 * i + 2; ++k) {
          x[k] += alpha * p[k];
          rr_[k] -= alpha * q[k];
          a_pp += w * static_cast<double>(p[k]) * p[k];
          a_xx += w * static_cast<double>(x[k]) * x[k];
        }
        const double r2 = static_cast<double>(rr_[2 * i]) * rr_[2 * i] + static_cast<double>(rr_[2 * i + 1]) * rr_[2 * i + 1];
        a_rr += w * r2;
        a_rz += w * r2 * inv_precond(i);
      }
      acc[0] += a_rr;
      acc[1] += a_rz;
      acc[2] += a_pp;
      acc[3] += a_xx;
    });
    const double rr_new = sums[0], rz_new = sums[1], pp = sums[2], xx = sums[3];
    ++it;
    final_residual = std::sqrt(rr_new / bb);
    if (callback) {
      IterationState state;
      state.iteration = it;
      state.max_iterations = options.max_iterations;
      state.relative_change = xx > 0 ? std::abs(static_cast<double>(alpha)) * std::sqrt(pp / xx) : 0.0;
      state.objective = final_residual;
      if (!callback(state)) break;
    }
    if (final_residual <= tol) break;
    const T beta = static_cast<T>(rz_new / rz);
    rz = rz_new;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      const T dinv = inv_precond(i);
      p[2 * i] = dinv * rr_[2 * i] + beta * p[2 * i];
      p[2 * i + 1] = dinv * rr_[2 * i + 1] + beta * p[2 * i + 1];
    }
  }
  return it;
}

// The reflect-extended data on the grid, tapered toward its mean by a raised cosine over
// min(n / 4, 2 K) samples at each edge of every axis, so that the periodic model used to
// choose the parameters is not dominated by the edges' kinks (which GCV would "explain"
// with a vanishing lam).
template <typename T>
AlignedBuffer<T> tapered(const T* data, const Shape& grid, const Shape& psf_shape, int threads) {
  const auto g = pad_to_3d(grid);
  const auto k = pad_to_3d(psf_shape);
  std::array<std::vector<double>, 3> win;
  for (std::size_t axis = 0; axis < 3; ++axis) {
    const std::ptrdiff_t n = g[axis], band = std::min(n / 4, 2 * k[axis]);
    win[axis].assign(static_cast<std::size_t>(n), 1.0);
    for (std::ptrdiff_t i = 0; i < band; ++i) {
      const double v = 0.5 - 0.5 * std::cos(3.14159265358979323846 * (static_cast<double>(i) + 0.5) / static_cast<double>(band));
      win[axis][static_cast<std::size_t>(i)] = v;
      win[axis][static_cast<std::size_t>(n - 1 - i)] = v;
    }
  }
  const std::ptrdiff_t total = g[0] * g[1] * g[2], rows = g[0] * g[1];
  const double mean =
      ordered_sums<1>(total, threads, [&](std::ptrdiff_t i, std::array<double, 1>& acc) {
        acc[0] += static_cast<double>(data[i]);
      })[0] / static_cast<double>(total);
  AlignedBuffer<T> out(static_cast<std::size_t>(total));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const double wr = win[0][static_cast<std::size_t>(r / g[1])] * win[1][static_cast<std::size_t>(r % g[1])];
    for (std::ptrdiff_t c = 0; c < g[2]; ++c) {
      const std::ptrdiff_t i = r * g[2] + c;
      out[static_cast<std::size_t>(i)] =
          static_cast<T>(mean + (static_cast<double>(data[i]) - mean) * wr * win[2][static_cast<std::size_t>(c)]);
    }
  }
  return out;
}

// How the penalty is chosen once the data's spectrum on the grid is known.
template <typename T>
struct PenaltyChoice {
  virtual ~PenaltyChoice() = default;
  // Sets pen (and info) from the parameter-estimation spectrum `data` on op's grid.
  virtual Penalty<T> choose(const std::complex<T>* otf, const Spectrum& sp, const std::complex<T>* data,
                            double sigma, QuadraticInfo& info, int threads) = 0;
  virtual bool needs_sigma() const = 0;
  virtual double given_sigma() const = 0;  // the caller's noise sigma (< 0: estimate it)
  virtual bool needs_data() const = 0;  // automatic parameters: choose() reads `data`
  // The noise sigma of the data choose() reads, as a fraction of the image's (taper_rms
  // where that data is tapered); the discrepancy principle's target uses it.
  double noise_scale = 1.0;
};

// The periodic closed form with fixed parameters, with as few full-size buffers as
// possible (first touches of fresh pages cost as much as an FFT at 2048^2): the PSF is
// padded into `out`, transformed, and `out` finally receives the result.
template <typename T>
void periodic_fixed(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                    PenaltyChoice<T>& choice, T* out, QuadraticInfo& info, int threads) {
  require_shape(shape, "image");
  require_shape(psf_shape, "psf");
  UNBLUR_REQUIRE(psf_shape.size() == shape.size(), "psf has " << psf_shape.size()
                                                              << " dimensions but the image has " << shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    UNBLUR_REQUIRE(psf_shape[i] % 2 == 1, "psf must have odd sizes, got " << psf_shape[i]);
    UNBLUR_REQUIRE(psf_shape[i] <= shape[i], "psf is larger than the image along axis " << i);
  }
  using C = std::complex<T>;
  auto fft = RealFFT<T>::get(shape, threads);
  const std::ptrdiff_t n = fft->spectrum_size(), total = fft->real_size();
  const auto g = pad_to_3d(shape), k = pad_to_3d(psf_shape);
  // Zeroed in parallel: these are the pages' first touches, as costly as the writes.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t i = 0; i < total; ++i) out[i] = T(0);
  for (std::ptrdiff_t a = 0; a < k[0]; ++a)
    for (std::ptrdiff_t b = 0; b < k[1]; ++b)
      for (std::ptrdiff_t c = 0; c < k[2]; ++c) {
        const std::ptrdiff_t da = (a - k[0] / 2 + g[0]) % g[0], db = (b - k[1] / 2 + g[1]) % g[1],
                             dc = (c - k[2] / 2 + g[2]) % g[2];
        out[(da * g[1] + db) * g[2] + dc] += psf[(a * k[1] + b) * k[2] + c];
      }
  AlignedBuffer<C> h(static_cast<std::size_t>(n)), spectrum(static_cast<std::size_t>(n));
  fft->forward(out, h.data());
  fft->forward(image, spectrum.data());
  const Spectrum sp(shape);
  const Penalty<T> pen = choice.choose(nullptr, sp, nullptr, -1.0, info, threads);
  for (auto e : shape) info.grid_shape.push_back(static_cast<int>(e));
  const T* o = reinterpret_cast<const T*>(h.data());
  T* s = reinterpret_cast<T*>(spectrum.data());
  const T inv_l = T(1) / static_cast<T>(total);
  const T* unit = pen.unit;
  const T scale = pen.scale;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T ore = o[2 * i], oim = o[2 * i + 1], gre = s[2 * i], gim = s[2 * i + 1];
    const T d = ore * ore + oim * oim + (unit ? scale * unit[i] : scale);
    const T f = d > T(0) ? inv_l / d : T(0);
    s[2 * i] = (ore * gre + oim * gim) * f;
    s[2 * i + 1] = (ore * gim - oim * gre) * f;
  }
  fft->inverse(spectrum.data(), out);
}

template <typename T>
QuadraticInfo solve(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                    DeconvBoundary boundary, PenaltyChoice<T>& choice, const SolverOptions& solver, T* out,
                    const IterationCallback& callback, int threads) {
  threads = resolve_threads(threads);
  QuadraticInfo info;
  if (boundary == DeconvBoundary::Periodic && !choice.needs_data()) {
    periodic_fixed(image, shape, psf, psf_shape, choice, out, info, threads);
    return info;
  }
  const double sigma = !choice.needs_sigma()       ? -1.0
                       : choice.given_sigma() >= 0 ? choice.given_sigma()
                                                   : estimate_noise<T>(image, shape, threads);
  info.noise_sigma = sigma;
  // The closed form runs on the periodic or reflect model; 'auto' takes its parameters
  // and starting point from the reflect padding on the extended model's grid.
  DeconvModel<T> closed = make_deconv_model<T>(image, shape, psf, psf_shape,
                                               boundary == DeconvBoundary::Periodic ? DeconvBoundary::Periodic
                                                                                    : DeconvBoundary::Reflect,
                                               threads, boundary == DeconvBoundary::Auto);
  BlurOperator<T>& op = closed.op;
  for (auto g : op.grid_shape()) info.grid_shape.push_back(static_cast<int>(g));
  const Spectrum sp(op.grid_shape());
  AlignedBuffer<std::complex<T>> spectrum(static_cast<std::size_t>(op.spectrum_size()));
  op.fft().forward(closed.data.data(), spectrum.data());
  Penalty<T> pen;
  if (choice.needs_data()) {
    // Every boundary's automatic parameters see the data tapered at the grid's edges:
    // on 'periodic' too, where an image that is not periodic has a jump at the wrap
    // that GCV and the discrepancy principle otherwise take for signal (they chose
    // lam ~ 1e-11 on a photograph: -51 dB; bench/RESULTS.md, "Boundary models").
    AlignedBuffer<T> smooth = tapered(closed.data.data(), op.grid_shape(), psf_shape, threads);
    AlignedBuffer<std::complex<T>> smooth_spectrum(static_cast<std::size_t>(op.spectrum_size()));
    op.fft().forward(smooth.data(), smooth_spectrum.data());
    choice.noise_scale = taper_rms(op.grid_shape(), psf_shape);
    pen = choice.choose(op.otf(), sp, smooth_spectrum.data(), sigma, info, threads);
  } else {
    pen = choice.choose(op.otf(), sp, spectrum.data(), sigma, info, threads);
  }
  apply_closed_form(op, pen, spectrum.data(), threads);
  if (boundary == DeconvBoundary::Periodic) {
    op.fft().inverse(spectrum.data(), out);
    return info;
  }
  AlignedBuffer<T> grid(static_cast<std::size_t>(op.grid_size()));
  if (boundary == DeconvBoundary::Reflect) {
    op.fft().inverse(spectrum.data(), grid.data());
    closed.extract(grid.data(), out);
    return info;
  }
  DeconvModel<T> extended = make_deconv_model<T>(image, shape, psf, psf_shape, DeconvBoundary::Auto, threads);
  UNBLUR_CHECK(extended.op.grid_shape() == op.grid_shape() && extended.op.offset() == closed.result_offset,
               "the reflect and extended models must share their grid");
  info.iterations = conjugate_gradients(extended.op, sp, extended.data.data(), pen, solver, callback,
                                        spectrum.data(), info.relative_residual, threads);
  extended.op.fft().inverse(spectrum.data(), grid.data());
  extended.extract(grid.data(), out);
  return info;
}

template <typename T>
struct WienerChoice : PenaltyChoice<T> {
  const WienerOptions<T>& options;
  AlignedBuffer<T> nsr;
  explicit WienerChoice(const WienerOptions<T>& o) : options(o) {}
  bool needs_sigma() const override { return options.mode == NsrMode::Auto; }
  double given_sigma() const override { return options.noise_sigma; }
  bool needs_data() const override { return options.mode == NsrMode::Auto; }
  Penalty<T> choose(const std::complex<T>* otf, const Spectrum& sp, const std::complex<T>* data, double sigma,
                    QuadraticInfo& info, int threads) override {
    switch (options.mode) {
      case NsrMode::Scalar:
        info.lam = options.nsr;
        return {nullptr, static_cast<T>(options.nsr)};
      case NsrMode::Spectrum:
        return {options.nsr_spectrum, T(1)};
      case NsrMode::Auto:
        break;
    }
    nsr = AlignedBuffer<T>(static_cast<std::size_t>(sp.size));
    fit_power_spectrum(sp, otf, data, sigma, info, nsr.data(), threads);
    return {nsr.data(), T(1)};
  }
};

template <typename T>
struct TikhonovChoice : PenaltyChoice<T> {
  const TikhonovOptions& options;
  AlignedBuffer<T> r2;
  explicit TikhonovChoice(const TikhonovOptions& o) : options(o) {}
  bool needs_sigma() const override { return options.method == LambdaMethod::Discrepancy; }
  double given_sigma() const override { return options.noise_sigma; }
  bool needs_data() const override { return options.method != LambdaMethod::Fixed; }
  Penalty<T> choose(const std::complex<T>* otf, const Spectrum& sp, const std::complex<T>* data, double sigma,
                    QuadraticInfo& info, int threads) override {
    r2 = regularizer_spectrum<T>(sp, options.regularizer, threads);
    const T* unit = options.regularizer == Regularizer::Identity ? nullptr : r2.data();
    double lam = options.lam;
    const SpectralStats<T> st{&sp, otf, data, unit};
    if (options.method == LambdaMethod::GCV) lam = choose_lam_gcv(st, threads);
    if (options.method == LambdaMethod::Discrepancy)
      lam = choose_lam_discrepancy(st, sigma * this->noise_scale, threads);  // the tapered data's noise
    info.lam = lam;
    return {unit, static_cast<T>(lam)};
  }
};

void require_solver(const SolverOptions& s) {
  UNBLUR_REQUIRE(s.tolerance >= 0 && std::isfinite(s.tolerance), "tolerance must be >= 0, got " << s.tolerance);
  UNBLUR_REQUIRE(s.max_iterations >= 1, "max_iterations must be >= 1, got " << s.max_iterations);
}

}  // namespace

Shape quadratic_grid_shape(const Shape& shape, const Shape& psf_shape, DeconvBoundary boundary) {
  require_shape(shape, "image");
  require_shape(psf_shape, "psf");
  UNBLUR_REQUIRE(shape.size() == psf_shape.size(), "psf and image must have the same number of dimensions");
  if (boundary == DeconvBoundary::Periodic) return shape;
  if (boundary == DeconvBoundary::Reflect) return reflect_grid_shape(shape, psf_shape);
  Shape need(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) need[i] = shape[i] + psf_shape[i] - 1;
  return fast_fft_shape(need);
}

template <typename T>
QuadraticInfo data_prox(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                        DeconvBoundary boundary, double alpha, const T* z, T* x, const SolverOptions& solver,
                        int threads) {
  require_solver(solver);
  UNBLUR_REQUIRE(alpha > 0 && std::isfinite(alpha), "alpha must be finite and > 0, got " << alpha);
  threads = resolve_threads(threads);
  QuadraticInfo info;
  DeconvModel<T> model = make_deconv_model<T>(image, shape, psf, psf_shape, boundary, threads);
  BlurOperator<T>& op = model.op;
  for (auto g : op.grid_shape()) info.grid_shape.push_back(static_cast<int>(g));
  const Spectrum sp(op.grid_shape());
  const std::ptrdiff_t n = op.spectrum_size();
  const T* o = reinterpret_cast<const T*>(op.otf());
  const T inv_l = static_cast<T>(1.0 / sp.grid_size);
  const T l2 = static_cast<T>(sp.grid_size * sp.grid_size);
  const T a = static_cast<T>(alpha);
  AlignedBuffer<std::complex<T>> zs(static_cast<std::size_t>(n));
  op.fft().forward(z, zs.data());
  T* zf = reinterpret_cast<T*>(zs.data());
  if (boundary != DeconvBoundary::Auto) {
    // M = identity on the grid (the observation, or its reflect extension): the closed
    // form X / L = (conj(o) G + alpha Z / L) / (L^2 |o|^2 + alpha).
    AlignedBuffer<std::complex<T>> gs(static_cast<std::size_t>(n));
    op.fft().forward(model.data.data(), gs.data());
    T* g = reinterpret_cast<T*>(gs.data());
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      const T ore = o[2 * i], oim = o[2 * i + 1], gre = g[2 * i], gim = g[2 * i + 1];
      const T f = T(1) / (l2 * (ore * ore + oim * oim) + a);
      g[2 * i] = (ore * gre + oim * gim + a * inv_l * zf[2 * i]) * f;
      g[2 * i + 1] = (ore * gim - oim * gre + a * inv_l * zf[2 * i + 1]) * f;
    }
    op.fft().inverse(gs.data(), x);
    return info;
  }
  // 'auto': PCG on the extended model from the caller's x, right-hand side
  // A^T g + alpha z (alpha Z / L in the solver's representation).
  AlignedBuffer<std::complex<T>> xs(static_cast<std::size_t>(n));
  op.fft().forward(x, xs.data());
  T* xf = reinterpret_cast<T*>(xs.data());
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t i = 0; i < 2 * n; ++i) {
    zf[i] *= a * inv_l;
    xf[i] *= inv_l;
  }
  const Penalty<T> pen{nullptr, a};
  info.lam = alpha;
  info.iterations = conjugate_gradients(op, sp, model.data.data(), pen, solver, {}, xs.data(),
                                        info.relative_residual, threads, zs.data());
  op.fft().inverse(xs.data(), x);
  return info;
}

template <typename T>
QuadraticInfo wiener(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                     DeconvBoundary boundary, const WienerOptions<T>& options, T* out,
                     const IterationCallback& callback, int threads) {
  require_solver(options.solver);
  if (options.mode == NsrMode::Scalar)
    UNBLUR_REQUIRE(options.nsr >= 0 && std::isfinite(options.nsr), "nsr must be finite and >= 0, got " << options.nsr);
  if (options.mode == NsrMode::Spectrum) UNBLUR_REQUIRE(options.nsr_spectrum != nullptr, "nsr spectrum is missing");
  WienerChoice<T> choice(options);
  return solve<T>(image, shape, psf, psf_shape, boundary, choice, options.solver, out, callback, threads);
}

template <typename T>
QuadraticInfo tikhonov(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                       DeconvBoundary boundary, const TikhonovOptions& options, T* out,
                       const IterationCallback& callback, int threads) {
  require_solver(options.solver);
  if (options.method == LambdaMethod::Fixed)
    UNBLUR_REQUIRE(options.lam >= 0 && std::isfinite(options.lam), "lam must be finite and >= 0, got " << options.lam);
  TikhonovChoice<T> choice(options);
  return solve<T>(image, shape, psf, psf_shape, boundary, choice, options.solver, out, callback, threads);
}

template QuadraticInfo wiener<float>(const float*, const Shape&, const float*, const Shape&, DeconvBoundary,
                                     const WienerOptions<float>&, float*, const IterationCallback&, int);
template QuadraticInfo wiener<double>(const double*, const Shape&, const double*, const Shape&, DeconvBoundary,
                                      const WienerOptions<double>&, double*, const IterationCallback&, int);
template QuadraticInfo data_prox<float>(const float*, const Shape&, const float*, const Shape&, DeconvBoundary,
                                        double, const float*, float*, const SolverOptions&, int);
template QuadraticInfo data_prox<double>(const double*, const Shape&, const double*, const Shape&, DeconvBoundary,
                                         double, const double*, double*, const SolverOptions&, int);
template QuadraticInfo tikhonov<float>(const float*, const Shape&, const float*, const Shape&, DeconvBoundary,
                                       const TikhonovOptions&, float*, const IterationCallback&, int);
template QuadraticInfo tikhonov<double>(const double*, const Shape&, const double*, const Shape&, DeconvBoundary,
                                        const TikhonovOptions&, double*, const IterationCallback&, int);

}  // namespace unblur
