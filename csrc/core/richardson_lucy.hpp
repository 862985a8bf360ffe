// Richardson–Lucy deconvolution on the shared blur model (blur_operator.hpp).
//
// One iteration (A = the model's forward operator, A^T its adjoint, w the weights,
// b the background, g the data):
//
//     m = A y + b                                   (y: the point evaluated, below)
//     q = g / (m + 1e-12)                           (the ratio; 0 where m <= 0)
//     q = 1 + G(t) (q - 1),  t = min((g - m)^2 / d^2, 1),  G(t) = t^9 (10 - 9 t)
//                                                   (damping d > 0 only)
//     x_new = y * A^T(w q) / A^T w / (1 - lambda div(grad y / |grad y|_eps))
//
// The normaliser A^T w is Bertero & Boccacci's: on the extended ('auto') grid it makes
// the halo pixels, which few observed pixels see, converge like the others. Grid
// pixels with A^T w < 1e-4 max(A^T w) are not determined by the data and are held at
// zero. The zero boundary (scikit-image's convention) uses the extended grid with the
// halo held at zero and no normaliser: x_new = y * A^T(1 + w (q - 1)), which is
// scikit-image's update for w = 1.
//
// Without acceleration y = x_k. With Biggs & Andrews' acceleration (1997) the point
// evaluated is extrapolated along the last steps:
//
//     h_k = x_k - x_{k-1},   g_k = x_{k+1} - y_k   (the correction an RL step made)
//     alpha = <g_{k-1}, g_{k-2}> / <g_{k-2}, g_{k-2}>, clamped to [0, 0.999]
//     y_k = max(0.1 x_k, x_k + alpha h_k + alpha^2 / 2 (h_k - h_{k-1}))
//
// (y_k = x_k for the first two steps, until two corrections exist).
//
// The state (estimate and acceleration history) lives in caller-owned buffers on the
// model's grid, so a run can be continued exactly where it stopped.
#pragma once

#include <string>

#include "core/array.hpp"
#include "core/blur_operator.hpp"
#include "core/iteration.hpp"

namespace unblur {

struct RichardsonLucyOptions {
  DeconvBoundary boundary = DeconvBoundary::Auto;
  /// scikit-image's convention: the Auto grid with the halo held at zero and no
  /// Bertero–Boccacci normalisation (`boundary` is then ignored).
  bool zero_boundary = false;
  /// >= 1: run exactly this many iterations; 0: stop automatically (see StopReason).
  int iterations = 0;
  /// Cap for automatic stopping; 0: 200 with acceleration, 500 without.
  int max_iterations = 0;
  bool accelerate = true;
  double damping = 0;     ///< noise threshold d (image units) of the damped ratio; 0: off
  double tv_weight = 0;   ///< lambda of the TV-regularised update (Dey et al. 2006); 0: off
  double background = 0;  ///< b >= 0 added to the model
  double tolerance = 1e-3;  ///< automatic stop when ||x_new - x|| / ||x_new|| < tolerance
  double noise_sigma = -1;  ///< discrepancy target; < 0: estimate_noise(image)
  int threads = 0;
};

/// Estimate and acceleration history, in caller-owned buffers of grid_size() values.
/// `previous`, `previous_step` and `correction` are needed only with acceleration.
template <typename T>
struct RichardsonLucyState {
  T* estimate = nullptr;       ///< x_k on the grid
  T* previous = nullptr;       ///< x_{k-1}
  T* previous_step = nullptr;  ///< h_{k-1} = x_{k-1} - x_{k-2}
  T* correction = nullptr;     ///< g_{k-1} = x_k - y_{k-1}
  double correction_dot = 0;   ///< <g_{k-1}, g_{k-2}>
  double correction_norm2 = 0; ///< <g_{k-2}, g_{k-2}>
  int history = 0;             ///< accelerated steps recorded in the buffers (0: none)
  int iterations = 0;          ///< iterations behind `estimate` (all runs together)
};

/// Where an iteration starts.
enum class RichardsonLucyStart {
  Default = 0,  ///< flat at the weighted mean of the data (0.5 in the window for zero_boundary)
  Image = 1,    ///< from an image of the observation's shape; the halo is its mean (0 for zero)
  State = 2,    ///< continue from the state's buffers
};

enum class StopReason { Iterations = 0, Discrepancy = 1, Tolerance = 2, MaxIterations = 3, Callback = 4 };
// (inline: the CUDA engine, which does not link the core library, reports it too)
inline const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::Iterations: return "iterations";
    case StopReason::Discrepancy: return "discrepancy";
    case StopReason::Tolerance: return "tolerance";
    case StopReason::MaxIterations: return "max_iterations";
    case StopReason::Callback: return "callback";
  }
  return "iterations";
}

struct RichardsonLucyResult {
  int iterations = 0;          ///< iterations run by this call
  StopReason stopped_by = StopReason::Iterations;
  double noise_sigma = 0;      ///< the discrepancy target's sigma (0 when not needed)
  double residual = 0;         ///< last weighted mean squared residual of the observed pixels
  double relative_change = 0;  ///< last ||x_new - x|| / ||x_new||
};

/// A Richardson–Lucy problem: the model, the normaliser and the work buffers. Not for
/// use by two threads at once.
template <typename T>
class RichardsonLucy {
 public:
  /// image (shape, values >= 0), a normalised odd-sized PSF, optional weights (shape,
  /// values >= 0; nullptr: all 1). Throws ValueError for bad shapes or options.
  RichardsonLucy(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape, const T* weights,
                 const RichardsonLucyOptions& options);

  /// The estimate's grid (state buffers hold shape_size(grid_shape()) values).
  const Shape& grid_shape() const { return model_.op.grid_shape(); }
  std::ptrdiff_t grid_size() const { return model_.op.grid_size(); }

  /// Runs the iterations; writes the restored image (the observation's shape) to out.
  /// `initial` (observation's shape) is read for RichardsonLucyStart::Image.
  RichardsonLucyResult run(RichardsonLucyState<T>& state, RichardsonLucyStart start, const T* initial, T* out,
                           const IterationCallback& callback = {});

 private:
  void initialise(RichardsonLucyState<T>& state, RichardsonLucyStart start, const T* initial);
  // Z := ratio on the observed window of the blurred grid in Z; returns the weighted
  // sum of squared residuals.
  double ratio(T* z) const;
  // The TV denominator at grid pixel (a, b, c) of y.
  T tv_denominator(const T* y, std::ptrdiff_t a, std::ptrdiff_t b, std::ptrdiff_t c) const;

  RichardsonLucyOptions options_;
  DeconvModel<T> model_;
  AlignedBuffer<T> weights_;     // observed shape, or empty (all 1)
  AlignedBuffer<T> inv_norm_;    // 1 / A^T w on the grid (0 where held), or empty (all 1)
  AlignedBuffer<T> work_;        // A y, then the ratio, then A^T ratio
  AlignedBuffer<T> prediction_;  // y (acceleration) or the new estimate (TV)
  double weight_sum_ = 0;        // sum of w over the observed pixels
  double data_mean_ = 0;         // weighted mean of the data
  double tv_epsilon_ = 0;        // |grad|'s smoothing, 1e-3 x the data's mean
  double noise_sigma_ = -1;
  Shape image_shape_;
};

/// Seconds per iteration of just the transforms plain RL needs (two real-to-complex and
/// two complex-to-real FFTs of `grid`), the best of `repeats` timings.
template <typename T>
double richardson_lucy_fft_floor(const Shape& grid, int repeats, int threads = 0);

}  // namespace unblur
