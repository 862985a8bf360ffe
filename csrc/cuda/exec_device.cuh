// The device executor: runs the single-source algorithms of csrc/gpu on the GPU.
// Elementwise steps are grid-stride kernels on the caller's stream; reductions are one
// pass of per-block sums in double and one single-block pass, read back with one
// synchronising copy of K doubles (the only device -> host traffic, and only where an
// algorithm needs a scalar on the host: a stopping rule, an extrapolation step);
// buffers come from unblur's stream-ordered pool (cuda/memory.hpp); FFTs are the cached cuFFT plans.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "cuda/check.hpp"
#include "cuda/fft.hpp"
#include "cuda/memory.hpp"
#include "cuda/transfer.hpp"
#include "gpu/exec.hpp"
#include "gpu/gaussian_filter.hpp"

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

// Per-bin sums of f into acc[bin * K + k] and the extras into acc[bins * K] (double
// atomics: the order of the additions, hence the last bits, may vary between runs).
template <int K, typename F>
__global__ void binned_sums_kernel(gpu::Index n, gpu::Index bins, F f, double* acc) {
  for (gpu::Index i = blockIdx.x * static_cast<gpu::Index>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<gpu::Index>(gridDim.x) * blockDim.x) {
    const gpu::Binned<K> b = f(i);
    if (b.extra != 0) atomicAdd(acc + bins * K, b.extra);
    if (b.bin < 0 || b.bin >= bins) continue;
    for (int k = 0; k < K; ++k) atomicAdd(acc + b.bin * K + k, b.v[k]);
  }
}

// ---- the Gaussian passes (csrc/gpu/gaussian_filter.hpp) ----------------------------------

constexpr int kRowTile = kBlock;                  // outputs per row tile (one per thread)
constexpr std::size_t kSharedBudget = 40 * 1024;  // bytes of shared memory a pass may use

// The 2r + 1 taps into shared memory, by the block's threads.
template <typename T>
__device__ void load_taps(T* taps, const gpu::GaussianAxis& g) {
  for (gpu::Index k = threadIdx.x; k <= 2 * g.radius; k += blockDim.x) taps[k] = gpu::gaussian_tap<T>(g, k - g.radius);
  __syncthreads();
}

// A pass along a leading axis: the taps in shared memory, outputs grid-strided.
template <typename T>
__global__ void gaussian_axis_kernel(const T* __restrict__ in, T* __restrict__ out, gpu::Dims d, int axis,
                                     gpu::GaussianAxis g, Boundary mode, T cval) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* taps = reinterpret_cast<T*>(shared_bytes);
  load_taps(taps, g);
  const gpu::Index n = d.size();
  for (gpu::Index t = blockIdx.x * static_cast<gpu::Index>(blockDim.x) + threadIdx.x; t < n;
       t += static_cast<gpu::Index>(gridDim.x) * blockDim.x)
    out[t] = gpu::gaussian_output(in, d, axis, taps, g.radius, mode, cval, t);
}

// The pass along the contiguous last axis: each block stages a row segment of kRowTile
// outputs plus the 2r halo in shared memory (coalesced loads, the boundary rule applied
// once per sample), then every thread correlates its window. Tiles are grid-strided;
// the loop count is uniform within a block, so the barriers are safe.
template <typename T>
__global__ void gaussian_rows_kernel(const T* __restrict__ in, T* __restrict__ out, gpu::Index rows, gpu::Index n,
                                     gpu::GaussianAxis g, Boundary mode, T cval) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const gpu::Index r = g.radius;
  T* taps = reinterpret_cast<T*>(shared_bytes);
  T* line = taps + (2 * r + 1);
  load_taps(taps, g);
  const gpu::Index per_row = (n + kRowTile - 1) / kRowTile, tiles = rows * per_row;
  for (gpu::Index tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const gpu::Index row = tile / per_row, x0 = (tile % per_row) * kRowTile;
    __syncthreads();  // the previous tile's windows are read
    for (gpu::Index q = threadIdx.x; q < kRowTile + 2 * r; q += blockDim.x)
      line[q] = gpu::row_sample(in, row, n, x0 - r + q, mode, cval);
    __syncthreads();
    const gpu::Index i = x0 + threadIdx.x;
    if (i < n) out[row * n + i] = gpu::correlate_window(taps, r, line + threadIdx.x);
  }
}

