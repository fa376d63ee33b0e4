/* ldm-vk edit, the library side: inputs (image + mask) prepared as training prepares images, the VAE
 * encoder's posterior mean as the init latents, the latent mask (max-pooled, dilated), the sampler run with
 * init / mask / strength (ldm_sample_weights, src/sample/sample.c), the feathered paste of the kept pixels. */
#include "sample/edit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/checkpoint.h"
#include "ldm/data.h"
#include "ldm/io.h"
#include "ldm/ops.h"

void ldm_edit_defaults(ldm_edit_opts *o) {
  memset(o, 0, sizeof *o);
  ldm_sample_defaults(&o->s);
  o->s.n = 1;
  o->s.strength = 1.0f;
  o->mode = LDM_EDIT_IMG2IMG;
}

ldm_status ldm_edit_load(const char *init_path, const char *mask_path, int res, int channels, float *x, float *m) {
  uint8_t *img = NULL, *mk = NULL, *sq = NULL;
  int w = 0, h = 0, mw = 0, mh = 0;
  LDM_TRY(ldm_image_load(init_path, channels, &img, &w, &h, NULL));
  ldm_status s = mask_path ? ldm_image_load(mask_path, 1, &mk, &mw, &mh, NULL) : LDM_OK;
  if (s == LDM_OK && mask_path && (mw != w || mh != h))
    s = LDM_FAIL(LDM_ERR_INVALID_ARG, "--mask %s is %dx%d but --init %s is %dx%d: the mask must have the image's size",
                 mask_path, mw, mh, init_path, w, h);
  size_t plane = (size_t)res * (size_t)res;
  sq = s == LDM_OK ? ldm_malloc(plane * (size_t)channels) : NULL;
  if (s == LDM_OK && !sq) s = LDM_ERR_NOMEM;
  if (s == LDM_OK) s = ldm_image_square(init_path, img, w, h, channels, res, sq);
  for (size_t k = 0; s == LDM_OK && k < plane * (size_t)channels; k++) x[k] = (float)sq[k] / 127.5f - 1.0f;
  if (s == LDM_OK && mask_path) s = ldm_image_square(mask_path, mk, w, h, 1, res, sq);
  for (size_t k = 0; s == LDM_OK && mask_path && k < plane; k++) m[k] = sq[k] >= 128 ? 1.0f : 0.0f;
  free(img);
  free(mk);
  free(sq);
  return s;
}

void ldm_edit_latent_mask(const float *m, int res, int lr, float *lm) {
  /* max-pool and 3 x 3 dilation in one: cell (y, x) is the max over the pixels of the cells y-1..y+1,
   * x-1..x+1 (clipped at the border) */
  int f = res / lr;
  for (int y = 0; y < lr; y++)
    for (int x = 0; x < lr; x++) {
      int y0 = (y > 0 ? y - 1 : 0) * f, y1 = (y + 2 < lr ? y + 2 : lr) * f;
      int x0 = (x > 0 ? x - 1 : 0) * f, x1 = (x + 2 < lr ? x + 2 : lr) * f;
      float v = 0;
      for (int py = y0; py < y1; py++)
        for (int px = x0; px < x1; px++) v = fmaxf(v, m[(size_t)py * (size_t)res + (size_t)px]);
      lm[y * lr + x] = v;
    }
}

void ldm_edit_feather(const float *m, int res, int width, float *feather) {
  /* chessboard distance to the nearest kept pixel: two raster passes (Rosenfeld-Pfaltz); a distance >= width
   * is 1 whatever it is, so the passes work in units capped at width */
  int cap = width > 0 ? width : 1;
  int n = res;
  for (int i = 0; i < n * n; i++) feather[i] = m[i] > 0 ? (float)cap : 0.0f;
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++) {
      float *d = &feather[y * n + x];
      if (*d == 0) continue;
      if (x > 0) *d = fminf(*d, feather[y * n + x - 1] + 1);
      if (y > 0)
        for (int xx = x - 1; xx <= x + 1; xx++)
          if (xx >= 0 && xx < n) *d = fminf(*d, feather[(y - 1) * n + xx] + 1);
    }
  for (int y = n - 1; y >= 0; y--)
    for (int x = n - 1; x >= 0; x--) {
      float *d = &feather[y * n + x];
      if (*d == 0) continue;
      if (x + 1 < n) *d = fminf(*d, feather[y * n + x + 1] + 1);
      if (y + 1 < n)
        for (int xx = x - 1; xx <= x + 1; xx++)
          if (xx >= 0 && xx < n) *d = fminf(*d, feather[(y + 1) * n + xx] + 1);
    }
  for (int i = 0; i < n * n; i++) feather[i] /= (float)cap;
}

