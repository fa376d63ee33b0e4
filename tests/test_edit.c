/* ldm-vk edit (include/ldm/edit.h, src/sample/edit.c, src/cli/cmd_edit.c) on a tiny run trained here on a
 * synthetic folder dataset (no Fashion-MNIST needed): the pieces (inputs prepared as training prepares
 * them, the latent mask's pooling and dilation, the feather, the paste), the encoder on the CPU and on
 * Vulkan, and end to end: inpainting leaves the unmasked pixels of the written PNG exactly as given,
 * img2img at strength 0 is the VAE reconstruction computed separately, CPU and Vulkan agree, and bad
 * inputs give one-line errors (exit 2 for the flags, 1 for the files). */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"
#include "ldm/checkpoint.h"
#include "ldm/data.h"
#include "ldm/edit.h"
#include "ldm/io.h"
#include "ldm/rng.h"
#include "ldm/train.h"
#include "ldm/vk.h"
#include "sample/edit.h"
#include "vk_test_util.h"

static const char *exe; /* the ldm-vk binary (argv[1]) */
static char tmp[256], run_dir[300];
static bool have_vk;

/* CPU and Vulkan (lavapipe) results of the same edit: every pixel within this (images in [-1, 1]) */
#define CPU_VK_TOL 1e-3

static const char *in_tmp(const char *name) {
  static char buf[8][600];
  static int k;
  char *p = buf[k++ % 8];
  snprintf(p, 600, "%s/%s", tmp, name);
  return p;
}

static float urand(uint64_t *st) { return (float)(ldm_splitmix64(st) >> 40) / (float)(1 << 24); }

/* a grey or RGB PNG w x h (floats in [-1, 1], CHW) of a seeded blob on noise */
static void write_blob_png(const char *path, int c, int w, int h, uint64_t seed) {
  float *img = malloc(sizeof(float) * (size_t)(c * w * h));
  uint64_t st = seed;
  float cx = urand(&st) * (float)w, cy = urand(&st) * (float)h, r = (0.2f + 0.2f * urand(&st)) * (float)(w < h ? w : h);
  for (int ch = 0; ch < c; ch++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        float d = hypotf((float)x - cx, (float)y - cy);
        img[(ch * h + y) * w + x] = (d < r ? 0.8f : -0.8f) + 0.2f * (urand(&st) - 0.5f) + 0.1f * (float)ch;
      }
  ck_assert_msg(ldm_png_write_image(path, img, c, h, w, 0) == LDM_OK, "%s", ldm_last_error());
  free(img);
}

/* a mask PNG w x h: white (repaint) in [x0, x0 + s) x [y0, y0 + s), black elsewhere */
static void write_mask_png(const char *path, int w, int h, int x0, int y0, int s) {
  float *m = malloc(sizeof(float) * (size_t)(w * h));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) m[y * w + x] = x >= x0 && x < x0 + s && y >= y0 && y < y0 + s ? 1.0f : -1.0f;
  ck_assert_msg(ldm_png_write_image(path, m, 1, h, w, 0) == LDM_OK, "%s", ldm_last_error());
  free(m);
}

/* ldm-vk with the arguments (NULL-terminated); stderr into err. Returns the exit status (-1: a signal). */
static int ldm_vk(char *err, size_t cap, ...) {
  const char *argv[48];
  int n = 0;
  argv[n++] = exe;
  va_list ap;
  va_start(ap, cap);
  while (n < 47 && (argv[n] = va_arg(ap, const char *)) != NULL) n++;
  va_end(ap);
  argv[n] = NULL;
  const char *ep = in_tmp("stderr.txt");
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int fd = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644), nul = open("/dev/null", O_WRONLY);
    if (fd < 0 || nul < 0 || dup2(fd, 2) < 0 || dup2(nul, 1) < 0) _exit(126);
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  FILE *f = fopen(ep, "r");
  size_t k = f ? fread(err, 1, cap - 1, f) : 0;
  err[k] = 0;
  if (f) fclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
  return m;
}

/* ---------------------------------------------------------------- the pieces */

