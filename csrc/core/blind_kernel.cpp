#include "core/blind_kernel.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <memory>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/array.hpp"
#include "core/blind.hpp"
#include "core/error.hpp"
#include "core/fft.hpp"

namespace unblur {
namespace {

using Complex = std::complex<double>;

// The tuning constants of python/unblur/_xp/blind_kernel.py (its comments say what each
// does and how it was chosen); the two must stay equal.
constexpr int kMinLevelSize = 5;
constexpr double kLevelRatio = 0.70710678118654752440;  // 1 / sqrt(2)
constexpr double kLambdaStart = 4e-3;
constexpr double kLambdaDecay = 1.1;
constexpr double kLambdaMin = 1e-4;
constexpr double kFinalLambda = 1e-3;
constexpr int kFinalIterations = 2;
constexpr double kBetaMax = 1e5;
constexpr double kBetaRate = 2.0;
constexpr std::ptrdiff_t kEdgesPerBin = 20;
constexpr double kEdgeDecay = 1.1;
constexpr double kKernelDamping = 2e-3;
constexpr int kKernelIterations = 50;
constexpr double kSmallFraction = 0.05;
constexpr double kComponentMass = 0.1;
constexpr double kPi = 3.14159265358979323846;
// Levels of fewer pixels than this run on one thread, FFTs included: on the 2-core
// development machine a 256 x 256 estimate took 0.20 s on one thread and 0.35 s on two,
// while 512 x 512 and 1024 x 1024 gained 1.2x from the second thread.
constexpr std::ptrdiff_t kParallelPixels = 1 << 18;
// The estimator meets a dozen FFT shapes once each (the pyramid's levels, the kernel
// fit's grids): measuring plans for them took ~1 s per kernel size on a 256 x 256
// image, for plans ~20% faster than FFTW's estimates.
constexpr PlannerEffort kEffort = PlannerEffort::Estimate;

std::size_t idx(std::ptrdiff_t i) { return static_cast<std::size_t>(i); }
std::ptrdiff_t wrap(std::ptrdiff_t i, std::ptrdiff_t n) { return ((i % n) + n) % n; }

int odd_nearest(double n) { return 2 * static_cast<int>(std::floor((n - 1) / 2 + 0.5)) + 1; }

// ---- resampling ----------------------------------------------------------------------

// One row of a resampling matrix: (input index, weight), weights summing to 1.
using Taps = std::vector<std::pair<std::ptrdiff_t, double>>;

// Linear interpolation, widened to an average when shrinking, pixel edges aligned,
// reflecting boundary (the reference's _resample_matrix, row by row).
std::vector<Taps> resample_matrix(std::ptrdiff_t n_in, std::ptrdiff_t n_out) {
  const double scale = static_cast<double>(n_out) / static_cast<double>(n_in);
  const double width = scale < 1 ? 1.0 / scale : 1.0;
  const auto reach = static_cast<std::ptrdiff_t>(std::ceil(width)) + 1;
  std::vector<Taps> matrix(idx(n_out));
  for (std::ptrdiff_t i = 0; i < n_out; ++i) {
    const double centre = (static_cast<double>(i) + 0.5) / scale - 0.5;
    const double base = std::floor(centre);
    Taps& row = matrix[idx(i)];
    for (std::ptrdiff_t m = -reach + 1; m <= reach; ++m) {
      const double tap = base + static_cast<double>(m);
      const double w = std::max(1 - std::abs(centre - tap) / width, 0.0);
      auto j = static_cast<std::ptrdiff_t>(tap);
      if (j < 0) j = -j - 1;
      if (j >= n_in) j = 2 * n_in - 1 - j;
      j = std::clamp<std::ptrdiff_t>(j, 0, n_in - 1);
      auto it = std::find_if(row.begin(), row.end(), [j](const auto& t) { return t.first == j; });
      if (it == row.end()) {
        row.emplace_back(j, w);
      } else {
        it->second += w;
      }
    }
    double total = 0;
    for (const auto& t : row) total += t.second;
    for (auto& t : row) t.second /= total;
  }
  return matrix;
}

// ---- gradients and the kernel's shape ----------------------------------------------

// Periodic forward differences of x: gx along columns, gy along rows; with threshold > 0
// the pairs with gx^2 + gy^2 < threshold are zeroed.
void gradients(const double* x, std::ptrdiff_t rows, std::ptrdiff_t cols, double threshold, double* gx, double* gy,
               int threads) {
  const int nt = rows * cols >= kParallelPixels ? threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (std::ptrdiff_t i = 0; i < rows; ++i) {
    const double* row = x + i * cols;
    const double* below = x + wrap(i + 1, rows) * cols;
    for (std::ptrdiff_t j = 0; j < cols; ++j) {
      double a = row[j + 1 < cols ? j + 1 : 0] - row[j];
      double b = below[j] - row[j];
      if (threshold > 0 && a * a + b * b < threshold) a = b = 0;
      gx[i * cols + j] = a;
      gy[i * cols + j] = b;
    }
  }
}

// Zero-filled integer shift of a side x side kernel (mass shifted out is lost).
std::vector<double> shifted(const std::vector<double>& k, std::ptrdiff_t side, std::ptrdiff_t dy, std::ptrdiff_t dx) {
  std::vector<double> out(k.size(), 0.0);
  for (std::ptrdiff_t i = 0; i < side; ++i) {
    const std::ptrdiff_t ti = i + dy;
    if (ti < 0 || ti >= side) continue;
    for (std::ptrdiff_t j = 0; j < side; ++j) {
      const std::ptrdiff_t tj = j + dx;
      if (tj >= 0 && tj < side) out[idx(ti * side + tj)] = k[idx(i * side + j)];
    }
  }
  return out;
}

struct Moments {
  double total = 0, row = 0, col = 0;  // mass and centroid
};
Moments moments(const std::vector<double>& k, std::ptrdiff_t side) {
  Moments m;
  double sr = 0, sc = 0;
  for (std::ptrdiff_t i = 0; i < side; ++i)
    for (std::ptrdiff_t j = 0; j < side; ++j) {
      const double v = k[idx(i * side + j)];
      m.total += v;
      sr += v * static_cast<double>(i);
      sc += v * static_cast<double>(j);
    }
  m.row = sr / m.total;
  m.col = sc / m.total;
  return m;
}

// Integer shift bringing the centroid within half a pixel of the centre (ties to even,
// as Python's round).
std::vector<double> centred(const std::vector<double>& k, std::ptrdiff_t side) {
  const Moments m = moments(k, side);
  const double c = static_cast<double>(side / 2);
  return shifted(k, side, static_cast<std::ptrdiff_t>(std::nearbyint(c - m.row)),
                 static_cast<std::ptrdiff_t>(std::nearbyint(c - m.col)));
}

// 8-connected components of k > 0, each labelled by its largest flat index + 1 (the
// reference's label propagation converges to exactly that); 0 is the background.
std::vector<std::ptrdiff_t> components(const std::vector<double>& k, std::ptrdiff_t side) {
  const std::ptrdiff_t n = side * side;
  std::vector<std::ptrdiff_t> labels(idx(n), 0), stack, members;
  std::vector<char> seen(idx(n), 0);
  for (std::ptrdiff_t start = 0; start < n; ++start) {
    if (!(k[idx(start)] > 0) || seen[idx(start)]) continue;
    stack.assign(1, start);
    members.clear();
    seen[idx(start)] = 1;
    std::ptrdiff_t largest = start;
    while (!stack.empty()) {
      const std::ptrdiff_t p = stack.back();
      stack.pop_back();
      members.push_back(p);
      largest = std::max(largest, p);
      const std::ptrdiff_t pi = p / side, pj = p % side;
      for (std::ptrdiff_t di = -1; di <= 1; ++di)
        for (std::ptrdiff_t dj = -1; dj <= 1; ++dj) {
          const std::ptrdiff_t qi = pi + di, qj = pj + dj;
          if (qi < 0 || qi >= side || qj < 0 || qj >= side) continue;
          const std::ptrdiff_t q = qi * side + qj;
          if (k[idx(q)] > 0 && !seen[idx(q)]) {
            seen[idx(q)] = 1;
            stack.push_back(q);
          }
        }
    }
    for (std::ptrdiff_t p : members) labels[idx(p)] = largest + 1;
  }
  return labels;
}

double sum_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// ---- the non-negative kernel fit ------------------------------------------------------

// min_{k >= 0} k^T (G + gamma I) k / 2 - rhs^T k by FISTA, G[s, s'] = gram_lag(s - s')
// applied as a circular convolution on a (2 size - 1)^2 grid, where no wrapped lag
// reaches a support offset (the reference's _nonnegative_solve).
std::vector<double> nonnegative_solve(const std::vector<double>& gram_lag, const std::vector<double>& rhs,
                                      std::ptrdiff_t size, double gamma, const double* initial) {
  const std::ptrdiff_t side = 2 * size - 1, r = size / 2, n = size * size;
  auto fft = RealFFT<double>::get(Shape{side, side}, 1, kEffort);
  const std::ptrdiff_t ns = fft->spectrum_size();
  AlignedBuffer<double> grid(idx(side * side));
  AlignedBuffer<Complex> lag_hat(idx(ns)), spec(idx(ns));
  for (std::ptrdiff_t i = 0; i < side; ++i)
    for (std::ptrdiff_t j = 0; j < side; ++j)
      grid[idx(i * side + j)] = gram_lag[idx(((i + size - 1) % side) * side + (j + size - 1) % side)];
  fft->forward(grid.data(), lag_hat.data());
  double top = 0;
  for (std::ptrdiff_t s = 0; s < ns; ++s) top = std::max(top, std::abs(lag_hat[idx(s)]));
  const double step = 1.0 / (top + gamma);
  const double inv = 1.0 / static_cast<double>(side * side);

  std::vector<double> g(idx(n));
  const auto gradient = [&](const std::vector<double>& k) {
    std::fill(grid.data(), grid.data() + side * side, 0.0);
    for (std::ptrdiff_t a = 0; a < size; ++a)
      for (std::ptrdiff_t b = 0; b < size; ++b)
        grid[idx(wrap(a - r, side) * side + wrap(b - r, side))] = k[idx(a * size + b)];
    fft->forward(grid.data(), spec.data());
    for (std::ptrdiff_t s = 0; s < ns; ++s) spec[idx(s)] *= lag_hat[idx(s)];
    fft->inverse(spec.data(), grid.data());
    for (std::ptrdiff_t a = 0; a < size; ++a)
      for (std::ptrdiff_t b = 0; b < size; ++b) {
        const std::size_t p = idx(a * size + b);
        g[p] = grid[idx(wrap(a - r, side) * side + wrap(b - r, side))] * inv + gamma * k[p] - rhs[p];
      }
  };

  std::vector<double> k(idx(n)), z(idx(n)), next(idx(n));
  for (std::ptrdiff_t p = 0; p < n; ++p) k[idx(p)] = std::max(initial[p], 0.0);
  z = k;
  double t = 1.0;
  for (int it = 0; it < kKernelIterations; ++it) {
    gradient(z);
    for (std::ptrdiff_t p = 0; p < n; ++p) next[idx(p)] = std::max(z[idx(p)] - step * g[idx(p)], 0.0);
    const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
    const double momentum = (t - 1) / t_next;
    for (std::ptrdiff_t p = 0; p < n; ++p) z[idx(p)] = next[idx(p)] + momentum * (next[idx(p)] - k[idx(p)]);
    std::swap(k, next);
    t = t_next;
  }
  return k;
}

// ---- one pyramid level ------------------------------------------------------------------

// The level's observation on its periodic grid, its spectrum, the interior mask (a
// kernel width from the border, where the periodic model is wrong) and the spectra of
// the masked observation gradients (the reference's _Level).
class Level {
 public:
  Level(const double* data, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t ksize, bool take_periodic,
        int threads)
      : rows_(rows), cols_(cols), n_(rows * cols), ksize_(ksize), threads_(n_ >= kParallelPixels ? threads : 1) {
    fft_ = RealFFT<double>::get(Shape{rows, cols}, threads_, kEffort);
    ns_ = fft_->spectrum_size();
    data_ = AlignedBuffer<double>(idx(n_));
    if (take_periodic) {
      periodic_component(data, rows, cols, data_.data(), threads_, kEffort);
    } else {
      std::copy(data, data + n_, data_.data());
    }
    data_hat_ = AlignedBuffer<Complex>(idx(ns_));
    fft_->forward(data_.data(), data_hat_.data());
    real_ = AlignedBuffer<double>(idx(n_));
    gx_ = AlignedBuffer<double>(idx(n_));
    gy_ = AlignedBuffer<double>(idx(n_));
    work_ = AlignedBuffer<Complex>(idx(ns_));
    spec_ = AlignedBuffer<Complex>(idx(ns_));
    gradients(data_.data(), rows, cols, 0.0, gx_.data(), gy_.data(), threads_);
    for (int c = 0; c < 2; ++c) {
      double* g = c == 0 ? gx_.data() : gy_.data();
      apply_mask(g);
      grad_hat_[c] = AlignedBuffer<Complex>(idx(ns_));
      fft_->forward(g, grad_hat_[c].data());
    }
    // |FFT|^2 of the two forward differences, summed.
    const std::ptrdiff_t half = cols / 2 + 1;
    diff2_ = AlignedBuffer<double>(idx(ns_));
    for (std::ptrdiff_t q = 0; q < rows; ++q) {
      const double sq = std::sin(kPi * static_cast<double>(q) / static_cast<double>(rows));
      for (std::ptrdiff_t r = 0; r < half; ++r) {
        const double sr = std::sin(kPi * static_cast<double>(r) / static_cast<double>(cols));
        diff2_[idx(q * half + r)] = 4 * sq * sq + 4 * sr * sr;
      }
    }
  }

