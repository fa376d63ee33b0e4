/* The samplers without a trained network: data from a known distribution (a Gaussian, a mixture of two)
 * has a closed-form denoiser (the gauss_mix_denoise op), which drives the very sampler graph `ldm-vk
 * sample` uses (src/sample/engine.c) in place of the UNet. Checked on the CPU backend and, when there is
 * one, the Vulkan device:
 *  - moments: every sampler's samples have the data's mean and variance (and the mixture's weights) within
 *    a stated tolerance (the statistical error of 4096 samples plus the discretisation at 50 steps), for
 *    eps- and v-prediction and a zero-terminal-SNR schedule (where eps-prediction divided by sqrt(abar) = 0);
 *  - order: for the deterministic samplers the error against the exact probability-flow solution (affine
 *    for Gaussian data) falls with the step count at the sampler's order (a log-log fit over 10..80 steps);
 *  - the noise is keyed by image index: the same images whatever the batch size;
 *  - editing: strength 0 returns the init latent, a mask of zeros returns it, a mask of ones is plain
 *    sampling, a repainted region keeps the data's moments and the known region stays exact. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck_util.h"
#include "ldm/backend.h"
#include "ldm/schedule.h"
#include "sample/sampler.h"

#define D 4       /* data dimensions */
#define NS 4096   /* samples of a moment check */
#define TT 1000   /* training timesteps */

typedef struct {
  int K;
  float prm[2][D + 2]; /* weight, variance, mean[D] */
  int pred;            /* 0 eps, 1 v */
  int params;
  int64_t shape_w;     /* the latent shape is [1, 1, D] (a mask per element) */
} gm_model;

static int gm_build(void *user, ldm_graph *g, int x, int coef) {
  gm_model *m = user;
  int64_t B = g->t[x].shape[0];
  m->params = ldm_tensor_new(g, "gm_params", LDM_ARENA_CONST, LDM_F32, 2, LDM_SHAPE(m->K, D + 2));
  int x2 = ldm_view(g, x, "x_flat", 0, 2, LDM_SHAPE(B, D));
  int o = ldm_gauss_mix_denoise(g, x2, m->params, coef, LDM_SC_EVAL, m->pred);
  return ldm_view(g, o, "model_out", 0, 4, LDM_SHAPE(B, 1, 1, D));
}
static ldm_status gm_ready(void *user, ldm_exec *e) {
  gm_model *m = user;
  return ldm_exec_write(e, m->params, m->prm, (size_t)m->K * (D + 2) * 4);
}

static const float MU[D] = {0.5f, -1.0f, 0.25f, 1.5f};
static const float VAR = 0.5f;
static void gm_gauss(gm_model *m, int pred) {
  memset(m, 0, sizeof *m);
  m->K = 1;
  m->pred = pred;
  m->prm[0][0] = 1.0f;
  m->prm[0][1] = VAR;
  memcpy(&m->prm[0][2], MU, sizeof MU);
}
/* 0.3 N(-1.5 (1, 1, -1, 1), 0.1) + 0.7 N(1.5 (1, 1, -1, 1), 0.1) */
static const float MIXW = 0.3f, MIXV = 0.1f, MIXM = 1.5f;
static const float MIXS[D] = {1, 1, -1, 1};
static void gm_mix(gm_model *m, int pred) {
  memset(m, 0, sizeof *m);
  m->K = 2;
  m->pred = pred;
  for (int k = 0; k < 2; k++) {
    m->prm[k][0] = k ? 1.0f - MIXW : MIXW;
    m->prm[k][1] = MIXV;
    for (int j = 0; j < D; j++) m->prm[k][2 + j] = (k ? MIXM : -MIXM) * MIXS[j];
  }
}

static float g_abar[2][TT]; /* [0] linear 1e-4..0.02, [1] the same rescaled to zero terminal SNR */
static ldm_backend g_be[2];
static int g_nbe;
static const char *be_name(int b) { return b ? "vulkan" : "cpu"; }

