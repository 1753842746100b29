// Hand-vectorised kernels (fused Adam, fused Bernoulli log-likelihood) are compiled for x86-64 with
// GCC or Clang and chosen at run time; elsewhere the ATen formulas run instead.
#pragma once
#include <cmath>

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

#ifdef TS_HAVE_AVX2_KERNELS
// What the kernels share: eight floats as one GCC vector (its arithmetic and comparisons are
// element-wise), unaligned loads and stores, e^x, and sums in double. A kernel file opens its own
// avx2 namespace with `using namespace ::avx2;`.
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {

typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

inline f32x8 splat(float v) { return f32x8{} + v; }

inline f32x8 load(const float* p) {
  f32x8 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, f32x8 v) { __builtin_memcpy(p, &v, sizeof v); }

// e^x for x <= 0 (below -87, where e^x leaves the normal floats, the result is e^-87 ~ 1.6e-38):
// x = n ln2 + r with |r| <= ln2/2 (Cody & Waite's two-part ln2), e^r by Cephes' expf polynomial
// (relative error below 2e-7), and 2^n written into the exponent bits.
inline f32x8 exp_nonpositive(f32x8 x) {
  x = x < -87.0f ? splat(-87.0f) : x;
  const f32x8 n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest: 1.5 * 2^23
  const f32x8 r = x - n * 0.693359375f - n * -2.12194440e-4f;
  f32x8 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const i32x8 scale = (__builtin_convertvector(n, i32x8) + 127) << 23;
  return p * (f32x8)scale;
}
// The same for one float (a loop's tail).
inline float exp_nonpositive(float x) { return std::exp(x); }

// acc += v, the eight floats widened to double in four lanes.
inline __m256d accumulate(__m256d acc, f32x8 v) {
  return _mm256_add_pd(acc, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

inline double sum(__m256d v) {
  const __m128d half = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(half, _mm_unpackhi_pd(half, half)));
}

}  // namespace avx2
#pragma GCC pop_options
#endif
