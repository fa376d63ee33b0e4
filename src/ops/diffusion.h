/* Push-constant blocks of the diffusion / VAE-loss / optimizer op family (src/ops/diffusion.c); each
 * mirrors its shader's block field for field. */
#ifndef LDM_OPS_DIFFUSION_H
#define LDM_OPS_DIFFUSION_H
#include <stdint.h>

/* grad_norm_clip stage 1: fixed local size and at most this many partials (device independent, so the
 * reduction order, and with it the result, is the same on every device) */
#define LDM_GN_LOCAL 256u
#define LDM_GN_MAX_GROUPS 1024u

typedef struct { uint32_t n; } ldm_pc_reparam;
typedef struct { uint32_t n, acc_mu, acc_lv, want_mu, want_lv; } ldm_pc_reparam_backward;
typedef struct { uint32_t n; float lo, hi; } ldm_pc_clamp;
typedef struct { uint32_t n; float lo, hi; uint32_t accumulate; } ldm_pc_clamp_backward;
typedef struct { uint32_t n; float scale; } ldm_pc_kl_loss; /* scale = 0.5 / batch */
typedef struct { uint32_t n; float inv_batch; uint32_t acc_mu, acc_lv, want_mu, want_lv; } ldm_pc_kl_loss_backward;
/* q_sample and v_target: per = elements per sample, T = entries of the abar table */
typedef struct { uint32_t n, per, T; } ldm_pc_q_sample;
typedef struct { uint32_t n, per, T, v_target, acc_x0, acc_noise, want_x0, want_noise; } ldm_pc_q_sample_backward;
typedef struct { uint32_t n, per; float inv_n; } ldm_pc_weighted_mse;
typedef struct { uint32_t n, per; float scale; uint32_t accumulate; } ldm_pc_weighted_mse_backward;
typedef struct { uint32_t B, T; float gamma; uint32_t v_pred; } ldm_pc_min_snr_weight;
typedef struct { uint32_t n; float scale; } ldm_pc_cfg_combine; /* n = elements of one half */
typedef struct { uint32_t n, T, kind; float eta; uint32_t v_pred; } ldm_pc_sampler_step;
typedef struct { uint32_t n; } ldm_pc_ema;
typedef struct { uint32_t n, groups; } ldm_pc_grad_norm_partial;
typedef struct { uint32_t groups; } ldm_pc_grad_norm_clip;
typedef struct { uint32_t n, seed_lo, seed_hi, stream_lo, stream_hi, lo, range, use_step; } ldm_pc_randint;
typedef struct {
  uint32_t n, seed_lo, seed_hi, stream_lo, stream_hi;
  float p;
  uint32_t null_class, use_step;
} ldm_pc_label_dropout;
typedef struct { uint32_t B, row, V; float scale, shift; } ldm_pc_gather_rows;

_Static_assert(sizeof(ldm_pc_reparam) == 4, "pc size");
_Static_assert(sizeof(ldm_pc_reparam_backward) == 20, "pc size");
_Static_assert(sizeof(ldm_pc_clamp) == 12, "pc size");
_Static_assert(sizeof(ldm_pc_clamp_backward) == 16, "pc size");
_Static_assert(sizeof(ldm_pc_kl_loss) == 8, "pc size");
_Static_assert(sizeof(ldm_pc_kl_loss_backward) == 24, "pc size");
_Static_assert(sizeof(ldm_pc_q_sample) == 12, "pc size");
_Static_assert(sizeof(ldm_pc_q_sample_backward) == 32, "pc size");
_Static_assert(sizeof(ldm_pc_weighted_mse) == 12, "pc size");
_Static_assert(sizeof(ldm_pc_weighted_mse_backward) == 16, "pc size");
_Static_assert(sizeof(ldm_pc_min_snr_weight) == 16, "pc size");
_Static_assert(sizeof(ldm_pc_cfg_combine) == 8, "pc size");
_Static_assert(sizeof(ldm_pc_sampler_step) == 20, "pc size");
_Static_assert(sizeof(ldm_pc_ema) == 4, "pc size");
_Static_assert(sizeof(ldm_pc_grad_norm_partial) == 8, "pc size");
_Static_assert(sizeof(ldm_pc_grad_norm_clip) == 4, "pc size");
_Static_assert(sizeof(ldm_pc_randint) == 32, "pc size");
_Static_assert(sizeof(ldm_pc_label_dropout) == 32, "pc size");
_Static_assert(sizeof(ldm_pc_gather_rows) == 20, "pc size");

/* The sampler's per-step coefficients (the CPU twin computes them once per step; shaders/sampler_step.comp
 * computes the same float expressions in the same order). */
typedef struct {
  float sa, s1a;     /* sqrt(abar_t), sqrt(1 - abar_t) */
  float c_x0, c_xt;  /* x_prev = c_x0 * x0_hat + c_xt * x_t + c_eps * eps_hat + sigma * noise */
  float c_eps, sigma;
} ldm_sampler_coefs;
void ldm_sampler_coefs_make(float abar_t, float abar_prev, int kind, float eta, ldm_sampler_coefs *c);

#endif
