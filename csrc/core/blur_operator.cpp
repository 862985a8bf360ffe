#include "core/blur_operator.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <omp.h>

#include "core/boundary.hpp"
#include "core/error.hpp"
#include "core/simd.hpp"

namespace unblur {
namespace {

void require_psf(const Shape& psf_shape, const Shape& shape) {
  require_shape(psf_shape, "psf");
  require_shape(shape, "image");
  UNBLUR_REQUIRE(psf_shape.size() == shape.size(), "psf has " << psf_shape.size()
                                                              << " dimensions but the image has " << shape.size());
  for (auto k : psf_shape) UNBLUR_REQUIRE(k % 2 == 1, "psf must have odd sizes, got " << k);
}

// s <- s * h (or s * conj(h)) on [begin, end) of interleaved (re, im) pairs, written
// out: std::complex's operator* checks for infinities/NaNs and does not vectorise.
template <typename T>
UNBLUR_INLINE void multiply_spectrum(T* s, const T* h, bool conjugate, std::ptrdiff_t begin, std::ptrdiff_t end) {
  const T sign = conjugate ? T(-1) : T(1);
#pragma omp simd
  for (std::ptrdiff_t i = begin; i < end; ++i) {
    const T sr = s[2 * i], si = s[2 * i + 1], hr = h[2 * i], hi = sign * h[2 * i + 1];
    s[2 * i] = sr * hr - si * hi;
    s[2 * i + 1] = sr * hi + si * hr;
  }
}

}  // namespace

template <typename T>
BlurOperator<T>::BlurOperator(const T* psf, const Shape& psf_shape, const Shape& observed, const Shape& grid,
                              const Shape& offset, bool periodic, int threads)
    : observed_(observed), grid_(grid), offset_(offset), periodic_(periodic), threads_(resolve_threads(threads)) {
  fft_ = RealFFT<T>::get(grid_, threads_);
  otf_ = AlignedBuffer<std::complex<T>>(static_cast<std::size_t>(fft_->spectrum_size()));
  spectrum_ = AlignedBuffer<std::complex<T>>(static_cast<std::size_t>(fft_->spectrum_size()));
  work_ = AlignedBuffer<T>(static_cast<std::size_t>(fft_->real_size()));
  psf2otf<T>(psf, psf_shape, grid_, otf_.data(), threads_);
  const T scale = T(1) / static_cast<T>(fft_->real_size());
  for (std::size_t i = 0; i < otf_.size(); ++i) otf_[i] *= scale;
}

template <typename T>
BlurOperator<T> BlurOperator<T>::periodic(const T* psf, const Shape& psf_shape, const Shape& shape, int threads) {
  require_psf(psf_shape, shape);
  for (std::size_t i = 0; i < shape.size(); ++i)
    UNBLUR_REQUIRE(psf_shape[i] <= shape[i], "psf is larger than the image along axis " << i);
  return BlurOperator(psf, psf_shape, shape, shape, Shape(shape.size(), 0), true, threads);
}

template <typename T>
BlurOperator<T> BlurOperator<T>::extended(const T* psf, const Shape& psf_shape, const Shape& observed,
                                          int threads) {
  require_psf(psf_shape, observed);
  Shape need(observed.size()), offset(observed.size());
  for (std::size_t i = 0; i < observed.size(); ++i) {
    need[i] = observed[i] + psf_shape[i] - 1;
    offset[i] = psf_shape[i] / 2;
  }
  return BlurOperator(psf, psf_shape, observed, fast_fft_shape(need), offset, false, threads);
}

template <typename T>
void BlurOperator<T>::apply(const T* in, T* out, bool conjugate) {
  fft_->forward(in, spectrum_.data());
  T* s = reinterpret_cast<T*>(spectrum_.data());
  const T* h = reinterpret_cast<const T*>(otf_.data());
  const std::ptrdiff_t n = fft_->spectrum_size();
  const auto multiply = kernel<&multiply_spectrum<T>>();
#pragma omp parallel num_threads(threads_)
  {
    const std::ptrdiff_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    multiply(s, h, conjugate, n * t / nt, n * (t + 1) / nt);
  }
  fft_->inverse(spectrum_.data(), out);
}

template <typename T>
void BlurOperator<T>::forward_grid(const T* x, T* y) {
  apply(x, y, false);
}

template <typename T>
void BlurOperator<T>::adjoint_grid(const T* y, T* x) {
  apply(y, x, true);
}

template <typename T>
void BlurOperator<T>::forward(const T* x, T* y) {
  if (periodic_) {
    apply(x, y, false);
    return;
  }
  apply(x, work_.data(), false);
  crop(work_.data(), y);
}

template <typename T>
void BlurOperator<T>::adjoint(const T* y, T* x) {
  if (periodic_) {
    apply(y, x, true);
    return;
  }
  embed(y, work_.data(), T(0));
  apply(work_.data(), x, true);
}

template <typename T>
void BlurOperator<T>::crop(const T* grid, T* out) const {
  const auto g = pad_to_3d(grid_), n = pad_to_3d(observed_), o = pad_to_3d(offset_, 0);
  const std::ptrdiff_t rows = n[0] * n[1];
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t a = r / n[1], b = r % n[1];
    const T* src = grid + ((a + o[0]) * g[1] + (b + o[1])) * g[2] + o[2];
    std::memcpy(out + r * n[2], src, sizeof(T) * static_cast<std::size_t>(n[2]));
  }
}

