// CUDA engine: device discovery. Kernels and cuFFT plans come with the GPU issue;
// they follow the same rule: device pointers + sizes + the caller's cudaStream_t.
#pragma once

#include <string>
#include <vector>

namespace unblur::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  std::size_t total_memory = 0;
  int multiprocessors = 0;
};

/// Devices visible to the CUDA runtime. An empty list (no driver, no GPU) is not an
/// error; `reason` then says why, e.g. "no CUDA-capable device is detected".
std::vector<DeviceInfo> devices(std::string* reason);

/// CUDA runtime version the module was built against (e.g. 13000 for 13.0).
int runtime_version();

}  // namespace unblur::cuda
