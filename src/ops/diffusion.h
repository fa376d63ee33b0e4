/* The diffusion / VAE-loss / optimizer op family (src/ops/diffusion.c). Its push-constant blocks
 * (ldm_pc_reparam ... ldm_pc_gather_rows) are generated from the op manifest src/ops/ops.def into
 * ldm_ops_pc.h, as are the shaders' blocks. */
#ifndef LDM_OPS_DIFFUSION_H
#define LDM_OPS_DIFFUSION_H
#include <stdint.h>

#include "ldm_ops_pc.h"

/* grad_norm_clip stage 1: fixed local size and at most this many partials (device independent, so the
 * reduction order, and with it the result, is the same on every device) */
#define LDM_GN_LOCAL 256u
#define LDM_GN_MAX_GROUPS 1024u

/* The sampler's per-step coefficients (the CPU twin computes them once per step; shaders/sampler_step.comp
 * computes the same float expressions in the same order). */
typedef struct {
  float sa, s1a;     /* sqrt(abar_t), sqrt(1 - abar_t) */
  float c_x0, c_xt;  /* x_prev = c_x0 * x0_hat + c_xt * x_t + c_eps * eps_hat + sigma * noise */
  float c_eps, sigma;
} ldm_sampler_coefs;
void ldm_sampler_coefs_make(float abar_t, float abar_prev, int kind, float eta, ldm_sampler_coefs *c);

#endif
