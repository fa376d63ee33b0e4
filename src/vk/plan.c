/* Vulkan launch plans of every op family: ldm_plan_<op> (vk/plan.h) turns a node into a shader
 * variant, specialization constants and a grid. Ops without one use ldm_plan_1d_n (core/ops.h). */
#include "vk/plan.h"

#include <stdbool.h>
#include <string.h>

#include "ops/basic.h"
#include "ops/conv.h"
#include "ops/diffusion.h"
#include "ops/norm.h"
#include "core/env.h"

#define PC(type) const type *p = (const type *)n->pc

/* The workgroup-reduction form of the tree shaders (shaders/wg_reduce.glsl): the subgroup variant `sg` where the
 * device has subgroup arithmetic (lim->subgroup_size is 0 without it, or with LDM_VK_DISABLE_SUBGROUP=1) and
 * the workgroup of wg invocations is a whole number of subgroups; the shared-memory tree `tree` otherwise. */
static const char *wg_variant(const ldm_dev_limits *lim, uint32_t wg, const char *tree, const char *sg) {
  return lim->subgroup_size && wg >= lim->subgroup_size && wg % lim->subgroup_size == 0 ? sg : tree;
}

void ldm_node_launch(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  const ldm_op_desc *d = ldm_op(n->op);
  memset(l, 0, sizeof *l);
  if (d->plan)
    d->plan(g, n, lim, l);
  else
    ldm_launch_1d(l, d->name, g->t[n->out[0]].numel);
  if (n->nspec) { /* builder-chosen spec constants override the plan's */
    memcpy(l->spec, n->spec, n->nspec * sizeof *n->spec);
    l->nspec = n->nspec;
  }
  for (int k = 0; k < 3; k++)
    if (l->groups[k] == 0) l->groups[k] = 1;
}

/* ################################################################# basic family (src/ops/basic.c) */
/* ================================================================= fill */
void ldm_plan_fill(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "fill", ((const ldm_pc_fill *)n->pc)->n);
}
/* ================================================================= philox_fill */
void ldm_plan_philox_fill(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "philox_fill", (((const ldm_pc_philox_fill *)n->pc)->n + 3) / 4);
}
/* ================================================================= reduce_sum */
void ldm_plan_reduce_sum(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_reduce_sum);
  if (ldm_reduce_sum_serial(p)) {
    ldm_launch_1d(l, "reduce_sum", p->J);
    l->spec[1] = 1; /* SERIAL */
    l->nspec = 2;
    return;
  }
  l->shader = wg_variant(lim, 256, "reduce_sum", "reduce_sum_sg");
  l->spec[0] = 256;
  l->spec[1] = 0;
  l->nspec = 2;
  l->groups[0] = p->J < 65535 ? p->J : 65535;
  l->groups[1] = (p->J + 65534) / 65535;
  l->groups[2] = 1;
}
/* ================================================================= reduce_sum_multi */
/* the jobs' workgroups one after the other, each job's as its reduce_sum plan has them: a tree job J, a
 * serial job ceil(J / 256) (shaders/reduce_sum.comp) */
void ldm_plan_reduce_sum_multi(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_reduce_sum_multi);
  /* the form reduce_sum's tree jobs take on this device (serial jobs run the same code in both) */
  static const char *const tree[LDM_REDUCE_MULTI_MAX + 1] = {NULL, NULL, "reduce_sum_multi2", "reduce_sum_multi3",
                                                             "reduce_sum_multi4"};
  static const char *const sg[LDM_REDUCE_MULTI_MAX + 1] = {NULL, NULL, "reduce_sum_multi2_sg", "reduce_sum_multi3_sg",
                                                           "reduce_sum_multi4_sg"};
  uint64_t groups = 0;
  for (uint32_t k = 0; k < p->njobs && k < LDM_REDUCE_MULTI_MAX; k++) {
    ldm_pc_reduce_sum job;
    bool serial;
    ldm_reduce_multi_job(p, (int)k, &job, &serial);
    groups += ldm_reduce_sum_groups(&job, serial);
  }
  uint32_t nj = p->njobs >= 2 && p->njobs <= LDM_REDUCE_MULTI_MAX ? p->njobs : 2;
  l->shader = wg_variant(lim, 256, tree[nj], sg[nj]);
  l->spec[0] = 256;
  l->nspec = 1;
  l->groups[0] = (uint32_t)(groups < 65535 ? groups : 65535);
  l->groups[1] = (uint32_t)((groups + 65534) / 65535);
  l->groups[2] = 1;
}
/* ================================================================= MSE */
void ldm_plan_mse_loss(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  l->shader = "mse_loss";
  l->spec[0] = 256;
  l->nspec = 1;
  l->groups[0] = l->groups[1] = l->groups[2] = 1;
}
/* ================================================================= tile variants (shaders/tile.glsl) */
/* The tiled GEMM / convolution shaders' variants (docs/perf.md "Tile variants"): output tile bm x bn, a
 * register block tm x tn per invocation, nt invocations, vec4 layout (and double-buffered slabs where
 * shared memory allows) or scalar strided layout. small: 256 threads of 2x2 rather than 64 of 4x4, for it
 * serves grids too small to fill the device: 4x the resident threads per tile hide more latency, and its
 * extra shared traffic (4 B per FMA against 2) matters less there than idle units do. wide: the large
 * tile's 8x8 blocks over 64 rows and 256 columns, for the 64-channel layers that waste half of a 128-row
 * tile and run the 64-row medium tile at twice the shared traffic (docs/perf.md "Change 13"). */
