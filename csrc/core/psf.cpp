#include "core/psf.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>

#include "core/error.hpp"
#include "core/fft.hpp"
#include "core/random.hpp"

namespace unblur {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDegree = kPi / 180.0;
constexpr double kFirstZeroJ1 = 3.8317059702075125;  // first positive zero of J1
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr int kDiskSubsamples = 32;     // per axis, for pixels the disk's edge crosses
constexpr int kRotatedSubrows = 64;     // sub-rows down a rotated Gaussian's pixels
constexpr double kSamplesPerPixel = 16; // motion and shake segments
// The most samples a motion or shake path may take (three doubles each): past it a
// request such as shake(1e9) would run for minutes and fill the memory before the
// PSF's size was ever checked.
constexpr double kMaxPathSamples = double(1 << 24);
constexpr long long kMaxPathSamplesInt = 1 << 24;  // for the messages
constexpr int kSubharmonicLevels = 6;   // phase screens: lowest frequency df / 3^6

/// Smallest h >= max(1, reach): the half-size of a default shape.
// Largest PSF extent per axis and in all: far beyond any real blur, small enough that
// a mistyped parameter (sigma=1e9) is an error instead of an endless allocation.
constexpr std::ptrdiff_t kMaxPsfExtent = 1 << 15;
constexpr std::ptrdiff_t kMaxPsfElements = std::ptrdiff_t(1) << 26;

std::ptrdiff_t half_size(double reach) {
  UNBLUR_REQUIRE(reach <= double(kMaxPsfExtent), "the PSF would be " << 2 * std::ceil(reach) + 1
                     << " pixels wide, more than the limit of " << kMaxPsfExtent
                     << "; check the blur parameters");
  return std::max<std::ptrdiff_t>(1, static_cast<std::ptrdiff_t>(std::ceil(reach)));
}

void require_finite(double v, const char* name) {
  UNBLUR_REQUIRE(std::isfinite(v), name << " must be finite, got " << v);
}

/// Normalises `acc` to sum 1 and writes it as T.
template <typename T>
void write_normalised(const std::vector<double>& acc, T* out) {
  double total = 0.0;
  for (double v : acc) total += v;
  UNBLUR_REQUIRE(total > 0.0 && std::isfinite(total),
                 "the PSF has no mass inside the requested size; use a larger size");
  const double scale = 1.0 / total;
  for (std::size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<T>(acc[i] * scale);
}

/// P(z0 < Z < z1) for a standard normal Z, without cancellation in either tail.
double normal_mass(double z0, double z1) {
  if (z0 >= 0.0) return 0.5 * (std::erfc(z0 * kInvSqrt2) - std::erfc(z1 * kInvSqrt2));
  if (z1 <= 0.0) return 0.5 * (std::erfc(-z1 * kInvSqrt2) - std::erfc(-z0 * kInvSqrt2));
  return 0.5 * (std::erf(z1 * kInvSqrt2) - std::erf(z0 * kInvSqrt2));
}

/// The 2-D covariance (rows, columns) of a Gaussian with sigma = (s_row, s_col)
/// rotated by theta: {S_rr, S_rc, S_cc}.
struct Cov2 {
  double rr, rc, cc;
};
Cov2 rotated_covariance(double s_row, double s_col, double theta_deg) {
  const double c = std::cos(theta_deg * kDegree), s = std::sin(theta_deg * kDegree);
  const double a = s_col * s_col, b = s_row * s_row;  // variances along the principal axes
  // In (x, y-up) the covariance is a e1 e1' + b e2 e2', e1 = (c, s), e2 = (-s, c);
  // rows point down (row = -y), which flips the sign of the cross term.
  return {a * s * s + b * c * c, -(a - b) * c * s, a * c * c + b * s * s};
}

void require_sigma(const std::vector<double>& sigma, double theta_deg) {
  UNBLUR_REQUIRE(!sigma.empty() && sigma.size() <= 3,
                 "sigma must have 1, 2 or 3 values (one per axis), got " << sigma.size());
  for (double s : sigma) {
    require_finite(s, "sigma");
    UNBLUR_REQUIRE(s > 0.0, "sigma must be > 0, got " << s);
  }
  require_finite(theta_deg, "theta");
  UNBLUR_REQUIRE(theta_deg == 0.0 || sigma.size() == 2, "theta is only defined for 2-D Gaussians");
}

}  // namespace

void require_psf_shape(const Shape& shape, std::size_t ndim, const char* name) {
  UNBLUR_REQUIRE(shape.size() == ndim,
                 name << " must have " << ndim << " axes, got " << shape.size());
  for (auto s : shape)
    UNBLUR_REQUIRE(s >= 1 && s % 2 == 1, name << " must be odd and positive on every axis, got " << s);
  std::ptrdiff_t total = 1;
  for (auto s : shape) {
    UNBLUR_REQUIRE(s <= kMaxPsfExtent, name << " of " << s << " exceeds the limit of " << kMaxPsfExtent << " per axis");
    total *= s;
  }
  UNBLUR_REQUIRE(total <= kMaxPsfElements,
                 "the PSF would have " << total << " pixels, more than the limit of " << kMaxPsfElements);
}

// ---- Gaussian -----------------------------------------------------------------------
Shape gaussian_psf_shape(const std::vector<double>& sigma, double theta_deg) {
  require_sigma(sigma, theta_deg);
  Shape shape(sigma.size());
  if (sigma.size() == 2) {
    const Cov2 cov = rotated_covariance(sigma[0], sigma[1], theta_deg);
    shape[0] = 2 * half_size(4.0 * std::sqrt(cov.rr)) + 1;
    shape[1] = 2 * half_size(4.0 * std::sqrt(cov.cc)) + 1;
  } else {
    for (std::size_t i = 0; i < sigma.size(); ++i) shape[i] = 2 * half_size(4.0 * sigma[i]) + 1;
  }
  return shape;
}

template <typename T>
void gaussian_psf(const std::vector<double>& sigma, double theta_deg, const Shape& shape, T* out) {
  require_sigma(sigma, theta_deg);
  require_psf_shape(shape, sigma.size());
  std::vector<double> acc(static_cast<std::size_t>(shape_size(shape)));
  const Cov2 cov = sigma.size() == 2 ? rotated_covariance(sigma[0], sigma[1], theta_deg) : Cov2{0, 0, 0};
  if (sigma.size() == 2 && cov.rc != 0.0) {
    // A rotated Gaussian factors as N(y; S_rr) * N(x; m(y), v) with m(y) = y S_rc / S_rr
    // and v = S_cc - S_rc^2 / S_rr: exact erf differences across each pixel's columns;
    // down its rows, 64 sub-rows, each weighted by its exact marginal mass and taking
    // the conditional mean at its midpoint (accurate in the tails too).
    const std::ptrdiff_t rows = shape[0], cols = shape[1];
    const double cy = static_cast<double>(rows / 2), cx = static_cast<double>(cols / 2);
    const double slope = cov.rc / cov.rr;
    const double sd = std::sqrt(std::max(cov.cc - cov.rc * slope, 0.0));
    const double sd_rows = std::sqrt(cov.rr), half_sub = 0.5 / kRotatedSubrows;
    for (std::ptrdiff_t i = 0; i < rows; ++i) {
      for (int s = 0; s < kRotatedSubrows; ++s) {
        const double y = (static_cast<double>(i) - cy) + ((s + 0.5) / kRotatedSubrows - 0.5);
        const double wy = normal_mass((y - half_sub) / sd_rows, (y + half_sub) / sd_rows);
        const double m = y * slope;
        for (std::ptrdiff_t j = 0; j < cols; ++j) {
          const double x = static_cast<double>(j) - cx;
          acc[static_cast<std::size_t>(i * cols + j)] +=
              wy * normal_mass((x - 0.5 - m) / sd, (x + 0.5 - m) / sd);
        }
      }
    }
  } else {
    std::vector<double> sd(sigma);
    if (sigma.size() == 2) sd = {std::sqrt(cov.rr), std::sqrt(cov.cc)};
    // Separable: the product of 1-D pixel-integrated profiles.
    std::vector<std::vector<double>> profile(shape.size());
    for (std::size_t a = 0; a < shape.size(); ++a) {
      const std::ptrdiff_t c = shape[a] / 2;
      for (std::ptrdiff_t k = 0; k < shape[a]; ++k) {
        const double x = static_cast<double>(k - c);
        profile[a].push_back(normal_mass((x - 0.5) / sd[a], (x + 0.5) / sd[a]));
      }
    }
    const std::ptrdiff_t n = shape_size(shape);
    for (std::ptrdiff_t idx = 0; idx < n; ++idx) {
      double v = 1.0;
      std::ptrdiff_t rest = idx;
      for (std::size_t a = shape.size(); a-- > 0;) {
        v *= profile[a][static_cast<std::size_t>(rest % shape[a])];
        rest /= shape[a];
      }
      acc[static_cast<std::size_t>(idx)] = v;
    }
  }
  write_normalised(acc, out);
}

// ---- disk -------------------------------------------------------------------------------
Shape disk_psf_shape(double radius) {
  require_finite(radius, "radius");
  UNBLUR_REQUIRE(radius >= 0.0, "radius must be >= 0, got " << radius);
  const std::ptrdiff_t n = 2 * half_size(radius - 0.5) + 1;
  return {n, n};
}

void add_disk_area(double cy, double cx, double radius, std::ptrdiff_t rows, std::ptrdiff_t cols,
                   double* acc) {
  const double r2 = radius * radius;
  const double inv_area = 1.0 / (kDiskSubsamples * kDiskSubsamples);
  for (std::ptrdiff_t i = 0; i < rows; ++i) {
    const double y = static_cast<double>(i) - cy;
    const double ny = std::max(std::abs(y) - 0.5, 0.0), fy = std::abs(y) + 0.5;
    for (std::ptrdiff_t j = 0; j < cols; ++j) {
      const double x = static_cast<double>(j) - cx;
      const double nx = std::max(std::abs(x) - 0.5, 0.0), fx = std::abs(x) + 0.5;
      double frac;
      if (fx * fx + fy * fy <= r2) {
        frac = 1.0;  // the farthest corner is inside
      } else if (nx * nx + ny * ny >= r2) {
        frac = 0.0;  // the nearest point is outside
      } else {
        int count = 0;
        for (int a = 0; a < kDiskSubsamples; ++a) {
          const double sy = y + ((a + 0.5) / kDiskSubsamples - 0.5);
          for (int b = 0; b < kDiskSubsamples; ++b) {
            const double sx = x + ((b + 0.5) / kDiskSubsamples - 0.5);
            count += (sx * sx + sy * sy <= r2);
          }
        }
        frac = count * inv_area;
      }
      acc[i * cols + j] += frac;
    }
  }
}

template <typename T>
void disk_psf(double radius, const Shape& shape, T* out) {
  disk_psf_shape(radius);  // validates radius
  require_psf_shape(shape, 2);
  std::vector<double> acc(static_cast<std::size_t>(shape_size(shape)), 0.0);
  if (radius <= 0.5) {
    // The whole disk lies in the centre pixel: a delta, exactly (the sub-grid below would
    // miss a disk smaller than its spacing and find no mass at all).
    acc[acc.size() / 2] = 1.0;
  } else {
    add_disk_area(static_cast<double>(shape[0] / 2), static_cast<double>(shape[1] / 2), radius,
                  shape[0], shape[1], acc.data());
  }
  write_normalised(acc, out);
}

// ---- bilinear splatting, motion -------------------------------------------------------
void splat_bilinear(const std::vector<double>& row, const std::vector<double>& col,
                    const std::vector<double>& w, std::ptrdiff_t rows, std::ptrdiff_t cols,
                    double* acc) {
  UNBLUR_REQUIRE(row.size() == col.size() && row.size() == w.size(),
                 "row, col and w must have the same length");
  for (std::size_t k = 0; k < row.size(); ++k) {
    const double fr = std::floor(row[k]), fc = std::floor(col[k]);
    const double tr = row[k] - fr, tc = col[k] - fc;
    const auto r0 = static_cast<std::ptrdiff_t>(fr), c0 = static_cast<std::ptrdiff_t>(fc);
    const double wr[2] = {1.0 - tr, tr}, wc[2] = {1.0 - tc, tc};
    for (int a = 0; a < 2; ++a) {
      const std::ptrdiff_t r = r0 + a;
      if (r < 0 || r >= rows) continue;
      for (int b = 0; b < 2; ++b) {
        const std::ptrdiff_t c = c0 + b;
        if (c < 0 || c >= cols) continue;
        acc[r * cols + c] += w[k] * wr[a] * wc[b];
      }
    }
  }
}

namespace {
void require_motion(double length, double angle_deg) {
  require_finite(length, "length");
  UNBLUR_REQUIRE(length >= 0.0, "length must be >= 0, got " << length);
  require_finite(angle_deg, "angle");
}
}  // namespace

Shape motion_psf_shape(double length, double angle_deg) {
  require_motion(length, angle_deg);
  const double c = std::cos(angle_deg * kDegree), s = std::sin(angle_deg * kDegree);
  return {2 * half_size(0.5 * length * std::abs(s)) + 1, 2 * half_size(0.5 * length * std::abs(c)) + 1};
}

template <typename T>
void motion_psf(double length, double angle_deg, const Shape& shape, T* out) {
  require_motion(length, angle_deg);
  require_psf_shape(shape, 2);
  UNBLUR_REQUIRE(std::ceil(kSamplesPerPixel * length) <= kMaxPathSamples,
                 "length=" << length << " needs " << std::ceil(kSamplesPerPixel * length)
                           << " samples at 16 per pixel: more than the limit of " << kMaxPathSamplesInt);
  const double c = std::cos(angle_deg * kDegree), s = std::sin(angle_deg * kDegree);
  const auto n = std::max<std::ptrdiff_t>(1, static_cast<std::ptrdiff_t>(std::ceil(kSamplesPerPixel * length)));
  const double cy = static_cast<double>(shape[0] / 2), cx = static_cast<double>(shape[1] / 2);
  std::vector<double> row(static_cast<std::size_t>(n)), col(row.size()), w(row.size(), 1.0 / static_cast<double>(n));
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    const double t = ((static_cast<double>(k) + 0.5) / static_cast<double>(n) - 0.5) * length;
    col[static_cast<std::size_t>(k)] = cx + t * c;
    row[static_cast<std::size_t>(k)] = cy - t * s;
  }
  std::vector<double> acc(static_cast<std::size_t>(shape_size(shape)), 0.0);
  splat_bilinear(row, col, w, shape[0], shape[1], acc.data());
  write_normalised(acc, out);
}

