/* End to end on the `tiny` config: both stages train (losses fall) on the CPU backend and on Vulkan,
 * the two backends agree over the first steps, stop -> --resume continues with bitwise the same
 * losses, and corrupted checkpoints / datasets give clear errors and exit codes. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check_util.h"
#include "ldm/ops.h"
#include "ldm/train.h"
#include "ldm/vk.h"
#include "vk_test_util.h"

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
  ck_assert_msg(ldm_train(&o) == LDM_OK, "%s", ldm_last_error());
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
  ck_assert_msg(ldm_train(&o) == LDM_OK, "%s", ldm_last_error());
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
  ck_assert_msg(ldm_train(&o) == LDM_OK, "%s", ldm_last_error());
  /* the same run stopped after 15 UNet steps, then resumed to 30 */
  opts(&o, "split", "cpu", 20, 15);
  ck_assert_msg(ldm_train(&o) == LDM_OK, "%s", ldm_last_error());
  opts(&o, "split", "cpu", 20, 30);
  o.resume = true;
  ck_assert_msg(ldm_train(&o) == LDM_OK, "%s", ldm_last_error());
  double a[31], b[31];
  read_losses("full", "unet", a, 30);
  read_losses("split", "unet", b, 30);
  for (int k = 1; k <= 30; k++) ck_assert_msg(a[k] == b[k], "UNet step %d: %.9g uninterrupted, %.9g resumed", k, a[k], b[k]);
}
END_TEST

/* The recipe options (DESIGN.md section 4 "tricks"): each trains and samples to finite values. */
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
    ck_assert_msg(ldm_train(&o) == LDM_OK, "%s: %s", cases[k].name, ldm_last_error());
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
      ck_assert_msg(ldm_sample(NULL, &so, &imgs, &labels, &c) == LDM_OK, "%s: %s", cases[k].name, ldm_last_error());
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
  ck_assert_msg(ldm_train(&o) == LDM_OK, "%s", ldm_last_error());
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
  ck_assert_int_eq(ldm_train(&o), LDM_ERR_MISMATCH);
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
  snprintf(args, sizeof args, "train --data %s/nonexistent --out %s/r2", tmp, tmp);
  ck_assert_int_eq(run_cli(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "nonexistent"));
  ck_assert_int_eq(run_cli("train --bogus", err, sizeof err), 2);
  ck_assert_ptr_nonnull(strstr(err, "--bogus"));
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, tiny_trains_on_cpu_and_vulkan_agree);
  tcase_add_test(tc, resume_is_bitwise_identical);
  tcase_add_test(tc, corrupt_inputs_give_clear_errors);
  tcase_add_test(tc, training_options_run);
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
  have_vk = ldm_vk_open("vk", &vk) == LDM_OK;
  if (have_vk) ldm_vk_close(vk);
  else if (vk_test_required()) {
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
