/* Stage set-up, shared by the trainer and the benchmark: the data (load, downsample, device tables),
 * the VAE and UNet train graphs with their optimizer tail and executors, and the latent cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/ops.h"
#include "ldm/schedule.h"
#include "core/ops.h"
#include "ldm/vk.h"
#include "train/trainer.h"

/* Box-downsample u8 images by an integer factor (Fashion-MNIST 32x32 -> tiny's 16x16). */
static ldm_status downsample_dataset(ldm_dataset *ds, int res) {
  if (ds->height == res && ds->width == res) return LDM_OK;
  if (ds->height % res || ds->width != ds->height)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "dataset images are %dx%d; the model needs %dx%d", ds->height, ds->width,
                    res, res);
  int f = ds->height / res;
  size_t per = (size_t)ds->channels * res * res;
  uint8_t *np = ldm_malloc((size_t)ds->n * per);
  if (!np) return LDM_ERR_NOMEM;
  for (int i = 0; i < ds->n; i++)
    for (int ch = 0; ch < ds->channels; ch++)
      for (int y = 0; y < res; y++)
        for (int x = 0; x < res; x++) {
          int s = 0;
          for (int dy = 0; dy < f; dy++)
            for (int dx = 0; dx < f; dx++)
              s += ds->pixels[(((size_t)i * ds->channels + ch) * ds->height + y * f + dy) * ds->width + x * f + dx];
          np[(size_t)i * per + ((size_t)ch * res + y) * res + x] = (uint8_t)((s + f * f / 2) / (f * f));
        }
  free(ds->pixels);
  ds->pixels = np;
  ds->height = ds->width = res;
  return LDM_OK;
}

ldm_status tr_load_data(const ldm_train_opts *o, const ldm_model_cfg *c, ldm_dataset *ds) {
  const char *dir = o->data[0] ? o->data : TR_DEFAULT_DATA;
  char probe[600];
  snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", dir);
  bool idx = tr_file_exists(probe);
  snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte", dir);
  idx = idx || tr_file_exists(probe);
  if (idx) {
    LDM_TRY(ldm_dataset_load_fmnist(dir, true, c->res >= 32 ? c->res : 32, ds));
    if (ds->channels != c->cin)
      return LDM_FAIL(LDM_ERR_INVALID_ARG, "--data %s has %d-channel images; config %s needs %d", dir, ds->channels,
                      c->name, c->cin);
    LDM_TRY(downsample_dataset(ds, c->res));
  } else {
    if (!o->data[0])
      return LDM_FAIL(LDM_ERR_IO, "dataset not found: %s (install dataset-fashion-mnist or pass --data DIR)", dir);
    LDM_TRY(ldm_dataset_load_folder(dir, c->res, c->cin, ds));
  }
  if (o->limit_images > 0 && o->limit_images < ds->n) ds->n = o->limit_images;
  return LDM_OK;
}

void tr_batch_indices(tr_batcher *s, int64_t step0, int B, uint32_t *out) {
  for (int b = 0; b < B; b++) {
    int64_t k = step0 * B + b;
    int64_t ep = k / s->n;
    if (ep != s->epoch) {
      ldm_shuffle_indices(s->perm, s->n, s->seed, (uint64_t)ep);
      s->epoch = ep;
    }
    out[b] = s->perm[k % s->n];
  }
}

/* Optimizer tail of a train graph: grad-norm clip (+ NaN flag), AdamW (which zeroes the gradients it
 * consumed), EMA. On gradient-accumulation micro-steps the step buffer turns AdamW and EMA into no-ops. */