// ---- camera shake -----------------------------------------------------------------------
ShakeTrajectory shake_trajectory(double extent, std::uint64_t seed, int steps, double smoothness) {
  require_finite(extent, "extent");
  UNBLUR_REQUIRE(extent >= 0.0, "extent must be >= 0, got " << extent);
  UNBLUR_REQUIRE(steps >= 2, "steps must be >= 2, got " << steps);
  require_finite(smoothness, "smoothness");
  UNBLUR_REQUIRE(smoothness >= 0.0 && smoothness < 1.0, "smoothness must be in [0, 1), got " << smoothness);
  UNBLUR_REQUIRE(steps - 1 <= kMaxPathSamples, "steps=" << steps << " makes at least " << steps - 1
                 << " trajectory samples: more than the limit of " << kMaxPathSamplesInt);

  // The walk: velocity is an AR(1) process (inertia), position its running sum.
  Rng rng(seed);
  const double innovation = std::sqrt(1.0 - smoothness * smoothness);
  ShakeTrajectory tr;
  auto n_steps = static_cast<std::size_t>(steps);
  std::vector<double> py(n_steps), px(n_steps);
  auto [g0, g1] = rng.normal_pair();
  double vy = g0, vx = g1, y = 0.0, x = 0.0;
  for (std::size_t t = 1; t < n_steps; ++t) {
    auto [h0, h1] = rng.normal_pair();
    vy = smoothness * vy + innovation * h0;
    vx = smoothness * vx + innovation * h1;
    y += vy;
    x += vx;
    py[t] = y;
    px[t] = x;
  }
  const auto [ylo, yhi] = std::minmax_element(py.begin(), py.end());
  const auto [xlo, xhi] = std::minmax_element(px.begin(), px.end());
  const double span = std::max(*yhi - *ylo, *xhi - *xlo);
  const double scale = span > 0.0 ? extent / span : 0.0;
  for (std::size_t t = 0; t < n_steps; ++t) {
    py[t] *= scale;
    px[t] *= scale;
  }

  // Equal exposure time per segment, spread over midpoints about 1/16 pixel apart; the
  // count is checked before anything is sampled.
  double samples = 0.0, path = 0.0;
  for (std::size_t t = 0; t + 1 < n_steps; ++t) {
    const double dy = py[t + 1] - py[t], dx = px[t + 1] - px[t];
    const double len = std::sqrt(dy * dy + dx * dx);  // as the sampling below measures it
    path += len;
    samples += std::max(1.0, std::ceil(kSamplesPerPixel * len));
  }
  UNBLUR_REQUIRE(samples <= kMaxPathSamples,
                 "extent=" << extent << " with steps=" << steps << " makes a trajectory of " << path << " pixels, "
                 << samples << " samples at 16 per pixel: more than the limit of " << kMaxPathSamplesInt
                 << " (a smaller extent, fewer steps or a larger smoothness shortens it)");
  tr.dy.reserve(static_cast<std::size_t>(samples));
  tr.dx.reserve(static_cast<std::size_t>(samples));
  tr.weight.reserve(static_cast<std::size_t>(samples));
  const double segment_weight = 1.0 / static_cast<double>(steps - 1);
  for (std::size_t t = 0; t + 1 < n_steps; ++t) {
    const double dy = py[t + 1] - py[t], dx = px[t + 1] - px[t];
    const double len = std::sqrt(dy * dy + dx * dx);
    const auto n = std::max<std::ptrdiff_t>(1, static_cast<std::ptrdiff_t>(std::ceil(kSamplesPerPixel * len)));
    for (std::ptrdiff_t k = 0; k < n; ++k) {
      const double f = (static_cast<double>(k) + 0.5) / static_cast<double>(n);
      tr.dy.push_back(py[t] + f * dy);
      tr.dx.push_back(px[t] + f * dx);
      tr.weight.push_back(segment_weight / static_cast<double>(n));
    }
  }
  double wsum = 0.0, my = 0.0, mx = 0.0;
  for (std::size_t k = 0; k < tr.weight.size(); ++k) {
    wsum += tr.weight[k];
    my += tr.weight[k] * tr.dy[k];
    mx += tr.weight[k] * tr.dx[k];
  }
  my /= wsum;
  mx /= wsum;
  for (std::size_t k = 0; k < tr.weight.size(); ++k) {
    tr.dy[k] -= my;
    tr.dx[k] -= mx;
  }
  tr.vertex_y = std::move(py);
  tr.vertex_x = std::move(px);
  return tr;
}

