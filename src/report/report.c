/* report.html of a run directory: loss curves (raw + EMA, log y), the VAE's aux terms, grad norm, learning
 * rate, it/s, skipped steps, the sample-grid timeline, the configuration, the device and the wall time
 * per stage. Everything is read back from the files of the run directory, so an old or interrupted run
 * gets the same page as a live one. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ldm/log.h"

#include "ldm/io.h"
#include "ldm/report.h"
#include "report/html.h"
#include "report/json.h"

#define MAX_STAGES 8
#define MAX_FIELDS 16
#define MAX_METRICS_BYTES ((size_t)1 << 30)

/* ---------------------------------------------------------------- metrics.jsonl */

typedef struct {
  char name[32];
  int n, cap;
  double *step, *time;
  bool *skipped;
  int nf;
  char field[MAX_FIELDS][32];
  double *col[MAX_FIELDS]; /* NAN where absent, null or non-finite */
} stage_data;

typedef struct {
  stage_data st[MAX_STAGES];
  int ns;
  int rows;
  char device[256];
} metrics;

static void metrics_free(metrics *m) {
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

static ldm_status read_metrics(const char *path, metrics *m) {
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

static int find_field(const stage_data *s, const char *name) {
  for (int f = 0; f < s->nf; f++)
    if (!strcmp(s->field[f], name)) return f;
  return -1;
}

/* ---------------------------------------------------------------- charts */

#define CW 560
#define CH 250
#define ML 62
#define MR 14
#define MT 30
#define MB 34

typedef struct {
  const char *id;    /* data-series */
  const char *label; /* legend */
  const char *cls;   /* raw | ema | one */
  const char *color;
  const double *y;   /* n values, NAN = not plotted */
} series;

typedef struct {
  double lo, hi;
  bool log;
} axis;

static double ax_f(const axis *a, double v) { return a->log ? log10(v) : v; }

static bool plottable(const axis *a, double v) { return isfinite(v) && (!a->log || v > 0); }

static double px_x(const axis *a, double x) { return ML + (x - a->lo) / (a->hi - a->lo) * (CW - ML - MR); }

static double px_y(const axis *a, double y) {
  return MT + (1.0 - (ax_f(a, y) - ax_f(a, a->lo)) / (ax_f(a, a->hi) - ax_f(a, a->lo))) * (CH - MT - MB);
}

static double nice_step(double span, int want) {
  double raw = span / want, mag = pow(10, floor(log10(raw)));
  const double m[] = {1, 2, 2.5, 5, 10};
  for (int i = 0; i < 5; i++)
    if (m[i] * mag >= raw) return m[i] * mag;
  return 10 * mag;
}

static void fmt_tick(char *b, size_t n, double v) {
  if (v == 0) snprintf(b, n, "0");
  else if (fabs(v) >= 1e5 || fabs(v) < 1e-3) snprintf(b, n, "%.3g", v);
  else snprintf(b, n, "%g", v);
}

static void fmt_num(char *b, size_t n, double v) {
  if (!isfinite(v)) snprintf(b, n, "&#8211;");
  else snprintf(b, n, "%.4g", v);
}

/* y ticks: linear -> nice steps; log -> 1-2-5 per decade (1 only over many decades, 1..9 over a short range) */
static int y_ticks(const axis *a, double *t, int max) {
  int n = 0;
  if (!a->log) {
    double st = nice_step(a->hi - a->lo, 5);
    for (double v = ceil(a->lo / st) * st; v <= a->hi + 1e-9 * st && n < max; v += st) t[n++] = fabs(v) < 1e-12 * st ? 0 : v;
    return n;
  }
  int d0 = (int)floor(log10(a->lo)), d1 = (int)ceil(log10(a->hi));
  const double m125[] = {1, 2, 5}, m1[] = {1}, m19[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const double *ms[] = {m1, m125, m19};
  int mn[] = {1, 3, 9};
  int pick = d1 - d0 > 4 ? 0 : 1;
  for (;;) {
    n = 0;
    for (int d = d0; d <= d1; d++)
      for (int k = 0; k < mn[pick]; k++) {
        double v = ms[pick][k] * pow(10, d);
        if (v >= a->lo * (1 - 1e-9) && v <= a->hi * (1 + 1e-9) && n < max) t[n++] = v;
      }
    if (n >= 3 || pick == 2) break;
    pick++;
  }
  if (n < 3) { /* less than a decade: linear steps, placed on the log axis */
    double st = nice_step(a->hi - a->lo, 4);
    n = 0;
    for (double v = ceil(a->lo / st) * st; v <= a->hi && n < max; v += st) t[n++] = v;
  }
  return n;
}

/* One chart: several series over the steps of a stage, skipped steps as red dashed lines, values that
 * cannot be plotted (null, non-finite, <= 0 on a log axis) as red triangles on the x axis. */
static void chart(ldm_sbuf *o, const stage_data *st, const char *title, const char *caption, bool logy,
                  const series *sr, int ns) {
  axis ax = {0, 1, false}, ay = {0, 1, logy};
  for (int i = 0; i < st->n; i++)
    if (st->step[i] > ax.hi) ax.hi = st->step[i];
  bool any = false;
  double lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < st->n; i++)
      if (plottable(&ay, sr[k].y[i])) {
        any = true;
        lo = fmin(lo, sr[k].y[i]);
        hi = fmax(hi, sr[k].y[i]);
      }
  if (!any) lo = logy ? 0.1 : 0, hi = 1;
  if (logy) {
    if (hi / lo < 1.2) lo /= 1.1, hi *= 1.1;
    double pad = pow(hi / lo, 0.04);
    ay.lo = lo / pad, ay.hi = hi * pad;
  } else {
    if (hi - lo < 1e-12 * fmax(1, fabs(hi))) {
      double d = lo == 0 ? 1 : fabs(lo) * 0.1;
      lo -= d, hi += d;
    }
    double pad = 0.05 * (hi - lo);
    ay.lo = lo >= 0 && lo - pad < 0 ? 0 : lo - pad, ay.hi = hi + pad;
  }
  ldm_sb_printf(o, "<div class=\"chart\"><svg viewBox=\"0 0 %d %d\" role=\"img\" data-stage=\"", CW, CH);
  ldm_sb_html(o, st->name);
  ldm_sb_put(o, "\"><title>");
  ldm_sb_html(o, title);
  ldm_sb_put(o, "</title>\n");
  ldm_sb_printf(o, "<text class=\"title\" x=\"%d\" y=\"16\">", ML);
  ldm_sb_html(o, title);
  ldm_sb_printf(o, "%s</text>\n", logy ? " <tspan class=\"muted\">(log scale)</tspan>" : "");
  /* grid + ticks */
  double t[64];
  char b[64];
  int nt = y_ticks(&ay, t, 64);
  for (int i = 0; i < nt; i++) {
    double y = px_y(&ay, t[i]);
    fmt_tick(b, sizeof b, t[i]);
    ldm_sb_printf(o, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                  ML, y, CW - MR, y, ML - 5, y + 3.5, b);
  }
  double xs = nice_step(ax.hi - ax.lo, 6);
  for (double v = 0; v <= ax.hi + 1e-9; v += xs) {
    double x = px_x(&ax, v);
    fmt_tick(b, sizeof b, v);
    ldm_sb_printf(o, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                     "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                  x, MT, x, CH - MB, x, CH - MB + 14, b);
  }
  ldm_sb_printf(o, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                   "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n"
                   "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n",
                ML, MT, ML, CH - MB, ML, CH - MB, CW - MR, CH - MB, (ML + CW - MR) / 2, CH - 4);
  /* skipped steps */
  int nskip = 0;
  for (int i = 0; i < st->n; i++)
    if (st->skipped[i]) {
      double x = px_x(&ax, st->step[i]);
      ldm_sb_printf(o, "<line class=\"skip\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"><title>step %.0f: update skipped"
                       "</title></line>\n",
                    x, MT, x, CH - MB, st->step[i]);
      nskip++;
    }
  /* series */
  for (int k = 0; k < ns; k++) {
    int np = 0, miss = 0;
    for (int i = 0; i < st->n; i++) plottable(&ay, sr[k].y[i]) ? np++ : miss++;
    ldm_sb_printf(o, "<polyline class=\"%s\" stroke=\"%s\" data-series=\"", sr[k].cls, sr[k].color);
    ldm_sb_html(o, sr[k].id);
    ldm_sb_printf(o, "\" data-points=\"%d\" data-missing=\"%d\" data-rows=\"%d\" points=\"", np, miss, st->n);
    bool first = true;
    for (int i = 0; i < st->n; i++)
      if (plottable(&ay, sr[k].y[i])) {
        ldm_sb_printf(o, "%s%.1f,%.1f", first ? "" : " ", px_x(&ax, st->step[i]), px_y(&ay, sr[k].y[i]));
        first = false;
      }
    ldm_sb_put(o, "\"/>\n");
    if (strcmp(sr[k].cls, "ema") != 0)
      for (int i = 0; i < st->n; i++)
        if (!plottable(&ay, sr[k].y[i])) {
          double x = px_x(&ax, st->step[i]);
          ldm_sb_printf(o, "<path class=\"nan\" d=\"M%.1f %d l-4 7 h8 z\"><title>step %.0f: %s not plotted (null, "
                           "non-finite%s)</title></path>\n",
                        x, CH - MB - 7, st->step[i], sr[k].label, logy ? " or not positive" : "");
        }
  }
  /* legend, right-aligned at the top */
  double lx = CW - MR;
  for (int k = ns - 1; k >= -1; k--) {
    const char *lab = k >= 0 ? sr[k].label : "skipped step";
    if (k < 0 && !nskip) break;
    double w = 6.2 * (double)strlen(lab) + 26;
    lx -= w;
    if (k >= 0)
      ldm_sb_printf(o, "<line x1=\"%.1f\" y1=\"12\" x2=\"%.1f\" y2=\"12\" stroke=\"%s\" stroke-width=\"%s\"/>", lx, lx + 16,
                    sr[k].color, strcmp(sr[k].cls, "raw") ? "2.2" : "1.2");
    else ldm_sb_printf(o, "<line class=\"skip\" x1=\"%.1f\" y1=\"12\" x2=\"%.1f\" y2=\"12\"/>", lx, lx + 16);
    ldm_sb_printf(o, "<text x=\"%.1f\" y=\"15.5\">", lx + 20);
    ldm_sb_html(o, lab);
    ldm_sb_put(o, "</text>\n");
  }
  if (!any)
    ldm_sb_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"muted\">no plottable values</text>\n",
                  (ML + CW - MR) / 2, (MT + CH - MB) / 2);
  ldm_sb_put(o, "</svg>");
  if (caption && caption[0]) {
    ldm_sb_put(o, "<div class=\"cap\">");
    ldm_sb_put(o, caption); /* trusted HTML built by the caller */
    ldm_sb_put(o, "</div>");
  }
  ldm_sb_put(o, "</div>\n");
}

/* debiased exponential moving average over the plottable values (NAN stays NAN) */
static void ema(const double *y, int n, double beta, bool logy, double *out) {
  double m = 0, w = 0;
  for (int i = 0; i < n; i++) {
    bool ok = isfinite(y[i]) && (!logy || y[i] > 0);
    if (!ok) {
      out[i] = NAN;
      continue;
    }
    m = beta * m + (1 - beta) * y[i];
    w = beta * w + (1 - beta);
    out[i] = m / w;
  }
}

static const char *field_title(const char *f) {
  if (!strcmp(f, "rec")) return "reconstruction term (rec)";
  if (!strcmp(f, "kl")) return "KL term (kl)";
  if (!strcmp(f, "grad_norm")) return "gradient norm";
  if (!strcmp(f, "lr")) return "learning rate";
  if (!strcmp(f, "it_s")) return "iterations / s";
  return f;
}

static const char *stage_title(const char *name) {
  if (!strcmp(name, "vae")) return "Stage 1: VAE";
  if (!strcmp(name, "unet")) return "Stage 2: UNet";
  return name;
}

static bool all_positive(const double *y, int n) {
  for (int i = 0; i < n; i++)
    if (isfinite(y[i]) && y[i] <= 0) return false;
  return true;
}

static ldm_status stage_charts(ldm_sbuf *o, const stage_data *st) {
  char id[96], id2[96], cap[512];
  int fl = find_field(st, "loss");
  double *sm = malloc((size_t)(st->n ? st->n : 1) * sizeof *sm);
  if (!sm) return LDM_FAIL(LDM_ERR_NOMEM, "out of memory writing the report");
  ldm_sb_put(o, "<div class=\"charts\">\n");
  if (fl >= 0) {
    int span = st->n / 5;
    span = span < 2 ? 2 : span > 50 ? 50 : span;
    double beta = 1.0 - 2.0 / (span + 1.0);
    ema(st->col[fl], st->n, beta, true, sm);
    snprintf(id, sizeof id, "%s.loss", st->name);
    snprintf(id2, sizeof id2, "%s.loss.ema", st->name);
    series s[2] = {{id, "raw", "raw", ldm_palette(0), st->col[fl]}, {id2, "EMA", "ema", ldm_palette(0), sm}};
    snprintf(cap, sizeof cap, "raw values of the %d logged rows and their exponential moving average (span %d rows, "
                              "bias-corrected)", st->n, span);
    chart(o, st, "loss", cap, true, s, 2);
  }
  /* the other per-stage terms (VAE: rec, kl) in the order they appear, then the optimizer's */
  const char *tail[] = {"grad_norm", "lr", "it_s"};
  for (int f = 0; f < st->nf; f++) {
    bool skip = f == fl;
    for (int k = 0; k < 3; k++) skip |= !strcmp(st->field[f], tail[k]);
    if (skip) continue;
    snprintf(id, sizeof id, "%s.%s", st->name, st->field[f]);
    bool logy = all_positive(st->col[f], st->n);
    series s = {id, st->field[f], "one", ldm_palette(1 + f % 8), st->col[f]};
    chart(o, st, field_title(st->field[f]), logy ? "" : "linear scale: the term takes values &le; 0", logy, &s, 1);
  }
  for (int k = 0; k < 3; k++) {
    int f = find_field(st, tail[k]);
    if (f < 0) continue;
    snprintf(id, sizeof id, "%s.%s", st->name, tail[k]);
    bool logy = k == 0 && all_positive(st->col[f], st->n);
    series s = {id, tail[k], "one", ldm_palette(k == 0 ? 3 : k == 1 ? 4 : 2), st->col[f]};
    const char *c = k == 0 ? "global L2 norm of the gradients before clipping"
                    : k == 1 ? "after warm-up and schedule"
                             : "measured over each logging interval (sampling and checkpoints included)";
    chart(o, st, field_title(tail[k]), c, logy, &s, 1);
  }
  ldm_sb_put(o, "</div>\n");
  free(sm);
  return LDM_OK;
}

/* ---------------------------------------------------------------- wall time per stage */

static double stage_wall(const stage_data *st, bool *from_time) {
  int fi = find_field(st, "it_s");
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

static void fmt_dur(char *b, size_t n, double s) {
  if (!isfinite(s)) snprintf(b, n, "unknown");
  else if (s < 60) snprintf(b, n, "%.1f s", s);
  else if (s < 3600) snprintf(b, n, "%dm %02ds", (int)(s / 60), (int)fmod(s, 60));
  else snprintf(b, n, "%dh %02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* ---------------------------------------------------------------- checkpoint metadata (cached) */

typedef struct {
  char path[4200];
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  bool valid;
  int n;
  char **k, **v;
  char err[400];
} meta_cache;

static meta_cache g_meta[4];

static void meta_clear(meta_cache *c) {
  for (int i = 0; i < c->n; i++) free(c->k[i]), free(c->v[i]);
  free(c->k);
  free(c->v);
  memset(c, 0, sizeof *c);
}

/* the ldm.* metadata of a safetensors file; NULL if the file does not exist. Reading a checkpoint
 * validates the whole file, so the result is kept until the file changes. */
static const meta_cache *checkpoint_meta(const char *path) {
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return NULL;
  meta_cache *slot = NULL;
  for (int i = 0; i < 4; i++)
    if (g_meta[i].valid && !strcmp(g_meta[i].path, path)) slot = &g_meta[i];
  if (slot && slot->dev == sb.st_dev && slot->ino == sb.st_ino && slot->size == sb.st_size &&
      slot->mtime.tv_sec == sb.st_mtim.tv_sec && slot->mtime.tv_nsec == sb.st_mtim.tv_nsec)
    return slot;
  if (!slot)
    for (int i = 0; i < 4 && !slot; i++)
      if (!g_meta[i].valid) slot = &g_meta[i];
  if (!slot) slot = &g_meta[0];
  meta_clear(slot);
  snprintf(slot->path, sizeof slot->path, "%s", path);
  slot->dev = sb.st_dev, slot->ino = sb.st_ino, slot->size = sb.st_size, slot->mtime = sb.st_mtim;
  slot->valid = true;
  ldm_st_file *f;
  if (ldm_st_open(path, &f) != LDM_OK) {
    snprintf(slot->err, sizeof slot->err, "%s", ldm_last_error());
    ldm_clear_error();
    return slot;
  }
  int n = ldm_st_meta_count(f);
  slot->k = calloc((size_t)(n ? n : 1), sizeof *slot->k);
  slot->v = calloc((size_t)(n ? n : 1), sizeof *slot->v);
  for (int i = 0; i < n && slot->k && slot->v; i++) {
    const char *k, *v;
    ldm_st_meta_at(f, i, &k, &v);
    if (strncmp(k, "ldm.", 4) != 0) continue;
    slot->k[slot->n] = strdup(k);
    slot->v[slot->n] = strdup(v ? v : "");
    if (!slot->k[slot->n] || !slot->v[slot->n]) {
      free(slot->k[slot->n]), free(slot->v[slot->n]);
      break;
    }
    slot->n++;
  }
  if (!slot->k || !slot->v) snprintf(slot->err, sizeof slot->err, "out of memory reading its metadata");
  ldm_st_close(f);
  return slot;
}

static const char *meta_get(const meta_cache *c, const char *key) {
  for (int i = 0; c && i < c->n; i++)
    if (!strcmp(c->k[i], key)) return c->v[i];
  return NULL;
}

/* ---------------------------------------------------------------- sample grids */

typedef struct {
  char name[256];
  char prefix[128];
  long long step;
} sample_png;

static int group_rank(const char *p) {
  if (!strcmp(p, "vae_recon")) return 0;
  if (!strcmp(p, "unet")) return 1;
  return 2;
}

static int cmp_png(const void *a, const void *b) {
  const sample_png *x = a, *y = b;
  int rx = group_rank(x->prefix), ry = group_rank(y->prefix);
  if (rx != ry) return rx - ry;
  int c = strcmp(x->prefix, y->prefix);
  if (c) return c;
  if (x->step != y->step) return x->step < y->step ? -1 : 1;
  return strcmp(x->name, y->name);
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static ldm_status list_samples(const char *dir, sample_png **out, int *n) {
  *out = NULL;
  *n = 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/samples", dir);
  DIR *d = opendir(path);
  if (!d) return LDM_OK;
  int cap = 0;
  struct dirent *e;
  ldm_status s = LDM_OK;
  while ((e = readdir(d))) {
    const char *nm = e->d_name;
    if (nm[0] == '.' || !ends_with(nm, ".png") || strstr(nm, ".tmp") || strlen(nm) >= sizeof(*out)[0].name) continue;
    char full[4500];
    struct stat sb;
    snprintf(full, sizeof full, "%s/%s", path, nm);
    if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (*n == cap) {
      int nc = cap ? cap * 2 : 32;
      sample_png *np = realloc(*out, (size_t)nc * sizeof *np);
      if (!np) {
        s = LDM_FAIL(LDM_ERR_NOMEM, "out of memory listing %s", path);
        break;
      }
      *out = np, cap = nc;
    }
    sample_png *p = &(*out)[(*n)++];
    snprintf(p->name, sizeof p->name, "%s", nm);
    /* <prefix>_<digits>.png */
    size_t L = strlen(nm) - 4, k = L;
    while (k > 0 && nm[k - 1] >= '0' && nm[k - 1] <= '9') k--;
    if (k < L && k > 1 && nm[k - 1] == '_' && L - k < 16 && k - 1 < sizeof p->prefix) {
      memcpy(p->prefix, nm, k - 1);
      p->prefix[k - 1] = 0;
      p->step = strtoll(nm + k, NULL, 10);
    } else {
      snprintf(p->prefix, sizeof p->prefix, "%.*s", (int)(L < sizeof p->prefix - 1 ? L : sizeof p->prefix - 1), nm);
      p->step = -1;
    }
  }
  closedir(d);
  if (s == LDM_OK && *n > 1) qsort(*out, (size_t)*n, sizeof **out, cmp_png);
  return s;
}

/* width and height from a PNG's IHDR (false if it is not a PNG) */
static bool png_size(const char *path, int *w, int *h) {
  unsigned char b[24];
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t k = fread(b, 1, sizeof b, f);
  fclose(f);
  if (k != sizeof b || memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0) return false;
  unsigned long W = (unsigned long)b[16] << 24 | (unsigned long)b[17] << 16 | (unsigned long)b[18] << 8 | b[19];
  unsigned long H = (unsigned long)b[20] << 24 | (unsigned long)b[21] << 16 | (unsigned long)b[22] << 8 | b[23];
  if (W == 0 || H == 0 || W > 100000 || H > 100000) return false;
  *w = (int)W, *h = (int)H;
  return true;
}

/* <img> of a sample grid, scaled up by an integer factor (pixelated) to about 320 px */
static void img_tag(ldm_sbuf *o, const char *dir, const char *rel, const char *base, const char *alt) {
  char full[4500];
  snprintf(full, sizeof full, "%s/%s", dir, rel);
  ldm_sb_put(o, "<a href=\"");
  ldm_sb_url(o, base);
  ldm_sb_url(o, rel);
  ldm_sb_put(o, "\"><img src=\"");
  ldm_sb_url(o, base);
  ldm_sb_url(o, rel);
  ldm_sb_put(o, "\" alt=\"");
  ldm_sb_html(o, alt);
  ldm_sb_put(o, "\"");
  int w, h;
  if (png_size(full, &w, &h)) {
    int big = w > h ? w : h, k = (int)(320.0 / big + 0.5);
    k = k < 1 ? 1 : k > 8 ? 8 : k;
    ldm_sb_printf(o, " width=\"%d\" height=\"%d\"", w * k, h * k);
  }
  ldm_sb_put(o, "></a>");
}

static const char *group_title(const char *p) {
  if (!strcmp(p, "vae_recon")) return "VAE reconstructions (top row: training images, bottom row: reconstructions)";
  if (!strcmp(p, "unet")) return "UNet samples (DDIM, classifier-free guidance; one row per class)";
  return p;
}

static void samples_section(ldm_sbuf *o, const char *dir, const char *base) {
  sample_png *pngs;
  int n;
  ldm_sb_put(o, "<h2 id=\"samples\">Sample grids</h2>\n");
  if (list_samples(dir, &pngs, &n) != LDM_OK) {
    ldm_sb_put(o, "<p class=\"warn\">");
    ldm_sb_html(o, ldm_last_error());
    ldm_sb_put(o, "</p>\n");
    ldm_clear_error();
    return;
  }
  if (n == 0) ldm_sb_put(o, "<p class=\"muted\">no sample grids under samples/ yet</p>\n");
  for (int i = 0; i < n;) {
    int j = i;
    while (j < n && !strcmp(pngs[j].prefix, pngs[i].prefix)) j++;
    ldm_sb_put(o, "<h3>");
    ldm_sb_html(o, group_title(pngs[i].prefix));
    ldm_sb_printf(o, " <span class=\"muted\">(%d)</span></h3>\n<div class=\"timeline\">\n", j - i);
    for (int k = i; k < j; k++) {
      char rel[300];
      snprintf(rel, sizeof rel, "samples/%s", pngs[k].name);
      ldm_sb_put(o, "<figure>");
      img_tag(o, dir, rel, base, pngs[k].name);
      ldm_sb_put(o, "<figcaption>");
      if (pngs[k].step >= 0) ldm_sb_printf(o, "step %lld", pngs[k].step);
      else ldm_sb_html(o, pngs[k].name);
      ldm_sb_put(o, "</figcaption></figure>\n");
    }
    ldm_sb_put(o, "</div>\n");
    i = j;
  }
  free(pngs);
  char fin[4200];
  struct stat sb;
  snprintf(fin, sizeof fin, "%s/samples.png", dir);
  if (stat(fin, &sb) == 0 && S_ISREG(sb.st_mode)) {
    ldm_sb_put(o, "<h3>Final samples (samples.png)</h3>\n<div class=\"timeline\"><figure>");
    img_tag(o, dir, "samples.png", base, "samples.png");
    ldm_sb_put(o, "<figcaption>end of training</figcaption></figure></div>\n");
  }
}

/* ---------------------------------------------------------------- configuration */

static void json_inline(ldm_sbuf *o, const ldm_json *v) {
  char b[64];
  switch (v->type) {
  case LDM_JSON_NULL: ldm_sb_put(o, "null"); break;
  case LDM_JSON_BOOL: ldm_sb_put(o, v->b ? "true" : "false"); break;
  case LDM_JSON_NUM:
    snprintf(b, sizeof b, "%.10g", v->num);
    ldm_sb_put(o, b);
    break;
  case LDM_JSON_STR: ldm_sb_html(o, v->str); break;
  case LDM_JSON_ARR:
    ldm_sb_put(o, "[");
    for (size_t i = 0; i < v->n; i++) {
      if (i) ldm_sb_put(o, ", ");
      json_inline(o, &v->items[i]);
    }
    ldm_sb_put(o, "]");
    break;
  case LDM_JSON_OBJ:
    ldm_sb_put(o, "{");
    for (size_t i = 0; i < v->n; i++) {
      if (i) ldm_sb_put(o, ", ");
      ldm_sb_html(o, v->keys[i]);
      ldm_sb_put(o, ": ");
      json_inline(o, &v->items[i]);
    }
    ldm_sb_put(o, "}");
    break;
  }
}

static void config_rows(ldm_sbuf *o, const char *prefix, const ldm_json *v, int depth) {
  for (size_t i = 0; i < v->n; i++) {
    const ldm_json *x = &v->items[i];
    char key[512];
    snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", v->keys[i]);
    if (x->type == LDM_JSON_OBJ && depth < 4) {
      config_rows(o, key, x, depth + 1);
      continue;
    }
    ldm_sb_put(o, "<tr><th>");
    ldm_sb_html(o, key);
    ldm_sb_put(o, "</th><td>");
    json_inline(o, x);
    ldm_sb_put(o, "</td></tr>\n");
  }
}

static ldm_status config_section(ldm_sbuf *o, const char *dir, const meta_cache *mv, const meta_cache *mu) {
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", dir);
  ldm_sb_put(o, "<h2 id=\"config\">Configuration</h2>\n");
  struct stat sb;
  if (stat(path, &sb) == 0) {
    ldm_json cfg;
    LDM_TRY(ldm_json_parse_file(path, (size_t)64 << 20, false, &cfg));
    ldm_sb_put(o, "<p class=\"sub\">from config.json</p>\n<table>\n");
    if (cfg.type == LDM_JSON_OBJ) config_rows(o, "", &cfg, 0);
    else {
      ldm_sb_put(o, "<tr><td>");
      json_inline(o, &cfg);
      ldm_sb_put(o, "</td></tr>\n");
    }
    ldm_sb_put(o, "</table>\n");
    ldm_json_free(&cfg);
    return LDM_OK;
  }
  const meta_cache *m[2] = {mv, mu};
  const char *names[2] = {"vae.safetensors", "unet.safetensors"};
  if (!mv && !mu) {
    ldm_sb_put(o, "<p class=\"muted\">no config.json and no checkpoint (vae.safetensors, unet.safetensors) yet</p>\n");
    return LDM_OK;
  }
  ldm_sb_put(o, "<p class=\"sub\">no config.json: the <code>ldm.*</code> metadata of the checkpoints</p>\n");
  for (int k = 0; k < 2; k++)
    if (m[k] && m[k]->err[0]) {
      ldm_sb_printf(o, "<p class=\"warn\">%s could not be read: ", names[k]);
      ldm_sb_html(o, m[k]->err);
      ldm_sb_put(o, "</p>\n");
    }
  /* union of the keys, in the order of the first file that has them */
  ldm_sb_put(o, "<table>\n<tr><th>key</th>");
  for (int k = 0; k < 2; k++)
    if (m[k]) ldm_sb_printf(o, "<th>%s</th>", names[k]);
  ldm_sb_put(o, "</tr>\n");
  for (int k = 0; k < 2; k++) {
    if (!m[k]) continue;
    for (int i = 0; i < m[k]->n; i++) {
      const char *key = m[k]->k[i];
      if (k == 1 && meta_get(m[0], key)) continue; /* already listed */
      ldm_sb_put(o, "<tr><th>");
      ldm_sb_html(o, key);
      ldm_sb_put(o, "</th>");
      for (int j = 0; j < 2; j++) {
        if (!m[j]) continue;
        const char *v = meta_get(m[j], key);
        ldm_sb_put(o, v ? "<td>" : "<td class=\"miss\">");
        ldm_sb_html(o, v ? v : "\xE2\x80\x93");
        ldm_sb_put(o, "</td>");
      }
      ldm_sb_put(o, "</tr>\n");
    }
  }
  ldm_sb_put(o, "</table>\n");
  return LDM_OK;
}

/* ---------------------------------------------------------------- the page */

static bool same_dir(const char *a, const char *b) {
  char ra[PATH_MAX], rb[PATH_MAX];
  if (!realpath(a, ra) || !realpath(b, rb)) return false;
  return strcmp(ra, rb) == 0;
}

static void parent_dir(const char *path, char *out, size_t n) {
  const char *sl = strrchr(path, '/');
  if (!sl) snprintf(out, n, ".");
  else if (sl == path) snprintf(out, n, "/");
  else snprintf(out, n, "%.*s", (int)(sl - path), path);
}

/* the "device" of the run's config.json into out ("" when there is none; a malformed file is reported by
 * the configuration section) */
static void config_device(const char *dir, char *out, size_t n) {
  char path[4200];
  struct stat sb;
  out[0] = 0;
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (stat(path, &sb) != 0) return;
  ldm_json cfg;
  if (ldm_json_parse_file(path, (size_t)64 << 20, false, &cfg) != LDM_OK) {
    ldm_clear_error();
    return;
  }
  const char *d = cfg.type == LDM_JSON_OBJ ? ldm_json_get_str(&cfg, "device") : NULL;
  if (d) snprintf(out, n, "%s", d);
  ldm_json_free(&cfg);
}

ldm_status ldm_report_run(const char *run_dir, const char *out_path) {
  char mpath[4200], outp[4200], base[PATH_MAX + 2] = "";
  struct stat sb;
  if (stat(run_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return LDM_FAIL(LDM_ERR_IO, "%s is not a directory", run_dir);
  snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", run_dir);
  if (stat(mpath, &sb) != 0) return LDM_FAIL(LDM_ERR_IO, "%s: no metrics.jsonl: not a run directory of ldm-vk train", run_dir);
  if (out_path && out_path[0]) snprintf(outp, sizeof outp, "%s", out_path);
  else snprintf(outp, sizeof outp, "%s/report.html", run_dir);
  char odir[4200];
  parent_dir(outp, odir, sizeof odir);
  if (!same_dir(odir, run_dir)) {
    /* the page lives elsewhere: link the images by absolute path */
    char r[PATH_MAX];
    if (!realpath(run_dir, r)) return LDM_FAIL(LDM_ERR_IO, "cannot resolve %s: %s", run_dir, strerror(errno));
    snprintf(base, sizeof base, "%s/", r);
  }
  metrics m;
  memset(&m, 0, sizeof m);
  ldm_status s = read_metrics(mpath, &m);
  if (s != LDM_OK) {
    metrics_free(&m);
    return s;
  }
  char vp[4200], up[4200];
  snprintf(vp, sizeof vp, "%s/vae.safetensors", run_dir);
  snprintf(up, sizeof up, "%s/unet.safetensors", run_dir);
  const meta_cache *mv = checkpoint_meta(vp), *mu = checkpoint_meta(up);
  char cfg_dev[256];
  config_device(run_dir, cfg_dev, sizeof cfg_dev);
  const char *device = cfg_dev[0] ? cfg_dev : m.device[0] ? m.device : meta_get(mv, "ldm.device") ? meta_get(mv, "ldm.device")
                                                : meta_get(mu, "ldm.device") ? meta_get(mu, "ldm.device")
                                                                              : "unknown";
  const char *cfgname = meta_get(mu, "ldm.config") ? meta_get(mu, "ldm.config") : meta_get(mv, "ldm.config");

  ldm_sbuf o = {0};
  char title[600];
  const char *leaf = strrchr(run_dir, '/');
  leaf = leaf && leaf[1] ? leaf + 1 : run_dir;
  snprintf(title, sizeof title, "ldm-vk run %s", leaf);
  ldm_page_begin(&o, title);
  ldm_sb_put(&o, "<h1>Training report: ");
  ldm_sb_html(&o, leaf);
  ldm_sb_put(&o, "</h1>\n<p class=\"sub\">run directory <code>");
  ldm_sb_html(&o, run_dir);
  ldm_sb_put(&o, "</code> &middot; device: <b>");
  ldm_sb_html(&o, device);
  ldm_sb_put(&o, "</b>");
  if (cfgname) {
    ldm_sb_put(&o, " &middot; config ");
    ldm_sb_html(&o, cfgname);
  }
  ldm_sb_printf(&o, " &middot; %d metrics rows &middot; <a href=\"#samples\">sample grids</a> &middot; "
                    "<a href=\"#config\">configuration</a></p>\n",
                m.rows);

  /* summary */
  ldm_sb_printf(&o, "<table id=\"summary\"><thead><tr><th>stage</th><th>rows</th><th>last step</th><th>last loss</th>"
                    "<th>lowest loss</th><th>skipped steps</th><th>median it/s</th><th>wall time</th></tr></thead>"
                    "<tbody data-expect-children=\"%d\">\n",
                m.ns);
  for (int i = 0; i < m.ns; i++) {
    const stage_data *st = &m.st[i];
    int fl = find_field(st, "loss"), fi = find_field(st, "it_s");
    double last = NAN, lo = INFINITY, maxstep = 0;
    int nskip = 0;
    for (int r = 0; r < st->n; r++) {
      if (fl >= 0 && isfinite(st->col[fl][r])) last = st->col[fl][r], lo = fmin(lo, st->col[fl][r]);
      nskip += st->skipped[r];
      maxstep = fmax(maxstep, st->step[r]);
    }
    double med = NAN;
    if (fi >= 0) {
      double *t = malloc((size_t)(st->n ? st->n : 1) * sizeof *t);
      int k = 0;
      for (int r = 0; t && r < st->n; r++)
        if (isfinite(st->col[fi][r]) && st->col[fi][r] > 0) t[k++] = st->col[fi][r];
      for (int a = 1; a < k; a++)
        for (int b = a; b > 0 && t[b] < t[b - 1]; b--) {
          double x = t[b];
          t[b] = t[b - 1], t[b - 1] = x;
        }
      if (k) med = t[k / 2];
      free(t);
    }
    bool from_time;
    double wall = stage_wall(st, &from_time);
    char b1[64], b2[64], b3[64], b4[64];
    fmt_num(b1, sizeof b1, last);
    fmt_num(b2, sizeof b2, isfinite(lo) ? lo : NAN);
    fmt_num(b3, sizeof b3, med);
    fmt_dur(b4, sizeof b4, wall);
    ldm_sb_put(&o, "<tr><th>");
    ldm_sb_html(&o, stage_title(st->name));
    ldm_sb_printf(&o, "</th><td class=\"n\">%d</td><td class=\"n\">%.0f</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                      "<td class=\"n%s\">%d</td><td class=\"n\">%s</td><td class=\"n\">%s <span class=\"muted\">(%s)</span>"
                      "</td></tr>\n",
                  st->n, maxstep, b1, b2, nskip ? " flag" : "", nskip, b3, b4,
                  !isfinite(wall) ? "no it_s" : from_time ? "timestamps" : "&Sigma; steps / it_s");
  }
  ldm_sb_put(&o, "</tbody></table>\n");
  if (m.ns == 0) ldm_sb_put(&o, "<p class=\"muted\">metrics.jsonl has no rows yet</p>\n");

  for (int i = 0; i < m.ns && s == LDM_OK; i++) {
    ldm_sb_put(&o, "<h2>");
    ldm_sb_html(&o, stage_title(m.st[i].name));
    ldm_sb_put(&o, "</h2>\n");
    s = stage_charts(&o, &m.st[i]);
  }
  if (s == LDM_OK) samples_section(&o, run_dir, base);
  if (s == LDM_OK) s = config_section(&o, run_dir, mv, mu);
  if (s == LDM_OK) {
    ldm_page_end(&o);
    s = ldm_write_atomic(outp, &o);
  }
  ldm_sb_free(&o);
  metrics_free(&m);
  return s;
}

static double mono_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void ldm_report_update(const char *run_dir, bool force, ldm_log_fn log, void *user) {
  static char last[512];
  static double t_done = -1e30, took = 0;
  /* at most 5% of the training time: a page that took 10 ms is rewritten at most every 200 ms (a long
   * metrics log at --log-every 1) */
  double t0 = mono_s();
  if (!force && t0 - t_done < 20 * took) return;
  ldm_status s = ldm_report_run(run_dir, NULL);
  t_done = mono_s();
  took = t_done - t0;
  if (s == LDM_OK) {
    last[0] = 0;
    return;
  }
  const char *msg = ldm_last_error();
  if (strncmp(last, msg, sizeof last - 1) != 0) {
    ldm_log_to(log, user, LDM_LOG_WARN, "warning: %s/report.html not updated: %s", run_dir, msg);
    snprintf(last, sizeof last, "%s", msg);
  }
  ldm_clear_error();
}
