/* The trainer: stage 1 VAE, latent cache + scale factor, stage 2 UNet.
 * Each stage's train step is one static graph (data gather, forward, backward, grad-norm clip, AdamW,
 * EMA, zeroing of the grads) built once and replayed; per-step values go through the step buffer. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/ops.h"
#include "ldm/backend.h"
#include "ldm/checkpoint.h"
#include "ldm/data.h"
#include "ldm/io.h"
#include "ldm/log.h"
#include "ldm/ops.h"
#include "ldm/report.h"
#include "ldm/runinfo.h"
#include "ldm/schedule.h"
#include "ldm/train.h"
#include "ldm/vk.h"
#include "train/internal.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

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

/* ---------------------------------------------------------------- cancel, log, progress */

/* The library installs no signal handler and writes nothing to stderr: the host's o->cancel stops a run,
 * its o->log gets the lines, its o->progress the numbers (ldm/log.h). */
static bool cancelled(const ldm_train_opts *o) { return o->cancel && *o->cancel; }

/* a line for the host; LDM_LOG_INFO lines are dropped with quiet */
static void tlog(const ldm_train_opts *o, ldm_log_level lv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void tlog(const ldm_train_opts *o, ldm_log_level lv, const char *fmt, ...) {
  if (lv == LDM_LOG_INFO && o->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  ldm_vlog_to(o->log, o->user, lv, fmt, ap);
  va_end(ap);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The work left in this call, for the run-wide ETA: per phase the units left (steps; images for the latent
 * cache), the images one unit processes and the measured seconds per unit (0: not measured yet). A phase
 * that has not run yet is estimated from the latest measured one through cost_per_image. */
enum { PH_VAE, PH_CACHE, PH_UNET, PH_N };
/* seconds per image relative to a VAE training step's, measured with the quick preset on 2 CPU cores (VAE
 * step 0.12 s, latent cache 14 s for 60000 images, UNet step 0.069 s; batch 64) */
static const double cost_per_image[PH_N] = {1.0, 0.125, 0.57};
typedef struct {
  int64_t left[PH_N];
  double images_per_unit[PH_N];
  double s_per_unit[PH_N];
} run_plan;

static double run_eta(const run_plan *rp, bool *estimated) {
  double base = 0; /* seconds per image of a VAE training step */
  for (int i = 0; i < PH_N; i++)
    if (rp->s_per_unit[i] > 0 && rp->images_per_unit[i] > 0)
      base = rp->s_per_unit[i] / rp->images_per_unit[i] / cost_per_image[i];
  *estimated = false;
  double t = 0;
  for (int i = 0; i < PH_N; i++) {
    if (rp->left[i] <= 0) continue;
    if (rp->s_per_unit[i] > 0) {
      t += (double)rp->left[i] * rp->s_per_unit[i];
    } else {
      if (base <= 0) return -1;
      t += (double)rp->left[i] * rp->images_per_unit[i] * cost_per_image[i] * base;
      *estimated = true;
    }
  }
  return t;
}

typedef struct {
  const ldm_train_opts *o;
  run_plan *plan;  /* may be NULL */
  int phase;       /* PH_* */
  const char *name, *unit;
  int64_t total, first;
  double t0;
} progress;

/* after `done` units of the phase: the plan's numbers, then the host's progress function */
static void progress_report(progress *p, int64_t done, double loss, const char *extra, bool final, bool log_step) {
  double t = now_s();
  int64_t n = done - p->first;
  double rate = n > 0 && t > p->t0 ? (double)n / (t - p->t0) : 0;
  if (p->plan) {
    p->plan->left[p->phase] = p->total - done;
    if (rate > 0) p->plan->s_per_unit[p->phase] = 1.0 / rate;
  }
  if (p->o->quiet || !p->o->progress) return;
  static const ldm_progress_phase ph[PH_N] = {LDM_PHASE_VAE, LDM_PHASE_CACHE, LDM_PHASE_UNET};
  ldm_progress pr;
  memset(&pr, 0, sizeof pr);
  pr.phase = ph[p->phase];
  pr.name = p->name;
  pr.done = done;
  pr.total = p->total;
  pr.loss = loss;
  pr.extra = extra ? extra : "";
  pr.rate = rate;
  pr.rate_unit = p->unit;
  pr.eta_s = rate > 0 ? (double)(p->total - done) / rate : -1;
  pr.run_eta_s = p->plan ? run_eta(p->plan, &pr.run_eta_estimated) : -1;
  pr.final = final;
  pr.log_step = log_step;
  p->o->progress(p->o->user, &pr);
}

/* ---------------------------------------------------------------- helpers */

static bool file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* ---------------------------------------------------------------- test hook: going non-finite on purpose */

/* LDM_TEST_FAULT is a test hook, not a user flag (read once, at the start of ldm_train): comma-separated
 * items STAGE:KIND:STEP[:COUNT] (STAGE vae or unet, steps 1-based, COUNT 1 by default):
 *   nan      steps STEP..STEP+COUNT-1 start from a NaN gradient instead of zero: each is skipped exactly
 *            as a step whose gradient went non-finite by itself;
 *   explode  the learning rate of steps STEP..STEP+COUNT-1 is 1e30: the update takes the weights to about
 *            1e30 (still finite, so that step is not skipped) and the steps after it go non-finite. */
enum { FAULT_NAN, FAULT_EXPLODE };
typedef struct {
  char stage[8];
  int kind;
  long long step, count;
} fault_spec;
static fault_spec faults[8];
static int nfaults;

static ldm_status faults_read(const ldm_train_opts *o) {
  nfaults = 0;
  const char *env = getenv("LDM_TEST_FAULT");
  if (!env || !*env) return LDM_OK;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", env);
  char *save = NULL;
  for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char stage[8] = "", kind[16] = "";
    long long step = 0, count = 1;
    int n = sscanf(item, "%7[a-z]:%15[a-z]:%lld:%lld", stage, kind, &step, &count);
    if (n < 3 || nfaults >= 8 || (strcmp(stage, "vae") && strcmp(stage, "unet")) || step < 1 || count < 1 ||
        (strcmp(kind, "nan") && strcmp(kind, "explode")))
      return LDM_FAIL(LDM_ERR_INVALID_ARG, "LDM_TEST_FAULT=%s: expected items STAGE:nan|explode:STEP[:COUNT]", env);
    fault_spec *f = &faults[nfaults++];
    snprintf(f->stage, sizeof f->stage, "%s", stage);
    f->kind = strcmp(kind, "nan") == 0 ? FAULT_NAN : FAULT_EXPLODE;
    f->step = step;
    f->count = count;
  }
  if (nfaults) tlog(o, LDM_LOG_WARN, "LDM_TEST_FAULT=%s: test hook, this run goes non-finite on purpose", env);
  return LDM_OK;
}

static bool fault_at(const char *stage, int kind, int64_t step) {
  for (int i = 0; i < nfaults; i++)
    if (faults[i].kind == kind && strcmp(faults[i].stage, stage) == 0 && step >= faults[i].step &&
        step - faults[i].step < faults[i].count)
      return true;
  return false;
}

/* the gradients are zero at the start of a step (AdamW zeroes what it consumed): make one of them NaN */
static ldm_status poison_grads(ldm_exec *e) {
  const ldm_graph *g = ldm_exec_graph(e);
  size_t sz = (size_t)g->arena_size[LDM_ARENA_GRAD];
  float *img = ldm_calloc(1, sz ? sz : 4);
  if (!img) return LDM_ERR_NOMEM;
  for (int i = 0; i < g->nt; i++)
    if (g->t[i].arena == LDM_ARENA_PARAM && g->t[i].view_of == -1 && g->t[i].numel > 0) {
      img[g->t[i].offset / 4] = NAN;
      break;
    }
  ldm_status s = ldm_exec_write_arena(e, LDM_ARENA_GRAD, img, sz);
  free(img);
  return s;
}

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

typedef struct {
  int64_t step;        /* completed steps */
  uint32_t opt_t;      /* optimizer steps taken (skipped NaN steps do not count) */
  bool done;
  int64_t ckpt_step;   /* step of the last checkpoint written or loaded in this process; -1: none */
} stage_state;

static void last_ckpt_note(const stage_state *st, char *b, size_t n) {
  if (st->ckpt_step >= 0) snprintf(b, n, "the last checkpoint (step %lld) is intact", (long long)st->ckpt_step);
  else snprintf(b, n, "no checkpoint of this stage was written");
}

/* Refuse to checkpoint weights, optimizer state or EMA that are not finite or have blown up. */
static ldm_status ckpt_health(ldm_exec *e, const char *stage, bool ema, const stage_state *st, int64_t step) {
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
      last_ckpt_note(st, note, sizeof note);
      return LDM_FAIL(LDM_ERR_NUMERIC,
                      "stage %s step %lld: the %s are not finite or blew up (%s holds %g; the limit is |x| < %g), so "
                      "no checkpoint was written and %s; try a lower --lr",
                      stage, (long long)step, chk[k].what, name, v, (double)chk[k].limit, note);
    }
  }
  return LDM_OK;
}

/* ---------------------------------------------------------------- the run directory */

/* The files a run owns in its directory (and samples/vae_recon_*.png, samples/unet_*.png). */
static const char *const run_files[] = {"config.json", "vae.safetensors", "unet.safetensors", "state_vae.safetensors",
                                        "state_unet.safetensors", "metrics.jsonl", "samples.png", "report.html",
                                        NULL};

static bool is_run_sample(const char *n) {
  size_t l = strlen(n);
  return l > 4 && strcmp(n + l - 4, ".png") == 0 && (strncmp(n, "vae_recon_", 10) == 0 || strncmp(n, "unet_", 5) == 0);
}

