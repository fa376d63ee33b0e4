/* The sampler graph and its replay loop, for any model (the UNet, or the analytic denoiser of the tests):
 * one graph = model(x) -> ldm_sampler_step (x and the history h1..h3 in place) -> ldm_inpaint_blend (with
 * a mask), recorded once and replayed per model evaluation. Between replays the host writes only the
 * coefficient table, the step words (the Philox window) and the model's timesteps; the latents stay on
 * the device from the first replay of a batch to its last. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ops.h"
#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "sample/sampler.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
  ldm_graph g;
  ldm_exec *e;
  int x, h[3], coef, step, z0, mask;
} engine;

static ldm_status engine_build(engine *en, const ldm_backend *be, const ldm_sampler_model *m,
                               const ldm_sampler_run_opts *ro) {
  ldm_graph *g = &en->g;
  LDM_TRY(ldm_graph_init(g));
  int64_t shape[LDM_MAX_DIMS] = {ro->nb};
  for (int k = 0; k < ro->ndim; k++) shape[k + 1] = ro->shape[k];
  int nd = ro->ndim + 1;
  en->step = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  en->coef = ldm_host(g, "sampler_coefs", LDM_F32, LDM_SC_WORDS);
  en->x = ldm_act(g, "x", nd, shape);
  ldm_keep(g, en->x); /* the state persists across replays, as its history */
  static const char *const hn[3] = {"sampler_h1", "sampler_h2", "sampler_h3"};
  for (int k = 0; k < 3; k++) {
    en->h[k] = ldm_act(g, hn[k], nd, shape);
    ldm_keep(g, en->h[k]);
  }
  int out = m->build(m->user, g, en->x, en->coef);
  int noise = ldm_philox_fill(g, ldm_act(g, "noise", nd, shape), en->step, LDM_RNG_NORMAL, ro->seed,
                              LDM_SAMPLE_STREAM_STEP, 0);
  ldm_sampler_step(g, en->x, out, en->h[0], en->h[1], en->h[2], noise, en->coef, LDM_SC_STEP);
  en->z0 = en->mask = -1;
  if (ro->mask) {
    int64_t ms[LDM_MAX_DIMS] = {ro->nb, 1};
    for (int k = 1; k < ro->ndim; k++) ms[k + 1] = ro->shape[k];
    en->z0 = ldm_act(g, "init_latent", nd, shape);
    en->mask = ldm_act(g, "latent_mask", nd, ms);
    ldm_keep(g, en->z0);
    ldm_keep(g, en->mask);
    int n1 = ldm_philox_fill(g, ldm_act(g, "noise_known", nd, shape), en->step, LDM_RNG_NORMAL, ro->seed,
                             LDM_SAMPLE_STREAM_KNOWN, 0);
    int n2 = ldm_philox_fill(g, ldm_act(g, "noise_jump", nd, shape), en->step, LDM_RNG_NORMAL, ro->seed,
                             LDM_SAMPLE_STREAM_JUMP, 0);
    ldm_inpaint_blend(g, en->x, en->z0, en->mask, n1, n2, en->coef, LDM_SC_BLEND);
  }
  LDM_TRY(ldm_graph_plan(g));
  return ldm_exec_new(be, g, &en->e);
}

/* N(0, I) of image `img` (its global index), element j of per: Philox block (img per + j) / 4 of the
 * stream, so that image i is the same whatever the batch size (per % 4 == 0, checked) */
void ldm_sample_noise(uint64_t seed, uint64_t stream, int64_t img, int64_t per, float *out) {
  for (int64_t j = 0; j < per; j += 4) {
    float v[4];
    ldm_rng_normal4(seed, stream, 0, (uint64_t)((img * per + j) / 4), v);
    for (int q = 0; q < 4 && j + q < per; q++) out[j + q] = v[q];
  }
}

static void report(const ldm_sampler_run_opts *ro, int done, int64_t steps_done, int64_t steps_all, double t0) {
  if (!ro->progress) return;
  double dt = now_s() - t0, rate = dt > 0 ? (double)steps_done / dt : 0;
  ldm_progress p;
  memset(&p, 0, sizeof p);
  p.phase = LDM_PHASE_SAMPLE;
  p.name = "sample";
  p.done = done;
  p.total = ro->n;
  p.loss = NAN;
  p.extra = "";
  p.rate = rate;
  p.rate_unit = "steps/s";
  p.eta_s = rate > 0 ? (double)(steps_all - steps_done) / rate : -1;
  p.run_eta_s = -1;
  p.final = steps_done == steps_all;
  ro->progress(ro->user, &p);
}