START_TEST(latent_mask_pools_and_dilates) {
  /* random masks on odd sizes: a latent cell is 1 exactly when a hole pixel lies in its own block or in
   * one of its 8 neighbours' blocks (so no cell whose block meets the hole is kept, and one ring more) */
  const int shapes[][2] = {{16, 8}, {32, 8}, {28, 7}, {12, 3}, {8, 8}};
  uint64_t st = 12345;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    int res = shapes[k][0], lr = shapes[k][1], f = res / lr;
    for (int trial = 0; trial < 20; trial++) {
      float *m = malloc(sizeof(float) * (size_t)(res * res)), *lm = malloc(sizeof(float) * (size_t)(lr * lr));
      float density = trial == 0 ? 0.0f : trial == 1 ? 1.0f : urand(&st) * 0.05f;
      for (int i = 0; i < res * res; i++) m[i] = urand(&st) < density ? 1.0f : 0.0f;
      ldm_edit_latent_mask(m, res, lr, lm);
      for (int y = 0; y < lr; y++)
        for (int x = 0; x < lr; x++) {
          bool any = false;
          for (int py = (y - 1) * f; py < (y + 2) * f; py++)
            for (int px = (x - 1) * f; px < (x + 2) * f; px++)
              if (py >= 0 && py < res && px >= 0 && px < res && m[py * res + px] > 0) any = true;
          ck_assert_msg(lm[y * lr + x] == (any ? 1.0f : 0.0f), "res %d lr %d trial %d: cell (%d,%d) is %g", res, lr,
                        trial, y, x, (double)lm[y * lr + x]);
        }
      free(m);
      free(lm);
    }
  }
}
END_TEST

START_TEST(feather_is_zero_outside_and_ramps_inside) {
  uint64_t st = 777;
  const int sizes[] = {16, 13, 32};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    int n = sizes[k];
    for (int width = 1; width <= 5; width++)
      for (int trial = 0; trial < 6; trial++) {
        float *m = malloc(sizeof(float) * (size_t)(n * n)), *fe = malloc(sizeof(float) * (size_t)(n * n));
        /* a few rectangles, or everything (trial 0), or nothing (trial 1) */
        for (int i = 0; i < n * n; i++) m[i] = trial == 0 ? 1.0f : 0.0f;
        for (int r = 0; trial > 1 && r < trial; r++) {
          int x0 = (int)(urand(&st) * (float)n), y0 = (int)(urand(&st) * (float)n);
          int w = 1 + (int)(urand(&st) * (float)n / 2), h = 1 + (int)(urand(&st) * (float)n / 2);
          for (int y = y0; y < y0 + h && y < n; y++)
            for (int x = x0; x < x0 + w && x < n; x++) m[y * n + x] = 1.0f;
        }
        ldm_edit_feather(m, n, width, fe);
        bool any_kept = false;
        for (int i = 0; i < n * n; i++) any_kept = any_kept || m[i] == 0;
        for (int y = 0; y < n; y++)
          for (int x = 0; x < n; x++) {
            float got = fe[y * n + x];
            if (m[y * n + x] == 0) {
              ck_assert_msg(got == 0.0f, "n %d width %d: kept pixel (%d,%d) has feather %g", n, width, y, x, (double)got);
              continue;
            }
            int d = 1 << 20; /* brute force: chessboard distance to the nearest kept pixel */
            for (int yy = 0; yy < n; yy++)
              for (int xx = 0; xx < n; xx++)
                if (m[yy * n + xx] == 0) {
                  int dd = abs(yy - y) > abs(xx - x) ? abs(yy - y) : abs(xx - x);
                  if (dd < d) d = dd;
                }
            float want = any_kept ? fminf(1.0f, (float)d / (float)width) : 1.0f;
            ck_assert_msg(fabsf(got - want) < 1e-6f && got > 0, "n %d width %d: (%d,%d) feather %g, want %g", n, width,
                          y, x, (double)got, (double)want);
          }
        free(m);
        free(fe);
      }
  }
}
END_TEST

