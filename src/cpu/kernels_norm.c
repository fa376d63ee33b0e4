/* CPU twins of the norm op family (GroupNorm, softmax, channel concat/split, embedding, timestep
 * embedding, attention core): the reference and the production CPU backend, named ldm_cpu_<op>
 * (cpu/kernels.h). Graph builders, autodiff and the op table entries: src/ops/norm.c; launch plans:
 * src/vk/plan.c. */
#include "cpu/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "cpu/fastmath.h"
#include "cpu/pool.h"
#include "cpu/simd.h"
#include "ops/norm.h"

#define F(i) ((float *)buf[i])
#define U(i) ((uint32_t *)buf[i])
#define PC(type) const type *p = (const type *)n->pc

/* ---------------------------------------------------------------- launch helpers */

/* double-precision sums with four independent accumulators (fixed order); with AVX, sums_batch below
 * computes the same sums several rows at a time */
#if !defined(__AVX__)
static double sum_f(const float *x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; i++) s0 += x[i];
  return (s0 + s1) + (s2 + s3);
}
static double sumsq_dev(const float *x, int64_t n, double m) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    double d0 = x[i] - m, d1 = x[i + 1] - m, d2 = x[i + 2] - m, d3 = x[i + 3] - m;
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < n; i++) {
    double d = x[i] - m;
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}
#endif

/* sum_f (m NULL) or sumsq_dev (m[b] the mean) of nb <= SUMS_BATCH rows x[b] at once. Each row's four
 * accumulators are one 4-lane double vector: the same additions in the same order as those functions (so
 * the same bits), but the rows' chains are independent, so their adds overlap where one chain alone waits
 * on the add latency. */
enum { SUMS_BATCH = 4 };
static void sums_batch(const float *const *x, int nb, int64_t n, const double *m, double *out) {
#if defined(__AVX__)
  __m256d acc[SUMS_BATCH];
  for (int b = 0; b < nb; b++) acc[b] = _mm256_setzero_pd();
  int64_t i = 0;
  if (m) {
    for (; i + 4 <= n; i += 4)
      for (int b = 0; b < nb; b++) {
        __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x[b] + i)), _mm256_set1_pd(m[b]));
        acc[b] = _mm256_add_pd(acc[b], _mm256_mul_pd(d, d));
      }
  } else {
    for (; i + 4 <= n; i += 4)
      for (int b = 0; b < nb; b++) acc[b] = _mm256_add_pd(acc[b], _mm256_cvtps_pd(_mm_loadu_ps(x[b] + i)));
  }
  for (int b = 0; b < nb; b++) {
    double l[4];
    _mm256_storeu_pd(l, acc[b]);
    for (int64_t j = i; j < n; j++) {
      double d = m ? x[b][j] - m[b] : x[b][j];
      l[0] += m ? d * d : d;
    }
    out[b] = (l[0] + l[1]) + (l[2] + l[3]);
  }
#else
  for (int b = 0; b < nb; b++) out[b] = m ? sumsq_dev(x[b], n, m[b]) : sum_f(x[b], n);
#endif
}

