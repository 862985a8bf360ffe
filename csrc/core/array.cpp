#include "core/array.hpp"

#include <algorithm>
#include <atomic>

#include <omp.h>

#include "core/error.hpp"

namespace unblur {

std::ptrdiff_t shape_size(const Shape& shape) {
  std::ptrdiff_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

void require_shape(const Shape& shape, const char* name) {
  UNBLUR_REQUIRE(!shape.empty() && shape.size() <= 3,
                 name << " must have 1, 2 or 3 dimensions, got " << shape.size());
  for (auto s : shape) UNBLUR_REQUIRE(s >= 1, name << " has an empty axis");
}

namespace {
std::atomic<int>& default_threads() {
  static std::atomic<int> n{std::clamp(omp_get_max_threads(), 1, kMaxThreads)};
  return n;
}
}  // namespace

int get_threads() { return default_threads().load(); }

void set_threads(int n) {
  UNBLUR_REQUIRE(n >= 1 && n <= kMaxThreads, "threads must be in [1, " << kMaxThreads << "], got " << n);
  default_threads().store(n);
}

int resolve_threads(int n) {
  UNBLUR_REQUIRE(n <= kMaxThreads, "threads must be <= " << kMaxThreads << ", got " << n);
  return n >= 1 ? n : get_threads();
}

}  // namespace unblur
