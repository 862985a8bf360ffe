// The blur forward model g = M (h * x) on a periodic FFT grid, shared by every
// deconvolution method.
//
// The estimate x lives on a grid of shape L. The observation g (shape N) is the window
// of the blurred grid that starts at `offset` (per axis); M is that crop. Two set-ups:
//
//  * periodic: L = N, offset 0, M = identity: g = h (*) x, circular convolution. Exact
//    closed forms (Wiener, Tikhonov) and the conventions of other libraries.
//  * extended (boundary 'auto'): L >= N + K - 1 (a fast FFT size), offset = K / 2. The
//    observed pixels' blur footprints cover the window [0, N + K - 1) without wrapping
//    onto each other, so g is exactly the *valid* part of the blur of a larger scene;
//    the pixels outside the observed window are unknowns that the data term does not
//    see directly (Bertero & Boccacci 2005; Reeves 2005; Almeida & Figueiredo 2013).
//    The restored image is x's window at `offset`.
//
// The PSF is centred at index K / 2 on each axis (the psf2otf convention); the OTF is
// stored pre-scaled by 1 / |L| so a forward FFT, a product and an inverse FFT give the
// convolution with no further scaling.
//
// An operator owns work buffers: one instance must not be used by two threads at once.
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "core/array.hpp"
#include "core/fft.hpp"

namespace unblur {

template <typename T>
class BlurOperator {
 public:
  /// Periodic model on the grid `shape` (the observation's shape).
  static BlurOperator periodic(const T* psf, const Shape& psf_shape, const Shape& shape, int threads = 0);
  /// Extended model for an observation of `observed_shape` (valid-part blur).
  static BlurOperator extended(const T* psf, const Shape& psf_shape, const Shape& observed_shape,
                               int threads = 0);

  const Shape& grid_shape() const { return grid_; }
  const Shape& observed_shape() const { return observed_; }
  const Shape& offset() const { return offset_; }
  std::ptrdiff_t grid_size() const { return fft_->real_size(); }
  std::ptrdiff_t observed_size() const { return shape_size(observed_); }
  std::ptrdiff_t spectrum_size() const { return fft_->spectrum_size(); }
  bool is_periodic() const { return periodic_; }
  int threads() const { return threads_; }

  /// OTF / |L| on the half spectrum of the grid (spectrum_size() values).
  const std::complex<T>* otf() const { return otf_.data(); }
  /// The cached FFT plans of the grid.
  const RealFFT<T>& fft() const { return *fft_; }

  /// y (observed) = M (h * x) for x on the grid.
  void forward(const T* x, T* y);
  /// y (grid) = h * x, the whole blurred grid.
  void forward_grid(const T* x, T* y);
  /// x (grid) = h^T * M^T y: the observation embedded at the window, correlated with h.
  void adjoint(const T* y, T* x);
  /// x (grid) = h^T * y for y on the grid.
  void adjoint_grid(const T* y, T* x);

  /// Copies the observed window out of a grid array (out has observed_size() values).
  void crop(const T* grid, T* out) const;
  /// Writes `observed` into the window of `grid` and `fill` everywhere else.
  void embed(const T* observed, T* grid, T fill) const;

  BlurOperator(BlurOperator&&) noexcept = default;
  BlurOperator& operator=(BlurOperator&&) noexcept = default;

 private:
  BlurOperator(const T* psf, const Shape& psf_shape, const Shape& observed, const Shape& grid,
               const Shape& offset, bool periodic, int threads);
  // out = irfft(otf-or-conj * rfft(in)), in and out on the grid (may alias).
  void apply(const T* in, T* out, bool conjugate);

