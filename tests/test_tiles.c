/* The tile variants of the tiled GEMM / convolution shaders (shaders/tile.glsl, vk/plan.c): the choice
 * under limits (no device), then every conformance case of gemm and the three convolutions with each
 * LDM_VK_TILE value forced, at the device's shared memory and with LDM_VK_MAX_SHARED low enough to exclude
 * the large and double-buffered variants (12288), and (auto only: every forced variant falls back there)
 * low enough to exclude the 64x64 convolution tiles too (8192). A variant
 * that computes wrong fails its cases against the reference. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "core/env.h"
#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ops/basic.h"
#include "ops/conv.h"
#include "vk/plan.h"
#include "vk_test_util.h"

static const char *tile_env[LDM_TILE_COUNT] = {"auto", "large", "medium", "small", "narrow", "wide"};

static ldm_dev_limits big_limits(void) {
  ldm_dev_limits lim = {.max_shared = 48u << 10, .max_wg_invocations = 1024, .max_buffer_range = UINT32_MAX,
                        .compute_units = 132, .cu_source = "test"};
  return lim;
}

static ldm_launch plan_gemm(uint32_t M, uint32_t N, uint32_t K, uint32_t batch, const ldm_dev_limits *lim) {
  ldm_node n;
  memset(&n, 0, sizeof n);
  n.op = LDM_OP_gemm;
  ldm_pc_gemm p = {.M = M, .N = N, .K = K, .batch = batch, .alpha = 1.0f};
  memcpy(n.pc, &p, sizeof p);
  n.pc_size = sizeof p;
  ldm_launch l;
  memset(&l, 0, sizeof l);
  ldm_plan_gemm(NULL, &n, lim, &l);
  return l;
}

static ldm_launch plan_conv(uint32_t N, uint32_t Cin, uint32_t HW, uint32_t Cout, const ldm_dev_limits *lim) {
  ldm_node n;
  memset(&n, 0, sizeof n);
  n.op = LDM_OP_conv2d;
  ldm_pc_conv2d p = {N, Cin, HW, HW, Cout, HW, HW, 3, 1, 1, 1, 0, 1, 0, 0, 0};
  memcpy(n.pc, &p, sizeof p);
  n.pc_size = sizeof p;
  ldm_launch l;
  memset(&l, 0, sizeof l);
  ldm_plan_conv2d(NULL, &n, lim, &l);
  return l;
}

/* strided backward data runs by output parity (docs/perf.md "Change 15"): z = S^2 classes, x the column tiles
 * of the largest class; LDM_VK_SUBPIXEL=0 (no_subpixel) and stride 1 keep the one GEMM with its holes */
START_TEST(subpixel_plans) {
  ldm_dev_limits lim = big_limits();
  ldm_node n;
  memset(&n, 0, sizeof n);
  n.op = LDM_OP_conv2d_backward_data;
  /* the VAE's 32 -> 64 3x3 stride-2 downsample of 32x32 inputs, batch 128 */
  ldm_pc_conv2d p = {128, 32, 32, 32, 64, 16, 16, 3, 2, 1, 0, 0, 1, 0, 0, 0};
  memcpy(n.pc, &p, sizeof p);
  n.pc_size = sizeof p;
  ldm_launch l;
  memset(&l, 0, sizeof l);
  ldm_plan_conv2d_backward_data(NULL, &n, &lim, &l);
  ck_assert_str_eq(l.shader, "conv2d_backward_data_sub");
  ck_assert_uint_eq(l.groups[2], 4);
  int64_t cols, depth;
  ldm_conv2d_sub_class(&p, 0, &cols, &depth);
  ck_assert_int_eq(cols, 128 * 16 * 16);
  ck_assert_int_eq(depth, 64); /* even rows and columns: only the centre tap */
  ldm_conv2d_sub_class(&p, 3, &cols, &depth);
  ck_assert_int_eq(depth, 64 * 4); /* odd ones: the four corners */
  ck_assert_uint_eq(l.groups[0], (uint32_t)((128 * 16 * 16 + l.spec[4] - 1) / l.spec[4]));
  lim.no_subpixel = true;
  ldm_plan_conv2d_backward_data(NULL, &n, &lim, &l);
  ck_assert_str_eq(l.shader, "conv2d_backward_data");
  lim.no_subpixel = false;
  p.stride = 1;
  p.Ho = p.Wo = 32;
  memcpy(n.pc, &p, sizeof p);
  ldm_plan_conv2d_backward_data(NULL, &n, &lim, &l);
  ck_assert_str_eq(l.shader, "conv2d_backward_data");
  /* a 1x1 stride-2 kernel: classes with an odd row or column get no tap */
  ldm_pc_conv2d q = {2, 12, 6, 6, 10, 3, 3, 1, 2, 0, 0, 0, 1, 0, 0, 0};
  ldm_conv2d_sub_class(&q, 1, &cols, &depth);
  ck_assert_int_eq(cols, 2 * 3 * 3);
  ck_assert_int_eq(depth, 0);
}
END_TEST

