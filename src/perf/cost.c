/* The work of one dispatch, for the performance model: useful FLOPs from the op's shapes, the FLOPs the
 * launched tiles compute (padded to whole tiles of the launched variant and 16-deep slabs), and the
 * bytes of the tensors it touches. One function per op family; ops a family does not single out cost
 * what the default says (one FLOP per output element, every input read once, every output written once). */
#include <string.h>

#include "ldm_ops_pc.h"
#include "ops/basic.h"
#include "ops/conv.h"
#include "ops/norm.h"
#include "perf/perf.h"
#include "vk/plan.h"

static double tbytes(const ldm_graph *g, int t) { return (double)ldm_tensor_bytes(&g->t[t]); }
static double up(double x, double m) { return m * (double)(int64_t)((x + m - 1) / m); }

/* the default: every input read, every output written (ldm_node_io_bytes: not the scratch ones, a split's
 * workspace and counters, which cost_conv counts by what the launch uses), one FLOP per element of the first
 * output */
static void cost_default(const ldm_graph *g, const ldm_node *n, ldm_perf_cost *c) {
  memset(c, 0, sizeof *c);
  ldm_node_io_bytes(g, n, &c->bytes_rd, &c->bytes_wr);
  c->useful_flops = c->computed_flops = n->nout ? (double)g->t[n->out[0]].numel : 0;
  c->kc = LDM_KC_MEMORY;
}

/* the tiled shaders (gemm.comp, conv2d.comp) against their naive variants */
static ldm_perf_kclass mm_class(const ldm_launch *l) {
  size_t k = strlen(l->shader);
  return k > 6 && strcmp(l->shader + k - 6, "_naive") == 0 ? LDM_KC_NAIVE : LDM_KC_TILED;
}

/* the launched tile variant's output tile (spec constants 3 and 4 of tile.glsl) and its shared-memory bytes
 * per FMA: a TM x TN block loads TM + TN floats per TM x TN FMAs */
static void mm_tile(const ldm_launch *l, double *bm, double *bn, ldm_perf_cost *c) {
  bool tiled = l->tile > 0 && l->nspec >= 7;
  *bm = tiled ? l->spec[3] : 64;
  *bn = tiled ? l->spec[4] : 64;
  double tm = tiled ? l->spec[5] : 4, tn = tiled ? l->spec[6] : 4;
  c->smem_b_per_fma = 4.0 * (tm + tn) / (tm * tn);
}

/* the GEMM shape of the row (--nodes prints it) and the split-K splits of the launch (its z: batch x S) */
static void mm_shape(ldm_perf_cost *c, const ldm_launch *l, int64_t rows, int64_t cols, int64_t depth, int64_t batch) {
  c->mm_rows = rows, c->mm_cols = cols, c->mm_depth = depth, c->mm_batch = batch;
  c->mm_split = l->tile > 0 && strstr(l->shader, "_split") && batch > 0 ? (uint32_t)(l->groups[2] / batch) : 1;
}