template <typename T>
class DeviceExec {
 public:
  using Real = T;
  using C = gpu::Cplx<T>;
  static constexpr int kMaxSumBlocks = 1024;

  explicit DeviceExec(cudaStream_t stream) : stream_(stream) {}
  cudaStream_t stream() const { return stream_; }

  /// n elements of device memory from unblur's stream-ordered pool, freed on the stream.
  template <typename U>
  class Buffer {
   public:
    Buffer(const DeviceExec& ex, std::size_t n)
        : data_(static_cast<U*>(allocate(n * sizeof(U), ex.stream_))), n_(n), stream_(ex.stream_) {}
    ~Buffer() { release(data_, stream_); }  // not checked: a destructor must not throw
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
    transfer(&result, partial.data(), sizeof(result), cudaMemcpyDeviceToHost, stream_);
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

  /// One Gaussian pass along `axis` of the 3-D view d (csrc/gpu/gaussian_filter.hpp).
  void filter_axis(const T* in, T* out, const gpu::Dims& d, int axis, const gpu::GaussianAxis& g, Boundary mode,
                   T cval) const {
    const gpu::Index r = g.radius, n = d.size();
    const std::size_t taps_bytes = sizeof(T) * static_cast<std::size_t>(2 * r + 1);
    const std::size_t rows_bytes = taps_bytes + sizeof(T) * static_cast<std::size_t>(kRowTile + 2 * r);
    if (axis == 2 && rows_bytes <= kSharedBudget) {
      const gpu::Index rows = d.n[0] * d.n[1], tiles = rows * ((d.n[2] + kRowTile - 1) / kRowTile);
      gaussian_rows_kernel<T><<<static_cast<unsigned>(std::min<gpu::Index>(tiles, 65535)), kRowTile, rows_bytes,
                                stream_>>>(in, out, rows, d.n[2], g, mode, cval);
      UNBLUR_CUDA_CHECK_LAUNCH();
    } else if (taps_bytes <= kSharedBudget) {
      gaussian_axis_kernel<T><<<blocks_for_n(n), kBlock, taps_bytes, stream_>>>(in, out, d, axis, g, mode, cval);
      UNBLUR_CUDA_CHECK_LAUNCH();
    } else {
      // Radii beyond the shared-memory budget: the taps in global memory.
      Buffer<T> taps(*this, static_cast<std::size_t>(2 * r + 1));
      T* tp = taps.data();
      for_each(2 * r + 1, [=] UNBLUR_HD(gpu::Index k) { tp[k] = gpu::gaussian_tap<T>(g, k - r); });
      for_each(n, [=] UNBLUR_HD(gpu::Index t) { out[t] = gpu::gaussian_output(in, d, axis, tp, r, mode, cval, t); });
    }
  }

  template <int K, typename F>
  std::vector<gpu::Sums<K>> binned_sums(gpu::Index n, gpu::Index bins, F f) const {
    const std::size_t len = static_cast<std::size_t>(bins * K + 1);
    Buffer<double> acc(*this, len);
    UNBLUR_CUDA_CHECK(cudaMemsetAsync(acc.data(), 0, len * sizeof(double), stream_));
    if (n > 0) {
      binned_sums_kernel<K><<<blocks_for_n(n, 4096), kBlock, 0, stream_>>>(n, bins, f, acc.data());
      UNBLUR_CUDA_CHECK_LAUNCH();
    }
    std::vector<double> host(len);
    transfer(host.data(), acc.data(), len * sizeof(double), cudaMemcpyDeviceToHost, stream_);
    UNBLUR_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<gpu::Sums<K>> out(static_cast<std::size_t>(bins + 1));
    for (gpu::Index b = 0; b < bins; ++b)
      for (int k = 0; k < K; ++k) out[static_cast<std::size_t>(b)].v[k] = host[static_cast<std::size_t>(b * K + k)];
    out[static_cast<std::size_t>(bins)].v[0] = host[len - 1];
    return out;
  }

  template <typename U>
  void copy(U* dst, const U* src, gpu::Index n) const {
    if (n > 0) transfer(dst, src, sizeof(U) * n, cudaMemcpyDeviceToDevice, stream_);
  }
  template <typename U>
  void fill(U* dst, gpu::Index n, U value) const {
    for_each(n, [=] UNBLUR_HD(gpu::Index i) { dst[i] = value; });
  }

 private:
  cudaStream_t stream_;
};

}  // namespace unblur::cuda
