#include "core/fft.hpp"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "core/error.hpp"

namespace unblur {
namespace {

// ---- precision traits over FFTW's two APIs ------------------------------------------
template <typename T>
struct Fftw;

template <>
struct Fftw<float> {
  using plan = fftwf_plan;
  using cpx = fftwf_complex;
  static void init_threads() { fftwf_init_threads(); }
  static void plan_with_nthreads(int n) { fftwf_plan_with_nthreads(n); }
  static plan r2c(int rank, const int* n, float* in, cpx* out, unsigned f) {
    return fftwf_plan_dft_r2c(rank, n, in, out, f);
  }
  static plan c2r(int rank, const int* n, cpx* in, float* out, unsigned f) {
    return fftwf_plan_dft_c2r(rank, n, in, out, f);
  }
  static plan c2c(int rank, const int* n, cpx* in, cpx* out, int sign, unsigned f) {
    return fftwf_plan_dft(rank, n, in, out, sign, f);
  }
  static void exec_r2c(plan p, float* in, cpx* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void exec_c2r(plan p, cpx* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
  static void exec_c2c(plan p, cpx* in, cpx* out) { fftwf_execute_dft(p, in, out); }
  static void destroy(void* p) {
    if (p) fftwf_destroy_plan(static_cast<plan>(p));
  }
  static int alignment_of(const void* p) {
    return fftwf_alignment_of(const_cast<float*>(static_cast<const float*>(p)));
  }
};

template <>
struct Fftw<double> {
  using plan = fftw_plan;
  using cpx = fftw_complex;
  static void init_threads() { fftw_init_threads(); }
  static void plan_with_nthreads(int n) { fftw_plan_with_nthreads(n); }
  static plan r2c(int rank, const int* n, double* in, cpx* out, unsigned f) {
    return fftw_plan_dft_r2c(rank, n, in, out, f);
  }
  static plan c2r(int rank, const int* n, cpx* in, double* out, unsigned f) {
    return fftw_plan_dft_c2r(rank, n, in, out, f);
  }
  static plan c2c(int rank, const int* n, cpx* in, cpx* out, int sign, unsigned f) {
    return fftw_plan_dft(rank, n, in, out, sign, f);
  }
  static void exec_r2c(plan p, double* in, cpx* out) { fftw_execute_dft_r2c(p, in, out); }
  static void exec_c2r(plan p, cpx* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
  static void exec_c2c(plan p, cpx* in, cpx* out) { fftw_execute_dft(p, in, out); }
  static void destroy(void* p) {
    if (p) fftw_destroy_plan(static_cast<plan>(p));
  }
  static int alignment_of(const void* p) {
    return fftw_alignment_of(const_cast<double*>(static_cast<const double*>(p)));
  }
};

// ---- the planner lock, settings and statistics --------------------------------------
// Recursive: a plan's destructor takes the lock too, and may run inside clear_plan_cache.
std::recursive_mutex& planner_mutex() {
  static std::recursive_mutex m;
  return m;
}

std::atomic<int> g_effort{static_cast<int>(PlannerEffort::Measure)};

struct Stats {
  std::size_t hits = 0, misses = 0;
  double seconds = 0;
};
Stats g_stats;  // guarded by planner_mutex

unsigned planner_flags(PlannerEffort e) {
  switch (e) {
    case PlannerEffort::Estimate: return FFTW_ESTIMATE;
    case PlannerEffort::Measure: return FFTW_MEASURE;
    case PlannerEffort::Patient: return FFTW_PATIENT;
  }
  return FFTW_MEASURE;
}

// Called with planner_mutex held.
template <typename T>
void prepare_planner(int threads) {
  static bool initialised = false;
  if (!initialised) {
    Fftw<T>::init_threads();
    initialised = true;
  }
  Fftw<T>::plan_with_nthreads(threads);
}

std::vector<int> int_dims(const Shape& shape) {
  std::vector<int> n;
  for (auto s : shape) {
    UNBLUR_REQUIRE(s <= (1 << 30), "FFT axis of length " << s << " is too long");
    n.push_back(static_cast<int>(s));
  }
  return n;
}

// ---- the cache ------------------------------------------------------------------------
enum class Kind { Real, Complex };
using Key = std::tuple<Kind, int /*bytes*/, Shape, int /*threads*/, int /*effort*/>;

std::map<Key, std::shared_ptr<const void>>& cache() {
  static std::map<Key, std::shared_ptr<const void>> c;
  return c;
}

template <typename Plan>
std::shared_ptr<const Plan> cached(Kind kind, int bytes, const Shape& shape, int threads, PlannerEffort effort) {
  require_shape(shape, "FFT shape");
  threads = resolve_threads(threads);
  Key key{kind, bytes, shape, threads, static_cast<int>(effort)};
  std::lock_guard<std::recursive_mutex> lock(planner_mutex());
  auto& c = cache();
  auto it = c.find(key);
  if (it != c.end()) {
    ++g_stats.hits;
    return std::static_pointer_cast<const Plan>(it->second);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto plan = std::make_shared<const Plan>(shape, threads, effort);  // plans under the lock
  g_stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++g_stats.misses;
  c.emplace(key, plan);
  return plan;
}

template <typename T>
bool aligned(const void* p) {
  return Fftw<T>::alignment_of(p) == 0;
}

}  // namespace

// ---- settings ---------------------------------------------------------------------------
void set_planner_effort(PlannerEffort effort) { g_effort.store(static_cast<int>(effort)); }
PlannerEffort get_planner_effort() { return static_cast<PlannerEffort>(g_effort.load()); }

PlanCacheStats plan_cache_stats() {
  std::lock_guard<std::recursive_mutex> lock(planner_mutex());
  PlanCacheStats s;
  s.plans = cache().size();
  s.hits = g_stats.hits;
  s.misses = g_stats.misses;
  s.planning_seconds = g_stats.seconds;
  return s;
}

const char* fftw_version_string() { return fftw_version; }

void clear_plan_cache() {
  std::lock_guard<std::recursive_mutex> lock(planner_mutex());
  cache().clear();  // plans still in use elsewhere are destroyed when released
}

// ---- sizes ------------------------------------------------------------------------------
Shape spectrum_shape(const Shape& shape) {
  Shape s = shape;
  if (!s.empty()) s.back() = s.back() / 2 + 1;
  return s;
}

// ---- RealFFT ------------------------------------------------------------------------------
template <typename T>
RealFFT<T>::RealFFT(const Shape& shape, int threads, PlannerEffort effort)
    : shape_(shape), spectrum_shape_(unblur::spectrum_shape(shape)) {
  using F = Fftw<T>;
  real_size_ = shape_size(shape_);
  spectrum_size_ = shape_size(spectrum_shape_);
  auto n = int_dims(shape_);
  AlignedBuffer<T> real(static_cast<std::size_t>(real_size_));
  AlignedBuffer<std::complex<T>> spec(static_cast<std::size_t>(spectrum_size_));
  unsigned flags = planner_flags(effort);
  prepare_planner<T>(threads);
  auto* cspec = reinterpret_cast<typename F::cpx*>(spec.data());
  forward_plan_ = F::r2c(static_cast<int>(n.size()), n.data(), real.data(), cspec, flags);
  inverse_plan_ = F::c2r(static_cast<int>(n.size()), n.data(), cspec, real.data(), flags);
  UNBLUR_CHECK(forward_plan_ && inverse_plan_, "FFTW could not plan a real transform");
}

template <typename T>
RealFFT<T>::~RealFFT() {
  std::lock_guard<std::recursive_mutex> lock(planner_mutex());  // FFTW's destroy is not thread-safe
  Fftw<T>::destroy(forward_plan_);
  Fftw<T>::destroy(inverse_plan_);
}

template <typename T>
std::shared_ptr<const RealFFT<T>> RealFFT<T>::get(const Shape& shape, int threads) {
  return cached<RealFFT<T>>(Kind::Real, sizeof(T), shape, threads, get_planner_effort());
}

template <typename T>
std::shared_ptr<const RealFFT<T>> RealFFT<T>::get(const Shape& shape, int threads, PlannerEffort effort) {
  return cached<RealFFT<T>>(Kind::Real, sizeof(T), shape, threads, effort);
}

template <typename T>
void RealFFT<T>::forward(const T* in, std::complex<T>* out) const {
  using F = Fftw<T>;
  auto plan = static_cast<typename F::plan>(forward_plan_);
  if (aligned<T>(in) && aligned<T>(out)) {
    // r2c out-of-place preserves its input, so the cast does not modify `in`.
    F::exec_r2c(plan, const_cast<T*>(in), reinterpret_cast<typename F::cpx*>(out));
    return;
  }
  AlignedBuffer<T> a(static_cast<std::size_t>(real_size_));
  std::memcpy(a.data(), in, sizeof(T) * static_cast<std::size_t>(real_size_));
  AlignedBuffer<std::complex<T>> b(static_cast<std::size_t>(spectrum_size_));
  F::exec_r2c(plan, a.data(), reinterpret_cast<typename F::cpx*>(b.data()));
  std::memcpy(static_cast<void*>(out), b.data(), sizeof(std::complex<T>) * b.size());
}

template <typename T>
void RealFFT<T>::inverse(std::complex<T>* in, T* out) const {
  using F = Fftw<T>;
  auto plan = static_cast<typename F::plan>(inverse_plan_);
  if (aligned<T>(in) && aligned<T>(out)) {
    F::exec_c2r(plan, reinterpret_cast<typename F::cpx*>(in), out);
    return;
  }
  AlignedBuffer<std::complex<T>> a(static_cast<std::size_t>(spectrum_size_));
  std::memcpy(static_cast<void*>(a.data()), in, sizeof(std::complex<T>) * a.size());
  AlignedBuffer<T> b(static_cast<std::size_t>(real_size_));
  F::exec_c2r(plan, reinterpret_cast<typename F::cpx*>(a.data()), b.data());
  std::memcpy(out, b.data(), sizeof(T) * b.size());
}

// ---- ComplexFFT ---------------------------------------------------------------------------
template <typename T>
ComplexFFT<T>::ComplexFFT(const Shape& shape, int threads, PlannerEffort effort) : shape_(shape) {
  using F = Fftw<T>;
  size_ = shape_size(shape_);
  auto n = int_dims(shape_);
  AlignedBuffer<std::complex<T>> a(static_cast<std::size_t>(size_)), b(static_cast<std::size_t>(size_));
  auto* ca = reinterpret_cast<typename F::cpx*>(a.data());
  auto* cb = reinterpret_cast<typename F::cpx*>(b.data());
  unsigned flags = planner_flags(effort);
  int rank = static_cast<int>(n.size());
  prepare_planner<T>(threads);
  forward_plan_ = F::c2c(rank, n.data(), ca, cb, FFTW_FORWARD, flags);
  backward_plan_ = F::c2c(rank, n.data(), ca, cb, FFTW_BACKWARD, flags);
  forward_inplace_ = F::c2c(rank, n.data(), ca, ca, FFTW_FORWARD, flags);
  backward_inplace_ = F::c2c(rank, n.data(), ca, ca, FFTW_BACKWARD, flags);
  UNBLUR_CHECK(forward_plan_ && backward_plan_ && forward_inplace_ && backward_inplace_,
               "FFTW could not plan a complex transform");
}

template <typename T>
ComplexFFT<T>::~ComplexFFT() {
  std::lock_guard<std::recursive_mutex> lock(planner_mutex());
  for (void* p : {forward_plan_, backward_plan_, forward_inplace_, backward_inplace_})
    Fftw<T>::destroy(p);
}

template <typename T>
std::shared_ptr<const ComplexFFT<T>> ComplexFFT<T>::get(const Shape& shape, int threads) {
  return cached<ComplexFFT<T>>(Kind::Complex, sizeof(T), shape, threads, get_planner_effort());
}

namespace {
template <typename T>
void run_c2c(void* out_of_place, void* in_place, std::ptrdiff_t size, const std::complex<T>* in,
             std::complex<T>* out) {
  using F = Fftw<T>;
  auto* cin = reinterpret_cast<typename F::cpx*>(const_cast<std::complex<T>*>(in));
  auto* cout = reinterpret_cast<typename F::cpx*>(out);
  if (aligned<T>(in) && aligned<T>(out)) {
    // FFTW's out-of-place c2c leaves its input unchanged (FFTW_PRESERVE_INPUT default).
    F::exec_c2c(static_cast<typename F::plan>(in == out ? in_place : out_of_place), cin, cout);
    return;
  }
  AlignedBuffer<std::complex<T>> a(static_cast<std::size_t>(size));
  std::memcpy(static_cast<void*>(a.data()), in, sizeof(std::complex<T>) * a.size());
  auto* ca = reinterpret_cast<typename F::cpx*>(a.data());
  F::exec_c2c(static_cast<typename F::plan>(in_place), ca, ca);
  std::memcpy(static_cast<void*>(out), a.data(), sizeof(std::complex<T>) * a.size());
}
}  // namespace

template <typename T>
void ComplexFFT<T>::forward(const std::complex<T>* in, std::complex<T>* out) const {
  run_c2c<T>(forward_plan_, forward_inplace_, size_, in, out);
}

template <typename T>
void ComplexFFT<T>::backward(const std::complex<T>* in, std::complex<T>* out) const {
  run_c2c<T>(backward_plan_, backward_inplace_, size_, in, out);
}

// ---- psf2otf / otf2psf ----------------------------------------------------------------------
namespace {
// Calls f(dst_index, src_index) for every PSF pixel, with the PSF centre moved to the
// origin of the periodic grid `shape`.
template <typename F>
void for_each_shifted(const Shape& psf_shape, const Shape& shape, F&& f) {
  const std::size_t nd = shape.size();
  Shape ps(3, 1), gs(3, 1);
  for (std::size_t i = 0; i < nd; ++i) {
    ps[3 - nd + i] = psf_shape[i];
    gs[3 - nd + i] = shape[i];
  }
  auto wrap = [](std::ptrdiff_t i, std::ptrdiff_t c, std::ptrdiff_t n) {
    std::ptrdiff_t j = (i - c) % n;
    return j < 0 ? j + n : j;
  };
  std::ptrdiff_t src = 0;
  for (std::ptrdiff_t a = 0; a < ps[0]; ++a) {
    std::ptrdiff_t da = wrap(a, ps[0] / 2, gs[0]);
    for (std::ptrdiff_t b = 0; b < ps[1]; ++b) {
      std::ptrdiff_t db = wrap(b, ps[1] / 2, gs[1]);
      for (std::ptrdiff_t c = 0; c < ps[2]; ++c, ++src) {
        std::ptrdiff_t dc = wrap(c, ps[2] / 2, gs[2]);
        f((da * gs[1] + db) * gs[2] + dc, src);
      }
    }
  }
}

void require_psf_fits(const Shape& psf_shape, const Shape& shape) {
  require_shape(shape, "shape");
  require_shape(psf_shape, "psf");
  UNBLUR_REQUIRE(psf_shape.size() == shape.size(),
                 "psf has " << psf_shape.size() << " dimensions but shape has " << shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i)
    UNBLUR_REQUIRE(psf_shape[i] <= shape[i], "psf is larger than shape along axis " << i);
}
constexpr double kPi = 3.14159265358979323846;

// Rounds a count of elements up so consecutive sub-buffers stay 64-byte aligned.
template <typename E>
std::ptrdiff_t aligned_stride(std::ptrdiff_t n) {
  const auto per = static_cast<std::ptrdiff_t>(kAlignment / sizeof(E));
  return (n + per - 1) / per * per;
}
}  // namespace

// The pruned transform behind kernel_spectrum (see fft.hpp).
//
// The kernel grid is zero outside its first K0 slices along axis 0, so its transform
// is taken in two passes: the trailing axes of those K0 slices only, then axis 0 for
// every column, eight columns at a time (one cache line of the spectrum per row), each
// multiplied straight into `spectrum`. That skips most of the first pass and never
// stores the kernel spectrum.
template <typename T>
void kernel_spectrum(const T* kernel, const Shape& kshape, const Shape& grid, std::complex<T>* spectrum, T scale,
                     bool multiply, int threads) {
  require_psf_fits(kshape, grid);
  threads = resolve_threads(threads);
  using C = std::complex<T>;
  const std::size_t nd = grid.size();
  if (nd == 1) {
    auto fft = RealFFT<T>::get(grid, threads);
    AlignedBuffer<T> g(static_cast<std::size_t>(fft->real_size()));
    std::fill(g.data(), g.data() + g.size(), T(0));
    std::copy(kernel, kernel + kshape[0], g.data());
    AlignedBuffer<C> G(static_cast<std::size_t>(fft->spectrum_size()));
    fft->forward(g.data(), G.data());
    const std::ptrdiff_t ns = fft->spectrum_size();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::ptrdiff_t i = 0; i < ns; ++i) spectrum[i] = multiply ? spectrum[i] * G[i] * scale : G[i] * scale;
    return;
  }
  const Shape tgrid(grid.begin() + 1, grid.end()), tk(kshape.begin() + 1, kshape.end());
  const std::ptrdiff_t k0 = kshape[0], g0 = grid[0];
  // Pass 1: trailing transforms of the K0 nonzero slices. 2-D: K0 row transforms spread
  // over the threads; 3-D: K0 plane transforms, each threaded by FFTW.
  const bool rows_in_parallel = nd == 2;
  auto tfft = RealFFT<T>::get(tgrid, rows_in_parallel ? 1 : threads);
  const std::ptrdiff_t ts = tfft->spectrum_size(), tr = tfft->real_size();
  const std::ptrdiff_t ts_stride = aligned_stride<C>(ts);
  AlignedBuffer<C> slices(static_cast<std::size_t>(k0 * ts_stride));
  const auto tkd = pad_to_3d(tk), tgd = pad_to_3d(tgrid);
  const std::ptrdiff_t kslice = shape_size(tk);
#pragma omp parallel num_threads(rows_in_parallel ? threads : 1)
  {
    AlignedBuffer<T> plane(static_cast<std::size_t>(tr));
#pragma omp for schedule(static)
    for (std::ptrdiff_t i0 = 0; i0 < k0; ++i0) {
      std::fill(plane.data(), plane.data() + tr, T(0));
      const T* ks = kernel + i0 * kslice;
      for (std::ptrdiff_t j = 0; j < tkd[1]; ++j)
        std::copy(ks + j * tkd[2], ks + (j + 1) * tkd[2], plane.data() + j * tgd[2]);
      tfft->forward(plane.data(), slices.data() + i0 * ts_stride);
    }
  }
  // Pass 2: axis 0, blocks of columns gathered into contiguous vectors.
  constexpr std::ptrdiff_t kBlock = 8;
  auto cfft = ComplexFFT<T>::get(Shape{g0}, 1);
  const std::ptrdiff_t col_stride = aligned_stride<C>(g0);
  const std::ptrdiff_t blocks = (ts + kBlock - 1) / kBlock;
#pragma omp parallel num_threads(threads)
  {
    AlignedBuffer<C> cols(static_cast<std::size_t>(kBlock * col_stride));
#pragma omp for schedule(static)
    for (std::ptrdiff_t b = 0; b < blocks; ++b) {
      const std::ptrdiff_t c0 = b * kBlock, nc = std::min(kBlock, ts - c0);
      for (std::ptrdiff_t c = 0; c < nc; ++c) {
        C* col = cols.data() + c * col_stride;
        for (std::ptrdiff_t i = 0; i < k0; ++i) col[i] = slices[i * ts_stride + c0 + c];
        std::fill(col + k0, col + g0, C(0));
        cfft->forward(col, col);
      }
      for (std::ptrdiff_t i = 0; i < g0; ++i) {
        C* s = spectrum + i * ts + c0;
        if (multiply) {
          for (std::ptrdiff_t c = 0; c < nc; ++c) s[c] *= cols[c * col_stride + i] * scale;
        } else {
          for (std::ptrdiff_t c = 0; c < nc; ++c) s[c] = cols[c * col_stride + i] * scale;
        }
      }
    }
  }
}

template <typename T>
void psf2otf(const T* psf, const Shape& psf_shape, const Shape& shape, std::complex<T>* otf,
             int threads) {
  require_psf_fits(psf_shape, shape);
  // A full transform of the zero-padded, shifted PSF. (kernel_spectrum's pruned
  // transform plus a phase ramp measured no faster on 2048^2 grids: its column pass
  // gathers strided columns, which FFTW's own 2-D plan does better.)
  auto fft = RealFFT<T>::get(shape, threads);
  AlignedBuffer<T> grid(static_cast<std::size_t>(fft->real_size()));
  std::fill(grid.data(), grid.data() + grid.size(), T(0));
  for_each_shifted(psf_shape, shape, [&](std::ptrdiff_t d, std::ptrdiff_t s) { grid[d] += psf[s]; });
  fft->forward(grid.data(), otf);
}

template <typename T>
void otf2psf(const std::complex<T>* otf, const Shape& shape, const Shape& psf_shape, T* psf,
             int threads) {
  require_psf_fits(psf_shape, shape);
  auto fft = RealFFT<T>::get(shape, threads);
  AlignedBuffer<std::complex<T>> spec(static_cast<std::size_t>(fft->spectrum_size()));
  std::memcpy(static_cast<void*>(spec.data()), otf, sizeof(std::complex<T>) * spec.size());
  AlignedBuffer<T> grid(static_cast<std::size_t>(fft->real_size()));
  fft->inverse(spec.data(), grid.data());
  const T scale = T(1) / static_cast<T>(fft->real_size());
  for_each_shifted(psf_shape, shape, [&](std::ptrdiff_t d, std::ptrdiff_t s) { psf[s] = grid[d] * scale; });
}

template class RealFFT<float>;
template class RealFFT<double>;
template class ComplexFFT<float>;
template class ComplexFFT<double>;
template void kernel_spectrum<float>(const float*, const Shape&, const Shape&, std::complex<float>*, float, bool,
                                     int);
template void kernel_spectrum<double>(const double*, const Shape&, const Shape&, std::complex<double>*, double,
                                      bool, int);
template void psf2otf<float>(const float*, const Shape&, const Shape&, std::complex<float>*, int);
template void psf2otf<double>(const double*, const Shape&, const Shape&, std::complex<double>*, int);
template void otf2psf<float>(const std::complex<float>*, const Shape&, const Shape&, float*, int);
template void otf2psf<double>(const std::complex<double>*, const Shape&, const Shape&, double*, int);

}  // namespace unblur
