/* Basic op family: fill, copy, Philox fill, elementwise, SiLU, reductions, MSE, GEMM, SGD, AdamW.
 * Each op: graph builder, CPU twin (the reference), Vulkan launch plan, autodiff rule. */
#include "ops/basic.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "cpu/fastmath.h"
#include "cpu/pool.h"
#include "ldm/log.h"
#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "ops/builder.h"

#define F(i) ((float *)buf[i])
#define U(i) ((uint32_t *)buf[i])
#define PC(type) const type *p = (const type *)n->pc

#define new_like ldm_new_like
static int scalar_act(ldm_graph *g, const char *what) { return ldm_new_act(g, what, 1, LDM_SHAPE(1)); }

/* ================================================================= fill */
int ldm_fill(ldm_graph *g, int out, float value) {
  LDM_INPUTS(g, out);
  ldm_pc_fill pc = {value, (uint32_t)g->t[out].numel};
  return ldm_node_emit(g, LDM_OP_fill, NULL, 0, &out, 1, &pc, sizeof pc, "fill");
}
static void cpu_fill(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_fill);
  for (uint32_t i = 0; i < p->n; i++) F(0)[i] = p->value;
}
static void plan_fill(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "fill", ((const ldm_pc_fill *)n->pc)->n);
}
const ldm_op_desc ldm_op_desc_fill = {"fill", cpu_fill, plan_fill, NULL, 0};

/* ================================================================= copy */
static ldm_status bwd_copy(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  int acc, dx = ldm_grad_target(g, n.in[0], &acc);
  ldm_ew_scale(g, ldm_grad_of(g, n.out[0]), dx, 1.0f, acc);
  return LDM_OK;
}
int ldm_copy(ldm_graph *g, int in, int out) {
  LDM_INPUTS(g, in, out);
  if (g->t[in].numel != g->t[out].numel)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "copy: %s and %s differ in size", g->t[in].name, g->t[out].name);
  ldm_pc_copy pc = {(uint32_t)g->t[in].numel};
  return ldm_node_emit(g, LDM_OP_copy, &in, 1, &out, 1, &pc, sizeof pc, "copy");
}
static void cpu_copy(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_copy);
  memmove(buf[1], buf[0], (size_t)p->n * 4);
}
const ldm_op_desc ldm_op_desc_copy = {"copy", cpu_copy, ldm_plan_1d_n, bwd_copy, 0};

/* ================================================================= philox_fill */
int ldm_philox_fill(ldm_graph *g, int out, int step, int dist, uint64_t seed, uint64_t stream, uint64_t base) {
  LDM_INPUTS(g, out);
  ldm_pc_philox_fill pc = {(uint32_t)g->t[out].numel, (uint32_t)dist, (uint32_t)seed, (uint32_t)(seed >> 32),
                           (uint32_t)stream, (uint32_t)(stream >> 32), (uint32_t)base, (uint32_t)(base >> 32),
                           step >= 0};
  int in = step >= 0 ? step : out; /* unused binding when there is no step buffer */
  return ldm_node_emit(g, LDM_OP_philox_fill, &in, 1, &out, 1, &pc, sizeof pc, "philox_fill");
}
static void cpu_philox_fill(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_philox_fill);
  uint64_t base = ((uint64_t)p->base_hi << 32) | p->base_lo;
  if (p->use_step) base += ((uint64_t)U(0)[LDM_STEP_RNG_HI] << 32) | U(0)[LDM_STEP_RNG_LO];
  uint32_t *o = U(1);
  for (uint32_t b = 0; b < (p->n + 3) / 4; b++) {
    uint32_t v[4];
    uint64_t seed = ((uint64_t)p->seed_hi << 32) | p->seed_lo, stream = ((uint64_t)p->stream_hi << 32) | p->stream_lo;
    if (p->dist == LDM_RNG_NORMAL) {
      float f[4];
      ldm_rng_normal4(seed, stream, base, b, f);
      memcpy(v, f, sizeof v);
    } else {
      ldm_rng_block(seed, stream, base, b, v);
      if (p->dist == LDM_RNG_UNIFORM)
        for (int k = 0; k < 4; k++) {
          float f = ldm_u32_to_unit(v[k]);
          memcpy(&v[k], &f, 4);
        }
    }
    for (uint32_t k = 0; k < 4 && 4 * b + k < p->n; k++) o[4 * b + k] = v[k];
  }
}
static void plan_philox_fill(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  ldm_launch_1d(l, "philox_fill", (((const ldm_pc_philox_fill *)n->pc)->n + 3) / 4);
}
const ldm_op_desc ldm_op_desc_philox_fill = {"philox_fill", cpu_philox_fill, plan_philox_fill, NULL, 1e-10};

