/* Convolution family: conv2d (forward with fused bias, per-sample channel term and residual; backward-data, backward-weight) and nearest 2x
 * upsample (forward, backward). NCHW activations, weights [Cout, Cin, k, k], exactly PyTorch's Conv2d
 * (cross-correlation, zero padding) and Upsample(scale_factor=2, mode="nearest"). This file: the graph
 * builders, the backward emitters ldm_bwd_<op> (ops/autodiff.h) and the op table entries ldm_op_desc_<op>;
 * the CPU twins ldm_cpu_<op> (implicit GEMMs) are in src/cpu/kernels_conv.c, the Vulkan launch plans
 * ldm_plan_<op> in src/vk/plan.c.
 * backward_weight splits its long reduction over output pixels into `splits` fixed ranges whose partial
 * sums a reduce_sum node adds in order (deterministic, and enough workgroups to fill a big GPU). */
#include "ops/conv.h"

#include <stdio.h>
#include <string.h>

#include "core/ops.h"
#include "cpu/kernels.h"
#include "ldm/ops.h"
#include "ops/autodiff.h"
#include "ops/builder.h"
#include "vk/plan.h"

/* ================================================================= graph builders and autodiff */
uint32_t ldm_conv2d_weight_splits(const ldm_pc_conv2d *p) {
  int64_t D = (int64_t)p->N * p->Ho * p->Wo, Kd = (int64_t)p->Cin * p->k * p->k;
  int64_t tiles = ((p->Cout + 63) / 64) * ((Kd + 63) / 64);
  int64_t s = (256 + tiles - 1) / tiles;  /* about 256 workgroups */
  if (s > D / 512) s = D / 512;           /* each split at least 512 pixels */
  int64_t cap = (8 << 20) / ((int64_t)p->Cout * Kd); /* scratch at most 8 Mi floats (32 MiB) */
  if (s > cap) s = cap;
  if (s > 64) s = 64;
  return s < 1 ? 1 : (uint32_t)s;
}

void ldm_conv2d_gemm_dims(const ldm_pc_conv2d *p, int op, int64_t *rows, int64_t *cols, int64_t *depth) {
  int64_t kk = (int64_t)p->k * p->k, P = (int64_t)p->N * p->Ho * p->Wo;
  if (op == LDM_OP_conv2d_backward_data) {
    *rows = p->Cin, *cols = (int64_t)p->N * p->H * p->W, *depth = (int64_t)p->Cout * kk;
  } else if (op == LDM_OP_conv2d_backward_weight) {
    *rows = p->Cout, *cols = (int64_t)p->Cin * kk, *depth = P;
  } else {
    *rows = p->Cout, *cols = P, *depth = (int64_t)p->Cin * kk;
  }
}
static int64_t sub_count(int64_t n, uint32_t from, uint32_t s) { return n > from ? (n - from + s - 1) / s : 0; }
void ldm_conv2d_sub_class(const ldm_pc_conv2d *p, uint32_t cls, int64_t *cols, int64_t *depth) {
  uint32_t S = p->stride ? p->stride : 1, py = cls / S, px = cls % S;
  uint32_t rh = (py + p->pad) % S, rw = (px + p->pad) % S;
  *cols = (int64_t)p->N * sub_count(p->H, py, S) * sub_count(p->W, px, S);
  *depth = (int64_t)p->Cout * sub_count(p->k, rh, S) * sub_count(p->k, rw, S);
}
static void split_dims(const ldm_pc_conv2d *p, bool bwd_data, int64_t *rows, int64_t *cols, int64_t *depth) {
  ldm_conv2d_gemm_dims(p, bwd_data ? LDM_OP_conv2d_backward_data : LDM_OP_conv2d, rows, cols, depth);
}
/* S_max > 1 only where 64 x 64 tiles number under 512 (a grid that may leave a big GPU idle), each split keeps
 * at least 4 16-deep slabs, at most 8 splits, the workspace [S_max, rows, cols] at most 2 Mi floats (8 MiB), and the
 * split grid's x (32-column tiles) fits 65535 */