typedef struct {
  const char *name;
  uint32_t bm, bn, tm, tn, nt;
  bool vec;
} tile_cfg;
static const tile_cfg tile_cfgs[LDM_TILE_COUNT] = {
    [LDM_TILE_AUTO] = {"auto", 0, 0, 0, 0, 0, false},
    [LDM_TILE_LARGE] = {"large", 128, 128, 8, 8, 256, true},
    [LDM_TILE_MEDIUM] = {"medium", 64, 64, 4, 4, 256, false},
    [LDM_TILE_SMALL] = {"small", 32, 32, 2, 2, 256, false},
    [LDM_TILE_NARROW] = {"narrow", 32, 128, 4, 4, 256, true},
    [LDM_TILE_WIDE] = {"wide", 64, 256, 8, 8, 256, true},
};

const char *ldm_tile_name(int t) { return t > 0 && t < LDM_TILE_COUNT ? tile_cfgs[t].name : "auto"; }

uint32_t ldm_tile_shared(uint32_t bm, uint32_t bn, uint32_t flags) {
  uint32_t nbuf = flags & 2u ? 2u : 1u, pad = (flags >> 2) & 7u;
  return 16u * ((nbuf * 16u * (bm + pad) + 3u) / 4u + (nbuf * 16u * (bn + pad) + 3u) / 4u);
}

/* The TFLAGS of variant t under lim (the first that fits: vec4 variants double-buffered with 4 floats of
 * padding, then without padding, then single-buffered; scalar ones single-buffered with 1 float of padding
 * against the transposing stores' bank conflicts, except the 64x64 GEMM, which keeps its former unpadded
 * layout); false when none fits. */
static bool tile_flags(int t, bool conv, const ldm_dev_limits *lim, uint32_t *flags) {
  const tile_cfg *c = &tile_cfgs[t];
  if (t <= 0 || t >= LDM_TILE_COUNT || c->nt > lim->max_wg_invocations) return false;
  static const uint32_t vec_opts[] = {1u | 2u | 4u << 2, 1u | 2u, 1u | 4u << 2, 1u};
  const uint32_t scalar = conv || t != LDM_TILE_MEDIUM ? 1u << 2 : 0u;
  const uint32_t *opt = c->vec ? vec_opts : &scalar;
  int nopt = c->vec ? 4 : 1;
  for (int i = 0; i < nopt; i++)
    if (ldm_tile_shared(c->bm, c->bn, opt[i]) <= lim->max_shared) {
      *flags = opt[i];
      return true;
    }
  return false;
}

double ldm_tile_fill(double threads, uint32_t cus) {
  double w = threads / ((double)(cus ? cus : 1) * LDM_TILE_RESIDENT);
  if (w <= 1) return w;
  double whole = (double)(int64_t)w;
  if (w - whole > 1e-9) whole += 1; /* the waves it occupies */
  return w / whole;
}

uint32_t ldm_split_effective(int64_t slabs, uint32_t S) {
  if (S <= 1 || slabs <= 0) return 1;
  int64_t per = (slabs + S - 1) / S;
  return (uint32_t)((slabs + per - 1) / per);
}

/* a datacentre GPU (100 or more units, HBM) 9 (the h200 target's constants give 8.7); another discrete GPU
 * 40 (rtx4060 35, rx7600 47); an integrated or virtual one 20 (iris-xe 22, mali-g710 18); a CPU
 * implementation or other 8 */