static int optim_tail(ldm_graph *g, int step, bool ema) {
  int gs = ldm_host(g, "grad_stats", LDM_F32, 4);
  int P = ldm_arena_view(g, LDM_ARENA_PARAM, "all_params");
  int G = ldm_arena_view(g, LDM_ARENA_GRAD, "all_grads");
  int M = ldm_arena_view(g, LDM_ARENA_ADAM_M, "adam_m");
  int V = ldm_arena_view(g, LDM_ARENA_ADAM_V, "adam_v");
  gs = ldm_grad_norm_clip(g, G, step, gs);
  const ldm_adamw_cfg *a = &ldm_adamw_recipe;
  ldm_adamw_gs(g, P, G, M, V, step, gs, a->beta1, a->beta2, a->eps, a->weight_decay);
  if (ema) ldm_ema(g, ldm_arena_view(g, LDM_ARENA_EMA, "ema"), P, step);
  return gs;
}

/* A gather source of n rows per step: batch[first .. first + n) of the global batch. */
static void data_src_make(ldm_graph *g, const ldm_backend *be, const char *name, ldm_dtype dt, int64_t rows,
                          int64_t row, int first, int B, tr_data_src *d) {
  int64_t bytes = rows * row * (dt == LDM_U8 ? 1 : 4);
  uint64_t limit = be->kind == LDM_BACKEND_VK ? ldm_vk_limits(be->vk)->max_buffer_range : (uint64_t)1 << 40;
  if (limit > (1u << 30)) limit = 1u << 30;
  d->row = row;
  d->first = first;
  d->n = B;
  d->on_device = (uint64_t)bytes <= limit;
  int64_t n = d->on_device ? rows * row : (int64_t)B * row;
  d->table = ldm_tensor_new(g, name, d->on_device ? LDM_ARENA_CONST : LDM_ARENA_HOST, dt, 1, &n);
  char in[64];
  snprintf(in, sizeof in, "%s.idx", name);
  d->idx = ldm_host(g, in, LDM_U32, B);
}

static ldm_status data_src_upload(ldm_exec *e, const tr_data_src *d, const void *all, size_t elem, int64_t rows) {
  if (!d->on_device) return LDM_OK;
  return ldm_exec_write(e, d->table, all, (size_t)(rows * d->row) * elem);
}

/* per step: indices (device table) or the rows themselves (host table) */
void tr_data_src_step(ldm_exec *e, const tr_data_src *d, const void *all, size_t elem, const uint32_t *batch) {
  int B = d->n;
  batch += d->first;
  uint32_t *idx = ldm_exec_host_ptr(e, d->idx);
  if (d->on_device) {
    memcpy(idx, batch, (size_t)B * 4);
    return;
  }
  uint8_t *dst = ldm_exec_host_ptr(e, d->table);
  for (int b = 0; b < B; b++) {
    idx[b] = (uint32_t)b;
    memcpy(dst + (size_t)b * d->row * elem, (const uint8_t *)all + (size_t)batch[b] * d->row * elem, d->row * elem);
  }
}

/* Data parallel (docs/distributed.md): a rank computes the rows [rank * Bl, (rank + 1) * Bl) of the global
 * batch of B = ranks * Bl samples. Its random numbers (noise, timesteps, label dropout) are drawn for the
 * whole global batch, with the Philox counters of a one-rank run, and the rank keeps its rows: a sample
 * gets the same numbers on any number of ranks. One rank builds exactly the graph it always had. */