void ldm_edit_paste(const float *gen, const float *init, const float *feather, int c, int res, float *out) {
  size_t plane = (size_t)res * (size_t)res;
  for (int ch = 0; ch < c; ch++)
    for (size_t p = 0; p < plane; p++) {
      size_t k = (size_t)ch * plane + p;
      float a = feather[p];
      out[k] = a == 0.0f ? init[k] : a == 1.0f ? gen[k] : a * gen[k] + (1.0f - a) * init[k];
    }
}

ldm_status ldm_edit_encode(const ldm_backend *be, const ldm_model_cfg *c, const ldm_weights *vae, const float *x, int n,
                           int nb, float *mu) {
  if (nb > n) nb = n;
  ldm_graph g;
  LDM_TRY(ldm_graph_init(&g));
  int lr = ldm_latent_res(c);
  int64_t per = (int64_t)c->cin * c->res * c->res, lat = (int64_t)c->z * lr * lr;
  int xt = ldm_act(&g, "x", 4, LDM_SHAPE(nb, c->cin, c->res, c->res));
  ldm_keep(&g, xt);
  int mt = LDM_NONE, lv = LDM_NONE;
  ldm_status s = ldm_vae_encode(&g, c, xt, &mt, &lv);
  if (s == LDM_OK) ldm_keep(&g, mt);
  if (s == LDM_OK) s = ldm_vae_run_batches(be, &g, vae, xt, per, mt, lat, nb, x, n, mu);
  ldm_graph_free(&g);
  return vae->path ? ldm_ckpt_name_error(s, vae->path) : s;
}

void ldm_edit_result_free(ldm_edit_result *r) {
  free(r->images);
  free(r->labels);
  free(r->inputs);
  free(r->masks);
  memset(r, 0, sizeof *r);
}

static ldm_status check_opts(const ldm_edit_opts *o) {
  if (o->ninit < 1 || !o->init) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--init: no input image given");
  if (o->s.n < 1) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--n %d: must be at least 1", o->s.n);
  if (!(o->s.strength >= 0.0f && o->s.strength <= 1.0f))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--strength %g: must be in [0, 1]", (double)o->s.strength);
  if (o->mode == LDM_EDIT_INPAINT && !o->mask)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "edit inpaint needs --mask FILE (white = repaint)");
  if (o->mode == LDM_EDIT_IMG2IMG && o->mask)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--mask %s: edit img2img takes no mask (use edit inpaint)", o->mask);
  if (o->mode != LDM_EDIT_INPAINT && (o->s.repaint_jump || o->s.repaint_resample))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--repaint: RePaint is for edit inpaint only");
  if (o->s.repaint_jump < 0 || o->s.repaint_resample < 0 || (o->s.repaint_jump == 0) != (o->s.repaint_resample == 0))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--repaint %d,%d: both the jump length and the resamplings must be >= 1 (or "
                    "both 0: off)", o->s.repaint_jump, o->s.repaint_resample);
  if ((int64_t)o->ninit * o->s.n > 1000000)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%d inputs x --n %d: more than 1000000 images", o->ninit, o->s.n);
  return LDM_OK;
}

ldm_status ldm_edit_prepare(const ldm_edit_opts *o, ldm_edit_result *r) {
  memset(r, 0, sizeof *r);
  LDM_TRY(check_opts(o));
  ldm_run_weights rw;
  LDM_TRY(ldm_run_weights_open(o->s.ckpt, &rw));
  r->cfg = rw.c;
  ldm_run_weights_close(&rw);
  const ldm_model_cfg *c = &r->cfg;
  bool inpaint = o->mode == LDM_EDIT_INPAINT;
  int64_t per = (int64_t)c->cin * c->res * c->res, plane = (int64_t)c->res * c->res;
  r->ninit = o->ninit;
  r->variations = o->s.n;
  r->inputs = ldm_malloc((size_t)(o->ninit * per) * 4);
  r->masks = inpaint ? ldm_malloc((size_t)(o->ninit * plane) * 4) : NULL;
  ldm_status s = !r->inputs || (inpaint && !r->masks) ? LDM_ERR_NOMEM : LDM_OK;
  for (int i = 0; i < o->ninit && s == LDM_OK; i++)
    s = ldm_edit_load(o->init[i], inpaint ? o->mask : NULL, c->res, c->cin, r->inputs + i * per,
                      inpaint ? r->masks + i * plane : NULL);
  if (s != LDM_OK) ldm_edit_result_free(r);
  return s;
}

