// Blind estimation of a free-form blur kernel ("camera shake") from one blurred image.
//
// Coarse-to-fine MAP estimation with an L0 gradient prior (Xu, Zheng and Jia 2013;
// Pan, Hu, Su and Yang 2014). At each level of an image pyramid (image and kernel
// shrunk by the same factor, about 1/sqrt(2) per level, the coarsest kernel ~5 px):
//   1. the latent image solves min_x ||k * x - y||^2 + lambda ||grad x||_0 by
//      half-quadratic splitting: gradients hard-thresholded at |g|^2 < lambda / beta,
//      then an FFT solve, beta doubled from 2 lambda to 1e5 (on the periodic grid of
//      the observation's periodic component);
//   2. the kernel solves min_{k >= 0} sum |M (d x * k - d y)|^2 + gamma ||k||^2 over the
//      latent's salient gradients (each of four orientation bins keeps >= 20 x size
//      pixels, Cho & Lee 2009), M the pixels a kernel width from the border, by
//      accelerated projected gradient on the (Toeplitz) normal equations;
//   3. the kernel is projected: entries under 5% of the peak and 8-connected
//      fragments under 10% of the mass removed, centroid to the centre, sum 1.
// lambda starts at 4e-3 and falls by 1.1 per kernel update; two closing updates at
// full resolution use lambda = 1e-3 and every gradient; the result is centred to
// sub-pixel accuracy. python/unblur/_xp/blind_kernel.py is the same algorithm written
// with whole-array operations (the test oracle); its docstring gives the references.
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <vector>

namespace unblur {

struct KernelEstimateOptions {
  int iterations = 5;  ///< latent/kernel alternations per pyramid level (>= 1)
  int levels = 0;      ///< pyramid levels; 0: from a ~5 px kernel up, sqrt(2) per level
  int threads = 0;     ///< <= 0: the default thread count
};

/// What estimate_kernel reports after every kernel update.
struct KernelEstimateState {
  int level = 0;               ///< 0-based, coarse to fine
  int levels = 0;
  int iteration = 0;           ///< 0-based within the level
  int kernel_size = 0;         ///< side of this level's kernel
  const double* kernel = nullptr;  ///< kernel_size x kernel_size values
  double lambda = 0;           ///< the L0 weight the next update will use
};
/// Returning false stops the estimation (the current kernel, resized, is returned).
using KernelEstimateCallback = std::function<bool(const KernelEstimateState&)>;

struct KernelEstimate {
  std::vector<double> kernel;     ///< size x size, non-negative, sum 1
  std::vector<int> kernel_sizes;  ///< per level, coarse to fine
  int iterations = 0;             ///< kernel updates made, closing ones included
  double lambda = 0;              ///< the final L0 weight
  /// ||k * x - y|| / ||y - mean y|| of the final latent on the interior; NaN when stopped.
  double residual = std::numeric_limits<double>::quiet_NaN();
  bool blur_found = true;             ///< false for a flat image (a delta is returned)
  bool stopped_by_callback = false;
};

/// Estimates a size x size blur kernel of a rows x cols image (any intensity scale,
/// finite). size: odd, >= 3, at most a third of the smaller side.
KernelEstimate estimate_kernel(const double* image, std::ptrdiff_t rows, std::ptrdiff_t cols, int size,
                               const KernelEstimateOptions& options = {},
                               const KernelEstimateCallback& callback = {});

// ---- the steps, for the reference tests and for callers composing their own loop ----

/// Kernel sides from coarsest to finest (levels <= 0: automatic).
std::vector<int> kernel_level_sizes(int size, int levels);

/// out (out_rows x out_cols) = R in C^T, R and C the anti-aliased linear resampling
/// matrices (pixel edges aligned, reflecting boundary, rows summing to 1).
void resize_image(const double* in, std::ptrdiff_t rows, std::ptrdiff_t cols, double* out, std::ptrdiff_t out_rows,
                  std::ptrdiff_t out_cols);

/// The latent image of step 1 for an observation `data` (rows x cols, used as the
/// periodic grid as it is) and a centred odd kernel.
void latent_l0(const double* data, std::ptrdiff_t rows, std::ptrdiff_t cols, const double* kernel,
               std::ptrdiff_t kernel_size, double lambda, double* out, int threads = 0);

/// Step 2 then 3: the kernel (kernel_size x kernel_size, `kernel` is the start of the
/// projected gradient and receives the result) fitted to `latent` against `data`
/// (both rows x cols); gradients with |g|^2 < threshold are left out (threshold 0: all).
/// Returns false, leaving `kernel` alone, when the latent has no gradients to fit.
bool fit_kernel(const double* data, const double* latent, std::ptrdiff_t rows, std::ptrdiff_t cols, double* kernel,
                std::ptrdiff_t kernel_size, double threshold, int threads = 0);

/// Squared gradient magnitude at which each of four orientation bins of the latent's
/// interior gradients (a kernel_size border left out) keeps at least `count` pixels.
double edge_threshold(const double* latent, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t kernel_size,
                      std::ptrdiff_t count);

/// Step 3 in place on a side x side kernel; false (kernel unchanged) if nothing is positive.
bool project_kernel(double* kernel, std::ptrdiff_t side);

/// Moves the centroid exactly onto the centre pixel (integer, then bilinear shift), sum 1.
void subpixel_centre(double* kernel, std::ptrdiff_t side);

}  // namespace unblur
