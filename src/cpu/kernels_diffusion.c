/* CPU twins of the diffusion op family (reparameterisation, clamp, KL, q_sample / v target, weighted
 * MSE, min-SNR weights, CFG, the sampler step, EMA, grad-norm clipping, AdamW with clip state,
 * randint, label dropout, row gathers): the reference and the production CPU backend, named
 * ldm_cpu_<op> (cpu/kernels.h). Graph builders, autodiff and the op table entries:
 * src/ops/diffusion.c; launch plans: src/vk/plan.c. */
#include "cpu/kernels.h"

#include <math.h>
#include <string.h>

#include "cpu/pool.h"
#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "ops/diffusion.h"

#define F(i) ((float *)buf[i])
#define U(i) ((uint32_t *)buf[i])
#define PC(type) const type *p = (const type *)n->pc
#define EW_CHUNK 16384 /* elements per parallel chunk */

/* reparam, clamp, q_sample / v_target, CFG, EMA, the sampler step and the KL and weighted-MSE backward
 * are elementwise: kernels_elementwise.c */

/* ================================================================= KL loss */
void ldm_cpu_kl_loss(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_kl_loss);
  const float *mu = F(0), *lv = F(1);
  double s = 0;
  for (uint32_t i = 0; i < p->n; i++) s += mu[i] * mu[i] + expf(lv[i]) - 1.0f - lv[i];
  F(2)[0] = (float)(s * p->scale);
}
/* ================================================================= weighted MSE */
void ldm_cpu_weighted_mse(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_weighted_mse);
  const float *a = F(0), *b = F(1), *w = F(2);
  double s = 0;
  for (uint32_t bb = 0, i = 0; i < p->n; bb++) {
    double r = 0;
    for (uint32_t e = i + p->per; i < e; i++) {
      float d = a[i] - b[i];
      r += d * d;
    }
    s += r * w[bb];
  }
  F(3)[0] = (float)(s * p->inv_n);
}
/* ================================================================= min-SNR-gamma weights */
/* snr = a / (1 - a). eps: min(snr, g) / snr = min(1, g (1 - a) / a) (1 at a = 0: zero terminal SNR);
 * v: min(snr, g) / (snr + 1) = min(a, g (1 - a)). No division by zero anywhere. */
void ldm_cpu_min_snr_weight(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_min_snr_weight);
  const float *abar = F(0);
  const uint32_t *t = U(1);
  float *w = F(2);
  for (uint32_t b = 0; b < p->B; b++) {
    float a = abar[cpu_tidx(t[b], p->T)], om = 1.0f - a;
    if (p->v_pred) w[b] = fminf(a, p->gamma * om);
    else w[b] = a > 0.0f ? fminf(1.0f, p->gamma * om / a) : 1.0f;
  }
}
/* ================================================================= guidance rescale */
/* out_b = phi g_b std(cond_b) / std(g_b) + (1 - phi) g_b (shaders/cfg_rescale.comp: float sums in element
 * order, two passes; std(g) = 0 leaves g) */
