/* Basic op family: fill, copy, Philox fill, elementwise, reductions, MSE, GEMM, SGD, AdamW (the activations,
 * SiLU ...: the generated ldm_act_ops.c, from the `act` entries of src/ops/ops.def). This file: the graph
 * builders, the backward emitters ldm_bwd_<op> (ops/autodiff.h) and the op table entries ldm_op_desc_<op>;
 * the CPU twins ldm_cpu_<op> are in src/cpu/kernels_basic.c, the Vulkan launch plans ldm_plan_<op> in
 * src/vk/plan.c. */
#include "ops/basic.h"

#include <stdio.h>
#include <string.h>

#include "core/ops.h"
#include "cpu/kernels.h"
#include "ldm/ops.h"
#include "ops/autodiff.h"
#include "ops/builder.h"
#include "vk/plan.h"

#define new_like ldm_new_like

static int scalar_act(ldm_graph *g, const char *what) { return ldm_new_act(g, what, 1, LDM_SHAPE(1)); }

/* ================================================================= fill */
int ldm_fill(ldm_graph *g, int out, float value) {
  LDM_INPUTS(g, out);
  ldm_pc_fill pc = {value, (uint32_t)g->t[out].numel};
  return ldm_node_emit(g, LDM_OP_fill, NULL, 0, &out, 1, &pc, sizeof pc, "fill");
}
const ldm_op_desc ldm_op_desc_fill = {"fill", ldm_cpu_fill, ldm_plan_fill, NULL};

/* ================================================================= copy */
ldm_status ldm_bwd_copy(ldm_graph *g, int ni) {
  int dy = ldm_grad_out(g, ni, 0);
  if (ldm_grad_alias(g, ni, 0, dy)) return LDM_OK; /* dx = dy: no copy */
  int acc, dx = ldm_grad_in(g, ni, 0, &acc);
  ldm_ew_scale(g, dy, dx, 1.0f, acc);
  return LDM_OK;
}
int ldm_copy(ldm_graph *g, int in, int out) {
  LDM_INPUTS(g, in, out);
  if (g->t[in].numel != g->t[out].numel)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "copy: %s and %s differ in size", g->t[in].name, g->t[out].name);
  ldm_pc_copy pc = {(uint32_t)g->t[in].numel};
  return ldm_node_emit(g, LDM_OP_copy, &in, 1, &out, 1, &pc, sizeof pc, "copy");
}
const ldm_op_desc ldm_op_desc_copy = {"copy", ldm_cpu_copy, ldm_plan_1d_n, ldm_bwd_copy};

/* ================================================================= philox_fill */
int ldm_philox_fill(ldm_graph *g, int out, int step, int dist, uint64_t seed, uint64_t stream, uint64_t base) {
  LDM_INPUTS(g, out);
  ldm_pc_philox_fill pc = {(uint32_t)g->t[out].numel, (uint32_t)dist, (uint32_t)seed, (uint32_t)(seed >> 32),
                           (uint32_t)stream, (uint32_t)(stream >> 32), (uint32_t)base, (uint32_t)(base >> 32),
                           step >= 0};
  int in = step >= 0 ? step : out; /* unused binding when there is no step buffer */
  return ldm_node_emit(g, LDM_OP_philox_fill, &in, 1, &out, 1, &pc, sizeof pc, "philox_fill");
}
const ldm_op_desc ldm_op_desc_philox_fill = {"philox_fill", ldm_cpu_philox_fill, ldm_plan_philox_fill, NULL};

