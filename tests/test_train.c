/* End to end on the `tiny` config: both stages train (losses fall) on the CPU backend and on Vulkan,
 * the two backends agree over the first steps, stop -> --resume continues with bitwise the same
 * losses, and corrupted checkpoints / datasets give clear errors and exit codes. */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check_util.h"
#include "ldm/io.h"
#include "ldm/ops.h"
#include "ldm/train.h"
#include "ldm/vk.h"
#include "vk_test_util.h"

static const ldm_backend cpu_backend = {LDM_BACKEND_CPU, NULL, "CPU reference backend"};

static const char *exe; /* the ldm-vk binary (argv[1]) */
static char tmp[256];
static bool have_vk;
static bool have_data;

static void opts(ldm_train_opts *o, const char *out, const char *device, int vae_steps, int unet_steps) {
  ldm_train_defaults(o);
  snprintf(o->config, sizeof o->config, "tiny");
  snprintf(o->out, sizeof o->out, "%s/%s", tmp, out);
  snprintf(o->device, sizeof o->device, "%s", device);
  o->vae_steps = vae_steps;
  o->unet_steps = unet_steps;
  o->batch = 8;
  o->limit_images = 256;
  o->log_every = 1;
  o->sample_steps = 5;
  o->sample_every = 0;
  o->ckpt_every = 1000;
  o->warmup = 5;
  o->vae_lr = 2e-3f;
  o->unet_lr = 1e-3f;
  o->quiet = true;
}

/* losses of a stage from metrics.jsonl, indexed by step (1-based), NAN where absent */
static int read_losses(const char *run, const char *stage, double *out, int max) {
  char p[512], line[512];
  snprintf(p, sizeof p, "%s/%s/metrics.jsonl", tmp, run);
  FILE *f = fopen(p, "r");
  ck_assert_msg(f != NULL, "no %s", p);
  for (int i = 0; i <= max; i++) out[i] = NAN;
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    char st[16];
    long step;
    double loss;
    if (sscanf(line, "{\"stage\":\"%15[^\"]\",\"step\":%ld,\"loss\":%lf", st, &step, &loss) == 3 &&
        strcmp(st, stage) == 0 && step >= 1 && step <= max) {
      out[step] = loss;
      n++;
    }
  }
  fclose(f);
  return n;
}

static double mean(const double *v, int a, int b) {
  double s = 0;
  for (int i = a; i <= b; i++) s += v[i];
  return s / (b - a + 1);
}

START_TEST(tiny_trains_on_cpu_and_vulkan_agree) {
  if (!have_data) return;
  ldm_train_opts o;
  opts(&o, "cpu", "cpu", 40, 60);
  ck_assert_msg(ldm_train(&o, NULL) == LDM_OK, "%s", ldm_last_error());
  double v[61], u[61];
  ck_assert_int_eq(read_losses("cpu", "vae", v, 60), 40);
  ck_assert_int_eq(read_losses("cpu", "unet", u, 60), 60);
  ck_assert_msg(mean(v, 36, 40) < 0.7 * mean(v, 1, 5), "VAE loss did not fall: %g -> %g", mean(v, 1, 5), mean(v, 36, 40));
  ck_assert_msg(mean(u, 51, 60) < 0.9 * mean(u, 1, 10), "UNet loss did not fall: %g -> %g", mean(u, 1, 10),
                mean(u, 51, 60));
  char p[512];
  snprintf(p, sizeof p, "%s/cpu/samples.png", tmp);
  ck_assert_msg(access(p, R_OK) == 0, "no final sample grid");
  if (!have_vk) return;
  opts(&o, "vk", "vk", 40, 60);
  ck_assert_msg(ldm_train(&o, NULL) == LDM_OK, "%s", ldm_last_error());
  double vv[61], uu[61];
  ck_assert_int_eq(read_losses("vk", "vae", vv, 60), 40);
  ck_assert_int_eq(read_losses("vk", "unet", uu, 60), 60);
  for (int k = 1; k <= 5; k++) {
    ck_assert_msg(fabs(vv[k] - v[k]) <= 1e-3 * fabs(v[k]), "VAE step %d: cpu %.9g vulkan %.9g", k, v[k], vv[k]);
    ck_assert_msg(fabs(uu[k] - u[k]) <= 1e-3 * fabs(u[k]), "UNet step %d: cpu %.9g vulkan %.9g", k, u[k], uu[k]);
  }
  ck_assert_msg(mean(uu, 51, 60) < 0.9 * mean(uu, 1, 10), "Vulkan UNet loss did not fall");
  ck_assert_uint_eq(ldm_vk_validation_messages(), 0);
}
END_TEST

START_TEST(resume_is_bitwise_identical) {
  if (!have_data) return;
  ldm_train_opts o;
  opts(&o, "full", "cpu", 20, 30);
  ck_assert_msg(ldm_train(&o, NULL) == LDM_OK, "%s", ldm_last_error());
  /* the same run stopped after 15 UNet steps, then resumed to 30 */
  opts(&o, "split", "cpu", 20, 15);
  ck_assert_msg(ldm_train(&o, NULL) == LDM_OK, "%s", ldm_last_error());
  opts(&o, "split", "cpu", 20, 30);
  o.resume = true;
  ck_assert_msg(ldm_train(&o, NULL) == LDM_OK, "%s", ldm_last_error());
  double a[31], b[31];
  read_losses("full", "unet", a, 30);
  read_losses("split", "unet", b, 30);
  for (int k = 1; k <= 30; k++) ck_assert_msg(a[k] == b[k], "UNet step %d: %.9g uninterrupted, %.9g resumed", k, a[k], b[k]);
}
END_TEST

