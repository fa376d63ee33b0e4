/* Sampling from a run's UNet (classifier-free guidance, optionally rescaled) with any sampler of
 * coefs.c through the replayed sampler graph of engine.c, then the VAE decoder. */
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


/* The UNet as the sampler's model: [x; x] with [labels; null class] under guidance, the guided output
 * (optionally rescaled). */
typedef struct {
  const ldm_model_cfg *c;
  const ldm_weights *w;
  const int *labels;
  int n, nb, t2, y2;
  bool cfg;
  float guidance, rescale;
} unet_model;

static int unet_build(void *user, ldm_graph *g, int x, int coef) {
  unet_model *u = user;
  int nb = u->nb, nm = u->cfg ? 2 * nb : nb;
  int lr = ldm_latent_res(u->c);
  int64_t per = (int64_t)u->c->z * lr * lr;
  u->t2 = ldm_host(g, "t", LDM_U32, nm);
  u->y2 = ldm_host(g, "y", LDM_U32, nm);
  int xin = x;
  if (u->cfg) {
    xin = ldm_act(g, "x2", 4, LDM_SHAPE(nm, u->c->z, lr, lr));
    ldm_copy(g, x, ldm_view(g, xin, "x2.cond", 0, 1, LDM_SHAPE(nb * per))); /* a refused copy fails the graph */
    ldm_copy(g, x, ldm_view(g, xin, "x2.uncond", nb * per, 1, LDM_SHAPE(nb * per)));
  }
  int out = ldm_unet(g, u->c, xin, u->t2, u->y2);
  if (!u->cfg) return out;
  int guided = ldm_cfg_combine(g, out, u->guidance);
  return u->rescale > 0 ? ldm_cfg_rescale(g, out, guided, u->rescale) : guided;
}
static ldm_status unet_ready(void *user, ldm_exec *e) {
  unet_model *u = user;
  return u->w ? ldm_weights_load(u->w, e, LDM_ARENA_PARAM) : LDM_OK; /* none: the bench's zero weights */
}
static ldm_status unet_before(void *user, ldm_exec *e, uint32_t t, int base, int replay) {
  unet_model *u = user;
  int nm = u->cfg ? 2 * u->nb : u->nb;
  uint32_t *tv = ldm_exec_host_ptr(e, u->t2), *yv = ldm_exec_host_ptr(e, u->y2);
  for (int i = 0; i < nm; i++) tv[i] = t;
  for (int i = 0; replay == 0 && i < nm; i++) {
    int img = base + (i % u->nb);
    int lab = u->labels[img < u->n ? img : 0];
    yv[i] = (i < u->nb && lab >= 0) ? (uint32_t)lab : (uint32_t)u->c->ncls; /* uncond half: the null class */
  }
  return LDM_OK;
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
  ldm_status s = ldm_graph_check(&g, xh);
  if (s == LDM_OK) s = ldm_vae_run_batches(be, &g, vae, zt, per, xh, img, nb, z, n, imgs);
  ldm_graph_free(&g);
  return s;
}

