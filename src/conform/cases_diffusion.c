/* Conformance cases of the diffusion / VAE-loss / optimizer op family (odd shapes on purpose). */
#include <math.h>
#include <stdio.h>

#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ldm/step.h"
#include "ops/diffusion.h"
#include "runtime/runtime.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)

/* Views bound to a shader must start at a multiple of minStorageBufferOffsetAlignment (<= 256 bytes):
 * element offsets of views are multiples of ALIGN_ELEMS. */
#define ALIGN_ELEMS (LDM_ALIGN / 4)

/* Plant an exact value at element k (a multiple of ALIGN_ELEMS) of x during the run: a fill node over a
 * one-element view. */
static int plant(ldm_graph *g, int x, int64_t k, float v) {
  if (!ldm_graph_inputs(g, &x, 1)) return LDM_NONE; /* the name below reads x */
  char nm[LDM_NAME_MAX];
  k -= k % ALIGN_ELEMS;
  snprintf(nm, sizeof nm, "%s[%lld]", g->t[x].name, (long long)k);
  return ldm_fill(g, ldm_view(g, x, nm, k, 1, S(1)), v);
}

/* A u8 table of nbytes random bytes: a u32 input seen through a u8 view. */
static int u8_table(ldm_conf_ctx *cc, ldm_graph *g, int64_t nbytes) {
  int words = ldm_conf_input_u32(cc, g, "table_words", (nbytes + 3) / 4, 0);
  LDM_INPUTS(g, words);
  int t = ldm_tensor_new(g, "table_u8", LDM_ARENA_ACT, LDM_U8, 1, &nbytes);
  if (t == LDM_NONE) return LDM_NONE; /* the view is set by hand below */
  g->t[t].view_of = words;
  g->t[t].view_offset = 0;
  return t;
}

