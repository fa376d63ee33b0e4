/* CPU twins of the basic op family (fill, copy, Philox fill, elementwise, SiLU, reductions, MSE, GEMM,
 * SGD, AdamW): the reference and the production CPU backend, named ldm_cpu_<op> (cpu/kernels.h). Graph
 * builders, autodiff and the op table entries: src/ops/basic.c; launch plans: src/vk/plan.c. */
#include "cpu/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/fastmath.h"
#include "cpu/pool.h"
#include "cpu/simd.h"
#include "ldm/log.h"
#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "ops/basic.h"

#define F(i) ((float *)buf[i])
#define U(i) ((uint32_t *)buf[i])
#define PC(type) const type *p = (const type *)n->pc

/* ================================================================= fill */
void ldm_cpu_fill(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_fill);
  for (uint32_t i = 0; i < p->n; i++) F(0)[i] = p->value;
}
/* ================================================================= copy */
void ldm_cpu_copy(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_copy);
  memmove(buf[1], buf[0], (size_t)p->n * 4);
}
/* ================================================================= philox_fill */
void ldm_cpu_philox_fill(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_philox_fill);
  uint64_t base = ((uint64_t)p->base_hi << 32) | p->base_lo;
  if (p->use_step) base += ((uint64_t)U(0)[LDM_STEP_RNG_HI] << 32) | U(0)[LDM_STEP_RNG_LO];
  uint32_t *o = U(1);
  for (uint32_t b = 0; b < (p->n + 3) / 4; b++) {
    uint32_t v[4];
    uint64_t seed = ((uint64_t)p->seed_hi << 32) | p->seed_lo, stream = ((uint64_t)p->stream_hi << 32) | p->stream_lo;
    if (p->dist == LDM_RNG_NORMAL) {
      float f[4];
      ldm_rng_normal4(seed, stream, base, b, f);
      memcpy(v, f, sizeof v);
    } else {
      ldm_rng_block(seed, stream, base, b, v);
      if (p->dist == LDM_RNG_UNIFORM)
        for (int k = 0; k < 4; k++) {
          float f = ldm_u32_to_unit(v[k]);
          memcpy(&v[k], &f, 4);
        }
    }
    for (uint32_t k = 0; k < 4 && 4 * b + k < p->n; k++) o[4 * b + k] = v[k];
  }
}
/* elementwise binary, scale, SiLU (and its backward), the MSE backward and SGD: kernels_elementwise.c */
/* ================================================================= reduce_sum */
typedef struct {
  const ldm_pc_reduce_sum *p;
  const float *x;
  float *o;
} reduce_ctx;
/* out[j] = scale x the sum over (o, i) in order, in double: the same additions in the same order per j (so
 * the same bits) however the work is laid out. A thread's j go in blocks of RS_BLOCK whose double sums stay
 * in L1, o outermost: each o adds the block's contiguous stretch x[o][q0 .. q0 + nq) (times I) to them, one
 * long sequential read per o (a lane at a time over all o read 8 rows 32 KiB apart per o, which the
 * prefetchers followed poorly: 7-20 GB/s). For I = 1 (a split's partial sums) that is one vector add per 8
 * sums; otherwise 8 neighbouring j at a time through reduce_lanes8, which prefetches the same rows of the
 * next o as it goes (the hardware prefetchers start each o's stretch late: a 4 MiB sum of 64-float rows
 * took 0.54-0.60 ms without, 0.35-0.45 with; where I = 1 it made the sums slower). */
#define RS_BLOCK 256
/* s[b] += x of row b (r + b I) over i in [0, I8), I8 the first multiple of 8 of I, for 8 rows: their values
 * transposed 8 at a time so that one vector holds value i of every row, then one double add per row and i
 * in order, the sums in registers; the lines `ahead` floats on (0: none) are prefetched. Returns I8 (0
 * without AVX). */
static int64_t reduce_lanes8(const float *r, int64_t I, int64_t ahead, double *s) {
#if defined(__AVX__)
  __m256d lo = _mm256_loadu_pd(s), hi = _mm256_loadu_pd(s + 4);
  int64_t i = 0;
  for (; i + 8 <= I; i += 8) {
    __m256 v[8];
    for (int b = 0; b < 8; b++) v[b] = _mm256_loadu_ps(r + b * I + i);
    if (ahead && (i & 15) == 0)
      for (int b = 0; b < 8; b++) _mm_prefetch((const char *)(r + ahead + b * I + i), _MM_HINT_T0);
    ldm_tr8x8_ps(v);
    for (int k = 0; k < 8; k++) {
      lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v[k])));
      hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v[k], 1)));
    }
  }
  _mm256_storeu_pd(s, lo);
  _mm256_storeu_pd(s + 4, hi);
  return i;