/* basic: GEMM (C = alpha op(A) op(B) [+ bias] [+ C], batched) */
static void cost_basic(const ldm_graph *g, const ldm_node *n, const ldm_launch *l, ldm_perf_cost *c) {
  cost_default(g, n, c);
  if (n->op == LDM_OP_reduce_sum_multi) { /* the jobs as their reduce_sum nodes: one FLOP per output each */
    const ldm_pc_reduce_sum_multi *m = (const ldm_pc_reduce_sum_multi *)n->pc;
    c->useful_flops = c->computed_flops = 0;
    c->njobs = n->nin < 4 ? n->nin : 4;
    for (int k = 0; k < c->njobs; k++) {
      ldm_pc_reduce_sum job;
      bool serial;
      ldm_reduce_multi_job(m, k, &job, &serial);
      c->useful_flops += (double)job.J;
      c->job_bytes[k] = tbytes(g, n->in[k]) + tbytes(g, n->out[k]);
      c->job_groups[k] = ldm_reduce_sum_groups(&job, serial);
    }
    c->computed_flops = c->useful_flops;
    return;
  }
  if (n->op != LDM_OP_gemm) return;
  const ldm_pc_gemm *p = (const ldm_pc_gemm *)n->pc;
  double M = p->M, N = p->N, K = p->K, B = p->batch;
  c->kc = mm_class(l);
  c->useful_flops = 2 * M * N * K * B;
  mm_shape(c, l, p->M, p->N, p->K, p->batch);
  /* tiled: bm x bn tiles over 16-deep K slabs; naive: 16x16 workgroups of one output each */
  double bm, bn;
  mm_tile(l, &bm, &bn, c);
  c->computed_flops =
      c->kc == LDM_KC_TILED ? 2 * up(M, bm) * up(N, bn) * up(K, 16) * B : 2 * up(M, 16) * up(N, 16) * K * B;
  if (p->accumulate) c->bytes_rd += tbytes(g, n->out[0]);
  if (l->tile > 0 && l->groups[2] > 1 && strstr(l->shader, "_split")) { /* split-K: S partials written and read */
    double ws = 4.0 * l->groups[2] * M * N;
    c->bytes_wr += ws;
    c->bytes_rd += ws;
  }
}

/* conv: the three convolutions are implicit GEMMs of rows x columns x depth (conv2d.comp's header) */
static void cost_conv(const ldm_graph *g, const ldm_node *n, const ldm_launch *l, ldm_perf_cost *c) {
  cost_default(g, n, c);
  if (n->op != LDM_OP_conv2d && n->op != LDM_OP_conv2d_backward_data && n->op != LDM_OP_conv2d_backward_weight) {
    c->useful_flops = c->computed_flops = 0; /* upsampling moves bytes */
    return;
  }
  const ldm_pc_conv2d *p = (const ldm_pc_conv2d *)n->pc;
  double kk = (double)p->k * p->k, P = (double)p->N * p->Ho * p->Wo;
  int64_t ir, ic, id;
  ldm_conv2d_gemm_dims(p, n->op, &ir, &ic, &id);
  double rows = (double)ir, cols = (double)ic, depth = (double)id;
  c->kc = mm_class(l);
  if (n->op == LDM_OP_conv2d_backward_weight && p->splits > 1) mm_shape(c, l, ir, ic, p->split_len, p->splits);
  else mm_shape(c, l, ir, ic, id, 1);
  c->useful_flops = 2 * (double)p->Cout * P * p->Cin * kk;
  double bm, bn;
  mm_tile(l, &bm, &bn, c);
  if (c->kc == LDM_KC_NAIVE) {
    c->computed_flops = 2 * rows * cols * depth; /* every tap of the depth, stride holes included */
  } else if (strcmp(l->shader, "conv2d_backward_data_sub") == 0) { /* one GEMM per output parity, its taps */
    c->computed_flops = 0;
    for (uint32_t cls = 0; cls < p->stride * p->stride; cls++) {
      int64_t cc, cd;
      ldm_conv2d_sub_class(p, cls, &cc, &cd);
      c->computed_flops += 2 * up(rows, bm) * up((double)cc, bn) * up((double)cd, 16);
    }
  } else if (n->op == LDM_OP_conv2d_backward_weight) {
    double splits = p->splits > 0 ? p->splits : 1, len = p->splits > 1 ? p->split_len : depth;
    c->computed_flops = 2 * up(rows, bm) * up(cols, bn) * splits * up(len, 16);
  } else {
    c->computed_flops = 2 * up(rows, bm) * up(cols, bn) * up(depth, 16);
  }
  if (p->accumulate) c->bytes_rd += tbytes(g, n->out[0]);
  if (l->tile > 0 && l->groups[2] > 1 && n->nout == 3 &&
      strstr(l->shader, "_split")) { /* split-K: S partials written, then read by each tile's last workgroup
                                       * (backward_weight: splits x S) */
    double ws = 4.0 * l->groups[2] * rows * cols;
    c->bytes_wr += ws;
    c->bytes_rd += ws;
  }
}

