/* Diffusion / VAE-loss / optimizer op family: reparameterisation, clamp, KL, forward diffusion (q_sample,
 * v target), per-sample weighted MSE, min-SNR weights, classifier-free guidance, the DDIM/DDPM reverse
 * step, EMA, global grad-norm clipping, AdamW reading the clip scale, Philox randint and label dropout,
 * and row gathers from u8 / 32-bit tables. Each op: graph builder, CPU twin (the reference and the
 * production CPU backend), Vulkan launch plan, autodiff rule where the op has a gradient. */
#include "ops/diffusion.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ops.h"
#include "cpu/pool.h"
#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "ops/basic.h"
#include "ops/builder.h"

#define F(i) ((float *)buf[i])
#define U(i) ((uint32_t *)buf[i])
#define PC(type) const type *p = (const type *)n->pc
#define EW_CHUNK 16384 /* elements per parallel chunk of the elementwise CPU twins */
#define FINAL_STEP 0xffffffffu

#define new_act ldm_new_act
#define new_like ldm_new_like

static const char *dtype_name(ldm_dtype d) {
  return d == LDM_F32 ? "f32" : d == LDM_U32 ? "u32" : d == LDM_I32 ? "i32" : "u8";
}

/* Builder argument checks: each sets the error (naming the tensors) and returns false. */
static bool same_numel(ldm_graph *g, const char *op, int a, int b) {
  if (g->t[a].numel == g->t[b].numel) return true;
  LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "%s: %s (%lld elements) and %s (%lld elements) differ in size", op,
                 g->t[a].name, (long long)g->t[a].numel, g->t[b].name, (long long)g->t[b].numel);
  return false;
}
static bool is_dtype(ldm_graph *g, const char *op, int t, ldm_dtype d) {
  if (g->t[t].dtype == d) return true;
  LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "%s: %s is %s, expected %s", op, g->t[t].name, dtype_name(g->t[t].dtype),
                 dtype_name(d));
  return false;
}
static bool fits_u32(ldm_graph *g, const char *op, int t) {
  if (g->t[t].numel <= (int64_t)UINT32_MAX) return true;
  LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "%s: %s has %lld elements, more than 2^32 - 1", op, g->t[t].name,
                 (long long)g->t[t].numel);
  return false;
}
static bool is_step(ldm_graph *g, const char *op, int st, int words) {
  if (g->t[st].numel >= words && g->t[st].dtype != LDM_U8) return true;
  LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "%s: step buffer %s has %lld %s elements, needs %d 32-bit words", op,
                 g->t[st].name, (long long)g->t[st].numel, dtype_name(g->t[st].dtype), words);
  return false;
}
/* a per-sample table lookup: abar f32 [T], t u32 [B], x [B, ...] */
static bool per_sample(ldm_graph *g, const char *op, int x, int abar, int t) {
  if (!is_dtype(g, op, abar, LDM_F32) || !is_dtype(g, op, t, LDM_U32) || !fits_u32(g, op, x)) return false;
  int64_t B = g->t[t].numel;
  if (g->t[x].shape[0] != B || g->t[x].numel % B) {
    LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "%s: %s has leading dimension %lld but the timesteps %s have %lld entries",
                   op, g->t[x].name, (long long)g->t[x].shape[0], g->t[t].name, (long long)B);
    return false;
  }
  return true;
}
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

