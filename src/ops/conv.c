/* Convolution family: conv2d (forward with fused bias, backward-data, backward-weight) and nearest 2x
 * upsample (forward, backward). NCHW activations, weights [Cout, Cin, k, k], exactly PyTorch's Conv2d
 * (cross-correlation, zero padding) and Upsample(scale_factor=2, mode="nearest").
 *
 * Every conv op is an implicit GEMM: no im2col buffer ever exists in full.
 *   forward          Y[co][(n,oh,ow)]  = W[co][(ci,kh,kw)] . col[(ci,kh,kw)][(n,oh,ow)]
 *   backward_data    dx = col2im(W^T . dY)        (GPU: a gather over (co,kh,kw), see conv2d.comp)
 *   backward_weight  dW[co][(ci,kh,kw)] = sum over (n,oh,ow) of dY[co][.] col[(ci,kh,kw)][.]
 * The CPU twin (also the production CPU backend) packs panels of the virtual im2col matrix from a
 * zero-padded copy of the input into thread-local buffers and runs register-blocked vector micro-kernels
 * (forward; backward_data at stride 1 is the forward of dY with the flipped kernel); backward_weight reads
 * a channel-last padded input directly; layers with <= 4 output channels use a direct kernel. Work is split
 * into fixed items (sample groups, samples, weight blocks x depth splits) and every sum has a fixed order,
 * so results do not depend on the thread count. Measurements: docs/perf.md.
 * backward_weight splits its long reduction over output pixels into `splits` fixed ranges whose partial
 * sums a reduce_sum node adds in order (deterministic, and enough workgroups to fill a big GPU). */
#include "ops/conv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "cpu/pool.h"
#include "ldm/log.h"
#include "ldm/ops.h"
#include "ops/builder.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* Packing copies short rows (4..32 floats); GCC would turn those loops back into memcpy/memset calls. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#define F(i) ((float *)buf[i])
#define PC(type) const type *p = (const type *)n->pc

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

/* Per-thread scratch buffers, kept between calls (the pool's workers persist): no allocation, page
 * faults or clearing per node. Contents are undefined; users initialise what they read. The reference
 * backend cannot report an error from inside a node, so running out of host memory there is fatal (as
 * in the CPU GEMM). */
enum { SCRATCH_SLOTS = 6, SLOT_XP = 4, SLOT_WEIGHTS = 5 }; /* packed weights: made by the calling thread */
static _Thread_local struct {
  void *raw;
  size_t cap;
} scratch_slot[SCRATCH_SLOTS];
static float *scratch(int slot, int64_t nfloats) {
  size_t need = (size_t)nfloats * 4 + 64;
  if (scratch_slot[slot].cap < need) {
    free(scratch_slot[slot].raw);
    scratch_slot[slot].raw = ldm_malloc(need);
    scratch_slot[slot].cap = scratch_slot[slot].raw ? need : 0;
    if (!scratch_slot[slot].raw) {
      ldm_log(LDM_LOG_ERROR, "ldm-vk: out of host memory in the CPU convolution");
      abort();
    }
  }
  return (float *)(((uintptr_t)scratch_slot[slot].raw + 63) & ~(uintptr_t)63);
}

/* short row copies and clears without library calls (runs are often 4..32 floats) */
static inline void copy_row(float *restrict d, const float *restrict s, int64_t n) {
  int64_t t = 0;
  for (; t + VW <= n; t += VW) vstore(d + t, vload(s + t));
#if defined(__AVX512F__)
  if (t < n) {
    __mmask16 m = (__mmask16)((1u << (n - t)) - 1u);
    _mm512_mask_storeu_ps(d + t, m, _mm512_maskz_loadu_ps(m, s + t));
  }
#else
  for (; t < n; t++) d[t] = s[t];
#endif
}
static inline void zero_row(float *d, int64_t n) {
  int64_t t = 0;
  for (; t + VW <= n; t += VW) vstore(d + t, VSPLAT(0.0f));
#if defined(__AVX512F__)
  if (t < n) _mm512_mask_storeu_ps(d + t, (__mmask16)((1u << (n - t)) - 1u), _mm512_setzero_ps());
#else
  for (; t < n; t++) d[t] = 0.0f;
#endif
}

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* ================================================================= CPU im2col machinery */
typedef struct {
  int64_t N, Cin, H, W, Cout, Ho, Wo, k, s, pad;
  int64_t KK, Kd, P, Hp, Wp;
} geo;
static geo make_geo(int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t s, int64_t pad) {
  geo G = {N, Cin, H, W, Cout, 0, 0, k, s, pad, k * k, Cin * k * k, 0, H + 2 * pad, W + 2 * pad};
  G.Ho = (G.Hp - k) / s + 1;
  G.Wo = (G.Wp - k) / s + 1;
  G.P = G.Ho * G.Wo;
  return G;
}
static geo geo_of(const ldm_pc_conv2d *p) {
  return make_geo(p->N, p->Cin, p->H, p->W, p->Cout, p->k, p->stride, p->pad);
}

/* Zero-padded copy of channels [c0, c0+nc) of samples [n0, n0+ns) of x [N][C][H][W] into
 * xp [ns][nc][Hp][Wp]: the im2col packs then read it without bounds checks. */
static void pad_planes(const geo *G, const float *x, int64_t C, int64_t n0, int64_t ns, int64_t c0, int64_t nc,
                       float *xp) {
  const int64_t H = G->H, W = G->W, pad = G->pad, Wp = G->Wp, HWp = G->Hp * G->Wp;
  for (int64_t sn = 0; sn < ns; sn++)
    for (int64_t c = 0; c < nc; c++) {
      float *d = xp + (sn * nc + c) * HWp;
      const float *src = x + ((n0 + sn) * C + c0 + c) * H * W;
      zero_row(d, pad * Wp);
      for (int64_t h = 0; h < H; h++) {
        float *row = d + (pad + h) * Wp;
        for (int64_t t = 0; t < pad; t++) row[t] = row[pad + W + t] = 0.0f;
        copy_row(row + pad, src + h * W, W);
      }
      zero_row(d + (pad + H) * Wp, pad * Wp);
    }
}

