/* `ldm-vk edit img2img|inpaint`: edit images with a trained run (ldm_edit, include/ldm/edit.h;
 * docs/editing.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/sample_cli.h"
#include "ldm/checkpoint.h"
#include "ldm/data.h"
#include "ldm/edit.h"
#include "ldm/io.h"

static const char edit_usage[] =
    "usage: ldm-vk edit img2img --ckpt DIR --init IMG|DIR [--strength S] [options] (--out grid.png | --out-dir DIR)\n"
    "       ldm-vk edit inpaint --ckpt DIR --init IMG|DIR --mask MASK [--repaint JUMP,RESAMPLE] [options] (--out ...)\n\n"
    "img2img (SDEdit): each input is encoded by the run's VAE, noised to the timestep --strength selects and\n"
    "denoised over the rest of the schedule: 0 gives the VAE reconstruction, 1 a fresh sample.\n"
    "inpaint: the white pixels of --mask (the size of the input) are repainted, the others are kept exactly;\n"
    "--repaint adds RePaint's resampling. Inputs are PNG/JPEG of any size, centre-cropped and resized to the\n"
    "model's resolution as training does. --out: one row per input, the input (inpaint: its hole grey) then\n"
    "its --n results; --out-dir: <input name>_<variation>.png. See docs/editing.md.";

/* "J,R": two integers in [1, 1000] */
static bool parse_repaint(const char *v, int *jump, int *resample) {
  int j = 0, r = 0, used = 0;
  if (sscanf(v, "%d,%d%n", &j, &r, &used) != 2 || v[used] != 0 || strspn(v, "0123456789,") != strlen(v)) return false;
  if (j < 1 || j > 1000 || r < 1 || r > 1000) return false;
  *jump = j;
  *resample = r;
  return true;
}

/* the files --init names: itself, or the images of a folder (sorted). Returns 0 or the exit status. */
static int list_inputs(const char *cmd, const char *init, char ***files, int *n) {
  struct stat st;
  if (stat(init, &st) != 0) {
    fprintf(stderr, "ldm-vk %s: --init %s: %s\n", cmd, init, strerror(errno));
    return 1;
  }
  if (S_ISDIR(st.st_mode)) {
    if (ldm_image_files(init, files, n) != LDM_OK) return ldm_cli_error();
    return 0;
  }
  *files = malloc(sizeof **files);
  if (*files) (*files)[0] = strdup(init);
  if (!*files || !(*files)[0]) {
    free(*files);
    fprintf(stderr, "ldm-vk %s: out of memory\n", cmd);
    return 1;
  }
  *n = 1;
  return 0;
}

static void free_list(char **v, int n) {
  for (int i = 0; v && i < n; i++) free(v[i]);
  free(v);
}

/* the file name of input i without its folder and extension */
static void stem(const char *path, char *buf, size_t cap) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  const char *dot = strrchr(b, '.');
  snprintf(buf, cap, "%.*s", (int)(dot && dot != b ? dot - b : (ptrdiff_t)strlen(b)), b);
}