ldm_status ldm_edit_run(const ldm_backend *be, const ldm_edit_opts *o, ldm_edit_result *r) {
  LDM_TRY(check_opts(o));
  bool prepared = r->inputs && r->ninit == o->ninit && r->variations == o->s.n &&
                  (o->mode == LDM_EDIT_INPAINT) == (r->masks != NULL);
  if (!prepared)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "ldm_edit_run: the result was not prepared (ldm_edit_prepare) for these "
                    "options");
  ldm_run_weights rw;
  LDM_TRY(ldm_run_weights_open(o->s.ckpt, &rw));
  const ldm_model_cfg *c = &rw.c;
  ldm_status s = LDM_OK;
  if (!ldm_model_cfg_vae_equal(c, &r->cfg))
    s = LDM_FAIL(LDM_ERR_MISMATCH, "%s: the run's model changed since the inputs were prepared", o->s.ckpt);
  int V = o->s.n, N = o->ninit * V, lr = ldm_latent_res(c), res = c->res;
  int64_t per = (int64_t)c->cin * res * res, plane = (int64_t)res * res, lat = (int64_t)c->z * lr * lr;
  bool inpaint = o->mode == LDM_EDIT_INPAINT;
  float *mu = ldm_malloc((size_t)(o->ninit * lat) * 4), *init = ldm_malloc((size_t)(N * lat) * 4);
  float *lmask = inpaint ? ldm_malloc((size_t)(N * lr * lr) * 4) : NULL;
  float *feather = inpaint ? ldm_malloc((size_t)plane * 4) : NULL;
  if (s == LDM_OK && (!mu || !init || (inpaint && (!lmask || !feather)))) s = LDM_ERR_NOMEM;
  int nb = o->s.batch > 0 && o->s.batch < o->ninit ? o->s.batch : o->ninit;
  if (s == LDM_OK) s = ldm_edit_encode(be, c, &rw.vae, r->inputs, o->ninit, nb, mu);
  /* image i * V + v starts from input i */
  for (int k = 0; k < N && s == LDM_OK; k++) {
    memcpy(init + k * lat, mu + (k / V) * lat, (size_t)lat * 4);
    if (inpaint) ldm_edit_latent_mask(r->masks + (k / V) * plane, res, lr, lmask + k * lr * lr);
  }
  ldm_sample_opts so = o->s;
  so.n = N;
  so.init = init;
  so.mask = lmask;
  free(r->images);
  free(r->labels);
  r->images = NULL;
  r->labels = NULL;
  if (s == LDM_OK) s = ldm_sample_weights(be, &so, c, &rw.sch, &rw.unet, &rw.vae, &r->images, &r->labels);
  /* the final paste: kept pixels exactly as given, the hole's edge feathered inwards over one latent cell */
  for (int i = 0; inpaint && i < o->ninit && s == LDM_OK; i++) {
    ldm_edit_feather(r->masks + i * plane, res, res / lr, feather);
    for (int v = 0; v < V; v++) {
      float *img = r->images + (int64_t)(i * V + v) * per;
      ldm_edit_paste(img, r->inputs + i * per, feather, c->cin, res, img);
    }
  }
  r->n = s == LDM_OK ? N : 0;
  free(mu);
  free(init);
  free(lmask);
  free(feather);
  ldm_run_weights_close(&rw);
  return s;
}

ldm_status ldm_edit(const ldm_backend *be, const ldm_edit_opts *o, ldm_edit_result *r) {
  LDM_TRY(ldm_edit_prepare(o, r));
  ldm_status s = ldm_edit_run(be, o, r);
  if (s != LDM_OK) ldm_edit_result_free(r);
  return s;
}
