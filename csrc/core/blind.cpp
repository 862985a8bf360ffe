#include "core/blind.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <functional>
#include <limits>
#include <utility>

#include "core/error.hpp"
#include "core/fft.hpp"
#include "core/psf.hpp"

namespace unblur {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kGolden = 0.38196601125010515;  // (3 - sqrt 5) / 2
constexpr double kBetaLow = 0.0, kBetaHigh = 4.0;
// Bins this close to a frequency axis are not scored: axis-aligned structure
// (buildings, horizons, the frame's residual seam) concentrates there, and the
// isotropic image model would explain it as blur (a rocket on its tower came out as
// vertical motion blur before; bench/RESULTS.md).
constexpr std::ptrdiff_t kAxisBand = 1;

// Golden-section search of f on [lo, hi]: the better of the last two points.
std::pair<double, double> golden(const std::function<double(double)>& f, double lo, double hi, int iterations) {
  double a = lo, b = hi;
  double x1 = a + kGolden * (b - a), x2 = b - kGolden * (b - a);
  double f1 = f(x1), f2 = f(x2);
  for (int i = 0; i < iterations; ++i) {
    if (f1 <= f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = a + kGolden * (b - a);
      f1 = f(x1);
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = b - kGolden * (b - a);
      f2 = f(x2);
    }
  }
  return f1 <= f2 ? std::make_pair(x1, f1) : std::make_pair(x2, f2);
}

// Parameters rounded to 9 decimals: the identity of a scored candidate (the reference
// caches scores under this key and reports it).
std::vector<double> rounded(std::vector<double> p) {
  for (double& v : p) v = std::nearbyint(v * 1e9) / 1e9;
  return p;
}

}  // namespace

void periodic_component(const double* image, std::ptrdiff_t rows, std::ptrdiff_t cols, double* out, int threads,
                        PlannerEffort effort) {
  UNBLUR_REQUIRE(rows >= 2 && cols >= 2, "image must be at least 2x2, got " << rows << "x" << cols);
  const Shape shape{rows, cols};
  auto fft = RealFFT<double>::get(shape, threads, effort);
  AlignedBuffer<double> v(static_cast<std::size_t>(rows * cols));
  std::fill(v.data(), v.data() + rows * cols, 0.0);
  const auto at = [cols](std::ptrdiff_t i, std::ptrdiff_t j) { return i * cols + j; };
  for (std::ptrdiff_t j = 0; j < cols; ++j) {
    const double d = image[at(rows - 1, j)] - image[at(0, j)];
    v[static_cast<std::size_t>(at(0, j))] += d;
    v[static_cast<std::size_t>(at(rows - 1, j))] -= d;
  }
  for (std::ptrdiff_t i = 0; i < rows; ++i) {
    const double d = image[at(i, cols - 1)] - image[at(i, 0)];
    v[static_cast<std::size_t>(at(i, 0))] += d;
    v[static_cast<std::size_t>(at(i, cols - 1))] -= d;
  }
  const std::ptrdiff_t half = cols / 2 + 1;
  AlignedBuffer<std::complex<double>> s(static_cast<std::size_t>(rows * half));
  fft->forward(v.data(), s.data());
  for (std::ptrdiff_t q = 0; q < rows; ++q) {
    const double cq = 2 * std::cos(2 * kPi * static_cast<double>(q) / static_cast<double>(rows));
    for (std::ptrdiff_t r = 0; r < half; ++r) {
      const double den = cq + 2 * std::cos(2 * kPi * static_cast<double>(r) / static_cast<double>(cols)) - 4;
      auto& z = s[static_cast<std::size_t>(q * half + r)];
      z = (q == 0 && r == 0) ? std::complex<double>(0.0, 0.0) : z / den;
    }
  }
  fft->inverse(s.data(), v.data());
  const double scale = 1.0 / static_cast<double>(rows * cols);
  for (std::ptrdiff_t i = 0; i < rows * cols; ++i) out[i] = image[i] - v[static_cast<std::size_t>(i)] * scale;
}

std::ptrdiff_t spectral_grid_size(std::ptrdiff_t max_size) {
  std::ptrdiff_t s = 128;
  while (s < 2 * max_size + 2) s *= 2;
  return s;
}