typedef struct {
  int P, B, Bl, first;
} rank_batch;
static rank_batch rank_batch_of(const tr_ctx *c, int B) {
  int P = tr_size(c->o);
  return (rank_batch){P, B, B / P, tr_rank(c->o) * (B / P)};
}
/* the tensor to draw into: [rows of the global batch] (data parallel) or `local` itself */
static int rank_draw(ldm_graph *g, const rank_batch *rb, const char *name, int local) {
  if (rb->P == 1 || local == LDM_NONE) return local;
  int64_t sh[LDM_MAX_DIMS];
  memcpy(sh, g->t[local].shape, sizeof sh);
  sh[0] = sh[0] / rb->Bl * rb->B;
  ldm_dtype dt = g->t[local].dtype;
  int nd = g->t[local].ndim;
  char nm[64];
  snprintf(nm, sizeof nm, "%s.global", name);
  return ldm_tensor_new(g, nm, LDM_ARENA_ACT, dt, nd, sh);
}
/* this rank's rows of a tensor drawn by rank_draw, into local (a word copy: the same bits) */
static int rank_keep(ldm_graph *g, tr_stage *r, const rank_batch *rb, int drawn, int local) {
  if (rb->P == 1 || drawn == LDM_NONE) return drawn;
  if (r->rank_idx < 0) r->rank_idx = ldm_host(g, "rank_rows", LDM_U32, rb->Bl);
  return ldm_gather_rows(g, drawn, r->rank_idx, local, g->t[local].numel / rb->Bl, 1.0f, 0.0f);
}
/* the indices of this rank's rows, once (the executor keeps its host arena) */
static void rank_rows_write(tr_stage *r, const rank_batch *rb) {
  if (rb->P == 1 || r->rank_idx < 0) return;
  uint32_t *idx = ldm_exec_host_ptr(r->e, r->rank_idx);
  for (int i = 0; i < rb->Bl; i++) idx[i] = (uint32_t)(rb->first + i);
}

/* exec: the executor too (else the planned graph only: tr_params_init) */
static ldm_status build_vae(tr_stage *r, tr_ctx *c, int B, bool exec) {
  const ldm_model_cfg *m = c->c;
  ldm_graph *g = &r->g;
  LDM_TRY(ldm_graph_init(g));
  r->name = "vae";
  r->rank_idx = -1;
  rank_batch rb = rank_batch_of(c, B);
  B = rb.Bl; /* the samples this rank computes */
  r->step_t = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  int64_t per = (int64_t)m->cin * m->res * m->res;
  data_src_make(g, c->be, "images", LDM_U8, c->ds->n, per, rb.first, B, &r->src[0]);
  r->nsrc = 1;
  r->src_data[0] = c->ds->pixels;
  r->src_elem[0] = 1;
  int x = ldm_act(g, "vae.x", 4, LDM_SHAPE(B, m->cin, m->res, m->res));
  ldm_keep(g, x);
  x = ldm_gather_rows(g, r->src[0].table, r->src[0].idx, x, per, 2.0f / 255.0f, -1.0f);
  int mu, lv;
  ldm_vae_encode(g, m, x, &mu, &lv);
  int lr = ldm_latent_res(m);
  int eps = ldm_act(g, "vae.eps", 4, LDM_SHAPE(B, m->z, lr, lr));
  eps = rank_keep(g, r, &rb,
                  ldm_philox_fill(g, rank_draw(g, &rb, "vae.eps", eps), r->step_t, LDM_RNG_NORMAL, c->o->seed, 0x7AE, 0),
                  eps);
  int xh = ldm_vae_decode(g, m, ldm_reparam(g, mu, lv, eps));
  if (xh != LDM_NONE) snprintf(g->t[xh].name, sizeof g->t[xh].name, "vae.x_hat");
  ldm_keep(g, xh);
  int rec = ldm_mse_loss(g, xh, x);
  int kl = ldm_kl_loss(g, mu, lv);
  int loss = ldm_add(g, rec, ldm_scale(g, kl, c->o->kl_weight));
  ldm_keep(g, loss);
  ldm_keep(g, rec);
  ldm_keep(g, kl);
  r->loss_t = loss;
  r->aux_t[0] = rec, r->aux_name[0] = "rec";
  r->aux_t[1] = kl, r->aux_name[1] = "kl";
  LDM_TRY(ldm_graph_backward(g, loss));
  r->opt_fence = ldm_graph_fence(g);
  r->gs_t = optim_tail(g, r->step_t, false);
  LDM_TRY(ldm_graph_plan(g));
  if (!exec) return LDM_OK;
  LDM_TRY(ldm_exec_new(c->be, g, &r->e));
  rank_rows_write(r, &rb);
  return data_src_upload(r->e, &r->src[0], c->ds->pixels, 1, c->ds->n);
}