template <typename T>
void BlurOperator<T>::embed(const T* observed, T* grid, T fill) const {
  const auto g = pad_to_3d(grid_), n = pad_to_3d(observed_), o = pad_to_3d(offset_, 0);
  const std::ptrdiff_t rows = g[0] * g[1];
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t a = r / g[1] - o[0], b = r % g[1] - o[1];
    T* dst = grid + r * g[2];
    if (a < 0 || a >= n[0] || b < 0 || b >= n[1]) {
      std::fill(dst, dst + g[2], fill);
      continue;
    }
    std::fill(dst, dst + o[2], fill);
    std::memcpy(dst + o[2], observed + (a * n[1] + b) * n[2], sizeof(T) * static_cast<std::size_t>(n[2]));
    std::fill(dst + o[2] + n[2], dst + g[2], fill);
  }
}

// The median of the |Haar details| `d` (reordered), for estimate_noise; `tiny` bounds
// the rounding error of one detail (2 eps x the largest |sample| of the input type).
//
// Quantised data (8-bit samples k / 255, 16-bit, integer counts) put the details on a
// lattice of multiples of one step q (half the sample step), and a plain median moves in
// whole steps of q (8-bit at sigma 0.01: 0.0087 or 0.0116 for 0.0100). There the median
// is that of the grouped data: each multiple v stands for [v - q/2, v + q/2], filled
// evenly, and the median is interpolated within its interval.
// - q: the smallest detail above `tiny`. The data are on the lattice when every detail
//   lies within 0.01 q (plus its rounding, (k + 1) tiny at k q) of a multiple k q.
//   Continuous data fail at once, or pass only with q far below the median, where the
//   interpolation moves the estimate by less than q.
// - Data whose median detail is 0 (a clean image, most details exactly 0) keep the plain
//   median 0: a two-level image would otherwise read as noise of its level step.
static double median_abs_detail(std::vector<double>& d, double tiny) {
  const std::size_t n = d.size();
  double q = std::numeric_limits<double>::infinity();
  for (double v : d)
    if (v > tiny) q = std::min(q, v);
  bool lattice = std::isfinite(q);
  for (std::size_t i = 0; lattice && i < n; ++i) {
    const double k = std::nearbyint(d[i] / q);
    lattice = std::abs(d[i] - k * q) <= 0.01 * q + (k + 1) * tiny;
  }
  auto mid = d.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(d.begin(), mid, d.end());
  const double v = lattice ? std::nearbyint(*mid / q) * q : 0.0;
  if (!(v > 0)) {
    double median = *mid;
    if (n % 2 == 0) median = 0.5 * (median + *std::max_element(d.begin(), mid));
    return median;
  }
  // The detail of rank n / 2 lies in the median's interval: at most n / 2 details lie
  // below the interval, more than n / 2 below its top.
  const double lo = v - 0.5 * q, hi = v + 0.5 * q;
  std::size_t below = 0, inside = 0;
  for (double x : d) {
    if (x < lo) ++below;
    else if (x <= hi) ++inside;
  }
  return lo + (0.5 * static_cast<double>(n) - static_cast<double>(below)) / static_cast<double>(inside) * q;
}