Shape shake_psf_shape(const ShakeTrajectory& tr) {
  double ry = 0.0, rx = 0.0;
  for (std::size_t k = 0; k < tr.dy.size(); ++k) {
    ry = std::max(ry, std::abs(tr.dy[k]));
    rx = std::max(rx, std::abs(tr.dx[k]));
  }
  return {2 * half_size(ry) + 1, 2 * half_size(rx) + 1};
}

template <typename T>
void shake_psf(const ShakeTrajectory& tr, const Shape& shape, T* out) {
  require_psf_shape(shape, 2);
  const double cy = static_cast<double>(shape[0] / 2), cx = static_cast<double>(shape[1] / 2);
  std::vector<double> row(tr.dy.size()), col(tr.dx.size());
  for (std::size_t k = 0; k < row.size(); ++k) {
    row[k] = cy + tr.dy[k];
    col[k] = cx + tr.dx[k];
  }
  std::vector<double> acc(static_cast<std::size_t>(shape_size(shape)), 0.0);
  splat_bilinear(row, col, tr.weight, shape[0], shape[1], acc.data());
  write_normalised(acc, out);
}

// ---- atmospheric turbulence -----------------------------------------------------------
namespace {
void require_turbulence(double d_over_r0, double oversampling) {
  require_finite(d_over_r0, "d_over_r0");
  UNBLUR_REQUIRE(d_over_r0 >= 0.0, "d_over_r0 must be >= 0, got " << d_over_r0);
  require_finite(oversampling, "oversampling");
  UNBLUR_REQUIRE(oversampling >= 1.0, "oversampling must be >= 1 (1 is Nyquist), got " << oversampling);
}

/// Signed FFT frequency of index k on an n-point grid, in cycles per sample.
double fft_frequency(std::ptrdiff_t k, std::ptrdiff_t n) {
  return static_cast<double>(k < (n + 1) / 2 ? k : k - n) / static_cast<double>(n);
}

/// Copies the centred `shape` crop of a periodic m x m image (origin at [0, 0]),
/// clipping round-off negatives to 0.
std::vector<double> crop_periodic(const double* grid, std::ptrdiff_t m, const Shape& shape) {
  std::vector<double> acc(static_cast<std::size_t>(shape_size(shape)));
  const std::ptrdiff_t hy = shape[0] / 2, hx = shape[1] / 2;
  for (std::ptrdiff_t i = 0; i < shape[0]; ++i) {
    const std::ptrdiff_t gi = ((i - hy) % m + m) % m;
    for (std::ptrdiff_t j = 0; j < shape[1]; ++j) {
      const std::ptrdiff_t gj = ((j - hx) % m + m) % m;
      acc[static_cast<std::size_t>(i * shape[1] + j)] = std::max(grid[gi * m + gj], 0.0);
    }
  }
  return acc;
}
}  // namespace

