// Checked CUDA runtime and cuFFT calls. Every call of either goes through one of these
// macros; a failure throws unblur::Error ("file:line in function: call failed: reason"),
// which the bindings turn into a Python RuntimeError naming the call.
#pragma once

#include <cuda_runtime.h>
#include <cufft.h>

#include <string>

#include "core/error.hpp"

namespace unblur::cuda {

/// cuFFT's result codes by name (cuFFT has no string function of its own).
const char* cufft_result_name(cufftResult result);

}  // namespace unblur::cuda

#define UNBLUR_CUDA_CHECK(call)                                                                   \
  do {                                                                                            \
    const cudaError_t unblur_status_ = (call);                                                    \
    if (unblur_status_ != cudaSuccess)                                                            \
      ::unblur::detail::fail(__FILE__, __LINE__, __func__,                                        \
                             std::string(#call " failed: ") + cudaGetErrorString(unblur_status_), false); \
  } while (0)

#define UNBLUR_CUFFT_CHECK(call)                                                                  \
  do {                                                                                            \
    const cufftResult unblur_status_ = (call);                                                    \
    if (unblur_status_ != CUFFT_SUCCESS)                                                          \
      ::unblur::detail::fail(__FILE__, __LINE__, __func__,                                        \
                             std::string(#call " failed: ") + ::unblur::cuda::cufft_result_name(unblur_status_), \
                             false);                                                              \
  } while (0)

/// After a kernel launch: the launch's own error (bad configuration), checked.
#define UNBLUR_CUDA_CHECK_LAUNCH() UNBLUR_CUDA_CHECK(cudaGetLastError())