/* the rule of docs/perf.md "Tile variants" on an H200-like device */
START_TEST(auto_choice_follows_the_rule) {
  ldm_dev_limits lim = big_limits();
  /* a grid of 4 x 8 large tiles is 32 x 256 threads < 132 x 256: medium (128 tiles) fills a wave */
  ck_assert_int_eq(plan_gemm(512, 1024, 64, 1, &lim).tile, LDM_TILE_MEDIUM);
  /* 8 x 8 large tiles (48% of a wave) against 256 medium ones (two waves, the second 94% full, at twice the
   * shared traffic): the same time alone in whole waves; large, the less work (docs/perf.md "Change 16") */
  ck_assert_int_eq(plan_gemm(1024, 1024, 64, 1, &lim).tile, LDM_TILE_LARGE);
  ck_assert_int_eq(plan_gemm(2048, 2048, 64, 1, &lim).tile, LDM_TILE_LARGE);
  /* the 128->128 3x3 conv at 4x4, batch 128: 2048 columns */
  /* (no split-K without a graph): 16 large tiles, 64 medium (48% of a wave), 256 small (two waves at twice the
   * medium's shared traffic): medium and small tie in whole waves, medium is the less work */
  ck_assert_int_eq(plan_conv(128, 128, 4, 128, &lim).tile, LDM_TILE_MEDIUM);
  /* 128 -> 128 at 2x2, batch 128 (512 columns): 32 medium tiles against 128 small ones (97%): small */
  ck_assert_int_eq(plan_conv(128, 128, 2, 128, &lim).tile, LDM_TILE_SMALL);
  ck_assert_int_eq(plan_conv(128, 128, 32, 128, &lim).tile, LDM_TILE_LARGE);
  /* 32 output channels: the 32-row tile */
  ck_assert_int_eq(plan_conv(128, 32, 32, 32, &lim).tile, LDM_TILE_NARROW);
  /* 3 output channels over 128 pixels: 384 naive invocations beat 4 tiles of 32x32 (10.7x the outputs) */
  ck_assert_int_eq(plan_conv(2, 32, 8, 3, &lim).tile, 0);
  /* 64 rows: a 128-row tile would be half padding; the 64 x 256 tile keeps the 8x8 blocks */
  ck_assert_int_eq(plan_conv(128, 64, 32, 64, &lim).tile, LDM_TILE_WIDE);
  /* ... but not where its 8 tiles would leave most units idle (no split-K without a graph): medium */
  ck_assert_int_eq(plan_conv(128, 64, 8, 64, &lim).tile, LDM_TILE_MEDIUM);
  /* one output channel: 32-row tiles would compute 32 times the outputs, the naive shader at 9 times the
   * cost per FMA wins (docs/perf.md "Change 14"); so it does up to 7 channels (7 x 9 < 32 x 2 shared bytes
   * per FMA of the narrow tile's 4x4 blocks), and 8 take the tile */
  ldm_launch one = plan_conv(128, 32, 32, 1, &lim);
  ck_assert_int_eq(one.tile, 0);
  ck_assert_str_eq(one.shader, "conv2d_naive");
  ck_assert_int_eq(plan_conv(128, 32, 32, 7, &lim).tile, 0);
  ck_assert_int_eq(plan_conv(128, 32, 32, 8, &lim).tile, LDM_TILE_NARROW);
  /* never when a variant is forced */
  lim.tile = LDM_TILE_NARROW;
  ck_assert_int_eq(plan_conv(128, 32, 32, 1, &lim).tile, LDM_TILE_NARROW);
  lim.tile = LDM_TILE_AUTO;
}
END_TEST

