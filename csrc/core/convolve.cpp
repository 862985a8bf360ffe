#include "core/convolve.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/fft.hpp"

namespace unblur {
namespace {

// Shapes are handled as three axes, leading axes of extent 1 for 1-D and 2-D data.
using Dims = std::array<std::ptrdiff_t, 3>;

Dims dims3(const Shape& s) {
  Dims d{1, 1, 1};
  const std::size_t lead = 3 - s.size();
  for (std::size_t i = 0; i < s.size(); ++i) d[lead + i] = s[i];
  return d;
}

// Where the buffer handed to the FFT (or to the direct loops) comes from, per axis:
// buffer[i] = extended image at image coordinate start + i for i < len, 0 for
// len <= i < grid; the wanted output u is the circular convolution at u + crop.
struct Layout {
  Dims start{0, 0, 0}, len{1, 1, 1}, grid{1, 1, 1}, crop{0, 0, 0};
};

bool zero_boundary(Boundary boundary, double cval) {
  return boundary == Boundary::Constant && cval == 0;
}

// Offset of output index 0 in 'full' coordinates (full index m reads image m - j).
std::ptrdiff_t mode_offset(ConvolveMode mode, std::ptrdiff_t k) {
  switch (mode) {
    case ConvolveMode::Full: return 0;
    case ConvolveMode::Same: return k / 2;
    case ConvolveMode::Valid: return k - 1;
  }
  return 0;
}

void require_convolve_args(const Shape& shape, const Shape& kernel_shape) {
  require_shape(shape, "image");
  require_shape(kernel_shape, "kernel");
  UNBLUR_REQUIRE(kernel_shape.size() == shape.size(), "kernel has " << kernel_shape.size()
                     << " dimensions but the image has " << shape.size());
}

// `fft`: the buffer is padded to a fast FFT grid free of wrap-around on the wanted
// outputs; otherwise it is exactly the extended region the direct loops read.
Layout make_layout(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode,
                   Boundary boundary, double cval, bool fft) {
  const Shape out = convolve_output_shape(shape, kernel_shape, mode);
  const std::size_t nd = shape.size(), lead = 3 - nd;
  Layout l;
  Shape need(nd);
  // With a zero boundary the halo holds nothing: the image alone sits at the origin and
  // a grid of N + K - 1 holds its whole linear convolution ('full' then needs no
  // 2(K - 1) halo). Otherwise the halo is data: the grid holds M + K - 1 samples.
  const bool bare = fft && zero_boundary(boundary, cval) && mode != ConvolveMode::Valid;
  for (std::size_t i = 0; i < nd; ++i) {
    const std::ptrdiff_t n = shape[i], k = kernel_shape[i], m = out[i];
    const std::ptrdiff_t off = mode_offset(mode, k);
    const std::size_t a = lead + i;
    if (bare) {
      l.start[a] = 0;
      l.len[a] = n;
      l.crop[a] = off;
      need[i] = n + k - 1;
    } else {
      l.start[a] = off - (k - 1);
      l.len[a] = m + k - 1;
      l.crop[a] = k - 1;
      need[i] = m + k - 1;
    }
  }
  const Dims g = dims3(fft ? fast_fft_shape(need) : need);
  l.grid = g;
  return l;
}

constexpr std::ptrdiff_t kCval = -1;  // boundary_index's "outside, use cval"
constexpr std::ptrdiff_t kZero = -2;  // beyond the data in the grid: 0

// Writes the extended image into `buf` (layout.grid, C order), rows in parallel.
template <typename T>
void fill_extended(const T* image, const Dims& n, const Layout& l, Boundary boundary, T cval,
                   T* buf, int threads) {
  std::array<std::vector<std::ptrdiff_t>, 3> map;
  for (std::size_t a = 0; a < 3; ++a) {
    map[a].resize(static_cast<std::size_t>(l.grid[a]));
    for (std::ptrdiff_t i = 0; i < l.grid[a]; ++i)
      map[a][i] = i < l.len[a] ? boundary_index(l.start[a] + i, n[a], boundary) : kZero;
  }
  // The stretch of the last axis that is a plain copy of an image row.
  const std::ptrdiff_t lo = std::clamp<std::ptrdiff_t>(-l.start[2], 0, l.len[2]);
  const std::ptrdiff_t hi = std::clamp<std::ptrdiff_t>(n[2] - l.start[2], lo, l.len[2]);
  const std::ptrdiff_t g1 = l.grid[1], g2 = l.grid[2], rows = l.grid[0] * l.grid[1];
  const std::ptrdiff_t* m2 = map[2].data();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    T* dst = buf + r * g2;
    const std::ptrdiff_t s0 = map[0][r / g1], s1 = map[1][r % g1];
    if (s0 == kZero || s1 == kZero) {
      std::fill(dst, dst + g2, T(0));
      continue;
    }
    if (s0 == kCval || s1 == kCval) {
      std::fill(dst, dst + l.len[2], cval);
      std::fill(dst + l.len[2], dst + g2, T(0));
      continue;
    }
    const T* src = image + (s0 * n[1] + s1) * n[2];
    auto value = [&](std::ptrdiff_t s) { return s >= 0 ? src[s] : (s == kCval ? cval : T(0)); };
    for (std::ptrdiff_t i = 0; i < lo; ++i) dst[i] = value(m2[i]);
    if (hi > lo) std::memcpy(dst + lo, src + l.start[2] + lo, sizeof(T) * static_cast<std::size_t>(hi - lo));
    for (std::ptrdiff_t i = hi; i < g2; ++i) dst[i] = value(m2[i]);
  }
}

// Rounds a count of elements up so consecutive sub-buffers stay 64-byte aligned.
template <typename E>
std::ptrdiff_t aligned_stride(std::ptrdiff_t n) {
  const auto per = static_cast<std::ptrdiff_t>(kAlignment / sizeof(E));
  return (n + per - 1) / per * per;
}

template <typename T>
void convolve_fft(const T* image, const Shape& shape, const T* kernel, const Shape& kshape, T* out,
                  const Shape& out_shape, const Layout& l, Boundary boundary, T cval, int threads) {
  const std::size_t nd = shape.size();
  const Shape grid(l.grid.begin() + (3 - nd), l.grid.end());
  auto fft = RealFFT<T>::get(grid, threads);
  AlignedBuffer<T> buf(static_cast<std::size_t>(fft->real_size()));
  fill_extended(image, dims3(shape), l, boundary, cval, buf.data(), threads);
  AlignedBuffer<std::complex<T>> spectrum(static_cast<std::size_t>(fft->spectrum_size()));
  fft->forward(buf.data(), spectrum.data());
  const T scale = T(1) / static_cast<T>(fft->real_size());
  kernel_spectrum(kernel, kshape, grid, spectrum.data(), scale, true, threads);
  fft->inverse(spectrum.data(), buf.data());
  const Dims m = dims3(out_shape);
  const std::ptrdiff_t rows = m[0] * m[1];
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t i0 = r / m[1] + l.crop[0], i1 = r % m[1] + l.crop[1];
    const T* src = buf.data() + (i0 * l.grid[1] + i1) * l.grid[2] + l.crop[2];
    std::memcpy(out + r * m[2], src, sizeof(T) * static_cast<std::size_t>(m[2]));
  }
}