ldm_status ldm_vae_run_batches(const ldm_backend *be, ldm_graph *g, const ldm_weights *vae, int in, int64_t in_per,
                               int out, int64_t out_per, int nb, const float *src, int n, float *dst) {
  ldm_exec *e = NULL;
  ldm_status s = ldm_graph_plan(g);
  if (s == LDM_OK) s = ldm_exec_new(be, g, &e);
  if (s == LDM_OK) s = ldm_weights_load(vae, e, LDM_ARENA_PARAM);
  float *ib = s == LDM_OK ? ldm_calloc((size_t)(nb * in_per), 4) : NULL;
  float *ob = s == LDM_OK ? ldm_malloc((size_t)(nb * out_per) * 4) : NULL;
  if (s == LDM_OK && (!ib || !ob)) s = LDM_ERR_NOMEM;
  for (int b0 = 0; b0 < n && s == LDM_OK; b0 += nb) {
    int m = n - b0 < nb ? n - b0 : nb; /* the last batch: zero rows after the m given */
    memset(ib, 0, (size_t)(nb * in_per) * 4);
    memcpy(ib, src + (int64_t)b0 * in_per, (size_t)(m * in_per) * 4);
    s = ldm_exec_write(e, in, ib, (size_t)(nb * in_per) * 4);
    if (s == LDM_OK) s = ldm_exec_run(e);
    if (s == LDM_OK) s = ldm_exec_read(e, out, ob, (size_t)(nb * out_per) * 4);
    if (s == LDM_OK) memcpy(dst + (int64_t)b0 * out_per, ob, (size_t)(m * out_per) * 4);
  }
  free(ib);
  free(ob);
  ldm_exec_free(e);
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
  int lr = ldm_latent_res(&c);
  int64_t per = (int64_t)c.z * lr * lr, img = (int64_t)c.cin * c.res * c.res;
  float *lat = ldm_malloc((size_t)(o->n * per) * 4);
  float *init = o->init ? ldm_malloc((size_t)(o->n * per) * 4) : NULL;
  *images = ldm_malloc((size_t)(o->n * img) * 4);
  *labels = ldm_malloc((size_t)o->n * sizeof **labels);
  if (!betas || !abar || !lat || !*images || !*labels || (o->init && !init)) s = LDM_ERR_NOMEM;
  if (s == LDM_OK) s = ldm_schedule_make(kind, Ti, sch->beta_start, sch->beta_end, sch->zero_snr, betas, abar);
  for (int i = 0; i < o->n; i++) (*labels)[i] = c.ncls > 0 ? (o->cls >= 0 ? o->cls : i % c.ncls) : -1;
  /* the init latents in the UNet's scale */
  for (int64_t k = 0; init && k < (int64_t)o->n * per; k++) init[k] = o->init[k] * (float)scale;
  bool use_cfg = c.ncls > 0 && o->guidance != 1.0f;
  int nb = o->batch > 0 && o->batch < o->n ? o->batch : o->n;
  unet_model um = {&c, unet, *labels, o->n, nb, -1, -1, use_cfg, o->guidance, o->guidance_rescale};
  ldm_sampler_model model = {unet_build, unet_ready, unet_before, &um};
  ldm_sampler_spec sp = {o->sampler, o->steps, o->eta, o->sigmas, o->spacing, sch->v_pred, Ti, abar,
                         o->init ? o->strength : 1.0, o->mask != NULL, o->repaint_jump, o->repaint_resample};
  ldm_sampler_run_opts ro = {&sp, o->n, nb, 3, {c.z, lr, lr}, o->seed, init, o->mask, o->progress, o->user,
                             o->cancel};
  if (s == LDM_OK) s = name_error(ldm_sampler_run(be, &model, &ro, lat), path);
  for (int64_t k = 0; s == LDM_OK && k < (int64_t)o->n * per; k++) lat[k] /= (float)scale;
  if (s == LDM_OK) s = name_error(decode_latents(be, &c, vae, lat, o->n, nb, *images), vpath);
  free(betas);
  free(abar);
  free(lat);
  free(init);
  if (s != LDM_OK) {
    free(*images);
    free(*labels);
    *images = NULL;
    *labels = NULL;
  }
  return s;
}

ldm_status ldm_sample_bench(const ldm_backend *be, const ldm_model_cfg *c, int nb, int iters, FILE *f) {
  float abar[1000];
  LDM_TRY(ldm_schedule_make(LDM_SCHEDULE_LINEAR, 1000, 1e-4, 0.02, false, NULL, abar));
  int *labels = ldm_calloc((size_t)nb, sizeof *labels);
  if (!labels) return LDM_ERR_NOMEM;
  int lr = ldm_latent_res(c);
  unet_model um = {c, NULL, labels, nb, nb, -1, -1, c->ncls > 0, 2.0f, 0.0f};
  ldm_sampler_model model = {unet_build, unet_ready, unet_before, &um};
  ldm_sampler_spec sp = {LDM_SAMPLER_DPMPP_2M, 20, 0, LDM_SIGMAS_KARRAS, 0, 0, 1000, abar, 1.0, false, 0, 0};
  ldm_sampler_run_opts ro = {&sp, nb, nb, 3, {c->z, lr, lr}, 0, NULL, NULL, NULL, NULL, NULL};
  double ms = 0, op = 0;
  ldm_status s = ldm_sampler_time(be, &model, &ro, iters, &ms, &op);
  if (s == LDM_OK)
    fprintf(f, "sampling step, batch %d%s: %.2f ms per model evaluation (%.1f images x steps/s), sampler_step op "
            "%.4f ms; every sampler makes 1 evaluation a step, heun 2\n", nb, um.cfg ? " (guidance: UNet on 2x)" : "",
            ms, nb / (ms * 1e-3), op);
  free(labels);
  return s;
}
