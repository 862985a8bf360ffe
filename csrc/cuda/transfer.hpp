// Host <-> device copies of the CUDA engine, counted. (Host code only: the bindings
// report the counts.)
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>

#include "cuda/check.hpp"

namespace unblur::cuda {

/// Every copy the CUDA engine makes goes through transfer(), which counts them by
/// direction (tests/test_cuda.py asserts that algorithms copy no image data between
/// host and device; tests/test_gpu_algorithms.py that no other cudaMemcpy exists).
struct TransferStats {
  std::atomic<long long> host_to_device{0}, device_to_host{0}, device_to_device{0};
  std::atomic<long long> host_to_device_bytes{0}, device_to_host_bytes{0};
  std::atomic<long long> largest_device_to_host{0};  ///< bytes of the largest single download
};
inline TransferStats& transfer_stats() {
  static TransferStats s;
  return s;
}

inline void transfer(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  TransferStats& s = transfer_stats();
  if (kind == cudaMemcpyHostToDevice) {
    ++s.host_to_device;
    s.host_to_device_bytes += static_cast<long long>(bytes);
  } else if (kind == cudaMemcpyDeviceToHost) {
    ++s.device_to_host;
    s.device_to_host_bytes += static_cast<long long>(bytes);
    long long seen = s.largest_device_to_host.load();
    while (static_cast<long long>(bytes) > seen &&
           !s.largest_device_to_host.compare_exchange_weak(seen, static_cast<long long>(bytes))) {
    }
  } else {
    ++s.device_to_device;
  }
  UNBLUR_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream));
}

}  // namespace unblur::cuda
