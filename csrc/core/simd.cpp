#include "core/simd.hpp"

#include <atomic>
#include <cstring>

#include "core/error.hpp"

namespace unblur {
namespace {

bool cpu_has_avx2() {
#if UNBLUR_DISPATCH_AVX2
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

std::atomic<bool>& avx2_flag() {
  static std::atomic<bool> on{cpu_has_avx2()};
  return on;
}

}  // namespace

bool use_avx2() { return avx2_flag().load(std::memory_order_relaxed); }

const char* simd_level() {
#if defined(__AVX2__)
  return "native";  // the whole build targets AVX2 or better (UNBLUR_NATIVE)
#else
  return use_avx2() ? "avx2" : "baseline";
#endif
}

void set_simd(const char* level) {
  if (std::strcmp(level, "auto") == 0) {
    avx2_flag().store(cpu_has_avx2());
  } else if (std::strcmp(level, "baseline") == 0) {
    avx2_flag().store(false);
  } else {
    UNBLUR_REQUIRE(false, "simd must be 'auto' or 'baseline', got '" << level << "'");
  }
}

}  // namespace unblur