SpectralModel::SpectralModel(const double* image, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t grid,
                             double sigma, int threads)
    : grid_(grid) {
  UNBLUR_REQUIRE(rows >= 8 && cols >= 8, "image must be at least 8x8, got " << rows << "x" << cols);
  UNBLUR_REQUIRE(grid >= 8 && grid % 2 == 0, "grid must be even and >= 8, got " << grid);
  UNBLUR_REQUIRE(std::isfinite(sigma) && sigma >= 0, "sigma must be finite and >= 0, got " << sigma);
  // A NaN or an infinity would reach every periodogram bin through the FFT and leave the
  // family search comparing NaN likelihoods (the Python layer refuses them first; native
  // callers get this error).
  for (std::ptrdiff_t i = 0; i < rows * cols; ++i)
    UNBLUR_REQUIRE(std::isfinite(image[i]), "image contains NaN or infinity (at flat index " << i << ")");
  sigma2_ = sigma * sigma;
  const std::ptrdiff_t n = rows * cols, half_in = cols / 2 + 1;
  AlignedBuffer<double> p(static_cast<std::size_t>(n));
  periodic_component(image, rows, cols, p.data(), threads);
  auto fft = RealFFT<double>::get(Shape{rows, cols}, threads);
  AlignedBuffer<std::complex<double>> spec(static_cast<std::size_t>(rows * half_in));
  fft->forward(p.data(), spec.data());

  const std::ptrdiff_t half = grid / 2 + 1, cells = grid * half;
  std::vector<double> count(static_cast<std::size_t>(cells), 0.0), total(static_cast<std::size_t>(cells), 0.0);
  const double inv_n = 1.0 / static_cast<double>(n);
  for (std::ptrdiff_t q = 0; q < rows; ++q) {
    const double fq = static_cast<double>(q <= rows / 2 ? q : q - rows) / static_cast<double>(rows);
    std::ptrdiff_t bq = static_cast<std::ptrdiff_t>(std::nearbyint(fq * static_cast<double>(grid))) % grid;
    if (bq < 0) bq += grid;
    for (std::ptrdiff_t r = 0; r < half_in; ++r) {
      double w = 2.0;
      if (r == 0 || (cols % 2 == 0 && r == half_in - 1)) w = 1.0;
      if (q == 0 && r == 0) w = 0.0;
      const double fr = static_cast<double>(r) / static_cast<double>(cols);
      const auto br = static_cast<std::ptrdiff_t>(std::nearbyint(fr * static_cast<double>(grid)));
      const auto cell = static_cast<std::size_t>(bq * half + br);
      count[cell] += w;
      total[cell] += w * std::norm(spec[static_cast<std::size_t>(q * half_in + r)]) * inv_n;
    }
  }
  for (std::ptrdiff_t cell = 0; cell < cells; ++cell) {
    const auto c = static_cast<std::size_t>(cell);
    const std::ptrdiff_t cq = std::min(cell / half, grid - cell / half), cr = cell % half;
    if (!(count[c] > 0) || cq <= kAxisBand || cr <= kAxisBand) continue;
    const double sq = std::sin(kPi * static_cast<double>(cell / half) / static_cast<double>(grid));
    const double sr = std::sin(kPi * static_cast<double>(cell % half) / static_cast<double>(grid));
    index_.push_back(cell);
    count_.push_back(count[c]);
    power_.push_back(total[c] / count[c]);
    log_d2_.push_back(std::log(4 * (sq * sq) + 4 * (sr * sr)));
    bins_ += count[c];
  }
  // Bins grouped by count (stable: frequency order within a group), so the likelihood's
  // sum of count * log(v) is one log of a running product per group and block.
  std::vector<std::size_t> order(index_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return count_[a] < count_[b]; });
  const auto permute = [&](auto& v) {
    auto copy = v;
    for (std::size_t i = 0; i < order.size(); ++i) v[i] = copy[order[i]];
  };
  permute(index_);
  permute(count_);
  permute(power_);
  permute(log_d2_);
  for (std::size_t i = 0; i < count_.size(); ++i)
    if (i == 0 || count_[i] != count_[i - 1]) group_start_.push_back(i);
  group_start_.push_back(count_.size());
}

void SpectralModel::otf_power(const double* psf, const Shape& psf_shape, double* out) const {
  require_psf_shape(psf_shape, 2, "psf");
  const std::ptrdiff_t s = grid_, kh = psf_shape[0], kw = psf_shape[1];
  UNBLUR_REQUIRE(kh <= s && kw <= s, "psf of " << kh << "x" << kw << " does not fit the " << s << "x" << s
                                               << " frequency grid");
  auto fft = RealFFT<double>::get(Shape{s, s}, 1);
  AlignedBuffer<double> pad(static_cast<std::size_t>(s * s));
  std::fill(pad.data(), pad.data() + s * s, 0.0);
  for (std::ptrdiff_t i = 0; i < kh; ++i) {
    const std::ptrdiff_t row = ((i - kh / 2) % s + s) % s;
    for (std::ptrdiff_t j = 0; j < kw; ++j) {
      const std::ptrdiff_t col = ((j - kw / 2) % s + s) % s;
      pad[static_cast<std::size_t>(row * s + col)] = psf[i * kw + j];
    }
  }
  AlignedBuffer<std::complex<double>> spec(static_cast<std::size_t>(fft->spectrum_size()));
  fft->forward(pad.data(), spec.data());
  for (std::size_t b = 0; b < index_.size(); ++b) out[b] = std::norm(spec[static_cast<std::size_t>(index_[b])]);
}

