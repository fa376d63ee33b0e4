/* libFuzzer harness: the idx reader (images and labels), on the input as is and gzip-compressed
 * (so that mutations also reach the payload behind a valid gzip stream).
 * LDM_FUZZ_SOURCES: src/data/idx.c */
#include <zlib.h>

#include "fuzz_util.h"
#include "ldm/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void load_both(const char *path, size_t file_size, bool gz) {
  uint8_t *p = (uint8_t *)1;
  int n = 0, h = 0, w = 0;
  ldm_status s = ldm_idx_load_images(path, &p, &n, &h, &w);
  if (s == LDM_OK) {
    if (n <= 0 || h <= 0 || w <= 0) abort();
    size_t total = (size_t)n * (size_t)h * (size_t)w;
    if (!gz && total + 16 != file_size) abort();
    fuzz_touch(p, total);
    free(p);
  } else {
    if (p) abort();
    fuzz_check_error(s, path);
  }
  p = (uint8_t *)1;
  s = ldm_idx_load_labels(path, &p, &n);
  if (s == LDM_OK) {
    if (n <= 0 || (!gz && (size_t)n + 8 != file_size)) abort();
    fuzz_touch(p, (size_t)n);
    free(p);
  } else {
    if (p) abort();
    fuzz_check_error(s, path);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bool is_gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  load_both(fuzz_as_file(0, data, size), size, is_gz);
  if (size > (1u << 16)) return 0;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 1, Z_DEFLATED, 9 + 16, 1, Z_DEFAULT_STRATEGY) != Z_OK) abort(); /* small: fast */
  size_t cap = deflateBound(&z, (uLong)size);
  uint8_t *gz = malloc(cap);
  if (!gz) abort();
  z.next_in = (Bytef *)(uintptr_t)data;
  z.avail_in = (uInt)size;
  z.next_out = gz;
  z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
  size_t gn = cap - z.avail_out;
  deflateEnd(&z);
  load_both(fuzz_as_file(1, gz, gn), gn, true);
  free(gz);
  return 0;
}