/* A run of consecutive columns (flattened (n, oh, ow) output pixels) inside one output row. */
typedef struct {
  int64_t n, oh, ow0, ow1, j;
} run_t;
static int make_runs(const geo *G, int64_t c0, int64_t nc, run_t *r) {
  int cnt = 0;
  for (int64_t c = c0, end = c0 + nc; c < end;) {
    int64_t n = c / G->P, pix = c % G->P, oh = pix / G->Wo, ow = pix % G->Wo;
    int64_t len = G->Wo - ow < end - c ? G->Wo - ow : end - c;
    r[cnt++] = (run_t){n, oh, ow, ow + len, c - c0};
    c += len;
  }
  return cnt;
}

/* Rows [k0, k0+kc) of the virtual im2col matrix (row kk = (ci, kh, kw)) at the columns of `runs`, into
 * dst (row stride ld), read from the padded planes xp [samples from n0][nc channels from ci0][Hp][Wp]. */
static void pack_im2col(const geo *G, const float *xp, int64_t n0, int64_t ci0, int64_t nc, const run_t *runs,
                        int nruns, int64_t k0, int64_t kc, float *dst, int64_t ld) {
  const int64_t s = G->s, Wp = G->Wp, HWp = G->Hp * G->Wp;
  for (int64_t r = 0; r < kc; r++) {
    int64_t kk = k0 + r, ci = kk / G->KK - ci0, tap = kk % G->KK, kh = tap / G->k, kw = tap % G->k;
    float *row = dst + r * ld;
    for (int q = 0; q < nruns; q++) {
      const run_t *u = &runs[q];
      const float *src = xp + ((u->n - n0) * nc + ci) * HWp + (u->oh * s + kh) * Wp + kw + u->ow0 * s;
      int64_t len = u->ow1 - u->ow0;
      if (s == 1)
        copy_row(row + u->j, src, len);
      else
        for (int64_t t = 0; t < len; t++) row[u->j + t] = src[t * s];
    }
  }
}

/* ================================================================= conv2d forward */
/* Items are groups of whole samples (about FWD_NC output pixels, at least one sample): pad their
 * input, then per block of FWD_NC columns pack K-slabs of im2col rows and run the outer-product kernel
 * over all output channels. Also serves backward-data at stride 1 (a stride-1 convolution of dy). */
enum { FWD_NC = 4 * NR, FWD_KC = 256 };

typedef struct {
  geo G;
  const float *x, *bias; /* bias may be NULL */
  float *y;
  const float *wp;       /* [Mp/MR][Kd][MR] */
  int64_t Mp, spi;       /* padded output channels, samples per item */
  int accumulate;
} fwd_ctx;

static void fwd_items(void *vc, int64_t i0, int64_t i1) {
  const fwd_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t ldb = FWD_NC + VW; /* padded: the rows of a micro-panel do not alias in L1 */
  float *Bp = scratch(0, FWD_KC * ldb);
  float *Cb = scratch(1, c->Mp * FWD_NC);
  run_t *runs = (run_t *)scratch(2, (int64_t)(FWD_NC + 2) * (int64_t)(sizeof(run_t) / 4));
  float *xp = scratch(3, c->spi * G->Cin * G->Hp * G->Wp);
  for (int64_t it = i0; it < i1; it++) {
    int64_t n0 = it * c->spi, ns = G->N - n0 < c->spi ? G->N - n0 : c->spi;
    pad_planes(G, c->x, G->Cin, n0, ns, 0, G->Cin, xp);
    for (int64_t c0 = n0 * G->P; c0 < (n0 + ns) * G->P; c0 += FWD_NC) {
      int64_t nc = (n0 + ns) * G->P - c0 < FWD_NC ? (n0 + ns) * G->P - c0 : FWD_NC;
      int nr = make_runs(G, c0, nc, runs);
      int64_t njr = (nc + NR - 1) / NR;
      for (int64_t k0 = 0; k0 < G->Kd; k0 += FWD_KC) {
        int64_t kc = G->Kd - k0 < FWD_KC ? G->Kd - k0 : FWD_KC;
        pack_im2col(G, xp, n0, 0, G->Cin, runs, nr, k0, kc, Bp, ldb);
        if (nc < njr * NR) /* columns past the end: finite values for lanes that are discarded */
          for (int64_t r = 0; r < kc; r++) zero_row(Bp + r * ldb + nc, njr * NR - nc);
        for (int64_t jr = 0; jr < njr; jr++)
          for (int64_t ib = 0; ib < c->Mp / MR; ib++)
            uk_outer(kc, c->wp + (ib * G->Kd + k0) * MR, Bp + jr * NR, ldb, Cb + ib * MR * FWD_NC + jr * NR, FWD_NC,
                     k0 > 0);
      }
      for (int64_t co = 0; co < G->Cout; co++) {
        float bv = c->bias ? c->bias[co] : 0.0f;
        const float *src = Cb + co * FWD_NC;
        for (int q = 0; q < nr; q++) {
          const run_t *u = &runs[q];
          float *d = c->y + (u->n * G->Cout + co) * G->P + u->oh * G->Wo + u->ow0;
          const float *sv = src + u->j;
          int64_t len = u->ow1 - u->ow0;
          if (c->accumulate)
            for (int64_t t = 0; t < len; t++) d[t] += sv[t] + bv;
          else
            for (int64_t t = 0; t < len; t++) d[t] = sv[t] + bv;
        }
      }
    }
  }
}

/* Stride 1 and at most 4 output channels (image/latent output layers, and the data gradient of layers
 * with few input channels): packing would cost more than the arithmetic. Direct convolution in the
 * padded domain instead: q = oh*Wp + ow over padded-width rows (the columns ow >= Wo are computed and
 * dropped), and per block of NV_S vectors of q the shifted input rows of every (ci, kh, kw) times the
 * broadcast weights, summed in (ci, kh, kw) order. Items are samples. */
