/* Comparison page of `ldm-vk conformance --json` files: a per-case grid per file with the NMSE of the
 * device and of the fast CPU against the reference, the worst element against its bound, and device vs
 * fast CPU. Files from another ldm-vk version are flagged, on the page and in the text table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/report.h"
#include "report/compare.h"
#include "report/html.h"
#include "report/json.h"

/* ---------------------------------------------------------------- conformance files */

/* One figure of a case: absent in the file (older versions wrote only "nmse"), or a number (NaN/inf
 * included: a JSON null max_ratio_* means infinite). */
typedef struct {
  double v;
  bool has;
} cfig;

enum { F_VK_CPU, F_VK_REF, F_CPU_REF, F_ELEM, NFIG };

typedef struct {
  char op[64], shape[128];
  cfig fig[NFIG];           /* device vs fast CPU ("nmse"), device vs reference, fast CPU vs reference, worst element */
  double max_abs, tol, rtol, gpu_ms;
  double max_abs_ref[2], ratio_ref[2]; /* [0] device, [1] fast CPU vs the reference (NaN: not in the file) */
  long long bad_ref[2];
  bool pass, three_way, device_run; /* three_way: the file has the reference figures (device_run, nmse_*_ref) */
} ccase;

typedef struct {
  const char *path;
  char device[256], driver[256], version[32], date[64];
  ccase *c;
  int n;
  int passed, failed, three_way, no_device; /* cases with the reference figures / without a device run */
  char flags[256];
} cfile;

/* an optional number: absent -> !has; null -> null_val; a number (NaN/inf from older writers included) */
static ldm_status opt_num(const char *path, const ldm_json *c, const char *key, double null_val, cfig *out) {
  const ldm_json *v = ldm_json_get(c, key);
  *out = (cfig){NAN, v != NULL};
  if (!v) return LDM_OK;
  if (v->type == LDM_JSON_NULL) out->v = null_val;
  else if (v->type == LDM_JSON_NUM) out->v = v->num;
  else {
    char what[96];
    snprintf(what, sizeof what, "\"%s\" must be a number or null", key);
    return bench_err(path, v->line, what);
  }
  return LDM_OK;
}

static ldm_status read_case(const char *path, const ldm_json *c, ccase *k) {
  static const char *const who[2] = {"vk_ref", "cpu_ref"};
  const ldm_json *dr = ldm_json_get(c, "device_run");
  if (dr && dr->type != LDM_JSON_BOOL) return bench_err(path, dr->line, "\"device_run\" must be true or false");
  /* files without the key come from versions that always ran a device and compared it with the fast CPU */
  k->three_way = dr != NULL;
  k->device_run = !dr || dr->b;
  cfig f;
  LDM_TRY(opt_num(path, c, "max_abs", NAN, &f));
  k->max_abs = f.v;
  LDM_TRY(opt_num(path, c, "tol", NAN, &f));
  k->tol = f.v;
  LDM_TRY(opt_num(path, c, "rtol", NAN, &f));
  k->rtol = f.v;
  LDM_TRY(opt_num(path, c, "gpu_ms", NAN, &f));
  k->gpu_ms = f.v;
  LDM_TRY(opt_num(path, c, "nmse", NAN, &k->fig[F_VK_CPU]));
  cfig elem = {-INFINITY, false};
  for (int w = 0; w < 2; w++) {
    char key[32];
    snprintf(key, sizeof key, "nmse_%s", who[w]);
    LDM_TRY(opt_num(path, c, key, NAN, &k->fig[w ? F_CPU_REF : F_VK_REF]));
    snprintf(key, sizeof key, "max_abs_%s", who[w]);
    LDM_TRY(opt_num(path, c, key, NAN, &f));
    k->max_abs_ref[w] = f.v;
    snprintf(key, sizeof key, "bad_%s", who[w]);
    LDM_TRY(opt_num(path, c, key, NAN, &f));
    k->bad_ref[w] = f.has && isfinite(f.v) ? (long long)f.v : -1;
    snprintf(key, sizeof key, "max_ratio_%s", who[w]);
    LDM_TRY(opt_num(path, c, key, INFINITY, &f));
    k->ratio_ref[w] = f.v;
    /* the worst element of the backends that ran, as `ldm-vk conformance` prints it */
    if (f.has && (w == 1 || k->device_run)) {
      elem.has = true;
      if (isnan(f.v) || isnan(elem.v) || f.v > elem.v) elem.v = f.v;
    }
  }
  k->fig[F_ELEM] = elem;
  if (!k->device_run) k->fig[F_VK_CPU].has = k->fig[F_VK_REF].has = false; /* written as 0: not a result */
  return LDM_OK;
}

