/* The run directory: a new run's empty directory (--overwrite removes an earlier run's files), --resume's
 * checkpoint, the metrics rows past the checkpoints, and the repair of a checkpoint torn between its
 * state and weights files. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/trainer.h"

bool tr_file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
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
ldm_status tr_prepare_run_dir(const ldm_train_opts *o, bool *usage_error) {
  if (o->resume && o->overwrite) {
    *usage_error = true;
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
    if (!tr_file_exists(p1) && !tr_file_exists(p2))
      return LDM_FAIL(LDM_ERR_IO,
                      "--resume: no checkpoint in %s (no state_vae.safetensors or state_unet.safetensors); start the "
                      "run without --resume",
                      o->out);
    return LDM_OK;
  }
  if (entries == 0) return LDM_OK;
  if (!o->overwrite) {
    *usage_error = true;
    return LDM_FAIL(LDM_ERR_INVALID_ARG,
                    "run directory %s is not empty: pass --resume to continue the run in it or --overwrite to replace "
                    "it",
                    o->out);
  }
  int removed = 0;
  LDM_TRY(remove_run_files(o->out, &removed));
  tr_log(o, LDM_LOG_INFO, "--overwrite: removed %d files of the earlier run in %s", removed, o->out);
  return LDM_OK;
}

/* --resume: metrics.jsonl keeps the rows of steps its checkpoints hold (the later ones are made again),
 * and loses a torn last line; rewritten atomically, and only when something goes. */
ldm_status tr_metrics_trim(const ldm_train_opts *o, const char *dir, int64_t vae_step, int64_t unet_step) {
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
      tr_log(o, LDM_LOG_INFO, "metrics.jsonl: dropped %d rows past the checkpoints (VAE step %lld, UNet step %lld)",
           dropped, (long long)vae_step, (long long)unet_step);
  }
  free(buf);
  free(keep);
  return s;
}

/* ---------------------------------------------------------------- torn checkpoints */

ldm_status tr_state_meta_check(const ldm_st_file *f, const char *path, const char *stage, const ldm_model_cfg *c,
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
  if (!tr_file_exists(sp)) return LDM_OK;
  ldm_st_file *sf;
  if (ldm_st_open(sp, &sf) != LDM_OK) {
    ldm_clear_error();
    return LDM_OK;
  }
  ldm_ckpt_state cs;
  if (tr_state_meta_check(sf, sp, stage, NULL, NULL, &cs) != LDM_OK) {
    ldm_clear_error();
    ldm_st_close(sf);
    return LDM_OK;
  }
  char sstep[32];
  snprintf(sstep, sizeof sstep, "%lld", (long long)cs.step);
  bool have_w = tr_file_exists(wp);
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

ldm_status tr_run_repair(const char *dir, bool quiet, ldm_log_fn lf, void *lu, int *repaired) {
  if (repaired) *repaired = 0;
  LDM_TRY(repair_stage(dir, "vae", quiet, lf, lu, repaired));
  return repair_stage(dir, "unet", quiet, lf, lu, repaired);
}

ldm_status ldm_run_repair(const char *dir, bool quiet, int *repaired) {
  return tr_run_repair(dir, quiet, NULL, NULL, repaired);
}