/* The recipe options (docs/design.md, "Default recipe"): each trains and samples to finite values. */
START_TEST(training_options_run) {
  if (!have_data) return;
  static const struct {
    const char *name, *schedule, *prediction, *lr_schedule;
    bool zero_snr, ema_warmup;
    float min_snr, offset;
  } cases[] = {
      {"v_zero_snr", "linear", "v", "constant", true, false, 0, 0},
      {"min_snr", "linear", "eps", "constant", false, false, 5.0f, 0},
      {"offset_ema_cosine_lr", "linear", "eps", "cosine", false, true, 0, 0.1f},
      {"cosine_schedule", "cosine", "eps", "constant", false, false, 0, 0},
      {"scaled_linear_v_min_snr", "scaled_linear", "v", "constant", false, false, 5.0f, 0},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ldm_train_opts o;
    char out[64];
    snprintf(out, sizeof out, "opt_%s", cases[k].name);
    opts(&o, out, "cpu", 5, 20);
    snprintf(o.schedule, sizeof o.schedule, "%s", cases[k].schedule);
    snprintf(o.prediction, sizeof o.prediction, "%s", cases[k].prediction);
    snprintf(o.lr_schedule, sizeof o.lr_schedule, "%s", cases[k].lr_schedule);
    o.zero_snr = cases[k].zero_snr;
    o.ema_warmup = cases[k].ema_warmup;
    o.min_snr_gamma = cases[k].min_snr;
    o.offset_noise = cases[k].offset;
    ck_assert_msg(ldm_train(&o, NULL) == LDM_OK, "%s: %s", cases[k].name, ldm_last_error());
    double u[21];
    ck_assert_int_eq(read_losses(out, "unet", u, 20), 20);
    for (int i = 1; i <= 20; i++) ck_assert_msg(isfinite(u[i]), "%s: step %d loss %g", cases[k].name, i, u[i]);
    for (int sampler = 0; sampler < 2; sampler++) {
      ldm_sample_opts so;
      ldm_sample_defaults(&so);
      snprintf(so.ckpt, sizeof so.ckpt, "%s", o.out);
      so.n = 3;
      so.steps = 6;
      so.sampler = sampler;
      so.eta = sampler ? 0.0f : 0.5f;
      float *imgs;
      int *labels;
      ldm_model_cfg c;
      ck_assert_msg(ldm_sample(&cpu_backend, &so, &imgs, &labels, &c) == LDM_OK, "%s: %s", cases[k].name, ldm_last_error());
      for (int64_t i = 0; i < (int64_t)so.n * c.cin * c.res * c.res; i++)
        ck_assert_msg(isfinite(imgs[i]), "%s: sampler %d gave a non-finite pixel", cases[k].name, sampler);
      free(imgs);
      free(labels);
    }
  }
}
END_TEST

static int run_cli(const char *args, char *err, size_t errlen) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s 2>%s/stderr.txt >/dev/null", exe, args, tmp);
  int rc = system(cmd);
  char p[512];
  snprintf(p, sizeof p, "%s/stderr.txt", tmp);
  FILE *f = fopen(p, "r");
  err[0] = 0;
  if (f) {
    size_t n = fread(err, 1, errlen - 1, f);
    err[n] = 0;
    fclose(f);
  }
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(corrupt_inputs_give_clear_errors) {
  if (!have_data) return;
  ldm_train_opts o;
  opts(&o, "corrupt", "cpu", 5, 5);
  ck_assert_msg(ldm_train(&o, NULL) == LDM_OK, "%s", ldm_last_error());
  char p[512], args[1024], err[4096];
  /* truncate the UNet weights: sample must say which file is broken */
  snprintf(p, sizeof p, "%s/corrupt/unet.safetensors", tmp);
  ck_assert_int_eq(truncate(p, 100), 0);
  snprintf(args, sizeof args, "sample --device cpu --ckpt %s/corrupt --n 2 --out %s/x.png", tmp, tmp);
  ck_assert_int_eq(run_cli(args, err, sizeof err), 1);
  ck_assert_msg(strstr(err, "unet.safetensors") != NULL, "message does not name the file: %s", err);
  /* a checkpoint from another config cannot be resumed */
  opts(&o, "corrupt", "cpu", 5, 5);
  o.resume = true;
  snprintf(o.config, sizeof o.config, "fmnist");
  snprintf(o.preset, sizeof o.preset, "full");
  o.batch = 8;
  ck_assert_int_eq(ldm_train(&o, NULL), LDM_ERR_MISMATCH);
  /* a truncated dataset */
  char d[512];
  snprintf(d, sizeof d, "%s/baddata", tmp);
  ck_assert_int_eq(mkdir(d, 0755), 0);
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", d);
  gzFile gz = gzopen(p, "wb");
  unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28};
  gzwrite(gz, hdr, sizeof hdr);
  gzwrite(gz, hdr, 10); /* 100 images promised, 10 bytes given */
  gzclose(gz);
  snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", d); /* valid labels: the images are what is broken */
  gz = gzopen(p, "wb");
  unsigned char lhdr[8] = {0, 0, 8, 1, 0, 0, 0, 100}, labels[100] = {0};
  gzwrite(gz, lhdr, sizeof lhdr);
  gzwrite(gz, labels, sizeof labels);
  gzclose(gz);
  snprintf(args, sizeof args, "train --device cpu --config tiny --data %s --out %s/r", d, tmp);
  ck_assert_int_eq(run_cli(args, err, sizeof err), 1);
  ck_assert_msg(strstr(err, "train-images-idx3-ubyte.gz") != NULL, "message does not name the file: %s", err);
  /* a missing dataset and an unknown flag */
  snprintf(args, sizeof args, "train --device cpu --data %s/nonexistent --out %s/r2", tmp, tmp);
  ck_assert_int_eq(run_cli(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "nonexistent"));
  ck_assert_int_eq(run_cli("train --bogus", err, sizeof err), 2);
  ck_assert_ptr_nonnull(strstr(err, "--bogus"));
}
END_TEST

/* ---------------------------------------------------------------- checkpoints, run directories, signals */