/* Write the grid and/or the files of the results. */
static ldm_status write_outputs(const sample_cli *sc, const ldm_edit_opts *eo, const ldm_edit_result *r, char **files,
                                const char *mode, const char *repaint) {
  const ldm_model_cfg *c = &r->cfg;
  int64_t per = (int64_t)c->cin * c->res * c->res, plane = (int64_t)c->res * c->res;
  char cls_text[LDM_CLASS_NAME_MAX + 32], strength[32];
  snprintf(strength, sizeof strength, "%g", (double)eo->s.strength);
  ldm_sample_text txt;
  ldm_image_text t[sizeof txt.t / sizeof txt.t[0] + 4];
  ldm_status s = LDM_OK;
  if (sc->out[0]) {
    int cols = 1 + r->variations, n = r->ninit * cols;
    float *grid = ldm_malloc((size_t)(n * per) * 4);
    if (!grid) return LDM_ERR_NOMEM;
    for (int i = 0; i < r->ninit; i++) {
      float *row = grid + (int64_t)i * cols * per;
      memcpy(row, r->inputs + i * per, (size_t)per * 4);
      for (int ch = 0; r->masks && ch < c->cin; ch++) /* the hole in grey */
        for (int64_t p = 0; p < plane; p++)
          if (r->masks[i * plane + p] > 0) row[ch * plane + p] = 0.0f;
      memcpy(row + per, r->images + (int64_t)i * r->variations * per, (size_t)(r->variations * per) * 4);
    }
    sample_cli_class_text(sc, eo->s.cls < 0 ? -2 : eo->s.cls, cls_text, sizeof cls_text);
    int nt = ldm_sample_text_make(&txt, &eo->s, cls_text, NULL, 0);
    memcpy(t, txt.t, (size_t)nt * sizeof t[0]);
    t[nt++] = (ldm_image_text){"edit", mode};
    t[nt++] = (ldm_image_text){"strength", strength};
    if (repaint[0]) t[nt++] = (ldm_image_text){"repaint", repaint};
    s = ldm_image_write_grid(sc->out, sc->out_fmt, grid, n, c->cin, c->res, c->res, cols, c->crop, t, nt);
    free(grid);
    if (s == LDM_OK) fprintf(stderr, "wrote %s (%d inputs, %d results each)\n", sc->out, r->ninit, r->variations);
  }
  if (s == LDM_OK && sc->out_dir[0]) {
    s = ldm_mkdir_p(sc->out_dir);
    const char *ext = sc->dir_jpg ? "jpg" : "png";
    for (int k = 0; k < r->n && s == LDM_OK; k++) {
      int i = k / r->variations;
      char p[1200], name[600];
      stem(files[i], name, sizeof name);
      snprintf(p, sizeof p, "%s/%s_%d.%s", sc->out_dir, name, k % r->variations, ext);
      sample_cli_class_text(sc, r->labels[k], cls_text, sizeof cls_text);
      int nt = ldm_sample_text_make(&txt, &eo->s, cls_text, NULL, 0);
      memcpy(t, txt.t, (size_t)nt * sizeof t[0]);
      t[nt++] = (ldm_image_text){"edit", mode};
      t[nt++] = (ldm_image_text){"strength", strength};
      t[nt++] = (ldm_image_text){"init", files[i]};
      if (repaint[0]) t[nt++] = (ldm_image_text){"repaint", repaint};
      s = ldm_image_write(p, sc->dir_jpg ? LDM_IMAGE_JPEG : LDM_IMAGE_PNG, r->images + (int64_t)k * per, c->cin, c->res,
                          c->res, c->crop, t, nt);
    }
    if (s == LDM_OK) fprintf(stderr, "wrote %d images to %s\n", r->n, sc->out_dir);
  }
  return s;
}