/* ================================================================= reparam */
static ldm_status bwd_reparam(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  int mu = n.in[0], lv = n.in[1], eps = n.in[2];
  int dz = ldm_grad_of(g, n.out[0]);
  bool wm = g->t[mu].requires_grad, wl = g->t[lv].requires_grad;
  int am = 0, al = 0, dmu = -1, dlv = -1;
  if (wm) dmu = ldm_grad_target(g, mu, &am);
  if (wl) dlv = ldm_grad_target(g, lv, &al);
  if (!wm && !wl) return LDM_OK; /* only eps requires grad: not supported, and never needed */
  ldm_pc_reparam_backward pc = {(uint32_t)g->t[mu].numel, (uint32_t)am, (uint32_t)al, wm, wl};
  /* an unwanted output binds the wanted one; the kernel does not touch it */
  int out[2] = {wm ? dmu : dlv, wl ? dlv : dmu};
  ldm_node_add(g, LDM_OP_reparam_backward, (int[]){lv, eps, dz}, 3, out, 2, &pc, sizeof pc, "reparam_backward");
  return LDM_OK;
}
int ldm_reparam(ldm_graph *g, int mu, int logvar, int eps) {
  LDM_INPUTS(g, mu, logvar, eps);
  if (!same_numel(g, "reparam", mu, logvar) || !same_numel(g, "reparam", mu, eps) || !fits_u32(g, "reparam", mu))
    return LDM_NONE;
  int z = new_like(g, mu, "reparam");
  ldm_pc_reparam pc = {(uint32_t)g->t[mu].numel};
  return ldm_node_emit(g, LDM_OP_reparam, (int[]){mu, logvar, eps}, 3, &z, 1, &pc, sizeof pc, "reparam");
}
static void rg_reparam(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_reparam);
  (void)p;
  const float *mu = F(0), *lv = F(1), *e = F(2);
  float *z = F(3);
  for (int64_t i = i0; i < i1; i++) z[i] = mu[i] + expf(0.5f * lv[i]) * e[i];
}
static void cpu_reparam(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void cpu_reparam_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_reparam_backward, ((const ldm_pc_reparam_backward *)n->pc)->n);
}
const ldm_op_desc ldm_op_desc_reparam = {"reparam", cpu_reparam, ldm_plan_1d_n, bwd_reparam, 1e-9};
const ldm_op_desc ldm_op_desc_reparam_backward = {"reparam_backward", cpu_reparam_backward, ldm_plan_1d_n,
                                                  NULL, 1e-9};

/* ================================================================= clamp */
static ldm_status bwd_clamp(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_clamp p;
  memcpy(&p, n.pc, sizeof p);
  int acc, dx = ldm_grad_target(g, n.in[0], &acc);
  ldm_pc_clamp_backward pc = {p.n, p.lo, p.hi, (uint32_t)acc};
  ldm_node_add(g, LDM_OP_clamp_backward, (int[]){n.in[0], ldm_grad_of(g, n.out[0])}, 2, &dx, 1, &pc, sizeof pc,
               "clamp_backward");
  return LDM_OK;
}
int ldm_clamp(ldm_graph *g, int x, float lo, float hi) {
  LDM_INPUTS(g, x);
  if (!(lo <= hi))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "clamp of %s: lower bound %g is above upper bound %g", g->t[x].name, lo,
                      hi);
  if (!is_dtype(g, "clamp", x, LDM_F32) || !fits_u32(g, "clamp", x)) return LDM_NONE;
  int y = new_like(g, x, "clamp");
  ldm_pc_clamp pc = {(uint32_t)g->t[x].numel, lo, hi};
  return ldm_node_emit(g, LDM_OP_clamp, &x, 1, &y, 1, &pc, sizeof pc, "clamp");
}
static void rg_clamp(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_clamp);
  const float *x = F(0);
  float *y = F(1);
  /* comparisons, not fminf/fmaxf: a NaN passes through as in torch.clamp */
  for (int64_t i = i0; i < i1; i++) y[i] = x[i] < p->lo ? p->lo : x[i] > p->hi ? p->hi : x[i];
}
static void cpu_clamp(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void cpu_clamp_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_clamp_backward, ((const ldm_pc_clamp_backward *)n->pc)->n);
}
const ldm_op_desc ldm_op_desc_clamp = {"clamp", cpu_clamp, ldm_plan_1d_n, bwd_clamp, 1e-12};
const ldm_op_desc ldm_op_desc_clamp_backward = {"clamp_backward", cpu_clamp_backward, ldm_plan_1d_n, NULL,
                                                1e-12};

/* ================================================================= single-workgroup scalar losses */
static void plan_single_wg(ldm_launch *l, const char *shader) {
  l->shader = shader;
  l->spec[0] = 256;
  l->nspec = 1;
  l->groups[0] = l->groups[1] = l->groups[2] = 1;
}

