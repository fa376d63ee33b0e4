/* Conformance cases of the diffusion / VAE-loss / optimizer op family (odd shapes on purpose). */
#include <math.h>
#include <stdio.h>

#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ldm/step.h"
#include "ops/diffusion.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)
#define TRY_T(x)                                                                                   \
  do {                                                                                             \
    if ((x) < 0) return LDM_ERR_INTERNAL;                                                          \
  } while (0)

/* Views bound to a shader must start at a multiple of minStorageBufferOffsetAlignment (<= 256 bytes):
 * element offsets of views are multiples of ALIGN_ELEMS. */
#define ALIGN_ELEMS (LDM_ALIGN / 4)

/* Plant an exact value at element k (a multiple of ALIGN_ELEMS) of x during the run: a fill node over a
 * one-element view. */
static int plant(ldm_graph *g, int x, int64_t k, float v) {
  char nm[LDM_NAME_MAX];
  k -= k % ALIGN_ELEMS;
  snprintf(nm, sizeof nm, "%s[%lld]", g->t[x].name, (long long)k);
  int e = ldm_view(g, x, nm, k, 1, S(1));
  return e < 0 ? -1 : ldm_fill(g, e, v);
}

/* Words [0, n) of the u32 tensor st set to v during the run: label dropout with p = 1 writes null_class
 * everywhere. (The runner fills the step buffer's user words with 0; a view of word 16 alone would not
 * be aligned for binding, so the sampler cases build their own word buffer: [0, 18) <- t_prev, then
 * [0, 17) <- t leaves word 16 = t and word 17 = t_prev.) */
static int set_words(ldm_conf_ctx *cc, ldm_graph *g, int st, int n, uint32_t v) {
  char nm[LDM_NAME_MAX];
  snprintf(nm, sizeof nm, "labels_for_words_%d", n);
  int lbl = ldm_conf_input_u32(cc, g, nm, n, 10);
  snprintf(nm, sizeof nm, "words[0:%d]", n);
  int words = lbl < 0 ? -1 : ldm_view(g, st, nm, 0, 1, S(n));
  return words < 0 ? -1 : ldm_label_dropout(g, lbl, words, -1, 1, 2, 1.0f, v);
}

/* A u8 table of nbytes random bytes: a u32 input seen through a u8 view. */
static int u8_table(ldm_conf_ctx *cc, ldm_graph *g, int64_t nbytes) {
  int words = ldm_conf_input_u32(cc, g, "table_words", (nbytes + 3) / 4, 0);
  if (words < 0) return -1;
  int t = ldm_tensor_new(g, "table_u8", LDM_ARENA_ACT, LDM_U8, 1, &nbytes);
  if (t < 0) return -1;
  g->t[t].view_of = words;
  g->t[t].view_offset = 0;
  return t;
}

