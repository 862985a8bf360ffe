// The deconvolution forward model of csrc/core/blur_operator.hpp, single-source (see
// csrc/gpu/exec.hpp): the same grids, windows, OTF scaling and reflect padding as the
// CPU engine's DeconvModel, so that the two engines solve the same problem.
//
//   Periodic: grid = observation, window offset 0, result offset 0.
//   Auto:     grid = fast_fft_shape(N + K - 1), window (the observed pixels) at K / 2,
//             result offset K / 2.
//   Reflect:  grid = reflect_grid_shape (2 N along the axes the PSF blurs: one period
//             of the half-sample symmetric extension), the observation reflect-padded
//             over it from K / 2 and observed everywhere; result offset K / 2. With
//             `on_extended_grid` (the closed form that starts 'auto') the same padding
//             over the Auto grid instead.
#pragma once

#include <memory>

#include "core/blur_operator.hpp"  // DeconvBoundary
#include "core/error.hpp"
#include "core/fast_size.hpp"
#include "gpu/exec.hpp"

namespace unblur::gpu {

inline void require_deconv_shapes(const Shape& shape, const Shape& psf_shape) {
  UNBLUR_REQUIRE(!shape.empty() && shape.size() <= 3, "image must have 1 to 3 axes, got " << shape.size());
  UNBLUR_REQUIRE(psf_shape.size() == shape.size(),
                 "psf has " << psf_shape.size() << " dimensions but the image has " << shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    UNBLUR_REQUIRE(shape[i] >= 1, "image axes must be >= 1, got " << shape[i]);
    UNBLUR_REQUIRE(psf_shape[i] >= 1 && psf_shape[i] % 2 == 1, "psf must have odd sizes, got " << psf_shape[i]);
  }
}

/// grid = the PSF (psf_shape) zero-padded to `g` with its centre pixel at the origin.
template <typename Exec, typename T>
void place_centred(const Exec& ex, const T* psf, const Shape& psf_shape, T* grid, const Dims& g) {
  const Dims k = dims_of(psf_shape), c = dims_of(psf_shape, 1);
  Dims shift;
  for (int a = 0; a < 3; ++a) shift.n[a] = c.n[a] / 2;
  ex.for_each(g.size(), [=] UNBLUR_HD(Index t) {
    const Index3 p = unravel(t, g);
    const Index j0 = (p.i0 + shift.n[0]) % g.n[0], j1 = (p.i1 + shift.n[1]) % g.n[1];
    const Index j2 = (p.i2 + shift.n[2]) % g.n[2];
    grid[t] = (j0 < k.n[0] && j1 < k.n[1] && j2 < k.n[2]) ? psf[ravel(j0, j1, j2, k)] : T(0);
  });
}

/// out (grid) = `image` (shape n) extended half-sample symmetrically, its first pixel at
/// offset o: core/blur_operator.hpp's reflect_pad.
template <typename Exec, typename T>
void reflect_pad(const Exec& ex, const T* image, const Dims& n, T* out, const Dims& g, const Dims& o) {
  ex.for_each(g.size(), [=] UNBLUR_HD(Index t) {
    const Index3 p = unravel(t, g);
    const Index a = boundary_index(p.i0 - o.n[0], n.n[0], Boundary::Reflect);
    const Index b = boundary_index(p.i1 - o.n[1], n.n[1], Boundary::Reflect);
    const Index c = boundary_index(p.i2 - o.n[2], n.n[2], Boundary::Reflect);
    out[t] = image[ravel(a, b, c, n)];
  });
}

template <typename Exec>
class BlurModel {
 public:
  using T = typename Exec::Real;
  using C = Cplx<T>;

  struct Geometry {
    Shape grid, window, result;
  };
  static Geometry geometry(const Shape& shape, const Shape& psf_shape, DeconvBoundary boundary,
                           bool on_extended_grid = false) {
    require_deconv_shapes(shape, psf_shape);
    const std::size_t d = shape.size();
    Geometry geo{Shape(d), Shape(d, 0), Shape(d, 0)};
    if (boundary == DeconvBoundary::Periodic) {
      for (std::size_t i = 0; i < d; ++i)
        UNBLUR_REQUIRE(psf_shape[i] <= shape[i], "psf is larger than the image along axis " << i);
      geo.grid = shape;
      return geo;
    }
    Shape need(d);
    for (std::size_t i = 0; i < d; ++i) {
      geo.result[i] = psf_shape[i] / 2;
      need[i] = boundary == DeconvBoundary::Reflect ? shape[i] + 2 * geo.result[i] : shape[i] + psf_shape[i] - 1;
      if (boundary == DeconvBoundary::Auto) geo.window[i] = geo.result[i];
    }
    geo.grid = boundary == DeconvBoundary::Reflect && !on_extended_grid ? reflect_grid_shape(shape, psf_shape)
                                                                         : fast_fft_shape(need);
    return geo;
  }