#if VW == 16
#define NV_SMALL(co) ((co) <= 2 ? 8 : 4)
#else
#define NV_SMALL(co) ((co) <= 2 ? 4 : 2)
#endif
#define DEF_FWD_SMALL(CO)                                                                                        \
  static void fwd_small_##CO(const fwd_ctx *c, const float *xp, int64_t n) {                                   \
    enum { NVS = NV_SMALL(CO) };                                                                               \
    const geo *G = &c->G;                                                                                      \
    const int64_t HWp = G->Hp * G->Wp, Q = G->Ho * G->Wp;                                                      \
    int64_t oh = 0, ow = 0; /* output position of q0 */                                                        \
    for (int64_t q0 = 0; q0 < Q; q0 += NVS * VW) {                                                             \
      vf acc[CO][NVS];                                                                                         \
      for (int o = 0; o < CO; o++)                                                                             \
        for (int v = 0; v < NVS; v++) acc[o][v] = VSPLAT(0.0f);                                                \
      for (int64_t ci = 0; ci < G->Cin; ci++)                                                                  \
        for (int64_t kh = 0; kh < G->k; kh++)                                                                  \
          for (int64_t kw = 0; kw < G->k; kw++) {                                                              \
            const float *src = xp + ci * HWp + kh * G->Wp + kw + q0;                                           \
            const float *wv = c->wp + ((ci * G->k + kh) * G->k + kw) * MR;                                     \
            vf xv[NVS];                                                                                        \
            for (int v = 0; v < NVS; v++) xv[v] = vload(src + v * VW);                                         \
            for (int o = 0; o < CO; o++) {                                                                     \
              vf a = VSPLAT(wv[o]);                                                                            \
              for (int v = 0; v < NVS; v++) acc[o][v] = VFMA(a, xv[v], acc[o][v]);                             \
            }                                                                                                  \
          }                                                                                                    \
      int64_t nq = Q - q0 < NVS * VW ? Q - q0 : NVS * VW, oh1 = oh, ow1 = ow;                                  \
      for (int o = 0; o < CO; o++) {                                                                           \
        float t[NVS * VW];                                                                                     \
        for (int v = 0; v < NVS; v++) vstore(t + v * VW, acc[o][v]);                                           \
        float bv = c->bias ? c->bias[o] : 0.0f, *yo = c->y + (n * G->Cout + o) * G->P;                         \
        oh1 = oh, ow1 = ow;                                                                                    \
        for (int64_t i = 0; i < nq; i++) {                                                                     \
          if (ow1 < G->Wo) {                                                                                   \
            float *d = yo + oh1 * G->Wo + ow1;                                                                 \
            *d = c->accumulate ? *d + (t[i] + bv) : t[i] + bv;                                                 \
          }                                                                                                    \
          if (++ow1 == G->Wp) ow1 = 0, oh1++;                                                                  \
        }                                                                                                      \
      }                                                                                                        \
      oh = oh1, ow = ow1;                                                                                      \
    }                                                                                                          \
  }
DEF_FWD_SMALL(1)
DEF_FWD_SMALL(2)
DEF_FWD_SMALL(3)
DEF_FWD_SMALL(4)

static void fwd_small_items(void *vc, int64_t n0, int64_t n1) {
  const fwd_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t planes = G->Cin * G->Hp * G->Wp, slack = 8 * VW + G->k + G->Wp;
  float *xp = scratch(3, planes + slack);
  zero_row(xp + planes, slack); /* read (times weights) only by dropped columns */
  for (int64_t n = n0; n < n1; n++) {
    pad_planes(G, c->x, G->Cin, n, 1, 0, G->Cin, xp);
    switch (G->Cout) {
    case 1: fwd_small_1(c, xp, n); break;
    case 2: fwd_small_2(c, xp, n); break;
    case 3: fwd_small_3(c, xp, n); break;
    default: fwd_small_4(c, xp, n); break;
    }
  }
}

static void fwd_run(fwd_ctx *c) {
  if (c->G.s == 1 && c->G.Cout <= 4) {
    ldm_parallel_for(c->G.N, 1, fwd_small_items, c);
    return;
  }
  c->spi = FWD_NC / c->G.P > 1 ? FWD_NC / c->G.P : 1;
  ldm_parallel_for((c->G.N + c->spi - 1) / c->spi, 1, fwd_items, c);
}

static void cpu_conv2d(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_conv2d);
  fwd_ctx c = {geo_of(p), F(0), p->bias ? F(2) : NULL, F(3), NULL, 0, 0, (int)p->accumulate};
  const geo *G = &c.G;
  const float *w = F(1);
  c.Mp = round_up(G->Cout, MR);
  float *wp = scratch(SLOT_WEIGHTS, c.Mp * G->Kd);
  for (int64_t ib = 0; ib < c.Mp / MR; ib++)
    for (int64_t kk = 0; kk < G->Kd; kk++)
      for (int r = 0; r < MR; r++) {
        int64_t co = ib * MR + r;
        wp[(ib * G->Kd + kk) * MR + r] = co < G->Cout ? w[co * G->Kd + kk] : 0.0f;
      }
  c.wp = wp;
  fwd_run(&c);
}

/* ================================================================= conv2d backward-data */
/* Stride 1 (pad <= k-1): dx is the stride-1 convolution of dy padded by k-1-pad with the flipped,
 * transposed kernel w'[ci][co][kh][kw] = w[co][ci][k-1-kh][k-1-kw]: the forward machinery as is.
 * Other strides: per sample dcol[(ci,kh,kw)][pix] = W^T . dY[n] in column blocks, scattered (col2im)
 * into a padded local dx in a fixed order; items are whole samples. */
enum { BD_NC = 4 * NR };

typedef struct {
  geo G;
  const ldm_pc_conv2d *p;
  const float *dy;
  float *dx;
  const float *wtp; /* [Mp/MR][Cout][MR], rows m = (ci, kh, kw) */
  int64_t Mp;
} bd_ctx;