Shape turbulence_psf_shape(double d_over_r0, double oversampling) {
  require_turbulence(d_over_r0, oversampling);
  const std::ptrdiff_t n = 2 * half_size(2.0 * oversampling * (4.0 + 2.0 * d_over_r0)) + 1;
  return {n, n};
}

std::ptrdiff_t turbulence_grid_size(const Shape& shape) {
  const std::ptrdiff_t largest = *std::max_element(shape.begin(), shape.end());
  return fast_fft_size(std::max<std::ptrdiff_t>(2 * largest, 64), true);
}

template <typename T>
void turbulence_psf(double d_over_r0, double oversampling, bool short_exposure, std::uint64_t seed,
                    const Shape& shape, T* out, int threads) {
  require_turbulence(d_over_r0, oversampling);
  require_psf_shape(shape, 2);
  const std::ptrdiff_t m = turbulence_grid_size(shape);
  const auto mm = static_cast<std::size_t>(m * m);
  std::vector<double> acc;
  if (!short_exposure) {
    // OTF(rho) = T_pupil(u) exp(-3.44 (u D/r0)^(5/3)), u = 2 oversampling rho.
    auto fft = RealFFT<double>::get({m, m}, threads);
    const std::ptrdiff_t mh = m / 2 + 1;
    AlignedBuffer<std::complex<double>> otf(static_cast<std::size_t>(m * mh));
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      const double fy = fft_frequency(i, m);
      for (std::ptrdiff_t j = 0; j < mh; ++j) {
        const double fx = static_cast<double>(j) / static_cast<double>(m);
        const double u = 2.0 * oversampling * std::sqrt(fy * fy + fx * fx);
        double value = 0.0;
        if (u < 1.0) {
          value = (2.0 / kPi) * (std::acos(u) - u * std::sqrt(1.0 - u * u)) *
                  std::exp(-3.44 * std::pow(u * d_over_r0, 5.0 / 3.0));
        }
        otf[static_cast<std::size_t>(i * mh + j)] = value;
      }
    }
    AlignedBuffer<double> grid(mm);
    fft->inverse(otf.data(), grid.data());
    acc = crop_periodic(grid.data(), m, shape);
  } else {
    // Pupil of diameter m / (2 oversampling) samples; phase screen with spectrum
    // 0.023 r0^(-5/3) f^(-11/3) in units of D: f = k df, df = 1 / (2 oversampling).
    std::vector<double> pupil(mm, 0.0);
    add_disk_area(static_cast<double>(m / 2), static_cast<double>(m / 2),
                  static_cast<double>(m) / (4.0 * oversampling), m, m, pupil.data());
    auto fft = ComplexFFT<double>::get({m, m}, threads);
    AlignedBuffer<std::complex<double>> field(mm);
    Rng rng(seed);
    const double df = 1.0 / (2.0 * oversampling);
    const double psd_scale = 0.023 * std::pow(d_over_r0, 5.0 / 3.0);
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      const double fy = fft_frequency(i, m) * static_cast<double>(m) * df;
      for (std::ptrdiff_t j = 0; j < m; ++j) {
        const double fx = fft_frequency(j, m) * static_cast<double>(m) * df;
        const auto [re, im] = rng.normal_pair();
        const double f2 = fy * fy + fx * fx;
        const double amplitude = f2 > 0.0 ? std::sqrt(psd_scale * std::pow(f2, -11.0 / 6.0)) * df : 0.0;
        field[static_cast<std::size_t>(i * m + j)] = std::complex<double>(re, im) * amplitude;
      }
    }
    fft->backward(field.data(), field.data());  // phase = Re(sum_k c_k e^{+2 pi i k x / m})
    std::vector<double> phase(mm);
    for (std::size_t k = 0; k < mm; ++k) phase[k] = field[k].real();
    // Subharmonics (Lane et al. 1992, Johansson & Gavel 1994): the FFT screen lacks
    // scales beyond its grid, which carry most of the tilt and (the Kolmogorov spectrum
    // being so steep) a good part of the structure function at every separation; add
    // kSubharmonicLevels levels of 3 x 3 frequencies at df / 3, df / 9, ... (over the
    // pupil only; elsewhere unused).
    const double dx = 2.0 * oversampling / static_cast<double>(m);  // sample spacing / D
    double divisor = 1.0;
    for (int level = 1; level <= kSubharmonicLevels; ++level) {
      divisor *= 3.0;
      const double dfp = df / divisor;
      for (int a = -1; a <= 1; ++a) {
        for (int b = -1; b <= 1; ++b) {
          const auto [re, im] = rng.normal_pair();
          if (a == 0 && b == 0) continue;
          const double fy = a * dfp, fx = b * dfp;
          const double amplitude = std::sqrt(psd_scale * std::pow(fy * fy + fx * fx, -11.0 / 6.0)) * dfp;
          for (std::ptrdiff_t i = 0; i < m; ++i) {
            const double y = static_cast<double>(i - m / 2) * dx;
            for (std::ptrdiff_t j = 0; j < m; ++j) {
              const auto k = static_cast<std::size_t>(i * m + j);
              if (pupil[k] <= 0.0) continue;
              const double x = static_cast<double>(j - m / 2) * dx;
              const double arg = 2.0 * kPi * (fx * x + fy * y);
              phase[k] += amplitude * (re * std::cos(arg) - im * std::sin(arg));
            }
          }
        }
      }
    }
    for (std::size_t k = 0; k < mm; ++k) field[k] = std::polar(pupil[k], phase[k]);
    fft->forward(field.data(), field.data());
    std::vector<double> intensity(mm);
    for (std::size_t k = 0; k < mm; ++k) intensity[k] = std::norm(field[k]);
    acc = crop_periodic(intensity.data(), m, shape);
  }
  write_normalised(acc, out);
}

