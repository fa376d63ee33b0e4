/* Run directories of the real binary (tiny CPU runs): config.json (strict JSON, the resolved settings,
 * the data's image count and class names, the device, ldm-vk's version; kept by --resume), the default
 * --out runs/<config>, metrics rows with timestamps and no device, the class names in the checkpoints
 * and `sample --class NAME`, the generation settings in the images, and `sample --out` types.
 * usage: test_rundir PATH/TO/ldm-vk */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <png.h>

#include "check_util.h"
#include "ldm/io.h"
#include "ldm/runinfo.h"
#include "ldm/version.h"
#include "report/json.h"

static const char *exe;
static char tmp[256];

/* Runs ldm-vk with the NULL-terminated arguments in directory cwd; stderr into err. Returns the exit
 * status (-1 for a signal). */
static int run(const char *cwd, char *err, size_t cap, ...) {
  char *argv[64];
  int n = 0;
  argv[n++] = (char *)exe;
  va_list ap;
  va_start(ap, cap);
  for (const char *a; n < 63 && (a = va_arg(ap, const char *)) != NULL;) argv[n++] = (char *)a;
  va_end(ap);
  argv[n] = NULL;
  char ep[400];
  snprintf(ep, sizeof ep, "%s/stderr.txt", tmp);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int fd = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int nul = open("/dev/null", O_WRONLY);
    if (fd < 0 || nul < 0 || dup2(fd, 2) < 0 || dup2(nul, 1) < 0 || chdir(cwd) != 0) _exit(126);
    setenv("LDM_THREADS", "2", 0);
    execv(exe, argv);
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

static const char *path_in(const char *a, const char *b) {
  static char buf[4][700];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, 700, "%s/%s", a, b);
  return p;
}

static void write_grey_png(const char *path, float v) {
  float img[16 * 16];
  for (int i = 0; i < 256; i++) img[i] = v + 0.1f * (float)(i % 16) / 16.0f;
  ck_assert_msg(ldm_png_write_image(path, img, 1, 16, 16, 0) == LDM_OK, "%s", ldm_last_error());
}

/* A folder dataset of 16x16 grey images: one sub-folder per name (none: unlabeled), 4 images each. */
static void make_folder(const char *dir, const char *const *names, int n) {
  ck_assert_int_eq(mkdir(dir, 0755), 0);
  for (int c = 0; c < (n ? n : 1); c++) {
    char sub[700];
    if (n) {
      snprintf(sub, sizeof sub, "%s/%s", dir, names[c]);
      ck_assert_int_eq(mkdir(sub, 0755), 0);
    } else {
      snprintf(sub, sizeof sub, "%s", dir);
    }
    for (int i = 0; i < 4; i++) {
      char p[800];
      snprintf(p, sizeof p, "%s/img%d.png", sub, i);
      write_grey_png(p, -0.8f + 0.3f * (float)c);
    }
  }
}

static void load_json(const char *path, ldm_json *j) {
  ck_assert_msg(ldm_json_parse_file(path, (size_t)16 << 20, false, j) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(j->type, LDM_JSON_OBJ);
}

static const ldm_json *member(const ldm_json *o, const char *key, ldm_json_type t) {
  const ldm_json *v = ldm_json_get(o, key);
  ck_assert_msg(v != NULL, "config.json has no \"%s\"", key);
  ck_assert_msg(v->type == t, "config.json: \"%s\" has type %d, not %d", key, (int)v->type, (int)t);
  return v;
}

static double num(const ldm_json *o, const char *key) { return member(o, key, LDM_JSON_NUM)->num; }

/* "2026-12-01T21:01:20.123Z" */
static bool iso_ms(const char *s) {
  static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (strlen(s) != sizeof pat - 1) return false;
  for (size_t i = 0; pat[i]; i++)
    if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i]) return false;
  return true;
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)len + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  b[len] = 0;
  fclose(f);
  if (n) *n = (size_t)len;
  return b;
}

