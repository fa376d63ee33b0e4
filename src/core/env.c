/* The one reader of the library's LDM_* environment switches (see env.h). */
#include "core/env.h"

#include <stdio.h>
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

/* LDM_TEST_FAULT (env.h) */
static void faults_parse(ldm_env *e) {
  const char *env = getenv("LDM_TEST_FAULT");
  if (!env || !*env) return;
  e->test_fault = env;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", env);
  char *save = NULL;
  for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char stage[8] = "", kind[16] = "";
    long long step = 0, count = 1;
    int n = sscanf(item, "%7[a-z]:%15[a-z]:%lld:%lld", stage, kind, &step, &count);
    if (n < 3 || e->nfaults >= LDM_FAULT_MAX || (strcmp(stage, "vae") && strcmp(stage, "unet")) || step < 1 ||
        count < 1 || (strcmp(kind, "nan") && strcmp(kind, "explode"))) {
      e->test_fault_bad = true;
      e->nfaults = 0;
      return;
    }
    ldm_env_fault *f = &e->faults[e->nfaults++];
    snprintf(f->stage, sizeof f->stage, "%s", stage);
    f->kind = strcmp(kind, "nan") == 0 ? LDM_FAULT_NAN : LDM_FAULT_EXPLODE;
    f->step = step;
    f->count = count;
  }
}

bool ldm_env_fault_at(const ldm_env *e, const char *stage, int kind, int64_t step) {
  for (int i = 0; i < e->nfaults; i++)
    if (e->faults[i].kind == kind && strcmp(e->faults[i].stage, stage) == 0 && step >= e->faults[i].step &&
        step - e->faults[i].step < e->faults[i].count)
      return true;
  return false;
}

void ldm_env_read(ldm_env *e) {
  memset(e, 0, sizeof *e);
  e->check = on("LDM_CHECK");
  e->gemm_naive = one("LDM_GEMM_NAIVE");
  e->conv_naive = one("LDM_CONV_NAIVE");
  const char *sp = getenv("LDM_VK_SUBPIXEL");
  e->no_subpixel = sp && strcmp(sp, "0") == 0;
  const char *mp = getenv("LDM_NO_MEMPLAN");
  e->no_memplan = mp && atoi(mp) != 0;
  e->no_fuse = one("LDM_NO_FUSE");
  e->debug = getenv("LDM_DEBUG") != NULL;
  e->vk_validation = on("LDM_VK_VALIDATION");
  e->vk_no_subgroup = on("LDM_VK_DISABLE_SUBGROUP");
  e->vk_no_fp16 = on("LDM_VK_DISABLE_FP16");
  e->vk_no_int8 = on("LDM_VK_DISABLE_INT8");
  const char *sh = getenv("LDM_VK_STAGE_HOST");
  e->vk_stage_host = sh && *sh ? on("LDM_VK_STAGE_HOST") : -1;
  e->vk_max_shared = u64("LDM_VK_MAX_SHARED");
  e->vk_max_buffer_range = u64("LDM_VK_MAX_BUFFER_RANGE");
  const char *pc = getenv("LDM_VK_PIPELINE_CACHE");
  e->vk_pipeline_cache = pc && *pc ? pc : NULL;
  const char *th = getenv("LDM_THREADS");
  e->threads = th ? atol(th) : 0;
  faults_parse(e);
  const char *ns = getenv("LDM_NO_SCHEDULE");
  e->no_schedule = ns && atoi(ns) != 0;
  static const char *tiles[LDM_TILE_COUNT] = {"auto", "large", "medium", "small", "narrow", "wide"};
  const char *tl = getenv("LDM_VK_TILE");
  e->vk_tile = LDM_TILE_AUTO;
  if (tl && *tl) {
    e->vk_tile_str = tl;
    e->vk_tile_bad = true;
    for (int i = 0; i < LDM_TILE_COUNT; i++)
      if (strcmp(tl, tiles[i]) == 0) e->vk_tile = i, e->vk_tile_bad = false;
  }
  const char *sk = getenv("LDM_VK_SPLITK");
  e->vk_splitk = sk && *sk ? (atoi(sk) > 0 ? atoi(sk) : -1) : 0;
}