START_TEST(inputs_are_prepared_as_training_prepares_images) {
  /* a non-square RGB PNG, a grey PNG and a JPEG in a folder: ldm_edit_load gives the folder loader's pixels */
  const char *dir = in_tmp("prep");
  ck_assert_int_eq(mkdir(dir, 0755), 0);
  char a[700], b[700], j[700];
  snprintf(a, sizeof a, "%s/a.png", dir);
  snprintf(b, sizeof b, "%s/b.png", dir);
  snprintf(j, sizeof j, "%s/c.jpg", dir);
  write_blob_png(a, 3, 23, 17, 1);
  write_blob_png(b, 1, 16, 16, 2);
  float jimg[3 * 40 * 30];
  for (int k = 0; k < 3 * 40 * 30; k++) jimg[k] = (float)((k * 37) % 200) / 100.0f - 1.0f;
  ck_assert_int_eq(ldm_image_write(j, LDM_IMAGE_UNKNOWN, jimg, 3, 30, 40, 0, NULL, 0), LDM_OK);
  const char *files[3] = {a, b, j};
  for (int ch = 1; ch <= 3; ch += 2) {
    ldm_dataset ds;
    ck_assert_msg(ldm_dataset_load_folder(dir, 16, ch, &ds) == LDM_OK, "%s", ldm_last_error());
    ck_assert_int_eq(ds.n, 3);
    float *x = malloc(sizeof(float) * (size_t)(ch * 256));
    for (int i = 0; i < 3; i++) {
      ck_assert_msg(ldm_edit_load(files[i], NULL, 16, ch, x, NULL) == LDM_OK, "%s", ldm_last_error());
      for (int k = 0; k < ch * 256; k++)
        ck_assert_msg(x[k] == (float)ds.pixels[i * ch * 256 + k] / 127.5f - 1.0f, "image %d channels %d: pixel %d", i,
                      ch, k);
    }
    free(x);
    ldm_dataset_free(&ds);
  }
  /* the mask gets the same crop and resize, then the threshold: a white square of the 23x17 image */
  char mp[700], bad[700];
  snprintf(mp, sizeof mp, "%s/mask.png", tmp);
  write_mask_png(mp, 23, 17, 10, 4, 8);
  float x[3 * 256], m[256];
  ck_assert_msg(ldm_edit_load(a, mp, 16, 3, x, m) == LDM_OK, "%s", ldm_last_error());
  uint8_t *raw;
  int w, h;
  ck_assert_int_eq(ldm_image_load(mp, 1, &raw, &w, &h, NULL), LDM_OK);
  uint8_t sq[256];
  ck_assert_int_eq(ldm_image_square(mp, raw, w, h, 1, 16, sq), LDM_OK);
  free(raw);
  int ones = 0;
  for (int k = 0; k < 256; k++) {
    ck_assert(m[k] == (sq[k] >= 128 ? 1.0f : 0.0f));
    ones += m[k] > 0;
  }
  ck_assert_msg(ones > 30 && ones < 120, "%d mask pixels of 256", ones);
  /* a mask of another size is refused, naming both files and sizes; a missing file names itself */
  snprintf(bad, sizeof bad, "%s/mask_small.png", tmp);
  write_mask_png(bad, 17, 23, 0, 0, 4);
  ck_assert_int_eq(ldm_edit_load(a, bad, 16, 3, x, m), LDM_ERR_INVALID_ARG);
  const char *e = ldm_last_error();
  ck_assert_msg(strstr(e, "17x23") && strstr(e, "23x17") && strstr(e, "mask_small.png") && strstr(e, "a.png"), "%s", e);
  ck_assert_int_eq(ldm_edit_load(in_tmp("missing.png"), NULL, 16, 1, x, NULL), LDM_ERR_IO);
  ck_assert_msg(strstr(ldm_last_error(), "missing.png") != NULL, "%s", ldm_last_error());
}
END_TEST

