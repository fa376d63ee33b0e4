/* The stage checkpoints: health of what is written, the state file and the weights file derived from
 * it, the validation of a stage file before --resume uses it, and the load. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/runinfo.h"
#include "ldm/schedule.h"

#include "train/trainer.h"

/* ---------------------------------------------------------------- health of what a checkpoint writes */

/* Largest |weight| a checkpoint may hold: trained weights are O(1); an update that blew up leaves ~1e30. */
#define WEIGHT_LIMIT 1e20f

/* Every parameter of arena a finite (and |x| < limit): *bad = false, else the first offender's name. */
static ldm_status arena_check(ldm_exec *e, ldm_arena a, float limit, bool *bad, char *name, size_t name_len,
                              double *value) {
  const ldm_graph *g = ldm_exec_graph(e);
  size_t sz = (size_t)g->arena_size[a];
  *bad = false;
  uint8_t *img = ldm_malloc(sz ? sz : 1);
  if (!img) return LDM_ERR_NOMEM;
  ldm_status s = ldm_exec_read_arena(e, a, img, sz);
  for (int i = 0; i < g->nt && s == LDM_OK && !*bad; i++) {
    const ldm_tensor *t = &g->t[i];
    if (t->arena != LDM_ARENA_PARAM || t->view_of != -1) continue;
    const float *x = (const float *)(img + t->offset);
    for (int64_t k = 0; k < t->numel; k++)
      if (!(fabsf(x[k]) < limit)) { /* NaN fails this too */
        *bad = true;
        *value = x[k];
        snprintf(name, name_len, "%s", t->name);
        break;
      }
  }
  free(img);
  return s;
}

void tr_last_ckpt_note(const tr_stage_state *st, char *b, size_t n) {
  if (st->ckpt_step >= 0) snprintf(b, n, "the last checkpoint (step %lld) is intact", (long long)st->ckpt_step);
  else snprintf(b, n, "no checkpoint of this stage was written");
}

/* Refuse to checkpoint weights, optimizer state or EMA that are not finite or have blown up. */
ldm_status tr_ckpt_health(ldm_exec *e, const char *stage, bool ema, const tr_stage_state *st, int64_t step) {
  static const struct {
    ldm_arena a;
    float limit;
    const char *what;
  } chk[] = {{LDM_ARENA_PARAM, WEIGHT_LIMIT, "weights"},
             {LDM_ARENA_ADAM_M, INFINITY, "AdamW first moments"},
             {LDM_ARENA_ADAM_V, INFINITY, "AdamW second moments"},
             {LDM_ARENA_EMA, WEIGHT_LIMIT, "EMA weights"}};
  for (int k = 0; k < (ema ? 4 : 3); k++) {
    bool bad;
    char name[LDM_NAME_MAX + 8];
    double v = 0;
    LDM_TRY(arena_check(e, chk[k].a, chk[k].limit, &bad, name, sizeof name, &v));
    if (bad) {
      char note[96];
      tr_last_ckpt_note(st, note, sizeof note);
      return LDM_FAIL(LDM_ERR_NUMERIC,
                      "stage %s step %lld: the %s are not finite or blew up (%s holds %g; the limit is |x| < %g), so "
                      "no checkpoint was written and %s; try a lower --lr",
                      stage, (long long)step, chk[k].what, name, v, (double)chk[k].limit, note);
    }
  }
  return LDM_OK;
}


/* ---------------------------------------------------------------- stage state files */

/* ldm.classes: the data's class names (a JSON array), for `sample --class NAME`; none for unlabeled data */
static ldm_status set_classes_meta(ldm_st_writer *w, const ldm_dataset *ds) {
  if (!ds || ds->num_classes <= 0) return LDM_OK;
  char *v = ldm_classes_encode(ds->class_names, ds->num_classes);
  if (!v) return LDM_ERR_NOMEM;
  ldm_status s = ldm_st_writer_set_meta(w, "ldm.classes", v);
  free(v);
  return s;
}

/* the noise schedule and prediction type as sched_to_meta writes them and ldm_ckpt_read_sched_meta reads
 * them back (the same text, parsed): the training sample grids sample exactly what a reader of the
 * weights file would */
void tr_sched_of(const ldm_train_opts *o, double scale, ldm_ckpt_sched *sch) {
  char b[64];
  memset(sch, 0, sizeof *sch);
  snprintf(b, sizeof b, "%.9g", scale);
  sch->scale = strtod(b, NULL);
  sch->T = o->T;
  snprintf(b, sizeof b, "%.9g", o->beta_start);
  sch->beta_start = strtod(b, NULL);
  snprintf(b, sizeof b, "%.9g", o->beta_end);
  sch->beta_end = strtod(b, NULL);
  sch->zero_snr = o->zero_snr;
  sch->v_pred = strcmp(o->prediction, "v") == 0;
  ldm_schedule_kind_parse(o->schedule, &sch->schedule);
}