/* ---------------------------------------------------------------- VAE pieces */
static ldm_status c_reparam(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int mu = ldm_conf_input(cc, g, "mu", 2, S(a[0], a[1]), -2, 2);
  int lv = ldm_conf_input(cc, g, "logvar", 2, S(a[0], a[1]), -4, 3);
  int e = ldm_conf_input(cc, g, "eps", 2, S(a[0], a[1]), -2, 2);
  TRY_T(mu);
  TRY_T(lv);
  TRY_T(e);
  int z = ldm_reparam(g, mu, lv, e);
  TRY_T(z);
  ldm_conf_compare(cc, g, z);
  return LDM_OK;
}
/* arg: n, acc_mu, acc_lv, want (1 mu, 2 lv, 3 both) */
static ldm_status c_reparam_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int lv = ldm_conf_input(cc, g, "logvar", 1, S(a[0]), -4, 3);
  int e = ldm_conf_input(cc, g, "eps", 1, S(a[0]), -2, 2);
  int dz = ldm_conf_input(cc, g, "dz", 1, S(a[0]), -1, 1);
  int dmu = (a[3] & 1) ? ldm_conf_output(cc, g, "dmu", 1, S(a[0])) : -1;
  int dlv = (a[3] & 2) ? ldm_conf_output(cc, g, "dlogvar", 1, S(a[0])) : -1;
  TRY_T(lv);
  TRY_T(e);
  TRY_T(dz);
  ldm_pc_reparam_backward pc = {(uint32_t)a[0], (uint32_t)a[1], (uint32_t)a[2], a[3] & 1, (a[3] >> 1) & 1};
  int out[2] = {dmu >= 0 ? dmu : dlv, dlv >= 0 ? dlv : dmu};
  TRY_T(out[0]);
  TRY_T(ldm_node_add(g, LDM_OP_reparam_backward, (int[]){lv, e, dz}, 3, out, 2, &pc, sizeof pc, "reparam_backward"));
  return LDM_OK;
}
/* arg: n, edges (plant x = lo and x = hi exactly) */
static ldm_status c_clamp(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a[0]), -3, 3);
  TRY_T(x);
  if (a[1]) {
    TRY_T(plant(g, x, 0, -1.0f));
    TRY_T(plant(g, x, a[0] - 1, 1.5f)); /* at the last multiple of ALIGN_ELEMS */
  }
  int y = ldm_clamp(g, x, -1.0f, 1.5f);
  TRY_T(y);
  ldm_conf_compare(cc, g, y);
  return LDM_OK;
}
/* arg: n, accumulate, edges */
static ldm_status c_clamp_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a[0]), -3, 3);
  int dy = ldm_conf_input(cc, g, "dy", 1, S(a[0]), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 1, S(a[0]));
  TRY_T(x);
  TRY_T(dy);
  TRY_T(dx);
  if (a[2]) {
    TRY_T(plant(g, x, 0, -1.0f));
    TRY_T(plant(g, x, a[0] / 2, 1.5f));
  }
  ldm_pc_clamp_backward pc = {(uint32_t)a[0], -1.0f, 1.5f, (uint32_t)a[1]};
  TRY_T(ldm_node_add(g, LDM_OP_clamp_backward, (int[]){x, dy}, 2, &dx, 1, &pc, sizeof pc, "clamp_backward"));
  return LDM_OK;
}
/* arg: N, C, H, W */
static ldm_status c_kl(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int mu = ldm_conf_input(cc, g, "mu", 4, S(a[0], a[1], a[2], a[3]), -2, 2);
  int lv = ldm_conf_input(cc, g, "logvar", 4, S(a[0], a[1], a[2], a[3]), -4, 3);
  TRY_T(mu);
  TRY_T(lv);
  int l = ldm_kl_loss(g, mu, lv);
  TRY_T(l);
  ldm_conf_compare(cc, g, l);
  return LDM_OK;
}
/* arg: n, batch, acc_mu, acc_lv, want */
static ldm_status c_kl_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int mu = ldm_conf_input(cc, g, "mu", 1, S(a[0]), -2, 2);
  int lv = ldm_conf_input(cc, g, "logvar", 1, S(a[0]), -4, 3);
  int dl = ldm_conf_input(cc, g, "dl", 1, S(1), 0.5f, 2);
  int dmu = (a[4] & 1) ? ldm_conf_output(cc, g, "dmu", 1, S(a[0])) : -1;
  int dlv = (a[4] & 2) ? ldm_conf_output(cc, g, "dlogvar", 1, S(a[0])) : -1;
  TRY_T(mu);
  TRY_T(lv);
  TRY_T(dl);
  ldm_pc_kl_loss_backward pc = {(uint32_t)a[0], 1.0f / (float)a[1], (uint32_t)a[2], (uint32_t)a[3], a[4] & 1,
                                (a[4] >> 1) & 1};
  int out[2] = {dmu >= 0 ? dmu : dlv, dlv >= 0 ? dlv : dmu};
  TRY_T(out[0]);
  TRY_T(ldm_node_add(g, LDM_OP_kl_loss_backward, (int[]){mu, lv, dl}, 3, out, 2, &pc, sizeof pc, "kl_loss_backward"));
  return LDM_OK;
}

