#include "ldm/ldm.h"
#include "ldm/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"

/* control characters (newline, carriage return, escape, ...) become '?': one line of text */
static void one_line(char *s) {
  for (unsigned char *c = (unsigned char *)s; *c; c++)
    if (*c < 0x20 || *c == 0x7f) *c = '?';
}

static _Thread_local char err_msg[1024];
static _Thread_local char err_where[256];

const char *ldm_status_str(ldm_status s) {
  switch (s) {
  case LDM_OK: return "ok";
  case LDM_ERR_INVALID_ARG: return "invalid argument";
  case LDM_ERR_IO: return "I/O error";
  case LDM_ERR_FORMAT: return "malformed input";
  case LDM_ERR_NOMEM: return "out of host memory";
  case LDM_ERR_DEVICE_MEMORY: return "out of device memory";
  case LDM_ERR_NO_DEVICE: return "no Vulkan device";
  case LDM_ERR_VULKAN: return "Vulkan error";
  case LDM_ERR_UNSUPPORTED: return "unsupported by this device";
  case LDM_ERR_MISMATCH: return "mismatch";
  case LDM_ERR_NUMERIC: return "non-finite value";
  case LDM_ERR_INTERRUPTED: return "interrupted";
  case LDM_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char *ldm_last_error(void) { return err_msg[0] ? err_msg : "no error"; }
const char *ldm_last_error_where(void) { return err_where; }
void ldm_clear_error(void) { err_msg[0] = 0; err_where[0] = 0; }

ldm_status ldm_set_error(ldm_status s, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err_msg, sizeof err_msg, fmt, ap);
  va_end(ap);
  /* A message is one line for the user, whatever bytes a hostile file put into a quoted name */
  one_line(err_msg);
  const char *base = strrchr(file, '/');
  snprintf(err_where, sizeof err_where, "%s:%d", base ? base + 1 : file, line);
  ldm_env env;
  ldm_env_read(&env);
  if (env.debug) ldm_log(LDM_LOG_DEBUG, "[ldm debug] %s: %s", err_where, err_msg);
  return s;
}

void *ldm_malloc_(size_t n, const char *file, int line) {
  void *p = malloc(n ? n : 1);
  if (!p) ldm_set_error(LDM_ERR_NOMEM, file, line, "out of host memory allocating %zu bytes", n);
  return p;
}

void *ldm_calloc_(size_t n, size_t sz, const char *file, int line) {
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) ldm_set_error(LDM_ERR_NOMEM, file, line, "out of host memory allocating %zu x %zu bytes", n, sz);
  return p;
}

/* ---------------------------------------------------------------- log */

static ldm_log_fn log_fn;
static void *log_user;

void ldm_set_log(ldm_log_fn fn, void *user) {
  log_fn = fn;
  log_user = user;
}

void ldm_vlog_to(ldm_log_fn fn, void *user, ldm_log_level level, const char *fmt, va_list ap) {
  if (!fn) {
    fn = log_fn;
    user = log_user;
  }
  if (!fn) return;
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  /* one line, whatever a path or a folder name holds */
  size_t n = strlen(line);
  while (n && line[n - 1] == '\n') line[--n] = 0;
  one_line(line);
  fn(user, level, line);
}

void ldm_log_to(ldm_log_fn fn, void *user, ldm_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ldm_vlog_to(fn, user, level, fmt, ap);
  va_end(ap);
}

void ldm_log(ldm_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ldm_vlog_to(NULL, NULL, level, fmt, ap);
  va_end(ap);
}
