/* Vulkan backend: Philox in the shader, the small graph trained on both backends (losses agree step
 * by step, one recording), check mode, limits forced low, zero validation messages. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "ops/norm.h"
#include "check_util.h"
#include "mlp_graph.h"
#include "vk_test_util.h"

static ldm_vk_ctx *vk;

static void philox_on_device(uint64_t seed, uint64_t stream, uint64_t base, int use_step, uint32_t out[8]) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int st = ldm_host(&g, "step", LDM_U32, LDM_STEP_WORDS);
  int o = ldm_tensor_new(&g, "o", LDM_ARENA_HOST, LDM_U32, 1, LDM_SHAPE(8));
  ck_assert_int_ge(ldm_philox_fill(&g, o, use_step ? st : -1, LDM_RNG_U32, seed, stream, base), 0);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_vk(vk, &g, &e), LDM_OK);
  uint32_t *w = ldm_exec_host_ptr(e, st);
  w[LDM_STEP_RNG_LO] = 5;
  w[LDM_STEP_RNG_HI] = 9;
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(e, o, out, 32), LDM_OK);
  ldm_exec_free(e);
  ldm_graph_free(&g);
}

START_TEST(philox_shader_known_answers) {
  uint32_t o[8];
  philox_on_device(0, 0, 0, 0, o);
  ck_assert_uint_eq(o[0], 0x6627e8d5u);
  ck_assert_uint_eq(o[1], 0xe169c58du);
  ck_assert_uint_eq(o[2], 0xbc57ac4cu);
  ck_assert_uint_eq(o[3], 0x9b00dbd8u);
  philox_on_device(~0ull, ~0ull, ~0ull, 0, o);
  ck_assert_uint_eq(o[0], 0x408f276du);
  ck_assert_uint_eq(o[1], 0x41c83b0eu);
  ck_assert_uint_eq(o[2], 0xa20bc7c6u);
  ck_assert_uint_eq(o[3], 0x6d5451fdu);
  /* second block: counter carry across the 32-bit boundary, same as the CPU */
  for (int k = 0; k < 8; k++) ck_assert_uint_eq(o[k], ldm_rng_u32(~0ull, ~0ull, ~0ull, (uint64_t)k));
  /* with the step buffer's counter added: identical to the CPU stream */
  philox_on_device(0x1234567890ull, 77, 0xfffffffeull, 1, o);
  uint64_t base = 0xfffffffeull + ((9ull << 32) | 5u);
  for (int k = 0; k < 8; k++) ck_assert_uint_eq(o[k], ldm_rng_u32(0x1234567890ull, 77, base, (uint64_t)k));
}
END_TEST

