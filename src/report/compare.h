/* Private to the comparison pages (compare_bench.c, compare_conf.c): limits and small helpers. */
#ifndef LDM_REPORT_COMPARE_H
#define LDM_REPORT_COMPARE_H
#include <stdio.h>
#include <string.h>

#include "ldm/ldm.h"

#define MAX_FILES 26
#define MAX_WORK 8
#define MAX_OPS 96
#define MAX_JSON_BYTES ((size_t)64 << 20)

static inline const char *basename_of(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static inline void copy_str(char *dst, size_t n, const char *src, const char *dflt) {
  snprintf(dst, n, "%s", src && src[0] ? src : dflt);
}

/* a malformed comparison file: file:line and what is wrong */
static inline ldm_status bench_err(const char *path, int line, const char *what) {
  return LDM_FAIL(LDM_ERR_FORMAT, "%s:%d: %s", path, line, what);
}
#endif