/* ================================================================= KL loss */
static ldm_status bwd_kl_loss(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  int mu = n.in[0], lv = n.in[1];
  bool wm = g->t[mu].requires_grad, wl = g->t[lv].requires_grad;
  int am = 0, al = 0, dmu = -1, dlv = -1;
  if (wm) dmu = ldm_grad_target(g, mu, &am);
  if (wl) dlv = ldm_grad_target(g, lv, &al);
  ldm_pc_kl_loss_backward pc = {(uint32_t)g->t[mu].numel, 1.0f / (float)g->t[mu].shape[0], (uint32_t)am,
                                (uint32_t)al, wm, wl};
  int out[2] = {wm ? dmu : dlv, wl ? dlv : dmu};
  ldm_node_add(g, LDM_OP_kl_loss_backward, (int[]){mu, lv, ldm_grad_of(g, n.out[0])}, 3, out, 2, &pc, sizeof pc,
               "kl_loss_backward");
  return LDM_OK;
}
int ldm_kl_loss(ldm_graph *g, int mu, int logvar) {
  LDM_INPUTS(g, mu, logvar);
  if (!same_numel(g, "kl_loss", mu, logvar) || !fits_u32(g, "kl_loss", mu)) return LDM_NONE;
  int out = new_act(g, "kl_loss", 1, LDM_SHAPE(1));
  ldm_pc_kl_loss pc = {(uint32_t)g->t[mu].numel, 0.5f / (float)g->t[mu].shape[0]};
  return ldm_node_emit(g, LDM_OP_kl_loss, (int[]){mu, logvar}, 2, &out, 1, &pc, sizeof pc, "kl_loss");
}
static void cpu_kl_loss(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void cpu_kl_loss_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_kl_loss_backward, ((const ldm_pc_kl_loss_backward *)n->pc)->n);
}
static void plan_kl_loss(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  plan_single_wg(l, "kl_loss");
}
const ldm_op_desc ldm_op_desc_kl_loss = {"kl_loss", cpu_kl_loss, plan_kl_loss, bwd_kl_loss, 1e-9};
const ldm_op_desc ldm_op_desc_kl_loss_backward = {"kl_loss_backward", cpu_kl_loss_backward, ldm_plan_1d_n,
                                                  NULL, 1e-9};

/* ================================================================= q_sample / v_target */
static ldm_status bwd_q_sample_common(ldm_graph *g, int ni, int v_target) {
  ldm_node n = g->n[ni];
  int x0 = n.in[0], noise = n.in[1];
  bool w0 = g->t[x0].requires_grad, wn = g->t[noise].requires_grad;
  if (!w0 && !wn) return LDM_OK; /* no gradient to the schedule table */
  int a0 = 0, an = 0, d0 = -1, dn = -1;
  if (w0) d0 = ldm_grad_target(g, x0, &a0);
  if (wn) dn = ldm_grad_target(g, noise, &an);
  ldm_pc_q_sample p;
  memcpy(&p, n.pc, sizeof p);
  ldm_pc_q_sample_backward pc = {p.n, p.per, p.T, (uint32_t)v_target, (uint32_t)a0, (uint32_t)an, w0, wn};
  int out[2] = {w0 ? d0 : dn, wn ? dn : d0};
  ldm_node_add(g, LDM_OP_q_sample_backward, (int[]){n.in[2], n.in[3], ldm_grad_of(g, n.out[0])}, 3, out, 2, &pc,
               sizeof pc, "q_sample_backward");
  return LDM_OK;
}
static ldm_status bwd_q_sample(ldm_graph *g, int ni) { return bwd_q_sample_common(g, ni, 0); }
static ldm_status bwd_v_target(ldm_graph *g, int ni) { return bwd_q_sample_common(g, ni, 1); }
static int q_sample_common(ldm_graph *g, int op, const char *name, int x0, int noise, int abar, int t) {
  LDM_INPUTS(g, x0, noise, abar, t);
  if (!same_numel(g, name, x0, noise) || !per_sample(g, name, x0, abar, t)) return LDM_NONE;
  int out = new_like(g, x0, name);
  int64_t B = g->t[t].numel;
  ldm_pc_q_sample pc = {(uint32_t)g->t[x0].numel, (uint32_t)(g->t[x0].numel / B), (uint32_t)g->t[abar].numel};
  return ldm_node_emit(g, op, (int[]){x0, noise, abar, t}, 4, &out, 1, &pc, sizeof pc, name);
}
int ldm_q_sample(ldm_graph *g, int x0, int noise, int abar, int t) {
  return q_sample_common(g, LDM_OP_q_sample, "q_sample", x0, noise, abar, t);
}
int ldm_v_target(ldm_graph *g, int x0, int noise, int abar, int t) {
  return q_sample_common(g, LDM_OP_v_target, "v_target", x0, noise, abar, t);
}
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
static void cpu_q_sample(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_q_sample, ((const ldm_pc_q_sample *)n->pc)->n);
}
static void cpu_v_target(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void cpu_q_sample_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_q_sample_backward, ((const ldm_pc_q_sample_backward *)n->pc)->n);
}
const ldm_op_desc ldm_op_desc_q_sample = {"q_sample", cpu_q_sample, ldm_plan_1d_n, bwd_q_sample, 1e-10};
const ldm_op_desc ldm_op_desc_v_target = {"v_target", cpu_v_target, ldm_plan_1d_n, bwd_v_target, 1e-10};
const ldm_op_desc ldm_op_desc_q_sample_backward = {"q_sample_backward", cpu_q_sample_backward, ldm_plan_1d_n,
                                                   NULL, 1e-10};