/* ---------------------------------------------------------------- diffusion training */
/* arg: B, per, T, tmax (t in [0, tmax): tmax > T tests out-of-range timesteps), v_target */
static ldm_status c_q_sample(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x0 = ldm_conf_input(cc, g, "x0", 2, S(a[0], a[1]), -1, 1);
  int ns = ldm_conf_input(cc, g, "noise", 2, S(a[0], a[1]), -3, 3);
  int ab = ldm_conf_input(cc, g, "abar", 1, S(a[2]), 0.001f, 0.9999f);
  int t = ldm_conf_input_u32(cc, g, "t", a[0], (uint32_t)a[3]);
  TRY_T(x0);
  TRY_T(ns);
  TRY_T(ab);
  TRY_T(t);
  int o = a[4] ? ldm_v_target(g, x0, ns, ab, t) : ldm_q_sample(g, x0, ns, ab, t);
  TRY_T(o);
  ldm_conf_compare(cc, g, o);
  return LDM_OK;
}
/* arg: B, per, T, v_target, acc_x0, acc_noise, want */
static ldm_status c_q_sample_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int64_t n = (int64_t)a[0] * a[1];
  int ab = ldm_conf_input(cc, g, "abar", 1, S(a[2]), 0.001f, 0.9999f);
  int t = ldm_conf_input_u32(cc, g, "t", a[0], (uint32_t)a[2]);
  int dy = ldm_conf_input(cc, g, "dy", 1, S(n), -1, 1);
  int d0 = (a[6] & 1) ? ldm_conf_output(cc, g, "dx0", 1, S(n)) : -1;
  int dn = (a[6] & 2) ? ldm_conf_output(cc, g, "dnoise", 1, S(n)) : -1;
  TRY_T(ab);
  TRY_T(t);
  TRY_T(dy);
  ldm_pc_q_sample_backward pc = {(uint32_t)n, (uint32_t)a[1], (uint32_t)a[2], (uint32_t)a[3],
                                 (uint32_t)a[4], (uint32_t)a[5], a[6] & 1, (a[6] >> 1) & 1};
  int out[2] = {d0 >= 0 ? d0 : dn, dn >= 0 ? dn : d0};
  TRY_T(out[0]);
  TRY_T(ldm_node_add(g, LDM_OP_q_sample_backward, (int[]){ab, t, dy}, 3, out, 2, &pc, sizeof pc, "q_sample_backward"));
  return LDM_OK;
}
/* arg: B, per */
static ldm_status c_weighted_mse(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "a", 2, S(a[0], a[1]), -1, 1), y = ldm_conf_input(cc, g, "b", 2, S(a[0], a[1]), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 1, S(a[0]), 0, 2);
  TRY_T(x);
  TRY_T(y);
  TRY_T(w);
  int l = ldm_weighted_mse(g, x, y, w);
  TRY_T(l);
  ldm_conf_compare(cc, g, l);
  return LDM_OK;
}
/* arg: B, per, sign (0 grad to a, 1 grad to b), accumulate */
static ldm_status c_weighted_mse_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int64_t n = (int64_t)a[0] * a[1];
  int x = ldm_conf_input(cc, g, "a", 1, S(n), -1, 1), y = ldm_conf_input(cc, g, "b", 1, S(n), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 1, S(a[0]), 0, 2);
  int dl = ldm_conf_input(cc, g, "dl", 1, S(1), 0.5f, 2);
  int o = ldm_conf_output(cc, g, "dx", 1, S(n));
  TRY_T(x);
  TRY_T(y);
  TRY_T(w);
  TRY_T(dl);
  TRY_T(o);
  ldm_pc_weighted_mse_backward pc = {(uint32_t)n, (uint32_t)a[1], (a[2] ? -2.0f : 2.0f) / (float)n, (uint32_t)a[3]};
  TRY_T(ldm_node_add(g, LDM_OP_weighted_mse_backward, (int[]){x, y, w, dl}, 4, &o, 1, &pc, sizeof pc,
                     "weighted_mse_backward"));
  return LDM_OK;
}
/* arg: B, T, v_pred, plant (-1 none, else abar[0] = plant and t[0] = 0) */
static ldm_status c_min_snr(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int ab = ldm_conf_input(cc, g, "abar", 1, S(a[1]), 0.0f, 1.0f);
  int t = ldm_conf_input_u32(cc, g, "t", a[0], (uint32_t)a[1]);
  TRY_T(ab);
  TRY_T(t);
  if (a[3] >= 0) {
    TRY_T(plant(g, ab, 0, (float)a[3]));
    TRY_T(plant(g, t, 0, 0.0f)); /* float 0 has the bits of u32 0 */
  }
  int w = ldm_min_snr_weight(g, ab, t, 5.0f, a[2]);
  TRY_T(w);
  ldm_conf_compare(cc, g, w);
  return LDM_OK;
}
/* arg: B (of each half), per, scale x 10 */
static ldm_status c_cfg(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x2", 2, S(2 * (int64_t)a[0], a[1]), -3, 3);
  TRY_T(x);
  int o = ldm_cfg_combine(g, x, (float)a[2] / 10.0f);
  TRY_T(o);
  ldm_conf_compare(cc, g, o);
  return LDM_OK;
}

