/* A minimal use of the ldm-vk library: build a small graph (linear -> SiLU -> linear -> MSE), let the
 * autodiff append the backward pass, add AdamW, and train it on the CPU reference backend or on a
 * Vulkan device. The same graph runs on both; on Vulkan it is recorded once and replayed.
 *   usage: fit_sine [cpu|vk|vk:N] */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ldm/backend.h"
#include "ldm/ops.h"
#include "ldm/step.h"
#include "ldm/train.h"
#include "ldm/vk.h"

enum { B = 64, H = 32 };
/* AdamW's betas, used by the update and by the bias corrections of the step buffer alike. (The trainer's
 * are the same, ldm_adamw_recipe of the library's runtime; this example keeps to the public headers.) */
static const float beta1 = 0.9f, beta2 = 0.999f;

static int fail(void) {
  fprintf(stderr, "fit_sine: %s\n", ldm_last_error());
  return 1;
}

int main(int argc, char **argv) {
  ldm_graph g;
  if (ldm_graph_init(&g) != LDM_OK) return fail();
  int step = ldm_host(&g, "step", LDM_U32, LDM_STEP_WORDS);
  int x = ldm_act(&g, "x", 2, LDM_SHAPE(B, 1)), y = ldm_act(&g, "y", 2, LDM_SHAPE(B, 1));
  ldm_keep(&g, x); /* written by the host: must not share memory with anything */
  ldm_keep(&g, y);
  int w1 = ldm_param(&g, "l1.weight", 2, LDM_SHAPE(H, 1)), b1 = ldm_param(&g, "l1.bias", 1, LDM_SHAPE(H));
  int w2 = ldm_param(&g, "l2.weight", 2, LDM_SHAPE(1, H)), b2 = ldm_param(&g, "l2.bias", 1, LDM_SHAPE(1));
  int out = ldm_linear_op(&g, ldm_silu(&g, ldm_linear_op(&g, x, w1, b1)), w2, b2);
  int loss = ldm_mse_loss(&g, out, y);
  if (loss < 0) return fail();
  ldm_keep(&g, loss);
  if (ldm_graph_backward(&g, loss) != LDM_OK) return fail();
  int G = ldm_arena_view(&g, LDM_ARENA_GRAD, "grads");
  if (ldm_adamw(&g, ldm_arena_view(&g, LDM_ARENA_PARAM, "params"), G, ldm_arena_view(&g, LDM_ARENA_ADAM_M, "m"),
                ldm_arena_view(&g, LDM_ARENA_ADAM_V, "v"), step, beta1, beta2, 1e-8f, 0.0f) < 0)
    return fail();
  if (ldm_graph_plan(&g) != LDM_OK) return fail();

  ldm_backend be;
  if (ldm_backend_open(argc > 1 ? argv[1] : "cpu", &be) != LDM_OK) return fail();
  printf("backend: %s\n", be.why);
  ldm_exec *e;
  if (ldm_exec_new(&be, &g, &e) != LDM_OK) return fail();
  float xs[B], ys[B], p[H];
  for (int i = 0; i < B; i++) xs[i] = -3.0f + 6.0f * (float)i / (B - 1), ys[i] = sinf(xs[i]);
  for (int i = 0; i < H; i++) p[i] = 0.8f * sinf(1.7f * (float)i + 0.3f); /* deterministic init */
  if (ldm_exec_write(e, x, xs, sizeof xs) || ldm_exec_write(e, y, ys, sizeof ys) || ldm_exec_write(e, w1, p, sizeof p) ||
      ldm_exec_write(e, w2, p, sizeof p))
    return fail();
  uint32_t *sw = ldm_exec_host_ptr(e, step);
  float first = 0, last = 0;
  for (uint32_t t = 1; t <= 400; t++) {
    float lr = 1e-2f, bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t), l;
    memcpy(&sw[LDM_STEP_LR], &lr, 4);
    memcpy(&sw[LDM_STEP_BC1], &bc1, 4);
    memcpy(&sw[LDM_STEP_BC2], &bc2, 4);
    if (ldm_exec_run(e) != LDM_OK || ldm_exec_read(e, loss, &l, 4) != LDM_OK) return fail();
    if (t == 1 || t % 100 == 0) printf("step %3u  loss %.5f\n", t, l);
    if (t == 1) first = l;
    last = l;
  }
  ldm_exec_free(e);
  ldm_backend_close(&be);
  ldm_graph_free(&g);
  if (!(last < 0.1f * first)) {
    fprintf(stderr, "fit_sine: the loss did not fall to a tenth (%.5f -> %.5f)\n", first, last);
    return 1;
  }
  return 0;
}
