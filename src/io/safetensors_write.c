/* The safetensors writer: tensors and string metadata collected in memory, then the header (JSON,
 * padded to 8 bytes) and the data region written in one atomic write (atomic.c). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

/* True if s is valid UTF-8 (the reader rejects anything else, so the writer must not produce it). */
static bool valid_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  while (n > 0) {
    size_t l = ldm_utf8_seq(p, n);
    if (!l) return false;
    p += l;
    n -= l;
  }
  return true;
}

typedef struct {
  char *name;
  ldm_st_dtype dt;
  int ndim;
  int64_t shape[LDM_ST_MAX_DIMS];
  const void *data;
  void *owned;
  size_t nbytes;
  uint64_t off; /* assigned by ldm_st_write_atomic */
} st_wentry;

struct ldm_st_writer {
  st_wentry *t;
  int nt, capt;
  char **mk, **mv;
  int nm, capk, capv;
};

ldm_status ldm_st_writer_new(ldm_st_writer **out) {
  *out = ldm_calloc(1, sizeof(ldm_st_writer));
  return *out ? LDM_OK : LDM_ERR_NOMEM;
}

void ldm_st_writer_free(ldm_st_writer *w) {
  if (!w) return;
  for (int i = 0; i < w->nt; i++) {
    free(w->t[i].name);
    free(w->t[i].owned);
  }
  for (int i = 0; i < w->nm; i++) {
    free(w->mk[i]);
    free(w->mv[i]);
  }
  free(w->t);
  free(w->mk);
  free(w->mv);
  free(w);
}

static ldm_status writer_add(ldm_st_writer *w, const char *name, ldm_st_dtype dt, int ndim,
                             const int64_t *shape, const void *data, bool copy) {
  if (!w || !name) return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: missing writer or tensor name");
  if (name[0] == 0 || strcmp(name, "__metadata__") == 0)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: invalid tensor name \"%s\"", name);
  if (!valid_utf8(name))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: tensor name \"%s\" is not valid UTF-8", name);
  if ((unsigned)dt >= LDM_DT_COUNT_)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: tensor %s has an invalid dtype %d", name, (int)dt);
  if (ndim < 0 || ndim > LDM_ST_MAX_DIMS || (ndim > 0 && !shape))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: tensor %s has %d dimensions (0..%d allowed)",
                    name, ndim, LDM_ST_MAX_DIMS);
  uint64_t numel, nbytes;
  if (!ldm_st_shape_numel(ndim, shape, &numel) ||
      __builtin_mul_overflow(numel, (uint64_t)ldm_st_dtype_size(dt), &nbytes) || nbytes > SIZE_MAX / 2)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: tensor %s has a negative or overflowing shape", name);
  if (nbytes > 0 && !data)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: tensor %s has no data", name);
  for (int i = 0; i < w->nt; i++)
    if (strcmp(w->t[i].name, name) == 0)
      return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: duplicate tensor name %s", name);
  LDM_TRY(ldm_st_grow((void **)&w->t, &w->capt, w->nt + 1, sizeof(st_wentry)));
  st_wentry e = {0};
  e.name = ldm_st_dupstr(name);
  if (!e.name) return LDM_ERR_NOMEM;
  e.dt = dt;
  e.ndim = ndim;
  for (int i = 0; i < ndim; i++) e.shape[i] = shape[i];
  e.nbytes = (size_t)nbytes;
  if (copy && nbytes > 0) {
    e.owned = ldm_malloc(e.nbytes);
    if (!e.owned) {
      free(e.name);
      return LDM_ERR_NOMEM;
    }
    memcpy(e.owned, data, e.nbytes);
    e.data = e.owned;
  } else {
    e.data = data;
  }
  w->t[w->nt++] = e;
  return LDM_OK;
}

ldm_status ldm_st_writer_add(ldm_st_writer *w, const char *name, ldm_st_dtype dt, int ndim,
                             const int64_t *shape, const void *data) {
  return writer_add(w, name, dt, ndim, shape, data, true);
}

ldm_status ldm_st_writer_add_ref(ldm_st_writer *w, const char *name, ldm_st_dtype dt, int ndim,
                                 const int64_t *shape, const void *data) {
  return writer_add(w, name, dt, ndim, shape, data, false);
}

