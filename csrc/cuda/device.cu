#include "cuda/device.hpp"

#include <cuda_runtime.h>

namespace unblur::cuda {

std::vector<DeviceInfo> devices(std::string* reason) {
  std::vector<DeviceInfo> out;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (reason) *reason = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return out;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    err = cudaGetDeviceProperties(&p, i);
    if (err != cudaSuccess) {
      if (reason) *reason = cudaGetErrorString(err);
      cudaGetLastError();
      continue;
    }
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.compute_major = p.major;
    d.compute_minor = p.minor;
    d.total_memory = p.totalGlobalMem;
    d.multiprocessors = p.multiProcessorCount;
    out.push_back(d);
  }
  if (out.empty() && reason && reason->empty()) *reason = "no CUDA device";
  return out;
}

int runtime_version() { return CUDART_VERSION; }

}  // namespace unblur::cuda