/* ---------------------------------------------------------------- sampling */
/* arg: n, kind, eta x 100, v_pred, t - 64, t_prev (-1: final step). The abar table is decreasing across the
 * two regions used: entries [0, 20) in [0.6, 0.99] (t_prev), entries [64, 101) in [0.02, 0.5] (t). */
static ldm_status c_sampler(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_tensor_new(g, "sampler_words", LDM_ARENA_ACT, LDM_U32, 1, S(LDM_STEP_WORDS));
  int hi = ldm_conf_input(cc, g, "abar_hi", 1, S(20), 0.6f, 0.99f);
  int lo = ldm_conf_input(cc, g, "abar_lo", 1, S(37), 0.02f, 0.5f);
  int x = ldm_conf_input(cc, g, "x", 1, S(a[0]), -3, 3);
  int m = ldm_conf_input(cc, g, "model_out", 1, S(a[0]), -2, 2);
  int ns = ldm_conf_input(cc, g, "noise", 1, S(a[0]), -2, 2);
  int o = ldm_conf_output(cc, g, "x_prev", 1, S(a[0]));
  TRY_T(st);
  TRY_T(hi);
  TRY_T(lo);
  TRY_T(x);
  TRY_T(m);
  TRY_T(ns);
  TRY_T(o);
  int ab = ldm_act(g, "abar", 1, S(ALIGN_ELEMS + 37));
  TRY_T(ab);
  int vh = ldm_view(g, ab, "abar[0:20]", 0, 1, S(20)), vl = ldm_view(g, ab, "abar[64:101]", ALIGN_ELEMS, 1, S(37));
  TRY_T(vh);
  TRY_T(vl);
  TRY_T(ldm_copy(g, hi, vh));
  TRY_T(ldm_copy(g, lo, vl));
  TRY_T(set_words(cc, g, st, LDM_STEP_USER + 2, a[5] < 0 ? 0xffffffffu : (uint32_t)a[5]));
  TRY_T(set_words(cc, g, st, LDM_STEP_USER + 1, (uint32_t)ALIGN_ELEMS + (uint32_t)a[4]));
  TRY_T(ldm_sampler_step(g, x, m, ab, ns, st, a[1], (float)a[2] / 100.0f, a[3], o));
  return LDM_OK;
}

