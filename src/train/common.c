/* Pieces shared by the trainer and the sampler: backend choice, model metadata, step buffer, and the
 * library's log (ldm/log.h: the library writes nothing to stderr itself). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/io.h"
#include "ldm/log.h"
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

/* "12m05s", "1h02m" */
static void fmt_duration(double s, char *b, size_t n) {
  if (!(s >= 0)) s = 0;
  long long t = (long long)(s + 0.5);
  if (t >= 3600) snprintf(b, n, "%lldh%02lldm", t / 3600, t / 60 % 60);
  else snprintf(b, n, "%lldm%02llds", t / 60, t % 60);
}

size_t ldm_progress_format(const ldm_progress *p, char *buf, size_t n) {
  if (!n) return 0;
  bool train = p->phase == LDM_PHASE_VAE || p->phase == LDM_PHASE_UNET;
  int len;
  if (train)
    len = snprintf(buf, n, "%s step %lld/%lld loss %.5f%s%s", p->name, (long long)p->done, (long long)p->total,
                   p->loss, p->extra && p->extra[0] ? " " : "", p->extra ? p->extra : "");
  else
    len = snprintf(buf, n, "%s %lld/%lld images", p->name, (long long)p->done, (long long)p->total);
  char eta[32], run[32];
  fmt_duration(p->eta_s, eta, sizeof eta);
  if (len >= 0 && (size_t)len < n)
    len += snprintf(buf + len, n - (size_t)len, " %.2f %s ETA %s", p->rate, p->rate_unit ? p->rate_unit : "/s",
                    p->eta_s >= 0 ? eta : "?");
  if (p->run_eta_s >= 0 && len >= 0 && (size_t)len < n) {
    fmt_duration(p->run_eta_s, run, sizeof run);
    len += snprintf(buf + len, n - (size_t)len, ", run ETA %s%s", p->run_eta_estimated ? "~" : "", run);
  }
  if (len < 0) {
    buf[0] = 0;
    return 0;
  }
  return (size_t)len < n ? (size_t)len : n - 1;
}