START_TEST(paste_keeps_the_kept_pixels_byte_for_byte) {
  /* random generated values (also far outside [-1, 1]) pasted over an input: the PNG written has the input's
   * bytes wherever the mask is 0, the generated bytes deep inside the hole */
  const char *ip = in_tmp("paste_in.png"), *mp = in_tmp("paste_mask.png"), *op = in_tmp("paste_out.png");
  write_blob_png(ip, 1, 21, 21, 9);
  write_mask_png(mp, 21, 21, 3, 5, 9);
  int res = 16;
  float x[256], m[256], fe[256], gen[256], out[256];
  ck_assert_msg(ldm_edit_load(ip, mp, res, 1, x, m) == LDM_OK, "%s", ldm_last_error());
  uint64_t st = 4;
  for (int k = 0; k < 256; k++) gen[k] = 6.0f * (urand(&st) - 0.5f);
  ldm_edit_feather(m, res, 2, fe);
  ldm_edit_paste(gen, x, fe, 1, res, out);
  ck_assert_int_eq(ldm_png_write_image(op, out, 1, res, res, 0), LDM_OK);
  uint8_t *got, *in, *raw;
  int w, h;
  ck_assert_int_eq(ldm_image_load(op, 1, &got, &w, &h, NULL), LDM_OK);
  ck_assert_int_eq(w, res);
  ck_assert_int_eq(ldm_image_load(ip, 1, &raw, &w, &h, NULL), LDM_OK);
  in = malloc(256);
  ck_assert_int_eq(ldm_image_square(ip, raw, w, h, 1, res, in), LDM_OK);
  int kept = 0, deep = 0;
  for (int k = 0; k < 256; k++) {
    if (m[k] == 0) {
      ck_assert_msg(got[k] == in[k], "kept pixel %d: %d written, %d given", k, got[k], in[k]);
      kept++;
    } else if (fe[k] == 1.0f) {
      float g = fminf(1.0f, fmaxf(-1.0f, gen[k]));
      ck_assert_int_eq(got[k], (int)lrintf((g + 1.0f) * 127.5f));
      deep++;
    }
  }
  ck_assert(kept > 100 && deep > 4);
  free(got);
  free(in);
  free(raw);
}
END_TEST

/* ---------------------------------------------------------------- with the trained tiny run */

/* A tiny run on a synthetic folder dataset (2 classes of blobs), and the inputs of the end-to-end tests. */
START_TEST(a_tiny_run_trains) {
  char data[400], sub[500], p[600];
  snprintf(data, sizeof data, "%s/data", tmp);
  ck_assert_int_eq(mkdir(data, 0755), 0);
  for (int c = 0; c < 2; c++) {
    snprintf(sub, sizeof sub, "%s/%s", data, c ? "b" : "a");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    for (int i = 0; i < 16; i++) {
      snprintf(p, sizeof p, "%s/%02d.png", sub, i);
      write_blob_png(p, 1, 16, 16, (uint64_t)(100 * c + i));
    }
  }
  ldm_train_opts o;
  ldm_train_defaults(&o);
  snprintf(o.config, sizeof o.config, "tiny");
  snprintf(o.data, sizeof o.data, "%s", data);
  snprintf(o.device, sizeof o.device, "cpu");
  snprintf(run_dir, sizeof run_dir, "%s/run", tmp);
  snprintf(o.out, sizeof o.out, "%s", run_dir);
  o.vae_steps = 30;
  o.unet_steps = 30;
  o.batch = 8;
  o.sample_steps = 2;
  o.sample_every = 0;
  o.quiet = true;
  ck_assert_msg(ldm_train(&o, NULL) == LDM_OK, "training the tiny run: %s", ldm_last_error());
  /* inputs of another size than the model's (21x19: cropped and resized to 16x16) and their mask */
  snprintf(p, sizeof p, "%s/inputs", tmp);
  ck_assert_int_eq(mkdir(p, 0755), 0);
  write_blob_png(in_tmp("inputs/in_a.png"), 1, 21, 19, 7);
  write_blob_png(in_tmp("inputs/in_b.png"), 3, 21, 19, 8);
  write_mask_png(in_tmp("mask_in.png"), 21, 19, 6, 4, 9);
  ck_assert_int_eq(symlink(in_tmp("inputs/in_a.png"), in_tmp("in_a.png")), 0);
  ck_assert_int_eq(symlink(in_tmp("inputs/in_b.png"), in_tmp("in_b.png")), 0);
}
END_TEST


