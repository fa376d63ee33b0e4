/* The workloads of `ldm-vk bench --model` (workloads.c) and its output (print.c). */
#ifndef LDM_PERF_WORKLOADS_H
#define LDM_PERF_WORKLOADS_H
#include <stdio.h>

#include "ldm/train.h"
#include "perf/perf.h"

#define LDM_PERF_NWL 3
/* The VAE train step, the UNet train step and a sampling step's UNet forward of the recipe of `in`
 * ("auto" preset: the GPU's, full), planned, without executors. */
typedef struct ldm_perf_workloads {
  char config[32], preset[16];
  int batch;
  const char *name[LDM_PERF_NWL]; /* "VAE train step", ... */
  const char *key[LDM_PERF_NWL];  /* "vae_train", ... (JSON) */
  ldm_graph g[LDM_PERF_NWL];
} ldm_perf_workloads;
ldm_status ldm_perf_workloads_build(const ldm_train_opts *in, ldm_perf_workloads *w);
void ldm_perf_workloads_free(ldm_perf_workloads *w);

/* The counts baseline (tests/data/perf_counts.json): per workload the dispatches, barriers, GEMM/conv
 * dispatches and, per target, the dispatches with fewer workgroups than CUs. check: LDM_ERR_MISMATCH naming
 * the first count that differs and how to update the file. */
ldm_status ldm_perf_baseline_write(const char *path, const ldm_perf_workloads *w);
ldm_status ldm_perf_baseline_check(const char *path, const ldm_perf_workloads *w);

typedef struct ldm_perf_opts {
  const char *target;    /* a target name, "all" or "list" */
  int top;               /* per-node rows per workload: the top most expensive (0: none) */
  bool nodes;            /* every node */
  const char *json_path; /* "" or NULL: none */
  const char *baseline;  /* write the counts baseline there ("" or NULL: no) */
} ldm_perf_opts;
/* `ldm-vk bench --model`: the model of the workloads of `in` on the targets, printed to f. */
ldm_status ldm_bench_model(const ldm_train_opts *in, const ldm_perf_opts *po, FILE *f);
#endif
