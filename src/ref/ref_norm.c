/* Reference of the normalisation / attention / embedding op family (ops/norm.h). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/norm.h"
#include "ref/ref.h"
#include "ref/ref_util.h"

/* x [N, C, S] in G groups of C/G channels; per (n, group): mean, var (biased, two passes),
 * rstd = 1 / sqrt(var + eps); h = (x - mean) rstd gamma[c] + beta[c]; y = h, or silu(h) (group_norm_silu).
 * in: x, gamma, beta; out: y, mean [N G], rstd [N G] */
static void ref_gn(const ldm_pc_group_norm *p, void *const *buf, bool silu) {
  const float *x = RF(0), *gamma = RF(1), *beta = RF(2);
  float *y = RF(3), *mean = RF(4), *rstd = RF(5);
  const uint64_t S = p->S, cg = p->C / p->G, M = cg * S;
  for (uint64_t ng = 0; ng < (uint64_t)p->N * p->G; ng++) {
    const float *xs = x + ng * M;
    double mu = 0, var = 0;
    for (uint64_t i = 0; i < M; i++) mu += xs[i];
    mu /= (double)M;
    for (uint64_t i = 0; i < M; i++) var += (xs[i] - mu) * (xs[i] - mu);
    var /= (double)M;
    double r = 1.0 / sqrt(var + p->eps);
    uint64_t c0 = (ng % p->G) * cg;
    for (uint64_t c = 0; c < cg; c++)
      for (uint64_t s = 0; s < S; s++) {
        uint64_t i = c * S + s;
        double h = (xs[i] - mu) * r * gamma[c0 + c] + beta[c0 + c];
        y[ng * M + i] = (float)(silu ? ldm_ref_act_silu(h) : h);
      }
    mean[ng] = (float)mu;
    rstd[ng] = (float)r;
  }
}
void ldm_ref_group_norm(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_group_norm);
  ref_gn(p, buf, false);
}
void ldm_ref_group_norm_silu(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_group_norm);
  ref_gn(p, buf, true);
}

/* From the saved mean / rstd: xhat = (x - mean) rstd; the gradient at the norm's output d = dy, or
 * (group_norm_silu_backward, beta != NULL) d = silu'(h) dy with h = xhat gamma + beta; per (n, c):
 * pg = sum_s d xhat, pb = sum_s d; per group (M = C/G S elements): a = sum_c gamma pb / M,
 * b = sum_c gamma pg / M; dx (+)= rstd (gamma d - a - xhat b) when want_dx.
 * in: x, gamma, mean, rstd, dy[, beta]; out: dx, pg [N C], pb [N C] */
/* the gradient d at the norm's output of element i, channel c */
static double ref_gnb_d(const float *const *in, const float *beta, double m, double r, uint64_t i, uint64_t c) {
  const float *x = in[0], *gamma = in[1], *dy = in[4];
  return beta ? ldm_ref_act_silu_backward((x[i] - m) * r * gamma[c] + beta[c], dy[i]) : (double)dy[i];
}
static void ref_gnb(const ldm_pc_group_norm_backward *p, const float *const *in, const float *beta, float *dx,
                    float *pg, float *pb) {
  const float *x = in[0], *gamma = in[1], *mean = in[2], *rstd = in[3];
  const uint64_t S = p->S, C = p->C, cg = C / p->G, M = cg * S;
  for (uint64_t ng = 0; ng < (uint64_t)p->N * p->G; ng++) {
    uint64_t nn = ng / p->G, c0 = (ng % p->G) * cg;
    double m = mean[ng], r = rstd[ng], A = 0, B = 0;
    for (uint64_t c = 0; c < cg; c++) {
      double s1 = 0, s2 = 0;
      for (uint64_t s = 0; s < S; s++) {
        uint64_t i = ng * M + c * S + s;
        double d = ref_gnb_d(in, beta, m, r, i, c0 + c);
        s1 += d * ((x[i] - m) * r);
        s2 += d;
      }
      pg[nn * C + c0 + c] = (float)s1;
      pb[nn * C + c0 + c] = (float)s2;
      A += gamma[c0 + c] * s2;
      B += gamma[c0 + c] * s1;
    }
    if (!p->want_dx) continue;
    for (uint64_t c = 0; c < cg; c++)
      for (uint64_t s = 0; s < S; s++) {
        uint64_t i = ng * M + c * S + s;
        double xh = (x[i] - m) * r;
        ref_store(&dx[i], p->accumulate, r * (gamma[c0 + c] * ref_gnb_d(in, beta, m, r, i, c0 + c) - A / (double)M - xh * B / (double)M));
      }
  }
}
void ldm_ref_group_norm_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_group_norm_backward);
  ref_gnb(p, (const float *const[]){RF(0), RF(1), RF(2), RF(3), RF(4)}, NULL, RF(5), RF(6), RF(7));
}
void ldm_ref_group_norm_silu_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_group_norm_backward);
  ref_gnb(p, (const float *const[]){RF(0), RF(1), RF(2), RF(3), RF(4)}, RF(5), RF(6), RF(7), RF(8));
}

