// Hand-vectorised kernels (fused Adam, fused Bernoulli log-likelihood) are compiled for x86-64 with
// GCC or Clang and chosen at run time; elsewhere the ATen formulas run instead.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TS_HAVE_AVX2_KERNELS 1
#endif

// Whether this CPU can run the kernels (AVX2 and FMA); false where they were not compiled.
inline bool ts_avx2_kernels_usable() {
#ifdef TS_HAVE_AVX2_KERNELS
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
#else
  return false;
#endif
}
