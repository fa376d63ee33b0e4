/* Pieces shared by the trainer and the sampler: backend choice, model metadata, step buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/io.h"
#include "ldm/train.h"
#include "ldm/vk.h"
#include "train/internal.h"

ldm_status ldm_backend_open(const char *device, ldm_vk_ctx **vk, char *why, size_t why_len) {
  *vk = NULL;
  if (device && strcmp(device, "cpu") == 0) {
    snprintf(why, why_len, "CPU reference backend (--device cpu), %d threads", ldm_cpu_threads_public());
    return LDM_OK;
  }
  if (device && *device) {
    LDM_TRY(ldm_vk_open(device, vk));
    const ldm_vk_device_info *d = ldm_vk_info(*vk);
    snprintf(why, why_len, "Vulkan device %s (%s, %s)", d->name, d->type, d->driver);
    return LDM_OK;
  }
  /* auto: a real GPU if there is one; a CPU Vulkan driver (lavapipe) is slower than the CPU backend */
  ldm_vk_device_info *list = NULL;
  int n = 0;
  if (ldm_vk_list(&list, &n) == LDM_OK) {
    int pick = ldm_vk_pick_default(list, n);
    if (pick >= 0 && strcmp(list[pick].type, "cpu") != 0) {
      char spec[16];
      snprintf(spec, sizeof spec, "vk:%d", pick);
      free(list);
      LDM_TRY(ldm_vk_open(spec, vk));
      const ldm_vk_device_info *d = ldm_vk_info(*vk);
      snprintf(why, why_len, "Vulkan device %s (%s GPU; pass --device cpu for the CPU backend)", d->name, d->type);
      return LDM_OK;
    }
    snprintf(why, why_len,
             "CPU reference backend with %d threads: the only Vulkan device is a CPU driver (%s), which is slower "
             "(pass --device vk to use it anyway)",
             ldm_cpu_threads_public(), n > 0 && pick >= 0 ? list[pick].name : "none");
    free(list);
    return LDM_OK;
  }
  ldm_clear_error();
  snprintf(why, why_len, "CPU reference backend with %d threads: no Vulkan device found", ldm_cpu_threads_public());
  return LDM_OK;
}

ldm_status ldm_exec_new(ldm_vk_ctx *vk, const ldm_graph *g, ldm_exec **e) {
  return vk ? ldm_exec_vk(vk, g, e) : ldm_exec_cpu(g, e);
}

static void ints_to_str(const int *v, int n, char *out, size_t len) {
  out[0] = 0;
  for (int i = 0; i < n; i++) {
    size_t l = strlen(out);
    snprintf(out + l, len - l, "%s%d", i ? "," : "", v[i]);
  }
}

static int str_to_ints(const char *s, int *v, int max) {
  int n = 0;
  while (s && *s && n < max) {
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s) return -1;
    v[n++] = (int)x;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  return n;
}

ldm_status ldm_cfg_to_meta(const ldm_model_cfg *c, ldm_st_writer *w) {
  char b[128];
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.config", c->name));
#define PUT_INT(key, v)                                                                            \
  snprintf(b, sizeof b, "%d", (v));                                                                \
  LDM_TRY(ldm_st_writer_set_meta(w, key, b));
  PUT_INT("ldm.cin", c->cin);
  PUT_INT("ldm.res", c->res);
  PUT_INT("ldm.z", c->z);
  PUT_INT("ldm.nres", c->nres);
  PUT_INT("ldm.ncls", c->ncls);
  PUT_INT("ldm.tdim", c->tdim);
  PUT_INT("ldm.heads", c->heads);
  PUT_INT("ldm.crop", c->crop);
#undef PUT_INT
  ints_to_str(c->vae_ch, c->vae_levels, b, sizeof b);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.vae_ch", b));
  ints_to_str(c->unet_ch, c->unet_levels, b, sizeof b);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.unet_ch", b));
  ints_to_str(c->attn, c->unet_levels, b, sizeof b);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.attn", b));
  return LDM_OK;
}

ldm_status ldm_cfg_from_meta(const ldm_st_file *f, ldm_model_cfg *c) {
  memset(c, 0, sizeof *c);
  const char *name = ldm_st_meta(f, "ldm.config");
  if (!name) return LDM_FAIL(LDM_ERR_FORMAT, "%s: not an ldm-vk checkpoint (no ldm.config metadata)", ldm_st_path(f));
  snprintf(c->name, sizeof c->name, "%s", name);
  struct { const char *k; int *v; } ints[] = {{"ldm.cin", &c->cin}, {"ldm.res", &c->res}, {"ldm.z", &c->z},
                                              {"ldm.nres", &c->nres}, {"ldm.ncls", &c->ncls}, {"ldm.tdim", &c->tdim},
                                              {"ldm.heads", &c->heads}, {"ldm.crop", &c->crop}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    const char *v = ldm_st_meta(f, ints[i].k);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < 0 || x > 100000)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata %s missing or invalid", ldm_st_path(f), ints[i].k);
    *ints[i].v = (int)x;
  }
  c->vae_levels = str_to_ints(ldm_st_meta(f, "ldm.vae_ch"), c->vae_ch, LDM_MAX_LEVELS);
  c->unet_levels = str_to_ints(ldm_st_meta(f, "ldm.unet_ch"), c->unet_ch, LDM_MAX_LEVELS);
  int na = str_to_ints(ldm_st_meta(f, "ldm.attn"), c->attn, LDM_MAX_LEVELS);
  if (c->vae_levels < 1 || c->unet_levels < 1 || na != c->unet_levels || c->z < 1 || c->cin < 1 ||
      c->res < 4 || c->tdim < 2 || c->heads < 1)
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: model metadata is inconsistent", ldm_st_path(f));
  return LDM_OK;
}

void ldm_step_write(uint32_t *w, uint32_t opt_t, uint64_t rng_step, float lr, float beta1, float beta2,
                    float ema_decay, float clip, int accum, bool accum_only) {
  float f;
  w[LDM_STEP_T] = opt_t;
  /* one 2^32-wide Philox counter window per step: draws never overlap between steps */
  w[LDM_STEP_RNG_LO] = 0;
  w[LDM_STEP_RNG_HI] = (uint32_t)rng_step;
  f = lr;
  memcpy(&w[LDM_STEP_LR], &f, 4);
  f = (float)(1.0 - pow(beta1, opt_t));
  memcpy(&w[LDM_STEP_BC1], &f, 4);
  f = (float)(1.0 - pow(beta2, opt_t));
  memcpy(&w[LDM_STEP_BC2], &f, 4);
  f = ema_decay;
  memcpy(&w[LDM_STEP_EMA], &f, 4);
  f = 1.0f;
  memcpy(&w[LDM_STEP_LOSS_SCALE], &f, 4);
  f = clip;
  memcpy(&w[LDM_STEP_GRAD_CLIP], &f, 4);
  f = 1.0f / (float)(accum > 0 ? accum : 1);
  memcpy(&w[LDM_STEP_INV_ACCUM], &f, 4);
  w[LDM_STEP_ACCUM_ONLY] = accum_only ? 1u : 0u;
}