/* ---------------------------------------------------------------- VAE pieces */
/* reads rows cols; ema: n */
static ldm_status c_reparam(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int mu = ldm_conf_input(cc, g, "mu", 2, S(a->rows, a->cols), -2, 2);
  int lv = ldm_conf_input(cc, g, "logvar", 2, S(a->rows, a->cols), -4, 3);
  int e = ldm_conf_input(cc, g, "eps", 2, S(a->rows, a->cols), -2, 2);
  int z = ldm_reparam(g, mu, lv, e);
  ldm_conf_compare(cc, g, z);
  return ldm_graph_status(g);
}
/* reads n, acc (mu), acc2 (logvar), want (WANT_1 mu, WANT_2 logvar) */
static ldm_status c_reparam_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int lv = ldm_conf_input(cc, g, "logvar", 1, S(a->n), -4, 3);
  int e = ldm_conf_input(cc, g, "eps", 1, S(a->n), -2, 2);
  int dz = ldm_conf_input(cc, g, "dz", 1, S(a->n), -1, 1);
  int dmu = (a->want & LDM_CONF_WANT_1) ? ldm_conf_output(cc, g, "dmu", 1, S(a->n)) : -1;
  int dlv = (a->want & LDM_CONF_WANT_2) ? ldm_conf_output(cc, g, "dlogvar", 1, S(a->n)) : -1;
  ldm_pc_reparam_backward pc = {(uint32_t)a->n, (uint32_t)a->acc, (uint32_t)a->acc2, (a->want & LDM_CONF_WANT_1) != 0, (a->want & LDM_CONF_WANT_2) != 0};
  int out[2] = {(a->want & LDM_CONF_WANT_1) ? dmu : dlv, (a->want & LDM_CONF_WANT_2) ? dlv : dmu};
  ldm_node_add(g, LDM_OP_reparam_backward, (int[]){lv, e, dz}, 3, out, 2, &pc, sizeof pc, "reparam_backward");
  return ldm_graph_status(g);
}
/* reads n, edges (plant x = lo and x = hi exactly) */
static ldm_status c_clamp(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a->n), -3, 3);
  if (a->edges) {
    plant(g, x, 0, -1.0f);
    plant(g, x, a->n - 1, 1.5f); /* at the last multiple of ALIGN_ELEMS */
  }
  int y = ldm_clamp(g, x, -1.0f, 1.5f);
  ldm_conf_compare(cc, g, y);
  return ldm_graph_status(g);
}
/* reads n, acc, edges */
static ldm_status c_clamp_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a->n), -3, 3);
  int dy = ldm_conf_input(cc, g, "dy", 1, S(a->n), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 1, S(a->n));
  if (a->edges) {
    plant(g, x, 0, -1.0f);
    plant(g, x, a->n / 2, 1.5f);
  }
  ldm_pc_clamp_backward pc = {(uint32_t)a->n, -1.0f, 1.5f, (uint32_t)a->acc};
  ldm_node_add(g, LDM_OP_clamp_backward, (int[]){x, dy}, 2, &dx, 1, &pc, sizeof pc, "clamp_backward");
  return ldm_graph_status(g);
}
/* reads N C H W */
static ldm_status c_kl(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int mu = ldm_conf_input(cc, g, "mu", 4, S(a->N, a->C, a->H, a->W), -2, 2);
  int lv = ldm_conf_input(cc, g, "logvar", 4, S(a->N, a->C, a->H, a->W), -4, 3);
  int l = ldm_kl_loss(g, mu, lv);
  ldm_conf_compare(cc, g, l);
  return ldm_graph_status(g);
}
/* reads n, batch, acc (mu), acc2 (logvar), want */
static ldm_status c_kl_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int mu = ldm_conf_input(cc, g, "mu", 1, S(a->n), -2, 2);
  int lv = ldm_conf_input(cc, g, "logvar", 1, S(a->n), -4, 3);
  int dl = ldm_conf_input(cc, g, "dl", 1, S(1), 0.5f, 2);
  int dmu = (a->want & LDM_CONF_WANT_1) ? ldm_conf_output(cc, g, "dmu", 1, S(a->n)) : -1;
  int dlv = (a->want & LDM_CONF_WANT_2) ? ldm_conf_output(cc, g, "dlogvar", 1, S(a->n)) : -1;
  ldm_pc_kl_loss_backward pc = {(uint32_t)a->n, 1.0f / (float)a->batch, (uint32_t)a->acc, (uint32_t)a->acc2, (a->want & LDM_CONF_WANT_1) != 0,
                                (a->want & LDM_CONF_WANT_2) != 0};
  int out[2] = {(a->want & LDM_CONF_WANT_1) ? dmu : dlv, (a->want & LDM_CONF_WANT_2) ? dlv : dmu};
  ldm_node_add(g, LDM_OP_kl_loss_backward, (int[]){mu, lv, dl}, 3, out, 2, &pc, sizeof pc, "kl_loss_backward");
  return ldm_graph_status(g);
}

