/* CPU-side core: Philox known answers, autodiff vs finite differences for the basic ops, the
 * memory plan, and the small graph training on the reference backend. */
#include <check.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "ops/norm.h"
#include "gradcheck_util.h"
#include "mlp_graph.h"

START_TEST(philox_known_answers) {
  uint32_t o[4];
  uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
  ldm_philox4x32_10(c0, k0, o);
  ck_assert_uint_eq(o[0], 0x6627e8d5u);
  ck_assert_uint_eq(o[1], 0xe169c58du);
  ck_assert_uint_eq(o[2], 0xbc57ac4cu);
  ck_assert_uint_eq(o[3], 0x9b00dbd8u);
  uint32_t c1[4] = {~0u, ~0u, ~0u, ~0u}, k1[2] = {~0u, ~0u};
  ldm_philox4x32_10(c1, k1, o);
  ck_assert_uint_eq(o[0], 0x408f276du);
  ck_assert_uint_eq(o[1], 0x41c83b0eu);
  ck_assert_uint_eq(o[2], 0xa20bc7c6u);
  ck_assert_uint_eq(o[3], 0x6d5451fdu);
  /* the stream mapping reaches both vectors */
  ldm_rng_block(~0ull, ~0ull, ~0ull, 0, o);
  ck_assert_uint_eq(o[0], 0x408f276du);
  ck_assert_uint_eq(ldm_rng_u32(0, 0, 0, 3), 0x9b00dbd8u);
}
END_TEST

START_TEST(normal_moments) {
  double s = 0, s2 = 0;
  int n = 200000;
  for (int b = 0; b < n / 4; b++) {
    float f[4];
    ldm_rng_normal4(5, 6, 0, (uint64_t)b, f);
    for (int k = 0; k < 4; k++) {
      ck_assert(isfinite(f[k]));
      s += f[k];
      s2 += (double)f[k] * f[k];
    }
  }
  ck_assert_double_lt(fabs(s / n), 0.01);
  ck_assert_double_lt(fabs(s2 / n - 1.0), 0.02);
}
END_TEST

static int b_gemm(ldm_graph *g, const int *in, const int *a) {
  int64_t M = a[0], N = a[1], K = a[2], B = a[3];
  int out = ldm_act(g, "C", 1, LDM_SHAPE(B * M * N));
  ldm_gemm_args ga = {a[4], a[5], (int)B, 0.7f, 0, a[6] == 2};
  return ldm_gemm(g, in[0], in[1], a[6] ? in[2] : -1, out, M, N, K, ga);
}
START_TEST(grad_gemm) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int a[7] = {5, 7, 3, 2, ta, tb, 1 + (ta ^ tb)};
      gc_in in[3] = {GC_IN(2 * 5 * 3), GC_IN(2 * 7 * 3), GC_IN(a[6] == 1 ? 7 : 5)};
      char what[32];
      snprintf(what, sizeof what, "gemm ta %d tb %d", ta, tb);
      gc_check(what, b_gemm, a, 3, in, 40, 2e-3);
    }
}
END_TEST

/* the SiLU epilogue (ldm_gemm_act): silu(alpha op(A) op(B) + bias), against finite differences */
static int b_gemm_silu(ldm_graph *g, const int *in, const int *a) {
  int64_t M = a[0], N = a[1], K = a[2], B = a[3];
  int out = ldm_act(g, "C", 1, LDM_SHAPE(B * M * N));
  ldm_gemm_args ga = {a[4], a[5], (int)B, 0.7f, 0, a[6] == 2};
  return ldm_gemm_act(g, in[0], in[1], a[6] ? in[2] : -1, out, M, N, K, ga, LDM_GEMM_ACT_SILU);
}
START_TEST(grad_gemm_silu) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int a[7] = {5, 7, 3, 1 + ta, ta, tb, 1 + (ta ^ tb)};
      gc_in in[3] = {GC_IN(a[3] * 5 * 3), GC_IN(a[3] * 7 * 3), GC_IN(a[6] == 1 ? 7 : 5)};
      char what[40];
      snprintf(what, sizeof what, "gemm silu ta %d tb %d", ta, tb);
      gc_check(what, b_gemm_silu, a, 3, in, 40, 2e-3);
    }
  /* the linear layer with the epilogue, as the UNet's time embedding uses it (split-K outputs: K = 48) */
  int a[7] = {6, 40, 48, 1, 0, 1, 1};
  gc_in in[3] = {GC_IN(6 * 48), GC_IN(40 * 48), GC_IN(40)};
  gc_check("linear silu 6x40x48", b_gemm_silu, a, 3, in, 40, 2e-3);
}
END_TEST

