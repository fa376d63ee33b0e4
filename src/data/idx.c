/* idx reader (MNIST / Fashion-MNIST), plain or gzip. zlib's gzread reads both: a file that does not
 * start with the gzip magic 1f 8b is read as is. Every byte count is checked: a short read, a
 * broken gzip stream or trailing bytes are errors naming the file. The header's size is never
 * trusted for an allocation: a plain file must be exactly as long as it says (fstat), and a gzip
 * stream's payload buffer grows as data arrives (at most doubling), so a 29-byte file claiming
 * terabytes fails after allocating a megabyte at most. */
#include "ldm/data.h"
#include "io/open_read.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_FIRST_CHUNK ((size_t)1 << 20) /* first payload allocation of a stream of unknown size */

typedef struct {
  gzFile g;
  const char *path;
  bool gz;
  bool sized;    /* a plain regular file: its length is known */
  uint64_t size; /* bytes, when sized */
} idx_reader;

static ldm_status idx_open(idx_reader *r, const char *path) {
  r->path = path;
  r->g = NULL;
  int fd;
  struct stat st;
  LDM_TRY(ldm_open_read(path, &fd, &st));
  unsigned char m[2] = {0, 0};
  ssize_t got = pread(fd, m, 2, 0);
  if (got < 0) {
    int e = errno;
    close(fd);
    return LDM_FAIL(LDM_ERR_IO, "%s: read error: %s", path, strerror(e));
  }
  r->gz = got == 2 && m[0] == 0x1f && m[1] == 0x8b;
  r->sized = !r->gz && S_ISREG(st.st_mode);
  r->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
  errno = 0;
  r->g = gzdopen(fd, "rb"); /* owns fd from here on */
  if (!r->g) {
    int e = errno;
    close(fd);
    return LDM_FAIL(LDM_ERR_IO, "%s: cannot open: %s", path, e ? strerror(e) : "out of memory");
  }
  /* only a speed hint (failure is harmless): 1 MiB, or the file's size when smaller */
  unsigned want = r->size < (1u << 20) ? (unsigned)r->size : 1u << 20;
  (void)gzbuffer(r->g, want < 8192 ? 8192 : want);
  return LDM_OK;
}

static void idx_close(idx_reader *r) {
  if (r->g) gzclose_r(r->g);
  r->g = NULL;
}

/* zlib prefixes its messages with "<path>: "; we name the file ourselves. */
static const char *strip_path(const idx_reader *r, const char *msg) {
  size_t n = strlen(r->path);
  if (msg && strncmp(msg, r->path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') return msg + n + 2;
  return msg ? msg : "unknown error";
}

/* Read up to n bytes into buf, adding the count to *done; fewer than n means the stream ended. */
static ldm_status idx_read_some(idx_reader *r, unsigned char *buf, size_t n, size_t *done) {
  size_t k = 0;
  while (k < n) {
    size_t chunk = n - k > (1u << 30) ? (1u << 30) : n - k;
    int got = gzread(r->g, buf + k, (unsigned)chunk);
    if (got < 0) {
      int errnum = 0;
      const char *msg = gzerror(r->g, &errnum);
      if (errnum == Z_ERRNO) return LDM_FAIL(LDM_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: corrupt gzip data: %s", r->path, strip_path(r, msg));
    }
    k += (size_t)got;
    if ((size_t)got < chunk) break;
  }
  *done += k;
  return LDM_OK;
}

/* Read exactly n bytes of `what` (named in the error message). */
static ldm_status idx_read(idx_reader *r, void *buf, size_t n, const char *what) {
  size_t done = 0;
  LDM_TRY(idx_read_some(r, buf, n, &done));
  if (done < n) {
    int errnum = 0;
    gzerror(r->g, &errnum);
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: truncated %sidx file: expected %zu bytes of %s, found %zu", r->path,
                    r->gz && errnum == Z_BUF_ERROR ? "gzip-compressed " : "", n, what, done);
  }
  return LDM_OK;
}

/* The payload of `total` bytes (header already read, hlen bytes). Never allocates more than the data
 * that has arrived (times two) or, for a plain file, than the file holds. */
static ldm_status idx_read_payload(idx_reader *r, size_t hlen, size_t total, const char *what, uint8_t **out) {
  *out = NULL;
  if (r->sized) {
    uint64_t have = r->size > hlen ? r->size - hlen : 0;
    if (have < total)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: truncated idx file: the header says %zu bytes of %s, the file has %llu",
                      r->path, total, what, (unsigned long long)have);
    if (have > total)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: file is longer than its idx header says (%zu data bytes expected, %llu found)",
                      r->path, total, (unsigned long long)have);
  }
  size_t cap = r->sized || total <= IDX_FIRST_CHUNK ? total : IDX_FIRST_CHUNK;
  uint8_t *buf = ldm_malloc(cap);
  if (!buf) return LDM_ERR_NOMEM;
  size_t done = 0;
  while (done < total) {
    if (done == cap) {
      size_t nc = cap > total / 2 ? total : cap * 2;
      uint8_t *q = realloc(buf, nc);
      if (!q) {
        free(buf);
        return LDM_FAIL(LDM_ERR_NOMEM, "%s: out of host memory reading %zu bytes of %s", r->path, total, what);
      }
      buf = q;
      cap = nc;
    }
    ldm_status s = idx_read_some(r, buf + done, cap - done, &done);
    if (s != LDM_OK) {
      free(buf);
      return s;
    }
    if (done < cap) break; /* the stream ended */
  }
  if (done < total) {
    free(buf);
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: truncated %sidx file: expected %zu bytes of %s, found %zu", r->path,
                    r->gz ? "gzip-compressed " : "", total, what, done);
  }
  *out = buf;
  return LDM_OK;
}