/* a forced variant is used where it fits and replaced by a fitting one where it does not */
START_TEST(forced_variants_fit_the_limits) {
  ldm_dev_limits lim = big_limits();
  for (int t = 1; t < LDM_TILE_COUNT; t++) {
    lim.max_shared = 48u << 10;
    lim.tile = t;
    ldm_launch l = plan_gemm(100, 100, 100, 1, &lim);
    ck_assert_int_eq(l.tile, t);
    ck_assert_uint_eq(l.nspec, 8);
    ck_assert_uint_eq(l.local, 256);
    ck_assert_uint_le(ldm_tile_shared(l.spec[3], l.spec[4], l.spec[7]), lim.max_shared);
    for (uint32_t sh = 1024; sh <= (48u << 10); sh += 1024) {
      lim.max_shared = sh;
      ldm_launch g = plan_gemm(100, 100, 100, 1, &lim), c = plan_conv(16, 20, 9, 150, &lim);
      const ldm_launch *both[2] = {&g, &c};
      for (int k = 0; k < 2; k++) {
        if (both[k]->tile == 0) {
          ck_assert_msg(strstr(both[k]->shader, "_naive") != NULL, "%s without a tile", both[k]->shader);
          ck_assert_uint_lt(sh, 4224); /* the small tile's convolution shared memory */
          continue;
        }
        ck_assert_uint_le(ldm_tile_shared(both[k]->spec[3], both[k]->spec[4], both[k]->spec[7]), sh);
      }
    }
  }
  lim.max_shared = 48u << 10;
  lim.max_wg_invocations = 128;
  ck_assert_int_eq(plan_gemm(100, 100, 100, 1, &lim).tile, 0);
}
END_TEST

/* split-K (docs/perf.md "Change 7"): the builder gives an underfilled convolution its workspace and counters
 * (scratch outputs); the plan splits it on a big device, not with LDM_VK_SPLITK=0 (splitk -1), and forced
 * N gives min(N, S_max) splits; a node without them never splits */
START_TEST(split_k_plans) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 4, (int64_t[]){128, 128, 4, 4});
  int w = ldm_param(&g, "w", 4, (int64_t[]){128, 128, 3, 3});
  int y = ldm_conv2d(&g, x, w, LDM_NONE, 1, 1);
  ck_assert_int_ge(y, 0);
  const ldm_node *n = &g.n[g.nn - 1];
  ck_assert_int_eq(n->nout, 3);
  ck_assert(!g.t[n->out[0]].scratch && g.t[n->out[1]].scratch && g.t[n->out[2]].scratch);
  ck_assert(!g.t[n->out[1]].requires_grad);
  ldm_pc_conv2d p;
  memcpy(&p, n->pc, sizeof p);
  uint32_t smax = ldm_conv2d_split_max(&p, false);
  ck_assert_uint_eq(smax, 8);
  ck_assert_int_eq(g.t[n->out[1]].numel, (int64_t)smax * 128 * 2048);
  ldm_dev_limits lim = big_limits();
  ldm_launch l;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_str_eq(l.shader, "conv2d_split");
  ck_assert_uint_gt(l.groups[2], 1);
  ck_assert_uint_le(l.groups[2], smax);
  ck_assert_uint_le((uint64_t)l.groups[0] * l.groups[1], (uint64_t)g.t[n->out[2]].numel);
  lim.splitk = -1;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_str_eq(l.shader, "conv2d");
  ck_assert_uint_eq(l.groups[2], 1);
  lim.splitk = 3;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_uint_eq(l.groups[2], 3);
  lim.splitk = 100;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_uint_eq(l.groups[2], smax);
  /* the same node without its scratch outputs: no split */
  ldm_node bare = *n;
  bare.nout = 1;
  ldm_node_launch(&g, &bare, &lim, &l);
  ck_assert_str_eq(l.shader, "conv2d");
  ck_assert_uint_eq(l.groups[2], 1);
  /* a big grid: no split, no scratch outputs */
  int x2 = ldm_act(&g, "x2", 4, (int64_t[]){128, 128, 32, 32});
  ck_assert_int_ge(ldm_conv2d(&g, x2, w, LDM_NONE, 1, 1), 0);
  ck_assert_int_eq(g.n[g.nn - 1].nout, 1);
  ldm_graph_free(&g);
}
END_TEST

