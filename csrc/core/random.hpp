// A small, portable random number generator for reproducible PSFs.
//
// The standard library's distributions (std::normal_distribution, ...) are
// implementation-defined, so the same seed gives different numbers with libstdc++,
// libc++ and MSVC. unblur's random PSFs must be identical on every platform and match
// the Python reference (unblur._xp.psf), so this header spells the whole chain out:
//
//   seed --splitmix64--> xoshiro256** state --> 53-bit uniform doubles
//        --Box-Muller--> pairs of standard normal numbers.
//
// splitmix64: Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014. xoshiro256**: Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", ACM TOMS 47(4), 2021. Box & Muller, Ann. Math. Stat. 29(2), 1958.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

namespace unblur {

/// One step of splitmix64: advances `state` and returns the next output.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  state += 0x9E3779B97F4A7C15ULL;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// xoshiro256** seeded through splitmix64, with uniform and normal variates.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    std::uint64_t sm = seed;
    for (auto& word : s_) word = splitmix64(sm);
  }

  /// The next 64 random bits.
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Two independent standard normal numbers (Box-Muller, both outputs used).
  std::pair<double, double> normal_pair() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log(u1) is finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 2.0 * 3.14159265358979323846 * u2;
    return {r * std::cos(a), r * std::sin(a)};
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace unblur