/* ================================================================= elementwise binary */
static ldm_status bwd_ew_binary(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_ew_binary pcv;
  memcpy(&pcv, g->n[ni].pc, sizeof pcv);
  const ldm_pc_ew_binary *p = &pcv;
  ldm_pc_ew_binary pc = *p;
  int dy = ldm_grad_of(g, n.out[0]);
  for (int k = 0; k < 2; k++) {
    int x = n.in[k];
    if (!g->t[x].requires_grad) continue;
    int acc, dx = ldm_grad_target(g, x, &acc);
    if (pc.kind == LDM_EW_MUL)
      ldm_ew_binary(g, LDM_EW_MUL, dy, n.in[1 - k], dx, acc);
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
static void cpu_ew_binary(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_ew_binary);
  const float *a = F(0), *b = F(1);
  float *o = F(2);
  for (uint32_t i = 0; i < p->n; i++) {
    float r = p->kind == LDM_EW_ADD ? a[i] + b[i] : p->kind == LDM_EW_SUB ? a[i] - b[i] : a[i] * b[i];
    o[i] = p->accumulate ? o[i] + r : r;
  }
}
const ldm_op_desc ldm_op_desc_ew_binary = {"ew_binary", cpu_ew_binary, ldm_plan_1d_n, bwd_ew_binary, 1e-12};

/* ================================================================= scale */
static ldm_status bwd_ew_scale(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_ew_scale pcv;
  memcpy(&pcv, g->n[ni].pc, sizeof pcv);
  const ldm_pc_ew_scale *p = &pcv;
  float alpha = p->alpha;
  int acc, dx = ldm_grad_target(g, n.in[0], &acc);
  ldm_ew_scale(g, ldm_grad_of(g, n.out[0]), dx, alpha, acc);
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
static void cpu_ew_scale(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_ew_scale);
  const float *x = F(0);
  float *o = F(1);
  for (uint32_t i = 0; i < p->n; i++) o[i] = p->accumulate ? o[i] + p->alpha * x[i] : p->alpha * x[i];
}
const ldm_op_desc ldm_op_desc_ew_scale = {"ew_scale", cpu_ew_scale, ldm_plan_1d_n, bwd_ew_scale, 1e-12};

/* ================================================================= SiLU */
static ldm_status bwd_silu(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  int acc, dx = ldm_grad_target(g, n.in[0], &acc);
  ldm_pc_silu_backward pc = {(uint32_t)g->t[n.in[0]].numel, (uint32_t)acc};
  ldm_node_add(g, LDM_OP_silu_backward, (int[]){n.in[0], ldm_grad_of(g, n.out[0])}, 2, &dx, 1, &pc, sizeof pc,
               "silu_backward");
  return LDM_OK;
}
int ldm_silu(ldm_graph *g, int x) {
  LDM_INPUTS(g, x);
  int out = new_like(g, x, "silu");
  ldm_pc_silu pc = {(uint32_t)g->t[x].numel};
  return ldm_node_emit(g, LDM_OP_silu, &x, 1, &out, 1, &pc, sizeof pc, "silu");
}
typedef struct {
  const float *x, *dy;
  float *out;
  uint32_t accumulate;
} silu_ctx;
static void silu_range(void *vc, int64_t i0, int64_t i1) {
  const silu_ctx *c = vc;
  for (int64_t i = i0; i < i1; i++) c->out[i] = c->x[i] / (1.0f + ldm_expf(-c->x[i]));
}
static void silu_backward_range(void *vc, int64_t i0, int64_t i1) {
  const silu_ctx *c = vc;
  for (int64_t i = i0; i < i1; i++) {
    float s = 1.0f / (1.0f + ldm_expf(-c->x[i]));
    float d = c->dy[i] * s * (1.0f + c->x[i] * (1.0f - s));
    c->out[i] = c->accumulate ? c->out[i] + d : d;
  }
}
/* elementwise: split across threads in chunks of at least 16 Ki elements (each element computed once) */
static void cpu_silu(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_silu);
  silu_ctx c = {F(0), NULL, F(1), 0};
  ldm_parallel_for(p->n, 1 << 14, silu_range, &c);
}
static void cpu_silu_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_silu_backward);
  silu_ctx c = {F(0), F(1), F(2), p->accumulate};
  ldm_parallel_for(p->n, 1 << 14, silu_backward_range, &c);
}
const ldm_op_desc ldm_op_desc_silu = {"silu", cpu_silu, ldm_plan_1d_n, bwd_silu, 1e-10};
const ldm_op_desc ldm_op_desc_silu_backward = {"silu_backward", cpu_silu_backward, ldm_plan_1d_n, NULL, 1e-10};

