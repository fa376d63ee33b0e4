/* Diffusion op family: reparameterisation, clamp, KL, q_sample / v target, weighted MSE, min-SNR
 * weights, CFG, the sampler step, EMA, grad-norm clipping, AdamW with clip state, randint, label
 * dropout, row gathers. This file: the graph builders, the backward emitters ldm_bwd_<op>
 * (ops/autodiff.h) and the op table entries ldm_op_desc_<op>; the CPU twins ldm_cpu_<op> are in
 * src/cpu/kernels_diffusion.c, the Vulkan launch plans ldm_plan_<op> in src/vk/plan.c. */
#include "ops/diffusion.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ops.h"
#include "cpu/kernels.h"
#include "ldm/ops.h"
#include "ldm/step.h"
#include "ops/autodiff.h"
#include "ops/basic.h"
#include "ops/builder.h"
#include "vk/plan.h"

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
ldm_status ldm_bwd_reparam(ldm_graph *g, int ni) {
  int mu = g->n[ni].in[0], lv = g->n[ni].in[1], eps = g->n[ni].in[2];
  int dz = ldm_grad_out(g, ni, 0);
  bool wm = g->t[mu].requires_grad, wl = g->t[lv].requires_grad;
  int am, dmu = ldm_grad_in(g, ni, 0, &am), al, dlv = ldm_grad_in(g, ni, 1, &al);
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
const ldm_op_desc ldm_op_desc_reparam = {"reparam", ldm_cpu_reparam, ldm_plan_1d_n, ldm_bwd_reparam};
const ldm_op_desc ldm_op_desc_reparam_backward = {"reparam_backward", ldm_cpu_reparam_backward, ldm_plan_1d_n, NULL};

/* ================================================================= clamp */
ldm_status ldm_bwd_clamp(ldm_graph *g, int ni) {
  ldm_pc_clamp p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  ldm_pc_clamp_backward pc = {p.n, p.lo, p.hi, 0};
  return LDM_EMIT_UNARY_BACKWARD(g, ni, clamp_backward, g->n[ni].in[0], pc);
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
const ldm_op_desc ldm_op_desc_clamp = {"clamp", ldm_cpu_clamp, ldm_plan_1d_n, ldm_bwd_clamp};
const ldm_op_desc ldm_op_desc_clamp_backward = {"clamp_backward", ldm_cpu_clamp_backward, ldm_plan_1d_n, NULL};

/* ================================================================= KL loss */
ldm_status ldm_bwd_kl_loss(ldm_graph *g, int ni) {
  int mu = g->n[ni].in[0], lv = g->n[ni].in[1];
  bool wm = g->t[mu].requires_grad, wl = g->t[lv].requires_grad;
  int am, dmu = ldm_grad_in(g, ni, 0, &am), al, dlv = ldm_grad_in(g, ni, 1, &al);
  ldm_pc_kl_loss_backward pc = {(uint32_t)g->t[mu].numel, 1.0f / (float)g->t[mu].shape[0], (uint32_t)am,
                                (uint32_t)al, wm, wl};
  int out[2] = {wm ? dmu : dlv, wl ? dlv : dmu};
  ldm_node_add(g, LDM_OP_kl_loss_backward, (int[]){mu, lv, ldm_grad_out(g, ni, 0)}, 3, out, 2, &pc, sizeof pc,
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
const ldm_op_desc ldm_op_desc_kl_loss = {"kl_loss", ldm_cpu_kl_loss, ldm_plan_kl_loss, ldm_bwd_kl_loss};
const ldm_op_desc ldm_op_desc_kl_loss_backward = {"kl_loss_backward", ldm_cpu_kl_loss_backward, ldm_plan_1d_n, NULL};

/* ================================================================= q_sample / v_target */
static ldm_status bwd_q_sample_common(ldm_graph *g, int ni, int v_target) {
  int x0 = g->n[ni].in[0], noise = g->n[ni].in[1], abar = g->n[ni].in[2], t = g->n[ni].in[3];
  bool w0 = g->t[x0].requires_grad, wn = g->t[noise].requires_grad;
  if (!w0 && !wn) return LDM_OK; /* no gradient to the schedule table */
  int a0, d0 = ldm_grad_in(g, ni, 0, &a0), an, dn = ldm_grad_in(g, ni, 1, &an);
  ldm_pc_q_sample p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  ldm_pc_q_sample_backward pc = {p.n, p.per, p.T, (uint32_t)v_target, (uint32_t)a0, (uint32_t)an, w0, wn};
  int out[2] = {w0 ? d0 : dn, wn ? dn : d0};
  ldm_node_add(g, LDM_OP_q_sample_backward, (int[]){abar, t, ldm_grad_out(g, ni, 0)}, 3, out, 2, &pc,
               sizeof pc, "q_sample_backward");
  return LDM_OK;
}
ldm_status ldm_bwd_q_sample(ldm_graph *g, int ni) { return bwd_q_sample_common(g, ni, 0); }
ldm_status ldm_bwd_v_target(ldm_graph *g, int ni) { return bwd_q_sample_common(g, ni, 1); }
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
const ldm_op_desc ldm_op_desc_q_sample = {"q_sample", ldm_cpu_q_sample, ldm_plan_1d_n, ldm_bwd_q_sample};
const ldm_op_desc ldm_op_desc_v_target = {"v_target", ldm_cpu_v_target, ldm_plan_1d_n, ldm_bwd_v_target};
const ldm_op_desc ldm_op_desc_q_sample_backward = {"q_sample_backward", ldm_cpu_q_sample_backward, ldm_plan_1d_n, NULL};

/* ================================================================= weighted MSE */
ldm_status ldm_bwd_weighted_mse(ldm_graph *g, int ni) {
  ldm_pc_weighted_mse p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int a = g->n[ni].in[0], b = g->n[ni].in[1], w = g->n[ni].in[2], dl = ldm_grad_out(g, ni, 0);
  for (int k = 0; k < 2; k++) {
    int acc, dx = ldm_grad_in(g, ni, k, &acc);
    if (dx < 0) continue;
    /* d/da = 2 w_b (a - b) / n, d/db = -2 w_b (a - b) / n */
    ldm_pc_weighted_mse_backward pc = {p.n, p.per, (k ? -2.0f : 2.0f) * p.inv_n, (uint32_t)acc};
    ldm_node_add(g, LDM_OP_weighted_mse_backward, (int[]){a, b, w, dl}, 4, &dx, 1, &pc, sizeof pc,
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
const ldm_op_desc ldm_op_desc_weighted_mse = {"weighted_mse", ldm_cpu_weighted_mse, ldm_plan_weighted_mse,
                                              ldm_bwd_weighted_mse};
const ldm_op_desc ldm_op_desc_weighted_mse_backward = {"weighted_mse_backward", ldm_cpu_weighted_mse_backward,
                                                       ldm_plan_weighted_mse_backward, NULL};

/* ================================================================= min-SNR-gamma weights */
int ldm_min_snr_weight(ldm_graph *g, int abar, int t, float gamma, int v_pred) {
  LDM_INPUTS(g, abar, t);
  if (!is_dtype(g, "min_snr_weight", abar, LDM_F32) || !is_dtype(g, "min_snr_weight", t, LDM_U32)) return LDM_NONE;
  if (!(gamma > 0)) return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "min_snr_weight: gamma %g must be positive", gamma);
  int out = new_act(g, "min_snr_weight", 1, LDM_SHAPE(g->t[t].numel));
  ldm_pc_min_snr_weight pc = {(uint32_t)g->t[t].numel, (uint32_t)g->t[abar].numel, gamma, (uint32_t)!!v_pred};
  return ldm_node_emit(g, LDM_OP_min_snr_weight, (int[]){abar, t}, 2, &out, 1, &pc, sizeof pc, "min_snr_weight");
}
const ldm_op_desc ldm_op_desc_min_snr_weight = {"min_snr_weight", ldm_cpu_min_snr_weight, ldm_plan_min_snr_weight, NULL};

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
const ldm_op_desc ldm_op_desc_cfg_combine = {"cfg_combine", ldm_cpu_cfg_combine, ldm_plan_1d_n, NULL};

/* ================================================================= sampler step, inpainting, guidance rescale */
static bool coef_table(ldm_graph *g, const char *op, int coef, int off, int words) {
  if (!is_dtype(g, op, coef, LDM_F32)) return false;
  if (off >= 0 && off + words <= g->t[coef].numel) return true;
  LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "%s: coefficient table %s has %lld words, needs words %d..%d", op,
                 g->t[coef].name, (long long)g->t[coef].numel, off, off + words - 1);
  return false;
}
int ldm_sampler_step(ldm_graph *g, int x, int m, int h1, int h2, int h3, int noise, int coef, int off) {
  LDM_INPUTS(g, x, m, h1, h2, h3, noise, coef);
  const char *op = "sampler_step";
  if (!same_numel(g, op, x, m) || !same_numel(g, op, x, h1) || !same_numel(g, op, x, h2) ||
      !same_numel(g, op, x, h3) || !same_numel(g, op, x, noise) || !fits_u32(g, op, x) ||
      !coef_table(g, op, coef, off, 23))
    return LDM_NONE;
  ldm_pc_sampler_step pc = {(uint32_t)g->t[x].numel, (uint32_t)off};
  int outs[4] = {x, h1, h2, h3};
  return ldm_node_emit(g, LDM_OP_sampler_step, (int[]){x, m, h1, h2, h3, noise, coef}, 7, outs, 4, &pc, sizeof pc,
                       "sampler_step");
}
const ldm_op_desc ldm_op_desc_sampler_step = {"sampler_step", ldm_cpu_sampler_step, ldm_plan_1d_n, NULL};

int ldm_inpaint_blend(ldm_graph *g, int x, int z0, int mask, int n1, int n2, int coef, int off) {
  LDM_INPUTS(g, x, z0, mask, n1, n2, coef);
  const char *op = "inpaint_blend";
  if (!same_numel(g, op, x, z0) || !same_numel(g, op, x, n1) || !same_numel(g, op, x, n2) || !fits_u32(g, op, x) ||
      !is_dtype(g, op, mask, LDM_F32) || !coef_table(g, op, coef, off, 4))
    return LDM_NONE;
  const ldm_tensor *t = &g->t[x], *mk = &g->t[mask];
  int64_t B = t->shape[0], C = t->ndim >= 2 ? t->shape[1] : 1, HW = B * C > 0 ? t->numel / (B * C) : 0;
  if (t->ndim < 2 || mk->numel != B * HW)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "inpaint_blend: mask %s has %lld elements, %s [%lld, %lld, ...] needs "
                      "one per sample and pixel (%lld)", mk->name, (long long)mk->numel, t->name, (long long)B,
                      (long long)C, (long long)(B * HW));
  ldm_pc_inpaint_blend pc = {(uint32_t)t->numel, (uint32_t)C, (uint32_t)HW, (uint32_t)off};
  return ldm_node_emit(g, LDM_OP_inpaint_blend, (int[]){x, z0, mask, n1, n2, coef}, 6, &x, 1, &pc, sizeof pc,
                       "inpaint_blend");
}
const ldm_op_desc ldm_op_desc_inpaint_blend = {"inpaint_blend", ldm_cpu_inpaint_blend, ldm_plan_1d_n, NULL};

int ldm_cfg_rescale(ldm_graph *g, int x2, int guided, float phi) {
  LDM_INPUTS(g, x2, guided);
  const char *op = "cfg_rescale";
  if (!is_dtype(g, op, x2, LDM_F32) || !is_dtype(g, op, guided, LDM_F32) || !fits_u32(g, op, x2)) return LDM_NONE;
  int64_t B = g->t[guided].shape[0];
  if (g->t[x2].numel != 2 * g->t[guided].numel || g->t[x2].shape[0] != 2 * B)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "cfg_rescale: %s is not the [2B, ...] model output of %s [B, ...]",
                      g->t[x2].name, g->t[guided].name);
  if (!(phi >= 0.0f && phi <= 1.0f))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "cfg_rescale: phi %g is outside [0, 1]", phi);
  int out = new_like(g, guided, "cfg_rescale");
  ldm_pc_cfg_rescale pc = {(uint32_t)B, (uint32_t)(g->t[guided].numel / B), phi};
  return ldm_node_emit(g, LDM_OP_cfg_rescale, (int[]){x2, guided}, 2, &out, 1, &pc, sizeof pc, "cfg_rescale");
}
const ldm_op_desc ldm_op_desc_cfg_rescale = {"cfg_rescale", ldm_cpu_cfg_rescale, ldm_plan_1d_n, NULL};

int ldm_gauss_mix_denoise(ldm_graph *g, int x, int params, int coef, int off, int pred) {
  LDM_INPUTS(g, x, params, coef);
  const char *op = "gauss_mix_denoise";
  if (!is_dtype(g, op, x, LDM_F32) || !is_dtype(g, op, params, LDM_F32) || !fits_u32(g, op, x) ||
      !coef_table(g, op, coef, off, 2))
    return LDM_NONE;
  const ldm_tensor *t = &g->t[x], *pr = &g->t[params];
  if (t->ndim != 2 || pr->ndim != 2 || pr->shape[1] != t->shape[1] + 2 || pr->shape[0] < 1 || pr->shape[0] > 64 ||
      pred < 0 || pred > 2)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "gauss_mix_denoise: x %s must be [B, d], params %s [K <= 64, d + 2], "
                      "pred 0..2 (got %d)", t->name, pr->name, pred);
  int out = new_like(g, x, "gauss_mix_denoise");
  ldm_pc_gauss_mix_denoise pc = {(uint32_t)t->shape[0], (uint32_t)t->shape[1], (uint32_t)pr->shape[0],
                                 (uint32_t)pred, (uint32_t)off};
  return ldm_node_emit(g, LDM_OP_gauss_mix_denoise, (int[]){x, params, coef}, 3, &out, 1, &pc, sizeof pc,
                       "gauss_mix_denoise");
}
const ldm_op_desc ldm_op_desc_gauss_mix_denoise = {"gauss_mix_denoise", ldm_cpu_gauss_mix_denoise, ldm_plan_1d_n,
                                                   NULL};

/* ================================================================= EMA */
int ldm_ema(ldm_graph *g, int ema, int p, int step) {
  LDM_INPUTS(g, ema, p, step);
  if (!same_numel(g, "ema", ema, p) || !fits_u32(g, "ema", p) || !is_step(g, "ema", step, LDM_STEP_WORDS))
    return LDM_NONE;
  ldm_pc_ema pc = {(uint32_t)g->t[p].numel};
  return ldm_node_emit(g, LDM_OP_ema, (int[]){p, step}, 2, &ema, 1, &pc, sizeof pc, "ema");
}
const ldm_op_desc ldm_op_desc_ema = {"ema", ldm_cpu_ema, ldm_plan_1d_n, NULL};

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
const ldm_op_desc ldm_op_desc_grad_norm_partial = {"grad_norm_partial", ldm_cpu_grad_norm_partial,
                                                   ldm_plan_grad_norm_partial, NULL};
const ldm_op_desc ldm_op_desc_grad_norm_clip = {"grad_norm_clip", ldm_cpu_grad_norm_clip, ldm_plan_grad_norm_clip, NULL};

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
const ldm_op_desc ldm_op_desc_randint = {"randint", ldm_cpu_randint, ldm_plan_randint, NULL};

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
const ldm_op_desc ldm_op_desc_label_dropout = {"label_dropout", ldm_cpu_label_dropout, ldm_plan_label_dropout, NULL};

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
const ldm_op_desc ldm_op_desc_gather_rows = {"gather_rows", ldm_cpu_gather_rows, ldm_plan_gather_rows, NULL};