/* ================================================================= group_norm, group_norm_silu */
typedef struct {
  const ldm_pc_group_norm *p;
  const float *x, *gamma, *beta;
  float *y, *mean, *rstd;
  bool silu; /* group_norm_silu: y = silu(h) of the same h */
} gn_ctx;
static void gn_groups(void *vc, int64_t j0, int64_t j1) {
  const gn_ctx *c = vc;
  const ldm_pc_group_norm *p = c->p;
  const int64_t S = p->S, cg = p->C / p->G, M = cg * S;
  double mean[SUMS_BATCH], var[SUMS_BATCH];
  for (int64_t ng = j0; ng < j1; ng++) {
    const int b = (int)((ng - j0) % SUMS_BATCH);
    if (b == 0) { /* the statistics of the next SUMS_BATCH groups together */
      int nb = j1 - ng < SUMS_BATCH ? (int)(j1 - ng) : SUMS_BATCH;
      const float *xb[SUMS_BATCH];
      for (int q = 0; q < nb; q++) xb[q] = c->x + (ng + q) * M;
      sums_batch(xb, nb, M, NULL, mean);
      for (int q = 0; q < nb; q++) mean[q] /= (double)M;
      sums_batch(xb, nb, M, mean, var);
      for (int q = 0; q < nb; q++) var[q] /= (double)M;
    }
    const float *xs = c->x + ng * M;
    float *ys = c->y + ng * M;
    float mf = (float)mean[b], rf = (float)(1.0 / sqrt(var[b] + (double)p->eps));
    int64_t ch0 = (ng % p->G) * cg;
    for (int64_t cc = 0; cc < cg; cc++) {
      float ga = c->gamma[ch0 + cc], be = c->beta[ch0 + cc];
      const float *xr = xs + cc * S;
      float *yr = ys + cc * S;
      for (int64_t i = 0; i < S; i++) {
        float xh = (xr[i] - mf) * rf;
        yr[i] = xh * ga + be;
      }
      if (c->silu) /* on the stored h, a second vectorised pass over the row while it is in cache */
        for (int64_t i = 0; i < S; i++) yr[i] = ldm_cpu_act_silu(yr[i]);
    }
    c->mean[ng] = mf;
    c->rstd[ng] = rf;
  }
}
void ldm_cpu_group_norm(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gn_ctx c = {(const ldm_pc_group_norm *)n->pc, F(0), F(1), F(2), F(3), F(4), F(5), false};
  ldm_parallel_for((int64_t)c.p->N * c.p->G, 1, gn_groups, &c);
}
void ldm_cpu_group_norm_silu(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gn_ctx c = {(const ldm_pc_group_norm *)n->pc, F(0), F(1), F(2), F(3), F(4), F(5), true};
  ldm_parallel_for((int64_t)c.p->N * c.p->G, 1, gn_groups, &c);
}
/* ================================================================= group_norm[_silu]_backward */
typedef struct {
  const ldm_pc_group_norm_backward *p;
  const float *x, *gamma, *mean, *rstd, *dy;
  float *dx, *pg, *pb;
  const float *beta; /* group_norm_silu_backward: dy is the gradient of silu(h), h = xhat gamma + beta */
} gnb_ctx;
/* the gradient at h of element i (xh = xhat, channel's gamma ga and beta be): dy, or silu'(h) dy */
static inline float gnb_dh(const gnb_ctx *c, const float *dr, int64_t i, float xh, float ga, float be) {
  return c->beta ? ldm_cpu_act_silu_backward(xh * ga + be, dr[i]) : dr[i];
}
/* The rows (n, c) of groups [j0, j1), row = ng cg + cc, in bundles of whole groups of about GNB_LANES rows (one
 * group where it has more): silu'(h) dy of the bundle computed once (group_norm_silu_backward; a loop the
 * compiler vectorises, exp included), then each row's two sums (the dgamma, dbeta partials) with GNB_LANES
 * rows side by side, one pair of accumulators each (the same additions in the same order per row as one row
 * at a time, so the same bits), then per group A, B and dx. */
#define GNB_LANES 8
/* The two sums of GNB_LANES = 8 rows side by side over the first multiple of 8 of S: each row's 8 values
 * transposed so that one vector holds value i of every row, then per i the same float xhat, the same
 * double product and the same two double adds per row as the scalar loop, in the same order (the same
 * bits), with the sums in registers (GCC kept the scalar loop's in memory). Returns how many values it
 * summed (0 without AVX). */