static void setup(void) {
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_LINEAR, TT, 1e-4, 0.02, false, NULL, g_abar[0]), LDM_OK);
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_LINEAR, TT, 1e-4, 0.02, true, NULL, g_abar[1]), LDM_OK);
  ck_assert(g_abar[1][TT - 1] == 0.0f);
  g_be[0] = ldm_backend_cpu();
  g_nbe = 1;
  if (ldm_backend_open("vk", &g_be[1]) == LDM_OK) g_nbe = 2;
  else if (getenv("LDM_REQUIRE_VULKAN") && strcmp(getenv("LDM_REQUIRE_VULKAN"), "1") == 0)
    ck_abort_msg("LDM_REQUIRE_VULKAN=1 and no Vulkan device: %s", ldm_last_error());
  else fprintf(stderr, "no Vulkan device (%s): the CPU backend only\n", ldm_last_error());
}
static void teardown(void) {
  if (g_nbe == 2) ldm_backend_close(&g_be[1]);
}

typedef struct {
  int sampler, steps, sigmas, zsnr, n, nb;
  double strength;
  const float *init, *mask;
  int jump, resample;
} run_args;

static float *run(int b, gm_model *m, const run_args *a) {
  ldm_sampler_spec sp = {a->sampler, a->steps, 0.0, a->sigmas, LDM_SPACING_LINSPACE, m->pred, TT, g_abar[a->zsnr],
                         a->init ? a->strength : 1.0, a->mask != NULL, a->jump, a->resample};
  ldm_sampler_model model = {gm_build, gm_ready, NULL, m};
  int n = a->n ? a->n : NS;
  ldm_sampler_run_opts ro = {&sp, n, a->nb ? a->nb : n, 3, {1, 1, D}, 1234, a->init, a->mask, NULL, NULL, NULL};
  float *out = malloc((size_t)n * D * 4);
  ck_assert_ptr_nonnull(out);
  ldm_status s = ldm_sampler_run(&g_be[b], &model, &ro, out);
  ck_assert_msg(s == LDM_OK, "%s %s: %s", be_name(b), ldm_sampler_name(a->sampler), ldm_last_error());
  return out;
}

typedef struct {
  double mean_err, var_err, w_err; /* max |mean - mu|, max |var / v - 1| over the dimensions, |w1 - w| */
} moments;
static moments check_moments(const float *x, int n, const gm_model *m) {
  moments r = {0, 0, 0};
  double mean[D] = {0}, var[D] = {0};
  int in1 = 0;
  for (int i = 0; i < n; i++) {
    double dot = 0;
    for (int j = 0; j < D; j++) mean[j] += x[i * D + j], dot += x[i * D + j] * MIXS[j];
    in1 += dot < 0;
  }
  for (int j = 0; j < D; j++) mean[j] /= n;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < D; j++) var[j] += (x[i * D + j] - mean[j]) * (x[i * D + j] - mean[j]);
  for (int j = 0; j < D; j++) {
    var[j] /= n - 1;
    /* the data's moments: a Gaussian, or the mixture (mean sum w mu, variance v + sum w mu^2 - mean^2) */
    double mu, v;
    if (m->K == 1) mu = MU[j], v = VAR;
    else {
      double m0 = -MIXM * MIXS[j], m1 = MIXM * MIXS[j];
      mu = MIXW * m0 + (1 - MIXW) * m1;
      v = MIXV + MIXW * m0 * m0 + (1 - MIXW) * m1 * m1 - mu * mu;
    }
    r.mean_err = fmax(r.mean_err, fabs(mean[j] - mu));
    r.var_err = fmax(r.var_err, fabs(var[j] / v - 1));
  }
  r.w_err = m->K == 2 ? fabs((double)in1 / n - MIXW) : 0;
  for (int i = 0; i < n * D; i++)
    if (!isfinite(x[i])) r.mean_err = INFINITY; /* (fmax would drop a NaN) */
  return r;
}

/* Tolerances of the moment check (NS = 4096 samples): the mean's standard error is sqrt(v / NS) <= 0.02
 * (mixture: total variance 1.6), the variance's relative one sqrt(2 / NS) = 0.022 per dimension; the bounds
 * are about 2.5 and 4.5 of them, the rest of the room for the discretisation error: the first-order samplers
 * (ddim, ddpm, euler, euler_a and the SDE dpmpp_2m_sde, of weak order 1) run 400 steps, the second-order ones
 * 100 (at 50 steps the first-order ones are off by 0.1 to 0.35 in the variance of this data, the
 * second-order ones by 0.03 to 0.1 (zero-SNR, Karras sigmas up to 3e4): the error falls as 1/steps towards the statistical floor). */