/* ================================================================= weighted MSE */
static ldm_status bwd_weighted_mse(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_weighted_mse p;
  memcpy(&p, n.pc, sizeof p);
  int dl = ldm_grad_of(g, n.out[0]);
  for (int k = 0; k < 2; k++) {
    int x = n.in[k];
    if (!g->t[x].requires_grad) continue;
    int acc, dx = ldm_grad_target(g, x, &acc);
    /* d/da = 2 w_b (a - b) / n, d/db = -2 w_b (a - b) / n */
    ldm_pc_weighted_mse_backward pc = {p.n, p.per, (k ? -2.0f : 2.0f) * p.inv_n, (uint32_t)acc};
    ldm_node_add(g, LDM_OP_weighted_mse_backward, (int[]){n.in[0], n.in[1], n.in[2], dl}, 4, &dx, 1, &pc, sizeof pc,
                 "weighted_mse_backward");
  }
  return LDM_OK;
}
int ldm_weighted_mse(ldm_graph *g, int a, int b, int w) {
  LDM_INPUTS(g, a, b, w);
  if (!same_numel(g, "weighted_mse", a, b) || !fits_u32(g, "weighted_mse", a) ||
      !is_dtype(g, "weighted_mse", w, LDM_F32))
    return LDM_NONE;
  int64_t B = g->t[a].shape[0];
  if (g->t[w].numel != B)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "weighted_mse: weights %s have %lld entries, %s has %lld samples",
                      g->t[w].name, (long long)g->t[w].numel, g->t[a].name, (long long)B);
  int out = new_act(g, "weighted_mse", 1, LDM_SHAPE(1));
  ldm_pc_weighted_mse pc = {(uint32_t)g->t[a].numel, (uint32_t)(g->t[a].numel / B), 1.0f / (float)g->t[a].numel};
  return ldm_node_emit(g, LDM_OP_weighted_mse, (int[]){a, b, w}, 3, &out, 1, &pc, sizeof pc, "weighted_mse");
}
static void cpu_weighted_mse(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void cpu_weighted_mse_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_weighted_mse_backward, ((const ldm_pc_weighted_mse_backward *)n->pc)->n);
}
static void plan_weighted_mse(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  plan_single_wg(l, "weighted_mse");
}
static void plan_weighted_mse_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                       ldm_launch *l) {
  ldm_launch_1d(l, "weighted_mse_backward", ((const ldm_pc_weighted_mse_backward *)n->pc)->n);
}
const ldm_op_desc ldm_op_desc_weighted_mse = {"weighted_mse", cpu_weighted_mse, plan_weighted_mse, bwd_weighted_mse,
                                              1e-9};
const ldm_op_desc ldm_op_desc_weighted_mse_backward = {"weighted_mse_backward", cpu_weighted_mse_backward,
                                                       plan_weighted_mse_backward, NULL, 1e-10};

