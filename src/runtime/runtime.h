/* The runtime shared by the trainer, the sampler, the benchmark and the CLI: the backend value
 * (ldm/backend.h: ldm_backend_open, ldm_exec_new), the step buffer fill and the one AdamW configuration
 * of every training graph. */
#ifndef LDM_RUNTIME_H
#define LDM_RUNTIME_H
#include <stdbool.h>
#include <stdint.h>

#include "ldm/backend.h"
#include "ldm/step.h"

/* The AdamW hyperparameters the ops take as push constants (ldm_adamw_gs); the step buffer carries the
 * bias corrections computed from the same betas. */
typedef struct ldm_adamw_cfg {
  float beta1, beta2, eps, weight_decay;
} ldm_adamw_cfg;
/* the recipe's AdamW: betas (0.9, 0.999), eps 1e-8, no weight decay */
extern const ldm_adamw_cfg ldm_adamw_recipe;

/* The per-step values of a train graph's step buffer (ldm/step.h, LDM_STEP_*). */
typedef struct ldm_step_fields {
  uint32_t opt_t;    /* optimizer step (1-based): AdamW's bias corrections */
  uint64_t rng_step; /* Philox window: one 2^32-wide counter range per (micro-)step */
  float lr;
  float ema_decay;
  float clip;        /* global grad-norm clip, 0 = off */
  int accum;         /* micro-batches per optimizer step (the gradients are scaled by 1/accum) */
  bool accum_only;   /* a micro-step that only accumulates: AdamW and EMA do nothing */
} ldm_step_fields;

/* Write the step buffer w (LDM_STEP_WORDS words) for f under the AdamW configuration a. */
void ldm_step_fill(uint32_t *w, const ldm_adamw_cfg *a, const ldm_step_fields *f);

#endif
