/* Benchmark (not a test): GFLOP/s of the conv2d forward, backward-data and backward-weight nodes on the
 * CPU reference backend and, with --vk, on the Vulkan device. Registered as `meson test --benchmark
 * conv`; run by hand as
 *   LDM_THREADS=2 bench_conv [--vk] [--res] [N Cin H W Cout k stride pad [reps]]
 * (default: the 128x64x16x16 -> 64-channel 3x3 layer; --res: the forward adds a residual in its epilogue,
 * as the resnet blocks' second convolution does). Best-of-reps node times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "ldm/backend.h"
#include "ldm/ops.h"
#include "ldm/vk.h"
#include "bench_util.h"
#include "ops/conv.h"

static double best[3];

static int run(ldm_exec *e, const ldm_graph *g, const int *nodes, int reps) {
  for (int k = 0; k < 3; k++) best[k] = 1e30;
  ldm_exec_enable_timing(e, true);
  for (int r = 0; r < reps + 1; r++) { /* the first run warms up (pipelines, page faults) */
    if (ldm_exec_run(e) != LDM_OK) return -1;
    const double *ms = ldm_exec_node_times(e);
    if (!ms || r == 0) continue;
    for (int k = 0; k < 3; k++) {
      double t = ms[nodes[k]];
      if (k == 2 && nodes[3] >= 0) t += ms[nodes[3]]; /* + the split reduction */
      if (t < best[k]) best[k] = t;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  int use_vk = 0, use_res = 0, ai = 1;
  for (; ai < argc && argv[ai][0] == '-'; ai++) {
    if (strcmp(argv[ai], "--vk") == 0)
      use_vk = 1;
    else if (strcmp(argv[ai], "--res") == 0)
      use_res = 1;
    else {
      fprintf(stderr, "bench_conv: unknown option %s\n", argv[ai]);
      return 2;
    }
  }
  int v[9] = {128, 64, 16, 16, 64, 3, 1, 1, 5};
  for (int i = 0; i < 9 && ai + i < argc; i++) v[i] = atoi(argv[ai + i]);
  int64_t N = v[0], Cin = v[1], H = v[2], W = v[3], Cout = v[4], k = v[5];
  int stride = v[6], pad = v[7], reps = v[8];
  ldm_graph g;
  if (ldm_graph_init(&g) != LDM_OK) return 1;
  int x = ldm_act(&g, "x", 4, LDM_SHAPE(N, Cin, H, W));
  int w = ldm_act(&g, "w", 4, LDM_SHAPE(Cout, Cin, k, k));
  int b = ldm_act(&g, "b", 1, LDM_SHAPE(Cout));
  int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  int r = use_res ? ldm_act(&g, "r", 4, LDM_SHAPE(N, Cout, Ho, Wo)) : -1;
  int y = ldm_conv2d_ex(&g, x, w, b, r, -1, stride, pad);
  if (y < 0) {
    fprintf(stderr, "%s\n", ldm_last_error());
    return 1;
  }
  ldm_pc_conv2d pc;
  memcpy(&pc, g.n[g.nn - 1].pc, sizeof pc);
  int nodes[4] = {g.nn - 1, -1, -1, -1};
  int dx = ldm_act(&g, "dx", 4, LDM_SHAPE(N, Cin, H, W));
  nodes[1] = g.nn;
  ldm_conv2d_backward_data_node(&g, y, w, dx, &pc, 0);
  uint32_t s = ldm_conv2d_weight_splits(&pc);
  int dw = ldm_act(&g, "dw", 4, LDM_SHAPE(Cout, Cin, k, k));
  int part = s > 1 ? ldm_act(&g, "part", 2, LDM_SHAPE(s, Cout * Cin * k * k)) : dw;
  nodes[2] = g.nn;
  ldm_conv2d_backward_weight_node(&g, y, x, part, &pc, s, 0);
  if (s > 1) {
    nodes[3] = g.nn;
    ldm_reduce_sum(&g, part, dw, s, Cout * Cin * k * k, 1, 1.0f, 0);
  }
  for (int t = 0; t < g.nt; t++) ldm_keep(&g, t);
  if (ldm_graph_plan(&g) != LDM_OK) return 1;
  double gflop = 2.0 * N * Cout * pc.Ho * pc.Wo * Cin * k * k * 1e-9;
  printf("conv2d N%lld %lld->%lld %lldx%lld k%lld s%d p%d%s (%.3f GFLOP per op, backward_weight %u splits)\n",
         (long long)N, (long long)Cin, (long long)Cout, (long long)H, (long long)W, (long long)k, stride, pad,
         use_res ? " +res" : "", gflop, s);
  for (int be = 0; be <= use_vk; be++) {
    ldm_exec *e;
    ldm_vk_ctx *vk;
    if (bench_open(&g, be, &e, &vk) != 0) return 1;
    int ids[4] = {x, w, b, r};
    if (bench_fill(e, &g, ids, 3 + use_res, 1) != 0) return 1;
    if (run(e, &g, nodes, reps) != 0) {
      fprintf(stderr, "%s\n", ldm_last_error());
      return 1;
    }
    const char *what[3] = {"forward", "backward_data", "backward_weight"};
    for (int i = 0; i < 3; i++)
      printf("  %-4s %-16s %9.2f ms %8.1f GFLOP/s\n", be ? "vk" : "cpu", what[i], best[i], gflop / (best[i] * 1e-3));
    ldm_exec_free(e);
    if (vk) ldm_vk_close(vk);
  }
  ldm_graph_free(&g);
  return 0;
}