static ldm_status read_conf(const char *path, cfile *f) {
  ldm_json j;
  LDM_TRY(ldm_json_parse_file(path, MAX_JSON_BYTES, true, &j));
  ldm_status s = LDM_OK;
  memset(f, 0, sizeof *f);
  f->path = path;
  const ldm_json *cs = ldm_json_get(&j, "cases");
  if (j.type != LDM_JSON_OBJ || !cs || cs->type != LDM_JSON_ARR) {
    s = bench_err(path, j.line, "a conformance file must be an object with a \"cases\" array (ldm-vk conformance --json)");
    goto done;
  }
  copy_str(f->device, sizeof f->device, ldm_json_get_str(&j, "device"), "unknown");
  copy_str(f->driver, sizeof f->driver, ldm_json_get_str(&j, "driver"), "unknown");
  copy_str(f->version, sizeof f->version, ldm_json_get_str(&j, "version"), "unknown");
  copy_str(f->date, sizeof f->date, ldm_json_get_str(&j, "date"), "unknown");
  f->c = calloc(cs->n ? cs->n : 1, sizeof *f->c);
  if (!f->c) {
    s = LDM_FAIL(LDM_ERR_NOMEM, "out of memory reading %s", path);
    goto done;
  }
  for (size_t i = 0; i < cs->n; i++) {
    const ldm_json *c = &cs->items[i];
    const ldm_json *nm = ldm_json_get(c, "nmse"), *ps = ldm_json_get(c, "pass");
    const char *op = ldm_json_get_str(c, "op"), *shape = ldm_json_get_str(c, "shape");
    if (c->type != LDM_JSON_OBJ || !op || !shape || !nm || (nm->type != LDM_JSON_NUM && nm->type != LDM_JSON_NULL) || !ps ||
        ps->type != LDM_JSON_BOOL) {
      s = bench_err(path, c->line, "a case needs \"op\", \"shape\" (strings), \"nmse\" (number) and \"pass\" (bool)");
      goto done;
    }
    ccase *k = &f->c[f->n++];
    copy_str(k->op, sizeof k->op, op, "?");
    copy_str(k->shape, sizeof k->shape, shape, "");
    if ((s = read_case(path, c, k)) != LDM_OK) goto done;
    k->pass = ps->b;
    k->pass ? f->passed++ : f->failed++;
    f->three_way += k->three_way;
    f->no_device += !k->device_run;
  }
done:
  ldm_json_free(&j);
  return s;
}

typedef struct {
  const char *op, *shape;
} ckey;

static const ccase *find_case(const cfile *f, const char *op, const char *shape) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->c[i].op, op) && !strcmp(f->c[i].shape, shape)) return &f->c[i];
  return NULL;
}

/* the colour of a figure: an NMSE against the case's tolerance, the worst element against its bound (1) */
static const char *fig_class(int which, double v, double tol) {
  if (isnan(v)) return "bad";
  if (v == 0) return "ok0";
  double r;
  if (which == F_ELEM) r = v * v; /* an element ratio ~ sqrt(NMSE / tol): the same bands as the NMSE */
  else if (isnan(tol)) return "ok1";
  else if (!(tol > 0)) return "bad";
  else r = v / tol;
  return r > 1 ? "bad" : r < 1e-3 ? "ok0" : r < 1e-1 ? "ok1" : r < 0.5 ? "ok2" : "ok3";
}

static bool fig_over(int which, double v, double tol) {
  return isnan(v) || (which == F_ELEM ? v > 1 : !isnan(tol) && v > tol);
}

static const char *const fig_head[NFIG] = {"vk-cpu", "vk-ref", "cpu-ref", "elem"};
static const char *const fig_head_html[NFIG] = {"vk&#8209;cpu", "vk&#8209;ref", "cpu&#8209;ref", "elem"};