/* ================================================================= min-SNR-gamma weights */
int ldm_min_snr_weight(ldm_graph *g, int abar, int t, float gamma, int v_pred) {
  LDM_INPUTS(g, abar, t);
  if (!is_dtype(g, "min_snr_weight", abar, LDM_F32) || !is_dtype(g, "min_snr_weight", t, LDM_U32)) return LDM_NONE;
  if (!(gamma > 0)) return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "min_snr_weight: gamma %g must be positive", gamma);
  int out = new_act(g, "min_snr_weight", 1, LDM_SHAPE(g->t[t].numel));
  ldm_pc_min_snr_weight pc = {(uint32_t)g->t[t].numel, (uint32_t)g->t[abar].numel, gamma, (uint32_t)!!v_pred};
  return ldm_node_emit(g, LDM_OP_min_snr_weight, (int[]){abar, t}, 2, &out, 1, &pc, sizeof pc, "min_snr_weight");
}
/* snr = a / (1 - a). eps: min(snr, g) / snr = min(1, g (1 - a) / a) (1 at a = 0: zero terminal SNR);
 * v: min(snr, g) / (snr + 1) = min(a, g (1 - a)). No division by zero anywhere. */
static void cpu_min_snr_weight(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void plan_min_snr_weight(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "min_snr_weight", ((const ldm_pc_min_snr_weight *)n->pc)->B);
}
const ldm_op_desc ldm_op_desc_min_snr_weight = {"min_snr_weight", cpu_min_snr_weight, plan_min_snr_weight, NULL,
                                                1e-10};

/* ================================================================= classifier-free guidance */
int ldm_cfg_combine(ldm_graph *g, int x2, float scale) {
  LDM_INPUTS(g, x2);
  const ldm_tensor *x = &g->t[x2];
  if (x->shape[0] % 2)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "cfg_combine: %s has an odd leading dimension %lld (expected [2B, ...])",
                      x->name, (long long)x->shape[0]);
  if (!fits_u32(g, "cfg_combine", x2) || !is_dtype(g, "cfg_combine", x2, LDM_F32)) return LDM_NONE;
  int64_t shape[LDM_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[0] /= 2;
  int out = new_act(g, "cfg_combine", x->ndim, shape);
  ldm_pc_cfg_combine pc = {(uint32_t)(g->t[x2].numel / 2), scale};
  return ldm_node_emit(g, LDM_OP_cfg_combine, &x2, 1, &out, 1, &pc, sizeof pc, "cfg_combine");
}
static void rg_cfg_combine(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_cfg_combine);
  const float *c = F(0), *u = F(0) + p->n;
  float *o = F(1);
  for (int64_t i = i0; i < i1; i++) o[i] = u[i] + p->scale * (c[i] - u[i]);
}
static void cpu_cfg_combine(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_cfg_combine, ((const ldm_pc_cfg_combine *)n->pc)->n);
}
const ldm_op_desc ldm_op_desc_cfg_combine = {"cfg_combine", cpu_cfg_combine, ldm_plan_1d_n, NULL, 1e-12};

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
int ldm_sampler_step(ldm_graph *g, int x, int model_out, int abar, int noise, int step, int kind, float eta,
                     int v_pred, int x_out) {
  LDM_INPUTS(g, x, model_out, abar, noise, step, x_out);
  const char *op = "sampler_step";
  if (!same_numel(g, op, x, model_out) || !same_numel(g, op, x, noise) || !same_numel(g, op, x, x_out) ||
      !fits_u32(g, op, x) || !is_dtype(g, op, abar, LDM_F32) || !is_step(g, op, step, LDM_STEP_USER + 2))
    return LDM_NONE;
  if (kind != LDM_SAMPLER_DDIM && kind != LDM_SAMPLER_DDPM)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "sampler_step: unknown sampler kind %d (0 DDIM, 1 DDPM)", kind);
  if (!(eta >= 0.0f)) return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "sampler_step: eta %g must be >= 0", eta);
  ldm_pc_sampler_step pc = {(uint32_t)g->t[x].numel, (uint32_t)g->t[abar].numel, (uint32_t)kind, eta,
                            (uint32_t)!!v_pred};
  return ldm_node_emit(g, LDM_OP_sampler_step, (int[]){x, model_out, abar, noise, step}, 5, &x_out, 1, &pc, sizeof pc,
                       kind == LDM_SAMPLER_DDPM ? "ddpm_step" : "ddim_step");
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
static void cpu_sampler_step(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_sampler_step);
  const float *abar = F(2);
  const uint32_t *st = U(4);
  uint32_t t = st[LDM_STEP_USER], tp = st[LDM_STEP_USER + 1];
  float at = abar[tidx(t, p->T)], ap = tp == FINAL_STEP ? 1.0f : abar[tidx(tp, p->T)];
  sampler_ctx s = {.p = p, .x = F(0), .m = F(1), .ns = F(3), .o = F(5)};
  ldm_sampler_coefs_make(at, ap, (int)p->kind, p->eta, &s.c);
  ldm_parallel_for(p->n, EW_CHUNK, rg_sampler_step, &s);
}
const ldm_op_desc ldm_op_desc_sampler_step = {"sampler_step", cpu_sampler_step, ldm_plan_1d_n, NULL, 1e-9};