uint32_t ldm_conv2d_split_max(const ldm_pc_conv2d *p, bool bwd_data) {
  int64_t rows, cols, depth;
  split_dims(p, bwd_data, &rows, &cols, &depth);
  if (((rows + 63) / 64) * ((cols + 63) / 64) >= 512 || (cols + 31) / 32 > 65535) return 1;
  int64_t s = ((depth + 15) / 16) / 4;
  if (s > 8) s = 8;
  int64_t cap = (2 << 20) / (rows * cols);
  if (s > cap) s = cap;
  return s < 2 ? 1 : (uint32_t)s;
}
int64_t ldm_conv2d_split_counters(const ldm_pc_conv2d *p, bool bwd_data) {
  int64_t rows, cols, depth;
  split_dims(p, bwd_data, &rows, &cols, &depth);
  return ((rows + 31) / 32) * ((cols + 31) / 32);
}
/* conv2d_backward_weight's split-K (docs/perf.md "Change 10"): each of the node's `splits` pixel ranges split
 * again on the device, in the node (conv2d_backward_weight_split; the graph, its partial sums and the CPU's
 * bits stay as they are). S_max > 1 only where the 64 x 64 tiles of all splits number under 512, each split
 * keeps at least 4 16-deep slabs, at most 8, the workspace [splits x S_max, Cout, Cin k k] at most 3 Mi
 * floats (12 MiB; docs/perf.md "Change 13": the UNet step's ACT arena 157 -> 167 MiB. Change 10 had 1 Mi,
 * when the level schedule still put every node with a workspace late, all in one level, where the
 * workspaces cannot share memory: 2 Mi took the arena to 362 MiB then) */
uint32_t ldm_conv2d_weight_split_max(const ldm_pc_conv2d *p) {
  int64_t rows, cols, depth;
  ldm_conv2d_gemm_dims(p, LDM_OP_conv2d_backward_weight, &rows, &cols, &depth);
  int64_t splits = p->splits > 0 ? p->splits : 1, len = splits > 1 ? p->split_len : depth;
  if (((rows + 63) / 64) * ((cols + 63) / 64) * splits >= 512 || (cols + 31) / 32 > 65535) return 1;
  int64_t s = ((len + 15) / 16) / 4;
  if (s > 8) s = 8;
  int64_t cap = (3 << 20) / (splits * rows * cols);
  if (s > cap) s = cap;
  return s < 2 ? 1 : (uint32_t)s;
}

/* the node's outputs: out[0], then (S_max > 1) the workspace [S_max, rows, cols] f32 in ACT, live inside the
 * node only, and the u32 counters, kept for the whole run (never reused, so they stay as zero as the arena
 * starts; the last workgroup of each tile resets its counter) */
static int split_outputs(ldm_graph *g, const ldm_pc_conv2d *p, bool bwd_data, int *out) {
  uint32_t smax = ldm_conv2d_split_max(p, bwd_data);
  if (smax < 2) return 1;
  int64_t rows, cols, depth;
  split_dims(p, bwd_data, &rows, &cols, &depth);
  char nm[LDM_NAME_MAX];
  snprintf(nm, sizeof nm, "conv_split_ws#%d", g->nn);
  out[1] = ldm_act(g, nm, 3, LDM_SHAPE((int64_t)smax, rows, cols));
  snprintf(nm, sizeof nm, "conv_split_count#%d", g->nn);
  int64_t nc = ldm_conv2d_split_counters(p, bwd_data);
  out[2] = ldm_tensor_new(g, nm, LDM_ARENA_ACT, LDM_U32, 1, &nc);
  if (out[1] < 0 || out[2] < 0) return 1;
  g->t[out[1]].scratch = g->t[out[2]].scratch = true;
  ldm_keep(g, out[2]);
  return 3;
}

