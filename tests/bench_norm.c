/* Benchmark (not a test): the GroupNorm-SiLU forward and backward nodes on the CPU reference backend and,
 * with --vk, on the Vulkan device, in GB/s of their minimal traffic (forward: x read, y written;
 * backward: x and dy read, dx written). Registered as `meson test --benchmark norm-cpu`; run by hand as
 *   LDM_THREADS=2 bench_norm [--vk] [N C H W groups [reps]]
 * (default: the VAE's 128x32x32x32 layer, 32 groups). Best-of-reps node times; before each run 512 MiB
 * are written so that the tensors come from memory, as in a train step (whose arena is larger than the last
 * level cache), not from a last level cache that holds them all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/backend.h"
#include "ldm/ops.h"
#include "ldm/vk.h"
#include "bench_util.h"
#include "ops/norm.h"

int main(int argc, char **argv) {
  int use_vk = 0, ai = 1;
  for (; ai < argc && argv[ai][0] == '-'; ai++) {
    if (strcmp(argv[ai], "--vk") != 0) {
      fprintf(stderr, "bench_norm: unknown option %s\n", argv[ai]);
      return 2;
    }
    use_vk = 1;
  }
  int v[6] = {128, 32, 32, 32, 32, 5};
  for (int i = 0; i < 6 && ai + i < argc; i++) v[i] = atoi(argv[ai + i]);
  int64_t N = v[0], C = v[1], H = v[2], W = v[3];
  int groups = v[4], reps = v[5];
  ldm_graph g;
  if (ldm_graph_init(&g) != LDM_OK) return 1;
  int x = ldm_act(&g, "x", 4, LDM_SHAPE(N, C, H, W));
  int ga = ldm_act(&g, "gamma", 1, LDM_SHAPE(C));
  int be = ldm_act(&g, "beta", 1, LDM_SHAPE(C));
  int y = ldm_group_norm_silu(&g, x, ga, be, groups, 1e-6f);
  if (y < 0) {
    fprintf(stderr, "%s\n", ldm_last_error());
    return 1;
  }
  const ldm_node *fn = &g.n[g.nn - 1];
  int mean = fn->out[1], rstd = fn->out[2], nodes[2] = {g.nn - 1, g.nn};
  int dy = ldm_act(&g, "dy", 4, LDM_SHAPE(N, C, H, W)), dx = ldm_act(&g, "dx", 4, LDM_SHAPE(N, C, H, W));
  int pg = ldm_act(&g, "pg", 1, LDM_SHAPE(N * C)), pb = ldm_act(&g, "pb", 1, LDM_SHAPE(N * C));
  if (ldm_group_norm_silu_backward_node(&g, x, ga, be, mean, rstd, dy, dx, pg, pb, groups, 0, 1) < 0) {
    fprintf(stderr, "%s\n", ldm_last_error());
    return 1;
  }
  for (int t = 0; t < g.nt; t++) ldm_keep(&g, t);
  if (ldm_graph_plan(&g) != LDM_OK) return 1;
  double mb = (double)N * C * H * W * 4 * 1e-6, traffic[2] = {2 * mb, 3 * mb};
  printf("group_norm_silu N%lld C%lld %lldx%lld, %d groups (%.1f MB per tensor)\n", (long long)N, (long long)C,
         (long long)H, (long long)W, groups, mb);
  for (int b = 0; b <= use_vk; b++) {
    ldm_exec *e;
    ldm_vk_ctx *vk;
    if (bench_open(&g, b, &e, &vk) != 0) return 1;
    int ids[4] = {x, ga, be, dy};
    if (bench_fill(e, &g, ids, 4, 2) != 0) return 1;
    double best[2];
    if (bench_best(e, nodes, 2, reps, best) != 0) return 1;
    const char *what[2] = {"forward", "backward"};
    for (int k = 0; k < 2; k++)
      printf("  %-4s %-9s %9.3f ms %8.1f GB/s\n", b ? "vk" : "cpu", what[k], best[k], traffic[k] / best[k]);
    ldm_exec_free(e);
    if (vk) ldm_vk_close(vk);
  }
  ldm_graph_free(&g);
  return 0;
}