/* ---------------------------------------------------------------- diffusion training */
/* reads B, per, T, tmax (t in [0, tmax): tmax > T tests out-of-range timesteps), v (v_target) */
static ldm_status c_q_sample(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x0 = ldm_conf_input(cc, g, "x0", 2, S(a->B, a->per), -1, 1);
  int ns = ldm_conf_input(cc, g, "noise", 2, S(a->B, a->per), -3, 3);
  int ab = ldm_conf_input(cc, g, "abar", 1, S(a->T), 0.001f, 0.9999f);
  int t = ldm_conf_input_u32(cc, g, "t", a->B, (uint32_t)a->tmax);
  int o = a->v ? ldm_v_target(g, x0, ns, ab, t) : ldm_q_sample(g, x0, ns, ab, t);
  ldm_conf_compare(cc, g, o);
  return ldm_graph_status(g);
}
/* reads B, per, T, v (v_target), acc (x0), acc2 (noise), want (WANT_1 x0, WANT_2 noise) */
static ldm_status c_q_sample_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int64_t n = (int64_t)a->B * a->per;
  int ab = ldm_conf_input(cc, g, "abar", 1, S(a->T), 0.001f, 0.9999f);
  int t = ldm_conf_input_u32(cc, g, "t", a->B, (uint32_t)a->T);
  int dy = ldm_conf_input(cc, g, "dy", 1, S(n), -1, 1);
  int d0 = (a->want & LDM_CONF_WANT_1) ? ldm_conf_output(cc, g, "dx0", 1, S(n)) : -1;
  int dn = (a->want & LDM_CONF_WANT_2) ? ldm_conf_output(cc, g, "dnoise", 1, S(n)) : -1;
  ldm_pc_q_sample_backward pc = {(uint32_t)n, (uint32_t)a->per, (uint32_t)a->T, (uint32_t)a->v,
                                 (uint32_t)a->acc, (uint32_t)a->acc2, (a->want & LDM_CONF_WANT_1) != 0, (a->want & LDM_CONF_WANT_2) != 0};
  int out[2] = {(a->want & LDM_CONF_WANT_1) ? d0 : dn, (a->want & LDM_CONF_WANT_2) ? dn : d0};
  ldm_node_add(g, LDM_OP_q_sample_backward, (int[]){ab, t, dy}, 3, out, 2, &pc, sizeof pc, "q_sample_backward");
  return ldm_graph_status(g);
}
/* reads B, per */
static ldm_status c_weighted_mse(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "a", 2, S(a->B, a->per), -1, 1), y = ldm_conf_input(cc, g, "b", 2, S(a->B, a->per), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 1, S(a->B), 0, 2);
  int l = ldm_weighted_mse(g, x, y, w);
  ldm_conf_compare(cc, g, l);
  return ldm_graph_status(g);
}
/* reads B, per, to_b (the gradient to b, else to a), acc */
static ldm_status c_weighted_mse_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int64_t n = (int64_t)a->B * a->per;
  int x = ldm_conf_input(cc, g, "a", 1, S(n), -1, 1), y = ldm_conf_input(cc, g, "b", 1, S(n), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 1, S(a->B), 0, 2);
  int dl = ldm_conf_input(cc, g, "dl", 1, S(1), 0.5f, 2);
  int o = ldm_conf_output(cc, g, "dx", 1, S(n));
  ldm_pc_weighted_mse_backward pc = {(uint32_t)n, (uint32_t)a->per, (a->to_b ? -2.0f : 2.0f) / (float)n, (uint32_t)a->acc};
  ldm_node_add(g, LDM_OP_weighted_mse_backward, (int[]){x, y, w, dl}, 4, &o, 1, &pc, sizeof pc, "weighted_mse_backward");
  return ldm_graph_status(g);
}
/* reads B, T, v (v-prediction), plant (LDM_PLANT_ZERO / ONE: abar[0] = 0 / 1 and t[0] = 0) */
static ldm_status c_min_snr(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int ab = ldm_conf_input(cc, g, "abar", 1, S(a->T), 0.0f, 1.0f);
  int t = ldm_conf_input_u32(cc, g, "t", a->B, (uint32_t)a->T);
  if (a->plant == LDM_PLANT_ZERO || a->plant == LDM_PLANT_ONE) {
    plant(g, ab, 0, a->plant == LDM_PLANT_ONE ? 1.0f : 0.0f);
    plant(g, t, 0, 0.0f); /* float 0 has the bits of u32 0 */
  }
  int w = ldm_min_snr_weight(g, ab, t, 5.0f, a->v);
  ldm_conf_compare(cc, g, w);
  return ldm_graph_status(g);
}
/* reads B (of each half), per, scale */
static ldm_status c_cfg(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x2", 2, S(2 * (int64_t)a->B, a->per), -3, 3);
  int o = ldm_cfg_combine(g, x, a->scale);
  ldm_conf_compare(cc, g, o);
  return ldm_graph_status(g);
}

/* reads B, per, p (phi): guidance rescale of a random [cond; uncond] output and a random guided one */
static ldm_status c_cfg_rescale(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x2", 2, S(2 * (int64_t)a->B, a->per), -3, 3);
  int gd = ldm_conf_input(cc, g, "guided", 2, S(a->B, a->per), -4, 4);
  ldm_conf_compare(cc, g, ldm_cfg_rescale(g, x, gd, a->p));
  return ldm_graph_status(g);
}

