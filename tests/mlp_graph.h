/* The foundation's small graph: x -> GEMM(+b) -> SiLU -> GEMM(+b) -> MSE(target), AdamW over the
 * whole parameter arena, gradients zeroed after each update. Shared by the CPU and Vulkan suites. */
#ifndef LDM_TEST_MLP_GRAPH_H
#define LDM_TEST_MLP_GRAPH_H
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/backend.h"
#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "runtime/runtime.h"

typedef struct {
  ldm_graph g;
  int x, y, w1, b1, w2, b2, loss, step, gs;
  int B;
} mlp_graph;

enum { MLP_B = 37, MLP_IN = 13, MLP_H = 29, MLP_OUT = 7 };

/* clip_tail: the trainer's optimizer tail (grad norm + AdamW reading it, gradients consumed by AdamW)
 * instead of plain AdamW + an explicit zeroing of the gradients */
static inline int mlp_build_ex(mlp_graph *m, int B, bool clip_tail) {
  ldm_graph *g = &m->g;
  if (ldm_graph_init(g) != LDM_OK) return -1;
  m->B = B;
  m->gs = -1;
  m->step = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  m->x = ldm_act(g, "x", 2, LDM_SHAPE(B, MLP_IN));
  m->y = ldm_act(g, "y", 2, LDM_SHAPE(B, MLP_OUT));
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
  const ldm_adamw_cfg *ac = &ldm_adamw_recipe;
  if (clip_tail) {
    m->gs = ldm_host(g, "grad_stats", LDM_F32, 4);
    if (ldm_grad_norm_clip(g, G, m->step, m->gs) < 0) return -1;
    if (ldm_adamw_gs(g, P, G, M, V, m->step, m->gs, ac->beta1, ac->beta2, ac->eps, ac->weight_decay) < 0) return -1;
  } else {
    if (ldm_adamw(g, P, G, M, V, m->step, ac->beta1, ac->beta2, ac->eps, ac->weight_decay) < 0) return -1;
    if (ldm_fill(g, G, 0.0f) < 0) return -1;
  }
  return ldm_graph_plan(g) == LDM_OK ? 0 : -1;
}
static inline int mlp_build(mlp_graph *m) { return mlp_build_ex(m, MLP_B, false); }

/* seeded data and PyTorch-like uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) init */
static inline ldm_status mlp_init(mlp_graph *m, ldm_exec *e) {
  float buf[4 * MLP_B * MLP_IN > MLP_H * MLP_IN ? 4 * MLP_B * MLP_IN : MLP_H * MLP_IN];
  if (m->B > 4 * MLP_B) return LDM_ERR_INVALID_ARG;
  struct { int t; int n; float scale; uint64_t stream; } init[] = {
      {m->x, m->B * MLP_IN, 1.0f, 1}, {m->w1, MLP_H * MLP_IN, 1.0f / sqrtf(MLP_IN), 2},
      {m->b1, MLP_H, 1.0f / sqrtf(MLP_IN), 3}, {m->w2, MLP_OUT * MLP_H, 1.0f / sqrtf(MLP_H), 4},
      {m->b2, MLP_OUT, 1.0f / sqrtf(MLP_H), 5}};
  for (size_t k = 0; k < sizeof init / sizeof init[0]; k++) {
    for (int i = 0; i < init[k].n; i++) buf[i] = init[k].scale * (2.0f * ldm_u32_to_unit(ldm_rng_u32(9, init[k].stream, 0, (uint64_t)i)) - 1.0f);
    LDM_TRY(ldm_exec_write(e, init[k].t, buf, (size_t)init[k].n * 4));
  }
  float y[4 * MLP_B * MLP_OUT];
  for (int i = 0; i < m->B * MLP_OUT; i++) y[i] = sinf(0.3f * (float)i);
  return ldm_exec_write(e, m->y, y, (size_t)m->B * MLP_OUT * 4);
}

static inline ldm_status mlp_step(mlp_graph *m, ldm_exec *e, uint32_t t, float lr, float *loss) {
  uint32_t *w = ldm_exec_host_ptr(e, m->step);
  float f;
  w[LDM_STEP_T] = t;
  f = lr; memcpy(&w[LDM_STEP_LR], &f, 4);
  f = 1.0f - powf(ldm_adamw_recipe.beta1, (float)t); memcpy(&w[LDM_STEP_BC1], &f, 4);
  f = 1.0f - powf(ldm_adamw_recipe.beta2, (float)t); memcpy(&w[LDM_STEP_BC2], &f, 4);
  LDM_TRY(ldm_exec_run(e));
  return ldm_exec_read(e, m->loss, loss, 4);
}

