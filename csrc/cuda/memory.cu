#include "cuda/memory.hpp"

#include <cstdint>
#include <map>
#include <mutex>

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

cudaMemPool_t pool_of_current_device() {
  int device = 0;
  UNBLUR_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(pools_mutex());
  auto it = pools().find(device);
  if (it != pools().end()) return it->second;
  cudaMemPoolProps props = {};
  props.allocType = cudaMemAllocationTypePinned;
  props.handleTypes = cudaMemHandleTypeNone;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = device;
  cudaMemPool_t pool = nullptr;
  UNBLUR_CUDA_CHECK(cudaMemPoolCreate(&pool, &props));
  std::uint64_t keep = UINT64_MAX;  // keep freed memory reserved for the next call
  UNBLUR_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  pools().emplace(device, pool);
  return pool;
}

}  // namespace

void* allocate(std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  UNBLUR_CUDA_CHECK(cudaMallocFromPoolAsync(&p, bytes, pool_of_current_device(), stream));
  return p;
}

void release(void* p, cudaStream_t stream) noexcept {
  if (p) cudaFreeAsync(p, stream);
}

PoolStats pool_stats() {
  std::lock_guard<std::mutex> lock(pools_mutex());
  PoolStats s;
  for (const auto& [device, pool] : pools()) {
    (void)device;
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
    UNBLUR_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
  }
}

}  // namespace unblur::cuda