#else
  (void)r, (void)I, (void)ahead, (void)s;
  return 0;
#endif
}
static void reduce_rows(void *vc, int64_t j0, int64_t j1) {
  const reduce_ctx *c = vc;
  const ldm_pc_reduce_sum *p = c->p;
  const int64_t I = p->I, J = p->J;
  double s[RS_BLOCK];
  for (int64_t q0 = j0; q0 < j1; q0 += RS_BLOCK) {
    const int64_t nq = j1 - q0 < RS_BLOCK ? j1 - q0 : RS_BLOCK;
    for (int64_t q = 0; q < nq; q++) s[q] = 0;
    for (uint32_t o = 0; o < p->O; o++) {
      const float *r = c->x + ((int64_t)o * J + q0) * I; /* j = q0 + q: row r + q I */
      if (I == 1) {
        for (int64_t q = 0; q < nq; q++) s[q] += r[q];
        continue;
      }
      int64_t q = 0;
      for (; q + 8 <= nq; q += 8)
        for (int64_t i = reduce_lanes8(r + q * I, I, o + 1 < p->O ? J * I : 0, s + q); i < I; i++)
          for (int b = 0; b < 8; b++) s[q + b] += r[(q + b) * I + i];
      for (; q < nq; q++)
        for (int64_t i = 0; i < I; i++) s[q] += r[q * I + i];
    }
    for (int64_t q = 0; q < nq; q++) {
      float v = (float)(s[q] * p->scale);
      c->o[q0 + q] = p->accumulate ? c->o[q0 + q] + v : v;
    }
  }
}
/* one reduce_sum job: out[j] (+)= scale sum_{o, i} x[o][j][i] */
static void reduce_job(const ldm_pc_reduce_sum *p, const float *x, float *o) {
  reduce_ctx c = {p, x, o};
  ldm_parallel_for(p->J, 4, reduce_rows, &c);
}
void ldm_cpu_reduce_sum(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  reduce_job((const ldm_pc_reduce_sum *)n->pc, F(0), F(1));
}
/* ================================================================= reduce_sum_multi */
void ldm_cpu_reduce_sum_multi(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_reduce_sum_multi);
  for (uint32_t k = 0; k < p->njobs; k++) {
    ldm_pc_reduce_sum job;
    ldm_reduce_multi_job(p, (int)k, &job, NULL);
    reduce_job(&job, F(k), F(p->njobs + k));
  }
}
/* ================================================================= MSE */
void ldm_cpu_mse_loss(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_mse_loss);
  double s = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    double d = (double)F(0)[i] - F(1)[i];
    s += d * d;
  }
  F(2)[0] = (float)(s * p->inv_n);
}
/* ================================================================= GEMM */
typedef struct {
  const ldm_pc_gemm *p;
  const float *A, *B, *bias;
  float *C, *Z; /* Z: the pre-activation (act: the SiLU epilogue), else NULL */
  float *pa, *pb; /* packed row-major op(A) [M,K] and op(B) [K,N] of the current batch */
} gemm_ctx;

/* rows [i0,i1) of C = alpha * pa @ pb (+ bias) (+ C); act: Z = that (the pre-activation), C = silu(Z)
 * (ldm_cpu_act_silu, the silu twin's element function: the floats of the unfused linear -> silu) */
static void gemm_rows(void *vc, int64_t i0, int64_t i1) {
  const gemm_ctx *c = vc;
  const ldm_pc_gemm *p = c->p;
  const int64_t N = p->N, K = p->K;
  enum { NB = 512, KB = 256 };
  float acc[4][NB];
  for (int64_t i = i0; i < i1; i += 4) {
    int rows = (int)(i1 - i < 4 ? i1 - i : 4);
    for (int64_t j0 = 0; j0 < N; j0 += NB) {
      int64_t nj = N - j0 < NB ? N - j0 : NB;
      for (int r = 0; r < rows; r++)
        for (int64_t j = 0; j < nj; j++) acc[r][j] = 0.0f;
      for (int64_t k0 = 0; k0 < K; k0 += KB) {
        int64_t k1 = K < k0 + KB ? K : k0 + KB;
        for (int64_t k = k0; k < k1; k++) {
          const float *brow = c->pb + k * N + j0;
          for (int r = 0; r < rows; r++) {
            float a = c->pa[(i + r) * K + k];
            float *ar = acc[r];
            for (int64_t j = 0; j < nj; j++) ar[j] += a * brow[j];
          }
        }
      }
      for (int r = 0; r < rows; r++) {
        float *crow = c->C + (i + r) * N + j0;
        for (int64_t j = 0; j < nj; j++) {
          float v = p->alpha * acc[r][j];
          if (p->bias_mode == LDM_BIAS_COLS) v += c->bias[j0 + j];
          else if (p->bias_mode == LDM_BIAS_ROWS) v += c->bias[i + r];
          if (c->Z) {
            c->Z[(i + r) * N + j0 + j] = v;
            crow[j] = ldm_cpu_act_silu(v);
          } else {
            crow[j] = p->accumulate ? crow[j] + v : v;
          }
        }
      }
    }
  }
}

