/* The performance model behind `ldm-vk bench --model` (docs/perf.md): no device is opened. A planned graph
 * is walked as the Vulkan executor records it (the same launch plans, vk/plan.c ldm_node_launch, and the
 * same barrier decision, vk/deps.c), and every dispatch gets its workgroups, useful and computed FLOPs,
 * bytes and a predicted time on a target GPU of a small table (targets.c). A model, not a measurement:
 * its constants are to be recalibrated whenever a run on a real GPU exists. */
#ifndef LDM_PERF_H
#define LDM_PERF_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/ops.h"

/* ---------------------------------------------------------------- targets (targets.c) */

/* What a kernel is limited by: the tiled GEMM/convolution shaders (FMAs fed from shared memory), their
 * naive fallbacks (one invocation per output, operands from global memory), everything else (memory). */
typedef enum { LDM_KC_TILED, LDM_KC_NAIVE, LDM_KC_MEMORY, LDM_KC_COUNT } ldm_perf_kclass;

typedef struct ldm_perf_target {
  const char *name;   /* --target NAME */
  const char *title;  /* the device class, in words */
  uint32_t cus;       /* SMs / CUs / subslices / cores: the units a workgroup runs on */
  const char *cu_word;
  double peak_tflops; /* fp32, an FMA counted as 2 FLOPs */
  double bw_gbs;      /* DRAM bandwidth, GB/s */
  /* per unit and clock: shared-memory bytes and fp32 FMA lanes (the tiled kernels' ceiling, below) */
  double lds_bytes_clk, fp32_lanes;
  double naive_eff;   /* fraction of peak the naive GEMM/conv shaders reach (estimate) */
  double mem_eff;     /* fraction of the DRAM bandwidth a streaming kernel reaches (estimate) */
  double dispatch_us; /* per dispatch: bind, push constants, launch (estimate) */
  double barrier_us;  /* per dependency barrier: drain and refill of the GPU (estimate) */
  ldm_dev_limits lim; /* what the launch plans see: the device's Vulkan limits */
  const char *type;   /* its Vulkan device type, as ldm_vk_device_info.type ("discrete", "integrated") */
} ldm_perf_target;

const ldm_perf_target *ldm_perf_targets(int *count);
/* NULL when there is no target of that name */
const ldm_perf_target *ldm_perf_target_find(const char *name);
/* Fraction of peak a kernel class reaches on t when the GPU is full; the tiled class here at 2 bytes of
 * shared memory per FMA (the 64x64 tile's 4x4 block: 8 scalar loads of 4 bytes per 16 FMAs). */
double ldm_perf_eff(const ldm_perf_target *t, ldm_perf_kclass kc);
/* A tile variant that reads b_per_fma bytes of shared memory per FMA of a thread (its TM x TN block loads
 * TM + TN floats per TM * TN FMAs: 8x8 1 B, 4x4 2 B, 2x2 4 B) needs b_per_fma bytes per FMA lane and clock;
 * the ceiling is lds_bytes_clk / (b_per_fma * fp32_lanes), at most 1, times 0.9 for the rest of the loop
 * (address arithmetic, barriers, global loads). */
double ldm_perf_tiled_eff(const ldm_perf_target *t, double b_per_fma);

/* ---------------------------------------------------------------- per-node cost (cost.c) */

typedef struct ldm_perf_cost {
  double useful_flops;   /* the op's arithmetic from its shapes (a multiply-add = 2) */
  double computed_flops; /* what the launched tiles compute: padded to whole tiles and slabs */
  double bytes_rd, bytes_wr;
  ldm_perf_kclass kc;
  /* a dispatch of independent jobs (reduce_sum_multi): each job's bytes and workgroups. The dispatch takes
   * at least as long as its slowest job alone at that job's own fill (model.c); njobs 0: one job */
  int njobs;
  double job_bytes[4];
  uint64_t job_groups[4];
  double smem_b_per_fma; /* tiled: shared-memory bytes per FMA of the launched tile variant */
  /* GEMM / convolution: the (implicit) GEMM's rows x cols x depth per batch entry or split (batch: the
   * GEMM's batch, backward_weight's pixel splits) and the split-K splits the launch chose (1: none) */
  int64_t mm_rows, mm_cols, mm_depth, mm_batch;
  uint32_t mm_split;
} ldm_perf_cost;
/* The cost of node n launched as l (one function per op family inside). */
void ldm_perf_node_cost(const ldm_graph *g, const ldm_node *n, const ldm_launch *l, ldm_perf_cost *c);

