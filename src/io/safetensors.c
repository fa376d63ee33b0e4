/* safetensors reader (hostile-input safe), and the dtype table of reader and writer.
 *
 * The reader reads the whole file, parses the JSON header (safetensors_header.c) and validates every
 * tensor entry before anything is handed out: known dtype, shape without overflow, data_offsets matching
 * numel * dtype size, offsets that tile the data region exactly, no duplicate names. The data region is
 * read into its own malloc'd (16-byte aligned) buffer, and any tensor that would start off a 16-byte
 * boundary there is copied out, so every tensor is aligned. The writer is safetensors_write.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_internal.h"

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
ldm_status ldm_st_grow(void **p, int *cap, int need, size_t elem) {
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

char *ldm_st_dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = ldm_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* numel of a shape with checked multiplication; false on overflow. */
bool ldm_st_shape_numel(int ndim, const int64_t *shape, uint64_t *out) {
  uint64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return false;
    if (__builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return false;
  }
  *out = n;
  return true;
}

void ldm_st_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t len = 0;
  buf[0] = 0;
  len += (size_t)snprintf(buf + len, cap - len, "[");
  for (int i = 0; i < ndim && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, i ? "," : "", shape[i]);
  if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* ------------------------------------------------------------------------------------------------
 * Reader
 * ---------------------------------------------------------------------------------------------- */
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
    if (!ldm_st_shape_numel(e->t.ndim, e->t.shape, &numel) ||
        __builtin_mul_overflow(numel, (uint64_t)ldm_st_dtype_size(e->t.dtype), &nbytes)) {
      ldm_st_format_shape(sh, sizeof sh, e->t.ndim, e->t.shape);
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s shape %s overflows 64 bits", path, e->t.name, sh);
    }
    if (e->end < e->begin)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s data_offsets [%" PRIu64 ",%" PRIu64 "] end before begin",
                      path, e->t.name, e->begin, e->end);
    if (e->end - e->begin != nbytes) {
      ldm_st_format_shape(sh, sizeof sh, e->t.ndim, e->t.shape);
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
  if (!f || !hdr || !(f->path = ldm_st_dupstr(path))) {
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
  if ((s = ldm_st_parse_header(path, hdr, (size_t)hlen, f)) != LDM_OK) goto done;
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
    ldm_st_format_shape(a, sizeof a, t->ndim, t->shape);
    ldm_st_format_shape(b, sizeof b, ndim, shape);
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