static void bd_samples(void *vc, int64_t s0, int64_t s1) {
  const bd_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t ldb = BD_NC + VW, HW = G->H * G->W, HWp = G->Hp * G->Wp;
  float *Bp = scratch(0, G->Cout * ldb);
  float *Cb = scratch(1, c->Mp * BD_NC);
  float *dxp = scratch(3, G->Cin * HWp);
  run_t *runs = (run_t *)scratch(2, (int64_t)(BD_NC + 2) * (int64_t)(sizeof(run_t) / 4));
  for (int64_t n = s0; n < s1; n++) {
    for (int64_t i = 0; i < G->Cin * HWp; i += HWp) zero_row(dxp + i, HWp);
    for (int64_t pc0 = 0; pc0 < G->P; pc0 += BD_NC) {
      int64_t nc = G->P - pc0 < BD_NC ? G->P - pc0 : BD_NC;
      int nr = make_runs(G, n * G->P + pc0, nc, runs);
      int64_t njr = (nc + NR - 1) / NR;
      for (int64_t co = 0; co < G->Cout; co++) {
        copy_row(Bp + co * ldb, c->dy + (n * G->Cout + co) * G->P + pc0, nc);
        zero_row(Bp + co * ldb + nc, njr * NR - nc);
      }
      for (int64_t jr = 0; jr < njr; jr++)
        for (int64_t ib = 0; ib < c->Mp / MR; ib++)
          uk_outer(G->Cout, c->wtp + ib * G->Cout * MR, Bp + jr * NR, ldb, Cb + ib * MR * BD_NC + jr * NR, BD_NC, 0);
      /* col2im: row m = (ci, kh, kw) adds into dxp[ci][oh*s + kh][ow*s + kw] (padded coordinates) */
      for (int64_t m = 0; m < G->Kd; m++) {
        int64_t ci = m / G->KK, tap = m % G->KK, kh = tap / G->k, kw = tap % G->k;
        const float *row = Cb + m * BD_NC;
        for (int q = 0; q < nr; q++) {
          const run_t *u = &runs[q];
          float *d = dxp + ci * HWp + (u->oh * G->s + kh) * G->Wp + kw + u->ow0 * G->s;
          const float *sv = row + u->j;
          for (int64_t t = 0; t < u->ow1 - u->ow0; t++) d[t * G->s] += sv[t];
        }
      }
    }
    float *o = c->dx + n * G->Cin * HW;
    for (int64_t ci = 0; ci < G->Cin; ci++)
      for (int64_t h = 0; h < G->H; h++) {
        const float *sv = dxp + ci * HWp + (h + G->pad) * G->Wp + G->pad;
        float *d = o + (ci * G->H + h) * G->W;
        if (c->p->accumulate)
          for (int64_t t = 0; t < G->W; t++) d[t] += sv[t];
        else
          copy_row(d, sv, G->W);
      }
  }
}

static void cpu_conv2d_backward_data(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_conv2d);
  const geo G = geo_of(p);
  const float *w = F(1);
  if (G.s == 1 && G.pad <= G.k - 1) {
    fwd_ctx c = {make_geo(G.N, G.Cout, G.Ho, G.Wo, G.Cin, G.k, 1, G.k - 1 - G.pad), F(0), NULL, F(2), NULL, 0, 0,
                 (int)p->accumulate};
    c.Mp = round_up(G.Cin, MR);
    float *wp = scratch(SLOT_WEIGHTS, c.Mp * c.G.Kd);
    for (int64_t ib = 0; ib < c.Mp / MR; ib++)
      for (int64_t co = 0; co < G.Cout; co++)
        for (int64_t tap = 0; tap < G.KK; tap++)
          for (int r = 0; r < MR; r++) {
            int64_t ci = ib * MR + r;
            float v = ci < G.Cin ? w[(co * G.Cin + ci) * G.KK + G.KK - 1 - tap] : 0.0f;
            wp[(ib * c.G.Kd + co * G.KK + tap) * MR + r] = v;
          }
    c.wp = wp;
    fwd_run(&c);
    return;
  }
  bd_ctx c = {G, p, F(0), F(2), NULL, 0};
  c.Mp = round_up(G.Kd, MR);
  float *wtp = scratch(SLOT_WEIGHTS, c.Mp * G.Cout);
  for (int64_t ib = 0; ib < c.Mp / MR; ib++)
    for (int64_t co = 0; co < G.Cout; co++)
      for (int r = 0; r < MR; r++) {
        int64_t m = ib * MR + r; /* = ci * KK + tap */
        wtp[(ib * G.Cout + co) * MR + r] = m < G.Kd ? w[co * G.Kd + m] : 0.0f;
      }
  c.wtp = wtp;
  ldm_parallel_for(G.N, 1, bd_samples, &c);
}

/* ================================================================= conv2d backward-weight */
/* Items = (split, block of output channels, block of im2col rows). Each walks its split's output pixels
 * in fixed chunks: dY rows and im2col rows are packed along the pixel axis and reduced by the dot kernel
 * into per-element vector partial sums, which are summed lane by lane at the end. */
enum { BW_CB = 64, BW_MB = 48, BW_DC = 1024 };

typedef struct {
  geo G;
  const ldm_pc_conv2d *p;
  const float *dy, *x;
  float *out;
  int64_t ncb, nmb;
} bw_ctx;