/* GEMM split-K and conv2d_backward_weight's split-K inside the node (docs/perf.md "Change 10"): the builder's
 * scratch outputs (after C and the SiLU epilogue's z), the split variant where the plan splits, none with
 * LDM_VK_SPLITK=0, forced N as min(N, S_max); a batched GEMM never gets them */
START_TEST(split_k_plans_gemm_and_weight) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 2, (int64_t[]){128, 128});
  int w = ldm_param(&g, "w", 2, (int64_t[]){256, 128}), b = ldm_param(&g, "b", 1, (int64_t[]){256});
  ck_assert_int_ge(ldm_linear_act(&g, x, w, b, LDM_GEMM_ACT_SILU), 0);
  const ldm_node *n = &g.n[g.nn - 1];
  ck_assert_int_eq(n->nout, 4);
  ck_assert(!g.t[n->out[1]].scratch && g.t[n->out[1]].requires_grad); /* z */
  ck_assert(g.t[n->out[2]].scratch && g.t[n->out[3]].scratch && !g.t[n->out[2]].requires_grad);
  ldm_pc_gemm p;
  memcpy(&p, n->pc, sizeof p);
  uint32_t smax = ldm_gemm_split_max(&p);
  ck_assert_uint_eq(smax, 8);
  ck_assert_int_eq(g.t[n->out[2]].numel, (int64_t)smax * 128 * 256);
  ldm_dev_limits lim = big_limits();
  ldm_launch l;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_str_eq(l.shader, "gemm_silu_split");
  ck_assert_uint_gt(l.groups[2], 1);
  ck_assert_uint_le(l.groups[2], smax);
  ck_assert_uint_le((uint64_t)l.groups[0] * l.groups[1], (uint64_t)g.t[n->out[3]].numel);
  lim.splitk = -1;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_str_eq(l.shader, "gemm_silu");
  ck_assert_uint_eq(l.groups[2], 1);
  lim.splitk = 3;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_str_eq(l.shader, "gemm_silu_split");
  ck_assert_uint_eq(l.groups[2], 3);
  ldm_node bare = *n;
  bare.nout = 2;
  ldm_node_launch(&g, &bare, &lim, &l);
  ck_assert_str_eq(l.shader, "gemm_silu");
  /* batched: no scratch outputs */
  int a3 = ldm_act(&g, "a3", 1, (int64_t[]){4 * 16 * 32}), b3 = ldm_act(&g, "b3", 1, (int64_t[]){4 * 32 * 8});
  int c3 = ldm_act(&g, "c3", 1, (int64_t[]){4 * 16 * 8});
  ldm_gemm_args ga = {0, 0, 4, 1.0f, 0, 0};
  ck_assert_int_ge(ldm_gemm(&g, a3, b3, -1, c3, 16, 8, 32, ga), 0);
  ck_assert_int_eq(g.n[g.nn - 1].nout, 1);
  /* backward weight of the 64->128 3x3 conv at 4x4, batch 128: 4 builder splits of 512 pixels, each split
   * again on the device (z = 4 x S) */
  int xc = ldm_act(&g, "xc", 4, (int64_t[]){128, 64, 4, 4}), dy = ldm_act(&g, "dy", 4, (int64_t[]){128, 128, 4, 4});
  ldm_pc_conv2d pc = {128, 64, 4, 4, 128, 4, 4, 3, 1, 1, 0, 0, 1, 0, 0, 0};
  uint32_t s = ldm_conv2d_weight_splits(&pc);
  ck_assert_uint_eq(s, 4);
  int part = ldm_act(&g, "part", 2, (int64_t[]){s, 128 * 64 * 9});
  ck_assert_int_ge(ldm_conv2d_backward_weight_node(&g, dy, xc, part, &pc, s, 0), 0);
  n = &g.n[g.nn - 1];
  ck_assert_int_eq(n->nout, 3);
  memcpy(&pc, n->pc, sizeof pc);
  smax = ldm_conv2d_weight_split_max(&pc);
  ck_assert_uint_eq(smax, 8); /* 32 slabs of 512 pixels / 4, at most 8 (the workspace cap, 3 Mi floats /
                               * (4 x 128 x 576) = 10, does not bind) */
  ck_assert_int_eq(g.t[n->out[1]].numel, (int64_t)s * smax * 128 * 576);
  lim.splitk = 0;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_str_eq(l.shader, "conv2d_backward_weight_split");
  ck_assert_uint_eq(l.groups[2] % s, 0);
  ck_assert_uint_le(l.groups[2], s * smax);
  lim.splitk = -1;
  ldm_node_launch(&g, n, &lim, &l);
  ck_assert_str_eq(l.shader, "conv2d_backward_weight");
  ck_assert_uint_eq(l.groups[2], s);
  ldm_graph_free(&g);
}
END_TEST

