/* Trainer/sampler internals. */
#ifndef LDM_TRAIN_INTERNAL_H
#define LDM_TRAIN_INTERNAL_H
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/pool.h"
#include "ldm/step.h"

static inline int ldm_cpu_threads_public(void) { return ldm_cpu_threads(); }
/* Fill the step buffer for optimizer step opt_t (1-based) and Philox window rng_step. */
void ldm_step_write(uint32_t *w, uint32_t opt_t, uint64_t rng_step, float lr, float beta1, float beta2,
                    float ema_decay, float clip, int accum, bool accum_only);
#endif