/* ---------------------------------------------------------------- sampling */
/* An in-place op's operand: a compared output holding a copy of a random input. */
static int inplace(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int ndim, const int64_t *shape, float lo,
                   float hi) {
  char nm[LDM_NAME_MAX];
  snprintf(nm, sizeof nm, "%s_in", name);
  int in = ldm_conf_input(cc, g, nm, ndim, shape, lo, hi);
  int o = ldm_conf_output(cc, g, name, ndim, shape);
  ldm_copy(g, in, o);
  return o;
}
/* reads n, t (the coefficients' word offset in a random table of t + 32 words) */
static ldm_status c_sampler(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = inplace(cc, g, "x", 1, S(a->n), -3, 3);
  int h1 = inplace(cc, g, "h1", 1, S(a->n), -3, 3), h2 = inplace(cc, g, "h2", 1, S(a->n), -3, 3);
  int h3 = inplace(cc, g, "h3", 1, S(a->n), -3, 3);
  int m = ldm_conf_input(cc, g, "model_out", 1, S(a->n), -2, 2);
  int ns = ldm_conf_input(cc, g, "noise", 1, S(a->n), -2, 2);
  int c = ldm_conf_input(cc, g, "coef", 1, S(a->t + LDM_SC_WORDS), -1.5f, 1.5f);
  ldm_sampler_step(g, x, m, h1, h2, h3, ns, c, (int)a->t);
  return ldm_graph_status(g);
}
/* reads B, C, H, W, t (coefficient offset); mask in [0, 1), plus exact 0 and 1 planted */
static ldm_status c_inpaint(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = inplace(cc, g, "x", 4, S(a->B, a->C, a->H, a->W), -3, 3);
  int z0 = ldm_conf_input(cc, g, "z0", 4, S(a->B, a->C, a->H, a->W), -2, 2);
  int mk = ldm_conf_input(cc, g, "mask", 4, S(a->B, 1, a->H, a->W), 0, 1);
  int n1 = ldm_conf_input(cc, g, "n1", 4, S(a->B, a->C, a->H, a->W), -2, 2);
  int n2 = ldm_conf_input(cc, g, "n2", 4, S(a->B, a->C, a->H, a->W), -2, 2);
  int c = ldm_conf_input(cc, g, "coef", 1, S(a->t + LDM_SC_WORDS), -1.5f, 1.5f);
  if (a->B * a->H * a->W > ALIGN_ELEMS) {
    plant(g, mk, 0, 0.0f);
    plant(g, mk, ALIGN_ELEMS, 1.0f);
  }
  ldm_inpaint_blend(g, x, z0, mk, n1, n2, c, (int)a->t);
  return ldm_graph_status(g);
}
/* reads B, D (dimensions), K, kind (pred), t (offset of a, s in the table): parameters in [0.1, 2) (weights,
 * variances, means), a and s in [0.05, 1) */
static ldm_status c_gauss_mix(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 2, S(a->B, a->D), -3, 3);
  int prm = ldm_conf_input(cc, g, "params", 2, S(a->K, a->D + 2), 0.1f, 2.0f);
  int c = ldm_conf_input(cc, g, "coef", 1, S(a->t + 2), 0.05f, 1.0f);
  ldm_conf_compare(cc, g, ldm_gauss_mix_denoise(g, x, prm, c, (int)a->t, a->kind));
  return ldm_graph_status(g);
}

