// N-D convolution (1-D, 2-D, 3-D) of an image with a kernel, by FFT or directly.
//
// Definition. With the kernel's centre at c = K / 2 (integer division, per axis; the
// PSF convention of psf2otf), the 'same' output is
//
//     out[p] = sum_j kernel[j] * ext[p + c - j],     p in [0, N),
//
// where ext is the image extended beyond its edges by the Boundary rule. 'full' gives
// the N + K - 1 outputs p in [-c, N + K - 1 - c), 'valid' the N - K + 1 outputs
// p in [K - 1 - c, N - c) that need no extension. This is convolution (the kernel is
// flipped), not correlation.
//
// Mechanism (ConvolveMethod::Fft). The region of ext that the wanted outputs read
// (output extent M plus a halo of K - 1 per axis) is written into a 64-byte aligned
// buffer of fast FFT shape P >= M + K - 1, so the circular convolution of that buffer
// with the kernel equals the linear one on the wanted outputs (no wrap-around);
// r2c * kernel spectrum (scaled by 1/|P|) * c2r, then a crop. The same buffer rule
// serves every boundary, so 'periodic' 'same' is exact circular convolution of size N
// at a fast FFT size, whatever N is. With a zero boundary the halo is zero and
// P >= N + K - 1 already avoids wrap-around, which makes 'full' cheaper.
//
// When the kernel is small next to the image, the output is cut into overlap-save
// tiles, each handled by exactly that rule on a smaller grid (its output block, a
// K - 1 halo of the extended image, r2c * kernel spectrum * c2r, crop): fewer
// operations, transforms that stay in cache, and one tile per thread with no
// synchronisation inside a transform. convolve_fft_plan says which grid is used.
//
// ConvolveMethod::Direct extends the image the same way and sums K products per output
// in vectorisable loops (OpenMP over output rows); it wins for small kernels.
#pragma once

#include <cstddef>

#include "core/array.hpp"
#include "core/boundary.hpp"

namespace unblur {

/// Output size per axis: Full = N + K - 1, Same = N, Valid = N - K + 1.
enum class ConvolveMode { Full = 0, Same = 1, Valid = 2 };

/// Auto chooses Fft or Direct by choose_convolve_method.
enum class ConvolveMethod { Auto = 0, Fft = 1, Direct = 2 };

/// Shape of the output of convolve. Throws ValueError for bad shapes, a kernel with
/// another number of dimensions than the image, or (Valid) a kernel larger than the
/// image on any axis.
Shape convolve_output_shape(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode);

/// Estimated run time of each method (the cost model behind Auto).
struct ConvolveCost {
  double direct_seconds = 0;
  double fft_seconds = 0;
};
template <typename T>
ConvolveCost convolve_cost(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode,
                           Boundary boundary, double cval = 0, int threads = 0);

/// The method Auto runs for these sizes in precision T with `threads` threads (<= 0:
/// the default), Fft or Direct, from a cost model measured on a 2-core x86-64 machine
/// (constants in convolve.cpp).
template <typename T>
ConvolveMethod choose_convolve_method(const Shape& shape, const Shape& kernel_shape,
                                      ConvolveMode mode, Boundary boundary, double cval = 0,
                                      int threads = 0);

/// How ConvolveMethod::Fft splits the work. One tile: the whole extended image on one
/// fast grid, transformed by FFTW's threads. Several (overlap-save): each tile's output
/// block plus its K - 1 halo, extended by the same rule, on the fast grid `grid`, one
/// tile per thread at a time; chosen when that costs fewer operations (a kernel small
/// next to the image), which also keeps each transform in cache.
struct ConvolveFftPlan {
  Shape tiles;  ///< tiles per axis
  Shape grid;   ///< FFT grid of one tile
};
template <typename T>
ConvolveFftPlan convolve_fft_plan(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode,
                                  Boundary boundary, double cval = 0, int threads = 0);

/// out = image (*) kernel, as described above.
///
/// image: C-contiguous, `shape` (1 to 3 axes). kernel: C-contiguous, `kernel_shape`
/// with as many axes. out: C-contiguous, convolve_output_shape(shape, kernel_shape,
/// mode); it must not overlap the inputs. Any alignment works. threads <= 0 means the
/// default (get_threads()). Thread-safe: any number of calls may run at once.
template <typename T>
void convolve(const T* image, const Shape& shape, const T* kernel, const Shape& kernel_shape,
              T* out, ConvolveMode mode = ConvolveMode::Same,
              Boundary boundary = Boundary::Constant, T cval = T(0),
              ConvolveMethod method = ConvolveMethod::Auto, int threads = 0);

}  // namespace unblur