static int64_t gnb_sums8(const float *const *xr, const float *const *dr, const float *m, const float *r, int64_t S,
                         double *s1, double *s2) {
#if defined(__AVX__)
  __m256 mv = _mm256_loadu_ps(m), rv = _mm256_loadu_ps(r);
  __m256d a1l = _mm256_loadu_pd(s1), a1h = _mm256_loadu_pd(s1 + 4), a2l = _mm256_loadu_pd(s2),
          a2h = _mm256_loadu_pd(s2 + 4);
  int64_t i = 0;
  for (; i + 8 <= S; i += 8) {
    __m256 xv[8], dv[8];
    for (int b = 0; b < 8; b++) xv[b] = _mm256_loadu_ps(xr[b] + i), dv[b] = _mm256_loadu_ps(dr[b] + i);
    ldm_tr8x8_ps(xv);
    ldm_tr8x8_ps(dv);
    for (int k = 0; k < 8; k++) {
      __m256 xh = _mm256_mul_ps(_mm256_sub_ps(xv[k], mv), rv);
      __m256d dl = _mm256_cvtps_pd(_mm256_castps256_ps128(dv[k])), dh = _mm256_cvtps_pd(_mm256_extractf128_ps(dv[k], 1));
      __m256d xl = _mm256_cvtps_pd(_mm256_castps256_ps128(xh)), xu = _mm256_cvtps_pd(_mm256_extractf128_ps(xh, 1));
      a1l = _mm256_add_pd(a1l, _mm256_mul_pd(dl, xl));
      a1h = _mm256_add_pd(a1h, _mm256_mul_pd(dh, xu));
      a2l = _mm256_add_pd(a2l, dl);
      a2h = _mm256_add_pd(a2h, dh);
    }
  }
  _mm256_storeu_pd(s1, a1l), _mm256_storeu_pd(s1 + 4, a1h), _mm256_storeu_pd(s2, a2l), _mm256_storeu_pd(s2 + 4, a2h);
  return i;
#else
  (void)xr, (void)dr, (void)m, (void)r, (void)S, (void)s1, (void)s2;
  return 0;
#endif
}
static void gnb_groups(void *vc, int64_t j0, int64_t j1) {
  const gnb_ctx *c = vc;
  const ldm_pc_group_norm_backward *p = c->p;
  const int64_t S = p->S, C = p->C, cg = C / p->G, M = cg * S;
  const int64_t gpb = cg >= GNB_LANES ? 1 : GNB_LANES / cg, maxrows = gpb * cg; /* groups, rows per bundle */
  float *dhb = c->beta ? ldm_cpu_scratch(0, maxrows * S) : NULL;
  double *sums = (double *)ldm_cpu_scratch(1, 4 * maxrows); /* s1 (sum d xhat), s2 (sum d) per row */
  for (int64_t g0 = j0; g0 < j1; g0 += gpb) {
    int64_t g1 = g0 + gpb < j1 ? g0 + gpb : j1, r0 = g0 * cg, nrow = (g1 - g0) * cg;
    if (dhb)
      for (int64_t q = 0; q < nrow; q++) {
        int64_t row = r0 + q, ng = row / cg, ch = (ng % p->G) * cg + row % cg;
        float m = c->mean[ng], r = c->rstd[ng], ga = c->gamma[ch], be = c->beta[ch];
        const float *xr = c->x + row * S, *dr = c->dy + row * S;
        float *dh = dhb + q * S;
        for (int64_t i = 0; i < S; i++) dh[i] = gnb_dh(c, dr, i, (xr[i] - m) * r, ga, be);
      }
    for (int64_t q0 = 0; q0 < nrow; q0 += GNB_LANES) {
      int nl = nrow - q0 < GNB_LANES ? (int)(nrow - q0) : GNB_LANES;
      float m[GNB_LANES], r[GNB_LANES];
      const float *xr[GNB_LANES], *dr[GNB_LANES]; /* dr: silu'(h) dy, or dy */
      double s1[GNB_LANES] = {0}, s2[GNB_LANES] = {0};
      for (int b = 0; b < nl; b++) {
        int64_t row = r0 + q0 + b, ng = row / cg;
        m[b] = c->mean[ng], r[b] = c->rstd[ng];
        xr[b] = c->x + row * S, dr[b] = dhb ? dhb + (q0 + b) * S : c->dy + row * S;
      }
      int64_t i = nl == GNB_LANES ? gnb_sums8(xr, dr, m, r, S, s1, s2) : 0;
      for (; i < S; i++)
        for (int b = 0; b < nl; b++) {
          float xh = (xr[b][i] - m[b]) * r[b], d = dr[b][i];
          s1[b] += (double)d * xh;
          s2[b] += d;
        }
      for (int b = 0; b < nl; b++) {
        int64_t row = r0 + q0 + b;
        c->pg[row] = (float)s1[b]; /* row = n C + channel */
        c->pb[row] = (float)s2[b];
        sums[2 * (q0 + b)] = s1[b], sums[2 * (q0 + b) + 1] = s2[b];
      }
    }
    for (int64_t ng = g0; ng < g1; ng++) {
      int64_t ch0 = (ng % p->G) * cg, q = (ng - g0) * cg;
      float m = c->mean[ng], r = c->rstd[ng];
      double A = 0, B = 0; /* sum gamma dy, sum gamma dy xhat over the group, channels in order */
      for (int64_t cc = 0; cc < cg; cc++) {
        A += (double)c->gamma[ch0 + cc] * sums[2 * (q + cc) + 1];
        B += (double)c->gamma[ch0 + cc] * sums[2 * (q + cc)];
      }
      if (!p->want_dx) continue;
      float a = (float)(A / (double)M), b = (float)(B / (double)M);
      for (int64_t cc = 0; cc < cg; cc++) {
        float ga = c->gamma[ch0 + cc];
        int64_t row = ng * cg + cc;
        const float *xr = c->x + row * S, *dh = dhb ? dhb + (q + cc) * S : c->dy + row * S;
        float *o = c->dx + row * S;
        for (int64_t i = 0; i < S; i++) {
          float xh = (xr[i] - m) * r;
          float v = r * ((ga * dh[i] - a) - xh * b);
          o[i] = p->accumulate ? o[i] + v : v;
        }
      }
    }
  }
}
void ldm_cpu_group_norm_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gnb_ctx c = {(const ldm_pc_group_norm_backward *)n->pc, F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), NULL};
  ldm_parallel_for((int64_t)c.p->N * c.p->G, 1, gnb_groups, &c);
}
/* in: x, gamma, mean, rstd, dy, beta; out: dx, pg, pb */
void ldm_cpu_group_norm_silu_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gnb_ctx c = {(const ldm_pc_group_norm_backward *)n->pc, F(0), F(1), F(2), F(3), F(4), F(6), F(7), F(8), F(5)};
  ldm_parallel_for((int64_t)c.p->N * c.p->G, 1, gnb_groups, &c);
}
/* ================================================================= softmax */
typedef struct {
  uint32_t cols, accumulate;
  const float *a, *b; /* forward: x; backward: y, dy */
  float *o;
} sm_ctx;
/* y = softmax(x) of one row of L >= 1 (y may be x): the max, the exps and their double sum, the division */
static void softmax_row(const float *x, float *y, int64_t L) {
  float m = x[0];
  for (int64_t j = 1; j < L; j++) m = x[j] > m ? x[j] : m;
  double s = 0;
  for (int64_t j = 0; j < L; j++) {
    y[j] = expf(x[j] - m);
    s += y[j];
  }
  float sf = (float)s;
  for (int64_t j = 0; j < L; j++) y[j] = y[j] / sf;
}
static void sm_rows(void *vc, int64_t r0, int64_t r1) {
  const sm_ctx *c = vc;
  const int64_t L = c->cols;
  for (int64_t r = r0; r < r1; r++) softmax_row(c->a + r * L, c->o + r * L, L);
}
void ldm_cpu_softmax(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_softmax);
  sm_ctx c = {p->cols, 0, F(0), NULL, F(1)};
  ldm_parallel_for(p->rows, 1 + 4096 / p->cols, sm_rows, &c);
}
static void smb_rows(void *vc, int64_t r0, int64_t r1) {
  const sm_ctx *c = vc;
  const int64_t L = c->cols;
  for (int64_t r = r0; r < r1; r++) {
    const float *y = c->a + r * L, *dy = c->b + r * L;
    float *dx = c->o + r * L;
    double s = 0;
    for (int64_t j = 0; j < L; j++) s += (double)dy[j] * y[j];
    float sf = (float)s;
    for (int64_t j = 0; j < L; j++) {
      float v = y[j] * (dy[j] - sf);
      dx[j] = c->accumulate ? dx[j] + v : v;
    }
  }
}
void ldm_cpu_softmax_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_softmax_backward);
  sm_ctx c = {p->cols, p->accumulate, F(0), F(1), F(2)};
  ldm_parallel_for(p->rows, 1 + 4096 / p->cols, smb_rows, &c);
}
/* ================================================================= attention, attention_backward */
/* The sums of the shader in the same order (c ascending for the dot products, j or i ascending for the
 * outputs); only the softmax's row sum is a double here (the shader: a float workgroup tree). */