static void bw_items(void *vc, int64_t i0, int64_t i1) {
  const bw_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t ld = BW_DC + VW, HWp = G->Hp * G->Wp;
  const int64_t max_ns = (BW_DC + G->P - 1) / G->P + 1, max_nci = (BW_MB + G->KK - 1) / G->KK + 1;
  float *Ap = scratch(0, BW_CB * ld);
  float *Bp = scratch(1, BW_MB * ld);
  float *acc = scratch(3, BW_CB * BW_MB * VW);
  run_t *runs = (run_t *)scratch(2, (int64_t)(BW_DC + 2) * (int64_t)(sizeof(run_t) / 4));
  float *xpad = scratch(SLOT_XP, max_ns * max_nci * HWp);
  const int64_t D = G->N * G->P;
  for (int64_t it = i0; it < i1; it++) {
    int64_t split = it / (c->ncb * c->nmb), rest = it % (c->ncb * c->nmb);
    int64_t co0 = rest / c->nmb * BW_CB, m0 = rest % c->nmb * BW_MB;
    int64_t cn = G->Cout - co0 < BW_CB ? G->Cout - co0 : BW_CB, mn = G->Kd - m0 < BW_MB ? G->Kd - m0 : BW_MB;
    int64_t cnp = round_up(cn, DI), mnp = round_up(mn, DJ);
    int64_t ci0 = m0 / G->KK, nci = (m0 + mn - 1) / G->KK - ci0 + 1;
    int64_t d0 = split * c->p->split_len, d1 = d0 + c->p->split_len < D ? d0 + c->p->split_len : D;
    for (int64_t i = 0; i < cnp * BW_MB; i++) vstore(acc + i * VW, VSPLAT(0.0f));
    /* equal chunks of at most BW_DC pixels (multiples of VW but the last) */
    int64_t nch = (d1 - d0 + BW_DC - 1) / BW_DC, chunk = round_up((d1 - d0 + nch - 1) / (nch > 0 ? nch : 1), VW);
    for (int64_t dc0 = d0; dc0 < d1; dc0 += chunk) {
      int64_t dn = d1 - dc0 < chunk ? d1 - dc0 : chunk, dnp = round_up(dn, VW);
      /* dY rows: per sample a contiguous piece of each channel */
      for (int64_t cc = dc0; cc < dc0 + dn;) {
        int64_t n = cc / G->P, pix = cc % G->P;
        int64_t len = G->P - pix < dc0 + dn - cc ? G->P - pix : dc0 + dn - cc;
        for (int64_t co = 0; co < cn; co++)
          copy_row(Ap + co * ld + (cc - dc0), c->dy + (n * G->Cout + co0 + co) * G->P + pix, len);
        cc += len;
      }
      /* im2col rows from the padded input of the chunk's samples */
      int64_t n0 = dc0 / G->P, ns = (dc0 + dn - 1) / G->P - n0 + 1;
      pad_planes(G, c->x, G->Cin, n0, ns, ci0, nci, xpad);
      int nr = make_runs(G, dc0, dn, runs);
      pack_im2col(G, xpad, n0, ci0, nci, runs, nr, m0, mn, Bp, ld);
      /* pixels past the chunk and padding rows: zeros (padding rows' sums are discarded) */
      for (int64_t co = 0; co < cn; co++) zero_row(Ap + co * ld + dn, dnp - dn);
      for (int64_t m = 0; m < mn; m++) zero_row(Bp + m * ld + dn, dnp - dn);
      for (int64_t co = cn; co < cnp; co++) zero_row(Ap + co * ld, dnp);
      for (int64_t m = mn; m < mnp; m++) zero_row(Bp + m * ld, dnp);
      for (int64_t i = 0; i < cnp; i += DI)
        for (int64_t j = 0; j < mnp; j += DJ)
          uk_dot(dnp / VW, Ap + i * ld, ld, Bp + j * ld, ld, acc + (i * BW_MB + j) * VW, BW_MB);
    }
    float *o = c->out + split * G->Cout * G->Kd;
    for (int64_t co = 0; co < cn; co++)
      for (int64_t mg = 0; mg < mn; mg += 16) { /* acc rows past mnp are zero */
        float sums[16];
        hsum16(acc + (co * BW_MB + mg) * VW, sums);
        float *d = o + (co0 + co) * G->Kd + m0 + mg;
        for (int64_t m = 0; m < 16 && mg + m < mn; m++) d[m] = c->p->accumulate ? d[m] + sums[m] : sums[m];
      }
  }
}

/* Channel-last path (inputs with many channels): items = (split, block of output channels, chunk of NR
 * input channels). The chunk's input is padded into channel-last planes xpc[n][hp][wp][NR], so the
 * im2col column of an output pixel at tap (kh, kw) is NR contiguous floats: the outer-product kernel
 * reads them through a per-pixel offset table, and only dY is transposed (into [pixel][MR] panels).
 * C[co][(tap, ci)] accumulates over the split's pixels in fixed chunks and order. */
enum { BWC_CB = 64, BWC_DC = 256 };

static void bwc_items(void *vc, int64_t i0, int64_t i1) {
  const bw_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t HWp = G->Hp * G->Wp, ldc = (G->KK + TAPS_1) * NR, D = G->N * G->P; /* slack: tap groups */
  const int64_t max_ns = (BWC_DC + G->P - 1) / G->P + 1;
  float *At = scratch(0, (BWC_CB + MR) * BWC_DC);
  float *Cacc = scratch(1, BWC_CB * ldc);
  int64_t *boff = (int64_t *)scratch(2, 2 * BWC_DC);
  float *xpc = scratch(SLOT_XP, max_ns * HWp * NR);
  for (int64_t it = i0; it < i1; it++) {
    int64_t split = it / (c->ncb * c->nmb), rest = it % (c->ncb * c->nmb);
    int64_t co0 = rest / c->nmb * BWC_CB, ci0 = rest % c->nmb * NR;
    int64_t cn = G->Cout - co0 < BWC_CB ? G->Cout - co0 : BWC_CB, cin = G->Cin - ci0 < NR ? G->Cin - ci0 : NR;
    /* rows per panel: MR, or fewer for layers with few output channels (then taps go in groups) */
    const int R = cn >= MR ? MR : cn > 2 ? 4 : (int)cn, T = R == MR ? 1 : R == 4 ? TAPS_4 : R == 2 ? TAPS_2 : TAPS_1;
    int64_t ncp = (cn + R - 1) / R;
    int64_t d0 = split * c->p->split_len, d1 = d0 + c->p->split_len < D ? d0 + c->p->split_len : D;
    for (int64_t i = 0; i < ncp * R * ldc; i++) Cacc[i] = 0.0f;
    int64_t cached = -1; /* the sample in xpc when samples are larger than a chunk */
    for (int64_t dc0 = d0, dn; dc0 < d1; dc0 += dn) {
      /* chunks of whole samples when they fit (each sample transposed once), else pieces of one sample */
      int64_t end = G->P <= BWC_DC ? (dc0 + BWC_DC) / G->P * G->P : (dc0 / G->P + 1) * G->P;
      if (G->P > BWC_DC && end > dc0 + BWC_DC) end = dc0 + BWC_DC;
      dn = (end < d1 ? end : d1) - dc0;
      int64_t n0 = dc0 / G->P, ns = (dc0 + dn - 1) / G->P - n0 + 1;
      if (!(ns == 1 && n0 == cached)) {
        cached = G->P > BWC_DC ? n0 : -1;
        /* channel-last padded input of the chunk's samples (channels past cin and borders are zero) */
        for (int64_t i = 0; i < ns * HWp; i++) zero_row(xpc + i * NR, NR);
        for (int64_t sn = 0; sn < ns; sn++)
        for (int64_t j = 0; j < cin; j++) {
          const float *src = c->x + ((n0 + sn) * G->Cin + ci0 + j) * G->H * G->W;
          float *dst = xpc + (sn * HWp + G->pad * G->Wp + G->pad) * NR + j;
          for (int64_t h = 0; h < G->H; h++)
            for (int64_t w = 0; w < G->W; w++) dst[(h * G->Wp + w) * NR] = src[h * G->W + w];
        }
      }
      /* pixel offsets and the transposed dY panels At[cp][t][R] */
      for (int64_t cc = dc0; cc < dc0 + dn;) {
        int64_t n = cc / G->P, pix = cc % G->P, len = G->P - pix < dc0 + dn - cc ? G->P - pix : dc0 + dn - cc;
        for (int64_t t = 0; t < len; t++) {
          int64_t oh = (pix + t) / G->Wo, ow = (pix + t) % G->Wo;
          boff[cc - dc0 + t] = ((n - n0) * HWp + oh * G->s * G->Wp + ow * G->s) * NR;
        }
        for (int64_t cp = 0; cp < ncp; cp++)
          for (int r = 0; r < R; r++) {
            int64_t co = cp * R + r;
            float *dst = At + (cp * dn + (cc - dc0)) * R + r;
            if (co < cn) {
              const float *src = c->dy + (n * G->Cout + co0 + co) * G->P + pix;
              for (int64_t t = 0; t < len; t++) dst[t * R] = src[t];
            } else {
              for (int64_t t = 0; t < len; t++) dst[t * R] = 0.0f;
            }
          }
        cc += len;
      }
      for (int64_t t0 = 0; t0 < G->KK; t0 += T) {
        int64_t toff[TAPS_1];
        for (int j = 0; j < T; j++) { /* a partial last group repeats its last tap into unused columns */
          int64_t tap = t0 + j < G->KK ? t0 + j : G->KK - 1;
          toff[j] = ((tap / G->k) * G->Wp + tap % G->k) * NR;
        }
        for (int64_t cp = 0; cp < ncp; cp++) {
          const float *Ac = At + cp * dn * R;
          float *Cc = Cacc + cp * R * ldc + t0 * NR;
          switch (R) {
          case 1: uk_taps_1(dn, Ac, xpc, boff, toff, Cc, ldc); break;
          case 2: uk_taps_2(dn, Ac, xpc, boff, toff, Cc, ldc); break;
          case 4: uk_taps_4(dn, Ac, xpc, boff, toff, Cc, ldc); break;
          default: uk_outer_rows(dn, Ac, xpc + toff[0], boff, Cc, ldc); break;
          }
        }
      }
    }
    float *o = c->out + split * G->Cout * G->Kd;
    for (int64_t co = 0; co < cn; co++)
      for (int64_t j = 0; j < cin; j++)
        for (int64_t tap = 0; tap < G->KK; tap++) {
          float v = Cacc[co * ldc + tap * NR + j], *d = o + ((co0 + co) * G->Cin + ci0 + j) * G->KK + tap;
          *d = c->p->accumulate ? *d + v : v;
        }
  }
}