static int b_silu(ldm_graph *g, const int *in, const int *a) { return ldm_silu(g, in[0]); }
static int b_ew(ldm_graph *g, const int *in, const int *a) {
  /* x used twice: exercises gradient accumulation of a second consumer */
  int t = ldm_ew_binary(g, a[0], in[0], in[1], ldm_act(g, "t", 1, &g->t[in[0]].numel), 0);
  return ldm_mul(g, ldm_add(g, t, in[0]), ldm_scale(g, in[1], -1.5f));
}
static int b_reduce(ldm_graph *g, const int *in, const int *a) {
  int o = ldm_act(g, "r", 1, LDM_SHAPE(a[1]));
  return ldm_reduce_sum(g, ldm_silu(g, in[0]), o, a[0], a[1], a[2], 0.3f, 0);
}
static int b_mse(ldm_graph *g, const int *in, const int *a) {
  int l = ldm_mse_loss(g, in[0], in[1]);
  int o = ldm_act(g, "c", 1, LDM_SHAPE(1));
  return ldm_copy(g, l, o);
}
/* gradients that pass through unchanged (add, sub's first input, copy, scale by 1) take the output's
 * gradient tensor itself when they are first written (ldm_grad_alias): x + x, a residual h + silu(h), a
 * chain of them and an input used again later must still sum every contribution */
static int b_pass(ldm_graph *g, const int *in, const int *a) {
  int h = ldm_add(g, in[0], in[0]);
  int r = ldm_add(g, h, ldm_silu(g, h));
  int c = ldm_copy(g, ldm_scale(g, r, 1.0f), ldm_act(g, "c", 1, &g->t[r].numel));
  int d = ldm_sub(g, c, ldm_mul(g, in[1], r));
  return ldm_add(g, ldm_add(g, d, in[1]), ldm_silu(g, in[0]));
}
START_TEST(grad_pass_through) {
  gc_in in[2] = {{GC_SHAPE(23), .kind = GC_ACT_GRAD}, {GC_SHAPE(23), .kind = GC_ACT_GRAD}};
  gc_check("pass-through gradients", b_pass, NULL, 2, in, 40, 2e-3);
  /* y = x * w + x: the product takes y's gradient itself, x (the second input) still gets a copy */
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 1, LDM_SHAPE(23));
  ldm_requires_grad(&g, x);
  int w = ldm_param(&g, "w", 1, LDM_SHAPE(23));
  int y = ldm_add(&g, ldm_mul(&g, x, w), x);
  int loss = ldm_mse_loss(&g, y, ldm_act(&g, "target", 1, LDM_SHAPE(23)));
  ck_assert_int_eq(ldm_graph_backward(&g, loss), LDM_OK);
  int scales = 0;
  for (int i = g.n_forward; i < g.nn; i++) scales += g.n[i].op == LDM_OP_ew_scale;
  ck_assert_int_eq(scales, 1);
  ldm_graph_free(&g);
}
END_TEST

START_TEST(grad_elementwise) {
  gc_in in[2] = {GC_IN(23), GC_IN(23)};
  gc_check("silu", b_silu, NULL, 1, in, 40, 2e-3);
  for (int k = 0; k < 3; k++) gc_check("ew_binary", b_ew, (int[]){k}, 2, in, 40, 2e-3);
  gc_check("reduce_sum", b_reduce, (int[]){3, 4, 5}, 1, (gc_in[]){GC_IN(3 * 4 * 5)}, 40, 2e-3);
  gc_check("mse_loss", b_mse, NULL, 2, in, 40, 2e-3);
}
END_TEST

