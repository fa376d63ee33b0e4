/* The basic op family (src/ops/basic.c). Its push-constant blocks (ldm_pc_fill ... ldm_pc_adamw) are generated
 * from the op manifest src/ops/ops.def into ldm_ops_pc.h, as are the shaders' blocks. */
#ifndef LDM_OPS_BASIC_H
#define LDM_OPS_BASIC_H
#include <stdbool.h>
#include <stdint.h>

#include "ldm/graph.h"

#include "ldm_ops_pc.h"

/* gemm bias_mode */
enum { LDM_BIAS_NONE = 0, LDM_BIAS_COLS = 1, LDM_BIAS_ROWS = 2 };

/* reduce_sum_multi: up to this many independent reduce_sum jobs in one node (src/core/fuse.c) */
#define LDM_REDUCE_MULTI_MAX 4
/* The launch form of a reduce_sum job: true = serial (one invocation per output, few terms per output), false =
 * one workgroup per output with a fixed-order tree (vk/plan.c, shaders/reduce_sum.comp). */
bool ldm_reduce_sum_serial(const ldm_pc_reduce_sum *p);
/* The workgroups of a reduce_sum job in that form: J (tree) or ceil(J / 256) (serial). */
uint32_t ldm_reduce_sum_groups(const ldm_pc_reduce_sum *p, bool serial);
/* Job k of a reduce_sum_multi block as the reduce_sum block it stands for (*serial: its launch form). */
void ldm_reduce_multi_job(const ldm_pc_reduce_sum_multi *m, int k, ldm_pc_reduce_sum *job, bool *serial);
/* The reduce_sum_multi block of njobs (2 .. LDM_REDUCE_MULTI_MAX) reduce_sum jobs. */
void ldm_reduce_multi_pc(const ldm_pc_reduce_sum *jobs, int njobs, ldm_pc_reduce_sum_multi *m);
/* A reduce_sum_multi node: job k reduces x[k] into out[k] as ldm_reduce_sum(g, x[k], out[k], jobs[k]...)
 * would (the same checks, the same bits). Returns out[0] or LDM_NONE (refused). */
int ldm_reduce_sum_multi(ldm_graph *g, int njobs, const int *x, const int *out, const ldm_pc_reduce_sum *jobs);

/* GEMM split-K (docs/perf.md "Change 10"): the most splits the builder allows a node (1: none; its workspace
 * [S_max, M, N] and counters are then outputs 1 + (act != 0) and 2 + (act != 0)), and the counter count (one
 * per 32x32 output tile). */
uint32_t ldm_gemm_split_max(const ldm_pc_gemm *p);
int64_t ldm_gemm_split_counters(const ldm_pc_gemm *p);

#endif