/* ================================================================= elementwise binary */
ldm_status ldm_bwd_ew_binary(ldm_graph *g, int ni) {
  ldm_pc_ew_binary pc;
  memcpy(&pc, g->n[ni].pc, sizeof pc);
  int dy = ldm_grad_out(g, ni, 0);
  for (int k = 0; k < 2; k++) {
    bool pass = pc.kind == LDM_EW_ADD || (pc.kind == LDM_EW_SUB && k == 0); /* dx = dy */
    if (pass && ldm_grad_alias(g, ni, k, dy)) continue;
    int acc, dx = ldm_grad_in(g, ni, k, &acc);
    if (dx < 0) continue;
    if (pc.kind == LDM_EW_MUL)
      ldm_ew_binary(g, LDM_EW_MUL, dy, g->n[ni].in[1 - k], dx, acc);
    else
      ldm_ew_scale(g, dy, dx, (pc.kind == LDM_EW_SUB && k == 1) ? -1.0f : 1.0f, acc);
  }
  return LDM_OK;
}
int ldm_ew_binary(ldm_graph *g, int kind, int a, int b, int out, int accumulate) {
  LDM_INPUTS(g, a, b, out);
  if (g->t[a].numel != g->t[b].numel || g->t[a].numel != g->t[out].numel)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "elementwise op: %s, %s and %s differ in size", g->t[a].name,
                      g->t[b].name, g->t[out].name);
  ldm_pc_ew_binary pc = {(uint32_t)g->t[a].numel, (uint32_t)kind, (uint32_t)accumulate};
  static const char *lbl[] = {"add", "sub", "mul"};
  return ldm_node_emit(g, LDM_OP_ew_binary, (int[]){a, b}, 2, &out, 1, &pc, sizeof pc, lbl[kind % 3]);
}
static int ew_new(ldm_graph *g, int kind, int a, int b) {
  int out = new_like(g, a, kind == LDM_EW_ADD ? "add" : kind == LDM_EW_SUB ? "sub" : "mul");
  return ldm_ew_binary(g, kind, a, b, out, 0);
}
int ldm_add(ldm_graph *g, int a, int b) { return ew_new(g, LDM_EW_ADD, a, b); }
int ldm_sub(ldm_graph *g, int a, int b) { return ew_new(g, LDM_EW_SUB, a, b); }
int ldm_mul(ldm_graph *g, int a, int b) { return ew_new(g, LDM_EW_MUL, a, b); }
const ldm_op_desc ldm_op_desc_ew_binary = {"ew_binary", ldm_cpu_ew_binary, ldm_plan_1d_n, ldm_bwd_ew_binary};

/* ================================================================= scale */
ldm_status ldm_bwd_ew_scale(ldm_graph *g, int ni) {
  ldm_pc_ew_scale p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int dy = ldm_grad_out(g, ni, 0);
  if (p.alpha == 1.0f && ldm_grad_alias(g, ni, 0, dy)) return LDM_OK; /* dx = dy: no copy */
  int acc, dx = ldm_grad_in(g, ni, 0, &acc);
  ldm_ew_scale(g, dy, dx, p.alpha, acc);
  return LDM_OK;
}
int ldm_ew_scale(ldm_graph *g, int x, int out, float alpha, int accumulate) {
  LDM_INPUTS(g, x, out);
  if (g->t[x].numel != g->t[out].numel)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "scale: %s and %s differ in size", g->t[x].name, g->t[out].name);
  ldm_pc_ew_scale pc = {(uint32_t)g->t[x].numel, alpha, (uint32_t)accumulate};
  return ldm_node_emit(g, LDM_OP_ew_scale, &x, 1, &out, 1, &pc, sizeof pc, "scale");
}
int ldm_scale(ldm_graph *g, int x, float alpha) {
  int out = new_like(g, x, "scale");
  return ldm_ew_scale(g, x, out, alpha, 0);
}
const ldm_op_desc ldm_op_desc_ew_scale = {"ew_scale", ldm_cpu_ew_scale, ldm_plan_1d_n, ldm_bwd_ew_scale};

