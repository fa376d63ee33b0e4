/* libFuzzer harness: the safetensors reader (ldm_st_open and the accessors), on any bytes.
 * LDM_FUZZ_SOURCES: src/io/safetensors.c src/io/safetensors_header.c src/io/json_string.c */
#include "fuzz_util.h"
#include "ldm/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_as_file(0, data, size);
  ldm_st_file *f = (ldm_st_file *)1;
  ldm_status s = ldm_st_open(path, &f);
  if (s != LDM_OK) {
    if (f) abort();
    fuzz_check_error(s, path);
    return 0;
  }
  if (strcmp(ldm_st_path(f), path) != 0) abort();
  int n = ldm_st_count(f);
  if (n < 0) abort();
  for (int i = 0; i < n; i++) {
    const ldm_st_tensor *t = ldm_st_at(f, i);
    if (!t || !t->name) abort();
    size_t es = ldm_st_dtype_size(t->dtype);
    if (es == 0 || t->ndim < 0 || t->ndim > LDM_ST_MAX_DIMS) abort();
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
      if (t->shape[d] < 0) abort();
      numel *= (size_t)t->shape[d]; /* cannot overflow: numel * es bytes are in the file */
    }
    if (numel != t->numel || numel * es != t->nbytes) abort();
    if (t->nbytes > size) abort();
    fuzz_touch(t->data, t->nbytes);
    (void)ldm_st_dtype_name(t->dtype);
    const ldm_st_tensor *byname = ldm_st_find(f, t->name);
    if (!byname || strcmp(byname->name, t->name) != 0) abort();
    const ldm_st_tensor *got = NULL;
    if (ldm_st_expect(f, t->name, t->dtype, t->ndim, t->shape, &got) != LDM_OK || !got) abort();
    /* and a mismatching expectation is a clean error */
    ldm_st_dtype other = t->dtype == LDM_DT_F32 ? LDM_DT_I32 : LDM_DT_F32;
    ldm_status e = ldm_st_expect(f, t->name, other, t->ndim, t->shape, &got);
    if (e == LDM_OK) abort();
    fuzz_check_error(e, path);
  }
  for (int i = 0; i < ldm_st_meta_count(f); i++) {
    const char *k = NULL, *v = NULL;
    ldm_st_meta_at(f, i, &k, &v);
    if (!k || !v || !ldm_st_meta(f, k)) abort();
    fuzz_touch(k, strlen(k));
    fuzz_touch(v, strlen(v));
  }
  (void)ldm_st_find(f, "no such tensor");
  ldm_st_close(f);
  return 0;
}