static bool is_temp_of(const char *n, bool (*owned)(const char *)) {
  const char *t = strstr(n, ".tmp.");
  if (!t) return false;
  char base[256];
  if ((size_t)(t - n) >= sizeof base) return false;
  memcpy(base, n, (size_t)(t - n));
  base[t - n] = 0;
  for (const char *p = t + 5; *p; p++)
    if (*p < '0' || *p > '9') return false;
  return owned(base);
}

static bool is_run_file(const char *n) {
  for (int i = 0; run_files[i]; i++)
    if (strcmp(n, run_files[i]) == 0) return true;
  return false;
}

/* --overwrite: remove what an earlier run wrote (and nothing else) */
static ldm_status remove_run_files(const char *dir, int *removed) {
  char sub[700];
  snprintf(sub, sizeof sub, "%s/samples", dir);
  const char *dirs[2] = {dir, sub};
  for (int k = 0; k < 2; k++) {
    DIR *d = opendir(dirs[k]);
    if (!d) continue;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      const char *n = de->d_name;
      bool mine = k == 0 ? is_run_file(n) || is_temp_of(n, is_run_file) : is_run_sample(n) || is_temp_of(n, is_run_sample);
      if (!mine) continue;
      char p[1000];
      snprintf(p, sizeof p, "%s/%s", dirs[k], n);
      if (unlink(p) != 0) {
        closedir(d);
        return LDM_FAIL(LDM_ERR_IO, "--overwrite: cannot remove %s: %s", p, strerror(errno));
      }
      (*removed)++;
    }
    closedir(d);
  }
  rmdir(sub); /* only when it is empty now */
  return LDM_OK;
}

/* A new run needs an empty (or new) directory, --overwrite replaces an earlier run, --resume needs a
 * checkpoint. */
static ldm_status prepare_run_dir(ldm_train_opts *o) {
  if (o->resume && o->overwrite) {
    o->usage_error = true;
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--resume and --overwrite exclude each other (run directory %s)", o->out);
  }
  int entries = 0;
  DIR *d = opendir(o->out);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) entries++;
    closedir(d);
  } else if (errno != ENOENT) {
    return LDM_FAIL(LDM_ERR_IO, "cannot read the run directory %s: %s", o->out, strerror(errno));
  }
  char p1[700], p2[700];
  snprintf(p1, sizeof p1, "%s/state_vae.safetensors", o->out);
  snprintf(p2, sizeof p2, "%s/state_unet.safetensors", o->out);
  if (o->resume) {
    if (!file_exists(p1) && !file_exists(p2))
      return LDM_FAIL(LDM_ERR_IO,
                      "--resume: no checkpoint in %s (no state_vae.safetensors or state_unet.safetensors); start the "
                      "run without --resume",
                      o->out);
    return LDM_OK;
  }
  if (entries == 0) return LDM_OK;
  if (!o->overwrite) {
    o->usage_error = true;
    return LDM_FAIL(LDM_ERR_INVALID_ARG,
                    "run directory %s is not empty: pass --resume to continue the run in it or --overwrite to replace "
                    "it",
                    o->out);
  }
  int removed = 0;
  LDM_TRY(remove_run_files(o->out, &removed));
  tlog(o, LDM_LOG_INFO, "--overwrite: removed %d files of the earlier run in %s", removed, o->out);
  return LDM_OK;
}

/* --resume: metrics.jsonl keeps the rows of steps its checkpoints hold (the later ones are made again),
 * and loses a torn last line; rewritten atomically, and only when something goes. */
