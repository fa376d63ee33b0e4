/* safetensors reader (hostile-input safe) and atomic writer.
 *
 * The reader reads the whole file, parses the JSON header with a small strict parser for exactly the
 * subset safetensors uses (objects, strings, arrays of integers, null for an empty __metadata__),
 * and validates every tensor entry before anything is handed out: known dtype, shape without
 * overflow, data_offsets matching numel * dtype size, offsets that tile the data region exactly,
 * no duplicate names. The data region is read into its own malloc'd (16-byte aligned) buffer, and any
 * tensor that would start off a 16-byte boundary there is copied out, so every tensor is aligned. */
#include "ldm/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------
 * dtypes
 * ---------------------------------------------------------------------------------------------- */
static const struct {
  const char *name;
  size_t size;
} dtype_info[LDM_DT_COUNT_] = {
    [LDM_DT_F32] = {"F32", 4}, [LDM_DT_I32] = {"I32", 4},  [LDM_DT_U32] = {"U32", 4},
    [LDM_DT_U8] = {"U8", 1},   [LDM_DT_I64] = {"I64", 8},  [LDM_DT_F16] = {"F16", 2},
    [LDM_DT_BF16] = {"BF16", 2}, [LDM_DT_F64] = {"F64", 8}, [LDM_DT_I8] = {"I8", 1},
    [LDM_DT_I16] = {"I16", 2}, [LDM_DT_U16] = {"U16", 2},  [LDM_DT_U64] = {"U64", 8},
    [LDM_DT_BOOL] = {"BOOL", 1},
};

const char *ldm_st_dtype_name(ldm_st_dtype dt) {
  return ((unsigned)dt < LDM_DT_COUNT_) ? dtype_info[dt].name : "?";
}

size_t ldm_st_dtype_size(ldm_st_dtype dt) { return ((unsigned)dt < LDM_DT_COUNT_) ? dtype_info[dt].size : 0; }

bool ldm_st_dtype_parse(const char *name, ldm_st_dtype *out) {
  for (int i = 0; i < LDM_DT_COUNT_; i++) {
    if (strcmp(name, dtype_info[i].name) == 0) {
      *out = (ldm_st_dtype)i;
      return true;
    }
  }
  return false;
}