// ---- overlap-save tiles ----------------------------------------------------------------
// A large grid is cut into tiles: each tile's output block plus its K - 1 halo is
// extended, transformed, multiplied by the kernel spectrum of the tile grid and cropped,
// exactly like the whole image (the same Layout, one per tile). Tiles need fewer
// operations when the kernel is small next to the image, stay in cache, and run one per
// thread with single-threaded plans, so threads never wait on each other inside a
// transform (which matters on a loaded machine).
struct Tiling {
  Dims count{1, 1, 1};  // tiles per axis
  Dims step{1, 1, 1};   // outputs per tile (the last tile on an axis may have fewer)
  Dims grid{1, 1, 1};   // FFT grid of one tile
  double units = 0;     // estimated time per thread, in grid elements * log2
};

// One real transform of g elements, in grid elements * log2(g). Grids far beyond the
// last-level cache run ~35% slower per element (one thread, float32: 191 ps for 2100^2,
// 142 ps for 560^2 and 1080^2).
double transform_units(double g, std::size_t bytes) {
  const double penalty = g * static_cast<double>(bytes) * 2 > 16e6 ? 1.35 : 1.0;
  return penalty * g * std::log2(g + 1);
}

// Whole-grid path: image and inverse transforms plus fill, multiply and crop (~2.3
// transforms) and the pruned kernel transform (~0.6), threaded by FFTW. Tiles: ~2.3
// transforms each, spread over the threads, plus one kernel transform of a tile grid.
constexpr double kWholeTransforms = 2.9;
constexpr double kTileTransforms = 2.3;
// Fixed work per tile (maps, calls, cache warm-up), in the same units.
constexpr double kTileOverheadUnits = 10000;