/* ================================================================= reduce_sum */
int ldm_reduce_sum(ldm_graph *g, int x, int out, int64_t O, int64_t J, int64_t I, float scale, int accumulate) {
  LDM_INPUTS(g, x, out);
  if (O * J * I != g->t[x].numel || g->t[out].numel != J)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "reduce_sum: [%lld,%lld,%lld] does not match %s / %s", (long long)O,
                      (long long)J, (long long)I, g->t[x].name, g->t[out].name);
  ldm_pc_reduce_sum pc = {(uint32_t)O, (uint32_t)J, (uint32_t)I, scale, (uint32_t)accumulate};
  return ldm_node_emit(g, LDM_OP_reduce_sum, &x, 1, &out, 1, &pc, sizeof pc, "reduce_sum");
}
bool ldm_reduce_sum_serial(const ldm_pc_reduce_sum *p) {
  uint64_t terms = (uint64_t)p->O * p->I;
  return terms <= 32 || (p->J > 16384 && terms <= 4096);
}
uint32_t ldm_reduce_sum_groups(const ldm_pc_reduce_sum *p, bool serial) { return serial ? (p->J + 255u) / 256u : p->J; }
/* ================================================================= reduce_sum_multi */
/* job k: the five words O, J, I, scale, flags after njobs (flags bit 0 = accumulate, bit 1 = serial) */
_Static_assert(sizeof(ldm_pc_reduce_sum) == 20 && sizeof(ldm_pc_reduce_sum_multi) == 4 + 20 * LDM_REDUCE_MULTI_MAX,
               "reduce_sum_multi: njobs, then one reduce_sum block per job");
void ldm_reduce_multi_job(const ldm_pc_reduce_sum_multi *m, int k, ldm_pc_reduce_sum *job, bool *serial) {
  memcpy(job, (const uint8_t *)m + 4 + 20 * (size_t)k, sizeof *job);
  uint32_t flags = job->accumulate;
  job->accumulate = flags & 1u;
  if (serial) *serial = (flags & 2u) != 0;
}
void ldm_reduce_multi_pc(const ldm_pc_reduce_sum *jobs, int njobs, ldm_pc_reduce_sum_multi *m) {
  memset(m, 0, sizeof *m);
  m->njobs = (uint32_t)njobs;
  for (int k = 0; k < njobs; k++) {
    ldm_pc_reduce_sum j = jobs[k];
    j.accumulate = (j.accumulate ? 1u : 0u) | (ldm_reduce_sum_serial(&jobs[k]) ? 2u : 0u);
    memcpy((uint8_t *)m + 4 + 20 * (size_t)k, &j, sizeof j);
  }
}
int ldm_reduce_sum_multi(ldm_graph *g, int njobs, const int *x, const int *out, const ldm_pc_reduce_sum *jobs) {
  if (njobs < 2 || njobs > LDM_REDUCE_MULTI_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "reduce_sum_multi: %d jobs (2 to %d)", njobs, LDM_REDUCE_MULTI_MAX);
  for (int k = 0; k < njobs; k++) {
    LDM_INPUTS(g, x[k], out[k]);
    const ldm_pc_reduce_sum *p = &jobs[k];
    if ((int64_t)p->O * p->J * p->I != g->t[x[k]].numel || g->t[out[k]].numel != p->J)
      return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "reduce_sum_multi: job %d [%u,%u,%u] does not match %s / %s", k,
                        p->O, p->J, p->I, g->t[x[k]].name, g->t[out[k]].name);
  }
  ldm_pc_reduce_sum_multi pc;
  ldm_reduce_multi_pc(jobs, njobs, &pc);
  return ldm_node_emit(g, LDM_OP_reduce_sum_multi, x, njobs, out, njobs, &pc, sizeof pc, "reduce_sum_multi");
}
const ldm_op_desc ldm_op_desc_reduce_sum_multi = {"reduce_sum_multi", ldm_cpu_reduce_sum_multi,
                                                  ldm_plan_reduce_sum_multi, NULL};

