// Blind Richardson-Lucy, single-source (csrc/gpu/exec.hpp): the CPU engine's
// alternating image / PSF updates on the valid-blur model (csrc/core/
// blind_richardson_lucy.hpp documents the maths), every FFT product on one grid, each
// elementwise step one pass. Reads back per alternation one maximum (the held
// threshold) and, per PSF update, one sum (the normalisation).
#pragma once

#include <cmath>

#include "core/blind_richardson_lucy.hpp"  // BlindRLOptions
#include "core/error.hpp"
#include "core/fast_size.hpp"
#include "gpu/exec.hpp"

namespace unblur::gpu {

template <typename Exec>
struct ValidProductsGpu {
  using T = typename Exec::Real;
  using C = Cplx<T>;
  const Exec& ex;
  Dims grid;
  std::shared_ptr<const typename Exec::Fft> fft;
  typename Exec::template Buffer<T> real;
  typename Exec::template Buffer<C> work;

  ValidProductsGpu(const Exec& e, const Shape& grid_shape)
      : ex(e),
        grid(dims_of(grid_shape)),
        fft(e.fft(grid_shape)),
        real(e, static_cast<std::size_t>(grid.size())),
        work(e, static_cast<std::size_t>(fft->spectrum_size())) {}

  /// out = the spectrum of the r x c array a placed at (r0, c0) of the zero grid.
  void spectrum(const T* a, Index r, Index c, Index r0, Index c0, C* out) {
    T* g = real.data();
    const Dims d = grid;
    ex.for_each(d.size(), [=] UNBLUR_HD(Index t) {
      const Index i = t / d.n[2] - r0, j = t % d.n[2] - c0;
      g[t] = (i >= 0 && i < r && j >= 0 && j < c) ? a[i * c + j] : T(0);
    });
    fft->forward(real.data(), out);
  }

  /// out (r x c) = the block at (r0, c0) of irfft(x * y) (conj(y) when `conjugate`) / |grid|.
  void product(const C* x, const C* y, bool conjugate, Index r0, Index c0, Index r, Index c, T* out) {
    C* w = work.data();
    const T sign = conjugate ? T(-1) : T(1);
    ex.for_each(fft->spectrum_size(), [=] UNBLUR_HD(Index s) {
      const T xr = x[s].x, xi = x[s].y, yr = y[s].x, yi = sign * y[s].y;
      w[s].x = xr * yr - xi * yi;
      w[s].y = xr * yi + xi * yr;
    });
    fft->inverse(work.data(), real.data());
    const T scale = T(1) / static_cast<T>(grid.size());
    const T* g = real.data();
    const Index gc = grid.n[2];
    ex.for_each(r * c, [=] UNBLUR_HD(Index t) { out[t] = g[(r0 + t / c) * gc + c0 + t % c] * scale; });
  }

