/* The sample grids of training: VAE reconstructions next to their originals, UNet samples one row per
 * class (from the training executor's EMA weights in memory), and the host's copy of each. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/runinfo.h"
#include "sample/sampler.h"
#include "train/trainer.h"

/* the host's copy of a sample grid */
static void grid_callback(const ldm_train_opts *o, const char *stage, int64_t step, bool final, const float *images,
                          int n, const ldm_model_cfg *m, int nrow, const char *path) {
  if (!o->sample_grid) return;
  ldm_sample_grid g = {stage, step, final, images, n, m->cin, m->res, m->res, nrow, path};
  o->sample_grid(o->user, &g);
}


/* reconstructions of the first images of the batch next to the originals */
ldm_status tr_vae_samples(tr_ctx *c, tr_stage *r, int64_t step, bool final) {
  if (!final && c->o->sample_every <= 0) return LDM_OK;
  int x = ldm_find(&r->g, "vae.x"), xh = ldm_find(&r->g, "vae.x_hat");
  if (x < 0 || xh < 0) return LDM_OK;
  int64_t n = r->g.t[x].numel, per = (int64_t)c->c->cin * c->c->res * c->c->res;
  int show = (int)(n / per < 16 ? n / per : 16);
  float *buf = ldm_malloc((size_t)(2 * n) * 4), *grid = ldm_malloc((size_t)(2 * show * per) * 4);
  ldm_status s = buf && grid ? LDM_OK : LDM_ERR_NOMEM;
  if (s == LDM_OK) s = ldm_exec_read(r->e, x, buf, (size_t)n * 4);
  if (s == LDM_OK) s = ldm_exec_read(r->e, xh, buf + n, (size_t)n * 4);
  if (s == LDM_OK) {
    memcpy(grid, buf, (size_t)(show * per) * 4);
    memcpy(grid + show * per, buf + n, (size_t)(show * per) * 4);
    char path[700];
    snprintf(path, sizeof path, "%s/samples/vae_recon_%06lld.png", c->o->out, (long long)step);
    char sstep[24];
    snprintf(sstep, sizeof sstep, "%lld", (long long)step);
    const ldm_image_text txt[] = {{"Software", ldm_software_string()}, {"stage", "vae"}, {"step", sstep},
                                  {"Description", "VAE: training images, then their reconstructions"}};
    s = ldm_image_write_grid(path, LDM_IMAGE_PNG, grid, 2 * show, c->c->cin, c->c->res, c->c->res, show, c->c->crop,
                             txt, 4);
    if (s == LDM_OK) grid_callback(c->o, "vae", step, final, grid, 2 * show, c->c, show, path);
  }
  free(buf);
  free(grid);
  return s;
}

#define GRID_MAX_ROWS 16 /* classes shown in a training sample grid */

/* the sampler on the training executor's EMA weights (read once from the device) and the VAE of
 * c->vae_file, with the schedule as the weights file states it */
static ldm_status sample_ema(const tr_ctx *c, const tr_stage *r, const void *ema, const ldm_sample_opts *so,
                             float **imgs, int **labels) {
  ldm_ckpt_sched sch;
  tr_sched_of(c->o, c->scale, &sch);
  ldm_weights uw = {NULL, &r->g, ema, NULL}, vw = {c->vae_file, NULL, NULL, NULL};
  return ldm_sample_weights(c->be, so, c->c, &sch, &uw, &vw, imgs, labels);
}

