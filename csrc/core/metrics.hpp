// Image-quality metrics: mean squared error, PSNR and the Gaussian-window SSIM of
// Wang et al. (2004). All sums run in double, whatever the input precision.
#pragma once

#include <cstddef>

#include "core/array.hpp"

namespace unblur {

/// mean((reference - image)^2) over n samples, accumulated in double.
template <typename T>
double mean_squared_error(const T* reference, const T* image, std::ptrdiff_t n, int threads = 0);

/// Peak signal-to-noise ratio in dB: 10 log10(data_range^2 / MSE); +inf when the two
/// arrays are identical. data_range > 0 is the span of the values (1 for images in
/// [0, 1]). Throws ValueError for n < 1 or a data_range that is not finite and > 0.
template <typename T>
double psnr(const T* reference, const T* image, std::ptrdiff_t n, double data_range, int threads = 0);

/// Parameters of the structural similarity index.
struct SsimOptions {
  double data_range = 1.0;  ///< span of the values; C1 = (k1 R)^2, C2 = (k2 R)^2
  double sigma = 1.5;       ///< standard deviation of the Gaussian window, pixels
  double truncate = 3.5;    ///< window radius r = int(truncate * sigma + 0.5)
  double k1 = 0.01;
  double k2 = 0.03;
};

/// Side length 2r + 1 of the SSIM window for `options`.
std::ptrdiff_t ssim_window(const SsimOptions& options);

/// Mean structural similarity of `image` to `reference` (same shape, 1 to 3 axes).
///
/// The local means, variances and covariance are Gaussian-weighted ('reflect'
/// boundaries, population statistics); the SSIM map
///   S = (2 mx my + C1)(2 sxy + C2) / ((mx^2 + my^2 + C1)(sx^2 + sy^2 + C2))
/// is computed in double and averaged over the samples at least r = (window - 1) / 2
/// from every edge. When `ssim_map` is not null it receives the whole, uncropped map.
/// Throws ValueError when an axis is shorter than the window or an option is invalid.
template <typename T>
double ssim(const T* reference, const T* image, const Shape& shape, const SsimOptions& options,
            T* ssim_map = nullptr, int threads = 0);

}  // namespace unblur
