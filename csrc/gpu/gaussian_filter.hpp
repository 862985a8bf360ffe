// Separable Gaussian filter, single-source (csrc/gpu/exec.hpp): scipy.ndimage's kernel
// (exp(-x^2 / (2 sigma^2)) on x = -r..r, r = int(truncate sigma + 0.5), normalised) and
// boundary modes, as the CPU engine (csrc/core/gaussian_filter.hpp). One direct 1-D
// correlation per axis in axis order, run by the executor's `filter_axis`:
//  * the taps are computed where they are used (each device block writes them into
//    shared memory: no table to upload), from the same gaussian_tap;
//  * along a leading axis each output is gaussian_output (neighbouring threads read
//    neighbouring addresses for every tap: coalesced as it is);
//  * along the contiguous last axis a row segment plus its 2r halo is staged (shared
//    memory tiles on the device, a line buffer on the host) and each output is
//    correlate_window of it.
#pragma once

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "gpu/exec.hpp"

namespace unblur::gpu {

/// One axis of the filter: radius, exp's factor -1 / (2 sigma^2), 1 / sum of the taps.
struct GaussianAxis {
  Index radius = 0;
  double factor = 0, inv_sum = 1;
};

inline GaussianAxis gaussian_axis(double sigma, double truncate) {
  UNBLUR_REQUIRE(std::isfinite(sigma) && sigma >= 0, "sigma must be finite and >= 0, got " << sigma);
  UNBLUR_REQUIRE(std::isfinite(truncate) && truncate > 0, "truncate must be finite and > 0, got " << truncate);
  const double r = truncate * sigma + 0.5;
  UNBLUR_REQUIRE(r < static_cast<double>(Index(1) << 28),
                 "the kernel radius truncate * sigma = " << truncate * sigma << " is too large");
  GaussianAxis a;
  a.radius = static_cast<Index>(r);
  if (a.radius == 0) return a;
  a.factor = -0.5 / (sigma * sigma);
  double sum = 0;
  for (Index k = -a.radius; k <= a.radius; ++k) sum += std::exp(a.factor * double(k * k));
  a.inv_sum = 1.0 / sum;
  return a;
}

/// Tap k (-r..r), in T: the CPU engine's weight (computed in double, then rounded).
template <typename T>
UNBLUR_HD inline T gaussian_tap(const GaussianAxis& a, Index k) {
  return static_cast<T>(exp(a.factor * double(k * k)) * a.inv_sum);
}

/// Output t of the correlation of `in` (3-D view d) along `axis` with the 2r + 1 taps
/// (gaussian_tap of k = -r..r), the boundary rule outside.
template <typename T>
UNBLUR_HD inline T gaussian_output(const T* in, const Dims& d, int axis, const T* taps, Index r, Boundary mode,
                                   T cval, Index t) {
  const Index3 p = unravel(t, d);
  const Index at[3] = {p.i0, p.i1, p.i2};
  const Index stride = axis == 0 ? d.n[1] * d.n[2] : axis == 1 ? d.n[2] : 1;
  const Index base = t - at[axis] * stride, n = d.n[axis];
  T acc = 0;
  for (Index k = -r; k <= r; ++k) {
    const Index j = boundary_index(at[axis] + k, n, mode);
    acc += taps[k + r] * (j < 0 ? cval : in[base + j * stride]);
  }
  return acc;
}

/// Sample q (any integer) of row `row` of `in` under the boundary rule.
template <typename T>
UNBLUR_HD inline T row_sample(const T* in, Index row, Index n, Index q, Boundary mode, T cval) {
  const Index j = boundary_index(q, n, mode);
  return j < 0 ? cval : in[row * n + j];
}

/// sum_k taps[k] line[k], k = 0..2r: one output of the row pass from its extended window.
template <typename T>
UNBLUR_HD inline T correlate_window(const T* taps, Index r, const T* line) {
  T acc = 0;
  for (Index k = 0; k <= 2 * r; ++k) acc += taps[k] * line[k];
  return acc;
}

/// out = in filtered along each axis a with sigma[a] (0: untouched); in and out are
/// separate arrays of shape `shape` (1 to 3 axes); `work` is a third of the same size,
/// used when more than one axis is filtered.
template <typename Exec, typename T>
void gaussian_filter(const Exec& ex, const T* in, T* out, T* work, const Shape& shape,
                     const std::vector<double>& sigma, Boundary mode, double cval, double truncate) {
  UNBLUR_REQUIRE(!shape.empty() && shape.size() <= 3, "image must have 1 to 3 axes, got " << shape.size());
  for (const auto s : shape) UNBLUR_REQUIRE(s >= 1, "image has an empty axis");
  UNBLUR_REQUIRE(sigma.size() == shape.size(),
                 "sigma must have one value per axis (" << shape.size() << "), got " << sigma.size());
  UNBLUR_REQUIRE(std::isfinite(cval), "cval must be finite");
  const Dims d = dims_of(shape);
  const int first = 3 - static_cast<int>(shape.size());
  std::vector<int> axes;
  std::vector<GaussianAxis> filters;
  for (std::size_t a = 0; a < shape.size(); ++a) {
    const GaussianAxis g = gaussian_axis(sigma[a], truncate);
    if (g.radius == 0) continue;
    axes.push_back(first + static_cast<int>(a));
    filters.push_back(g);
  }
  const Index n = d.size();
  if (axes.empty()) {
    ex.copy(out, in, n);
    return;
  }
  // Ping-pong so that the last pass writes `out`.
  const T* src = in;
  T* bufs[2] = {out, work};
  int next = axes.size() % 2 == 1 ? 0 : 1;
  const T c = static_cast<T>(cval);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    T* dst = bufs[next];
    const int axis = axes[i];
    const GaussianAxis g = filters[i];
    ex.filter_axis(src, dst, d, axis, g, mode, c);
    src = dst;
    next ^= 1;
  }
}

}  // namespace unblur::gpu