// Every 2^a 3^b 5^c 7^d in [lo, hi] (even ones only if `even`), ascending.
std::vector<std::ptrdiff_t> smooth_sizes(std::ptrdiff_t lo, std::ptrdiff_t hi, bool even) {
  std::vector<std::ptrdiff_t> out;
  for (std::ptrdiff_t p2 = even ? 2 : 1; p2 <= hi; p2 *= 2)
    for (std::ptrdiff_t p3 = p2; p3 <= hi; p3 *= 3)
      for (std::ptrdiff_t p5 = p3; p5 <= hi; p5 *= 5)
        for (std::ptrdiff_t p7 = p5; p7 <= hi; p7 *= 7)
          if (p7 >= lo) out.push_back(p7);
  std::sort(out.begin(), out.end());
  return out;
}

Tiling choose_tiling(const Shape& out_shape, const Shape& kernel_shape, const Shape& whole_grid,
                     std::size_t bytes, int threads) {
  const Dims m = dims3(out_shape), k = dims3(kernel_shape);
  const std::size_t lead = 3 - out_shape.size();
  Tiling best;
  best.grid = dims3(whole_grid);
  best.step = m;
  best.units = kWholeTransforms * transform_units(static_cast<double>(shape_size(whole_grid)), bytes) / threads;
  // Per axis, the candidate tile grids: fast sizes g, each holding up to g - K + 1
  // outputs; a larger grid is kept only if it needs fewer tiles. Tiles of fewer than
  // max(K, 32) outputs would be mostly halo.
  struct Axis {
    std::ptrdiff_t count, step, grid;
  };
  std::array<std::vector<Axis>, 3> cand;
  for (std::size_t a = 0; a < 3; ++a) {
    if (a < lead) {
      cand[a].push_back({1, 1, 1});
      continue;
    }
    const bool even = a == 2;
    const std::ptrdiff_t min_step = std::min(std::max<std::ptrdiff_t>(k[a], 32), m[a]);
    const std::ptrdiff_t lo = fast_fft_size(min_step + k[a] - 1, even);
    const std::ptrdiff_t hi = fast_fft_size(m[a] + k[a] - 1, even);
    std::ptrdiff_t last_count = -1;
    for (std::ptrdiff_t g : smooth_sizes(lo, hi, even)) {
      const std::ptrdiff_t step = std::min(g - k[a] + 1, m[a]);
      const std::ptrdiff_t count = (m[a] + step - 1) / step;
      if (last_count >= 0 && count >= last_count) continue;
      last_count = count;
      cand[a].push_back({count, step, g});
    }
  }
  for (const Axis& a0 : cand[0])
    for (const Axis& a1 : cand[1])
      for (const Axis& a2 : cand[2]) {
        const std::ptrdiff_t tiles = a0.count * a1.count * a2.count;
        if (tiles == 1) continue;  // the whole-grid path covers it
        const double g = static_cast<double>(a0.grid * a1.grid * a2.grid);
        const double rounds = static_cast<double>((tiles + threads - 1) / threads);
        const double units = rounds * (kTileTransforms * transform_units(g, bytes) + kTileOverheadUnits) +
                             transform_units(g, bytes);
        if (units < best.units) {
          best.count = {a0.count, a1.count, a2.count};
          best.step = {a0.step, a1.step, a2.step};
          best.grid = {a0.grid, a1.grid, a2.grid};
          best.units = units;
        }
      }
  return best;
}