int ldm_sum(ldm_graph *g, int x) {
  LDM_INPUTS(g, x);
  return ldm_reduce_sum(g, x, scalar_act(g, "sum"), 1, 1, g->t[x].numel, 1.0f, 0);
}
int ldm_mean(ldm_graph *g, int x) {
  LDM_INPUTS(g, x);
  return ldm_reduce_sum(g, x, scalar_act(g, "mean"), 1, 1, g->t[x].numel, 1.0f / (float)g->t[x].numel, 0);
}
const ldm_op_desc ldm_op_desc_reduce_sum = {"reduce_sum", ldm_cpu_reduce_sum, ldm_plan_reduce_sum, ldm_bwd_reduce_sum};

/* ================================================================= MSE */
ldm_status ldm_bwd_mse_loss(ldm_graph *g, int ni) {
  int dl = ldm_grad_out(g, ni, 0);
  for (int k = 0; k < 2; k++) {
    int x = g->n[ni].in[k], other = g->n[ni].in[1 - k];
    int acc, dx = ldm_grad_in(g, ni, k, &acc);
    if (dx < 0) continue;
    ldm_pc_mse_loss_backward pc = {(uint32_t)g->t[x].numel, 2.0f / (float)g->t[x].numel, (uint32_t)acc};
    ldm_node_add(g, LDM_OP_mse_loss_backward, (int[]){x, other, dl}, 3, &dx, 1, &pc, sizeof pc,
                 "mse_loss_backward");
  }
  return LDM_OK;
}
int ldm_mse_loss(ldm_graph *g, int a, int b) {
  LDM_INPUTS(g, a, b);
  if (g->t[a].numel != g->t[b].numel)

    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "mse_loss: %s and %s differ in size", g->t[a].name, g->t[b].name);
  int out = scalar_act(g, "mse_loss");
  ldm_pc_mse_loss pc = {(uint32_t)g->t[a].numel, 1.0f / (float)g->t[a].numel};
  return ldm_node_emit(g, LDM_OP_mse_loss, (int[]){a, b}, 2, &out, 1, &pc, sizeof pc, "mse_loss");
}
const ldm_op_desc ldm_op_desc_mse_loss = {"mse_loss", ldm_cpu_mse_loss, ldm_plan_mse_loss, ldm_bwd_mse_loss};
const ldm_op_desc ldm_op_desc_mse_loss_backward = {"mse_loss_backward", ldm_cpu_mse_loss_backward, ldm_plan_1d_n, NULL};

/* ================================================================= GEMM */
/* split-K (docs/perf.md "Change 10"): S_max > 1 only for one matrix (batch 1) whose 64 x 64 tiles number
 * under 512, at least one 16-deep slab per split, at most 16 splits, the workspace [S_max, M, N] at most
 * 2 Mi floats (8 MiB) and the 32-column tiles within 65535: device-independent, as ldm_conv2d_split_max */
uint32_t ldm_gemm_split_max(const ldm_pc_gemm *p) {
  int64_t M = p->M, N = p->N, slabs = ((int64_t)p->K + 15) / 16;
  if (p->batch != 1 || ((M + 63) / 64) * ((N + 63) / 64) >= 512 || (N + 31) / 32 > 65535) return 1;
  int64_t s = slabs < 16 ? slabs : 16, cap = (2 << 20) / (M * N > 0 ? M * N : 1);
  if (s > cap) s = cap;
  return s < 2 ? 1 : (uint32_t)s;
}
int64_t ldm_gemm_split_counters(const ldm_pc_gemm *p) { return (((int64_t)p->M + 31) / 32) * (((int64_t)p->N + 31) / 32); }
/* outs[nout..]: the workspace (ACT, live inside the node) and the counters (kept, zero between runs), both
 * scratch, where S_max > 1 */