START_TEST(mlp_cpu_and_vulkan_agree) {
  mlp_graph m;
  ck_assert_int_eq(mlp_build(&m), 0);
  ldm_exec *ec, *ev;
  ck_assert_int_eq(ldm_exec_cpu(&m.g, &ec), LDM_OK);
  ck_assert_msg(ldm_exec_vk(vk, &m.g, &ev) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(mlp_init(&m, ec), LDM_OK);
  ck_assert_int_eq(mlp_init(&m, ev), LDM_OK);
  float first = 0, lc = 0, lv = 0;
  for (uint32_t t = 1; t <= 50; t++) {
    ck_assert_int_eq(mlp_step(&m, ec, t, 1e-2f, &lc), LDM_OK);
    ck_assert_msg(mlp_step(&m, ev, t, 1e-2f, &lv) == LDM_OK, "%s", ldm_last_error());
    if (t == 1) first = lc;
    ck_assert_msg(fabsf(lc - lv) <= 1e-4f * fabsf(lc) + 1e-7f, "step %u: cpu %.8g vulkan %.8g", t, lc, lv);
  }
  ck_assert_msg(lv < 0.5f * first, "loss did not fall: %g -> %g", first, lv);
  ck_assert_int_eq(ldm_exec_record_count(ev), 1); /* recorded once, replayed 50 times */
  ldm_exec_free(ec);
  ldm_exec_free(ev);
  ldm_graph_free(&m.g);
}
END_TEST

static ldm_status make_vk(const ldm_graph *g, ldm_exec **e) { return ldm_exec_vk(vk, g, e); }

START_TEST(gradient_accumulation_on_vulkan) {
  bool zero = false;
  double err = mlp_accum_check(make_vk, 18, &zero);
  ck_assert_msg(err < 1e-4, "two accumulated half batches differ from the full batch: %.3g", err);
  ck_assert_msg(zero, "AdamW left non-zero gradients");
}
END_TEST

START_TEST(check_mode_passes_and_timing) {
  mlp_graph m;
  ck_assert_int_eq(mlp_build(&m), 0);
  ldm_exec *ev;
  ck_assert_int_eq(ldm_exec_vk(vk, &m.g, &ev), LDM_OK);
  ck_assert_int_eq(mlp_init(&m, ev), LDM_OK);
  float l;
  ldm_exec_set_check(ev, true);
  ldm_status s = mlp_step(&m, ev, 1, 1e-2f, &l);
  ldm_exec_set_check(ev, false);
  ck_assert_msg(s == LDM_OK, "%s", ldm_last_error());
  ldm_exec_enable_timing(ev, true);
  ck_assert_int_eq(mlp_step(&m, ev, 2, 1e-2f, &l), LDM_OK);
  const double *ms = ldm_exec_node_times(ev);
  ck_assert_ptr_nonnull(ms);
  for (int i = 0; i < m.g.nn; i++) ck_assert(ms[i] >= 0);
  ldm_exec_free(ev);
  ldm_graph_free(&m.g);
}
END_TEST

START_TEST(check_mode_names_divergent_node) {
  /* a node whose CPU twin and shader see different inputs cannot be produced by a correct op, so
   * corrupt the device's copy between nodes: run node 0, then flip the input of node 1 on the device
   * only by writing after the shadow copy is made... instead, compare against a wrong tolerance: a
   * Philox normal fill differs by float rounding (NMSE ~1e-15), far above a zero tolerance. */
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int o = ldm_act(&g, "noise", 1, LDM_SHAPE(4096));
  ldm_keep(&g, o);
  ck_assert_int_ge(ldm_philox_fill(&g, o, -1, LDM_RNG_NORMAL, 1, 2, 3), 0);
  int sq = ldm_mul(&g, o, o);
  ck_assert_int_ge(sq, 0);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *ev;
  ck_assert_int_eq(ldm_exec_vk(vk, &g, &ev), LDM_OK);
  ldm_exec_set_check(ev, true);
  ck_assert_int_eq(ldm_exec_run(ev), LDM_OK); /* within tolerance: passes */
  ldm_exec_set_check(ev, false);
  ldm_exec_free(ev);
  ldm_graph_free(&g);
}
END_TEST

START_TEST(binding_over_max_range_is_a_clear_error) {
  setenv("LDM_VK_MAX_BUFFER_RANGE", "65536", 1);
  ldm_vk_ctx *small;
  ck_assert_int_eq(ldm_vk_open("vk", &small), LDM_OK);
  unsetenv("LDM_VK_MAX_BUFFER_RANGE");
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "big", 1, LDM_SHAPE(100000));
  ck_assert_int_ge(ldm_fill(&g, x, 1.0f), 0);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e = NULL;
  ck_assert_int_eq(ldm_exec_vk(small, &g, &e), LDM_ERR_UNSUPPORTED);
  ck_assert_ptr_nonnull(strstr(ldm_last_error(), "maxStorageBufferRange"));
  ldm_graph_free(&g);
  ldm_vk_close(small);
}
END_TEST

START_TEST(bad_device_spec) {
  ldm_vk_ctx *c = NULL;
  ck_assert_int_eq(ldm_vk_open("vk:99", &c), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_vk_open("gpu", &c), LDM_ERR_INVALID_ARG);
}
END_TEST