static void cpu_conv2d_backward_weight(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_conv2d);
  bw_ctx c = {geo_of(p), p, F(0), F(1), F(2), 0, 0};
  if (c.G.Cin % NR == 0 || c.G.Cin > 2 * NR) { /* channel-last path, at most a third of its lanes idle */
    c.ncb = (c.G.Cout + BWC_CB - 1) / BWC_CB;
    c.nmb = (c.G.Cin + NR - 1) / NR;
    ldm_parallel_for((int64_t)p->splits * c.ncb * c.nmb, 1, bwc_items, &c);
    return;
  }
  c.ncb = (c.G.Cout + BW_CB - 1) / BW_CB;
  c.nmb = (c.G.Kd + BW_MB - 1) / BW_MB;
  ldm_parallel_for((int64_t)p->splits * c.ncb * c.nmb, 1, bw_items, &c);
}

/* ================================================================= Vulkan launch plans */
/* tiled kernels: 64x64 tile, 16-deep slabs of A and B in shared memory ([16][65] floats each) */
#define CONV_TILED_SHARED (2u * 16u * 65u * 4u)

static bool conv_use_naive(const ldm_dev_limits *lim) {
  if (lim->conv_naive) return true;
  return lim->max_shared < CONV_TILED_SHARED || lim->max_wg_invocations < 256;
}

/* rows x cols output tiles; z = depth splits (backward_weight) or folding of > 65535 column tiles */
static void conv_plan(const ldm_pc_conv2d *p, const ldm_dev_limits *lim, ldm_launch *l, const char *tiled,
                      const char *naive, int64_t rows, int64_t cols, uint32_t splits) {
  if (conv_use_naive(lim)) {
    ldm_launch_1d(l, naive, (int64_t)splits * rows * cols);
  } else {
    int64_t tx = (cols + 63) / 64;
    l->shader = tiled;
    l->spec[0] = 256;
    if (splits > 1) {
      l->groups[0] = (uint32_t)tx;
      l->groups[2] = splits;
    } else {
      l->groups[0] = (uint32_t)(tx < 65535 ? tx : 65535);
      l->groups[2] = (uint32_t)((tx + 65534) / 65535);
    }
    l->groups[1] = (uint32_t)((rows + 63) / 64);
  }
  l->spec[1] = p->k;
  l->spec[2] = p->stride;
  l->nspec = 3;
}
static void plan_conv2d(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_conv2d);
  conv_plan(p, lim, l, "conv2d", "conv2d_naive", p->Cout, (int64_t)p->N * p->Ho * p->Wo, 1);
}
static void plan_conv2d_backward_data(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_conv2d);
  conv_plan(p, lim, l, "conv2d_backward_data", "conv2d_backward_data_naive", p->Cin, (int64_t)p->N * p->H * p->W, 1);
}
static void plan_conv2d_backward_weight(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                        ldm_launch *l) {
  PC(ldm_pc_conv2d);
  conv_plan(p, lim, l, "conv2d_backward_weight", "conv2d_backward_weight_naive", p->Cout,
            (int64_t)p->Cin * p->k * p->k, p->splits);
}

