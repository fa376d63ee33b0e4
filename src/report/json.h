/* A small strict JSON reader (RFC 8259) for the files `ldm-vk report` reads: metrics.jsonl rows, bench and
 * conformance JSON, config.json. A document becomes a tree of ldm_json nodes; errors name the file, the line
 * and the column. Duplicate object keys, trailing commas, comments, leading zeros, control characters in
 * strings, invalid UTF-8 and anything after the value are errors. */
#ifndef LDM_REPORT_JSON_H
#define LDM_REPORT_JSON_H
#include <stdbool.h>
#include <stddef.h>

#include "ldm/ldm.h"

typedef enum { LDM_JSON_NULL, LDM_JSON_BOOL, LDM_JSON_NUM, LDM_JSON_STR, LDM_JSON_ARR, LDM_JSON_OBJ } ldm_json_type;

typedef struct ldm_json {
  ldm_json_type type;
  bool b;
  bool nonfinite;         /* a NaN/Infinity token (only with allow_nonfinite); num is NaN or +-inf */
  double num;
  char *str;              /* LDM_JSON_STR: NUL-terminated UTF-8 (may hold no NUL: \u0000 is rejected) */
  size_t n;               /* LDM_JSON_ARR / LDM_JSON_OBJ: number of items */
  struct ldm_json *items; /* n values */
  char **keys;            /* LDM_JSON_OBJ: n keys */
  int line;               /* 1-based line of the value's first character */
} ldm_json;

typedef struct ldm_json_opts {
  const char *name;     /* file name for messages */
  int line0;            /* line number of the text's first line (metrics.jsonl: the row's line) */
  bool allow_nonfinite; /* accept nan, -nan, inf, -inf, NaN, Infinity, -Infinity as numbers (old metrics logs) */
} ldm_json_opts;

/* Parse text[0..len) into *out (caller frees with ldm_json_free). On error: LDM_ERR_FORMAT with
 * "<name>:<line>: <what> (column C)" as the message (or LDM_ERR_NOMEM), *out untouched. */
ldm_status ldm_json_parse(const char *text, size_t len, const ldm_json_opts *opts, ldm_json *out);
void ldm_json_free(ldm_json *v);
/* Read a whole file (at most max_bytes) and parse it. */
ldm_status ldm_json_parse_file(const char *path, size_t max_bytes, bool allow_nonfinite, ldm_json *out);

/* Object member by key (NULL if absent or v is not an object). */
const ldm_json *ldm_json_get(const ldm_json *v, const char *key);
/* Typed member lookups: NULL / the default when absent or of another type. */
const char *ldm_json_get_str(const ldm_json *v, const char *key);
/* *out = the number; returns false when absent, null, non-finite or not a number */
bool ldm_json_get_num(const ldm_json *v, const char *key, double *out);

/* Read a whole file into a NUL-terminated malloc'd buffer (LDM_ERR_IO naming the file on failure). */
ldm_status ldm_read_file(const char *path, size_t max_bytes, char **buf, size_t *len);
#endif