// ---- Airy and Moffat --------------------------------------------------------------------
int psf_supersampling(double scale) {
  UNBLUR_REQUIRE(scale > 0.0 && std::isfinite(scale), "scale must be > 0, got " << scale);
  const double s = 2.0 * std::ceil(4.0 / scale) + 1.0;
  return s >= 9.0 ? 9 : static_cast<int>(s);
}

namespace {
/// Fills a 2-D `shape` with the mean of profile(r^2) over s x s points per pixel.
template <typename F>
std::vector<double> radial_supersampled(const Shape& shape, int s, F profile) {
  std::vector<double> acc(static_cast<std::size_t>(shape_size(shape)), 0.0);
  const double cy = static_cast<double>(shape[0] / 2), cx = static_cast<double>(shape[1] / 2);
  const std::ptrdiff_t rows = shape[0], cols = shape[1];
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < rows; ++i) {
    for (std::ptrdiff_t j = 0; j < cols; ++j) {
      double sum = 0.0;
      for (int a = 0; a < s; ++a) {
        const double y = (static_cast<double>(i) - cy) + ((a + 0.5) / s - 0.5);
        for (int b = 0; b < s; ++b) {
          const double x = (static_cast<double>(j) - cx) + ((b + 0.5) / s - 0.5);
          sum += profile(y * y + x * x);
        }
      }
      acc[static_cast<std::size_t>(i * cols + j)] = sum;
    }
  }
  return acc;
}

