/* Normalisation / attention / embedding family on the CPU reference backend: autodiff vs central
 * finite differences (ops and whole modules: attention block, ResBlock with time embedding), GroupNorm
 * and timestep embedding forward against direct double-precision loops, builder errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck_util.h"
#include "core/ops.h"
#include "ops/norm.h"
#include "ref/ref.h"

/* ---------------------------------------------------------------- op gradients */

static int b_group_norm(ldm_graph *g, const int *in, const int *a) {
  return ldm_group_norm(g, in[0], in[1], in[2], a[0], 1e-5f);
}
START_TEST(grad_group_norm) {
  gc_in s1[3] = {GC_IN(2, 6, 3, 2), GC_IN(6), GC_IN(6)};
  gc_check("group_norm [2,6,3,2] G3", b_group_norm, (int[]){3}, 3, s1, 72, 1e-3);
  gc_in s2[3] = {GC_IN(3, 4, 5), GC_IN(4), GC_IN(4)};
  gc_check("group_norm [3,4,5] G1", b_group_norm, (int[]){1}, 3, s2, 60, 1e-3);
  gc_in s3[3] = {GC_IN(2, 8, 4, 4), GC_IN(8), GC_IN(8)};
  gc_check("group_norm [2,8,4,4] G2", b_group_norm, (int[]){2}, 3, s3, 40, 1e-3);
}
END_TEST

/* x used by the norm and by a second consumer: its gradient is written then accumulated */
static int b_group_norm_twice(ldm_graph *g, const int *in, const int *a) {
  int y = ldm_group_norm(g, in[0], in[1], in[2], 2, 1e-5f);
  return ldm_add(g, ldm_silu(g, y), ldm_scale(g, in[0], 0.5f));
}
START_TEST(grad_group_norm_second_consumer) {
  gc_in s[3] = {GC_IN(2, 4, 3, 3), GC_IN(4), GC_IN(4)};
  gc_check("group_norm + skip", b_group_norm_twice, NULL, 3, s, 72, 1e-3);
}
END_TEST

static int b_group_norm_silu(ldm_graph *g, const int *in, const int *a) {
  return ldm_group_norm_silu(g, in[0], in[1], in[2], a[0], 1e-5f);
}
/* with the skip consumer of x, as in a ResBlock: dx is written then accumulated */
static int b_group_norm_silu_skip(ldm_graph *g, const int *in, const int *a) {
  return ldm_add(g, ldm_group_norm_silu(g, in[0], in[1], in[2], 2, 1e-5f), ldm_scale(g, in[0], 0.5f));
}
START_TEST(grad_group_norm_silu) {
  gc_in s1[3] = {GC_IN(2, 6, 3, 2), GC_IN(6), GC_IN(6)};
  gc_check("group_norm_silu [2,6,3,2] G3", b_group_norm_silu, (int[]){3}, 3, s1, 72, 1e-3);
  gc_in s2[3] = {GC_IN(3, 4, 5), GC_IN(4), GC_IN(4)};
  gc_check("group_norm_silu [3,4,5] G1", b_group_norm_silu, (int[]){1}, 3, s2, 60, 1e-3);
  gc_in s3[3] = {GC_IN(2, 8, 3, 5), GC_IN(8), GC_IN(8)};
  gc_check("group_norm_silu [2,8,3,5] G8", b_group_norm_silu, (int[]){8}, 3, s3, 40, 1e-3);
  gc_in s4[3] = {GC_IN(2, 4, 3, 3), GC_IN(4), GC_IN(4)};
  gc_check("group_norm_silu + skip", b_group_norm_silu_skip, NULL, 3, s4, 72, 1e-3);
}
END_TEST

/* y = silu(group_norm(x)) on the fast CPU backend, fused or as the two ops; out: y, then dx, dgamma, dbeta of
 * sum(y w) (n elements of x, c channels) */