ldm_status ldm_st_writer_set_meta(ldm_st_writer *w, const char *key, const char *value) {
  if (!w || !key || !value) return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: missing metadata key or value");
  if (!valid_utf8(key) || !valid_utf8(value))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: metadata entry \"%s\" is not valid UTF-8", key);
  char *v = ldm_st_dupstr(value);
  if (!v) return LDM_ERR_NOMEM;
  for (int i = 0; i < w->nm; i++) {
    if (strcmp(w->mk[i], key) == 0) {
      free(w->mv[i]);
      w->mv[i] = v;
      return LDM_OK;
    }
  }
  char *k = ldm_st_dupstr(key);
  ldm_status s = k ? LDM_OK : LDM_ERR_NOMEM;
  if (s == LDM_OK) s = ldm_st_grow((void **)&w->mk, &w->capk, w->nm + 1, sizeof(char *));
  if (s == LDM_OK) s = ldm_st_grow((void **)&w->mv, &w->capv, w->nm + 1, sizeof(char *));
  if (s != LDM_OK) {
    free(k);
    free(v);
    return s;
  }
  w->mk[w->nm] = k;
  w->mv[w->nm] = v;
  w->nm++;
  return LDM_OK;
}

/* Growable byte buffer for the JSON header. */
typedef struct {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + n + 1) nc *= 2;
    char *q = realloc(b->p, nc);
    if (!q) {
      b->oom = true;
      return;
    }
    b->p = q;
    b->cap = nc;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    b->oom = true;
    return;
  }
  sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control characters escaped; other bytes as is. */
static void sb_json_string(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"') sb_put(b, "\\\"", 2);
    else if (*c == '\\') sb_put(b, "\\\\", 2);
    else if (*c == '\n') sb_put(b, "\\n", 2);
    else if (*c == '\t') sb_put(b, "\\t", 2);
    else if (*c == '\r') sb_put(b, "\\r", 2);
    else if (*c < 0x20) sb_printf(b, "\\u%04x", *c);
    else sb_put(b, (const char *)c, 1);
  }
  sb_put(b, "\"", 1);
}


ldm_status ldm_st_write_atomic(ldm_st_writer *w, const char *path) {
  if (!w || !path) return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: missing writer or path");
  /* Header. */
  sbuf b = {0};
  /* Data layout: by element size, largest first (8, 4, 2, 1 bytes), insertion order within a size,
   * as the reference safetensors writer does: every tensor then starts at a multiple of its element
   * size (the header is padded to 8), which PyTorch needs to view the bytes as the dtype. The
   * header lists the tensors in insertion order. */
  uint64_t off = 0;
  for (size_t al = 8; al >= 1; al /= 2)
    for (int i = 0; i < w->nt; i++)
      if (ldm_st_dtype_size(w->t[i].dt) == al) {
        w->t[i].off = off;
        off += w->t[i].nbytes;
      }
  sb_str(&b, "{");
  bool first = true;
  if (w->nm > 0) {
    sb_str(&b, "\"__metadata__\":{");
    for (int i = 0; i < w->nm; i++) {
      if (i) sb_str(&b, ",");
      sb_json_string(&b, w->mk[i]);
      sb_str(&b, ":");
      sb_json_string(&b, w->mv[i]);
    }
    sb_str(&b, "}");
    first = false;
  }
  for (int i = 0; i < w->nt; i++) {
    const st_wentry *e = &w->t[i];
    if (!first) sb_str(&b, ",");
    first = false;
    sb_json_string(&b, e->name);
    sb_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", ldm_st_dtype_name(e->dt));
    for (int d = 0; d < e->ndim; d++) sb_printf(&b, "%s%" PRId64, d ? "," : "", e->shape[d]);
    sb_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", e->off, e->off + e->nbytes);
  }
  sb_str(&b, "}");
  while (!b.oom && b.len % 8 != 0) sb_str(&b, " ");
  if (b.oom) {
    free(b.p);
    return LDM_FAIL(LDM_ERR_NOMEM, "%s: out of host memory building the safetensors header", path);
  }
  if (b.len > LDM_ST_MAX_HEADER) {
    free(b.p);
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: safetensors header would be %zu bytes, over the 100 MB limit", path, b.len);
  }

  ldm_atomic_file af;
  ldm_status s = ldm_atomic_open(&af, path);
  if (s != LDM_OK) {
    free(b.p);
    return s;
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
  s = ldm_atomic_write(&af, len8, 8);
  if (s == LDM_OK) s = ldm_atomic_write(&af, b.p, b.len);
  for (size_t al = 8; al >= 1 && s == LDM_OK; al /= 2)
    for (int i = 0; i < w->nt && s == LDM_OK; i++)
      if (ldm_st_dtype_size(w->t[i].dt) == al && w->t[i].nbytes)
        s = ldm_atomic_write(&af, w->t[i].data, w->t[i].nbytes);
  s = ldm_atomic_close(&af, s);
  free(b.p);
  return s;
}
