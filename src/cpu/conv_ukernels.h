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

/* C[r][0..VW) = sum_k A[k*MR + r] * B0[koff[k] + 0..VW), C[r][VW..2VW) the same from B1: the
 * outer-product kernel (NV = 2) reading its two vectors of each depth row at an offset table, straight from
 * padded input planes (no packed panel). The sum of each output runs over k in order, as in uk_outer. */
static void uk_outer_off(int64_t K, const float *restrict A, const float *B0, const float *B1,
                         const int64_t *restrict koff, float *restrict C, int64_t ldc) {
  vf c[MR][2];
  for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = VSPLAT(0.0f);
  for (int64_t k = 0; k < K; k++) {
    vf b0 = vload(B0 + koff[k]), b1 = vload(B1 + koff[k]);
    for (int r = 0; r < MR; r++) {
      vf a = VSPLAT(A[k * MR + r]);
      c[r][0] = VFMA(a, b0, c[r][0]);
      c[r][1] = VFMA(a, b1, c[r][1]);
    }
  }
  for (int r = 0; r < MR; r++) {
    vstore(C + r * ldc, c[r][0]);
    vstore(C + r * ldc + VW, c[r][1]);
  }
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

/* dst[off[p] + r] = src[r*lds + p] for r < 8, p < 16: an 8 x 16 block transposed (pixel p's 8 floats at
 * dst + off[p]), by three levels of two-source permutes on AVX-512; the plain loop elsewhere. Data movement
 * only: the result is the same bits either way. */
static inline void tr8x16_at(const float *restrict src, int64_t lds, float *restrict dst, const int64_t *off) {
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  /* level 1: pairs of rows interleaved element by element; level 2: pairs of those, two floats at a
   * time; level 3: groups of four. The last level's halves then hold one pixel's eight rows each. */
  const __m512i i1lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i i1hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i i2lo = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
  const __m512i i2hi = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
  const __m512i i3lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i i3hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  __m512 r[8], a[8], b[8];
  for (int i = 0; i < 8; i++) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 4; i++) { /* a[2i]: pixels 0..7 of rows 2i, 2i+1 interleaved; a[2i+1]: pixels 8..15 */
    a[2 * i] = _mm512_permutex2var_ps(r[2 * i], i1lo, r[2 * i + 1]);
    a[2 * i + 1] = _mm512_permutex2var_ps(r[2 * i], i1hi, r[2 * i + 1]);
  }
  for (int h = 0; h < 2; h++)   /* rows 4h..4h+3 */
    for (int q = 0; q < 2; q++) { /* b[4h + 2q]: pixels 8q..8q+3; b[4h + 2q + 1]: pixels 8q+4..8q+7 */
      b[4 * h + 2 * q] = _mm512_permutex2var_ps(a[4 * h + q], i2lo, a[4 * h + 2 + q]);
      b[4 * h + 2 * q + 1] = _mm512_permutex2var_ps(a[4 * h + q], i2hi, a[4 * h + 2 + q]);
    }
  for (int q = 0; q < 4; q++) { /* pixels 4q..4q+3: rows 0..3 in b[q], rows 4..7 in b[4 + q] */
    __m512 lo = _mm512_permutex2var_ps(b[q], i3lo, b[4 + q]), hi = _mm512_permutex2var_ps(b[q], i3hi, b[4 + q]);
    _mm256_storeu_ps(dst + off[4 * q + 0], _mm512_castps512_ps256(lo));
    _mm256_storeu_ps(dst + off[4 * q + 1], _mm512_extractf32x8_ps(lo, 1));
    _mm256_storeu_ps(dst + off[4 * q + 2], _mm512_castps512_ps256(hi));
    _mm256_storeu_ps(dst + off[4 * q + 3], _mm512_extractf32x8_ps(hi, 1));
  }
#else
  for (int p = 0; p < 16; p++)
    for (int i = 0; i < 8; i++) dst[off[p] + i] = src[i * lds + p];
#endif
}
/* the same with pixel p at dst + p ldd */
static inline void tr8x16(const float *restrict src, int64_t lds, float *restrict dst, int64_t ldd) {
  int64_t off[16];
  for (int p = 0; p < 16; p++) off[p] = p * ldd;
  tr8x16_at(src, lds, dst, off);
}

/* The same for n pixels: tr8x16 blocks, then the last n % 16 one at a time. */
static inline void tr8(const float *restrict src, int64_t lds, float *restrict dst, int64_t ldd, int64_t n) {
  int64_t p = 0;
  for (; p + 16 <= n; p += 16) tr8x16(src + p, lds, dst + p * ldd, ldd);
  for (; p < n; p++)
    for (int i = 0; i < 8; i++) dst[p * ldd + i] = src[i * lds + p];
}

#endif