static void edit_opts(ldm_edit_opts *o, ldm_edit_mode mode, const char *const *init, int ninit, const char *mask) {
  ldm_edit_defaults(o);
  snprintf(o->s.ckpt, sizeof o->s.ckpt, "%s", run_dir);
  o->mode = mode;
  o->init = init;
  o->ninit = ninit;
  o->mask = mask;
  o->s.steps = 4;
  o->s.cls = 1;
  o->s.n = 2;
}

START_TEST(encoder_agrees_on_cpu_and_vulkan) {
  if (!have_vk) return;
  ldm_run_weights rw;
  ck_assert_msg(ldm_run_weights_open(run_dir, &rw) == LDM_OK, "%s", ldm_last_error());
  const ldm_model_cfg *c = &rw.c;
  int n = 3, lr = ldm_latent_res(c);
  int64_t per = (int64_t)c->cin * c->res * c->res, lat = (int64_t)c->z * lr * lr;
  float *x = malloc(sizeof(float) * (size_t)(n * per)), *mc = malloc(sizeof(float) * (size_t)(n * lat)),
        *mv = malloc(sizeof(float) * (size_t)(n * lat));
  uint64_t st = 99;
  for (int64_t k = 0; k < n * per; k++) x[k] = 2.0f * urand(&st) - 1.0f;
  ldm_backend cpu = ldm_backend_cpu(), vk;
  ck_assert_msg(ldm_edit_encode(&cpu, c, &rw.vae, x, n, 2, mc) == LDM_OK, "%s", ldm_last_error());
  ck_assert_msg(ldm_backend_open("vk", &vk) == LDM_OK, "%s", ldm_last_error());
  ck_assert_msg(ldm_edit_encode(&vk, c, &rw.vae, x, n, 2, mv) == LDM_OK, "%s", ldm_last_error());
  ldm_backend_close(&vk);
  double scale = 0;
  for (int64_t k = 0; k < n * lat; k++) scale = fmax(scale, fabs(mc[k]));
  double d = max_abs_diff(mc, mv, n * lat);
  ck_assert_msg(scale > 1e-3 && d <= 1e-4 * (1 + scale), "posterior means differ by %g (max |mu| %g)", d, scale);
  /* the batch split does not change the numbers (batch 2 of 3 above, all 3 at once here) */
  ck_assert_int_eq(ldm_edit_encode(&cpu, c, &rw.vae, x, n, 3, mv), LDM_OK);
  ck_assert_msg(max_abs_diff(mc, mv, n * lat) == 0, "batch 2 and batch 3 differ");
  free(x);
  free(mc);
  free(mv);
  ldm_run_weights_close(&rw);
}
END_TEST

/* decode(encode(x)) of the run's VAE, built here from the model builders, on the CPU */
static void vae_reconstruct(const char *const *files, int n, float *out, ldm_model_cfg *cfg) {
  ldm_run_weights rw;
  ck_assert_msg(ldm_run_weights_open(run_dir, &rw) == LDM_OK, "%s", ldm_last_error());
  ldm_model_cfg c = rw.c;
  *cfg = c;
  int64_t per = (int64_t)c.cin * c.res * c.res;
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int xt = ldm_act(&g, "x", 4, LDM_SHAPE(1, c.cin, c.res, c.res)), mu, lv;
  ldm_keep(&g, xt);
  ck_assert_int_eq(ldm_vae_encode(&g, &c, xt, &mu, &lv), LDM_OK);
  int xh = ldm_vae_decode(&g, &c, mu);
  ldm_keep(&g, xh);
  ck_assert_msg(ldm_graph_plan(&g) == LDM_OK, "%s", ldm_last_error());
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  ck_assert_msg(ldm_ckpt_load_arena(rw.vf, e, LDM_ARENA_PARAM, "") == LDM_OK, "%s", ldm_last_error());
  float *x = malloc(sizeof(float) * (size_t)per);
  for (int i = 0; i < n; i++) {
    ck_assert_int_eq(ldm_edit_load(files[i], NULL, c.res, c.cin, x, NULL), LDM_OK);
    ck_assert_int_eq(ldm_exec_write(e, xt, x, (size_t)per * 4), LDM_OK);
    ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
    ck_assert_int_eq(ldm_exec_read(e, xh, out + i * per, (size_t)per * 4), LDM_OK);
  }
  free(x);
  ldm_exec_free(e);
  ldm_graph_free(&g);
  ldm_run_weights_close(&rw);
}