// sum_b count_b (log v_b + I_b / v_b) with v_b = exp(u - beta lq_b / 2) hp_b + sigma^2;
// the signal part exp(...) hp_b is left in sig. Logs are taken of running products
// of 16 values (v lies far inside double's range), one group of equal counts at a time.
double SpectralModel::likelihood(const double* hp, double u, double beta, double* sig) const {
  double f = 0;
  for (std::size_t g = 0; g + 1 < group_start_.size(); ++g) {
    const std::size_t begin = group_start_[g], end = group_start_[g + 1];
    double log_sum = 0, ratio = 0;
    for (std::size_t b0 = begin; b0 < end; b0 += 16) {
      const std::size_t b1 = std::min(b0 + 16, end);
      double prod = 1;
      for (std::size_t b = b0; b < b1; ++b) {
        const double s = std::exp(u - 0.5 * beta * log_d2_[b]) * hp[b];
        const double v = s + sigma2_;
        sig[b] = s;
        prod *= v;
        ratio += power_[b] / v;
      }
      log_sum += std::log(prod);
    }
    f += count_[begin] * (log_sum + ratio);
  }
  return f;
}

SpectralModel::Fit SpectralModel::fit(const double* otf_power) const {
  const std::size_t m = power_.size();
  const double s2 = sigma2_;
  std::vector<double> hp(m), sig(m), trial(m);
  for (std::size_t b = 0; b < m; ++b) hp[b] = std::max(otf_power[b], 1e-30);
  double beta = 2.0, signal = 0, model = 0;
  for (std::size_t b = 0; b < m; ++b) {
    signal += count_[b] * std::max(power_[b] - s2, 0.0);
    model += count_[b] * hp[b] * std::exp(-0.5 * beta * log_d2_[b]);
  }
  double u = std::log((signal + 1e-30) / model);
  double f = likelihood(hp.data(), u, beta, sig.data());
  // Fisher scoring on (log a, beta) with a backtracking line search.
  for (int it = 0; it < 50; ++it) {
    double g0 = 0, g1 = 0, j00 = 0, j01 = 0, j11 = 0;
    for (std::size_t b = 0; b < m; ++b) {
      const double lq = log_d2_[b];
      const double v = sig[b] + s2;
      const double r = count_[b] * (v - power_[b]) / (v * v) * sig[b];
      const double fi = count_[b] * (sig[b] * sig[b]) / (v * v);
      g0 += r;
      g1 += r * (-0.5 * lq);
      j00 += fi;
      j01 += fi * (-0.5 * lq);
      j11 += fi * (0.25 * lq * lq);
    }
    const double det = j00 * j11 - j01 * j01;
    if (!(det > 0)) break;
    const double du = -(j11 * g0 - j01 * g1) / det;
    const double db = -(j00 * g1 - j01 * g0) / det;
    double step = 1.0, un = u, bn = beta, fn = f;
    bool improved = false;
    while (step > 1e-4) {
      un = u + step * du;
      bn = std::min(std::max(beta + step * db, kBetaLow), kBetaHigh);
      fn = likelihood(hp.data(), un, bn, trial.data());
      if (fn <= f) {
        improved = true;
        break;
      }
      step *= 0.5;
    }
    if (!improved) break;
    const bool done = f - fn <= 1e-10 * std::abs(f) + 1e-12;
    u = un;
    beta = bn;
    f = fn;
    std::swap(sig, trial);
    if (done) break;
  }
  return Fit{f, u, beta};
}