/* per row of x [rows, cols]: y = exp(x - max) / sum exp(x - max) */
void ldm_ref_softmax(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_softmax);
  for (uint64_t r = 0; r < p->rows; r++) {
    const float *x = RF(0) + r * p->cols;
    float *y = RF(1) + r * p->cols;
    double mx = x[0], s = 0;
    for (uint32_t j = 1; j < p->cols; j++) mx = x[j] > mx ? x[j] : mx;
    for (uint32_t j = 0; j < p->cols; j++) s += exp(x[j] - mx);
    for (uint32_t j = 0; j < p->cols; j++) y[j] = (float)(exp(x[j] - mx) / s);
  }
}

/* per row: dx (+)= y (dy - sum_j dy_j y_j). in: y, dy */
void ldm_ref_softmax_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_softmax_backward);
  for (uint64_t r = 0; r < p->rows; r++) {
    const float *y = RF(0) + r * p->cols, *dy = RF(1) + r * p->cols;
    float *dx = RF(2) + r * p->cols;
    double s = 0;
    for (uint32_t j = 0; j < p->cols; j++) s += (double)dy[j] * y[j];
    for (uint32_t j = 0; j < p->cols; j++) ref_store(&dx[j], p->accumulate, y[j] * (dy[j] - s));
  }
}

/* x [O, Cx, I] -> out [O, Co, I]: out[o][d0 + c][i] (+)= x[o][c0 + c][i] for c < Cn; zero_rest: every
 * other channel of out is set to 0 */
void ldm_ref_channel_copy(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_channel_copy);
  const float *x = RF(0);
  float *out = RF(1);
  for (uint64_t o = 0; o < p->O; o++)
    for (uint64_t d = 0; d < p->Co; d++) {
      bool in_slice = d >= p->d0 && d < (uint64_t)p->d0 + p->Cn;
      if (!in_slice && !p->zero_rest) continue;
      for (uint64_t i = 0; i < p->I; i++) {
        float *dst = &out[(o * p->Co + d) * p->I + i];
        if (!in_slice) *dst = 0.0f;
        else ref_store(dst, p->accumulate, x[(o * p->Cx + p->c0 + d - p->d0) * p->I + i]);
      }
    }
}

/* one channel copy: as ldm_ref_channel_copy */
static void ref_copy(const float *x, float *out, uint64_t O, uint64_t I, uint64_t Cx, uint64_t Co, uint64_t c0,
                     uint64_t d0, uint64_t Cn, uint32_t acc, uint32_t zero_rest) {
  for (uint64_t o = 0; o < O; o++)
    for (uint64_t d = 0; d < Co; d++) {
      bool in_slice = d >= d0 && d < d0 + Cn;
      if (!in_slice && !zero_rest) continue;
      for (uint64_t i = 0; i < I; i++) {
        float *dst = &out[(o * Co + d) * I + i];
        if (!in_slice) *dst = 0.0f;
        else ref_store(dst, acc, x[(o * Cx + c0 + d - d0) * I + i]);
      }
    }
}
/* job k: input k -> output njobs + k, the copy of O, I and its block (Cx_k, Co_k, src_k = c0, dst_k = d0,
 * Cn_k, acc_k, zero_k) read from the manifest's field names */