/* ================================================================= EMA */
int ldm_ema(ldm_graph *g, int ema, int p, int step) {
  LDM_INPUTS(g, ema, p, step);
  if (!same_numel(g, "ema", ema, p) || !fits_u32(g, "ema", p) || !is_step(g, "ema", step, LDM_STEP_WORDS))
    return LDM_NONE;
  ldm_pc_ema pc = {(uint32_t)g->t[p].numel};
  return ldm_node_emit(g, LDM_OP_ema, (int[]){p, step}, 2, &ema, 1, &pc, sizeof pc, "ema");
}
static void rg_ema(void *vc, int64_t i0, int64_t i1) {
  EW_BEGIN(ldm_pc_ema);
  (void)p;
  const float *w = F(0);
  float d = step_f(U(1), LDM_STEP_EMA), od = 1.0f - d;
  float *e = F(2);
  if (U(1)[LDM_STEP_ACCUM_ONLY] != 0) return;
  for (int64_t i = i0; i < i1; i++) e[i] = d * e[i] + od * w[i];
}
static void cpu_ema(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  EW_RUN(rg_ema, ((const ldm_pc_ema *)n->pc)->n);
}
const ldm_op_desc ldm_op_desc_ema = {"ema", cpu_ema, ldm_plan_1d_n, NULL, 1e-10};

/* ================================================================= global grad-norm clip */
/* Stage 1 (grad_norm_partial): G = min(ceil(n / 256), 1024) workgroups of 256; invocation l of group g
 * visits i = g*256 + l + k*G*256 (k = 0, 1, ...), squares and sums, then a fixed tree per group gives
 * partial[g]; flag[g] = 1 when any visited value is NaN/Inf. Scratch = [partials G | flags G].
 * Stage 2 (grad_norm_clip): one workgroup sums the partials in a fixed order and writes gs:
 *   norm = sqrt(sum) * inv_accum / loss_scale (the gradient the optimizer will see),
 *   coef = clip > 0 && norm > clip ? clip / norm : 1,
 *   gs = {coef / loss_scale * inv_accum, nonfinite, norm, coef}. */