int ldm_conv2d_backward_data_node(ldm_graph *g, int dy, int w, int dx, const ldm_pc_conv2d *fwd, int accumulate) {
  LDM_INPUTS(g, dy, w, dx);
  ldm_pc_conv2d pc = *fwd;
  int64_t nx = (int64_t)pc.N * pc.Cin * pc.H * pc.W, ny = (int64_t)pc.N * pc.Cout * pc.Ho * pc.Wo;
  if (g->t[dx].numel != nx || g->t[dy].numel != ny || g->t[w].numel != (int64_t)pc.Cout * pc.Cin * pc.k * pc.k)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d_backward_data: %s, %s or %s does not match the convolution's shapes", g->t[dy].name,
                      g->t[w].name, g->t[dx].name);
  pc.bias = pc.chan = pc.res = 0;
  pc.accumulate = (uint32_t)!!accumulate;
  pc.splits = 1;
  pc.split_len = 0;
  int out[3] = {dx, LDM_NONE, LDM_NONE}, nout = split_outputs(g, &pc, true, out);
  return ldm_node_emit(g, LDM_OP_conv2d_backward_data, (int[]){dy, w}, 2, out, nout, &pc, sizeof pc,
                       "conv2d_backward_data");
}

int ldm_conv2d_backward_weight_node(ldm_graph *g, int dy, int x, int out, const ldm_pc_conv2d *fwd, uint32_t splits,
                                    int accumulate) {
  LDM_INPUTS(g, dy, x, out);
  ldm_pc_conv2d pc = *fwd;
  int64_t nx = (int64_t)pc.N * pc.Cin * pc.H * pc.W, D = (int64_t)pc.N * pc.Ho * pc.Wo;
  int64_t nw = (int64_t)pc.Cout * pc.Cin * pc.k * pc.k;
  if (splits < 1 || splits > D || g->t[x].numel != nx || g->t[dy].numel != D * pc.Cout ||
      g->t[out].numel != (int64_t)splits * nw || (splits > 1 && accumulate))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d_backward_weight: %s, %s or %s does not match the convolution's shapes with %u splits",
                      g->t[dy].name, g->t[x].name, g->t[out].name, splits);
  pc.bias = pc.chan = pc.res = 0;
  pc.accumulate = (uint32_t)!!accumulate;
  pc.splits = splits;
  pc.split_len = (uint32_t)((D + splits - 1) / splits);
  /* split-K: the workspace [splits x S_max, Cout, Cin k k] and one counter per 32x32 tile and split, scratch
   * as split_outputs' */
  int outs[3] = {out, LDM_NONE, LDM_NONE}, nout = 1;
  uint32_t smax = ldm_conv2d_weight_split_max(&pc);
  if (smax > 1) {
    int64_t rows, cols, depth;
    ldm_conv2d_gemm_dims(&pc, LDM_OP_conv2d_backward_weight, &rows, &cols, &depth);
    char nm[LDM_NAME_MAX];
    snprintf(nm, sizeof nm, "conv_split_ws#%d", g->nn);
    outs[1] = ldm_act(g, nm, 3, LDM_SHAPE((int64_t)splits * smax, rows, cols));
    snprintf(nm, sizeof nm, "conv_split_count#%d", g->nn);
    int64_t nc = (int64_t)splits * ((rows + 31) / 32) * ((cols + 31) / 32);
    outs[2] = ldm_tensor_new(g, nm, LDM_ARENA_ACT, LDM_U32, 1, &nc);
    if (outs[1] >= 0 && outs[2] >= 0) {
      g->t[outs[1]].scratch = g->t[outs[2]].scratch = true;
      ldm_keep(g, outs[2]);
      nout = 3;
    }
  }
  return ldm_node_emit(g, LDM_OP_conv2d_backward_weight, (int[]){dy, x}, 2, outs, nout, &pc, sizeof pc,
                       "conv2d_backward_weight");
}

