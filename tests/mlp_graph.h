/* The foundation's small graph: x -> GEMM(+b) -> SiLU -> GEMM(+b) -> MSE(target), AdamW over the
 * whole parameter arena, gradients zeroed after each update. Shared by the CPU and Vulkan suites. */
#ifndef LDM_TEST_MLP_GRAPH_H
#define LDM_TEST_MLP_GRAPH_H
#include <math.h>
#include <string.h>

#include "ldm/backend.h"
#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"

typedef struct {
  ldm_graph g;
  int x, y, w1, b1, w2, b2, loss, step;
} mlp_graph;

enum { MLP_B = 37, MLP_IN = 13, MLP_H = 29, MLP_OUT = 7 };

static inline int mlp_build(mlp_graph *m) {
  ldm_graph *g = &m->g;
  if (ldm_graph_init(g) != LDM_OK) return -1;
  m->step = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  m->x = ldm_act(g, "x", 2, LDM_SHAPE(MLP_B, MLP_IN));
  m->y = ldm_act(g, "y", 2, LDM_SHAPE(MLP_B, MLP_OUT));
  ldm_keep(g, m->x);
  ldm_keep(g, m->y);
  m->w1 = ldm_param(g, "l1.weight", 2, LDM_SHAPE(MLP_H, MLP_IN));
  m->b1 = ldm_param(g, "l1.bias", 1, LDM_SHAPE(MLP_H));
  m->w2 = ldm_param(g, "l2.weight", 2, LDM_SHAPE(MLP_OUT, MLP_H));
  m->b2 = ldm_param(g, "l2.bias", 1, LDM_SHAPE(MLP_OUT));
  int h = ldm_linear_op(g, m->x, m->w1, m->b1);
  int a = ldm_silu(g, h);
  int o = ldm_linear_op(g, a, m->w2, m->b2);
  m->loss = ldm_mse_loss(g, o, m->y);
  if (m->loss < 0) return -1;
  ldm_keep(g, m->loss);
  if (ldm_graph_backward(g, m->loss) != LDM_OK) return -1;
  int P = ldm_arena_view(g, LDM_ARENA_PARAM, "params");
  int G = ldm_arena_view(g, LDM_ARENA_GRAD, "grads");
  int M = ldm_arena_view(g, LDM_ARENA_ADAM_M, "adam_m");
  int V = ldm_arena_view(g, LDM_ARENA_ADAM_V, "adam_v");
  if (ldm_adamw(g, P, G, M, V, m->step, 0.9f, 0.999f, 1e-8f, 0.0f) < 0) return -1;
  if (ldm_fill(g, G, 0.0f) < 0) return -1;
  return ldm_graph_plan(g) == LDM_OK ? 0 : -1;
}

/* seeded data and PyTorch-like uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) init */
static inline ldm_status mlp_init(mlp_graph *m, ldm_exec *e) {
  float buf[MLP_B * MLP_IN > MLP_H * MLP_IN ? MLP_B * MLP_IN : MLP_H * MLP_IN];
  struct { int t; int n; float scale; uint64_t stream; } init[] = {
      {m->x, MLP_B * MLP_IN, 1.0f, 1}, {m->w1, MLP_H * MLP_IN, 1.0f / sqrtf(MLP_IN), 2},
      {m->b1, MLP_H, 1.0f / sqrtf(MLP_IN), 3}, {m->w2, MLP_OUT * MLP_H, 1.0f / sqrtf(MLP_H), 4},
      {m->b2, MLP_OUT, 1.0f / sqrtf(MLP_H), 5}};
  for (size_t k = 0; k < sizeof init / sizeof init[0]; k++) {
    for (int i = 0; i < init[k].n; i++) buf[i] = init[k].scale * (2.0f * ldm_u32_to_unit(ldm_rng_u32(9, init[k].stream, 0, (uint64_t)i)) - 1.0f);
    LDM_TRY(ldm_exec_write(e, init[k].t, buf, (size_t)init[k].n * 4));
  }
  float y[MLP_B * MLP_OUT];
  for (int i = 0; i < MLP_B * MLP_OUT; i++) y[i] = sinf(0.3f * (float)i);
  return ldm_exec_write(e, m->y, y, sizeof y);
}

static inline ldm_status mlp_step(mlp_graph *m, ldm_exec *e, uint32_t t, float lr, float *loss) {
  uint32_t *w = ldm_exec_host_ptr(e, m->step);
  float f;
  w[LDM_STEP_T] = t;
  f = lr; memcpy(&w[LDM_STEP_LR], &f, 4);
  f = 1.0f - powf(0.9f, (float)t); memcpy(&w[LDM_STEP_BC1], &f, 4);
  f = 1.0f - powf(0.999f, (float)t); memcpy(&w[LDM_STEP_BC2], &f, 4);
  LDM_TRY(ldm_exec_run(e));
  return ldm_exec_read(e, m->loss, loss, 4);
}
#endif
