// Separable Gaussian filtering of 1-D, 2-D and 3-D arrays, with scipy.ndimage's
// boundary modes and kernel (weights exp(-x^2 / (2 sigma^2)) on x = -r..r, normalised
// to sum 1, r = int(truncate * sigma + 0.5)).
//
// Each axis is one 1-D correlation. Small radii run directly: the passes along the
// leading axes combine whole contiguous rows (vectorised, the symmetric kernel folded
// as w[k] * (a + b)); the pass along the last axis runs on a padded copy of each row.
// Large radii run as an FFT convolution of each boundary-extended line, which gives
// the same result to rounding in fewer operations; a cost model picks the route per
// axis (see choose_gaussian_method).
#pragma once

#include <cstddef>
#include <vector>

#include "core/array.hpp"
#include "core/boundary.hpp"

namespace unblur {

/// Radius of the Gaussian kernel: int(truncate * sigma + 0.5). Throws ValueError for a
/// negative or non-finite sigma, a truncate <= 0 or a radius beyond 2^28.
std::ptrdiff_t gaussian_radius(double sigma, double truncate);

/// The 2r + 1 weights of the 1-D Gaussian kernel (r = gaussian_radius), summing to 1;
/// {1} when sigma == 0.
std::vector<double> gaussian_kernel1d(double sigma, double truncate);

/// Route of one axis: direct correlation, FFT convolution, or Auto (the cost model).
enum class GaussianMethod { Auto = 0, Direct = 1, FFT = 2 };

/// The route Auto takes for an axis of length n, kernel radius r, precision of
/// `bytes` per sample (4 or 8). Direct costs about r + 1 multiply-adds per sample;
/// the FFT route about c * log2(L) per sample on L = n + 2r; measured on an SSE2
/// build the FFT wins from r ~ 45 (float32) and r ~ 25 (float64) for n in 256..4096.
GaussianMethod choose_gaussian_method(std::ptrdiff_t n, std::ptrdiff_t r, int bytes);

/// out = in filtered by a Gaussian of standard deviation sigma[a] along each axis a
/// (sigma.size() == shape.size(); sigma[a] == 0 leaves axis a unfiltered).
///
/// `in` and `out` hold shape_size(shape) elements, row-major, and must not overlap.
/// `cval` is the value outside the array in Constant mode. `threads` <= 0 uses the
/// default. Throws ValueError for a bad shape, sigma or truncate.
template <typename T>
void gaussian_filter(const T* in, T* out, const Shape& shape, const std::vector<double>& sigma,
                     Boundary mode = Boundary::Reflect, double cval = 0.0,
                     double truncate = 4.0, int threads = 0,
                     GaussianMethod method = GaussianMethod::Auto);

}  // namespace unblur