/* ================================================================= reduce_sum */
static ldm_status bwd_reduce_sum(ldm_graph *g, int ni);
int ldm_reduce_sum(ldm_graph *g, int x, int out, int64_t O, int64_t J, int64_t I, float scale, int accumulate) {
  LDM_INPUTS(g, x, out);
  if (O * J * I != g->t[x].numel || g->t[out].numel != J)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "reduce_sum: [%lld,%lld,%lld] does not match %s / %s", (long long)O,
                      (long long)J, (long long)I, g->t[x].name, g->t[out].name);
  ldm_pc_reduce_sum pc = {(uint32_t)O, (uint32_t)J, (uint32_t)I, scale, (uint32_t)accumulate};
  return ldm_node_emit(g, LDM_OP_reduce_sum, &x, 1, &out, 1, &pc, sizeof pc, "reduce_sum");
}
int ldm_sum(ldm_graph *g, int x) {
  LDM_INPUTS(g, x);
  return ldm_reduce_sum(g, x, scalar_act(g, "sum"), 1, 1, g->t[x].numel, 1.0f, 0);
}
int ldm_mean(ldm_graph *g, int x) {
  LDM_INPUTS(g, x);
  return ldm_reduce_sum(g, x, scalar_act(g, "mean"), 1, 1, g->t[x].numel, 1.0f / (float)g->t[x].numel, 0);
}
typedef struct {
  const ldm_pc_reduce_sum *p;
  const float *x;
  float *o;
} reduce_ctx;
static void reduce_rows(void *vc, int64_t j0, int64_t j1) {
  const reduce_ctx *c = vc;
  const ldm_pc_reduce_sum *p = c->p;
  for (int64_t j = j0; j < j1; j++) {
    double s = 0;
    for (uint32_t o = 0; o < p->O; o++) {
      const float *r = c->x + ((int64_t)o * p->J + j) * p->I;
      for (uint32_t i = 0; i < p->I; i++) s += r[i];
    }
    float v = (float)(s * p->scale);
    c->o[j] = p->accumulate ? c->o[j] + v : v;
  }
}
static void cpu_reduce_sum(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  reduce_ctx c = {(const ldm_pc_reduce_sum *)n->pc, F(0), F(1)};
  ldm_parallel_for(c.p->J, 4, reduce_rows, &c);
}
static void plan_reduce_sum(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_reduce_sum);
  uint64_t terms = (uint64_t)p->O * p->I;
  if (terms <= 32 || (p->J > 16384 && terms <= 4096)) {
    ldm_launch_1d(l, "reduce_sum", p->J);
    l->spec[1] = 1; /* SERIAL */
    l->nspec = 2;
    return;
  }
  l->shader = "reduce_sum";
  l->spec[0] = 256;
  l->spec[1] = 0;
  l->nspec = 2;
  l->groups[0] = p->J < 65535 ? p->J : 65535;
  l->groups[1] = (p->J + 65534) / 65535;
  l->groups[2] = 1;
}
const ldm_op_desc ldm_op_desc_reduce_sum = {"reduce_sum", cpu_reduce_sum, plan_reduce_sum, bwd_reduce_sum, 1e-9};