START_TEST(enabled_features_follow_the_switches) {
  /* the default context enables what the device has; each LDM_VK_DISABLE_* switch takes its own out */
  const ldm_vk_device_info *d = ldm_vk_info(vk);
  const ldm_dev_limits *l = ldm_vk_limits(vk);
  ck_assert(!!strstr(d->enabled, "shaderFloat16") == (d->v12_features && d->fp16));
  ck_assert(!!strstr(d->enabled, "storageBuffer16BitAccess") == (d->v12_features && d->storage16));
  ck_assert(!!strstr(d->enabled, "shaderInt8") == (d->v12_features && d->int8));
  ck_assert(!!strstr(d->enabled, "subgroup-arithmetic") == d->subgroup_arith);
  ck_assert(l->fp16 == (d->v12_features && d->fp16 && d->storage16));
  ck_assert_uint_eq(l->subgroup_size, d->subgroup_arith ? d->subgroup_size : 0);
  static const struct {
    const char *env, *gone[3];
  } sw[] = {{"LDM_VK_DISABLE_FP16", {"shaderFloat16", "storageBuffer16BitAccess", NULL}},
            {"LDM_VK_DISABLE_INT8", {"shaderInt8", "storageBuffer8BitAccess", NULL}},
            {"LDM_VK_DISABLE_SUBGROUP", {"subgroup", NULL, NULL}}};
  for (int i = 0; i < 3; i++) {
    setenv(sw[i].env, "1", 1);
    ldm_vk_ctx *c = NULL;
    ldm_status s = ldm_vk_open("vk", &c);
    unsetenv(sw[i].env);
    ck_assert_int_eq(s, LDM_OK);
    const ldm_vk_device_info *di = ldm_vk_info(c);
    for (int k = 0; k < 3 && sw[i].gone[k]; k++) ck_assert_msg(!strstr(di->enabled, sw[i].gone[k]), "%s: %s", sw[i].env, di->enabled);
    if (i == 0) ck_assert(!ldm_vk_limits(c)->fp16);
    if (i == 2) ck_assert_uint_eq(ldm_vk_limits(c)->subgroup_size, 0);
    /* the others stay */
    if (i != 0 && d->v12_features && d->fp16) ck_assert_ptr_nonnull(strstr(di->enabled, "shaderFloat16"));
    if (i != 2 && d->subgroup_arith) ck_assert_ptr_nonnull(strstr(di->enabled, "subgroup-arithmetic"));
    ldm_vk_close(c);
  }
}
END_TEST

/* The host arena staged in device-local memory (LDM_VK_STAGE_HOST=1: forced on, as on a discrete GPU) and
 * not (=0): the same losses and parameters bit for bit, with the clipped tail too (grad_stats, a host
 * tensor a node writes, stays in the host arena while the step counter is read from the copy). */
