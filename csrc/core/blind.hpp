// Blind blur identification: parametric PSFs (Gaussian, defocus, linear motion) found
// from the blurred image alone.
//
// The observation's spectrum is modelled as
//     E |G(w)|^2 / n = a |H_theta(w)|^2 / |D(w)|^beta + sigma^2,
// a power-law image spectrum (|D|^2 = 4 sin^2(pi q / S) + 4 sin^2(pi r / S), the
// forward-difference symbol), the candidate blur H_theta and white noise of the level
// estimate_noise finds. The periodogram of the observation's periodic component
// (Moisan's periodic-plus-smooth split: the frame's edges would otherwise add a bright
// cross to the spectrum) is averaged onto an S x S frequency grid and, away from the
// frequency axes (where axis-aligned scene structure gathers), scored with the
// Whittle likelihood, sum_b c_b (log v_b + I_b / v_b). For each candidate blur, a and
// beta are fitted by Fisher scoring; the blur parameters are searched on a grid and
// refined by golden sections. The same maths runs in python/unblur/_xp/blind.py.
#pragma once

#include <cstddef>
#include <vector>

#include "core/array.hpp"
#include "core/fft.hpp"

namespace unblur {

/// The parametric blur families.
enum class BlurFamily { Gaussian = 0, Defocus = 1, Motion = 2 };

/// out = the periodic component of a rows x cols image (Moisan 2011): the image minus
/// the smooth field whose Laplacian carries the jumps across the frame's opposite
/// edges. In-place (out == image) is allowed.
/// `effort`: the FFT planner effort (default: the global setting).
void periodic_component(const double* image, std::ptrdiff_t rows, std::ptrdiff_t cols, double* out,
                        int threads = 0, PlannerEffort effort = get_planner_effort());

/// The side S of the frequency grid for kernels up to max_size pixels: 128, doubled
/// until S >= 2 max_size + 2.
std::ptrdiff_t spectral_grid_size(std::ptrdiff_t max_size);

/// The binned periodogram of one image and the Whittle likelihood of candidate blurs.
class SpectralModel {
 public:
  /// image: rows x cols (both >= 8), finite. sigma: the noise level (>= 0).
  SpectralModel(const double* image, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t grid, double sigma,
                int threads = 0);

  std::ptrdiff_t grid() const { return grid_; }
  /// Number of kept bins of the S x S half spectrum (the length of otf_power's output).
  std::size_t size() const { return power_.size(); }
  /// Number of periodogram bins the likelihood sums over (the kept bins' counts).
  double bins() const { return bins_; }
  double noise_variance() const { return sigma2_; }

  /// |H|^2 of a centred PSF (odd sizes, at most S on each axis) at the kept bins.
  void otf_power(const double* psf, const Shape& psf_shape, double* out) const;

  struct Fit {
    double nll = 0;        ///< Whittle negative log-likelihood at the optimum
    double log_scale = 0;  ///< log a
    double beta = 2;       ///< image spectrum slope
  };
  /// The likelihood of a blur with power `otf_power` (size() values), minimised over
  /// the image spectrum's scale and slope (beta in [0, 4]).
  Fit fit(const double* otf_power) const;

 private:
  double likelihood(const double* hp, double u, double beta, double* sig) const;

  std::ptrdiff_t grid_;
  double sigma2_ = 0, bins_ = 0;
  std::vector<std::ptrdiff_t> index_;  // kept bin -> index in the S x (S/2+1) half spectrum
  std::vector<double> count_, power_, log_d2_;
  std::vector<std::size_t> group_start_;  // bins [group_start_[g], group_start_[g + 1]) share a count
};

/// A family's PSF with the given parameters (sigma; radius; length and angle in
/// degrees), in its default shape; `shape` receives that shape.
std::vector<double> family_psf(BlurFamily family, const std::vector<double>& params, Shape& shape);

/// The coarse search grid of a family for kernels up to max_size pixels wide: Gaussian
/// sigma on 40 log-spaced values from 0.25 to max(half / 3, 0.5); defocus radius from
/// 0.5 in steps of 0.25 up to half; motion lengths 2, 3, ..., 2 half - 1 at angles 0,
/// 3, ..., 177 degrees (half = (max_size - 1) / 2). One vector of parameters per point.
std::vector<std::vector<double>> family_grid(BlurFamily family, std::ptrdiff_t max_size);

struct FamilyFit {
  std::vector<double> params;  ///< the best parameters found
  double nll = 0;              ///< their likelihood (SpectralModel::fit)
  std::ptrdiff_t evaluated = 0;
};

/// The best parameters of one family: the grid (candidates in parallel), then golden
/// sections (sigma on a log scale, radius; motion: length within +-1 px and angle
/// within +-3 degrees, twice in turn). Returns the best of every candidate scored.
FamilyFit fit_family(const SpectralModel& model, BlurFamily family, std::ptrdiff_t max_size, int threads = 0);

}  // namespace unblur