static void gn_silu_run(bool fused, int64_t n, int64_t c, float *out) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 4, LDM_SHAPE(2, c, 5, n / (10 * c)));
  int ga = ldm_param(&g, "gamma", 1, LDM_SHAPE(c)), be = ldm_param(&g, "beta", 1, LDM_SHAPE(c));
  int w = ldm_act(&g, "w", 1, &n);
  ldm_requires_grad(&g, x);
  int ins[4] = {x, ga, be, w};
  for (int k = 0; k < 4; k++) ldm_keep(&g, ins[k]);
  int y = fused ? ldm_group_norm_silu(&g, x, ga, be, 3, 1e-5f) : ldm_silu(&g, ldm_group_norm(&g, x, ga, be, 3, 1e-5f));
  ck_assert_int_ge(y, 0);
  ldm_keep(&g, y);
  int loss = ldm_sum(&g, ldm_mul(&g, y, w));
  ck_assert_int_ge(loss, 0);
  ck_assert_int_eq(ldm_graph_backward(&g, loss), LDM_OK);
  int outs[4] = {y, g.t[x].grad, g.t[ga].grad, g.t[be].grad};
  for (int k = 1; k < 4; k++) ldm_keep(&g, outs[k]);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  for (int k = 0; k < 4; k++) gc_fill(e, &g, ins[k], 21, (uint64_t)k, k == 1 ? 0.5f : -2.0f, k == 1 ? 1.5f : 2.0f);
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  int64_t len[4] = {n, n, c, c};
  for (int k = 0; k < 4; out += len[k], k++)
    ck_assert_int_eq(ldm_exec_read(e, outs[k], out, (size_t)len[k] * 4), LDM_OK);
  ldm_exec_free(e);
  ldm_graph_free(&g);
}
/* the fused op computes the same floats as group_norm then silu, forward and backward (the training runs'
 * losses stay bitwise the same on the CPU) */
START_TEST(group_norm_silu_bitwise_as_pair) {
  enum { C = 12, N = 2 * C * 5 * 7, L = 2 * N + 2 * C };
  static float a[L], b[L];
  gn_silu_run(true, N, C, a);
  gn_silu_run(false, N, C, b);
  for (int i = 0; i < L; i++) ck_assert_msg(memcmp(&a[i], &b[i], 4) == 0, "element %d: %.9g vs %.9g", i, a[i], b[i]);
}
END_TEST

static int b_softmax(ldm_graph *g, const int *in, const int *a) {
  int x = ldm_scale(g, in[0], (float)a[2]); /* wider logits */
  return ldm_softmax(g, x, a[0], a[1]);
}
START_TEST(grad_softmax) {
  gc_check("softmax [5,7]", b_softmax, (int[]){5, 7, 3}, 1, (gc_in[]){GC_IN(5, 7)}, 35, 1e-3);
  gc_check("softmax [3,1]", b_softmax, (int[]){3, 1, 1}, 1, (gc_in[]){GC_IN(3, 1)}, 3, 1e-3);
  gc_check("softmax [2,100]", b_softmax, (int[]){2, 100, 2}, 1, (gc_in[]){GC_IN(2, 100)}, 60, 1e-3);
}
END_TEST

/* split in0 [2, 6, 3, 1] in 3 (the middle part unused: its slice of the gradient must be zero), and in
 * 2 (a second consumer), concatenated back with in1 [2, 4, 3, 1] in a different order */
static int b_concat_split(ldm_graph *g, const int *in, const int *a) {
  int p[3], q[2];
  if (ldm_split(g, in[0], 3, p) < 0 || ldm_split(g, in[0], 2, q) < 0) return -1;
  int f = ldm_concat(g, ldm_concat(g, p[2], in[1]), p[0]);
  return ldm_concat(g, f, ldm_silu(g, q[1]));
}
START_TEST(grad_concat_split) {
  gc_in s[2] = {GC_IN(2, 6, 3, 1), GC_IN(2, 4, 3, 1)};
  gc_check("concat/split", b_concat_split, NULL, 2, s, 36, 1e-3);
}
END_TEST