  std::ptrdiff_t rows() const { return rows_; }
  std::ptrdiff_t cols() const { return cols_; }
  const double* data() const { return data_.data(); }

  bool inside(std::ptrdiff_t i, std::ptrdiff_t j) const {
    return i >= ksize_ && i < rows_ - ksize_ && j >= ksize_ && j < cols_ - ksize_;
  }

  // min_x ||k * x - y||^2 + lam ||grad x||_0 by half-quadratic splitting.
  void latent(const double* kernel, double lam, double* x) {
    otf(kernel, spec_.data());
    AlignedBuffer<Complex> numerator(idx(ns_));
    AlignedBuffer<double> blur2(idx(ns_));
    for (std::ptrdiff_t s = 0; s < ns_; ++s) {
      numerator[idx(s)] = std::conj(spec_[idx(s)]) * data_hat_[idx(s)];
      blur2[idx(s)] = std::norm(spec_[idx(s)]);
    }
    // At beta = 2 lam the threshold removes every gradient of a [0, 1] image, so the
    // start only has to be some image: the observation.
    std::copy(data_hat_.data(), data_hat_.data() + ns_, work_.data());
    inverse(work_.data(), x);
    const int nt = n_ >= kParallelPixels ? threads_ : 1;
    const double inv_n = 1.0 / static_cast<double>(n_);
    for (double beta = 2 * lam; beta < kBetaMax; beta *= kBetaRate) {
      thresholded_adjoint(x, lam / beta, real_.data(), nt);
      fft_->forward(real_.data(), work_.data());
      // The closed-form x step, with the inverse transform's 1/n folded in.
      Complex* w = work_.data();
      const Complex* num = numerator.data();
      const double* b2 = blur2.data();
      const double* d2 = diff2_.data();
#pragma omp parallel for num_threads(nt) schedule(static)
      for (std::ptrdiff_t s = 0; s < ns_; ++s) w[s] = (num[s] + beta * w[s]) * (inv_n / (b2[s] + beta * d2[s]));
      fft_->inverse(w, x);
    }
  }

