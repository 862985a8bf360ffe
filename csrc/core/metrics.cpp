#include "core/metrics.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/gaussian_filter.hpp"
#include "core/parallel.hpp"

namespace unblur {

template <typename T>
double mean_squared_error(const T* reference, const T* image, std::ptrdiff_t n, int threads) {
  UNBLUR_REQUIRE(n >= 1, "mean_squared_error needs at least one sample, got " << n);
  UNBLUR_REQUIRE(reference != nullptr && image != nullptr, "reference and image must not be null");
  const int nthreads = resolve_threads(threads);
  const double sum = ordered_sums<1>(n, nthreads, [&](std::ptrdiff_t i, std::array<double, 1>& acc) {
    const double d = static_cast<double>(reference[i]) - static_cast<double>(image[i]);
    acc[0] += d * d;
  })[0];
  return sum / static_cast<double>(n);
}

template <typename T>
double psnr(const T* reference, const T* image, std::ptrdiff_t n, double data_range, int threads) {
  UNBLUR_REQUIRE(std::isfinite(data_range) && data_range > 0,
                 "data_range must be finite and > 0, got " << data_range);
  const double mse = mean_squared_error(reference, image, n, threads);
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(data_range * data_range / mse);
}

std::ptrdiff_t ssim_window(const SsimOptions& o) { return 2 * gaussian_radius(o.sigma, o.truncate) + 1; }

template <typename T>
double ssim(const T* reference, const T* image, const Shape& shape, const SsimOptions& o, T* ssim_map,
            int threads) {
  require_shape(shape, "image");
  UNBLUR_REQUIRE(reference != nullptr && image != nullptr, "reference and image must not be null");
  UNBLUR_REQUIRE(std::isfinite(o.data_range) && o.data_range > 0,
                 "data_range must be finite and > 0, got " << o.data_range);
  UNBLUR_REQUIRE(std::isfinite(o.sigma) && o.sigma > 0, "sigma must be finite and > 0, got " << o.sigma);
  UNBLUR_REQUIRE(std::isfinite(o.k1) && o.k1 >= 0 && std::isfinite(o.k2) && o.k2 >= 0,
                 "K1 and K2 must be finite and >= 0, got " << o.k1 << " and " << o.k2);
  const std::ptrdiff_t win = ssim_window(o);
  for (auto s : shape)
    UNBLUR_REQUIRE(s >= win, "every axis must be at least as long as the SSIM window ("
                                 << win << " samples for sigma " << o.sigma << ", truncate " << o.truncate
                                 << "), got an axis of " << s);
  const int nthreads = resolve_threads(threads);
  const std::ptrdiff_t n = shape_size(shape);
  const std::size_t un = static_cast<std::size_t>(n);
  const std::vector<double> sigma(shape.size(), o.sigma);

  // The five Gaussian-weighted moments, in double: E[x], E[y], E[x^2], E[y^2], E[xy].
  AlignedBuffer<double> product(un), mx(un), my(un), mxx(un), myy(un), mxy(un);
  auto moment = [&](auto value, AlignedBuffer<double>& dst) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i)
      product[i] = value(static_cast<double>(reference[i]), static_cast<double>(image[i]));
    gaussian_filter<double>(product.data(), dst.data(), shape, sigma, Boundary::Reflect, 0.0, o.truncate,
                            nthreads);
  };
  moment([](double x, double) { return x; }, mx);
  moment([](double, double y) { return y; }, my);
  moment([](double x, double) { return x * x; }, mxx);
  moment([](double, double y) { return y * y; }, myy);
  moment([](double x, double y) { return x * y; }, mxy);

  const double c1 = (o.k1 * o.data_range) * (o.k1 * o.data_range);
  const double c2 = (o.k2 * o.data_range) * (o.k2 * o.data_range);
  double* map = product.data();  // reused for the SSIM map
#pragma omp parallel for num_threads(nthreads) schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const double ux = mx[i], uy = my[i];
    const double vx = mxx[i] - ux * ux, vy = myy[i] - uy * uy, vxy = mxy[i] - ux * uy;
    map[i] = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  }
  if (ssim_map != nullptr) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (std::ptrdiff_t i = 0; i < n; ++i) ssim_map[i] = static_cast<T>(map[i]);
  }

  // Mean over the samples at least `pad` from every edge, row by row of the last axis.
  const std::ptrdiff_t pad = (win - 1) / 2;
  Shape s3(3 - shape.size(), 1);
  s3.insert(s3.end(), shape.begin(), shape.end());
  const std::ptrdiff_t nz = s3[0], ny = s3[1], nx = s3[2];
  auto lo = [&](std::size_t axis) { return axis + shape.size() < 3 ? 0 : pad; };
  const std::ptrdiff_t z0 = lo(0), z1 = nz - z0, y0 = lo(1), y1 = ny - y0, x0 = pad, x1 = nx - pad;
  const std::ptrdiff_t rows = (z1 - z0) * (y1 - y0);
  const double sum = ordered_row_sums<1>(rows, nthreads, [&](std::ptrdiff_t t, std::array<double, 1>& total) {
    const std::ptrdiff_t z = z0 + t / (y1 - y0), y = y0 + t % (y1 - y0);
    const double* row = map + (z * ny + y) * nx;
    double acc = 0;
    for (std::ptrdiff_t x = x0; x < x1; ++x) acc += row[x];
    total[0] += acc;
  })[0];
  return sum / static_cast<double>(rows * (x1 - x0));
}

template double mean_squared_error<float>(const float*, const float*, std::ptrdiff_t, int);
template double mean_squared_error<double>(const double*, const double*, std::ptrdiff_t, int);
template double psnr<float>(const float*, const float*, std::ptrdiff_t, double, int);
template double psnr<double>(const double*, const double*, std::ptrdiff_t, double, int);
template double ssim<float>(const float*, const float*, const Shape&, const SsimOptions&, float*, int);
template double ssim<double>(const double*, const double*, const Shape&, const SsimOptions&, double*, int);

}  // namespace unblur