static int gemm_split_outputs(ldm_graph *g, const ldm_pc_gemm *p, int *outs, int nout) {
  uint32_t smax = ldm_gemm_split_max(p);
  if (smax < 2) return nout;
  char nm[LDM_NAME_MAX];
  snprintf(nm, sizeof nm, "gemm_split_ws#%d", g->nn);
  int ws = ldm_act(g, nm, 3, LDM_SHAPE((int64_t)smax, (int64_t)p->M, (int64_t)p->N));
  snprintf(nm, sizeof nm, "gemm_split_count#%d", g->nn);
  int64_t nc = ldm_gemm_split_counters(p);
  int cnt = ldm_tensor_new(g, nm, LDM_ARENA_ACT, LDM_U32, 1, &nc);
  if (ws < 0 || cnt < 0) return nout;
  g->t[ws].scratch = g->t[cnt].scratch = true;
  ldm_keep(g, cnt);
  outs[nout] = ws, outs[nout + 1] = cnt;
  return nout + 2;
}

ldm_status ldm_bwd_gemm(ldm_graph *g, int ni) {
  ldm_pc_gemm p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int G = ldm_grad_out(g, ni, 0);
  int A = g->n[ni].in[0], B = g->n[ni].in[1];
  if (p.act == LDM_GEMM_ACT_SILU) {
    /* the SiLU epilogue: dz = silu'(z) dC (z: the saved pre-activation, output 1), then the GEMM's backward
     * with dz, exactly the nodes the unfused linear -> silu pair had (its silu_backward wrote the linear
     * output's gradient) */
    int z = g->n[ni].out[1], acc0;
    if (G >= 0) { /* dz (+)= silu'(z) dC: added where a later reader of z already gave z a gradient */
      int dz = ldm_grad_target(g, z, &acc0);
      ldm_pc_silu_backward sp = {(uint32_t)g->t[z].numel, (uint32_t)acc0};
      ldm_node_add(g, LDM_OP_silu_backward, (int[]){z, G}, 2, &dz, 1, &sp, sizeof sp, "silu_backward");
    }
    G = ldm_grad_of(g, z);
    if (G < 0) return LDM_OK;
  }
  if (p.sB == 0 && p.batch > 1 && g->t[B].requires_grad)
    return LDM_GRAPH_FAIL(g, LDM_ERR_INTERNAL, "gemm backward: gradient of a batch-broadcast B is not supported");
  ldm_gemm_args base = {0, 0, (int)p.batch, p.alpha, 0, 0};
  int acc, dA = ldm_grad_in(g, ni, 0, &acc);
  if (dA >= 0) {
    ldm_gemm_args a = base;
    a.accumulate = acc;
    if (!p.ta) { /* dA[M,K] = G[M,N] op(B)^T */
      a.ta = 0;
      a.tb = !p.tb;
      ldm_gemm(g, G, B, -1, dA, p.M, p.K, p.N, a);
    } else { /* dA[K,M] = op(B)[K,N] G^T */
      a.ta = (int)p.tb;
      a.tb = 1;
      ldm_gemm(g, B, G, -1, dA, p.K, p.M, p.N, a);
    }
  }
  int dB = ldm_grad_in(g, ni, 1, &acc);
  if (dB >= 0) {
    ldm_gemm_args b = base;
    b.accumulate = acc;
    if (!p.tb) { /* dB[K,N] = op(A)^T G */
      b.ta = !p.ta;
      b.tb = 0;
      ldm_gemm(g, A, G, -1, dB, p.K, p.N, p.M, b);
    } else { /* dB[N,K] = G^T op(A) */
      b.ta = 1;
      b.tb = (int)p.ta;
      ldm_gemm(g, G, A, -1, dB, p.N, p.K, p.M, b);
    }
  }
  int db = p.bias_mode != LDM_BIAS_NONE ? ldm_grad_in(g, ni, 2, &acc) : LDM_NONE;
  if (db >= 0) {
    if (p.bias_mode == LDM_BIAS_COLS)
      ldm_reduce_sum(g, G, db, (int64_t)p.batch * p.M, p.N, 1, 1.0f, acc);
    else
      ldm_reduce_sum(g, G, db, p.batch, p.M, p.N, 1.0f, acc);
  }
  return LDM_OK;
}