/* realloc that reports LDM_ERR_NOMEM through the error convention. */
static ldm_status grow(void **p, int *cap, int need, size_t elem) {
  if (need <= *cap) return LDM_OK;
  int nc = *cap ? *cap : 8;
  while (nc < need) {
    if (nc > (1 << 29)) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory: too many entries");
    nc *= 2;
  }
  void *q = realloc(*p, (size_t)nc * elem);
  if (!q) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory allocating %zu bytes", (size_t)nc * elem);
  *p = q;
  *cap = nc;
  return LDM_OK;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = ldm_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

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

/* numel of a shape with checked multiplication; false on overflow. */
static bool shape_numel(int ndim, const int64_t *shape, uint64_t *out) {
  uint64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return false;
    if (__builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return false;
  }
  *out = n;
  return true;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t len = 0;
  buf[0] = 0;
  len += (size_t)snprintf(buf + len, cap - len, "[");
  for (int i = 0; i < ndim && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, i ? "," : "", shape[i]);
  if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* ------------------------------------------------------------------------------------------------
 * Writer
 * ---------------------------------------------------------------------------------------------- */
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
  if (!shape_numel(ndim, shape, &numel) ||
      __builtin_mul_overflow(numel, (uint64_t)ldm_st_dtype_size(dt), &nbytes) || nbytes > SIZE_MAX / 2)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: tensor %s has a negative or overflowing shape", name);
  if (nbytes > 0 && !data)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: tensor %s has no data", name);
  for (int i = 0; i < w->nt; i++)
    if (strcmp(w->t[i].name, name) == 0)
      return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors writer: duplicate tensor name %s", name);
  LDM_TRY(grow((void **)&w->t, &w->capt, w->nt + 1, sizeof(st_wentry)));
  st_wentry e = {0};
  e.name = dupstr(name);
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
  char *v = dupstr(value);
  if (!v) return LDM_ERR_NOMEM;
  for (int i = 0; i < w->nm; i++) {
    if (strcmp(w->mk[i], key) == 0) {
      free(w->mv[i]);
      w->mv[i] = v;
      return LDM_OK;
    }
  }
  char *k = dupstr(key);
  ldm_status s = k ? LDM_OK : LDM_ERR_NOMEM;
  if (s == LDM_OK) s = grow((void **)&w->mk, &w->capk, w->nm + 1, sizeof(char *));
  if (s == LDM_OK) s = grow((void **)&w->mv, &w->capv, w->nm + 1, sizeof(char *));
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

static ldm_status write_all(FILE *fp, const void *data, size_t n, const char *tmp) {
  const char *p = data;
  while (n > 0) {
    size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
    size_t wrote = fwrite(p, 1, chunk, fp);
    if (wrote != chunk)
      return LDM_FAIL(LDM_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    p += chunk;
    n -= chunk;
  }
  return LDM_OK;
}

static ldm_status fsync_dir_of(const char *path) {
  size_t n = strlen(path);
  char *dir = ldm_malloc(n + 2);
  if (!dir) return LDM_ERR_NOMEM;
  memcpy(dir, path, n + 1);
  char *slash = strrchr(dir, '/');
  if (!slash) strcpy(dir, ".");
  else if (slash == dir) dir[1] = 0;
  else *slash = 0;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    ldm_status s = LDM_FAIL(LDM_ERR_IO, "%s: cannot open directory to sync it: %s", dir, strerror(errno));
    free(dir);
    return s;
  }
  /* Some file systems cannot fsync a directory (EINVAL); the rename itself is then all we get. */
  if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
    ldm_status s = LDM_FAIL(LDM_ERR_IO, "%s: cannot sync directory: %s", dir, strerror(errno));
    close(fd);
    free(dir);
    return s;
  }
  close(fd);
  free(dir);
  return LDM_OK;
}

ldm_status ldm_file_write_atomic(const char *path, const void *data, size_t n) {
  if (!path || (!data && n)) return LDM_FAIL(LDM_ERR_INVALID_ARG, "atomic write: missing path or data");
  size_t tlen = strlen(path) + 32;
  char *tmp = ldm_malloc(tlen);
  if (!tmp) return LDM_ERR_NOMEM;
  snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
  FILE *fp = fopen(tmp, "wb");
  if (!fp) {
    ldm_status s = LDM_FAIL(LDM_ERR_IO, "cannot write %s (its temporary %s): %s", path, tmp, strerror(errno));
    free(tmp);
    return s;
  }
  ldm_status s = n ? write_all(fp, data, n, tmp) : LDM_OK;
  if (s == LDM_OK && fflush(fp) != 0) s = LDM_FAIL(LDM_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
  if (s == LDM_OK && fsync(fileno(fp)) != 0) s = LDM_FAIL(LDM_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
  if (fclose(fp) != 0 && s == LDM_OK) s = LDM_FAIL(LDM_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
  if (s == LDM_OK && rename(tmp, path) != 0)
    s = LDM_FAIL(LDM_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
  if (s != LDM_OK) unlink(tmp);
  else s = fsync_dir_of(path);
  free(tmp);
  return s;
}

/* "<name>.tmp.<pid>" (the temporaries of the atomic writers): the pid, or -1 for any other name */
static long temp_owner(const char *name) {
  const char *t = NULL;
  for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp.")) t = p;
  if (!t || t == name || t[5] < '1' || t[5] > '9') return -1;
  char *end;
  errno = 0;
  long pid = strtol(t + 5, &end, 10);
  return *end || errno || pid <= 0 ? -1 : pid;
}

int ldm_clean_stale_temps(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    long pid = temp_owner(de->d_name);
    if (pid < 0) continue;
    /* alive (kill succeeds, or EPERM: someone else's live process) = a write in progress; leave it */
    if (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)) continue;
    size_t len = strlen(dir) + strlen(de->d_name) + 2;
    char *p = ldm_malloc(len);
    if (!p) break;
    snprintf(p, len, "%s/%s", dir, de->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && unlink(p) == 0) removed++;
    free(p);
  }
  closedir(d);
  return removed;
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

  size_t tlen = strlen(path) + 32;
  char *tmp = ldm_malloc(tlen);
  if (!tmp) {
    free(b.p);
    return LDM_ERR_NOMEM;
  }
  snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

  ldm_status s = LDM_OK;
  FILE *fp = fopen(tmp, "wb");
  if (!fp) {
    s = LDM_FAIL(LDM_ERR_IO, "cannot write %s (its temporary %s): %s", path, tmp, strerror(errno));
    free(b.p);
    free(tmp);
    return s;
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
  s = write_all(fp, len8, 8, tmp);
  if (s == LDM_OK) s = write_all(fp, b.p, b.len, tmp);
  for (size_t al = 8; al >= 1 && s == LDM_OK; al /= 2)
    for (int i = 0; i < w->nt && s == LDM_OK; i++)
      if (ldm_st_dtype_size(w->t[i].dt) == al && w->t[i].nbytes)
        s = write_all(fp, w->t[i].data, w->t[i].nbytes, tmp);
  if (s == LDM_OK && fflush(fp) != 0) s = LDM_FAIL(LDM_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
  if (s == LDM_OK && fsync(fileno(fp)) != 0)
    s = LDM_FAIL(LDM_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
  if (fclose(fp) != 0 && s == LDM_OK) s = LDM_FAIL(LDM_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
  if (s == LDM_OK && rename(tmp, path) != 0)
    s = LDM_FAIL(LDM_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
  if (s != LDM_OK) {
    unlink(tmp); /* best effort; the first error is the one reported */
  } else {
    s = fsync_dir_of(path);
  }
  free(b.p);
  free(tmp);
  return s;
}

/* ------------------------------------------------------------------------------------------------
 * Reader
 * ---------------------------------------------------------------------------------------------- */
typedef struct {
  ldm_st_tensor t;
  uint64_t begin, end;
  void *own; /* an aligned copy, when the tensor's bytes are misaligned in the data region */
} st_rentry;

struct ldm_st_file {
  char *path;
  st_rentry *e; /* sorted by data offset */
  int ne, cape;
  const ldm_st_tensor **by_name; /* sorted by name */
  char **mk, **mv;
  int nm, capk, capv;
  bool have_meta;
  unsigned char *data;
  size_t data_len;
};

/* JSON parser state. */
typedef struct {
  const char *path;
  const unsigned char *s;
  size_t n, pos;
} jp;

static ldm_status jerr(const jp *p, const char *what) {
  return LDM_FAIL(LDM_ERR_FORMAT, "%s: safetensors header is not valid JSON: %s at byte %zu", p->path, what,
                  p->pos + 8);
}

static void jws(jp *p) {
  while (p->pos < p->n) {
    unsigned char c = p->s[p->pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
    else break;
  }
}

static bool jpeek(jp *p, unsigned char c) {
  jws(p);
  return p->pos < p->n && p->s[p->pos] == c;
}

static ldm_status jexpect(jp *p, unsigned char c) {
  jws(p);
  if (p->pos >= p->n) return jerr(p, "unexpected end of header");
  if (p->s[p->pos] != c) {
    char what[40];
    snprintf(what, sizeof what, "expected '%c'", c);
    return jerr(p, what);
  }
  p->pos++;
  return LDM_OK;
}

size_t ldm_utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_u4(jp *p, uint32_t *out) {
  if (p->n - p->pos < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p->s[p->pos + (size_t)i]);
    if (h < 0) return false;
    v = (v << 4) | (uint32_t)h;
  }
  p->pos += 4;
  *out = v;
  return true;
}

/* Parse a JSON string into a fresh NUL-terminated UTF-8 buffer (\u0000 is rejected). */
static ldm_status jstring(jp *p, char **out) {
  *out = NULL;
  LDM_TRY(jexpect(p, '"'));
  /* Find the closing quote to size the output (decoded text is never longer than the raw text). */
  size_t end = p->pos;
  while (end < p->n && p->s[end] != '"') end += (p->s[end] == '\\') ? 2 : 1;
  if (end >= p->n) return jerr(p, "unterminated string");
  char *buf = ldm_malloc(end - p->pos + 1);
  if (!buf) return LDM_ERR_NOMEM;
  size_t o = 0;
  while (p->s[p->pos] != '"') {
    unsigned char c = p->s[p->pos];
    if (c < 0x20) {
      free(buf);
      return jerr(p, "control character in string");
    }
    if (c != '\\') {
      size_t l = ldm_utf8_seq(p->s + p->pos, end - p->pos);
      if (!l) {
        free(buf);
        return jerr(p, "invalid UTF-8 in string");
      }
      memcpy(buf + o, p->s + p->pos, l);
      o += l;
      p->pos += l;
      continue;
    }
    p->pos++; /* backslash; end guarantees one more byte */
    unsigned char e = p->s[p->pos++];
    uint32_t cp;
    switch (e) {
    case '"': buf[o++] = '"'; continue;
    case '\\': buf[o++] = '\\'; continue;
    case '/': buf[o++] = '/'; continue;
    case 'b': buf[o++] = '\b'; continue;
    case 'f': buf[o++] = '\f'; continue;
    case 'n': buf[o++] = '\n'; continue;
    case 'r': buf[o++] = '\r'; continue;
    case 't': buf[o++] = '\t'; continue;
    case 'u':
      if (!read_u4(p, &cp)) {
        free(buf);
        return jerr(p, "bad \\u escape");
      }
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo;
        if (p->n - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
          free(buf);
          return jerr(p, "unpaired surrogate in \\u escape");
        }
        p->pos += 2;
        if (!read_u4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
          free(buf);
          return jerr(p, "unpaired surrogate in \\u escape");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        free(buf);
        return jerr(p, "unpaired surrogate in \\u escape");
      } else if (cp == 0) {
        free(buf);
        return jerr(p, "\\u0000 in string");
      }
      if (cp < 0x80) {
        buf[o++] = (char)cp;
      } else if (cp < 0x800) {
        buf[o++] = (char)(0xC0 | (cp >> 6));
        buf[o++] = (char)(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        buf[o++] = (char)(0xE0 | (cp >> 12));
        buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[o++] = (char)(0x80 | (cp & 0x3F));
      } else {
        buf[o++] = (char)(0xF0 | (cp >> 18));
        buf[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[o++] = (char)(0x80 | (cp & 0x3F));
      }
      continue;
    default: free(buf); return jerr(p, "bad escape in string");
    }
  }
  p->pos++; /* closing quote */
  buf[o] = 0;
  *out = buf;
  return LDM_OK;
}

/* Parse an array of non-negative integers (at most max of them, each <= INT64_MAX). */
static ldm_status jintarray(jp *p, const char *tname, const char *field, int max, uint64_t *vals, int *count) {
  LDM_TRY(jexpect(p, '['));
  *count = 0;
  if (jpeek(p, ']')) {
    p->pos++;
    return LDM_OK;
  }
  for (;;) {
    jws(p);
    if (p->pos >= p->n) return jerr(p, "unexpected end of header");
    if (p->s[p->pos] == '-')
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has a negative value in %s", p->path, tname, field);
    if (p->s[p->pos] < '0' || p->s[p->pos] > '9') return jerr(p, "expected an integer");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
      return jerr(p, "number with a leading zero");
    uint64_t v = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
      if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, (uint64_t)(p->s[p->pos] - '0'), &v) ||
          v > (uint64_t)INT64_MAX)
        return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has a value in %s that overflows 64 bits", p->path,
                        tname, field);
      p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has a non-integer value in %s", p->path, tname, field);
    if (*count >= max)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has more than %d entries in %s", p->path, tname, max, field);
    vals[(*count)++] = v;
    jws(p);
    if (p->pos >= p->n) return jerr(p, "unexpected end of header");
    if (p->s[p->pos] == ',') {
      p->pos++;
      continue;
    }
    if (p->s[p->pos] == ']') {
      p->pos++;
      return LDM_OK;
    }
    return jerr(p, "expected ',' or ']'");
  }
}

/* A metadata key from the file, for a one-line message: control bytes as \xNN, cut at 64 bytes. */
static const char *meta_key_msg(const char *k, char *buf, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; k[i] && o + 8 < cap; i++) {
    unsigned char ch = (unsigned char)k[i];
    if (i >= 64) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (ch < 0x20 || ch == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
    else buf[o++] = (char)ch;
  }
  buf[o] = 0;
  return buf;
}

static ldm_status parse_metadata(jp *p, ldm_st_file *f) {
  jws(p);
  if (p->n - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) {
    p->pos += 4;
    return LDM_OK;
  }
  LDM_TRY(jexpect(p, '{'));
  if (jpeek(p, '}')) {
    p->pos++;
    return LDM_OK;
  }
  for (;;) {
    char *k = NULL, *v = NULL;
    LDM_TRY(jstring(p, &k));
    ldm_status s = jexpect(p, ':');
    char km[300];
    if (s == LDM_OK && !jpeek(p, '"'))
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: __metadata__ value for key \"%s\" is not a string", p->path,
                   meta_key_msg(k, km, sizeof km));
    if (s == LDM_OK) s = jstring(p, &v);
    /* a bound, so that the duplicate check below stays cheap on a hostile header (ldm-vk writes ~30 keys) */
    if (s == LDM_OK && f->nm >= LDM_ST_MAX_META)
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: more than %d __metadata__ keys", p->path, LDM_ST_MAX_META);
    for (int i = 0; s == LDM_OK && i < f->nm; i++)
      if (strcmp(f->mk[i], k) == 0)
        s = LDM_FAIL(LDM_ERR_FORMAT, "%s: duplicate __metadata__ key \"%s\"", p->path, meta_key_msg(k, km, sizeof km));
    if (s == LDM_OK) s = grow((void **)&f->mk, &f->capk, f->nm + 1, sizeof(char *));
    if (s == LDM_OK) s = grow((void **)&f->mv, &f->capv, f->nm + 1, sizeof(char *));
    if (s != LDM_OK) {
      free(k);
      free(v);
      return s;
    }
    f->mk[f->nm] = k;
    f->mv[f->nm] = v;
    f->nm++;
    jws(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
      p->pos++;
      continue;
    }
    return jexpect(p, '}');
  }
}

/* Parse {"dtype":..,"shape":[..],"data_offsets":[b,e]} for tensor `name` (ownership taken). */
static ldm_status parse_tensor(jp *p, ldm_st_file *f, char *name) {
  ldm_status s = grow((void **)&f->e, &f->cape, f->ne + 1, sizeof(st_rentry));
  if (s != LDM_OK) {
    free(name);
    return s;
  }
  st_rentry *e = &f->e[f->ne++];
  memset(e, 0, sizeof *e);
  e->t.name = name; /* owned by f from here on */
  bool have_dt = false, have_shape = false, have_off = false;
  LDM_TRY(jexpect(p, '{'));
  if (jpeek(p, '}')) return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has no dtype", p->path, name);
  for (;;) {
    char *key = NULL;
    LDM_TRY(jstring(p, &key));
    s = jexpect(p, ':');
    if (s == LDM_OK) {
      if (strcmp(key, "dtype") == 0 && !have_dt) {
        char *dt = NULL;
        s = jstring(p, &dt);
        if (s == LDM_OK && !ldm_st_dtype_parse(dt, &e->t.dtype))
          s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has unknown dtype \"%s\"", p->path, name, dt);
        free(dt);
        have_dt = true;
      } else if (strcmp(key, "shape") == 0 && !have_shape) {
        uint64_t v[LDM_ST_MAX_DIMS];
        int cnt = 0;
        s = jintarray(p, name, "shape", LDM_ST_MAX_DIMS, v, &cnt);
        e->t.ndim = cnt;
        for (int i = 0; i < cnt; i++) e->t.shape[i] = (int64_t)v[i];
        have_shape = true;
      } else if (strcmp(key, "data_offsets") == 0 && !have_off) {
        uint64_t v[2];
        int cnt = 0;
        s = jintarray(p, name, "data_offsets", 2, v, &cnt);
        if (s == LDM_OK && cnt != 2)
          s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s data_offsets is not [begin,end]", p->path, name);
        if (s == LDM_OK) {
          e->begin = v[0];
          e->end = v[1];
        }
        have_off = true;
      } else if (strcmp(key, "dtype") == 0 || strcmp(key, "shape") == 0 || strcmp(key, "data_offsets") == 0) {
        s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has field \"%s\" twice", p->path, name, key);
      } else {
        s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has unknown field \"%s\"", p->path, name, key);
      }
    }
    free(key);
    if (s != LDM_OK) return s;
    jws(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
      p->pos++;
      continue;
    }
    LDM_TRY(jexpect(p, '}'));
    break;
  }
  if (!have_dt) return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has no dtype", p->path, name);
  if (!have_shape) return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has no shape", p->path, name);
  if (!have_off) return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has no data_offsets", p->path, name);
  return LDM_OK;
}

static ldm_status parse_header(jp *p, ldm_st_file *f) {
  LDM_TRY(jexpect(p, '{'));
  if (jpeek(p, '}')) {
    p->pos++;
  } else {
    for (;;) {
      char *key = NULL;
      LDM_TRY(jstring(p, &key));
      ldm_status s = jexpect(p, ':');
      if (s != LDM_OK) {
        free(key);
        return s;
      }
      if (strcmp(key, "__metadata__") == 0) {
        free(key);
        if (f->have_meta) return LDM_FAIL(LDM_ERR_FORMAT, "%s: __metadata__ appears twice", p->path);
        f->have_meta = true;
        LDM_TRY(parse_metadata(p, f));
      } else {
        LDM_TRY(parse_tensor(p, f, key));
      }
      jws(p);
      if (p->pos < p->n && p->s[p->pos] == ',') {
        p->pos++;
        continue;
      }
      LDM_TRY(jexpect(p, '}'));
      break;
    }
  }
  jws(p);
  if (p->pos != p->n) return jerr(p, "unexpected characters after the header object");
  return LDM_OK;
}

static int cmp_offset(const void *a, const void *b) {
  const st_rentry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp((*(const ldm_st_tensor *const *)a)->name, (*(const ldm_st_tensor *const *)b)->name);
}

static ldm_status validate(ldm_st_file *f) {
  const char *path = f->path;
  char sh[160];
  for (int i = 0; i < f->ne; i++) {
    st_rentry *e = &f->e[i];
    uint64_t numel, nbytes;
    if (!shape_numel(e->t.ndim, e->t.shape, &numel) ||
        __builtin_mul_overflow(numel, (uint64_t)ldm_st_dtype_size(e->t.dtype), &nbytes)) {
      format_shape(sh, sizeof sh, e->t.ndim, e->t.shape);
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s shape %s overflows 64 bits", path, e->t.name, sh);
    }
    if (e->end < e->begin)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s data_offsets [%" PRIu64 ",%" PRIu64 "] end before begin",
                      path, e->t.name, e->begin, e->end);
    if (e->end - e->begin != nbytes) {
      format_shape(sh, sizeof sh, e->t.ndim, e->t.shape);
      return LDM_FAIL(LDM_ERR_FORMAT,
                      "%s: tensor %s data_offsets span %" PRIu64 " bytes but dtype %s shape %s needs %" PRIu64,
                      path, e->t.name, e->end - e->begin, ldm_st_dtype_name(e->t.dtype), sh, nbytes);
    }
    if (e->end > f->data_len)
      return LDM_FAIL(LDM_ERR_FORMAT,
                      "%s: tensor %s data_offsets end %" PRIu64 " lies past the %zu-byte data region (truncated file?)",
                      path, e->t.name, e->end, f->data_len);
    e->t.offset = e->begin;
    e->t.numel = (size_t)numel;
    e->t.nbytes = (size_t)nbytes;
  }
  /* Tiling: sorted by offset, no gap, no overlap, covering the whole data region. */
  if (f->ne > 1) qsort(f->e, (size_t)f->ne, sizeof(st_rentry), cmp_offset);
  uint64_t expect = 0;
  for (int i = 0; i < f->ne; i++) {
    st_rentry *e = &f->e[i];
    if (e->begin > expect)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: gap in the data region: bytes %" PRIu64 "..%" PRIu64 " belong to no tensor",
                      path, expect, e->begin);
    if (e->begin < expect)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s overlaps the previous tensor's data (offset %" PRIu64 " < %" PRIu64 ")",
                      path, e->t.name, e->begin, expect);
    expect = e->end;
    e->t.data = f->data + e->begin;
    /* The data region is 16-byte aligned; a tensor that starts off that boundary (after an odd-sized
     * U8 tensor, say) gets its own aligned copy so callers may read it as its element type. */
    if (e->t.nbytes > 0 && (uintptr_t)e->t.data % 16 != 0) {
      e->own = ldm_malloc(e->t.nbytes);
      if (!e->own) return LDM_ERR_NOMEM;
      memcpy(e->own, e->t.data, e->t.nbytes);
      e->t.data = e->own;
    }
  }
  if (expect != f->data_len)
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: data region has %" PRIu64 " trailing bytes that belong to no tensor", path,
                    (uint64_t)f->data_len - expect);
  /* Duplicate names. */
  f->by_name = ldm_malloc(sizeof(*f->by_name) * (size_t)(f->ne ? f->ne : 1));
  if (!f->by_name) return LDM_ERR_NOMEM;
  for (int i = 0; i < f->ne; i++) f->by_name[i] = &f->e[i].t;
  if (f->ne > 1) qsort(f->by_name, (size_t)f->ne, sizeof(*f->by_name), cmp_name);
  for (int i = 1; i < f->ne; i++)
    if (strcmp(f->by_name[i]->name, f->by_name[i - 1]->name) == 0)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: duplicate tensor name %s", path, f->by_name[i]->name);
  return LDM_OK;
}

