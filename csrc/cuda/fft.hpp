// cuFFT in the CUDA engine. Plans (cached per shape, precision and stream) arrive with
// the GPU kernels; for now the module reports the library it was linked with.
#pragma once

namespace unblur::cuda {

/// cuFFT's version number (e.g. 12000 for 12.0), from the library loaded at run time.
int cufft_version();

}  // namespace unblur::cuda