/* ================================================================= graph builders and autodiff */
uint32_t ldm_conv2d_weight_splits(const ldm_pc_conv2d *p) {
  int64_t D = (int64_t)p->N * p->Ho * p->Wo, Kd = (int64_t)p->Cin * p->k * p->k;
  int64_t tiles = ((p->Cout + 63) / 64) * ((Kd + 63) / 64);
  int64_t s = (256 + tiles - 1) / tiles;  /* about 256 workgroups */
  if (s > D / 512) s = D / 512;           /* each split at least 512 pixels */
  int64_t cap = (8 << 20) / ((int64_t)p->Cout * Kd); /* scratch at most 8 Mi floats (32 MiB) */
  if (s > cap) s = cap;
  if (s > 64) s = 64;
  return s < 1 ? 1 : (uint32_t)s;
}

int ldm_conv2d_backward_data_node(ldm_graph *g, int dy, int w, int dx, const ldm_pc_conv2d *fwd, int accumulate) {
  LDM_INPUTS(g, dy, w, dx);
  ldm_pc_conv2d pc = *fwd;
  int64_t nx = (int64_t)pc.N * pc.Cin * pc.H * pc.W, ny = (int64_t)pc.N * pc.Cout * pc.Ho * pc.Wo;
  if (g->t[dx].numel != nx || g->t[dy].numel != ny || g->t[w].numel != (int64_t)pc.Cout * pc.Cin * pc.k * pc.k)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d_backward_data: %s, %s or %s does not match the convolution's shapes", g->t[dy].name,
                      g->t[w].name, g->t[dx].name);
  pc.bias = 0;
  pc.accumulate = (uint32_t)!!accumulate;
  pc.splits = 1;
  pc.split_len = 0;
  return ldm_node_emit(g, LDM_OP_conv2d_backward_data, (int[]){dy, w}, 2, &dx, 1, &pc, sizeof pc,
                       "conv2d_backward_data");
}

int ldm_conv2d_backward_weight_node(ldm_graph *g, int dy, int x, int out, const ldm_pc_conv2d *fwd, uint32_t splits,
                                    int accumulate) {
  LDM_INPUTS(g, dy, x, out);
  ldm_pc_conv2d pc = *fwd;
  int64_t nx = (int64_t)pc.N * pc.Cin * pc.H * pc.W, D = (int64_t)pc.N * pc.Ho * pc.Wo;
  int64_t nw = (int64_t)pc.Cout * pc.Cin * pc.k * pc.k;
  if (splits < 1 || splits > D || g->t[x].numel != nx || g->t[dy].numel != D * pc.Cout ||
      g->t[out].numel != (int64_t)splits * nw || (splits > 1 && accumulate))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d_backward_weight: %s, %s or %s does not match the convolution's shapes with %u splits",
                      g->t[dy].name, g->t[x].name, g->t[out].name, splits);
  pc.bias = 0;
  pc.accumulate = (uint32_t)!!accumulate;
  pc.splits = splits;
  pc.split_len = (uint32_t)((D + splits - 1) / splits);
  return ldm_node_emit(g, LDM_OP_conv2d_backward_weight, (int[]){dy, x}, 2, &out, 1, &pc, sizeof pc,
                       "conv2d_backward_weight");
}

static ldm_status bwd_conv2d(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_conv2d p;
  memcpy(&p, n.pc, sizeof p);
  int x = n.in[0], w = n.in[1], dy = ldm_grad_of(g, n.out[0]);
  if (g->t[x].requires_grad) {
    int acc, dx = ldm_grad_target(g, x, &acc);
    ldm_conv2d_backward_data_node(g, dy, w, dx, &p, acc);
  }
  if (g->t[w].requires_grad) {
    int acc, dw = ldm_grad_target(g, w, &acc);
    uint32_t s = ldm_conv2d_weight_splits(&p);
    if (s == 1) {
      ldm_conv2d_backward_weight_node(g, dy, x, dw, &p, 1, acc);
    } else {
      int64_t nw = g->t[w].numel;
      int part = ldm_new_act(g, "conv_dw_partial", 2, LDM_SHAPE((int64_t)s, nw));
      part = ldm_conv2d_backward_weight_node(g, dy, x, part, &p, s, 0);
      ldm_reduce_sum(g, part, dw, s, nw, 1, 1.0f, acc);
    }
  }
  if (p.bias && g->t[n.in[2]].requires_grad) {
    int acc, db = ldm_grad_target(g, n.in[2], &acc);
    ldm_reduce_sum(g, dy, db, p.N, p.Cout, (int64_t)p.Ho * p.Wo, 1.0f, acc);
  }
  return LDM_OK;
}

int ldm_conv2d(ldm_graph *g, int x, int w, int bias, int stride, int pad) {
  LDM_INPUTS(g, x, w);
  if (bias != LDM_NONE) LDM_INPUTS(g, bias); /* optional */
  const ldm_tensor *X = &g->t[x], *Wt = &g->t[w];
  if (X->ndim != 4 || Wt->ndim != 4 || Wt->shape[1] != X->shape[1] || Wt->shape[2] != Wt->shape[3] ||
      Wt->shape[2] < 1 || Wt->shape[2] > 31)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d: input %s must be [N, Cin, H, W] and weight %s [Cout, Cin, k, k] with the same Cin and "
                      "1 <= k <= 31",
                      X->name, Wt->name);
  int64_t N = X->shape[0], Cin = X->shape[1], H = X->shape[2], W = X->shape[3];
  int64_t Cout = Wt->shape[0], k = Wt->shape[2];
  if (stride < 1 || stride > 8 || pad < 0 || pad > 64 || H + 2 * pad < k || W + 2 * pad < k)
    return LDM_REFUSE(
        g, LDM_ERR_INVALID_ARG,
        "conv2d of %s with weight %s: stride %d and padding %d do not fit a %lldx%lld kernel on %lldx%lld", X->name,
        Wt->name, stride, pad, (long long)k, (long long)k, (long long)H, (long long)W);
  if (bias >= 0 && g->t[bias].numel != Cout)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d: bias %s has %lld elements, the weight %s has %lld output channels", g->t[bias].name,
                      (long long)g->t[bias].numel, Wt->name, (long long)Cout);
  int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  if (N * Cin * H * W > UINT32_MAX || N * Cout * Ho * Wo > UINT32_MAX || Cout * Cin * k * k * 64 > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "conv2d of %s: tensors over 2^32 elements", X->name);
  int y = ldm_new_act(g, "conv", 4, LDM_SHAPE(N, Cout, Ho, Wo));
  ldm_pc_conv2d pc = {(uint32_t)N, (uint32_t)Cin, (uint32_t)H, (uint32_t)W, (uint32_t)Cout, (uint32_t)Ho,
                      (uint32_t)Wo, (uint32_t)k, (uint32_t)stride, (uint32_t)pad, bias >= 0, 0, 1, 0};
  int in[3] = {x, w, bias >= 0 ? bias : x};
  return ldm_node_emit(g, LDM_OP_conv2d, in, 3, &y, 1, &pc, sizeof pc, "conv2d");
}