/* norm: GroupNorm (mean, variance, normalise, affine: about 8 FLOPs per element; backward about 12), softmax
 * (max, exp, sum, divide: about 5); the fused group_norm_silu[_backward] add the silu's element work */
static void cost_norm(const ldm_graph *g, const ldm_node *n, const ldm_launch *l, ldm_perf_cost *c) {
  (void)l;
  cost_default(g, n, c);
  double e = n->nout ? (double)g->t[n->out[0]].numel : 0;
  if (n->op == LDM_OP_group_norm) c->useful_flops = 8 * e;
  else if (n->op == LDM_OP_group_norm_backward) c->useful_flops = 12 * e;
  else if (n->op == LDM_OP_group_norm_silu) c->useful_flops = 9 * e; /* + silu, one FLOP as the act ops count */
  else if (n->op == LDM_OP_group_norm_silu_backward) c->useful_flops = 14 * e; /* + h and silu' */
  else if (n->op == LDM_OP_softmax || n->op == LDM_OP_softmax_backward) c->useful_flops = 5 * e;
  else if (n->op == LDM_OP_channel_copy_multi) { /* the jobs as their channel_copy nodes */
    const ldm_pc_channel_copy_multi *m = (const ldm_pc_channel_copy_multi *)n->pc;
    c->useful_flops = 0;
    c->njobs = n->nin < 4 ? n->nin : 4;
    for (int k = 0; k < c->njobs; k++) {
      ldm_pc_channel_copy job;
      ldm_copy_multi_job(m, k, &job);
      c->useful_flops += (double)g->t[n->out[k]].numel;
      c->job_bytes[k] = tbytes(g, n->in[k]) + tbytes(g, n->out[k]);
      c->job_groups[k] = (ldm_channel_copy_elems(&job) + 255) / 256;
    }
  }
  c->computed_flops = c->useful_flops;
  if (n->op == LDM_OP_attention || n->op == LDM_OP_attention_backward) {
    /* not tiled: operands come from global memory (and caches), so the naive kernels' efficiency. Forward:
     * the two products (2 T^2 d FLOPs each per head) and the softmax; backward: dP, dq, dk, dv (8 T^2 d) and
     * dS, computed twice over (the query rows and the key columns each form dP and D themselves) */
    const ldm_pc_attention *p = (const ldm_pc_attention *)n->pc; /* the backward's block starts the same */
    double bht2 = (double)p->B * p->heads * p->T * p->T, dd = p->d;
    c->kc = LDM_KC_NAIVE;
    c->useful_flops = n->op == LDM_OP_attention ? bht2 * (4 * dd + 5) : bht2 * (8 * dd + 4);
    c->computed_flops = n->op == LDM_OP_attention ? c->useful_flops : bht2 * (12 * dd + 8);
  }
}

/* diffusion: a gather reads the B rows it picks (and their indices), not the whole table */
static void cost_diffusion(const ldm_graph *g, const ldm_node *n, const ldm_launch *l, ldm_perf_cost *c) {
  (void)l;
  cost_default(g, n, c);
  if (n->op != LDM_OP_gather_rows) return;
  const ldm_pc_gather_rows *p = (const ldm_pc_gather_rows *)n->pc;
  double elem = g->t[n->in[0]].dtype == LDM_U8 ? 1 : 4;
  c->bytes_rd = (double)p->B * p->row * elem + tbytes(g, n->in[1]);
}

void ldm_perf_node_cost(const ldm_graph *g, const ldm_node *n, const ldm_launch *l, ldm_perf_cost *c) {
  const char *fam = ldm_op_family(n->op);
  if (strcmp(fam, "conv") == 0) cost_conv(g, n, l, c);
  else if (strcmp(fam, "norm") == 0) cost_norm(g, n, l, c);
  else if (strcmp(fam, "diffusion") == 0) cost_diffusion(g, n, l, c);
  else cost_basic(g, n, l, c);
}
