/* ldm-vk file formats: safetensors (checkpoints, caches) and PNG sample grids. */
#ifndef LDM_IO_H
#define LDM_IO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ldm/ldm.h"

/* ---------------------------------------------------------------------------------------------
 * dtypes (the safetensors spellings)
 * ------------------------------------------------------------------------------------------- */
typedef enum ldm_st_dtype {
  LDM_DT_F32 = 0,
  LDM_DT_I32,
  LDM_DT_U32,
  LDM_DT_U8,
  LDM_DT_I64,
  /* Known to the reader so that files from PyTorch open; ldm-vk itself writes only the above. */
  LDM_DT_F16,
  LDM_DT_BF16,
  LDM_DT_F64,
  LDM_DT_I8,
  LDM_DT_I16,
  LDM_DT_U16,
  LDM_DT_U64,
  LDM_DT_BOOL,
  LDM_DT_COUNT_
} ldm_st_dtype;

const char *ldm_st_dtype_name(ldm_st_dtype dt); /* "F32", ... ; "?" for an invalid value */
size_t ldm_st_dtype_size(ldm_st_dtype dt);      /* bytes per element; 0 for an invalid value */
bool ldm_st_dtype_parse(const char *name, ldm_st_dtype *out);

/* ---------------------------------------------------------------------------------------------
 * safetensors
 *
 * Layout: u64 little-endian header length N, N bytes of JSON (padded with spaces to a multiple of
 * 8), then the data region. Header: {"__metadata__":{"k":"v",...}, "name":{"dtype":"F32",
 * "shape":[..],"data_offsets":[begin,end]}, ...}, offsets relative to the data region.
 * ------------------------------------------------------------------------------------------- */
#define LDM_ST_MAX_DIMS 8
#define LDM_ST_MAX_HEADER (100u * 1000u * 1000u) /* bytes; larger headers are rejected */

/* Writer: collects tensors and string metadata. The header lists tensors in the order added; the
 * data region is contiguous, ordered by element size (8-byte dtypes first, then 4, 2, 1) and by the
 * order added within a size, like the reference writer, so every tensor is aligned to its element
 * size in the file (PyTorch refuses to view misaligned bytes as F32/I64). */
typedef struct ldm_st_writer ldm_st_writer;

ldm_status ldm_st_writer_new(ldm_st_writer **out);
void ldm_st_writer_free(ldm_st_writer *w); /* NULL is fine */
/* Add a tensor; the data (numel * dtype size bytes) is copied now. ndim 0..LDM_ST_MAX_DIMS. */
ldm_status ldm_st_writer_add(ldm_st_writer *w, const char *name, ldm_st_dtype dt, int ndim,
                             const int64_t *shape, const void *data);
/* Same, but only the pointer is kept: data must stay valid until ldm_st_write_atomic returns. */
ldm_status ldm_st_writer_add_ref(ldm_st_writer *w, const char *name, ldm_st_dtype dt, int ndim,
                                 const int64_t *shape, const void *data);
/* Set (or replace) a __metadata__ entry. */
ldm_status ldm_st_writer_set_meta(ldm_st_writer *w, const char *key, const char *value);
/* Write to "<path>.tmp.<pid>", fflush + fsync, rename over path, fsync the directory.
 * On failure the temp file is removed and any existing file at path is untouched. */
ldm_status ldm_st_write_atomic(ldm_st_writer *w, const char *path);

/* Reader: the whole file is read and validated by ldm_st_open; hostile input gives LDM_ERR_FORMAT
 * (or LDM_ERR_IO if it cannot be read) with a message naming the file and the reason. */
typedef struct ldm_st_file ldm_st_file;

typedef struct ldm_st_tensor {
  const char *name;
  ldm_st_dtype dtype;
  int ndim;
  int64_t shape[LDM_ST_MAX_DIMS];
  size_t numel;
  const void *data; /* 16-byte aligned (on glibc); valid until ldm_st_close */
  size_t nbytes;
  uint64_t offset; /* of its bytes within the file's data region (data_offsets[0]) */
} ldm_st_tensor;

ldm_status ldm_st_open(const char *path, ldm_st_file **out);
void ldm_st_close(ldm_st_file *f); /* NULL is fine */
const char *ldm_st_path(const ldm_st_file *f);
int ldm_st_count(const ldm_st_file *f);
/* i-th tensor in data-region order (for files ldm-vk writes: by element size, then order added). */
const ldm_st_tensor *ldm_st_at(const ldm_st_file *f, int i);
/* NULL if there is no tensor of that name. */
const ldm_st_tensor *ldm_st_find(const ldm_st_file *f, const char *name);
/* Like ldm_st_find, but a missing tensor, another dtype or another shape is an error
 * (LDM_ERR_MISMATCH, "<file>: tensor X has shape [..] but [..] was expected"). */
ldm_status ldm_st_expect(const ldm_st_file *f, const char *name, ldm_st_dtype dt, int ndim,
                         const int64_t *shape, const ldm_st_tensor **out);
/* __metadata__: NULL if the key is absent. */
const char *ldm_st_meta(const ldm_st_file *f, const char *key);
int ldm_st_meta_count(const ldm_st_file *f);
void ldm_st_meta_at(const ldm_st_file *f, int i, const char **key, const char **value);

/* ---------------------------------------------------------------------------------------------
 * PNG output. Images are NCHW floats in [-1,1] (clamped; NaN -> -1), c = 1 (grey) or 3 (RGB).
 * `crop` pixels are cut from every side of every image (Fashion-MNIST 32 -> 28: crop = 2).
 * ------------------------------------------------------------------------------------------- */
/* Grid with `nrow` images per row, 2 pixels of black between tiles and around the edge
 * (the layout of torchvision.utils.make_grid). */
ldm_status ldm_png_write_grid(const char *path, const float *imgs, int n, int c, int h, int w,
                              int nrow, int crop);
ldm_status ldm_png_write_image(const char *path, const float *img, int c, int h, int w, int crop);

#endif