void ldm_ref_channel_copy_multi(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_channel_copy_multi);
  const uint32_t Cx[4] = {p->Cx0, p->Cx1, p->Cx2, p->Cx3}, Co[4] = {p->Co0, p->Co1, p->Co2, p->Co3};
  const uint32_t c0[4] = {p->src0, p->src1, p->src2, p->src3}, d0[4] = {p->dst0, p->dst1, p->dst2, p->dst3};
  const uint32_t Cn[4] = {p->Cn0, p->Cn1, p->Cn2, p->Cn3}, acc[4] = {p->acc0, p->acc1, p->acc2, p->acc3};
  const uint32_t zr[4] = {p->zero0, p->zero1, p->zero2, p->zero3};
  for (uint32_t k = 0; k < p->njobs && k < 4; k++)
    ref_copy(RF(k), RF(p->njobs + k), p->O, p->I, Cx[k], Co[k], c0[k], d0[k], Cn[k], acc[k], zr[k]);
}

/* out[b] = table[idx[b]] (a zero row for idx[b] >= V). in: table [V, D], idx [B] u32; out [B, D] */
void ldm_ref_embedding(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_embedding);
  for (uint64_t b = 0; b < p->B; b++) {
    uint32_t v = RU(1)[b];
    for (uint64_t d = 0; d < p->D; d++) RF(2)[b * p->D + d] = v < p->V ? RF(0)[(uint64_t)v * p->D + d] : 0.0f;
  }
}

/* dtable[v] (+)= sum over b with idx[b] == v of dy[b] (out-of-range indices contribute nothing).
 * in: idx [B] u32, dy [B, D]; out: dtable [V, D] */
void ldm_ref_embedding_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_embedding_backward);
  for (uint64_t v = 0; v < p->V; v++)
    for (uint64_t d = 0; d < p->D; d++) {
      double s = 0;
      for (uint64_t b = 0; b < p->B; b++)
        if (RU(0)[b] == v) s += RF(1)[b * p->D + d];
      ref_store(&RF(2)[v * p->D + d], p->accumulate, s);
    }
}

/* out[b][k] = cos(t_b f_k), out[b][half + k] = sin(t_b f_k), f_k = exp(neg_log_base k / half), with the
 * exponent, f_k and the argument t_b f_k in fp32 as the definition (torch float32) has them; cos and sin
 * of that fp32 argument in double. in: t [B] u32; out [B, 2 half] */
void ldm_ref_timestep_embedding(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_timestep_embedding);
  const uint64_t H = p->half;
  for (uint64_t b = 0; b < p->B; b++)
    for (uint64_t k = 0; k < H; k++) {
      float e = p->neg_log_base * (float)k;
      e = e / (float)H;
      float f = (float)exp((double)e);
      float a = (float)RU(0)[b] * f;
      RF(1)[b * 2 * H + k] = (float)cos((double)a);
      RF(1)[b * 2 * H + H + k] = (float)sin((double)a);
    }
}

/* double scratch of the attention references; like every kernel, a node cannot report an error, so running
 * out of host memory is fatal */
static double *ref_doubles(size_t n) {
  double *b = malloc(n * sizeof *b);
  if (!b) {
    fprintf(stderr, "ldm-vk: out of host memory in the attention reference\n");
    abort();
  }
  return b;
}

/* per head bh = b * heads + h of qkv [B, 3C, T] (q, k, v the channel thirds; head h: channels h*d ..):
 * s_ij = scale sum_c q[c][i] k[c][j], P_ij = softmax_j(s_i), O[c][i] = sum_j v[c][j] P_ij, in double.
 * in: qkv; out: O [B, C, T], P [B*heads, T, T] */