static int moment_steps(int k) {
  return k == LDM_SAMPLER_HEUN || k == LDM_SAMPLER_DPMPP_2M || k == LDM_SAMPLER_UNIPC ? 100 : 400;
}
#define TOL_MEAN 0.05
#define TOL_VAR 0.1
#define TOL_W 0.03

START_TEST(moments_every_sampler) {
  static const struct {
    int K, pred, zsnr;
    const char *what;
  } cfgs[] = {{1, 0, 0, "Gaussian eps"}, {1, 1, 1, "Gaussian v zero-SNR"}, {1, 0, 1, "Gaussian eps zero-SNR"},
              {2, 0, 0, "mixture eps"}, {2, 1, 0, "mixture v"}};
  int bad = 0;
  for (int b = 0; b < g_nbe; b++)
    for (int c = 0; c < 5; c++)
      for (int k = 0; k < LDM_SAMPLER_COUNT; k++) {
        gm_model m;
        if (cfgs[c].K == 1) gm_gauss(&m, cfgs[c].pred);
        else gm_mix(&m, cfgs[c].pred);
        /* karras sigmas for the k-diffusion samplers, the training timesteps for DDIM / DDPM / UniPC */
        int sig = k == LDM_SAMPLER_DDIM || k == LDM_SAMPLER_DDPM || k == LDM_SAMPLER_UNIPC ? LDM_SIGMAS_DISCRETE
                                                                                          : LDM_SIGMAS_KARRAS;
        run_args a = {k, moment_steps(k), sig, cfgs[c].zsnr, 0, 0, 1.0, NULL, NULL, 0, 0};
        float *x = run(b, &m, &a);
        moments r = check_moments(x, NS, &m);
        fprintf(stderr, "moments %-6s %-22s %-13s %3d steps: mean err %.4f var err %.4f weight err %.4f\n", be_name(b),
                cfgs[c].what, ldm_sampler_name(k), moment_steps(k), r.mean_err, r.var_err, r.w_err);
        if (!(r.mean_err < TOL_MEAN && r.var_err < TOL_VAR && r.w_err < TOL_W)) {
          fprintf(stderr, "  ^ outside the tolerance\n");
          bad++;
        }
        free(x);
      }
  ck_assert_msg(bad == 0, "%d sampler runs outside the moment tolerance (the lines marked above)", bad);
}
END_TEST

/* The exact output for Gaussian data from the start x (level a0, s0 = the first level) run by the exact
 * probability-flow ODE to the last noisy level (a1, s1) (an affine map), then the sampler's own last step
 * x' = D(x) (every deterministic sampler here ends with it), so that the fixed last step to sigma = 0 adds
 * no floor to the error. */
static double ode_error(const float *xs, const float *x, int n, double a0, double s0, double a1, double s1) {
  double e = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < D; j++) {
      double q0 = a0 * a0 * VAR + s0 * s0, q1 = a1 * a1 * VAR + s1 * s1;
      double x1 = a1 * MU[j] + sqrt(q1 / q0) * (xs[i * D + j] - a0 * MU[j]);
      double ref = MU[j] + a1 * VAR / q1 * (x1 - a1 * MU[j]);
      e += (x[i * D + j] - ref) * (x[i * D + j] - ref);
    }
  return sqrt(e / (n * D));
}

