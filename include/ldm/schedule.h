/* Noise schedules of the diffusion process (host side, computed in double, stored as f32 tables the
 * graph reads: betas [T] and alphas_cumprod [T]), and the DDIM timestep sequence. */
#ifndef LDM_SCHEDULE_H
#define LDM_SCHEDULE_H
#include <stdbool.h>

#include "ldm/ldm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ldm_schedule_kind {
  LDM_SCHEDULE_LINEAR = 0,        /* betas = linspace(beta_start, beta_end, T) (DDPM; torch.linspace) */
  LDM_SCHEDULE_SCALED_LINEAR = 1, /* betas = linspace(sqrt(beta_start), sqrt(beta_end), T)^2 (Stable Diffusion) */
  LDM_SCHEDULE_COSINE = 2         /* Nichol & Dhariwal 2021, s = 0.008, betas clipped at 0.999; ignores beta_* */
} ldm_schedule_kind;

/* Fill betas[T] and alphas_cumprod[T] (either may be NULL). zero_terminal_snr rescales the schedule so
 * that alphas_cumprod[T-1] == 0 exactly (Lin et al. 2023; diffusers' rescale_zero_terminal_snr), which
 * calls for v-prediction. alphas_cumprod = cumprod(1 - betas). Errors: T < 1, betas outside (0, 1). */
ldm_status ldm_schedule_make(ldm_schedule_kind kind, int T, double beta_start, double beta_end, bool zero_terminal_snr,
                             float *betas, float *alphas_cumprod);
/* "linear", "scaled_linear" or "cosine" -> kind; LDM_ERR_INVALID_ARG naming the value otherwise. */
ldm_status ldm_schedule_kind_parse(const char *name, ldm_schedule_kind *kind);
const char *ldm_schedule_kind_name(ldm_schedule_kind kind);

/* DDIM timesteps, first (noisiest) to last: out[i] = round(linspace(T-1, 0, steps))[i] (ties to even,
 * as torch.round), e.g. T = 1000, steps = 50: 999, 979, 958, ..., 20, 0. 1 <= steps <= T. */
ldm_status ldm_ddim_timesteps(int T, int steps, int *out);
#ifdef __cplusplus
}
#endif
#endif