/* what a file checked, for the files table and the text header */
static const char *conf_checked(const cfile *f) {
  if (f->n && f->no_device == f->n) return "no device run: fast CPU vs reference only (--cpu-only)";
  if (f->n && f->three_way == f->n) return "device and fast CPU vs reference";
  if (f->three_way == 0) return "device vs fast CPU only (older file: no reference figures)";
  return "mixed: some cases without a device or without reference figures";
}

static void conf_text(FILE *t, const cfile *f, int n, const ckey *keys, int nk) {
  fprintf(t, "ldm-vk report --conformance: %d file%s; per case and file: NMSE device vs fast CPU (vk-cpu), device vs "
             "reference (vk-ref), fast CPU vs reference (cpu-ref), worst element / its bound (elem), verdict\n"
             "(! = above the tolerance or the bound, n/a = no device run, - = not in that file)\n",
          n, n == 1 ? "" : "s");
  for (int i = 0; i < n; i++) {
    fprintf(t, "[%c] %s: %s, driver %s; ldm-vk %s, %s; %d passed, %d failed; %s\n", 'A' + i, f[i].path, f[i].device,
            f[i].driver, f[i].version, f[i].date, f[i].passed, f[i].failed, conf_checked(&f[i]));
    if (f[i].flags[0]) fprintf(t, "    FLAGGED: %s\n", f[i].flags);
  }
  fprintf(t, "\n%-20s %-36s", "", "");
  for (int i = 0; i < n; i++) fprintf(t, " | %-48c", 'A' + i);
  fprintf(t, "\n%-20s %-36s", "op", "shape");
  for (int i = 0; i < n; i++) {
    fprintf(t, " |");
    for (int q = 0; q < NFIG; q++) fprintf(t, " %9s ", fig_head[q]);
    fprintf(t, " %-4s", "ok");
  }
  fprintf(t, "\n");
  for (int k = 0; k < nk; k++) {
    fprintf(t, "%-20s %-36s", keys[k].op, keys[k].shape);
    for (int i = 0; i < n; i++) {
      const ccase *c = find_case(&f[i], keys[k].op, keys[k].shape);
      fprintf(t, " |");
      for (int q = 0; q < NFIG; q++) {
        if (!c) fprintf(t, " %9s ", "-");
        else if (!c->device_run && (q == F_VK_CPU || q == F_VK_REF)) fprintf(t, " %9s ", "n/a");
        else if (!c->fig[q].has) fprintf(t, " %9s ", "-");
        else fprintf(t, " %9.3g%c", c->fig[q].v, fig_over(q, c->fig[q].v, c->tol) ? '!' : ' ');
      }
      fprintf(t, " %-4s", !c ? "-" : c->pass ? "ok" : "FAIL");
    }
    fprintf(t, "\n");
  }
}

static void conf_cell_title(ldm_sbuf *o, const ccase *c, int q) {
  static const char *const who[2] = {"device", "fast CPU"};
  if (q == F_VK_CPU) {
    ldm_sb_printf(o, "device vs fast CPU: max abs %.3g", c->max_abs);
    if (isfinite(c->gpu_ms)) ldm_sb_printf(o, ", %.3f ms", c->gpu_ms);
    return;
  }
  for (int w = (q == F_CPU_REF); w < (q == F_VK_REF ? 1 : 2); w++) {
    if (w == 0 && !c->device_run) continue;
    ldm_sb_printf(o, "%s%s vs reference: max abs %.3g, worst element %.3g of its bound", o->n && w ? "; " : "", who[w],
                  c->max_abs_ref[w], c->ratio_ref[w]);
    if (c->bad_ref[w] >= 0) ldm_sb_printf(o, ", %lld outside", c->bad_ref[w]);
  }
  if (q == F_ELEM && isfinite(c->rtol)) ldm_sb_printf(o, "; rtol %.3g", c->rtol);
}