static const char *sig_name(int s) { return s == 0 ? "discrete" : s == 1 ? "karras" : "exponential"; }
START_TEST(order_of_accuracy) {
  static const struct {
    int sampler, sigmas;
    double lo, hi; /* the fitted order's bounds */
  } cases[] = {{LDM_SAMPLER_DDIM, LDM_SIGMAS_DISCRETE, 0.8, 1.35},     {LDM_SAMPLER_EULER, LDM_SIGMAS_KARRAS, 0.8, 1.35},
               {LDM_SAMPLER_HEUN, LDM_SIGMAS_KARRAS, 1.7, 2.6},        {LDM_SAMPLER_DPMPP_2M, LDM_SIGMAS_KARRAS, 1.7, 2.6},
               {LDM_SAMPLER_DPMPP_2M, LDM_SIGMAS_EXPONENTIAL, 1.7, 2.6}, {LDM_SAMPLER_UNIPC, LDM_SIGMAS_KARRAS, 1.7, 3.6}};
  enum { N = 256, NSTEPS = 4 };
  static const int steps[NSTEPS] = {10, 20, 40, 80};
  float xs[N * D];
  int bad = 0;
  for (int i = 0; i < N; i++) ldm_sample_noise(1234, LDM_SAMPLE_STREAM_INIT, i, D, xs + i * D);
  for (int b = 0; b < g_nbe; b++)
    for (int pred = 0; pred < 2; pred++)
      for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        gm_model m;
        gm_gauss(&m, pred);
        double lx[NSTEPS], ly[NSTEPS];
        for (int k = 0; k < NSTEPS; k++) {
          run_args a = {cases[c].sampler, steps[k], cases[c].sigmas, 0, N, 0, 1.0, NULL, NULL, 0, 0};
          float *x = run(b, &m, &a);
          /* the first and last noisy levels: sigma_max and sigma_min of the schedule (t = 999 and t = 0) */
          double a0 = sqrt(g_abar[0][TT - 1]), a1 = sqrt(g_abar[0][0]);
          double err = ode_error(xs, x, N, a0, sqrt(1 - a0 * a0), a1, sqrt(1 - a1 * a1));
          lx[k] = log(steps[k]);
          ly[k] = log(err);
          fprintf(stderr, "order  %-6s %s %-9s %-11s %3d steps: rms error %.3e\n", be_name(b), pred ? "v  " : "eps",
                  ldm_sampler_name(cases[c].sampler), sig_name(cases[c].sigmas), steps[k], err);
          free(x);
        }
        double mx = 0, my = 0, sxy = 0, sxx = 0;
        for (int k = 0; k < NSTEPS; k++) mx += lx[k] / NSTEPS, my += ly[k] / NSTEPS;
        for (int k = 0; k < NSTEPS; k++) sxy += (lx[k] - mx) * (ly[k] - my), sxx += (lx[k] - mx) * (lx[k] - mx);
        double order = -sxy / sxx;
        fprintf(stderr, "order  %-6s %s %-9s %-11s fitted order %.2f (expected %.1f..%.1f)\n", be_name(b),
                pred ? "v  " : "eps", ldm_sampler_name(cases[c].sampler), sig_name(cases[c].sigmas),
                order, cases[c].lo, cases[c].hi);
        if (!(order > cases[c].lo && order < cases[c].hi)) {
          fprintf(stderr, "  ^ outside the expected range\n");
          bad++;
        }
      }
  ck_assert_msg(bad == 0, "%d fitted orders outside their range (the lines marked above)", bad);
}
END_TEST

/* image i is the same whatever the batch size (stochastic samplers: every step's noise is keyed too) */
START_TEST(same_images_whatever_the_batch) {
  for (int b = 0; b < g_nbe; b++)
    for (int k = 0; k < 2; k++) {
      int sampler = k ? LDM_SAMPLER_EULER_A : LDM_SAMPLER_DDPM;
      gm_model m;
      gm_mix(&m, 0);
      run_args a = {sampler, 12, LDM_SIGMAS_DISCRETE, 0, 10, 10, 1.0, NULL, NULL, 0, 0};
      float *x = run(b, &m, &a);
      a.nb = 3;
      float *y = run(b, &m, &a);
      a.n = 4;
      a.nb = 4;
      float *z = run(b, &m, &a);
      ck_assert_msg(memcmp(x, y, 10 * D * 4) == 0, "%s %s: batch 10 and batch 3 differ", be_name(b),
                    ldm_sampler_name(sampler));
      ck_assert_msg(memcmp(x, z, 4 * D * 4) == 0, "%s: n 10 and n 4 differ", be_name(b));
      free(x);
      free(y);
      free(z);
    }
}
END_TEST