START_TEST(memory_plan_no_live_overlap) {
  mlp_graph m;
  ck_assert_int_eq(mlp_build(&m), 0);
  const ldm_graph *g = &m.g;
  for (int i = 0; i < g->nt; i++)
    for (int j = i + 1; j < g->nt; j++) {
      const ldm_tensor *a = &g->t[i], *b = &g->t[j];
      if (a->arena != LDM_ARENA_ACT || b->arena != LDM_ARENA_ACT || a->view_of != -1 || b->view_of != -1) continue;
      bool live = a->first_use <= b->last_use && b->first_use <= a->last_use;
      bool mem = a->offset < b->offset + ldm_tensor_bytes(b) && b->offset < a->offset + ldm_tensor_bytes(a);
      ck_assert_msg(!(live && mem), "%s and %s share memory while both live", a->name, b->name);
    }
  ldm_graph_free(&m.g);
}
END_TEST

START_TEST(mlp_trains_on_cpu) {
  mlp_graph m;
  ck_assert_int_eq(mlp_build(&m), 0);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&m.g, &e), LDM_OK);
  ck_assert_int_eq(mlp_init(&m, e), LDM_OK);
  float first = 0, last = 0;
  for (uint32_t t = 1; t <= 50; t++) {
    ck_assert_int_eq(mlp_step(&m, e, t, 1e-2f, &last), LDM_OK);
    if (t == 1) first = last;
  }
  ck_assert_msg(last < 0.5f * first, "loss %g -> %g", first, last);
  ldm_exec_free(e);
  ldm_graph_free(&m.g);
}
END_TEST

START_TEST(gradient_accumulation_matches_full_batch) {
  bool zero = false;
  double err = mlp_accum_check(ldm_exec_cpu, 18, &zero);
  ck_assert_msg(err < 1e-4, "two accumulated half batches differ from the full batch: %.3g", err);
  ck_assert_msg(zero, "AdamW left non-zero gradients");
}
END_TEST

/* Regression (issue 7): the shape and name handed to a creating call may point into g->t itself
 * (g->t[x].shape from an op builder, ldm_grad_target, ldm_T()); ldm_tensor_new must copy them before
 * the table grows. The graph's tensor table is filled exactly to its capacity, so the next tensor
 * reallocates it. Freed memory is poisoned (M_PERTURB), so a read through the stale pointer yields a
 * wrong shape even without AddressSanitizer (which reports a heap-use-after-free instead). */
START_TEST(tensor_table_growth_keeps_shape_and_name) {
  mallopt(M_PERTURB, 0xa5);
  static const char *what[] = {"tensor_new", "grad_target", "silu (generated activation)", "clamp (diffusion.c)", "view"};
  for (int path = 0; path < 5; path++) {
    ldm_graph g;
    ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
    while (g.nt < g.cap_t - 1) ck_assert_int_ge(ldm_act(&g, "pad", 1, LDM_SHAPE(1)), 0);
    int x = ldm_param(&g, "weight", 4, LDM_SHAPE(3, 5, 7, 11));
    ck_assert_int_ge(x, 0);
    ck_assert_int_eq(g.nt, g.cap_t); /* the next tensor grows the table */
    int cap = g.cap_t, y = -1, acc = -1;
    const char *want = "weight";
    switch (path) {
    case 0: y = ldm_tensor_new(&g, ldm_T(&g, x)->name, LDM_ARENA_ACT, LDM_F32, 4, ldm_T(&g, x)->shape); break;
    case 1:
      y = ldm_grad_target(&g, x, &acc);
      want = "grad:weight";
      ck_assert_int_eq(acc, 1); /* a parameter gradient accumulates */
      ck_assert_int_eq(g.t[x].grad, y);
      break;
    case 2: y = ldm_silu(&g, x); want = NULL; break;
    case 3: y = ldm_clamp(&g, x, -1.0f, 1.0f); want = NULL; break;
    case 4: y = ldm_view(&g, x, g.t[x].name, 0, 4, g.t[x].shape); break;
    }
    ck_assert_msg(y == cap, "%s: tensor id %d, expected %d", what[path], y, cap);
    ck_assert_int_gt(g.cap_t, cap);
    const ldm_tensor *t = ldm_T(&g, y);
    ck_assert_msg(t->ndim == 4 && t->shape[0] == 3 && t->shape[1] == 5 && t->shape[2] == 7 && t->shape[3] == 11,
                  "%s: shape [%lld, %lld, %lld, %lld] (ndim %d), expected [3, 5, 7, 11]", what[path],
                  (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2], (long long)t->shape[3],
                  t->ndim);
    ck_assert_int_eq(t->numel, 3 * 5 * 7 * 11);
    if (want) ck_assert_str_eq(t->name, want);
    /* the source tensor itself survived the move */
    ck_assert_str_eq(g.t[x].name, "weight");
    ck_assert_int_eq(g.t[x].numel, 3 * 5 * 7 * 11);
    ldm_graph_free(&g);
  }
  mallopt(M_PERTURB, 0);
}
END_TEST

