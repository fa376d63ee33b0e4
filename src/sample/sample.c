/* Sampling: DDIM / DDPM with classifier-free guidance on the device, then the VAE decoder.
 * The latents stay on the device for all steps: one graph (UNet on [cond; uncond] + guidance + one
 * reverse step, written back into x) is recorded once and replayed per step; the host only writes the
 * step buffer (t, t_prev, RNG window) and the timestep vector. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ldm/backend.h"
#include "ldm/checkpoint.h"
#include "ldm/io.h"
#include "ldm/log.h"
#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/schedule.h"
#include "ldm/train.h"
#include "runtime/runtime.h"
#include "sample/sampler.h"

void ldm_sample_defaults(ldm_sample_opts *o) {
  memset(o, 0, sizeof *o);
  o->n = 40;
  o->cls = -1;
  o->sampler = LDM_SAMPLER_DDIM;
  o->steps = 50;
  o->eta = 0.0f;
  o->guidance = 2.0f;
  o->seed = 0;
  o->batch = 100;
  o->strength = 1.0f;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
  ldm_graph g;
  ldm_exec *e;
  int x, t2, y2, step, abar;
  int nb;
  bool cfg;
} unet_sampler;

static ldm_status build_unet_sampler(unet_sampler *s, const ldm_backend *be, const ldm_model_cfg *c, int nb, bool cfg,
                                     int kind, float eta, float guidance, int v_pred, int T, uint64_t seed) {
  ldm_graph *g = &s->g;
  LDM_TRY(ldm_graph_init(g));
  s->nb = nb;
  s->cfg = cfg;
  int lr = ldm_latent_res(c);
  int64_t per = (int64_t)c->z * lr * lr;
  int nm = cfg ? 2 * nb : nb;
  s->step = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  s->t2 = ldm_host(g, "t", LDM_U32, nm);
  s->y2 = ldm_host(g, "y", LDM_U32, nm);
  s->abar = ldm_tensor_new(g, "alphas_cumprod", LDM_ARENA_CONST, LDM_F32, 1, LDM_SHAPE(T));
  s->x = ldm_act(g, "x", 4, LDM_SHAPE(nb, c->z, lr, lr));
  ldm_keep(g, s->x); /* persists across replays */
  int xin = s->x;
  if (cfg) {
    xin = ldm_act(g, "x2", 4, LDM_SHAPE(nm, c->z, lr, lr));
    int v0 = ldm_view(g, xin, "x2.cond", 0, 1, LDM_SHAPE(nb * per));
    int v1 = ldm_view(g, xin, "x2.uncond", nb * per, 1, LDM_SHAPE(nb * per));
    ldm_copy(g, s->x, v0); /* a refused copy fails the graph (ldm_graph_plan reports it) */
    ldm_copy(g, s->x, v1);
  }
  int out = ldm_unet(g, c, xin, s->t2, s->y2);
  if (cfg) out = ldm_cfg_combine(g, out, guidance);
  int noise = ldm_act(g, "noise", 4, LDM_SHAPE(nb, c->z, lr, lr));
  noise = ldm_philox_fill(g, noise, s->step, LDM_RNG_NORMAL, seed, 0x5A5A, 0);
  ldm_sampler_step(g, s->x, out, s->abar, noise, s->step, kind, eta, v_pred, s->x); /* x in place */
  LDM_TRY(ldm_graph_plan(g));
  return ldm_exec_new(be, g, &s->e);
}