/* ================================================================= MSE */
static ldm_status bwd_mse(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  int dl = ldm_grad_of(g, n.out[0]);
  for (int k = 0; k < 2; k++) {
    int x = n.in[k];
    if (!g->t[x].requires_grad) continue;
    int acc, dx = ldm_grad_target(g, x, &acc);
    ldm_pc_mse_loss_backward pc = {(uint32_t)g->t[x].numel, 2.0f / (float)g->t[x].numel, (uint32_t)acc};
    ldm_node_add(g, LDM_OP_mse_loss_backward, (int[]){x, n.in[1 - k], dl}, 3, &dx, 1, &pc, sizeof pc,
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
static void cpu_mse_loss(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_mse_loss);
  double s = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    double d = (double)F(0)[i] - F(1)[i];
    s += d * d;
  }
  F(2)[0] = (float)(s * p->inv_n);
}
static void cpu_mse_loss_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_mse_loss_backward);
  const float *a = F(0), *b = F(1);
  float gs = p->scale * F(2)[0];
  float *o = F(3);
  for (uint32_t i = 0; i < p->n; i++) {
    float d = gs * (a[i] - b[i]);
    o[i] = p->accumulate ? o[i] + d : d;
  }
}
static void plan_mse_loss(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  l->shader = "mse_loss";
  l->spec[0] = 256;
  l->nspec = 1;
  l->groups[0] = l->groups[1] = l->groups[2] = 1;
}
const ldm_op_desc ldm_op_desc_mse_loss = {"mse_loss", cpu_mse_loss, plan_mse_loss, bwd_mse, 1e-9};
const ldm_op_desc ldm_op_desc_mse_loss_backward = {"mse_loss_backward", cpu_mse_loss_backward,
                                                   ldm_plan_1d_n, NULL, 1e-10};