template <typename T>
void convolve_fft_tiled(const T* image, const Shape& shape, const T* kernel, const Shape& kshape, T* out,
                        const Shape& out_shape, ConvolveMode mode, Boundary boundary, T cval,
                        const Tiling& tiling, int threads) {
  using C = std::complex<T>;
  const std::size_t nd = shape.size();
  const Shape grid(tiling.grid.begin() + (3 - nd), tiling.grid.end());
  auto fft = RealFFT<T>::get(grid, 1);
  const std::ptrdiff_t nr = fft->real_size(), ns = fft->spectrum_size();
  // The kernel spectrum of the tile grid, with the inverse transform's 1/|grid|. Tile
  // grids are small: one thread, and no second (multi-threaded) plan to make.
  AlignedBuffer<C> kspec(static_cast<std::size_t>(ns));
  std::fill(kspec.data(), kspec.data() + ns, C(1));
  kernel_spectrum(kernel, kshape, grid, kspec.data(), T(1) / static_cast<T>(nr), true, 1);
  const Dims n = dims3(shape), k = dims3(kshape), m = dims3(out_shape), cnt = tiling.count;
  Dims off{0, 0, 0};
  for (std::size_t a = 0; a < 3; ++a) off[a] = mode_offset(mode, k[a]);
  const std::ptrdiff_t tiles = cnt[0] * cnt[1] * cnt[2];
#pragma omp parallel num_threads(threads)
  {
    AlignedBuffer<T> buf(static_cast<std::size_t>(nr));
    AlignedBuffer<C> spec(static_cast<std::size_t>(ns));
#pragma omp for schedule(dynamic)
    for (std::ptrdiff_t t = 0; t < tiles; ++t) {
      const Dims ti{t / (cnt[1] * cnt[2]), (t / cnt[2]) % cnt[1], t % cnt[2]};
      Layout l;
      Dims o0{0, 0, 0}, ext{1, 1, 1};
      for (std::size_t a = 0; a < 3; ++a) {
        o0[a] = ti[a] * tiling.step[a];
        ext[a] = std::min(tiling.step[a], m[a] - o0[a]);
        l.start[a] = o0[a] + off[a] - (k[a] - 1);
        l.len[a] = ext[a] + k[a] - 1;
        l.grid[a] = tiling.grid[a];
        l.crop[a] = k[a] - 1;
      }
      fill_extended(image, n, l, boundary, cval, buf.data(), 1);
      fft->forward(buf.data(), spec.data());
      C* sp = spec.data();
      const C* kp = kspec.data();
      for (std::ptrdiff_t i = 0; i < ns; ++i) sp[i] *= kp[i];
      fft->inverse(spec.data(), buf.data());
      for (std::ptrdiff_t i0 = 0; i0 < ext[0]; ++i0)
        for (std::ptrdiff_t i1 = 0; i1 < ext[1]; ++i1) {
          const T* src = buf.data() + ((i0 + l.crop[0]) * l.grid[1] + i1 + l.crop[1]) * l.grid[2] + l.crop[2];
          T* dst = out + ((o0[0] + i0) * m[1] + o0[1] + i1) * m[2] + o0[2];
          std::memcpy(dst, src, sizeof(T) * static_cast<std::size_t>(ext[2]));
        }
    }
  }
}

template <typename T>
void convolve_direct(const T* image, const Shape& shape, const T* kernel, const Shape& kshape,
                     T* out, const Shape& out_shape, const Layout& l, Boundary boundary, T cval,
                     int threads) {
  const Dims k = dims3(kshape), m = dims3(out_shape), e = l.grid;
  AlignedBuffer<T> ext(static_cast<std::size_t>(e[0] * e[1] * e[2]));
  fill_extended(image, dims3(shape), l, boundary, cval, ext.data(), threads);
  // out[u] = sum_j flipped[j] * ext[u + j]: correlation with the flipped kernel, whose
  // innermost loop runs along a contiguous output row and vectorises.
  const std::ptrdiff_t kn = k[0] * k[1] * k[2];
  std::vector<T> flipped(static_cast<std::size_t>(kn));
  for (std::ptrdiff_t i = 0; i < kn; ++i) flipped[i] = kernel[kn - 1 - i];
  // Rows are cut into chunks that stay in L1 and give 1-D signals parallelism too.
  constexpr std::ptrdiff_t kChunk = 1024;
  const std::ptrdiff_t chunks = (m[2] + kChunk - 1) / kChunk, rows = m[0] * m[1];
  const T* w = flipped.data();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t t = 0; t < rows * chunks; ++t) {
    const std::ptrdiff_t r = t / chunks, x0 = (t % chunks) * kChunk;
    const std::ptrdiff_t nx = std::min(kChunk, m[2] - x0);
    const std::ptrdiff_t o0 = r / m[1], o1 = r % m[1];
    T* y = out + r * m[2] + x0;
    std::fill(y, y + nx, T(0));
    for (std::ptrdiff_t j0 = 0; j0 < k[0]; ++j0) {
      for (std::ptrdiff_t j1 = 0; j1 < k[1]; ++j1) {
        const T* src = ext.data() + ((o0 + j0) * e[1] + (o1 + j1)) * e[2] + x0;
        const T* wr = w + (j0 * k[1] + j1) * k[2];
        std::ptrdiff_t j2 = 0;
        for (; j2 + 4 <= k[2]; j2 += 4) {
          const T a = wr[j2], b = wr[j2 + 1], c = wr[j2 + 2], d = wr[j2 + 3];
          const T* s = src + j2;
#pragma omp simd
          for (std::ptrdiff_t x = 0; x < nx; ++x)
            y[x] += a * s[x] + b * s[x + 1] + c * s[x + 2] + d * s[x + 3];
        }
        for (; j2 < k[2]; ++j2) {
          const T a = wr[j2];
          const T* s = src + j2;
#pragma omp simd
          for (std::ptrdiff_t x = 0; x < nx; ++x) y[x] += a * s[x];
        }
      }
    }
  }
}