/* Images per run of the latent-cache encoder: as many as keep its largest activation within one binding
 * of the device (maxStorageBufferRange, LDM_VK_MAX_BUFFER_RANGE lowers it), at most 250 and the data set.
 * The per-image size is measured on the encoder graph built for one image. */
static ldm_status encoder_batch(const tr_ctx *c, int *Bc) {
  const ldm_model_cfg *m = c->c;
  ldm_graph g;
  LDM_TRY(ldm_graph_init(&g));
  int x = ldm_act(&g, "x", 4, LDM_SHAPE(1, m->cin, m->res, m->res));
  int mu, lv;
  ldm_status s = ldm_vae_encode(&g, m, x, &mu, &lv);
  int64_t per = 0;
  for (int i = 0; s == LDM_OK && i < g.nt; i++)
    if (g.t[i].arena == LDM_ARENA_ACT && ldm_tensor_bytes(&g.t[i]) > per) per = ldm_tensor_bytes(&g.t[i]);
  ldm_graph_free(&g);
  if (s != LDM_OK) return s;
  int64_t b = c->ds->n < 250 ? c->ds->n : 250;
  if (c->be->kind == LDM_BACKEND_VK && per > 0) {
    int64_t fit = (int64_t)(ldm_vk_limits(c->be->vk)->max_buffer_range / (uint64_t)per);
    if (fit < 1)
      return LDM_FAIL(LDM_ERR_UNSUPPORTED,
                      "the latent-cache encoder needs %.1f MiB per image in one buffer binding, over this device's "
                      "maxStorageBufferRange (%.1f MiB)",
                      (double)per / 1048576.0, (double)ldm_vk_limits(c->be->vk)->max_buffer_range / 1048576.0);
    if (fit < b) b = fit;
  }
  *Bc = b > 0 ? (int)b : 1;
  return LDM_OK;
}

