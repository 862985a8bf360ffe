// Quadratic (linear) deconvolution: the Wiener filter and Tikhonov regularisation.
//
// Both minimise a quadratic  ||M (h * x) - g||^2 + x^T C x  whose penalty C is
// diagonal in Fourier space with spectrum c(f) >= 0 on the model's grid:
//
//  * Wiener:   c(f) = NSR(f), the noise-to-signal power ratio (a scalar, a spectrum, or
//              sigma^2 / S(f) with a power-law image spectrum S fitted to the data).
//  * Tikhonov: c(f) = lam |R(f)|^2 with R the identity, the periodic forward-difference
//              gradient (|R|^2 = sum_d 2 - 2 cos w_d) or the 5-/7-point Laplacian
//              (|R|^2 = (sum_d 2 - 2 cos w_d)^2, scikit-image's default regulariser).
//
// On the 'periodic' and 'reflect' models (M = identity) the minimiser is the closed
// form X = conj(H) G / (|H|^2 + c). On the 'auto' model (the observation is the valid
// part of the blur of a larger scene) the normal equations (A^T A + C) x = A^T g,
// A = M h*, are solved by conjugate gradients in Fourier space, preconditioned by the
// periodic inverse (|H|^2 + c)^-1 and started from the closed form on the observation
// reflect-padded over the extended model's grid. Automatic parameters (lam by GCV or
// the discrepancy principle, the Wiener spectrum fit) are computed on the model's own
// grid ('periodic', 'reflect'), or for 'auto' on that reflect-padded data.
#pragma once

#include <algorithm>
#include <cmath>

#include <complex>
#include <vector>

#include "core/array.hpp"
#include "core/blur_operator.hpp"
#include "core/iteration.hpp"

namespace unblur {

/// The operator R of Tikhonov's penalty lam ||R x||^2.
enum class Regularizer { Identity = 0, Gradient = 1, Laplacian = 2 };

/// How Tikhonov's lam is chosen.
enum class LambdaMethod {
  Fixed = 0,        ///< the caller's value
  GCV = 1,          ///< generalised cross-validation (Golub, Heath & Wahba 1979)
  Discrepancy = 2,  ///< ||residual||^2 = (grid size) sigma^2 (Morozov)
};

/// How the Wiener filter's noise-to-signal ratio is given.
enum class NsrMode {
  Scalar = 0,    ///< WienerOptions::nsr, the same at every frequency
  Spectrum = 1,  ///< WienerOptions::nsr_spectrum on the grid's half spectrum
  Auto = 2,      ///< sigma^2 / S(f), S(f) = A / (|f|^2 + f0^2)^(alpha / 2) fitted to the data
};

/// Options of the iterative ('auto' boundary) solver.
struct SolverOptions {
  double tolerance = 0;      ///< relative residual ||b - N x|| / ||b||; 0: 1e-5
  int max_iterations = 500;  ///< cap on conjugate-gradient iterations
};

template <typename T>
struct WienerOptions {
  NsrMode mode = NsrMode::Auto;
  double nsr = 0;                   ///< Scalar mode, >= 0
  const T* nsr_spectrum = nullptr;  ///< Spectrum mode: spectrum_shape(grid) values, >= 0
  double noise_sigma = -1;          ///< Auto mode: the noise sigma (< 0: estimate_noise of the image)
  SolverOptions solver;
};

struct TikhonovOptions {
  Regularizer regularizer = Regularizer::Laplacian;
  LambdaMethod method = LambdaMethod::GCV;
  double lam = 0;  ///< Fixed method, >= 0
  double noise_sigma = -1;  ///< Discrepancy method: the noise sigma (< 0: estimate_noise of the image)
  SolverOptions solver;
};

/// What a quadratic deconvolution did.
struct QuadraticInfo {
  double noise_sigma = -1;  ///< the noise estimate used (-1: none was needed)
  double lam = 0;           ///< Tikhonov weight used (Wiener scalar mode: the nsr)
  double psd_amplitude = 0, psd_alpha = 0, psd_f0 = 0;  ///< Wiener Auto: the fitted S(f)
  int iterations = 0;          ///< conjugate-gradient iterations (0 for closed forms)
  double relative_residual = 0;  ///< final relative residual of the iterative solver
  std::vector<int> grid_shape;   ///< the model's grid
};

/// Wiener deconvolution of `image` (shape) by a normalised, odd-sized `psf`; `out` has
/// the image's shape. `callback` (may be empty) is called after each CG iteration.
template <typename T>
QuadraticInfo wiener(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                     DeconvBoundary boundary, const WienerOptions<T>& options, T* out,
                     const IterationCallback& callback = {}, int threads = 0);

/// Tikhonov-regularised least squares (constrained least squares, Hunt 1973).
template <typename T>
QuadraticInfo tikhonov(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                       DeconvBoundary boundary, const TikhonovOptions& options, T* out,
                       const IterationCallback& callback = {}, int threads = 0);

/// The data step of plug-and-play (half-quadratic splitting): on the model's grid,
///   x = argmin_x  1/2 ||M (h * x) - g||^2 + alpha / 2 ||x - z||^2,
/// i.e. (A^T A + alpha I) x = A^T g + alpha z. `z` and `x` hold quadratic_grid_shape()
/// values (the image's shape for Periodic; for Reflect and Auto the grid with the image
/// at offset K / 2). Periodic and Reflect (g there is the reflect-extended observation
/// on the whole grid) are closed forms and `x` is output only; Auto runs the
/// preconditioned CG of the 'auto' boundary starting from `x` (a warm start), so `x`
/// must hold a guess on entry (z is a good one).
template <typename T>
QuadraticInfo data_prox(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                        DeconvBoundary boundary, double alpha, const T* z, T* x, const SolverOptions& solver,
                        int threads = 0);

/// The root mean square of the edge taper the automatic parameters see the data through
/// (a raised cosine over min(n / 4, 2 K) samples at each end of every axis, toward the
/// data's mean): the noise in the tapered data has this fraction of the noise sigma, so
/// the discrepancy principle's target is scaled by its square. The window is separable,
/// so the mean of its square is the product of the axes' means.
inline double taper_rms(const Shape& grid, const Shape& psf_shape) {
  double mean_square = 1.0;
  for (std::size_t a = 0; a < grid.size(); ++a) {
    const std::ptrdiff_t n = grid[a], band = std::min<std::ptrdiff_t>(n / 4, 2 * psf_shape[a]);
    double sum = static_cast<double>(n - 2 * band);
    for (std::ptrdiff_t i = 0; i < band; ++i) {
      const double v = 0.5 - 0.5 * std::cos(3.14159265358979323846 * (static_cast<double>(i) + 0.5) /
                                            static_cast<double>(band));
      sum += 2.0 * v * v;
    }
    mean_square *= sum / static_cast<double>(n);
  }
  return std::sqrt(mean_square);
}

/// The grid that a deconvolution model of `shape` with a PSF of `psf_shape` uses:
/// the image's shape for Periodic, reflect_grid_shape (2 N where the PSF blurs) for
/// Reflect, fast_fft_shape(shape + psf_shape - 1) for Auto.
Shape quadratic_grid_shape(const Shape& shape, const Shape& psf_shape, DeconvBoundary boundary);

}  // namespace unblur
