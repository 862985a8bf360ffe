// Blind Richardson-Lucy (MATLAB's deconvblind; Fish et al. 1995): alternating
// multiplicative updates of the image and the PSF on the valid-blur model.
//
// g (rows x cols) is the observation, h (kh x kw, odd) the PSF and f the scene on the
// extended grid (rows + kh - 1) x (cols + kw - 1), A_h f = valid(h * f):
//     f <- f A_h^T(g / A_h f) / A_h^T 1            (image step; halo pixels with
//                                                   A_h^T 1 < 1e-4 max are held)
//     h <- h A_f^T(g / A_h f) / A_f^T 1, h <- h / sum h    (PSF step)
// All products are FFTs on one grid (fast_fft_shape of the extended grid). The start
// is the observation mirrored into the halo (numpy.pad 'reflect'). The same maths
// runs in python/unblur/_xp/blind_richardson_lucy.py.
#pragma once

#include "core/array.hpp"
#include "core/iteration.hpp"

namespace unblur {

struct BlindRLOptions {
  int iterations = 10;      ///< alternations (>= 1)
  int psf_iterations = 1;   ///< PSF updates per alternation (>= 0)
  int threads = 0;
};

/// image: rows x cols (finite; negatives are read as 0). psf: kh x kw, odd, >= 0, with
/// a positive sum, at most the image's size; overwritten with the estimate (sum 1).
/// out: rows x cols, the restored image. Returns the number of alternations run (the
/// callback may stop early).
template <typename T>
int blind_richardson_lucy(const T* image, const Shape& shape, T* psf, const Shape& psf_shape, T* out,
                          const BlindRLOptions& options, const IterationCallback& callback = {});

}  // namespace unblur