static ldm_status decode_latents(const ldm_backend *be, const ldm_model_cfg *c, const ldm_weights *vae, const float *z,
                                 int n, int nb, float *imgs) {
  ldm_graph g;
  LDM_TRY(ldm_graph_init(&g));
  int lr = ldm_latent_res(c);
  int64_t per = (int64_t)c->z * lr * lr, img = (int64_t)c->cin * c->res * c->res;
  int zt = ldm_act(&g, "z", 4, LDM_SHAPE(nb, c->z, lr, lr));
  ldm_keep(&g, zt);
  int xh = ldm_vae_decode(&g, c, zt);
  ldm_keep(&g, xh);
  ldm_exec *e = NULL;
  ldm_status s = ldm_graph_check(&g, xh);
  if (s == LDM_OK) s = ldm_graph_plan(&g);
  if (s == LDM_OK) s = ldm_exec_new(be, &g, &e);
  if (s == LDM_OK) s = ldm_weights_load(vae, e, LDM_ARENA_PARAM);
  float *zb = s == LDM_OK ? ldm_calloc((size_t)(nb * per), 4) : NULL;
  float *xb = s == LDM_OK ? ldm_malloc((size_t)(nb * img) * 4) : NULL;
  if (s == LDM_OK && (!zb || !xb)) s = LDM_ERR_NOMEM;
  for (int b0 = 0; b0 < n && s == LDM_OK; b0 += nb) {
    int m = n - b0 < nb ? n - b0 : nb;
    memset(zb, 0, (size_t)(nb * per) * 4);
    memcpy(zb, z + (int64_t)b0 * per, (size_t)(m * per) * 4);
    s = ldm_exec_write(e, zt, zb, (size_t)(nb * per) * 4);
    if (s == LDM_OK) s = ldm_exec_run(e);
    if (s == LDM_OK) s = ldm_exec_read(e, xh, xb, (size_t)(nb * img) * 4);
    if (s == LDM_OK) memcpy(imgs + (int64_t)b0 * img, xb, (size_t)(m * img) * 4);
  }
  free(zb);
  free(xb);
  ldm_exec_free(e);
  ldm_graph_free(&g);
  return s;
}

static bool is_param(const ldm_tensor *t) { return t->arena == LDM_ARENA_PARAM && t->view_of == -1; }

/* a parameter tensor of g (not a view) named name, or NULL */
static const ldm_tensor *param_named(const ldm_graph *g, const char *name) {
  int k = ldm_find(g, name);
  return k >= 0 && is_param(&g->t[k]) ? &g->t[k] : NULL;
}

ldm_status ldm_weights_load(const ldm_weights *w, ldm_exec *e, ldm_arena a) {
  if (w->file) return ldm_ckpt_load_arena(w->file, e, a, "");
  /* in memory: every parameter of e's graph from w's arena image, by name and shape */
  const ldm_graph *g = ldm_exec_graph(e);
  size_t bytes = (size_t)g->arena_size[a];
  uint8_t *image = ldm_calloc(1, bytes ? bytes : 1);
  ldm_status s = image ? LDM_OK : LDM_ERR_NOMEM;
  for (int i = 0; i < g->nt && s == LDM_OK; i++) {
    const ldm_tensor *t = &g->t[i];
    if (!is_param(t)) continue;
    const ldm_tensor *src = param_named(w->g, t->name);
    if (!src || src->ndim != t->ndim || memcmp(src->shape, t->shape, (size_t)t->ndim * sizeof t->shape[0]) != 0)
      s = LDM_FAIL(LDM_ERR_MISMATCH, "weights in memory: no parameter '%s' of the same shape", t->name);
    else memcpy(image + t->offset, (const uint8_t *)w->arena + src->offset, (size_t)ldm_tensor_bytes(t));
  }
  if (s == LDM_OK) s = ldm_exec_write_arena(e, a, image, bytes);
  free(image);
  return s;
}

static ldm_status name_error(ldm_status s, const char *path) { return path ? ldm_ckpt_name_error(s, path) : s; }

ldm_status ldm_sample(const ldm_backend *be, const ldm_sample_opts *o, float **images, int **labels,
                      ldm_model_cfg *cfg_out) {
  *images = NULL;
  *labels = NULL;
  if (o->n < 1) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--n must be at least 1");
  if (o->steps < 1) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--steps must be at least 1");
  ldm_run_weights rw;
  LDM_TRY(ldm_run_weights_open(o->ckpt, &rw));
  ldm_status s = ldm_sample_weights(be, o, &rw.c, &rw.sch, &rw.unet, &rw.vae, images, labels);
  ldm_model_cfg c = rw.c;
  ldm_run_weights_close(&rw);
  if (s == LDM_OK && cfg_out) *cfg_out = c;
  return s;
}

