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
#include "report/run.h"

static void fmt_dur(char *b, size_t n, double s) {
  if (!isfinite(s)) snprintf(b, n, "unknown");
  else if (s < 60) snprintf(b, n, "%.1f s", s);
  else if (s < 3600) snprintf(b, n, "%dm %02ds", (int)(s / 60), (int)fmod(s, 60));
  else snprintf(b, n, "%dh %02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}


static const char *stage_title(const char *name) {
  if (!strcmp(name, "vae")) return "Stage 1: VAE";
  if (!strcmp(name, "unet")) return "Stage 2: UNet";
  return name;
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
  ldm_status s = ldm_run_metrics_read(mpath, &m);
  if (s != LDM_OK) {
    ldm_run_metrics_free(&m);
    return s;
  }
  char vp[4200], up[4200];
  snprintf(vp, sizeof vp, "%s/vae.safetensors", run_dir);
  snprintf(up, sizeof up, "%s/unet.safetensors", run_dir);
  const meta_cache *mv = ldm_run_checkpoint_meta(vp), *mu = ldm_run_checkpoint_meta(up);
  char cfg_dev[256];
  config_device(run_dir, cfg_dev, sizeof cfg_dev);
  const char *device = cfg_dev[0] ? cfg_dev : m.device[0] ? m.device : ldm_run_meta_get(mv, "ldm.device") ? ldm_run_meta_get(mv, "ldm.device")
                                                : ldm_run_meta_get(mu, "ldm.device") ? ldm_run_meta_get(mu, "ldm.device")
                                                                              : "unknown";
  const char *cfgname = ldm_run_meta_get(mu, "ldm.config") ? ldm_run_meta_get(mu, "ldm.config") : ldm_run_meta_get(mv, "ldm.config");

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
    int fl = ldm_run_field(st, "loss"), fi = ldm_run_field(st, "it_s");
    double last = NAN, lo = INFINITY, maxstep = 0;
    int nskip = 0;
    for (int r = 0; r < st->n; r++) {
      if (fl >= 0 && isfinite(st->col[fl][r])) last = st->col[fl][r], lo = fmin(lo, st->col[fl][r]);
      nskip += st->skipped[r];
      maxstep = fmax(maxstep, st->step[r]);
    }
    double med = NAN;
    if (fi >= 0) {
      double *t = malloc((size_t)(st->n > 0 ? st->n : 1) * sizeof *t);
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
    double wall = ldm_run_stage_wall(st, &from_time);
    char b1[64], b2[64], b3[64], b4[64];
    ldm_run_fmt_num(b1, sizeof b1, last);
    ldm_run_fmt_num(b2, sizeof b2, isfinite(lo) ? lo : NAN);
    ldm_run_fmt_num(b3, sizeof b3, med);
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
    s = ldm_run_stage_charts(&o, &m.st[i]);
  }
  if (s == LDM_OK) ldm_run_samples_section(&o, run_dir, base);
  if (s == LDM_OK) s = ldm_run_config_section(&o, run_dir, mv, mu);
  if (s == LDM_OK) {
    ldm_page_end(&o);
    s = ldm_write_atomic(outp, &o);
  }
  ldm_sb_free(&o);
  ldm_run_metrics_free(&m);
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