std::vector<double> family_psf(BlurFamily family, const std::vector<double>& params, Shape& shape) {
  std::vector<double> out;
  switch (family) {
    case BlurFamily::Gaussian: {
      const std::vector<double> sigma{params.at(0), params.at(0)};
      shape = gaussian_psf_shape(sigma, 0.0);
      out.resize(static_cast<std::size_t>(shape_size(shape)));
      gaussian_psf(sigma, 0.0, shape, out.data());
      break;
    }
    case BlurFamily::Defocus:
      shape = disk_psf_shape(params.at(0));
      out.resize(static_cast<std::size_t>(shape_size(shape)));
      disk_psf(params.at(0), shape, out.data());
      break;
    case BlurFamily::Motion:
      shape = motion_psf_shape(params.at(0), params.at(1));
      out.resize(static_cast<std::size_t>(shape_size(shape)));
      motion_psf(params.at(0), params.at(1), shape, out.data());
      break;
  }
  return out;
}

std::vector<std::vector<double>> family_grid(BlurFamily family, std::ptrdiff_t max_size) {
  UNBLUR_REQUIRE(max_size >= 3, "max_size must be >= 3, got " << max_size);
  const double half = static_cast<double>(max_size - 1) / 2.0;
  std::vector<std::vector<double>> grid;
  switch (family) {
    case BlurFamily::Gaussian: {
      const double top = std::max(half / 3.0, 0.5);
      for (int k = 0; k < 40; ++k) grid.push_back({0.25 * std::pow(top / 0.25, k / 39.0)});
      break;
    }
    case BlurFamily::Defocus: {
      const int count = static_cast<int>((half - 0.5) / 0.25) + 1;
      for (int k = 0; k < count; ++k) grid.push_back({0.5 + 0.25 * k});
      break;
    }
    case BlurFamily::Motion: {
      const int lengths = static_cast<int>(2 * half - 1);
      for (int k = 0; k < lengths; ++k)
        for (int a = 0; a < 60; ++a) grid.push_back({2.0 + k, 3.0 * a});
      break;
    }
  }
  return grid;
}

FamilyFit fit_family(const SpectralModel& model, BlurFamily family, std::ptrdiff_t max_size, int threads) {
  const int nt = resolve_threads(threads);
  FamilyFit best;
  best.nll = std::numeric_limits<double>::infinity();
  const auto evaluate = [&](const std::vector<double>& params) {
    Shape shape;
    const std::vector<double> psf = family_psf(family, params, shape);
    std::vector<double> power(model.size());
    model.otf_power(psf.data(), shape, power.data());
    return model.fit(power.data()).nll;
  };
  const auto keep = [&](const std::vector<double>& params, double nll) {
    ++best.evaluated;
    if (nll < best.nll) {
      best.nll = nll;
      best.params = rounded(params);
    }
  };
  const auto score = [&](const std::vector<double>& params) {
    const double nll = evaluate(params);
    keep(params, nll);
    return nll;
  };

  const std::vector<std::vector<double>> grid = family_grid(family, max_size);
  const auto count = static_cast<std::ptrdiff_t>(grid.size());
  std::vector<double> values(grid.size());
  bool failed = false;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
  for (std::ptrdiff_t k = 0; k < count; ++k) {
    try {
      values[static_cast<std::size_t>(k)] = evaluate(grid[static_cast<std::size_t>(k)]);
    } catch (...) {
#pragma omp critical(unblur_blind_failure)
      failed = true;
    }
  }
  UNBLUR_CHECK(!failed, "evaluating a blur candidate failed");
  std::ptrdiff_t k = 0;
  for (std::ptrdiff_t i = 0; i < count; ++i) {
    keep(grid[static_cast<std::size_t>(i)], values[static_cast<std::size_t>(i)]);
    if (values[static_cast<std::size_t>(i)] < values[static_cast<std::size_t>(k)]) k = i;
  }
  if (family == BlurFamily::Motion) {
    double length = grid[static_cast<std::size_t>(k)][0], angle = grid[static_cast<std::size_t>(k)][1];
    for (int round = 0; round < 2; ++round) {
      length = golden([&](double t) { return score({t, angle}); }, std::max(length - 1.0, 1.0), length + 1.0, 16).first;
      angle = golden([&](double t) { return score({length, t}); }, angle - 3.0, angle + 3.0, 16).first;
    }
    best.params[1] = std::fmod(best.params[1], 180.0);
    if (best.params[1] < 0) best.params[1] += 180.0;
  } else {
    const double lo = grid[static_cast<std::size_t>(std::max<std::ptrdiff_t>(k - 1, 0))][0];
    const double hi = grid[static_cast<std::size_t>(std::min<std::ptrdiff_t>(k + 1, count - 1))][0];
    if (family == BlurFamily::Gaussian)
      golden([&](double t) { return score({std::exp(t)}); }, std::log(lo), std::log(hi), 20);
    else
      golden([&](double t) { return score({t}); }, lo, hi, 20);
  }
  return best;
}

}  // namespace unblur
