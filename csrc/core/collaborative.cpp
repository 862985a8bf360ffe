// Collaborative Wiener filtering guided by a pilot (see collaborative.hpp).
#include "core/collaborative.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/array.hpp"
#include "core/error.hpp"

namespace unblur {

namespace {

using Index = std::ptrdiff_t;

std::vector<Index> positions(Index n, Index block, Index step) {
  std::vector<Index> p;
  for (Index i = 0; i <= n - block; i += step) p.push_back(i);
  if (p.back() != n - block) p.push_back(n - block);
  return p;
}

/// The orthonormal DCT-II matrix, row-major: row k holds basis function k.
std::vector<double> dct_matrix(Index n) {
  const double pi = 3.14159265358979323846;
  std::vector<double> c(static_cast<std::size_t>(n * n));
  for (Index k = 0; k < n; ++k)
    for (Index i = 0; i < n; ++i) {
      double v = std::cos(pi * (2.0 * static_cast<double>(i) + 1.0) * static_cast<double>(k) /
                          (2.0 * static_cast<double>(n))) * std::sqrt(2.0 / static_cast<double>(n));
      if (k == 0) v /= std::sqrt(2.0);
      c[static_cast<std::size_t>(k * n + i)] = v;
    }
  return c;
}

double bessel_i0(double x) {
  double sum = 1.0, term = 1.0;
  for (int k = 1; k < 500; ++k) {
    const double f = x / (2.0 * k);
    term *= f * f;
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

/// numpy.kaiser(n, beta).
std::vector<double> kaiser(Index n, double beta) {
  std::vector<double> w(static_cast<std::size_t>(n), 1.0);
  if (n == 1) return w;
  const double alpha = (static_cast<double>(n) - 1.0) / 2.0;
  for (Index i = 0; i < n; ++i) {
    const double r = (static_cast<double>(i) - alpha) / alpha;
    w[static_cast<std::size_t>(i)] = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / bessel_i0(beta);
  }
  return w;
}

constexpr double kKaiserBeta = 2.0;
constexpr double kTiny = 1e-30;

template <typename T>
class Filter {
 public:
  Filter(const T* noisy, const T* pilot, const double* sigma_map, double sigma, Index h, Index w,
         const CollaborativeParams& p)
      : noisy_(noisy), map_(sigma_map), var_(sigma * sigma), h_(h), w_(w), p_(p), pd_(pilot, pilot + h * w),
        d2_(dct_matrix(p.block)), dt_(d2_.size()), num_(static_cast<std::size_t>(h * w), 0.0),
        den_(num_.size(), 0.0) {
    for (Index i = 0; i < p.block; ++i)
      for (Index j = 0; j < p.block; ++j)
        dt_[static_cast<std::size_t>(j * p.block + i)] = d2_[static_cast<std::size_t>(i * p.block + j)];
    dn_.resize(static_cast<std::size_t>(p.group + 1));
    for (Index n = 1; n <= p.group; ++n) dn_[static_cast<std::size_t>(n)] = dct_matrix(n);
    const std::vector<double> k = kaiser(p.block, kKaiserBeta);
    win_.resize(static_cast<std::size_t>(p.block * p.block));
    for (Index a = 0; a < p.block; ++a)
      for (Index c = 0; c < p.block; ++c)
        win_[static_cast<std::size_t>(a * p.block + c)] =
            k[static_cast<std::size_t>(a)] * k[static_cast<std::size_t>(c)];
  }

  void run(T* out, int threads) {
    const std::vector<Index> py = positions(h_, p_.block, p_.step), px = positions(w_, p_.block, p_.step);
    const Index stripe = 2 * p_.radius + p_.block;
    const Index stripes = (h_ + stripe - 1) / stripe;
    for (Index parity = 0; parity < 2; ++parity) {
#pragma omp parallel for num_threads(threads) schedule(dynamic)
      for (Index s = parity; s < stripes; s += 2) {
        Scratch sc(p_);
        for (Index ry : py) {
          if (ry / stripe != s) continue;
          for (Index rx : px) group(ry, rx, sc);
        }
      }
    }
    for (std::size_t i = 0; i < num_.size(); ++i) out[i] = static_cast<T>(num_[i] / den_[i]);
  }

 private:
  struct Scratch {
    explicit Scratch(const CollaborativeParams& p)
        : ref(static_cast<std::size_t>(p.block * p.block)), tmp(ref.size()),
          ty(static_cast<std::size_t>(p.group) * ref.size()), tp(ty.size()), gy(ty.size()), gp(ty.size()),
          dist(static_cast<std::size_t>(p.group)), cy(dist.size()), cx(dist.size()) {}
    std::vector<double> ref, tmp, ty, tp, gy, gp, dist;
    std::vector<Index> cy, cx;
  };

  /// The sum of squared differences between the b x b block at `at` (row stride
  /// `stride`) and `ref`, in `ssd`; false (ssd unset) once a partial sum passes `limit`
  /// (checked every second row, widened so that rounding never rejects a block whose
  /// exact distance is within it). Column sums: the inner loop vectorises; B = 8 is a
  /// compile-time size.
  template <Index B>
  static bool block_ssd(const double* at, Index stride, const double* ref, double limit, double& ssd, Index b) {
    const Index n = B > 0 ? B : b;
    const double reject = limit * (1.0 + 1e-9);
    double acc[B > 0 ? B : 32];
    for (Index c = 0; c < n; ++c) acc[c] = 0.0;
    for (Index a = 0; a < n; ++a) {
      const double* row = at + a * stride;
      const double* rr = ref + a * n;
      for (Index c = 0; c < n; ++c) {
        const double e = row[c] - rr[c];
        acc[c] += e * e;
      }
      if (a % 2 == 1 && a + 1 < n) {
        double part = 0.0;
        for (Index c = 0; c < n; ++c) part += acc[c];
        if (part > reject) return false;
      }
    }
    ssd = 0.0;
    for (Index c = 0; c < n; ++c) ssd += acc[c];
    return true;
  }

  /// out = A X for b x b matrices (row-major), in i-k-j order: the inner loop runs over
  /// a contiguous row (it vectorises); B = 8, the default block, is a compile-time size
  /// so that it unrolls. `out` may not overlap A or X.
  template <Index B>
  static void product(const double* a, const double* x, double* out, Index b) {
    const Index n = B > 0 ? B : b;
    for (Index i = 0; i < n; ++i) {
      double* o = out + i * n;
      for (Index j = 0; j < n; ++j) o[j] = 0.0;
      for (Index k = 0; k < n; ++k) {
        const double c = a[i * n + k];
        const double* xr = x + k * n;
        for (Index j = 0; j < n; ++j) o[j] += c * xr[j];
      }
    }
  }

  /// The 2-D DCT of the b x b block x, in place: forward D X D^T, inverse D^T X D
  /// (tmp = the left product; x, no longer read, takes the right one).
  void dct2(double* x, double* tmp, bool inverse) const {
    const double* left = inverse ? dt_.data() : d2_.data();
    const double* right = inverse ? d2_.data() : dt_.data();
    if (p_.block == 8) {
      product<8>(left, x, tmp, 8);
      product<8>(tmp, right, x, 8);
    } else {
      product<0>(left, x, tmp, p_.block);
      product<0>(tmp, right, x, p_.block);
    }
  }

  void group(Index ry, Index rx, Scratch& sc) {
    const Index b = p_.block, bb = b * b, r = p_.radius;
    const double area = static_cast<double>(bb);
    for (Index a = 0; a < b; ++a)
      for (Index c = 0; c < b; ++c)
        sc.ref[static_cast<std::size_t>(a * b + c)] = pd_[static_cast<std::size_t>((ry + a) * w_ + rx + c)];
    // the best group - 1 other blocks, ascending (distance, scan order)
    const Index cap = p_.group - 1;
    Index m = 0;
    for (Index dy = -r; dy <= r && cap > 0; ++dy) {
      const Index y = ry + dy;
      if (y < 0 || y > h_ - b) continue;
      for (Index dx = -r; dx <= r; ++dx) {
        const Index x = rx + dx;
        if (x < 0 || x > w_ - b || (dy == 0 && dx == 0)) continue;
        const double bound = m == cap ? std::min(p_.tau, sc.dist[static_cast<std::size_t>(m - 1)]) : p_.tau;
        double ssd = 0.0;
        const double* cand = pd_.data() + y * w_ + x;
        if (!(b == 8 ? block_ssd<8>(cand, w_, sc.ref.data(), bound * area, ssd, 8)
                     : block_ssd<0>(cand, w_, sc.ref.data(), bound * area, ssd, b)))
          continue;
        const double d = ssd / area;
        if (!(d <= p_.tau) || (m == cap && !(d < sc.dist[static_cast<std::size_t>(m - 1)]))) continue;
        Index at = std::min(m, cap - 1);
        while (at > 0 && sc.dist[static_cast<std::size_t>(at - 1)] > d) {
          sc.dist[static_cast<std::size_t>(at)] = sc.dist[static_cast<std::size_t>(at - 1)];
          sc.cy[static_cast<std::size_t>(at)] = sc.cy[static_cast<std::size_t>(at - 1)];
          sc.cx[static_cast<std::size_t>(at)] = sc.cx[static_cast<std::size_t>(at - 1)];
          --at;
        }
        sc.dist[static_cast<std::size_t>(at)] = d;
        sc.cy[static_cast<std::size_t>(at)] = y;
        sc.cx[static_cast<std::size_t>(at)] = x;
        m = std::min(m + 1, cap);
      }
    }
    const Index n = m + 1;
    auto corner = [&](Index k, bool want_y) {
      if (k == 0) return want_y ? ry : rx;
      return want_y ? sc.cy[static_cast<std::size_t>(k - 1)] : sc.cx[static_cast<std::size_t>(k - 1)];
    };
    // the noise variance of the group: sigma^2's mean over the reference block
    double s2 = var_;
    if (map_ != nullptr) {
      double s = 0.0;
      for (Index a = 0; a < b; ++a)
        for (Index c = 0; c < b; ++c) {
          const double v = map_[(ry + a) * w_ + rx + c];
          s += v * v;
        }
      s2 = s / area;
    }
    // 2-D DCT of each block
    for (Index k = 0; k < n; ++k) {
      double* y = sc.ty.data() + k * bb;
      double* p = sc.tp.data() + k * bb;
      const Index y0 = corner(k, true), x0 = corner(k, false);
      for (Index a = 0; a < b; ++a)
        for (Index c = 0; c < b; ++c) {
          y[a * b + c] = static_cast<double>(noisy_[(y0 + a) * w_ + x0 + c]);
          p[a * b + c] = pd_[static_cast<std::size_t>((y0 + a) * w_ + x0 + c)];
        }
      dct2(y, sc.tmp.data(), false);
      dct2(p, sc.tmp.data(), false);
    }
    // across the group (g-k-e order: the inner loop runs over a block's coefficients),
    // the Wiener gains, and back
    const double* dn = dn_[static_cast<std::size_t>(n)].data();
    const std::size_t used = static_cast<std::size_t>(n * bb);
    std::fill(sc.gy.begin(), sc.gy.begin() + static_cast<std::ptrdiff_t>(used), 0.0);
    std::fill(sc.gp.begin(), sc.gp.begin() + static_cast<std::ptrdiff_t>(used), 0.0);
    for (Index g = 0; g < n; ++g) {
      double* oy = sc.gy.data() + g * bb;
      double* op = sc.gp.data() + g * bb;
      for (Index k = 0; k < n; ++k) {
        const double c = dn[g * n + k];
        const double* iy = sc.ty.data() + k * bb;
        const double* ip = sc.tp.data() + k * bb;
        for (Index e = 0; e < bb; ++e) {
          oy[e] += c * iy[e];
          op[e] += c * ip[e];
        }
      }
    }
    double sumsq = 0.0;
    for (std::size_t e = 0; e < used; ++e) {
      const double p2 = sc.gp[e] * sc.gp[e];
      const double gain = p2 + s2 > 0.0 ? p2 / (p2 + s2) : 1.0;
      sumsq += gain * gain;
      sc.gy[e] *= gain;
    }
    std::fill(sc.ty.begin(), sc.ty.begin() + static_cast<std::ptrdiff_t>(used), 0.0);
    for (Index k = 0; k < n; ++k) {
      double* o = sc.ty.data() + k * bb;
      for (Index g = 0; g < n; ++g) {
        const double c = dn[g * n + k];
        const double* iy = sc.gy.data() + g * bb;
        for (Index e = 0; e < bb; ++e) o[e] += c * iy[e];
      }
    }
    const double weight = 1.0 / (std::max(s2, kTiny) * std::max(sumsq, 1.0));
    for (Index k = 0; k < n; ++k) {
      double* y = sc.ty.data() + k * bb;
      dct2(y, sc.tmp.data(), true);
      const Index y0 = corner(k, true), x0 = corner(k, false);
      for (Index a = 0; a < b; ++a)
        for (Index c = 0; c < b; ++c) {
          const double wk = weight * win_[static_cast<std::size_t>(a * b + c)];
          const std::size_t i = static_cast<std::size_t>((y0 + a) * w_ + x0 + c);
          num_[i] += wk * y[a * b + c];
          den_[i] += wk;
        }
    }
  }

  const T* noisy_;
  const double* map_;
  double var_;
  Index h_, w_;
  CollaborativeParams p_;
  std::vector<double> pd_;  // the pilot in double
  std::vector<double> d2_, dt_, win_;  // the block DCT, its transpose, the window
  std::vector<std::vector<double>> dn_;
  std::vector<double> num_, den_;
};

}  // namespace

template <typename T>
void collaborative_wiener(const T* noisy, const T* pilot, const double* sigma_map, double sigma, T* out, Index h,
                          Index w, const CollaborativeParams& params, int threads) {
  UNBLUR_REQUIRE(h >= 1 && w >= 1, "image must be at least 1 x 1");
  UNBLUR_REQUIRE(params.block >= 1 && params.block <= 32, "block must be in 1..32");
  UNBLUR_REQUIRE(params.step >= 1 && params.step <= params.block, "step must be in 1..block");
  UNBLUR_REQUIRE(params.radius >= 0 && params.radius <= 256, "radius must be in 0..256");
  UNBLUR_REQUIRE(params.group >= 1 && params.group <= 64, "group must be in 1..64");
  UNBLUR_REQUIRE(std::isfinite(params.tau) && params.tau >= 0.0, "tau must be finite and >= 0");
  UNBLUR_REQUIRE(sigma_map != nullptr || (std::isfinite(sigma) && sigma >= 0.0), "sigma must be finite and >= 0");
  if (h < params.block || w < params.block) {
    std::copy(pilot, pilot + h * w, out);
    return;
  }
  Filter<T> f(noisy, pilot, sigma_map, sigma, h, w, params);
  f.run(out, resolve_threads(threads));
}

template void collaborative_wiener<float>(const float*, const float*, const double*, double, float*, Index, Index,
                                          const CollaborativeParams&, int);
template void collaborative_wiener<double>(const double*, const double*, const double*, double, double*, Index,
                                           Index, const CollaborativeParams&, int);

}  // namespace unblur
