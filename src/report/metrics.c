/* metrics.jsonl of a run directory, read back per stage for the report, and the wall time of a stage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/json.h"
#include "report/run.h"

#define MAX_METRICS_BYTES ((size_t)1 << 30)

void ldm_run_metrics_free(metrics *m) {
  for (int i = 0; i < m->ns; i++) {
    stage_data *s = &m->st[i];
    free(s->step);
    free(s->time);
    free(s->skipped);
    for (int f = 0; f < s->nf; f++) free(s->col[f]);
  }
  memset(m, 0, sizeof *m);
}

static bool is_time_key(const char *k) {
  return !strcmp(k, "time") || !strcmp(k, "t") || !strcmp(k, "wall_s") || !strcmp(k, "elapsed_s") ||
         !strcmp(k, "timestamp");
}

static bool grow_stage(stage_data *s) {
  if (s->n < s->cap) return true;
  int nc = s->cap ? s->cap * 2 : 64;
  double *a = realloc(s->step, (size_t)nc * sizeof *a);
  if (!a) return false;
  s->step = a;
  double *t = realloc(s->time, (size_t)nc * sizeof *t);
  if (!t) return false;
  s->time = t;
  bool *k = realloc(s->skipped, (size_t)nc * sizeof *k);
  if (!k) return false;
  s->skipped = k;
  for (int f = 0; f < s->nf; f++) {
    double *c = realloc(s->col[f], (size_t)nc * sizeof *c);
    if (!c) return false;
    s->col[f] = c;
  }
  s->cap = nc;
  return true;
}

static int field_index(stage_data *s, const char *key) {
  for (int f = 0; f < s->nf; f++)
    if (strcmp(s->field[f], key) == 0) return f;
  if (s->nf == MAX_FIELDS || strlen(key) >= sizeof s->field[0]) return -1;
  double *c = malloc((size_t)(s->cap ? s->cap : 1) * sizeof *c);
  if (!c) return -2;
  for (int i = 0; i < s->n; i++) c[i] = NAN;
  snprintf(s->field[s->nf], sizeof s->field[0], "%s", key);
  s->col[s->nf] = c;
  return s->nf++;
}

static ldm_status row_error(const char *path, int line, const char *what) {
  return LDM_FAIL(LDM_ERR_FORMAT, "%s:%d: %s", path, line, what);
}

static ldm_status add_row(metrics *m, const char *path, int line, const ldm_json *v) {
  if (v->type != LDM_JSON_OBJ) return row_error(path, line, "a metrics row must be a JSON object");
  const char *stage = ldm_json_get_str(v, "stage");
  if (!stage) return row_error(path, line, "\"stage\" is missing or not a string");
  if (!stage[0] || strlen(stage) >= sizeof m->st[0].name)
    return row_error(path, line, "\"stage\" must be a non-empty name of at most 31 bytes");
  const ldm_json *sj = ldm_json_get(v, "step");
  if (!sj || sj->type != LDM_JSON_NUM || sj->nonfinite || sj->num < 0 || sj->num != floor(sj->num) || sj->num > 1e15)
    return row_error(path, line, "\"step\" is missing or not a non-negative integer");
  const ldm_json *lj = ldm_json_get(v, "loss");
  if (!lj || (lj->type != LDM_JSON_NUM && lj->type != LDM_JSON_NULL))
    return row_error(path, line, "\"loss\" is missing or neither a number nor null");
  const ldm_json *kj = ldm_json_get(v, "skipped");
  if (kj && kj->type != LDM_JSON_BOOL) return row_error(path, line, "\"skipped\" must be true or false");
  static const char *numeric[] = {"lr", "grad_norm", "it_s"};
  for (size_t i = 0; i < sizeof numeric / sizeof numeric[0]; i++) {
    const ldm_json *x = ldm_json_get(v, numeric[i]);
    if (x && x->type != LDM_JSON_NUM && x->type != LDM_JSON_NULL)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s:%d: \"%s\" must be a number or null", path, line, numeric[i]);
  }
  int si = -1;
  for (int i = 0; i < m->ns; i++)
    if (strcmp(m->st[i].name, stage) == 0) si = i;
  if (si < 0) {
    if (m->ns == MAX_STAGES) return row_error(path, line, "more than 8 different stages");
    si = m->ns++;
    snprintf(m->st[si].name, sizeof m->st[si].name, "%s", stage);
  }
  stage_data *s = &m->st[si];
  if (!grow_stage(s)) return LDM_FAIL(LDM_ERR_NOMEM, "out of memory reading %s", path);
  int r = s->n;
  s->step[r] = sj->num;
  s->time[r] = NAN;
  s->skipped[r] = kj && kj->b;
  for (int f = 0; f < s->nf; f++) s->col[f][r] = NAN;
  s->n++;
  for (size_t i = 0; i < v->n; i++) {
    const char *k = v->keys[i];
    const ldm_json *x = &v->items[i];
    if (!strcmp(k, "stage") || !strcmp(k, "step") || !strcmp(k, "skipped")) continue;
    if ((!strcmp(k, "device") || !strcmp(k, "backend")) && x->type == LDM_JSON_STR) {
      if (!m->device[0] || !strcmp(k, "device")) snprintf(m->device, sizeof m->device, "%s", x->str);
      continue;
    }
    if (x->type != LDM_JSON_NUM && x->type != LDM_JSON_NULL) continue; /* other kinds: not charted */
    double val = x->type == LDM_JSON_NUM && !x->nonfinite ? x->num : NAN;
    if (is_time_key(k)) {
      s->time[r] = val;
      continue;
    }
    int f = field_index(s, k);
    if (f == -2) return LDM_FAIL(LDM_ERR_NOMEM, "out of memory reading %s", path);
    if (f >= 0) s->col[f][r] = val;
  }
  m->rows++;
  return LDM_OK;
}