/* ---------------------------------------------------------------- optimizer pieces */
static ldm_status c_ema(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_conf_step(cc, g);
  int p = ldm_conf_input(cc, g, "p", 1, S(a[0]), -1, 1);
  int e = ldm_conf_output(cc, g, "ema", 1, S(a[0]));
  TRY_T(st);
  TRY_T(p);
  TRY_T(e);
  TRY_T(ldm_ema(g, e, p, st));
  return LDM_OK;
}
/* arg: n, plant (0 none, 1 NaN, 2 +Inf), scale of the values */
static ldm_status c_grad_norm(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_conf_step(cc, g);
  float r = (float)a[2] / 100.0f;
  int gr = ldm_conf_input(cc, g, "grads", 1, S(a[0]), -r, r);
  TRY_T(st);
  TRY_T(gr);
  if (a[1]) TRY_T(plant(g, gr, a[0] * 2 / 3, a[1] == 1 ? NAN : INFINITY));
  if (!a[1]) {
    int gs = ldm_conf_output(cc, g, "gs", 1, S(4));
    TRY_T(gs);
    TRY_T(ldm_grad_norm_clip(g, gr, st, gs));
    return LDM_OK;
  }
  /* a non-finite gradient makes the norm NaN/Inf: compare the scale and the flag only */
  int gs = ldm_act(g, "gs", 1, S(4));
  int cmp = ldm_conf_output(cc, g, "gs[0:2]", 1, S(2));
  TRY_T(gs);
  TRY_T(cmp);
  TRY_T(ldm_grad_norm_clip(g, gr, st, gs));
  int v = ldm_view(g, gs, "gs[0:2]v", 0, 1, S(2));
  TRY_T(v);
  TRY_T(ldm_copy(g, v, cmp));
  return LDM_OK;
}
/* grad_norm_clip feeding AdamW (use_gs); arg: n, plant NaN (the step must be skipped) */
static ldm_status c_adamw_gs(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_conf_step(cc, g);
  int gr = ldm_conf_output(cc, g, "grad", 1, S(a[0]));
  int p = ldm_conf_output(cc, g, "p", 1, S(a[0]));
  int m = ldm_conf_output(cc, g, "m", 1, S(a[0]));
  int v = ldm_conf_output_ex(cc, g, "v", LDM_F32, 1, S(a[0]), 0.0f, 0.01f);
  int gs = ldm_act(g, "gs", 1, S(4));
  TRY_T(st);
  TRY_T(gr);
  TRY_T(p);
  TRY_T(m);
  TRY_T(v);
  TRY_T(gs);
  if (a[1]) TRY_T(plant(g, gr, a[0] - 1, NAN));
  TRY_T(ldm_grad_norm_clip(g, gr, st, gs));
  TRY_T(ldm_adamw_gs(g, p, gr, m, v, st, gs, 0.9f, 0.999f, 1e-8f, 0.01f));
  return LDM_OK;
}
/* arg: n, lo, hi (u32 bit patterns), use_step */
static ldm_status c_randint(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_conf_step(cc, g);
  int o = ldm_conf_output_ex(cc, g, "out", LDM_U32, 1, S(a[0]), 0, 1);
  TRY_T(st);
  TRY_T(o);
  TRY_T(ldm_randint(g, o, a[3] ? st : -1, 0xabcdef0123ull, 3, (uint32_t)a[1], (uint32_t)a[2]));
  return LDM_OK;
}
/* arg: n, p x 100, null_class */
static ldm_status c_label_dropout(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_conf_step(cc, g);
  int lbl = ldm_conf_input_u32(cc, g, "labels", a[0], 10);
  int o = ldm_conf_output_ex(cc, g, "out", LDM_U32, 1, S(a[0]), 0, 1);
  TRY_T(st);
  TRY_T(lbl);
  TRY_T(o);
  TRY_T(ldm_label_dropout(g, lbl, o, st, 77, 4, (float)a[1] / 100.0f, (uint32_t)a[2]));
  return LDM_OK;
}
/* arg: table (1 u8, 0 f32, 2 u32), V, row, B (indices drawn from [0, V + 2): two past the table, repeats
 * certain when B > V) */
static ldm_status c_gather(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int64_t V = a[1], row = a[2], B = a[3];
  int tab = a[0] == 1   ? u8_table(cc, g, V * row)
            : a[0] == 2 ? ldm_conf_input_u32(cc, g, "table", V * row, 11)
                        : ldm_conf_input(cc, g, "table", 2, S(V, row), -3, 3);
  int idx = ldm_conf_input_u32(cc, g, "idx", B, (uint32_t)V + 2);
  int o = ldm_conf_output_ex(cc, g, "rows", a[0] == 2 ? LDM_U32 : LDM_F32, 2, S(B, row), -1, 1);
  TRY_T(tab);
  TRY_T(idx);
  TRY_T(o);
  TRY_T(ldm_gather_rows(g, tab, idx, o, row, 2.0f / 255.0f, -1.0f));
  return LDM_OK;
}