double ldm_fma_per_byte_guess(const char *type, uint32_t cus) {
  if (strcmp(type, "discrete") == 0) return cus >= 100 ? 9.0 : 40.0;
  if (strcmp(type, "integrated") == 0 || strcmp(type, "virtual") == 0) return 20.0;
  return 8.0;
}

void ldm_limits_apply_switches(const ldm_env *env, ldm_dev_limits *lim) {
  lim->gemm_naive = env->gemm_naive;
  lim->conv_naive = env->conv_naive;
  lim->tile = env->vk_tile_bad ? 0 : env->vk_tile; /* a bad value: opening a context refuses it */
  lim->splitk = env->vk_splitk;
  lim->no_subpixel = env->no_subpixel;
  if (env->vk_no_subgroup) lim->subgroup_size = 0;
  /* forced lower only, to emulate small devices */
  if (env->vk_max_shared && env->vk_max_shared < lim->max_shared) lim->max_shared = (uint32_t)env->vk_max_shared;
  if (env->vk_max_buffer_range && env->vk_max_buffer_range < lim->max_buffer_range)
    lim->max_buffer_range = env->vk_max_buffer_range;
}

static double tiles_of(int64_t x, uint32_t t) { return (double)((x + t - 1) / t); }

void ldm_node_io_bytes(const ldm_graph *g, const ldm_node *n, double *rd, double *wr) {
  *rd = *wr = 0;
  for (int k = 0; k < n->nin; k++) *rd += (double)ldm_tensor_bytes(&g->t[n->in[k]]);
  for (int k = 0; k < n->nout; k++)
    if (!g->t[n->out[k]].scratch) *wr += (double)ldm_tensor_bytes(&g->t[n->out[k]]);
  if (n->op == LDM_OP_conv2d) { /* the epilogue's absent terms (bias, chan, res): x bound in their place */
    const ldm_pc_conv2d *p = (const ldm_pc_conv2d *)n->pc;
    uint32_t used[3] = {p->bias, p->chan, p->res};
    for (int k = 0; k < 3; k++)
      if (!used[k] && n->nin > 2 + k) *rd -= (double)ldm_tensor_bytes(&g->t[n->in[2 + k]]);
  }
}

static double io_bytes_of(const ldm_graph *g, const ldm_node *n) {
  double rd = 0, wr = 0;
  if (g) ldm_node_io_bytes(g, n, &rd, &wr);
  return rd + wr;
}

/* The variant of a rows x cols output (z: batch or splits) under lim; 0: the naive shader (none fits, or, for
 * a convolution, the auto choice found it cheaper: below).
 * LDM_VK_TILE forces one where it fits. Otherwise, of the candidates that fit (large, wide, medium, small;
 * for rows <= 32 narrow, small), the one of least time by the performance model's rule (docs/perf.md
 * "Change 17"), in FMA times of the whole device: full = max(compute, memory) at full occupancy, alone =
 * full / fill, score = full + LDM_TILE_ALONE_WEIGHT x (alone - full). Compute: the padded FMAs (whole
 * 16-deep slabs) x shared bytes per FMA (8x8 1, 4x4 2, 2x2 4, as a device with 1 byte of shared bandwidth
 * per FMA lane and clock sees them) / LDM_TILE_PEAK_EFF; memory: the device's FMAs per byte x (io_bytes,
 * the node's own tensors, + the split's workspace); fill: ldm_tile_fill of the grid's threads (whole waves
 * of compute_units x LDM_TILE_RESIDENT). So the largest tile whose grid fills its waves wins, a smaller tile
 * only when the units the larger leaves idle cost more than its extra shared traffic, and a split where
 * the units it fills gain more than its workspace's traffic costs beyond the FMAs it overlaps. Scores
 * within LDM_TILE_TIE of each other tie: the one of less time at full occupancy (what the dispatch takes
 * from the others of its level) wins, then of less compute, then of less padding.
 * depth: the reduction's length; split_depth: a split's (the parity variant of strided backward data reduces
 * over its class's taps, about depth / stride^2, its split-K over all); smax: the most split-K splits the
 * node allows (1: none), chosen jointly with the variant: S splits of the depth fill S x the grid's threads
 * and add the workspace's traffic, 8 bytes per output and split; *split = the S chosen (LDM_VK_SPLITK: 0
 * off, N forced). */
