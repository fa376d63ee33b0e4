/* Comparison page of `ldm-vk bench --json` files side by side: ratios against the first, per-op
 * breakdown bars. Files from another ldm-vk version or another configuration are flagged, on the page and
 * in the text table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/report.h"
#include "report/compare.h"
#include "report/html.h"
#include "report/json.h"

/* ---------------------------------------------------------------- bench files */

typedef struct {
  char name[64];
  double median, best;
  int nodes;
  int nops;
  char op[MAX_OPS][40];
  double op_ms[MAX_OPS];
} bwork;

typedef struct {
  const char *path;
  char device[256], driver[256], type[32], version[32], date[64], config[32], preset[16], op_times[96];
  int batch, iters;
  bwork w[MAX_WORK];
  int nw;
  char flags[512];
} bfile;

static ldm_status read_bench(const char *path, bfile *f) {
  ldm_json j;
  LDM_TRY(ldm_json_parse_file(path, MAX_JSON_BYTES, true, &j));
  ldm_status s = LDM_OK;
  memset(f, 0, sizeof *f);
  f->path = path;
  f->batch = f->iters = -1;
  double d;
  if (j.type != LDM_JSON_OBJ) {
    s = bench_err(path, j.line, "a bench file must hold one JSON object (ldm-vk bench --json)");
    goto done;
  }
  const char *dev = ldm_json_get_str(&j, "device");
  copy_str(f->device, sizeof f->device, dev ? dev : ldm_json_get_str(&j, "backend"), "unknown");
  copy_str(f->driver, sizeof f->driver, ldm_json_get_str(&j, "driver"), "unknown");
  copy_str(f->type, sizeof f->type, ldm_json_get_str(&j, "device_type"), "unknown");
  copy_str(f->version, sizeof f->version, ldm_json_get_str(&j, "version"), "unknown");
  copy_str(f->date, sizeof f->date, ldm_json_get_str(&j, "date"), "unknown");
  copy_str(f->config, sizeof f->config, ldm_json_get_str(&j, "config"), "unknown");
  copy_str(f->preset, sizeof f->preset, ldm_json_get_str(&j, "preset"), "unknown");
  copy_str(f->op_times, sizeof f->op_times, ldm_json_get_str(&j, "op_times"), "");
  if (ldm_json_get_num(&j, "batch", &d) && d >= 0 && d < 1e9) f->batch = (int)d;
  if (ldm_json_get_num(&j, "iters", &d) && d >= 0 && d < 1e9) f->iters = (int)d;
  const ldm_json *wl = ldm_json_get(&j, "workloads");
  if (wl) {
    if (wl->type != LDM_JSON_ARR) {
      s = bench_err(path, wl->line, "\"workloads\" must be an array");
      goto done;
    }
    for (size_t i = 0; i < wl->n && f->nw < MAX_WORK; i++) {
      const ldm_json *w = &wl->items[i];
      bwork *b = &f->w[f->nw];
      const char *nm = ldm_json_get_str(w, "name");
      if (w->type != LDM_JSON_OBJ || !nm || !ldm_json_get_num(w, "median_ms", &b->median)) {
        s = bench_err(path, w->line, "a workload needs \"name\" (string) and \"median_ms\" (number)");
        goto done;
      }
      copy_str(b->name, sizeof b->name, nm, "?");
      if (!ldm_json_get_num(w, "best_ms", &b->best)) b->best = NAN;
      b->nodes = ldm_json_get_num(w, "nodes", &d) && d >= 0 && d < 1e9 ? (int)d : -1;
      const ldm_json *ops = ldm_json_get(w, "ops_ms");
      if (ops && ops->type != LDM_JSON_OBJ) {
        s = bench_err(path, ops->line, "\"ops_ms\" must be an object of op name -> milliseconds");
        goto done;
      }
      for (size_t k = 0; ops && k < ops->n && b->nops < MAX_OPS; k++) {
        if (ops->items[k].type != LDM_JSON_NUM) {
          s = bench_err(path, ops->items[k].line, "\"ops_ms\" values must be numbers");
          goto done;
        }
        copy_str(b->op[b->nops], sizeof b->op[0], ops->keys[k], "?");
        b->op_ms[b->nops++] = ops->items[k].num;
      }
      f->nw++;
    }
  } else {
    /* the first format: three medians */
    static const struct { const char *key, *name; } old[] = {{"vae_train_step_ms_median", "VAE train step"},
                                                             {"unet_train_step_ms_median", "UNet train step"},
                                                             {"unet_forward_ms_median", "UNet forward"}};
    for (size_t i = 0; i < 3; i++)
      if (ldm_json_get_num(&j, old[i].key, &d)) {
        bwork *b = &f->w[f->nw++];
        copy_str(b->name, sizeof b->name, old[i].name, "?");
        b->median = d, b->best = NAN, b->nodes = -1;
      }
  }
  if (f->nw == 0) s = bench_err(path, j.line, "no workloads (neither \"workloads\" nor *_ms_median fields)");
done:
  ldm_json_free(&j);
  return s;
}