/* After the payload: the file must end here, and a gzip stream must end cleanly (CRC checked). */
static ldm_status idx_expect_end(idx_reader *r, size_t payload) {
  unsigned char extra[16];
  int got = gzread(r->g, extra, sizeof extra);
  int errnum = 0;
  const char *msg = gzerror(r->g, &errnum);
  if (got < 0) return LDM_FAIL(LDM_ERR_FORMAT, "%s: corrupt gzip data: %s", r->path, strip_path(r, msg));
  if (got > 0)
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: file is longer than its idx header says (%zu data bytes expected)",
                    r->path, payload);
  if (r->gz && errnum == Z_BUF_ERROR)
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: truncated gzip stream (the data is complete but the gzip trailer is missing)",
                    r->path);
  return LDM_OK;
}

static uint32_t be32(const unsigned char *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | (uint32_t)b[3];
}

/* Load an idx file of unsigned bytes with `ndim` dimensions (1 or 3). */
static ldm_status idx_load(const char *path, int ndim, const char *kind, uint8_t **data, int *dims) {
  *data = NULL;
  idx_reader r;
  LDM_TRY(idx_open(&r, path));
  ldm_status s;
  unsigned char hdr[16];
  size_t hlen = 4 + 4 * (size_t)ndim;
  uint8_t *buf = NULL;
  if ((s = idx_read(&r, hdr, 4, "idx magic")) != LDM_OK) goto fail;
  uint32_t magic = be32(hdr);
  uint32_t want = 0x0800u | (uint32_t)ndim;
  if (magic != want) {
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[3] == 0 || hdr[3] > 4)
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: not an idx file (magic 0x%08x, expected 0x%08x for an idx %s file)", path,
                   (unsigned)magic, (unsigned)want, kind);
    else
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: idx magic 0x%08x is not an idx %s file (expected 0x%08x)", path,
                   (unsigned)magic, kind, (unsigned)want);
    goto fail;
  }
  if ((s = idx_read(&r, hdr + 4, hlen - 4, "idx header")) != LDM_OK) goto fail;
  size_t total = 1;
  for (int i = 0; i < ndim; i++) {
    uint32_t d = be32(hdr + 4 + 4 * i);
    if (d == 0 || d > INT_MAX) {
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: idx dimension %d is %u (must be 1..%d)", path, i, (unsigned)d, INT_MAX);
      goto fail;
    }
    if (__builtin_mul_overflow(total, (size_t)d, &total)) {
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: idx dimensions overflow the address space", path);
      goto fail;
    }
    dims[i] = (int)d;
  }
  char what[32];
  snprintf(what, sizeof what, "%s data", kind);
  if ((s = idx_read_payload(&r, hlen, total, what, &buf)) != LDM_OK) goto fail;
  if ((s = idx_expect_end(&r, total)) != LDM_OK) goto fail;
  idx_close(&r);
  *data = buf;
  return LDM_OK;
fail:
  idx_close(&r);
  free(buf);
  return s;
}

ldm_status ldm_idx_load_images(const char *path, uint8_t **pix, int *n, int *h, int *w) {
  int dims[3];
  LDM_TRY(idx_load(path, 3, "image", pix, dims));
  *n = dims[0];
  *h = dims[1];
  *w = dims[2];
  return LDM_OK;
}

ldm_status ldm_idx_load_labels(const char *path, uint8_t **labels, int *n) {
  int dims[1];
  LDM_TRY(idx_load(path, 1, "label", labels, dims));
  *n = dims[0];
  return LDM_OK;
}
