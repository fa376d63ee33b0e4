/* Noise schedules and DDIM timesteps (see include/ldm/schedule.h). Everything in double. */
#include "ldm/schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* torch.linspace(a, b, n)[i], computed symmetrically from both ends as torch does */
static double linspace(double a, double b, int n, int i) {
  if (n == 1) return a;
  double step = (b - a) / (double)(n - 1);
  return i < n / 2 ? a + step * i : b - step * (double)(n - 1 - i);
}

static double cosine_abar(double t) {
  const double s = 0.008, half_pi = 1.57079632679489661923;
  double c = cos((t + s) / (1.0 + s) * half_pi);
  return c * c;
}

ldm_status ldm_schedule_make(ldm_schedule_kind kind, int T, double beta_start, double beta_end, bool zero_terminal_snr,
                             float *betas_out, float *abar_out) {
  if (T < 1) return LDM_FAIL(LDM_ERR_INVALID_ARG, "noise schedule: T = %d timesteps (at least 1 needed)", T);
  if (kind != LDM_SCHEDULE_COSINE &&
      !(beta_start > 0.0 && beta_start < 1.0 && beta_end > 0.0 && beta_end < 1.0))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "noise schedule: betas %g .. %g must lie in (0, 1)", beta_start, beta_end);
  if (kind != LDM_SCHEDULE_LINEAR && kind != LDM_SCHEDULE_SCALED_LINEAR && kind != LDM_SCHEDULE_COSINE)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "noise schedule: unknown kind %d", (int)kind);
  double *beta = ldm_malloc((size_t)T * sizeof *beta);
  if (!beta) return LDM_ERR_NOMEM;
  for (int i = 0; i < T; i++) {
    if (kind == LDM_SCHEDULE_LINEAR) {
      beta[i] = linspace(beta_start, beta_end, T, i);
    } else if (kind == LDM_SCHEDULE_SCALED_LINEAR) {
      double r = linspace(sqrt(beta_start), sqrt(beta_end), T, i);
      beta[i] = r * r;
    } else {
      double b = 1.0 - cosine_abar((double)(i + 1) / T) / cosine_abar((double)i / T);
      beta[i] = b < 0.999 ? b : 0.999;
    }
  }
  if (zero_terminal_snr) {
    /* diffusers rescale_zero_terminal_snr: shift and scale sqrt(abar) so the last is 0 and the first
     * unchanged, then back to betas */
    double *sab = ldm_malloc((size_t)T * sizeof *sab);
    if (!sab) {
      free(beta);
      return LDM_ERR_NOMEM;
    }
    double ab = 1.0;
    for (int i = 0; i < T; i++) {
      ab *= 1.0 - beta[i];
      sab[i] = sqrt(ab);
    }
    double a0 = sab[0], aT = sab[T - 1];
    if (T < 2 || !(a0 > aT)) {
      free(sab);
      free(beta);
      return LDM_FAIL(LDM_ERR_INVALID_ARG, "noise schedule: zero-terminal-SNR rescale needs T >= 2 and a "
                                           "decreasing alphas_cumprod");
    }
    double prev = 1.0;
    for (int i = 0; i < T; i++) {
      double s = (sab[i] - aT) * (a0 / (a0 - aT));
      double abar = s * s;
      /* where alphas_cumprod underflowed to 0 before the end (betas near 1 over many steps) it stays 0: beta 1,
       * not 0 / 0 */
      beta[i] = i == 0 ? 1.0 - abar : prev > 0.0 ? 1.0 - abar / prev : 1.0;
      prev = abar;
    }
    beta[T - 1] = 1.0; /* exact: abar[T-1] = 0 */
    free(sab);
  }
  double ab = 1.0;
  for (int i = 0; i < T; i++) {
    ab *= 1.0 - beta[i];
    if (betas_out) betas_out[i] = (float)beta[i];
    if (abar_out) abar_out[i] = (float)ab;
  }
  free(beta);
  return LDM_OK;
}

static const char *const kind_names[] = {"linear", "scaled_linear", "cosine"};

ldm_status ldm_schedule_kind_parse(const char *name, ldm_schedule_kind *kind) {
  for (int i = 0; i < 3; i++)
    if (name && strcmp(name, kind_names[i]) == 0) {
      *kind = (ldm_schedule_kind)i;
      return LDM_OK;
    }
  return LDM_FAIL(LDM_ERR_INVALID_ARG, "unknown noise schedule '%s' (linear, scaled_linear or cosine)",
                  name ? name : "");
}

const char *ldm_schedule_kind_name(ldm_schedule_kind kind) {
  return (unsigned)kind < 3 ? kind_names[kind] : "unknown";
}

ldm_status ldm_ddim_timesteps(int T, int steps, int *out) {
  if (T < 1 || steps < 1 || steps > T)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "DDIM timesteps: %d steps over T = %d (1 <= steps <= T needed)", steps, T);
  for (int i = 0; i < steps; i++) out[i] = (int)nearbyint(linspace((double)(T - 1), 0.0, steps, i));
  return LDM_OK;
}
