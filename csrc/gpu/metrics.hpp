// Metrics, single-source (csrc/gpu/exec.hpp): MSE / PSNR (a double reduction) and SSIM
// (Wang et al. 2004) as the CPU engine computes them (csrc/core/metrics.hpp): the five
// Gaussian-weighted moments in double with 'reflect' boundaries, the map, and its mean
// over the samples at least r from every edge. The executor is a double one (the
// moments are double whatever T is).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/metrics.hpp"  // SsimOptions
#include "gpu/gaussian_filter.hpp"

namespace unblur::gpu {

template <typename ExecD, typename T>
double mean_squared_error(const ExecD& ex, const T* reference, const T* image, Index n) {
  UNBLUR_REQUIRE(n >= 1, "mean_squared_error needs at least one sample, got " << n);
  const double sum = ex.template sums<1>(n, [=] UNBLUR_HD(Index i) {
    Sums<1> s;
    const double d = double(reference[i]) - double(image[i]);
    s.v[0] = d * d;
    return s;
  })[0];
  return sum / double(n);
}

template <typename ExecD, typename T>
double psnr(const ExecD& ex, const T* reference, const T* image, Index n, double data_range) {
  UNBLUR_REQUIRE(std::isfinite(data_range) && data_range > 0, "data_range must be finite and > 0, got " << data_range);
  const double mse = mean_squared_error(ex, reference, image, n);
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(data_range * data_range / mse);
}

/// Mean SSIM; the map (shape, T) is written to ssim_map unless it is nullptr.
template <typename ExecD, typename T>
double ssim(const ExecD& ex, const T* reference, const T* image, const Shape& shape, const SsimOptions& o,
            T* ssim_map) {
  UNBLUR_REQUIRE(!shape.empty() && shape.size() <= 3, "image must have 1 to 3 axes, got " << shape.size());
  UNBLUR_REQUIRE(std::isfinite(o.data_range) && o.data_range > 0,
                 "data_range must be finite and > 0, got " << o.data_range);
  UNBLUR_REQUIRE(std::isfinite(o.sigma) && o.sigma > 0, "sigma must be finite and > 0, got " << o.sigma);
  UNBLUR_REQUIRE(std::isfinite(o.k1) && o.k1 >= 0 && std::isfinite(o.k2) && o.k2 >= 0,
                 "K1 and K2 must be finite and >= 0, got " << o.k1 << " and " << o.k2);
  const Index pad = gaussian_axis(o.sigma, o.truncate).radius, win = 2 * pad + 1;
  for (auto s : shape)
    UNBLUR_REQUIRE(s >= win, "every axis must be at least as long as the SSIM window ("
                                 << win << " samples for sigma " << o.sigma << ", truncate " << o.truncate
                                 << "), got an axis of " << s);
  const Index n = size_of(shape);
  const std::size_t un = static_cast<std::size_t>(n);
  using Buf = typename ExecD::template Buffer<double>;
  Buf product(ex, un), work(ex, un), mx(ex, un), my(ex, un), mxx(ex, un), myy(ex, un), mxy(ex, un);
  const std::vector<double> sigma(shape.size(), o.sigma);
  double* pr = product.data();
  // The five moments E[x], E[y], E[x^2], E[y^2], E[xy] (which = 0..4).
  double* moments[5] = {mx.data(), my.data(), mxx.data(), myy.data(), mxy.data()};
  for (int which = 0; which < 5; ++which) {
    ex.for_each(n, [=] UNBLUR_HD(Index i) {
      const double x = double(reference[i]), y = double(image[i]);
      pr[i] = which == 0 ? x : which == 1 ? y : which == 2 ? x * x : which == 3 ? y * y : x * y;
    });
    gaussian_filter(ex, static_cast<const double*>(pr), moments[which], work.data(), shape, sigma, Boundary::Reflect,
                    0.0, o.truncate);
  }
  const double c1 = (o.k1 * o.data_range) * (o.k1 * o.data_range);
  const double c2 = (o.k2 * o.data_range) * (o.k2 * o.data_range);
  const double *ux_p = mx.data(), *uy_p = my.data(), *xx_p = mxx.data(), *yy_p = myy.data(), *xy_p = mxy.data();
  const Dims d = dims_of(shape);
  // Samples at least `pad` from every edge of the image's own axes.
  Dims lo;
  for (int a = 0; a < 3; ++a) lo.n[a] = a + static_cast<int>(shape.size()) < 3 ? 0 : pad;
  Index count = 1;
  for (int a = 0; a < 3; ++a) count *= d.n[a] - 2 * lo.n[a];
  const double sum = ex.template sums<1>(n, [=] UNBLUR_HD(Index i) {
    Sums<1> s;
    const double ux = ux_p[i], uy = uy_p[i];
    const double vx = xx_p[i] - ux * ux, vy = yy_p[i] - uy * uy, vxy = xy_p[i] - ux * uy;
    const double v = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
    if (ssim_map) ssim_map[i] = static_cast<T>(v);
    const Index3 p = unravel(i, d);
    const bool inside = p.i0 >= lo.n[0] && p.i0 < d.n[0] - lo.n[0] && p.i1 >= lo.n[1] && p.i1 < d.n[1] - lo.n[1] &&
                        p.i2 >= lo.n[2] && p.i2 < d.n[2] - lo.n[2];
    s.v[0] = inside ? v : 0.0;
    return s;
  })[0];
  return sum / double(count);
}

}  // namespace unblur::gpu
