/* config.json of a run directory (ldm_run_start), the timestamps of metrics.jsonl rows and the
 * description of the device and of ldm-vk itself. */
#include "ldm/runinfo.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ldm/ops.h"
#include "ldm/version.h"
#include "ldm/vk.h"
#include "report/html.h"
#include "sample/coefs.h"
#include "report/json.h"

#define CONFIG_MAX_BYTES ((size_t)64 << 20) /* config.json holds up to LDM_MAX_CLASSES names */
#define METRICS_MAX_BYTES ((size_t)1 << 30)

const char *ldm_software_string(void) {
  static char b[160];
  if (!b[0]) snprintf(b, sizeof b, "ldm-vk %s (%s)", ldm_version(), ldm_version_git());
  return b;
}

void ldm_time_iso8601(char *buf, size_t cap) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (!gmtime_r(&ts.tv_sec, &tm)) {
    snprintf(buf, cap, "1970-01-01T00:00:00.000Z");
    return;
  }
  char d[32];
  strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, cap, "%s.%03dZ", d, (int)(ts.tv_nsec / 1000000));
}

/* "model name" of /proc/cpuinfo, or "" */
static void cpu_model(char *out, size_t cap) {
  out[0] = 0;
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) != 0) continue;
    const char *c = strchr(line, ':');
    if (!c) continue;
    c++;
    while (*c == ' ' || *c == '\t') c++;
    snprintf(out, cap, "%s", c);
    out[strcspn(out, "\r\n")] = 0;
    break;
  }
  fclose(f);
}

void ldm_device_describe(const ldm_backend *be, char *name, size_t cap, const char **type) {
  if (be->kind == LDM_BACKEND_VK) {
    const ldm_vk_device_info *d = ldm_vk_info(be->vk);
    snprintf(name, cap, "%s", d->name);
    if (type) *type = d->type;
    return;
  }
  char m[400];
  cpu_model(m, sizeof m);
  snprintf(name, cap, "CPU reference backend%s%s", m[0] ? ": " : "", m);
  if (type) *type = "cpu-reference";
}

int ldm_sample_text_make(ldm_sample_text *st, const ldm_sample_opts *so, const char *cls, const char *stage,
                         int64_t step) {
  int k = 0;
  st->t[k++] = (ldm_image_text){"Software", ldm_software_string()};
  if (stage) {
    snprintf(st->num[0], sizeof st->num[0], "%lld", (long long)step);
    st->t[k++] = (ldm_image_text){"stage", stage};
    st->t[k++] = (ldm_image_text){"step", st->num[0]};
  }
  snprintf(st->num[1], sizeof st->num[1], "%llu", (unsigned long long)so->seed);
  snprintf(st->num[2], sizeof st->num[2], "%d", so->steps);
  snprintf(st->num[3], sizeof st->num[3], "%g", (double)so->guidance);
  snprintf(st->num[4], sizeof st->num[4], "%g", (double)so->eta);
  st->t[k++] = (ldm_image_text){"seed", st->num[1]};
  st->t[k++] = (ldm_image_text){"sampler", ldm_sampler_name(so->sampler)};
  st->t[k++] = (ldm_image_text){"steps", st->num[2]};
  st->t[k++] = (ldm_image_text){"guidance", st->num[3]};
  if (so->sampler == LDM_SAMPLER_DDIM) st->t[k++] = (ldm_image_text){"eta", st->num[4]};
  st->t[k++] = (ldm_image_text){"class", cls ? cls : "all"};
  st->t[k++] = (ldm_image_text){"checkpoint", so->ckpt};
  return k;
}

/* ---------------------------------------------------------------- writing config.json */

typedef struct {
  ldm_sbuf b;
  int depth;
  bool first; /* no member written yet at this depth */
} jw;

static void jw_str(jw *w, const char *s) {
  size_t need = ldm_json_quote(NULL, 0, s) + 1;
  char small[512];
  char *t = need <= sizeof small ? small : malloc(need);
  if (!t) {
    w->b.oom = true;
    return;
  }
  ldm_json_quote(t, need, s);
  ldm_sb_put(&w->b, t);
  if (t != small) free(t);
}

static void jw_indent(jw *w) {
  ldm_sb_put(&w->b, "\n");
  for (int i = 0; i < w->depth; i++) ldm_sb_put(&w->b, "  ");
}