const ldm_op_desc ldm_op_desc_conv2d = {"conv2d", cpu_conv2d, plan_conv2d, bwd_conv2d, 1e-6};
const ldm_op_desc ldm_op_desc_conv2d_backward_data = {"conv2d_backward_data", cpu_conv2d_backward_data,
                                                      plan_conv2d_backward_data, NULL, 1e-6};
const ldm_op_desc ldm_op_desc_conv2d_backward_weight = {"conv2d_backward_weight", cpu_conv2d_backward_weight,
                                                        plan_conv2d_backward_weight, NULL, 1e-6};

/* ================================================================= upsample2x */
typedef struct {
  const ldm_pc_upsample2x *p;
  const float *in;
  float *out;
} up_ctx;

static void up_planes(void *vc, int64_t a, int64_t b) {
  const up_ctx *c = vc;
  int64_t H = c->p->H, W = c->p->W;
  for (int64_t pl = a; pl < b; pl++) {
    const float *x = c->in + pl * H * W;
    float *y = c->out + pl * 4 * H * W;
    for (int64_t h = 0; h < H; h++) {
      float *r0 = y + 2 * h * 2 * W, *r1 = r0 + 2 * W;
      const float *xr = x + h * W;
      if (c->p->accumulate)
        for (int64_t w = 0; w < W; w++) {
          r0[2 * w] += xr[w];
          r0[2 * w + 1] += xr[w];
          r1[2 * w] += xr[w];
          r1[2 * w + 1] += xr[w];
        }
      else {
        for (int64_t w = 0; w < W; w++) r0[2 * w] = r0[2 * w + 1] = xr[w];
        memcpy(r1, r0, (size_t)(2 * W) * 4);
      }
    }
  }
}
static void cpu_upsample2x(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  up_ctx c = {(const ldm_pc_upsample2x *)n->pc, F(0), F(1)};
  ldm_parallel_for(c.p->NC, 4, up_planes, &c);
}

/* dx[h][w] (+)= ((dy[2h][2w] + dy[2h][2w+1]) + dy[2h+1][2w]) + dy[2h+1][2w+1] (the shader's order) */
static void up_back_planes(void *vc, int64_t a, int64_t b) {
  const up_ctx *c = vc;
  int64_t H = c->p->H, W = c->p->W;
  for (int64_t pl = a; pl < b; pl++) {
    const float *dy = c->in + pl * 4 * H * W;
    float *dx = c->out + pl * H * W;
    for (int64_t h = 0; h < H; h++) {
      const float *r0 = dy + 2 * h * 2 * W, *r1 = r0 + 2 * W;
      float *d = dx + h * W;
      for (int64_t w = 0; w < W; w++) {
        float s = r0[2 * w] + r0[2 * w + 1];
        s += r1[2 * w];
        s += r1[2 * w + 1];
        d[w] = c->p->accumulate ? d[w] + s : s;
      }
    }
  }
}
static void cpu_upsample2x_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  up_ctx c = {(const ldm_pc_upsample2x *)n->pc, F(0), F(1)};
  ldm_parallel_for(c.p->NC, 4, up_back_planes, &c);
}

static void plan_upsample2x(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_upsample2x);
  ldm_launch_1d(l, "upsample2x", (int64_t)p->NC * p->H * p->W * 4);
}
static void plan_upsample2x_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                     ldm_launch *l) {
  PC(ldm_pc_upsample2x);
  ldm_launch_1d(l, "upsample2x_backward", (int64_t)p->NC * p->H * p->W);
}

int ldm_upsample2x_backward_node(ldm_graph *g, int dy, int dx, int accumulate) {
  LDM_INPUTS(g, dy, dx);
  const ldm_tensor *X = &g->t[dx];
  if (X->ndim != 4 || g->t[dy].numel != 4 * X->numel)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "upsample2x_backward: %s must be [N, C, H, W] and %s four times its size",
                      X->name, g->t[dy].name);
  ldm_pc_upsample2x pc = {(uint32_t)(X->shape[0] * X->shape[1]), (uint32_t)X->shape[2], (uint32_t)X->shape[3],
                          (uint32_t)!!accumulate};
  return ldm_node_emit(g, LDM_OP_upsample2x_backward, &dy, 1, &dx, 1, &pc, sizeof pc, "upsample2x_backward");
}
static ldm_status bwd_upsample2x(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  int acc, dx = ldm_grad_target(g, n.in[0], &acc);
  ldm_upsample2x_backward_node(g, ldm_grad_of(g, n.out[0]), dx, acc);
  return LDM_OK;
}

int ldm_upsample2x(ldm_graph *g, int x) {
  LDM_INPUTS(g, x);
  if (g->t[x].ndim != 4)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "upsample2x: input %s must be [N, C, H, W]", g->t[x].name);

  const ldm_tensor *X = &g->t[x];
  int64_t N = X->shape[0], C = X->shape[1], H = X->shape[2], W = X->shape[3];
  if (4 * X->numel > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "upsample2x of %s: output over 2^32 elements", X->name);
  int y = ldm_new_act(g, "upsample", 4, LDM_SHAPE(N, C, 2 * H, 2 * W));
  ldm_pc_upsample2x pc = {(uint32_t)(N * C), (uint32_t)H, (uint32_t)W, 0};
  return ldm_node_emit(g, LDM_OP_upsample2x, &x, 1, &y, 1, &pc, sizeof pc, "upsample2x");
}

const ldm_op_desc ldm_op_desc_upsample2x = {"upsample2x", cpu_upsample2x, plan_upsample2x, bwd_upsample2x, 1e-12};
const ldm_op_desc ldm_op_desc_upsample2x_backward = {"upsample2x_backward", cpu_upsample2x_backward,
                                                     plan_upsample2x_backward, NULL, 1e-12};
