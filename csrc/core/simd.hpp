// Run-time choice of the instruction set for the element-wise loops.
//
// Portable builds target the baseline ISA (SSE2 on x86-64), while FFTW picks AVX/AVX2
// at run time; the few loops that run once per pixel and iteration (the TV splitting
// steps, the spectral products) are therefore compiled twice, once for the baseline
// and once with AVX2 and FMA, and the variant is picked once per solve from what the
// CPU supports. Kernels are written once as always_inline templates; the variants are
// thin wrappers that differ only in their target attribute.
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__AVX2__)
#define UNBLUR_DISPATCH_AVX2 1
#define UNBLUR_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define UNBLUR_DISPATCH_AVX2 0
#define UNBLUR_TARGET_AVX2
#endif

#define UNBLUR_INLINE inline __attribute__((always_inline))

namespace unblur {

/// Which variant of the dispatched kernels runs: "avx2" (AVX2 + FMA, where the CPU
/// has them), "baseline", or "native" for a build that targets AVX2 throughout
/// (UNBLUR_NATIVE), which has one variant only.
const char* simd_level();

/// Chooses the kernel variants: "auto" (the best the CPU runs, the default) or
/// "baseline" (the portable variants; tests use it to compare both). ValueError for
/// anything else.
void set_simd(const char* level);

/// True where the AVX2 + FMA variants run.
bool use_avx2();

/// The two variants of a kernel, `void Kernel(Args...)`, which must be UNBLUR_INLINE so
/// each wrapper compiles its own copy for its target. kernel<&k>() returns the variant
/// to call now; look it up once per loop, not per element.
template <auto Kernel>
struct Dispatch;

template <typename... Args, void (*Kernel)(Args...)>
struct Dispatch<Kernel> {
  using Fn = void (*)(Args...);
  static void baseline(Args... args) { Kernel(args...); }
#if UNBLUR_DISPATCH_AVX2
  UNBLUR_TARGET_AVX2 static void avx2(Args... args) { Kernel(args...); }
#endif
  static Fn pick() {
#if UNBLUR_DISPATCH_AVX2
    if (use_avx2()) return &avx2;
#endif
    return &baseline;
  }
};

template <auto Kernel>
auto kernel() {
  return Dispatch<Kernel>::pick();
}

}  // namespace unblur