static ldm_status read_exact(FILE *fp, void *buf, size_t n, const char *path, const char *what) {
  char *p = buf;
  while (n > 0) {
    size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
    size_t got = fread(p, 1, chunk, fp);
    if (got != chunk) {
      if (ferror(fp)) return LDM_FAIL(LDM_ERR_IO, "%s: read error in %s: %s", path, what, strerror(errno));
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: file ends in the middle of the %s (truncated?)", path, what);
    }
    p += chunk;
    n -= chunk;
  }
  return LDM_OK;
}

ldm_status ldm_st_open(const char *path, ldm_st_file **out) {
  *out = NULL;
  if (!path) return LDM_FAIL(LDM_ERR_INVALID_ARG, "safetensors: no path given");
  FILE *fp = fopen(path, "rb");
  if (!fp) return LDM_FAIL(LDM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  ldm_st_file *f = NULL;
  unsigned char *hdr = NULL;
  ldm_status s = LDM_OK;
  struct stat st;
  if (fstat(fileno(fp), &st) != 0) {
    s = LDM_FAIL(LDM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    s = LDM_FAIL(LDM_ERR_IO, "%s: not a regular file", path);
    goto done;
  }
  uint64_t fsize = (uint64_t)st.st_size;
  if (fsize < 8) {
    s = LDM_FAIL(LDM_ERR_FORMAT, "%s: file is %" PRIu64 " bytes, too short for a safetensors header", path, fsize);
    goto done;
  }
  unsigned char len8[8];
  if ((s = read_exact(fp, len8, 8, path, "header length")) != LDM_OK) goto done;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
  if (hlen > LDM_ST_MAX_HEADER) {
    s = LDM_FAIL(LDM_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds 100 MB", path, hlen);
    goto done;
  }
  if (hlen > fsize - 8) {
    s = LDM_FAIL(LDM_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the file size %" PRIu64 " (truncated?)", path,
                 hlen, fsize);
    goto done;
  }
  if (hlen < 2) {
    s = LDM_FAIL(LDM_ERR_FORMAT, "%s: header length %" PRIu64 " is too small to hold a JSON object", path, hlen);
    goto done;
  }
  f = ldm_calloc(1, sizeof *f);
  hdr = ldm_malloc((size_t)hlen);
  if (!f || !hdr || !(f->path = dupstr(path))) {
    s = LDM_ERR_NOMEM;
    goto done;
  }
  if ((s = read_exact(fp, hdr, (size_t)hlen, path, "header")) != LDM_OK) goto done;
  f->data_len = (size_t)(fsize - 8 - hlen);
  f->data = ldm_malloc(f->data_len);
  if (!f->data) {
    s = LDM_ERR_NOMEM;
    goto done;
  }
  if ((s = read_exact(fp, f->data, f->data_len, path, "tensor data")) != LDM_OK) goto done;
  jp p = {path, hdr, (size_t)hlen, 0};
  if ((s = parse_header(&p, f)) != LDM_OK) goto done;
  s = validate(f);
done:
  if (fclose(fp) != 0 && s == LDM_OK) s = LDM_FAIL(LDM_ERR_IO, "%s: close failed: %s", path, strerror(errno));
  free(hdr);
  if (s != LDM_OK) {
    ldm_st_close(f);
    return s;
  }
  *out = f;
  return LDM_OK;
}

void ldm_st_close(ldm_st_file *f) {
  if (!f) return;
  for (int i = 0; i < f->ne; i++) {
    free((char *)f->e[i].t.name);
    free(f->e[i].own);
  }
  for (int i = 0; i < f->nm; i++) {
    free(f->mk[i]);
    free(f->mv[i]);
  }
  free(f->e);
  free((void *)f->by_name);
  free(f->mk);
  free(f->mv);
  free(f->data);
  free(f->path);
  free(f);
}

const char *ldm_st_path(const ldm_st_file *f) { return f->path; }
int ldm_st_count(const ldm_st_file *f) { return f->ne; }

const ldm_st_tensor *ldm_st_at(const ldm_st_file *f, int i) {
  return (i >= 0 && i < f->ne) ? &f->e[i].t : NULL;
}

const ldm_st_tensor *ldm_st_find(const ldm_st_file *f, const char *name) {
  int lo = 0, hi = f->ne - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    const ldm_st_tensor *t = f->by_name[mid];
    int c = strcmp(name, t->name);
    if (c == 0) return t;
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return NULL;
}

ldm_status ldm_st_expect(const ldm_st_file *f, const char *name, ldm_st_dtype dt, int ndim, const int64_t *shape,
                         const ldm_st_tensor **out) {
  if (out) *out = NULL;
  const ldm_st_tensor *t = ldm_st_find(f, name);
  if (!t) return LDM_FAIL(LDM_ERR_MISMATCH, "%s: has no tensor named %s", f->path, name);
  if (t->dtype != dt)
    return LDM_FAIL(LDM_ERR_MISMATCH, "%s: tensor %s has dtype %s but %s was expected", f->path, name,
                    ldm_st_dtype_name(t->dtype), ldm_st_dtype_name(dt));
  bool same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
  if (!same) {
    char a[160], b[160];
    format_shape(a, sizeof a, t->ndim, t->shape);
    format_shape(b, sizeof b, ndim, shape);
    return LDM_FAIL(LDM_ERR_MISMATCH, "%s: tensor %s has shape %s but %s was expected", f->path, name, a, b);
  }
  if (out) *out = t;
  return LDM_OK;
}

const char *ldm_st_meta(const ldm_st_file *f, const char *key) {
  for (int i = 0; i < f->nm; i++)
    if (strcmp(f->mk[i], key) == 0) return f->mv[i];
  return NULL;
}

int ldm_st_meta_count(const ldm_st_file *f) { return f->nm; }

void ldm_st_meta_at(const ldm_st_file *f, int i, const char **key, const char **value) {
  bool ok = i >= 0 && i < f->nm;
  if (key) *key = ok ? f->mk[i] : NULL;
  if (value) *value = ok ? f->mv[i] : NULL;
}