/* Encode the whole dataset: per image (mu, logvar) rows [2z, lr, lr] and the scale 1/std(z). */
ldm_status tr_encode_cache(tr_ctx *c, float **cache, double *scale) {
  const ldm_model_cfg *m = c->c;
  const ldm_st_file *vf = c->vae_file;
  int Bc = 1;
  LDM_TRY(encoder_batch(c, &Bc));
  ldm_status s;
  ldm_graph g;
  s = ldm_graph_init(&g);
  int lr = ldm_latent_res(m);
  int64_t per = (int64_t)m->cin * m->res * m->res, lat = (int64_t)m->z * lr * lr;
  tr_data_src src;
  int mu = LDM_NONE, lv = LDM_NONE;
  if (s == LDM_OK) {
    data_src_make(&g, c->be, "images", LDM_U8, c->ds->n, per, 0, Bc, &src);
    int x = ldm_act(&g, "x", 4, LDM_SHAPE(Bc, m->cin, m->res, m->res));
    ldm_vae_encode(&g, m, ldm_gather_rows(&g, src.table, src.idx, x, per, 2.0f / 255.0f, -1.0f), &mu, &lv);
    ldm_keep(&g, mu);
    ldm_keep(&g, lv);
    s = ldm_graph_plan(&g);
  }
  ldm_exec *e = NULL;
  if (s == LDM_OK) s = ldm_exec_new(c->be, &g, &e);
  if (s == LDM_OK) s = ldm_ckpt_load_arena(vf, e, LDM_ARENA_PARAM, "");
  if (s == LDM_OK) s = data_src_upload(e, &src, c->ds->pixels, 1, c->ds->n);
  *cache = s == LDM_OK ? ldm_malloc((size_t)c->ds->n * 2 * lat * 4) : NULL;
  float *bm = s == LDM_OK ? ldm_malloc((size_t)(Bc * lat) * 4) : NULL, *bl = s == LDM_OK ? ldm_malloc((size_t)(Bc * lat) * 4) : NULL;
  uint32_t *bi = s == LDM_OK ? ldm_malloc((size_t)Bc * 4) : NULL;
  if (s == LDM_OK && (!*cache || !bm || !bl || !bi)) s = LDM_ERR_NOMEM;
  /* data parallel: rank q encodes the batches [q * nb / P, (q + 1) * nb / P) of the nb batches a single
   * process would encode (the same batches, so the same numbers), then every rank's rows go to all */
  int P = tr_size(c->o), q = tr_rank(c->o);
  int nb = (c->ds->n + Bc - 1) / Bc;
  int first = (int)((int64_t)q * nb / P) * Bc, end = (int)((int64_t)(q + 1) * nb / P) * Bc;
  if (end > c->ds->n) end = c->ds->n;
  double t0 = tr_now();
  tr_progress p = {c->o, c->plan, PH_CACHE, "latent cache", "images/s", end, first, t0};
  for (int b0 = first; b0 < end && s == LDM_OK; b0 += Bc) {
    /* one rank alone must not stop inside the cache (the others would wait for its rows): a data-parallel
     * run stops at its next step, where the ranks decide together */
    if (P == 1 && tr_cancelled(c->o)) {
      s = LDM_FAIL(LDM_ERR_INTERRUPTED, "interrupted while encoding the latent cache; resume with --resume");
      break;
    }
    int mcount = c->ds->n - b0 < Bc ? c->ds->n - b0 : Bc;
    for (int i = 0; i < Bc; i++) bi[i] = (uint32_t)(b0 + (i < mcount ? i : 0));
    tr_data_src_step(e, &src, c->ds->pixels, 1, bi);
    s = ldm_exec_run(e);
    if (s == LDM_OK) s = ldm_exec_read(e, mu, bm, (size_t)(Bc * lat) * 4);
    if (s == LDM_OK) s = ldm_exec_read(e, lv, bl, (size_t)(Bc * lat) * 4);
    for (int i = 0; i < mcount && s == LDM_OK; i++) {
      float *row = *cache + (size_t)(b0 + i) * 2 * lat;
      memcpy(row, bm + i * lat, (size_t)lat * 4);
      memcpy(row + lat, bl + i * lat, (size_t)lat * 4);
    }
    if (s == LDM_OK) tr_progress_report(&p, b0 + mcount, NAN, NULL, b0 + mcount == end, false);
  }
  for (int r = 0; r < P && P > 1 && s == LDM_OK; r++) { /* the all-gather: each rank's rows from it */
    int64_t f = (int64_t)r * nb / P * Bc, e_ = (int64_t)(r + 1) * nb / P * Bc;
    if (e_ > c->ds->n) e_ = c->ds->n;
    if (e_ > f) s = tr_bcast(c->o, *cache + f * 2 * lat, (size_t)(e_ - f) * 2 * (size_t)lat * 4, r);
  }
  /* the scale from the whole cache, image by image in order: the same number on every rank */
  double sum = 0, sum2 = 0;
  for (int i = 0; i < c->ds->n && s == LDM_OK; i++) {
    const float *row = *cache + (size_t)i * 2 * lat;
    for (int64_t k = 0; k < lat; k++) {
      double mv = row[k];
      sum += mv;
      sum2 += mv * mv + exp((double)row[lat + k]);
    }
  }
  if (s == LDM_OK) {
    double n = (double)c->ds->n * (double)lat;
    double var = sum2 / n - (sum / n) * (sum / n); /* Var[mu + sigma eps] over the data set */
    *scale = var > 0 ? 1.0 / sqrt(var) : 1.0;
    tr_log(c->o, LDM_LOG_INFO, "latent cache: %d images (batches of %d) in %.1f s, std(z) = %.4f, scale factor %.4f",
         c->ds->n, Bc, tr_now() - t0, sqrt(var), *scale);
  }
  free(bm);
  free(bl);
  free(bi);
  ldm_exec_free(e);
  ldm_graph_free(&g);
  if (s != LDM_OK) {
    free(*cache);
    *cache = NULL;
  }
  return s;
}