ldm_status ldm_run_metrics_read(const char *path, metrics *m) {
  char *buf;
  size_t len;
  LDM_TRY(ldm_read_file(path, MAX_METRICS_BYTES, &buf, &len));
  ldm_status s = LDM_OK;
  int line = 0;
  for (size_t i = 0; i < len && s == LDM_OK;) {
    size_t j = i;
    while (j < len && buf[j] != '\n') j++;
    line++;
    bool blank = true;
    for (size_t k = i; k < j; k++)
      if (buf[k] != ' ' && buf[k] != '\t' && buf[k] != '\r') blank = false;
    if (!blank) {
      ldm_json v;
      ldm_json_opts o = {path, line, true};
      s = ldm_json_parse(buf + i, j - i, &o, &v);
      if (s == LDM_OK) {
        s = add_row(m, path, line, &v);
        ldm_json_free(&v);
      }
    }
    i = j + 1;
  }
  free(buf);
  return s;
}

int ldm_run_field(const stage_data *s, const char *name) {
  for (int f = 0; f < s->nf; f++)
    if (!strcmp(s->field[f], name)) return f;
  return -1;
}

/* ---------------------------------------------------------------- wall time per stage */

double ldm_run_stage_wall(const stage_data *st, bool *from_time) {
  int fi = ldm_run_field(st, "it_s");
  double t0 = INFINITY, t1 = -INFINITY;
  int nt = 0, first = -1;
  for (int i = 0; i < st->n; i++)
    if (isfinite(st->time[i])) {
      if (first < 0) first = i;
      t0 = fmin(t0, st->time[i]), t1 = fmax(t1, st->time[i]), nt++;
    }
  if (nt >= 2) {
    *from_time = true;
    double w = t1 - t0;
    /* the steps before the first timestamped row, at that row's rate */
    if (fi >= 0 && isfinite(st->col[fi][first]) && st->col[fi][first] > 0) w += st->step[first] / st->col[fi][first];
    return w;
  }
  *from_time = false;
  if (fi < 0) return NAN;
  double w = 0, prev = 0;
  bool any = false;
  for (int i = 0; i < st->n; i++) {
    double d = st->step[i] - prev, r = st->col[fi][i];
    if (d > 0 && isfinite(r) && r > 0) w += d / r, any = true;
    if (st->step[i] > prev) prev = st->step[i];
  }
  return any ? w : NAN;
}

