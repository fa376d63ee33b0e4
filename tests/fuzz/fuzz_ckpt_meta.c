/* libFuzzer harness: the checkpoint-metadata parser, the functions that turn the "ldm.*" metadata of a
 * checkpoint into a model configuration (ldm_cfg_from_meta), a run state (ldm_ckpt_read_state_meta)
 * and a diffusion schedule (ldm_ckpt_read_sched_meta), and the strict scalar parsers under them.
 *
 * Input: metadata as text, one "key=value" per line (split at the first '='; a line without '=' is a
 * key with an empty value). The harness wraps it in a safetensors file (JSON-escaped; no tensors),
 * opens it with ldm_st_open as the commands do, and checks the promises:
 *  - a refusal is one line naming the file (fuzz_check_error);
 *  - an accepted configuration passes ldm_model_cfg_valid and lies within the LDM_MAX_* bounds;
 *  - an accepted run state is in range (opt_t <= step <= LDM_CKPT_MAX_STEP, 0 <= scale finite,
 *    batch and grad_accum >= 1, stage vae/unet);
 *  - an accepted schedule builds: ldm_schedule_make succeeds and alphas_cumprod is finite in [0, 1];
 *  - the scalar parsers agree with strtoll / strtod on every value: an integer is accepted exactly
 *    when it is a plain decimal integer that fits, and a real only when it is finite.
 * LDM_FUZZ_SOURCES: src/io/safetensors.c src/io/safetensors_header.c src/io/safetensors_write.c src/io/atomic.c src/io/json_string.c src/io/ckpt_meta.c src/model/config.c src/core/schedule.c
 */
#include <errno.h>
#include <math.h>

#include "fuzz_util.h"
#include "ldm/checkpoint.h"
#include "ldm/io.h"
#include "ldm/model.h"
#include "ldm/schedule.h"
#include "ldm/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  uint8_t *p;
  size_t n, cap;
} sbuf;

static void put(sbuf *b, const void *s, size_t n) {
  if (b->n + n > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n) nc *= 2;
    uint8_t *q = realloc(b->p, nc);
    if (!q) abort();
    b->p = q;
    b->cap = nc;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

/* a JSON string; bytes >= 0x80 pass through (invalid UTF-8 is the reader's to refuse) */
static void put_json(sbuf *b, const uint8_t *s, size_t n) {
  put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    char e[8];
    if (s[i] == '"' || s[i] == '\\') {
      e[0] = '\\', e[1] = (char)s[i];
      put(b, e, 2);
    } else if (s[i] < 0x20) {
      snprintf(e, sizeof e, "\\u%04x", s[i]);
      put(b, e, 6);
    } else {
      put(b, &s[i], 1);
    }
  }
  put(b, "\"", 1);
}

/* the scalar parsers against the C library */
static void check_scalars(const char *v) {
  int64_t x;
  bool ok = ldm_meta_parse_int(v, INT64_MIN, INT64_MAX, &x);
  const char *d = v[0] == '-' ? v + 1 : v;
  bool plain = *d != 0;
  for (const char *p = d; *p; p++) plain = plain && *p >= '0' && *p <= '9';
  errno = 0;
  long long ref = plain ? strtoll(v, NULL, 10) : 0;
  bool fits = plain && errno != ERANGE;
  if (ok != fits || (ok && x != ref)) {
    fprintf(stderr, "fuzz: ldm_meta_parse_int(\"%s\") = %d (%lld), strtoll says %d (%lld)\n", v, ok, (long long)x,
            fits, ref);
    abort();
  }
  if (ok && !ldm_meta_parse_int(v, x, x, NULL)) abort();
  if (ok && x > INT64_MIN && ldm_meta_parse_int(v, INT64_MIN, x - 1, NULL)) abort();
  uint64_t u;
  if (ldm_meta_parse_u64(v, &u)) {
    errno = 0;
    unsigned long long r = strtoull(v, NULL, 10);
    if (v[0] < '0' || v[0] > '9' || errno == ERANGE || r != u) abort();
  }
  double r;
  if (ldm_meta_parse_real(v, -INFINITY, INFINITY, &r)) {
    if (!isfinite(r) || strtod(v, NULL) != r) abort();
  }
  int list[LDM_MAX_LEVELS], n = -1;
  if (ldm_meta_parse_int_list(v, 1, LDM_MAX_CH, LDM_MAX_LEVELS, list, &n)) {
    if (n < 1 || n > LDM_MAX_LEVELS) abort();
    for (int i = 0; i < n; i++)
      if (list[i] < 1 || list[i] > LDM_MAX_CH) abort();
  }
}