/* The sticky graph error: the first refused builder fails the graph and records its error (message and
 * file:line); every builder after it appends nothing and returns LDM_NONE, later refusals do not replace
 * the error, and backward and plan refuse the graph with that error restored as the thread error. */
START_TEST(graph_error_is_sticky) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 2, LDM_SHAPE(4, 8)), small = ldm_act(&g, "small", 1, LDM_SHAPE(5));
  int h = ldm_silu(&g, x);
  ck_assert_int_ge(h, 0);
  ck_assert_int_eq(ldm_graph_status(&g), LDM_OK);
  int nn = g.nn, nt = g.nt;
  /* 32 elements into 5: refused. The result (the explicit out) is not used: the graph fails anyway */
  ck_assert_int_eq(ldm_copy(&g, h, small), LDM_NONE);
  ck_assert_int_eq(g.nn, nn);
  ck_assert_int_eq(ldm_graph_status(&g), LDM_ERR_INVALID_ARG);
  ck_assert_ptr_nonnull(strstr(g.err_msg, "copy: silu#"));
  ck_assert_str_eq(g.err_file, "basic.c");
  ck_assert_int_gt(g.err_line, 0);
  char first[sizeof g.err_msg];
  snprintf(first, sizeof first, "%s", g.err_msg);
  /* builders with valid inputs append nothing now, and a later refusal does not replace the error */
  ck_assert_int_eq(ldm_silu(&g, x), LDM_NONE);
  ck_assert_int_eq(ldm_scale(&g, ldm_add(&g, h, x), 2.0f), LDM_NONE);
  ck_assert_int_eq(ldm_copy(&g, x, small), LDM_NONE);
  ck_assert_int_eq(ldm_clamp(&g, x, 1.0f, -1.0f), LDM_NONE);
  ck_assert_int_eq(ldm_act(&g, "late", 1, LDM_SHAPE(3)), LDM_NONE);
  ck_assert_int_eq(g.nn, nn);
  ck_assert_int_eq(g.nt, nt);
  ck_assert_str_eq(g.err_msg, first);
  ck_assert_int_eq(ldm_graph_status(&g), LDM_ERR_INVALID_ARG);
  ldm_clear_error();
  ck_assert_int_eq(ldm_graph_backward(&g, h), LDM_ERR_INVALID_ARG);
  ck_assert_str_eq(ldm_last_error(), first);
  ldm_clear_error();
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_ERR_INVALID_ARG);
  ck_assert_str_eq(ldm_last_error(), first);
  ck_assert_int_eq(strncmp(ldm_last_error_where(), "basic.c:", 8), 0);
  ck_assert(!g.planned);
  ldm_graph_free(&g);

  /* a refusal in the middle of a chain: the rest of the chain appends nothing, one check at the end */
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  x = ldm_act(&g, "x", 2, LDM_SHAPE(4, 8));
  nn = g.nn;
  ck_assert_int_eq(ldm_silu(&g, ldm_clamp(&g, x, 1.0f, -1.0f)), LDM_NONE);
  ck_assert_int_eq(g.nn, nn);
  ck_assert_int_eq(ldm_graph_check(&g, LDM_NONE), LDM_ERR_INVALID_ARG);
  ck_assert_ptr_nonnull(strstr(ldm_last_error(), "lower bound"));
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_ERR_INVALID_ARG);
  ldm_graph_free(&g);

  /* an id that is no tensor of the graph is refused as well */
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  ck_assert_int_eq(ldm_silu(&g, 12345), LDM_NONE);
  ck_assert_ptr_nonnull(strstr(g.err_msg, "12345"));
  ck_assert_int_eq(ldm_graph_status(&g), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_ERR_INVALID_ARG);
  ldm_graph_free(&g);

  /* LDM_NONE on a graph that has not failed (no refusal of its own): an internal error */
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  ck_assert_int_eq(ldm_silu(&g, LDM_NONE), LDM_NONE);
  ck_assert_int_eq(ldm_graph_status(&g), LDM_ERR_INTERNAL);
  ldm_graph_free(&g);
}
END_TEST