#define LDM_FMA_PER_BYTE_DEFAULT 8.0 /* fma_per_byte where the limits have none */
#define LDM_TILE_TIE 0.01
/* the share of a candidate's time alone in its score; the rest is its time at full occupancy (docs/perf.md
 * "Change 17": the choice does not see the dispatch's level, which the model times as max(the sum of its
 * dispatches' full-occupancy times, the longest alone)) */
#define LDM_TILE_ALONE_WEIGHT 0.5
static double choice_score(double work, double fill) { return work + LDM_TILE_ALONE_WEIGHT * (work / fill - work); }
typedef struct {
  int64_t rows, cols, z, depth, split_depth;
  uint32_t smax;
  bool conv;
  int64_t naive_depth; /* 0: no naive candidate */
  double io_bytes;
} tile_req;
static int tile_choose(const tile_req *q, const ldm_dev_limits *lim, uint32_t *flags, uint32_t *split) {
  int64_t rows = q->rows, cols = q->cols, z = q->z, depth = q->depth, naive_depth = q->naive_depth;
  uint32_t smax = q->smax;
  bool conv = q->conv;
  /* the naive convolution (conv_plan: one invocation per output of 256-invocation workgroups, no padding,
   * no split) is a candidate of the auto choice where naive_depth > 0, at LDM_NAIVE_FMA_COST per FMA of
   * its naive_depth (every tap: the naive shaders compute stride holes, the parity variant does not) */
  *split = 1;
  double wave = (double)(lim->compute_units ? lim->compute_units : 1) * LDM_TILE_RESIDENT;
  static const int many[] = {LDM_TILE_LARGE, LDM_TILE_WIDE, LDM_TILE_MEDIUM, LDM_TILE_SMALL},
                   few[] = {LDM_TILE_NARROW, LDM_TILE_SMALL};
  const int *cand = rows <= 32 ? few : many;
  int nc = rows <= 32 ? 2 : 4, best = 0;
  uint32_t forced_f;
  bool forced = tile_flags(lim->tile, conv, lim, &forced_f);
  if (forced) cand = &lim->tile, nc = 1;
  /* split-K (docs/perf.md "Change 7"): S in [s_lo, s_hi] */
  uint32_t s_lo = 1, s_hi = lim->splitk < 0 ? 1 : smax;
  if (lim->splitk > 0) s_lo = s_hi = (uint32_t)lim->splitk < smax ? (uint32_t)lim->splitk : smax;
  double best_score = 0, best_area = 0, best_work = 0, best_comp = 0;
  double fpb = lim->fma_per_byte > 0 ? lim->fma_per_byte : LDM_FMA_PER_BYTE_DEFAULT;
  uint32_t best_flags = 0, best_split = 1;
  for (int i = 0; i < nc; i++) {
    const tile_cfg *c = &tile_cfgs[cand[i]];
    uint32_t f;
    if (!tile_flags(cand[i], conv, lim, &f)) continue;
    for (uint32_t sp = s_lo; sp <= s_hi; sp++) {
      /* no empty split: S' = ceil(slabs / ceil(slabs / S)) splits of whole slabs (the shader's division);
       * an S that rounds to another S' is that S' (scored once) */
      int64_t slabs = ((sp > 1 ? q->split_depth : depth) + 15) / 16;
      uint32_t eff = ldm_split_effective(slabs, sp);
      if (eff != sp && s_lo != s_hi) continue; /* a forced S runs as its S' */
      double grid = tiles_of(rows, c->bm) * tiles_of(cols, c->bn) * (double)z, area = grid * c->bm * c->bn;
      double fill = ldm_tile_fill(grid * eff * c->nt, lim->compute_units);
      double bpf = 4.0 * (c->tm + c->tn) / ((double)c->tm * c->tn);
      /* the split's workspace: S partials written and read, 8 bytes per output and split; z > 1 only for
       * backward_weight's splits, each of which splits again */
      double ws = eff > 1 ? 8.0 * eff * (double)rows * (double)cols * (double)z : 0;
      double comp = area * 16.0 * (double)slabs * (bpf > 1 ? bpf : 1) / LDM_TILE_PEAK_EFF;
      double mem = fpb * (q->io_bytes + ws);
      double work = comp > mem ? comp : mem, score = choice_score(work, fill);
      /* near ties (within LDM_TILE_TIE): the one of less time at full occupancy (what the dispatch takes from
       * the others of its level, docs/perf.md "Change 16"), then of less compute, then of less padding */
      bool tie = best && score <= best_score * (1 + LDM_TILE_TIE) && score >= best_score * (1 - LDM_TILE_TIE);
      bool same_work = work <= best_work * (1 + 1e-9) && work >= best_work * (1 - 1e-9);
      bool same_comp = comp <= best_comp * (1 + 1e-9) && comp >= best_comp * (1 - 1e-9);
      if (!best || (!tie && score < best_score) ||
          (tie && (work < best_work * (1 - 1e-9) ||
                   (same_work && (comp < best_comp * (1 - 1e-9) || (same_comp && area < best_area))))))
        best = cand[i], best_score = score, best_work = work, best_comp = comp, best_area = area, best_flags = f,
        best_split = eff;
    }
  }
  if (best && naive_depth > 0 && !forced) {
    /* in the same units: LDM_NAIVE_FMA_COST is against the 8x8 tiles' cost per FMA, memory as the tiles' */
    double outs = (double)rows * (double)cols * (double)z, fill = outs / wave;
    double comp = outs * (double)naive_depth * LDM_NAIVE_FMA_COST / LDM_TILE_PEAK_EFF, mem = fpb * q->io_bytes;
    if (choice_score(comp > mem ? comp : mem, fill < 1 ? fill : 1) < best_score * (1 - 1e-9)) return 0;
  }
  if (best) {
    *flags = best_flags;
    *split = best_split;
    return best;
  }
  for (int t = 1; t < LDM_TILE_COUNT; t++)
    if (tile_flags(t, conv, lim, flags)) return t;
  return 0;
}