/* a value that names no variant is refused when a context opens, naming the switch */
START_TEST(a_bad_switch_is_refused) {
  setenv("LDM_VK_TILE", "huge", 1);
  ldm_vk_ctx *c = NULL;
  ldm_status s = ldm_vk_open("vk", &c);
  unsetenv("LDM_VK_TILE");
  ck_assert_int_eq(s, LDM_ERR_INVALID_ARG);
  ck_assert_ptr_null(c);
  ck_assert_msg(strstr(ldm_last_error(), "LDM_VK_TILE=huge") != NULL, "%s", ldm_last_error());
}
END_TEST

static ldm_vk_ctx *vk;
static const ldm_conf_case *cases;
static int ncases;
static int forced;

static bool tiled_op(const char *op) {
  return strcmp(op, "gemm") == 0 || strncmp(op, "conv2d", 6) == 0;
}

START_TEST(tile_case) {
  const ldm_conf_case *c = &cases[_i];
  if (c->full_only || !tiled_op(c->op)) return;
  ldm_conf_result r;
  ldm_status s = ldm_conf_run(c, vk, 42, &r);
  ck_assert_msg(s == LDM_OK, "%s [%s] LDM_VK_TILE=%s: %s", c->op, c->shape, tile_env[forced], ldm_last_error());
  ck_assert(r.vk_run);
  ck_assert_msg(r.pass, "%s [%s] LDM_VK_TILE=%s: NMSE device-vs-ref %.3g (tol %.3g), worst element %.3g: %s",
                c->op, c->shape, tile_env[forced], r.vk_ref.nmse, r.tol, r.vk_ref.max_ratio, r.message);
}
END_TEST

/* the switch reaches the limits, and a case's plan uses the forced variant where it fits: all of them at
 * 32 KiB or more; at 12288 bytes not the large one (16 KiB single-buffered), at 8192 none but the small
 * one for a convolution */