/* a split part that nobody uses, and parts used only through one consumer */
static int b_split_only(ldm_graph *g, const int *in, const int *a) {
  int p[4];
  if (ldm_split(g, in[0], 4, p) < 0) return -1;
  return ldm_mul(g, p[3], p[1]);
}
START_TEST(grad_split_partial) {
  gc_check("split 4, two parts used", b_split_only, NULL, 1, (gc_in[]){GC_IN(3, 8, 5)}, 120, 1e-3);
}
END_TEST

static int b_embedding(ldm_graph *g, const int *in, const int *a) {
  /* 13 indices into 5 rows: repeats; (k*3+1) % 7 also gives indices 5 and 6, outside the table */
  int idx = gc_u32_input(g, "idx", 13, 3, 1, 7);
  return ldm_silu(g, ldm_embedding(g, in[0], idx));
}
START_TEST(grad_embedding) {
  gc_check("embedding", b_embedding, NULL, 1, (gc_in[]){GC_IN(5, 4)}, 20, 1e-3);
}
END_TEST

static int b_attention(ldm_graph *g, const int *in, const int *a) { return ldm_attention_core(g, in[0], a[0]); }
START_TEST(grad_attention_core) {
  gc_check("attention_core [2,24,3,3] 2 heads", b_attention, (int[]){2}, 1, (gc_in[]){GC_IN(2, 24, 3, 3)}, 80, 1e-3);
  gc_check("attention_core [1,12,2,3] 1 head", b_attention, (int[]){1}, 1, (gc_in[]){GC_IN(1, 12, 2, 3)}, 72, 1e-3);
}
END_TEST

/* ---------------------------------------------------------------- forward against the reference / formula */

static void fill_uniform(float *v, int64_t n, uint64_t stream, float lo, float hi) {
  for (int64_t j = 0; j < n; j++) v[j] = lo + (hi - lo) * ldm_u32_to_unit(ldm_rng_u32(9, stream, 0, (uint64_t)j));
}

START_TEST(group_norm_forward_matches_double) {
  const int N = 3, C = 12, G = 3, S = 35;
  const float offs[2] = {0.0f, 50.0f};
  for (int oi = 0; oi < 2; oi++) {
    ldm_graph g;
    ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
    int x = ldm_act(&g, "x", 4, LDM_SHAPE(N, C, 5, 7));
    int ga = ldm_act(&g, "gamma", 1, LDM_SHAPE(C)), be = ldm_act(&g, "beta", 1, LDM_SHAPE(C));
    ldm_keep(&g, x);
    ldm_keep(&g, ga);
    ldm_keep(&g, be);
    int y = ldm_group_norm(&g, x, ga, be, G, 1e-5f);
    ck_assert_int_ge(y, 0);
    ldm_keep(&g, y);
    ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
    ldm_exec *e;
    ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
    float xv[3 * 12 * 35], gv[12], bv[12], yv[3 * 12 * 35];
    fill_uniform(xv, N * C * S, 1, offs[oi] - 2.0f, offs[oi] + 2.0f);
    fill_uniform(gv, C, 2, -1.5f, 1.5f);
    fill_uniform(bv, C, 3, -1.0f, 1.0f);
    ck_assert_int_eq(ldm_exec_write(e, x, xv, sizeof xv), LDM_OK);
    ck_assert_int_eq(ldm_exec_write(e, ga, gv, sizeof gv), LDM_OK);
    ck_assert_int_eq(ldm_exec_write(e, be, bv, sizeof bv), LDM_OK);
    ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
    ck_assert_int_eq(ldm_exec_read(e, y, yv, sizeof yv), LDM_OK);
    /* the plain reference (src/ref: double two-pass statistics) over the same graph and inputs */
    ldm_exec *er;
    float rv[3 * 12 * 35];
    ck_assert_int_eq(ldm_exec_cpu(&g, &er), LDM_OK);
    ck_assert_int_eq(ldm_exec_write(er, x, xv, sizeof xv), LDM_OK);
    ck_assert_int_eq(ldm_exec_write(er, ga, gv, sizeof gv), LDM_OK);
    ck_assert_int_eq(ldm_exec_write(er, be, bv, sizeof bv), LDM_OK);
    ck_assert_int_eq(ldm_ref_run(er), LDM_OK);
    ck_assert_int_eq(ldm_exec_read(er, y, rv, sizeof rv), LDM_OK);
    ldm_exec_free(er);
    double maxerr = 0;
    for (int i = 0; i < N * C * S; i++) maxerr = fmax(maxerr, fabs((double)rv[i] - yv[i]));
    /* fp32 inputs around an offset of 50 carry ~4e-6 absolute resolution; the normalised values ~1 */
    ck_assert_msg(maxerr < (oi ? 2e-5 : 2e-6), "group_norm max error %.3g (offset %g)", maxerr, (double)offs[oi]);
    ldm_exec_free(e);
    ldm_graph_free(&g);
  }
}
END_TEST

