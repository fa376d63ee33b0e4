/* Register-blocked vector micro-kernels of the CPU convolution twins (src/cpu/kernels_conv.c, the only
 * file that includes this header: static functions, compiled under that file's options and pragmas). */
#ifndef LDM_CPU_CONV_UKERNELS_H
#define LDM_CPU_CONV_UKERNELS_H
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* ================================================================= CPU vector micro-kernels */
/* VW floats per vector. Outer-product kernel: MR x (NV*VW) tile of C, depth loop broadcasting A.
 * Dot kernel: DI x DJ dot products with vector partial sums along the depth. Register budgets: 32 zmm
 * (AVX-512) or 16 ymm/xmm. FMA is used where the target has it (the reference tolerance is NMSE 1e-6). */
#if defined(__AVX512F__)
#define VW 16
#define MR 8
#define DI 4
typedef __m512 vf;
#define VSPLAT(s) _mm512_set1_ps(s)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#elif defined(__AVX__)
#define VW 8
#define MR 6
#define DI 2
typedef __m256 vf;
#define VSPLAT(s) _mm256_set1_ps(s)
#if defined(__FMA__)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#endif
#else
#define VW 4
#define MR 6
#define DI 2
typedef float vf __attribute__((vector_size(16)));
static inline vf vsplat_(float s) { return (vf){s, s, s, s}; }
#define VSPLAT(s) vsplat_(s)
#endif
#ifndef VFMA
#define VFMA(a, b, c) ((c) + (a) * (b))
#endif
#define NV 2
#define NR (NV * VW)
#define DJ 6

static inline vf vload(const float *p) {
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* C[r][0..NR) (row stride ldc) (+)= sum_k A[k*MR + r] * B[k*ldb + 0..NR); add = 0 overwrites C. */
static void uk_outer(int64_t K, const float *restrict A, const float *restrict B, int64_t ldb, float *restrict C,
                     int64_t ldc, int add) {
  vf c[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) c[r][v] = add ? vload(C + r * ldc + v * VW) : VSPLAT(0.0f);
  for (int64_t k = 0; k < K; k++) {
    vf b[NV];
    for (int v = 0; v < NV; v++) b[v] = vload(B + k * ldb + v * VW);
    for (int r = 0; r < MR; r++) {
      vf a = VSPLAT(A[k * MR + r]);
      for (int v = 0; v < NV; v++) c[r][v] = VFMA(a, b[v], c[r][v]);
    }
  }
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) vstore(C + r * ldc + v * VW, c[r][v]);
}

/* C[r][0..NR) += sum_t A[t*MR + r] * B[boff[t] + 0..NR): the outer-product kernel with B rows gathered
 * through an offset table (rows of a channel-last image). */
static void uk_outer_rows(int64_t nd, const float *restrict A, const float *restrict B, const int64_t *restrict boff,
                          float *restrict C, int64_t ldc) {
  vf c[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) c[r][v] = vload(C + r * ldc + v * VW);
  for (int64_t t = 0; t < nd; t++) {
    vf b[NV];
    const float *bp = B + boff[t];
    for (int v = 0; v < NV; v++) b[v] = vload(bp + v * VW);
    for (int r = 0; r < MR; r++) {
      vf a = VSPLAT(A[t * MR + r]);
      for (int v = 0; v < NV; v++) c[r][v] = VFMA(a, b[v], c[r][v]);
    }
  }
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) vstore(C + r * ldc + v * VW, c[r][v]);
}

/* The same for few output channels: R rows and a group of T taps at once (tap j reads B + toff[j] and
 * accumulates into C + j*NR), so that enough independent accumulators hide the FMA latency. */