const ldm_conf_case ldm_conf_cases_diffusion[] = {
    {"reparam", "[1,1]", c_reparam, {1, 1}, 0, false},
    {"reparam", "[7,4099]", c_reparam, {7, 4099}, 0, false},
    {"reparam_backward", "1031 both", c_reparam_backward, {1031, 0, 0, 3}, 0, false},
    {"reparam_backward", "77 both acc", c_reparam_backward, {77, 1, 1, 3}, 0, false},
    {"reparam_backward", "513 logvar only acc", c_reparam_backward, {513, 0, 1, 2}, 0, false},
    {"reparam_backward", "33 mu only", c_reparam_backward, {33, 0, 0, 1}, 0, false},
    {"clamp", "1", c_clamp, {1, 0}, 0, false},
    {"clamp", "5003 edges", c_clamp, {5003, 1}, 0, false},
    {"clamp_backward", "1031 edges", c_clamp_backward, {1031, 0, 1}, 0, false},
    {"clamp_backward", "257 acc edges", c_clamp_backward, {257, 1, 1}, 0, false},
    {"kl_loss", "[1,1,1,1]", c_kl, {1, 1, 1, 1}, 0, false},
    {"kl_loss", "[7,4,5,3]", c_kl, {7, 4, 5, 3}, 0, false},
    {"kl_loss", "[33,4,8,8]", c_kl, {33, 4, 8, 8}, 0, false},
    {"kl_loss_backward", "1031 both", c_kl_backward, {1031, 7, 0, 0, 3}, 0, false},
    {"kl_loss_backward", "99 both acc", c_kl_backward, {99, 3, 1, 1, 3}, 0, false},
    {"kl_loss_backward", "65 logvar only", c_kl_backward, {65, 5, 0, 0, 2}, 0, false},
    {"q_sample", "[1,1] T=1", c_q_sample, {1, 1, 1, 1, 0}, 0, false},
    {"q_sample", "[5,63] T=37 t past table", c_q_sample, {5, 63, 37, 45, 0}, 0, false},
    {"q_sample", "[33,256] T=1000", c_q_sample, {33, 256, 1000, 1000, 0}, 0, false},
    {"v_target", "[5,63] T=37 t past table", c_q_sample, {5, 63, 37, 45, 1}, 0, false},
    {"v_target", "[17,101] T=1000", c_q_sample, {17, 101, 1000, 1000, 1}, 0, false},
    {"q_sample_backward", "[5,63] both", c_q_sample_backward, {5, 63, 37, 0, 0, 0, 3}, 0, false},
    {"q_sample_backward", "[3,17] both acc", c_q_sample_backward, {3, 17, 11, 0, 1, 1, 3}, 0, false},
    {"q_sample_backward", "[7,9] v-target noise only", c_q_sample_backward, {7, 9, 13, 1, 0, 0, 2}, 0, false},
    {"q_sample_backward", "[4,31] v-target x0 only acc", c_q_sample_backward, {4, 31, 13, 1, 1, 0, 1}, 0, false},
    {"weighted_mse", "[1,1]", c_weighted_mse, {1, 1}, 0, false},
    {"weighted_mse", "[6,37]", c_weighted_mse, {6, 37}, 0, false},
    {"weighted_mse", "[33,256]", c_weighted_mse, {33, 256}, 0, false},
    {"weighted_mse_backward", "[6,37] to a", c_weighted_mse_backward, {6, 37, 0, 0}, 0, false},
    {"weighted_mse_backward", "[9,113] to b acc", c_weighted_mse_backward, {9, 113, 1, 1}, 0, false},
    {"min_snr_weight", "B=1", c_min_snr, {1, 1, 0, -1}, 0, false},
    {"min_snr_weight", "B=129 eps abar=0", c_min_snr, {129, 50, 0, 0}, 0, false},
    {"min_snr_weight", "B=129 eps abar=1", c_min_snr, {129, 50, 0, 1}, 0, false},
    {"min_snr_weight", "B=77 v abar=0", c_min_snr, {77, 50, 1, 0}, 0, false},
    {"min_snr_weight", "B=77 v abar=1", c_min_snr, {77, 50, 1, 1}, 0, false},
    {"cfg_combine", "2x[1,1] s=7.5", c_cfg, {1, 1, 75}, 0, false},
    {"cfg_combine", "2x[3,4*5*7] s=2", c_cfg, {3, 140, 20}, 0, false},
    {"cfg_combine", "2x[64,256] s=2", c_cfg, {64, 256, 20}, 0, false},
    {"sampler_step", "DDIM eta 0 eps 1", c_sampler, {1, 0, 0, 0, 10, 10}, 0, false},
    {"sampler_step", "DDIM eta 0 eps 4099", c_sampler, {4099, 0, 0, 0, 21, 7}, 0, false},
    {"sampler_step", "DDIM eta 0.5 eps 1031", c_sampler, {1031, 0, 50, 0, 5, 19}, 0, false},
    {"sampler_step", "DDIM eta 0 v-pred 1031", c_sampler, {1031, 0, 0, 1, 36, 3}, 0, false},
    {"sampler_step", "DDIM eta 0.5 v-pred 257", c_sampler, {257, 0, 50, 1, 13, 0}, 0, false},
    {"sampler_step", "DDIM eta 0 final step 1031", c_sampler, {1031, 0, 0, 0, 0, -1}, 0, false},
    {"sampler_step", "DDIM eta 0.5 v-pred final step 99", c_sampler, {99, 0, 50, 1, 1, -1}, 0, false},
    {"sampler_step", "DDPM eps 4099", c_sampler, {4099, 1, 0, 0, 0, 19}, 0, false},
    {"sampler_step", "DDPM eps strided 1031", c_sampler, {1031, 1, 0, 0, 30, 5}, 0, false},
    {"sampler_step", "DDPM v-pred 1031", c_sampler, {1031, 1, 0, 1, 24, 12}, 0, false},
    {"sampler_step", "DDPM final step 513", c_sampler, {513, 1, 0, 0, 2, -1}, 0, false},
    {"ema", "1", c_ema, {1}, 0, false},
    {"ema", "70001", c_ema, {70001}, 0, false},
    {"grad_norm_partial", "1", c_grad_norm, {1, 0, 100}, 0, false},
    {"grad_norm_partial", "1000 (clipped)", c_grad_norm, {1000, 0, 100}, 0, false},
    {"grad_norm_partial", "1000 small (not clipped)", c_grad_norm, {1000, 0, 1}, 0, false},
    {"grad_norm_clip", "300001 (1024 groups, strided)", c_grad_norm, {300001, 0, 100}, 0, false},
    {"grad_norm_clip", "5003 NaN -> flag 1", c_grad_norm, {5003, 1, 100}, 0, false},
    {"grad_norm_clip", "70001 Inf -> flag 1", c_grad_norm, {70001, 2, 100}, 0, false},
    {"grad_norm_clip", "65535*256+777", c_grad_norm, {65535 * 256 + 777, 0, 100}, 0, true},
    {"adamw", "gs 4099 clipped", c_adamw_gs, {4099, 0}, 0, false},
    {"adamw", "gs 257 NaN skips", c_adamw_gs, {257, 1}, 0, false},
    {"randint", "1001 [3,1000)", c_randint, {1001, 3, 1000, 1}, 0, false},
    {"randint", "1 [0,11) no-step", c_randint, {1, 0, 11, 0}, 0, false},
    {"randint", "4097 [5,2^32-16)", c_randint, {4097, 5, (int)0xfffffff0u, 1}, 0, false},
    {"label_dropout", "1003 p=0.1", c_label_dropout, {1003, 10, 10}, 0, false},
    {"label_dropout", "5 p=0.5", c_label_dropout, {5, 50, 10}, 0, false},
    {"gather_rows", "u8 V=7 row=29 B=50", c_gather, {1, 7, 29, 50}, 0, false},
    {"gather_rows", "u8 V=11 row=1024 B=128", c_gather, {1, 11, 1024, 128}, 0, false},
    {"gather_rows", "f32 V=5 row=33 B=17", c_gather, {0, 5, 33, 17}, 0, false},
    {"gather_rows", "u8 V=1 row=1 B=3", c_gather, {1, 1, 1, 3}, 0, false},
    {"gather_rows", "u32 labels V=37 row=1 B=129", c_gather, {2, 37, 1, 129}, 0, false},
};
const int ldm_conf_cases_diffusion_n = (int)(sizeof ldm_conf_cases_diffusion / sizeof ldm_conf_cases_diffusion[0]);