START_TEST(the_switch_reaches_the_plans) {
  const ldm_dev_limits *lim = ldm_vk_limits(vk);
  ck_assert_int_eq(lim->tile, forced);
  ck_assert_uint_ge(lim->compute_units, 1);
  ldm_launch g = plan_gemm(257, 129, 511, 1, lim), c = plan_conv(2, 20, 9, 150, lim);
  ck_assert_int_ne(g.tile, 0);
  ck_assert_int_ne(c.tile, 0);
  ck_assert_uint_le(ldm_tile_shared(g.spec[3], g.spec[4], g.spec[7]), lim->max_shared);
  ck_assert_uint_le(ldm_tile_shared(c.spec[3], c.spec[4], c.spec[7]), lim->max_shared);
  if (forced == LDM_TILE_AUTO) return;
  if (lim->max_shared >= 32768) {
    ck_assert_int_eq(g.tile, forced);
    ck_assert_int_eq(c.tile, forced);
  }
  if (lim->max_shared < 16384) ck_assert_int_ne(c.tile, LDM_TILE_LARGE);
  if (lim->max_shared < 8320) ck_assert_int_eq(c.tile, LDM_TILE_SMALL);
}
END_TEST

START_TEST(no_validation_messages) { ck_assert_uint_eq(ldm_vk_validation_messages(), 0); }
END_TEST

static void add_plan_tests(TCase *tc) {
  tcase_add_test(tc, auto_choice_follows_the_rule);
  tcase_add_test(tc, forced_variants_fit_the_limits);
  tcase_add_test(tc, a_bad_switch_is_refused);
  tcase_add_test(tc, split_k_plans);
  tcase_add_test(tc, split_k_plans_gemm_and_weight);
  tcase_add_test(tc, subpixel_plans);
}
static void add_device_tests(TCase *tc) {
  tcase_add_test(tc, the_switch_reaches_the_plans);
  tcase_add_loop_test(tc, tile_case, 0, ncases);
  tcase_add_test(tc, no_validation_messages);
}

int main(void) {
  int failed = ldm_test_run("tiles (plans)", "plans", 60, true, add_plan_tests);
  cases = ldm_conf_cases(&ncases);
  static const char *shared[3] = {NULL, "12288", "8192"};
  /* split-K off, then (device and 8192 bytes) forced to 3 splits wherever the builder allows one */
  for (int s = 0; s < 3; s++)
    for (int sk = 0; sk < (s == 1 ? 1 : 2); sk++)
    for (forced = 0; forced < (s < 2 ? LDM_TILE_COUNT : 1); forced++) { /* at 8192 every forced one falls back */
      setenv("LDM_VK_SPLITK", sk ? "3" : "0", 1);
      setenv("LDM_VK_TILE", tile_env[forced], 1);
      if (shared[s]) setenv("LDM_VK_MAX_SHARED", shared[s], 1);
      else unsetenv("LDM_VK_MAX_SHARED");
      vk = vk_test_open();
      char name[96];
      snprintf(name, sizeof name, "tiles (LDM_VK_TILE=%s, shared %s, LDM_VK_SPLITK=%s)", tile_env[forced],
               shared[s] ? shared[s] : "device", sk ? "3" : "0");
      failed += ldm_test_run(name, "cases", 600, true, add_device_tests);
      ldm_vk_close(vk);
    }
  /* strided backward data with its stride holes (no conv2d_backward_data_sub; docs/perf.md "Change 15") */
  setenv("LDM_VK_SPLITK", "0", 1);
  unsetenv("LDM_VK_TILE");
  unsetenv("LDM_VK_MAX_SHARED");
  setenv("LDM_VK_SUBPIXEL", "0", 1);
  forced = 0;
  vk = vk_test_open();
  failed += ldm_test_run("tiles (LDM_VK_SUBPIXEL=0, LDM_VK_SPLITK=0)", "cases", 600, true, add_device_tests);
  ldm_vk_close(vk);
  unsetenv("LDM_VK_SUBPIXEL");
  return failed ? 1 : 0;
}