int ldm_gemm(ldm_graph *g, int a, int b, int bias, int out, int64_t M, int64_t N, int64_t K, ldm_gemm_args args) {
  return ldm_gemm_act(g, a, b, bias, out, M, N, K, args, LDM_GEMM_ACT_NONE);
}
int ldm_gemm_act(ldm_graph *g, int a, int b, int bias, int out, int64_t M, int64_t N, int64_t K, ldm_gemm_args args,
                 int act) {
  LDM_INPUTS(g, a, b, out);
  if (bias != LDM_NONE) LDM_INPUTS(g, bias); /* optional */
  int batch = args.batch > 0 ? args.batch : 1;
  int64_t na = g->t[a].numel, nb = g->t[b].numel, nc = g->t[out].numel;
  int bcastB = nb == N * K && batch > 1;
  if (na != batch * M * K || (nb != batch * N * K && !bcastB) || nc != batch * M * N)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "gemm %s x %s -> %s: sizes do not match M=%lld N=%lld K=%lld batch=%d",
                      g->t[a].name, g->t[b].name, g->t[out].name, (long long)M, (long long)N, (long long)K, batch);
  if (M * K > UINT32_MAX || N * K > UINT32_MAX || M * N > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "gemm: matrices over 2^32 elements");
  if (act != LDM_GEMM_ACT_NONE && (act != LDM_GEMM_ACT_SILU || args.accumulate))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "gemm -> %s: activation %d (SiLU only, and not with accumulate)",
                      g->t[out].name, act);
  int mode = bias < 0 ? LDM_BIAS_NONE : args.bias_rows ? LDM_BIAS_ROWS : LDM_BIAS_COLS;
  if (bias >= 0 && g->t[bias].numel != (mode == LDM_BIAS_ROWS ? M : N))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "gemm: bias %s has %lld elements", g->t[bias].name,
                      (long long)g->t[bias].numel);
  ldm_pc_gemm pc = {(uint32_t)M, (uint32_t)N, (uint32_t)K, (uint32_t)batch, (uint32_t)!!args.ta, (uint32_t)!!args.tb,
                    (uint32_t)mode, (uint32_t)!!args.accumulate, args.alpha, (uint32_t)(M * K),
                    (uint32_t)(bcastB ? 0 : N * K), (uint32_t)(M * N), (uint32_t)act};
  int in[3] = {a, b, bias >= 0 ? bias : a};
  int outs[4] = {out, LDM_NONE, LDM_NONE, LDM_NONE}, nout = 1;
  if (act) { /* the pre-activation z, out's shape: saved for the backward (silu'(z)) */
    int64_t shape[LDM_MAX_DIMS];
    memcpy(shape, g->t[out].shape, sizeof shape);
    outs[nout++] = ldm_new_act(g, "gemm_preact", g->t[out].ndim, shape);
  }
  nout = gemm_split_outputs(g, &pc, outs, nout);
  return ldm_node_emit(g, LDM_OP_gemm, in, 3, outs, nout, &pc, sizeof pc, "gemm");
}

int ldm_linear_op(ldm_graph *g, int x, int w, int bias) {
  LDM_INPUTS(g, x, w);
  int64_t in = g->t[w].shape[1], outf = g->t[w].shape[0];
  int64_t B = g->t[x].numel / in;
  int out = ldm_new_act(g, "linear", 2, LDM_SHAPE(B, outf));
  ldm_gemm_args a = {0, 1, 1, 1.0f, 0, 0};
  return ldm_gemm(g, x, w, bias, out, B, outf, in, a);
}
int ldm_linear_act(ldm_graph *g, int x, int w, int bias, int act) {
  LDM_INPUTS(g, x, w);
  int64_t in = g->t[w].shape[1], outf = g->t[w].shape[0];
  int64_t B = g->t[x].numel / in;
  int out = ldm_new_act(g, act ? "silu" : "linear", 2, LDM_SHAPE(B, outf));
  ldm_gemm_args a = {0, 1, 1, 1.0f, 0, 0};
  return ldm_gemm_act(g, x, w, bias, out, B, outf, in, a, act);
}