/* ---------------------------------------------------------------- the model (model.c) */

typedef struct ldm_perf_row {
  int node;
  bool barrier;     /* the recorder puts a dependency barrier before this dispatch */
  int level;        /* dispatches between two barriers form one level (they may overlap) */
  ldm_launch l;
  uint64_t groups;  /* workgroups of the dispatch */
  uint64_t threads; /* groups x invocations per workgroup */
  double waves;     /* threads / (CUs x LDM_TILE_RESIDENT) */
  double fill;      /* tiled GEMM/conv: ldm_tile_fill (whole waves, vk/plan.h); others min(1, threads / (CUs x
                     * LDM_TILE_RESIDENT)): resident threads against one wave */
  ldm_perf_cost c;
  double full_us;   /* time of its work on the whole GPU: max(FLOPs / (peak * eff), bytes / (bw * mem_eff)) */
  double us;        /* alone, at its fill: full_us / fill */
  /* tiled GEMM / convolution: the best fill a split-K of 1 to LDM_PERF_SPLIT_PROBE whole-slab splits of its
   * depth would give the same tiles, and that split (docs/perf.md "Change 16"; 0: not probed) */
  double split_fill;
  uint32_t split_fill_s;
  /* ... and of those splits that fill to LDM_PERF_LOW_FILL, the fastest alone (us; 0: none) and its S */
  double split_us;
  uint32_t split_us_s;
  double split_full_us; /* ... and that split's full_us */
  /* how much that split would shorten the dispatch's level, where by more than LDM_PERF_SPLIT_GAIN of the
   * level's time (us; 0: not so) */
  double split_level_gain_us;
} ldm_perf_row;

/* the most splits the model's probe of a dispatch's fill tries (the launch plans allow at most 16) */
#define LDM_PERF_SPLIT_PROBE 16
/* the fill under which a GEMM / convolution dispatch counts as leaving units idle */
#define LDM_PERF_LOW_FILL 0.9
/* a probed split counts as faster when it saves more than this fraction of the dispatch's time alone */
#define LDM_PERF_SPLIT_GAIN 0.03

typedef struct ldm_perf_sum {
  int dispatches;   /* one per node */
  int barriers;     /* dependency barriers between dispatches (the recording adds one final barrier) */
  int mm;           /* GEMM / convolution dispatches */
  int mm_below;     /* ... of them with fewer threads than one wave (CUs x LDM_TILE_RESIDENT) */
  int below;        /* all dispatches with fewer threads than one wave */
  /* GEMM / convolution dispatches under LDM_PERF_LOW_FILL, and those of them a split could fill: a split of
   * the probe reaches LDM_PERF_LOW_FILL (the "no dispatch under the units where a split could fill
   * them", in whole waves) */
  int mm_low_fill, mm_split_fills;
  int mm_split_faster; /* ... and those where such a split is also predicted faster (by LDM_PERF_SPLIT_GAIN) */
  /* ... and those where it would also shorten their level by LDM_PERF_SPLIT_GAIN (the rest leave units the
   * other dispatches of their level use), with the sum of those gains; counted only when rows are asked */
  int mm_split_level_faster;
  double split_level_gain_ms;
  double useful_flops, computed_flops, bytes_rd, bytes_wr;
  /* predicted: the levels' work, the dispatch and barrier overheads, their sum (ms) */
  double work_ms, dispatch_ms, barrier_ms, total_ms;
  /* what-if, the "one barrier per level": every node moved to its earliest level (after the last
   * node it conflicts with, on the same memory plan), the barriers and predicted ms of that order */
  int level_barriers;
  double level_ms;
} ldm_perf_sum;

/* Model graph g (planned) on target t: rows[i] for node i when rows is not NULL (g->nn of them). A level's
 * time is max(sum of its dispatches' full_us, the longest dispatch's us): dispatches between two barriers
 * share the GPU. The total adds dispatch_us per dispatch and barrier_us per barrier. */
ldm_status ldm_perf_model(const ldm_graph *g, const ldm_perf_target *t, ldm_perf_row *rows, ldm_perf_sum *s);
/* The earliest level of every node (levels[g->nn]): one more than the latest earlier node it conflicts with
 * (reads what it wrote, writes what it read or wrote: the recorder's hazards, vk/deps.c), 0 without one.
 * Nodes of one level never conflict, so recording the nodes level by level needs max level barriers. */
ldm_status ldm_perf_earliest_levels(const ldm_graph *g, int *levels, int *nlevels);

#endif