void require_positive(double v, const char* name) {
  require_finite(v, name);
  UNBLUR_REQUIRE(v > 0.0, name << " must be > 0, got " << v);
}

// 2^(1/beta) - 1 and the like as expm1: pow(2, 1/beta) - 1 cancels to nothing for a large
// beta (at 1e16 the PSF came out flat), where the profile tends to a Gaussian.
double moffat_alpha(double fwhm, double beta) {
  return fwhm / (2.0 * std::sqrt(std::expm1(std::log(2.0) / beta)));
}

void require_moffat(double fwhm, double beta) {
  require_positive(fwhm, "fwhm");
  require_finite(beta, "beta");
  UNBLUR_REQUIRE(beta > 1.0, "beta must be > 1 (finite flux), got " << beta);
  // Beyond this, 2^(1/beta) - 1 is subnormal and loses its digits (the profile is a
  // Gaussian to double precision from about 1e16 on).
  UNBLUR_REQUIRE(beta <= 1e300, "beta must be <= 1e300, got " << beta << " (the profile is Gaussian long before)");
  // Below this alpha^2 underflows and every sample is 0 (the error would blame the size).
  const double alpha = moffat_alpha(fwhm, beta);
  UNBLUR_REQUIRE(alpha * alpha >= std::numeric_limits<double>::min(),
                 "fwhm " << fwhm << " is too small to sample (alpha^2 underflows); a Moffat PSF this narrow is a delta");
}
}  // namespace