  // adj = D^T g, g = D x with the pairs |g|^2 < threshold zeroed (D: the periodic
  // forward differences), in one pass over rows that keeps the previous row's
  // vertical differences.
  void thresholded_adjoint(const double* x, double threshold, double* adj, int nt) const {
    const std::ptrdiff_t rows = rows_, cols = cols_;
    // Row i's thresholded differences into gx, gy.
    const auto row_gradients = [x, rows, cols, threshold](std::ptrdiff_t i, double* gx, double* gy) {
      const double* row = x + i * cols;
      const double* below = x + (i + 1 < rows ? i + 1 : 0) * cols;
      const auto pair = [&](std::ptrdiff_t j, double right) {
        const double a = right - row[j], b = below[j] - row[j];
        const bool small = a * a + b * b < threshold;  // data-dependent: a select, not a branch
        gx[j] = small ? 0.0 : a;
        gy[j] = small ? 0.0 : b;
      };
#pragma omp simd
      for (std::ptrdiff_t j = 0; j < cols - 1; ++j) pair(j, row[j + 1]);
      pair(cols - 1, row[0]);
    };
#pragma omp parallel num_threads(nt)
    {
      std::vector<double> gx(idx(cols)), gy(idx(cols)), gy_above(idx(cols)), unused(idx(cols));
#ifdef _OPENMP
      const std::ptrdiff_t team = omp_get_num_threads(), me = omp_get_thread_num();
#else
      const std::ptrdiff_t team = 1, me = 0;
#endif
      const std::ptrdiff_t first = rows * me / team, last = rows * (me + 1) / team;
      if (first < last) row_gradients(first > 0 ? first - 1 : rows - 1, unused.data(), gy_above.data());
      for (std::ptrdiff_t i = first; i < last; ++i) {
        row_gradients(i, gx.data(), gy.data());
        double* out = adj + i * cols;
        out[0] = gx[idx(cols - 1)] - gx[0] + gy_above[0] - gy[0];
#pragma omp simd
        for (std::ptrdiff_t j = 1; j < cols; ++j) out[j] = gx[idx(j - 1)] - gx[idx(j)] + gy_above[idx(j)] - gy[idx(j)];
        std::swap(gy, gy_above);
      }
    }
  }