/* every metrics row: a "time" (ISO 8601 UTC, ms) and a non-decreasing "elapsed_s"; no device */
static double check_metrics(const char *run_dir) {
  size_t n;
  char *b = slurp(path_in(run_dir, "metrics.jsonl"), &n);
  double last = 0;
  int rows = 0;
  for (char *line = b; *line;) {
    char *nl = strchr(line, '\n');
    ck_assert_ptr_nonnull(nl);
    ldm_json r;
    ldm_json_opts o = {"metrics.jsonl", rows + 1, false};
    ck_assert_msg(ldm_json_parse(line, (size_t)(nl - line), &o, &r) == LDM_OK, "%s", ldm_last_error());
    const char *t = ldm_json_get_str(&r, "time");
    ck_assert_msg(t && iso_ms(t), "row %d: time %s", rows + 1, t ? t : "(none)");
    double e;
    ck_assert_msg(ldm_json_get_num(&r, "elapsed_s", &e) && e >= last - 1e-3, "row %d: elapsed_s", rows + 1);
    last = e;
    ck_assert_ptr_null(ldm_json_get(&r, "device"));
    ldm_json_free(&r);
    rows++;
    line = nl + 1;
  }
  ck_assert_int_gt(rows, 0);
  free(b);
  return last;
}

/* the value of a PNG text chunk, via libpng (NULL if absent; malloc'd) */
static char *text_chunk(const char *path, const char *key) {
  FILE *fp = fopen(path, "rb");
  ck_assert_msg(fp != NULL, "cannot open %s", path);
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  ck_assert(png && info);
  ck_assert_int_eq(setjmp(png_jmpbuf(png)), 0);
  png_init_io(png, fp);
  png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  png_textp t = NULL;
  int nt = 0;
  png_get_text(png, info, &t, &nt);
  char *v = NULL;
  for (int i = 0; i < nt && !v; i++)
    if (strcmp(t[i].key, key) == 0) v = strdup(t[i].text);
  png_destroy_read_struct(&png, &info, NULL);
  fclose(fp);
  return v;
}

static void assert_one_line(const char *err) {
  size_t l = strlen(err);
  ck_assert_msg(l > 0 && strchr(err, '\n') == err + l - 1, "not one line: '%s'", err);
}

