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
#define EW_CHUNK 16384 /* elements per parallel chunk of the elementwise CPU twins */
#define FINAL_STEP 0xffffffffu
#define EW_RUN(fn, count)                                                                          \
  do {                                                                                             \
    ew_ctx c_ = {n, buf};                                                                          \
    ldm_parallel_for((int64_t)(count), EW_CHUNK, fn, &c_);                                         \
  } while (0)
#define EW_BEGIN(type)                                                                             \
  const ew_ctx *c_ = vc;                                                                           \
  const ldm_node *n = c_->n;                                                                       \
  void *const *buf = c_->buf;                                                                      \
  PC(type)

static inline uint32_t tidx(uint32_t t, uint32_t T) { return t < T ? t : T - 1; } /* out-of-range t: last */
static inline float step_f(const uint32_t *st, int w) {
  float f;
  memcpy(&f, &st[w], 4);
  return f;
}

/* Elementwise CPU twins run as parallel chunks over the output: ctx + range function per op. */
typedef struct {
  const ldm_node *n;
  void *const *buf;
} ew_ctx;
static void rg_reparam(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_reparam);
  (void)p;
  const float *mu = F(0), *lv = F(1), *e = F(2);
  float *z = F(3);
  for (int64_t i = i0; i < i1; i++) z[i] = mu[i] + expf(0.5f * lv[i]) * e[i];
}
void ldm_cpu_reparam(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_reparam, ((const ldm_pc_reparam *)n->pc)->n);
}
static void rg_reparam_backward(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_reparam_backward);
  const float *lv = F(0), *e = F(1), *dz = F(2);
  float *dmu = F(3), *dlv = F(4);
  for (int64_t i = i0; i < i1; i++) {
    if (p->want_mu) dmu[i] = p->acc_mu ? dmu[i] + dz[i] : dz[i];
    if (p->want_lv) {
      float d = dz[i] * 0.5f * expf(0.5f * lv[i]) * e[i];
      dlv[i] = p->acc_lv ? dlv[i] + d : d;
    }
  }
}
void ldm_cpu_reparam_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_reparam_backward, ((const ldm_pc_reparam_backward *)n->pc)->n);
}
/* ================================================================= clamp */
static void rg_clamp(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_clamp);
  const float *x = F(0);
  float *y = F(1);
  /* comparisons, not fminf/fmaxf: a NaN passes through as in torch.clamp */
  for (int64_t i = i0; i < i1; i++) y[i] = x[i] < p->lo ? p->lo : x[i] > p->hi ? p->hi : x[i];
}
void ldm_cpu_clamp(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_clamp, ((const ldm_pc_clamp *)n->pc)->n);
}
static void rg_clamp_backward(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_clamp_backward);
  const float *x = F(0), *dy = F(1);
  float *dx = F(2);
  for (int64_t i = i0; i < i1; i++) {
    float d = (x[i] >= p->lo && x[i] <= p->hi) ? dy[i] : 0.0f; /* torch.clamp: bounds included */
    dx[i] = p->accumulate ? dx[i] + d : d;
  }
}
void ldm_cpu_clamp_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_clamp_backward, ((const ldm_pc_clamp_backward *)n->pc)->n);
}
/* ================================================================= KL loss */
void ldm_cpu_kl_loss(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_kl_loss);
  const float *mu = F(0), *lv = F(1);
  double s = 0;
  for (uint32_t i = 0; i < p->n; i++) s += mu[i] * mu[i] + expf(lv[i]) - 1.0f - lv[i];
  F(2)[0] = (float)(s * p->scale);
}
static void rg_kl_loss_backward(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_kl_loss_backward);
  const float *mu = F(0), *lv = F(1);
  float s = p->inv_batch * F(2)[0];
  float *dmu = F(3), *dlv = F(4);
  for (int64_t i = i0; i < i1; i++) {
    if (p->want_mu) {
      float d = s * mu[i];
      dmu[i] = p->acc_mu ? dmu[i] + d : d;
    }
    if (p->want_lv) {
      float d = s * 0.5f * (expf(lv[i]) - 1.0f);
      dlv[i] = p->acc_lv ? dlv[i] + d : d;
    }
  }
}
void ldm_cpu_kl_loss_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_kl_loss_backward, ((const ldm_pc_kl_loss_backward *)n->pc)->n);
}
/* ================================================================= q_sample / v_target */
/* coefficients of (x0, noise): q_sample (sqrt a, sqrt(1-a)); v_target (-sqrt(1-a), sqrt a) */
static inline void qs_coef(const float *abar, const uint32_t *t, uint32_t T, int64_t b, int v, float *c0, float *cn) {
  float a = abar[tidx(t[b], T)];
  float sa = sqrtf(a), s1a = sqrtf(1.0f - a);
  *c0 = v ? -s1a : sa;
  *cn = v ? sa : s1a;
}
static void qs_rows(const ldm_pc_q_sample *p, void *const *buf, int v, int64_t i0, int64_t i1) {
  const float *x0 = F(0), *ns = F(1), *abar = F(2);
  const uint32_t *t = U(3);
  float *o = F(4);
  for (int64_t i = i0; i < i1;) {
    int64_t b = i / p->per, e = (b + 1) * (int64_t)p->per;
    if (e > i1) e = i1;
    float c0, cn;
    qs_coef(abar, t, p->T, b, v, &c0, &cn);
    for (; i < e; i++) o[i] = c0 * x0[i] + cn * ns[i];
  }
}
static void rg_q_sample(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_q_sample);
  qs_rows(p, buf, 0, i0, i1);
}
static void rg_v_target(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_q_sample);
  qs_rows(p, buf, 1, i0, i1);
}
void ldm_cpu_q_sample(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_q_sample, ((const ldm_pc_q_sample *)n->pc)->n);
}
void ldm_cpu_v_target(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_v_target, ((const ldm_pc_q_sample *)n->pc)->n);
}
static void rg_q_sample_backward(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_q_sample_backward);
  const float *abar = F(0), *dy = F(2);
  const uint32_t *t = U(1);
  float *d0 = F(3), *dn = F(4);
  for (int64_t i = i0; i < i1;) {
    int64_t b = i / p->per, e = (b + 1) * (int64_t)p->per;
    if (e > i1) e = i1;
    float c0, cn;
    qs_coef(abar, t, p->T, b, (int)p->v_target, &c0, &cn);
    for (; i < e; i++) {
      if (p->want_x0) d0[i] = p->acc_x0 ? d0[i] + c0 * dy[i] : c0 * dy[i];
      if (p->want_noise) dn[i] = p->acc_noise ? dn[i] + cn * dy[i] : cn * dy[i];
    }
  }
}
void ldm_cpu_q_sample_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_q_sample_backward, ((const ldm_pc_q_sample_backward *)n->pc)->n);
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
static void rg_weighted_mse_backward(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_weighted_mse_backward);
  const float *a = F(0), *b = F(1), *w = F(2);
  float s = p->scale * F(3)[0];
  float *o = F(4);
  for (int64_t i = i0; i < i1;) {
    int64_t bb = i / p->per, e = (bb + 1) * (int64_t)p->per;
    if (e > i1) e = i1;
    float sw = s * w[bb];
    for (; i < e; i++) {
      float d = sw * (a[i] - b[i]);
      o[i] = p->accumulate ? o[i] + d : d;
    }
  }
}
void ldm_cpu_weighted_mse_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_weighted_mse_backward, ((const ldm_pc_weighted_mse_backward *)n->pc)->n);
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
    float a = abar[tidx(t[b], p->T)], om = 1.0f - a;
    if (p->v_pred) w[b] = fminf(a, p->gamma * om);
    else w[b] = a > 0.0f ? fminf(1.0f, p->gamma * om / a) : 1.0f;
  }
}
/* ================================================================= classifier-free guidance */
static void rg_cfg_combine(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_cfg_combine);
  const float *c = F(0), *u = F(0) + p->n;
  float *o = F(1);
  for (int64_t i = i0; i < i1; i++) o[i] = u[i] + p->scale * (c[i] - u[i]);
}
void ldm_cpu_cfg_combine(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_cfg_combine, ((const ldm_pc_cfg_combine *)n->pc)->n);
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
typedef struct {
  const ldm_pc_sampler_step *p;
  const float *x, *m, *ns;
  float *o;
  ldm_sampler_coefs c;
} sampler_ctx;
static void rg_sampler_step(void *vc, int64_t i0, int64_t i1) {
  const sampler_ctx *s = vc;
  const ldm_sampler_coefs c = s->c;
  bool v = s->p->v_pred != 0;
  for (int64_t i = i0; i < i1; i++) {
    float xt = s->x[i], m = s->m[i];
    float x0 = v ? c.sa * xt - c.s1a * m : (xt - c.s1a * m) / c.sa;
    float eps = v ? c.s1a * xt + c.sa * m : m;
    s->o[i] = c.c_x0 * x0 + c.c_xt * xt + c.c_eps * eps + c.sigma * s->ns[i];
  }
}
void ldm_cpu_sampler_step(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_sampler_step);
  const float *abar = F(2);
  const uint32_t *st = U(4);
  uint32_t t = st[LDM_STEP_USER], tp = st[LDM_STEP_USER + 1];
  float at = abar[tidx(t, p->T)], ap = tp == FINAL_STEP ? 1.0f : abar[tidx(tp, p->T)];
  sampler_ctx s = {.p = p, .x = F(0), .m = F(1), .ns = F(3), .o = F(5)};
  ldm_sampler_coefs_make(at, ap, (int)p->kind, p->eta, &s.c);
  ldm_parallel_for(p->n, EW_CHUNK, rg_sampler_step, &s);
}
/* ================================================================= EMA */
static void rg_ema(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_ema);
  (void)p;
  const float *w = F(0);
  float d = step_f(U(1), LDM_STEP_EMA), od = 1.0f - d;
  float *e = F(2);
  if (U(1)[LDM_STEP_ACCUM_ONLY] != 0) return;
  for (int64_t i = i0; i < i1; i++) e[i] = d * e[i] + od * w[i];
}
void ldm_cpu_ema(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_ema, ((const ldm_pc_ema *)n->pc)->n);
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
  float ls = step_f(st, LDM_STEP_LOSS_SCALE), ia = step_f(st, LDM_STEP_INV_ACCUM),
        clip = step_f(st, LDM_STEP_GRAD_CLIP);
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
    uint64_t r = tidx(c->idx[b], c->p->V);
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