  // The non-negative kernel fit to the latent's gradients (those with |g|^2 >=
  // threshold when threshold > 0), then the projection. False: nothing to fit.
  bool fit(const double* latent, double* kernel, double threshold) {
    const std::ptrdiff_t size = ksize_, r = size / 2, side = 2 * size - 1;
    gradients(latent, rows_, cols_, threshold, gx_.data(), gy_.data(), threads_);
    std::vector<double> gram(idx(side * side), 0.0), rhs(idx(size * size), 0.0);
    for (int c = 0; c < 2; ++c) {
      double* g = c == 0 ? gx_.data() : gy_.data();
      AlignedBuffer<Complex> g_hat(idx(ns_));
      fft_->forward(g, g_hat.data());
      // rhs(s) = sum_p mask grad y(p) grad x(p - s)
      for (std::ptrdiff_t s = 0; s < ns_; ++s) work_[idx(s)] = std::conj(g_hat[idx(s)]) * grad_hat_[c][idx(s)];
      inverse(work_.data(), real_.data());
      for (std::ptrdiff_t a = -r; a <= r; ++a)
        for (std::ptrdiff_t b = -r; b <= r; ++b)
          rhs[idx((a + r) * size + b + r)] += real_[idx(wrap(a, rows_) * cols_ + wrap(b, cols_))];
      // gram(d) = sum_q mask grad x(q) grad x(q + d)
      apply_mask(g);
      fft_->forward(g, spec_.data());
      for (std::ptrdiff_t s = 0; s < ns_; ++s) work_[idx(s)] = std::conj(spec_[idx(s)]) * g_hat[idx(s)];
      inverse(work_.data(), real_.data());
      for (std::ptrdiff_t a = -(size - 1); a <= size - 1; ++a)
        for (std::ptrdiff_t b = -(size - 1); b <= size - 1; ++b)
          gram[idx((a + size - 1) * side + b + size - 1)] += real_[idx(wrap(a, rows_) * cols_ + wrap(b, cols_))];
    }
    // The mask makes gram(d) and gram(-d) differ slightly; the solver needs the symmetric part.
    std::vector<double> symmetric(gram.size());
    for (std::ptrdiff_t p = 0; p < side * side; ++p)
      symmetric[idx(p)] = 0.5 * (gram[idx(p)] + gram[idx(side * side - 1 - p)]);
    const double energy = symmetric[idx((size - 1) * side + size - 1)];
    if (!(energy > 0)) return false;
    std::vector<double> k = nonnegative_solve(symmetric, rhs, size, kKernelDamping * energy, kernel);
    if (!project_kernel(k.data(), size)) return false;
    std::copy(k.begin(), k.end(), kernel);
    return true;
  }