/* ldm-vk train on the tiny config (CPU) into tmp/dir with extra flags; LDM_TEST_FAULT = fault (or none) */
static int train_cli(const char *fault, const char *dir, const char *extra, char *err, size_t errlen) {
  char args[1024];
  snprintf(args, sizeof args,
           "train --config tiny --device cpu --out %s/%s --batch 4 --limit-images 64 --log-every 1 --sample-steps 2 "
           "--warmup 5 --quiet %s",
           tmp, dir, extra);
  if (fault) setenv("LDM_TEST_FAULT", fault, 1);
  int rc = run_cli(args, err, errlen);
  unsetenv("LDM_TEST_FAULT");
  return rc;
}

static void run_path(char *p, size_t n, const char *run, const char *name) { snprintf(p, n, "%s/%s/%s", tmp, run, name); }

/* ldm.step of a file of a run directory; -1 when the file is missing */
static long long file_step(const char *run, const char *name) {
  char p[512];
  run_path(p, sizeof p, run, name);
  if (access(p, F_OK) != 0) return -1;
  ldm_st_file *f;
  ck_assert_msg(ldm_st_open(p, &f) == LDM_OK, "%s", ldm_last_error());
  const char *v = ldm_st_meta(f, "ldm.step");
  ck_assert_msg(v != NULL, "%s has no ldm.step", p);
  long long s = atoll(v);
  ldm_st_close(f);
  return s;
}

/* every F32 number of the file finite and |x| < 1e20 */
static void assert_sane_file(const char *run, const char *name) {
  char p[512];
  run_path(p, sizeof p, run, name);
  ldm_st_file *f;
  ck_assert_msg(ldm_st_open(p, &f) == LDM_OK, "%s", ldm_last_error());
  for (int i = 0; i < ldm_st_count(f); i++) {
    const ldm_st_tensor *t = ldm_st_at(f, i);
    if (t->dtype != LDM_DT_F32) continue;
    const float *x = t->data;
    for (size_t k = 0; k < t->numel; k++)
      ck_assert_msg(isfinite(x[k]) && fabsf(x[k]) < 1e20f, "%s: %s[%zu] = %g", p, t->name, k, (double)x[k]);
  }
  ldm_st_close(f);
}

static char *slurp(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)len + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  b[len] = 0;
  fclose(f);
  if (n) *n = (size_t)len;
  return b;
}

static bool same_file(const char *a, const char *b) {
  size_t na, nb;
  char *x = slurp(a, &na), *y = slurp(b, &nb);
  bool same = x && y && na == nb && memcmp(x, y, na) == 0;
  free(x);
  free(y);
  return same;
}

