// Total-variation deconvolution by ADMM on the blur model of blur_operator.hpp.
//
// Solves   min_x  1/2 || M (h * x) - g ||^2 + weight * TV(x) + i_C(x)
//
// on the model's periodic grid, where M is the observation window ('auto') or the
// identity ('periodic', 'reflect'), TV is the isotropic total variation with forward
// differences (periodic on the grid) and, for several channels, the vectorial TV
// sum_pixels sqrt(sum_channels sum_axes (D_a x_c)^2) that couples the channels (Blomgren
// & Chan 1998), and i_C the indicator of x >= 0 or of a box [lower, upper] (optional).
//
// ADMM (Boyd et al. 2011) with the splittings u = h * x, v = D x, w = x (Almeida &
// Figueiredo 2013 for the masked data term). Every sub-problem is exact:
//   x: (rho_u |H|^2 + rho_v |D|^2 + rho_w) x^ = rho_u H^* (u - a)^ + (rho_v D^T (v - b) + rho_w (w - c))^
//      one diagonal solve in Fourier space (denominator computed once);
//   u: (M g + rho_u (h * x + a)) / (M + rho_u), pointwise (exact for the mask);
//   v: vectorial soft threshold of D x + b at weight / rho_v;
//   w: projection of x + c on the constraint set.
// One iteration costs 4 real FFTs per channel: the transforms of the two right-hand
// pieces, and the inverse transforms of x^ and H x^ (h * x comes from x^ for free).
// The elementwise steps run in two fused OpenMP passes over the grid.
#pragma once

#include <string>

#include "core/array.hpp"
#include "core/blur_operator.hpp"
#include "core/iteration.hpp"

namespace unblur {

struct TVOptions {
  double weight = 0;            ///< TV weight (>= 0)
  int max_iterations = 300;     ///< iterations to run at most (>= 1)
  double tolerance = 0;         ///< stop when ||x_k - x_{k-1}|| / ||x_{k-1}|| < tolerance (0: never)
  bool positivity = false;      ///< constrain x >= 0 (ignored when has_bounds)
  bool has_bounds = false;      ///< constrain lower <= x <= upper
  double lower = 0, upper = 1;  ///< the box (lower < upper)
  double rho_data = 0;          ///< ADMM penalty of u = h * x (> 0)
  double rho_tv = 0;            ///< ADMM penalty of v = D x (> 0)
  double rho_constraint = 0;    ///< ADMM penalty of w = x (> 0; unused without a constraint)
  int threads = 0;              ///< <= 0: the default thread count
};

struct TVInfo {
  int iterations = 0;       ///< iterations run
  std::string stopped_by;   ///< "tolerance", "iterations" or "callback"
  double relative_change = 0;  ///< of the last iteration
};

/// Restores `image` (channels x shape, channel-major, C-contiguous; channels >= 1) blurred
/// by the normalised, odd-sized `psf` (psf_shape, same dimensionality as shape). Writes
/// the restored image (channels x shape) to `out`. With channels > 1 the TV is vectorial.
/// `callback` (may be empty) is called after each iteration with the relative change and
/// the objective (data term on the window + weight * TV, without the constraint).
template <typename T>
TVInfo tv_deconvolve(const T* image, const Shape& shape, std::ptrdiff_t channels, const T* psf,
                     const Shape& psf_shape, DeconvBoundary boundary, const TVOptions& options, T* out,
                     const IterationCallback& callback = {});

/// Real FFTs per channel and iteration that tv_deconvolve runs (forward, inverse).
constexpr int kTVForwardFFTs = 2;
constexpr int kTVInverseFFTs = 2;

}  // namespace unblur