static void jw_key(jw *w, const char *k) {
  if (!w->first) ldm_sb_put(&w->b, ",");
  w->first = false;
  jw_indent(w);
  jw_str(w, k);
  ldm_sb_put(&w->b, ": ");
}

static void jw_open(jw *w, const char *k) {
  if (k) jw_key(w, k);
  ldm_sb_put(&w->b, "{");
  w->depth++;
  w->first = true;
}

static void jw_close(jw *w) {
  w->depth--;
  if (!w->first) jw_indent(w);
  ldm_sb_put(&w->b, "}");
  w->first = false;
}

static void jw_kstr(jw *w, const char *k, const char *v) {
  jw_key(w, k);
  jw_str(w, v);
}

static void jw_kint(jw *w, const char *k, long long v) {
  jw_key(w, k);
  ldm_sb_printf(&w->b, "%lld", v);
}

static void jw_kbool(jw *w, const char *k, bool v) {
  jw_key(w, k);
  ldm_sb_put(&w->b, v ? "true" : "false");
}

/* The shortest decimal that reads back as the same float (0.0002, not 0.000199999995). */
static void jw_kfloat(jw *w, const char *k, float v) {
  jw_key(w, k);
  if (!isfinite(v)) {
    ldm_sb_put(&w->b, "null");
    return;
  }
  char t[48];
  for (int p = 1; p <= 9; p++) {
    snprintf(t, sizeof t, "%.*g", p, (double)v);
    if (strtof(t, NULL) == v) break;
  }
  ldm_sb_put(&w->b, t);
}

static void jw_kints(jw *w, const char *k, const int *v, int n) {
  jw_key(w, k);
  ldm_sb_put(&w->b, "[");
  for (int i = 0; i < n; i++) ldm_sb_printf(&w->b, "%s%d", i ? ", " : "", v[i]);
  ldm_sb_put(&w->b, "]");
}