static ldm_status metrics_trim(const ldm_train_opts *o, const char *dir, int64_t vae_step, int64_t unet_step) {
  char path[700];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return LDM_OK;
  char *buf = NULL, *keep = NULL;
  size_t n = 0, cap = 0, kn = 0;
  ldm_status s = LDM_OK;
  for (;;) {
    if (n + 65536 > cap) {
      cap = cap ? 2 * cap : 1 << 20;
      char *nb = realloc(buf, cap);
      if (!nb) {
        s = LDM_FAIL(LDM_ERR_NOMEM, "out of host memory reading %s", path);
        break;
      }
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  if (s == LDM_OK && ferror(f)) s = LDM_FAIL(LDM_ERR_IO, "error reading %s: %s", path, strerror(errno));
  fclose(f);
  keep = s == LDM_OK ? ldm_malloc(n + 1) : NULL;
  if (s == LDM_OK && !keep) s = LDM_ERR_NOMEM;
  int dropped = 0;
  for (size_t i = 0; s == LDM_OK && i < n;) {
    char *nl = memchr(buf + i, '\n', n - i);
    size_t len = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
    char line[64], st[8];
    long long step;
    size_t cl = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, buf + i, cl);
    line[cl] = 0;
    bool ok = nl && sscanf(line, "{\"stage\":\"%7[^\"]\",\"step\":%lld", st, &step) == 2 &&
              ((strcmp(st, "vae") == 0 && step <= vae_step) || (strcmp(st, "unet") == 0 && step <= unet_step));
    if (ok) {
      memcpy(keep + kn, buf + i, len);
      kn += len;
    } else {
      dropped++;
    }
    i += len;
  }
  if (s == LDM_OK && dropped > 0) {
    s = ldm_file_write_atomic(path, keep, kn);
    if (s == LDM_OK)
      tlog(o, LDM_LOG_INFO, "metrics.jsonl: dropped %d rows past the checkpoints (VAE step %lld, UNet step %lld)",
           dropped, (long long)vae_step, (long long)unet_step);
  }
  free(buf);
  free(keep);
  return s;
}

/* ---------------------------------------------------------------- torn checkpoints */

static ldm_status state_meta_check(const ldm_st_file *f, const char *path, const char *stage, const ldm_model_cfg *c,
                                   const ldm_train_opts *o, ldm_ckpt_state *cs);

/* Metadata of a weights file, in the order save_weights writes it (a repaired file is byte-identical). */
static const char *const weights_keys[] = {"ldm.config", "ldm.cin",      "ldm.res",        "ldm.z",        "ldm.nres",
                                           "ldm.ncls",   "ldm.tdim",     "ldm.heads",      "ldm.crop",     "ldm.vae_ch",
                                           "ldm.unet_ch", "ldm.attn",    "ldm.scale",      "ldm.schedule", "ldm.T",
                                           "ldm.beta_start", "ldm.beta_end", "ldm.zero_snr", "ldm.prediction",
                                           "ldm.step",   NULL};

/* The state file is the checkpoint; the weights file is derived from it. A weights file that is missing or
 * holds another (valid) step than the state (the process died between the two renames) is rebuilt from the
 * state: the VAE's parameters, the UNet's EMA weights. Anything else is left alone for its reader to judge:
 * a state file that does not validate, a weights file that cannot be read or whose ldm.step is not a step
 * (damage, not a torn pair). */
static ldm_status repair_stage(const char *dir, const char *stage, bool quiet, ldm_log_fn lf, void *lu,
                               int *repaired) {
  char sp[700], wp[700];
  snprintf(sp, sizeof sp, "%s/state_%s.safetensors", dir, stage);
  snprintf(wp, sizeof wp, "%s/%s.safetensors", dir, stage);
  if (!file_exists(sp)) return LDM_OK;
  ldm_st_file *sf;
  if (ldm_st_open(sp, &sf) != LDM_OK) {
    ldm_clear_error();
    return LDM_OK;
  }
  ldm_ckpt_state cs;
  if (state_meta_check(sf, sp, stage, NULL, NULL, &cs) != LDM_OK) {
    ldm_clear_error();
    ldm_st_close(sf);
    return LDM_OK;
  }
  char sstep[32];
  snprintf(sstep, sizeof sstep, "%lld", (long long)cs.step);
  bool have_w = file_exists(wp);
  char wstep[32] = "";
  if (have_w) {
    ldm_st_file *wf;
    bool torn = false;
    if (ldm_st_open(wp, &wf) == LDM_OK) {
      const char *v = ldm_st_meta(wf, "ldm.step");
      int64_t ws;
      torn = ldm_meta_parse_int(v, 0, LDM_CKPT_MAX_STEP, &ws) && ws != cs.step;
      snprintf(wstep, sizeof wstep, "%lld", torn ? (long long)ws : 0LL);
      ldm_st_close(wf);
    }
    ldm_clear_error();
    if (!torn) {
      ldm_st_close(sf);
      return LDM_OK;
    }
  }
  /* a state file of an ldm-vk that did not store the weights file's metadata: nothing to rebuild from */
  for (int k = 0; weights_keys[k]; k++)
    if (!ldm_st_meta(sf, weights_keys[k])) {
      ldm_st_close(sf);
      return LDM_OK;
    }
  bool unet = strcmp(stage, "unet") == 0;
  ldm_st_writer *w = NULL;
  ldm_status s = ldm_st_writer_new(&w);
  int nt = 0;
  for (int i = 0; s == LDM_OK && i < ldm_st_count(sf); i++) {
    const ldm_st_tensor *t = ldm_st_at(sf, i);
    const char *name = t->name;
    if (unet) {
      if (strncmp(name, "ema.", 4) != 0) continue;
      name += 4;
    } else if (strncmp(name, "optim.", 6) == 0 || strncmp(name, "ema.", 4) == 0) {
      continue;
    }
    s = ldm_st_writer_add_ref(w, name, t->dtype, t->ndim, t->shape, t->data);
    nt++;
  }
  if (s == LDM_OK && nt == 0) s = LDM_FAIL(LDM_ERR_FORMAT, "%s: holds no %s weights", sp, unet ? "EMA" : "model");
  for (int k = 0; s == LDM_OK && weights_keys[k]; k++)
    s = ldm_st_writer_set_meta(w, weights_keys[k], ldm_st_meta(sf, weights_keys[k]));
  const char *classes = ldm_st_meta(sf, "ldm.classes"); /* labeled data only */
  if (s == LDM_OK && classes) s = ldm_st_writer_set_meta(w, "ldm.classes", classes);
  if (s == LDM_OK) s = ldm_st_write_atomic(w, wp);
  if (s == LDM_OK) {
    if (repaired) (*repaired)++;
    if (!quiet && have_w)
      ldm_log_to(lf, lu, LDM_LOG_WARN,
                 "%s held step %s but its checkpoint %s step %s (a run stopped between the two files): rebuilt from "
                 "the checkpoint",
                 wp, wstep, sp, sstep);
    else if (!quiet)
      ldm_log_to(lf, lu, LDM_LOG_WARN, "%s was missing: rebuilt from its checkpoint %s (step %s)", wp, sp, sstep);
  }
  ldm_st_writer_free(w);
  ldm_st_close(sf);
  return s;
}

static ldm_status run_repair(const char *dir, bool quiet, ldm_log_fn lf, void *lu, int *repaired) {
  if (repaired) *repaired = 0;
  LDM_TRY(repair_stage(dir, "vae", quiet, lf, lu, repaired));
  return repair_stage(dir, "unet", quiet, lf, lu, repaired);
}

ldm_status ldm_run_repair(const char *dir, bool quiet, int *repaired) {
  return run_repair(dir, quiet, NULL, NULL, repaired);
}

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

static ldm_status load_data(const ldm_train_opts *o, const ldm_model_cfg *c, ldm_dataset *ds) {
  const char *dir = o->data[0] ? o->data : DEFAULT_DATA;
  char probe[600];
  snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", dir);
  bool idx = file_exists(probe);
  snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte", dir);
  idx = idx || file_exists(probe);
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

static float lr_at(const ldm_train_opts *o, float base, int step, int total) {
  float lr = base;
  if (o->warmup > 0 && step <= o->warmup) lr = base * (float)step / (float)o->warmup;
  else if (strcmp(o->lr_schedule, "cosine") == 0 && total > o->warmup) {
    float p = (float)(step - o->warmup) / (float)(total - o->warmup);
    lr = base * 0.5f * (1.0f + cosf(3.14159265f * p));
  }
  return lr;
}

/* Batch indices for a step: epoch-wise seeded permutations, a function of (seed, step) only. */
typedef struct {
  uint32_t *perm;
  int n;
  int64_t epoch;
  uint64_t seed;
} sampler_state;

static void batch_indices(sampler_state *s, int64_t step0, int B, uint32_t *out) {
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
  if (gs < 0 || P < 0 || G < 0 || M < 0 || V < 0) return -1;
  if (ldm_grad_norm_clip(g, G, step, gs) < 0) return -1;
  if (ldm_adamw_gs(g, P, G, M, V, step, gs, 0.9f, 0.999f, 1e-8f, 0.0f) < 0) return -1;
  if (ema) {
    int E = ldm_arena_view(g, LDM_ARENA_EMA, "ema");
    if (E < 0 || ldm_ema(g, E, P, step) < 0) return -1;
  }
  return gs;
}

/* The dataset table lives on the device when it fits one binding; else the host uploads each batch. */
typedef struct {
  int table, idx;   /* gather source and indices */
  bool on_device;
  int64_t row;      /* elements per row */
} data_src;

static ldm_status data_src_make(ldm_graph *g, ldm_vk_ctx *vk, const char *name, ldm_dtype dt, int64_t rows,
                                int64_t row, int B, data_src *d) {
  int64_t bytes = rows * row * (dt == LDM_U8 ? 1 : 4);
  uint64_t limit = vk ? ldm_vk_limits(vk)->max_buffer_range : (uint64_t)1 << 40;
  if (limit > (1u << 30)) limit = 1u << 30;
  d->row = row;
  d->on_device = (uint64_t)bytes <= limit;
  int64_t n = d->on_device ? rows * row : (int64_t)B * row;
  d->table = ldm_tensor_new(g, name, d->on_device ? LDM_ARENA_CONST : LDM_ARENA_HOST, dt, 1, &n);
  char in[64];
  snprintf(in, sizeof in, "%s.idx", name);
  d->idx = ldm_host(g, in, LDM_U32, B);
  return d->table < 0 || d->idx < 0 ? LDM_ERR_INTERNAL : LDM_OK;
}

static ldm_status data_src_upload(ldm_exec *e, const data_src *d, const void *all, size_t elem, int64_t rows) {
  if (!d->on_device) return LDM_OK;
  return ldm_exec_write(e, d->table, all, (size_t)(rows * d->row) * elem);
}

/* per step: indices (device table) or the rows themselves (host table) */
static void data_src_step(ldm_exec *e, const data_src *d, const void *all, size_t elem, const uint32_t *batch, int B) {
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
                             const ldm_train_opts *o, const stage_state *st, bool ema, double scale,
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
static ldm_status state_meta_check(const ldm_st_file *f, const char *path, const char *stage, const ldm_model_cfg *c,
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
static ldm_status state_check(const char *dir, const char *stage, const ldm_model_cfg *c, const ldm_train_opts *o,
                              int64_t *step) {
  char path[700];
  snprintf(path, sizeof path, "%s/state_%s.safetensors", dir, stage);
  *step = 0;
  if (!file_exists(path)) return LDM_OK;
  ldm_st_file *f;
  LDM_TRY(ldm_ckpt_name_error(ldm_st_open(path, &f), path));
  ldm_ckpt_state cs;
  ldm_status s = state_meta_check(f, path, stage, c, o, &cs);
  if (s == LDM_OK) *step = cs.step;
  ldm_st_close(f);
  return ldm_ckpt_name_error(s, path);
}

static ldm_status load_stage(const char *out, const char *stage, ldm_exec *e, const ldm_model_cfg *c,
                             const ldm_train_opts *o, bool ema, stage_state *st, double *scale, bool *found) {
  char path[700];
  snprintf(path, sizeof path, "%s/state_%s.safetensors", out, stage);
  *found = file_exists(path);
  if (!*found) return LDM_OK;
  ldm_st_file *f;
  LDM_TRY(ldm_ckpt_name_error(ldm_st_open(path, &f), path));
  ldm_ckpt_state cs;
  ldm_status s = state_meta_check(f, path, stage, c, o, &cs);
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

/* ---------------------------------------------------------------- training loop (both stages) */

typedef struct {
  const char *name;      /* "vae" | "unet" */
  ldm_graph g;
  ldm_exec *e;
  int step_t, loss_t, gs_t, aux_t[2];
  const char *aux_name[2];
  data_src src[2];
  const void *src_data[2];
  size_t src_elem[2];
  int nsrc;
  bool ema;
  float base_lr;
  int total;
  int64_t skipped;       /* non-finite steps skipped in this process */
  double t_run0;         /* now_s() when elapsed_s of the metrics rows was 0 (earlier processes of the run count) */
} stage_run;

static ldm_status write_metrics(FILE *f, const char *out, const stage_run *r, int64_t step, float loss,
                                const float *aux, float lr, float gnorm, double it_s, bool skipped) {
  if (!f) return LDM_OK;
  char b[6][32]; /* JSON has no NaN or Infinity: a non-finite number is null */
#define JNUM(i, fmt, v) (isfinite(v) ? (snprintf(b[i], sizeof b[i], fmt, v), b[i]) : "null")
  fprintf(f, "{\"stage\":\"%s\",\"step\":%lld,\"loss\":%s", r->name, (long long)step, JNUM(0, "%.9g", loss));
  for (int k = 0; k < 2; k++)
    if (r->aux_name[k]) fprintf(f, ",\"%s\":%s", r->aux_name[k], JNUM(1 + k, "%.7g", aux[k]));
  /* time: UTC, ISO 8601 with milliseconds; elapsed_s: seconds of the run so far (the device is in config.json) */
  char when[40];
  ldm_time_iso8601(when, sizeof when);
  fprintf(f, ",\"lr\":%s,\"grad_norm\":%s,\"it_s\":%s,\"skipped\":%s,\"time\":\"%s\",\"elapsed_s\":%.3f}\n",
          JNUM(3, "%.4g", lr), JNUM(4, "%.5g", gnorm), JNUM(5, "%.3f", it_s), skipped ? "true" : "false", when,
          now_s() - r->t_run0);
#undef JNUM
  /* flushed row by row, so that a full disk is noticed (and named) at the row that did not fit */
  if (fflush(f) != 0 || ferror(f))
    return LDM_FAIL(LDM_ERR_IO, "%s/metrics.jsonl: write failed: %s", out, strerror(errno ? errno : EIO));
  return LDM_OK;
}

typedef ldm_status (*periodic_fn)(void *ctx, stage_run *r, int64_t step, bool final);

static ldm_status run_stage(stage_run *r, ldm_train_opts *o, stage_state *st, sampler_state *ss, int B,
                            FILE *metrics, periodic_fn sample_fn, periodic_fn ckpt_fn, void *ctx, run_plan *plan) {
  progress p = {o, plan, r->ema ? PH_UNET : PH_VAE, r->name, "it/s", r->total, st->step, now_s()};
  uint32_t *batch = ldm_malloc((size_t)B * 4);
  if (!batch) return LDM_ERR_NOMEM;
  uint32_t *sw = ldm_exec_host_ptr(r->e, r->step_t);
  const float *gs = ldm_exec_host_ptr(r->e, r->gs_t);
  int nan_run = 0;
  bool first = true;
  ldm_status s = LDM_OK;
  double t_last = now_s();
  int64_t s_last = st->step;
  while (st->step < r->total && s == LDM_OK) {
    if (cancelled(o)) {
      s = LDM_ERR_INTERRUPTED;
      break;
    }
    int64_t k = st->step + 1; /* the step being made (1-based) */
    float lr = lr_at(o, r->base_lr, (int)k, r->total);
    float decay = r->ema ? o->ema_decay : 0.0f;
    if (r->ema && o->ema_warmup) {
      float w = (1.0f + (float)k) / (10.0f + (float)k);
      decay = decay < w ? decay : w;
    }
    /* --grad-accum A: A replays (micro-batches) per optimizer step; only the last one updates */
    int A = o->grad_accum > 0 ? o->grad_accum : 1;
    float loss = 0, aux[2] = {0, 0};
    for (int j = 0; j < A && s == LDM_OK; j++) {
      int64_t micro = (k - 1) * A + j; /* data and random numbers are a function of the micro-step */
      batch_indices(ss, micro, B, batch);
      for (int i = 0; i < r->nsrc; i++) data_src_step(r->e, &r->src[i], r->src_data[i], r->src_elem[i], batch, B);
      ldm_step_write(sw, st->opt_t + 1, (uint64_t)micro + 1, fault_at(r->name, FAULT_EXPLODE, k) ? 1e30f : lr, 0.9f,
                     0.999f, decay, strcmp(r->name, "vae") ? o->clip : 0.0f, A, j + 1 < A);
      if (j == 0 && fault_at(r->name, FAULT_NAN, k)) s = poison_grads(r->e);
      if (s != LDM_OK) break;
      /* --check: the first step of the stage runs node by node against the CPU reference */
      if (o->check && first && ldm_exec_is_vk(r->e)) ldm_vk_set_check(true);
      first = false;
      s = ldm_exec_run(r->e);
      ldm_vk_set_check(false);
      float l = 0, a2[2] = {0, 0};
      if (s == LDM_OK) s = ldm_exec_read(r->e, r->loss_t, &l, 4);
      for (int a = 0; a < 2 && s == LDM_OK; a++)
        if (r->aux_t[a] >= 0) s = ldm_exec_read(r->e, r->aux_t[a], &a2[a], 4);
      loss += l / (float)A;
      aux[0] += a2[0] / (float)A;
      aux[1] += a2[1] / (float)A;
    }
    if (s != LDM_OK) break;
    bool skipped = gs[1] != 0.0f || !isfinite(loss);
    st->step = k;
    if (skipped) {
      nan_run++;
      r->skipped++;
      tlog(o, LDM_LOG_WARN, "%s step %lld: non-finite loss or gradient, update skipped (%d in a row)", r->name,
           (long long)k, nan_run);
    } else {
      nan_run = 0;
      st->opt_t++;
    }
    char extra[96];
    if (r->aux_name[0]) snprintf(extra, sizeof extra, "%s %.4g gnorm %.3g", r->aux_name[0], aux[0], gs[2]);
    else snprintf(extra, sizeof extra, "gnorm %.3g", gs[2]);
    bool last = st->step == r->total;
    progress_report(&p, k, loss, extra, last, k % o->log_every == 0 || last);
    if (k % o->log_every == 0 || last || skipped) {
      double t = now_s();
      double its = (double)(k - s_last) / (t - t_last + 1e-9);
      t_last = t;
      s_last = k;
      s = write_metrics(metrics, o->out, r, k, loss, aux, lr, gs[2], its, skipped);
      if (o->metrics) { /* the host's copy of the row */
        ldm_metrics m = {r->name, k, loss, 0, {NULL, NULL}, {0, 0}, lr, gs[2], its, skipped};
        for (int a = 0; a < 2; a++)
          if (r->aux_name[a]) m.aux_name[m.naux] = r->aux_name[a], m.aux[m.naux++] = aux[a];
        o->metrics(o->user, &m);
      }
    }
    char note[96];
    if (s == LDM_OK && nan_run >= o->max_nan_steps) {
      last_ckpt_note(st, note, sizeof note);
      s = LDM_FAIL(LDM_ERR_NUMERIC, "%d consecutive non-finite steps in stage %s (%lld skipped in all); stopping: %s; "
                   "try a lower --lr", nan_run, r->name, (long long)r->skipped, note);
      break;
    }
    /* a skipped step changed nothing: neither a checkpoint nor a sample grid of it (the final ones included) */
    if (s == LDM_OK && !skipped && ckpt_fn && (last || (o->ckpt_every > 0 && k % o->ckpt_every == 0)))
      s = ckpt_fn(ctx, r, k, last);
    if (s == LDM_OK && !skipped && sample_fn && (last || (o->sample_every > 0 && k % o->sample_every == 0)))
      s = sample_fn(ctx, r, k, last);
    /* report.html at every log interval and at the end of the stage (after its sample grid); warns, never fails */
    if (s == LDM_OK && (k % o->log_every == 0 || last)) ldm_report_update(o->out, last, o->log, o->user);
  }
  if (s == LDM_OK && nan_run > 0) { /* the stage ran out of steps while non-finite: not a finished stage */
    char note[96];
    last_ckpt_note(st, note, sizeof note);
    s = LDM_FAIL(LDM_ERR_NUMERIC,
                 "stage %s ended on %d non-finite steps in a row (%lld skipped in all): its final checkpoint was not "
                 "written and %s; try a lower --lr",
                 r->name, nan_run, (long long)r->skipped, note);
  }
  if (s == LDM_ERR_INTERRUPTED) {
    int why = o->cancel ? (int)*o->cancel : 0;
    tlog(o, LDM_LOG_WARN, "interrupted by %s: saving a checkpoint at step %lld",
         why == SIGTERM ? "SIGTERM" : why == SIGINT ? "SIGINT" : "a cancel request", (long long)st->step);
    ldm_status cs = ckpt_fn && st->ckpt_step != st->step ? ckpt_fn(ctx, r, st->step, false) : LDM_OK;
    if (cs != LDM_OK) s = cs;
    else LDM_FAIL(LDM_ERR_INTERRUPTED, "interrupted; resume with --resume");
  }
  free(batch);
  return s;
}

/* ---------------------------------------------------------------- the stages */

typedef struct {
  ldm_train_opts *o;
  ldm_model_cfg *c;
  ldm_vk_ctx *vk;
  stage_state *st;
  double scale;
  ldm_dataset *ds;
  run_plan *plan;  /* the run-wide ETA's numbers (NULL: none) */
} stage_ctx;

/* the host's copy of a sample grid */
static void grid_callback(const ldm_train_opts *o, const char *stage, int64_t step, bool final, const float *images,
                          int n, const ldm_model_cfg *m, int nrow, const char *path) {
  if (!o->sample_grid) return;
  ldm_sample_grid g = {stage, step, final, images, n, m->cin, m->res, m->res, nrow, path};
  o->sample_grid(o->user, &g);
}

/* One checkpoint of a stage (docs/architecture.md, "Checkpoints"): nothing is written unless every arena
 * is finite and bounded; then the state file (the checkpoint itself, the commit point), then the weights
 * file derived from it. Both carry ldm.step; a process that dies between the two leaves a weights file
 * of another step, which --resume and sample rebuild from the state (ldm_run_repair). */
static ldm_status write_ckpt(stage_ctx *c, stage_run *r, bool final) {
  bool unet = r->ema;
  const char *stage = unet ? "unet" : "vae";
  double scale = unet ? c->scale : 0;
  LDM_TRY(ckpt_health(r->e, stage, unet, c->st, c->st->step));
  c->st->done = final;
  LDM_TRY(save_stage(c->o->out, stage, r->e, c->c, c->o, c->st, unet, scale, c->ds));
  c->st->ckpt_step = c->st->step;
  return save_weights(c->o->out, unet ? "unet.safetensors" : "vae.safetensors", r->e,
                      unet ? LDM_ARENA_EMA : LDM_ARENA_PARAM, c->c, c->o, scale, c->st->step, c->ds);
}

static ldm_status vae_ckpt(void *vc, stage_run *r, int64_t step, bool final) {
  (void)step; /* == st->step */
  return write_ckpt(vc, r, final);
}

/* reconstructions of the first images of the batch next to the originals */
static ldm_status vae_samples(void *vc, stage_run *r, int64_t step, bool final) {
  stage_ctx *c = vc;
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

static ldm_status build_vae_stage(stage_run *r, stage_ctx *c, int B) {
  const ldm_model_cfg *m = c->c;
  ldm_graph *g = &r->g;
  LDM_TRY(ldm_graph_init(g));
  r->name = "vae";
  r->step_t = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  int64_t per = (int64_t)m->cin * m->res * m->res;
  LDM_TRY(data_src_make(g, c->vk, "images", LDM_U8, c->ds->n, per, B, &r->src[0]));
  r->nsrc = 1;
  r->src_data[0] = c->ds->pixels;
  r->src_elem[0] = 1;
  int x = ldm_act(g, "vae.x", 4, LDM_SHAPE(B, m->cin, m->res, m->res));
  if (x < 0) return LDM_ERR_INTERNAL;
  ldm_keep(g, x);
  if (ldm_gather_rows(g, r->src[0].table, r->src[0].idx, x, per, 2.0f / 255.0f, -1.0f) < 0) return LDM_ERR_INTERNAL;
  int mu, lv;
  LDM_TRY(ldm_vae_encode(g, m, x, &mu, &lv));
  int lr = ldm_latent_res(m);
  int eps = ldm_act(g, "vae.eps", 4, LDM_SHAPE(B, m->z, lr, lr));
  if (eps < 0 || ldm_philox_fill(g, eps, r->step_t, LDM_RNG_NORMAL, c->o->seed, 0x7AE, 0) < 0) return LDM_ERR_INTERNAL;
  int z = ldm_reparam(g, mu, lv, eps);
  int xh = z < 0 ? -1 : ldm_vae_decode(g, m, z);
  if (xh < 0) return LDM_ERR_INTERNAL;
  snprintf(g->t[xh].name, sizeof g->t[xh].name, "vae.x_hat");
  ldm_keep(g, xh);
  int rec = ldm_mse_loss(g, xh, x);
  int kl = ldm_kl_loss(g, mu, lv);
  if (rec < 0 || kl < 0) return LDM_ERR_INTERNAL;
  int klw = ldm_scale(g, kl, c->o->kl_weight);
  int loss = klw < 0 ? -1 : ldm_add(g, rec, klw);
  if (loss < 0) return LDM_ERR_INTERNAL;
  ldm_keep(g, loss);
  ldm_keep(g, rec);
  ldm_keep(g, kl);
  r->loss_t = loss;
  r->aux_t[0] = rec, r->aux_name[0] = "rec";
  r->aux_t[1] = kl, r->aux_name[1] = "kl";
  LDM_TRY(ldm_graph_backward(g, loss));
  r->gs_t = optim_tail(g, r->step_t, false);
  if (r->gs_t < 0) return LDM_ERR_INTERNAL;
  LDM_TRY(ldm_graph_plan(g));
  LDM_TRY(ldm_exec_new(c->vk, g, &r->e));
  return data_src_upload(r->e, &r->src[0], c->ds->pixels, 1, c->ds->n);
}

/* Images per run of the latent-cache encoder: as many as keep its largest activation within one binding
 * of the device (maxStorageBufferRange, LDM_VK_MAX_BUFFER_RANGE lowers it), at most 250 and the data set.
 * The per-image size is measured on the encoder graph built for one image. */
static ldm_status encoder_batch(const stage_ctx *c, int *Bc) {
  const ldm_model_cfg *m = c->c;
  ldm_graph g;
  LDM_TRY(ldm_graph_init(&g));
  int x = ldm_act(&g, "x", 4, LDM_SHAPE(1, m->cin, m->res, m->res));
  int mu = -1, lv = -1;
  ldm_status s = x < 0 ? LDM_ERR_INTERNAL : ldm_vae_encode(&g, m, x, &mu, &lv);
  int64_t per = 0;
  for (int i = 0; s == LDM_OK && i < g.nt; i++)
    if (g.t[i].arena == LDM_ARENA_ACT && ldm_tensor_bytes(&g.t[i]) > per) per = ldm_tensor_bytes(&g.t[i]);
  ldm_graph_free(&g);
  if (s != LDM_OK) return s;
  int64_t b = c->ds->n < 250 ? c->ds->n : 250;
  if (c->vk && per > 0) {
    int64_t fit = (int64_t)(ldm_vk_limits(c->vk)->max_buffer_range / (uint64_t)per);
    if (fit < 1)
      return LDM_FAIL(LDM_ERR_UNSUPPORTED,
                      "the latent-cache encoder needs %.1f MiB per image in one buffer binding, over this device's "
                      "maxStorageBufferRange (%.1f MiB)",
                      (double)per / 1048576.0, (double)ldm_vk_limits(c->vk)->max_buffer_range / 1048576.0);
    if (fit < b) b = fit;
  }
  *Bc = b > 0 ? (int)b : 1;
  return LDM_OK;
}

/* Encode the whole dataset: per image (mu, logvar) rows [2z, lr, lr] and the scale 1/std(z). */
static ldm_status encode_cache(stage_ctx *c, float **cache, double *scale) {
  const ldm_model_cfg *m = c->c;
  char path[700];
  snprintf(path, sizeof path, "%s/vae.safetensors", c->o->out);
  ldm_st_file *vf;
  LDM_TRY(ldm_st_open(path, &vf));
  int Bc = 1;
  ldm_status s = encoder_batch(c, &Bc);
  if (s != LDM_OK) {
    ldm_st_close(vf);
    return s;
  }
  ldm_graph g;
  s = ldm_graph_init(&g);
  int lr = ldm_latent_res(m);
  int64_t per = (int64_t)m->cin * m->res * m->res, lat = (int64_t)m->z * lr * lr;
  data_src src;
  int x = -1, mu = -1, lv = -1;
  if (s == LDM_OK) s = data_src_make(&g, c->vk, "images", LDM_U8, c->ds->n, per, Bc, &src);
  if (s == LDM_OK) x = ldm_act(&g, "x", 4, LDM_SHAPE(Bc, m->cin, m->res, m->res));
  if (s == LDM_OK && (x < 0 || ldm_gather_rows(&g, src.table, src.idx, x, per, 2.0f / 255.0f, -1.0f) < 0))
    s = LDM_ERR_INTERNAL;
  if (s == LDM_OK) s = ldm_vae_encode(&g, m, x, &mu, &lv);
  if (s == LDM_OK) {
    ldm_keep(&g, mu);
    ldm_keep(&g, lv);
    s = ldm_graph_plan(&g);
  }
  ldm_exec *e = NULL;
  if (s == LDM_OK) s = ldm_exec_new(c->vk, &g, &e);
  if (s == LDM_OK) s = ldm_ckpt_load_arena(vf, e, LDM_ARENA_PARAM, "");
  if (s == LDM_OK) s = data_src_upload(e, &src, c->ds->pixels, 1, c->ds->n);
  *cache = s == LDM_OK ? ldm_malloc((size_t)c->ds->n * 2 * lat * 4) : NULL;
  float *bm = s == LDM_OK ? ldm_malloc((size_t)(Bc * lat) * 4) : NULL, *bl = s == LDM_OK ? ldm_malloc((size_t)(Bc * lat) * 4) : NULL;
  uint32_t *bi = s == LDM_OK ? ldm_malloc((size_t)Bc * 4) : NULL;
  if (s == LDM_OK && (!*cache || !bm || !bl || !bi)) s = LDM_ERR_NOMEM;
  double sum = 0, sum2 = 0;
  double t0 = now_s();
  progress p = {c->o, c->plan, PH_CACHE, "latent cache", "images/s", c->ds->n, 0, t0};
  for (int b0 = 0; b0 < c->ds->n && s == LDM_OK; b0 += Bc) {
    if (cancelled(c->o)) {
      s = LDM_FAIL(LDM_ERR_INTERRUPTED, "interrupted while encoding the latent cache; resume with --resume");
      break;
    }
    int mcount = c->ds->n - b0 < Bc ? c->ds->n - b0 : Bc;
    for (int i = 0; i < Bc; i++) bi[i] = (uint32_t)(b0 + (i < mcount ? i : 0));
    data_src_step(e, &src, c->ds->pixels, 1, bi, Bc);
    s = ldm_exec_run(e);
    if (s == LDM_OK) s = ldm_exec_read(e, mu, bm, (size_t)(Bc * lat) * 4);
    if (s == LDM_OK) s = ldm_exec_read(e, lv, bl, (size_t)(Bc * lat) * 4);
    for (int i = 0; i < mcount && s == LDM_OK; i++) {
      float *row = *cache + (size_t)(b0 + i) * 2 * lat;
      memcpy(row, bm + i * lat, (size_t)lat * 4);
      memcpy(row + lat, bl + i * lat, (size_t)lat * 4);
      for (int64_t k = 0; k < lat; k++) {
        double mv = bm[i * lat + k];
        sum += mv;
        sum2 += mv * mv + exp((double)bl[i * lat + k]);
      }
    }
    if (s == LDM_OK) progress_report(&p, b0 + mcount, NAN, NULL, b0 + mcount == c->ds->n, false);
  }
  if (s == LDM_OK) {
    double n = (double)c->ds->n * (double)lat;
    double var = sum2 / n - (sum / n) * (sum / n); /* Var[mu + sigma eps] over the data set */
    *scale = var > 0 ? 1.0 / sqrt(var) : 1.0;
    tlog(c->o, LDM_LOG_INFO, "latent cache: %d images (batches of %d) in %.1f s, std(z) = %.4f, scale factor %.4f",
         c->ds->n, Bc, now_s() - t0, sqrt(var), *scale);
  }
  free(bm);
  free(bl);
  free(bi);
  ldm_exec_free(e);
  ldm_graph_free(&g);
  ldm_st_close(vf);
  if (s != LDM_OK) {
    free(*cache);
    *cache = NULL;
  }
  return s;
}

typedef struct {
  stage_ctx base;
  float *cache;
  uint32_t *labels;
} unet_ctx;

static ldm_status unet_ckpt(void *vc, stage_run *r, int64_t step, bool final) {
  unet_ctx *u = vc;
  (void)step; /* == st->step */
  return write_ckpt(&u->base, r, final);
}

#define GRID_MAX_ROWS 16 /* classes shown in a training sample grid */

static ldm_status unet_samples(void *vc, stage_run *r, int64_t step, bool final) {
  unet_ctx *u = vc;
  stage_ctx *c = &u->base;
  if (!final && c->o->sample_every <= 0) return LDM_OK;
  /* the sampler reads the run directory: a checkpoint of this step first (never the weights file alone,
   * which would no longer match the state file; never non-finite weights) */
  if (c->st->ckpt_step != step) LDM_TRY(write_ckpt(c, r, final));
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
  double t0 = now_s();
  int per_cls = so.n / ncls, rows = ncls;
  int64_t per = (int64_t)c->c->cin * c->c->res * c->c->res;
  float *grid = NULL;
  ldm_status s = LDM_OK;
  if (ncls <= GRID_MAX_ROWS) {
    LDM_TRY(ldm_sample(c->vk, &so, &imgs, &labels, NULL));
    grid = ldm_malloc((size_t)(so.n * per) * 4);
    s = grid ? LDM_OK : LDM_ERR_NOMEM;
    for (int i = 0; s == LDM_OK && i < so.n; i++) {
      int cls = i % ncls, j = i / ncls;
      memcpy(grid + ((int64_t)cls * per_cls + j) * per, imgs + (int64_t)i * per, (size_t)per * 4);
    }
  } else {
    rows = GRID_MAX_ROWS;
    so.n = per_cls;
    grid = ldm_malloc((size_t)((int64_t)rows * per_cls * per) * 4);
    s = grid ? LDM_OK : LDM_ERR_NOMEM;
    for (int k = 0; s == LDM_OK && k < rows; k++) {
      so.cls = k;
      s = ldm_sample(c->vk, &so, &imgs, &labels, NULL);
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
      tlog(c->o, LDM_LOG_INFO, "sample grid (%d images, DDIM %d steps, guidance %.1f) written in %.1f s: %s", so.n,
           so.steps, so.guidance, now_s() - t0, path);
  }
  free(grid);
  free(imgs);
  free(labels);
  return s;
}

static ldm_status build_unet_stage(stage_run *r, unet_ctx *u, int B) {
  stage_ctx *c = &u->base;
  const ldm_model_cfg *m = c->c;
  ldm_train_opts *o = c->o;
  ldm_graph *g = &r->g;
  LDM_TRY(ldm_graph_init(g));
  r->name = "unet";
  r->ema = true;
  r->step_t = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  int lr = ldm_latent_res(m);
  int64_t lat = (int64_t)m->z * lr * lr;
  LDM_TRY(data_src_make(g, c->vk, "latents", LDM_F32, c->ds->n, 2 * lat, B, &r->src[0]));
  LDM_TRY(data_src_make(g, c->vk, "labels", LDM_U32, c->ds->n, 1, B, &r->src[1]));
  r->nsrc = 2;
  r->src_data[0] = u->cache, r->src_elem[0] = 4;
  r->src_data[1] = u->labels, r->src_elem[1] = 4;
  int rows = ldm_act(g, "unet.latent_rows", 4, LDM_SHAPE(B, 2 * m->z, lr, lr));
  int lab = ldm_tensor_new(g, "unet.labels", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
  if (rows < 0 || lab < 0) return LDM_ERR_INTERNAL;
  if (ldm_gather_rows(g, r->src[0].table, r->src[0].idx, rows, 2 * lat, 1.0f, 0.0f) < 0) return LDM_ERR_INTERNAL;
  if (ldm_gather_rows(g, r->src[1].table, r->src[1].idx, lab, 1, 1.0f, 0.0f) < 0) return LDM_ERR_INTERNAL;
  int parts[2];
  if (ldm_split(g, rows, 2, parts) < 0) return LDM_ERR_INTERNAL;
  int eps = ldm_act(g, "unet.z_eps", 4, LDM_SHAPE(B, m->z, lr, lr));
  if (eps < 0 || ldm_philox_fill(g, eps, r->step_t, LDM_RNG_NORMAL, o->seed, 0x2E0, 0) < 0) return LDM_ERR_INTERNAL;
  int z0 = ldm_reparam(g, parts[0], parts[1], eps);
  if (z0 < 0) return LDM_ERR_INTERNAL;
  z0 = ldm_scale(g, z0, (float)c->scale);
  int abar = ldm_tensor_new(g, "alphas_cumprod", LDM_ARENA_CONST, LDM_F32, 1, LDM_SHAPE(o->T));
  int t = ldm_tensor_new(g, "unet.t", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
  int y = ldm_tensor_new(g, "unet.y", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
  int noise = ldm_act(g, "unet.noise", 4, LDM_SHAPE(B, m->z, lr, lr));
  if (z0 < 0 || abar < 0 || t < 0 || y < 0 || noise < 0) return LDM_ERR_INTERNAL;
  if (ldm_randint(g, t, r->step_t, o->seed, 0x71, 0, (uint32_t)o->T) < 0) return LDM_ERR_INTERNAL;
  float drop = m->ncls > 0 ? o->cfg_dropout : 1.0f; /* unlabeled data: always the null class */
  if (ldm_label_dropout(g, lab, y, r->step_t, o->seed, 0xC1, drop, (uint32_t)m->ncls) < 0) return LDM_ERR_INTERNAL;
  if (ldm_philox_fill(g, noise, r->step_t, LDM_RNG_NORMAL, o->seed, 0x401, 0) < 0) return LDM_ERR_INTERNAL;
  if (o->offset_noise > 0) {
    /* offset noise: + strength * N(0,1) per (sample, channel), broadcast over the latent pixels */
    int on = ldm_act(g, "unet.offset", 1, LDM_SHAPE((int64_t)B * m->z));
    int onm = ldm_act(g, "unet.offset_map", 4, LDM_SHAPE(B, m->z, lr, lr));
    if (on < 0 || onm < 0 || ldm_philox_fill(g, on, r->step_t, LDM_RNG_NORMAL, o->seed, 0x0FF, 0) < 0 ||
        ldm_broadcast(g, on, onm, 1, (int64_t)B * m->z, (int64_t)lr * lr, 1, o->offset_noise, 0) < 0)
      return LDM_ERR_INTERNAL;
    noise = ldm_add(g, noise, onm);
    if (noise < 0) return LDM_ERR_INTERNAL;
  }
  int xt = ldm_q_sample(g, z0, noise, abar, t);
  if (xt < 0) return LDM_ERR_INTERNAL;
  int pred = ldm_unet(g, m, xt, t, y);
  if (pred < 0) return LDM_ERR_INTERNAL;
  bool v = strcmp(o->prediction, "v") == 0;
  int target = v ? ldm_v_target(g, z0, noise, abar, t) : noise;
  if (target < 0) return LDM_ERR_INTERNAL;
  int loss;
  if (o->min_snr_gamma > 0) {
    int w = ldm_min_snr_weight(g, abar, t, o->min_snr_gamma, v);
    loss = w < 0 ? -1 : ldm_weighted_mse(g, pred, target, w);
  } else {
    loss = ldm_mse_loss(g, pred, target);
  }
  if (loss < 0) return LDM_ERR_INTERNAL;
  ldm_keep(g, loss);
  r->loss_t = loss;
  r->aux_t[0] = r->aux_t[1] = -1;
  LDM_TRY(ldm_graph_backward(g, loss));
  r->gs_t = optim_tail(g, r->step_t, true);
  if (r->gs_t < 0) return LDM_ERR_INTERNAL;
  LDM_TRY(ldm_graph_plan(g));
  LDM_TRY(ldm_exec_new(c->vk, g, &r->e));
  LDM_TRY(data_src_upload(r->e, &r->src[0], u->cache, 4, c->ds->n));
  LDM_TRY(data_src_upload(r->e, &r->src[1], u->labels, 4, c->ds->n));
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

static void stage_free(stage_run *r) {
  ldm_exec_free(r->e);
  if (r->g.t) ldm_graph_free(&r->g);
  memset(r, 0, sizeof *r);
}

/* Quick preset: a 2-core CPU finishes in about 15 minutes; the full recipe is for GPUs. */
static void apply_preset(ldm_train_opts *o, const ldm_vk_ctx *vk, ldm_model_cfg *c) {
  bool gpu = vk && strcmp(ldm_vk_info(vk)->type, "cpu") != 0;
  bool quick = strcmp(o->preset, "quick") == 0 || (strcmp(o->preset, "auto") == 0 && !gpu);
  if (strcmp(c->name, "tiny") == 0) quick = false;
  if (quick && strcmp(c->name, "fmnist") == 0) {
    /* narrower networks, fewer steps: see docs/presets.md for the measurements behind these */
    c->vae_ch[0] = 16, c->vae_ch[1] = 32, c->vae_ch[2] = 64;
    c->unet_ch[0] = 32, c->unet_ch[1] = 64;
    c->nres = 1;
    c->tdim = 128;
    if (o->vae_steps < 0) o->vae_steps = 800;
    if (o->unet_steps < 0) o->unet_steps = 6000;
    if (o->batch < 0) o->batch = 64;
    if (o->vae_lr < 0) o->vae_lr = 1e-3f;
    if (o->unet_lr < 0) o->unet_lr = 1e-3f;
    if (o->warmup < 0) o->warmup = 100;
    if (o->ema_decay < 0) o->ema_decay = 0.995f;
    snprintf(o->preset, sizeof o->preset, "quick");
  } else {
    snprintf(o->preset, sizeof o->preset, quick ? "quick" : "full");
  }
  if (strcmp(c->name, "tiny") == 0) {
    if (o->vae_steps < 0) o->vae_steps = 200;
    if (o->unet_steps < 0) o->unet_steps = 300;
    if (o->batch < 0) o->batch = 16;
  }
  if (o->vae_lr < 0) o->vae_lr = 2e-4f;
  if (o->unet_lr < 0) o->unet_lr = 2e-4f;
  if (o->warmup < 0) o->warmup = 500;
  if (o->ema_decay < 0) o->ema_decay = 0.999f;
  if (o->vae_steps < 0) o->vae_steps = 3000;
  if (o->unet_steps < 0) o->unet_steps = 6000;
  if (o->batch < 0) o->batch = 128;
  if (o->sample_every < 0) o->sample_every = o->unet_steps >= 2000 ? 1000 : 0;
  if (o->ckpt_every < 0) o->ckpt_every = 500;
}

ldm_status ldm_train(ldm_train_opts *o) {
  o->signal = 0;
  o->skipped[0] = o->skipped[1] = 0;
  o->usage_error = false;
  ldm_model_cfg c;
  LDM_TRY(ldm_model_config(o->config, &c));
  if (!o->out[0]) snprintf(o->out, sizeof o->out, "runs/%s", c.name); /* the default run directory */
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
  ldm_vk_ctx *vk = NULL;
  char why[400];
  LDM_TRY(ldm_backend_open(o->device, &vk, why, sizeof why));
  apply_preset(o, vk, &c);
  if (o->batch < 1 || o->grad_accum < 1 || o->vae_steps < 0 || o->unet_steps < 0) {
    ldm_vk_close(vk);
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--batch and --grad-accum must be positive, step counts non-negative");
  }
  ldm_status s = prepare_run_dir(o);
  if (s == LDM_OK) s = faults_read(o);
  if (s != LDM_OK) {
    ldm_vk_close(vk);
    return s;
  }
  ldm_dataset ds;
  memset(&ds, 0, sizeof ds);
  s = load_data(o, &c, &ds);
  if (s == LDM_OK && ds.num_classes > 0) c.ncls = ds.num_classes;
  if (s == LDM_OK && ds.num_classes == 0) c.ncls = 0;
  char sub[700];
  snprintf(sub, sizeof sub, "%s/samples", o->out);
  int64_t vstep = 0, ustep = 0; /* the checkpoints' steps (--resume) */
  /* config.json (a --resume keeps it and only compares); elapsed_s of the metrics rows continues where the
   * run left off */
  double elapsed0 = 0;
  if (s == LDM_OK && o->resume) {
    /* nothing in the directory changes before its checkpoints and its config.json are validated */
    bool tv = strcmp(o->stage, "unet") != 0, tu = strcmp(o->stage, "vae") != 0;
    s = state_check(o->out, "vae", tv ? &c : NULL, tv ? o : NULL, &vstep);
    if (s == LDM_OK) s = state_check(o->out, "unet", tu ? &c : NULL, tu ? o : NULL, &ustep);
    if (s == LDM_OK) s = ldm_run_start(o, &c, &ds, o->data[0] ? o->data : DEFAULT_DATA, vk, &elapsed0);
  }
  if (s == LDM_OK) s = ldm_mkdir_p(sub);
  /* temporaries of a process killed while writing; with --resume, a checkpoint torn between its two files
   * and the metrics rows past the checkpoints (they are made again) */
  int stale = s == LDM_OK ? ldm_clean_stale_temps(o->out) + ldm_clean_stale_temps(sub) : 0;
  if (stale > 0) tlog(o, LDM_LOG_INFO, "removed %d temporary files of an interrupted run in %s", stale, o->out);
  if (s == LDM_OK && o->resume) {
    s = run_repair(o->out, o->quiet, o->log, o->user, NULL);
    if (s == LDM_OK) s = metrics_trim(o, o->out, vstep, ustep);
  }
  if (s == LDM_OK && !o->resume) s = ldm_run_start(o, &c, &ds, o->data[0] ? o->data : DEFAULT_DATA, vk, &elapsed0);
  double run_t0 = now_s() - elapsed0;
  if (s != LDM_OK) {
    ldm_dataset_free(&ds);
    ldm_vk_close(vk);
    return s;
  }
  tlog(o, LDM_LOG_INFO, "ldm-vk train: config %s, preset %s (%s)", c.name, o->preset,
       strcmp(c.name, "tiny") == 0 ? "the small test configuration"
       : strcmp(o->preset, "quick") == 0
           ? "no GPU: smaller networks and fewer steps, to finish in about 15 minutes on 2 CPU cores; "
             "--preset full runs the full recipe"
           : "the full recipe");
  tlog(o, LDM_LOG_INFO, "backend: %s", why);
  tlog(o, LDM_LOG_INFO, "data: %d images %dx%dx%d, %d classes; run directory %s", ds.n, ds.channels, ds.height,
       ds.width, c.ncls, o->out);
  tlog(o, LDM_LOG_INFO, "VAE %d steps, UNet %d steps, batch %d%s, seed %llu", o->vae_steps, o->unet_steps, o->batch,
       o->grad_accum > 1 ? " (x grad-accum)" : "", (unsigned long long)o->seed);
  char mpath[700];
  snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", o->out);
  FILE *metrics = fopen(mpath, o->resume ? "a" : "w");
  if (!metrics) {
    ldm_dataset_free(&ds);
    ldm_vk_close(vk);
    return LDM_FAIL(LDM_ERR_IO, "cannot write %s: %s", mpath, strerror(errno));
  }
  int B = o->batch;
  uint32_t *perm = ldm_malloc((size_t)ds.n * 4);
  if (!perm) s = LDM_ERR_NOMEM;
  stage_state vst = {0, 0, false, -1}, ust = {0, 0, false, -1};
  bool do_vae = strcmp(o->stage, "unet") != 0, do_unet = strcmp(o->stage, "vae") != 0;
  /* the work of this call, for the run-wide ETA */
  run_plan plan;
  memset(&plan, 0, sizeof plan);
  bool do_cache = do_unet && o->unet_steps > 0;
  plan.left[PH_VAE] = do_vae && o->vae_steps > vstep ? o->vae_steps - vstep : 0;
  plan.left[PH_CACHE] = do_cache ? ds.n : 0;
  plan.left[PH_UNET] = do_cache && o->unet_steps > ustep ? o->unet_steps - ustep : 0;
  plan.images_per_unit[PH_VAE] = plan.images_per_unit[PH_UNET] = (double)B * o->grad_accum;
  plan.images_per_unit[PH_CACHE] = 1;
  stage_ctx sc = {o, &c, vk, &vst, 0, &ds, &plan};
  /* a cancel while the data loaded: nothing was trained, so no checkpoint */
  if (s == LDM_OK && cancelled(o))
    s = LDM_FAIL(LDM_ERR_INTERRUPTED, "interrupted before the first step: nothing was trained");
  double t_stage = now_s();
  /* ---- stage 1: VAE */
  if (s == LDM_OK && do_vae) {
    stage_run r;
    memset(&r, 0, sizeof r);
    r.t_run0 = run_t0;
    r.base_lr = o->vae_lr;
    r.total = o->vae_steps;
    s = build_vae_stage(&r, &sc, B);
    bool found = false;
    if (s == LDM_OK && o->resume) s = load_stage(o->out, "vae", r.e, &c, o, false, &vst, NULL, &found);
    if (s == LDM_OK && !found) {
      void *img = ldm_calloc(1, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      s = img ? ldm_params_init(&r.g, o->seed, img) : LDM_ERR_NOMEM;
      if (s == LDM_OK) s = ldm_exec_write_arena(r.e, LDM_ARENA_PARAM, img, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      free(img);
    }
    if (s == LDM_OK)
      tlog(o, LDM_LOG_INFO, "stage 1: VAE, %lld parameters%s", (long long)ldm_param_count(&r.g),
           found ? ", resumed" : "");
    sampler_state ss = {perm, ds.n, -1, o->seed};
    if (s == LDM_OK && !(found && vst.done && vst.step >= o->vae_steps))
      s = run_stage(&r, o, &vst, &ss, B, metrics, vae_samples, vae_ckpt, &sc, &plan);
    plan.left[PH_VAE] = 0;
    o->skipped[0] = r.skipped;
    stage_free(&r);
    if (s == LDM_OK) tlog(o, LDM_LOG_INFO, "stage 1 done in %.1f s", now_s() - t_stage);
  }
  /* ---- latent cache + stage 2: UNet */
  if (s == LDM_OK && do_unet && o->unet_steps > 0) {
    unet_ctx u = {sc, NULL, NULL};
    u.base.st = &ust;
    t_stage = now_s();
    s = encode_cache(&u.base, &u.cache, &u.base.scale);
    u.labels = s == LDM_OK ? ldm_malloc((size_t)ds.n * 4) : NULL;
    if (s == LDM_OK && !u.labels) s = LDM_ERR_NOMEM;
    for (int i = 0; i < ds.n && s == LDM_OK; i++)
      u.labels[i] = ds.labels[i] >= 0 ? (uint32_t)ds.labels[i] : (uint32_t)c.ncls;
    stage_run r;
    memset(&r, 0, sizeof r);
    r.t_run0 = run_t0;
    r.base_lr = o->unet_lr;
    r.total = o->unet_steps;
    if (s == LDM_OK) s = build_unet_stage(&r, &u, B);
    bool found = false;
    double saved_scale = u.base.scale;
    if (s == LDM_OK && o->resume) s = load_stage(o->out, "unet", r.e, &c, o, true, &ust, &saved_scale, &found);
    if (s == LDM_OK && found && fabs(saved_scale - u.base.scale) > 1e-6 * u.base.scale)
      tlog(o, LDM_LOG_WARN, "warning: the latent scale changed since the checkpoint (%.6f -> %.6f)", saved_scale,
           u.base.scale);
    if (s == LDM_OK && !found) {
      void *img = ldm_calloc(1, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      s = img ? ldm_params_init(&r.g, o->seed + 1, img) : LDM_ERR_NOMEM;
      if (s == LDM_OK) s = ldm_exec_write_arena(r.e, LDM_ARENA_PARAM, img, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      if (s == LDM_OK) s = ldm_exec_write_arena(r.e, LDM_ARENA_EMA, img, (size_t)r.g.arena_size[LDM_ARENA_PARAM]);
      free(img);
    }
    if (s == LDM_OK)
      tlog(o, LDM_LOG_INFO, "stage 2: UNet, %lld parameters%s", (long long)ldm_param_count(&r.g),
           found ? ", resumed" : "");
    sampler_state ss = {perm, ds.n, -1, o->seed ^ 0x5EEDu};
    if (s == LDM_OK && !(found && ust.done && ust.step >= o->unet_steps))
      s = run_stage(&r, o, &ust, &ss, B, metrics, unet_samples, unet_ckpt, &u, &plan);
    o->skipped[1] = r.skipped;
    stage_free(&r);
    free(u.cache);
    free(u.labels);
    if (s == LDM_OK) tlog(o, LDM_LOG_INFO, "stage 2 done in %.1f s", now_s() - t_stage);
  }
  if (s == LDM_ERR_INTERRUPTED) o->signal = o->cancel && *o->cancel ? (int)*o->cancel : SIGINT;
  free(perm);
  if (fclose(metrics) != 0 && s == LDM_OK) s = LDM_FAIL(LDM_ERR_IO, "error closing %s", mpath);
  ldm_dataset_free(&ds);
  ldm_vk_close(vk);
  return s;
}

int ldm_train_exit_code(const ldm_train_opts *o, ldm_status s) {
  if (s == LDM_OK) return 0;
  if (s == LDM_ERR_INTERRUPTED) return o->signal == SIGTERM ? 128 + SIGTERM : 128 + SIGINT;
  if (s == LDM_ERR_NUMERIC) return 3;
  return o->usage_error ? 2 : 1;
}

/* ---------------------------------------------------------------- benchmark */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* median wall time of `iters` runs after 3 warm-up runs, and per-op device time of one timed run */
static ldm_status time_exec(ldm_exec *e, int iters, double *median, double *best, double *op_ms) {
  double *t = ldm_malloc((size_t)iters * sizeof *t);
  if (!t) return LDM_ERR_NOMEM;
  ldm_status s = LDM_OK;
  for (int i = 0; i < 3 && s == LDM_OK; i++) s = ldm_exec_run(e);
  for (int i = 0; i < iters && s == LDM_OK; i++) {
    double t0 = now_s();
    s = ldm_exec_run(e);
    t[i] = (now_s() - t0) * 1e3;
  }
  if (s == LDM_OK) {
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    *median = t[iters / 2];
    *best = t[0];
    ldm_exec_enable_timing(e, true);
    s = ldm_exec_run(e);
    const double *ms = ldm_exec_node_times(e);
    const ldm_graph *g = ldm_exec_graph(e);
    for (int i = 0; i < LDM_OP_COUNT; i++) op_ms[i] = 0;
    for (int i = 0; ms && i < g->nn; i++) op_ms[g->n[i].op] += ms[i];
    ldm_exec_enable_timing(e, false);
  }
  free(t);
  return s;
}

static void print_ops(FILE *f, const double *op_ms) {
  int order[LDM_OP_COUNT];
  double total = 0;
  for (int i = 0; i < LDM_OP_COUNT; i++) order[i] = i, total += op_ms[i];
  for (int i = 1; i < LDM_OP_COUNT; i++)
    for (int j = i; j > 0 && op_ms[order[j]] > op_ms[order[j - 1]]; j--) {
      int tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  for (int k = 0; k < 6 && total > 0; k++)
    if (op_ms[order[k]] > 0)
      fprintf(f, "    %-24s %9.3f ms  %5.1f%%\n", ldm_op(order[k])->name, op_ms[order[k]], 100 * op_ms[order[k]] / total);
}

ldm_status ldm_bench(const ldm_train_opts *in, int iters, FILE *f, const char *json_path) {
  ldm_train_opts o = *in;
  o.quiet = true;
  ldm_model_cfg c;
  LDM_TRY(ldm_model_config(o.config, &c));
  ldm_vk_ctx *vk = NULL;
  char why[400];
  LDM_TRY(ldm_backend_open(o.device, &vk, why, sizeof why));
  apply_preset(&o, vk, &c);
  int B = o.batch;
  /* synthetic data: the step time does not depend on the pixel values */
  ldm_dataset ds;
  memset(&ds, 0, sizeof ds);
  ds.n = 4 * B;
  ds.channels = c.cin;
  ds.height = ds.width = c.res;
  ds.num_classes = c.ncls;
  size_t per = (size_t)c.cin * c.res * c.res;
  ds.pixels = ldm_malloc((size_t)ds.n * per);
  ds.labels = ldm_malloc((size_t)ds.n * sizeof *ds.labels);
  int lr = ldm_latent_res(&c);
  size_t lat = (size_t)c.z * lr * lr;
  float *cache = ldm_malloc((size_t)ds.n * 2 * lat * 4);
  uint32_t *labels = ldm_malloc((size_t)ds.n * 4);
  ldm_status s = ds.pixels && ds.labels && cache && labels ? LDM_OK : LDM_ERR_NOMEM;
  for (size_t i = 0; s == LDM_OK && i < (size_t)ds.n * per; i++) ds.pixels[i] = (uint8_t)(i * 2654435761u >> 24);
  for (int i = 0; s == LDM_OK && i < ds.n; i++) ds.labels[i] = i % 10, labels[i] = (uint32_t)(i % 10);
  for (size_t i = 0; s == LDM_OK && i < (size_t)ds.n * 2 * lat; i++) cache[i] = (float)((i % 17) - 8) * 0.1f;
  double vm = 0, vb = 0, um = 0, ub = 0, fm = 0, fb = 0;
  double *ops = ldm_calloc(3 * LDM_OP_COUNT, sizeof *ops);
  if (s == LDM_OK && !ops) s = LDM_ERR_NOMEM;
  stage_state st = {0};
  stage_ctx sc = {&o, &c, vk, &st, 1.0, &ds, NULL};
  int nodes[3] = {0, 0, 0};
  int64_t params[2] = {0, 0};
  if (s == LDM_OK) {
    stage_run r;
    memset(&r, 0, sizeof r);
    s = build_vae_stage(&r, &sc, B);
    if (s == LDM_OK) {
      nodes[0] = r.g.nn;
      params[0] = ldm_param_count(&r.g);
      uint32_t *sw = ldm_exec_host_ptr(r.e, r.step_t), *idx = ldm_exec_host_ptr(r.e, r.src[0].idx);
      for (int b = 0; b < B; b++) idx[b] = (uint32_t)b;
      ldm_step_write(sw, 1, 1, 0.0f, 0.9f, 0.999f, 0.0f, 0.0f, 1, false); /* lr 0: the weights stay put */
      s = time_exec(r.e, iters, &vm, &vb, ops);
    }
    stage_free(&r);
  }
  unet_ctx u = {sc, cache, labels};
  if (s == LDM_OK) {
    stage_run r;
    memset(&r, 0, sizeof r);
    s = build_unet_stage(&r, &u, B);
    if (s == LDM_OK) {
      nodes[1] = r.g.nn;
      params[1] = ldm_param_count(&r.g);
      uint32_t *sw = ldm_exec_host_ptr(r.e, r.step_t);
      for (int k = 0; k < r.nsrc; k++) {
        uint32_t *idx = ldm_exec_host_ptr(r.e, r.src[k].idx);
        for (int b = 0; b < B; b++) idx[b] = (uint32_t)b;
      }
      ldm_step_write(sw, 1, 1, 0.0f, 0.9f, 0.999f, 0.999f, o.clip, 1, false);
      s = time_exec(r.e, iters, &um, &ub, ops + LDM_OP_COUNT);
    }
    stage_free(&r);
  }
  if (s == LDM_OK) { /* a sampling step's UNet forward (batch B, no guidance doubling) */
    ldm_graph g;
    s = ldm_graph_init(&g);
    int x = ldm_act(&g, "x", 4, LDM_SHAPE(B, c.z, lr, lr));
    int t = ldm_tensor_new(&g, "t", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
    int y = ldm_tensor_new(&g, "y", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
    if (s == LDM_OK && (x < 0 || t < 0 || y < 0)) s = LDM_ERR_INTERNAL;
    if (s == LDM_OK) {
      ldm_keep(&g, x), ldm_keep(&g, t), ldm_keep(&g, y);
      int out = ldm_unet(&g, &c, x, t, y);
      s = out < 0 ? LDM_ERR_INTERNAL : ldm_graph_plan(&g);
    }
    ldm_exec *e = NULL;
    if (s == LDM_OK) s = ldm_exec_new(vk, &g, &e);
    if (s == LDM_OK) {
      nodes[2] = g.nn;
      s = time_exec(e, iters, &fm, &fb, ops + 2 * LDM_OP_COUNT);
    }
    ldm_exec_free(e);
    if (g.t) ldm_graph_free(&g);
  }
  if (s == LDM_OK) {
    fprintf(f, "ldm-vk bench: config %s, preset %s, batch %d, %d timed runs each\nbackend: %s\n\n", c.name, o.preset,
            B, iters, why);
    fprintf(f, "%-22s %8s %10s %10s %12s\n", "workload", "nodes", "median ms", "best ms", "images/s");
    const char *names[3] = {"VAE train step", "UNet train step", "UNet forward"};
    double med[3] = {vm, um, fm}, bst[3] = {vb, ub, fb};
    for (int k = 0; k < 3; k++) {
      fprintf(f, "%-22s %8d %10.2f %10.2f %12.1f\n", names[k], nodes[k], med[k], bst[k], B / (med[k] * 1e-3));
      print_ops(f, ops + k * LDM_OP_COUNT);
    }
    fprintf(f, "(parameters: VAE %lld, UNet %lld; per-op times from %s)\n", (long long)params[0], (long long)params[1],
            vk ? "GPU timestamps of a serialised run" : "wall clock per node");
    if (json_path && json_path[0]) {
      const ldm_vk_device_info *vi = vk ? ldm_vk_info(vk) : NULL; /* version, date, device, per-op times */
      ldm_bench_record br = {c.name, o.preset, vi ? vi->name : NULL, vi ? vi->type : NULL, vi ? vi->driver : NULL,
                             vk ? "GPU timestamps of a serialised run" : "wall clock per node", B, iters, 3,
                             {names[0], names[1], names[2]}, {nodes[0], nodes[1], nodes[2]}, {vm, um, fm}, {vb, ub, fb},
                             {ops, ops + LDM_OP_COUNT, ops + 2 * LDM_OP_COUNT}, params[0], params[1]};
      s = ldm_bench_write_json(json_path, &br);
    }
  }
  free(ops);
  free(cache);
  free(labels);
  ldm_dataset_free(&ds);
  ldm_vk_close(vk);
  return s;
}
