/* The elementwise CPU twins: every op whose output element i depends only on element i of its inputs
 * (and on scalars: push constants, a loss gradient, a step-buffer word, a per-sample table entry). One
 * driver (ew_run) splits the element count, the first word of every such op's push constants, into
 * parallel chunks; each op contributes only its element function, written once with EW(op, pc type).
 * Each element is computed once, by the same expression, whatever the split: results do not depend on
 * the thread count. */
#include "cpu/kernels.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "cpu/fastmath.h"
#include "cpu/pool.h"
#include "ldm/ops.h"
#include "ldm/step.h"
#include "ops/basic.h"
#include "ops/diffusion.h"

#define F(i) ((float *)buf[i])
#define U(i) ((uint32_t *)buf[i])
#define EW_CHUNK 16384 /* elements per parallel chunk */
#define FINAL_STEP 0xffffffffu

/* elements [i0, i1) of a node, given its push constants and resolved buffers */
typedef void ew_fn(const void *pc, void *const *buf, int64_t i0, int64_t i1);
typedef struct {
  ew_fn *fn;
  const void *pc;
  void *const *buf;
} ew_ctx;
static void ew_chunk(void *vc, int64_t i0, int64_t i1) {
  const ew_ctx *c = vc;
  c->fn(c->pc, c->buf, i0, i1);
}
static void ew_run(const ldm_node *n, void *const *buf, ew_fn *fn) {
  uint32_t count; /* every elementwise op's push-constant block starts with `uint n` */
  memcpy(&count, n->pc, sizeof count);
  ew_ctx c = {fn, n->pc, buf};
  ldm_parallel_for(count, EW_CHUNK, ew_chunk, &c);
}
/* EW(op, type) { body }: the element function of op over i in [i0, i1), p = its push constants (type),
 * and the twin ldm_cpu_<op> that runs it. */
#define EW(op, type)                                                                               \
  static void ew_##op##_(const type *p, void *const *buf, int64_t i0, int64_t i1);                \
  static void ew_##op(const void *pc, void *const *buf, int64_t i0, int64_t i1) {                 \
    ew_##op##_((const type *)pc, buf, i0, i1);                                                     \
  }                                                                                                \
  void ldm_cpu_##op(const ldm_graph *g, const ldm_node *n, void *const *buf) { ew_run(n, buf, ew_##op); } \
  static void ew_##op##_(const type *p, void *const *buf, int64_t i0, int64_t i1)

/* ================================================================= basic family */
EW(ew_binary, ldm_pc_ew_binary) {
  const float *a = F(0), *b = F(1);
  float *o = F(2);
  for (int64_t i = i0; i < i1; i++) {
    float r = p->kind == LDM_EW_ADD ? a[i] + b[i] : p->kind == LDM_EW_SUB ? a[i] - b[i] : a[i] * b[i];
    o[i] = p->accumulate ? o[i] + r : r;
  }
}

EW(ew_scale, ldm_pc_ew_scale) {
  const float *x = F(0);
  float *o = F(1);
  for (int64_t i = i0; i < i1; i++) o[i] = p->accumulate ? o[i] + p->alpha * x[i] : p->alpha * x[i];
}

EW(mse_loss_backward, ldm_pc_mse_loss_backward) {
  const float *a = F(0), *b = F(1);
  float gs = p->scale * F(2)[0];
  float *o = F(3);
  for (int64_t i = i0; i < i1; i++) {
    float d = gs * (a[i] - b[i]);
    o[i] = p->accumulate ? o[i] + d : d;
  }
}

EW(sgd, ldm_pc_sgd) {
  (void)p;
  float lr = cpu_step_f(U(1), LDM_STEP_LR);
  for (int64_t i = i0; i < i1; i++) F(2)[i] -= lr * F(0)[i];
}

/* ================================================================= activations */
/* The element functions of the activation ops (`act NAME` in src/ops/ops.def): y = ldm_cpu_act_NAME(x),
 * dx = ldm_cpu_act_NAME_backward(x, dy), the expressions of act_NAME[_backward] in shaders/activations.glsl
 * in the same order (ldm_expf for exp). The twins ldm_cpu_NAME[_backward] below run them. */