static ldm_status build_unet(tr_stage *r, tr_ctx *c, int B, bool exec) {
  const ldm_model_cfg *m = c->c;
  const ldm_train_opts *o = c->o;
  ldm_graph *g = &r->g;
  LDM_TRY(ldm_graph_init(g));
  r->name = "unet";
  r->ema = true;
  r->rank_idx = -1;
  rank_batch rb = rank_batch_of(c, B);
  B = rb.Bl; /* the samples this rank computes; the labels are gathered for the global batch (its dropout) */
  r->step_t = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  int lr = ldm_latent_res(m);
  int64_t lat = (int64_t)m->z * lr * lr;
  data_src_make(g, c->be, "latents", LDM_F32, c->ds->n, 2 * lat, rb.first, B, &r->src[0]);
  data_src_make(g, c->be, "labels", LDM_U32, c->ds->n, 1, 0, rb.B, &r->src[1]);
  r->nsrc = 2;
  r->src_data[0] = c->cache, r->src_elem[0] = 4;
  r->src_data[1] = c->labels, r->src_elem[1] = 4;
  int rows = ldm_act(g, "unet.latent_rows", 4, LDM_SHAPE(B, 2 * m->z, lr, lr));
  int lab = ldm_tensor_new(g, "unet.labels", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(rb.B));
  rows = ldm_gather_rows(g, r->src[0].table, r->src[0].idx, rows, 2 * lat, 1.0f, 0.0f);
  lab = ldm_gather_rows(g, r->src[1].table, r->src[1].idx, lab, 1, 1.0f, 0.0f);
  int parts[2] = {LDM_NONE, LDM_NONE};
  ldm_split(g, rows, 2, parts);
  int eps = ldm_act(g, "unet.z_eps", 4, LDM_SHAPE(B, m->z, lr, lr));
  eps = rank_keep(g, r, &rb,
                  ldm_philox_fill(g, rank_draw(g, &rb, "unet.z_eps", eps), r->step_t, LDM_RNG_NORMAL, o->seed, 0x2E0, 0),
                  eps);
  int z0 = ldm_scale(g, ldm_reparam(g, parts[0], parts[1], eps), (float)c->scale);
  int abar = ldm_tensor_new(g, "alphas_cumprod", LDM_ARENA_CONST, LDM_F32, 1, LDM_SHAPE(o->T));
  int t = ldm_tensor_new(g, "unet.t", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
  int y = ldm_tensor_new(g, "unet.y", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
  int noise = ldm_act(g, "unet.noise", 4, LDM_SHAPE(B, m->z, lr, lr));
  t = rank_keep(g, r, &rb, ldm_randint(g, rank_draw(g, &rb, "unet.t", t), r->step_t, o->seed, 0x71, 0, (uint32_t)o->T), t);
  float drop = m->ncls > 0 ? o->cfg_dropout : 1.0f; /* unlabeled data: always the null class */
  y = rank_keep(g, r, &rb,
                ldm_label_dropout(g, lab, rank_draw(g, &rb, "unet.y", y), r->step_t, o->seed, 0xC1, drop,
                                  (uint32_t)m->ncls),
                y);
  noise = rank_keep(g, r, &rb,
                    ldm_philox_fill(g, rank_draw(g, &rb, "unet.noise", noise), r->step_t, LDM_RNG_NORMAL, o->seed, 0x401, 0),
                    noise);
  if (o->offset_noise > 0) {
    /* offset noise: + strength * N(0,1) per (sample, channel), broadcast over the latent pixels */
    int on = ldm_act(g, "unet.offset", 1, LDM_SHAPE((int64_t)B * m->z));
    int onm = ldm_act(g, "unet.offset_map", 4, LDM_SHAPE(B, m->z, lr, lr));
    on = rank_keep(g, r, &rb,
                   ldm_philox_fill(g, rank_draw(g, &rb, "unet.offset", on), r->step_t, LDM_RNG_NORMAL, o->seed, 0x0FF, 0),
                   on);
    noise = ldm_add(g, noise, ldm_broadcast(g, on, onm, 1, (int64_t)B * m->z, (int64_t)lr * lr, 1, o->offset_noise, 0));
  }
  int xt = ldm_q_sample(g, z0, noise, abar, t);
  int pred = ldm_unet(g, m, xt, t, y);
  bool v = strcmp(o->prediction, "v") == 0;
  int target = v ? ldm_v_target(g, z0, noise, abar, t) : noise;
  int loss = o->min_snr_gamma > 0 ? ldm_weighted_mse(g, pred, target, ldm_min_snr_weight(g, abar, t, o->min_snr_gamma, v))
                                  : ldm_mse_loss(g, pred, target);
  ldm_keep(g, loss);
  r->loss_t = loss;
  r->aux_t[0] = r->aux_t[1] = -1;
  LDM_TRY(ldm_graph_backward(g, loss));
  r->opt_fence = ldm_graph_fence(g);
  r->gs_t = optim_tail(g, r->step_t, true);
  LDM_TRY(ldm_graph_plan(g));
  if (!exec) return LDM_OK;
  LDM_TRY(ldm_exec_new(c->be, g, &r->e));
  rank_rows_write(r, &rb);
  LDM_TRY(data_src_upload(r->e, &r->src[0], c->cache, 4, c->ds->n));
  LDM_TRY(data_src_upload(r->e, &r->src[1], c->labels, 4, c->ds->n));
  ldm_schedule_kind kind;
  LDM_TRY(ldm_schedule_kind_parse(o->schedule, &kind));
  float *betas = ldm_malloc((size_t)o->T * 4), *ab = ldm_malloc((size_t)o->T * 4);
  ldm_status s = betas && ab ? LDM_OK : LDM_ERR_NOMEM;
  if (s == LDM_OK) s = ldm_schedule_make(kind, o->T, o->beta_start, o->beta_end, o->zero_snr, betas, ab);
  if (s == LDM_OK) s = ldm_exec_write(r->e, abar, ab, (size_t)o->T * 4);
  free(betas);
  free(ab);
  return s;
}

ldm_status tr_build_vae_stage(tr_stage *r, tr_ctx *c, int B) { return build_vae(r, c, B, true); }
ldm_status tr_build_unet_stage(tr_stage *r, tr_ctx *c, int B) { return build_unet(r, c, B, true); }
ldm_status tr_build_vae_graph(tr_stage *r, tr_ctx *c, int B) { return build_vae(r, c, B, false); }
ldm_status tr_build_unet_graph(tr_stage *r, tr_ctx *c, int B) { return build_unet(r, c, B, false); }

/* The initial parameters are keyed by each parameter's tensor index (ldm_params_init); a data-parallel
 * graph has a few tensors more (rank_draw, rank_keep) before some parameters, so its image comes from the
 * one-rank graph of the stage, whose PARAM arena has the same layout. */
ldm_status tr_params_init(tr_ctx *c, const tr_stage *r, int B, uint64_t seed, void *img) {
  if (tr_size(c->o) == 1) return ldm_params_init(&r->g, seed, img);
  ldm_train_opts one = *c->o;
  one.comm = NULL;
  tr_ctx c1 = *c;
  c1.o = &one;
  tr_stage g1;
  memset(&g1, 0, sizeof g1);
  ldm_status s = r->ema ? build_unet(&g1, &c1, B, false) : build_vae(&g1, &c1, B, false);
  if (s == LDM_OK && g1.g.arena_size[LDM_ARENA_PARAM] != r->g.arena_size[LDM_ARENA_PARAM])
    s = LDM_FAIL(LDM_ERR_INTERNAL, "the one-rank %s graph has another parameter layout", r->name);
  if (s == LDM_OK) s = ldm_params_init(&g1.g, seed, img);
  tr_stage_free(&g1);
  return s;
}

void tr_stage_free(tr_stage *r) {
  ldm_exec_free(r->e);
  if (r->g.t) ldm_graph_free(&r->g);
  free(r->ar_buf);
  memset(r, 0, sizeof *r);
}
