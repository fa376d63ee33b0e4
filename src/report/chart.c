/* The SVG charts of report.html: one per logged term of a stage, several series over the steps, skipped
 * steps as red dashed lines, log or linear y with 1-2-5 ticks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/run.h"

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

void ldm_run_fmt_num(char *b, size_t n, double v) {
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

static bool all_positive(const double *y, int n) {
  for (int i = 0; i < n; i++)
    if (isfinite(y[i]) && y[i] <= 0) return false;
  return true;
}

ldm_status ldm_run_stage_charts(ldm_sbuf *o, const stage_data *st) {
  char id[96], id2[96], cap[512];
  int fl = ldm_run_field(st, "loss");
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
    int f = ldm_run_field(st, tail[k]);
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

