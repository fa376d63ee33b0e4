/* Tests for src/io (safetensors, PNG) and src/data (idx, Fashion-MNIST, image folders, shuffle).
 * Every fixture is generated here, in temp directories made with mkdtemp. */
#include <check.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>
#include <png.h>

#include "ldm/checkpoint.h"
#include "ldm/data.h"
#include "ldm/io.h"
#include "ldm/runinfo.h"
#include "ldm/train.h"
#include "io/json_string.h"
#include "report/json.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
/* stb_image_write makes fixtures here only (libldm writes PNG with libpng, JPEG with libjpeg) */
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
#pragma GCC diagnostic pop

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ------------------------------------------------------------------------------------------------
 * helpers
 * ---------------------------------------------------------------------------------------------- */
static char tmpdir[256];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/ldm_test_io_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static void remove_tmpdir(void) {
  if (tmpdir[0]) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  tmpdir[0] = 0;
}

static const char *tpath(const char *name) {
  static char buf[8][512];
  static int k;
  char *b = buf[k++ % 8];
  snprintf(b, 512, "%s/%s", tmpdir, name);
  return b;
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  if (n) ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
  ck_assert_int_eq(fclose(fp), 0);
}

static void write_gz(const char *path, const void *data, size_t n) {
  gzFile g = gzopen(path, "wb");
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
  ck_assert_int_eq(gzclose(g), Z_OK);
}

static long file_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  return (long)st.st_size;
}

static void mkdir_ok(const char *path) { ck_assert_int_eq(mkdir(path, 0755), 0); }

/* The error message names the file (or folder) and is one line. */
static void assert_msg_names(const char *what) {
  const char *msg = ldm_last_error();
  ck_assert_msg(strstr(msg, what) != NULL, "error \"%s\" does not name \"%s\"", msg, what);
  ck_assert_msg(strchr(msg, '\n') == NULL, "error \"%s\" is not one line", msg);
}

/* Cap the address space at its current size + 512 MiB for the hostile-header tests: the allocation
 * a lying header asks for then fails (LDM_ERR_NOMEM, a failed test) instead of succeeding lazily
 * under overcommit. Not under AddressSanitizer, which maps terabytes of shadow memory (and reports
 * huge allocations itself). Check runs each test in its own process; the cap is lifted anyway. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_IO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_IO_ASAN 1
#endif
static struct rlimit saved_as;
static bool as_capped;

static void cap_address_space(void) {
#ifndef TEST_IO_ASAN
  FILE *fp = fopen("/proc/self/statm", "r");
  if (!fp) return;
  unsigned long pages = 0;
  int ok = fscanf(fp, "%lu", &pages) == 1;
  fclose(fp);
  if (!ok) return;
  ck_assert_int_eq(getrlimit(RLIMIT_AS, &saved_as), 0);
  struct rlimit r = saved_as;
  rlim_t want = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20);
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur <= want) return;
  r.rlim_cur = want;
  ck_assert_int_eq(setrlimit(RLIMIT_AS, &r), 0);
  as_capped = true;
#endif
}

static void uncap_address_space(void) {
  if (as_capped) ck_assert_int_eq(setrlimit(RLIMIT_AS, &saved_as), 0);
  as_capped = false;
}

/* ------------------------------------------------------------------------------------------------
 * safetensors
 * ---------------------------------------------------------------------------------------------- */

/* Write a raw safetensors file: 8-byte LE length (hlen, or strlen(header)), header, data. */
static void write_st_raw(const char *path, uint64_t hlen, const char *header, const void *data, size_t ndata) {
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  unsigned char l[8];
  for (int i = 0; i < 8; i++) l[i] = (unsigned char)(hlen >> (8 * i));
  ck_assert_uint_eq(fwrite(l, 1, 8, fp), 8);
  size_t hl = strlen(header);
  if (hl) ck_assert_uint_eq(fwrite(header, 1, hl, fp), hl);
  if (ndata) ck_assert_uint_eq(fwrite(data, 1, ndata, fp), ndata);
  ck_assert_int_eq(fclose(fp), 0);
}

static void write_st(const char *path, const char *header, size_t ndata) {
  unsigned char data[256] = {0};
  ck_assert_uint_le(ndata, sizeof data);
  write_st_raw(path, strlen(header), header, data, ndata);
}

START_TEST(st_roundtrip) {
  make_tmpdir();
  const char *path = tpath("ck.safetensors");
  float a[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-7f, -1e30f};
  int32_t b[4] = {-1, 2, INT32_MAX, INT32_MIN};
  uint8_t c[3] = {1, 2, 255};
  int64_t d = INT64_MIN + 5;
  uint32_t e[4] = {0, 1, 0xFFFFFFFFu, 7};
  int64_t sa[2] = {2, 3}, sb[1] = {4}, sc[1] = {3}, se[2] = {2, 2}, sz[2] = {0, 5};

  ldm_st_writer *w = NULL;
  ck_assert_int_eq(ldm_st_writer_new(&w), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "enc.0.n1.weight", LDM_DT_F32, 2, sa, a), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "b", LDM_DT_I32, 1, sb, b), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "c", LDM_DT_U8, 1, sc, c), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "scalar", LDM_DT_I64, 0, NULL, &d), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add_ref(w, "e\"q\\x", LDM_DT_U32, 2, se, e), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "empty", LDM_DT_F32, 2, sz, NULL), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "b", LDM_DT_I32, 1, sb, b), LDM_ERR_INVALID_ARG); /* duplicate */
  ck_assert_int_eq(ldm_st_writer_add(w, "bad\xff", LDM_DT_I32, 1, sb, b), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_st_writer_set_meta(w, "k", "bad\xc0\xaf"), LDM_ERR_INVALID_ARG);
  int64_t neg[1] = {-1};
  ck_assert_int_eq(ldm_st_writer_add(w, "neg", LDM_DT_I32, 1, neg, b), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_st_writer_set_meta(w, "step", "41"), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_set_meta(w, "step", "42"), LDM_OK); /* replaces */
  ck_assert_int_eq(ldm_st_writer_set_meta(w, "config", "{\"name\": \"fmnist\",\n\t\"ch\": [32,64]} \xc3\xa9"), LDM_OK);
  e[0] = 99; /* referenced, not copied: the written value is 99 */
  a[0] = 7.0f; /* copied: the written value stays 1.5 */
  /* Write twice: the second write replaces the first atomically. */
  ck_assert_int_eq(ldm_st_write_atomic(w, path), LDM_OK);
  ck_assert_int_eq(ldm_st_write_atomic(w, path), LDM_OK);
  ldm_st_writer_free(w);

  /* Header length is a multiple of 8 and no temp file is left behind. */
  FILE *fp = fopen(path, "rb");
  ck_assert_ptr_nonnull(fp);
  unsigned char l8[8];
  ck_assert_uint_eq(fread(l8, 1, 8, fp), 8);
  fclose(fp);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | l8[i];
  ck_assert_uint_eq(hlen % 8, 0);
  ck_assert_int_eq((long)(8 + hlen + sizeof a + sizeof b + sizeof c + sizeof d + sizeof e), file_size(path));
  char tmpname[600];
  snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
  ck_assert_int_eq(access(tmpname, F_OK), -1);

  ldm_st_file *f = NULL;
  ck_assert_int_eq(ldm_st_open(path, &f), LDM_OK);
  ck_assert_int_eq(ldm_st_count(f), 6);
  /* Data order: 8-byte dtypes, then 4-byte ones in the order added, then 1-byte; each aligned. */
  static const char *const order[6] = {"scalar", "enc.0.n1.weight", "b", "e\"q\\x", "empty", "c"};
  for (int i = 0; i < 6; i++) {
    const ldm_st_tensor *ti = ldm_st_at(f, i);
    ck_assert_str_eq(ti->name, order[i]);
    ck_assert_uint_eq((8 + hlen + ti->offset) % ldm_st_dtype_size(ti->dtype), 0);
  }
  for (int i = 0; i < ldm_st_count(f); i++)
    if (ldm_st_at(f, i)->nbytes) ck_assert_uint_eq((uintptr_t)ldm_st_at(f, i)->data % 16, 0);
  const ldm_st_tensor *t = ldm_st_find(f, "enc.0.n1.weight");
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->dtype, LDM_DT_F32);
  ck_assert_int_eq(t->ndim, 2);
  ck_assert_int_eq(t->shape[0], 2);
  ck_assert_int_eq(t->shape[1], 3);
  ck_assert_uint_eq(t->numel, 6);
  ck_assert_uint_eq(t->nbytes, 24);
  ck_assert_uint_eq((uintptr_t)t->data % 16, 0);
  const float *fa = t->data;
  ck_assert(fa[0] == 1.5f && fa[1] == -2.0f && fa[4] == 1e-7f && fa[5] == -1e30f);
  t = ldm_st_find(f, "b");
  ck_assert_int_eq(memcmp(t->data, b, sizeof b), 0);
  t = ldm_st_find(f, "c");
  ck_assert_int_eq(t->dtype, LDM_DT_U8);
  ck_assert_int_eq(memcmp(t->data, c, sizeof c), 0);
  t = ldm_st_find(f, "scalar");
  ck_assert_int_eq(t->ndim, 0);
  ck_assert_uint_eq(t->numel, 1);
  int64_t dd;
  memcpy(&dd, t->data, 8);
  ck_assert(dd == d);
  t = ldm_st_find(f, "e\"q\\x");
  ck_assert_ptr_nonnull(t);
  ck_assert_uint_eq(((const uint32_t *)t->data)[0], 99);
  ck_assert_uint_eq(((const uint32_t *)t->data)[2], 0xFFFFFFFFu);
  t = ldm_st_find(f, "empty");
  ck_assert_uint_eq(t->nbytes, 0);
  ck_assert_ptr_null(ldm_st_find(f, "nope"));
  ck_assert_str_eq(ldm_st_meta(f, "step"), "42");
  ck_assert_str_eq(ldm_st_meta(f, "config"), "{\"name\": \"fmnist\",\n\t\"ch\": [32,64]} \xc3\xa9");
  ck_assert_ptr_null(ldm_st_meta(f, "nope"));
  ck_assert_int_eq(ldm_st_meta_count(f), 2);

  /* ldm_st_expect: right, wrong shape, wrong dtype, missing. */
  int64_t want[2] = {2, 3}, wrong[2] = {3, 2};
  ck_assert_int_eq(ldm_st_expect(f, "enc.0.n1.weight", LDM_DT_F32, 2, want, &t), LDM_OK);
  ck_assert_int_eq(ldm_st_expect(f, "enc.0.n1.weight", LDM_DT_F32, 2, wrong, &t), LDM_ERR_MISMATCH);
  assert_msg_names("[3,2]");
  ck_assert_int_eq(ldm_st_expect(f, "enc.0.n1.weight", LDM_DT_I32, 2, want, &t), LDM_ERR_MISMATCH);
  ck_assert_int_eq(ldm_st_expect(f, "missing", LDM_DT_F32, 2, want, &t), LDM_ERR_MISMATCH);
  assert_msg_names("missing");
  ldm_st_close(f);

  /* Writing into a missing directory fails with IO and leaves nothing. */
  ck_assert_int_eq(ldm_st_writer_new(&w), LDM_OK);
  ck_assert_int_eq(ldm_st_write_atomic(w, tpath("no/such/dir/x.safetensors")), LDM_ERR_IO);
  ldm_st_writer_free(w);
  /* An empty file (no tensors, no metadata) round-trips. */
  ck_assert_int_eq(ldm_st_writer_new(&w), LDM_OK);
  ck_assert_int_eq(ldm_st_write_atomic(w, tpath("empty.safetensors")), LDM_OK);
  ldm_st_writer_free(w);
  ck_assert_int_eq(ldm_st_open(tpath("empty.safetensors"), &f), LDM_OK);
  ck_assert_int_eq(ldm_st_count(f), 0);
  ldm_st_close(f);
  remove_tmpdir();
}
END_TEST