/* row blocks of 4 */
static void gemm_blocks(void *vc, int64_t b0, int64_t b1) {
  const gemm_ctx *c = vc;
  int64_t i1 = b1 * 4 < (int64_t)c->p->M ? b1 * 4 : (int64_t)c->p->M;
  gemm_rows(vc, b0 * 4, i1);
}

static void pack_operands(const ldm_pc_gemm *p, const float *A, const float *B, float *pa, float *pb) {
  int64_t M = p->M, N = p->N, K = p->K;
  if (p->ta)
    for (int64_t i = 0; i < M; i++)
      for (int64_t k = 0; k < K; k++) pa[i * K + k] = A[k * M + i];
  else
    memcpy(pa, A, (size_t)(M * K) * 4);
  if (p->tb)
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < N; j++) pb[k * N + j] = B[j * K + k];
  else
    memcpy(pb, B, (size_t)(K * N) * 4);
}

typedef struct {
  const ldm_pc_gemm *p;
  void *const *buf;
} gemm_batches_ctx;

/* many small matrices (attention heads): whole batches per thread, each with its own packing buffers */
static void gemm_batches(void *vc, int64_t b0, int64_t b1) {
  const gemm_batches_ctx *c = vc;
  const ldm_pc_gemm *p = c->p;
  void *const *buf = c->buf;
  float *pa = malloc((size_t)(p->M * p->K) * 4), *pb = malloc((size_t)(p->K * p->N) * 4);
  if (!pa || !pb) {
    ldm_log(LDM_LOG_ERROR, "ldm-vk: out of host memory in the CPU GEMM");
    abort();
  }
  for (int64_t b = b0; b < b1; b++) {
    const float *A = F(0) + b * p->sA, *B = F(1) + b * p->sB;
    pack_operands(p, A, B, pa, pb);
    gemm_ctx g = {p, A, B, F(2), F(3) + b * p->sC, p->act ? F(4) + b * p->sC : NULL, pa, pb};
    gemm_rows(&g, 0, p->M);
  }
  free(pa);
  free(pb);
}

void ldm_cpu_gemm(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_gemm);
  int64_t M = p->M, N = p->N, K = p->K;
  if (p->batch > 1 && M * N * K < (1 << 22) && p->sC != 0) {
    gemm_batches_ctx c = {p, buf};
    ldm_parallel_for(p->batch, 1, gemm_batches, &c);
    return;
  }
  float *pa = ldm_malloc((size_t)(M * K) * 4), *pb = ldm_malloc((size_t)(K * N) * 4);
  if (!pa || !pb) { /* the reference backend cannot report from here; fail loudly */
    ldm_log(LDM_LOG_ERROR, "ldm-vk: out of host memory in the CPU GEMM");
    abort();
  }
  for (uint32_t b = 0; b < p->batch; b++) {
    const float *A = F(0) + (int64_t)b * p->sA, *B = F(1) + (int64_t)b * p->sB;
    pack_operands(p, A, B, pa, pb);
    gemm_ctx c = {p, A, B, F(2), F(3) + (int64_t)b * p->sC, p->act ? F(4) + (int64_t)b * p->sC : NULL, pa, pb};
    ldm_parallel_for((M + 3) / 4, 2, gemm_blocks, &c);
  }
  free(pa);
  free(pb);
}

/* ================================================================= broadcast */
void ldm_cpu_broadcast(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_broadcast);
  const float *x = F(0);
  float *o = F(1);
  for (uint32_t oo = 0; oo < p->O; oo++)
    for (uint32_t j = 0; j < p->J; j++) {
      float v = p->alpha * x[(uint64_t)(oo % p->xO) * p->J + j];
      float *r = o + ((uint64_t)oo * p->J + j) * p->I;
      for (uint32_t i = 0; i < p->I; i++) r[i] = p->accumulate ? r[i] + v : v;
    }
}
/* SGD / AdamW: kernels_elementwise.c */
