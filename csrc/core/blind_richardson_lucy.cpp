#include "core/blind_richardson_lucy.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "core/boundary.hpp"
#include "core/error.hpp"
#include "core/fft.hpp"

namespace unblur {
namespace {

constexpr double kEpsilon = 1e-12;  // added to the model before dividing
constexpr double kHeld = 1e-4;      // A^T 1 below this fraction of its maximum: pixel held

// The FFT products of the valid-blur model on one grid.
template <typename T>
class ValidProducts {
 public:
  ValidProducts(const Shape& obs, const Shape& k, int threads)
      : rows_(obs[0]), cols_(obs[1]), kh_(k[0]), kw_(k[1]), er_(rows_ + kh_ - 1), ec_(cols_ + kw_ - 1) {
    grid_ = fast_fft_shape(Shape{er_, ec_});
    fft_ = RealFFT<T>::get(grid_, threads);
    real_ = AlignedBuffer<T>(static_cast<std::size_t>(fft_->real_size()));
    work_ = AlignedBuffer<std::complex<T>>(static_cast<std::size_t>(fft_->spectrum_size()));
  }
  std::ptrdiff_t spectrum_size() const { return fft_->spectrum_size(); }

  // Spectrum of an r x c array placed at (r0, c0) of the zero grid.
  void spectrum(const T* a, std::ptrdiff_t r, std::ptrdiff_t c, std::ptrdiff_t r0, std::ptrdiff_t c0,
                std::complex<T>* out) {
    const std::ptrdiff_t gc = grid_[1];
    std::fill(real_.data(), real_.data() + fft_->real_size(), T(0));
    for (std::ptrdiff_t i = 0; i < r; ++i)
      std::copy(a + i * c, a + (i + 1) * c, real_.data() + (r0 + i) * gc + c0);
    fft_->forward(real_.data(), out);
  }

  // irfft(x_hat * (conj) y_hat), then the r x c block at (r0, c0) into out.
  void product(const std::complex<T>* x, const std::complex<T>* y, bool conjugate, std::ptrdiff_t r0,
               std::ptrdiff_t c0, std::ptrdiff_t r, std::ptrdiff_t c, T* out) {
    const std::ptrdiff_t n = fft_->spectrum_size();
    for (std::ptrdiff_t s = 0; s < n; ++s) work_[static_cast<std::size_t>(s)] = x[s] * (conjugate ? std::conj(y[s]) : y[s]);
    fft_->inverse(work_.data(), real_.data());
    const T scale = T(1) / static_cast<T>(fft_->real_size());
    const std::ptrdiff_t gc = grid_[1];
    for (std::ptrdiff_t i = 0; i < r; ++i)
      for (std::ptrdiff_t j = 0; j < c; ++j) out[i * c + j] = real_[static_cast<std::size_t>((r0 + i) * gc + c0 + j)] * scale;
  }

  std::ptrdiff_t rows_, cols_, kh_, kw_, er_, ec_;