template <typename T>
NoiseGroups noise_groups(const T* image, const Shape& shape, int threads) {
  require_shape(shape, "image");
  const auto d = pad_to_3d(shape);
  // Pairs along the two leading image axes (for 1-D, consecutive samples): each block's
  // |detail| and its level (mean).
  std::vector<double> detail, level;
  double largest = 0;  // the largest |sample| used
  std::ptrdiff_t bad = 0;  // non-finite samples
  if (shape.size() == 1) {
    const std::ptrdiff_t n = shape[0];
    UNBLUR_REQUIRE(n >= 2, "image needs at least 2 samples to estimate noise");
    detail.resize(static_cast<std::size_t>(n / 2));
    level.resize(detail.size());
    for (std::ptrdiff_t i = 0; i + 1 < n; i += 2) {
      const double a = image[i], b = image[i + 1];
      if (!std::isfinite(a) || !std::isfinite(b)) ++bad;
      detail[static_cast<std::size_t>(i / 2)] = std::abs(a - b) / std::sqrt(2.0);
      level[static_cast<std::size_t>(i / 2)] = (a + b) / 2.0;
      largest = std::max({largest, std::abs(a), std::abs(b)});
    }
  } else {
    // The two leading spatial axes are the last two of the 3-D view for 2-D images, and
    // the last two for volumes too (each slice contributes).
    const std::ptrdiff_t planes = d[0], h = d[1], w = d[2];
    UNBLUR_REQUIRE(h >= 2 && w >= 2, "image must be at least 2x2 to estimate noise");
    const std::ptrdiff_t bh = h / 2, bw = w / 2;
    detail.resize(static_cast<std::size_t>(planes * bh * bw));
    level.resize(detail.size());
    const int nt = resolve_threads(threads);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(max : largest) reduction(+ : bad)
    for (std::ptrdiff_t r = 0; r < planes * bh; ++r) {
      const std::ptrdiff_t p = r / bh, i = 2 * (r % bh);
      const T* row0 = image + (p * h + i) * w;
      const T* row1 = row0 + w;
      double* out = detail.data() + r * bw;
      double* lev = level.data() + r * bw;
      for (std::ptrdiff_t j = 0; j < bw; ++j) {
        const double a = row0[2 * j], b = row0[2 * j + 1], c = row1[2 * j], e = row1[2 * j + 1];
        if (!std::isfinite(a) || !std::isfinite(b) || !std::isfinite(c) || !std::isfinite(e)) ++bad;
        out[j] = std::abs(a - b - c + e) / 2.0;
        lev[j] = (a + b + c + e) / 4.0;
        largest = std::max({largest, std::abs(a), std::abs(b), std::abs(c), std::abs(e)});
      }
    }
  }
  UNBLUR_REQUIRE(!detail.empty(), "image is too small to estimate noise");
  UNBLUR_REQUIRE(bad == 0, "image contains NaN or infinity (" << bad << " samples); the noise estimate needs finite data");
  const double tiny = 2.0 * std::numeric_limits<T>::epsilon() * largest;
  const std::size_t n = detail.size();
  // Noise whose level follows the signal's (sRGB decoded to linear light, photon noise)
  // has no single MAD: the median of all details measures the median brightness's noise,
  // and it read 0.48-0.98 of the RMS error on 8-bit sRGB photographs in linear light.
  // The blocks are therefore cut into K groups by level, K = n / 1024 up to 16 (at least
  // about 1,024 details a group), each group's sigma is its MAD, and the estimate is their
  // RMS over the blocks. The groups come from a 4,096-bin histogram of the levels (no
  // sort: a sort made the estimate 19x slower): fine bin b, with C_b blocks in the bins
  // below it, goes to group min(K - 1, C_b K / n), so groups are near-equal runs of
  // levels, and a run of equal levels is never split. White noise gives each group the
  // same sigma (on the benchmark's cases the mean ratio to the truth moved from 1.026 to
  // 1.029); an image under 2,048 blocks keeps one group.
  const std::size_t groups = std::min<std::size_t>(16, std::max<std::size_t>(1, n / 1024));
  NoiseGroups out;
  if (groups == 1) {
    double mean = 0;
    for (double v : level) mean += v / static_cast<double>(n);
    out.sizes = {n};
    out.levels = {mean};
    out.sigmas = {median_abs_detail(detail, tiny) / 0.6744897501960817};  // Phi^-1(3/4): MAD of a unit normal
    return out;
  }
  constexpr std::ptrdiff_t kBins = 4096;
  const auto [lo_it, hi_it] = std::minmax_element(level.begin(), level.end());
  const double lo = *lo_it, hi = *hi_it;
  const double scale = hi > lo ? static_cast<double>(kBins) / (hi - lo) : 0.0;
  std::vector<std::int32_t> bin(n);
  std::vector<std::size_t> count(kBins, 0);
  for (std::size_t i = 0; i < n; ++i) {
    // Clamped before the cast: a level that overflowed to infinity (samples near the
    // double's limit) must not make the cast undefined.
    const double t = std::floor((level[i] - lo) * scale);
    const std::ptrdiff_t b = t >= static_cast<double>(kBins - 1) ? kBins - 1 : (t > 0 ? static_cast<std::ptrdiff_t>(t) : 0);
    bin[i] = static_cast<std::int32_t>(b);
    ++count[static_cast<std::size_t>(b)];
  }
  std::vector<std::size_t> group_of(kBins), size(groups, 0);
  std::size_t below = 0;
  for (std::ptrdiff_t b = 0; b < kBins; ++b) {
    group_of[static_cast<std::size_t>(b)] = std::min(groups - 1, below * groups / n);
    size[group_of[static_cast<std::size_t>(b)]] += count[static_cast<std::size_t>(b)];
    below += count[static_cast<std::size_t>(b)];
  }
  std::vector<std::size_t> start(groups + 1, 0);
  for (std::size_t g = 0; g < groups; ++g) start[g + 1] = start[g] + size[g];
  std::vector<double> sorted(n), level_sum(groups, 0.0);
  std::vector<std::size_t> fill(start.begin(), start.end() - 1);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t g = group_of[static_cast<std::size_t>(bin[i])];
    sorted[fill[g]++] = detail[i];
    level_sum[g] += level[i] / static_cast<double>(size[g]);  // (a mean of levels near 1e308 must not overflow)
  }
  std::vector<double> part;
  for (std::size_t g = 0; g < groups; ++g) {
    if (size[g] == 0) continue;
    part.assign(sorted.begin() + static_cast<std::ptrdiff_t>(start[g]), sorted.begin() + static_cast<std::ptrdiff_t>(start[g + 1]));
    out.sizes.push_back(size[g]);
    out.levels.push_back(level_sum[g]);
    out.sigmas.push_back(median_abs_detail(part, tiny) / 0.6744897501960817);
  }
  return out;
}

