/* ldm-vk file formats: safetensors (checkpoints, caches), PNG/JPEG output with settings, PNG/JPEG decoding. */
#ifndef LDM_IO_H
#define LDM_IO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ldm/ldm.h"

#ifdef __cplusplus
extern "C" {
#endif

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
#define LDM_ST_MAX_META 4096 /* __metadata__ keys; more are rejected */
/* Length of the valid UTF-8 sequence at s (n >= 1 bytes left), 0 if invalid: no overlong forms, no
 * surrogates, nothing above U+10FFFF. The one decoder of the safetensors, JSON and metadata readers. */
size_t ldm_utf8_seq(const unsigned char *s, size_t n);

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
/* The same protocol for any bytes (metrics.jsonl rewrites): "<path>.tmp.<pid>", fsync, rename, fsync
 * the directory; on failure the temp file is removed and path is untouched. */
ldm_status ldm_file_write_atomic(const char *path, const void *data, size_t n);
/* Remove the regular files "<name>.tmp.<pid>" of dir (not recursive) whose process is gone (killed
 * while writing) or is the caller (a temp file of ours cannot be in progress when this is called).
 * Returns how many were removed; a missing dir is 0. */
int ldm_clean_stale_temps(const char *dir);

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
 * Image output (src/io/png.c). Images are NCHW floats in [-1,1] (clamped; NaN -> -1), c = 1 (grey) or
 * 3 (RGB). `crop` pixels are cut from every side of every image (Fashion-MNIST 32 -> 28: crop = 2).
 * PNG is written by libpng, JPEG by libjpeg at quality LDM_JPEG_QUALITY; the file is encoded in memory
 * and written with ldm_file_write_atomic. `text` (ntext entries, may be NULL when ntext is 0) holds the
 * generation settings: in a PNG one tEXt chunk per entry (iTXt, UTF-8, when the value is not plain
 * ASCII), in a JPEG one COM marker of "key: value" lines. Keys are 1..79 printable ASCII characters
 * without leading, trailing or doubled spaces (PNG keywords).
 * ------------------------------------------------------------------------------------------- */
#define LDM_JPEG_QUALITY 95

typedef struct ldm_image_text {
  const char *key;
  const char *value;
} ldm_image_text;

typedef enum ldm_image_format { LDM_IMAGE_UNKNOWN = 0, LDM_IMAGE_PNG, LDM_IMAGE_JPEG } ldm_image_format;

/* Grid with `nrow` images per row, 2 pixels of black between tiles and around the edge (the layout of
 * torchvision.utils.make_grid). fmt LDM_IMAGE_UNKNOWN: by the name (ldm_image_format_for_name); a name
 * that is neither .png nor .jpg/.jpeg is then LDM_ERR_INVALID_ARG. */
ldm_status ldm_image_write_grid(const char *path, ldm_image_format fmt, const float *imgs, int n, int c, int h,
                                int w, int nrow, int crop, const ldm_image_text *text, int ntext);
ldm_status ldm_image_write(const char *path, ldm_image_format fmt, const float *img, int c, int h, int w, int crop,
                           const ldm_image_text *text, int ntext);
/* PNG whatever the name, no text chunks. */
ldm_status ldm_png_write_grid(const char *path, const float *imgs, int n, int c, int h, int w,
                              int nrow, int crop);
ldm_status ldm_png_write_image(const char *path, const float *img, int c, int h, int w, int crop);

/* ---------------------------------------------------------------------------------------------
 * Image decoding (untrusted input; docs/security.md). Only PNG (libpng) and JPEG (libjpeg-turbo)
 * are decoded, chosen by the magic bytes (89 'P' 'N' 'G' 0d 0a 1a 0a, or ff d8 ff); any other
 * content is refused, naming what it looks like. Every failure is LDM_ERR_FORMAT (LDM_ERR_IO if the
 * file cannot be read, LDM_ERR_NOMEM) with a one-line message naming the file. PNG: palette, grey
 * < 8 bit and 16-bit samples are converted to 8 bit (16 -> 8 rounds: v * 255 / 65535), interlaced
 * images are de-interlaced. JPEG: grey, YCbCr and RGB (CMYK/YCCK refused); any libjpeg warning
 * (corrupt or truncated data) is an error.
 * ------------------------------------------------------------------------------------------- */
#define LDM_IMAGE_MAX_SIDE 16384                /* pixels, width and height */
#define LDM_IMAGE_MAX_PIXELS (64ll << 20)       /* width * height */
#define LDM_IMAGE_MAX_FILE ((size_t)256 << 20)  /* bytes of one image file */
#define LDM_IMAGE_MAX_JPEG_SCANS 1000           /* progressive JPEG scans */

typedef struct ldm_image_limits {
  int max_side;       /* a larger width or height is refused before anything is allocated */
  int64_t max_pixels; /* likewise width * height */
} ldm_image_limits;

/* The format by magic bytes. */
ldm_image_format ldm_image_sniff(const void *data, size_t n);
/* The format a file name asks for: .png -> PNG, .jpg / .jpeg -> JPEG (any case), else UNKNOWN. */
ldm_image_format ldm_image_format_for_name(const char *path);

/* Decode n bytes (name is used in messages only). channels: 1 (luminance (77 R + 150 G + 29 B) >> 8),
 * 3 (RGB; grey replicated) or 0 (as stored: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA); alpha is dropped,
 * not composited. *pix: malloc'd, h rows of w * channels bytes (free()). *src_channels (may be NULL):
 * the stored channel count. lim NULL = LDM_IMAGE_MAX_SIDE / LDM_IMAGE_MAX_PIXELS. */
ldm_status ldm_image_decode(const char *name, const void *data, size_t n, int channels, const ldm_image_limits *lim,
                            uint8_t **pix, int *w, int *h, int *src_channels);
/* Read and decode a file. A name ending in .png (.jpg, .jpeg; any case) must hold a PNG (JPEG):
 * a mismatch is refused, saying what the content is. */
ldm_status ldm_image_load(const char *path, int channels, uint8_t **pix, int *w, int *h, int *src_channels);

#ifdef __cplusplus
}
#endif
#endif