void ldm_ref_attention(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_attention);
  const float *x = RF(0);
  float *o = RF(1), *pr = RF(2);
  const uint64_t T = p->T, d = p->d, C = (uint64_t)p->heads * d;
  double *s = ref_doubles(T);
  for (uint64_t bh = 0; bh < (uint64_t)p->B * p->heads; bh++) {
    uint64_t b = bh / p->heads, h = bh % p->heads;
    const float *q = x + (b * 3 * C + h * d) * T, *k = q + C * T, *v = k + C * T;
    float *ob = o + (b * C + h * d) * T, *P = pr + bh * T * T;
    for (uint64_t i = 0; i < T; i++) {
      double mx = -INFINITY, l = 0;
      for (uint64_t j = 0; j < T; j++) {
        s[j] = 0;
        for (uint64_t c = 0; c < d; c++) s[j] += (double)q[c * T + i] * k[c * T + j];
        s[j] *= p->scale;
        mx = s[j] > mx ? s[j] : mx;
      }
      for (uint64_t j = 0; j < T; j++) l += exp(s[j] - mx);
      for (uint64_t j = 0; j < T; j++) s[j] = exp(s[j] - mx) / l;
      for (uint64_t j = 0; j < T; j++) P[i * T + j] = (float)s[j];
      for (uint64_t c = 0; c < d; c++) {
        double acc = 0;
        for (uint64_t j = 0; j < T; j++) acc += (double)v[c * T + j] * s[j];
        ob[c * T + i] = (float)acc;
      }
    }
  }
  free(s);
}

/* D_i = sum_c dO[c][i] O[c][i], dS_ij = P_ij (sum_c dO[c][i] v[c][j] - D_i); dq[c][i] (+)= scale sum_j dS_ij
 * k[c][j], dk[c][j] (+)= scale sum_i dS_ij q[c][i], dv[c][j] (+)= sum_i dO[c][i] P_ij, in double.
 * in: qkv, O, P, dO; out: dqkv */
void ldm_ref_attention_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_attention_backward);
  const float *x = RF(0), *o = RF(1), *pr = RF(2), *go = RF(3);
  float *dx = RF(4);
  const uint64_t T = p->T, d = p->d, C = (uint64_t)p->heads * d;
  double *D = ref_doubles(T + T * T), *dS = D + T; /* dS[i * T + j] */
  for (uint64_t bh = 0; bh < (uint64_t)p->B * p->heads; bh++) {
    uint64_t b = bh / p->heads, h = bh % p->heads, qo = (b * 3 * C + h * d) * T;
    const float *q = x + qo, *k = q + C * T, *v = k + C * T, *P = pr + bh * T * T;
    const float *ob = o + (b * C + h * d) * T, *gb = go + (b * C + h * d) * T;
    float *dq = dx + qo, *dk = dq + C * T, *dv = dk + C * T;
    for (uint64_t i = 0; i < T; i++) {
      D[i] = 0;
      for (uint64_t c = 0; c < d; c++) D[i] += (double)gb[c * T + i] * ob[c * T + i];
    }
    for (uint64_t i = 0; i < T; i++)
      for (uint64_t j = 0; j < T; j++) {
        double dp = 0;
        for (uint64_t c = 0; c < d; c++) dp += (double)gb[c * T + i] * v[c * T + j];
        dS[i * T + j] = P[i * T + j] * (dp - D[i]);
      }
    for (uint64_t c = 0; c < d; c++)
      for (uint64_t t = 0; t < T; t++) {
        double aq = 0, ak = 0, av = 0;
        for (uint64_t u = 0; u < T; u++) {
          aq += dS[t * T + u] * k[c * T + u];
          ak += dS[u * T + t] * q[c * T + u];
          av += (double)gb[c * T + u] * P[u * T + t];
        }
        ref_store(&dq[c * T + t], p->accumulate, p->scale * aq);
        ref_store(&dk[c * T + t], p->accumulate, p->scale * ak);
        ref_store(&dv[c * T + t], p->accumulate, av);
      }
  }
  free(D);
}
