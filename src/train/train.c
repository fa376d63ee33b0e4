/* The trainer: stage 1 VAE, latent cache + scale factor, stage 2 UNet.
 * Each stage's train step is one static graph (data gather, forward, backward, grad-norm clip, AdamW,
 * EMA, zeroing of the grads) built once and replayed; per-step values go through the step buffer. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/runinfo.h"
#include "train/trainer.h"

static ldm_status stage_ckpt(tr_ctx *c, tr_stage *r, int64_t step, bool final) {
  return tr_write_ckpt(c, r, step, final);
}

/* ", resumed at step S of T" (", resumed: its S steps are done" when nothing is left) after a stage's banner */
static const char *resumed_note(bool found, const tr_stage_state *st, int64_t total, char *b, size_t n) {
  if (!found) return "";
  if (st->done && st->step >= total)
    snprintf(b, n, ", resumed: its %lld steps are done", (long long)st->step);
  else
    snprintf(b, n, ", resumed at step %lld of %lld", (long long)st->step, (long long)total);
  return b;
}

/* The stages of a resolved recipe on an open backend. */
static ldm_status train_run(tr_recipe *rc, const ldm_backend *be, const ldm_env *env, ldm_train_result *res) {
  const ldm_train_opts *o = &rc->o;
  ldm_model_cfg c = rc->c;
  const char *why = be->why;
  ldm_status s = LDM_OK;
  ldm_dataset ds;
  memset(&ds, 0, sizeof ds);
  s = tr_load_data(o, &c, &ds);
  if (s == LDM_OK && ds.num_classes > 0) c.ncls = ds.num_classes;
  if (s == LDM_OK && ds.num_classes == 0) c.ncls = 0;
  char sub[700];
  snprintf(sub, sizeof sub, "%s/samples", o->out);
  int64_t vstep = 0, ustep = 0; /* the checkpoints' steps (--resume) */
  /* config.json (a --resume keeps it and only compares); elapsed_s of the metrics rows continues where the
   * run left off */
  double elapsed0 = 0;
  /* data parallel: rank 0 alone prepares the run directory; the others wait for its verdict */
  bool root = tr_rank(o) == 0;
  if (s == LDM_OK && o->resume && root) {
    /* nothing in the directory changes before its checkpoints and its config.json are validated */
    bool tv = strcmp(o->stage, "unet") != 0, tu = strcmp(o->stage, "vae") != 0;
    s = tr_state_check(o->out, "vae", tv ? &c : NULL, tv ? o : NULL, &vstep);
    if (s == LDM_OK) s = tr_state_check(o->out, "unet", tu ? &c : NULL, tu ? o : NULL, &ustep);
    if (s == LDM_OK) s = ldm_run_start(o, &c, &ds, o->data[0] ? o->data : TR_DEFAULT_DATA, be, &elapsed0);
  }
  if (s == LDM_OK && root) s = ldm_mkdir_p(sub);
  /* temporaries of a process killed while writing; with --resume, a checkpoint torn between its two files
   * and the metrics rows past the checkpoints (they are made again) */
  int stale = s == LDM_OK && root ? ldm_clean_stale_temps(o->out) + ldm_clean_stale_temps(sub) : 0;
  if (stale > 0) tr_log(o, LDM_LOG_INFO, "removed %d temporary files of an interrupted run in %s", stale, o->out);
  if (s == LDM_OK && o->resume && root) {
    s = tr_run_repair(o->out, o->quiet, o->log, o->user, NULL);
    if (s == LDM_OK) s = tr_metrics_trim(o, o->out, vstep, ustep);
  }
  if (s == LDM_OK && !o->resume && root)
    s = ldm_run_start(o, &c, &ds, o->data[0] ? o->data : TR_DEFAULT_DATA, be, &elapsed0);
  char mpath[700];
  snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", o->out);
  FILE *metrics = NULL;
  if (s == LDM_OK && root) {
    metrics = fopen(mpath, o->resume ? "a" : "w");
    if (!metrics) s = LDM_FAIL(LDM_ERR_IO, "cannot write %s: %s", mpath, strerror(errno));
  }
  s = tr_agree(o, s, res);
  /* every rank reads the checkpoints rank 0 writes: the run directory must be the same one on each */
  char cfgp[700];
  snprintf(cfgp, sizeof cfgp, "%s/config.json", o->out);
  if (s == LDM_OK && !root && !tr_file_exists(cfgp))
    s = LDM_FAIL(LDM_ERR_IO, "--out %s: rank 0 wrote its config.json there, but this rank does not see it; a run "
                 "over several machines needs the run directory on a shared filesystem (docs/distributed.md)", o->out);
  double run_t0 = tr_now() - elapsed0;
  if (s != LDM_OK) {
    if (metrics) fclose(metrics);
    ldm_dataset_free(&ds);
    return s;
  }
  tr_log(o, LDM_LOG_INFO, "ldm-vk train: config %s, preset %s (%s)", c.name, o->preset,
       strcmp(c.name, "tiny") == 0 ? "the small test configuration"
       : strcmp(o->preset, "quick") == 0
           ? "no GPU: smaller networks and fewer steps, to finish in about 15 minutes on 2 CPU cores; "
             "--preset full runs the full recipe"
           : "the full recipe");
  tr_log(o, LDM_LOG_INFO, "backend: %s", why);
  tr_log(o, LDM_LOG_INFO, "data: %d images %dx%dx%d, %d classes; run directory %s", ds.n, ds.channels, ds.height,
       ds.width, c.ncls, o->out);
  tr_log(o, LDM_LOG_INFO, "VAE %d steps, UNet %d steps, batch %d%s, seed %llu", o->vae_steps, o->unet_steps, o->batch,
       o->grad_accum > 1 ? " (x grad-accum)" : "", (unsigned long long)o->seed);
  if (tr_size(o) > 1)
    tr_log(o, LDM_LOG_INFO, "data parallel: %d ranks, %d samples of each batch per rank", tr_size(o),
           o->batch / tr_size(o));
  int B = o->batch;
  uint32_t *perm = ldm_malloc((size_t)ds.n * 4);
  if (!perm) s = LDM_ERR_NOMEM;
  tr_stage_state vst = {0, 0, false, -1}, ust = {0, 0, false, -1};
  char note[96];
  bool do_vae = strcmp(o->stage, "unet") != 0, do_unet = strcmp(o->stage, "vae") != 0;
  /* the work of this call, for the run-wide ETA */
  tr_plan plan;
  memset(&plan, 0, sizeof plan);
  bool do_cache = do_unet && o->unet_steps > 0;
  plan.left[PH_VAE] = do_vae && o->vae_steps > vstep ? o->vae_steps - vstep : 0;
  plan.left[PH_CACHE] = do_cache ? ds.n : 0;
  plan.left[PH_UNET] = do_cache && o->unet_steps > ustep ? o->unet_steps - ustep : 0;
  plan.images_per_unit[PH_VAE] = plan.images_per_unit[PH_UNET] = (double)B * o->grad_accum;
  plan.images_per_unit[PH_CACHE] = 1;
  tr_ctx sc = {o, &c, be, env, &vst, 0, &ds, &plan, NULL, NULL, NULL, res};
  /* a cancel while the data loaded: nothing was trained, so no checkpoint */
  if (s == LDM_OK && tr_cancelled(o))
    s = LDM_FAIL(LDM_ERR_INTERRUPTED, "interrupted before the first step: nothing was trained");
  double t_stage = tr_now();
  /* ---- stage 1: VAE */
  if (s == LDM_OK && do_vae) {
    tr_stage r;
    memset(&r, 0, sizeof r);
    r.t_run0 = run_t0;
    r.base_lr = o->vae_lr;
    r.total = o->vae_steps;
    s = tr_build_vae_stage(&r, &sc, B);
    bool found = false;
    if (s == LDM_OK && o->resume) s = tr_load_stage(o->out, "vae", r.e, &c, o, false, &vst, NULL, &found);
    if (s == LDM_OK && !found) {
      void *img = ldm_calloc(1, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      s = img ? tr_params_init(&sc, &r, B, o->seed, img) : LDM_ERR_NOMEM;
      if (s == LDM_OK) s = ldm_exec_write_arena(r.e, LDM_ARENA_PARAM, img, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      free(img);
    }
    if (s == LDM_OK)
      tr_log(o, LDM_LOG_INFO, "stage 1: VAE, %lld parameters%s", (long long)ldm_param_count(&r.g),
             resumed_note(found, &vst, o->vae_steps, note, sizeof note));
    tr_batcher ss = {perm, ds.n, -1, o->seed};
    if (s == LDM_OK && !(found && vst.done && vst.step >= o->vae_steps))
      s = tr_run_stage(&r, &sc, &ss, B, metrics, tr_vae_samples, stage_ckpt);
    plan.left[PH_VAE] = 0;
    res->skipped[0] = r.skipped;
    tr_stage_free(&r);
    if (s == LDM_OK) tr_log(o, LDM_LOG_INFO, "stage 1 done in %.1f s", tr_now() - t_stage);
  }
  /* ---- latent cache + stage 2: UNet */
  if (s == LDM_OK && do_unet && o->unet_steps > 0) {
    tr_ctx u = sc;
    u.st = &ust;
    t_stage = tr_now();
    char vpath[700];
    snprintf(vpath, sizeof vpath, "%s/vae.safetensors", o->out);
    s = ldm_st_open(vpath, &u.vae_file);
    if (s == LDM_OK) s = tr_encode_cache(&u, &u.cache, &u.scale);
    u.labels = s == LDM_OK ? ldm_malloc((size_t)ds.n * 4) : NULL;
    if (s == LDM_OK && !u.labels) s = LDM_ERR_NOMEM;
    for (int i = 0; i < ds.n && s == LDM_OK; i++)
      u.labels[i] = ds.labels[i] >= 0 ? (uint32_t)ds.labels[i] : (uint32_t)c.ncls;
    tr_stage r;
    memset(&r, 0, sizeof r);
    r.t_run0 = run_t0;
    r.base_lr = o->unet_lr;
    r.total = o->unet_steps;
    if (s == LDM_OK) s = tr_build_unet_stage(&r, &u, B);
    bool found = false;
    double saved_scale = u.scale;
    if (s == LDM_OK && o->resume) s = tr_load_stage(o->out, "unet", r.e, &c, o, true, &ust, &saved_scale, &found);
    if (s == LDM_OK && found && fabs(saved_scale - u.scale) > 1e-6 * u.scale)
      tr_log(o, LDM_LOG_WARN, "warning: the latent scale changed since the checkpoint (%.6f -> %.6f)", saved_scale,
           u.scale);
    if (s == LDM_OK && !found) {
      void *img = ldm_calloc(1, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      s = img ? tr_params_init(&u, &r, B, o->seed + 1, img) : LDM_ERR_NOMEM;
      if (s == LDM_OK) s = ldm_exec_write_arena(r.e, LDM_ARENA_PARAM, img, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      if (s == LDM_OK) s = ldm_exec_write_arena(r.e, LDM_ARENA_EMA, img, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      free(img);
    }
    if (s == LDM_OK)
      tr_log(o, LDM_LOG_INFO, "stage 2: UNet, %lld parameters%s", (long long)ldm_param_count(&r.g),
             resumed_note(found, &ust, o->unet_steps, note, sizeof note));
    tr_batcher ss = {perm, ds.n, -1, o->seed ^ 0x5EEDu};
    if (s == LDM_OK && !(found && ust.done && ust.step >= o->unet_steps))
      s = tr_run_stage(&r, &u, &ss, B, metrics, tr_unet_samples, stage_ckpt);
    res->skipped[1] = r.skipped;
    tr_stage_free(&r);
    free(u.cache);
    free(u.labels);
    ldm_st_close(u.vae_file);
    if (s == LDM_OK) tr_log(o, LDM_LOG_INFO, "stage 2 done in %.1f s", tr_now() - t_stage);
  }
  if (s == LDM_ERR_INTERRUPTED) res->signal = o->cancel && *o->cancel ? (int)*o->cancel : SIGINT;
  free(perm);
  if (metrics && fclose(metrics) != 0 && s == LDM_OK) s = LDM_FAIL(LDM_ERR_IO, "error closing %s", mpath);
  ldm_dataset_free(&ds);
  return s;
}

ldm_status ldm_train(const ldm_train_opts *in, ldm_train_result *res) {
  ldm_train_result dummy;
  if (!res) res = &dummy;
  memset(res, 0, sizeof *res);
  ldm_status cs = tr_recipe_check(in);
  if (cs != LDM_OK) {
    res->collective = tr_size(in) > 1; /* alike on every rank */
    return cs;
  }
  ldm_backend be;
  LDM_TRY(ldm_backend_open(in->device, &be));
  tr_recipe recipe, *rc = &recipe;
  ldm_status s = tr_recipe_resolve(in, &be, rc);
  snprintf(res->out, sizeof res->out, "%s", rc->o.out);
  snprintf(res->preset, sizeof res->preset, "%s", rc->o.preset);
  int P = tr_size(in);
  if (s == LDM_OK && rc->o.batch % P != 0) { /* every rank finds this alike: rank 0 shows it */
    res->usage_error = res->collective = true;
    s = LDM_FAIL(LDM_ERR_INVALID_ARG, "--batch %d: must be a multiple of the %d ranks (each computes batch / ranks "
                 "samples)", rc->o.batch, P);
  }
  if (s != LDM_OK) {
    res->collective = P > 1; /* the options and the preset: alike on every rank */
  } else {
    if (tr_rank(in) == 0) s = tr_prepare_run_dir(&rc->o, &res->usage_error);
    s = tr_agree(in, s, res);
  }
  /* the test hook (LDM_TEST_FAULT), read once for this run */
  ldm_env env;
  ldm_env_read(&env);
  if (s == LDM_OK && env.test_fault_bad)
    s = LDM_FAIL(LDM_ERR_INVALID_ARG, "LDM_TEST_FAULT=%s: expected items STAGE:nan|explode:STEP[:COUNT]", env.test_fault);
  if (s == LDM_OK && env.nfaults)
    tr_log(&rc->o, LDM_LOG_WARN, "LDM_TEST_FAULT=%s: test hook, this run goes non-finite on purpose", env.test_fault);
  if (s == LDM_OK) s = train_run(rc, &be, &env, res);
  ldm_backend_close(&be);
  return s;
}

int ldm_train_exit_code(const ldm_train_result *r, ldm_status s) {
  if (s == LDM_OK) return 0;
  if (s == LDM_ERR_INTERRUPTED) return r->signal == SIGTERM ? 128 + SIGTERM : 128 + SIGINT;
  if (s == LDM_ERR_NUMERIC) return 3;
  return r->usage_error ? 2 : 1;
}
