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
/* ================================================================= sampler step (DDIM / DDPM) */
/* x_prev = c_x0 x0_hat + c_xt x_t + c_eps eps_hat + sigma noise.
 * DDIM (Song et al. 2021): sigma = eta sqrt((1-ap)/(1-at)) sqrt(1 - at/ap), c_x0 = sqrt(ap),
 *   c_eps = sqrt(1 - ap - sigma^2).
 * DDPM ancestral (Ho et al. 2020): the posterior q(x_prev | x_t, x0_hat) with beta = 1 - at/ap, so strided
 *   timesteps work too: c_x0 = sqrt(ap) beta / (1-at), c_xt = sqrt(at/ap) (1-ap) / (1-at),
 *   sigma^2 = beta (1-ap) / (1-at). Radicands are clamped at 0 (tables that are not decreasing). */
void ldm_sampler_coefs_make(float at, float ap, int kind, float eta, ldm_sampler_coefs *c) {
  float om = fmaxf(1.0f - at, 1e-20f), apc = fmaxf(ap, 1e-20f);
  c->sa = sqrtf(at);
  c->s1a = sqrtf(1.0f - at);
  if (kind == LDM_SAMPLER_DDPM) {
    float alpha = at / apc, beta = 1.0f - alpha;
    c->c_x0 = sqrtf(ap) * beta / om;
    c->c_xt = sqrtf(alpha) * (1.0f - ap) / om;
    c->c_eps = 0.0f;
    c->sigma = sqrtf(fmaxf(beta * (1.0f - ap) / om, 0.0f));
  } else {
    c->sigma = eta * sqrtf(fmaxf((1.0f - ap) / om * (1.0f - at / apc), 0.0f));
    c->c_x0 = sqrtf(ap);
    c->c_xt = 0.0f;
    c->c_eps = sqrtf(fmaxf(1.0f - ap - c->sigma * c->sigma, 0.0f));
  }
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
static void rg_grad_norm_partial(void *vc, int64_t g0, int64_t g1) {
  const gn_ctx *c = vc;
  const uint64_t n = c->p->n, G = c->p->groups, stride = G * LDM_GN_LOCAL;
  for (int64_t gi = g0; gi < g1; gi++) {
    double s = 0;
    bool bad = false;
    for (uint64_t b = (uint64_t)gi * LDM_GN_LOCAL; b < n; b += stride) {
      uint64_t e = b + LDM_GN_LOCAL < n ? b + LDM_GN_LOCAL : n;
      for (uint64_t i = b; i < e; i++) {
        float v = c->x[i];
        s += (double)v * v;
        bad |= nonfinite(v);
      }
    }
    c->out[gi] = (float)s;
    c->out[G + gi] = bad ? 1.0f : 0.0f;
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