  /// ratio = g / (A_h f + eps) from the spectra of f and h (H x W), then its spectrum.
  void residual(const C* f_hat, const C* h_hat, const T* g, T* ratio, Index H, Index W, Index kh, Index kw, T eps,
                C* r_hat) {
    product(f_hat, h_hat, false, kh - 1, kw - 1, H, W, ratio);
    ex.for_each(H * W, [=] UNBLUR_HD(Index i) { ratio[i] = g[i] / (ratio[i] + eps); });
    spectrum(ratio, H, W, kh - 1, kw - 1, r_hat);
  }
};

/// image (rows x cols), psf (kh x kw, odd, >= 0, positive sum; overwritten with the
/// estimate, sum 1), out (rows x cols). Returns the alternations run.
template <typename Exec>
int blind_richardson_lucy(const Exec& ex, const typename Exec::Real* image, const Shape& shape,
                          typename Exec::Real* psf, const Shape& psf_shape, typename Exec::Real* out,
                          const BlindRLOptions& options, const IterationCallback& callback) {
  using T = typename Exec::Real;
  using C = Cplx<T>;
  using BufT = typename Exec::template Buffer<T>;
  using BufC = typename Exec::template Buffer<C>;
  UNBLUR_REQUIRE(shape.size() == 2, "image must be 2-D, got " << shape.size() << " dimensions");
  UNBLUR_REQUIRE(shape[0] >= 1 && shape[1] >= 1, "image axes must be >= 1");
  UNBLUR_REQUIRE(psf_shape.size() == 2, "psf must be 2-D");
  UNBLUR_REQUIRE(psf_shape[0] % 2 == 1 && psf_shape[1] % 2 == 1, "psf must have odd sizes");
  UNBLUR_REQUIRE(psf_shape[0] <= shape[0] && psf_shape[1] <= shape[1], "psf is larger than the image");
  UNBLUR_REQUIRE(options.iterations >= 1, "iterations must be >= 1, got " << options.iterations);
  UNBLUR_REQUIRE(options.psf_iterations >= 0, "psf_iterations must be >= 0, got " << options.psf_iterations);
  const Index H = shape[0], W = shape[1], kh = psf_shape[0], kw = psf_shape[1];
  const Index er = H + kh - 1, ec = W + kw - 1, kn = kh * kw, n_obs = H * W, n_ext = er * ec;
  const T* psf_in = psf;
  const Sums<2> check = ex.template sums<2>(kn, [=] UNBLUR_HD(Index i) {
    Sums<2> s;
    const double v = double(psf_in[i]);
    s.v[0] = (v >= 0 && v <= 1.7976931348623157e308) ? 0.0 : 1.0;  // (NaN fails both)
    s.v[1] = v;
    return s;
  });
  UNBLUR_REQUIRE(check[0] == 0, "psf must be finite and >= 0");
  UNBLUR_REQUIRE(check[1] > 0, "psf must have a positive sum");
  const T total = static_cast<T>(check[1]);

  ValidProductsGpu<Exec> m(ex, fast_fft_shape(Shape{er, ec}));
  const std::size_t ns = static_cast<std::size_t>(m.fft->spectrum_size());
  const T eps = static_cast<T>(1e-12);  // the CPU engine's kEpsilon
  const T held_fraction = static_cast<T>(1e-4);
  BufT g(ex, static_cast<std::size_t>(n_obs)), h(ex, static_cast<std::size_t>(kn)), f(ex, static_cast<std::size_t>(n_ext));
  BufT ones(ex, static_cast<std::size_t>(n_obs)), ratio(ex, static_cast<std::size_t>(n_obs));
  BufT norm_f(ex, static_cast<std::size_t>(n_ext)), update(ex, static_cast<std::size_t>(n_ext));
  BufT norm_h(ex, static_cast<std::size_t>(kn)), h_update(ex, static_cast<std::size_t>(kn));
  BufC ones_hat(ex, ns), h_hat(ex, ns), f_hat(ex, ns), r_hat(ex, ns);
  T* gp = g.data();
  T* hp = h.data();
  T* fp = f.data();
  ex.for_each(n_obs, [=] UNBLUR_HD(Index i) { gp[i] = gmax(image[i], T(0)); });
  const T* gc = gp;
  const double light = ex.template sums<1, Max>(n_obs, [=] UNBLUR_HD(Index i) {
    Sums<1, Max> s;
    s.v[0] = double(gc[i]);
    return s;
  })[0];
  UNBLUR_REQUIRE(light > 0, "image has no positive value: blind Richardson-Lucy needs some light to fit the PSF to");
  ex.for_each(kn, [=] UNBLUR_HD(Index i) { hp[i] = psf_in[i] / total; });
  ex.for_each(n_ext, [=] UNBLUR_HD(Index t) {
    // The start: the observation mirrored into the halo (numpy.pad 'reflect').
    const Index si = boundary_index(t / ec - kh / 2, H, Boundary::Mirror);
    const Index sj = boundary_index(t % ec - kw / 2, W, Boundary::Mirror);
    fp[t] = gmax(gmax(image[si * W + sj], T(0)), eps);
  });
  ex.fill(ones.data(), n_obs, T(1));
  m.spectrum(ones.data(), H, W, kh - 1, kw - 1, ones_hat.data());

  T* rp = ratio.data();

  int done = 0;
  T* nf = norm_f.data();
  T* up = update.data();
  T* nh = norm_h.data();
  T* hu = h_update.data();
  for (int it = 1; it <= options.iterations; ++it) {
    m.spectrum(hp, kh, kw, 0, 0, h_hat.data());
    m.product(ones_hat.data(), h_hat.data(), true, 0, 0, er, ec, nf);
    const double peak = ex.template sums<1, Max>(n_ext, [=] UNBLUR_HD(Index i) {
      Sums<1, Max> s;
      s.v[0] = double(nf[i]);
      return s;
    })[0];
    const T held = held_fraction * static_cast<T>(peak);
    m.spectrum(fp, er, ec, 0, 0, f_hat.data());
    m.residual(f_hat.data(), h_hat.data(), gp, rp, H, W, kh, kw, eps, r_hat.data());
    m.product(r_hat.data(), h_hat.data(), true, 0, 0, er, ec, up);
    ex.for_each(n_ext, [=] UNBLUR_HD(Index i) {
      if (!(nf[i] <= held)) fp[i] = fp[i] * up[i] / nf[i];
    });
    m.spectrum(fp, er, ec, 0, 0, f_hat.data());
    m.product(ones_hat.data(), f_hat.data(), true, 0, 0, kh, kw, nh);
    for (int p = 0; p < options.psf_iterations; ++p) {
      m.spectrum(hp, kh, kw, 0, 0, h_hat.data());
      m.residual(f_hat.data(), h_hat.data(), gp, rp, H, W, kh, kw, eps, r_hat.data());
      m.product(r_hat.data(), f_hat.data(), true, 0, 0, kh, kw, hu);
      const double sum = ex.template sums<1>(kn, [=] UNBLUR_HD(Index i) {
        Sums<1> s;
        hp[i] = gmax(hp[i] * hu[i] / gmax(nh[i], eps), T(0));
        s.v[0] = double(hp[i]);
        return s;
      })[0];
      UNBLUR_CHECK(sum > 0, "the PSF estimate vanished");
      ex.for_each(kn, [=] UNBLUR_HD(Index i) { hp[i] = static_cast<T>(double(hp[i]) / sum); });
    }
    done = it;
    if (callback) {
      IterationState state;
      state.iteration = it;
      state.max_iterations = options.iterations;
      if (!callback(state)) break;
    }
  }
  ex.for_each(n_obs, [=] UNBLUR_HD(Index t) { out[t] = fp[(t / W + kh / 2) * ec + t % W + kw / 2]; });
  ex.copy(psf, static_cast<const T*>(hp), kn);
  return done;
}

}  // namespace unblur::gpu