START_TEST(editing) {
  enum { N = 2048 };
  float *init = malloc(N * D * 4), *zeros = calloc(N * D, 4), *ones = malloc(N * D * 4), *half = malloc(N * D * 4);
  ck_assert(init && zeros && ones && half);
  for (int i = 0; i < N * D; i++) {
    init[i] = 0.1f * (float)((i * 37) % 23) - 1.0f;
    ones[i] = 1.0f;
    half[i] = (i % D) < 2 ? 0.0f : 1.0f; /* keep dimensions 0, 1; repaint 2, 3 */
  }
  for (int b = 0; b < g_nbe; b++) {
    gm_model m;
    gm_gauss(&m, 0);
    /* strength 0: no step, the init latent itself */
    run_args a = {LDM_SAMPLER_DDIM, 20, LDM_SIGMAS_DISCRETE, 0, N, 0, 0.0, init, NULL, 0, 0};
    float *x = run(b, &m, &a);
    ck_assert_msg(memcmp(x, init, N * D * 4) == 0, "%s: strength 0 is not the init latent", be_name(b));
    free(x);
    /* a mask of zeros keeps everything: the init latent exactly, whatever the sampler */
    a = (run_args){LDM_SAMPLER_DPMPP_2M, 20, LDM_SIGMAS_KARRAS, 0, N, 0, 1.0, init, zeros, 0, 0};
    x = run(b, &m, &a);
    ck_assert_msg(memcmp(x, init, N * D * 4) == 0, "%s: mask 0 is not the init latent", be_name(b));
    free(x);
    /* a mask of ones is plain sampling (strength 1) and plain img2img (strength 0.6) */
    for (int k = 0; k < 2; k++) {
      a = (run_args){LDM_SAMPLER_DDPM, 20, LDM_SIGMAS_DISCRETE, 0, N, 0, k ? 0.6 : 1.0, init, ones, 0, 0};
      x = run(b, &m, &a);
      a.mask = NULL;
      if (k == 0) a.init = NULL;
      float *y = run(b, &m, &a);
      ck_assert_msg(memcmp(x, y, N * D * 4) == 0, "%s: mask 1 differs from %s", be_name(b), k ? "img2img" : "sampling");
      free(x);
      free(y);
    }
    /* half the dimensions repainted (independent of the kept ones for this data): those have the data's
     * moments, the kept ones are the init's; also with RePaint (jump 5, 2 resamplings) */
    for (int rp = 0; rp < 2; rp++) {
      a = (run_args){LDM_SAMPLER_DDPM, 200, LDM_SIGMAS_DISCRETE, 0, N, 0, 1.0, init, half, rp ? 5 : 0, rp ? 2 : 0};
      x = run(b, &m, &a);
      double mean[2] = {0, 0}, var[2] = {0, 0};
      for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
          if (j < 2) ck_assert_msg(x[i * D + j] == init[i * D + j], "%s: kept value changed", be_name(b));
          else mean[j - 2] += x[i * D + j] / N;
        }
      for (int i = 0; i < N; i++)
        for (int j = 2; j < D; j++) var[j - 2] += (x[i * D + j] - mean[j - 2]) * (x[i * D + j] - mean[j - 2]) / (N - 1);
      for (int j = 0; j < 2; j++) {
        fprintf(stderr, "inpaint %-6s %s dim %d: mean err %.4f var err %.4f\n", be_name(b), rp ? "RePaint" : "blend  ",
                j + 2, fabs(mean[j] - MU[j + 2]), fabs(var[j] / VAR - 1));
        ck_assert_msg(fabs(mean[j] - MU[j + 2]) < TOL_MEAN && fabs(var[j] / VAR - 1) < 1.5 * TOL_VAR,
                      "%s %s: repainted dim %d mean %g var %g", be_name(b), rp ? "RePaint" : "inpaint", j + 2,
                      mean[j], var[j]);
      }
      free(x);
    }
  }
  free(init);
  free(zeros);
  free(ones);
  free(half);
}
END_TEST

/* the coefficient code on its own: DDIM with eta 1 over every timestep is DDPM; RePaint visits more
 * levels; img2img runs int(steps * strength) steps; errors name the option */
