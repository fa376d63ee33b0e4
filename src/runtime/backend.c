/* The backend value: the CPU reference backend or an open Vulkan context, chosen from a --device value,
 * and the executor factory on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/pool.h"
#include "ldm/backend.h"
#include "ldm/vk.h"

ldm_backend ldm_backend_cpu(void) {
  ldm_backend b;
  memset(&b, 0, sizeof b);
  b.kind = LDM_BACKEND_CPU;
  snprintf(b.why, sizeof b.why, "CPU reference backend, %d threads", ldm_cpu_threads());
  return b;
}

/* the Vulkan context of a --device value into *b */
static ldm_status open_vk(const char *spec, ldm_backend *b) {
  LDM_TRY(ldm_vk_open(spec, &b->vk));
  b->kind = LDM_BACKEND_VK;
  return LDM_OK;
}

ldm_status ldm_backend_open(const char *device, ldm_backend *b) {
  memset(b, 0, sizeof *b);
  b->kind = LDM_BACKEND_CPU;
  char *why = b->why;
  size_t why_len = sizeof b->why;
  if (device && strcmp(device, "cpu") == 0) {
    snprintf(why, why_len, "CPU reference backend (--device cpu), %d threads", ldm_cpu_threads());
    return LDM_OK;
  }
  if (device && *device) {
    LDM_TRY(open_vk(device, b));
    const ldm_vk_device_info *d = ldm_vk_info(b->vk);
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
      LDM_TRY(open_vk(spec, b));
      const ldm_vk_device_info *d = ldm_vk_info(b->vk);
      snprintf(why, why_len, "Vulkan device %s (%s GPU; pass --device cpu for the CPU backend)", d->name, d->type);
      return LDM_OK;
    }
    snprintf(why, why_len,
             "CPU reference backend with %d threads: the only Vulkan device is a CPU driver (%s), which is slower "
             "(pass --device vk to use it anyway)",
             ldm_cpu_threads(), n > 0 && pick >= 0 ? list[pick].name : "none");
    free(list);
    return LDM_OK;
  }
  ldm_clear_error();
  snprintf(why, why_len, "CPU reference backend with %d threads: no Vulkan device found", ldm_cpu_threads());
  return LDM_OK;
}

void ldm_backend_close(ldm_backend *b) {
  if (!b) return;
  ldm_vk_close(b->vk);
  b->vk = NULL;
  b->kind = LDM_BACKEND_CPU;
}

bool ldm_backend_is_gpu(const ldm_backend *b) {
  return b->kind == LDM_BACKEND_VK && b->vk && strcmp(ldm_vk_info(b->vk)->type, "cpu") != 0;
}

ldm_status ldm_exec_new(const ldm_backend *b, const ldm_graph *g, ldm_exec **e) {
  if (!b) return LDM_FAIL(LDM_ERR_INVALID_ARG, "ldm_exec_new: no backend (ldm_backend_open or ldm_backend_cpu)");
  if (b->kind == LDM_BACKEND_VK) {
    if (!b->vk) return LDM_FAIL(LDM_ERR_INVALID_ARG, "ldm_exec_new: a Vulkan backend without a context");
    return ldm_exec_vk(b->vk, g, e);
  }
  return ldm_exec_cpu(g, e);
}