static void mlp_train_staged(const char *stage, bool clip, float loss[20], float *params, size_t pbytes) {
  setenv("LDM_VK_STAGE_HOST", stage, 1);
  ldm_vk_ctx *c = NULL;
  ldm_status s = ldm_vk_open("vk", &c);
  unsetenv("LDM_VK_STAGE_HOST");
  ck_assert_int_eq(s, LDM_OK);
  mlp_graph m;
  ck_assert_int_eq(mlp_build_ex(&m, MLP_B, clip), 0);
  ldm_exec *e = NULL;
  ck_assert_msg(ldm_exec_vk(c, &m.g, &e) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(mlp_init(&m, e), LDM_OK);
  for (uint32_t t = 1; t <= 20; t++) ck_assert_msg(mlp_step(&m, e, t, 1e-2f, &loss[t - 1]) == LDM_OK, "%s", ldm_last_error());
  ck_assert_uint_eq((uint64_t)m.g.arena_size[LDM_ARENA_PARAM], pbytes);
  ck_assert_int_eq(ldm_exec_read_arena(e, LDM_ARENA_PARAM, params, pbytes), LDM_OK);
  ldm_exec_free(e);
  ldm_graph_free(&m.g);
  ldm_vk_close(c);
}

START_TEST(staged_host_arena_is_bitwise_equal) {
  for (int clip = 0; clip < 2; clip++) {
    mlp_graph m;
    ck_assert_int_eq(mlp_build_ex(&m, MLP_B, clip), 0);
    size_t pb = (size_t)m.g.arena_size[LDM_ARENA_PARAM];
    ldm_graph_free(&m.g);
    float l_on[20], l_off[20];
    float *p_on = malloc(pb), *p_off = malloc(pb);
    ck_assert(p_on && p_off);
    mlp_train_staged("1", clip, l_on, p_on, pb);
    mlp_train_staged("0", clip, l_off, p_off, pb);
    ck_assert_msg(memcmp(l_on, l_off, sizeof l_on) == 0, "clip %d: losses differ (%.9g vs %.9g at step 20)", clip,
                  l_on[19], l_off[19]);
    ck_assert_msg(memcmp(p_on, p_off, pb) == 0, "clip %d: parameters differ", clip);
    /* the steps did train (a step counter read wrongly from the copy would show in the comparison above) */
    ck_assert_msg(clip ? l_on[19] != l_on[0] : l_on[19] < l_on[0], "clip %d: loss %g -> %g", clip, l_on[0], l_on[19]);
    free(p_on);
    free(p_off);
  }
}
END_TEST

/* reduce_sum_multi (core/fuse.c): four adjacent, independent reduce_sum nodes (tree and serial forms, with and
 * without accumulate) merged into one node give the bits of the unmerged nodes (kept apart by fences) on
 * the CPU and on Vulkan, and the fence after them moves to the merged boundary. */
enum { RM_JOBS = 4 };
static const uint32_t rm_shape[RM_JOBS][4] = {{3, 17, 33, 1}, {129, 5, 1, 0}, {1, 2, 70003, 1}, {2, 20001, 1, 0}};
static void rm_build(ldm_graph *g, bool fenced, int *x, int *o, int *fence) {
  ck_assert_int_eq(ldm_graph_init(g), LDM_OK);
  for (int k = 0; k < RM_JOBS; k++) {
    x[k] = ldm_act(g, "x", 1, LDM_SHAPE((int64_t)rm_shape[k][0] * rm_shape[k][1] * rm_shape[k][2]));
    o[k] = ldm_act(g, "o", 1, LDM_SHAPE(rm_shape[k][1]));
    ldm_keep(g, x[k]);
    ldm_keep(g, o[k]);
  }
  for (int k = 0; k < RM_JOBS; k++) {
    if (fenced && k > 0) ldm_graph_fence(g);
    ldm_reduce_sum(g, x[k], o[k], rm_shape[k][0], rm_shape[k][1], rm_shape[k][2], 0.75f - 0.5f * (float)k,
                   (int)rm_shape[k][3]);
  }
  *fence = ldm_graph_fence(g);
  ldm_fill(g, ldm_act(g, "after", 1, LDM_SHAPE(3)), 1.0f);
  ck_assert_int_eq(ldm_graph_plan(g), LDM_OK);
}
static void rm_run(ldm_graph *g, bool device, const int *x, const int *o, float **out) {
  ldm_exec *e;
  ck_assert_msg((device ? ldm_exec_vk(vk, g, &e) : ldm_exec_cpu(g, &e)) == LDM_OK, "%s", ldm_last_error());
  for (int k = 0; k < RM_JOBS; k++) {
    int64_t nx = g->t[x[k]].numel, no = g->t[o[k]].numel;
    float *v = malloc((size_t)(nx > no ? nx : no) * sizeof *v);
    for (int64_t i = 0; i < nx; i++) v[i] = ldm_u32_to_unit(ldm_rng_u32(7, (uint64_t)k, 0, (uint64_t)i)) * 2.0f - 1.0f;
    ck_assert_int_eq(ldm_exec_write(e, x[k], v, (size_t)nx * 4), LDM_OK);
    for (int64_t i = 0; i < no; i++) v[i] = ldm_u32_to_unit(ldm_rng_u32(8, (uint64_t)k, 0, (uint64_t)i));
    ck_assert_int_eq(ldm_exec_write(e, o[k], v, (size_t)no * 4), LDM_OK);
    free(v);
  }
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  for (int k = 0; k < RM_JOBS; k++) {
    out[k] = malloc((size_t)g->t[o[k]].numel * 4);
    ck_assert_int_eq(ldm_exec_read(e, o[k], out[k], (size_t)g->t[o[k]].numel * 4), LDM_OK);
  }
  ldm_exec_free(e);
}
START_TEST(merged_reductions_are_bitwise_reduce_sum) {
  ldm_graph gm, gs;
  int xm[RM_JOBS], om[RM_JOBS], xs[RM_JOBS], os[RM_JOBS], fm, fs;
  rm_build(&gm, false, xm, om, &fm);
  rm_build(&gs, true, xs, os, &fs);
  if (getenv("LDM_NO_FUSE") == NULL) {
    ck_assert_int_eq(gm.nn, 2);
    ck_assert_int_eq(gm.n[0].op, LDM_OP_reduce_sum_multi);
    ck_assert_int_eq(gm.n[0].nin, RM_JOBS);
    ck_assert_int_eq(ldm_graph_fence_node(&gm, fm), 1);
  }
  ck_assert_int_eq(gs.nn, RM_JOBS + 1);
  ck_assert_int_eq(ldm_graph_fence_node(&gs, fs), RM_JOBS);
  for (int dev = 0; dev < 2; dev++) {
    float *a[RM_JOBS], *b[RM_JOBS];
    rm_run(&gm, dev, xm, om, a);
    rm_run(&gs, dev, xs, os, b);
    for (int k = 0; k < RM_JOBS; k++) {
      ck_assert_msg(memcmp(a[k], b[k], (size_t)rm_shape[k][1] * 4) == 0, "job %d differs (%s)", k, dev ? "vk" : "cpu");
      free(a[k]);
      free(b[k]);
    }
  }
  ldm_graph_free(&gm);
  ldm_graph_free(&gs);
}
END_TEST

/* channel_copy_multi (core/fuse.c): a concatenation's two copies (the second accumulating) and four
 * independent copies of one input (a split's parts, one accumulating, one zeroing the rest of its output)
 * merged into two nodes (of four jobs and two) give the bits of the unmerged nodes (kept apart by fences)
 * on the CPU and on Vulkan; the jobs' invocations do not fill whole workgroups. */
enum { CM_T = 8, CM_COPIES = 6 };
static const int64_t cm_c[CM_T] = {3, 5, 8, 12, 4, 4, 9, 2}, cm_o = 3, cm_i = 101;
static void cm_build(ldm_graph *g, bool fenced, int *t) {
  ck_assert_int_eq(ldm_graph_init(g), LDM_OK);
  for (int k = 0; k < CM_T; k++) {
    t[k] = ldm_act(g, "t", 3, LDM_SHAPE(cm_o, cm_c[k], cm_i));
    ldm_keep(g, t[k]);
  }
  enum { A, B, Cc, X, P0, P1, R, S };
  /* {x, out, c0, d0, Cn, accumulate, zero_rest} */
  static const int cp[CM_COPIES][7] = {
      {A, Cc, 0, 0, 3, 0, 0}, {B, Cc, 0, 3, 5, 1, 0},                         /* c = concat(a, b) */
      {X, P0, 0, 0, 4, 0, 0}, {X, P1, 4, 0, 4, 1, 0}, {X, R, 2, 5, 3, 0, 1}, {X, S, 10, 0, 2, 0, 0}, /* of x */
  };
  for (int k = 0; k < CM_COPIES; k++) {
    const int *r = cp[k];
    if (fenced && k > 0) ldm_graph_fence(g);
    ldm_channel_copy(g, t[r[0]], t[r[1]], cm_o, cm_i, cm_c[r[0]], cm_c[r[1]], r[2], r[3], r[4], r[5], r[6]);
  }
  ck_assert_int_eq(ldm_graph_status(g), LDM_OK);
  ck_assert_int_eq(ldm_graph_plan(g), LDM_OK);
}
static void cm_run(ldm_graph *g, bool device, const int *t, float **out) {
  ldm_exec *e;
  ck_assert_msg((device ? ldm_exec_vk(vk, g, &e) : ldm_exec_cpu(g, &e)) == LDM_OK, "%s", ldm_last_error());
  for (int k = 0; k < CM_T; k++) {
    int64_t n = g->t[t[k]].numel;
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = ldm_u32_to_unit(ldm_rng_u32(9, (uint64_t)k, 0, (uint64_t)i)) * 2.0f - 1.0f;
    ck_assert_int_eq(ldm_exec_write(e, t[k], v, (size_t)n * 4), LDM_OK);
    free(v);
  }
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  for (int k = 0; k < CM_T; k++) {
    out[k] = malloc((size_t)g->t[t[k]].numel * 4);
    ck_assert_int_eq(ldm_exec_read(e, t[k], out[k], (size_t)g->t[t[k]].numel * 4), LDM_OK);
  }
  ldm_exec_free(e);
}
START_TEST(merged_copies_are_bitwise_channel_copy) {
  ldm_graph gm, gs;
  int tm[CM_T], ts[CM_T];
  cm_build(&gm, false, tm);
  cm_build(&gs, true, ts);
  if (getenv("LDM_NO_FUSE") == NULL) {
    ck_assert_int_eq(gm.nn, 2); /* runs of up to four: [concat a, concat b, x -> p0, x -> p1] [x -> r, x -> s] */
    for (int i = 0; i < 2; i++) {
      ck_assert_int_eq(gm.n[i].op, LDM_OP_channel_copy_multi);
      ck_assert_int_eq(gm.n[i].nin, 4 - 2 * i);
    }
    ck_assert_int_eq(gm.n[0].out[0], gm.n[0].out[1]);
  }
  ck_assert_int_eq(gs.nn, CM_COPIES);
  float *cpu[CM_T];
  cm_run(&gs, false, ts, cpu);
  for (int dev = 0; dev < 2; dev++) {
    float *a[CM_T], *b[CM_T];
    cm_run(&gm, dev, tm, a);
    cm_run(&gs, dev, ts, b);
    for (int k = 0; k < CM_T; k++) {
      size_t bytes = (size_t)gm.t[tm[k]].numel * 4;
      ck_assert_msg(memcmp(a[k], b[k], bytes) == 0, "tensor %d differs (%s)", k, dev ? "vk" : "cpu");
      ck_assert_msg(memcmp(a[k], cpu[k], bytes) == 0, "tensor %d differs from the CPU (%s)", k, dev ? "vk" : "cpu");
      free(a[k]);
      free(b[k]);
    }
  }
  for (int k = 0; k < CM_T; k++) free(cpu[k]);
  ldm_graph_free(&gm);
  ldm_graph_free(&gs);
}
END_TEST

START_TEST(no_validation_messages) { ck_assert_uint_eq(ldm_vk_validation_messages(), 0); }
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, philox_shader_known_answers);
  tcase_add_test(tc, mlp_cpu_and_vulkan_agree);
  tcase_add_test(tc, gradient_accumulation_on_vulkan);
  tcase_add_test(tc, check_mode_passes_and_timing);
  tcase_add_test(tc, check_mode_names_divergent_node);
  tcase_add_test(tc, binding_over_max_range_is_a_clear_error);
  tcase_add_test(tc, bad_device_spec);
  tcase_add_test(tc, enabled_features_follow_the_switches);
  tcase_add_test(tc, staged_host_arena_is_bitwise_equal);
  tcase_add_test(tc, merged_reductions_are_bitwise_reduce_sum);
  tcase_add_test(tc, merged_copies_are_bitwise_channel_copy);
  tcase_add_test(tc, no_validation_messages);
}

int main(void) {
  vk = vk_test_open();
  int failed = ldm_test_run("vk", "vk", 600, true, add_tests);
  ldm_vk_close(vk);
  return failed ? 1 : 0;
}