static void flag_add(char *flags, size_t n, const char *fmt, const char *a, const char *b) {
  size_t k = strlen(flags);
  snprintf(flags + k, n - k, fmt, k ? "; " : "", a, b);
}

static void bench_flags(bfile *f, int n) {
  for (int i = 1; i < n; i++) {
    char a[32], b[32];
    if (strcmp(f[i].version, f[0].version) || !strcmp(f[i].version, "unknown"))
      flag_add(f[i].flags, sizeof f[i].flags, "%sldm-vk version %s (A: %s)", f[i].version, f[0].version);
    if (strcmp(f[i].config, f[0].config)) flag_add(f[i].flags, sizeof f[i].flags, "%sconfig %s (A: %s)", f[i].config, f[0].config);
    if (strcmp(f[i].preset, f[0].preset)) flag_add(f[i].flags, sizeof f[i].flags, "%spreset %s (A: %s)", f[i].preset, f[0].preset);
    if (f[i].batch != f[0].batch) {
      snprintf(a, sizeof a, "%d", f[i].batch);
      snprintf(b, sizeof b, "%d", f[0].batch);
      flag_add(f[i].flags, sizeof f[i].flags, "%sbatch %s (A: %s)", a, b);
    }
  }
  if (n > 1 && !strcmp(f[0].version, "unknown"))
    flag_add(f[0].flags, sizeof f[0].flags, "%sno ldm-vk version recorded%s%s", "", "");
}

/* the workloads of all files, in order of first appearance */
static int union_workloads(const bfile *f, int n, char names[][64], int max) {
  int k = 0;
  for (int i = 0; i < n; i++)
    for (int w = 0; w < f[i].nw; w++) {
      bool seen = false;
      for (int j = 0; j < k; j++) seen |= !strcmp(names[j], f[i].w[w].name);
      if (!seen && k < max) snprintf(names[k++], 64, "%s", f[i].w[w].name);
    }
  return k;
}

static const bwork *find_work(const bfile *f, const char *name) {
  for (int w = 0; w < f->nw; w++)
    if (!strcmp(f->w[w].name, name)) return &f->w[w];
  return NULL;
}

static void bench_text(FILE *t, const bfile *f, int n, char names[][64], int nw) {
  fprintf(t, "ldm-vk report --bench: %d file%s; ratio = median ms / median ms of [A] (below 1: faster)\n", n,
          n == 1 ? "" : "s");
  for (int i = 0; i < n; i++) {
    fprintf(t, "[%c] %s: %s (%s), driver %s; ldm-vk %s, %s; config %s, preset %s, batch %d\n", 'A' + i, f[i].path,
            f[i].device, f[i].type, f[i].driver, f[i].version, f[i].date, f[i].config, f[i].preset, f[i].batch);
    if (f[i].flags[0]) fprintf(t, "    FLAGGED: %s\n", f[i].flags);
  }
  fprintf(t, "\n%-22s", "workload");
  for (int i = 0; i < n; i++) {
    char h[32];
    snprintf(h, sizeof h, "[%c] ms", 'A' + i);
    fprintf(t, " %11s", h);
    if (i) {
      snprintf(h, sizeof h, "[%c]/[A]", 'A' + i);
      fprintf(t, " %8s", h);
    }
  }
  fprintf(t, "\n");
  for (int w = 0; w < nw; w++) {
    fprintf(t, "%-22s", names[w]);
    const bwork *a = find_work(&f[0], names[w]);
    for (int i = 0; i < n; i++) {
      const bwork *b = find_work(&f[i], names[w]);
      if (b) fprintf(t, " %11.3f", b->median);
      else fprintf(t, " %11s", "-");
      if (i) {
        if (a && b && a->median > 0) fprintf(t, " %7.2f%s", b->median / a->median, f[i].flags[0] ? "!" : " ");
        else fprintf(t, " %8s", "-");
      }
    }
    fprintf(t, "\n");
  }
  bool any = false;
  for (int i = 1; i < n; i++) any |= f[i].flags[0] != 0;
  if (any) fprintf(t, "! ratio of a flagged file: not comparable as is (see FLAGGED above)\n");
}