/* spec constants of variant t (tile.glsl: 0 invocations, 3-6 tile and block, 7 flags) and the grid's x/y
 * tile counts */
static void tile_launch(ldm_launch *l, const char *shader, int t, uint32_t flags, int64_t rows, int64_t cols,
                        int64_t *tx, uint32_t *ty) {
  const tile_cfg *c = &tile_cfgs[t];
  l->shader = shader;
  l->tile = t;
  l->local = c->nt;
  l->spec[0] = c->nt;
  l->spec[3] = c->bm;
  l->spec[4] = c->bn;
  l->spec[5] = c->tm;
  l->spec[6] = c->tn;
  l->spec[7] = flags;
  l->nspec = 8;
  *tx = (cols + c->bn - 1) / c->bn;
  *ty = (uint32_t)((rows + c->bm - 1) / c->bm);
}

/* ================================================================= GEMM */
/* variants: gemm / gemm_naive, with the SiLU epilogue gemm_silu / gemm_naive_silu (pc act, docs/perf.md
 * "Change 9"); split-K gemm_split / gemm_silu_split (docs/perf.md "Change 10") only where the builder gave
 * the node its workspace and counters (the outputs after C and z), S chosen with the tile as for conv2d */
void ldm_plan_gemm(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_gemm);
  uint32_t flags = 0;
  uint32_t split = 1, smax = 1;
  bool silu = p->act == 1u;
  int ws = silu ? 2 : 1;
  if (g && n->nout == ws + 2 && p->batch == 1) {
    uint64_t mn = (uint64_t)p->M * p->N;
    smax = mn ? (uint32_t)(g->t[n->out[ws]].numel / mn) : 1;
    uint64_t fit = mn ? lim->max_buffer_range / (4 * mn) : 1;
    if (smax > fit) smax = fit > 0 ? (uint32_t)fit : 1;
    if (smax < 1) smax = 1;
  }
  tile_req q = {p->M, p->N, p->batch, p->K, p->K, smax, false, 0, io_bytes_of(g, n)};
  int t = lim->gemm_naive ? 0 : tile_choose(&q, lim, &flags, &split);
  l->nspec = 0;
  if (!t) {
    l->shader = silu ? "gemm_naive_silu" : "gemm_naive";
    l->spec[0] = 16;
    l->spec[1] = 16;
    l->nspec = 2;
    l->local = 256;
    l->groups[0] = (p->N + 15) / 16;
    l->groups[1] = (p->M + 15) / 16;
    l->groups[2] = p->batch;
  } else {
    int64_t tx;
    const char *sh = split > 1 ? (silu ? "gemm_silu_split" : "gemm_split") : (silu ? "gemm_silu" : "gemm");
    tile_launch(l, sh, t, flags, p->M, p->N, &tx, &l->groups[1]);
    l->groups[0] = (uint32_t)tx; /* <= 65535 where split: ldm_gemm_split_max */
    l->groups[2] = split > 1 ? split : p->batch;
  }
}
/* ================================================================= broadcast */
void ldm_plan_broadcast(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_broadcast);
  ldm_launch_1d(l, "broadcast", (int64_t)p->O * p->J * p->I);
}