Shape airy_psf_shape(double radius) {
  require_positive(radius, "radius");
  const std::ptrdiff_t n = 2 * half_size(4.0 * radius) + 1;
  return {n, n};
}

template <typename T>
void airy_psf(double radius, const Shape& shape, T* out) {
  require_positive(radius, "radius");
  require_psf_shape(shape, 2);
  const double k = kFirstZeroJ1 / radius;
  auto acc = radial_supersampled(shape, psf_supersampling(radius), [k](double r2) {
    const double v = k * std::sqrt(r2);
    if (v < 1e-8) return 1.0;  // 2 J1(v) / v = 1 - v^2 / 8 + ...
    const double a = 2.0 * std::cyl_bessel_j(1.0, v) / v;
    return a * a;
  });
  write_normalised(acc, out);
}

Shape moffat_psf_shape(double fwhm, double beta) {
  require_moffat(fwhm, beta);
  // (1 + (R/alpha)^2)^(1 - beta) is the flux outside R; solve for 1 %.
  const double r99 = moffat_alpha(fwhm, beta) * std::sqrt(std::expm1(std::log(100.0) / (beta - 1.0)));
  const std::ptrdiff_t n = 2 * half_size(std::min(r99, 10.0 * fwhm)) + 1;
  return {n, n};
}

