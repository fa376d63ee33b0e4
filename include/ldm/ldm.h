/* ldm-vk public API: status codes and error reporting shared by every module. */
#ifndef LDM_LDM_H
#define LDM_LDM_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version (the meson project version) is LDM_VERSION / ldm_version() in the generated "ldm/version.h". */

typedef enum ldm_status {
  LDM_OK = 0,
  LDM_ERR_INVALID_ARG,   /* a flag, argument or shape is wrong */
  LDM_ERR_IO,            /* a file could not be opened, read or written */
  LDM_ERR_FORMAT,        /* a file exists but its contents are malformed */
  LDM_ERR_NOMEM,         /* host memory exhausted */
  LDM_ERR_DEVICE_MEMORY, /* device memory exhausted */
  LDM_ERR_NO_DEVICE,     /* no Vulkan device / loader */
  LDM_ERR_VULKAN,        /* a Vulkan call failed */
  LDM_ERR_UNSUPPORTED,   /* the device lacks a needed capability */
  LDM_ERR_MISMATCH,      /* check mode / conformance divergence, checkpoint from another config */
  LDM_ERR_NUMERIC,       /* NaN/Inf where it may not be */
  LDM_ERR_INTERRUPTED,   /* the user pressed Ctrl-C */
  LDM_ERR_INTERNAL
} ldm_status;

const char *ldm_status_str(ldm_status s);

/* The last error of this thread: a plain sentence for the user, and the file:line that raised it. */
const char *ldm_last_error(void);
const char *ldm_last_error_where(void);
void ldm_clear_error(void);

/* Set the thread's error (printf-style) and return status; use through LDM_FAIL. The message is kept
 * to one line: control characters (from names in a hostile file, say) are replaced by '?'. */
ldm_status ldm_set_error(ldm_status s, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LDM_FAIL(status, ...) ldm_set_error((status), __FILE__, __LINE__, __VA_ARGS__)
/* Propagate a failing status unchanged (the first error message is kept). */
#define LDM_TRY(expr)                                                                              \
  do {                                                                                             \
    ldm_status ldm_try_s_ = (expr);                                                                \
    if (ldm_try_s_ != LDM_OK) return ldm_try_s_;                                                   \
  } while (0)

/* Checked allocation helpers: on failure they set LDM_ERR_NOMEM and return NULL. */
void *ldm_malloc_(size_t n, const char *file, int line);
void *ldm_calloc_(size_t n, size_t sz, const char *file, int line);
#define ldm_malloc(n) ldm_malloc_((n), __FILE__, __LINE__)
#define ldm_calloc(n, sz) ldm_calloc_((n), (sz), __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif
#endif
