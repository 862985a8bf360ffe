// Shapes, aligned buffers and the thread setting shared by the whole core.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace unblur {

/// Row-major shape of an image or volume; the last axis is contiguous.
using Shape = std::vector<std::ptrdiff_t>;

/// Number of elements of a shape (1 for an empty shape vector).
std::ptrdiff_t shape_size(const Shape& shape);

/// A shape padded with leading `lead`s (1 for extents, 0 for offsets) to 3 axes, so
/// loops over 1-D, 2-D and 3-D arrays are written once.
inline std::array<std::ptrdiff_t, 3> pad_to_3d(const Shape& s, std::ptrdiff_t lead = 1) {
  std::array<std::ptrdiff_t, 3> d{lead, lead, lead};
  for (std::size_t i = 0; i < s.size(); ++i) d[3 - s.size() + i] = s[i];
  return d;
}

/// Throws ValueError unless 1 <= shape.size() <= 3 and every extent is >= 1.
void require_shape(const Shape& shape, const char* name);

/// Byte alignment of every AlignedBuffer (enough for AVX-512 loads).
constexpr std::size_t kAlignment = 64;

/// Owning, uninitialised, 64-byte aligned storage for n elements of a trivial type.
template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t n) : size_(n) {
    if (n == 0) return;
    std::size_t bytes = ((n * sizeof(T) + kAlignment - 1) / kAlignment) * kAlignment;
    void* p = ::operator new[](bytes, std::align_val_t(kAlignment));
    data_.reset(static_cast<T*>(p));
  }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  T& operator[](std::size_t i) { return data_.get()[i]; }
  const T& operator[](std::size_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const { ::operator delete[](p, std::align_val_t(kAlignment)); }
  };
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

/// Most threads one call may ask for: OpenMP and FFTW would try to start them all, and a
/// mistyped count (1e6) would exhaust the process's threads instead of failing cleanly.
constexpr int kMaxThreads = 1024;

/// Default number of threads for FFTW and OpenMP loops (initially the OpenMP maximum,
/// at most kMaxThreads).
int get_threads();
/// Sets the default thread count; 1 <= n <= kMaxThreads, else ValueError.
void set_threads(int n);
/// Resolves a per-call thread request: 1 <= n <= kMaxThreads is used as is, n <= 0 means
/// the default, n > kMaxThreads is a ValueError.
int resolve_threads(int n);

}  // namespace unblur