static void copy_file(const char *from, const char *to) {
  size_t n;
  char *b = slurp(from, &n);
  ck_assert_msg(b != NULL, "cannot read %s", from);
  FILE *f = fopen(to, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fwrite(b, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
  free(b);
}

/* metrics rows per step of a stage (index 1..max), and the number of rows that are not complete lines */
static int metrics_rows(const char *run, const char *stage, int *count, int max) {
  char p[512];
  run_path(p, sizeof p, run, "metrics.jsonl");
  char *b = slurp(p, NULL);
  ck_assert_msg(b != NULL, "no %s", p);
  for (int i = 0; i <= max; i++) count[i] = 0;
  int bad = 0;
  for (char *line = b; *line;) {
    char *nl = strchr(line, '\n');
    char st[16];
    long step;
    if (!nl || sscanf(line, "{\"stage\":\"%15[^\"]\",\"step\":%ld,", st, &step) != 2) bad++;
    else if (strcmp(st, stage) == 0 && step >= 1 && step <= max) count[step]++;
    line = nl ? nl + 1 : line + strlen(line);
  }
  free(b);
  return bad;
}

/* 6: a run that goes non-finite never writes non-finite (or blown-up) weights, ends non-zero (3), and its
 * metrics stay JSON */
START_TEST(nonfinite_runs_keep_the_files_sane) {
  if (!have_data) return;
  char err[8192];
  /* the update of UNet step 4 blows the weights up to ~1e30; step 4 is a checkpoint step */
  int rc = train_cli("unet:explode:4", "nf_explode", "--vae-steps 3 --unet-steps 10 --ckpt-every 2 --sample-every 3",
                     err, sizeof err);
  ck_assert_msg(rc == 3, "exit %d, not 3: %s", rc, err);
  ck_assert_msg(strstr(err, "blew up") && strstr(err, "the last checkpoint (step 3) is intact"), "%s", err);
  const char *files[] = {"vae.safetensors", "state_vae.safetensors", "unet.safetensors", "state_unet.safetensors"};
  for (int i = 0; i < 4; i++) assert_sane_file("nf_explode", files[i]);
  ck_assert_int_eq(file_step("nf_explode", "state_unet.safetensors"), 3); /* the sample grid's checkpoint */
  ck_assert_int_eq(file_step("nf_explode", "unet.safetensors"), 3);
  /* an explosion at step 5 and five non-finite steps after it, to the end of the stage (fewer than 20): the
   * sample grids of steps 6 and 9 and the final checkpoint must not happen, and the exit is not 0 */
  rc = train_cli("unet:explode:5,unet:nan:6:5", "nf_tail", "--vae-steps 3 --unet-steps 10 --ckpt-every 4 --sample-every 3",
                 err, sizeof err);
  ck_assert_msg(rc == 3, "exit %d, not 3: %s", rc, err);
  ck_assert_msg(strstr(err, "5 non-finite steps skipped"), "the skipped steps are not counted: %s", err);
  for (int i = 0; i < 4; i++) assert_sane_file("nf_tail", files[i]);
  ck_assert_int_eq(file_step("nf_tail", "state_unet.safetensors"), 4);
  ck_assert_int_eq(file_step("nf_tail", "unet.safetensors"), 4);
  char p[512];
  run_path(p, sizeof p, "nf_tail", "samples/unet_000006.png");
  ck_assert_msg(access(p, F_OK) != 0, "a sample grid of a non-finite step was written");
  run_path(p, sizeof p, "nf_tail", "samples.png");
  ck_assert_msg(access(p, F_OK) != 0, "a final sample grid was written for a run that did not finish");
  /* metrics.jsonl: JSON has no nan or inf; the skipped steps' non-finite numbers are null */
  run_path(p, sizeof p, "nf_tail", "metrics.jsonl");
  char *m = slurp(p, NULL);
  ck_assert_ptr_nonnull(m);
  for (char *q = m; *q; q++) *q = (char)tolower((unsigned char)*q);
  ck_assert_msg(!strstr(m, "nan") && !strstr(m, "inf"), "metrics.jsonl is not JSON:\n%s", m);
  int skipped = 0;
  for (char *q = strstr(m, "\"skipped\":true"); q; q = strstr(q + 1, "\"skipped\":true")) skipped++;
  ck_assert_int_eq(skipped, 5);
  ck_assert_msg(strstr(m, "\"grad_norm\":null"), "no null for a non-finite gradient norm:\n%s", m);
  free(m);
  /* two non-finite steps in the middle: skipped, counted, and the run finishes (exit 0) */
  rc = train_cli("unet:nan:3:2", "nf_mid", "--vae-steps 2 --unet-steps 6", err, sizeof err);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
  ck_assert_msg(strstr(err, "2 non-finite steps skipped"), "the skipped steps are not reported: %s", err);
  ck_assert_int_eq(file_step("nf_mid", "unet.safetensors"), 6);
}
END_TEST

/* 7: a checkpoint torn between its state and weights files is rebuilt from the state (resume and sample),
 * metrics rows past the checkpoint are dropped on resume, stale temporaries are removed */
START_TEST(resume_repairs_torn_checkpoints) {
  if (!have_data) return;
  char err[8192], a[512], b[512], keep[512];
  /* the same run stopped at VAE step 4 and at step 6: its weights at step 4 next to the state of step 6 is
   * what a kill between the two files of the VAE's last checkpoint leaves */
  ck_assert_int_eq(train_cli(NULL, "torn4", "--stage vae --vae-steps 4", err, sizeof err), 0);
  ck_assert_int_eq(train_cli(NULL, "torn", "--stage vae --vae-steps 6 --ckpt-every 2", err, sizeof err), 0);
  run_path(a, sizeof a, "torn4", "vae.safetensors");
  run_path(b, sizeof b, "torn", "vae.safetensors");
  snprintf(keep, sizeof keep, "%s/vae_step6.safetensors", tmp);
  copy_file(b, keep);
  copy_file(a, b);
  ck_assert_int_eq(file_step("torn", "vae.safetensors"), 4);
  /* temporaries of a killed writer (a pid that is not alive) and of a live one (this process) */
  pid_t dead = 4194000;
  while (kill(dead, 0) == 0 || errno != ESRCH) dead--;
  char t1[512], t2[512], t3[512];
  snprintf(t1, sizeof t1, "%s/torn/state_unet.safetensors.tmp.%d", tmp, (int)dead);
  snprintf(t2, sizeof t2, "%s/torn/samples/unet_000002.png.tmp.%d", tmp, (int)dead);
  snprintf(t3, sizeof t3, "%s/torn/metrics.jsonl.tmp.%d", tmp, (int)getpid());
  copy_file(keep, t1);
  copy_file(keep, t2);
  copy_file(keep, t3);
  /* metrics rows past the checkpoint and a torn last line, as a kill leaves them */
  run_path(a, sizeof a, "torn", "metrics.jsonl");
  FILE *f = fopen(a, "a");
  ck_assert_ptr_nonnull(f);
  fputs("{\"stage\":\"vae\",\"step\":7,\"loss\":0.5,\"skipped\":false}\n{\"stage\":\"va", f);
  fclose(f);
  ck_assert_msg(train_cli(NULL, "torn", "--resume --vae-steps 8 --unet-steps 4 --ckpt-every 2", err, sizeof err) == 0,
                "%s", err);
  /* VAE steps 7 and 8 were trained from the step-6 state, so vae.safetensors is theirs (step 8) ... */
  ck_assert_int_eq(file_step("torn", "vae.safetensors"), 8);
  ck_assert_int_eq(file_step("torn", "state_vae.safetensors"), 8);
  int rows[9];
  ck_assert_int_eq(metrics_rows("torn", "vae", rows, 8), 0);
  for (int k = 1; k <= 8; k++) ck_assert_msg(rows[k] == 1, "VAE step %d: %d metrics rows", k, rows[k]);
  ck_assert_msg(access(t1, F_OK) != 0 && access(t2, F_OK) != 0, "stale temporary files were left");
  ck_assert_msg(access(t3, F_OK) == 0, "the temporary file of a live process was removed");
  unlink(t3);
  /* ... and a VAE that was done: resume rebuilds its weights from the state before it encodes the latents */
  ck_assert_int_eq(train_cli(NULL, "torn6", "--stage vae --vae-steps 6 --ckpt-every 2", err, sizeof err), 0);
  run_path(b, sizeof b, "torn6", "vae.safetensors");
  ck_assert_msg(same_file(b, keep), "the step-6 VAE weights differ between two identical runs");
  run_path(a, sizeof a, "torn4", "vae.safetensors");
  copy_file(a, b);
  ck_assert_msg(train_cli(NULL, "torn6", "--resume --vae-steps 6 --unet-steps 4", err, sizeof err) == 0, "%s", err);
  ck_assert_msg(same_file(b, keep), "vae.safetensors was not rebuilt from state_vae.safetensors");
  /* sample: a missing (or older) UNet weights file is rebuilt from state_unet.safetensors, byte for byte */
  char u[512], ukeep[512], args[1024];
  run_path(u, sizeof u, "torn6", "unet.safetensors");
  snprintf(ukeep, sizeof ukeep, "%s/unet_keep.safetensors", tmp);
  copy_file(u, ukeep);
  ck_assert_int_eq(unlink(u), 0);
  snprintf(args, sizeof args, "sample --device cpu --ckpt %s/torn6 --n 2 --steps 2 --out %s/torn6.png", tmp, tmp);
  ck_assert_msg(run_cli(args, err, sizeof err) == 0, "%s", err);
  ck_assert_msg(same_file(u, ukeep), "unet.safetensors was not rebuilt from state_unet.safetensors");
}
END_TEST

/* 8: a new run refuses a non-empty directory unless --overwrite; --resume needs a checkpoint */
START_TEST(run_directory_rules) {
  if (!have_data) return;
  char err[8192], p[512], keep[512], d[512];
  ck_assert_int_eq(train_cli(NULL, "dir", "--vae-steps 2 --unet-steps 3", err, sizeof err), 0);
  run_path(p, sizeof p, "dir", "metrics.jsonl");
  snprintf(keep, sizeof keep, "%s/dir_metrics.jsonl", tmp);
  copy_file(p, keep);
  snprintf(d, sizeof d, "%s/dir", tmp);
  /* a second run into it: refused (exit 2), one line naming the directory, nothing touched */
  int rc = train_cli(NULL, "dir", "--vae-steps 3 --unet-steps 2", err, sizeof err);
  ck_assert_msg(rc == 2, "exit %d, not 2: %s", rc, err);
  ck_assert_msg(strstr(err, d) && strstr(err, "--resume") && strstr(err, "--overwrite"), "%s", err);
  ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
  ck_assert_msg(same_file(p, keep), "metrics.jsonl of the earlier run changed");
  ck_assert_int_eq(file_step("dir", "vae.safetensors"), 2);
  /* --overwrite: the earlier run's files go, other files stay */
  char foreign[512];
  run_path(foreign, sizeof foreign, "dir", "notes.txt");
  copy_file(keep, foreign);
  rc = train_cli(NULL, "dir", "--vae-steps 3 --unet-steps 2 --overwrite", err, sizeof err);
  ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
  int rows[4];
  ck_assert_int_eq(metrics_rows("dir", "unet", rows, 3), 0);
  ck_assert_msg(rows[1] == 1 && rows[2] == 1 && rows[3] == 0, "UNet rows %d %d %d", rows[1], rows[2], rows[3]);
  ck_assert_int_eq(file_step("dir", "vae.safetensors"), 3);
  ck_assert_int_eq(file_step("dir", "unet.safetensors"), 2);
  ck_assert_msg(access(foreign, F_OK) == 0, "--overwrite removed a file it does not own");
  ck_assert_int_eq(train_cli(NULL, "dir", "--resume --overwrite --vae-steps 3 --unet-steps 2", err, sizeof err), 2);
  /* --resume without a checkpoint: an error naming the directory (exit 1), for a missing and an empty one */
  rc = train_cli(NULL, "nockpt", "--resume --vae-steps 2 --unet-steps 2", err, sizeof err);
  snprintf(d, sizeof d, "%s/nockpt", tmp);
  ck_assert_msg(rc == 1 && strstr(err, d) && strstr(err, "no checkpoint"), "exit %d: %s", rc, err);
  ck_assert_int_eq(mkdir(d, 0755), 0);
  rc = train_cli(NULL, "nockpt", "--resume --vae-steps 2 --unet-steps 2", err, sizeof err);
  ck_assert_msg(rc == 1 && strstr(err, d), "exit %d: %s", rc, err);
  snprintf(p, sizeof p, "%s/metrics.jsonl", d);
  ck_assert_msg(access(p, F_OK) != 0, "a refused --resume started a run");
}
END_TEST

/* 9: SIGTERM exits 143 and SIGINT 130, each after saving a checkpoint */
static int train_then_signal(const char *run, const char *extra, int sig) {
  char cmd[1024], p[512];
  snprintf(cmd, sizeof cmd,
           "exec %s train --config tiny --device cpu --out %s/%s --batch 4 --limit-images 64 --log-every 1 "
           "--vae-steps 100000 --unet-steps 2 --ckpt-every 100000 --quiet %s 2>/dev/null",
           exe, tmp, run, extra);
  run_path(p, sizeof p, run, "metrics.jsonl");
  char *b0 = slurp(p, NULL);
  int lines0 = 0;
  for (char *q = b0; q && *q; q++) lines0 += *q == '\n';
  free(b0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  /* wait for a few new steps: the handlers are installed before the first one */
  int lines = 0;
  for (int i = 0; i < 2400 && lines < lines0 + 3; i++) {
    usleep(50000);
    char *b = slurp(p, NULL);
    lines = 0;
    for (char *q = b; q && *q; q++) lines += *q == '\n';
    free(b);
  }
  ck_assert_msg(lines >= lines0 + 3, "the run did not start");
  kill(pid, sig);
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

START_TEST(signals_exit_128_plus_signal) {
  if (!have_data) return;
  ck_assert_int_eq(train_then_signal("sig", "", SIGTERM), 143);
  long long s1 = file_step("sig", "state_vae.safetensors");
  ck_assert_msg(s1 >= 3, "no checkpoint saved on SIGTERM (step %lld)", s1);
  ck_assert_int_eq(train_then_signal("sig", "--resume", SIGINT), 130);
  ck_assert_msg(file_step("sig", "state_vae.safetensors") > s1, "no checkpoint saved on SIGINT");
}
END_TEST

/* 9: the latent-cache encoder sizes its batch from the device's buffer range, so a limit that the training
 * batch fits does not stop the run at the latent cache (it used 250 images at once) */
START_TEST(latent_cache_fits_the_buffer_range) {
  if (!have_data || !have_vk) return;
  char err[16384], args[1024];
  setenv("LDM_VK_MAX_BUFFER_RANGE", "1048576", 1);
  snprintf(args, sizeof args,
           "train --config tiny --device vk --out %s/bufrange --batch 8 --limit-images 256 --vae-steps 2 "
           "--unet-steps 2 --sample-steps 2 --log-every 1",
           tmp);
  int rc = run_cli(args, err, sizeof err);
  unsetenv("LDM_VK_MAX_BUFFER_RANGE");
  ck_assert_msg(rc == 0, "exit %d with a 1 MiB buffer range: %s", rc, err);
  ck_assert_msg(strstr(err, "latent cache: 256 images") != NULL, "%s", err);
}
END_TEST

/* 10: the library through its API with the host's hooks: the metrics callback gets every metrics.jsonl row
 * with the same numbers, the sample-grid callback the grids in memory, the log callback the lines, and
 * nothing goes to stderr or stdout; the library installs no signal handler; a cancel from a callback
 * stops the run with a checkpoint of that step, which resumes bitwise like the uninterrupted run. */
typedef struct {
  int nmetrics;
  ldm_metrics m[64];
  char stage[64][8], aux_name[64][2][8];
  int ngrids, grid_vae, grid_unet, grid_bad;
  char grid_err[256];
  int nlog;
  bool log_stage1, log_cache, log_grid;
  int nprogress, final_vae, final_cache, final_unet;
  bool vae_run_eta_estimated, unet_run_eta_measured, run_eta_covers_unet;
  char progress_line[512];
  struct sigaction sig_before[2];
  bool handler_changed;
  int cancel_at; /* UNet step whose metrics row sets *cancel (0: never) */
  volatile sig_atomic_t cancel;
} hooks;

static void hook_metrics(void *user, const ldm_metrics *m) {
  hooks *h = user;
  static const int sigs[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    struct sigaction now;
    sigaction(sigs[i], NULL, &now);
    if (now.sa_handler != h->sig_before[i].sa_handler) h->handler_changed = true;
  }
  if (h->nmetrics < 64) {
    int k = h->nmetrics;
    h->m[k] = *m;
    snprintf(h->stage[k], sizeof h->stage[k], "%s", m->stage);
    for (int a = 0; a < m->naux && a < 2; a++)
      snprintf(h->aux_name[k][a], sizeof h->aux_name[k][a], "%s", m->aux_name[a]);
  }
  h->nmetrics++;
  if (h->cancel_at && strcmp(m->stage, "unet") == 0 && m->step == h->cancel_at) h->cancel = 1;
}

static void hook_grid(void *user, const ldm_sample_grid *g) {
  hooks *h = user;
  h->ngrids++;
  if (strcmp(g->stage, "vae") == 0) h->grid_vae++;
  if (strcmp(g->stage, "unet") == 0) h->grid_unet++;
  if (g->n < 1 || g->channels != 1 || g->height != 16 || g->width != 16 || !g->path || access(g->path, R_OK) != 0) {
    h->grid_bad++;
    snprintf(h->grid_err, sizeof h->grid_err, "%s grid: n %d, %dx%dx%d, path %s", g->stage, g->n, g->channels,
             g->height, g->width, g->path ? g->path : "(none)");
    return;
  }
  for (int64_t i = 0; i < (int64_t)g->n * g->channels * g->height * g->width; i++)
    if (!isfinite(g->images[i])) {
      h->grid_bad++;
      snprintf(h->grid_err, sizeof h->grid_err, "%s grid step %lld: pixel %lld is %g", g->stage, (long long)g->step,
               (long long)i, (double)g->images[i]);
      return;
    }
}

static void hook_log(void *user, ldm_log_level level, const char *line) {
  hooks *h = user;
  h->nlog++;
  if (strstr(line, "stage 1: VAE")) h->log_stage1 = true;
  if (strstr(line, "latent cache: 256 images")) h->log_cache = true;
  if (strstr(line, "sample grid (")) h->log_grid = true;
}

static void hook_progress(void *user, const ldm_progress *p) {
  hooks *h = user;
  h->nprogress++;
  if (p->final) {
    h->final_vae += p->phase == LDM_PHASE_VAE;
    h->final_cache += p->phase == LDM_PHASE_CACHE;
    h->final_unet += p->phase == LDM_PHASE_UNET;
  }
  if (p->phase == LDM_PHASE_VAE && p->done == 1) {
    /* before the latent cache and the UNet ran: their time is estimated, and counted */
    h->vae_run_eta_estimated = p->run_eta_s > 0 && p->run_eta_estimated;
    h->run_eta_covers_unet = p->run_eta_s > p->eta_s;
    ldm_progress_format(p, h->progress_line, sizeof h->progress_line);
  }
  if (p->phase == LDM_PHASE_UNET && p->final) h->unet_run_eta_measured = !p->run_eta_estimated && p->run_eta_s >= 0;
}

/* JSON number of "key" in a metrics row (NAN for null); false when the key is absent */
static bool row_num(const char *line, const char *key, double *v) {
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *q = strstr(line, k);
  if (!q) return false;
  q += strlen(k);
  *v = strncmp(q, "null", 4) == 0 ? NAN : strtod(q, NULL);
  return true;
}

static bool near(double a, double b, double rel, double abs_tol) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  return fabs(a - b) <= rel * fabs(b) + abs_tol;
}

/* ldm_train with o's hooks set to h, fds 1 and 2 going to a file; returns the status, *out what was written */
static ldm_train_result captured_res; /* train_captured's result */
static ldm_status train_captured(ldm_train_opts *o, hooks *h, char **out) {
  o->log = hook_log;
  o->progress = hook_progress;
  o->metrics = hook_metrics;
  o->sample_grid = hook_grid;
  o->user = h;
  o->cancel = &h->cancel;
  sigaction(SIGINT, NULL, &h->sig_before[0]);
  sigaction(SIGTERM, NULL, &h->sig_before[1]);
  char p[512];
  snprintf(p, sizeof p, "%s/api_output.txt", tmp);
  fflush(stdout);
  fflush(stderr);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  int saved1 = dup(1), saved2 = dup(2);
  dup2(fd, 1);
  dup2(fd, 2);
  close(fd);
  ldm_status s = ldm_train(o, &captured_res);
  fflush(stdout);
  fflush(stderr);
  dup2(saved1, 1);
  dup2(saved2, 2);
  close(saved1);
  close(saved2);
  *out = slurp(p, NULL);
  ck_assert_ptr_nonnull(*out);
  return s;
}

START_TEST(library_hooks_and_cancel) {
  if (!have_data) return;
  static hooks h; /* static: large */
  memset(&h, 0, sizeof h);
  ldm_train_opts o;
  opts(&o, "api", "cpu", 5, 8);
  o.log_every = 2;
  o.quiet = false;
  char *out;
  ldm_status s = train_captured(&o, &h, &out);
  ck_assert_msg(s == LDM_OK, "%s", ldm_last_error());
  ck_assert_msg(out[0] == 0, "ldm_train wrote to stderr/stdout:\n%s", out);
  free(out);
  ck_assert_msg(!h.handler_changed, "ldm_train installed a SIGINT or SIGTERM handler");
  /* metrics: one call per metrics.jsonl row, in order, with its numbers (as precise as the file prints them) */
  char p[512];
  run_path(p, sizeof p, "api", "metrics.jsonl");
  char *rows = slurp(p, NULL);
  ck_assert_ptr_nonnull(rows);
  int n = 0;
  for (char *line = rows; *line; n++) {
    char *nl = strchr(line, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    ck_assert_msg(n < h.nmetrics, "metrics.jsonl row %d has no callback: %s", n + 1, line);
    const ldm_metrics *m = &h.m[n];
    char st[16];
    long long step;
    ck_assert_int_eq(sscanf(line, "{\"stage\":\"%15[^\"]\",\"step\":%lld", st, &step), 2);
    ck_assert_msg(strcmp(st, h.stage[n]) == 0 && step == m->step, "row %d: %s step %lld, callback %s step %lld", n + 1,
                  st, step, h.stage[n], (long long)m->step);
    ck_assert_msg(m->step % 2 == 0 || m->step == (strcmp(st, "vae") == 0 ? 5 : 8), "a row for step %lld", step);
    double v;
    ck_assert(row_num(line, "loss", &v));
    ck_assert_msg(near(v, m->loss, 1e-7, 0), "row %d: loss %.9g, callback %.9g", n + 1, v, (double)m->loss);
    ck_assert_int_eq(m->naux, strcmp(st, "vae") == 0 ? 2 : 0);
    for (int a = 0; a < m->naux; a++) {
      ck_assert_msg(row_num(line, h.aux_name[n][a], &v), "row %d: no %s", n + 1, h.aux_name[n][a]);
      ck_assert_msg(near(v, m->aux[a], 1e-6, 1e-30), "row %d: %s %.9g, callback %.9g", n + 1, h.aux_name[n][a], v,
                    (double)m->aux[a]);
    }
    ck_assert(row_num(line, "lr", &v) && near(v, m->lr, 1e-3, 0));
    ck_assert(row_num(line, "grad_norm", &v) && near(v, m->grad_norm, 1e-4, 0));
    ck_assert(row_num(line, "it_s", &v) && near(v, m->it_s, 0, 1e-3));
    ck_assert_msg((strstr(line, "\"skipped\":true") != NULL) == m->skipped, "row %d: skipped differs", n + 1);
    line = nl + 1;
  }
  free(rows);
  ck_assert_int_eq(n, 3 + 4); /* VAE steps 2, 4, 5; UNet 2, 4, 6, 8 */
  ck_assert_int_eq(h.nmetrics, n);
  /* sample grids: the VAE's and the UNet's final ones, in memory and finite */
  ck_assert_msg(h.grid_bad == 0, "%s", h.grid_err);
  ck_assert_int_eq(h.grid_vae, 1);
  ck_assert_int_eq(h.grid_unet, 1);
  /* log lines and progress, run-wide ETA included */
  ck_assert_msg(h.log_stage1 && h.log_cache && h.log_grid, "log lines missing (%d lines)", h.nlog);
  ck_assert_int_eq(h.final_vae, 1);
  ck_assert_int_eq(h.final_cache, 1);
  ck_assert_int_eq(h.final_unet, 1);
  ck_assert_msg(h.vae_run_eta_estimated && h.run_eta_covers_unet, "no run-wide ETA in the VAE stage: %s",
                h.progress_line);
  ck_assert_msg(strstr(h.progress_line, "vae step 1/5 loss ") && strstr(h.progress_line, "run ETA ~"), "%s",
                h.progress_line);
  ck_assert_msg(h.unet_run_eta_measured, "the run ETA of the UNet stage is still estimated");

  /* cancel from the metrics callback at UNet step 4: LDM_ERR_INTERRUPTED, a checkpoint of step 4, silent */
  static hooks c;
  memset(&c, 0, sizeof c);
  c.cancel_at = 4;
  opts(&o, "api_cancel", "cpu", 5, 8);
  o.log_every = 2;
  s = train_captured(&o, &c, &out);
  ck_assert_msg(s == LDM_ERR_INTERRUPTED, "status %d: %s", s, ldm_last_error());
  ck_assert_msg(out[0] == 0, "ldm_train wrote to stderr/stdout:\n%s", out);
  free(out);
  ck_assert_int_eq(captured_res.signal, 1);
  ck_assert_int_eq(ldm_train_exit_code(&captured_res, s), 130);
  ck_assert_int_eq(file_step("api_cancel", "state_unet.safetensors"), 4);
  ck_assert_int_eq(file_step("api_cancel", "unet.safetensors"), 4);
  ck_assert_int_eq(c.nmetrics, 3 + 2);
  /* ... which resumes to the uninterrupted run's losses, bit for bit */
  memset(&c, 0, sizeof c);
  opts(&o, "api_cancel", "cpu", 5, 8);
  o.log_every = 2;
  o.resume = true;
  s = train_captured(&o, &c, &out);
  ck_assert_msg(s == LDM_OK, "%s", ldm_last_error());
  free(out);
  ck_assert_int_eq(c.nmetrics, 2); /* UNet steps 6 and 8 */
  double a[9], b[9];
  ck_assert_int_eq(read_losses("api", "unet", a, 8), 4);
  ck_assert_int_eq(read_losses("api_cancel", "unet", b, 8), 4);
  for (int k = 2; k <= 8; k += 2)
    ck_assert_msg(a[k] == b[k], "UNet step %d: %.9g uninterrupted, %.9g resumed", k, a[k], b[k]);

  /* ldm_sample: progress after every denoising step (2 batches x 3 steps), a cancel stops it */
  ldm_sample_opts so;
  ldm_sample_defaults(&so);
  snprintf(so.ckpt, sizeof so.ckpt, "%s/api", tmp);
  so.n = 3;
  so.steps = 3;
  so.batch = 2;
  static hooks sp;
  memset(&sp, 0, sizeof sp);
  so.progress = hook_progress;
  so.user = &sp;
  float *imgs;
  int *labels;
  ck_assert_msg(ldm_sample(&cpu_backend, &so, &imgs, &labels, NULL) == LDM_OK, "%s", ldm_last_error());
  free(imgs);
  free(labels);
  ck_assert_int_eq(sp.nprogress, 6);
  volatile sig_atomic_t stop = 1;
  so.cancel = &stop;
  ck_assert_int_eq(ldm_sample(&cpu_backend, &so, &imgs, &labels, NULL), LDM_ERR_INTERRUPTED);
  ck_assert_ptr_null(imgs);
}
END_TEST

/* a number after "key" (JSON: "key":V or "key": V) in text; NAN when absent */
static double text_num(const char *text, const char *key) {
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *q = strstr(text, k);
  return q ? strtod(q + strlen(k), NULL) : NAN;
}

/* Recipe resolution: an explicit option beats the preset (also one that equals another preset's value),
 * LDM_TRAIN_PRESET takes the preset's, and ldm_train never writes the caller's options. */
START_TEST(explicit_options_beat_the_preset) {
  if (!have_data) return;
  static const struct {
    const char *run;
    float vae_lr;
    double want;
  } cases[] = {{"quick_lr_given", 2e-4f, 2e-4}, {"quick_lr_preset", LDM_TRAIN_PRESET, 1e-3}};
  for (int k = 0; k < 2; k++) {
    ldm_train_opts o;
    ldm_train_defaults(&o);
    snprintf(o.config, sizeof o.config, "fmnist");
    snprintf(o.preset, sizeof o.preset, "quick");
    snprintf(o.device, sizeof o.device, "cpu");
    snprintf(o.out, sizeof o.out, "%s/%s", tmp, cases[k].run);
    o.vae_steps = 1;
    o.unet_steps = 0;
    o.batch = 2;
    o.limit_images = 8;
    o.log_every = 1;
    o.warmup = 0; /* the step's lr is the base lr */
    o.quiet = true;
    o.vae_lr = cases[k].vae_lr;
    ldm_train_opts before;
    memcpy(&before, &o, sizeof o);
    ldm_train_result res;
    ck_assert_msg(ldm_train(&o, &res) == LDM_OK, "%s: %s", cases[k].run, ldm_last_error());
    ck_assert_msg(memcmp(&before, &o, sizeof o) == 0, "%s: ldm_train wrote the caller's options", cases[k].run);
    ck_assert_str_eq(res.preset, "quick");
    ck_assert_str_eq(res.out, o.out);
    char p[512];
    run_path(p, sizeof p, cases[k].run, "metrics.jsonl");
    char *m = slurp(p, NULL);
    ck_assert_ptr_nonnull(m);
    double lr = text_num(m, "lr");
    free(m);
    ck_assert_msg(fabs(lr - cases[k].want) <= 1e-3 * cases[k].want, "%s: VAE lr %g in metrics.jsonl, not %g",
                  cases[k].run, lr, cases[k].want);
    run_path(p, sizeof p, cases[k].run, "config.json");
    char *cj = slurp(p, NULL);
    ck_assert_ptr_nonnull(cj);
    char *q = strstr(cj, "\"vae_lr\"");
    ck_assert_ptr_nonnull(q);
    double cl = strtod(strchr(q, ':') + 1, NULL);
    free(cj);
    ck_assert_msg(fabs(cl - cases[k].want) <= 1e-6 * cases[k].want, "%s: vae_lr %g in config.json, not %g",
                  cases[k].run, cl, cases[k].want);
  }
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, tiny_trains_on_cpu_and_vulkan_agree);
  tcase_add_test(tc, resume_is_bitwise_identical);
  tcase_add_test(tc, corrupt_inputs_give_clear_errors);
  tcase_add_test(tc, training_options_run);
  tcase_add_test(tc, nonfinite_runs_keep_the_files_sane);
  tcase_add_test(tc, resume_repairs_torn_checkpoints);
  tcase_add_test(tc, run_directory_rules);
  tcase_add_test(tc, signals_exit_128_plus_signal);
  tcase_add_test(tc, latent_cache_fits_the_buffer_range);
  tcase_add_test(tc, library_hooks_and_cancel);
  tcase_add_test(tc, explicit_options_beat_the_preset);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_train PATH/TO/ldm-vk\n");
    return 2;
  }
  exe = argv[1];
  snprintf(tmp, sizeof tmp, "/tmp/ldm-test-train-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  have_data = access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) == 0;
  if (!have_data) fprintf(stderr, "Fashion-MNIST not installed: the tiny runs are skipped\n");
  ldm_vk_ctx *vk;
  /* LDM_TEST_CPU_ONLY=1 (the sanitizer build, tests/sanitize/run.sh): only the CPU backend parts */
  bool cpu_only = getenv("LDM_TEST_CPU_ONLY") && atoi(getenv("LDM_TEST_CPU_ONLY")) != 0;
  if (cpu_only) fprintf(stderr, "LDM_TEST_CPU_ONLY=1: the Vulkan parts are skipped\n");
  have_vk = !cpu_only && ldm_vk_open("vk", &vk) == LDM_OK;
  if (have_vk) ldm_vk_close(vk);
  else if (!cpu_only && vk_test_required()) {
    fprintf(stderr, "LDM_REQUIRE_VULKAN=1 but no Vulkan device: %s\n", ldm_last_error());
    return 1;
  }
  int failed = ldm_test_run("train", "train", 900, true, add_tests);
  if (!failed) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  }
  return failed ? 1 : 0;
}