ldm_status ldm_bwd_conv2d(ldm_graph *g, int ni) {
  ldm_pc_conv2d p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int x = g->n[ni].in[0], w = g->n[ni].in[1], dy = ldm_grad_out(g, ni, 0);
  int acc, dx = ldm_grad_in(g, ni, 0, &acc);
  if (dx >= 0) ldm_conv2d_backward_data_node(g, dy, w, dx, &p, acc);
  int dw = ldm_grad_in(g, ni, 1, &acc);
  if (dw >= 0) {
    uint32_t s = ldm_conv2d_weight_splits(&p);
    if (s == 1) {
      ldm_conv2d_backward_weight_node(g, dy, x, dw, &p, 1, acc);
    } else {
      int64_t nw = g->t[w].numel;
      int part = ldm_new_act(g, "conv_dw_partial", 2, LDM_SHAPE((int64_t)s, nw));
      part = ldm_conv2d_backward_weight_node(g, dy, x, part, &p, s, 0);
      ldm_reduce_sum(g, part, dw, s, nw, 1, 1.0f, acc);
    }
  }
  int db = p.bias ? ldm_grad_in(g, ni, 2, &acc) : LDM_NONE;
  if (db >= 0) ldm_reduce_sum(g, dy, db, p.N, p.Cout, (int64_t)p.Ho * p.Wo, 1.0f, acc);
  /* the fused epilogue: d chan[n, co] = sum over the pixels of dy[n, co]; d res = dy (dy itself when res's
   * gradient is written for the first time, else added) */
  int dc = p.chan ? ldm_grad_in(g, ni, 3, &acc) : LDM_NONE;
  if (dc >= 0) ldm_reduce_sum(g, dy, dc, 1, (int64_t)p.N * p.Cout, (int64_t)p.Ho * p.Wo, 1.0f, acc);
  if (p.res && !ldm_grad_alias(g, ni, 4, dy)) {
    int dr = ldm_grad_in(g, ni, 4, &acc);
    if (dr >= 0) ldm_ew_scale(g, dy, dr, 1.0f, acc);
  }
  return LDM_OK;
}

int ldm_conv2d_ex(ldm_graph *g, int x, int w, int bias, int res, int chan, int stride, int pad) {
  LDM_INPUTS(g, x, w);
  if (bias != LDM_NONE) LDM_INPUTS(g, bias); /* optional */
  if (res != LDM_NONE) LDM_INPUTS(g, res);
  if (chan != LDM_NONE) LDM_INPUTS(g, chan);
  const ldm_tensor *X = &g->t[x], *Wt = &g->t[w];
  if (X->ndim != 4 || Wt->ndim != 4 || Wt->shape[1] != X->shape[1] || Wt->shape[2] != Wt->shape[3] ||
      Wt->shape[2] < 1 || Wt->shape[2] > 31)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d: input %s must be [N, Cin, H, W] and weight %s [Cout, Cin, k, k] with the same Cin and "
                      "1 <= k <= 31",
                      X->name, Wt->name);
  int64_t N = X->shape[0], Cin = X->shape[1], H = X->shape[2], W = X->shape[3];
  int64_t Cout = Wt->shape[0], k = Wt->shape[2];
  if (stride < 1 || stride > 8 || pad < 0 || pad > 64 || H + 2 * pad < k || W + 2 * pad < k)
    return LDM_REFUSE(
        g, LDM_ERR_INVALID_ARG,
        "conv2d of %s with weight %s: stride %d and padding %d do not fit a %lldx%lld kernel on %lldx%lld", X->name,
        Wt->name, stride, pad, (long long)k, (long long)k, (long long)H, (long long)W);
  if (bias >= 0 && g->t[bias].numel != Cout)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d: bias %s has %lld elements, the weight %s has %lld output channels", g->t[bias].name,
                      (long long)g->t[bias].numel, Wt->name, (long long)Cout);
  int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  if (N * Cin * H * W > UINT32_MAX || N * Cout * Ho * Wo > UINT32_MAX || Cout * Cin * k * k * 64 > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "conv2d of %s: tensors over 2^32 elements", X->name);
  if (chan >= 0 && (g->t[chan].dtype != LDM_F32 || g->t[chan].numel != N * Cout))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "conv2d of %s: the per-channel term %s must be f32 [N, Cout] = [%lld, %lld]", X->name,
                      g->t[chan].name, (long long)N, (long long)Cout);
  if (res >= 0) {
    const ldm_tensor *R = &g->t[res];
    if (R->dtype != LDM_F32 || R->ndim != 4 || R->shape[0] != N || R->shape[1] != Cout || R->shape[2] != Ho ||
        R->shape[3] != Wo)
      return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                        "conv2d of %s: the residual %s must be f32 [%lld, %lld, %lld, %lld], the output's shape",
                        X->name, R->name, (long long)N, (long long)Cout, (long long)Ho, (long long)Wo);
  }
  int y = ldm_new_act(g, "conv", 4, LDM_SHAPE(N, Cout, Ho, Wo));
  ldm_pc_conv2d pc = {(uint32_t)N, (uint32_t)Cin, (uint32_t)H, (uint32_t)W, (uint32_t)Cout, (uint32_t)Ho,
                      (uint32_t)Wo, (uint32_t)k, (uint32_t)stride, (uint32_t)pad, bias >= 0, 0, 1, 0,
                      chan >= 0, res >= 0};
  /* an absent optional input is bound to x (never read) */
  int in[5] = {x, w, bias >= 0 ? bias : x, chan >= 0 ? chan : x, res >= 0 ? res : x};
  int out[3] = {y, LDM_NONE, LDM_NONE}, nout = split_outputs(g, &pc, false, out);
  return ldm_node_emit(g, LDM_OP_conv2d, in, 5, out, nout, &pc, sizeof pc, "conv2d");
}