/* silu: ldm_cpu_act_silu[_backward] are in cpu/fastmath.h (group_norm_silu runs them too) */

/* gelu (exact): y = x Phi(x), dx = dy (Phi(x) + x phi(x)); erfc(|z|) by Abramowitz-Stegun 7.1.26 (|error|
 * < 1.5e-7) as in activations.glsl, Phi from it without cancellation for x < 0 */
static inline float cpu_erfc_abs(float z) {
  float a = fabsf(z);
  float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  return p * ldm_expf(-(a * a));
}
static inline float cpu_gauss_cdf(float x) {
  float q = 0.5f * cpu_erfc_abs(x * 0.70710678118654752f);
  return x >= 0.0f ? 1.0f - q : q;
}
static inline float ldm_cpu_act_gelu(float x) { return x * cpu_gauss_cdf(x); }
static inline float ldm_cpu_act_gelu_backward(float x, float dy) {
  return dy * (cpu_gauss_cdf(x) + x * (0.39894228040143268f * ldm_expf(-0.5f * (x * x))));
}

/* the twins of every activation of ldm_act_list.h: NAME (x -> y) and NAME_backward (x, dy -> dx (+)=) */
#define LDM_ACT(a)                                                                                 \
  EW(a, ldm_pc_##a) {                                                                              \
    (void)p;                                                                                       \
    const float *x = F(0);                                                                         \
    float *o = F(1);                                                                               \
    for (int64_t i = i0; i < i1; i++) o[i] = ldm_cpu_act_##a(x[i]);                                \
  }                                                                                                \
  EW(a##_backward, ldm_pc_##a##_backward) {                                                        \
    const float *x = F(0), *dy = F(1);                                                             \
    float *o = F(2);                                                                               \
    for (int64_t i = i0; i < i1; i++) {                                                            \
      float d = ldm_cpu_act_##a##_backward(x[i], dy[i]);                                           \
      o[i] = p->accumulate ? o[i] + d : d;                                                         \
    }                                                                                              \
  }
#include "ldm_act_list.h"
#undef LDM_ACT

