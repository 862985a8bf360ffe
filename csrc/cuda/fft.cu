#include "cuda/fft.hpp"

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "cuda/check.hpp"
#include "cuda/memory.hpp"

namespace unblur::cuda {

const char* cufft_result_name(cufftResult result) {
  switch (result) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED (out of device memory)";
    case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA: return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE: return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE: return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED: return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED: return "CUFFT_NOT_SUPPORTED";
    default: return "unknown cufftResult";
  }
}

int cufft_version() {
  int version = 0;
  UNBLUR_CUFFT_CHECK(cufftGetVersion(&version));
  return version;
}

}  // namespace unblur::cuda

namespace unblur::cuda {
namespace {

template <typename T>
struct CufftCalls;

template <>
struct CufftCalls<float> {
  static constexpr cufftType forward_type = CUFFT_R2C, inverse_type = CUFFT_C2R;
  static cufftResult forward(cufftHandle p, const float* in, cufftComplex* out) {
    return cufftExecR2C(p, const_cast<float*>(in), out);  // out-of-place R2C leaves `in` alone
  }
  static cufftResult inverse(cufftHandle p, cufftComplex* in, float* out) { return cufftExecC2R(p, in, out); }
};

template <>
struct CufftCalls<double> {
  static constexpr cufftType forward_type = CUFFT_D2Z, inverse_type = CUFFT_Z2D;
  static cufftResult forward(cufftHandle p, const double* in, cufftDoubleComplex* out) {
    return cufftExecD2Z(p, const_cast<double*>(in), out);
  }
  static cufftResult inverse(cufftHandle p, cufftDoubleComplex* in, double* out) { return cufftExecZ2D(p, in, out); }
};

using Key = std::tuple<int /*device*/, std::uintptr_t /*stream*/, int /*bytes*/, Shape>;

// (The CPU engine's shape helpers live in the core library, which this module does not
// link: it would bring FFTW along.)
std::ptrdiff_t elements(const Shape& shape) {
  std::ptrdiff_t n = 1;
  for (std::ptrdiff_t s : shape) n *= s;
  return n;
}

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}

std::map<Key, std::shared_ptr<void>>& cache() {
  static std::map<Key, std::shared_ptr<void>> c;
  return c;
}

}  // namespace

template <typename T>
DeviceBuffer<T>::DeviceBuffer(std::size_t n, cudaStream_t stream) : size_(n), stream_(stream) {
  data_ = static_cast<T*>(allocate(n * sizeof(T), stream));
}

template <typename T>
DeviceBuffer<T>::~DeviceBuffer() {
  release(data_, stream_);  // not checked: a destructor must not throw
}

template class DeviceBuffer<float>;
template class DeviceBuffer<double>;
template class DeviceBuffer<cufftComplex>;
template class DeviceBuffer<cufftDoubleComplex>;

template <typename T>
RealPlan<T>::RealPlan(const Shape& shape, cudaStream_t stream) : shape_(shape) {
  UNBLUR_REQUIRE(!shape.empty() && shape.size() <= 3, "FFT shape must have 1 to 3 axes, got " << shape.size());
  std::vector<int> n;
  for (std::ptrdiff_t s : shape) {
    UNBLUR_REQUIRE(s >= 1 && s <= (1 << 30), "FFT axis of length " << s << " is out of range");
    n.push_back(static_cast<int>(s));
  }
  real_size_ = elements(shape);
  Shape half = shape;
  half.back() = half.back() / 2 + 1;
  spectrum_size_ = elements(half);
  const int rank = static_cast<int>(n.size());
  UNBLUR_CUFFT_CHECK(cufftPlanMany(&forward_, rank, n.data(), nullptr, 1, 0, nullptr, 1, 0,
                                   CufftCalls<T>::forward_type, 1));
  const cufftResult second = cufftPlanMany(&inverse_, rank, n.data(), nullptr, 1, 0, nullptr, 1, 0,
                                           CufftCalls<T>::inverse_type, 1);
  if (second != CUFFT_SUCCESS) {
    cufftDestroy(forward_);
    UNBLUR_CUFFT_CHECK(second);
  }
  UNBLUR_CUFFT_CHECK(cufftSetStream(forward_, stream));
  UNBLUR_CUFFT_CHECK(cufftSetStream(inverse_, stream));
}

template <typename T>
RealPlan<T>::~RealPlan() {
  cufftDestroy(forward_);
  cufftDestroy(inverse_);
}

template <typename T>
std::shared_ptr<RealPlan<T>> RealPlan<T>::get(const Shape& shape, cudaStream_t stream) {
  int device = 0;
  UNBLUR_CUDA_CHECK(cudaGetDevice(&device));
  const Key key{device, reinterpret_cast<std::uintptr_t>(stream), static_cast<int>(sizeof(T)), shape};
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto& c = cache();
  auto it = c.find(key);
  if (it != c.end()) return std::static_pointer_cast<RealPlan<T>>(it->second);
  auto plan = std::make_shared<RealPlan<T>>(shape, stream);
  c.emplace(key, plan);
  return plan;
}

template <typename T>
void RealPlan<T>::forward(const T* in, Complex<T>* out) const {
  std::lock_guard<std::mutex> lock(exec_);
  UNBLUR_CUFFT_CHECK(CufftCalls<T>::forward(forward_, in, out));
}

template <typename T>
void RealPlan<T>::inverse(Complex<T>* in, T* out) const {
  std::lock_guard<std::mutex> lock(exec_);
  UNBLUR_CUFFT_CHECK(CufftCalls<T>::inverse(inverse_, in, out));
}

template class RealPlan<float>;
template class RealPlan<double>;

void clear_plan_cache() {
  std::lock_guard<std::mutex> lock(cache_mutex());
  cache().clear();
}

std::size_t plan_cache_size() {
  std::lock_guard<std::mutex> lock(cache_mutex());
  return cache().size();
}

}  // namespace unblur::cuda