  // ||k * x - y|| / ||y - mean y|| on the mask.
  double residual(const double* latent, const double* kernel) {
    otf(kernel, spec_.data());
    fft_->forward(latent, work_.data());
    for (std::ptrdiff_t s = 0; s < ns_; ++s) work_[idx(s)] *= spec_[idx(s)];
    inverse(work_.data(), real_.data());
    double misfit = 0, mean = 0, count = 0;
    for (std::ptrdiff_t i = 0; i < rows_; ++i)
      for (std::ptrdiff_t j = 0; j < cols_; ++j)
        if (inside(i, j)) {
          const double d = real_[idx(i * cols_ + j)] - data_[idx(i * cols_ + j)];
          misfit += d * d;
          mean += data_[idx(i * cols_ + j)];
          count += 1;
        }
    mean /= count;
    double spread = 0;
    for (std::ptrdiff_t i = 0; i < rows_; ++i)
      for (std::ptrdiff_t j = 0; j < cols_; ++j)
        if (inside(i, j)) {
          const double d = data_[idx(i * cols_ + j)] - mean;
          spread += d * d;
        }
    return spread > 0 ? std::sqrt(misfit) / std::sqrt(spread) : 0.0;
  }

 private:
  void apply_mask(double* g) const {
    for (std::ptrdiff_t i = 0; i < rows_; ++i)
      for (std::ptrdiff_t j = 0; j < cols_; ++j)
        if (!inside(i, j)) g[i * cols_ + j] = 0.0;
  }

  // The OTF of a centred ksize x ksize kernel on the level's grid (psf2otf, with the
  // level's plan).
  void otf(const double* kernel, Complex* out) {
    std::fill(real_.data(), real_.data() + n_, 0.0);
    const std::ptrdiff_t r = ksize_ / 2;
    for (std::ptrdiff_t a = 0; a < ksize_; ++a)
      for (std::ptrdiff_t b = 0; b < ksize_; ++b)
        real_[idx(wrap(a - r, rows_) * cols_ + wrap(b - r, cols_))] += kernel[a * ksize_ + b];
    fft_->forward(real_.data(), out);
  }

  // out = irfft(spectrum) normalised; the spectrum is overwritten.
  void inverse(Complex* spectrum, double* out) const {
    fft_->inverse(spectrum, out);
    const double scale = 1.0 / static_cast<double>(n_);
    for (std::ptrdiff_t p = 0; p < n_; ++p) out[p] *= scale;
  }

