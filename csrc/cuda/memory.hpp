// Device memory of the CUDA engine's temporaries: one stream-ordered pool per device,
// owned by unblur, that keeps what it has reserved between calls. (The runtime's default
// pool returns freed memory to the driver at every synchronisation, so an algorithm that
// reads a reduction back each iteration would pay for fresh allocations on every call;
// changing the default pool's threshold would change every other library's too.)
// Outputs are not allocated here: the Python layer allocates them from CuPy's pool.
// Devices (or sandboxed drivers) without memory pools fall back to cudaMalloc / cudaFree.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace unblur::cuda {

/// `bytes` from unblur's pool of the current device, ordered on `stream`; freed with
/// release(p, stream). Throws unblur::Error naming the call on failure.
void* allocate(std::size_t bytes, cudaStream_t stream);
/// Returns p to its pool, ordered on `stream` (not checked: called from destructors).
void release(void* p, cudaStream_t stream) noexcept;

struct PoolStats {
  std::size_t reserved = 0, used = 0;  ///< bytes, summed over the devices' pools
  int fallback_devices = 0;            ///< devices allocating with cudaMalloc (no pools)
};
PoolStats pool_stats();
/// Gives every pool's unused memory back to the driver.
void trim_pools();

}  // namespace unblur::cuda