static void check_cfg(const ldm_model_cfg *c) {
  if (!ldm_model_cfg_valid(c, NULL, 0)) abort();
  if (c->nres < 1 || c->nres > LDM_MAX_NRES || c->unet_levels < 1 || c->unet_levels > LDM_MAX_LEVELS ||
      c->vae_levels < 1 || c->vae_levels > LDM_MAX_LEVELS || c->res < LDM_MIN_RES || c->res > LDM_MAX_RES ||
      c->tdim < 4 || c->tdim % 4 || c->heads < 1 || c->z < 1 || c->z > LDM_MAX_Z || c->ncls < 0 ||
      c->ncls > LDM_MAX_CLASSES || c->unet_levels * (c->nres + 1) > LDM_UNET_MAX_SKIPS)
    abort();
  int lr = c->res >> (c->vae_levels - 1);
  if (lr < 1 || (lr << (c->vae_levels - 1)) != c->res || lr % (1 << (c->unet_levels - 1)) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) return 0;
  sbuf h = {0};
  put(&h, "{\"__metadata__\":{", 17);
  /* values for the scalar checks: NUL-terminated copies (a NUL byte ends a value there) */
  char *vals = malloc(size + 1);
  size_t nv = 0;
  int entries = 0;
  for (size_t i = 0; i < size;) {
    size_t e = i;
    while (e < size && data[e] != '\n') e++;
    size_t eq = i;
    while (eq < e && data[eq] != '=') eq++;
    if (entries++) put(&h, ",", 1);
    put_json(&h, data + i, eq - i);
    put(&h, ":", 1);
    size_t v0 = eq < e ? eq + 1 : e;
    put_json(&h, data + v0, e - v0);
    size_t vl = 0;
    while (v0 + vl < e && data[v0 + vl]) vl++;
    memcpy(vals + nv, data + v0, vl);
    vals[nv + vl] = 0;
    check_scalars(vals + nv);
    nv += vl + 1;
    i = e + 1;
  }
  put(&h, "}}", 2);
  while (h.n % 8) put(&h, " ", 1);
  sbuf file = {0};
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
  put(&file, len8, 8);
  put(&file, h.p, h.n);
  free(h.p);
  free(vals);
  const char *path = fuzz_as_file(0, file.p, file.n);
  free(file.p);

  ldm_st_file *f = NULL;
  ldm_status s = ldm_st_open(path, &f);
  if (s != LDM_OK) {
    fuzz_check_error(s, path); /* duplicate keys, invalid UTF-8: the reader's refusals */
    return 0;
  }
  ldm_model_cfg c;
  s = ldm_cfg_from_meta(f, &c);
  if (s == LDM_OK) check_cfg(&c);
  else fuzz_check_error(s, path);

  ldm_ckpt_state st;
  s = ldm_ckpt_read_state_meta(f, &st);
  if (s == LDM_OK) {
    if (st.step < 0 || st.step > LDM_CKPT_MAX_STEP || (int64_t)st.opt_t > st.step || !isfinite(st.scale) ||
        st.scale < 0 || st.scale > LDM_CKPT_MAX_SCALE || st.batch < 1 || st.grad_accum < 1 ||
        (strcmp(st.stage, "vae") != 0 && strcmp(st.stage, "unet") != 0))
      abort();
  } else {
    fuzz_check_error(s, path);
  }

  ldm_ckpt_sched sc;
  s = ldm_ckpt_read_sched_meta(f, &sc);
  if (s == LDM_OK) {
    if (sc.T < 2 || sc.T > LDM_CKPT_MAX_T || !(sc.scale > 0) || !isfinite(sc.scale) || !(sc.beta_start > 0) ||
        !(sc.beta_start < sc.beta_end) || !(sc.beta_end < 1) || sc.step < 0)
      abort();
    float *betas = malloc((size_t)sc.T * 4), *abar = malloc((size_t)sc.T * 4);
    if (!betas || !abar) abort();
    if (ldm_schedule_make(sc.schedule, sc.T, sc.beta_start, sc.beta_end, sc.zero_snr, betas, abar) != LDM_OK) {
      fprintf(stderr, "fuzz: validated schedule metadata does not build a schedule: %s\n", ldm_last_error());
      abort();
    }
    for (int i = 0; i < sc.T; i++)
      if (!isfinite(abar[i]) || abar[i] < 0 || abar[i] > 1) abort();
    free(betas);
    free(abar);
  } else {
    fuzz_check_error(s, path);
  }

  s = ldm_ckpt_check_keys(f);
  if (s != LDM_OK) fuzz_check_error(s, path);
  ldm_st_close(f);
  return 0;
}
