/* What `ldm-vk sample` and `ldm-vk edit` share, and the terminal hooks of `train` (src/cli/sample_cli.h). */
#include "cli/sample_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ldm/checkpoint.h"
#include "ldm/ops.h"
#include "sample/coefs.h"

/* ---------------------------------------------------------------- the terminal side of the library's hooks */

term_state cli_term;

static double mono_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void term_close_line(term_state *t) {
  if (t->open) fputc('\n', stderr);
  t->open = false;
}

void cli_log(void *user, ldm_log_level level, const char *line) {
  (void)level;
  term_state *t = user;
  term_close_line(t);
  fprintf(stderr, "%s\n", line);
}

void cli_progress(void *user, const ldm_progress *p) {
  term_state *t = user;
  char line[512];
  ldm_progress_format(p, line, sizeof line);
  if (t->tty) {
    double now = mono_s();
    if (!p->final && t->open && now - t->last < 0.25) return;
    t->last = now;
    fprintf(stderr, "\r%s   ", line);
    t->open = true;
    if (p->final) term_close_line(t);
  } else if (p->log_step) {
    fprintf(stderr, "%s\n", line);
  }
}

void cli_hooks_install(void) {
  cli_term.tty = isatty(2) != 0;
  cli_term.open = false;
  ldm_set_log(cli_log, &cli_term); /* the library's own warnings (Vulkan validation, ...) */
}

/* ---------------------------------------------------------------- --ckpt and --class */

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The class names of a run directory's UNet (metadata ldm.classes): 1 found (*names may still be NULL: a
 * model without names), 0 no unet.safetensors, -1 an error (printed). */
static int ckpt_classes(const char *dir, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  char path[700];
  snprintf(path, sizeof path, "%s/unet.safetensors", dir);
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  ldm_st_file *f;
  if (ldm_ckpt_name_error(ldm_st_open(path, &f), path) != LDM_OK) return ldm_cli_error(), -1;
  ldm_model_cfg c;
  ldm_status s = ldm_cfg_from_meta(f, &c);
  if (s == LDM_OK) s = ldm_ckpt_read_classes(f, c.ncls, names, n);
  ldm_st_close(f);
  if (s != LDM_OK) return ldm_cli_error(), -1;
  return 1;
}

/* --class: all (-1), an index (digits only), or a class name of the checkpoint (exact, else ignoring ASCII
 * case). Returns 0 with *cls set, else the exit status (2: a usage error, 1: the checkpoint is bad). */
