/* Fashion-MNIST loading (idx, optionally gzip) and ldm_dataset lifetime. */
#include "ldm/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const fmnist_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

void ldm_dataset_free(ldm_dataset *ds) {
  if (!ds) return;
  free(ds->pixels);
  free(ds->labels);
  if (ds->class_names)
    for (int i = 0; i < ds->num_classes; i++) free(ds->class_names[i]);
  free(ds->class_names);
  memset(ds, 0, sizeof *ds);
}

static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find dir/base or dir/base.gz; writes the path into buf. */
static ldm_status find_idx(const char *dir, const char *base, char *buf, size_t cap) {
  const char *sep = (dir[0] && dir[strlen(dir) - 1] == '/') ? "" : "/";
  int n = snprintf(buf, cap, "%s%s%s", dir, sep, base);
  if (n < 0 || (size_t)n + 4 > cap) return LDM_FAIL(LDM_ERR_INVALID_ARG, "dataset path too long: %s", dir);
  if (is_file(buf)) return LDM_OK;
  strcat(buf, ".gz");
  if (is_file(buf)) return LDM_OK;
  return LDM_FAIL(LDM_ERR_IO, "dataset not found: %s has no %s[.gz] (install dataset-fashion-mnist or pass --data DIR)",
                  dir, base);
}

ldm_status ldm_dataset_load_fmnist(const char *dir, bool train, int pad_to, ldm_dataset *out) {
  memset(out, 0, sizeof *out);
  if (!dir || !dir[0]) return LDM_FAIL(LDM_ERR_INVALID_ARG, "dataset directory not given (pass --data DIR)");
  const char *prefix = train ? "train" : "t10k";
  char base[64], ipath[4096], lpath[4096];
  snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
  LDM_TRY(find_idx(dir, base, ipath, sizeof ipath));
  snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
  LDM_TRY(find_idx(dir, base, lpath, sizeof lpath));

  uint8_t *pix = NULL, *lab = NULL;
  int n = 0, h = 0, w = 0, nl = 0;
  ldm_status s = ldm_idx_load_images(ipath, &pix, &n, &h, &w);
  if (s != LDM_OK) return s;
  if ((s = ldm_idx_load_labels(lpath, &lab, &nl)) != LDM_OK) goto fail;
  if (nl != n) {
    s = LDM_FAIL(LDM_ERR_FORMAT, "%s: has %d labels but %s has %d images", lpath, nl, ipath, n);
    goto fail;
  }
  for (int i = 0; i < n; i++) {
    if (lab[i] >= 10) {
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: label %d of item %d is outside 0..9", lpath, lab[i], i);
      goto fail;
    }
  }
  int oh = h, ow = w;
  if (pad_to > 0) {
    if (pad_to < h || pad_to < w) {
      s = LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: cannot pad %dx%d images to %dx%d", ipath, h, w, pad_to, pad_to);
      goto fail;
    }
    oh = ow = pad_to;
  }
  size_t plane = (size_t)oh * (size_t)ow;
  out->pixels = ldm_calloc((size_t)n, plane); /* zero = the padding value */
  out->labels = ldm_malloc(sizeof(int32_t) * (size_t)n);
  out->class_names = ldm_calloc(10, sizeof(char *));
  if (!out->pixels || !out->labels || !out->class_names) {
    s = LDM_ERR_NOMEM;
    goto fail;
  }
  out->num_classes = 10;
  for (int c = 0; c < 10; c++) {
    size_t len = strlen(fmnist_classes[c]) + 1;
    out->class_names[c] = ldm_malloc(len);
    if (!out->class_names[c]) {
      s = LDM_ERR_NOMEM;
      goto fail;
    }
    memcpy(out->class_names[c], fmnist_classes[c], len);
  }
  int y0 = (oh - h) / 2, x0 = (ow - w) / 2;
  for (int i = 0; i < n; i++) {
    const uint8_t *src = pix + (size_t)i * (size_t)h * (size_t)w;
    uint8_t *dst = out->pixels + (size_t)i * plane;
    for (int y = 0; y < h; y++) memcpy(dst + (size_t)(y + y0) * (size_t)ow + (size_t)x0, src + (size_t)y * (size_t)w, (size_t)w);
    out->labels[i] = lab[i];
  }
  out->n = n;
  out->channels = 1;
  out->height = oh;
  out->width = ow;
  free(pix);
  free(lab);
  return LDM_OK;
fail:
  free(pix);
  free(lab);
  ldm_dataset_free(out);
  return s;
}
