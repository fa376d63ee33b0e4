/* Shared helpers of the Vulkan test suites: open the device or skip (exit 77) - unless
 * LDM_REQUIRE_VULKAN=1 (CI), where a missing device is a failure. */
#ifndef LDM_VK_TEST_UTIL_H
#define LDM_VK_TEST_UTIL_H
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/vk.h"

static inline bool vk_test_required(void) {
  const char *req = getenv("LDM_REQUIRE_VULKAN");
  return req && strcmp(req, "1") == 0;
}

static inline ldm_vk_ctx *vk_test_open(void) {
  ldm_vk_ctx *vk = NULL;
  if (ldm_vk_open("vk", &vk) != LDM_OK) {
    fprintf(stderr, "no Vulkan device: %s\n", ldm_last_error());
    if (vk_test_required()) {
      fprintf(stderr, "LDM_REQUIRE_VULKAN=1: failing instead of skipping\n");
      exit(1);
    }
    exit(77);
  }
  return vk;
}
#endif