/* ################################################################# conv family (src/ops/conv.c) */
/* ================================================================= Vulkan launch plans */
/* rows x cols output tiles of a tile variant; z = depth splits (backward_weight) or folding of > 65535
 * column tiles */
static void conv_plan(const ldm_graph *g, const ldm_node *n, const ldm_pc_conv2d *p, const ldm_dev_limits *lim,
                      ldm_launch *l, const char *tiled, const char *naive, const char *split_shader, int64_t rows,
                      int64_t cols, int64_t depth, uint32_t splits) {
  uint32_t flags = 0, split = 1;
  /* split-K only where the builder gave the node its workspace and counters (outputs 1 and 2) */
  uint32_t smax = 1;
  if (split_shader && g && n->nout == 3) smax = (uint32_t)(g->t[n->out[1]].numel / (splits * rows * cols));
  /* the splits' part of the workspace within one binding (exec_vk.c binds a scratch tensor's first
   * maxStorageBufferRange bytes); backward_weight: inner splits of each of the node's splits */
  uint64_t fit = lim->max_buffer_range / (4 * (uint64_t)splits * (uint64_t)rows * (uint64_t)cols);
  if (smax > fit) smax = fit > 0 ? (uint32_t)fit : 1;
  /* strided backward data by output parity (below) reduces over about depth / S^2 taps: the choice sees that */
  bool sub_ok = n->op == LDM_OP_conv2d_backward_data && p->stride > 1 && !lim->no_subpixel;
  int64_t cdepth = sub_ok ? (depth + (int64_t)p->stride * p->stride - 1) / ((int64_t)p->stride * p->stride) : depth;
  tile_req q = {rows, cols, splits, cdepth, depth, smax, true, depth, io_bytes_of(g, n)};
  int t = lim->conv_naive ? 0 : tile_choose(&q, lim, &flags, &split);
  if (!t) {
    ldm_launch_1d(l, naive, (int64_t)splits * rows * cols);
  } else {
    int64_t tx, c0 = 0, d0;
    /* strided backward data without split-K: one GEMM per output parity (z), its taps only; x covers the
     * largest class (class 0) */
    bool sub = sub_ok && split == 1;
    if (sub) ldm_conv2d_sub_class(p, 0, &c0, &d0);
    sub = sub && c0 > 0 && (c0 + 31) / 32 <= 65535;
    tile_launch(l, split > 1 ? split_shader : sub ? "conv2d_backward_data_sub" : tiled, t, flags, rows,
                sub ? c0 : cols, &tx, &l->groups[1]);
    if (sub) {
      l->groups[0] = (uint32_t)tx;
      l->groups[2] = p->stride * p->stride;
    } else if (split > 1) {
      l->groups[0] = (uint32_t)tx; /* <= 65535: ldm_conv2d_split_max, ldm_conv2d_weight_split_max */
      l->groups[2] = splits * split;
    } else if (splits > 1) {
      l->groups[0] = (uint32_t)tx;
      l->groups[2] = splits;
    } else {
      l->groups[0] = (uint32_t)(tx < 65535 ? tx : 65535);
      l->groups[2] = (uint32_t)((tx + 65534) / 65535);
    }
  }
  l->spec[1] = p->k;
  l->spec[2] = p->stride;
  if (l->nspec < 3) l->nspec = 3;
}
static void conv_plan_op(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l,
                         const char *tiled, const char *naive, const char *split_shader) {
  PC(ldm_pc_conv2d);
  int64_t rows, cols, depth;
  ldm_conv2d_gemm_dims(p, n->op, &rows, &cols, &depth);
  uint32_t splits = n->op == LDM_OP_conv2d_backward_weight ? p->splits : 1;
  if (splits > 1) depth = p->split_len;
  conv_plan(g, n, p, lim, l, tiled, naive, split_shader, rows, cols, depth, splits);
}
void ldm_plan_conv2d(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  conv_plan_op(g, n, lim, l, "conv2d", "conv2d_naive", "conv2d_split");
}
void ldm_plan_conv2d_backward_data(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  conv_plan_op(g, n, lim, l, "conv2d_backward_data", "conv2d_backward_data_naive", "conv2d_backward_data_split");
}
void ldm_plan_conv2d_backward_weight(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                        ldm_launch *l) {
  conv_plan_op(g, n, lim, l, "conv2d_backward_weight", "conv2d_backward_weight_naive", "conv2d_backward_weight_split");
}