START_TEST(timestep_embedding_matches_formula) {
  const int B = 40, dim = 128, half = 64;
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int64_t nb = B;
  int t = ldm_tensor_new(&g, "t", LDM_ARENA_HOST, LDM_U32, 1, &nb);
  ck_assert_int_ge(t, 0);
  ldm_keep(&g, t);
  int o = ldm_timestep_embedding(&g, t, dim);
  ck_assert_int_ge(o, 0);
  ldm_keep(&g, o);
  ck_assert_int_eq(g.t[o].shape[0], B);
  ck_assert_int_eq(g.t[o].shape[1], dim);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  uint32_t tv[40];
  for (int b = 0; b < B; b++) tv[b] = (uint32_t)(b * 25 + (b == B - 1 ? 24 : 0)); /* 0 .. 999 */
  ck_assert_int_eq(ldm_exec_write(e, t, tv, sizeof tv), LDM_OK);
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  float ov[40 * 128];
  ck_assert_int_eq(ldm_exec_read(e, o, ov, sizeof ov), LDM_OK);
  double maxerr = 0;
  for (int b = 0; b < B; b++)
    for (int k = 0; k < half; k++) {
      double a = tv[b] * exp(-log(10000.0) * k / half);
      double ec = fabs(cos(a) - ov[b * dim + k]), es = fabs(sin(a) - ov[b * dim + half + k]);
      maxerr = fmax(maxerr, fmax(ec, es));
    }
  /* the twin's fp32 argument t * f differs from the exact one by up to ~1e-4 rad at t ~ 1000 */
  ck_assert_msg(maxerr < 3e-4, "timestep embedding max error %.3g", maxerr);
  ck_assert_float_eq(ov[0], 1.0f);        /* t = 0: cos = 1 */
  ck_assert_float_eq(ov[half], 0.0f);     /* sin = 0 */
  ldm_exec_free(e);
  ldm_graph_free(&g);
}
END_TEST