ldm_status ldm_sampler_run(const ldm_backend *be, const ldm_sampler_model *m, const ldm_sampler_run_opts *ro,
                           float *out) {
  int64_t per = 1, hw = 1;
  for (int k = 0; k < ro->ndim; k++) per *= ro->shape[k];
  for (int k = 1; k < ro->ndim; k++) hw *= ro->shape[k];
  if (per % 4)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "sampler: %lld latent elements per image; the noise keyed by image needs a "
                    "multiple of 4", (long long)per);
  if (ro->mask && !ro->init)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "sampler: a mask needs the init latents");
  if ((int64_t)ro->n * per / 4 > (int64_t)UINT32_MAX)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "sampler: %d images of %lld elements are too many for one seed", ro->n,
                    (long long)per);
  ldm_sampler_spec sp = *ro->spec;
  sp.inpaint = ro->mask != NULL;
  if (!ro->init) sp.strength = 1.0;
  ldm_sampler_plan plan;
  LDM_TRY(ldm_sampler_plan_make(&sp, &plan));
  engine en;
  memset(&en, 0, sizeof en);
  ldm_status s = engine_build(&en, be, m, ro);
  if (s == LDM_OK && m->ready) s = m->ready(m->user, en.e);
  int nb = ro->nb;
  float *xb = s == LDM_OK ? ldm_calloc((size_t)(nb * per), 4) : NULL;
  float *nz = s == LDM_OK ? ldm_malloc((size_t)per * 4) : NULL;
  float *mb = s == LDM_OK && ro->mask ? ldm_calloc((size_t)(nb * hw), 4) : NULL;
  float *zb = s == LDM_OK && ro->mask ? ldm_calloc((size_t)(nb * per), 4) : NULL;
  if (s == LDM_OK && (!xb || !nz || (ro->mask && (!mb || !zb)))) s = LDM_ERR_NOMEM;
  uint32_t *sw = s == LDM_OK ? ldm_exec_host_ptr(en.e, en.step) : NULL;
  float *cw = s == LDM_OK ? ldm_exec_host_ptr(en.e, en.coef) : NULL;
  int nbatch = (ro->n + nb - 1) / nb;
  int64_t steps_all = (int64_t)nbatch * plan.n, steps_done = 0;
  double t0 = now_s();
  for (int base = 0; base < ro->n && s == LDM_OK; base += nb) {
    int mcount = ro->n - base < nb ? ro->n - base : nb;
    /* the start: pure noise, or the init latent noised to the first level (SDEdit) */
    for (int i = 0; i < nb; i++) {
      float *xi = xb + (int64_t)i * per;
      ldm_sample_noise(ro->seed, LDM_SAMPLE_STREAM_INIT, base + i, per, nz);
      const float *z0 = ro->init && i < mcount ? ro->init + (int64_t)(base + i) * per : NULL;
      for (int64_t j = 0; j < per; j++)
        xi[j] = plan.from_init ? (float)(plan.a0 * (z0 ? z0[j] : 0.0f) + plan.s0 * nz[j]) : nz[j];
      if (zb) {
        memset(zb + (int64_t)i * per, 0, (size_t)per * 4);
        memset(mb + (int64_t)i * hw, 0, (size_t)hw * 4);
        if (z0) memcpy(zb + (int64_t)i * per, z0, (size_t)per * 4);
        if (i < mcount) memcpy(mb + (int64_t)i * hw, ro->mask + (int64_t)(base + i) * hw, (size_t)hw * 4);
      }
    }
    if (zb) {
      s = ldm_exec_write(en.e, en.z0, zb, (size_t)(nb * per) * 4);
      if (s == LDM_OK) s = ldm_exec_write(en.e, en.mask, mb, (size_t)(nb * hw) * 4);
    }
    if (s == LDM_OK) s = ldm_exec_write(en.e, en.x, xb, (size_t)(nb * per) * 4);
    memset(nz, 0, (size_t)per * 4);
    for (int k = 0; k < 3 && s == LDM_OK; k++) { /* no history yet (its coefficients are 0 on the first step) */
      memset(xb, 0, (size_t)(nb * per) * 4);
      s = ldm_exec_write(en.e, en.h[k], xb, (size_t)(nb * per) * 4);
    }
    for (int r = 0; r < plan.n && s == LDM_OK; r++) {
      if (ro->cancel && *ro->cancel) {
        s = LDM_FAIL(LDM_ERR_INTERRUPTED, "sampling interrupted");
        break;
      }
      memset(sw, 0, LDM_STEP_WORDS * 4);
      /* the Philox window: block (image index * per + j) / 4 of replay r's 2^32-block range */
      sw[LDM_STEP_RNG_LO] = (uint32_t)((int64_t)base * per / 4);
      sw[LDM_STEP_RNG_HI] = (uint32_t)(r + 1);
      sw[LDM_STEP_SAMPLE_I] = (uint32_t)r;
      memcpy(cw, plan.r[r].c, sizeof plan.r[r].c);
      s = m->before ? m->before(m->user, en.e, plan.r[r].t, base, r) : LDM_OK;
      if (s == LDM_OK) s = ldm_exec_run(en.e);
      steps_done++;
      if (s == LDM_OK) report(ro, r + 1 == plan.n ? base + mcount : base, steps_done, steps_all, t0);
    }
    if (s == LDM_OK && plan.n == 0) report(ro, base + mcount, steps_done, steps_all, t0);
    if (s == LDM_OK) s = ldm_exec_read(en.e, en.x, xb, (size_t)(nb * per) * 4);
    if (s == LDM_OK) memcpy(out + (int64_t)base * per, xb, (size_t)(mcount * per) * 4);
  }
  free(xb);
  free(nz);
  free(mb);
  free(zb);
  ldm_exec_free(en.e);
  if (en.g.t) ldm_graph_free(&en.g);
  ldm_sampler_plan_free(&plan);
  return s;
}

