/* The samplers as host-side coefficient code: a plan is the list of replays of the one sampler graph
 * (model evaluation -> guidance -> ldm_sampler_step -> optional ldm_inpaint_blend), each with the model's
 * timestep and the coefficient table (ldm/ops.h LDM_SC_*) the host writes before that replay. Every
 * coefficient is computed in double from its paper's formula and rounded to f32 once. The state x is
 * always the variance-preserving latent x_t = alpha x0 + sigma eps (what the UNet takes); the k-diffusion
 * samplers' sigma-space updates (x = x0 + s eps, s = sigma / alpha) are rewritten in it, so zero terminal
 * SNR and the UNet's input scaling need no special case on the device. docs/samplers.md. */
#ifndef LDM_SAMPLE_COEFS_H
#define LDM_SAMPLE_COEFS_H
#include <stdbool.h>
#include <stdint.h>

#include "ldm/ldm.h"
#include "ldm/ops.h"

enum { LDM_SIGMAS_DISCRETE = 0, LDM_SIGMAS_KARRAS = 1, LDM_SIGMAS_EXPONENTIAL = 2 };
enum { LDM_SPACING_LINSPACE = 0, LDM_SPACING_LEADING = 1, LDM_SPACING_TRAILING = 2 };

typedef struct ldm_sampler_spec {
  int sampler;          /* LDM_SAMPLER_* */
  int steps;            /* sampling steps (points of the noise-level grid) */
  double eta;           /* DDIM eta (0 deterministic); euler_a and dpmpp_2m_sde use 1, as k-diffusion */
  int sigmas, spacing;  /* LDM_SIGMAS_*, LDM_SPACING_* (spacing: of the discrete timesteps) */
  int v_pred;           /* the model predicts v (else eps) */
  int T;                /* training timesteps */
  const float *abar;    /* alphas_cumprod [T] */
  double strength;      /* img2img: the part of the schedule run (1: all, from pure noise) */
  bool inpaint;         /* a mask: every replay ends with an ldm_inpaint_blend */
  int repaint_jump, repaint_resample; /* RePaint (0: off; needs inpaint) */
} ldm_sampler_spec;

typedef struct ldm_replay {
  uint32_t t;                /* the model's timestep */
  float c[LDM_SC_WORDS];     /* the coefficient table of this replay */
} ldm_replay;

typedef struct ldm_sampler_plan {
  int n;                     /* replays (model evaluations) */
  ldm_replay *r;
  bool from_init;            /* the start is the init latent noised: x = a0 z0 + s0 noise (img2img) */
  double a0, s0;             /* the start's level (x = noise when !from_init) */
  int points;                /* noise levels visited (steps run, for img2img the tail) */
} ldm_sampler_plan;

/* The plan of sp; errors name the option (--sampler, --steps, --strength ...). */
ldm_status ldm_sampler_plan_make(const ldm_sampler_spec *sp, ldm_sampler_plan *p);
void ldm_sampler_plan_free(ldm_sampler_plan *p);

/* "ddim" ... "unipc" <-> LDM_SAMPLER_*; "discrete" | "karras" | "exponential"; "linspace" | "leading" |
 * "trailing". The parsers return -1 for an unknown name. */
const char *ldm_sampler_name(int kind);
int ldm_sampler_parse(const char *name);
int ldm_sigmas_parse(const char *name);
int ldm_spacing_parse(const char *name);
#endif