typedef struct {
  const ldm_pc_attention *p;
  uint32_t accumulate;
  const float *x, *o, *pr, *go; /* qkv, O, P, dO */
  float *y, *pw;                /* forward: O, P; backward: dqkv */
} attn_ctx;
typedef struct {
  int64_t T, d, qb, kb, vb, ob, pb;
} attn_head;
static attn_head attn_at(const ldm_pc_attention *p, int64_t bh) {
  int64_t T = p->T, d = p->d, C = (int64_t)p->heads * d, b = bh / p->heads, h = bh % p->heads;
  attn_head a = {T, d, (b * 3 * C + h * d) * T, 0, 0, (b * C + h * d) * T, bh * T * T};
  a.kb = a.qb + C * T;
  a.vb = a.kb + C * T;
  return a;
}
/* out[ch][i] = sum over j ascending of a[ch][j] P[i][j] (from 0, one product and one add per term) for the T
 * rows i at once: P transposed (pt[j][i]) so that the T sums of a channel are a vector over i, each lane the
 * same chain as one sum at a time (the same bits); one sum at a time was a chain of T dependent adds per
 * output. out[ch] is out + ch T; scale multiplies each sum after it (1: none); acc: added to out. */
static void attn_rows_by_p(const float *a, const float *P, float *pt, float *out, int64_t T, int64_t d, float scale,
                           uint32_t acc) {
  for (int64_t i = 0; i < T; i++)
    for (int64_t j = 0; j < T; j++) pt[j * T + i] = P[i * T + j];
  float *sum = pt + T * T;
  for (int64_t ch = 0; ch < d; ch++) {
    const float *ar = a + ch * T;
    for (int64_t i = 0; i < T; i++) sum[i] = 0.0f;
    for (int64_t j = 0; j < T; j++) {
      const float aj = ar[j], *pj = pt + j * T;
      for (int64_t i = 0; i < T; i++) sum[i] += aj * pj[i];
    }
    float *o = out + ch * T;
    if (scale != 1.0f)
      for (int64_t i = 0; i < T; i++) sum[i] = scale * sum[i];
    for (int64_t i = 0; i < T; i++) o[i] = acc ? o[i] + sum[i] : sum[i];
  }
}
static void attn_heads(void *vc, int64_t h0, int64_t h1) {
  const attn_ctx *c = vc;
  const float *x = c->x;
  for (int64_t bh = h0; bh < h1; bh++) {
    attn_head a = attn_at(c->p, bh);
    const int64_t T = a.T, d = a.d;
    float *S = c->pw + a.pb; /* the rows: scores, then exps, then probabilities */
    for (int64_t e = 0; e < T * T; e++) S[e] = 0.0f;
    for (int64_t ch = 0; ch < d; ch++) { /* every row's sums advance together: T independent chains */
      const float *q = x + a.qb + ch * T, *k = x + a.kb + ch * T;
      for (int64_t i = 0; i < T; i++) {
        float *s = S + i * T;
        const float qi = q[i];
        for (int64_t j = 0; j < T; j++) s[j] += qi * k[j];
      }
    }
    for (int64_t i = 0; i < T; i++) {
      float *s = S + i * T;
      for (int64_t j = 0; j < T; j++) s[j] *= c->p->scale;
      softmax_row(s, s, T);
    }
    attn_rows_by_p(x + a.vb, c->pw + a.pb, ldm_cpu_scratch(0, T * T + T), c->y + a.ob, T, d, 1.0f, 0);
  }
}
void ldm_cpu_attention(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_attention);
  attn_ctx c = {p, 0, F(0), NULL, NULL, NULL, F(1), F(2)};
  ldm_parallel_for((int64_t)p->B * p->heads, 1, attn_heads, &c);
}
static inline void attn_store(float *d, uint32_t accumulate, float v) { *d = accumulate ? *d + v : v; }
/* per head: D, then dS row by row, the running column sums of dk and dv (scratch), and dq */
static void attnb_heads(void *vc, int64_t h0, int64_t h1) {
  const attn_ctx *c = vc;
  const float *x = c->x, *go = c->go;
  for (int64_t bh = h0; bh < h1; bh++) {
    attn_head a = attn_at(c->p, bh);
    const int64_t T = a.T, d = a.d;
    float *D = ldm_cpu_scratch(0, T), *dsm = ldm_cpu_scratch(1, T * T), *dk = ldm_cpu_scratch(2, 2 * d * T);
    float *dv = dk + d * T;
    for (int64_t i = 0; i < T; i++) D[i] = 0.0f;
    for (int64_t ch = 0; ch < d; ch++)
      for (int64_t i = 0; i < T; i++) D[i] += go[a.ob + ch * T + i] * c->o[a.ob + ch * T + i];
    for (int64_t e = 0; e < 2 * d * T; e++) dk[e] = 0.0f;
    for (int64_t e = 0; e < T * T; e++) dsm[e] = 0.0f;
    for (int64_t ch = 0; ch < d; ch++) { /* dP = dO^T V, every row's sums advancing together */
      const float *gv = go + a.ob + ch * T, *v = x + a.vb + ch * T;
      for (int64_t i = 0; i < T; i++) {
        float *ds = dsm + i * T;
        const float gi = gv[i];
        for (int64_t j = 0; j < T; j++) ds[j] += gi * v[j];
      }
    }
    for (int64_t i = 0; i < T; i++) { /* dS = P (dP - D) */
      const float *P = c->pr + a.pb + i * T;
      float *ds = dsm + i * T;
      for (int64_t j = 0; j < T; j++) ds[j] = P[j] * (ds[j] - D[i]);
    }
    for (int64_t i = 0; i < T; i++) { /* the running sums of dk and dv over i ascending */
      const float *P = c->pr + a.pb + i * T, *ds = dsm + i * T;
      for (int64_t ch = 0; ch < d; ch++) {
        const float q = x[a.qb + ch * T + i], gv = go[a.ob + ch * T + i];
        float *dkr = dk + ch * T, *dvr = dv + ch * T;
        for (int64_t j = 0; j < T; j++) {
          dvr[j] += gv * P[j];
          dkr[j] += q * ds[j];
        }
      }
    }
    /* dq[ch][i] = scale sum_j dS[i][j] k[ch][j] */
    attn_rows_by_p(x + a.kb, dsm, ldm_cpu_scratch(3, T * T + T), c->y + a.qb, T, d, c->p->scale, c->accumulate);
    for (int64_t ch = 0; ch < d; ch++)
      for (int64_t j = 0; j < T; j++) {
        attn_store(c->y + a.kb + ch * T + j, c->accumulate, c->p->scale * dk[ch * T + j]);
        attn_store(c->y + a.vb + ch * T + j, c->accumulate, dv[ch * T + j]);
      }
  }
}
/* in: qkv, O, P, dO; out: dqkv */
void ldm_cpu_attention_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_attention_backward);
  ldm_pc_attention f = {p->B, p->heads, p->d, p->T, p->scale};
  attn_ctx c = {&f, p->accumulate, F(0), F(1), F(2), F(3), F(4), NULL};
  ldm_parallel_for((int64_t)p->B * p->heads, 1, attnb_heads, &c);
}
/* ================================================================= channel_copy (concat / split) */
typedef struct {
  const ldm_pc_channel_copy *p;
  const float *x;
  float *o;
  uint32_t Cw; /* channels written per o */
} cc_ctx;
static void cc_rows(void *vc, int64_t r0, int64_t r1) {
  const cc_ctx *c = vc;
  const ldm_pc_channel_copy *p = c->p;
  const int64_t I = p->I;
  for (int64_t r = r0; r < r1; r++) {
    int64_t o = r / c->Cw, ch = r % c->Cw;
    int64_t dc = p->zero_rest ? ch : p->d0 + ch;
    float *dst = c->o + (o * p->Co + dc) * I;
    if (dc < p->d0 || dc >= (int64_t)p->d0 + p->Cn) {
      memset(dst, 0, (size_t)I * 4);
      continue;
    }
    const float *src = c->x + (o * p->Cx + p->c0 + dc - p->d0) * I;
    if (p->accumulate)
      for (int64_t i = 0; i < I; i++) dst[i] += src[i];
    else
      memcpy(dst, src, (size_t)I * 4);
  }
}
static void cc_job(const ldm_pc_channel_copy *p, const float *x, float *o) {
  cc_ctx c = {p, x, o, p->zero_rest ? p->Co : p->Cn};
  ldm_parallel_for((int64_t)p->O * c.Cw, 1 + 16384 / p->I, cc_rows, &c);
}
void ldm_cpu_channel_copy(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  cc_job((const ldm_pc_channel_copy *)n->pc, F(0), F(1));
}
/* ================================================================= channel_copy_multi */
/* the jobs one after the other, each as its channel_copy node (they touch disjoint elements) */
void ldm_cpu_channel_copy_multi(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_channel_copy_multi);
  for (uint32_t k = 0; k < p->njobs && k < LDM_COPY_MULTI_MAX; k++) {
    ldm_pc_channel_copy job;
    ldm_copy_multi_job(p, (int)k, &job);
    cc_job(&job, F(k), F(p->njobs + k));
  }
}
/* ================================================================= embedding */
/* an index outside the table gives a zero row (and no gradient) instead of reading out of bounds */
void ldm_cpu_embedding(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_embedding);
  const float *t = F(0);
  const uint32_t *idx = U(1);
  float *o = F(2);
  for (uint32_t b = 0; b < p->B; b++) {
    if (idx[b] < p->V)
      memcpy(o + (size_t)b * p->D, t + (size_t)idx[b] * p->D, (size_t)p->D * 4);
    else
      memset(o + (size_t)b * p->D, 0, (size_t)p->D * 4);
  }
}
/* dtable[v] (+)= sum over b with idx[b] == v of dy[b], b in increasing order (as the shader) */
typedef struct {
  const ldm_pc_embedding_backward *p;
  const uint32_t *idx;
  const float *dy;
  float *dt;
} embb_ctx;
static void embb_rows(void *vc, int64_t v0, int64_t v1) {
  const embb_ctx *c = vc;
  const ldm_pc_embedding_backward *p = c->p;
  const int64_t D = p->D;
  for (int64_t v = v0; v < v1; v++) {
    float *row = c->dt + v * D;
    float tmp[256];
    for (int64_t d0 = 0; d0 < D; d0 += 256) {
      int64_t nd = D - d0 < 256 ? D - d0 : 256;
      for (int64_t d = 0; d < nd; d++) tmp[d] = 0.0f;
      for (uint32_t b = 0; b < p->B; b++) {
        if (c->idx[b] != (uint32_t)v) continue;
        const float *src = c->dy + (int64_t)b * D + d0;
        for (int64_t d = 0; d < nd; d++) tmp[d] += src[d];
      }
      for (int64_t d = 0; d < nd; d++) row[d0 + d] = p->accumulate ? row[d0 + d] + tmp[d] : tmp[d];
    }
  }
}
void ldm_cpu_embedding_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  embb_ctx c = {(const ldm_pc_embedding_backward *)n->pc, U(0), F(1), F(2)};
  ldm_parallel_for(c.p->V, 1, embb_rows, &c);
}
/* ================================================================= timestep_embedding */
/* The reference twin computes f = exp(-ln(10000) * k / half) and t * f in fp32 (torch float32), then
 * cos and sin of that fp32 argument; we evaluate cos/sin of the fp32 argument in double. */
void ldm_cpu_timestep_embedding(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_timestep_embedding);
  const uint32_t *t = U(0);
  float *o = F(1);
  const uint32_t H = p->half;
  for (uint32_t k = 0; k < H; k++) {
    float v = p->neg_log_base * (float)k;
    v = v / (float)H;
    float f = expf(v);
    for (uint32_t b = 0; b < p->B; b++) {
      float a = (float)t[b] * f;
      o[(size_t)b * 2 * H + k] = (float)cos((double)a);
      o[(size_t)b * 2 * H + H + k] = (float)sin((double)a);
    }
  }
}