/* A labeled folder with odd class names, trained with the default --out */
START_TEST(config_json_and_class_names) {
  static char err[65536];
  const char *names[] = {"Cat \"quoted\"", "back\\slash", "new\nline", "caf\xc3\xa9 \xf0\x9f\x98\x80", "dog"};
  const char *sorted[] = {"Cat \"quoted\"", "back\\slash", "caf\xc3\xa9 \xf0\x9f\x98\x80", "dog", "new\nline"};
  char data[400], work[400];
  snprintf(data, sizeof data, "%s/odd", tmp);
  snprintf(work, sizeof work, "%s/work", tmp);
  make_folder(data, names, 5);
  ck_assert_int_eq(mkdir(work, 0755), 0);
  int rc = run(work, err, sizeof err, "train", "--config", "tiny", "--device", "cpu", "--data", data, "--vae-steps", "3",
               "--unet-steps", "2", "--batch", "4", "--log-every", "1", "--sample-steps", "2", "--quiet", NULL);
  ck_assert_msg(rc == 0, "train exit %d: %s", rc, err);
  char run_dir[500];
  snprintf(run_dir, sizeof run_dir, "%s/runs/tiny", work); /* the default --out: runs/<config> */
  char cfg[600];
  snprintf(cfg, sizeof cfg, "%s/config.json", run_dir);
  ldm_json j;
  load_json(cfg, &j);
  ck_assert_str_eq(member(&j, "ldm_vk_version", LDM_JSON_STR)->str, ldm_version());
  ck_assert_str_eq(member(&j, "git_revision", LDM_JSON_STR)->str, ldm_version_git());
  ck_assert(iso_ms(member(&j, "created", LDM_JSON_STR)->str));
  ck_assert_ptr_nonnull(strstr(member(&j, "device", LDM_JSON_STR)->str, "CPU reference backend"));
  ck_assert_str_eq(member(&j, "config", LDM_JSON_STR)->str, "tiny");
  const ldm_json *d = member(&j, "data", LDM_JSON_OBJ);
  ck_assert_str_eq(member(d, "source", LDM_JSON_STR)->str, data);
  ck_assert(num(d, "images") == 20);
  const ldm_json *cl = member(d, "classes", LDM_JSON_ARR);
  ck_assert_uint_eq(cl->n, 5);
  for (int i = 0; i < 5; i++) ck_assert_str_eq(cl->items[i].str, sorted[i]);
  const ldm_json *t = member(&j, "train", LDM_JSON_OBJ);
  ck_assert(num(t, "vae_steps") == 3 && num(t, "unet_steps") == 2 && num(t, "batch") == 4);
  ck_assert((float)num(t, "vae_lr") == 2e-4f); /* the resolved value: the shortest text of the float */
  ck_assert(num(member(&j, "model", LDM_JSON_OBJ), "classes") == 5);
  ck_assert_str_eq(member(member(&j, "diffusion", LDM_JSON_OBJ), "schedule", LDM_JSON_STR)->str, "linear");
  ldm_json_free(&j);
  char *text = slurp(cfg, NULL);
  ck_assert_msg(strstr(text, "\n  \"data\": {\n    \"source\": ") != NULL, "not pretty-printed:\n%s", text);
  ck_assert_ptr_nonnull(strstr(text, "\"Cat \\\"quoted\\\"\", \"back\\\\slash\""));
  double elapsed = check_metrics(run_dir);

  /* the checkpoints carry the names */
  ldm_st_file *f;
  ck_assert_int_eq(ldm_st_open(path_in(run_dir, "unet.safetensors"), &f), LDM_OK);
  char **cn;
  int ncn;
  ck_assert_msg(ldm_ckpt_read_classes(f, 5, &cn, &ncn) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(ncn, 5);
  for (int i = 0; i < 5; i++) ck_assert_str_eq(cn[i], sorted[i]);
  ldm_classes_free(cn, ncn);
  ldm_st_close(f);

  /* training grids carry their settings */
  char *v = text_chunk(path_in(run_dir, "samples.png"), "stage");
  ck_assert_msg(v && strcmp(v, "unet") == 0, "samples.png stage %s", v ? v : "(none)");
  free(v);
  v = text_chunk(path_in(run_dir, "samples/vae_recon_000003.png"), "step");
  ck_assert_msg(v && strcmp(v, "3") == 0, "vae grid step %s", v ? v : "(none)");
  free(v);

  /* sample --class NAME, ignoring case, into a PNG with its settings and into a JPEG */
  char grid[600], jpg[600];
  snprintf(grid, sizeof grid, "%s/cat.png", tmp);
  rc = run(work, err, sizeof err, "sample", "--device", "cpu", "--ckpt", "runs/tiny", "--class", "CAT \"QUOTED\"", "--n",
           "2", "--steps", "2", "--seed", "9", "--out", grid, NULL);
  ck_assert_msg(rc == 0, "sample exit %d: %s", rc, err);
  static const char *const want[][2] = {{"class", "0 Cat \"quoted\""}, {"seed", "9"}, {"sampler", "ddim"}, {"steps", "2"},
                                        {"guidance", "2"}, {"eta", "0"}, {"checkpoint", "runs/tiny"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    v = text_chunk(grid, want[i][0]);
    ck_assert_msg(v && strcmp(v, want[i][1]) == 0, "%s: %s is %s, not %s", grid, want[i][0], v ? v : "(none)", want[i][1]);
    free(v);
  }
  v = text_chunk(grid, "Software");
  ck_assert_msg(v && strstr(v, ldm_version()), "Software %s", v ? v : "(none)");
  free(v);
  snprintf(jpg, sizeof jpg, "%s/cafe.JPG", tmp);
  rc = run(work, err, sizeof err, "sample", "--device", "cpu", "--ckpt", "runs/tiny", "--class", "CAF\xc3\xa9 \xf0\x9f\x98\x80",
           "--n", "2", "--steps", "2", "--out", jpg, NULL);
  ck_assert_msg(rc == 0, "sample exit %d: %s", rc, err);
  size_t jn;
  char *jb = slurp(jpg, &jn);
  ck_assert(jn > 3 && (unsigned char)jb[0] == 0xff && (unsigned char)jb[1] == 0xd8);
  ck_assert_ptr_nonnull(memmem(jb, jn, "class: 2 caf\xc3\xa9", 14));
  free(jb);
  uint8_t *px;
  int w, h, ch;
  ck_assert_msg(ldm_image_load(jpg, 0, &px, &w, &h, &ch) == LDM_OK, "%s", ldm_last_error());
  ck_assert(w == 2 * 18 + 2 && h == 18 + 2 && ch == 1); /* two 16x16 tiles in a row */
  free(px);
  /* --out-dir --format jpg */
  rc = run(work, err, sizeof err, "sample", "--device", "cpu", "--ckpt", "runs/tiny", "--class", "new\nline", "--n", "1",
           "--steps", "2", "--out-dir", path_in(tmp, "imgs"), "--format", "jpg", NULL);
  ck_assert_msg(rc == 0, "sample exit %d: %s", rc, err);
  ck_assert_int_eq(access(path_in(tmp, "imgs/4_0.jpg"), F_OK), 0);

  /* an unknown name: one line listing the names, exit 2; an unknown --out type: exit 2 before any work */
  rc = run(work, err, sizeof err, "sample", "--device", "cpu", "--ckpt", "runs/tiny", "--class", "horse", "--out",
           path_in(tmp, "h.png"), NULL);
  ck_assert_int_eq(rc, 2);
  assert_one_line(err);
  ck_assert_msg(strstr(err, "--class horse") && strstr(err, "back\\slash") && strstr(err, "dog, new?line"), "%s", err);
  ck_assert_int_ne(access(path_in(tmp, "h.png"), F_OK), 0);
  rc = run(work, err, sizeof err, "sample", "--device", "cpu", "--ckpt", "runs/tiny", "--out", path_in(tmp, "g.webp"),
           NULL);
  ck_assert_int_eq(rc, 2);
  assert_one_line(err);
  ck_assert_msg(strstr(err, "--out") && strstr(err, ".webp"), "%s", err);
  ck_assert_msg(!strstr(err, "backend"), "the backend was opened before the check: %s", err);
  ck_assert_int_ne(access(path_in(tmp, "g.webp"), F_OK), 0);

  /* a weights file rebuilt from its state file (a run killed between the two) keeps the names */
  ck_assert_int_eq(unlink(path_in(run_dir, "unet.safetensors")), 0);
  rc = run(work, err, sizeof err, "sample", "--device", "cpu", "--ckpt", "runs/tiny", "--class", "Dog", "--n", "1",
           "--steps", "2", "--out", path_in(tmp, "dog.png"), NULL);
  ck_assert_msg(rc == 0, "sample exit %d: %s", rc, err);
  v = text_chunk(path_in(tmp, "dog.png"), "class");
  ck_assert_msg(v && strcmp(v, "3 dog") == 0, "class %s", v ? v : "(none)");
  free(v);

  /* --resume keeps config.json as it was, and says what differs; elapsed_s goes on */
  char *before = slurp(cfg, NULL);
  rc = run(work, err, sizeof err, "train", "--config", "tiny", "--device", "cpu", "--data", data, "--vae-steps", "3",
           "--unet-steps", "4", "--batch", "4", "--log-every", "1", "--sample-steps", "2", "--quiet", "--resume", NULL);
  ck_assert_msg(rc == 0, "resume exit %d: %s", rc, err);
  char *after = slurp(cfg, NULL);
  ck_assert_str_eq(after, before);
  ck_assert_msg(strstr(err, "train.unet_steps = 4") && strstr(err, "started with 2"), "%s", err);
  ck_assert(check_metrics(run_dir) >= elapsed);
  free(after);
  /* a damaged config.json stops a --resume (exit 1, naming it) and is left as it is */
  FILE *cf = fopen(cfg, "w");
  ck_assert_ptr_nonnull(cf);
  fputs("{\"config\": \"tiny\",", cf);
  fclose(cf);
  rc = run(work, err, sizeof err, "train", "--config", "tiny", "--device", "cpu", "--data", data, "--vae-steps", "3",
           "--unet-steps", "4", "--batch", "4", "--quiet", "--resume", NULL);
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(err, "config.json"), "%s", err);
  after = slurp(cfg, NULL);
  ck_assert_str_eq(after, "{\"config\": \"tiny\",");
  free(after);
  free(before);
  free(text);
}
END_TEST

/* Unlabeled data: no class names anywhere; a name for --class is a usage error */
START_TEST(unlabeled_run_has_no_classes) {
  static char err[65536];
  char data[400], out[400];
  snprintf(data, sizeof data, "%s/flat", tmp);
  snprintf(out, sizeof out, "%s/flat_run", tmp);
  make_folder(data, NULL, 0);
  int rc = run(tmp, err, sizeof err, "train", "--config", "tiny", "--device", "cpu", "--data", data, "--vae-steps", "2",
               "--unet-steps", "1", "--batch", "4", "--sample-steps", "2", "--quiet", "--out", out, NULL);
  ck_assert_msg(rc == 0, "train exit %d: %s", rc, err);
  ldm_json j;
  load_json(path_in(out, "config.json"), &j);
  const ldm_json *d = member(&j, "data", LDM_JSON_OBJ);
  ck_assert_uint_eq(member(d, "classes", LDM_JSON_ARR)->n, 0);
  ck_assert(num(d, "images") == 4);
  ldm_json_free(&j);
  ldm_st_file *f;
  ck_assert_int_eq(ldm_st_open(path_in(out, "unet.safetensors"), &f), LDM_OK);
  ck_assert_ptr_null(ldm_st_meta(f, "ldm.classes"));
  ldm_st_close(f);
  /* the folder of --out is made (before any work), as --out-dir is */
  rc = run(tmp, err, sizeof err, "sample", "--device", "cpu", "--ckpt", out, "--n", "1", "--steps", "2", "--out",
           path_in(tmp, "new/sub/u.png"), NULL);
  ck_assert_msg(rc == 0 && access(path_in(tmp, "new/sub/u.png"), R_OK) == 0, "sample --out into a new folder: %d %s", rc,
                err);
  rc = run(tmp, err, sizeof err, "sample", "--device", "cpu", "--ckpt", out, "--class", "dog", "--out",
           path_in(tmp, "u.png"), NULL);
  ck_assert_int_eq(rc, 2);
  assert_one_line(err);
  ck_assert_msg(strstr(err, "--class dog") && strstr(err, "names no classes"), "%s", err);
}
END_TEST

/* Fashion-MNIST: its ten names */
START_TEST(fmnist_class_names) {
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) return;
  static char err[65536];
  char out[400];
  snprintf(out, sizeof out, "%s/fm", tmp);
  int rc = run(tmp, err, sizeof err, "train", "--config", "tiny", "--device", "cpu", "--vae-steps", "1", "--unet-steps",
               "1", "--batch", "4", "--limit-images", "16", "--sample-steps", "2", "--quiet", "--out", out, NULL);
  ck_assert_msg(rc == 0, "train exit %d: %s", rc, err);
  static const char *const fm[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  ldm_json j;
  load_json(path_in(out, "config.json"), &j);
  const ldm_json *d = member(&j, "data", LDM_JSON_OBJ);
  const ldm_json *cl = member(d, "classes", LDM_JSON_ARR);
  ck_assert_uint_eq(cl->n, 10);
  for (int i = 0; i < 10; i++) ck_assert_str_eq(cl->items[i].str, fm[i]);
  ck_assert(num(d, "images") == 16);
  ldm_json_free(&j);
  rc = run(tmp, err, sizeof err, "sample", "--device", "cpu", "--ckpt", out, "--class", "ankle boot", "--n", "1",
           "--steps", "2", "--out-dir", path_in(tmp, "boots"), NULL);
  ck_assert_msg(rc == 0, "sample exit %d: %s", rc, err);
  char *v = text_chunk(path_in(tmp, "boots/9_0.png"), "class");
  ck_assert_msg(v && strcmp(v, "9 Ankle boot") == 0, "class %s", v ? v : "(none)");
  free(v);
}
END_TEST

/* An explicit value wins over the preset's, also when it equals the full preset's default (the quick
 * preset of fmnist has lr 1e-3, warm-up 100, EMA 0.995; the full one 2e-4, 500, 0.999) */
START_TEST(explicit_values_beat_the_preset) {
  static char err[65536];
  const char *names[] = {"a", "b"};
  char data[400], out[400];
  snprintf(data, sizeof data, "%s/preset_data", tmp);
  snprintf(out, sizeof out, "%s/preset_run", tmp);
  make_folder(data, names, 2);
  int rc = run(tmp, err, sizeof err, "train", "--config", "fmnist", "--preset", "quick", "--device", "cpu", "--data",
               data, "--vae-lr", "2e-4", "--warmup", "500", "--ema", "0.999", "--vae-steps", "1", "--unet-steps", "1",
               "--batch", "4", "--sample-steps", "2", "--quiet", "--out", out, NULL);
  ck_assert_msg(rc == 0, "train exit %d: %s", rc, err);
  ldm_json j;
  load_json(path_in(out, "config.json"), &j);
  ck_assert_str_eq(member(&j, "preset", LDM_JSON_STR)->str, "quick");
  const ldm_json *t = member(&j, "train", LDM_JSON_OBJ);
  ck_assert_msg((float)num(t, "vae_lr") == 2e-4f, "vae_lr %g", num(t, "vae_lr"));  /* given */
  ck_assert_msg((float)num(t, "unet_lr") == 1e-3f, "unet_lr %g", num(t, "unet_lr")); /* the quick preset's */
  ck_assert(num(t, "warmup") == 500);
  ck_assert((float)num(t, "ema_decay") == 0.999f);
  ldm_json_free(&j);
}
END_TEST

/* More classes than a sample grid shows: the first 16, one row each (not a grid of every class) */
START_TEST(many_classes_grid_shows_sixteen) {
  static char err[65536];
  const char *names[17] = {"c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08",
                           "c09", "c10", "c11", "c12", "c13", "c14", "c15", "c16"};
  char data[400], out[400];
  snprintf(data, sizeof data, "%s/many", tmp);
  snprintf(out, sizeof out, "%s/many_run", tmp);
  make_folder(data, names, 17);
  int rc = run(tmp, err, sizeof err, "train", "--config", "tiny", "--device", "cpu", "--data", data, "--vae-steps", "1",
               "--unet-steps", "1", "--batch", "4", "--sample-steps", "2", "--quiet", "--out", out, NULL);
  ck_assert_msg(rc == 0, "train exit %d: %s", rc, err);
  uint8_t *px;
  int w, h, sc;
  ck_assert_msg(ldm_image_load(path_in(out, "samples.png"), 1, &px, &w, &h, &sc) == LDM_OK, "%s", ldm_last_error());
  free(px);
  uint8_t *px2;
  int w2, h2;
  ck_assert_msg(ldm_image_load(path_in(out, "samples/unet_000001.png"), 1, &px2, &w2, &h2, &sc) == LDM_OK, "%s",
                ldm_last_error());
  free(px2);
  ck_assert_int_eq(w, w2);
  ck_assert_int_eq(h, h2);
  char *v = text_chunk(path_in(out, "samples.png"), "class");
  ck_assert_msg(v && strstr(v, "first 16"), "class %s", v ? v : "(none)");
  free(v);
  /* 16 rows of 8 cells (a cell of the tiny config: 16 pixels and a 2-pixel border), not 17 rows */
  ck_assert_msg(w == 8 * 16 + 9 * 2 && h == 16 * 16 + 17 * 2, "grid %dx%d is not 16 rows of 8", w, h);
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, config_json_and_class_names);
  tcase_add_test(tc, unlabeled_run_has_no_classes);
  tcase_add_test(tc, fmnist_class_names);
  tcase_add_test(tc, explicit_values_beat_the_preset);
  tcase_add_test(tc, many_classes_grid_shows_sixteen);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_rundir PATH/TO/ldm-vk\n");
    return 2;
  }
  static char abs_exe[4096];
  exe = realpath(argv[1], abs_exe) ? abs_exe : argv[1]; /* the runs chdir */
  snprintf(tmp, sizeof tmp, "/tmp/ldm-test-rundir-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  int failed = ldm_test_run("rundir", "rundir", 600, true, add_tests);
  if (!failed) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  }
  return failed ? 1 : 0;
}