/* the inputs of the refusal probes, built afresh on each probe's own graph */
typedef struct { int x, ga, be, y, idx; } norm_probe;
static norm_probe norm_probe_inputs(ldm_graph *g) {
  norm_probe in = {ldm_act(g, "x", 4, LDM_SHAPE(2, 12, 3, 3)), ldm_act(g, "gamma", 1, LDM_SHAPE(12)),
                   ldm_act(g, "beta", 1, LDM_SHAPE(11)), ldm_act(g, "y", 4, LDM_SHAPE(2, 3, 3, 4)),
                   ldm_tensor_new(g, "idx", LDM_ARENA_HOST, LDM_U32, 1, LDM_SHAPE(4))};
  return in;
}
#define REFUSES(call, ...) GC_REFUSES(norm_probe, norm_probe_inputs, call, __VA_ARGS__)
START_TEST(builder_errors) {
  REFUSES(ldm_group_norm(&g, in.x, in.ga, in.ga, 5, 1e-5f), "5 groups");
  REFUSES(ldm_group_norm(&g, in.x, in.ga, in.be, 3, 1e-5f), NULL);
  REFUSES(ldm_softmax(&g, in.x, 7, 7), NULL);
  int outs[5];
  REFUSES(ldm_split(&g, in.x, 5, outs), NULL);
  REFUSES(ldm_concat(&g, in.x, in.y), NULL);
  REFUSES(ldm_embedding(&g, in.x, in.idx), NULL); /* table must be 2-D */
  REFUSES(ldm_timestep_embedding(&g, in.idx, 7), NULL);
  REFUSES(ldm_timestep_embedding(&g, in.ga, 8), NULL); /* f32 timesteps */
  REFUSES(ldm_attention_core(&g, in.x, 3), NULL);     /* 12 = 3 * 4 channels: not 3 heads */
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  ck_assert_int_ge(ldm_attention_core(&g, norm_probe_inputs(&g).x, 2), 0);
  ck_assert_int_eq(ldm_graph_status(&g), LDM_OK);
  ldm_graph_free(&g);
  /* attention_backward: o and p must be the outputs of an attention of qkv, dy and dx of their sizes */
  REFUSES(ldm_attention_backward_node(&g, in.x, in.y, in.y, in.y, in.x, 0), "not the outputs of an attention");
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  norm_probe in = norm_probe_inputs(&g);
  int o = ldm_attention_core(&g, in.x, 2), pr = o + 1; /* P: made right after O */
  ck_assert_int_lt(ldm_attention_backward_node(&g, in.x, o, pr, in.x, in.x, 0), 0); /* dy: qkv's size, not o's */
  ldm_graph_free(&g);
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  in = norm_probe_inputs(&g);
  o = ldm_attention_core(&g, in.x, 2);
  int dy = ldm_act(&g, "dy", 4, LDM_SHAPE(2, 4, 3, 3)), dx = ldm_act(&g, "dx", 4, LDM_SHAPE(2, 12, 3, 3));
  ck_assert_int_ge(ldm_attention_backward_node(&g, in.x, o, o + 1, dy, dx, 1), 0);
  ck_assert_int_eq(g.n[g.nn - 1].op, LDM_OP_attention_backward);
  ck_assert_int_eq(ldm_graph_status(&g), LDM_OK);
  ldm_graph_free(&g);
}
END_TEST

/* ---------------------------------------------------------------- module gradients (need conv2d) */

static int conv_params(ldm_graph *g, const char *name, int64_t cout, int64_t cin, int64_t k, int *bias) {
  char nm[64];
  snprintf(nm, sizeof nm, "%s.weight", name);
  int w = ldm_param(g, nm, 4, LDM_SHAPE(cout, cin, k, k));
  snprintf(nm, sizeof nm, "%s.bias", name);
  *bias = ldm_param(g, nm, 1, LDM_SHAPE(cout));
  return w;
}
static int gn_params(ldm_graph *g, const char *name, int64_t c, int *beta) {
  char nm[64];
  snprintf(nm, sizeof nm, "%s.weight", name);
  int ga = ldm_param(g, nm, 1, LDM_SHAPE(c));
  snprintf(nm, sizeof nm, "%s.bias", name);
  *beta = ldm_param(g, nm, 1, LDM_SHAPE(c));
  return ga;
}

/* as the reference twin's Attn: x + o(attention_core(qkv(n(x)))); in[0] = x [2, 8, 3, 3] */
static int b_attn_block(ldm_graph *g, const int *in, const int *a) {
  const int64_t C = 8;
  int nb, qb, ob;
  int ng = gn_params(g, "n", C, &nb);
  int qw = conv_params(g, "qkv", 3 * C, C, 1, &qb);
  int ow = conv_params(g, "o", C, C, 1, &ob);
  int h = ldm_group_norm(g, in[0], ng, nb, 2, 1e-5f);
  h = ldm_conv2d(g, h, qw, qb, 1, 0);
  h = ldm_attention_core(g, h, 2);
  h = ldm_conv2d(g, h, ow, ob, 1, 0);
  return ldm_add(g, in[0], h);
}

/* as the reference twin's ResBlock with a time embedding; in[0] = x [2, 4, 4, 3], in[1] = temb [2, 6]:
 * h = c1(silu(n1(x))); h += t(silu(temb)) over HW; h = c2(silu(n2(h))); out = h + skip(x) */