template <typename T>
void moffat_psf(double fwhm, double beta, const Shape& shape, T* out) {
  require_moffat(fwhm, beta);
  require_psf_shape(shape, 2);
  const double inv_a2 = 1.0 / (moffat_alpha(fwhm, beta) * moffat_alpha(fwhm, beta));
  auto acc = radial_supersampled(shape, psf_supersampling(fwhm),
                                 [inv_a2, beta](double r2) { return std::exp(-beta * std::log1p(r2 * inv_a2)); });
  write_normalised(acc, out);
}

// ---- explicit instantiations ---------------------------------------------------------
#define UNBLUR_PSF_INSTANTIATE(T)                                                               \
  template void gaussian_psf<T>(const std::vector<double>&, double, const Shape&, T*);          \
  template void disk_psf<T>(double, const Shape&, T*);                                          \
  template void motion_psf<T>(double, double, const Shape&, T*);                                \
  template void shake_psf<T>(const ShakeTrajectory&, const Shape&, T*);                         \
  template void turbulence_psf<T>(double, double, bool, std::uint64_t, const Shape&, T*, int); \
  template void airy_psf<T>(double, const Shape&, T*);                                          \
  template void moffat_psf<T>(double, double, const Shape&, T*);
UNBLUR_PSF_INSTANTIATE(float)
UNBLUR_PSF_INSTANTIATE(double)
#undef UNBLUR_PSF_INSTANTIATE

}  // namespace unblur