ldm_status tr_unet_samples(tr_ctx *c, tr_stage *r, int64_t step, bool final) {
  if (!final && c->o->sample_every <= 0) return LDM_OK;
  /* a checkpoint of this step first, as every sample grid has one (never non-finite weights) */
  if (c->st->ckpt_step != step) LDM_TRY(tr_write_ckpt(c, r, step, final));
  ldm_sample_opts so;
  ldm_sample_defaults(&so);
  snprintf(so.ckpt, sizeof so.ckpt, "%s", c->o->out);
  int ncls = c->c->ncls > 0 ? c->c->ncls : 10;
  so.n = ncls * (final ? 8 : 4);
  so.steps = c->o->sample_steps;
  so.guidance = c->o->guidance;
  so.seed = c->o->seed + 1;
  /* a cancel stops an intermediate grid (its step's checkpoint is written); the final grid always finishes,
   * since a resume does not make it again for a stage whose final checkpoint is written */
  so.cancel = final ? NULL : c->o->cancel;
  /* guidance runs the UNet on 2 x so.batch latents; at half the training batch that fits wherever the
   * training step fits (a smaller --batch is then the answer to the device's buffer-range limit here too) */
  int half = c->o->batch / 2 > 0 ? c->o->batch / 2 : 1;
  if (so.batch > half) so.batch = half;
  /* class-major grid: row k = class k; with many classes, the first GRID_MAX_ROWS of them (a grid of a
   * thousand rows would be slow to make and too tall for a PNG), each sampled on its own */
  float *imgs = NULL;
  int *labels = NULL;
  double t0 = tr_now();
  int per_cls = so.n / ncls, rows = ncls;
  int64_t per = (int64_t)c->c->cin * c->c->res * c->c->res;
  float *grid = NULL;
  size_t esz = (size_t)r->g.arena_size[LDM_ARENA_EMA];
  void *ema = ldm_malloc(esz ? esz : 1);
  ldm_status s = ema ? ldm_exec_read_arena(r->e, LDM_ARENA_EMA, ema, esz) : LDM_ERR_NOMEM;
  if (s == LDM_OK && ncls <= GRID_MAX_ROWS) {
    s = sample_ema(c, r, ema, &so, &imgs, &labels);
    grid = s == LDM_OK ? ldm_malloc((size_t)(so.n * per) * 4) : NULL;
    if (s == LDM_OK && !grid) s = LDM_ERR_NOMEM;
    for (int i = 0; s == LDM_OK && i < so.n; i++) {
      int cls = i % ncls, j = i / ncls;
      memcpy(grid + ((int64_t)cls * per_cls + j) * per, imgs + (int64_t)i * per, (size_t)per * 4);
    }
  } else if (s == LDM_OK) {
    rows = GRID_MAX_ROWS;
    so.n = per_cls;
    grid = ldm_malloc((size_t)((int64_t)rows * per_cls * per) * 4);
    s = grid ? LDM_OK : LDM_ERR_NOMEM;
    for (int k = 0; s == LDM_OK && k < rows; k++) {
      so.cls = k;
      s = sample_ema(c, r, ema, &so, &imgs, &labels);
      if (s == LDM_OK) memcpy(grid + (int64_t)k * per_cls * per, imgs, (size_t)(per_cls * per) * 4);
      free(imgs);
      free(labels);
      imgs = NULL;
      labels = NULL;
    }
    so.n = rows * per_cls;
    so.cls = -1;
  }
  if (s == LDM_OK) {
    char path[700];
    snprintf(path, sizeof path, "%s/samples/unet_%06lld.png", c->o->out, (long long)step);
    ldm_sample_text txt;
    int nt = ldm_sample_text_make(&txt, &so, rows < ncls ? "the first 16 (one row per class)" : "all (one row per class)",
                                  "unet", step);
    s = ldm_image_write_grid(path, LDM_IMAGE_PNG, grid, so.n, c->c->cin, c->c->res, c->c->res, per_cls, c->c->crop,
                             txt.t, nt);
    if (s == LDM_OK) grid_callback(c->o, "unet", step, final, grid, so.n, c->c, per_cls, path);
    if (s == LDM_OK && final) {
      snprintf(path, sizeof path, "%s/samples.png", c->o->out);
      s = ldm_image_write_grid(path, LDM_IMAGE_PNG, grid, so.n, c->c->cin, c->c->res, c->c->res, per_cls,
                               c->c->crop, txt.t, nt);
    }
    if (s == LDM_OK)
      tr_log(c->o, LDM_LOG_INFO, "sample grid (%d images, DDIM %d steps, guidance %.1f) written in %.1f s: %s", so.n,
           so.steps, so.guidance, tr_now() - t0, path);
  }
  free(ema);
  free(grid);
  free(imgs);
  free(labels);
  return s;
}