typedef struct {
  const ldm_pc_cfg_rescale *p;
  void *const *buf;
} rescale_ctx;
static void rg_cfg_rescale(void *vc, int64_t b0, int64_t b1) {
  const rescale_ctx *rc = vc;
  const ldm_pc_cfg_rescale *p = rc->p;
  void *const *buf = rc->buf;
  for (int64_t b = b0; b < b1; b++) {
    const float *cd = F(0) + b * p->per, *gd = F(1) + b * p->per;
    float *o = F(2) + b * p->per, n = (float)p->per, mc = 0.0f, mg = 0.0f, vc2 = 0.0f, vg = 0.0f;
    for (uint32_t j = 0; j < p->per; j++) {
      mc += cd[j];
      mg += gd[j];
    }
    mc /= n;
    mg /= n;
    for (uint32_t j = 0; j < p->per; j++) {
      float dc = cd[j] - mc, dg = gd[j] - mg;
      vc2 += dc * dc;
      vg += dg * dg;
    }
    float r = vg > 0.0f ? sqrtf(vc2 / vg) : 1.0f, f = p->phi * r + (1.0f - p->phi);
    for (uint32_t j = 0; j < p->per; j++) o[j] = f * gd[j];
  }
}
void ldm_cpu_cfg_rescale(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  rescale_ctx c = {(const ldm_pc_cfg_rescale *)n->pc, buf};
  ldm_parallel_for(c.p->B, 16, rg_cfg_rescale, &c);
}
/* ================================================================= analytic Gaussian-mixture denoiser */
/* shaders/gauss_mix_denoise.comp, the same steps in float */
typedef struct {
  const ldm_pc_gauss_mix_denoise *p;
  void *const *buf;
} gm_ctx;
static float gm_logp(const ldm_pc_gauss_mix_denoise *p, const float *x, const float *prm, uint32_t k, float a,
                     float s) {
  uint32_t row = p->d + 2;
  float q = a * a * prm[k * row + 1] + s * s, r2 = 0.0f;
  for (uint32_t j = 0; j < p->d; j++) {
    float e = x[j] - a * prm[k * row + 2 + j];
    r2 += e * e;
  }
  return logf(prm[k * row]) - 0.5f * (float)p->d * logf(q) - r2 / (2.0f * q);
}
static void rg_gauss_mix(void *vc, int64_t b0, int64_t b1) {
  const gm_ctx *gc = vc;
  const ldm_pc_gauss_mix_denoise *p = gc->p;
  void *const *buf = gc->buf;
  const float *prm = F(1), *c = F(2) + p->off;
  float a = c[0], s = c[1];
  uint32_t row = p->d + 2;
  for (int64_t b = b0; b < b1; b++) {
    const float *x = F(0) + b * p->d;
    float *o = F(3) + b * p->d, lmax = -3.0e38f, z = 0.0f;
    for (uint32_t k = 0; k < p->K; k++) lmax = fmaxf(lmax, gm_logp(p, x, prm, k, a, s));
    for (uint32_t k = 0; k < p->K; k++) z += expf(gm_logp(p, x, prm, k, a, s) - lmax);
    for (uint32_t j = 0; j < p->d; j++) {
      float x0 = 0.0f;
      for (uint32_t k = 0; k < p->K; k++) {
        float q = a * a * prm[k * row + 1] + s * s;
        float r = expf(gm_logp(p, x, prm, k, a, s) - lmax) / z, mu = prm[k * row + 2 + j];
        x0 += r * (mu + a * prm[k * row + 1] / q * (x[j] - a * mu));
      }
      float eps = s > 0.0f ? (x[j] - a * x0) / s : 0.0f;
      o[j] = p->pred == 0 ? eps : p->pred == 1 ? a * eps - s * x0 : x0;
    }
  }
}
void ldm_cpu_gauss_mix_denoise(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gm_ctx c = {(const ldm_pc_gauss_mix_denoise *)n->pc, buf};
  ldm_parallel_for(c.p->B, 64, rg_gauss_mix, &c);
}
/* ================================================================= global grad-norm clip */
static inline bool nonfinite(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  return (u & 0x7f800000u) == 0x7f800000u;
}
typedef struct {
  const ldm_pc_grad_norm_partial *p;
  const float *x;
  float *out;
} gn_ctx;
/* Group gi sums the squares of its blocks [gi L + k G L, + L) (L = LDM_GN_LOCAL) in order, in double. GN_LANES
 * neighbouring groups go side by side, one accumulator each (the same additions in the same order per
 * group, so the same bits), so that the adds of one chain do not wait on each other's latency. */