int ldm_cmd_edit(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fprintf(argc < 2 ? stderr : stdout, "%s\n\nmodes: img2img, inpaint (`ldm-vk edit MODE --help` lists the options)\n",
            edit_usage);
    return argc < 2 ? 2 : 0;
  }
  bool inpaint = strcmp(argv[1], "inpaint") == 0;
  if (!inpaint && strcmp(argv[1], "img2img") != 0)
    return ldm_cli_usage_error("edit", "unknown mode '%s' (img2img or inpaint)", argv[1]);
  const char *cmd = inpaint ? "edit inpaint" : "edit img2img", *mode = argv[1];
  ldm_edit_opts eo;
  ldm_edit_defaults(&eo);
  ldm_sample_opts *o = &eo.s;
  sample_cli sc;
  sample_cli_init(&sc);
  char init[512] = "", mask[512] = "", repaint[32] = "";
  float strength = -1.0f;
  const arg_def defs[] = {
      {"ckpt", ARG_STR, o->ckpt, sizeof o->ckpt, "run directory of `ldm-vk train` (vae.safetensors, unet.safetensors)", ARG_TEXT},
      {"init", ARG_STR, init, sizeof init, "the input: a PNG/JPEG file, or a folder of them (each is edited)", ARG_TEXT},
      {"mask", ARG_STR, mask, sizeof mask, "inpaint: PNG/JPEG of the input's size, white = repaint, black = keep", ARG_TEXT},
      {"strength", ARG_FLOAT, &strength, 0, "part of the schedule that is run: 0 = the VAE reconstruction, 1 = a fresh "
       "sample [img2img 0.75, inpaint 1]", .min = 0, .max = 1},
      {"repaint", ARG_STR, repaint, sizeof repaint, "inpaint: RePaint, JUMP,RESAMPLE (e.g. 10,10; each in [1, 1000]) "
       "[off]", ARG_TEXT},
      SAMPLE_CLI_DEVICE(*o),
      {"n", ARG_INT, &o->n, 0, "results per input [1]", .min = 1, .max = 1000},
      SAMPLE_CLI_GEN(*o, sc),
      {"out", ARG_STR, sc.out, sizeof sc.out, "write one grid here (FILE.png, FILE.jpg): a row per input", ARG_TEXT},
      {"out-dir", ARG_STR, sc.out_dir, sizeof sc.out_dir,
       "write one file per result, <input name>_<variation>.png (.jpg with --format jpg)", ARG_TEXT},
      {"format", ARG_STR, sc.format, sizeof sc.format, "image type of the --out-dir files [png]", .choices = "png|jpg"},
  };
  int r = ldm_args_parse(cmd, edit_usage, defs, (int)(sizeof defs / sizeof defs[0]), argc - 1, argv + 1);
  if (r) return r == 1 ? 0 : 2;
  if (!init[0]) return ldm_cli_usage_error(cmd, "--init IMG (or a folder of images) is required");
  if (inpaint && !mask[0]) return ldm_cli_usage_error(cmd, "--mask MASK is required (white = repaint, black = keep)");
  if (!inpaint && mask[0]) return ldm_cli_usage_error(cmd, "--mask %s: img2img takes no mask (use edit inpaint)", mask);
  if (!inpaint && repaint[0]) return ldm_cli_usage_error(cmd, "--repaint %s: RePaint is for edit inpaint only", repaint);
  if (repaint[0] && !parse_repaint(repaint, &o->repaint_jump, &o->repaint_resample))
    return ldm_cli_usage_error(cmd, "--repaint %s: must be JUMP,RESAMPLE, two integers in [1, 1000] (e.g. 10,10)",
                               repaint);
  o->strength = strength >= 0 ? strength : inpaint ? 1.0f : 0.75f;
  /* the input files exist before any work */
  char **files = NULL;
  int nfiles = 0;
  struct stat st;
  if (inpaint && stat(mask, &st) != 0) {
    fprintf(stderr, "ldm-vk %s: --mask %s: %s\n", cmd, mask, strerror(errno));
    return 1;
  }
  int rc = list_inputs(cmd, init, &files, &nfiles);
  if (rc) return rc;
  /* --out-dir names each result by its input: two inputs of one name would overwrite each other */
  for (int i = 0; sc.out_dir[0] && i < nfiles; i++)
    for (int j = 0; j < i; j++) {
      char a[600], b[600];
      stem(files[i], a, sizeof a);
      stem(files[j], b, sizeof b);
      if (strcmp(a, b) == 0) {
        fprintf(stderr, "ldm-vk %s: --init %s: %s and %s have the same name; --out-dir needs distinct names\n", cmd,
                init, files[j], files[i]);
        free_list(files, nfiles);
        return 2;
      }
    }
  eo.mode = inpaint ? LDM_EDIT_INPAINT : LDM_EDIT_IMG2IMG;
  eo.init = (const char *const *)files;
  eo.ninit = nfiles;
  eo.mask = inpaint ? mask : NULL;
  rc = sample_cli_setup(cmd, &sc, o);
  /* the inputs are read (and a mask of the wrong size refused) before a backend is opened */
  ldm_edit_result res;
  memset(&res, 0, sizeof res);
  if (!rc && ldm_edit_prepare(&eo, &res) != LDM_OK) rc = ldm_cli_error();
  ldm_backend be;
  if (!rc) rc = sample_cli_backend(o, &be);
  if (rc) {
    ldm_edit_result_free(&res);
    sample_cli_free(&sc);
    free_list(files, nfiles);
    return rc;
  }
  ldm_status s = ldm_edit_run(&be, &eo, &res);
  term_close_line(&cli_term);
  ldm_backend_close(&be);
  if (s == LDM_OK) s = write_outputs(&sc, &eo, &res, files, mode, repaint);
  ldm_edit_result_free(&res);
  sample_cli_free(&sc);
  free_list(files, nfiles);
  return s == LDM_OK ? 0 : ldm_cli_error();
}
