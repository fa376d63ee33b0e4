/* Small SIMD helpers the CPU twins share (AVX; callers keep a scalar path for builds without it). */
#ifndef LDM_CPU_SIMD_H
#define LDM_CPU_SIMD_H
#if defined(__AVX__)
#include <immintrin.h>

/* an 8x8 transpose: v[b] = row b's 8 values in, v[i] = the 8 rows' value i out */
static inline void ldm_tr8x8_ps(__m256 v[8]) {
  __m256 t[8], u[8];
  for (int k = 0; k < 4; k++) {
    t[2 * k] = _mm256_unpacklo_ps(v[2 * k], v[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_ps(v[2 * k], v[2 * k + 1]);
  }
  for (int k = 0; k < 2; k++)
    for (int h = 0; h < 2; h++) {
      __m256 a = t[4 * k + h], b = t[4 * k + 2 + h];
      u[4 * k + 2 * h] = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0));
      u[4 * k + 2 * h + 1] = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2));
    }
  for (int q = 0; q < 4; q++) {
    v[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
    v[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
  }
}
#endif
#endif
