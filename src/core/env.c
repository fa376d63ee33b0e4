/* The one reader of the library's LDM_* environment switches (see env.h). */
#include "core/env.h"

#include <stdlib.h>
#include <string.h>

/* set, non-empty and not "0" */
static bool on(const char *name) {
  const char *e = getenv(name);
  return e && e[0] && strcmp(e, "0") != 0;
}

/* exactly "1..." as the kernel-choice switches have always been read */
static bool one(const char *name) {
  const char *e = getenv(name);
  return e && e[0] == '1';
}

/* an unsigned integer (decimal, 0x hex or 0 octal); 0 when unset or not a number */
static uint64_t u64(const char *name) {
  const char *e = getenv(name);
  if (!e || !*e) return 0;
  char *end;
  unsigned long long v = strtoull(e, &end, 0);
  return end == e ? 0 : (uint64_t)v;
}

void ldm_env_read(ldm_env *e) {
  memset(e, 0, sizeof *e);
  e->check = on("LDM_CHECK");
  e->gemm_naive = one("LDM_GEMM_NAIVE");
  e->conv_naive = one("LDM_CONV_NAIVE");
  const char *mp = getenv("LDM_NO_MEMPLAN");
  e->no_memplan = mp && atoi(mp) != 0;
  e->debug = getenv("LDM_DEBUG") != NULL;
  e->vk_validation = on("LDM_VK_VALIDATION");
  e->vk_no_subgroup = on("LDM_VK_DISABLE_SUBGROUP");
  e->vk_no_fp16 = on("LDM_VK_DISABLE_FP16");
  e->vk_max_shared = u64("LDM_VK_MAX_SHARED");
  e->vk_max_buffer_range = u64("LDM_VK_MAX_BUFFER_RANGE");
  const char *pc = getenv("LDM_VK_PIPELINE_CACHE");
  e->vk_pipeline_cache = pc && *pc ? pc : NULL;
  const char *th = getenv("LDM_THREADS");
  e->threads = th ? atol(th) : 0;
}