static bool is_idx_dir(const char *dir) {
  static const char *const names[] = {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"};
  for (int i = 0; i < 2; i++) {
    char p[1200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    if (stat(p, &st) == 0) return true;
  }
  return false;
}

static void build_config(jw *w, const ldm_train_opts *o, const ldm_model_cfg *c, const ldm_dataset *ds,
                         const char *data_dir, const ldm_backend *be, const char *created) {
  char dev[600];
  const char *dtype = NULL;
  ldm_device_describe(be, dev, sizeof dev, &dtype);
  jw_open(w, NULL);
  jw_kstr(w, "ldm_vk_version", ldm_version());
  jw_kstr(w, "git_revision", ldm_version_git());
  jw_kstr(w, "created", created);
  jw_kstr(w, "device", dev);
  jw_kstr(w, "device_type", dtype);
  jw_kstr(w, "backend", be->kind == LDM_BACKEND_VK ? "vulkan" : "cpu");
  jw_kstr(w, "config", c->name);
  jw_kstr(w, "preset", o->preset);
  jw_kstr(w, "stage", o->stage);

  jw_open(w, "data");
  jw_kstr(w, "source", data_dir);
  jw_kstr(w, "kind", is_idx_dir(data_dir) ? "idx (Fashion-MNIST)" : "image folder");
  jw_kint(w, "images", ds->n);
  jw_kint(w, "channels", ds->channels);
  jw_kint(w, "height", ds->height);
  jw_kint(w, "width", ds->width);
  jw_kint(w, "num_classes", ds->num_classes);
  jw_key(w, "classes");
  ldm_sb_put(&w->b, "[");
  for (int i = 0; i < ds->num_classes; i++) {
    ldm_sb_put(&w->b, i ? ", " : "");
    jw_str(w, ds->class_names[i]);
  }
  ldm_sb_put(&w->b, "]");
  jw_close(w);

  jw_open(w, "model");
  jw_kstr(w, "name", c->name);
  jw_kint(w, "in_channels", c->cin);
  jw_kint(w, "resolution", c->res);
  jw_kints(w, "vae_channels", c->vae_ch, c->vae_levels);
  jw_kint(w, "latent_channels", c->z);
  jw_kint(w, "latent_resolution", ldm_latent_res(c));
  jw_kints(w, "unet_channels", c->unet_ch, c->unet_levels);
  jw_kints(w, "unet_attention", c->attn, c->unet_levels);
  jw_kint(w, "res_blocks", c->nres);
  jw_kint(w, "classes", c->ncls);
  jw_kint(w, "time_embedding", c->tdim);
  jw_kint(w, "heads", c->heads);
  jw_kint(w, "sample_crop", c->crop);
  jw_close(w);

  jw_open(w, "train");
  jw_kint(w, "vae_steps", o->vae_steps);
  jw_kint(w, "unet_steps", o->unet_steps);
  jw_kint(w, "batch", o->batch);
  jw_kint(w, "grad_accum", o->grad_accum);
  jw_kfloat(w, "vae_lr", o->vae_lr);
  jw_kfloat(w, "unet_lr", o->unet_lr);
  jw_key(w, "seed");
  ldm_sb_printf(&w->b, "%llu", (unsigned long long)o->seed);
  jw_kfloat(w, "kl_weight", o->kl_weight);
  jw_kfloat(w, "clip", o->clip);
  jw_kfloat(w, "ema_decay", o->ema_decay);
  jw_kbool(w, "ema_warmup", o->ema_warmup);
  jw_kfloat(w, "cfg_dropout", o->cfg_dropout);
  jw_kint(w, "warmup", o->warmup);
  jw_kstr(w, "lr_schedule", o->lr_schedule);
  jw_kint(w, "limit_images", o->limit_images);
  jw_kint(w, "max_nan_steps", o->max_nan_steps);
  jw_kint(w, "log_every", o->log_every);
  jw_kint(w, "sample_every", o->sample_every);
  jw_kint(w, "ckpt_every", o->ckpt_every);
  jw_kint(w, "sample_steps", o->sample_steps);
  jw_kfloat(w, "guidance", o->guidance);
  jw_kbool(w, "check", o->check);
  jw_close(w);

  jw_open(w, "diffusion");
  jw_kstr(w, "schedule", o->schedule);
  jw_kint(w, "timesteps", o->T);
  jw_kfloat(w, "beta_start", o->beta_start);
  jw_kfloat(w, "beta_end", o->beta_end);
  jw_kbool(w, "zero_snr", o->zero_snr);
  jw_kstr(w, "prediction", o->prediction);
  jw_kfloat(w, "min_snr_gamma", o->min_snr_gamma);
  jw_kfloat(w, "offset_noise", o->offset_noise);
  jw_close(w);
  jw_close(w);
  ldm_sb_put(&w->b, "\n");
}

/* ---------------------------------------------------------------- --resume: compare with the kept file */

/* One leaf value as text for messages (strings quoted and cut). */
static void leaf_text(const ldm_json *v, char *b, size_t cap) {
  switch (v->type) {
  case LDM_JSON_NULL: snprintf(b, cap, "null"); break;
  case LDM_JSON_BOOL: snprintf(b, cap, "%s", v->b ? "true" : "false"); break;
  case LDM_JSON_NUM: snprintf(b, cap, "%.9g", v->num); break;
  case LDM_JSON_STR: snprintf(b, cap, "\"%.80s%s\"", v->str, strlen(v->str) > 80 ? "..." : ""); break;
  case LDM_JSON_ARR: snprintf(b, cap, "[%zu values]", v->n); break;
  case LDM_JSON_OBJ: snprintf(b, cap, "{%zu members}", v->n); break;
  }
}

static bool json_equal(const ldm_json *a, const ldm_json *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case LDM_JSON_NULL: return true;
  case LDM_JSON_BOOL: return a->b == b->b;
  case LDM_JSON_NUM: return a->num == b->num || (isnan(a->num) && isnan(b->num));
  case LDM_JSON_STR: return strcmp(a->str, b->str) == 0;
  case LDM_JSON_ARR:
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
      if (!json_equal(&a->items[i], &b->items[i])) return false;
    return true;
  case LDM_JSON_OBJ:
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++) {
      const ldm_json *x = ldm_json_get(b, a->keys[i]);
      if (!x || !json_equal(&a->items[i], x)) return false;
    }
    return true;
  }
  return false;
}

typedef struct {
  const ldm_train_opts *o;
  const char *path;
  int shown, total;
} diff_ctx;