/* The merge pass of ldm_graph_plan (core/fuse.c): adjacent independent reduce_sum nodes become one
 * reduce_sum_multi node, a dependent one (reading what the run writes) and the boundaries (a fence,
 * n_forward) end a run, the boundaries are renumbered, and the CPU results are bitwise those of the
 * unmerged graph (LDM_NO_FUSE=1). */
enum { MR_IN = 6 };
static void mr_build(ldm_graph *g, int *x, int *o) {
  static const int64_t shp[MR_IN][3] = {{3, 5, 7}, {129, 2, 1}, {1, 1, 5}, {2, 3, 40}, {4, 9, 1}, {1, 4, 33}};
  ck_assert_int_eq(ldm_graph_init(g), LDM_OK);
  for (int k = 0; k < MR_IN; k++) {
    x[k] = ldm_act(g, "x", 1, LDM_SHAPE(shp[k][0] * shp[k][1] * shp[k][2]));
    o[k] = ldm_act(g, "o", 1, LDM_SHAPE(shp[k][1]));
    ldm_keep(g, x[k]);
    ldm_keep(g, o[k]);
  }
  /* nodes 0, 1, 2 independent; node 3 reads o[2], which node 2 writes (ends the run); a fence; nodes 4, 5;
   * n_forward; node 6 */
  for (int k = 0; k < 3; k++) ldm_reduce_sum(g, x[k], o[k], shp[k][0], shp[k][1], shp[k][2], 0.5f + (float)k, k & 1);
  int dep = ldm_act(g, "dep", 1, LDM_SHAPE(1));
  ldm_keep(g, dep);
  ldm_reduce_sum(g, o[2], dep, 1, 1, 1, 2.0f, 0);
  ldm_graph_fence(g);
  ldm_reduce_sum(g, x[3], o[3], shp[3][0], shp[3][1], shp[3][2], 1.0f, 1);
  ldm_reduce_sum(g, x[4], o[4], shp[4][0], shp[4][1], shp[4][2], -1.0f, 0);
  g->n_forward = g->nn;
  ldm_reduce_sum(g, x[5], o[5], shp[5][0], shp[5][1], shp[5][2], 0.25f, 0);
  ck_assert_int_eq(ldm_graph_plan(g), LDM_OK);
}
static void mr_run(ldm_graph *g, const int *x, const int *o, float out[MR_IN][16]) {
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(g, &e), LDM_OK);
  for (int k = 0; k < MR_IN; k++) {
    float v[400];
    for (int64_t i = 0; i < g->t[x[k]].numel; i++) v[i] = sinf((float)(i * 7 + k));
    ck_assert_int_eq(ldm_exec_write(e, x[k], v, (size_t)g->t[x[k]].numel * 4), LDM_OK);
    for (int64_t i = 0; i < g->t[o[k]].numel; i++) v[i] = cosf((float)(i + k));
    ck_assert_int_eq(ldm_exec_write(e, o[k], v, (size_t)g->t[o[k]].numel * 4), LDM_OK);
  }
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  for (int k = 0; k < MR_IN; k++)
    ck_assert_int_eq(ldm_exec_read(e, o[k], out[k], (size_t)g->t[o[k]].numel * 4), LDM_OK);
  ldm_exec_free(e);
}
START_TEST(merged_reductions_keep_boundaries_and_bits) {
  ldm_graph gm, gp;
  int xm[MR_IN], om[MR_IN], xp[MR_IN], op[MR_IN];
  mr_build(&gm, xm, om);
  /* [0 1 2] [dep] | fence | [3 4] | n_forward | [5] */
  ck_assert_int_eq(gm.nn, 4);
  ck_assert_int_eq(gm.n[0].op, LDM_OP_reduce_sum_multi);
  ck_assert_int_eq(gm.n[0].nin, 3);
  ck_assert_int_eq(gm.n[1].op, LDM_OP_reduce_sum);
  ck_assert_int_eq(ldm_graph_fence_node(&gm, 0), 2);
  ck_assert_int_eq(gm.n[2].op, LDM_OP_reduce_sum_multi);
  ck_assert_int_eq(gm.n[2].nin, 2);
  ck_assert_int_eq(gm.n_forward, 3);
  ck_assert_int_eq(gm.n[3].op, LDM_OP_reduce_sum);
  setenv("LDM_NO_FUSE", "1", 1);
  mr_build(&gp, xp, op);
  unsetenv("LDM_NO_FUSE");
  ck_assert_int_eq(gp.nn, 7);
  ck_assert_int_eq(ldm_graph_fence_node(&gp, 0), 4);
  ck_assert_int_eq(gp.n_forward, 6);
  float a[MR_IN][16], b[MR_IN][16];
  mr_run(&gm, xm, om, a);
  mr_run(&gp, xp, op, b);
  for (int k = 0; k < MR_IN; k++)
    ck_assert_msg(memcmp(a[k], b[k], (size_t)gm.t[om[k]].numel * 4) == 0, "output %d differs", k);
  ldm_graph_free(&gm);
  ldm_graph_free(&gp);
}
END_TEST