/* ---------------------------------------------------------------- optimizer pieces */
static ldm_status c_ema(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int st = ldm_conf_step(cc, g);
  int p = ldm_conf_input(cc, g, "p", 1, S(a->n), -1, 1);
  int e = ldm_conf_output(cc, g, "ema", 1, S(a->n));
  ldm_ema(g, e, p, st);
  return ldm_graph_status(g);
}
/* reads n, plant (LDM_PLANT_NAN / INF at 2n/3), range (values in [-range, range)) */
static ldm_status c_grad_norm(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int st = ldm_conf_step(cc, g);
  float r = a->range;
  int gr = ldm_conf_input(cc, g, "grads", 1, S(a->n), -r, r);
  if (a->plant) plant(g, gr, a->n * 2 / 3, a->plant == LDM_PLANT_NAN ? NAN : INFINITY);
  if (!a->plant) {
    int gs = ldm_conf_output(cc, g, "gs", 1, S(4));
    ldm_grad_norm_clip(g, gr, st, gs);
    return ldm_graph_status(g);
  }
  /* a non-finite gradient makes the norm NaN/Inf: compare the scale and the flag only */
  int gs = ldm_act(g, "gs", 1, S(4));
  int cmp = ldm_conf_output(cc, g, "gs[0:2]", 1, S(2));
  ldm_grad_norm_clip(g, gr, st, gs);
  int v = ldm_view(g, gs, "gs[0:2]v", 0, 1, S(2));
  ldm_copy(g, v, cmp);
  return ldm_graph_status(g);
}
/* grad_norm_clip feeding AdamW (use_gs); reads n, plant (LDM_PLANT_NAN: the step must be skipped) */
static ldm_status c_adamw_gs(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int st = ldm_conf_step(cc, g);
  int gr = ldm_conf_output(cc, g, "grad", 1, S(a->n));
  int p = ldm_conf_output(cc, g, "p", 1, S(a->n));
  int m = ldm_conf_output(cc, g, "m", 1, S(a->n));
  int v = ldm_conf_output_ex(cc, g, "v", LDM_F32, 1, S(a->n), 0.0f, 0.01f);
  int gs = ldm_act(g, "gs", 1, S(4));
  if (a->plant) plant(g, gr, a->n - 1, NAN);
  ldm_grad_norm_clip(g, gr, st, gs);
  ldm_adamw_gs(g, p, gr, m, v, st, gs, ldm_adamw_recipe.beta1, ldm_adamw_recipe.beta2, ldm_adamw_recipe.eps, 0.01f);
  return ldm_graph_status(g);
}
/* reads n, ulo, uhi, use_step */
static ldm_status c_randint(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int st = ldm_conf_step(cc, g);
  int o = ldm_conf_output_ex(cc, g, "out", LDM_U32, 1, S(a->n), 0, 1);
  ldm_randint(g, o, a->use_step ? st : -1, 0xabcdef0123ull, 3, (uint32_t)a->ulo, (uint32_t)a->uhi);
  return ldm_graph_status(g);
}
/* reads n, p, null_class */
static ldm_status c_label_dropout(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int st = ldm_conf_step(cc, g);
  int lbl = ldm_conf_input_u32(cc, g, "labels", a->n, 10);
  int o = ldm_conf_output_ex(cc, g, "out", LDM_U32, 1, S(a->n), 0, 1);
  ldm_label_dropout(g, lbl, o, st, 77, 4, a->p, (uint32_t)a->null_class);
  return ldm_graph_status(g);
}
/* reads kind (the table dtype: LDM_U8, LDM_F32, LDM_U32), V, row, B (indices drawn from [0, V + 2): two past the table, repeats
 * certain when B > V) */
static ldm_status c_gather(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int64_t V = a->V, row = a->row, B = a->B;
  int tab = a->kind == LDM_U8    ? u8_table(cc, g, V * row)
            : a->kind == LDM_U32 ? ldm_conf_input_u32(cc, g, "table", V * row, 11)
                        : ldm_conf_input(cc, g, "table", 2, S(V, row), -3, 3);
  int idx = ldm_conf_input_u32(cc, g, "idx", B, (uint32_t)V + 2);
  int o = ldm_conf_output_ex(cc, g, "rows", a->kind == LDM_U32 ? LDM_U32 : LDM_F32, 2, S(B, row), -1, 1);
  ldm_gather_rows(g, tab, idx, o, row, 2.0f / 255.0f, -1.0f);
  return ldm_graph_status(g);
}