// ---- cost model ----------------------------------------------------------------------
// Auto compares two time estimates whose constants were fitted on the development
// machine (2 x86-64 cores, default flags without -march=native, one thread, best of 7
// on a machine shared with other builds):
//   direct = (58 ps float32 | 110 ps float64) per multiply-add * (1 + 32 / row length)
//            + (1.5 ns | 3 ns) per output (extension, zeroing; visible with few taps)
//   fft    = 30 us + (160 ps | 210 ps) per Tiling::units (grid elements * log2 of the
//            chosen tiles or whole grid, see choose_tiling)
// both divided among the threads. Measured vs model (ms, float32, one thread):
//   2048^2 * 31^2   fft 34.0 / 32.0   direct 251 / 241
//   1024^2 * 13^2   fft  5.9 /  6.8   direct 11.3 / 10.6 + 1.6
//   1024^2 *  7^2   fft  6.0 /  6.1   direct  4.1 / 3.1 + 1.6
//   256^2  *  9^2   fft 0.32 / 0.44   direct 0.32 / 0.35 + 0.1
//   96^3   *  7^3   fft 10.4 /  8.5   direct 27.2 / 23.5 + 1.3
//   64^3   *  5^3   fft  2.6 /  2.3   direct  2.7 / 2.9 + 0.4
//   2^20   * 33     fft  4.8 /  5.1   direct  4.1 / 2.1 + 1.6
// (float64: fft 1.2-1.4x, direct ~2x the float32 times.)
constexpr double kDirectSecondsPerMac[2] = {58e-12, 110e-12};  // float32, float64; one thread
constexpr double kDirectShortRow = 32;                         // samples
constexpr double kDirectSecondsPerOutput[2] = {1.5e-9, 3e-9};
constexpr double kFftSecondsPerUnit[2] = {160e-12, 210e-12};  // float32, float64   // per Tiling::units
constexpr double kFftFixedSeconds = 30e-6;

}  // namespace

Shape convolve_output_shape(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode) {
  require_convolve_args(shape, kernel_shape);
  Shape out(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::ptrdiff_t n = shape[i], k = kernel_shape[i];
    switch (mode) {
      case ConvolveMode::Full: out[i] = n + k - 1; break;
      case ConvolveMode::Same: out[i] = n; break;
      case ConvolveMode::Valid:
        UNBLUR_REQUIRE(k <= n, "kernel is larger than the image along axis "
                                   << i << " (" << k << " > " << n << "); mode 'valid' has no output");
        out[i] = n - k + 1;
        break;
      default: UNBLUR_REQUIRE(false, "unknown convolution mode " << static_cast<int>(mode));
    }
  }
  return out;
}

namespace {
Tiling plan_tiles(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode, Boundary boundary,
                  double cval, std::size_t bytes, int threads) {
  const Shape out = convolve_output_shape(shape, kernel_shape, mode);
  const Layout l = make_layout(shape, kernel_shape, mode, boundary, cval, true);
  const Shape whole(l.grid.begin() + (3 - shape.size()), l.grid.end());
  return choose_tiling(out, kernel_shape, whole, bytes, resolve_threads(threads));
}
}  // namespace

template <typename T>
ConvolveFftPlan convolve_fft_plan(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode,
                                  Boundary boundary, double cval, int threads) {
  const Tiling t = plan_tiles(shape, kernel_shape, mode, boundary, cval, sizeof(T), threads);
  const std::size_t lead = 3 - shape.size();
  return {Shape(t.count.begin() + lead, t.count.end()), Shape(t.grid.begin() + lead, t.grid.end())};
}