/* Gradient accumulation: one optimizer step on the full batch (2h rows) equals two accumulated
 * micro-steps on its halves (step[ACCUM_ONLY] = 1 then 0, step[INV_ACCUM] = 1/2), and AdamW leaves the
 * gradients zeroed. Returns the largest |update difference| / max |update| over the parameters. */
static inline double mlp_accum_check(ldm_status (*make)(const ldm_graph *, ldm_exec **), int h, bool *grads_zero) {
  mlp_graph full, half;
  if (mlp_build_ex(&full, 2 * h, true) || mlp_build_ex(&half, h, true)) return INFINITY;
  ldm_exec *ef, *eh;
  if (make(&full.g, &ef) != LDM_OK || make(&half.g, &eh) != LDM_OK) return INFINITY;
  if (mlp_init(&full, ef) != LDM_OK || mlp_init(&half, eh) != LDM_OK) return INFINITY;
  size_t psz = (size_t)full.g.arena_size[LDM_ARENA_PARAM];
  float *p0 = malloc(psz), *pf = malloc(psz), *ph = malloc(psz), *gr = malloc(psz);
  float *xf = malloc(2 * (size_t)h * MLP_IN * 4), *yf = malloc(2 * (size_t)h * MLP_OUT * 4);
  double result = INFINITY;
  if (!p0 || !pf || !ph || !gr || !xf || !yf) goto done;
  ldm_exec_read_arena(ef, LDM_ARENA_PARAM, p0, psz);
  /* the full batch's x and y, split in halves for the micro-steps */
  ldm_exec_read(ef, full.x, xf, 2 * (size_t)h * MLP_IN * 4);
  ldm_exec_read(ef, full.y, yf, 2 * (size_t)h * MLP_OUT * 4);
  float loss, one = 1.0f, half_w = 0.5f;
  uint32_t *w = ldm_exec_host_ptr(ef, full.step);
  memcpy(&w[LDM_STEP_INV_ACCUM], &one, 4);
  memcpy(&w[LDM_STEP_LOSS_SCALE], &one, 4);
  mlp_step(&full, ef, 1, 1e-2f, &loss);
  ldm_exec_read_arena(ef, LDM_ARENA_PARAM, pf, psz);
  w = ldm_exec_host_ptr(eh, half.step);
  memcpy(&w[LDM_STEP_INV_ACCUM], &half_w, 4);
  memcpy(&w[LDM_STEP_LOSS_SCALE], &one, 4);
  for (int part = 0; part < 2; part++) {
    w[LDM_STEP_ACCUM_ONLY] = part == 0;
    ldm_exec_write(eh, half.x, xf + (size_t)part * h * MLP_IN, (size_t)h * MLP_IN * 4);
    ldm_exec_write(eh, half.y, yf + (size_t)part * h * MLP_OUT, (size_t)h * MLP_OUT * 4);
    mlp_step(&half, eh, 1, 1e-2f, &loss);
  }
  ldm_exec_read_arena(eh, LDM_ARENA_PARAM, ph, psz);
  double worst = 0, maxu = 0;
  for (size_t i = 0; i < psz / 4; i++) {
    double uf = (double)pf[i] - p0[i], uh = (double)ph[i] - p0[i];
    if (fabs(uf - uh) > worst) worst = fabs(uf - uh);
    if (fabs(uf) > maxu) maxu = fabs(uf);
  }
  ldm_exec_read_arena(eh, LDM_ARENA_GRAD, gr, psz);
  *grads_zero = true;
  for (size_t i = 0; i < psz / 4; i++)
    if (gr[i] != 0.0f) *grads_zero = false;
  result = maxu > 0 ? worst / maxu : INFINITY;
done:
  free(p0), free(pf), free(ph), free(gr), free(xf), free(yf);
  ldm_exec_free(ef);
  ldm_exec_free(eh);
  ldm_graph_free(&full.g);
  ldm_graph_free(&half.g);
  return result;
}
#endif