/* the noise schedule and prediction type, which the sampler needs: in the weights file and in the state
 * file (from which a torn weights file is rebuilt) */
static ldm_status sched_to_meta(ldm_st_writer *w, const ldm_train_opts *o) {
  char b[64];
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.schedule", o->schedule));
  snprintf(b, sizeof b, "%d", o->T);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.T", b));
  snprintf(b, sizeof b, "%.9g", o->beta_start);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.beta_start", b));
  snprintf(b, sizeof b, "%.9g", o->beta_end);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.beta_end", b));
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.zero_snr", o->zero_snr ? "1" : "0"));
  return ldm_st_writer_set_meta(w, "ldm.prediction", o->prediction);
}

static ldm_status save_stage(const char *out, const char *stage, ldm_exec *e, const ldm_model_cfg *c,
                             const ldm_train_opts *o, const tr_stage_state *st, bool ema, double scale,
                             const ldm_dataset *ds) {
  char path[700], b[64];
  ldm_st_writer *w;
  LDM_TRY(ldm_st_writer_new(&w));
  ldm_status s = ldm_ckpt_add_arena(w, e, LDM_ARENA_PARAM, "");
  if (s == LDM_OK) s = ldm_ckpt_add_arena(w, e, LDM_ARENA_ADAM_M, "optim.m.");
  if (s == LDM_OK) s = ldm_ckpt_add_arena(w, e, LDM_ARENA_ADAM_V, "optim.v.");
  if (s == LDM_OK && ema) s = ldm_ckpt_add_arena(w, e, LDM_ARENA_EMA, "ema.");
  if (s == LDM_OK) s = ldm_cfg_to_meta(c, w);
  snprintf(b, sizeof b, "%lld", (long long)st->step);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.step", b);
  snprintf(b, sizeof b, "%u", st->opt_t);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.opt_t", b);
  snprintf(b, sizeof b, "%llu", (unsigned long long)o->seed);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.seed", b);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.stage", stage);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.done", st->done ? "1" : "0");
  snprintf(b, sizeof b, "%d", o->batch);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.batch", b);
  snprintf(b, sizeof b, "%d", o->grad_accum);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.grad_accum", b);
  snprintf(b, sizeof b, "%.9g", scale);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.scale", b);
  /* what the weights file carries besides, so that it can be rebuilt from this file alone */
  if (s == LDM_OK) s = sched_to_meta(w, o);
  if (s == LDM_OK) s = set_classes_meta(w, ds);
  snprintf(path, sizeof path, "%s/state_%s.safetensors", out, stage);
  if (s == LDM_OK) s = ldm_st_write_atomic(w, path);
  ldm_st_writer_free(w);
  return s;
}

/* weights only, names exactly the reference twin's state_dict (PyTorch-loadable); UNet: EMA weights */
static ldm_status save_weights(const char *out, const char *file, ldm_exec *e, ldm_arena a, const ldm_model_cfg *c,
                               const ldm_train_opts *o, double scale, int64_t step, const ldm_dataset *ds) {
  char path[700], b[64];
  ldm_st_writer *w;
  LDM_TRY(ldm_st_writer_new(&w));
  ldm_status s = ldm_ckpt_add_arena(w, e, a, "");
  if (s == LDM_OK) s = ldm_cfg_to_meta(c, w);
  snprintf(b, sizeof b, "%.9g", scale);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.scale", b);
  if (s == LDM_OK) s = sched_to_meta(w, o);
  snprintf(b, sizeof b, "%lld", (long long)step);
  if (s == LDM_OK) s = ldm_st_writer_set_meta(w, "ldm.step", b);
  if (s == LDM_OK) s = set_classes_meta(w, ds); /* last, as the rebuild of a torn file (repair_stage) adds it */
  snprintf(path, sizeof path, "%s/%s", out, file);
  if (s == LDM_OK) s = ldm_st_write_atomic(w, path);
  ldm_st_writer_free(w);
  return s;
}

/* The metadata of a stage file, before --resume uses it (and before it touches the run directory): the
 * file is untrusted, so its config and run state are validated (range, finiteness); with c and o it must
 * also be this run's (config, seed, batch, grad-accum). */