static uint32_t gn_groups(int64_t n) {
  int64_t g = (n + LDM_GN_LOCAL - 1) / LDM_GN_LOCAL;
  return (uint32_t)(g < 1 ? 1 : g > LDM_GN_MAX_GROUPS ? LDM_GN_MAX_GROUPS : g);
}
int ldm_grad_norm_clip(ldm_graph *g, int grads, int step, int gs) {
  LDM_INPUTS(g, grads, step, gs);
  const char *op = "grad_norm_clip";
  if (!is_dtype(g, op, grads, LDM_F32) || !fits_u32(g, op, grads) || !is_step(g, op, step, LDM_STEP_WORDS) ||
      !is_dtype(g, op, gs, LDM_F32))
    return LDM_NONE;
  if (g->t[gs].numel < 4)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "grad_norm_clip: %s has %lld elements, needs 4", g->t[gs].name,
                      (long long)g->t[gs].numel);
  uint32_t G = gn_groups(g->t[grads].numel);
  int scratch = new_act(g, "grad_norm_partials", 1, LDM_SHAPE(2 * (int64_t)G));
  ldm_pc_grad_norm_partial p1 = {(uint32_t)g->t[grads].numel, G};
  scratch = ldm_node_emit(g, LDM_OP_grad_norm_partial, &grads, 1, &scratch, 1, &p1, sizeof p1, "grad_norm_partial");
  ldm_pc_grad_norm_clip p2 = {G};
  return ldm_node_emit(g, LDM_OP_grad_norm_clip, (int[]){scratch, step}, 2, &gs, 1, &p2, sizeof p2, "grad_norm_clip");
}
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
static void cpu_grad_norm_partial(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gn_ctx c = {(const ldm_pc_grad_norm_partial *)n->pc, F(0), F(1)};
  ldm_parallel_for(c.p->groups, 8, rg_grad_norm_partial, &c);
}
static void cpu_grad_norm_clip(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void plan_grad_norm_partial(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  l->shader = "grad_norm_partial";
  l->spec[0] = LDM_GN_LOCAL;
  l->nspec = 1;
  l->groups[0] = ((const ldm_pc_grad_norm_partial *)n->pc)->groups;
  l->groups[1] = l->groups[2] = 1;
}
static void plan_grad_norm_clip(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  plan_single_wg(l, "grad_norm_clip");
}
const ldm_op_desc ldm_op_desc_grad_norm_partial = {"grad_norm_partial", cpu_grad_norm_partial, plan_grad_norm_partial,
                                                   NULL, 1e-9};
const ldm_op_desc ldm_op_desc_grad_norm_clip = {"grad_norm_clip", cpu_grad_norm_clip, plan_grad_norm_clip, NULL,
                                                1e-9};

/* ================================================================= AdamW reading gs */
int ldm_adamw_gs(ldm_graph *g, int p, int grad, int m, int v, int step, int gs, float beta1, float beta2, float eps,
                 float weight_decay) {
  LDM_INPUTS(g, p, grad, m, v, step, gs);
  int64_t np = g->t[p].numel;
  if (!same_numel(g, "adamw", p, grad) || !same_numel(g, "adamw", p, m) || !same_numel(g, "adamw", p, v) ||
      !fits_u32(g, "adamw", p) || !is_step(g, "adamw", step, LDM_STEP_WORDS) || !is_dtype(g, "adamw", gs, LDM_F32))
    return LDM_NONE;
  if (g->t[gs].numel < 2)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "adamw: clip state %s has %lld elements, needs at least 2", g->t[gs].name,
                      (long long)g->t[gs].numel);
  ldm_pc_adamw pc = {(uint32_t)np, beta1, beta2, eps, weight_decay, 1};
  return ldm_node_emit(g, LDM_OP_adamw, (int[]){step, gs}, 2, (int[]){p, m, v, grad}, 4, &pc, sizeof pc, "adamw");
}

/* ================================================================= Philox randint / label dropout */
static uint64_t rng_base(const uint32_t *st, uint32_t use_step) {
  return use_step ? ((uint64_t)st[LDM_STEP_RNG_HI] << 32) | st[LDM_STEP_RNG_LO] : 0;
}
int ldm_randint(ldm_graph *g, int out, int step, uint64_t seed, uint64_t stream, uint32_t lo, uint32_t hi) {
  LDM_INPUTS(g, out);
  if (!(hi > lo))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "randint into %s: empty range [%u, %u)", g->t[out].name, lo, hi);
  if (!is_dtype(g, "randint", out, LDM_U32) || !fits_u32(g, "randint", out) ||
      (step >= 0 && !is_step(g, "randint", step, LDM_STEP_WORDS)))
    return LDM_NONE;
  ldm_pc_randint pc = {(uint32_t)g->t[out].numel, (uint32_t)seed, (uint32_t)(seed >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32), lo, hi - lo, step >= 0};
  int in = step >= 0 ? step : out; /* unused binding without a step buffer */
  return ldm_node_emit(g, LDM_OP_randint, &in, 1, &out, 1, &pc, sizeof pc, "randint");
}
/* lo + floor(r * range / 2^32): unbiased to 2^-32, the same integer arithmetic as the shader */
static void cpu_randint(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void plan_randint(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "randint", (((const ldm_pc_randint *)n->pc)->n + 3) / 4);
}
const ldm_op_desc ldm_op_desc_randint = {"randint", cpu_randint, plan_randint, NULL, 0};

