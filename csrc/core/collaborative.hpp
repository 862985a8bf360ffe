// Collaborative Wiener filtering guided by a pilot estimate: BM3D's second stage
// (Dabov, Foi, Katkovnik and Egiazarian, IEEE TIP 2007) with the pilot given. unblur's
// plug-and-play gives it the learned denoiser's output, whose flat regions are good and
// whose repeated fine structure the groups of similar blocks restore better.
//
// For each reference block (block x block, every `step` pixels along each axis plus the
// last position): the blocks whose corners lie within `radius` of the reference's are
// compared with it on the pilot (mean squared difference, in double); the group is the
// reference, then the others in ascending distance (ties: the earlier offset in
// row-major scan order) at distance <= tau, up to `group` blocks. Both groups (noisy
// and pilot) are transformed by an orthonormal 2-D DCT per block and an orthonormal DCT
// across the group; the noisy coefficients are scaled by P^2 / (P^2 + s^2), s^2 the mean
// of sigma^2 over the reference block, and transformed back. Every estimate is added
// with the weight 1 / (max(s^2, 1e-30) * max(sum of the gains^2, 1)) times a Kaiser
// window (beta 2); the result is the weighted mean at each pixel.
//
// The same algorithm, to rounding, as python/unblur/_xp/collaborative.py. The result
// does not depend on the thread count: the references are processed in horizontal
// stripes of 2 * radius + block rows, which touch disjoint rows when every other
// stripe runs at once; each stripe adds its groups in reference order.
#pragma once

#include <cstddef>

namespace unblur {

struct CollaborativeParams {
  std::ptrdiff_t block = 8;
  std::ptrdiff_t step = 3;
  std::ptrdiff_t radius = 12;
  std::ptrdiff_t group = 16;
  double tau = 400.0 / (255.0 * 255.0);  // BM3D's Wiener-stage threshold, images in [0, 1]
};

/// out (h x w) = the collaborative Wiener estimate of `noisy` guided by `pilot` (both
/// h x w, row-major). `sigma_map`: the noise's standard deviation per pixel (h x w), or
/// nullptr for `sigma` everywhere. Images smaller than one block along an axis are
/// returned as the pilot. `out` may not overlap the inputs. Throws ValueError for a bad
/// size or parameter (block 1..32, step 1..block, radius 0..256, group 1..64, tau >= 0,
/// sigma >= 0 and finite).
template <typename T>
void collaborative_wiener(const T* noisy, const T* pilot, const double* sigma_map, double sigma, T* out,
                          std::ptrdiff_t h, std::ptrdiff_t w, const CollaborativeParams& params = {},
                          int threads = 0);

}  // namespace unblur