/* ================================================================= diffusion family */
/* coefficients of (x0, noise): q_sample (sqrt a, sqrt(1-a)); v_target (-sqrt(1-a), sqrt a) */
static inline void qs_coef(const float *abar, const uint32_t *t, uint32_t T, int64_t b, int v, float *c0, float *cn) {
  float a = abar[cpu_tidx(t[b], T)];
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

EW(reparam, ldm_pc_reparam) {
  const float *mu = F(0), *lv = F(1), *e = F(2);
  float *z = F(3);
  for (int64_t i = i0; i < i1; i++) z[i] = mu[i] + expf(0.5f * lv[i]) * e[i];
}

EW(reparam_backward, ldm_pc_reparam_backward) {
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

EW(clamp, ldm_pc_clamp) {
  const float *x = F(0);
  float *y = F(1);
  /* comparisons, not fminf/fmaxf: a NaN passes through as in torch.clamp */
  for (int64_t i = i0; i < i1; i++) y[i] = x[i] < p->lo ? p->lo : x[i] > p->hi ? p->hi : x[i];
}

EW(clamp_backward, ldm_pc_clamp_backward) {
  const float *x = F(0), *dy = F(1);
  float *dx = F(2);
  for (int64_t i = i0; i < i1; i++) {
    float d = (x[i] >= p->lo && x[i] <= p->hi) ? dy[i] : 0.0f; /* torch.clamp: bounds included */
    dx[i] = p->accumulate ? dx[i] + d : d;
  }
}

EW(kl_loss_backward, ldm_pc_kl_loss_backward) {
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

EW(q_sample, ldm_pc_q_sample) {
  qs_rows(p, buf, 0, i0, i1);
}

EW(v_target, ldm_pc_q_sample) {
  qs_rows(p, buf, 1, i0, i1);
}

EW(q_sample_backward, ldm_pc_q_sample_backward) {
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

EW(weighted_mse_backward, ldm_pc_weighted_mse_backward) {
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

EW(cfg_combine, ldm_pc_cfg_combine) {
  const float *c = F(0), *u = F(0) + p->n;
  float *o = F(1);
  for (int64_t i = i0; i < i1; i++) o[i] = u[i] + p->scale * (c[i] - u[i]);
}

/* AdamW consumes the gradient: after the update (or a skipped non-finite step) it is zeroed, so the
 * next step accumulates from zero; a gradient-accumulation micro-step (step[ACCUM_ONLY]) changes nothing. */
EW(adamw, ldm_pc_adamw) {
  const float *st = F(0), *gs = F(1);
  float *w = F(2), *m = F(3), *v = F(4), *gr = F(5);
  if (U(0)[LDM_STEP_ACCUM_ONLY] != 0) return;
  float gsc = 1.0f;
  if (p->use_gs) {
    if (gs[1] != 0.0f) { /* non-finite gradients: skip the step */
      memset(gr + i0, 0, (size_t)(i1 - i0) * 4);
      return;
    }
    gsc = gs[0];
  }
  float lr = st[LDM_STEP_LR], bc1 = st[LDM_STEP_BC1], bc2 = st[LDM_STEP_BC2];
  float step_size = lr / bc1, sbc2 = sqrtf(bc2);
  for (int64_t i = i0; i < i1; i++) {
    float gi = gr[i] * gsc;
    m[i] = p->beta1 * m[i] + (1.0f - p->beta1) * gi;
    v[i] = p->beta2 * v[i] + (1.0f - p->beta2) * gi * gi;
    float denom = sqrtf(v[i]) / sbc2 + p->eps;
    w[i] = w[i] * (1.0f - lr * p->wd) - step_size * m[i] / denom;
    gr[i] = 0.0f;
  }
}

EW(ema, ldm_pc_ema) {
  const float *w = F(0);
  float d = cpu_step_f(U(1), LDM_STEP_EMA), od = 1.0f - d;
  float *e = F(2);
  if (U(1)[LDM_STEP_ACCUM_ONLY] != 0) return;
  for (int64_t i = i0; i < i1; i++) e[i] = d * e[i] + od * w[i];
}

/* One step of any sampler (shaders/sampler_step.comp): D = c0 x + c1 m, v = (x, D, h1, h2, h3, noise);
 * x <- c[2..8) . v, h_k <- c[8 + 5(k-1) ..) . v[0:5], summed left to right. In place. */
static inline float sampler_dot5(const float *c, float v0, float v1, float v2, float v3, float v4) {
  return (((c[0] * v0 + c[1] * v1) + c[2] * v2) + c[3] * v3) + c[4] * v4;
}
EW(sampler_step, ldm_pc_sampler_step) {
  const float *x = F(0), *m = F(1), *h1 = F(2), *h2 = F(3), *h3 = F(4), *ns = F(5), *c = F(6) + p->off;
  float *xo = F(7), *h1o = F(8), *h2o = F(9), *h3o = F(10);
  for (int64_t i = i0; i < i1; i++) {
    float xv = x[i], a = h1[i], b = h2[i], e = h3[i];
    float d = c[0] * xv + c[1] * m[i];
    float nx = sampler_dot5(c + 2, xv, d, a, b, e) + c[7] * ns[i];
    float n1 = sampler_dot5(c + 8, xv, d, a, b, e);
    float n2 = sampler_dot5(c + 13, xv, d, a, b, e);
    float n3 = sampler_dot5(c + 18, xv, d, a, b, e);
    xo[i] = nx;
    h1o[i] = n1;
    h2o[i] = n2;
    h3o[i] = n3;
  }
}

/* x <- mask (c0 x + c1 n2) + (1 - mask) (c2 z0 + c3 n1), mask [B, 1, HW] over x [B, C, HW]; in place */
EW(inpaint_blend, ldm_pc_inpaint_blend) {
  const float *x = F(0), *z0 = F(1), *mk = F(2), *n1 = F(3), *n2 = F(4), *c = F(5) + p->off;
  float *o = F(6);
  uint32_t img = p->C * p->HW;
  for (int64_t i = i0; i < i1; i++) {
    uint32_t b = (uint32_t)i / img, q = (uint32_t)i - b * img;
    float m = mk[b * p->HW + q % p->HW];
    float keep = c[2] * z0[i] + c[3] * n1[i];
    float paint = c[0] * x[i] + c[1] * n2[i];
    o[i] = m * paint + (1.0f - m) * keep;
  }
}