ldm_status tr_state_meta_check(const ldm_st_file *f, const char *path, const char *stage, const ldm_model_cfg *c,
                                   const ldm_train_opts *o, ldm_ckpt_state *cs) {
  ldm_model_cfg fc;
  ldm_status s = ldm_cfg_from_meta(f, &fc);
  if (s == LDM_OK) s = ldm_ckpt_read_state_meta(f, cs);
  if (s == LDM_OK && strcmp(cs->stage, stage) != 0)
    s = LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.stage is %s, not %s", path, cs->stage, stage);
  if (!c || !o) return s;
  if (s == LDM_OK && (!ldm_model_cfg_vae_equal(&fc, c) || fc.unet_levels != c->unet_levels ||
                      memcmp(fc.unet_ch, c->unet_ch, sizeof fc.unet_ch) || memcmp(fc.attn, c->attn, sizeof fc.attn) ||
                      fc.nres != c->nres || fc.ncls != c->ncls || fc.tdim != c->tdim || fc.heads != c->heads))
    s = LDM_FAIL(LDM_ERR_MISMATCH, "%s was trained with config %s, not this run's %s", path, fc.name, c->name);
  if (s == LDM_OK && cs->seed != o->seed)
    s = LDM_FAIL(LDM_ERR_MISMATCH, "%s: --resume needs the same --seed (%llu)", path, (unsigned long long)cs->seed);
  if (s == LDM_OK && cs->batch != o->batch)
    s = LDM_FAIL(LDM_ERR_MISMATCH, "%s: --resume needs the same --batch (%d)", path, cs->batch);
  if (s == LDM_OK && cs->grad_accum != o->grad_accum)
    s = LDM_FAIL(LDM_ERR_MISMATCH, "%s: --resume needs the same --grad-accum (%d)", path, cs->grad_accum);
  return s;
}

/* --resume, first of all: a stage file's step (0 without one), checked as load_stage will (c, o NULL:
 * validated only, for a stage this call does not train). */
ldm_status tr_state_check(const char *dir, const char *stage, const ldm_model_cfg *c, const ldm_train_opts *o,
                              int64_t *step) {
  char path[700];
  snprintf(path, sizeof path, "%s/state_%s.safetensors", dir, stage);
  *step = 0;
  if (!tr_file_exists(path)) return LDM_OK;
  ldm_st_file *f;
  LDM_TRY(ldm_ckpt_name_error(ldm_st_open(path, &f), path));
  ldm_ckpt_state cs;
  ldm_status s = tr_state_meta_check(f, path, stage, c, o, &cs);
  if (s == LDM_OK) *step = cs.step;
  ldm_st_close(f);
  return ldm_ckpt_name_error(s, path);
}

ldm_status tr_load_stage(const char *out, const char *stage, ldm_exec *e, const ldm_model_cfg *c,
                             const ldm_train_opts *o, bool ema, tr_stage_state *st, double *scale, bool *found) {
  char path[700];
  snprintf(path, sizeof path, "%s/state_%s.safetensors", out, stage);
  *found = tr_file_exists(path);
  if (!*found) return LDM_OK;
  ldm_st_file *f;
  LDM_TRY(ldm_ckpt_name_error(ldm_st_open(path, &f), path));
  ldm_ckpt_state cs;
  ldm_status s = tr_state_meta_check(f, path, stage, c, o, &cs);
  if (s == LDM_OK) s = ldm_ckpt_load_arena(f, e, LDM_ARENA_PARAM, "");
  if (s == LDM_OK) s = ldm_ckpt_load_arena(f, e, LDM_ARENA_ADAM_M, "optim.m.");
  if (s == LDM_OK) s = ldm_ckpt_load_arena(f, e, LDM_ARENA_ADAM_V, "optim.v.");
  if (s == LDM_OK && ema) s = ldm_ckpt_load_arena(f, e, LDM_ARENA_EMA, "ema.");
  if (s == LDM_OK) {
    st->step = cs.step;
    st->opt_t = cs.opt_t;
    st->done = cs.done;
    st->ckpt_step = cs.step;
    if (scale) *scale = cs.scale;
  }
  ldm_st_close(f);
  return ldm_ckpt_name_error(s, path);
}

/* One checkpoint of a stage (docs/architecture.md, "Checkpoints"): nothing is written unless every arena
 * is finite and bounded; then the state file (the checkpoint itself, the commit point), then the weights
 * file derived from it. Both carry ldm.step; a process that dies between the two leaves a weights file
 * of another step, which --resume and sample rebuild from the state (ldm_run_repair). */
ldm_status tr_write_ckpt(tr_ctx *c, tr_stage *r, int64_t step, bool final) {
  (void)step; /* == c->st->step */
  bool unet = r->ema;
  const char *stage = unet ? "unet" : "vae";
  double scale = unet ? c->scale : 0;
  LDM_TRY(tr_ckpt_health(r->e, stage, unet, c->st, c->st->step));
  c->st->done = final;
  LDM_TRY(save_stage(c->o->out, stage, r->e, c->c, c->o, c->st, unet, scale, c->ds));
  c->st->ckpt_step = c->st->step;
  return save_weights(c->o->out, unet ? "unet.safetensors" : "vae.safetensors", r->e,
                      unet ? LDM_ARENA_EMA : LDM_ARENA_PARAM, c->c, c->o, scale, c->st->step, c->ds);
}
