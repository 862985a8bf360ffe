// The device executor: runs the single-source algorithms of csrc/gpu on the GPU.
// Elementwise steps are grid-stride kernels on the caller's stream; reductions are one
// pass of per-block sums in double and one single-block pass, read back with one
// synchronising copy of K doubles (the only device -> host traffic, and only where an
// algorithm needs a scalar on the host: a stopping rule, an extrapolation step);
// buffers come from the stream-ordered allocator; FFTs are the cached cuFFT plans.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <memory>

#include "cuda/check.hpp"
#include "cuda/fft.hpp"
#include "gpu/exec.hpp"

namespace unblur::cuda {

constexpr int kBlock = 256;

/// Blocks for n elements under grid-stride loops, capped at `cap`.
inline unsigned blocks_for_n(gpu::Index n, gpu::Index cap = 65535) {
  const gpu::Index b = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(std::max<gpu::Index>(1, std::min<gpu::Index>(b, cap)));
}

// f(i) for its writes, its value dropped (sums_if without the sums).
template <typename F>
struct Discard {
  F f;
  __device__ void operator()(gpu::Index i) const { (void)f(i); }
};

template <typename F>
__global__ void for_each_kernel(gpu::Index n, F f) {
  for (gpu::Index i = blockIdx.x * static_cast<gpu::Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<gpu::Index>(gridDim.x) * blockDim.x)
    f(i);
}

// The Op-reduction of f over [0, n): one Sums<K, Op> per block into partial[blockIdx.x].
template <int K, typename Op, typename F>
__global__ void block_sums_kernel(gpu::Index n, F f, gpu::Sums<K, Op>* partial) {
  __shared__ double shared[K][kBlock];
  gpu::Sums<K, Op> acc;
  for (gpu::Index i = blockIdx.x * static_cast<gpu::Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<gpu::Index>(gridDim.x) * blockDim.x)
    acc += f(i);
  for (int k = 0; k < K; ++k) shared[k][threadIdx.x] = acc.v[k];
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s)
      for (int k = 0; k < K; ++k) shared[k][threadIdx.x] = Op::apply(shared[k][threadIdx.x], shared[k][threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int k = 0; k < K; ++k) partial[blockIdx.x].v[k] = shared[k][0];
}

// partial[0] = the sum of partial[0 .. m) (one block).
template <int K, typename Op>
__global__ void final_sums_kernel(gpu::Sums<K, Op>* partial, int m) {
  __shared__ double shared[K][kBlock];
  gpu::Sums<K, Op> acc;
  for (int i = threadIdx.x; i < m; i += kBlock) acc += partial[i];
  for (int k = 0; k < K; ++k) shared[k][threadIdx.x] = acc.v[k];
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s)
      for (int k = 0; k < K; ++k) shared[k][threadIdx.x] = Op::apply(shared[k][threadIdx.x], shared[k][threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int k = 0; k < K; ++k) partial[0].v[k] = shared[k][0];
}

template <typename T>
class DeviceExec {
 public:
  using Real = T;
  using C = gpu::Cplx<T>;
  static constexpr int kMaxSumBlocks = 1024;

  explicit DeviceExec(cudaStream_t stream) : stream_(stream) {}
  cudaStream_t stream() const { return stream_; }

  /// n elements of device memory from the stream-ordered allocator, freed on the stream.
  template <typename U>
  class Buffer {
   public:
    Buffer(const DeviceExec& ex, std::size_t n) : n_(n), stream_(ex.stream_) {
      if (n == 0) return;
      void* p = nullptr;
      UNBLUR_CUDA_CHECK(cudaMallocAsync(&p, n * sizeof(U), stream_));
      data_ = static_cast<U*>(p);
    }
    ~Buffer() {
      if (data_) cudaFreeAsync(data_, stream_);  // not checked: a destructor must not throw
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    U* data() const { return data_; }
    std::size_t size() const { return n_; }

   private:
    U* data_ = nullptr;
    std::size_t n_ = 0;
    cudaStream_t stream_ = nullptr;
  };

  class Fft {
   public:
    Fft(const Shape& shape, cudaStream_t stream) : plan_(RealPlan<T>::get(shape, stream)) {}
    gpu::Index real_size() const { return plan_->real_size(); }
    gpu::Index spectrum_size() const { return plan_->spectrum_size(); }
    void forward(const T* in, C* out) const { plan_->forward(in, reinterpret_cast<Complex<T>*>(out)); }
    void inverse(C* in, T* out) const { plan_->inverse(reinterpret_cast<Complex<T>*>(in), out); }

   private:
    std::shared_ptr<RealPlan<T>> plan_;
  };

  std::shared_ptr<const Fft> fft(const Shape& shape) const { return std::make_shared<const Fft>(shape, stream_); }

  template <typename F>
  void for_each(gpu::Index n, F f) const {
    if (n <= 0) return;
    for_each_kernel<<<blocks_for_n(n), kBlock, 0, stream_>>>(n, f);
    UNBLUR_CUDA_CHECK_LAUNCH();
  }

  template <int K, typename Op = gpu::Plus, typename F>
  gpu::Sums<K, Op> sums(gpu::Index n, F f) const {
    gpu::Sums<K, Op> result;
    if (n <= 0) return result;
    const unsigned blocks = blocks_for_n(n, kMaxSumBlocks);
    Buffer<gpu::Sums<K, Op>> partial(*this, blocks);
    block_sums_kernel<K, Op><<<blocks, kBlock, 0, stream_>>>(n, f, partial.data());
    UNBLUR_CUDA_CHECK_LAUNCH();
    final_sums_kernel<K, Op><<<1, kBlock, 0, stream_>>>(partial.data(), static_cast<int>(blocks));
    UNBLUR_CUDA_CHECK_LAUNCH();
    UNBLUR_CUDA_CHECK(cudaMemcpyAsync(&result, partial.data(), sizeof(result), cudaMemcpyDeviceToHost, stream_));
    UNBLUR_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return result;
  }

  template <int K, typename F>
  gpu::Sums<K> sums_if(bool want, gpu::Index n, F f) const {
    if (want) return sums<K>(n, f);
    if (n > 0) {
      for_each_kernel<<<blocks_for_n(n), kBlock, 0, stream_>>>(n, Discard<F>{f});
      UNBLUR_CUDA_CHECK_LAUNCH();
    }
    return gpu::Sums<K>();
  }

  template <typename U>
  void copy(U* dst, const U* src, gpu::Index n) const {
    if (n > 0) UNBLUR_CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(U) * n, cudaMemcpyDeviceToDevice, stream_));
  }
  template <typename U>
  void fill(U* dst, gpu::Index n, U value) const {
    for_each(n, [=] UNBLUR_HD(gpu::Index i) { dst[i] = value; });
  }

 private:
  cudaStream_t stream_;
};

}  // namespace unblur::cuda