static void report_diff(diff_ctx *d, const char *key, const ldm_json *was, const ldm_json *now) {
  d->total++;
  if (d->shown >= 12) return;
  d->shown++;
  char a[128] = "(absent)", b[128] = "(absent)";
  if (was) leaf_text(was, a, sizeof a);
  if (now) leaf_text(now, b, sizeof b);
  ldm_log_to(d->o->log, d->o->user, LDM_LOG_WARN,
             "warning: %s: this --resume has %s = %s, the run was started with %s (config.json keeps the values the "
             "run started with)",
             d->path, key, b, a);
}

/* Objects member by member (nested objects by dotted key), anything else as one value. */
static void diff_obj(diff_ctx *d, const char *prefix, const ldm_json *was, const ldm_json *now) {
  for (size_t i = 0; i < now->n; i++) {
    const char *k = now->keys[i];
    if (!prefix[0] && strcmp(k, "created") == 0) continue;
    char key[256];
    snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", k);
    const ldm_json *x = ldm_json_get(was, k), *y = &now->items[i];
    if (x && x->type == LDM_JSON_OBJ && y->type == LDM_JSON_OBJ) diff_obj(d, key, x, y);
    else if (!x || !json_equal(x, y)) report_diff(d, key, x, y);
  }
  for (size_t i = 0; i < was->n; i++)
    if (!ldm_json_get(now, was->keys[i])) {
      char key[256];
      snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", was->keys[i]);
      report_diff(d, key, &was->items[i], NULL);
    }
}

/* ---------------------------------------------------------------- elapsed time of earlier processes */

static double metrics_elapsed(const char *dir) {
  char path[1200];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  char *buf = NULL;
  size_t len = 0;
  if (ldm_read_file(path, METRICS_MAX_BYTES, &buf, &len) != LDM_OK) {
    ldm_clear_error();
    return 0;
  }
  double best = 0;
  for (size_t i = 0; i < len;) {
    size_t j = i;
    while (j < len && buf[j] != '\n') j++;
    const char *e = memmem(buf + i, j - i, "\"elapsed_s\":", 12);
    if (e) {
      double v = strtod(e + 12, NULL);
      if (isfinite(v) && v > best) best = v;
    }
    i = j + 1;
  }
  free(buf);
  return best;
}

/* ---------------------------------------------------------------- ldm_run_start */

ldm_status ldm_run_start(const ldm_train_opts *o, const ldm_model_cfg *c, const ldm_dataset *ds, const char *data_dir,
                         const ldm_backend *be, double *elapsed0) {
  if (elapsed0) *elapsed0 = 0;
  char path[1200], created[40];
  snprintf(path, sizeof path, "%s/config.json", o->out);
  ldm_time_iso8601(created, sizeof created);
  jw w;
  memset(&w, 0, sizeof w);
  build_config(&w, o, c, ds, data_dir, be, created);
  if (w.b.oom) {
    ldm_sb_free(&w.b);
    return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory building %s", path);
  }
  struct stat st;
  ldm_status s = LDM_OK;
  if (o->resume && stat(path, &st) == 0) {
    /* kept: only compared with what this run would write */
    ldm_json was, now;
    s = ldm_json_parse_file(path, CONFIG_MAX_BYTES, false, &was);
    if (s != LDM_OK) {
      char msg[600];
      snprintf(msg, sizeof msg, "%s", ldm_last_error());
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s (the run's config.json is damaged: remove it and --resume writes it anew)", msg);
    } else {
      ldm_json_opts jo = {path, 1, false};
      s = ldm_json_parse(w.b.b, w.b.n, &jo, &now);
      if (s == LDM_OK) {
        if (was.type != LDM_JSON_OBJ)
          s = LDM_FAIL(LDM_ERR_FORMAT, "%s: not a JSON object (remove it and --resume writes it anew)", path);
        else {
          diff_ctx d = {o, path, 0, 0};
          diff_obj(&d, "", &was, &now);
          if (d.total > d.shown)
            ldm_log_to(o->log, o->user, LDM_LOG_WARN, "warning: %s: %d more values differ", path, d.total - d.shown);
        }
        ldm_json_free(&now);
      }
      ldm_json_free(&was);
    }
  } else {
    s = ldm_write_atomic(path, &w.b);
  }
  ldm_sb_free(&w.b);
  if (s == LDM_OK && elapsed0 && o->resume) *elapsed0 = metrics_elapsed(o->out);
  return s;
}