/* ================================================================= upsample2x */
void ldm_plan_upsample2x(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_upsample2x);
  ldm_launch_1d(l, "upsample2x", (int64_t)p->NC * p->H * p->W * 4);
}
void ldm_plan_upsample2x_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                     ldm_launch *l) {
  PC(ldm_pc_upsample2x);
  ldm_launch_1d(l, "upsample2x_backward", (int64_t)p->NC * p->H * p->W);
}

/* ################################################################# diffusion family (src/ops/diffusion.c) */
/* ================================================================= single-workgroup scalar losses */
static void plan_single_wg(ldm_launch *l, const char *shader) {
  l->shader = shader;
  l->spec[0] = 256;
  l->nspec = 1;
  l->groups[0] = l->groups[1] = l->groups[2] = 1;
}

/* ================================================================= KL loss */
void ldm_plan_kl_loss(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  plan_single_wg(l, "kl_loss");
}
/* ================================================================= weighted MSE */
void ldm_plan_weighted_mse(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  plan_single_wg(l, "weighted_mse");
}
void ldm_plan_weighted_mse_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                       ldm_launch *l) {
  ldm_launch_1d(l, "weighted_mse_backward", ((const ldm_pc_weighted_mse_backward *)n->pc)->n);
}
/* ================================================================= min-SNR-gamma weights */
void ldm_plan_min_snr_weight(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "min_snr_weight", ((const ldm_pc_min_snr_weight *)n->pc)->B);
}
/* ================================================================= global grad-norm clip */
void ldm_plan_grad_norm_partial(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  l->shader = "grad_norm_partial";
  l->spec[0] = LDM_GN_LOCAL;
  l->nspec = 1;
  l->groups[0] = ((const ldm_pc_grad_norm_partial *)n->pc)->groups;
  l->groups[1] = l->groups[2] = 1;
}
void ldm_plan_grad_norm_clip(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  plan_single_wg(l, "grad_norm_clip");
}
/* ================================================================= Philox randint / label dropout */
void ldm_plan_randint(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "randint", (((const ldm_pc_randint *)n->pc)->n + 3) / 4);
}
void ldm_plan_label_dropout(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "label_dropout", (((const ldm_pc_label_dropout *)n->pc)->n + 3) / 4);
}
/* ================================================================= gather rows */
void ldm_plan_gather_rows(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_gather_rows);
  ldm_launch_1d(l, g->t[n->in[0]].dtype == LDM_U8 ? "gather_rows_u8" : "gather_rows", (int64_t)p->B * p->row);
}

/* ################################################################# norm family (src/ops/norm.c) */
/* ---------------------------------------------------------------- launch helpers */

/* Power-of-two workgroup size for a per-row tree reduction: about `want` invocations, clamped to
 * [32, 256] and to what the device allows (invocations, and `shared_per_inv` bytes of shared memory
 * per invocation within max_shared). */
static uint32_t tree_wg(const ldm_dev_limits *lim, uint64_t want, uint32_t shared_per_inv) {
  uint32_t ls = 32;
  while (ls < 256 && ls < want) ls <<= 1;
  while (ls > 1 && (ls > lim->max_wg_invocations || (uint64_t)ls * shared_per_inv > lim->max_shared)) ls >>= 1;
  return ls;
}

/* one workgroup per item, the grid split over x and y when there are more than 65535 items */
static void per_item_groups(ldm_launch *l, uint64_t items) {
  if (items < 1) items = 1;
  l->groups[0] = (uint32_t)(items < 65535 ? items : 65535);
  l->groups[1] = (uint32_t)((items + 65534) / 65535);
  l->groups[2] = 1;
}

/* ================================================================= group_norm, group_norm_silu */
static void plan_gn(const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l, const char *shader, const char *sg) {
  PC(ldm_pc_group_norm);
  uint64_t M = (uint64_t)(p->C / p->G) * p->S;
  l->spec[0] = tree_wg(lim, M / 2, 4);
  l->shader = wg_variant(lim, l->spec[0], shader, sg);
  l->nspec = 1;
  per_item_groups(l, (uint64_t)p->N * p->G);
}
void ldm_plan_group_norm(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  plan_gn(n, lim, l, "group_norm", "group_norm_sg");
}
void ldm_plan_group_norm_silu(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  plan_gn(n, lim, l, "group_norm_silu", "group_norm_silu_sg");
}