/* ================================================================= GEMM */
static ldm_status bwd_gemm(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_gemm p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int G = ldm_grad_of(g, n.out[0]);
  int A = n.in[0], B = n.in[1];
  if (p.sB == 0 && p.batch > 1 && g->t[B].requires_grad)
    return LDM_GRAPH_FAIL(g, LDM_ERR_INTERNAL, "gemm backward: gradient of a batch-broadcast B is not supported");
  ldm_gemm_args base = {0, 0, (int)p.batch, p.alpha, 0, 0};
  if (g->t[A].requires_grad) {
    int acc, dA = ldm_grad_target(g, A, &acc);
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
  if (g->t[B].requires_grad) {
    int acc, dB = ldm_grad_target(g, B, &acc);
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
  if (p.bias_mode != LDM_BIAS_NONE && g->t[n.in[2]].requires_grad) {
    int acc, db = ldm_grad_target(g, n.in[2], &acc);
    if (p.bias_mode == LDM_BIAS_COLS)
      ldm_reduce_sum(g, G, db, (int64_t)p.batch * p.M, p.N, 1, 1.0f, acc);
    else
      ldm_reduce_sum(g, G, db, p.batch, p.M, p.N, 1.0f, acc);
  }
  return LDM_OK;
}

int ldm_gemm(ldm_graph *g, int a, int b, int bias, int out, int64_t M, int64_t N, int64_t K, ldm_gemm_args args) {
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
  int mode = bias < 0 ? LDM_BIAS_NONE : args.bias_rows ? LDM_BIAS_ROWS : LDM_BIAS_COLS;
  if (bias >= 0 && g->t[bias].numel != (mode == LDM_BIAS_ROWS ? M : N))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "gemm: bias %s has %lld elements", g->t[bias].name,
                      (long long)g->t[bias].numel);
  ldm_pc_gemm pc = {(uint32_t)M, (uint32_t)N, (uint32_t)K, (uint32_t)batch, (uint32_t)!!args.ta, (uint32_t)!!args.tb,
                    (uint32_t)mode, (uint32_t)!!args.accumulate, args.alpha, (uint32_t)(M * K),
                    (uint32_t)(bcastB ? 0 : N * K), (uint32_t)(M * N)};
  int in[3] = {a, b, bias >= 0 ? bias : a};
  return ldm_node_emit(g, LDM_OP_gemm, in, 3, &out, 1, &pc, sizeof pc, "gemm");
}

int ldm_linear_op(ldm_graph *g, int x, int w, int bias) {
  LDM_INPUTS(g, x, w);
  int64_t in = g->t[w].shape[1], outf = g->t[w].shape[0];
  int64_t B = g->t[x].numel / in;
  int out = ldm_new_act(g, "linear", 2, LDM_SHAPE(B, outf));
  ldm_gemm_args a = {0, 1, 1, 1.0f, 0, 0};
  return ldm_gemm(g, x, w, bias, out, B, outf, in, a);
}

typedef struct {
  const ldm_pc_gemm *p;
  const float *A, *B, *bias;
  float *C;
  float *pa, *pb; /* packed row-major op(A) [M,K] and op(B) [K,N] of the current batch */
} gemm_ctx;

/* rows [i0,i1) of C = alpha * pa @ pb (+ bias) (+ C) */
static void gemm_rows(void *vc, int64_t i0, int64_t i1) {
  const gemm_ctx *c = vc;
  const ldm_pc_gemm *p = c->p;
  const int64_t N = p->N, K = p->K;
  enum { NB = 512, KB = 256 };
  float acc[4][NB];
  for (int64_t i = i0; i < i1; i += 4) {
    int rows = (int)(i1 - i < 4 ? i1 - i : 4);
    for (int64_t j0 = 0; j0 < N; j0 += NB) {
      int64_t nj = N - j0 < NB ? N - j0 : NB;
      for (int r = 0; r < rows; r++)
        for (int64_t j = 0; j < nj; j++) acc[r][j] = 0.0f;
      for (int64_t k0 = 0; k0 < K; k0 += KB) {
        int64_t k1 = K < k0 + KB ? K : k0 + KB;
        for (int64_t k = k0; k < k1; k++) {
          const float *brow = c->pb + k * N + j0;
          for (int r = 0; r < rows; r++) {
            float a = c->pa[(i + r) * K + k];
            float *ar = acc[r];
            for (int64_t j = 0; j < nj; j++) ar[j] += a * brow[j];
          }
        }
      }
      for (int r = 0; r < rows; r++) {
        float *crow = c->C + (i + r) * N + j0;
        for (int64_t j = 0; j < nj; j++) {
          float v = p->alpha * acc[r][j];
          if (p->bias_mode == LDM_BIAS_COLS) v += c->bias[j0 + j];
          else if (p->bias_mode == LDM_BIAS_ROWS) v += c->bias[i + r];
          crow[j] = p->accumulate ? crow[j] + v : v;
        }
      }
    }
  }
}

/* row blocks of 4 */
static void gemm_blocks(void *vc, int64_t b0, int64_t b1) {
  const gemm_ctx *c = vc;
  int64_t i1 = b1 * 4 < (int64_t)c->p->M ? b1 * 4 : (int64_t)c->p->M;
  gemm_rows(vc, b0 * 4, i1);
}

static void pack_operands(const ldm_pc_gemm *p, const float *A, const float *B, float *pa, float *pb) {
  int64_t M = p->M, N = p->N, K = p->K;
  if (p->ta)
    for (int64_t i = 0; i < M; i++)
      for (int64_t k = 0; k < K; k++) pa[i * K + k] = A[k * M + i];
  else
    memcpy(pa, A, (size_t)(M * K) * 4);
  if (p->tb)
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < N; j++) pb[k * N + j] = B[j * K + k];
  else
    memcpy(pb, B, (size_t)(K * N) * 4);
}

typedef struct {
  const ldm_pc_gemm *p;
  void *const *buf;
} gemm_batches_ctx;