static void conf_html(ldm_sbuf *o, const cfile *f, int n, const ckey *keys, int nk) {
  ldm_page_begin(o, "ldm-vk conformance comparison");
  ldm_sb_printf(o, "<h1>Conformance comparison</h1>\n<p class=\"sub\">%d <code>ldm-vk conformance --json</code> "
                   "file%s: each case's outputs on the Vulkan device and on the fast CPU twins against the plain "
                   "reference (naive loops in double precision), and the device against the fast CPU</p>\n",
                n, n == 1 ? "" : "s");
  bool any = false;
  for (int i = 0; i < n; i++) any |= f[i].flags[0] != 0;
  if (any) {
    ldm_sb_put(o, "<div class=\"warn\"><ul>");
    for (int i = 0; i < n; i++)
      if (f[i].flags[0]) {
        ldm_sb_printf(o, "<li>[%c] ", 'A' + i);
        ldm_sb_html(o, f[i].flags);
        ldm_sb_put(o, "</li>");
      }
    ldm_sb_put(o, "</ul></div>\n");
  }
  ldm_sb_printf(o, "<table id=\"files\"><thead><tr><th></th><th>file</th><th>device</th><th>driver</th><th>ldm-vk</th>"
                   "<th>date</th><th>checked</th><th>passed</th><th>failed</th></tr></thead><tbody data-expect-children=\"%d\">\n",
                n);
  for (int i = 0; i < n; i++) {
    ldm_sb_printf(o, "<tr><th>%c</th><td>", 'A' + i);
    ldm_sb_html(o, basename_of(f[i].path));
    const char *cells[] = {f[i].device, f[i].driver, f[i].version, f[i].date};
    for (int c = 0; c < 4; c++) {
      ldm_sb_put(o, "</td><td>");
      ldm_sb_html(o, cells[c]);
    }
    ldm_sb_printf(o, "</td><td class=\"%s\" data-device-run=\"%s\">", f[i].no_device ? "miss" : "",
                  f[i].no_device ? "false" : "true");
    ldm_sb_html(o, conf_checked(&f[i]));
    ldm_sb_printf(o, "</td><td class=\"n\">%d</td><td class=\"n%s\">%d</td></tr>\n", f[i].passed,
                  f[i].failed ? " bad" : "", f[i].failed);
  }
  ldm_sb_put(o, "</tbody></table>\n<p class=\"cap\">Per file: <b>vk-cpu</b> NMSE of the device against the fast CPU "
                "(the only figure of older files), <b>vk-ref</b> / <b>cpu-ref</b> NMSE of the device / the fast CPU "
                "against the reference, <b>elem</b> the worst element as a fraction of its bound "
                "rtol&nbsp;(|ref|&nbsp;+&nbsp;RMS(ref)), rtol&nbsp;=&nbsp;2&nbsp;&radic;tol (&le;&nbsp;1 passes). A case "
                "passes when the device and the fast CPU each meet the tolerance and the bound against the reference. "
                "<span class=\"miss\">n/a</span>: no device run; &#8212;: not in that file.</p>\n"
                "<p class=\"cap\"><span class=\"ok0\">&nbsp;exact or &lt; 0.001 tol (elem &lt; 0.03)&nbsp;</span> "
                "<span class=\"ok1\">&nbsp;&lt; 0.1 tol (0.3)&nbsp;</span> <span class=\"ok2\">&nbsp;&lt; 0.5 tol (0.7)&nbsp;</span> "
                "<span class=\"ok3\">&nbsp;&le; tol (1)&nbsp;</span> <span class=\"bad\">&nbsp;above, NaN, failed&nbsp;</span></p>\n");
  int cols = 3 + n * (NFIG + 1);
  ldm_sb_put(o, "<table id=\"grid\"><thead><tr><th rowspan=\"2\">op</th><th rowspan=\"2\">shape</th><th rowspan=\"2\">tol</th>");
  for (int i = 0; i < n; i++) {
    ldm_sb_printf(o, "<th colspan=\"%d\">%c: ", NFIG + 1, 'A' + i);
    ldm_sb_html(o, f[i].device);
    if (f[i].no_device) ldm_sb_put(o, " <span class=\"miss\">(no device run)</span>");
    ldm_sb_put(o, "</th>");
  }
  ldm_sb_put(o, "</tr>\n<tr>");
  for (int i = 0; i < n; i++) {
    for (int q = 0; q < NFIG; q++) ldm_sb_printf(o, "<th>%s</th>", fig_head_html[q]);
    ldm_sb_put(o, "<th>ok</th>");
  }
  ldm_sb_printf(o, "</tr></thead><tbody data-expect-children=\"%d\">\n", nk);
  for (int k = 0; k < nk; k++) {
    bool first = k == 0 || strcmp(keys[k].op, keys[k - 1].op) != 0;
    ldm_sb_printf(o, "<tr data-expect-children=\"%d\"><th>", cols);
    if (first) ldm_sb_html(o, keys[k].op);
    ldm_sb_put(o, "</th><td>");
    ldm_sb_html(o, keys[k].shape);
    const ccase *c0 = NULL;
    for (int i = 0; i < n && !c0; i++) c0 = find_case(&f[i], keys[k].op, keys[k].shape);
    ldm_sb_printf(o, "</td><td class=\"n\">%.3g</td>", c0 ? c0->tol : NAN);
    for (int i = 0; i < n; i++) {
      const ccase *c = find_case(&f[i], keys[k].op, keys[k].shape);
      for (int q = 0; q < NFIG; q++) {
        if (!c) ldm_sb_put(o, "<td class=\"n miss\" title=\"not in this file\">&#8212;</td>");
        else if (!c->device_run && (q == F_VK_CPU || q == F_VK_REF))
          ldm_sb_put(o, "<td class=\"n miss\" title=\"no device run (--cpu-only)\">n/a</td>");
        else if (!c->fig[q].has) ldm_sb_put(o, "<td class=\"n miss\" title=\"not recorded (older file)\">&#8212;</td>");
        else {
          ldm_sbuf t = {0};
          conf_cell_title(&t, c, q);
          ldm_sb_printf(o, "<td class=\"n %s\" title=\"", fig_class(q, c->fig[q].v, c->tol));
          ldm_sb_html(o, t.b ? t.b : "");
          ldm_sb_printf(o, "\">%.3g</td>", c->fig[q].v);
          ldm_sb_free(&t);
        }
      }
      if (!c) ldm_sb_put(o, "<td class=\"miss\">&#8212;</td>");
      else ldm_sb_printf(o, "<td class=\"%s\">%s</td>", c->pass ? "ok0" : "bad", c->pass ? "pass" : "FAIL");
    }
    ldm_sb_put(o, "</tr>\n");
  }
  ldm_sb_put(o, "</tbody></table>\n");
  ldm_page_end(o);
}