/* Hand-written headers that are valid: escapes, whitespace padding, null metadata, zero-size. */
START_TEST(st_valid_handmade) {
  make_tmpdir();
  const char *p = tpath("h.safetensors");
  write_st(p,
           " { \"w\\u00e9\\ud83d\\ude00\\n\" : {\"shape\":[2],\"dtype\":\"U8\",\"data_offsets\":[4,6]},\n"
           "\"__metadata__\":null, \"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}     ",
           6);
  ldm_st_file *f = NULL;
  ck_assert_msg(ldm_st_open(p, &f) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(ldm_st_count(f), 3);
  ck_assert_str_eq(ldm_st_at(f, 0)->name, "a");
  ck_assert_ptr_nonnull(ldm_st_find(f, "w\xc3\xa9\xf0\x9f\x98\x80\n"));
  ck_assert_uint_eq(ldm_st_find(f, "z")->nbytes, 0);
  ck_assert_int_eq(ldm_st_meta_count(f), 0);
  ldm_st_close(f);
  remove_tmpdir();
}
END_TEST

typedef struct {
  const char *what;
  const char *header;
  size_t ndata;
} hostile_case;

static const hostile_case hostile[] = {
    {"empty header object is fine but trailing garbage is not", "{} x", 0},
    {"not JSON", "garbage!", 0},
    {"unterminated", "{\"a\":{\"dtype\":\"F32\",", 0},
    {"missing colon", "{\"a\" {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"missing comma", "{\"a\":{\"dtype\":\"F32\" \"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"trailing comma", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4},
    {"float in shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4},
    {"exponent in offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4e0]}}", 4},
    {"leading zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4},
    {"string in shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4},
    {"control char in string", "{\"a\tb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"bad escape", "{\"a\\qb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"bad \\u escape", "{\"a\\u12G4\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"lone surrogate", "{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"\\u0000", "{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"invalid UTF-8", "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"overlong UTF-8", "{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"tensor is not an object", "{\"a\":[1,2]}", 0},
    {"top level is an array", "[1,2]", 0},
    {"unknown dtype", "{\"a\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4},
    {"dim over int64", "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4},
    {"shape product overflow",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4},
    {"nbytes overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4},
    {"too many dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1},
    {"offsets wrong count", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4},
    {"offsets end before begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4},
    {"offsets size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4},
    {"missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4},
    {"unknown field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":[1]}}", 4},
    {"field twice", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
    {"gap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
     12},
    {"gap at start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12},
    {"same range twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4},
    {"trailing data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8},
    {"data past end (truncated)", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8},
    {"duplicate name",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8},
    {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0},
    {"metadata value not a string", "{\"__metadata__\":{\"step\":42}}", 0},
    {"metadata not an object", "{\"__metadata__\":[\"a\"]}", 0},
};

START_TEST(st_hostile_header) {
  make_tmpdir();
  const hostile_case *hc = &hostile[_i];
  const char *p = tpath("bad.safetensors");
  write_st(p, hc->header, hc->ndata);
  ldm_st_file *f = (ldm_st_file *)(uintptr_t)1;
  ldm_clear_error();
  ldm_status s = ldm_st_open(p, &f);
  ck_assert_msg(s == LDM_ERR_FORMAT, "case '%s': status %d (%s)", hc->what, s, ldm_last_error());
  ck_assert_ptr_null(f);
  assert_msg_names(p);
  remove_tmpdir();
}
END_TEST

START_TEST(st_hostile_framing) {
  make_tmpdir();
  const char *p = tpath("bad.safetensors");
  ldm_st_file *f = NULL;
  /* Shorter than 8 bytes. */
  write_file(p, "\x10\0\0\0", 4);
  ck_assert_int_eq(ldm_st_open(p, &f), LDM_ERR_FORMAT);
  assert_msg_names(p);
  /* Empty file. */
  write_file(p, "", 0);
  ck_assert_int_eq(ldm_st_open(p, &f), LDM_ERR_FORMAT);
  /* Header length over 100 MB (the file is tiny: must be rejected before allocating). */
  write_st_raw(p, 200000000ull, "{}", NULL, 0);
  ck_assert_int_eq(ldm_st_open(p, &f), LDM_ERR_FORMAT);
  assert_msg_names("exceeds 100 MB");
  write_st_raw(p, UINT64_MAX, "{}", NULL, 0);
  ck_assert_int_eq(ldm_st_open(p, &f), LDM_ERR_FORMAT);
  /* Header length beyond the end of the file. */
  write_st_raw(p, 1000, "{}      ", NULL, 0);
  ck_assert_int_eq(ldm_st_open(p, &f), LDM_ERR_FORMAT);
  assert_msg_names("exceeds the file size");
  /* Zero header length. */
  write_st_raw(p, 0, "", NULL, 0);
  ck_assert_int_eq(ldm_st_open(p, &f), LDM_ERR_FORMAT);
  /* A real file cut short in its data region. */
  float v[64] = {0};
  int64_t shape[1] = {64};
  ldm_st_writer *w = NULL;
  ck_assert_int_eq(ldm_st_writer_new(&w), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "v", LDM_DT_F32, 1, shape, v), LDM_OK);
  ck_assert_int_eq(ldm_st_write_atomic(w, p), LDM_OK);
  ldm_st_writer_free(w);
  ck_assert_int_eq(truncate(p, file_size(p) - 3), 0);
  ck_assert_int_eq(ldm_st_open(p, &f), LDM_ERR_FORMAT);
  assert_msg_names(p);
  /* Missing file and a directory. */
  ck_assert_int_eq(ldm_st_open(tpath("missing.safetensors"), &f), LDM_ERR_IO);
  assert_msg_names("missing.safetensors");
  ck_assert_int_eq(ldm_st_open(tmpdir, &f), LDM_ERR_IO);
  ck_assert_ptr_null(f);
  remove_tmpdir();
}
END_TEST

/* Every truncation and thousands of random byte mutations of a valid file: ldm_st_open must return
 * LDM_OK or LDM_ERR_FORMAT, never crash (run under ASan to see reads out of bounds). */
START_TEST(st_mutations) {
  make_tmpdir();
  const char *p = tpath("m.safetensors");
  float v[5] = {1, 2, 3, 4, 5};
  uint8_t u[3] = {1, 2, 3};
  int64_t s5[1] = {5}, s3[1] = {3};
  ldm_st_writer *w = NULL;
  ck_assert_int_eq(ldm_st_writer_new(&w), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "a.w", LDM_DT_F32, 1, s5, v), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_add(w, "b\u00e9", LDM_DT_U8, 1, s3, u), LDM_OK);
  ck_assert_int_eq(ldm_st_writer_set_meta(w, "k", "v\"x"), LDM_OK);
  ck_assert_int_eq(ldm_st_write_atomic(w, p), LDM_OK);
  ldm_st_writer_free(w);
  long n = file_size(p);
  ck_assert_int_gt(n, 0);
  uint8_t *orig = malloc((size_t)n), *buf = malloc((size_t)n);
  ck_assert_ptr_nonnull(orig);
  ck_assert_ptr_nonnull(buf);
  FILE *fp = fopen(p, "rb");
  ck_assert_ptr_nonnull(fp);
  ck_assert_uint_eq(fread(orig, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  ldm_st_file *f = NULL;
  for (long len = 0; len < n; len++) {
    write_file(p, orig, (size_t)len);
    ck_assert_int_eq(ldm_st_open(p, &f), LDM_ERR_FORMAT);
  }
  uint64_t rng = 12345;
  static const char alphabet[] = "{}[]\":,-0123456789 \\u\x00\xff\x80" "e.";
  int ok = 0;
  for (int it = 0; it < 3000; it++) {
    memcpy(buf, orig, (size_t)n);
    int muts = 1 + (int)(ldm_splitmix64(&rng) % 3);
    for (int m = 0; m < muts; m++) {
      size_t pos = 8 + (size_t)(ldm_splitmix64(&rng) % (uint64_t)(n - 8));
      buf[pos] = (uint8_t)alphabet[ldm_splitmix64(&rng) % (sizeof alphabet - 1)];
    }
    write_file(p, buf, (size_t)n);
    ldm_status st = ldm_st_open(p, &f);
    ck_assert_msg(st == LDM_OK || st == LDM_ERR_FORMAT, "mutation %d: status %d", it, st);
    if (st == LDM_OK) {
      ok++;
      for (int i = 0; i < ldm_st_count(f); i++) ck_assert_ptr_eq(ldm_st_find(f, ldm_st_at(f, i)->name), ldm_st_at(f, i));
      ldm_st_close(f);
    } else {
      ck_assert_ptr_null(f);
    }
  }
  ck_assert_int_lt(ok, 3000);
  free(orig);
  free(buf);
  remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * idx and Fashion-MNIST
 * ---------------------------------------------------------------------------------------------- */
static size_t make_idx(uint8_t *buf, uint32_t magic, int ndim, const uint32_t *dims, uint8_t fill_seed) {
  size_t o = 0;
  uint32_t v[4] = {magic, 0, 0, 0};
  for (int i = 0; i < ndim; i++) v[1 + i] = dims[i];
  size_t total = 1;
  for (int i = 0; i < ndim; i++) total *= dims[i];
  for (int i = 0; i <= ndim; i++) {
    buf[o++] = (uint8_t)(v[i] >> 24);
    buf[o++] = (uint8_t)(v[i] >> 16);
    buf[o++] = (uint8_t)(v[i] >> 8);
    buf[o++] = (uint8_t)v[i];
  }
  for (size_t i = 0; i < total; i++) buf[o++] = (uint8_t)(i * 7 + fill_seed);
  return o;
}

START_TEST(idx_roundtrip) {
  make_tmpdir();
  static uint8_t buf[4096];
  uint32_t dims[3] = {3, 4, 5};
  size_t n = make_idx(buf, 0x803, 3, dims, 1);
  for (int gz = 0; gz < 2; gz++) {
    const char *p = tpath(gz ? "img.gz" : "img");
    if (gz) write_gz(p, buf, n);
    else write_file(p, buf, n);
    uint8_t *pix = NULL;
    int in = 0, ih = 0, iw = 0;
    ck_assert_msg(ldm_idx_load_images(p, &pix, &in, &ih, &iw) == LDM_OK, "%s", ldm_last_error());
    ck_assert_int_eq(in, 3);
    ck_assert_int_eq(ih, 4);
    ck_assert_int_eq(iw, 5);
    ck_assert_int_eq(memcmp(pix, buf + 16, 60), 0);
    free(pix);
  }
  uint32_t ldims[1] = {6};
  n = make_idx(buf, 0x801, 1, ldims, 3);
  for (int gz = 0; gz < 2; gz++) {
    const char *p = tpath(gz ? "lab.gz" : "lab");
    if (gz) write_gz(p, buf, n);
    else write_file(p, buf, n);
    uint8_t *lab = NULL;
    int ln = 0;
    ck_assert_int_eq(ldm_idx_load_labels(p, &lab, &ln), LDM_OK);
    ck_assert_int_eq(ln, 6);
    ck_assert_int_eq(memcmp(lab, buf + 8, 6), 0);
    free(lab);
  }
  remove_tmpdir();
}
END_TEST

START_TEST(idx_bad) {
  make_tmpdir();
  static uint8_t buf[4096];
  uint8_t *pix = NULL;
  int in, ih, iw;
  uint32_t dims[3] = {3, 4, 5};
  size_t n = make_idx(buf, 0x803, 3, dims, 1);
  const char *p = tpath("train-images-idx3-ubyte");

  /* Truncated plain file. */
  write_file(p, buf, n - 10);
  ck_assert_int_eq(ldm_idx_load_images(p, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  assert_msg_names(p);
  assert_msg_names("truncated");
  ck_assert_ptr_null(pix);
  /* Truncated inside the header. */
  write_file(p, buf, 9);
  ck_assert_int_eq(ldm_idx_load_images(p, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  write_file(p, buf, 0);
  ck_assert_int_eq(ldm_idx_load_images(p, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  /* Extra bytes. */
  write_file(p, buf, n + 1);
  ck_assert_int_eq(ldm_idx_load_images(p, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  /* Truncated gzip stream: cut the compressed file in half. */
  const char *pg = tpath("t.gz");
  write_gz(pg, buf, n);
  ck_assert_int_eq(truncate(pg, file_size(pg) / 2), 0);
  ck_assert_int_eq(ldm_idx_load_images(pg, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  assert_msg_names(pg);
  /* gzip with only the 8-byte trailer missing: data complete, stream not. */
  write_gz(pg, buf, n);
  ck_assert_int_eq(truncate(pg, file_size(pg) - 8), 0);
  ck_assert_int_eq(ldm_idx_load_images(pg, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  /* Corrupt gzip payload (CRC or inflate error). */
  write_gz(pg, buf, n);
  {
    long sz = file_size(pg);
    FILE *fp = fopen(pg, "r+b");
    ck_assert_ptr_nonnull(fp);
    uint8_t junk[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
    ck_assert_int_eq(fseek(fp, sz - 8, SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(junk, 1, 4, fp), 4); /* clobber the CRC */
    ck_assert_int_eq(fclose(fp), 0);
  }
  ck_assert_int_eq(ldm_idx_load_images(pg, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  /* Wrong magic: a label file read as images, and garbage. */
  uint32_t ld[1] = {3};
  n = make_idx(buf, 0x801, 1, ld, 0);
  write_file(p, buf, n);
  ck_assert_int_eq(ldm_idx_load_images(p, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  assert_msg_names("magic");
  buf[0] = 0x12;
  write_file(p, buf, n);
  uint8_t *lab = NULL;
  ck_assert_int_eq(ldm_idx_load_labels(p, &lab, &in), LDM_ERR_FORMAT);
  assert_msg_names(p);
  /* Zero dimension. */
  uint32_t zd[3] = {0, 28, 28};
  n = make_idx(buf, 0x803, 3, zd, 0);
  write_file(p, buf, n);
  ck_assert_int_eq(ldm_idx_load_images(p, &pix, &in, &ih, &iw), LDM_ERR_FORMAT);
  /* Missing file. */
  ck_assert_int_eq(ldm_idx_load_images(tpath("nope"), &pix, &in, &ih, &iw), LDM_ERR_IO);
  assert_msg_names("nope");
  remove_tmpdir();
}
END_TEST

/* The header's sizes are never trusted for an allocation: a 29-byte idx3 file claiming
 * 10000000 x 2000 x 2000 = 4e13 bytes (39 TB), the same gzip-compressed, and an idx1 file claiming
 * 2^31 - 1 labels fail as truncated, under an address-space cap that makes the claimed allocation fail.
 * Also: a gzip payload larger than the first read chunk arrives intact (the buffer grows). */
START_TEST(idx_size_bounds) {
  make_tmpdir();
  uint8_t buf[29];
  uint32_t dims[3] = {10000000, 2000, 2000};
  uint32_t hv[4] = {0x803, dims[0], dims[1], dims[2]};
  for (int i = 0; i < 4; i++)
    for (int b = 0; b < 4; b++) buf[4 * i + b] = (uint8_t)(hv[i] >> (24 - 8 * b));
  memset(buf + 16, 0x55, sizeof buf - 16);
  const char *p = tpath("huge-idx3-ubyte"), *pg = tpath("huge-idx3-ubyte.gz"), *pl = tpath("huge-idx1-ubyte");
  write_file(p, buf, sizeof buf);
  ck_assert_int_eq(file_size(p), 29);
  write_gz(pg, buf, sizeof buf);
  uint8_t lbuf[20] = {0, 0, 8, 1, 0x7f, 0xff, 0xff, 0xff};
  memset(lbuf + 8, 3, 12);
  write_file(pl, lbuf, sizeof lbuf);
  cap_address_space();
  uint8_t *pix = (uint8_t *)1;
  int n = 0, h = 0, w = 0;
  ck_assert_int_eq(ldm_idx_load_images(p, &pix, &n, &h, &w), LDM_ERR_FORMAT);
  assert_msg_names(p);
  assert_msg_names("truncated");
  ck_assert_ptr_null(pix);
  pix = (uint8_t *)1;
  ck_assert_int_eq(ldm_idx_load_images(pg, &pix, &n, &h, &w), LDM_ERR_FORMAT);
  assert_msg_names(pg);
  assert_msg_names("truncated");
  ck_assert_ptr_null(pix);
  ck_assert_int_eq(ldm_idx_load_labels(pl, &pix, &n), LDM_ERR_FORMAT);
  assert_msg_names(pl);
  assert_msg_names("truncated");
  uncap_address_space();

  /* 3 x 1024 x 1024 through gzip: the buffer grows 1 -> 2 -> 3 MiB. */
  uint32_t bd[3] = {3, 1024, 1024};
  size_t total = 16 + (size_t)3 * 1024 * 1024;
  uint8_t *big = malloc(total);
  ck_assert_ptr_nonnull(big);
  ck_assert_uint_eq(make_idx(big, 0x803, 3, bd, 9), total);
  write_gz(pg, big, total);
  ck_assert_msg(ldm_idx_load_images(pg, &pix, &n, &h, &w) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(n, 3);
  ck_assert_int_eq(h, 1024);
  ck_assert_int_eq(w, 1024);
  ck_assert_int_eq(memcmp(pix, big + 16, total - 16), 0);
  free(pix);
  /* one byte short of that, and one byte too many */
  write_gz(pg, big, total - 1);
  ck_assert_int_eq(ldm_idx_load_images(pg, &pix, &n, &h, &w), LDM_ERR_FORMAT);
  assert_msg_names("truncated");
  free(big);
  remove_tmpdir();
}
END_TEST

START_TEST(fmnist_synthetic) {
  make_tmpdir();
  static uint8_t buf[16 + 5 * 28 * 28];
  uint32_t dims[3] = {5, 28, 28};
  size_t n = make_idx(buf, 0x803, 3, dims, 1);
  for (size_t i = 16; i < n; i++)
    if (buf[i] == 0) buf[i] = 1; /* so that padding (0) is distinguishable */
  write_gz(tpath("train-images-idx3-ubyte.gz"), buf, n);
  static uint8_t lbuf[16];
  uint32_t ld[1] = {5};
  size_t ln = make_idx(lbuf, 0x801, 1, ld, 0);
  for (int i = 0; i < 5; i++) lbuf[8 + i] = (uint8_t)(9 - i);
  write_file(tpath("train-labels-idx1-ubyte"), lbuf, ln);

  ldm_dataset ds;
  ck_assert_msg(ldm_dataset_load_fmnist(tmpdir, true, 32, &ds) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(ds.n, 5);
  ck_assert_int_eq(ds.channels, 1);
  ck_assert_int_eq(ds.height, 32);
  ck_assert_int_eq(ds.width, 32);
  ck_assert_int_eq(ds.num_classes, 10);
  ck_assert_str_eq(ds.class_names[0], "T-shirt/top");
  ck_assert_str_eq(ds.class_names[9], "Ankle boot");
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(ds.labels[i], 9 - i);
    const uint8_t *img = ds.pixels + (size_t)i * 32 * 32;
    const uint8_t *src = buf + 16 + (size_t)i * 28 * 28;
    for (int y = 0; y < 32; y++)
      for (int x = 0; x < 32; x++) {
        bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
        uint8_t want = inside ? src[(y - 2) * 28 + (x - 2)] : 0;
        ck_assert_uint_eq(img[y * 32 + x], want);
      }
  }
  ldm_dataset_free(&ds);
  ck_assert_ptr_null(ds.pixels);
  /* No padding. */
  ck_assert_int_eq(ldm_dataset_load_fmnist(tmpdir, true, 0, &ds), LDM_OK);
  ck_assert_int_eq(ds.height, 28);
  ldm_dataset_free(&ds);
  /* The test split is missing. */
  ck_assert_int_eq(ldm_dataset_load_fmnist(tmpdir, false, 32, &ds), LDM_ERR_IO);
  assert_msg_names("dataset not found");
  assert_msg_names("t10k-images-idx3-ubyte[.gz]");
  assert_msg_names("--data DIR");
  /* A missing directory. */
  ck_assert_int_eq(ldm_dataset_load_fmnist(tpath("nodir"), true, 32, &ds), LDM_ERR_IO);
  assert_msg_names("nodir");
  /* Label count mismatch. */
  ld[0] = 4;
  ln = make_idx(lbuf, 0x801, 1, ld, 0);
  write_file(tpath("train-labels-idx1-ubyte"), lbuf, ln);
  ck_assert_int_eq(ldm_dataset_load_fmnist(tmpdir, true, 32, &ds), LDM_ERR_FORMAT);
  assert_msg_names("train-labels-idx1-ubyte");
  /* A label out of range. */
  ld[0] = 5;
  ln = make_idx(lbuf, 0x801, 1, ld, 0);
  for (int i = 0; i < 5; i++) lbuf[8 + i] = (uint8_t)i;
  lbuf[10] = 10;
  write_file(tpath("train-labels-idx1-ubyte"), lbuf, ln);
  ck_assert_int_eq(ldm_dataset_load_fmnist(tmpdir, true, 32, &ds), LDM_ERR_FORMAT);
  /* pad_to smaller than the images. */
  for (int i = 0; i < 5; i++) lbuf[8 + i] = (uint8_t)i;
  write_file(tpath("train-labels-idx1-ubyte"), lbuf, ln);
  ck_assert_int_eq(ldm_dataset_load_fmnist(tmpdir, true, 16, &ds), LDM_ERR_INVALID_ARG);
  remove_tmpdir();
}
END_TEST

START_TEST(fmnist_real) {
  struct stat st;
  if (stat(FMNIST_DIR, &st) != 0) {
    fprintf(stderr, "fmnist_real: %s absent, skipped\n", FMNIST_DIR);
    return;
  }
  for (int train = 1; train >= 0; train--) {
    ldm_dataset ds;
    ck_assert_msg(ldm_dataset_load_fmnist(FMNIST_DIR, train, 32, &ds) == LDM_OK, "%s", ldm_last_error());
    ck_assert_int_eq(ds.n, train ? 60000 : 10000);
    ck_assert_int_eq(ds.channels, 1);
    ck_assert_int_eq(ds.height, 32);
    ck_assert_int_eq(ds.width, 32);
    int count[10] = {0};
    for (int i = 0; i < ds.n; i++) {
      ck_assert(ds.labels[i] >= 0 && ds.labels[i] <= 9);
      count[ds.labels[i]]++;
    }
    for (int c = 0; c < 10; c++) ck_assert_int_eq(count[c], ds.n / 10); /* balanced classes */
    /* Border rows/columns are padding. */
    for (int i = 0; i < ds.n; i += 997)
      for (int k = 0; k < 32; k++) {
        const uint8_t *img = ds.pixels + (size_t)i * 1024;
        ck_assert_uint_eq(img[k], 0);
        ck_assert_uint_eq(img[31 * 32 + k], 0);
        ck_assert_uint_eq(img[k * 32], 0);
        ck_assert_uint_eq(img[k * 32 + 31], 0);
      }
    ldm_dataset_free(&ds);
  }
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * image folders
 * ---------------------------------------------------------------------------------------------- */
/* An RGB image w x h: left third red, middle third green, right third blue. */
static void write_bands_png(const char *path, int w, int h) {
  uint8_t *px = malloc((size_t)w * h * 3);
  ck_assert_ptr_nonnull(px);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *q = px + ((size_t)y * w + x) * 3;
      int band = x * 3 / w;
      q[0] = band == 0 ? 255 : 0;
      q[1] = band == 1 ? 255 : 0;
      q[2] = band == 2 ? 255 : 0;
    }
  ck_assert_int_ne(stbi_write_png(path, w, h, 3, px, w * 3), 0);
  free(px);
}

static void write_solid(const char *path, int w, int h, int comp, const uint8_t *color, bool jpg) {
  uint8_t *px = malloc((size_t)w * h * comp);
  ck_assert_ptr_nonnull(px);
  for (int i = 0; i < w * h; i++) memcpy(px + (size_t)i * comp, color, (size_t)comp);
  if (jpg) ck_assert_int_ne(stbi_write_jpg(path, w, h, comp, px, 95), 0);
  else ck_assert_int_ne(stbi_write_png(path, w, h, comp, px, w * comp), 0);
  free(px);
}

static void assert_color(const ldm_dataset *ds, int i, const int *rgb, int tol) {
  int plane = ds->height * ds->width;
  for (int c = 0; c < ds->channels; c++)
    for (int p = 0; p < plane; p++) {
      int v = ds->pixels[((size_t)i * ds->channels + c) * plane + p];
      ck_assert_msg(abs(v - rgb[c]) <= tol, "image %d channel %d pixel %d: %d, expected %d", i, c, p, v, rgb[c]);
    }
}

START_TEST(folder_flat) {
  make_tmpdir();
  const uint8_t red[3] = {255, 0, 0}, grey[1] = {100}, rgba[4] = {0, 0, 255, 128}, white[3] = {255, 255, 255};
  write_bands_png(tpath("b_bands.png"), 30, 10); /* centre crop: the green band */
  write_solid(tpath("a_red.PNG"), 40, 20, 3, red, false);
  write_solid(tpath("c_grey.png"), 16, 16, 1, grey, false);
  write_solid(tpath("d_rgba.png"), 9, 12, 4, rgba, false);
  write_solid(tpath("e_white.JpEg"), 24, 24, 3, white, true);
  write_file(tpath("notes.txt"), "hello", 5);
  write_file(tpath(".hidden.png"), "junk", 4);
  ldm_dataset ds;
  ck_assert_msg(ldm_dataset_load_folder(tmpdir, 8, 3, &ds) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(ds.n, 5);
  ck_assert_int_eq(ds.channels, 3);
  ck_assert_int_eq(ds.height, 8);
  ck_assert_int_eq(ds.width, 8);
  ck_assert_int_eq(ds.num_classes, 0);
  ck_assert_ptr_null(ds.class_names);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(ds.labels[i], -1);
  const int c_red[3] = {255, 0, 0}, c_green[3] = {0, 255, 0}, c_grey[3] = {100, 100, 100}, c_blue[3] = {0, 0, 255},
            c_white[3] = {255, 255, 255};
  assert_color(&ds, 0, c_red, 1);   /* a_red.PNG */
  /* b_bands: a 10x10 centre crop of a 30x10 image is x 10..19, the green band (10..19). */
  assert_color(&ds, 1, c_green, 1);
  assert_color(&ds, 2, c_grey, 1);
  assert_color(&ds, 3, c_blue, 1);  /* alpha dropped */
  assert_color(&ds, 4, c_white, 3); /* JPEG */
  ldm_dataset_free(&ds);

  /* Greyscale conversion: luminance of pure red is about 0.3 * 255. */
  ck_assert_int_eq(ldm_dataset_load_folder(tmpdir, 8, 1, &ds), LDM_OK);
  ck_assert_int_eq(ds.channels, 1);
  int v = ds.pixels[0];
  ck_assert_msg(v >= 70 && v <= 82, "grey of red = %d", v);
  ck_assert_int_eq(ds.pixels[2 * 64], 100);
  ldm_dataset_free(&ds);

  /* Bad arguments. */
  ck_assert_int_eq(ldm_dataset_load_folder(tmpdir, 8, 2, &ds), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_dataset_load_folder(tmpdir, 0, 3, &ds), LDM_ERR_INVALID_ARG);

  /* A corrupt image is named in the error. */
  write_file(tpath("f_corrupt.png"), "\x89PNG\r\n\x1a\nthis is not a png", 25);
  ck_assert_int_eq(ldm_dataset_load_folder(tmpdir, 8, 3, &ds), LDM_ERR_FORMAT);
  assert_msg_names("f_corrupt.png");
  ck_assert_ptr_null(ds.pixels);
  /* A truncated real PNG too. */
  ck_assert_int_eq(remove(tpath("f_corrupt.png")), 0);
  ck_assert_int_eq(truncate(tpath("a_red.PNG"), file_size(tpath("a_red.PNG")) / 2), 0);
  ck_assert_int_eq(ldm_dataset_load_folder(tmpdir, 8, 3, &ds), LDM_ERR_FORMAT);
  assert_msg_names("a_red.PNG");
  remove_tmpdir();
}
END_TEST

START_TEST(folder_classes) {
  make_tmpdir();
  const uint8_t red[3] = {255, 0, 0}, green[3] = {0, 255, 0}, blue[3] = {0, 0, 255};
  mkdir_ok(tpath("b_cls"));
  mkdir_ok(tpath("a_cls"));
  mkdir_ok(tpath("a_cls-2")); /* '-' sorts before '/': ordering must not come from full paths */
  write_solid(tpath("b_cls/y.png"), 10, 10, 3, green, false);
  write_solid(tpath("b_cls/x.png"), 10, 10, 3, red, false);
  write_solid(tpath("a_cls/z.png"), 10, 10, 3, blue, false);
  write_solid(tpath("a_cls-2/q.png"), 10, 10, 3, green, false);
  write_solid(tpath("root_ignored.png"), 10, 10, 3, green, false);
  ldm_dataset ds;
  ck_assert_msg(ldm_dataset_load_folder(tmpdir, 4, 3, &ds) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(ds.n, 4);
  ck_assert_int_eq(ds.num_classes, 3);
  ck_assert_str_eq(ds.class_names[0], "a_cls");
  ck_assert_str_eq(ds.class_names[1], "a_cls-2");
  ck_assert_str_eq(ds.class_names[2], "b_cls");
  const int c_red[3] = {255, 0, 0}, c_green[3] = {0, 255, 0}, c_blue[3] = {0, 0, 255};
  ck_assert_int_eq(ds.labels[0], 0);
  assert_color(&ds, 0, c_blue, 0);
  ck_assert_int_eq(ds.labels[1], 1);
  assert_color(&ds, 1, c_green, 0);
  ck_assert_int_eq(ds.labels[2], 2);
  assert_color(&ds, 2, c_red, 0); /* x.png before y.png */
  ck_assert_int_eq(ds.labels[3], 2);
  assert_color(&ds, 3, c_green, 0);
  ldm_dataset_free(&ds);
  /* An empty class folder is an error naming it. */
  mkdir_ok(tpath("c_empty"));
  ck_assert_int_eq(ldm_dataset_load_folder(tmpdir, 4, 3, &ds), LDM_ERR_FORMAT);
  assert_msg_names("c_empty");
  remove_tmpdir();
}
END_TEST

START_TEST(folder_missing_or_empty) {
  make_tmpdir();
  ldm_dataset ds;
  ck_assert_int_eq(ldm_dataset_load_folder(tmpdir, 8, 3, &ds), LDM_ERR_FORMAT);
  assert_msg_names(tmpdir);
  assert_msg_names("no .png/.jpg/.jpeg images");
  ck_assert_int_eq(ldm_dataset_load_folder(tpath("missing"), 8, 3, &ds), LDM_ERR_IO);
  assert_msg_names("missing");
  remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * untrusted images (docs/security.md): only PNG and JPEG, by magic bytes agreeing with the name,
 * memory-safe, within the size limits
 * ---------------------------------------------------------------------------------------------- */
/* PNG via libpng, for depths and colour types stb_image_write cannot make. raw: h rows of packed
 * big-endian samples exactly as PNG stores them (png_get_rowbytes bytes each). */
static void write_png_raw(const char *path, int w, int h, int depth, int ctype, int interlace, const uint8_t *raw,
                          const png_color *pal, int npal) {
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  ck_assert_ptr_nonnull(png);
  png_infop info = png_create_info_struct(png);
  ck_assert_ptr_nonnull(info);
  png_init_io(png, fp);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (pal) png_set_PLTE(png, info, pal, npal);
  png_write_info(png, info);
  size_t rb = png_get_rowbytes(png, info);
  png_bytep rows[64];
  ck_assert_int_le(h, 64);
  for (int y = 0; y < h; y++) rows[y] = (png_bytep)(uintptr_t)(raw + (size_t)y * rb);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  ck_assert_int_eq(fclose(fp), 0);
}

/* JPEG via libjpeg: a w x h gradient (comps 1 or 3), optionally progressive; malloc'd, *n bytes. */
static uint8_t *make_jpeg(int w, int h, int comps, bool progressive, size_t *n) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr err;
  ci.err = jpeg_std_error(&err);
  jpeg_create_compress(&ci);
  unsigned char *buf = NULL;
  unsigned long len = 0;
  jpeg_mem_dest(&ci, &buf, &len);
  ci.image_width = (JDIMENSION)w;
  ci.image_height = (JDIMENSION)h;
  ci.input_components = comps;
  ci.in_color_space = comps == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, 95, TRUE);
  if (progressive) jpeg_simple_progression(&ci);
  jpeg_start_compress(&ci, TRUE);
  uint8_t row[3 * 256];
  ck_assert_int_le(w, 256);
  while (ci.next_scanline < ci.image_height) {
    int y = (int)ci.next_scanline;
    for (int x = 0; x < w; x++)
      for (int c = 0; c < comps; c++) row[x * comps + c] = (uint8_t)(c == 0 ? x * 4 : c == 1 ? y * 4 : 128);
    JSAMPROW r = row;
    jpeg_write_scanlines(&ci, &r, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  *n = (size_t)len;
  return buf;
}

/* Offset of the first marker ff <code> after SOI, or 0. */
static size_t find_marker(const uint8_t *b, size_t n, uint8_t code) {
  for (size_t i = 2; i + 1 < n; i++)
    if (b[i] == 0xff && b[i + 1] == code) return i;
  return 0;
}

/* A folder holding just `name` with these bytes must fail to load, naming the file and saying `why`. */
static void expect_bad_image(const char *name, const void *data, size_t n, const char *why) {
  char dir[512], file[600];
  static int k;
  snprintf(dir, sizeof dir, "%s/bad%d", tmpdir, k++);
  mkdir_ok(dir);
  snprintf(file, sizeof file, "%s/%s", dir, name);
  write_file(file, data, n);
  ldm_dataset ds;
  ck_assert_msg(ldm_dataset_load_folder(dir, 8, 3, &ds) == LDM_ERR_FORMAT, "%s was accepted (or: %s)", name,
                ldm_last_error());
  assert_msg_names(file);
  assert_msg_names(why);
  ck_assert_ptr_null(ds.pixels);
}

static uint8_t *read_all(const char *path, size_t *n) {
  long sz = file_size(path);
  ck_assert_int_gt(sz, 0);
  uint8_t *b = malloc((size_t)sz);
  ck_assert_ptr_nonnull(b);
  FILE *fp = fopen(path, "rb");
  ck_assert_ptr_nonnull(fp);
  ck_assert_uint_eq(fread(b, 1, (size_t)sz, fp), (size_t)sz);
  ck_assert_int_eq(fclose(fp), 0);
  *n = (size_t)sz;
  return b;
}

static void put_be32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

START_TEST(image_hostile) {
  make_tmpdir();
  /* A 16-bit binary PGM named .png (stb_image decoded it and over-read the heap converting 16 -> 8). */
  const char pgm_hdr[] = "P5\n4 4\n65535\n";
  uint8_t pgm[sizeof pgm_hdr - 1 + 32];
  memcpy(pgm, pgm_hdr, sizeof pgm_hdr - 1);
  memset(pgm + sizeof pgm_hdr - 1, 0xab, 32);
  expect_bad_image("img.png", pgm, sizeof pgm, "not a PNG or JPEG");
  expect_bad_image("img2.png", pgm, sizeof pgm, "netpbm");
  expect_bad_image("anim.png", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14, "GIF");
  expect_bad_image("empty.jpg", "", 0, "not a PNG or JPEG");
  /* Magic and extension disagree: a real PNG named .jpg, a real JPEG named .png, a broken signature. */
  const uint8_t grey[1] = {7};
  write_solid(tpath("ok.png"), 4, 4, 1, grey, false);
  size_t pn = 0, jn = 0;
  uint8_t *pngb = read_all(tpath("ok.png"), &pn);
  uint8_t *jpg = make_jpeg(16, 16, 3, false, &jn);
  expect_bad_image("photo.jpg", pngb, pn, "content is a PNG");
  expect_bad_image("photo.png", jpg, jn, "content is a JPEG");
  pngb[3] = 'X';
  expect_bad_image("sig.png", pngb, pn, "not a PNG or JPEG");
  pngb[3] = 'G';
  /* Truncated PNG (cut in the image data, and right after the header chunk) and truncated JPEG. */
  expect_bad_image("cut.png", pngb, pn - 20, "truncated");
  expect_bad_image("cut2.png", pngb, 33, "truncated");
  expect_bad_image("cut.jpg", jpg, jn / 2, "truncated JPEG");
  expect_bad_image("cut2.jpg", jpg, 100, "truncated JPEG");
  expect_bad_image("cut3.jpg", jpg, jn - 2, "truncated JPEG"); /* only EOI missing: stb_image took it */
  {
    size_t pjn = 0;
    uint8_t *pj = make_jpeg(16, 16, 3, true, &pjn);
    size_t last_sos = 0;
    for (size_t i = 2; i + 1 < pjn; i++)
      if (pj[i] == 0xff && pj[i + 1] == 0xda) last_sos = i;
    ck_assert_uint_gt(last_sos, 0);
    expect_bad_image("cut4.jpg", pj, last_sos, "truncated JPEG"); /* progressive, the last scan missing */
    free(pj);
  }
  /* Corrupt Huffman tables in a valid libjpeg file (stb_image indexed out of bounds on these). */
  size_t dht = find_marker(jpg, jn, 0xc4);
  ck_assert_uint_gt(dht, 0);
  ck_assert_uint_eq(jpg[dht + 4], 0x00); /* class 0 (DC), table 0: the standard luminance DC table */
  uint8_t *bits = jpg + dht + 5, *vals = bits + 16;
  ck_assert_uint_eq(bits[0], 0);
  ck_assert_uint_eq(bits[2], 5);
  uint8_t *bad = malloc(jn);
  ck_assert_ptr_nonnull(bad);
  memcpy(bad, jpg, jn); /* three codes of length 1: the code space overflows (same symbol count) */
  bad[bits - jpg] = 3;
  bad[bits - jpg + 2] = 2;
  expect_bad_image("huff_len.jpg", bad, jn, "Huffman");
  memcpy(bad, jpg, jn); /* DC difference category 200 (at most 15 exist) */
  bad[vals - jpg] = 200;
  expect_bad_image("huff_sym.jpg", bad, jn, "Huffman");
  memcpy(bad, jpg, jn); /* 255 codes of each length: more symbols than the segment holds */
  memset(bad + (bits - jpg), 0xff, 16);
  expect_bad_image("huff_count.jpg", bad, jn, "Huffman");
  /* Huge dimensions in the headers: refused before any allocation of that size. */
  cap_address_space();
  uint8_t *big = malloc(pn > jn ? pn : jn);
  ck_assert_ptr_nonnull(big);
  const uint32_t dims[2][2] = {{20000, 20000}, {12000, 12000}}; /* over 16384 a side; over 64 Mpx */
  for (int i = 0; i < 2; i++) {
    memcpy(big, pngb, pn);
    ck_assert_int_eq(memcmp(big + 12, "IHDR", 4), 0);
    put_be32(big + 16, dims[i][0]);
    put_be32(big + 20, dims[i][1]);
    put_be32(big + 29, (uint32_t)crc32(0, big + 12, 17));
    expect_bad_image(i ? "huge_px.png" : "huge_side.png", big, pn, "limit");
    memcpy(big, jpg, jn);
    size_t sof = find_marker(big, jn, 0xc0);
    ck_assert_uint_gt(sof, 0);
    big[sof + 5] = (uint8_t)(dims[i][1] >> 8);
    big[sof + 6] = (uint8_t)dims[i][1];
    big[sof + 7] = (uint8_t)(dims[i][0] >> 8);
    big[sof + 8] = (uint8_t)dims[i][0];
    expect_bad_image(i ? "huge_px.jpg" : "huge_side.jpg", big, jn, "limit");
  }
  /* A PNG header claiming far more pixel data than its bytes can hold at deflate's best ratio. */
  memcpy(big, pngb, pn);
  put_be32(big + 16, 4000);
  put_be32(big + 20, 4000);
  put_be32(big + 29, (uint32_t)crc32(0, big + 12, 17));
  expect_bad_image("bomb.png", big, pn, "truncated");
  /* An ancillary chunk claiming 1.2 GB in a small file (libpng 1.6.39 allocated that much before
   * noticing; found by tests/fuzz): refused by the chunk walk, before libpng runs. */
  {
    uint8_t *t = malloc(pn + 12);
    ck_assert_ptr_nonnull(t);
    memcpy(t, pngb, 33); /* signature + IHDR */
    put_be32(t + 33, 1291845644u);
    memcpy(t + 37, "tEXt", 4);
    memcpy(t + 41, pngb + 33, pn - 33); /* the rest, now inside the claimed chunk */
    expect_bad_image("text_len.png", t, pn + 8, "chunk tEXt at byte 33 claims 1291845644 bytes");
    free(t);
  }
  uncap_address_space();
  free(big);
  free(bad);
  free(pngb);
  free(jpg);
  remove_tmpdir();
}
END_TEST

/* What libpng and libjpeg decode correctly: 16-bit samples (rounded to 8 bits, not truncated),
 * Adam7 interlacing, palette at 2 bits per pixel, 16-bit RGBA (alpha dropped), progressive JPEG. */
START_TEST(image_formats) {
  make_tmpdir();
  enum { W = 4, H = 4 };
  /* 16-bit grey, interlaced. 0x12ff = 4863 is 18.92 * 257: rounds to 19 (its high byte is 18). */
  uint16_t v16[W * H];
  uint8_t raw[H * W * 8];
  for (int i = 0; i < W * H; i++) v16[i] = (uint16_t)(i == 0 ? 0 : i == 1 ? 65535 : i == 2 ? 0x12ff : 257 * (i * 13) + 100);
  for (int i = 0; i < W * H; i++) {
    raw[2 * i] = (uint8_t)(v16[i] >> 8);
    raw[2 * i + 1] = (uint8_t)v16[i];
  }
  mkdir_ok(tpath("g16"));
  write_png_raw(tpath("g16/a.png"), W, H, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_ADAM7, raw, NULL, 0);
  ldm_dataset ds;
  ck_assert_msg(ldm_dataset_load_folder(tpath("g16"), W, 1, &ds) == LDM_OK, "%s", ldm_last_error());
  for (int i = 0; i < W * H; i++) {
    int want = (int)((v16[i] + 128u) / 257u);
    ck_assert_msg(ds.pixels[i] == want, "pixel %d: 16-bit %u became %d, expected %d", i, v16[i], ds.pixels[i], want);
  }
  ck_assert_int_eq(ds.pixels[2], 19);
  ldm_dataset_free(&ds);
  ck_assert_msg(ldm_dataset_load_folder(tpath("g16"), W, 3, &ds) == LDM_OK, "%s", ldm_last_error());
  for (int c = 0; c < 3; c++) ck_assert_int_eq(ds.pixels[c * W * H + 1], 255); /* grey replicated */
  ldm_dataset_free(&ds);

  /* 16-bit RGBA: R = v16, G = 65535 - v16, B = 0x8000, A = 0 (dropped, not composited). */
  for (int i = 0; i < W * H; i++) {
    uint16_t px[4] = {v16[i], (uint16_t)(65535 - v16[i]), 0x8000, 0};
    for (int c = 0; c < 4; c++) {
      raw[8 * i + 2 * c] = (uint8_t)(px[c] >> 8);
      raw[8 * i + 2 * c + 1] = (uint8_t)px[c];
    }
  }
  mkdir_ok(tpath("rgba16"));
  write_png_raw(tpath("rgba16/a.png"), W, H, 16, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE, raw, NULL, 0);
  ck_assert_msg(ldm_dataset_load_folder(tpath("rgba16"), W, 3, &ds) == LDM_OK, "%s", ldm_last_error());
  for (int i = 0; i < W * H; i++) {
    ck_assert_int_eq(ds.pixels[i], (int)((v16[i] + 128u) / 257u));
    ck_assert_int_eq(ds.pixels[W * H + i], (int)((65535u - v16[i] + 128u) / 257u));
    ck_assert_int_eq(ds.pixels[2 * W * H + i], 128); /* 32768 / 257 = 127.5: libpng rounds up */
  }
  ldm_dataset_free(&ds);

  /* Palette, 2 bits per pixel: index = (x + y) % 4. */
  const png_color pal[4] = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}, {200, 210, 220}};
  for (int y = 0; y < H; y++) {
    raw[y] = 0;
    for (int x = 0; x < W; x++) raw[y] = (uint8_t)(raw[y] | (((x + y) % 4) << (6 - 2 * x)));
  }
  mkdir_ok(tpath("pal"));
  write_png_raw(tpath("pal/a.png"), W, H, 2, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, raw, pal, 4);
  ck_assert_msg(ldm_dataset_load_folder(tpath("pal"), W, 3, &ds) == LDM_OK, "%s", ldm_last_error());
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      const png_color *e = &pal[(x + y) % 4];
      ck_assert_int_eq(ds.pixels[0 * W * H + y * W + x], e->red);
      ck_assert_int_eq(ds.pixels[1 * W * H + y * W + x], e->green);
      ck_assert_int_eq(ds.pixels[2 * W * H + y * W + x], e->blue);
    }
  ldm_dataset_free(&ds);

  /* Progressive and baseline JPEG (a gradient), grey and colour: close to what was encoded. */
  for (int prog = 0; prog < 2; prog++)
    for (int comps = 1; comps <= 3; comps += 2) {
      size_t jn = 0;
      uint8_t *jpg = make_jpeg(32, 32, comps, prog, &jn);
      char d[64];
      snprintf(d, sizeof d, "jpg%d%d", prog, comps);
      mkdir_ok(tpath(d));
      char f[80];
      snprintf(f, sizeof f, "%s/a.jpeg", d);
      write_file(tpath(f), jpg, jn);
      free(jpg);
      ck_assert_msg(ldm_dataset_load_folder(tpath(d), 32, comps, &ds) == LDM_OK, "%s", ldm_last_error());
      for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
          for (int c = 0; c < comps; c++) {
            int want = c == 0 ? x * 4 : c == 1 ? y * 4 : 128, got = ds.pixels[(c * 32 + y) * 32 + x];
            ck_assert_msg(abs(got - want) <= 12, "%s: pixel (%d,%d,%d) = %d, expected about %d", d, x, y, c, got, want);
          }
      ldm_dataset_free(&ds);
    }
  remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * shuffle
 * ---------------------------------------------------------------------------------------------- */
START_TEST(shuffle_deterministic) {
  enum { N = 1000 };
  static uint32_t a[N], b[N], c[N];
  ldm_shuffle_indices(a, N, 42, 3);
  ldm_shuffle_indices(b, N, 42, 3);
  ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
  static uint8_t seen[N];
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < N; i++) {
    ck_assert_uint_lt(a[i], N);
    ck_assert_uint_eq(seen[a[i]], 0);
    seen[a[i]] = 1;
  }
  ldm_shuffle_indices(c, N, 42, 4);
  ck_assert_int_ne(memcmp(a, c, sizeof a), 0);
  ldm_shuffle_indices(c, N, 43, 3);
  ck_assert_int_ne(memcmp(a, c, sizeof a), 0);
  int fixed = 0;
  for (int i = 0; i < N; i++) fixed += a[i] == (uint32_t)i;
  ck_assert_int_lt(fixed, 10); /* a shuffle, not the identity */
  uint32_t one = 77;
  ldm_shuffle_indices(&one, 1, 1, 1);
  ck_assert_uint_eq(one, 0);
  /* Pinned values: the same on every platform and every release (resume relies on it). */
  uint64_t st = 0;
  ck_assert(ldm_splitmix64(&st) == 0xE220A8397B1DCDAFull); /* splitmix64 reference output for seed 0 */
  uint32_t g[10];
  ldm_shuffle_indices(g, 10, 42, 0);
  static const uint32_t golden[10] = {0, 9, 5, 8, 6, 4, 7, 2, 1, 3}; /* also computed by an independent Python port */
  for (int i = 0; i < 10; i++) ck_assert_uint_eq(g[i], golden[i]);
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * PNG
 * ---------------------------------------------------------------------------------------------- */
START_TEST(png_grid) {
  make_tmpdir();
  enum { N = 5, H = 32, W = 32 };
  static float imgs[N * H * W];
  for (int i = 0; i < N; i++)
    for (int p = 0; p < H * W; p++) imgs[i * H * W + p] = i == 0 ? 1.0f : (i == 1 ? 0.0f : (i == 2 ? 5.0f : -1.0f));
  imgs[1 * H * W + 0] = 1.0f; /* in the cropped border: must not appear */
  const char *p = tpath("grid.png");
  ck_assert_int_eq(ldm_png_write_grid(p, imgs, N, 1, H, W, 3, 2), LDM_OK);
  int w = 0, h = 0, comp = 0;
  uint8_t *px = NULL;
  ck_assert_msg(ldm_image_load(p, 0, &px, &w, &h, &comp) == LDM_OK, "%s", ldm_last_error());
  ck_assert_ptr_nonnull(px);
  ck_assert_int_eq(comp, 1);
  ck_assert_int_eq(w, 3 * (28 + 2) + 2); /* 92 */
  ck_assert_int_eq(h, 2 * (28 + 2) + 2); /* 62 */
  ck_assert_uint_eq(px[0], 0);                 /* padding */
  ck_assert_uint_eq(px[2 * w + 2], 255);       /* image 0 = +1 */
  ck_assert_uint_eq(px[29 * w + 29], 255);     /* last pixel of tile 0 */
  ck_assert_uint_eq(px[30 * w + 30], 0);       /* padding between tiles */
  ck_assert_uint_eq(px[2 * w + 32], 128);      /* image 1 = 0 -> 128; its border 1.0 was cropped */
  ck_assert_uint_eq(px[2 * w + 62], 255);      /* image 2 = 5 clamps to 255 */
  ck_assert_uint_eq(px[32 * w + 2], 0);        /* image 3 = -1 */
  ck_assert_uint_eq(px[32 * w + 62], 0);       /* empty slot */
  free(px);

  /* RGB grid and single image. */
  static float rgb[2 * 3 * 4 * 4];
  for (int i = 0; i < 2; i++)
    for (int c = 0; c < 3; c++)
      for (int q = 0; q < 16; q++) rgb[((i * 3) + c) * 16 + q] = (c == i) ? 1.0f : -1.0f;
  rgb[0] = NAN;
  ck_assert_int_eq(ldm_png_write_grid(p, rgb, 2, 3, 4, 4, 8, 0), LDM_OK);
  ck_assert_msg(ldm_image_load(p, 0, &px, &w, &h, &comp) == LDM_OK, "%s", ldm_last_error());
  ck_assert_ptr_nonnull(px);
  ck_assert_int_eq(comp, 3);
  ck_assert_int_eq(w, 2 * 6 + 2);
  ck_assert_int_eq(h, 8);
  ck_assert_uint_eq(px[(2 * w + 2) * 3 + 0], 0); /* NaN -> -1 -> 0 */
  ck_assert_uint_eq(px[(3 * w + 3) * 3 + 0], 255);
  ck_assert_uint_eq(px[(3 * w + 3) * 3 + 1], 0);
  ck_assert_uint_eq(px[(3 * w + 9) * 3 + 1], 255);
  free(px);
  ck_assert_int_eq(ldm_png_write_image(p, rgb + 48, 3, 4, 4, 1), LDM_OK);
  ck_assert_msg(ldm_image_load(p, 0, &px, &w, &h, &comp) == LDM_OK, "%s", ldm_last_error());
  ck_assert_ptr_nonnull(px);
  ck_assert_int_eq(w, 2);
  ck_assert_int_eq(h, 2);
  ck_assert_int_eq(comp, 3);
  ck_assert_uint_eq(px[1], 255);
  free(px);

  /* Errors. */
  ck_assert_int_eq(ldm_png_write_grid(tpath("no/dir/g.png"), imgs, N, 1, H, W, 3, 2), LDM_ERR_IO);
  assert_msg_names("no/dir/g.png");
  ck_assert_int_eq(ldm_png_write_grid(p, imgs, N, 2, H, W, 3, 2), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_png_write_grid(p, imgs, N, 1, H, W, 0, 2), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_png_write_grid(p, imgs, N, 1, H, W, 3, 16), LDM_ERR_INVALID_ARG);
  remove_tmpdir();
}
END_TEST


/* The writer's pixels: exactly the float -> byte mapping, read back by the decoder bit for bit, the same
 * bytes stb_image_write's PNG (the writer before libpng) decodes to. */
START_TEST(image_writer_roundtrip) {
  make_tmpdir();
  enum { N = 3, C = 3, H = 9, W = 7 };
  static float imgs[N * C * H * W];
  uint64_t st = 12345;
  for (int i = 0; i < N * C * H * W; i++) imgs[i] = (float)((double)(ldm_splitmix64(&st) >> 11) / 9007199254740992.0) * 2.4f - 1.2f;
  imgs[5] = NAN;
  const char *p = tpath("rt.png");
  ck_assert_msg(ldm_image_write_grid(p, LDM_IMAGE_UNKNOWN, imgs, N, C, H, W, 2, 1, NULL, 0) == LDM_OK, "%s",
                ldm_last_error());
  /* the expected grid: 2 columns, 2 rows of 5x7 tiles (crop 1), 2 pixels of black around */
  int tw = W - 2, th = H - 2, gw = 2 * (tw + 2) + 2, gh = 2 * (th + 2) + 2;
  static uint8_t want[64 * 64 * 3];
  memset(want, 0, sizeof want);
  for (int i = 0; i < N; i++)
    for (int y = 0; y < th; y++)
      for (int x = 0; x < tw; x++)
        for (int c = 0; c < C; c++) {
          float v = imgs[((i * C + c) * H + y + 1) * W + x + 1];
          if (!(v >= -1.0f)) v = -1.0f;
          if (v > 1.0f) v = 1.0f;
          int ox = (i % 2) * (tw + 2) + 2, oy = (i / 2) * (th + 2) + 2;
          want[((oy + y) * gw + ox + x) * C + c] = (uint8_t)lrintf((v + 1.0f) * 127.5f);
        }
  uint8_t *px = NULL;
  int w = 0, h = 0, comp = 0;
  ck_assert_msg(ldm_image_load(p, 0, &px, &w, &h, &comp) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(w, gw);
  ck_assert_int_eq(h, gh);
  ck_assert_int_eq(comp, 3);
  ck_assert_int_eq(memcmp(px, want, (size_t)(gw * gh * 3)), 0);
  free(px);
  ck_assert_int_ne(stbi_write_png(tpath("stb.png"), gw, gh, 3, want, gw * 3), 0);
  ck_assert_msg(ldm_image_load(tpath("stb.png"), 0, &px, &w, &h, &comp) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(memcmp(px, want, (size_t)(gw * gh * 3)), 0);
  free(px);
  /* grey single image, no temporary left behind */
  ck_assert_int_eq(ldm_image_write(tpath("one.PNG"), LDM_IMAGE_UNKNOWN, imgs, 1, H, W, 0, NULL, 0), LDM_OK);
  ck_assert_msg(ldm_image_load(tpath("one.PNG"), 0, &px, &w, &h, &comp) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(comp, 1);
  for (int i = 0; i < H * W; i++) {
    float v = imgs[i];
    if (!(v >= -1.0f)) v = -1.0f;
    if (v > 1.0f) v = 1.0f;
    ck_assert_uint_eq(px[i], (uint8_t)lrintf((v + 1.0f) * 127.5f));
  }
  free(px);
  char tmpname[600];
  snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", tpath("one.PNG"), (long)getpid());
  ck_assert_int_ne(access(tmpname, F_OK), 0);
  /* the type comes from the name: anything but .png/.jpg/.jpeg is refused, naming it */
  ck_assert_int_eq(ldm_image_format_for_name("a/b.Jpeg"), LDM_IMAGE_JPEG);
  ck_assert_int_eq(ldm_image_format_for_name("a.png/b"), LDM_IMAGE_UNKNOWN);
  ck_assert_int_eq(ldm_image_write_grid(tpath("x.gif"), LDM_IMAGE_UNKNOWN, imgs, N, C, H, W, 2, 1, NULL, 0),
                   LDM_ERR_INVALID_ARG);
  assert_msg_names(".gif");
  ck_assert_int_ne(access(tpath("x.gif"), F_OK), 0);
  remove_tmpdir();
}
END_TEST

/* The text chunks, read back with libpng: tEXt for ASCII values, iTXt (UTF-8) for the others. */
START_TEST(image_writer_text) {
  make_tmpdir();
  static float img[1 * 6 * 6];
  for (int i = 0; i < 36; i++) img[i] = (float)i / 18.0f - 1.0f;
  const ldm_image_text txt[] = {{"Software", "ldm-vk test"}, {"seed", "42"}, {"class", "7 Ankle boot"},
                                {"checkpoint", "runs/caf\xc3\xa9 \xf0\x9f\x98\x80"}, {"note", "two\nlines"}};
  const char *p = tpath("t.png");
  ck_assert_msg(ldm_image_write(p, LDM_IMAGE_PNG, img, 1, 6, 6, 0, txt, 5) == LDM_OK, "%s", ldm_last_error());
  FILE *fp = fopen(p, "rb");
  ck_assert_ptr_nonnull(fp);
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  ck_assert(png && info);
  ck_assert_int_eq(setjmp(png_jmpbuf(png)), 0);
  png_init_io(png, fp);
  png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  png_textp t = NULL;
  int nt = 0;
  png_get_text(png, info, &t, &nt);
  ck_assert_int_eq(nt, 5);
  for (int i = 0; i < 5; i++) {
    ck_assert_str_eq(t[i].key, txt[i].key);
    ck_assert_str_eq(t[i].text, txt[i].value);
    ck_assert_int_eq(t[i].compression, i == 3 ? PNG_ITXT_COMPRESSION_NONE : PNG_TEXT_COMPRESSION_NONE);
  }
  png_destroy_read_struct(&png, &info, NULL);
  fclose(fp);
  /* and the pixels are unchanged by them */
  uint8_t *px = NULL;
  int w, h, comp;
  ck_assert_msg(ldm_image_load(p, 1, &px, &w, &h, &comp) == LDM_OK, "%s", ldm_last_error());
  for (int i = 0; i < 36; i++) ck_assert_uint_eq(px[i], (uint8_t)lrintf((img[i] + 1.0f) * 127.5f));
  free(px);
  /* keys must be PNG keywords */
  const ldm_image_text bad[] = {{" lead", "x"}};
  ck_assert_int_eq(ldm_image_write(p, LDM_IMAGE_PNG, img, 1, 6, 6, 0, bad, 1), LDM_ERR_INVALID_ARG);
  const ldm_image_text bad2[] = {{"caf\xc3\xa9", "x"}};
  ck_assert_int_eq(ldm_image_write(p, LDM_IMAGE_PNG, img, 1, 6, 6, 0, bad2, 1), LDM_ERR_INVALID_ARG);
  remove_tmpdir();
}
END_TEST

/* JPEG output: libjpeg at quality 95 decodes close to the input, grey and RGB; the settings are in a
 * COM marker. */
START_TEST(image_writer_jpeg) {
  make_tmpdir();
  enum { H = 32, W = 40 };
  static float rgb[3 * H * W];
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) rgb[(c * H + y) * W + x] = c == 0 ? (float)x / W * 2 - 1 : c == 1 ? (float)y / H * 2 - 1 : 0.25f;
  const ldm_image_text txt[] = {{"seed", "42"}, {"class", "3 Dress"}};
  for (int c = 1; c <= 3; c += 2) {
    const char *p = tpath(c == 1 ? "g.jpg" : "c.jpeg");
    ck_assert_msg(ldm_image_write(p, LDM_IMAGE_UNKNOWN, rgb, c, H, W, 0, txt, 2) == LDM_OK, "%s", ldm_last_error());
    uint8_t *px = NULL;
    int w = 0, h = 0, comp = 0;
    ck_assert_msg(ldm_image_load(p, 0, &px, &w, &h, &comp) == LDM_OK, "%s", ldm_last_error());
    ck_assert_int_eq(w, W);
    ck_assert_int_eq(h, H);
    ck_assert_int_eq(comp, c);
    double sum = 0;
    int worst = 0;
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        for (int k = 0; k < c; k++) {
          int want = (int)lrintf((rgb[(k * H + y) * W + x] + 1.0f) * 127.5f);
          int d = abs((int)px[(y * W + x) * c + k] - want);
          sum += d;
          if (d > worst) worst = d;
        }
    ck_assert_msg(sum / (H * W * c) < 1.5 && worst <= 12, "JPEG error: mean %.2f, max %d", sum / (H * W * c), worst);
    free(px);
    size_t n = 0;
    uint8_t *raw = read_all(p, &n);
    ck_assert(n > 4 && raw[0] == 0xff && raw[1] == 0xd8);
    ck_assert_ptr_nonnull(memmem(raw, n, "seed: 42\nclass: 3 Dress\n", 24));
    free(raw);
  }
  remove_tmpdir();
}
END_TEST

/* The one JSON string decoder of the safetensors header, ldm.classes and report JSON readers: what it
 * decodes, and for each refusal the kind and the offset at which it was found (the readers' messages
 * point there). */
START_TEST(json_string_decoder) {
  static const struct {
    const char *text; /* after the opening quote */
    ldm_jstr_err want;
    size_t stop;
    const char *out;
  } cases[] = {
      {"abc\"", LDM_JSTR_OK, 4, "abc"},
      {"\\\"\\/\\b\\f\\n\\r\\t\\\\\" tail", LDM_JSTR_OK, 17, "\"/\b\f\n\r\t\\"},
      {"\\u00e9\\u20AC\\ud83d\\ude00\"", LDM_JSTR_OK, 25, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
      {"caf\xc3\xa9\"", LDM_JSTR_OK, 6, "caf\xc3\xa9"},
      {"", LDM_JSTR_UNTERMINATED, 0, NULL},
      {"ab\\\"", LDM_JSTR_UNTERMINATED, 0, NULL},
      {"a\x01\"", LDM_JSTR_CONTROL, 1, NULL},
      {"a\xff\"", LDM_JSTR_BAD_UTF8, 1, NULL},
      {"ab\xed\xa0\x80\"", LDM_JSTR_BAD_UTF8, 2, NULL},
      {"a\\q\"", LDM_JSTR_BAD_ESCAPE, 2, NULL},
      {"a\\u12G4\"", LDM_JSTR_BAD_HEX, 3, NULL},
      {"\\udc00\"", LDM_JSTR_LONE_LOW, 6, NULL},
      {"\\ud800x\"", LDM_JSTR_NO_LOW, 6, NULL},
      {"\\ud800\\u12\"", LDM_JSTR_NO_LOW, 8, NULL},
      {"\\ud800\\u0041\"", LDM_JSTR_NO_LOW, 12, NULL},
      {"x\\u0000\"", LDM_JSTR_NUL, 7, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out = NULL;
    size_t len = 99, stop = 99;
    ldm_jstr_err e = ldm_json_str_decode(cases[i].text, strlen(cases[i].text), &out, &len, &stop);
    ck_assert_msg(e == cases[i].want, "case %zu: kind %d, expected %d", i, (int)e, (int)cases[i].want);
    ck_assert_msg(stop == cases[i].stop, "case %zu: stop %zu, expected %zu", i, stop, cases[i].stop);
    if (cases[i].out) {
      ck_assert_str_eq(out, cases[i].out);
      ck_assert_uint_eq(len, strlen(cases[i].out));
    } else {
      ck_assert_ptr_null(out);
    }
    free(out);
  }
}
END_TEST

/* Class names as JSON (config.json, ldm.classes): every odd character escaped, the strict reader of the
 * report reads them back, the metadata parser too; hostile values are refused. */
START_TEST(class_names_json) {
  char *names[] = {"T-shirt/top", "say \"hi\"", "back\\slash", "new\nline\ttab\r", "\x01\x1f\x7f ctl",
                   "caf\xc3\xa9 \xf0\x9f\x98\x80", "</script><b>", "Ankle boot"};
  int n = (int)(sizeof names / sizeof names[0]);
  char *enc = ldm_classes_encode(names, n);
  ck_assert_ptr_nonnull(enc);
  ck_assert_ptr_null(strchr(enc, '\n'));
  ck_assert_ptr_nonnull(strstr(enc, "\"say \\\"hi\\\"\""));
  ck_assert_ptr_nonnull(strstr(enc, "\"back\\\\slash\""));
  ck_assert_ptr_nonnull(strstr(enc, "\\u0001\\u001f\\u007f ctl"));
  ldm_json j;
  ldm_json_opts jo = {"enc", 1, false};
  ck_assert_msg(ldm_json_parse(enc, strlen(enc), &jo, &j) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(j.type, LDM_JSON_ARR);
  ck_assert_uint_eq(j.n, (size_t)n);
  for (int i = 0; i < n; i++) ck_assert_str_eq(j.items[i].str, names[i]);
  ldm_json_free(&j);
  char **back = NULL;
  int nb = 0;
  ck_assert_msg(ldm_classes_parse("f", enc, n, &back, &nb) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(nb, n);
  for (int i = 0; i < n; i++) ck_assert_str_eq(back[i], names[i]);
  /* look-ups: exact first, then ignoring ASCII case; ambiguous and unknown names */
  ck_assert_int_eq(ldm_classes_find(back, nb, "ankle BOOT"), 7);
  ck_assert_int_eq(ldm_classes_find(back, nb, "t-shirt/TOP"), 0);
  ck_assert_int_eq(ldm_classes_find(back, nb, "dog"), -1);
  char *twins[] = {"Cat", "cat"};
  ck_assert_int_eq(ldm_classes_find(twins, 2, "cat"), 1);
  ck_assert_int_eq(ldm_classes_find(twins, 2, "CAT"), -2);
  char list[40];
  ldm_classes_list(back, nb, list, sizeof list);
  ck_assert_ptr_nonnull(strstr(list, "T-shirt/top, "));
  ck_assert_ptr_nonnull(strstr(list, "..."));
  ck_assert_uint_lt(strlen(list), sizeof list);
  ldm_classes_free(back, nb);
  /* invalid UTF-8 never reaches the JSON: U+FFFD instead */
  char q[32];
  ck_assert_uint_eq(ldm_json_quote(q, sizeof q, "a\xff" "b"), strlen("\"a\\ufffdb\""));
  ck_assert_str_eq(q, "\"a\\ufffdb\"");
  ck_assert(!ldm_utf8_valid("\xc0\xaf", 2));       /* overlong '/' */
  ck_assert(!ldm_utf8_valid("\xed\xa0\x80", 3));   /* a surrogate */
  ck_assert(ldm_utf8_valid("caf\xc3\xa9", 5));
  /* the escapes JSON allows are read, \u surrogate pairs included */
  ck_assert_int_eq(ldm_classes_parse("f", " [ \"a\\/b\", \"\\ud83d\\ude00\" ] ", 2, &back, &nb), LDM_OK);
  ck_assert_str_eq(back[0], "a/b");
  ck_assert_str_eq(back[1], "\xf0\x9f\x98\x80");
  ldm_classes_free(back, nb);
  ck_assert_int_eq(ldm_classes_parse("f", "[]", 0, &back, &nb), LDM_OK);
  ck_assert_int_eq(nb, 0);
  static const char *const hostile[] = {
      "", "[", "[\"a\"", "[\"a\",]", "[\"a\"] x", "{\"a\":1}", "[1]", "[\"\"]", "[\"a\",\"a\"]", "[\"a\\x\"]",
      "[\"\\u00\"]", "[\"\\u0000\"]", "[\"\\ud800\"]", "[\"\\udc00x\"]", "[\"a\tb\"]", "[\"\xff\"]", "[\"\xc0\xaf\"]",
      "[\"a\" \"b\"]", "[\"x\\"};
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    back = NULL;
    nb = -1;
    ck_assert_msg(ldm_classes_parse("meta.safetensors", hostile[i], -1, &back, &nb) == LDM_ERR_FORMAT,
                  "accepted %s", hostile[i]);
    ck_assert_ptr_null(back);
    assert_msg_names("meta.safetensors");
  }
  char longname[300] = "[\"";
  memset(longname + 2, 'x', 256); /* one byte over LDM_CLASS_NAME_MAX */
  memcpy(longname + 258, "\"]", 3);
  ck_assert_int_eq(ldm_classes_parse("f", longname, 1, &back, &nb), LDM_ERR_FORMAT);
  ck_assert_int_eq(ldm_classes_parse("f", enc, n + 1, &back, &nb), LDM_ERR_FORMAT); /* not one per class */
  assert_msg_names("ldm.ncls");

  /* in a checkpoint: known to the strict reader, checked against ldm.ncls by ldm_cfg_from_meta */
  make_tmpdir();
  ldm_model_cfg c;
  ck_assert_int_eq(ldm_model_config("tiny", &c), LDM_OK);
  c.ncls = n;
  for (int k = 0; k < 3; k++) {
    ldm_st_writer *w;
    ck_assert_int_eq(ldm_st_writer_new(&w), LDM_OK);
    ck_assert_int_eq(ldm_cfg_to_meta(&c, w), LDM_OK);
    ck_assert_int_eq(ldm_st_writer_set_meta(w, "ldm.classes", k == 0 ? enc : k == 1 ? "[\"a\"]" : "[\"a\",\"a\"]"), LDM_OK);
    const char *p = tpath("meta.safetensors");
    ck_assert_int_eq(ldm_st_write_atomic(w, p), LDM_OK);
    ldm_st_writer_free(w);
    ldm_st_file *f;
    ck_assert_int_eq(ldm_st_open(p, &f), LDM_OK);
    ldm_model_cfg got;
    ldm_status s = ldm_cfg_from_meta(f, &got);
    if (k == 0) {
      ck_assert_msg(s == LDM_OK, "%s", ldm_last_error());
      ck_assert_int_eq(ldm_ckpt_read_classes(f, got.ncls, &back, &nb), LDM_OK);
      ck_assert_int_eq(nb, n);
      ck_assert_str_eq(back[3], names[3]);
      ldm_classes_free(back, nb);
    } else {
      ck_assert_int_eq(s, LDM_ERR_FORMAT);
      assert_msg_names("ldm.classes");
    }
    ldm_st_close(f);
  }
  free(enc);
  remove_tmpdir();
}
END_TEST

/* Folder class names are any characters, but UTF-8 (they are stored as JSON text). */
START_TEST(folder_class_names) {
  make_tmpdir();
  const uint8_t grey[1] = {100};
  ck_assert_int_eq(mkdir(tpath("ok \"q\" \\ \xc3\xa9"), 0755), 0);
  write_solid(tpath("ok \"q\" \\ \xc3\xa9/a.png"), 8, 8, 1, grey, false);
  ck_assert_int_eq(mkdir(tpath("new\nline"), 0755), 0);
  write_solid(tpath("new\nline/a.png"), 8, 8, 1, grey, false);
  ldm_dataset ds;
  ck_assert_msg(ldm_dataset_load_folder(tmpdir, 8, 1, &ds) == LDM_OK, "%s", ldm_last_error());
  ck_assert_int_eq(ds.num_classes, 2);
  ck_assert_str_eq(ds.class_names[0], "new\nline");
  ck_assert_str_eq(ds.class_names[1], "ok \"q\" \\ \xc3\xa9");
  ldm_dataset_free(&ds);
  ck_assert_int_eq(mkdir(tpath("latin1 \xe9"), 0755), 0);
  write_solid(tpath("latin1 \xe9/a.png"), 8, 8, 1, grey, false);
  ck_assert_int_eq(ldm_dataset_load_folder(tmpdir, 8, 1, &ds), LDM_ERR_FORMAT);
  assert_msg_names("UTF-8");
  remove_tmpdir();
}
END_TEST

static Suite *io_suite(void) {
  Suite *s = suite_create("io");
  TCase *tc = tcase_create("safetensors");
  tcase_add_test(tc, st_roundtrip);
  tcase_add_test(tc, st_valid_handmade);
  tcase_add_loop_test(tc, st_hostile_header, 0, (int)(sizeof hostile / sizeof hostile[0]));
  tcase_add_test(tc, st_hostile_framing);
  tcase_add_test(tc, st_mutations);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tc = tcase_create("idx");
  tcase_add_test(tc, idx_roundtrip);
  tcase_add_test(tc, idx_bad);
  tcase_add_test(tc, idx_size_bounds);
  tcase_add_test(tc, fmnist_synthetic);
  tcase_add_test(tc, fmnist_real);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  tc = tcase_create("folder");
  tcase_add_test(tc, folder_flat);
  tcase_add_test(tc, folder_classes);
  tcase_add_test(tc, folder_missing_or_empty);
  tcase_add_test(tc, image_hostile);
  tcase_add_test(tc, image_formats);
  suite_add_tcase(s, tc);
  tc = tcase_create("shuffle");
  tcase_add_test(tc, shuffle_deterministic);
  suite_add_tcase(s, tc);
  tc = tcase_create("png");
  tcase_add_test(tc, png_grid);
  tcase_add_test(tc, image_writer_roundtrip);
  tcase_add_test(tc, image_writer_text);
  tcase_add_test(tc, image_writer_jpeg);
  tcase_add_test(tc, class_names_json);
  tcase_add_test(tc, json_string_decoder);
  tcase_add_test(tc, folder_class_names);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(io_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