/* many small matrices (attention heads): whole batches per thread, each with its own packing buffers */
static void gemm_batches(void *vc, int64_t b0, int64_t b1) {
  const gemm_batches_ctx *c = vc;
  const ldm_pc_gemm *p = c->p;
  void *const *buf = c->buf;
  float *pa = malloc((size_t)(p->M * p->K) * 4), *pb = malloc((size_t)(p->K * p->N) * 4);
  if (!pa || !pb) {
    ldm_log(LDM_LOG_ERROR, "ldm-vk: out of host memory in the CPU GEMM");
    abort();
  }
  for (int64_t b = b0; b < b1; b++) {
    const float *A = F(0) + b * p->sA, *B = F(1) + b * p->sB;
    pack_operands(p, A, B, pa, pb);
    gemm_ctx g = {p, A, B, F(2), F(3) + b * p->sC, pa, pb};
    gemm_rows(&g, 0, p->M);
  }
  free(pa);
  free(pb);
}

static void cpu_gemm(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_gemm);
  int64_t M = p->M, N = p->N, K = p->K;
  if (p->batch > 1 && M * N * K < (1 << 22) && p->sC != 0) {
    gemm_batches_ctx c = {p, buf};
    ldm_parallel_for(p->batch, 1, gemm_batches, &c);
    return;
  }
  float *pa = ldm_malloc((size_t)(M * K) * 4), *pb = ldm_malloc((size_t)(K * N) * 4);
  if (!pa || !pb) { /* the reference backend cannot report from here; fail loudly */
    ldm_log(LDM_LOG_ERROR, "ldm-vk: out of host memory in the CPU GEMM");
    abort();
  }
  for (uint32_t b = 0; b < p->batch; b++) {
    const float *A = F(0) + (int64_t)b * p->sA, *B = F(1) + (int64_t)b * p->sB;
    pack_operands(p, A, B, pa, pb);
    gemm_ctx c = {p, A, B, F(2), F(3) + (int64_t)b * p->sC, pa, pb};
    ldm_parallel_for((M + 3) / 4, 2, gemm_blocks, &c);
  }
  free(pa);
  free(pb);
}

static void plan_gemm(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_gemm);
  /* tiled kernel: 64x64 tile, 16-deep K slab, 256 threads each 4x4; needs 2*64*16*4 = 8 KiB shared */
  const uint32_t need_shared = 2 * 64 * 16 * 4;
  bool naive = lim->max_shared < need_shared || lim->max_wg_invocations < 256;
  if (lim->gemm_naive) naive = true;
  l->nspec = 0;
  if (naive) {
    l->shader = "gemm_naive";
    l->spec[0] = 16;
    l->spec[1] = 16;
    l->nspec = 2;
    l->groups[0] = (p->N + 15) / 16;
    l->groups[1] = (p->M + 15) / 16;
  } else {
    l->shader = "gemm";
    l->groups[0] = (p->N + 63) / 64;
    l->groups[1] = (p->M + 63) / 64;
  }
  l->groups[2] = p->batch;
}
const ldm_op_desc ldm_op_desc_gemm = {"gemm", cpu_gemm, plan_gemm, bwd_gemm, 1e-6};

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
static ldm_status bwd_broadcast(ldm_graph *g, int ni) {
  ldm_pc_broadcast p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int x = g->n[ni].in[0], dy = ldm_grad_of(g, g->n[ni].out[0]);
  int acc, dx = ldm_grad_target(g, x, &acc);
  if (p.xO == 1)
    ldm_reduce_sum(g, dy, dx, p.O, p.J, p.I, p.alpha, acc);
  else
    ldm_reduce_sum(g, dy, dx, 1, (int64_t)p.O * p.J, p.I, p.alpha, acc);
  return LDM_OK;
}
static void cpu_broadcast(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_broadcast);
  const float *x = F(0);
  float *o = F(1);
  for (uint32_t oo = 0; oo < p->O; oo++)
    for (uint32_t j = 0; j < p->J; j++) {
      float v = p->alpha * x[(uint64_t)(oo % p->xO) * p->J + j];
      float *r = o + ((uint64_t)oo * p->J + j) * p->I;
      for (uint32_t i = 0; i < p->I; i++) r[i] = p->accumulate ? r[i] + v : v;
    }
}
static void plan_broadcast(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_broadcast);
  ldm_launch_1d(l, "broadcast", (int64_t)p->O * p->J * p->I);
}
const ldm_op_desc ldm_op_desc_broadcast = {"broadcast", cpu_broadcast, plan_broadcast, bwd_broadcast, 1e-12};