static int resolve_class(const char *cmd, const char *value, const char *dir, char *const *names, int nnames, int have, int *cls) {
  if (strcmp(value, "all") == 0) return *cls = -1, 0;
  char v[LDM_CLASS_NAME_MAX + 1]; /* for the messages: one line */
  snprintf(v, sizeof v, "%s", value);
  for (char *p = v; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  bool digits = v[0] != 0;
  for (const char *p = v; *p; p++) digits = digits && *p >= '0' && *p <= '9';
  if (digits) {
    if (strlen(v) > 7 || atoi(v) > 1000000)
      return ldm_cli_usage_error(cmd, "--class %s: a class index must be in [0, 1000000]", v);
    return *cls = atoi(v), 0;
  }
  if (have == 0)
    return ldm_cli_usage_error(cmd, "--class %s: not all, an index or a class name: %s has no unet.safetensors "
                               "that names the classes", v, dir);
  if (nnames == 0)
    return ldm_cli_usage_error(cmd, "--class %s: the checkpoint names no classes (unlabeled data, or an older "
                               "ldm-vk): give a class index", v);
  int k = ldm_classes_find(names, nnames, value);
  char list[1200];
  ldm_classes_list(names, nnames, list, sizeof list);
  if (k == -2)
    return ldm_cli_usage_error(cmd, "--class %s: several classes have that name ignoring case; give it exactly "
                               "(the classes: %s)", v, list);
  if (k < 0) return ldm_cli_usage_error(cmd, "--class %s: no such class; the classes are: %s", v, list);
  return *cls = k, 0;
}

/* ---------------------------------------------------------------- the generation flags */

void sample_cli_init(sample_cli *sc) {
  memset(sc, 0, sizeof *sc);
  snprintf(sc->cls, sizeof sc->cls, "all");
  snprintf(sc->sampler, sizeof sc->sampler, "ddim");
  snprintf(sc->sigmas, sizeof sc->sigmas, "discrete");
  snprintf(sc->spacing, sizeof sc->spacing, "linspace");
  snprintf(sc->format, sizeof sc->format, "png");
}

void sample_cli_free(sample_cli *sc) {
  ldm_classes_free(sc->names, sc->nnames);
  sc->names = NULL;
  sc->nnames = 0;
}

int sample_cli_setup(const char *cmd, sample_cli *sc, ldm_sample_opts *o) {
  const char *out = sc->out;
  if (!o->ckpt[0]) return ldm_cli_usage_error(cmd, "--ckpt DIR is required");
  if (!out[0] && !sc->out_dir[0]) return ldm_cli_usage_error(cmd, "give --out FILE.png or --out-dir DIR");
  /* the image type comes from the name: known before any work */
  sc->out_fmt = out[0] ? ldm_image_format_for_name(out) : LDM_IMAGE_PNG;
  if (sc->out_fmt == LDM_IMAGE_UNKNOWN) {
    const char *base = strrchr(out, '/');
    const char *dot = strrchr(base ? base + 1 : out, '.');
    return ldm_cli_usage_error(cmd, "--out %s: unknown image type '%s' (the name must end in .png, .jpg or .jpeg)",
                               out, dot ? dot : "(no extension)");
  }
  sc->dir_jpg = strcmp(sc->format, "jpg") == 0;
  if (!is_dir(o->ckpt)) return ldm_cli_usage_error(cmd, "--ckpt %s is not a directory", o->ckpt);
  /* the folder of --out exists (as --out-dir is made) before any work, not only after the sampling */
  const char *slash = out[0] ? strrchr(out, '/') : NULL;
  if (slash && slash != out) {
    char parent[sizeof sc->out];
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - out), out);
    if (ldm_mkdir_p(parent) != LDM_OK) return ldm_cli_error();
  }
  /* a checkpoint torn between its state and weights files (a killed run) is made whole first */
  cli_hooks_install();
  if (ldm_run_repair(o->ckpt, false, NULL) != LDM_OK) return ldm_cli_error();
  o->sampler = ldm_sampler_parse(sc->sampler); /* the names are checked by the parser */
  o->sigmas = ldm_sigmas_parse(sc->sigmas);
  o->spacing = ldm_spacing_parse(sc->spacing);
  bool numeric = sc->cls[0] != 0 && strspn(sc->cls, "0123456789") == strlen(sc->cls);
  int have = strcmp(sc->cls, "all") && !numeric ? ckpt_classes(o->ckpt, &sc->names, &sc->nnames) : 0;
  if (have < 0) return 1;
  int rc = resolve_class(cmd, sc->cls, o->ckpt, sc->names, sc->nnames, have, &o->cls);
  if (rc) sample_cli_free(sc);
  return rc;
}

int sample_cli_backend(ldm_sample_opts *o, ldm_backend *be) {
  if (ldm_backend_open(o->device, be) != LDM_OK) return ldm_cli_error();
  fprintf(stderr, "backend: %s\n", be->why);
  o->progress = cli_term.tty ? cli_progress : NULL; /* images done, steps/s, ETA: on a terminal only */
  o->user = &cli_term;
  return 0;
}

void sample_cli_class_text(const sample_cli *sc, int label, char *buf, size_t cap) {
  if (label == -2) snprintf(buf, cap, "all");
  else if (label < 0) snprintf(buf, cap, "none (unconditional)");
  else if (label < sc->nnames) snprintf(buf, cap, "%d %s", label, sc->names[label]);
  else snprintf(buf, cap, "%d", label);
}