const ldm_op_desc ldm_op_desc_gemm = {"gemm", ldm_cpu_gemm, ldm_plan_gemm, ldm_bwd_gemm};

/* ================================================================= broadcast */
/* out[o][j][i] (+)= alpha * x[o % xO][j]: the gradient of reduce_sum, and the per-channel (xO = 1) or
 * per-sample-per-channel (xO = O) broadcast of a bias or time embedding over a feature map. */
int ldm_broadcast(ldm_graph *g, int x, int out, int64_t O, int64_t J, int64_t I, int64_t xO, float alpha,
                  int accumulate) {
  LDM_INPUTS(g, x, out);
  if (g->t[x].numel != xO * J || g->t[out].numel != O * J * I || (xO != 1 && xO != O))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "broadcast %s -> %s: [%lld,%lld] does not fit [%lld,%lld,%lld]",
                      g->t[x].name, g->t[out].name, (long long)xO, (long long)J, (long long)O, (long long)J,
                      (long long)I);
  ldm_pc_broadcast pc = {(uint32_t)O, (uint32_t)J, (uint32_t)I, (uint32_t)xO, alpha, (uint32_t)accumulate};
  return ldm_node_emit(g, LDM_OP_broadcast, &x, 1, &out, 1, &pc, sizeof pc, "broadcast");
}
ldm_status ldm_bwd_broadcast(ldm_graph *g, int ni) {
  ldm_pc_broadcast p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int dy = ldm_grad_out(g, ni, 0), acc, dx = ldm_grad_in(g, ni, 0, &acc);
  if (p.xO == 1)
    ldm_reduce_sum(g, dy, dx, p.O, p.J, p.I, p.alpha, acc);
  else
    ldm_reduce_sum(g, dy, dx, 1, (int64_t)p.O * p.J, p.I, p.alpha, acc);
  return LDM_OK;
}
const ldm_op_desc ldm_op_desc_broadcast = {"broadcast", ldm_cpu_broadcast, ldm_plan_broadcast, ldm_bwd_broadcast};

ldm_status ldm_bwd_reduce_sum(ldm_graph *g, int ni) {
  ldm_pc_reduce_sum r;
  memcpy(&r, g->n[ni].pc, sizeof r);
  int dy = ldm_grad_out(g, ni, 0), acc, dx = ldm_grad_in(g, ni, 0, &acc);
  ldm_broadcast(g, dy, dx, r.O, r.J, r.I, 1, r.scale, acc);
  return LDM_OK;
}

/* ================================================================= SGD / AdamW */
int ldm_sgd(ldm_graph *g, int p, int grad, int step) {
  LDM_INPUTS(g, p, grad, step);
  ldm_pc_sgd pc = {(uint32_t)g->t[p].numel};
  return ldm_node_emit(g, LDM_OP_sgd, (int[]){grad, step}, 2, &p, 1, &pc, sizeof pc, "sgd");
}
const ldm_op_desc ldm_op_desc_sgd = {"sgd", ldm_cpu_sgd, ldm_plan_1d_n, NULL};

int ldm_adamw(ldm_graph *g, int p, int grad, int m, int v, int step, float beta1, float beta2, float eps,
              float weight_decay) {
  LDM_INPUTS(g, p, grad, m, v, step);
  int64_t np = g->t[p].numel;
  if (g->t[grad].numel != np || g->t[m].numel != np || g->t[v].numel != np)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "adamw: parameter, gradient and moments differ in size");
  ldm_pc_adamw pc = {(uint32_t)np, beta1, beta2, eps, weight_decay, 0};
  return ldm_node_emit(g, LDM_OP_adamw, (int[]){step, step}, 2, (int[]){p, m, v, grad}, 4, &pc, sizeof pc, "adamw");
}
const ldm_op_desc ldm_op_desc_adamw = {"adamw", ldm_cpu_adamw, ldm_plan_1d_n, NULL};