template <typename T>
ConvolveCost convolve_cost(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode,
                           Boundary boundary, double cval, int threads) {
  threads = resolve_threads(threads);
  const Shape out = convolve_output_shape(shape, kernel_shape, mode);
  const double macs = static_cast<double>(shape_size(out)) * static_cast<double>(shape_size(kernel_shape));
  const double row = static_cast<double>(std::min<std::ptrdiff_t>(out.back(), 1024));
  ConvolveCost c;
  const bool dbl = sizeof(T) == 8;
  c.direct_seconds = (kDirectSecondsPerMac[dbl] * macs * (1 + kDirectShortRow / row) +
                      kDirectSecondsPerOutput[dbl] * static_cast<double>(shape_size(out))) /
                     threads;
  const Tiling t = plan_tiles(shape, kernel_shape, mode, boundary, cval, sizeof(T), threads);
  c.fft_seconds = kFftFixedSeconds + kFftSecondsPerUnit[dbl] * t.units;
  return c;
}

template <typename T>
ConvolveMethod choose_convolve_method(const Shape& shape, const Shape& kernel_shape, ConvolveMode mode,
                                      Boundary boundary, double cval, int threads) {
  const ConvolveCost c = convolve_cost<T>(shape, kernel_shape, mode, boundary, cval, threads);
  return c.direct_seconds <= c.fft_seconds ? ConvolveMethod::Direct : ConvolveMethod::Fft;
}

template <typename T>
void convolve(const T* image, const Shape& shape, const T* kernel, const Shape& kernel_shape, T* out,
              ConvolveMode mode, Boundary boundary, T cval, ConvolveMethod method, int threads) {
  UNBLUR_REQUIRE(image && kernel && out, "null pointer passed to convolve");
  UNBLUR_REQUIRE(static_cast<int>(boundary) >= 0 && static_cast<int>(boundary) <= 4,
                 "unknown boundary " << static_cast<int>(boundary));
  UNBLUR_REQUIRE(std::isfinite(static_cast<double>(cval)), "cval must be finite");
  const Shape out_shape = convolve_output_shape(shape, kernel_shape, mode);
  threads = resolve_threads(threads);
  const double c = static_cast<double>(cval);
  if (method == ConvolveMethod::Auto)
    method = choose_convolve_method<T>(shape, kernel_shape, mode, boundary, c, threads);
  switch (method) {
    case ConvolveMethod::Fft: {
      const Layout l = make_layout(shape, kernel_shape, mode, boundary, c, true);
      const Tiling tiling = plan_tiles(shape, kernel_shape, mode, boundary, c, sizeof(T), threads);
      if (tiling.count[0] * tiling.count[1] * tiling.count[2] > 1)
        convolve_fft_tiled(image, shape, kernel, kernel_shape, out, out_shape, mode, boundary, cval, tiling, threads);
      else
        convolve_fft(image, shape, kernel, kernel_shape, out, out_shape, l, boundary, cval, threads);
      return;
    }
    case ConvolveMethod::Direct: {
      const Layout l = make_layout(shape, kernel_shape, mode, boundary, c, false);
      convolve_direct(image, shape, kernel, kernel_shape, out, out_shape, l, boundary, cval, threads);
      return;
    }
    default: UNBLUR_REQUIRE(false, "unknown convolution method " << static_cast<int>(method));
  }
}

template ConvolveMethod choose_convolve_method<float>(const Shape&, const Shape&, ConvolveMode, Boundary,
                                                      double, int);
template ConvolveMethod choose_convolve_method<double>(const Shape&, const Shape&, ConvolveMode, Boundary,
                                                       double, int);
template ConvolveCost convolve_cost<float>(const Shape&, const Shape&, ConvolveMode, Boundary, double, int);
template ConvolveCost convolve_cost<double>(const Shape&, const Shape&, ConvolveMode, Boundary, double, int);
template ConvolveFftPlan convolve_fft_plan<float>(const Shape&, const Shape&, ConvolveMode, Boundary, double, int);
template ConvolveFftPlan convolve_fft_plan<double>(const Shape&, const Shape&, ConvolveMode, Boundary, double,
                                                   int);
template void convolve<float>(const float*, const Shape&, const float*, const Shape&, float*,
                              ConvolveMode, Boundary, float, ConvolveMethod, int);
template void convolve<double>(const double*, const Shape&, const double*, const Shape&, double*,
                               ConvolveMode, Boundary, double, ConvolveMethod, int);

}  // namespace unblur