ldm_status ldm_sampler_time(const ldm_backend *be, const ldm_sampler_model *m, const ldm_sampler_run_opts *ro,
                            int iters, double *replay_ms, double *step_op_ms) {
  ldm_sampler_plan plan;
  LDM_TRY(ldm_sampler_plan_make(ro->spec, &plan));
  engine en;
  memset(&en, 0, sizeof en);
  ldm_status s = engine_build(&en, be, m, ro);
  if (s == LDM_OK && m->ready) s = m->ready(m->user, en.e);
  double *t = s == LDM_OK ? ldm_malloc((size_t)(iters > 0 ? iters : 1) * sizeof *t) : NULL;
  if (s == LDM_OK && !t) s = LDM_ERR_NOMEM;
  if (s == LDM_OK) {
    memset(ldm_exec_host_ptr(en.e, en.step), 0, LDM_STEP_WORDS * 4);
    memcpy(ldm_exec_host_ptr(en.e, en.coef), plan.r[plan.n > 1 ? 1 : 0].c, sizeof plan.r[0].c);
    if (m->before) s = m->before(m->user, en.e, plan.r[0].t, 0, 0);
  }
  for (int i = 0; i < 3 + iters && s == LDM_OK; i++) { /* 3 warm-up runs */
    double t0 = now_s();
    s = ldm_exec_run(en.e);
    if (i >= 3) t[i - 3] = (now_s() - t0) * 1e3;
  }
  if (s == LDM_OK) { /* the median, and the sampler_step nodes' time of one timed run */
    for (int i = 1; i < iters; i++)
      for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
        double x = t[j];
        t[j] = t[j - 1];
        t[j - 1] = x;
      }
    *replay_ms = t[iters / 2];
    ldm_exec_enable_timing(en.e, true);
    s = ldm_exec_run(en.e);
    const double *ms = ldm_exec_node_times(en.e);
    *step_op_ms = 0;
    for (int i = 0; ms && i < en.g.nn; i++)
      if (en.g.n[i].op == LDM_OP_sampler_step) *step_op_ms += ms[i];
    ldm_exec_enable_timing(en.e, false);
  }
  free(t);
  ldm_exec_free(en.e);
  if (en.g.t) ldm_graph_free(&en.g);
  ldm_sampler_plan_free(&plan);
  return s;
}