template <typename T>
double estimate_noise(const T* image, const Shape& shape, int threads) {
  const NoiseGroups g = noise_groups(image, shape, threads);
  if (g.sizes.size() == 1) return g.sigmas[0];
  double top = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < g.sizes.size(); ++i) {
    top = std::max(top, g.sigmas[i]);
    n += g.sizes[i];
  }
  if (!(top > 0)) return 0.0;
  double sum_sq = 0;  // of (sigma / top)^2: the squares of sigmas near 1e154 and above overflow
  for (std::size_t i = 0; i < g.sizes.size(); ++i) {
    const double r = g.sigmas[i] / top;
    sum_sq += static_cast<double>(g.sizes[i]) * r * r;
  }
  return top * std::sqrt(sum_sq / static_cast<double>(n));
}

template <typename T>
void DeconvModel<T>::extract(const T* estimate, T* out) const {
  const auto g = pad_to_3d(op.grid_shape()), n = pad_to_3d(result_shape), o = pad_to_3d(result_offset, 0);
  const std::ptrdiff_t rows = n[0] * n[1];
#pragma omp parallel for num_threads(op.threads()) schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t a = r / n[1], b = r % n[1];
    const T* src = estimate + ((a + o[0]) * g[1] + (b + o[1])) * g[2] + o[2];
    std::memcpy(out + r * n[2], src, sizeof(T) * static_cast<std::size_t>(n[2]));
  }
}