static int b_resblock(ldm_graph *g, const int *in, const int *a) {
  const int64_t N = 2, Ci = 4, Co = 8, H = 4, W = 3, T = 6;
  int n1b, n2b, c1b, c2b, sb;
  int n1 = gn_params(g, "n1", Ci, &n1b);
  int c1 = conv_params(g, "c1", Co, Ci, 3, &c1b);
  int n2 = gn_params(g, "n2", Co, &n2b);
  int c2 = conv_params(g, "c2", Co, Co, 3, &c2b);
  int tw = ldm_param(g, "t.weight", 2, LDM_SHAPE(Co, T)), tb = ldm_param(g, "t.bias", 1, LDM_SHAPE(Co));
  int sk = conv_params(g, "skip", Co, Ci, 1, &sb);
  int h = ldm_conv2d(g, ldm_silu(g, ldm_group_norm(g, in[0], n1, n1b, 2, 1e-5f)), c1, c1b, 1, 1);
  int te = ldm_linear_op(g, ldm_silu(g, in[1]), tw, tb); /* [N, Co] */
  int tb_map = ldm_act(g, "temb_map", 4, LDM_SHAPE(N, Co, H, W));
  if (h < 0 || te < 0 || tb_map < 0 || ldm_broadcast(g, te, tb_map, N, Co, H * W, N, 1.0f, 0) < 0) return -1;
  h = ldm_add(g, h, tb_map);
  h = ldm_conv2d(g, ldm_silu(g, ldm_group_norm(g, h, n2, n2b, 4, 1e-5f)), c2, c2b, 1, 1);
  return ldm_add(g, h, ldm_conv2d(g, in[0], sk, sb, 1, 0));
}

/* module checks: 30 samples, seed 13, values from Philox key 5 (w's from the stream of its tensor index) */
static void check_module(const char *what, gc_body body, int nin, const gc_in *in, const gc_param *p, int np) {
  gc_check_case(&(gc_case){.what = what, .body = body, .nin = nin, .in = in, .params = p, .np = np, .samples = 30,
                           .seed = 13, .tol = 2e-3, .key = 5, .w_stream = GC_W_STREAM_ID});
}

START_TEST(grad_attention_block) {
  static const gc_param p[] = {{"n.weight", true},  {"n.bias", false},   {"qkv.weight", false},
                               {"qkv.bias", false}, {"o.weight", false}, {"o.bias", false}};
  check_module("attention block", b_attn_block, 1, (gc_in[]){GC_IN(2, 8, 3, 3)}, p, 6);
}
END_TEST

START_TEST(grad_resblock_temb) {
  static const gc_param p[] = {{"n1.weight", true}, {"n1.bias", false}, {"c1.weight", false},   {"c1.bias", false},
                               {"n2.weight", true}, {"n2.bias", false}, {"c2.weight", false},   {"c2.bias", false},
                               {"t.weight", false}, {"t.bias", false},  {"skip.weight", false}, {"skip.bias", false}};
  check_module("resblock", b_resblock, 2, (gc_in[]){GC_IN(2, 4, 4, 3), GC_IN(2, 6)}, p, 12);
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, grad_group_norm);
  tcase_add_test(tc, grad_group_norm_second_consumer);
  tcase_add_test(tc, grad_softmax);
  tcase_add_test(tc, grad_concat_split);
  tcase_add_test(tc, grad_split_partial);
  tcase_add_test(tc, grad_embedding);
  tcase_add_test(tc, grad_attention_core);
  tcase_add_test(tc, group_norm_forward_matches_double);
  tcase_add_test(tc, timestep_embedding_matches_formula);
  tcase_add_test(tc, builder_errors);
  tcase_add_test(tc, grad_attention_block);
  tcase_add_test(tc, grad_resblock_temb);
  tcase_add_test(tc, grad_group_norm_silu);
  tcase_add_test(tc, group_norm_silu_bitwise_as_pair);
}

int main(void) { return gc_run_suite("ops-norm", "norm", 300, add_tests); }
