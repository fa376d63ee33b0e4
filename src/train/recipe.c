/* Recipe resolution: the defaults of ldm_train_opts, the checks of the caller's options and the presets
 * (docs/presets.md). The caller's options are read, never written: the result is a tr_recipe. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ldm/schedule.h"
#include "train/trainer.h"

void ldm_train_defaults(ldm_train_opts *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->config, sizeof o->config, "fmnist");
  o->out[0] = 0; /* "": runs/<config> (ldm_train) */
  snprintf(o->stage, sizeof o->stage, "all");
  snprintf(o->preset, sizeof o->preset, "auto");
  snprintf(o->lr_schedule, sizeof o->lr_schedule, "constant");
  snprintf(o->schedule, sizeof o->schedule, "linear");
  snprintf(o->prediction, sizeof o->prediction, "eps");
  o->vae_steps = -1; /* -1: the preset's */
  o->unet_steps = -1;
  o->batch = -1;
  o->grad_accum = 1;
  o->vae_lr = -1; /* < 0: the preset's (2e-4; quick 1e-3), so that an explicit value always wins */
  o->unet_lr = -1;
  o->seed = 0;
  o->kl_weight = 1e-6f;
  o->clip = 1.0f;
  o->ema_decay = -1; /* the preset's: 0.999; quick 0.995 */
  o->cfg_dropout = 0.1f;
  o->warmup = -1; /* the preset's: 500; quick 100 */
  o->T = 1000;
  o->beta_start = 1e-4f;
  o->beta_end = 0.02f;
  o->log_every = 50;
  o->sample_every = -1;
  o->ckpt_every = -1;
  o->sample_steps = 50;
  o->guidance = 2.0f;
  o->max_nan_steps = 20;
}

/* A preset-dependent option: the caller's value when it is set (>= 0), else the preset's. Only the sign
 * decides (LDM_TRAIN_PRESET), never a comparison with a default value. */
static int pick_i(int v, int preset) { return v >= 0 ? v : preset; }
static float pick_f(float v, float preset) { return v >= 0 ? v : preset; }

/* Quick preset: a 2-core CPU finishes in about 15 minutes; the full recipe is for GPUs. The model
 * configuration narrows with the quick fmnist preset; the tiny config has its own step counts. */
static void apply_preset(const ldm_train_opts *in, bool gpu, tr_recipe *r) {
  ldm_train_opts *o = &r->o;
  ldm_model_cfg *c = &r->c;
  bool quick = strcmp(in->preset, "quick") == 0 || (strcmp(in->preset, "auto") == 0 && !gpu);
  bool tiny = strcmp(c->name, "tiny") == 0;
  if (tiny) quick = false;
  /* the preset's values: full recipe, quick fmnist, tiny */
  int vae_steps = 3000, unet_steps = 6000, batch = 128, warmup = 500;
  float vae_lr = 2e-4f, unet_lr = 2e-4f, ema = 0.999f;
  if (quick && strcmp(c->name, "fmnist") == 0) {
    /* narrower networks, fewer steps: see docs/presets.md for the measurements behind these */
    c->vae_ch[0] = 16, c->vae_ch[1] = 32, c->vae_ch[2] = 64;
    c->unet_ch[0] = 32, c->unet_ch[1] = 64;
    c->nres = 1;
    c->tdim = 128;
    vae_steps = 800, unet_steps = 6000, batch = 64, warmup = 100;
    vae_lr = 1e-3f, unet_lr = 1e-3f, ema = 0.995f;
  }
  if (tiny) vae_steps = 200, unet_steps = 300, batch = 16;
  snprintf(o->preset, sizeof o->preset, quick ? "quick" : "full");
  o->vae_steps = pick_i(in->vae_steps, vae_steps);
  o->unet_steps = pick_i(in->unet_steps, unet_steps);
  o->batch = pick_i(in->batch, batch);
  o->vae_lr = pick_f(in->vae_lr, vae_lr);
  o->unet_lr = pick_f(in->unet_lr, unet_lr);
  o->warmup = pick_i(in->warmup, warmup);
  o->ema_decay = pick_f(in->ema_decay, ema);
  o->sample_every = pick_i(in->sample_every, o->unet_steps >= 2000 ? 1000 : 0);
  o->ckpt_every = pick_i(in->ckpt_every, 500);
}

ldm_status tr_recipe_check(const ldm_train_opts *o) {
  ldm_model_cfg c;
  LDM_TRY(ldm_model_config(o->config, &c));
  if (strcmp(o->stage, "vae") && strcmp(o->stage, "unet") && strcmp(o->stage, "all"))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--stage %s: expected vae, unet or all", o->stage);
  if (strcmp(o->prediction, "eps") && strcmp(o->prediction, "v"))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--prediction %s: expected eps or v", o->prediction);
  ldm_schedule_kind kind;
  if (ldm_schedule_kind_parse(o->schedule, &kind) != LDM_OK)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--schedule %s: expected linear, scaled_linear or cosine", o->schedule);
  /* what the CLI's flag table checks, again for library callers (and the pair the table cannot see): a run
   * must not train for an hour and then write checkpoints that its own reader refuses */
  if (!(o->beta_start > 0 && o->beta_start < o->beta_end && o->beta_end < 1))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--beta-start %g and --beta-end %g: need 0 < beta-start < beta-end < 1",
                    (double)o->beta_start, (double)o->beta_end);
  if (o->T < 2 || o->T > 100000) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--timesteps %d: must be in [2, 100000]", o->T);
  if (o->log_every < 1) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--log-every %d: must be at least 1", o->log_every);
  if (o->sample_steps < 1 || o->sample_steps > o->T)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--sample-steps %d: must be in [1, --timesteps %d]", o->sample_steps, o->T);
  if (!isfinite(o->vae_lr) || !isfinite(o->unet_lr) || o->vae_lr > 1 || o->unet_lr > 1 || o->vae_lr == 0 ||
      o->unet_lr == 0)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--vae-lr %g / --lr %g: must be in (0, 1] (or < 0: the preset's)",
                    (double)o->vae_lr, (double)o->unet_lr);
  /* NaN is neither a value nor LDM_TRAIN_PRESET */
  if (isnan(o->ema_decay)) return LDM_FAIL(LDM_ERR_INVALID_ARG, "--ema nan: must be a number");
  return LDM_OK;
}

ldm_status tr_recipe_resolve(const ldm_train_opts *in, const ldm_backend *be, tr_recipe *r) {
  memset(r, 0, sizeof *r);
  r->o = *in;
  LDM_TRY(ldm_model_config(in->config, &r->c));
  if (!in->out[0]) snprintf(r->o.out, sizeof r->o.out, "runs/%s", r->c.name); /* the default run directory */
  apply_preset(in, ldm_backend_is_gpu(be), r);
  const ldm_train_opts *o = &r->o;
  if (o->batch < 1 || o->grad_accum < 1 || o->vae_steps < 0 || o->unet_steps < 0)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--batch and --grad-accum must be positive, step counts non-negative");
  return LDM_OK;
}

float tr_lr_at(const ldm_train_opts *o, float base, int step, int total) {
  float lr = base;
  if (o->warmup > 0 && step <= o->warmup) lr = base * (float)step / (float)o->warmup;
  else if (strcmp(o->lr_schedule, "cosine") == 0 && total > o->warmup) {
    float p = (float)(step - o->warmup) / (float)(total - o->warmup);
    lr = base * 0.5f * (1.0f + cosf(3.14159265f * p));
  }
  return lr;
}

