#include "cuda/convolve.hpp"

#include <algorithm>
#include <array>

#include "cuda/check.hpp"

namespace unblur::cuda {
namespace {

using Index = long long;

// A shape padded to three axes with leading 1s (so one kernel serves 1-D to 3-D).
struct Dims {
  Index n[3] = {1, 1, 1};
  __host__ __device__ Index size() const { return n[0] * n[1] * n[2]; }
};

// The 3-D index of flat (row-major) position t in d.
struct Index3 {
  Index i0, i1, i2;
};
__device__ inline Index3 unravel(Index t, const Dims& d) {
  return {t / (d.n[2] * d.n[1]), (t / d.n[2]) % d.n[1], t % d.n[2]};
}

// Grid-stride loop over [0, total) (a capped grid covers any size).
#define UNBLUR_FOR_EACH(t, total)                                                          \
  for (Index t = blockIdx.x * static_cast<Index>(blockDim.x) + threadIdx.x; t < (total); \
       t += static_cast<Index>(gridDim.x) * blockDim.x)

Dims dims_of(const Shape& s, Index lead = 1) {
  Dims d;
  d.n[0] = d.n[1] = d.n[2] = lead;
  for (std::size_t i = 0; i < s.size(); ++i) d.n[3 - s.size() + i] = static_cast<Index>(s[i]);
  return d;
}

constexpr int kThreads = 256;

// Enough blocks to cover n with grid-stride loops, capped (the loops take the rest).
unsigned blocks_for(Index n) {
  const Index b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<Index>(1, std::min<Index>(b, 65535)));
}

// Smallest m >= n whose prime factors are 2, 3, 5 and 7 (cuFFT's fastest sizes).
std::ptrdiff_t smooth_size(std::ptrdiff_t n) {
  for (std::ptrdiff_t m = n;; ++m) {
    std::ptrdiff_t r = m;
    for (std::ptrdiff_t p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

// grid[t] = ext[start + t] for t < used on every axis (ext: the image extended by the
// boundary rule, cval outside for Constant), 0 beyond.
template <typename T>
__global__ void extend_into_grid(const T* __restrict__ image, Dims img, T* __restrict__ grid, Dims g, Dims start,
                                 Dims used, Boundary boundary, T cval) {
  UNBLUR_FOR_EACH(t, g.size()) {
    const Index3 p = unravel(t, g);
    T v = T(0);
    if (p.i0 < used.n[0] && p.i1 < used.n[1] && p.i2 < used.n[2]) {
      const Index i0 = boundary_index(start.n[0] + p.i0, img.n[0], boundary);
      const Index i1 = boundary_index(start.n[1] + p.i1, img.n[1], boundary);
      const Index i2 = boundary_index(start.n[2] + p.i2, img.n[2], boundary);
      v = (i0 < 0 || i1 < 0 || i2 < 0) ? cval : image[(i0 * img.n[1] + i1) * img.n[2] + i2];
    }
    grid[t] = v;
  }
}

// grid = the kernel at the origin (shift 0) or with its centre there (shift = K / 2,
// wrapped: psf2otf's placement), zeros elsewhere; K <= the grid on every axis.
template <typename T>
__global__ void place_kernel(const T* __restrict__ kernel, Dims k, T* __restrict__ grid, Dims g, Dims shift) {
  UNBLUR_FOR_EACH(t, g.size()) {
    const Index3 p = unravel(t, g);
    // The kernel index that lands on t: j = (t + shift) mod n, if it is inside the kernel.
    const Index j0 = (p.i0 + shift.n[0]) % g.n[0], j1 = (p.i1 + shift.n[1]) % g.n[1];
    const Index j2 = (p.i2 + shift.n[2]) % g.n[2];
    grid[t] = (j0 < k.n[0] && j1 < k.n[1] && j2 < k.n[2]) ? kernel[(j0 * k.n[1] + j1) * k.n[2] + j2] : T(0);
  }
}

// a[i] *= b[i] * scale, complex.
template <typename C, typename T>
__global__ void multiply_spectra(C* __restrict__ a, const C* __restrict__ b, Index n, T scale) {
  UNBLUR_FOR_EACH(i, n) {
    const C x = a[i], y = b[i];
    a[i].x = (x.x * y.x - x.y * y.y) * scale;
    a[i].y = (x.x * y.y + x.y * y.x) * scale;
  }
}

// out[m] = grid[m + offset] over the output's shape.
template <typename T>
__global__ void crop_grid(const T* __restrict__ grid, Dims g, T* __restrict__ out, Dims m, Dims offset) {
  UNBLUR_FOR_EACH(t, m.size()) {
    const Index3 p = unravel(t, m);
    out[t] = grid[((p.i0 + offset.n[0]) * g.n[1] + p.i1 + offset.n[1]) * g.n[2] + p.i2 + offset.n[2]];
  }
}

void require_shapes(const Shape& shape, const Shape& kernel_shape) {
  UNBLUR_REQUIRE(!shape.empty() && shape.size() <= 3, "image must have 1 to 3 axes, got " << shape.size());
  UNBLUR_REQUIRE(kernel_shape.size() == shape.size(),
                 "kernel must have as many axes as the image (" << shape.size() << "), got " << kernel_shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    UNBLUR_REQUIRE(shape[i] >= 1, "image axes must be >= 1, got " << shape[i]);
    UNBLUR_REQUIRE(kernel_shape[i] >= 1, "kernel axes must be >= 1, got " << kernel_shape[i]);
  }
}

}  // namespace

// The CPU engine's rule (core/convolve.cpp), written again because that file would bring
// FFTW into this module; tests/test_cuda.py checks that the two agree.
Shape convolve_output_shape(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode) {
  require_shapes(shape, kernel_shape);
  Shape out(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::ptrdiff_t n = shape[i], k = kernel_shape[i];
    if (mode == ConvolveMode::Full) {
      out[i] = n + k - 1;
    } else if (mode == ConvolveMode::Same) {
      out[i] = n;
    } else {
      UNBLUR_REQUIRE(k <= n, "kernel is larger than the image along axis " << i << " (" << k << " > " << n
                                                                            << "); mode 'valid' has no output");
      out[i] = n - k + 1;
    }
  }
  return out;
}

template <typename T>
void convolve(const T* image, const Shape& shape, const T* kernel, const Shape& kernel_shape, T* out,
              ConvolveMode mode, Boundary boundary, T cval, cudaStream_t stream) {
  const Shape out_shape = cuda::convolve_output_shape(shape, kernel_shape, mode);
  const std::size_t d = shape.size();
  // Output position p of out[0] on each axis, and the extended region the outputs read:
  // ext[q], q in [p0 + c - (K - 1), p0 + c + M - 1], M + K - 1 values.
  Shape used(d), start(d), grid_shape(d), offset(d);
  for (std::size_t i = 0; i < d; ++i) {
    const std::ptrdiff_t k = kernel_shape[i], c = k / 2;
    const std::ptrdiff_t p0 = mode == ConvolveMode::Same ? 0 : mode == ConvolveMode::Full ? -c : k - 1 - c;
    used[i] = out_shape[i] + k - 1;
    start[i] = p0 + c - (k - 1);
    grid_shape[i] = smooth_size(used[i]);
    offset[i] = k - 1;  // out[m] = (grid (*) kernel)[m + K - 1]: no wrapped term reaches it
  }
  auto plan = RealPlan<T>::get(grid_shape, stream);
  const Index n_grid = plan->real_size(), n_spec = plan->spectrum_size();
  DeviceBuffer<T> grid(static_cast<std::size_t>(n_grid), stream);
  DeviceBuffer<Complex<T>> spectrum(static_cast<std::size_t>(n_spec), stream),
      kernel_spectrum(static_cast<std::size_t>(n_spec), stream);
  const Dims g = dims_of(grid_shape), zero = dims_of(Shape(d, 0), 0);

  place_kernel<T><<<blocks_for(n_grid), kThreads, 0, stream>>>(kernel, dims_of(kernel_shape), grid.data(), g, zero);
  UNBLUR_CUDA_CHECK_LAUNCH();
  plan->forward(grid.data(), kernel_spectrum.data());
  extend_into_grid<T><<<blocks_for(n_grid), kThreads, 0, stream>>>(image, dims_of(shape), grid.data(), g,
                                                                    dims_of(start, 0), dims_of(used), boundary, cval);
  UNBLUR_CUDA_CHECK_LAUNCH();
  plan->forward(grid.data(), spectrum.data());
  multiply_spectra<<<blocks_for(n_spec), kThreads, 0, stream>>>(spectrum.data(), kernel_spectrum.data(), n_spec,
                                                                T(1) / static_cast<T>(n_grid));
  UNBLUR_CUDA_CHECK_LAUNCH();
  plan->inverse(spectrum.data(), grid.data());
  const Dims m = dims_of(out_shape);
  crop_grid<T><<<blocks_for(m.size()), kThreads, 0, stream>>>(grid.data(), g, out, m, dims_of(offset, 0));
  UNBLUR_CUDA_CHECK_LAUNCH();
}

template <typename T>
void psf2otf(const T* psf, const Shape& psf_shape, const Shape& shape, Complex<T>* otf, cudaStream_t stream) {
  require_shapes(shape, psf_shape);
  Shape shift(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    UNBLUR_REQUIRE(psf_shape[i] <= shape[i],
                   "psf of length " << psf_shape[i] << " on axis " << i << " does not fit the grid (" << shape[i] << ")");
    shift[i] = psf_shape[i] / 2;
  }
  auto plan = RealPlan<T>::get(shape, stream);
  const Index n = plan->real_size();
  DeviceBuffer<T> grid(static_cast<std::size_t>(n), stream);
  place_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(psf, dims_of(psf_shape), grid.data(), dims_of(shape),
                                                          dims_of(shift, 0));
  UNBLUR_CUDA_CHECK_LAUNCH();
  plan->forward(grid.data(), otf);
}

template void convolve<float>(const float*, const Shape&, const float*, const Shape&, float*, ConvolveMode, Boundary,
                              float, cudaStream_t);
template void convolve<double>(const double*, const Shape&, const double*, const Shape&, double*, ConvolveMode,
                               Boundary, double, cudaStream_t);
template void psf2otf<float>(const float*, const Shape&, const Shape&, Complex<float>*, cudaStream_t);
template void psf2otf<double>(const double*, const Shape&, const Shape&, Complex<double>*, cudaStream_t);

}  // namespace unblur::cuda