START_TEST(plans) {
  ldm_sampler_spec sp = {LDM_SAMPLER_DDIM, TT, 1.0, 0, 0, 0, TT, g_abar[0], 1.0, false, 0, 0};
  ldm_sampler_plan p1, p2;
  ck_assert_int_eq(ldm_sampler_plan_make(&sp, &p1), LDM_OK);
  sp.sampler = LDM_SAMPLER_DDPM;
  ck_assert_int_eq(ldm_sampler_plan_make(&sp, &p2), LDM_OK);
  ck_assert_int_eq(p1.n, TT);
  ck_assert_int_eq(p2.n, TT);
  for (int r = 0; r < TT; r++)
    for (int w = 0; w < 8; w++)
      ck_assert_msg(fabsf(p1.r[r].c[w] - p2.r[r].c[w]) <= 1e-5f * (1 + fabsf(p2.r[r].c[w])), "replay %d word %d: %g %g",
                    r, w, p1.r[r].c[w], p2.r[r].c[w]);
  ldm_sampler_plan_free(&p1);
  ldm_sampler_plan_free(&p2);
  sp = (ldm_sampler_spec){LDM_SAMPLER_HEUN, 10, 0, LDM_SIGMAS_KARRAS, 0, 0, TT, g_abar[0], 0.5, false, 0, 0};
  ck_assert_int_eq(ldm_sampler_plan_make(&sp, &p1), LDM_OK);
  ck_assert_int_eq(p1.points, 5);
  ck_assert_int_eq(p1.n, 2 * 5 - 1); /* Heun: two evaluations per step, one on the last */
  ck_assert(p1.from_init);
  ldm_sampler_plan_free(&p1);
  sp = (ldm_sampler_spec){LDM_SAMPLER_DDPM, 20, 0, 0, 0, 0, TT, g_abar[0], 1.0, true, 5, 2};
  ck_assert_int_eq(ldm_sampler_plan_make(&sp, &p1), LDM_OK);
  ck_assert_int_eq(p1.n, 20 + 3 * 2 * 5); /* jumps back at levels 5, 10, 15, twice each, 5 levels each */
  ldm_sampler_plan_free(&p1);
  sp.inpaint = false;
  ck_assert_int_ne(ldm_sampler_plan_make(&sp, &p1), LDM_OK);
  ck_assert_ptr_nonnull(strstr(ldm_last_error(), "mask"));
  sp = (ldm_sampler_spec){LDM_SAMPLER_UNIPC, TT + 1, 0, 0, 0, 0, TT, g_abar[0], 1.0, false, 0, 0};
  ck_assert_int_ne(ldm_sampler_plan_make(&sp, &p1), LDM_OK);
  ck_assert_ptr_nonnull(strstr(ldm_last_error(), "--steps"));
  /* zero terminal SNR, eps-prediction: every coefficient finite (the last abar is taken as min(2^-24, abar[T-2] / 2), as diffusers) */
  for (int k = 0; k < LDM_SAMPLER_COUNT; k++) {
    sp = (ldm_sampler_spec){k, 25, 0, 0, 0, 0, TT, g_abar[1], 1.0, false, 0, 0};
    ck_assert_int_eq(ldm_sampler_plan_make(&sp, &p1), LDM_OK);
    for (int r = 0; r < p1.n; r++)
      for (int w = 0; w < LDM_SC_WORDS; w++)
        ck_assert_msg(isfinite(p1.r[r].c[w]), "%s replay %d word %d", ldm_sampler_name(k), r, w);
    ldm_sampler_plan_free(&p1);
  }
  for (int k = 0; k < LDM_SAMPLER_COUNT; k++) ck_assert_int_eq(ldm_sampler_parse(ldm_sampler_name(k)), k);
  ck_assert_int_eq(ldm_sampler_parse("dpm++"), -1);
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, plans);
  tcase_add_test(tc, same_images_whatever_the_batch);
  tcase_add_test(tc, editing);
  tcase_add_test(tc, order_of_accuracy);
  tcase_add_test(tc, moments_every_sampler);
}

int main(void) { return gc_run_suite("samplers", "samplers", 600, add_tests); }