#define DEF_TAPS(R, T)                                                                                           \
  static void uk_taps_##R(int64_t nd, const float *restrict A, const float *restrict B,                        \
                          const int64_t *restrict boff, const int64_t *toff, float *restrict C, int64_t ldc) {  \
    vf c[R][T][NV];                                                                                            \
    for (int r = 0; r < R; r++)                                                                                \
      for (int j = 0; j < T; j++)                                                                              \
        for (int v = 0; v < NV; v++) c[r][j][v] = vload(C + r * ldc + j * NR + v * VW);                        \
    for (int64_t t = 0; t < nd; t++) {                                                                         \
      vf a[R];                                                                                                 \
      for (int r = 0; r < R; r++) a[r] = VSPLAT(A[t * R + r]);                                                 \
      for (int j = 0; j < T; j++)                                                                              \
        for (int v = 0; v < NV; v++) {                                                                         \
          vf b = vload(B + boff[t] + toff[j] + v * VW);                                                        \
          for (int r = 0; r < R; r++) c[r][j][v] = VFMA(a[r], b, c[r][j][v]);                                  \
        }                                                                                                      \
    }                                                                                                          \
    for (int r = 0; r < R; r++)                                                                                \
      for (int j = 0; j < T; j++)                                                                              \
        for (int v = 0; v < NV; v++) vstore(C + r * ldc + j * NR + v * VW, c[r][j][v]);                        \
  }
#if VW == 16
enum { TAPS_1 = 9, TAPS_2 = 4, TAPS_4 = 2 };
#else
enum { TAPS_1 = 4, TAPS_2 = 2, TAPS_4 = 1 };
#endif
DEF_TAPS(1, TAPS_1)
DEF_TAPS(2, TAPS_2)
DEF_TAPS(4, TAPS_4)

/* acc[i*ldc + j] += A_i . B_j over nv vectors (lane-wise partial sums), i < DI, j < DJ. */
static void uk_dot(int64_t nv, const float *restrict A, int64_t lda, const float *restrict B, int64_t ldb,
                   float *restrict acc, int64_t ldc) {
  vf c[DI][DJ];
  for (int i = 0; i < DI; i++)
    for (int j = 0; j < DJ; j++) c[i][j] = vload(acc + (i * ldc + j) * VW);
  for (int64_t v = 0; v < nv; v++) {
    vf a[DI];
    for (int i = 0; i < DI; i++) a[i] = vload(A + i * lda + v * VW);
    for (int j = 0; j < DJ; j++) {
      vf b = vload(B + j * ldb + v * VW);
      for (int i = 0; i < DI; i++) c[i][j] = VFMA(a[i], b, c[i][j]);
    }
  }
  for (int i = 0; i < DI; i++)
    for (int j = 0; j < DJ; j++) vstore(acc + (i * ldc + j) * VW, c[i][j]);
}

/* s[i] = the sum of the VW lanes of the vector at v + i*VW, for i < 16, in a fixed order. */
static void hsum16(const float *v, float *s) {
#if defined(__AVX512F__)
  /* transposing tree: 4 levels of shuffle + add; inputs in the order that leaves sum i in lane i */
  static const int perm[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
  __m512 c[16], d[8], e[4], f[2];
  for (int i = 0; i < 16; i++) c[i] = _mm512_loadu_ps(v + perm[i] * VW);
  for (int k = 0; k < 8; k++)
    d[k] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * k], c[2 * k + 1], 0x44),
                         _mm512_shuffle_f32x4(c[2 * k], c[2 * k + 1], 0xEE));
  for (int k = 0; k < 4; k++)
    e[k] = _mm512_add_ps(_mm512_shuffle_f32x4(d[2 * k], d[2 * k + 1], 0x88),
                         _mm512_shuffle_f32x4(d[2 * k], d[2 * k + 1], 0xDD));
  for (int k = 0; k < 2; k++)
    f[k] = _mm512_add_ps(_mm512_unpacklo_ps(e[2 * k], e[2 * k + 1]), _mm512_unpackhi_ps(e[2 * k], e[2 * k + 1]));
  __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(f[0]), _mm512_castps_pd(f[1]));
  __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(f[0]), _mm512_castps_pd(f[1]));
  _mm512_storeu_ps(s, _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi)));
#else
  for (int i = 0; i < 16; i++) {
    float t = 0.0f;
    for (int l = 0; l < VW; l++) t += v[i * VW + l];
    s[i] = t;
  }
#endif
}

#endif