ldm_status ldm_report_conformance(const char *const *files, int n, const char *out_html, FILE *text) {
  if (n < 1 || n > MAX_FILES) return LDM_FAIL(LDM_ERR_INVALID_ARG, "give 1 to %d conformance JSON files", MAX_FILES);
  cfile *f = calloc((size_t)n, sizeof *f);
  if (!f) return LDM_FAIL(LDM_ERR_NOMEM, "out of memory");
  ldm_status s = LDM_OK;
  for (int i = 0; i < n && s == LDM_OK; i++) s = read_conf(files[i], &f[i]);
  int cap = 0, nk = 0;
  for (int i = 0; i < n; i++) cap += f[i].n;
  ckey *keys = s == LDM_OK ? calloc((size_t)(cap ? cap : 1), sizeof *keys) : NULL;
  if (s == LDM_OK && !keys) s = LDM_FAIL(LDM_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n && s == LDM_OK; i++)
    for (int c = 0; c < f[i].n; c++) {
      bool seen = false;
      for (int k = 0; k < nk && !seen; k++) seen = !strcmp(keys[k].op, f[i].c[c].op) && !strcmp(keys[k].shape, f[i].c[c].shape);
      if (!seen) keys[nk++] = (ckey){f[i].c[c].op, f[i].c[c].shape};
    }
  for (int i = 1; i < n && s == LDM_OK; i++)
    if (strcmp(f[i].version, f[0].version))
      snprintf(f[i].flags, sizeof f[i].flags, "ldm-vk version %s (A: %s): other cases or tolerances", f[i].version,
               f[0].version);
  if (s == LDM_OK && text) conf_text(text, f, n, keys, nk);
  if (s == LDM_OK && out_html) {
    ldm_sbuf o = {0};
    conf_html(&o, f, n, keys, nk);
    s = ldm_write_atomic(out_html, &o);
    ldm_sb_free(&o);
  }
  free(keys);
  for (int i = 0; i < n; i++) free(f[i].c);
  free(f);
  return s;
}