  std::ptrdiff_t rows_, cols_, n_, ns_ = 0, ksize_;
  int threads_;
  std::shared_ptr<const RealFFT<double>> fft_;
  AlignedBuffer<double> data_, real_, gx_, gy_, diff2_;
  AlignedBuffer<Complex> data_hat_, work_, spec_;
  AlignedBuffer<Complex> grad_hat_[2];
};

std::vector<double> resized_kernel(const std::vector<double>& k, std::ptrdiff_t from, std::ptrdiff_t to) {
  std::vector<double> out(idx(to * to));
  resize_image(k.data(), from, from, out.data(), to, to);
  project_kernel(out.data(), to);  // a non-negative kernel stays non-negative and non-zero
  return out;
}

}  // namespace

std::vector<int> kernel_level_sizes(int size, int levels) {
  UNBLUR_REQUIRE(size >= 3 && size % 2 == 1, "size must be an odd int >= 3, got " << size);
  if (levels <= 0) {
    const double steps = std::log(static_cast<double>(size) / kMinLevelSize) / std::log(1 / kLevelRatio);
    levels = 1 + std::max(0, static_cast<int>(std::floor(steps + 0.5)));
  }
  std::vector<int> sizes;
  for (int level = 0; level < levels; ++level)
    sizes.push_back(std::max(3, odd_nearest(size * std::pow(kLevelRatio, level))));
  std::reverse(sizes.begin(), sizes.end());
  return sizes;
}

void resize_image(const double* in, std::ptrdiff_t rows, std::ptrdiff_t cols, double* out, std::ptrdiff_t out_rows,
                  std::ptrdiff_t out_cols) {
  UNBLUR_REQUIRE(rows >= 1 && cols >= 1 && out_rows >= 1 && out_cols >= 1,
                 "resize_image needs non-empty shapes, got " << rows << "x" << cols << " -> " << out_rows << "x"
                                                             << out_cols);
  const std::vector<Taps> rm = resample_matrix(rows, out_rows), cm = resample_matrix(cols, out_cols);
  std::vector<double> tmp(idx(out_rows * cols), 0.0);
  for (std::ptrdiff_t i = 0; i < out_rows; ++i)
    for (const auto& [a, w] : rm[idx(i)]) {
      const double* src = in + a * cols;
      double* dst = tmp.data() + i * cols;
      for (std::ptrdiff_t b = 0; b < cols; ++b) dst[b] += w * src[b];
    }
  for (std::ptrdiff_t i = 0; i < out_rows; ++i)
    for (std::ptrdiff_t j = 0; j < out_cols; ++j) {
      double s = 0;
      for (const auto& [b, w] : cm[idx(j)]) s += w * tmp[idx(i * cols + b)];
      out[i * out_cols + j] = s;
    }
}

bool project_kernel(double* kernel, std::ptrdiff_t side) {
  UNBLUR_REQUIRE(side >= 1, "kernel side must be >= 1, got " << side);
  const std::ptrdiff_t n = side * side;
  std::vector<double> k(kernel, kernel + n);
  double peak = 0;
  for (double& v : k) {
    v = std::max(v, 0.0);
    peak = std::max(peak, v);
  }
  if (!(peak > 0)) return false;
  for (double& v : k)
    if (v < kSmallFraction * peak) v = 0;
  const double total = sum_of(k);
  for (double& v : k) v /= total;
  const std::vector<std::ptrdiff_t> labels = components(k, side);
  std::vector<double> mass(idx(n + 1), 0.0);
  for (std::ptrdiff_t p = 0; p < n; ++p) mass[idx(labels[idx(p)])] += k[idx(p)];
  std::vector<char> keep(idx(n + 1), 0);
  bool any = false;
  for (std::ptrdiff_t l = 1; l <= n; ++l)
    if (mass[idx(l)] >= kComponentMass) keep[idx(l)] = 1, any = true;
  if (!any) {  // the heaviest fragment, the first of equals
    std::ptrdiff_t best = 1;
    for (std::ptrdiff_t l = 2; l <= n; ++l)
      if (mass[idx(l)] > mass[idx(best)]) best = l;
    keep[idx(best)] = 1;
  }
  for (std::ptrdiff_t p = 0; p < n; ++p)
    if (!keep[idx(labels[idx(p)])]) k[idx(p)] = 0;
  k = centred(k, side);
  const double kept = sum_of(k);
  for (std::ptrdiff_t p = 0; p < n; ++p) kernel[p] = k[idx(p)] / kept;
  return true;
}

void subpixel_centre(double* kernel, std::ptrdiff_t side) {
  UNBLUR_REQUIRE(side >= 1, "kernel side must be >= 1, got " << side);
  std::vector<double> k = centred(std::vector<double>(kernel, kernel + side * side), side);
  const Moments m = moments(k, side);
  const double c = static_cast<double>(side / 2);
  const double f[2] = {c - m.row, c - m.col};
  for (int axis = 0; axis < 2; ++axis) {
    const std::ptrdiff_t step = f[axis] > 0 ? 1 : -1;
    const double a = std::abs(f[axis]);
    const std::vector<double> s = axis == 0 ? shifted(k, side, step, 0) : shifted(k, side, 0, step);
    for (std::size_t p = 0; p < k.size(); ++p) k[p] = (1 - a) * k[p] + a * s[p];
  }
  const double total = sum_of(k);
  for (std::size_t p = 0; p < k.size(); ++p) kernel[p] = k[p] / total;
}

double edge_threshold(const double* latent, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t kernel_size,
                      std::ptrdiff_t count) {
  const std::ptrdiff_t n = rows * cols;
  std::vector<double> gx(idx(n)), gy(idx(n));
  gradients(latent, rows, cols, 0.0, gx.data(), gy.data(), 1);
  std::vector<double> bins[4];
  for (std::ptrdiff_t i = 0; i < rows; ++i)
    for (std::ptrdiff_t j = 0; j < cols; ++j) {
      const std::size_t p = idx(i * cols + j);
      const bool inside = i >= kernel_size && i < rows - kernel_size && j >= kernel_size && j < cols - kernel_size;
      const double magnitude = (gx[p] * gx[p] + gy[p] * gy[p]) * (inside ? 1.0 : 0.0);
      // atan2 modulo pi with Python's sign convention (the result in [0, pi)).
      double angle = std::fmod(std::atan2(gy[p], gx[p]), kPi);
      if (angle < 0) angle += kPi;
      const int bin = std::min(static_cast<int>(angle / (kPi / 4)), 3);
      bins[bin].push_back(magnitude);
    }
  double level = std::numeric_limits<double>::infinity();
  for (auto& values : bins) {
    if (values.empty()) continue;
    const auto at = std::max<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(values.size()) - count, 0);
    std::nth_element(values.begin(), values.begin() + at, values.end());
    level = std::min(level, values[idx(at)]);
  }
  return std::isinf(level) ? 0.0 : level;
}