static ldm_status bwd_reduce_sum(ldm_graph *g, int ni) {
  ldm_pc_reduce_sum r;
  memcpy(&r, g->n[ni].pc, sizeof r);
  int x = g->n[ni].in[0], dy = ldm_grad_of(g, g->n[ni].out[0]);
  int acc, dx = ldm_grad_target(g, x, &acc);
  ldm_broadcast(g, dy, dx, r.O, r.J, r.I, 1, r.scale, acc);
  return LDM_OK;
}

/* ================================================================= SGD / AdamW */
int ldm_sgd(ldm_graph *g, int p, int grad, int step) {
  LDM_INPUTS(g, p, grad, step);
  ldm_pc_sgd pc = {(uint32_t)g->t[p].numel};
  return ldm_node_emit(g, LDM_OP_sgd, (int[]){grad, step}, 2, &p, 1, &pc, sizeof pc, "sgd");
}
static void cpu_sgd(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_sgd);
  float lr;
  memcpy(&lr, &U(1)[LDM_STEP_LR], 4);
  for (uint32_t i = 0; i < p->n; i++) F(2)[i] -= lr * F(0)[i];
}
const ldm_op_desc ldm_op_desc_sgd = {"sgd", cpu_sgd, ldm_plan_1d_n, NULL, 1e-10};

int ldm_adamw(ldm_graph *g, int p, int grad, int m, int v, int step, float beta1, float beta2, float eps,
              float weight_decay) {
  LDM_INPUTS(g, p, grad, m, v, step);
  int64_t np = g->t[p].numel;
  if (g->t[grad].numel != np || g->t[m].numel != np || g->t[v].numel != np)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "adamw: parameter, gradient and moments differ in size");
  ldm_pc_adamw pc = {(uint32_t)np, beta1, beta2, eps, weight_decay, 0};
  return ldm_node_emit(g, LDM_OP_adamw, (int[]){step, step}, 2, (int[]){p, m, v, grad}, 4, &pc, sizeof pc, "adamw");
}
/* AdamW consumes the gradient: after the update (or a skipped non-finite step) it is zeroed, so the
 * next step accumulates from zero; a gradient-accumulation micro-step (step[ACCUM_ONLY]) changes nothing. */
static void cpu_adamw(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_adamw);
  const float *st = F(0);
  const float *gs = F(1);
  float *w = F(2), *m = F(3), *v = F(4), *gr = F(5);
  if (U(0)[LDM_STEP_ACCUM_ONLY] != 0) return;
  float gsc = 1.0f;
  if (p->use_gs) {
    if (gs[1] != 0.0f) { /* non-finite gradients: skip the step */
      memset(gr, 0, (size_t)p->n * 4);
      return;
    }
    gsc = gs[0];
  }
  float lr = st[LDM_STEP_LR], bc1 = st[LDM_STEP_BC1], bc2 = st[LDM_STEP_BC2];
  float step_size = lr / bc1, sbc2 = sqrtf(bc2);
  for (uint32_t i = 0; i < p->n; i++) {
    float gi = gr[i] * gsc;
    m[i] = p->beta1 * m[i] + (1.0f - p->beta1) * gi;
    v[i] = p->beta2 * v[i] + (1.0f - p->beta2) * gi * gi;
    float denom = sqrtf(v[i]) / sbc2 + p->eps;
    w[i] = w[i] * (1.0f - lr * p->wd) - step_size * m[i] / denom;
    gr[i] = 0.0f;
  }
}
const ldm_op_desc ldm_op_desc_adamw = {"adamw", cpu_adamw, ldm_plan_1d_n, NULL, 1e-9};