const ldm_conf_case ldm_conf_cases_diffusion[] = {
    {.op = "reparam", .shape = "[1,1]", .build = c_reparam, .a = {.rows = 1, .cols = 1}},
    {.op = "reparam", .shape = "[7,4099]", .build = c_reparam, .a = {.rows = 7, .cols = 4099}},
    {.op = "reparam_backward", .shape = "1031 both", .build = c_reparam_backward, .a = {.n = 1031, .want = LDM_CONF_WANT_BOTH}},
    {.op = "reparam_backward", .shape = "77 both acc", .build = c_reparam_backward, .a = {.n = 77, .acc = true, .acc2 = true, .want = LDM_CONF_WANT_BOTH}},
    {.op = "reparam_backward", .shape = "513 logvar only acc", .build = c_reparam_backward, .a = {.n = 513, .acc2 = true, .want = LDM_CONF_WANT_2}},
    {.op = "reparam_backward", .shape = "33 mu only", .build = c_reparam_backward, .a = {.n = 33, .want = LDM_CONF_WANT_1}},
    {.op = "clamp", .shape = "1", .build = c_clamp, .a = {.n = 1}},
    {.op = "clamp", .shape = "5003 edges", .build = c_clamp, .a = {.n = 5003, .edges = true}},
    {.op = "clamp_backward", .shape = "1031 edges", .build = c_clamp_backward, .a = {.n = 1031, .edges = true}},
    {.op = "clamp_backward", .shape = "257 acc edges", .build = c_clamp_backward, .a = {.n = 257, .acc = true, .edges = true}},
    {.op = "kl_loss", .shape = "[1,1,1,1]", .build = c_kl, .a = {.N = 1, .C = 1, .H = 1, .W = 1}},
    {.op = "kl_loss", .shape = "[7,4,5,3]", .build = c_kl, .a = {.N = 7, .C = 4, .H = 5, .W = 3}},
    {.op = "kl_loss", .shape = "[33,4,8,8]", .build = c_kl, .a = {.N = 33, .C = 4, .H = 8, .W = 8}},
    {.op = "kl_loss_backward", .shape = "1031 both", .build = c_kl_backward, .a = {.n = 1031, .batch = 7, .want = LDM_CONF_WANT_BOTH}},
    {.op = "kl_loss_backward", .shape = "99 both acc", .build = c_kl_backward, .a = {.n = 99, .batch = 3, .acc = true, .acc2 = true, .want = LDM_CONF_WANT_BOTH}},
    {.op = "kl_loss_backward", .shape = "65 logvar only", .build = c_kl_backward, .a = {.n = 65, .batch = 5, .want = LDM_CONF_WANT_2}},
    {.op = "q_sample", .shape = "[1,1] T=1", .build = c_q_sample, .a = {.B = 1, .per = 1, .T = 1, .tmax = 1}},
    {.op = "q_sample", .shape = "[5,63] T=37 t past table", .build = c_q_sample, .a = {.B = 5, .per = 63, .T = 37, .tmax = 45}},
    {.op = "q_sample", .shape = "[33,256] T=1000", .build = c_q_sample, .a = {.B = 33, .per = 256, .T = 1000, .tmax = 1000}},
    {.op = "v_target", .shape = "[5,63] T=37 t past table", .build = c_q_sample, .a = {.B = 5, .per = 63, .T = 37, .tmax = 45, .v = true}},
    {.op = "v_target", .shape = "[17,101] T=1000", .build = c_q_sample, .a = {.B = 17, .per = 101, .T = 1000, .tmax = 1000, .v = true}},
    {.op = "q_sample_backward", .shape = "[5,63] both", .build = c_q_sample_backward, .a = {.B = 5, .per = 63, .T = 37, .want = LDM_CONF_WANT_BOTH}},
    {.op = "q_sample_backward", .shape = "[3,17] both acc", .build = c_q_sample_backward, .a = {.B = 3, .per = 17, .T = 11, .acc = true, .acc2 = true, .want = LDM_CONF_WANT_BOTH}},
    {.op = "q_sample_backward", .shape = "[7,9] v-target noise only", .build = c_q_sample_backward, .a = {.B = 7, .per = 9, .T = 13, .v = true, .want = LDM_CONF_WANT_2}},
    {.op = "q_sample_backward", .shape = "[4,31] v-target x0 only acc", .build = c_q_sample_backward, .a = {.B = 4, .per = 31, .T = 13, .v = true, .acc = true, .want = LDM_CONF_WANT_1}},
    {.op = "weighted_mse", .shape = "[1,1]", .build = c_weighted_mse, .a = {.B = 1, .per = 1}},
    {.op = "weighted_mse", .shape = "[6,37]", .build = c_weighted_mse, .a = {.B = 6, .per = 37}},
    {.op = "weighted_mse", .shape = "[33,256]", .build = c_weighted_mse, .a = {.B = 33, .per = 256}},
    {.op = "weighted_mse_backward", .shape = "[6,37] to a", .build = c_weighted_mse_backward, .a = {.B = 6, .per = 37}},
    {.op = "weighted_mse_backward", .shape = "[9,113] to b acc", .build = c_weighted_mse_backward, .a = {.B = 9, .per = 113, .to_b = true, .acc = true}},
    {.op = "min_snr_weight", .shape = "B=1", .build = c_min_snr, .a = {.B = 1, .T = 1}},
    {.op = "min_snr_weight", .shape = "B=129 eps abar=0", .build = c_min_snr, .a = {.B = 129, .T = 50, .plant = LDM_PLANT_ZERO}},
    {.op = "min_snr_weight", .shape = "B=129 eps abar=1", .build = c_min_snr, .a = {.B = 129, .T = 50, .plant = LDM_PLANT_ONE}},
    {.op = "min_snr_weight", .shape = "B=77 v abar=0", .build = c_min_snr, .a = {.B = 77, .T = 50, .v = true, .plant = LDM_PLANT_ZERO}},
    {.op = "min_snr_weight", .shape = "B=77 v abar=1", .build = c_min_snr, .a = {.B = 77, .T = 50, .v = true, .plant = LDM_PLANT_ONE}},
    {.op = "cfg_combine", .shape = "2x[1,1] s=7.5", .build = c_cfg, .a = {.B = 1, .per = 1, .scale = 7.5f}},
    {.op = "cfg_combine", .shape = "2x[3,4*5*7] s=2", .build = c_cfg, .a = {.B = 3, .per = 140, .scale = 2.0f}},
    {.op = "cfg_combine", .shape = "2x[64,256] s=2", .build = c_cfg, .a = {.B = 64, .per = 256, .scale = 2.0f}},
    {.op = "sampler_step", .shape = "1", .build = c_sampler, .a = {.n = 1}},
    {.op = "sampler_step", .shape = "1031 off 8", .build = c_sampler, .a = {.n = 1031, .t = 8}},
    {.op = "sampler_step", .shape = "4099", .build = c_sampler, .a = {.n = 4099}},
    {.op = "inpaint_blend", .shape = "[1,1,1,1]", .build = c_inpaint, .a = {.B = 1, .C = 1, .H = 1, .W = 1}},
    {.op = "inpaint_blend", .shape = "[3,4,7,9] off 25", .build = c_inpaint, .a = {.B = 3, .C = 4, .H = 7, .W = 9, .t = 25}},
    {.op = "inpaint_blend", .shape = "[5,4,8,8]", .build = c_inpaint, .a = {.B = 5, .C = 4, .H = 8, .W = 8}},
    {.op = "cfg_rescale", .shape = "2x[1,1] phi 0.7 (std 0)", .build = c_cfg_rescale, .a = {.B = 1, .per = 1, .p = 0.7f}},
    {.op = "cfg_rescale", .shape = "2x[3,140] phi 1", .build = c_cfg_rescale, .a = {.B = 3, .per = 140, .p = 1.0f}},
    {.op = "cfg_rescale", .shape = "2x[37,256] phi 0.7", .build = c_cfg_rescale, .a = {.B = 37, .per = 256, .p = 0.7f}},
    {.op = "gauss_mix_denoise", .shape = "B=1 d=1 K=1 eps", .build = c_gauss_mix, .a = {.B = 1, .D = 1, .K = 1}},
    {.op = "gauss_mix_denoise", .shape = "B=513 d=4 K=3 eps", .build = c_gauss_mix, .a = {.B = 513, .D = 4, .K = 3, .t = 5}},
    {.op = "gauss_mix_denoise", .shape = "B=129 d=7 K=5 v", .build = c_gauss_mix, .a = {.B = 129, .D = 7, .K = 5, .kind = 1}},
    {.op = "gauss_mix_denoise", .shape = "B=65 d=2 K=2 x0", .build = c_gauss_mix, .a = {.B = 65, .D = 2, .K = 2, .kind = 2}},
    {.op = "ema", .shape = "1", .build = c_ema, .a = {.n = 1}},
    {.op = "ema", .shape = "70001", .build = c_ema, .a = {.n = 70001}},
    {.op = "grad_norm_partial", .shape = "1", .build = c_grad_norm, .a = {.n = 1, .range = 1.0f}},
    {.op = "grad_norm_partial", .shape = "1000 (clipped)", .build = c_grad_norm, .a = {.n = 1000, .range = 1.0f}},
    {.op = "grad_norm_partial", .shape = "1000 small (not clipped)", .build = c_grad_norm, .a = {.n = 1000, .range = 0.01f}},
    {.op = "grad_norm_clip", .shape = "300001 (1024 groups, strided)", .build = c_grad_norm, .a = {.n = 300001, .range = 1.0f}},
    {.op = "grad_norm_clip", .shape = "5003 NaN -> flag 1", .build = c_grad_norm, .a = {.n = 5003, .plant = LDM_PLANT_NAN, .range = 1.0f}},
    {.op = "grad_norm_clip", .shape = "70001 Inf -> flag 1", .build = c_grad_norm, .a = {.n = 70001, .plant = LDM_PLANT_INF, .range = 1.0f}},
    {.op = "grad_norm_clip", .shape = "65535*256+777", .build = c_grad_norm, .a = {.n = 65535 * 256 + 777, .range = 1.0f}, .full_only = true},
    {.op = "adamw", .shape = "gs 4099 clipped", .build = c_adamw_gs, .a = {.n = 4099}},
    {.op = "adamw", .shape = "gs 257 NaN skips", .build = c_adamw_gs, .a = {.n = 257, .plant = LDM_PLANT_NAN}},
    {.op = "randint", .shape = "1001 [3,1000)", .build = c_randint, .a = {.n = 1001, .ulo = 3, .uhi = 1000, .use_step = true}},
    {.op = "randint", .shape = "1 [0,11) no-step", .build = c_randint, .a = {.n = 1, .uhi = 11}},
    {.op = "randint", .shape = "4097 [5,2^32-16)", .build = c_randint, .a = {.n = 4097, .ulo = 5, .uhi = 0xfffffff0u, .use_step = true}},
    {.op = "label_dropout", .shape = "1003 p=0.1", .build = c_label_dropout, .a = {.n = 1003, .p = 0.1f, .null_class = 10}},
    {.op = "label_dropout", .shape = "5 p=0.5", .build = c_label_dropout, .a = {.n = 5, .p = 0.5f, .null_class = 10}},
    {.op = "gather_rows", .shape = "u8 V=7 row=29 B=50", .build = c_gather, .a = {.kind = LDM_U8, .V = 7, .row = 29, .B = 50}},
    {.op = "gather_rows", .shape = "u8 V=11 row=1024 B=128", .build = c_gather, .a = {.kind = LDM_U8, .V = 11, .row = 1024, .B = 128}},
    {.op = "gather_rows", .shape = "f32 V=5 row=33 B=17", .build = c_gather, .a = {.kind = LDM_F32, .V = 5, .row = 33, .B = 17}},
    {.op = "gather_rows", .shape = "u8 V=1 row=1 B=3", .build = c_gather, .a = {.kind = LDM_U8, .V = 1, .row = 1, .B = 3}},
    {.op = "gather_rows", .shape = "u32 labels V=37 row=1 B=129", .build = c_gather, .a = {.kind = LDM_U32, .V = 37, .row = 1, .B = 129}},
};
const int ldm_conf_cases_diffusion_n = (int)(sizeof ldm_conf_cases_diffusion / sizeof ldm_conf_cases_diffusion[0]);