  BlurModel(const Exec& ex, const T* image, const Shape& shape, const T* psf, const Shape& psf_shape,
            DeconvBoundary boundary, bool on_extended_grid = false)
      : ex_(ex),
        geo_(geometry(shape, psf_shape, boundary, on_extended_grid)),
        periodic_(boundary != DeconvBoundary::Auto),
        grid_(dims_of(geo_.grid)),
        image_(dims_of(shape)),
        observed_(boundary == DeconvBoundary::Reflect ? grid_ : image_),
        window_(dims_of(geo_.window, 0)),
        result_(dims_of(geo_.result, 0)),
        fft_(ex.fft(geo_.grid)),
        spectrum_(ex, static_cast<std::size_t>(fft_->spectrum_size())),
        otf_(ex, static_cast<std::size_t>(fft_->spectrum_size())),
        padded_(ex, boundary == DeconvBoundary::Reflect ? static_cast<std::size_t>(grid_.size()) : 0) {
    build(image, psf, psf_shape, boundary);
  }

  // (A public member, not the constructor's body: nvcc's extended lambdas may not be
  // defined in constructors or in private members.)
  void build(const T* image, const T* psf, const Shape& psf_shape, DeconvBoundary boundary) {
    const Exec& ex = ex_;
    if (boundary == DeconvBoundary::Reflect) {
      reflect_pad(ex, image, image_, padded_.data(), grid_, result_);
      data_ = padded_.data();
    } else {
      data_ = image;
    }
    // The OTF, scaled by 1 / |L| so that FFT, product and inverse FFT give the convolution.
    typename Exec::template Buffer<T> staged(ex, static_cast<std::size_t>(grid_.size()));
    place_centred(ex, psf, psf_shape, staged.data(), grid_);
    fft_->forward(staged.data(), otf_.data());
    C* h = otf_.data();
    const T scale = T(1) / static_cast<T>(grid_.size());
    ex.for_each(fft_->spectrum_size(), [=] UNBLUR_HD(Index i) {
      h[i].x *= scale;
      h[i].y *= scale;
    });
  }

  const Shape& grid_shape() const { return geo_.grid; }
  Index grid_size() const { return grid_.size(); }
  Index observed_size() const { return observed_.size(); }
  const Dims& grid() const { return grid_; }
  const Dims& observed() const { return observed_; }
  const Dims& window() const { return window_; }        ///< the observed pixels' offset in the grid
  const Dims& result_offset() const { return result_; }  ///< the user's image's offset in the grid
  const Dims& image() const { return image_; }
  bool is_periodic() const { return periodic_; }
  const T* data() const { return data_; }  ///< observed_size() values the data term fits
  const C* otf() const { return otf_.data(); }
  const typename Exec::Fft& fft() const { return *fft_; }
  C* spectrum() const { return spectrum_.data(); }

  /// out (grid) = h * in (conjugate: h^T * in); in and out may be the same array.
  void apply(const T* in, T* out, bool conjugate) const {
    fft_->forward(in, spectrum_.data());
    C* s = spectrum_.data();
    const C* h = otf_.data();
    const T sign = conjugate ? T(-1) : T(1);
    ex_.for_each(fft_->spectrum_size(), [=] UNBLUR_HD(Index i) {
      const T sr = s[i].x, si = s[i].y, hr = h[i].x, hi = sign * h[i].y;
      s[i].x = sr * hr - si * hi;
      s[i].y = sr * hi + si * hr;
    });
    fft_->inverse(spectrum_.data(), out);
  }

  /// grid = `observed` in the window, `fill` elsewhere.
  void embed(const T* observed, T* grid, T fill) const {
    const Dims g = grid_, n = observed_, o = window_;
    ex_.for_each(g.size(), [=] UNBLUR_HD(Index t) {
      const Index3 p = unravel(t, g);
      const Index a = p.i0 - o.n[0], b = p.i1 - o.n[1], c = p.i2 - o.n[2];
      const bool in = a >= 0 && a < n.n[0] && b >= 0 && b < n.n[1] && c >= 0 && c < n.n[2];
      grid[t] = in ? observed[ravel(a, b, c, n)] : fill;
    });
  }

  /// out (the image's shape) = the estimate's window at the result offset.
  void extract(const T* estimate, T* out) const {
    const Dims g = grid_, n = image_, o = result_;
    ex_.for_each(n.size(), [=] UNBLUR_HD(Index t) {
      const Index3 p = unravel(t, n);
      out[t] = estimate[ravel(p.i0 + o.n[0], p.i1 + o.n[1], p.i2 + o.n[2], g)];
    });
  }

 private:
  const Exec& ex_;
  Geometry geo_;
  bool periodic_ = true;
  Dims grid_, image_, observed_, window_, result_;
  std::shared_ptr<const typename Exec::Fft> fft_;
  typename Exec::template Buffer<C> spectrum_, otf_;
  typename Exec::template Buffer<T> padded_;
  const T* data_ = nullptr;
};

}  // namespace unblur::gpu