int ldm_conv2d(ldm_graph *g, int x, int w, int bias, int stride, int pad) {
  return ldm_conv2d_ex(g, x, w, bias, LDM_NONE, LDM_NONE, stride, pad);
}

const ldm_op_desc ldm_op_desc_conv2d = {"conv2d", ldm_cpu_conv2d, ldm_plan_conv2d, ldm_bwd_conv2d};
const ldm_op_desc ldm_op_desc_conv2d_backward_data = {"conv2d_backward_data", ldm_cpu_conv2d_backward_data,
                                                      ldm_plan_conv2d_backward_data, NULL};
const ldm_op_desc ldm_op_desc_conv2d_backward_weight = {"conv2d_backward_weight", ldm_cpu_conv2d_backward_weight,
                                                        ldm_plan_conv2d_backward_weight, NULL};

/* ================================================================= upsample2x */
int ldm_upsample2x_backward_node(ldm_graph *g, int dy, int dx, int accumulate) {
  LDM_INPUTS(g, dy, dx);
  const ldm_tensor *X = &g->t[dx];
  if (X->ndim != 4 || g->t[dy].numel != 4 * X->numel)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "upsample2x_backward: %s must be [N, C, H, W] and %s four times its size",
                      X->name, g->t[dy].name);
  ldm_pc_upsample2x pc = {(uint32_t)(X->shape[0] * X->shape[1]), (uint32_t)X->shape[2], (uint32_t)X->shape[3],
                          (uint32_t)!!accumulate};
  return ldm_node_emit(g, LDM_OP_upsample2x_backward, &dy, 1, &dx, 1, &pc, sizeof pc, "upsample2x_backward");
}
ldm_status ldm_bwd_upsample2x(ldm_graph *g, int ni) {
  int acc, dx = ldm_grad_in(g, ni, 0, &acc);
  ldm_upsample2x_backward_node(g, ldm_grad_out(g, ni, 0), dx, acc);
  return LDM_OK;
}

int ldm_upsample2x(ldm_graph *g, int x) {
  LDM_INPUTS(g, x);
  if (g->t[x].ndim != 4)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "upsample2x: input %s must be [N, C, H, W]", g->t[x].name);

  const ldm_tensor *X = &g->t[x];
  int64_t N = X->shape[0], C = X->shape[1], H = X->shape[2], W = X->shape[3];
  if (4 * X->numel > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "upsample2x of %s: output over 2^32 elements", X->name);
  int y = ldm_new_act(g, "upsample", 4, LDM_SHAPE(N, C, 2 * H, 2 * W));
  ldm_pc_upsample2x pc = {(uint32_t)(N * C), (uint32_t)H, (uint32_t)W, 0};
  return ldm_node_emit(g, LDM_OP_upsample2x, &x, 1, &y, 1, &pc, sizeof pc, "upsample2x");
}

const ldm_op_desc ldm_op_desc_upsample2x = {"upsample2x", ldm_cpu_upsample2x, ldm_plan_upsample2x, ldm_bwd_upsample2x};
const ldm_op_desc ldm_op_desc_upsample2x_backward = {"upsample2x_backward", ldm_cpu_upsample2x_backward,
                                                     ldm_plan_upsample2x_backward, NULL};