  Shape observed_, grid_, offset_;
  bool periodic_ = true;
  int threads_ = 1;
  std::shared_ptr<const RealFFT<T>> fft_;
  AlignedBuffer<std::complex<T>> otf_;
  AlignedBuffer<std::complex<T>> spectrum_;
  AlignedBuffer<T> work_;
};

/// RMS of the additive noise in an image, from the median absolute deviation of its
/// finest-scale diagonal detail: Haar coefficients d = (a - b - c + e) / 2 over disjoint
/// 2x2 blocks of the last two axes (every slice of a volume; consecutive pairs / sqrt(2)
/// in 1-D), whose noise has the image noise's variance while a smooth image contributes
/// little, and sigma = median(|d|) / 0.6745 (Donoho & Johnstone 1994). The blocks are
/// grouped by their mean (up to 16 groups of >= 1,024) and the groups' sigmas combined
/// as an RMS, so that noise whose level follows the signal's is measured by its RMS,
/// not by the median brightness's. On quantised data (every |d| a multiple of one step q,
/// as 8- and 16-bit samples give) the median is interpolated within its step, the
/// grouped-data median, so that it is not confined to multiples of q. Throws ValueError
/// for images smaller than 2x2 (2 in 1-D).
template <typename T>
double estimate_noise(const T* image, const Shape& shape, int threads = 0);

/// estimate_noise's brightness groups, in the order of their levels: each non-empty
/// group's number of 2x2 blocks (1-D: pairs), mean block level and MAD sigma. The noise
/// level as a function of brightness (photon noise, sRGB decoded to linear light), which
/// plug-and-play turns into the denoiser's noise-level map. One group under 2,048 blocks.
struct NoiseGroups {
  std::vector<std::size_t> sizes;
  std::vector<double> levels, sigmas;
};
template <typename T>
NoiseGroups noise_groups(const T* image, const Shape& shape, int threads = 0);

}  // namespace unblur

namespace unblur {

/// How a deconvolution treats the edges of the observation.
enum class DeconvBoundary {
  Auto = 0,      ///< the observation is the valid part of a larger scene (extended model)
  Periodic = 1,  ///< circular blur of the observation itself (exact FFT closed forms)
  Reflect = 2,   ///< periodic model on the observation extended symmetrically by K / 2
};

/// A deconvolution problem: the operator, the data it fits, and where the restored
/// image sits in the estimate.
///
///  * Periodic: grid = observation; result = the whole estimate.
///  * Auto: BlurOperator::extended; data = the observation; result = the window at
///    op.offset() (the estimate's halo holds the scene beyond the edges).
///  * Reflect: periodic model on one whole period of the observation's half-sample
///    symmetric extension: grid 2 N along every axis the PSF blurs (N where it is 1,
///    reflect_grid_shape), the observation reflect-padded over it from offset K / 2;
///    result = the window at K / 2. With a PSF symmetric in each axis the blur of the
///    symmetric extension is the symmetric extension of the blur, so the model is exact
///    for data blurred with reflecting edges (the DCT model of Ng, Chan & Tang 1999),
///    and it has no seam. (A grid cut short of the period, N + K - 1 rounded to a fast
///    size, wraps the extension onto itself with a jump that deconvolution amplifies:
///    measured 0.8-5 dB worse on defocus and motion blurs; bench/RESULTS.md.)
template <typename T>
struct DeconvModel {
  BlurOperator<T> op;
  AlignedBuffer<T> data;  ///< op.observed_shape() values: what the data term fits
  Shape result_offset;    ///< where the user's image starts inside the estimate (grid)
  Shape result_shape;     ///< the observation's shape

  /// Copies the restored image (result_shape) out of an estimate on op.grid_shape().
  void extract(const T* estimate, T* out) const;
};

/// Writes `image` (shape) into `grid` (grid_shape) extended half-sample symmetrically,
/// with the image's first pixel at `offset`: the padding of DeconvBoundary::Reflect.
template <typename T>
void reflect_pad(const T* image, const Shape& shape, T* grid, const Shape& grid_shape, const Shape& offset,
                 int threads = 0);

/// The grid of DeconvBoundary::Reflect: 2 n along each axis where the PSF has more than
/// one tap (one period of the symmetric extension; the smallest multiple of it that
/// holds the PSF, for a PSF longer than 2 n), n where it has one (no blur there).
inline Shape reflect_grid_shape(const Shape& shape, const Shape& psf_shape) {
  Shape grid(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto period = 2 * shape[i];
    grid[i] = psf_shape[i] > 1 ? period * ((psf_shape[i] + period - 1) / period) : shape[i];
  }
  return grid;
}

/// Builds the model for observation `image` (shape) and a normalised, odd-sized PSF.
/// `on_extended_grid` (Reflect only): pad over the extended model's grid instead,
/// fast_fft_shape(N + K - 1) from offset K / 2: the closed form from which 'auto' takes
/// its parameters and its starting point, which must share the extended model's grid.
template <typename T>
DeconvModel<T> make_deconv_model(const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
                                 DeconvBoundary boundary, int threads = 0, bool on_extended_grid = false);

}  // namespace unblur