/* needs the sampler side of editing (strength in ldm_sample_weights) */
START_TEST(img2img_at_strength_0_is_the_vae_reconstruction) {
  /* on the CPU and on Vulkan, against decode(encode(x)) computed on the CPU by the test */
  const char *files[2] = {in_tmp("in_a.png"), in_tmp("in_b.png")};
  ldm_edit_opts o;
  edit_opts(&o, LDM_EDIT_IMG2IMG, files, 2, NULL);
  o.s.strength = 0.0f;
  ldm_model_cfg c;
  float *want = NULL;
  for (int dev = 0; dev < (have_vk ? 2 : 1); dev++) {
    ldm_backend be = ldm_backend_cpu();
    if (dev) ck_assert_msg(ldm_backend_open("vk", &be) == LDM_OK, "%s", ldm_last_error());
    ldm_edit_result r;
    ck_assert_msg(ldm_edit(&be, &o, &r) == LDM_OK, "%s", ldm_last_error());
    ldm_backend_close(&be);
    ck_assert_int_eq(r.n, 4);
    int64_t per = (int64_t)r.cfg.cin * r.cfg.res * r.cfg.res;
    if (!want) {
      want = malloc(sizeof(float) * (size_t)(2 * per));
      vae_reconstruct(files, 2, want, &c);
    }
    double worst = 0;
    for (int k = 0; k < r.n; k++) {
      double d = max_abs_diff(r.images + k * per, want + (k / 2) * per, per);
      ck_assert_msg(d <= 1e-4, "%s: result %d (input %d) differs from decode(encode(x)) by %g", dev ? "vk" : "cpu", k,
                    k / 2, d);
      worst = fmax(worst, d);
    }
    fprintf(stderr, "img2img strength 0 (%s): differs from decode(encode(x)) by at most %.3g\n", dev ? "vk" : "cpu",
            worst);
    ldm_edit_result_free(&r);
  }
  free(want);
}
END_TEST