#define GN_LANES 8
static void rg_grad_norm_partial(void *vc, int64_t g0, int64_t g1) {
  const gn_ctx *c = vc;
  const uint64_t n = c->p->n, G = c->p->groups, L = LDM_GN_LOCAL, stride = G * L;
  for (int64_t q0 = g0; q0 < g1; q0 += GN_LANES) {
    int nl = g1 - q0 < GN_LANES ? (int)(g1 - q0) : GN_LANES;
    double s[GN_LANES] = {0};
    uint32_t bad[GN_LANES] = {0};
    for (uint64_t b = (uint64_t)q0 * L; b < n; b += stride) { /* lane j's block: b + j L */
      if (b + (uint64_t)nl * L <= n) { /* every lane's block whole */
        for (uint64_t i = 0; i < L; i++)
          for (int j = 0; j < nl; j++) {
            float v = c->x[b + (uint64_t)j * L + i];
            s[j] += (double)v * v;
            bad[j] |= nonfinite(v);
          }
      } else {
        for (int j = 0; j < nl; j++)
          for (uint64_t i = b + (uint64_t)j * L; i < b + (uint64_t)(j + 1) * L && i < n; i++) {
            float v = c->x[i];
            s[j] += (double)v * v;
            bad[j] |= nonfinite(v);
          }
      }
    }
    for (int j = 0; j < nl; j++) {
      c->out[q0 + j] = (float)s[j];
      c->out[G + q0 + j] = bad[j] ? 1.0f : 0.0f;
    }
  }
}
void ldm_cpu_grad_norm_partial(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gn_ctx c = {(const ldm_pc_grad_norm_partial *)n->pc, F(0), F(1)};
  ldm_parallel_for(c.p->groups, 8, rg_grad_norm_partial, &c);
}
void ldm_cpu_grad_norm_clip(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_grad_norm_clip);
  const float *part = F(0);
  const uint32_t *st = U(1);
  float *gs = F(2);
  double s = 0;
  float bad = 0;
  for (uint32_t i = 0; i < p->groups; i++) {
    s += part[i];
    bad = fmaxf(bad, part[p->groups + i]);
  }
  float ls = cpu_step_f(st, LDM_STEP_LOSS_SCALE), ia = cpu_step_f(st, LDM_STEP_INV_ACCUM),
        clip = cpu_step_f(st, LDM_STEP_GRAD_CLIP);
  float norm = sqrtf((float)s) * ia / ls;
  float coef = (clip > 0.0f && norm > clip) ? clip / norm : 1.0f;
  gs[0] = coef / ls * ia;
  gs[1] = bad;
  gs[2] = norm;
  gs[3] = coef;
}
/* ================================================================= Philox randint / label dropout */
static uint64_t rng_base(const uint32_t *st, uint32_t use_step) {
  return use_step ? ((uint64_t)st[LDM_STEP_RNG_HI] << 32) | st[LDM_STEP_RNG_LO] : 0;
}
/* lo + floor(r * range / 2^32): unbiased to 2^-32, the same integer arithmetic as the shader */
void ldm_cpu_randint(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_randint);
  uint64_t seed = ((uint64_t)p->seed_hi << 32) | p->seed_lo, stream = ((uint64_t)p->stream_hi << 32) | p->stream_lo;
  uint64_t base = rng_base(U(0), p->use_step);
  uint32_t *o = U(1);
  for (uint32_t b = 0; b < (p->n + 3) / 4; b++) {
    uint32_t r[4];
    ldm_rng_block(seed, stream, base, b, r);
    for (uint32_t k = 0; k < 4 && 4 * b + k < p->n; k++)
      o[4 * b + k] = p->lo + (uint32_t)(((uint64_t)r[k] * p->range) >> 32);
  }
}
/* dropped when the uniform (0,1) draw (24 bits, exact in float) is below p */
void ldm_cpu_label_dropout(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_label_dropout);
  uint64_t seed = ((uint64_t)p->seed_hi << 32) | p->seed_lo, stream = ((uint64_t)p->stream_hi << 32) | p->stream_lo;
  uint64_t base = rng_base(U(1), p->use_step);
  const uint32_t *lab = U(0);
  uint32_t *o = U(2);
  for (uint32_t b = 0; b < (p->n + 3) / 4; b++) {
    uint32_t r[4];
    ldm_rng_block(seed, stream, base, b, r);
    for (uint32_t k = 0; k < 4 && 4 * b + k < p->n; k++) {
      uint32_t i = 4 * b + k;
      o[i] = ldm_u32_to_unit(r[k]) < p->p ? p->null_class : lab[i];
    }
  }
}
/* ================================================================= gather rows */
typedef struct {
  const ldm_pc_gather_rows *p;
  const void *table;
  const uint32_t *idx;
  void *o;
  bool u8;
} gather_ctx;
/* out-of-range indices read the last row (no out-of-bounds access on either backend) */
static void rg_gather_rows(void *vc, int64_t b0, int64_t b1) {
  const gather_ctx *c = vc;
  const uint32_t row = c->p->row;
  for (int64_t b = b0; b < b1; b++) {
    uint64_t r = cpu_tidx(c->idx[b], c->p->V);
    uint32_t *o = (uint32_t *)c->o + b * (int64_t)row;
    if (c->u8) {
      const uint8_t *s = (const uint8_t *)c->table + r * row;
      float *of = (float *)o;
      for (uint32_t k = 0; k < row; k++) of[k] = (float)s[k] * c->p->scale + c->p->shift;
    } else {
      memcpy(o, (const uint32_t *)c->table + r * row, (size_t)row * 4); /* word copy, any 32-bit dtype */
    }
  }
}
void ldm_cpu_gather_rows(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_gather_rows);
  gather_ctx c = {p, buf[0], U(1), buf[2], g->t[n->in[0]].dtype == LDM_U8};
  ldm_parallel_for(p->B, 1 + EW_CHUNK / (p->row ? p->row : 1), rg_gather_rows, &c);
}
