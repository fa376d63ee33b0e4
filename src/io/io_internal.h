/* Private to src/io: the safetensors reader's file object (shared by the header parser and the reader),
 * small helpers of the reader and the writer, and the atomic-write protocol of the writers. */
#ifndef LDM_IO_INTERNAL_H
#define LDM_IO_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ldm/io.h"

/* ---------------------------------------------------------------- safetensors reader (safetensors.c) */
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

/* Parse the JSON header hdr[0..n) of the file at path into f (safetensors_header.c): the metadata into
 * f->mk / f->mv, one st_rentry per tensor (name, dtype, shape, data_offsets; not yet checked against the
 * data region). Messages name path and the byte offset in the file. */
ldm_status ldm_st_parse_header(const char *path, const unsigned char *hdr, size_t n, ldm_st_file *f);

/* realloc *p (of *cap elements of elem bytes) to hold need, doubling; LDM_ERR_NOMEM through the error
 * convention */
ldm_status ldm_st_grow(void **p, int *cap, int need, size_t elem);
char *ldm_st_dupstr(const char *s);
/* numel of a shape with checked multiplication; false on a negative extent or overflow */
bool ldm_st_shape_numel(int ndim, const int64_t *shape, uint64_t *out);
/* "[a,b,c]" into buf */
void ldm_st_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape);

/* ---------------------------------------------------------------- atomic writes (atomic.c) */
/* "<path>.tmp.<pid>", written, fflush + fsync, closed, renamed over path, the directory fsync'd. */
typedef struct {
  const char *path;
  char *tmp;
  FILE *fp;
} ldm_atomic_file;

/* Create the temporary file; on failure nothing is left to close. */
ldm_status ldm_atomic_open(ldm_atomic_file *a, const char *path);
/* Write n bytes to it (in chunks of at most 1 GiB). */
ldm_status ldm_atomic_write(ldm_atomic_file *a, const void *data, size_t n);
/* s: the status of the writes so far. When it is LDM_OK: flush, fsync, close, rename over the path and
 * fsync its directory; on any failure the temporary file is removed and the path untouched. Always
 * closes and frees; returns the first error. */
ldm_status ldm_atomic_close(ldm_atomic_file *a, ldm_status s);
#endif
