/* Graph builders of ldm-vk ops. Each appends node(s) to the graph and returns the output tensor id
 * (or -1 with the thread error set). Builders are backend independent; the CPU twin and the shader of
 * each op compute the same function (see docs/ops.md). */
#ifndef LDM_OPS_H
#define LDM_OPS_H
#include "ldm/graph.h"

/* ---- basic family (src/ops/basic.c) ---- */
/* out[0..n) = value (u32 bit pattern when as_bits) */
int ldm_fill(ldm_graph *g, int out, float value);
/* out = in (same numel), elementwise copy */
int ldm_copy(ldm_graph *g, int in, int out);
/* Philox random fill of out: dist 0 = raw u32, 1 = uniform (0,1), 2 = standard normal.
 * The counter base is pc.base + step[LDM_STEP_RNG_LO/HI] when step >= 0 (fresh numbers each replay). */
enum { LDM_RNG_U32 = 0, LDM_RNG_UNIFORM = 1, LDM_RNG_NORMAL = 2 };
int ldm_philox_fill(ldm_graph *g, int out, int step, int dist, uint64_t seed, uint64_t stream, uint64_t base);

/* elementwise binary ops on equal-numel tensors; out = a op b */
enum { LDM_EW_ADD = 0, LDM_EW_SUB = 1, LDM_EW_MUL = 2 };
int ldm_add(ldm_graph *g, int a, int b);
int ldm_sub(ldm_graph *g, int a, int b);
int ldm_mul(ldm_graph *g, int a, int b);
int ldm_ew_binary(ldm_graph *g, int kind, int a, int b, int out, int accumulate);
/* out = alpha * x (+ out when accumulate) */
int ldm_scale(ldm_graph *g, int x, float alpha);
int ldm_ew_scale(ldm_graph *g, int x, int out, float alpha, int accumulate);

int ldm_silu(ldm_graph *g, int x);

/* General reduction over a [O, J, I] view of x: out[j] (+)= scale * sum_{o,i} x[o][j][i].
 * Deterministic fixed-order tree, no atomics. */
int ldm_reduce_sum(ldm_graph *g, int x, int out, int64_t O, int64_t J, int64_t I, float scale, int accumulate);
/* out[o][j][i] (+)= alpha * x[o % xO][j] with xO = 1 (per-channel) or O (per-sample-per-channel) */
int ldm_broadcast(ldm_graph *g, int x, int out, int64_t O, int64_t J, int64_t I, int64_t xO, float alpha, int accumulate);
int ldm_sum(ldm_graph *g, int x);  /* scalar sum */
int ldm_mean(ldm_graph *g, int x); /* scalar mean */

/* scalar mean((a-b)^2); gradient flows to a (and b if it requires grad) */
int ldm_mse_loss(ldm_graph *g, int a, int b);

/* GEMM: C[b] = alpha * op(A[b]) @ op(B[b]) (+ bias) (+ C when accumulate).
 * A is [M,K] (or [K,M] when ta), B is [K,N] (or [N,K] when tb), all row-major and contiguous per
 * batch. bias (or -1) is a vector of N (bias_rows=0) or M (bias_rows=1). */
typedef struct ldm_gemm_args {
  int ta, tb;
  int batch;
  float alpha;
  int accumulate;
  int bias_rows;
} ldm_gemm_args;
int ldm_gemm(ldm_graph *g, int a, int b, int bias, int out, int64_t M, int64_t N, int64_t K, ldm_gemm_args args);
/* Linear layer as in PyTorch: x [B, in] @ W^T ([out, in]) + b -> [B, out] */
int ldm_linear_op(ldm_graph *g, int x, int w, int bias);

/* ---- optimizers (src/ops/basic.c) ---- */
/* SGD: p -= lr * g (lr from step[LDM_STEP_LR]) */
int ldm_sgd(ldm_graph *g, int p, int grad, int step);
/* AdamW over whole (flat) tensors: decoupled weight decay, bias corrections from the step buffer. */
int ldm_adamw(ldm_graph *g, int p, int grad, int m, int v, int step, float beta1, float beta2, float eps,
              float weight_decay);

#endif