ldm_status ldm_sample_weights(const ldm_backend *be, const ldm_sample_opts *o, const ldm_model_cfg *cfg,
                              const ldm_ckpt_sched *sch, const ldm_weights *unet, const ldm_weights *vae,
                              float **images, int **labels) {
  *images = NULL;
  *labels = NULL;
  if (o->n < 1) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--n must be at least 1");
  if (o->steps < 1) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--steps must be at least 1");
  const char *path = unet->path, *vpath = vae->path;
  ldm_model_cfg c = *cfg;
  ldm_status s = LDM_OK;
  double scale = sch->scale;
  int Ti = sch->T;
  ldm_schedule_kind kind = sch->schedule;
  if (s == LDM_OK && o->cls >= c.ncls)
    s = LDM_FAIL(LDM_ERR_INVALID_ARG, "--class %d: the model has %d classes (0..%d)", o->cls, c.ncls, c.ncls - 1);
  if (s == LDM_OK && o->steps > Ti)
    s = LDM_FAIL(LDM_ERR_INVALID_ARG, "--steps %d exceeds the %d training timesteps of %s", o->steps, Ti,
                 path ? path : "the model");
  if (s != LDM_OK) return s;
  float *betas = ldm_malloc((size_t)Ti * 4), *abar = ldm_malloc((size_t)Ti * 4);
  int *ts = ldm_malloc((size_t)o->steps * sizeof *ts);
  int lr = ldm_latent_res(&c);
  int64_t per = (int64_t)c.z * lr * lr, img = (int64_t)c.cin * c.res * c.res;
  float *lat = ldm_malloc((size_t)(o->n * per) * 4);
  *images = ldm_malloc((size_t)(o->n * img) * 4);
  *labels = ldm_malloc((size_t)o->n * sizeof **labels);
  if (!betas || !abar || !ts || !lat || !*images || !*labels) s = LDM_ERR_NOMEM;
  if (s == LDM_OK) s = ldm_schedule_make(kind, Ti, sch->beta_start, sch->beta_end, sch->zero_snr, betas, abar);
  if (s == LDM_OK) s = ldm_ddim_timesteps(Ti, o->steps, ts);
  if (o->sampler == LDM_SAMPLER_DDPM && o->steps == Ti && s == LDM_OK)
    for (int i = 0; i < Ti; i++) ts[i] = Ti - 1 - i;
  for (int i = 0; i < o->n; i++) (*labels)[i] = c.ncls > 0 ? (o->cls >= 0 ? o->cls : i % c.ncls) : -1;
  bool use_cfg = c.ncls > 0 && o->guidance != 1.0f;
  int nb = o->batch > 0 && o->batch < o->n ? o->batch : o->n;
  unet_sampler us;
  memset(&us, 0, sizeof us);
  if (s == LDM_OK)
    s = build_unet_sampler(&us, be, &c, nb, use_cfg, o->sampler, o->eta, o->guidance, sch->v_pred, Ti, o->seed);
  if (s == LDM_OK) s = ldm_weights_load(unet, us.e, LDM_ARENA_PARAM);
  if (s == LDM_OK) s = ldm_exec_write(us.e, us.abar, abar, (size_t)Ti * 4);
  s = name_error(s, path); /* everything so far was built from the UNet's weights */
  float *xb = s == LDM_OK ? ldm_malloc((size_t)(nb * per) * 4) : NULL;
  if (s == LDM_OK && !xb) s = LDM_ERR_NOMEM;
  uint32_t *tv = s == LDM_OK ? ldm_exec_host_ptr(us.e, us.t2) : NULL;
  uint32_t *yv = s == LDM_OK ? ldm_exec_host_ptr(us.e, us.y2) : NULL;
  uint32_t *sw = s == LDM_OK ? ldm_exec_host_ptr(us.e, us.step) : NULL;
  int nm = use_cfg ? 2 * nb : nb;
  /* progress: images finished, denoising steps per second over all batches */
  int nbatch = (o->n + nb - 1) / nb;
  int64_t steps_all = (int64_t)nbatch * o->steps, steps_done = 0;
  double t0 = now_s();
  for (int b = 0; b * nb < o->n && s == LDM_OK; b++) {
    int base = b * nb;
    /* z_T ~ N(0, I), drawn on the host from the same Philox stream family */
    for (int64_t k = 0; k < (int64_t)nb * per; k += 4) {
      float v[4];
      ldm_rng_normal4(o->seed, 0xA11CEu, (uint64_t)b << 32, (uint64_t)(k / 4), v);
      for (int q = 0; q < 4 && k + q < nb * per; q++) xb[k + q] = v[q];
    }
    s = ldm_exec_write(us.e, us.x, xb, (size_t)(nb * per) * 4);
    for (int i = 0; i < nm; i++) {
      int img_i = base + (i % nb);
      int lab = img_i < o->n ? (*labels)[img_i] : (*labels)[0];
      yv[i] = (i < nb && lab >= 0) ? (uint32_t)lab : (uint32_t)c.ncls; /* uncond half: the null class */
    }
    for (int k = 0; k < o->steps && s == LDM_OK; k++) {
      memset(sw, 0, LDM_STEP_WORDS * 4);
      sw[LDM_STEP_RNG_HI] = (uint32_t)(b * o->steps + k + 1);
      sw[LDM_STEP_USER + 0] = (uint32_t)ts[k];
      sw[LDM_STEP_USER + 1] = k + 1 < o->steps ? (uint32_t)ts[k + 1] : 0xffffffffu;
      sw[LDM_STEP_SAMPLE_I] = (uint32_t)k;
      for (int i = 0; i < nm; i++) tv[i] = (uint32_t)ts[k];
      if (o->cancel && *o->cancel) {
        s = LDM_FAIL(LDM_ERR_INTERRUPTED, "sampling interrupted");
        break;
      }
      s = ldm_exec_run(us.e);
      steps_done++;
      if (s == LDM_OK && o->progress) {
        double dt = now_s() - t0, rate = dt > 0 ? (double)steps_done / dt : 0;
        int done = k + 1 == o->steps ? (base + nb < o->n ? base + nb : o->n) : base;
        ldm_progress p;
        memset(&p, 0, sizeof p);
        p.phase = LDM_PHASE_SAMPLE;
        p.name = "sample";
        p.done = done;
        p.total = o->n;
        p.loss = NAN;
        p.extra = "";
        p.rate = rate;
        p.rate_unit = "steps/s";
        p.eta_s = rate > 0 ? (double)(steps_all - steps_done) / rate : -1;
        p.run_eta_s = -1;
        p.final = steps_done == steps_all;
        o->progress(o->user, &p);
      }
    }
    if (s == LDM_OK) s = ldm_exec_read(us.e, us.x, xb, (size_t)(nb * per) * 4);
    int m = o->n - base < nb ? o->n - base : nb;
    for (int64_t k = 0; k < (int64_t)m * per && s == LDM_OK; k++) lat[(int64_t)base * per + k] = xb[k] / (float)scale;
  }
  if (s == LDM_OK) s = name_error(decode_latents(be, &c, vae, lat, o->n, nb, *images), vpath);
  free(xb);
  ldm_exec_free(us.e);
  if (us.g.t) ldm_graph_free(&us.g);
  free(betas);
  free(abar);
  free(ts);
  free(lat);
  if (s != LDM_OK) {
    free(*images);
    free(*labels);
    *images = NULL;
    *labels = NULL;
  }
  return s;
}
