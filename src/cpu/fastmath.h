/* exp for the CPU twins' hot elementwise loops. glibc's expf is a call the compiler cannot vectorise;
 * this branch-free version (Cody-Waite reduction, degree-6 polynomial, exponent by bit arithmetic) is
 * inlined and vectorised. Relative error < 3e-7 on [-87, 88] (2.4e-7 measured); inputs are clamped there
 * (exp(-87) ~ 1.6e-38, so silu and sigmoid are unaffected by the clamp). */
#ifndef LDM_CPU_FASTMATH_H
#define LDM_CPU_FASTMATH_H
#include <stdint.h>
#include <string.h>

static inline float ldm_expf(float x0) {
  /* clamp written so that a NaN becomes -87 here (no float->int conversion of a NaN below, which is
   * undefined behaviour) and is passed through at the end: exp(NaN) = NaN, so non-finite steps are
   * still seen downstream */
  float x = x0 >= -87.0f ? x0 : -87.0f;
  x = x > 88.0f ? 88.0f : x;
  /* n = round(x / ln 2) by the 1.5 * 2^23 trick (round-to-nearest of the FPU; vectorises, unlike roundf) */
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;                         /* ln 2 split in two for exactness */
  r = r - n * -2.12194440e-4f;
  /* exp(r), |r| <= ln2/2: Taylor to degree 6 */
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t e = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &e, 4);
  return x0 == x0 ? p * scale : x0;
}

/* silu: y = x sigmoid(x); dx = dy s (1 + x (1 - s)), s = sigmoid(x): the element functions of the silu twins
 * (cpu/kernels_elementwise.c) and of group_norm_silu (cpu/kernels_norm.c), so the fused op computes the
 * same floats as group_norm then silu */
static inline float ldm_cpu_act_silu(float x) { return x / (1.0f + ldm_expf(-x)); }
static inline float ldm_cpu_act_silu_backward(float x, float dy) {
  float s = 1.0f / (1.0f + ldm_expf(-x));
  return dy * s * (1.0f + x * (1.0f - s));
}
#endif