/* The copy merge pass of ldm_graph_plan (core/fuse.c, before the schedule): a concatenation's two copies (one
 * output, disjoint channels), a split's parts and other independent copies of one O and I become one
 * channel_copy_multi node, up to four jobs; a copy reading what the run writes, a zero_rest copy and an
 * accumulating copy into its output, copies of another I, and a fence end a run; the fence is renumbered
 * and the CPU results are bitwise those of the unmerged graph (LDM_NO_FUSE=1). */
enum { MC_T = 11 };
static void mc_build(ldm_graph *g, int *t) {
  /* a [2,3,5] b [2,4,5] -> c [2,7,5] -> y [2,7,5]; x [2,6,3] -> w [2,6,3] (zero rest, then accumulate),
   * x -> p [2,2,3] (three parts), q [2,2,3], r [2,3,3] */
  static const int64_t C[MC_T] = {3, 4, 7, 7, 6, 6, 2, 2, 2, 2, 3};
  static const int64_t I[MC_T] = {5, 5, 5, 5, 3, 3, 3, 3, 3, 3, 3};
  ck_assert_int_eq(ldm_graph_init(g), LDM_OK);
  for (int k = 0; k < MC_T; k++) {
    t[k] = ldm_act(g, "t", 3, LDM_SHAPE(2, C[k], I[k]));
    ldm_keep(g, t[k]);
  }
  enum { A, B, Cc, Y, X, W, P0, P1, P2, Q, R };
  ldm_channel_copy(g, t[A], t[Cc], 2, 5, 3, 7, 0, 0, 3, 0, 0);  /* 0: concat a */
  ldm_channel_copy(g, t[B], t[Cc], 2, 5, 4, 7, 0, 3, 4, 1, 0);  /* 1: concat b (accumulating) -> [0 1] */
  ldm_channel_copy(g, t[Cc], t[Y], 2, 5, 7, 7, 0, 0, 7, 0, 0);  /* 2: reads c -> [2] (I 5, the next I 3) */
  ldm_channel_copy(g, t[X], t[W], 2, 3, 6, 6, 0, 2, 2, 0, 1);   /* 3: zero rest -> [3] */
  ldm_channel_copy(g, t[X], t[W], 2, 3, 6, 6, 4, 4, 2, 1, 0);   /* 4: into w after it: a new run */
  ldm_channel_copy(g, t[X], t[P0], 2, 3, 6, 2, 0, 0, 2, 0, 0);  /* 5-7: a split -> [4 5 6 7] (four jobs) */
  ldm_channel_copy(g, t[X], t[P1], 2, 3, 6, 2, 2, 0, 2, 0, 0);
  ldm_channel_copy(g, t[X], t[P2], 2, 3, 6, 2, 4, 0, 2, 0, 0);
  ldm_channel_copy(g, t[W], t[Q], 2, 3, 6, 2, 1, 0, 2, 0, 0);   /* 8: reads w (4 writes it) -> [8 9] */
  ldm_channel_copy(g, t[X], t[R], 2, 3, 6, 3, 3, 0, 3, 0, 0);   /* 9 */
  ldm_graph_fence(g);
  ldm_channel_copy(g, t[X], t[R], 2, 3, 6, 3, 0, 0, 2, 1, 0);   /* 10: across the fence -> [10] */
  ck_assert_int_eq(ldm_graph_status(g), LDM_OK);
  ck_assert_int_eq(ldm_graph_plan(g), LDM_OK);
}
static void mc_run(ldm_graph *g, const int *t, float out[MC_T][72]) {
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(g, &e), LDM_OK);
  for (int k = 0; k < MC_T; k++) {
    float v[72];
    for (int64_t i = 0; i < g->t[t[k]].numel; i++) v[i] = sinf((float)(i * 7 + 3 * k));
    ck_assert_int_eq(ldm_exec_write(e, t[k], v, (size_t)g->t[t[k]].numel * 4), LDM_OK);
  }
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  for (int k = 0; k < MC_T; k++) ck_assert_int_eq(ldm_exec_read(e, t[k], out[k], (size_t)g->t[t[k]].numel * 4), LDM_OK);
  ldm_exec_free(e);
}
START_TEST(merged_copies_keep_boundaries_and_bits) {
  ldm_graph gm, gp, gs;
  int tm[MC_T], tp[MC_T], ts[MC_T];
  setenv("LDM_NO_SCHEDULE", "1", 1); /* the merged order as recorded, to read the runs */
  mc_build(&gs, ts);
  unsetenv("LDM_NO_SCHEDULE");
  static const int jobs[] = {2, 1, 1, 4, 2, 1};
  ck_assert_int_eq(gs.nn, 6);
  for (int i = 0; i < gs.nn; i++) {
    ck_assert_int_eq(gs.n[i].op, jobs[i] > 1 ? LDM_OP_channel_copy_multi : LDM_OP_channel_copy);
    ck_assert_int_eq(gs.n[i].nin, jobs[i]);
  }
  ck_assert_int_eq(gs.n[0].out[0], gs.n[0].out[1]); /* the concatenation: one output twice */
  ck_assert_int_eq(ldm_graph_fence_node(&gs, 0), 5);
  mc_build(&gm, tm); /* scheduled */
  setenv("LDM_NO_FUSE", "1", 1);
  mc_build(&gp, tp);
  unsetenv("LDM_NO_FUSE");
  ck_assert_int_eq(gp.nn, 11);
  for (int i = 0; i < gp.nn; i++) ck_assert_int_eq(gp.n[i].op, LDM_OP_channel_copy);
  static float a[MC_T][72], b[MC_T][72], c[MC_T][72];
  mc_run(&gm, tm, a);
  mc_run(&gp, tp, b);
  mc_run(&gs, ts, c);
  for (int k = 0; k < MC_T; k++) {
    ck_assert_msg(memcmp(a[k], b[k], (size_t)gm.t[tm[k]].numel * 4) == 0, "tensor %d differs", k);
    ck_assert_msg(memcmp(c[k], b[k], (size_t)gm.t[tm[k]].numel * 4) == 0, "tensor %d differs (recorded order)", k);
  }
  ldm_graph_free(&gm);
  ldm_graph_free(&gp);
  ldm_graph_free(&gs);
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, philox_known_answers);
  tcase_add_test(tc, normal_moments);
  tcase_add_test(tc, grad_gemm);
  tcase_add_test(tc, grad_gemm_silu);
  tcase_add_test(tc, grad_pass_through);
  tcase_add_test(tc, grad_elementwise);
  tcase_add_test(tc, memory_plan_no_live_overlap);
  tcase_add_test(tc, mlp_trains_on_cpu);
  tcase_add_test(tc, gradient_accumulation_matches_full_batch);
  tcase_add_test(tc, tensor_table_growth_keeps_shape_and_name);
  tcase_add_test(tc, graph_error_is_sticky);
  tcase_add_test(tc, merged_reductions_keep_boundaries_and_bits);
  tcase_add_test(tc, merged_copies_keep_boundaries_and_bits);

}

int main(void) { return gc_run_suite("core", "core", 300, add_tests); }