/* ================================================================= group_norm[_silu]_backward */
static void plan_gnb(const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l, const char *shader, const char *sg) {
  PC(ldm_pc_group_norm_backward);
  l->spec[0] = tree_wg(lim, p->S, 8);
  l->shader = wg_variant(lim, l->spec[0], shader, sg);
  l->nspec = 1;
  per_item_groups(l, (uint64_t)p->N * p->G);
}
void ldm_plan_group_norm_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                     ldm_launch *l) {
  plan_gnb(n, lim, l, "group_norm_backward", "group_norm_backward_sg");
}
void ldm_plan_group_norm_silu_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                       ldm_launch *l) {
  plan_gnb(n, lim, l, "group_norm_silu_backward", "group_norm_silu_backward_sg");
}
/* ================================================================= softmax */
/* rows of up to 64 columns: one invocation per row (SERIAL); longer rows: a workgroup per row */
static void plan_softmax_common(uint32_t rows, uint32_t cols, const ldm_dev_limits *lim, ldm_launch *l,
                                const char *sg) {
  if (cols <= 64) {
    ldm_launch_1d(l, l->shader, rows);
    l->spec[1] = 1;
    l->nspec = 2;
    return;
  }
  l->spec[0] = tree_wg(lim, cols / 4, 4);
  l->shader = wg_variant(lim, l->spec[0], l->shader, sg);
  l->spec[1] = 0;
  l->nspec = 2;
  per_item_groups(l, rows);
}
void ldm_plan_softmax(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_softmax);
  l->shader = "softmax";
  plan_softmax_common(p->rows, p->cols, lim, l, "softmax_sg");
}
void ldm_plan_softmax_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_softmax_backward);
  l->shader = "softmax_backward";
  plan_softmax_common(p->rows, p->cols, lim, l, "softmax_backward_sg");
}
/* ================================================================= attention, attention_backward */
/* one workgroup per query row (and, backward, per key column): an invocation per key up to 256, and at least
 * d / 4 invocations so that one channel block (4 channels an invocation) covers the head */
static uint32_t attention_wg(const ldm_dev_limits *lim, uint32_t T, uint32_t d) {
  uint32_t want = T > (d + 3) / 4 ? T : (d + 3) / 4;
  return tree_wg(lim, want, 8);
}
void ldm_plan_attention(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_attention);
  l->spec[0] = attention_wg(lim, p->T, p->d);
  l->shader = wg_variant(lim, l->spec[0], "attention", "attention_sg");
  l->nspec = 1;
  per_item_groups(l, (uint64_t)p->B * p->heads * p->T);
}
void ldm_plan_attention_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_attention_backward);
  l->spec[0] = attention_wg(lim, p->T, p->d);
  l->shader = "attention_backward";
  l->nspec = 1;
  per_item_groups(l, 2 * (uint64_t)p->B * p->heads * p->T);
}
/* ================================================================= channel_copy (concat / split) */
void ldm_plan_channel_copy(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_channel_copy);
  ldm_launch_1d(l, "channel_copy", (int64_t)p->O * (p->zero_rest ? p->Co : p->Cn) * p->I);
}
/* ================================================================= channel_copy_multi */
/* the jobs' invocations one after the other, each job's as many as its channel_copy launch has */
void ldm_plan_channel_copy_multi(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_channel_copy_multi);
  static const char *const variant[LDM_COPY_MULTI_MAX + 1] = {NULL, NULL, "channel_copy_multi2",
                                                              "channel_copy_multi3", "channel_copy_multi4"};
  int64_t total = 0;
  for (uint32_t k = 0; k < p->njobs && k < LDM_COPY_MULTI_MAX; k++) {
    ldm_pc_channel_copy job;
    ldm_copy_multi_job(p, (int)k, &job);
    total += (int64_t)ldm_channel_copy_elems(&job);
  }
  uint32_t nj = p->njobs >= 2 && p->njobs <= LDM_COPY_MULTI_MAX ? p->njobs : 2;
  ldm_launch_1d(l, variant[nj], total);
}
/* ================================================================= embedding */
void ldm_plan_embedding(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_embedding);
  ldm_launch_1d(l, "embedding", (int64_t)p->B * p->D);
}
void ldm_plan_embedding_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_embedding_backward);
  ldm_launch_1d(l, "embedding_backward", (int64_t)p->V * p->D);
}
/* ================================================================= timestep_embedding */
void ldm_plan_timestep_embedding(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_timestep_embedding);
  ldm_launch_1d(l, "timestep_embedding", (int64_t)p->B * p->half);
}