int ldm_label_dropout(ldm_graph *g, int labels, int out, int step, uint64_t seed, uint64_t stream, float p,
                      uint32_t null_class) {
  LDM_INPUTS(g, labels, out);
  if (!(p >= 0.0f && p <= 1.0f))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "label_dropout of %s: probability %g is outside [0, 1]",
                      g->t[labels].name, p);
  if (!same_numel(g, "label_dropout", labels, out) || !is_dtype(g, "label_dropout", labels, LDM_U32) ||
      !is_dtype(g, "label_dropout", out, LDM_U32) || !fits_u32(g, "label_dropout", out) ||
      (step >= 0 && !is_step(g, "label_dropout", step, LDM_STEP_WORDS)))
    return LDM_NONE;
  ldm_pc_label_dropout pc = {(uint32_t)g->t[out].numel, (uint32_t)seed, (uint32_t)(seed >> 32), (uint32_t)stream,
                             (uint32_t)(stream >> 32), p, null_class, step >= 0};
  int st = step >= 0 ? step : labels;
  return ldm_node_emit(g, LDM_OP_label_dropout, (int[]){labels, st}, 2, &out, 1, &pc, sizeof pc, "label_dropout");
}
/* dropped when the uniform (0,1) draw (24 bits, exact in float) is below p */
static void cpu_label_dropout(const ldm_graph *g, const ldm_node *n, void *const *buf) {
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
static void plan_label_dropout(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "label_dropout", (((const ldm_pc_label_dropout *)n->pc)->n + 3) / 4);
}
const ldm_op_desc ldm_op_desc_label_dropout = {"label_dropout", cpu_label_dropout, plan_label_dropout, NULL, 0};

/* ================================================================= gather rows */
int ldm_gather_rows(ldm_graph *g, int table, int idx, int out, int64_t row_elems, float scale, float shift) {
  LDM_INPUTS(g, table, idx, out);
  const char *op = "gather_rows";
  ldm_dtype dt = g->t[table].dtype;
  if (!is_dtype(g, op, idx, LDM_U32) || !is_dtype(g, op, out, dt == LDM_U8 ? LDM_F32 : dt) || !fits_u32(g, op, out) ||
      !fits_u32(g, op, table))
    return LDM_NONE;
  if (row_elems <= 0 || g->t[table].numel % row_elems || g->t[out].numel != g->t[idx].numel * row_elems)
    return LDM_REFUSE(
        g, LDM_ERR_INVALID_ARG,
        "gather_rows: table %s (%lld elements) in rows of %lld into %s (%lld elements) for %lld indices %s do "
        "not fit",
        g->t[table].name, (long long)g->t[table].numel, (long long)row_elems, g->t[out].name,
        (long long)g->t[out].numel, (long long)g->t[idx].numel, g->t[idx].name);
  ldm_pc_gather_rows pc = {(uint32_t)g->t[idx].numel, (uint32_t)row_elems, (uint32_t)(g->t[table].numel / row_elems),
                           scale, shift};
  /* the variant follows the table's dtype: u8 -> f32 conversion, or a 32-bit word copy (f32, u32, i32) */
  return ldm_node_emit(g, LDM_OP_gather_rows, (int[]){table, idx}, 2, &out, 1, &pc, sizeof pc,
                       dt == LDM_U8 ? "gather_rows_u8" : "gather_rows");
}
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
static void cpu_gather_rows(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_gather_rows);
  gather_ctx c = {p, buf[0], U(1), buf[2], g->t[n->in[0]].dtype == LDM_U8};
  ldm_parallel_for(p->B, 1 + EW_CHUNK / (p->row ? p->row : 1), rg_gather_rows, &c);
}
static void plan_gather_rows(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_gather_rows);
  ldm_launch_1d(l, g->t[n->in[0]].dtype == LDM_U8 ? "gather_rows_u8" : "gather_rows", (int64_t)p->B * p->row);
}
const ldm_op_desc ldm_op_desc_gather_rows = {"gather_rows", cpu_gather_rows, plan_gather_rows, NULL, 1e-12};