template <typename T>
void reflect_pad(const T* image, const Shape& shape, T* grid, const Shape& grid_shape, const Shape& offset,
                 int threads) {
  const auto gd = pad_to_3d(grid_shape), nd = pad_to_3d(shape), od = pad_to_3d(offset, 0);
  const std::ptrdiff_t rows = gd[0] * gd[1];
#pragma omp parallel for num_threads(resolve_threads(threads)) schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t a = boundary_index(r / gd[1] - od[0], nd[0], Boundary::Reflect);
    const std::ptrdiff_t b = boundary_index(r % gd[1] - od[1], nd[1], Boundary::Reflect);
    const T* src = image + (a * nd[1] + b) * nd[2];
    T* dst = grid + r * gd[2];
    for (std::ptrdiff_t c = 0; c < gd[2]; ++c) dst[c] = src[boundary_index(c - od[2], nd[2], Boundary::Reflect)];
  }
}

template <typename T>
DeconvModel<T> make_deconv_model(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                                 DeconvBoundary boundary, int threads, bool on_extended_grid) {
  require_psf(psf_shape, shape);
  threads = resolve_threads(threads);
  if (boundary == DeconvBoundary::Reflect) {
    Shape need(shape.size()), offset(shape.size());
    for (std::size_t i = 0; i < shape.size(); ++i) {
      offset[i] = psf_shape[i] / 2;
      need[i] = shape[i] + 2 * offset[i];
    }
    const Shape grid = on_extended_grid ? fast_fft_shape(need) : reflect_grid_shape(shape, psf_shape);
    AlignedBuffer<T> padded(static_cast<std::size_t>(shape_size(grid)));
    reflect_pad(image, shape, padded.data(), grid, offset, threads);
    return DeconvModel<T>{BlurOperator<T>::periodic(psf, psf_shape, grid, threads), std::move(padded), offset, shape};
  }
  AlignedBuffer<T> data(static_cast<std::size_t>(shape_size(shape)));
  std::memcpy(data.data(), image, sizeof(T) * data.size());
  if (boundary == DeconvBoundary::Periodic)
    return DeconvModel<T>{BlurOperator<T>::periodic(psf, psf_shape, shape, threads), std::move(data),
                          Shape(shape.size(), 0), shape};
  BlurOperator<T> op = BlurOperator<T>::extended(psf, psf_shape, shape, threads);
  Shape offset = op.offset();
  return DeconvModel<T>{std::move(op), std::move(data), offset, shape};
}

template class BlurOperator<float>;
template class BlurOperator<double>;
template void reflect_pad<float>(const float*, const Shape&, float*, const Shape&, const Shape&, int);
template void reflect_pad<double>(const double*, const Shape&, double*, const Shape&, const Shape&, int);
template struct DeconvModel<float>;
template struct DeconvModel<double>;
template DeconvModel<float> make_deconv_model<float>(const float*, const Shape&, const float*, const Shape&,
                                                   DeconvBoundary, int, bool);
template DeconvModel<double> make_deconv_model<double>(const double*, const Shape&, const double*, const Shape&,
                                                     DeconvBoundary, int, bool);
template double estimate_noise<float>(const float*, const Shape&, int);
template double estimate_noise<double>(const double*, const Shape&, int);
template NoiseGroups noise_groups<float>(const float*, const Shape&, int);
template NoiseGroups noise_groups<double>(const double*, const Shape&, int);

}  // namespace unblur