void latent_l0(const double* data, std::ptrdiff_t rows, std::ptrdiff_t cols, const double* kernel,
               std::ptrdiff_t kernel_size, double lambda, double* out, int threads) {
  UNBLUR_REQUIRE(rows >= 2 && cols >= 2, "data must be at least 2x2, got " << rows << "x" << cols);
  UNBLUR_REQUIRE(kernel_size >= 1 && kernel_size % 2 == 1 && kernel_size <= std::min(rows, cols),
                 "kernel_size must be odd and fit the data, got " << kernel_size);
  UNBLUR_REQUIRE(std::isfinite(lambda) && lambda > 0, "lambda must be > 0, got " << lambda);
  Level level(data, rows, cols, kernel_size, false, resolve_threads(threads));
  level.latent(kernel, lambda, out);
}

bool fit_kernel(const double* data, const double* latent, std::ptrdiff_t rows, std::ptrdiff_t cols, double* kernel,
                std::ptrdiff_t kernel_size, double threshold, int threads) {
  UNBLUR_REQUIRE(kernel_size >= 1 && kernel_size % 2 == 1 && 3 * kernel_size <= std::min(rows, cols),
                 "kernel_size must be odd and at most a third of the data's sides, got " << kernel_size);
  Level level(data, rows, cols, kernel_size, false, resolve_threads(threads));
  return level.fit(latent, kernel, threshold);
}

