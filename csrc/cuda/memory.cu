#include "cuda/memory.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_set>

#include "cuda/check.hpp"

namespace unblur::cuda {
namespace {

std::mutex& pools_mutex() {
  static std::mutex m;
  return m;
}

std::map<int, cudaMemPool_t>& pools() {
  static std::map<int, cudaMemPool_t> p;
  return p;
}

// Pointers from the fallback (cudaMalloc), for devices or drivers without memory pools.
std::unordered_set<void*>& plain_allocations() {
  static std::unordered_set<void*> s;
  return s;
}

// unblur's pool of the current device; nullptr where the device has no memory pools
// (or a sandboxed driver refuses one): allocations then fall back to cudaMalloc.
cudaMemPool_t pool_of_current_device() {
  int device = 0;
  UNBLUR_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(pools_mutex());
  auto it = pools().find(device);
  if (it != pools().end()) return it->second;
  int supported = 0;
  if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess || !supported) {
    (void)cudaGetLastError();
    pools().emplace(device, nullptr);
    return nullptr;
  }
  cudaMemPoolProps props = {};
  props.allocType = cudaMemAllocationTypePinned;
  props.handleTypes = cudaMemHandleTypeNone;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = device;
  cudaMemPool_t pool = nullptr;
  if (cudaMemPoolCreate(&pool, &props) != cudaSuccess) {
    (void)cudaGetLastError();
    pools().emplace(device, nullptr);
    return nullptr;
  }
  std::uint64_t keep = UINT64_MAX;  // keep freed memory reserved for the next call
  UNBLUR_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  pools().emplace(device, pool);
  return pool;
}

}  // namespace

void* allocate(std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  cudaMemPool_t pool = pool_of_current_device();
  if (pool) {
    UNBLUR_CUDA_CHECK(cudaMallocFromPoolAsync(&p, bytes, pool, stream));
    return p;
  }
  UNBLUR_CUDA_CHECK(cudaMalloc(&p, bytes));
  std::lock_guard<std::mutex> lock(pools_mutex());
  plain_allocations().insert(p);
  return p;
}

void release(void* p, cudaStream_t stream) noexcept {
  if (!p) return;
  {
    std::lock_guard<std::mutex> lock(pools_mutex());
    auto it = plain_allocations().find(p);
    if (it != plain_allocations().end()) {
      plain_allocations().erase(it);
      cudaFree(p);  // (synchronises the device: the fallback is correct, not fast)
      return;
    }
  }
  cudaFreeAsync(p, stream);
}

PoolStats pool_stats() {
  std::lock_guard<std::mutex> lock(pools_mutex());
  PoolStats s;
  for (const auto& [device, pool] : pools()) {
    (void)device;
    if (!pool) {
      ++s.fallback_devices;
      continue;
    }
    std::uint64_t reserved = 0, used = 0;
    UNBLUR_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
    UNBLUR_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
    s.reserved += static_cast<std::size_t>(reserved);
    s.used += static_cast<std::size_t>(used);
  }
  return s;
}

void trim_pools() {
  std::lock_guard<std::mutex> lock(pools_mutex());
  for (const auto& [device, pool] : pools()) {
    (void)device;
    if (pool) UNBLUR_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
  }
}

}  // namespace unblur::cuda
