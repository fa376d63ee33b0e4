/* An installed-libldm consumer (tests/install/run.sh): built against the staged prefix with
 * `pkg-config --cflags --libs ldm` only. It writes a small two-class PNG folder with the library, trains
 * the `tiny` config for a few steps on the CPU backend, samples from the run and checks that the images
 * are finite, the labels in range and that the files exist.   consumer WORKDIR */
#define _POSIX_C_SOURCE 200809L /* mkdir, stat */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ldm/ldm.h>
#include <ldm/io.h>
#include <ldm/model.h>
#include <ldm/train.h>
#include <ldm/version.h>

static int fail(const char *what) {
  fprintf(stderr, "consumer: %s: %s\n", what, ldm_last_error());
  return 1;
}

static int exists(const char *dir, const char *name) {
  char p[1024];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (stat(p, &st) == 0 && st.st_size > 0) return 1;
  fprintf(stderr, "consumer: %s is missing or empty\n", p);
  return 0;
}

/* dir/data/{dark,light}/N.png: 16x16 grey images, a bright square on dark (class 0) or light noise */
static int write_dataset(const char *dir) {
  char p[1024];
  float img[16 * 16];
  snprintf(p, sizeof p, "%s/data", dir);
  mkdir(p, 0755);
  for (int cls = 0; cls < 2; cls++) {
    snprintf(p, sizeof p, "%s/data/%s", dir, cls ? "light" : "dark");
    mkdir(p, 0755);
    for (int k = 0; k < 8; k++) {
      for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
          int in = x >= 4 + k % 4 && x < 10 + k % 4 && y >= 4 && y < 10;
          float v = cls ? 0.5f + 0.4f * (float)((x * 7 + y * 3 + k) % 5) / 5.0f : (in ? 0.9f : -0.9f);
          img[y * 16 + x] = v;
        }
      snprintf(p, sizeof p, "%s/data/%s/%d.png", dir, cls ? "light" : "dark", k);
      if (ldm_png_write_image(p, img, 1, 16, 16, 0) != LDM_OK) return fail("writing the dataset");
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: consumer WORKDIR\n");
    return 2;
  }
  const char *dir = argv[1];
  if (strcmp(ldm_version(), LDM_VERSION) != 0) {
    fprintf(stderr, "consumer: headers are %s, library is %s\n", LDM_VERSION, ldm_version());
    return 1;
  }
  if (write_dataset(dir)) return 1;

  ldm_train_opts t;
  ldm_train_defaults(&t);
  snprintf(t.config, sizeof t.config, "tiny");
  snprintf(t.device, sizeof t.device, "cpu");
  snprintf(t.data, sizeof t.data, "%s/data", dir);
  snprintf(t.out, sizeof t.out, "%s/run", dir);
  t.vae_steps = 3;
  t.unet_steps = 3;
  t.batch = 4;
  t.log_every = 1;
  t.sample_steps = 2;
  t.quiet = true;
  ldm_status s = ldm_train(&t, NULL);
  if (s != LDM_OK) return fail("ldm_train");
  if (!exists(t.out, "vae.safetensors") || !exists(t.out, "unet.safetensors") || !exists(t.out, "metrics.jsonl"))
    return 1;

  ldm_backend be = ldm_backend_cpu();
  ldm_sample_opts o;
  ldm_sample_defaults(&o);
  snprintf(o.ckpt, sizeof o.ckpt, "%s", t.out);
  snprintf(o.device, sizeof o.device, "cpu");
  o.n = 4;
  o.cls = -1;
  o.steps = 3;
  o.seed = 7;
  float *images = NULL;
  int *labels = NULL;
  ldm_model_cfg cfg;
  if (ldm_sample(&be, &o, &images, &labels, &cfg) != LDM_OK) return fail("ldm_sample");
  size_t n = (size_t)o.n * (size_t)cfg.cin * (size_t)cfg.res * (size_t)cfg.res;
  if (strcmp(cfg.name, "tiny") != 0 || n == 0) {
    fprintf(stderr, "consumer: sampled config '%s' with %zu values\n", cfg.name, n);
    return 1;
  }
  for (size_t i = 0; i < n; i++)
    if (!isfinite(images[i])) {
      fprintf(stderr, "consumer: sample value %zu is %g\n", i, (double)images[i]);
      return 1;
    }
  for (int i = 0; i < o.n; i++)
    if (labels[i] < -1 || labels[i] >= cfg.ncls) {
      fprintf(stderr, "consumer: label %d of image %d\n", labels[i], i);
      return 1;
    }
  char grid[1024];
  snprintf(grid, sizeof grid, "%s/grid.png", dir);
  if (ldm_png_write_grid(grid, images, o.n, cfg.cin, cfg.res, cfg.res, 2, cfg.crop) != LDM_OK)
    return fail("writing the grid");
  free(images);
  free(labels);
  if (!exists(dir, "grid.png")) return 1;
  printf("consumer (C): ldm %s (git %s): trained tiny 3+3 steps, sampled %d finite images\n", ldm_version(),
         ldm_version_git(), o.n);
  return 0;
}