KernelEstimate estimate_kernel(const double* image, std::ptrdiff_t rows, std::ptrdiff_t cols, int size,
                               const KernelEstimateOptions& options, const KernelEstimateCallback& callback) {
  UNBLUR_REQUIRE(size >= 3 && size % 2 == 1, "size must be an odd int >= 3, got " << size);
  UNBLUR_REQUIRE(3 * static_cast<std::ptrdiff_t>(size) <= std::min(rows, cols),
                 "size must be at most a third of the image's smaller side (" << std::min(rows, cols) / 3 << "), got "
                                                                              << size);
  UNBLUR_REQUIRE(options.iterations >= 1, "iterations must be >= 1, got " << options.iterations);
  UNBLUR_REQUIRE(options.levels >= 0, "levels must be >= 0 (0: automatic), got " << options.levels);
  const std::ptrdiff_t n = rows * cols;
  double low = image[0], high = image[0];
  for (std::ptrdiff_t p = 0; p < n; ++p) {
    UNBLUR_REQUIRE(std::isfinite(image[p]), "image must contain only finite values");
    low = std::min(low, image[p]);
    high = std::max(high, image[p]);
  }
  const int threads = resolve_threads(options.threads);
  KernelEstimate result;
  result.kernel_sizes = kernel_level_sizes(size, options.levels);
  result.lambda = kLambdaStart;
  const auto delta = [](std::ptrdiff_t side) {
    std::vector<double> k(idx(side * side), 0.0);
    k[idx((side / 2) * side + side / 2)] = 1.0;
    return k;
  };
  if (!(high - low > 1e-12 * std::max(1.0, std::abs(high)))) {
    result.blur_found = false;
    result.kernel = delta(size);
    return result;
  }
  std::vector<double> y(idx(n));
  for (std::ptrdiff_t p = 0; p < n; ++p) y[idx(p)] = (image[p] - low) / (high - low);

  const std::vector<int>& sizes = result.kernel_sizes;
  const int levels = static_cast<int>(sizes.size());
  double lam = kLambdaStart;
  std::ptrdiff_t ksize = sizes[0];
  // Two horizontal pixels at the centre: a delta is a fixed point of the alternation.
  std::vector<double> kernel(idx(ksize * ksize), 0.0);
  kernel[idx((ksize / 2) * ksize + ksize / 2 - 1)] = kernel[idx((ksize / 2) * ksize + ksize / 2)] = 0.5;
  std::unique_ptr<Level> scene;
  std::vector<double> latent, level_data;
  for (int level = 0; level < levels && !result.stopped_by_callback; ++level) {
    if (level > 0) {
      kernel = resized_kernel(kernel, ksize, sizes[idx(level)]);
      ksize = sizes[idx(level)];
    }
    const double ratio = static_cast<double>(ksize) / static_cast<double>(size);
    const std::ptrdiff_t lr = std::max<std::ptrdiff_t>(3 * ksize, static_cast<std::ptrdiff_t>(
                                                                      std::nearbyint(static_cast<double>(rows) * ratio)));
    const std::ptrdiff_t lc = std::max<std::ptrdiff_t>(3 * ksize, static_cast<std::ptrdiff_t>(
                                                                      std::nearbyint(static_cast<double>(cols) * ratio)));
    const double* source = y.data();
    if (lr != rows || lc != cols) {
      level_data.assign(idx(lr * lc), 0.0);
      resize_image(y.data(), rows, cols, level_data.data(), lr, lc);
      source = level_data.data();
    }
    // The central crop of fast FFT sides (at least 3 ksize; an axis without one is kept):
    // a prime side such as 61 or 67 costs FFTW several times more, and cropping keeps the
    // geometry unresampled.
    const auto fast_side = [ksize](std::ptrdiff_t side) {
      const std::ptrdiff_t m = smooth_size_at_most(side);
      return m >= 3 * ksize ? m : side;
    };
    const std::ptrdiff_t fr = fast_side(lr), fc = fast_side(lc), top = (lr - fr) / 2, left = (lc - fc) / 2;
    std::vector<double> crop(idx(fr * fc));
    for (std::ptrdiff_t i = 0; i < fr; ++i)
      std::copy(source + (top + i) * lc + left, source + (top + i) * lc + left + fc, crop.data() + i * fc);
    scene = std::make_unique<Level>(crop.data(), fr, fc, ksize, true, threads);
    latent.assign(idx(fr * fc), 0.0);
    double threshold = -1;
    for (int iteration = 0; iteration < options.iterations; ++iteration) {
      scene->latent(kernel.data(), lam, latent.data());
      if (threshold < 0) {
        threshold = edge_threshold(latent.data(), fr, fc, ksize, kEdgesPerBin * ksize);
      } else {
        threshold /= kEdgeDecay;
      }
      if (!scene->fit(latent.data(), kernel.data(), threshold)) break;
      lam = std::max(lam / kLambdaDecay, kLambdaMin);
      ++result.iterations;
      if (callback) {
        KernelEstimateState state;
        state.level = level;
        state.levels = levels;
        state.iteration = iteration;
        state.kernel_size = static_cast<int>(ksize);
        state.kernel = kernel.data();
        state.lambda = lam;
        if (!callback(state)) {
          result.stopped_by_callback = true;
          break;
        }
      }
    }
  }
  if (result.stopped_by_callback) {
    if (ksize != size) kernel = resized_kernel(kernel, ksize, size);
  } else {
    // Closing refinement at full resolution: a smaller L0 weight keeps finer structure
    // in the latent, and all its gradients enter the fit.
    for (int it = 0; it < kFinalIterations; ++it) {
      scene->latent(kernel.data(), kFinalLambda, latent.data());
      if (!scene->fit(latent.data(), kernel.data(), 0.0)) break;
      ++result.iterations;
    }
    scene->latent(kernel.data(), kFinalLambda, latent.data());
    result.residual = scene->residual(latent.data(), kernel.data());
  }
  result.lambda = lam;
  // Sub-pixel centring: a kernel off by half a pixel shifts the restored image as much.
  subpixel_centre(kernel.data(), size);
  result.kernel = std::move(kernel);
  return result;
}

}  // namespace unblur