 private:
  Shape grid_;
  std::shared_ptr<const RealFFT<T>> fft_;
  AlignedBuffer<T> real_;
  AlignedBuffer<std::complex<T>> work_;
};

}  // namespace

template <typename T>
int blind_richardson_lucy(const T* image, const Shape& shape, T* psf, const Shape& psf_shape, T* out,
                          const BlindRLOptions& options, const IterationCallback& callback) {
  UNBLUR_REQUIRE(shape.size() == 2, "image must be 2-D, got " << shape.size() << " dimensions");
  require_shape(shape, "image");
  UNBLUR_REQUIRE(psf_shape.size() == 2, "psf must be 2-D");
  UNBLUR_REQUIRE(psf_shape[0] % 2 == 1 && psf_shape[1] % 2 == 1, "psf must have odd sizes");
  UNBLUR_REQUIRE(psf_shape[0] <= shape[0] && psf_shape[1] <= shape[1], "psf is larger than the image");
  UNBLUR_REQUIRE(options.iterations >= 1, "iterations must be >= 1, got " << options.iterations);
  UNBLUR_REQUIRE(options.psf_iterations >= 0, "psf_iterations must be >= 0, got " << options.psf_iterations);
  const std::ptrdiff_t kn = psf_shape[0] * psf_shape[1];
  double total = 0;
  for (std::ptrdiff_t i = 0; i < kn; ++i) {
    UNBLUR_REQUIRE(std::isfinite(static_cast<double>(psf[i])) && psf[i] >= 0, "psf must be finite and >= 0");
    total += static_cast<double>(psf[i]);
  }
  UNBLUR_REQUIRE(total > 0, "psf must have a positive sum");

  ValidProducts<T> m(shape, psf_shape, resolve_threads(options.threads));
  const std::ptrdiff_t H = m.rows_, W = m.cols_, kh = m.kh_, kw = m.kw_, er = m.er_, ec = m.ec_;
  const std::ptrdiff_t n_obs = H * W, n_ext = er * ec, ns = m.spectrum_size();
  const T eps = static_cast<T>(kEpsilon);

  std::vector<T> g(static_cast<std::size_t>(n_obs)), h(static_cast<std::size_t>(kn)), f(static_cast<std::size_t>(n_ext));
  bool light = false;
  for (std::ptrdiff_t i = 0; i < n_obs; ++i) {
    g[static_cast<std::size_t>(i)] = std::max(image[i], T(0));
    light = light || g[static_cast<std::size_t>(i)] > 0;
  }
  // Without any light the PSF update has nothing to fit (it would vanish).
  UNBLUR_REQUIRE(light, "image has no positive value: blind Richardson-Lucy needs some light to fit the PSF to");
  for (std::ptrdiff_t i = 0; i < kn; ++i) h[static_cast<std::size_t>(i)] = psf[i] / static_cast<T>(total);
  for (std::ptrdiff_t i = 0; i < er; ++i) {
    const std::ptrdiff_t si = boundary_index(i - kh / 2, H, Boundary::Mirror);
    for (std::ptrdiff_t j = 0; j < ec; ++j) {
      const std::ptrdiff_t sj = boundary_index(j - kw / 2, W, Boundary::Mirror);
      f[static_cast<std::size_t>(i * ec + j)] = std::max(g[static_cast<std::size_t>(si * W + sj)], eps);
    }
  }
  using C = std::complex<T>;
  const auto spec = [ns] { return std::vector<C>(static_cast<std::size_t>(ns)); };
  std::vector<C> ones_hat = spec(), h_hat = spec(), f_hat = spec(), r_hat = spec();
  std::vector<T> ones(static_cast<std::size_t>(n_obs), T(1)), ratio(static_cast<std::size_t>(n_obs));
  std::vector<T> norm_f(static_cast<std::size_t>(n_ext)), update(static_cast<std::size_t>(n_ext));
  std::vector<T> norm_h(static_cast<std::size_t>(kn)), h_update(static_cast<std::size_t>(kn));
  m.spectrum(ones.data(), H, W, kh - 1, kw - 1, ones_hat.data());

  // ratio = g / (A_h f + eps) from the spectra of f and h, then its spectrum.
  const auto residual = [&]() {
    m.product(f_hat.data(), h_hat.data(), false, kh - 1, kw - 1, H, W, ratio.data());
    for (std::ptrdiff_t i = 0; i < n_obs; ++i)
      ratio[static_cast<std::size_t>(i)] = g[static_cast<std::size_t>(i)] / (ratio[static_cast<std::size_t>(i)] + eps);
    m.spectrum(ratio.data(), H, W, kh - 1, kw - 1, r_hat.data());
  };

  int done = 0;
  for (int it = 1; it <= options.iterations; ++it) {
    m.spectrum(h.data(), kh, kw, 0, 0, h_hat.data());
    m.product(ones_hat.data(), h_hat.data(), true, 0, 0, er, ec, norm_f.data());
    const T held = static_cast<T>(kHeld) * *std::max_element(norm_f.begin(), norm_f.end());
    m.spectrum(f.data(), er, ec, 0, 0, f_hat.data());
    residual();
    m.product(r_hat.data(), h_hat.data(), true, 0, 0, er, ec, update.data());
    for (std::ptrdiff_t i = 0; i < n_ext; ++i) {
      const auto s = static_cast<std::size_t>(i);
      if (!(norm_f[s] <= held)) f[s] = f[s] * update[s] / norm_f[s];
    }
    m.spectrum(f.data(), er, ec, 0, 0, f_hat.data());
    m.product(ones_hat.data(), f_hat.data(), true, 0, 0, kh, kw, norm_h.data());
    for (int p = 0; p < options.psf_iterations; ++p) {
      m.spectrum(h.data(), kh, kw, 0, 0, h_hat.data());
      residual();
      m.product(r_hat.data(), f_hat.data(), true, 0, 0, kh, kw, h_update.data());
      double sum = 0;
      for (std::ptrdiff_t i = 0; i < kn; ++i) {
        const auto s = static_cast<std::size_t>(i);
        h[s] = std::max(h[s] * h_update[s] / std::max(norm_h[s], eps), T(0));
        sum += static_cast<double>(h[s]);
      }
      UNBLUR_CHECK(sum > 0, "the PSF estimate vanished");
      for (T& v : h) v = static_cast<T>(static_cast<double>(v) / sum);
    }
    done = it;
    if (callback) {
      IterationState state;
      state.iteration = it;
      state.max_iterations = options.iterations;
      if (!callback(state)) break;
    }
  }
  for (std::ptrdiff_t i = 0; i < H; ++i)
    for (std::ptrdiff_t j = 0; j < W; ++j) out[i * W + j] = f[static_cast<std::size_t>((i + kh / 2) * ec + j + kw / 2)];
  std::copy(h.begin(), h.end(), psf);
  return done;
}

template int blind_richardson_lucy<float>(const float*, const Shape&, float*, const Shape&, float*,
                                          const BlindRLOptions&, const IterationCallback&);
template int blind_richardson_lucy<double>(const double*, const Shape&, double*, const Shape&, double*,
                                           const BlindRLOptions&, const IterationCallback&);

}  // namespace unblur
