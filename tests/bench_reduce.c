/* Benchmark (not a test): reduce_sum nodes (out[j] = sum over o, i of x[o][j][i], the bias and
 * split-partial gradient sums of a train step) on the CPU reference backend and, with --vk, on the Vulkan
 * device, in GB/s of x read. Registered as `meson test --benchmark reduce-cpu`; run by hand as
 *   LDM_THREADS=2 bench_reduce [--vk] [O J I [reps]]
 * (default: the fmnist train steps' costliest shapes at batch 128). Best-of-reps node times, 512 MiB
 * written before each run (bench_util.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/backend.h"
#include "ldm/ops.h"
#include "ldm/vk.h"
#include "bench_util.h"

static int bench_shape(int use_vk, int64_t O, int64_t J, int64_t I, int reps) {
  ldm_graph g;
  if (ldm_graph_init(&g) != LDM_OK) return 1;
  int x = ldm_act(&g, "x", 3, LDM_SHAPE(O, J, I));
  int out = ldm_act(&g, "out", 1, LDM_SHAPE(J));
  if (ldm_reduce_sum(&g, x, out, O, J, I, 1.0f, 0) < 0) {
    fprintf(stderr, "%s\n", ldm_last_error());
    return 1;
  }
  int node = g.nn - 1;
  ldm_keep(&g, x);
  ldm_keep(&g, out);
  if (ldm_graph_plan(&g) != LDM_OK) return 1;
  double mb = (double)O * J * I * 4 * 1e-6;
  for (int b = 0; b <= use_vk; b++) {
    ldm_exec *e;
    ldm_vk_ctx *vk;
    double best;
    if (bench_open(&g, b, &e, &vk) != 0 || bench_fill(e, &g, &x, 1, 3) != 0 || bench_best(e, &node, 1, reps, &best) != 0)
      return 1;
    printf("  %-4s O%-4lld J%-7lld I%-5lld %7.1f MB %9.3f ms %8.1f GB/s\n", b ? "vk" : "cpu", (long long)O, (long long)J,
           (long long)I, mb, best, mb * 1e-3 / (best * 1e-3));
    ldm_exec_free(e);
    if (vk) ldm_vk_close(vk);
  }
  ldm_graph_free(&g);
  return 0;
}

int main(int argc, char **argv) {
  int use_vk = 0, ai = 1;
  for (; ai < argc && argv[ai][0] == '-'; ai++) {
    if (strcmp(argv[ai], "--vk") != 0) {
      fprintf(stderr, "bench_reduce: unknown option %s\n", argv[ai]);
      return 2;
    }
    use_vk = 1;
  }
  printf("reduce_sum: out[j] = sum over o, i of x[o][j][i]\n");
  if (ai + 3 <= argc)
    return bench_shape(use_vk, atoll(argv[ai]), atoll(argv[ai + 1]), atoll(argv[ai + 2]), ai + 3 < argc ? atoi(argv[ai + 3]) : 5);
  static const int64_t shapes[][3] = {{128, 64, 256}, {128, 32, 1024}, {128, 128, 64}, {128, 384, 16},
                                      {128, 128, 16}, {29, 36864, 1},  {8, 147456, 1}, {52, 9216, 1}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
    if (bench_shape(use_vk, shapes[k][0], shapes[k][1], shapes[k][2], 5) != 0) return 1;
  return 0;
}
