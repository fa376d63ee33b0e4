/* The step buffer of a train graph (ldm/step.h) and the recipe's AdamW configuration. */
#include <math.h>
#include <string.h>

#include "runtime/runtime.h"

const ldm_adamw_cfg ldm_adamw_recipe = {0.9f, 0.999f, 1e-8f, 0.0f};

static void put_f32(uint32_t *w, int i, float v) { memcpy(&w[i], &v, 4); }

void ldm_step_fill(uint32_t *w, const ldm_adamw_cfg *a, const ldm_step_fields *f) {
  w[LDM_STEP_T] = f->opt_t;
  /* one 2^32-wide Philox counter window per step: draws never overlap between steps */
  w[LDM_STEP_RNG_LO] = 0;
  w[LDM_STEP_RNG_HI] = (uint32_t)f->rng_step;
  put_f32(w, LDM_STEP_LR, f->lr);
  put_f32(w, LDM_STEP_BC1, (float)(1.0 - pow(a->beta1, f->opt_t)));
  put_f32(w, LDM_STEP_BC2, (float)(1.0 - pow(a->beta2, f->opt_t)));
  put_f32(w, LDM_STEP_EMA, f->ema_decay);
  put_f32(w, LDM_STEP_LOSS_SCALE, 1.0f);
  put_f32(w, LDM_STEP_GRAD_CLIP, f->clip);
  put_f32(w, LDM_STEP_INV_ACCUM, 1.0f / (float)(f->accum > 0 ? f->accum : 1));
  w[LDM_STEP_ACCUM_ONLY] = f->accum_only ? 1u : 0u;
}
