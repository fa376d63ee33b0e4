/* Shared by the op benchmarks (bench_conv, bench_norm, bench_reduce): open an executor of a planned graph on
 * the CPU backend (vk 0) or the Vulkan device (vk 1), fill tensors with seeded values in [-1, 1), and take
 * the best node times of repeated runs from memory. */
#ifndef LDM_BENCH_UTIL_H
#define LDM_BENCH_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/backend.h"
#include "ldm/rng.h"
#include "ldm/vk.h"

/* 0, or prints why to stderr and returns -1 */
static inline int bench_open(const ldm_graph *g, int vk, ldm_exec **e, ldm_vk_ctx **ctx) {
  *e = NULL, *ctx = NULL;
  if (vk ? ldm_vk_open("vk", ctx) == LDM_OK && ldm_exec_vk(*ctx, g, e) == LDM_OK : ldm_exec_cpu(g, e) == LDM_OK)
    return 0;
  fprintf(stderr, "%s: %s\n", vk ? "vk" : "cpu", ldm_last_error());
  if (*ctx) ldm_vk_close(*ctx);
  *ctx = NULL;
  return -1;
}

/* tensor ids[t] = 2 u - 1, u uniform from (seed, t, element) */
static inline int bench_fill(ldm_exec *e, const ldm_graph *g, const int *ids, int n, uint64_t seed) {
  for (int t = 0; t < n; t++) {
    int64_t numel = g->t[ids[t]].numel;
    float *d = malloc((size_t)numel * 4);
    if (!d) return -1;
    for (int64_t j = 0; j < numel; j++) d[j] = 2.0f * ldm_u32_to_unit(ldm_rng_u32(seed, (uint64_t)t, 0, (uint64_t)j)) - 1.0f;
    ldm_status st = ldm_exec_write(e, ids[t], d, (size_t)numel * 4);
    free(d);
    if (st != LDM_OK) {
      fprintf(stderr, "%s\n", ldm_last_error());
      return -1;
    }
  }
  return 0;
}
/* best[k] = the least time of node nodes[k] over reps runs after one to warm up; before each run 512 MiB
 * are written so that the tensors come from memory, as in a train step (whose arena is larger than the
 * last level cache), not from a last level cache that holds them all. 0, or -1 with the reason printed. */
static inline int bench_best(ldm_exec *e, const int *nodes, int nn, int reps, double *best) {
  size_t flush_n = (size_t)512 << 20;
  char *flush = malloc(flush_n);
  if (!flush) return -1;
  for (int k = 0; k < nn; k++) best[k] = 1e30;
  ldm_exec_enable_timing(e, true);
  for (int r = 0; r < reps + 1; r++) {
    memset(flush, r & 0xff, flush_n);
    if (ldm_exec_run(e) != LDM_OK) {
      fprintf(stderr, "%s\n", ldm_last_error());
      free(flush);
      return -1;
    }
    const double *ms = ldm_exec_node_times(e);
    for (int k = 0; ms && r > 0 && k < nn; k++)
      if (ms[nodes[k]] < best[k]) best[k] = ms[nodes[k]];
  }
  free(flush);
  return 0;
}
#endif