START_TEST(inpaint_cli_keeps_the_unmasked_pixels) {
  /* through the CLI: the PNGs written for both variations of both inputs hold the inputs' bytes (as the
   * model gets them: cropped and resized to 16x16) wherever the mask is black; the hole was regenerated */
  for (int dev = 0; dev < (have_vk ? 2 : 1); dev++) {
    char err[4096], d[700];
    snprintf(d, sizeof d, "%s/inpaint_out_%s", tmp, dev ? "vk" : "cpu");
    int rc = ldm_vk(err, sizeof err, "edit", "inpaint", "--ckpt", run_dir, "--init", in_tmp("inputs"), "--mask",
                    in_tmp("mask_in.png"), "--device", dev ? "vk" : "cpu", "--steps", "4", "--n", "2", "--class", "1",
                    "--repaint", "2,1", "--out-dir", d, "--out", in_tmp("inpaint_grid.png"), NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    const char *names[2] = {"in_a", "in_b"};
    for (int i = 0; i < 2; i++) {
      char ip[700];
      snprintf(ip, sizeof ip, "%s/inputs/%s.png", tmp, names[i]);
      float x[256], m[256];
      ck_assert_int_eq(ldm_edit_load(ip, in_tmp("mask_in.png"), 16, 1, x, m), LDM_OK);
      for (int v = 0; v < 2; v++) {
        char op[800];
        snprintf(op, sizeof op, "%s/%s_%d.png", d, names[i], v);
        uint8_t *got;
        int w, h;
        ck_assert_msg(ldm_image_load(op, 1, &got, &w, &h, NULL) == LDM_OK, "%s", ldm_last_error());
        ck_assert(w == 16 && h == 16);
        int changed = 0;
        for (int k = 0; k < 256; k++) {
          int want = (int)lrintf((x[k] + 1.0f) * 127.5f);
          if (m[k] == 0) ck_assert_msg(got[k] == want, "%s pixel %d: %d written, %d given", op, k, got[k], want);
          else changed += got[k] != want;
        }
        ck_assert_msg(changed > 0, "%s: the hole is the input's", op);
        free(got);
      }
    }
    /* the grid: 2 rows of (input, 2 results) 16x16 tiles with 2 pixels of padding */
    uint8_t *g;
    int w, h;
    ck_assert_int_eq(ldm_image_load(in_tmp("inpaint_grid.png"), 1, &g, &w, &h, NULL), LDM_OK);
    ck_assert_int_eq(w, 3 * 18 + 2);
    ck_assert_int_eq(h, 2 * 18 + 2);
    free(g);
  }
}
END_TEST

START_TEST(cpu_and_vulkan_agree) {
  if (!have_vk) return;
  const char *files[2] = {in_tmp("in_a.png"), in_tmp("in_b.png")};
  for (int mode = 0; mode < 2; mode++) {
    ldm_edit_opts o;
    edit_opts(&o, mode ? LDM_EDIT_INPAINT : LDM_EDIT_IMG2IMG, files, 2, mode ? in_tmp("mask_in.png") : NULL);
    o.s.strength = 0.6f;
    if (mode) o.s.repaint_jump = 2, o.s.repaint_resample = 2;
    ldm_backend cpu = ldm_backend_cpu(), vk;
    ldm_edit_result rc, rv;
    ck_assert_msg(ldm_edit(&cpu, &o, &rc) == LDM_OK, "%s", ldm_last_error());
    ck_assert_msg(ldm_backend_open("vk", &vk) == LDM_OK, "%s", ldm_last_error());
    ck_assert_msg(ldm_edit(&vk, &o, &rv) == LDM_OK, "%s", ldm_last_error());
    ldm_backend_close(&vk);
    int64_t per = (int64_t)rc.cfg.cin * rc.cfg.res * rc.cfg.res;
    double d = max_abs_diff(rc.images, rv.images, rc.n * per);
    fprintf(stderr, "%s: CPU and Vulkan differ by at most %.3g\n", mode ? "inpaint (RePaint 2,2)" : "img2img", d);
    ck_assert_msg(d <= CPU_VK_TOL, "%s: CPU and Vulkan differ by %g", mode ? "inpaint" : "img2img", d);
    ldm_edit_result_free(&rc);
    ldm_edit_result_free(&rv);
  }
}
END_TEST

/* one line on stderr, containing want */
static void one_line(const char *err, const char *want) {
  const char *nl = strchr(err, '\n');
  ck_assert_msg(nl && nl[1] == 0, "not one line: %s", err);
  ck_assert_msg(strstr(err, want) != NULL, "'%s' not in: %s", want, err);
}

START_TEST(bad_inputs_give_one_line_errors) {
  char err[4096];
  char out[600], in[600], mk[600], missing[600], missing_mask[600], garbage[600], odd[600];
  snprintf(out, sizeof out, "%s", in_tmp("bad.png"));
  snprintf(in, sizeof in, "%s", in_tmp("in_a.png"));
  snprintf(mk, sizeof mk, "%s", in_tmp("mask_in.png"));
  snprintf(missing, sizeof missing, "%s", in_tmp("missing.png"));
  snprintf(missing_mask, sizeof missing_mask, "%s", in_tmp("missing_mask.png"));
  snprintf(garbage, sizeof garbage, "%s", in_tmp("garbage.png"));
  snprintf(odd, sizeof odd, "%s", in_tmp("mask_odd.png"));
  FILE *f = fopen(garbage, "w");
  ck_assert_ptr_nonnull(f);
  fputs("not an image\n", f);
  fclose(f);
  write_mask_png(odd, 20, 23, 2, 2, 5);
  struct {
    int rc;
    const char *want;
    const char *args[16];
  } cases[] = {
      {1, "missing.png", {"img2img", "--init", missing}},
      {1, "missing_mask.png", {"inpaint", "--init", in, "--mask", missing_mask}},
      {1, "garbage.png", {"img2img", "--init", garbage}},
      {1, "20x23", {"inpaint", "--init", in, "--mask", odd}},
      {2, "--strength", {"img2img", "--init", in, "--strength", "1.5"}},
      {2, "--strength", {"img2img", "--init", in, "--strength", "-0.1"}},
      {2, "--mask", {"img2img", "--init", in, "--mask", mk}},
      {2, "--mask", {"inpaint", "--init", in}},
      {2, "--init", {"inpaint", "--mask", mk}},
      {2, "--repaint", {"inpaint", "--init", in, "--mask", mk, "--repaint", "4"}},
      {2, "--repaint", {"inpaint", "--init", in, "--mask", mk, "--repaint", "0,3"}},
      {2, "--repaint", {"img2img", "--init", in, "--repaint", "2,2"}},
      {2, "--class", {"img2img", "--init", in, "--class", "nosuchclass"}},
      {2, "unknown mode", {"outpaint", "--init", in}},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const char *argv[24];
    int n = 0;
    argv[n++] = "edit";
    for (int i = 0; cases[k].args[i]; i++) argv[n++] = cases[k].args[i];
    const char *tail[] = {"--ckpt", run_dir, "--device", "cpu", "--steps", "2", "--out", out};
    for (int i = 0; i < 8; i++) argv[n++] = tail[i];
    argv[n] = NULL;
#define A(i) (i < n ? argv[i] : NULL)
    int rc = ldm_vk(err, sizeof err, A(0), A(1), A(2), A(3), A(4), A(5), A(6), A(7), A(8), A(9), A(10), A(11), A(12),
                    A(13), A(14), A(15), A(16), A(17), A(18), A(19), NULL);
#undef A
    ck_assert_msg(rc == cases[k].rc, "case %zu (%s): exit %d, not %d: %s", k, cases[k].want, rc, cases[k].rc, err);
    one_line(err, cases[k].want);
    struct stat st;
    ck_assert_msg(stat(out, &st) != 0, "case %zu wrote %s", k, out);
  }
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, latent_mask_pools_and_dilates);
  tcase_add_test(tc, feather_is_zero_outside_and_ramps_inside);
  tcase_add_test(tc, inputs_are_prepared_as_training_prepares_images);
  tcase_add_test(tc, paste_keeps_the_kept_pixels_byte_for_byte);
  tcase_add_test(tc, a_tiny_run_trains); /* first: the tests below use its run */
  tcase_add_test(tc, encoder_agrees_on_cpu_and_vulkan);
  tcase_add_test(tc, inpaint_cli_keeps_the_unmasked_pixels);
  tcase_add_test(tc, bad_inputs_give_one_line_errors);
  tcase_add_test(tc, cpu_and_vulkan_agree);
  tcase_add_test(tc, img2img_at_strength_0_is_the_vae_reconstruction);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_edit PATH/TO/ldm-vk\n");
    return 2;
  }
  exe = argv[1];
  snprintf(tmp, sizeof tmp, "/tmp/ldm-test-edit-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  bool cpu_only = getenv("LDM_TEST_CPU_ONLY") && atoi(getenv("LDM_TEST_CPU_ONLY")) != 0;
  ldm_vk_ctx *vk;
  have_vk = !cpu_only && ldm_vk_open("vk", &vk) == LDM_OK;
  if (have_vk) ldm_vk_close(vk);
  else if (!cpu_only && vk_test_required()) {
    fprintf(stderr, "LDM_REQUIRE_VULKAN=1 but no Vulkan device: %s\n", ldm_last_error());
    return 1;
  }
  if (!have_vk) fprintf(stderr, "no Vulkan device: the CPU-vs-Vulkan tests are skipped\n");
  int failed = ldm_test_run("edit", "edit", 300, true, add_tests);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (failed == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return failed ? 1 : 0;
}