/* an op colour that stays the same across every bar chart of the page */
static int op_colour(char ops[][40], int *nops, const char *op) {
  for (int i = 0; i < *nops; i++)
    if (!strcmp(ops[i], op)) return i;
  if (*nops == MAX_OPS) return -1;
  snprintf(ops[*nops], 40, "%s", op);
  return (*nops)++;
}

static void bench_html(ldm_sbuf *o, const bfile *f, int n, char names[][64], int nw) {
  char now[64];
  ldm_now_utc(now, sizeof now);
  ldm_page_begin(o, "ldm-vk benchmark comparison");
  ldm_sb_printf(o, "<h1>Benchmark comparison</h1>\n<p class=\"sub\">%d <code>ldm-vk bench --json</code> file%s; "
                   "ratios are median times against file A (below 1: faster than A)</p>\n",
                n, n == 1 ? "" : "s");
  bool any = false;
  for (int i = 0; i < n; i++) any |= f[i].flags[0] != 0;
  if (any) {
    ldm_sb_put(o, "<div class=\"warn\"><b>Not like for like:</b><ul>");
    for (int i = 0; i < n; i++)
      if (f[i].flags[0]) {
        ldm_sb_printf(o, "<li>[%c] ", 'A' + i);
        ldm_sb_html(o, basename_of(f[i].path));
        ldm_sb_put(o, ": ");
        ldm_sb_html(o, f[i].flags);
        ldm_sb_put(o, "</li>");
      }
    ldm_sb_put(o, "</ul>Their ratios are marked &#9888; and do not compare the same work.</div>\n");
  }
  ldm_sb_printf(o, "<h2>Files</h2>\n<table id=\"files\"><thead><tr><th></th><th>file</th><th>device</th><th>type</th>"
                   "<th>driver</th><th>ldm-vk</th><th>date</th><th>config</th><th>preset</th><th>batch</th><th>timed runs</th>"
                   "</tr></thead><tbody data-expect-children=\"%d\">\n",
                n);
  for (int i = 0; i < n; i++) {
    const char *cells[] = {f[i].device, f[i].type, f[i].driver, f[i].version, f[i].date, f[i].config, f[i].preset};
    ldm_sb_printf(o, "<tr><th>%c%s</th><td>", 'A' + i, f[i].flags[0] ? " <span class=\"flag\">&#9888;</span>" : "");
    ldm_sb_html(o, basename_of(f[i].path));
    ldm_sb_put(o, "</td>");
    for (int c = 0; c < 7; c++) {
      ldm_sb_put(o, "<td>");
      ldm_sb_html(o, cells[c]);
      ldm_sb_put(o, "</td>");
    }
    ldm_sb_printf(o, "<td class=\"n\">%d</td><td class=\"n\">%d</td></tr>\n", f[i].batch, f[i].iters);
  }
  ldm_sb_put(o, "</tbody></table>\n");

  /* side by side */
  ldm_sb_put(o, "<h2>Median time per workload</h2>\n<table id=\"cmp\"><thead><tr><th>workload</th>");
  for (int i = 0; i < n; i++) ldm_sb_printf(o, "<th>%c: ms%s</th>", 'A' + i, i ? " (ratio to A)" : "");
  ldm_sb_printf(o, "</tr></thead><tbody data-expect-children=\"%d\">\n", nw);
  for (int w = 0; w < nw; w++) {
    ldm_sb_put(o, "<tr><th>");
    ldm_sb_html(o, names[w]);
    ldm_sb_put(o, "</th>");
    const bwork *a = find_work(&f[0], names[w]);
    for (int i = 0; i < n; i++) {
      const bwork *b = find_work(&f[i], names[w]);
      if (!b) {
        ldm_sb_put(o, "<td class=\"n miss\">&#8211;</td>");
        continue;
      }
      ldm_sb_printf(o, "<td class=\"n\">%.3f", b->median);
      if (i && a && a->median > 0)
        ldm_sb_printf(o, " <b%s>(%.2f&times;%s)</b>", f[i].flags[0] ? " class=\"flag\"" : "", b->median / a->median,
                      f[i].flags[0] ? " &#9888;" : "");
      ldm_sb_put(o, "</td>");
    }
    ldm_sb_put(o, "</tr>\n");
  }
  ldm_sb_put(o, "</tbody></table>\n");

  /* median bars: one group per workload, one bar per file */
  const int W = 900, L = 170, R = 90, bh = 14, gap = 12;
  int H = 20 + nw * (n * (bh + 2) + gap);
  int bars = 0;
  for (int w = 0; w < nw; w++)
    for (int i = 0; i < n; i++) bars += find_work(&f[i], names[w]) != NULL;
  ldm_sb_printf(o, "<div class=\"chart\"><svg viewBox=\"0 0 %d %d\" data-bars=\"%d\">\n", W, H, bars);
  int y = 14;
  for (int w = 0; w < nw; w++) {
    double mx = 0;
    for (int i = 0; i < n; i++) {
      const bwork *b = find_work(&f[i], names[w]);
      if (b) mx = fmax(mx, b->median);
    }
    ldm_sb_printf(o, "<text x=\"4\" y=\"%d\" class=\"title\">", y + bh);
    ldm_sb_html(o, names[w]);
    ldm_sb_put(o, "</text>\n");
    for (int i = 0; i < n; i++) {
      const bwork *b = find_work(&f[i], names[w]);
      if (b) {
        double len = mx > 0 ? b->median / mx * (W - L - R) : 0;
        ldm_sb_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%c</text><rect class=\"bar\" x=\"%d\" y=\"%d\" "
                         "width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%c: %.3f ms</title></rect>"
                         "<text x=\"%.1f\" y=\"%d\">%.2f ms</text>\n",
                      L - 6, y + bh - 3, 'A' + i, L, y, fmax(len, 0.5), bh, ldm_palette(i), 'A' + i, b->median,
                      L + len + 4, y + bh - 3, b->median);
      }
      y += bh + 2;
    }
    y += gap;
  }
  ldm_sb_put(o, "</svg><div class=\"cap\">median wall time of one run of each workload</div></div>\n");

  /* per-op breakdown: one stacked bar per file and workload, each the composition of its own per-op time
   * (the absolute times are above); the ten ops with the largest share anywhere get colours, the rest is
   * "other" */
  char ops[MAX_OPS][40];
  double score[MAX_OPS] = {0};
  int nops = 0;
  for (int i = 0; i < n; i++)
    for (int w = 0; w < f[i].nw; w++) {
      const bwork *b = &f[i].w[w];
      double tot = 0;
      for (int k = 0; k < b->nops; k++) tot += b->op_ms[k] > 0 ? b->op_ms[k] : 0;
      for (int k = 0; k < b->nops && tot > 0; k++) {
        if (!(b->op_ms[k] > 0)) continue;
        int c = op_colour(ops, &nops, b->op[k]);
        if (c >= 0) score[c] = fmax(score[c], b->op_ms[k] / tot);
      }
    }
  int rank[MAX_OPS];
  for (int k = 0; k < nops; k++) rank[k] = k;
  for (int a2 = 1; a2 < nops; a2++)
    for (int c = a2; c > 0 && score[rank[c]] > score[rank[c - 1]]; c--) {
      int tmp = rank[c];
      rank[c] = rank[c - 1], rank[c - 1] = tmp;
    }
  const int ntop = nops < 10 ? nops : 10;
  ldm_sb_put(o, "<h2>Per-op breakdown</h2>\n");
  if (nops == 0)
    ldm_sb_put(o, "<p class=\"muted\">these files carry no per-op times (bench files of an older ldm-vk)</p>\n");
  else
    ldm_sb_put(o, "<p class=\"sub\">share of each op in the per-op time of one run (bar length: 100% of that "
                  "file's total, written at its end)</p>\n");
  for (int w = 0; w < nw && nops; w++) {
    ldm_sbuf svg = {0};
    int segs = 0, h = 8 + n * 24;
    for (int i = 0; i < n; i++) {
      const bwork *b = find_work(&f[i], names[w]);
      int yy = 6 + i * 24;
      char lab[40];
      snprintf(lab, sizeof lab, "%c: %.22s", 'A' + i, basename_of(f[i].path));
      ldm_sb_printf(&svg, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", L - 6, yy + 13);
      ldm_sb_html(&svg, lab);
      ldm_sb_put(&svg, "</text>\n");
      double tot = 0;
      for (int k = 0; b && k < b->nops; k++) tot += b->op_ms[k] > 0 ? b->op_ms[k] : 0;
      if (!b || !(tot > 0)) {
        ldm_sb_printf(&svg, "<text x=\"%d\" y=\"%d\" class=\"muted\">no per-op times</text>\n", L, yy + 13);
        continue;
      }
      double x = L, other = 0;
      for (int r = 0; r <= ntop; r++) {
        double ms = 0;
        const char *nm = "other";
        if (r < ntop) {
          nm = ops[rank[r]];
          for (int k = 0; k < b->nops; k++)
            if (!strcmp(b->op[k], nm) && b->op_ms[k] > 0) ms += b->op_ms[k];
        } else {
          for (int k = 0; k < b->nops; k++) {
            bool top = false;
            for (int q = 0; q < ntop; q++) top |= !strcmp(b->op[k], ops[rank[q]]);
            if (!top && b->op_ms[k] > 0) other += b->op_ms[k];
          }
          ms = other;
        }
        if (!(ms > 0)) continue;
        double len = ms / tot * (W - L - R);
        ldm_sb_printf(&svg, "<rect class=\"bar\" x=\"%.1f\" y=\"%d\" width=\"%.2f\" height=\"18\" fill=\"%s\"><title>", x,
                      yy, len, r < ntop ? ldm_palette(r) : "#c3c9cf");
        ldm_sb_html(&svg, nm);
        ldm_sb_printf(&svg, ": %.3f ms (%.1f%%)</title></rect>\n", ms, 100 * ms / tot);
        x += len;
        segs++;
      }
      ldm_sb_printf(&svg, "<text x=\"%.1f\" y=\"%d\">%.2f ms</text>\n", x + 4, yy + 13, tot);
    }
    ldm_sb_put(o, "<h3>");
    ldm_sb_html(o, names[w]);
    ldm_sb_printf(o, "</h3>\n<div class=\"chart\"><svg viewBox=\"0 0 %d %d\" data-bars=\"%d\">\n", W, h, segs);
    ldm_sb_put(o, svg.b ? svg.b : "");
    ldm_sb_put(o, "</svg></div>\n");
    if (svg.oom) o->oom = true;
    ldm_sb_free(&svg);
  }
  if (nops) {
    ldm_sb_put(o, "<p class=\"cap\">");
    for (int r = 0; r <= ntop; r++) {
      ldm_sb_printf(o, "<span style=\"display:inline-block;width:10px;height:10px;background:%s\"></span> ",
                    r < ntop ? ldm_palette(r) : "#c3c9cf");
      ldm_sb_html(o, r < ntop ? ops[rank[r]] : "other ops");
      ldm_sb_put(o, " &nbsp; ");
    }
    ldm_sb_put(o, "</p>\n<p class=\"muted\">per-op times: ");
    for (int i = 0; i < n; i++) {
      ldm_sb_printf(o, "%s%c: ", i ? "; " : "", 'A' + i);
      ldm_sb_html(o, f[i].op_times[0] ? f[i].op_times : "unknown source");
    }
    ldm_sb_put(o, " (a serialised run: the sum can exceed the median of the pipelined run)</p>\n");
  }
  ldm_page_end(o);
}

ldm_status ldm_report_bench(const char *const *files, int n, const char *out_html, FILE *text) {
  if (n < 1 || n > MAX_FILES) return LDM_FAIL(LDM_ERR_INVALID_ARG, "give 1 to %d bench JSON files", MAX_FILES);
  bfile *f = calloc((size_t)n, sizeof *f);
  if (!f) return LDM_FAIL(LDM_ERR_NOMEM, "out of memory");
  ldm_status s = LDM_OK;
  for (int i = 0; i < n && s == LDM_OK; i++) s = read_bench(files[i], &f[i]);
  char names[MAX_WORK * 4][64];
  int nw = 0;
  if (s == LDM_OK) {
    bench_flags(f, n);
    nw = union_workloads(f, n, names, MAX_WORK * 4);
    if (text) bench_text(text, f, n, names, nw);
  }
  if (s == LDM_OK && out_html) {
    ldm_sbuf o = {0};
    bench_html(&o, f, n, names, nw);
    s = ldm_write_atomic(out_html, &o);
    ldm_sb_free(&o);
  }
  free(f);
  return s;
}
