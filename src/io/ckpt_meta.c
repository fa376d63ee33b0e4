/* Checkpoint metadata ("ldm.*" keys), validated: strict scalar parsers, the model configuration
 * (ldm_cfg_from_meta / ldm_cfg_to_meta), the run state and the diffusion schedule of a checkpoint.
 * Everything here only reads metadata (no backend), so that the libFuzzer harness
 * tests/fuzz/fuzz_ckpt_meta.c can build it with the safetensors reader alone. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/json_string.h"
#include "ldm/checkpoint.h"
#include "ldm/io.h"
#include "ldm/model.h"
#include "ldm/runinfo.h"
#include "ldm/schedule.h"
#include "ldm/train.h"

bool ldm_meta_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  if (!s) return false;
  bool neg = *s == '-';
  const char *p = neg ? s + 1 : s;
  if (*p < '0' || *p > '9') return false; /* empty, sign only, '+', spaces */
  uint64_t v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  int64_t x;
  if (neg) {
    if (v > (uint64_t)INT64_MAX + 1) return false;
    x = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
  } else {
    if (v > (uint64_t)INT64_MAX) return false;
    x = (int64_t)v;
  }
  if (x < lo || x > hi) return false;
  if (out) *out = x;
  return true;
}

bool ldm_meta_parse_u64(const char *s, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (out) *out = v;
  return true;
}

bool ldm_meta_parse_real(const char *s, double lo, double hi, double *out) {
  if (!s || !*s || strlen(s) > 64) return false;
  /* decimal notation only: no spaces, no "nan"/"inf", no hexadecimal */
  for (const char *p = s; *p; p++)
    if (!strchr("0123456789+-.eE", *p)) return false;
  if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '.')) return false;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno == ERANGE || !isfinite(v) || v < lo || v > hi) return false;
  if (out) *out = v;
  return true;
}

bool ldm_meta_parse_int_list(const char *s, int lo, int hi, int max, int *v, int *n) {
  int k = 0;
  if (!s || !*s) return false;
  const char *p = s;
  for (;;) {
    char item[24];
    size_t len = strcspn(p, ",");
    if (len == 0 || len >= sizeof item || k >= max) return false;
    memcpy(item, p, len);
    item[len] = 0;
    int64_t x;
    if (!ldm_meta_parse_int(item, lo, hi, &x)) return false;
    v[k++] = (int)x;
    if (!p[len]) break;
    p += len + 1; /* past the comma; "1," leaves an empty item, refused above */
  }
  *n = k;
  return true;
}

/* A metadata value for a message: quoted, control and non-ASCII bytes as \xNN, cut at 40 bytes. */
static const char *show(const char *v, char *buf, size_t cap) {
  size_t o = 0;
  buf[o++] = '"';
  for (size_t i = 0; v[i] && o + 8 < cap; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (i >= 40) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
    else buf[o++] = (char)ch;
  }
  buf[o++] = '"';
  buf[o] = 0;
  return buf;
}

/* Every ldm.* key some writer of ldm-vk sets (train.c save_stage / save_weights, ldm_cfg_to_meta). */
static const char *const known_keys[] = {
    "ldm.config", "ldm.cin",   "ldm.res",   "ldm.z",        "ldm.nres",    "ldm.ncls",       "ldm.tdim",
    "ldm.heads",  "ldm.crop",  "ldm.vae_ch", "ldm.unet_ch", "ldm.attn",    "ldm.step",       "ldm.opt_t",
    "ldm.seed",   "ldm.stage", "ldm.done",  "ldm.batch",    "ldm.grad_accum", "ldm.scale",   "ldm.schedule",
    "ldm.T",      "ldm.beta_start", "ldm.beta_end", "ldm.zero_snr", "ldm.prediction", "ldm.classes", NULL};

ldm_status ldm_ckpt_check_keys(const ldm_st_file *f) {
  for (int i = 0; i < ldm_st_meta_count(f); i++) {
    const char *k;
    ldm_st_meta_at(f, i, &k, NULL);
    if (strncmp(k, "ldm.", 4) != 0) continue; /* other writers' keys ("format": "pt") are left alone */
    bool known = false;
    for (int j = 0; known_keys[j] && !known; j++) known = strcmp(k, known_keys[j]) == 0;
    if (!known) {
      char b[200];
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: unknown metadata key %s (not written by this version of ldm-vk)",
                      ldm_st_path(f), show(k, b, sizeof b));
    }
  }
  return LDM_OK;
}

static ldm_status meta_get(const ldm_st_file *f, const char *key, const char **v) {
  *v = ldm_st_meta(f, key);
  if (!*v) return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata %s is missing", ldm_st_path(f), key);
  return LDM_OK;
}

ldm_status ldm_ckpt_meta_int(const ldm_st_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out) {
  const char *v;
  LDM_TRY(meta_get(f, key, &v));
  if (!ldm_meta_parse_int(v, lo, hi, out)) {
    char b[200];
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata %s = %s is not an integer in %lld..%lld", ldm_st_path(f), key,
                    show(v, b, sizeof b), (long long)lo, (long long)hi);
  }
  return LDM_OK;
}

ldm_status ldm_ckpt_meta_real(const ldm_st_file *f, const char *key, double lo, double hi, double *out) {
  const char *v;
  LDM_TRY(meta_get(f, key, &v));
  if (!ldm_meta_parse_real(v, lo, hi, out)) {
    char b[200];
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata %s = %s is not a finite number in %g..%g", ldm_st_path(f), key,
                    show(v, b, sizeof b), lo, hi);
  }
  return LDM_OK;
}

ldm_status ldm_ckpt_meta_choice(const ldm_st_file *f, const char *key, const char *const *choices, int *index) {
  const char *v;
  LDM_TRY(meta_get(f, key, &v));
  char list[200] = "";
  for (int i = 0; choices[i]; i++) {
    if (strcmp(v, choices[i]) == 0) {
      *index = i;
      return LDM_OK;
    }
    size_t l = strlen(list);
    snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", choices[i]);
  }
  char b[200];
  return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata %s = %s is not one of %s", ldm_st_path(f), key, show(v, b, sizeof b),
                  list);
}

static ldm_status sched_fields(const ldm_st_file *f, ldm_ckpt_sched *sc, bool optional);

ldm_status ldm_ckpt_read_state_meta(const ldm_st_file *f, ldm_ckpt_state *st) {
  memset(st, 0, sizeof *st);
  LDM_TRY(ldm_ckpt_check_keys(f));
  static const char *const bools[] = {"0", "1", NULL}, *const stages[] = {"vae", "unet", NULL};
  int64_t v;
  int k;
  LDM_TRY(ldm_ckpt_meta_choice(f, "ldm.stage", stages, &k));
  snprintf(st->stage, sizeof st->stage, "%s", stages[k]);
  LDM_TRY(ldm_ckpt_meta_int(f, "ldm.step", 0, LDM_CKPT_MAX_STEP, &st->step));
  LDM_TRY(ldm_ckpt_meta_int(f, "ldm.opt_t", 0, LDM_CKPT_MAX_STEP, &v));
  if (v > st->step) {
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.opt_t = %lld exceeds ldm.step = %lld (more optimizer steps than "
                    "steps)", ldm_st_path(f), (long long)v, (long long)st->step);
  }
  st->opt_t = (uint32_t)v;
  LDM_TRY(ldm_ckpt_meta_choice(f, "ldm.done", bools, &k));
  st->done = k == 1;
  LDM_TRY(ldm_ckpt_meta_real(f, "ldm.scale", 0.0, LDM_CKPT_MAX_SCALE, &st->scale));
  const char *sv;
  LDM_TRY(meta_get(f, "ldm.seed", &sv));
  if (!ldm_meta_parse_u64(sv, &st->seed)) {
    char b[200];
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.seed = %s is not an unsigned 64-bit integer", ldm_st_path(f),
                    show(sv, b, sizeof b));
  }
  LDM_TRY(ldm_ckpt_meta_int(f, "ldm.batch", 1, INT32_MAX, &v));
  st->batch = (int)v;
  LDM_TRY(ldm_ckpt_meta_int(f, "ldm.grad_accum", 1, INT32_MAX, &v));
  st->grad_accum = (int)v;
  /* the diffusion keys a state file carries (for rebuilding its weights file) are checked too */
  ldm_ckpt_sched sc;
  memset(&sc, 0, sizeof sc);
  return sched_fields(f, &sc, true);
}

/* The diffusion keys; with `optional`, only those present are checked (a state file of an older ldm-vk
 * lacks them) and ldm.scale, ldm.step are left to the caller. */
static ldm_status sched_fields(const ldm_st_file *f, ldm_ckpt_sched *sc, bool optional) {
  static const char *const bools[] = {"0", "1", NULL}, *const preds[] = {"eps", "v", NULL};
  static const char *const scheds[] = {"linear", "scaled_linear", "cosine", NULL};
  int64_t v;
  int k;
#define HAVE(key) (!optional || ldm_st_meta(f, key))
  if (!optional) {
    LDM_TRY(ldm_ckpt_meta_real(f, "ldm.scale", 0.0, LDM_CKPT_MAX_SCALE, &sc->scale));
    if (!(sc->scale > 0))
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.scale = 0: the latent scale was never computed (not a "
                      "trained UNet?)", ldm_st_path(f));
  }
  if (HAVE("ldm.T")) {
    LDM_TRY(ldm_ckpt_meta_int(f, "ldm.T", 2, LDM_CKPT_MAX_T, &v));
    sc->T = (int)v;
  }
  if (HAVE("ldm.beta_start") || HAVE("ldm.beta_end")) {
    LDM_TRY(ldm_ckpt_meta_real(f, "ldm.beta_start", 0.0, 1.0, &sc->beta_start));
    LDM_TRY(ldm_ckpt_meta_real(f, "ldm.beta_end", 0.0, 1.0, &sc->beta_end));
    if (!(sc->beta_start > 0 && sc->beta_start < sc->beta_end && sc->beta_end < 1))
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.beta_start = %g, ldm.beta_end = %g: 0 < start < end < 1 is "
                      "needed", ldm_st_path(f), sc->beta_start, sc->beta_end);
  }
  if (HAVE("ldm.zero_snr")) {
    LDM_TRY(ldm_ckpt_meta_choice(f, "ldm.zero_snr", bools, &k));
    sc->zero_snr = k == 1;
  }
  if (HAVE("ldm.schedule")) {
    LDM_TRY(ldm_ckpt_meta_choice(f, "ldm.schedule", scheds, &k));
    ldm_schedule_kind kind;
    if (ldm_schedule_kind_parse(scheds[k], &kind) != LDM_OK)
      return LDM_FAIL(LDM_ERR_INTERNAL, "%s: schedule %s is not known to the scheduler", ldm_st_path(f), scheds[k]);
    sc->schedule = kind;
  }
  if (HAVE("ldm.prediction")) {
    LDM_TRY(ldm_ckpt_meta_choice(f, "ldm.prediction", preds, &k));
    sc->v_pred = k == 1;
  }
#undef HAVE
  if (!optional) LDM_TRY(ldm_ckpt_meta_int(f, "ldm.step", 0, LDM_CKPT_MAX_STEP, &sc->step));
  return LDM_OK;
}

ldm_status ldm_ckpt_read_sched_meta(const ldm_st_file *f, ldm_ckpt_sched *sc) {
  memset(sc, 0, sizeof *sc);
  LDM_TRY(ldm_ckpt_check_keys(f));
  return sched_fields(f, sc, false);
}

ldm_status ldm_ckpt_name_error(ldm_status s, const char *path) {
  if (s == LDM_OK) return s;
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", ldm_last_error());
  if (strcmp(msg, "no error") == 0) snprintf(msg, sizeof msg, "%s", ldm_status_str(s));
  /* ldm_set_error has already made the message one line (control characters as '?') */
  if (path && !strstr(msg, path)) return ldm_set_error(s, __FILE__, __LINE__, "%s: %s", path, msg);
  return s;
}

/* ---------------------------------------------------------------- model configuration */

static void ints_to_str(const int *v, int n, char *out, size_t len) {
  out[0] = 0;
  for (int i = 0; i < n; i++) {
    size_t l = strlen(out);
    snprintf(out + l, len - l, "%s%d", i ? "," : "", v[i]);
  }
}

ldm_status ldm_cfg_to_meta(const ldm_model_cfg *c, ldm_st_writer *w) {
  char b[128];
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.config", c->name));
#define PUT_INT(key, v)                                                                            \
  snprintf(b, sizeof b, "%d", (v));                                                                \
  LDM_TRY(ldm_st_writer_set_meta(w, key, b));
  PUT_INT("ldm.cin", c->cin);
  PUT_INT("ldm.res", c->res);
  PUT_INT("ldm.z", c->z);
  PUT_INT("ldm.nres", c->nres);
  PUT_INT("ldm.ncls", c->ncls);
  PUT_INT("ldm.tdim", c->tdim);
  PUT_INT("ldm.heads", c->heads);
  PUT_INT("ldm.crop", c->crop);
#undef PUT_INT
  ints_to_str(c->vae_ch, c->vae_levels, b, sizeof b);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.vae_ch", b));
  ints_to_str(c->unet_ch, c->unet_levels, b, sizeof b);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.unet_ch", b));
  ints_to_str(c->attn, c->unet_levels, b, sizeof b);
  LDM_TRY(ldm_st_writer_set_meta(w, "ldm.attn", b));
  return LDM_OK;
}

/* Strict: every key present, each value exactly an integer (or list) in the range ldm_model_cfg_valid
 * allows, no unknown ldm.* key; the combination is then checked by ldm_model_cfg_valid. Every message
 * names the file. */
ldm_status ldm_cfg_from_meta(const ldm_st_file *f, ldm_model_cfg *c) {
  memset(c, 0, sizeof *c);
  const char *path = ldm_st_path(f);
  const char *name = ldm_st_meta(f, "ldm.config");
  if (!name) return LDM_FAIL(LDM_ERR_FORMAT, "%s: not an ldm-vk checkpoint (no ldm.config metadata)", path);
  LDM_TRY(ldm_ckpt_check_keys(f));
  size_t nl = strlen(name);
  if (nl >= sizeof c->name)
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.config is %zu bytes long (at most %d)", path, nl,
                    (int)sizeof c->name - 1);
  memcpy(c->name, name, nl + 1);
  struct {
    const char *k;
    int *v;
    int lo, hi;
  } ints[] = {{"ldm.cin", &c->cin, 1, 3},
              {"ldm.res", &c->res, LDM_MIN_RES, LDM_MAX_RES},
              {"ldm.z", &c->z, 1, LDM_MAX_Z},
              {"ldm.nres", &c->nres, 1, LDM_MAX_NRES},
              {"ldm.ncls", &c->ncls, 0, LDM_MAX_CLASSES},
              {"ldm.tdim", &c->tdim, 4, LDM_MAX_TDIM},
              {"ldm.heads", &c->heads, 1, LDM_MAX_HEADS},
              {"ldm.crop", &c->crop, 0, LDM_MAX_RES / 2}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    int64_t x;
    LDM_TRY(ldm_ckpt_meta_int(f, ints[i].k, ints[i].lo, ints[i].hi, &x));
    *ints[i].v = (int)x;
  }
  struct {
    const char *k;
    int *v, *n, lo, hi;
  } lists[] = {{"ldm.vae_ch", c->vae_ch, &c->vae_levels, 1, LDM_MAX_CH},
               {"ldm.unet_ch", c->unet_ch, &c->unet_levels, 1, LDM_MAX_CH}};
  for (size_t i = 0; i < 2; i++) {
    const char *v = ldm_st_meta(f, lists[i].k);
    if (!v) return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata %s is missing", path, lists[i].k);
    if (!ldm_meta_parse_int_list(v, lists[i].lo, lists[i].hi, LDM_MAX_LEVELS, lists[i].v, lists[i].n))
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata %s is not a list of 1..%d channel counts in %d..%d", path,
                      lists[i].k, LDM_MAX_LEVELS, lists[i].lo, lists[i].hi);
  }
  const char *av = ldm_st_meta(f, "ldm.attn");
  int na = 0;
  if (!av) return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.attn is missing", path);
  if (!ldm_meta_parse_int_list(av, 0, 1, LDM_MAX_LEVELS, c->attn, &na) || na != c->unet_levels)
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.attn is not a list of %d flags (0 or 1), one per UNet level",
                    path, c->unet_levels);
  if (ldm_st_meta(f, "ldm.classes")) { /* the class names, when the data had classes: one per class */
    char **names = NULL;
    int n = 0;
    LDM_TRY(ldm_ckpt_read_classes(f, c->ncls, &names, &n));
    ldm_classes_free(names, n);
  }
  char why[200];
  if (!ldm_model_cfg_valid(c, why, sizeof why))
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: model metadata is inconsistent: %s", path, why);
  return LDM_OK;
}

/* ---------------------------------------------------------------- class names (ldm.classes) */

bool ldm_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = p[i] ? ldm_utf8_seq(p + i, n - i) : 0; /* a NUL byte is no part of a name */
    if (!k) return false;
    i += k;
  }
  return true;
}

size_t ldm_json_quote(char *dst, size_t cap, const char *s) {
  size_t o = 0;
#define PUT(ch)                                                                                    \
  do {                                                                                             \
    if (o + 1 < cap) dst[o] = (char)(ch);                                                          \
    o++;                                                                                           \
  } while (0)
  PUT('"');
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    unsigned char ch = p[i];
    const char *esc = NULL;
    char u[8];
    size_t k = 1;
    switch (ch) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    default:
      if (ch < 0x20 || ch == 0x7f) {
        snprintf(u, sizeof u, "\\u%04x", ch);
        esc = u;
      } else if (ch >= 0x80) {
        k = ldm_utf8_seq(p + i, n - i);
        if (!k) {
          esc = "\\ufffd";
          k = 1;
        }
      }
    }
    if (esc) {
      for (const char *e = esc; *e; e++) PUT(*e);
    } else {
      for (size_t j = 0; j < k; j++) PUT(p[i + j]);
    }
    i += k;
  }
  PUT('"');
#undef PUT
  if (cap) dst[o < cap ? o : cap - 1] = 0;
  return o;
}

char *ldm_classes_encode(char *const *names, int n) {
  size_t len = 3;
  for (int i = 0; i < n; i++) len += ldm_json_quote(NULL, 0, names[i]) + 1;
  char *b = ldm_malloc(len);
  if (!b) return NULL;
  size_t o = 0;
  b[o++] = '[';
  for (int i = 0; i < n; i++) {
    if (i) b[o++] = ',';
    o += ldm_json_quote(b + o, len - o, names[i]);
  }
  b[o++] = ']';
  b[o] = 0;
  return b;
}

void ldm_classes_free(char **names, int n) {
  if (!names) return;
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

static void skip_ws(const char **p) {
  while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r') (*p)++;
}

/* One JSON string at *p (at its opening quote; end: the end of the value) into a malloc'd buffer
 * (json_string.h); NULL with why set on error, *p then unmoved. */
static char *parse_str(const char **p, const char *end, const char **why) {
  char *b;
  size_t stop;
  switch (ldm_json_str_decode(*p + 1, (size_t)(end - (*p + 1)), &b, NULL, &stop)) {
  case LDM_JSTR_OK: *p += 1 + stop; return b;
  case LDM_JSTR_NOMEM: return *why = "out of host memory", NULL;
  case LDM_JSTR_UNTERMINATED: return *why = "an unterminated string", NULL;
  case LDM_JSTR_BAD_UTF8: return *why = "a name that is not valid UTF-8", NULL;
  case LDM_JSTR_CONTROL: return *why = "a control character in a name (must be escaped)", NULL;
  case LDM_JSTR_LONE_LOW:
  case LDM_JSTR_NO_LOW: return *why = "an unpaired UTF-16 surrogate in a name", NULL;
  case LDM_JSTR_NUL: return *why = "a NUL character (\\u0000) in a name", NULL;
  default: return *why = "a bad escape sequence in a name", NULL;
  }
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* any name twice? (sorted copy: n log n, as a hostile list may hold 65536 names) */
static bool has_duplicate(char *const *v, int k) {
  if (k < 2) return false;
  char **c = malloc(sizeof *c * (size_t)k);
  if (!c) return false; /* the names are checked again by whoever uses them; no false alarm */
  memcpy(c, v, sizeof *c * (size_t)k);
  qsort(c, (size_t)k, sizeof *c, cmp_str_ptr);
  bool dup = false;
  for (int i = 1; i < k && !dup; i++) dup = strcmp(c[i - 1], c[i]) == 0;
  free(c);
  return dup;
}

ldm_status ldm_classes_parse(const char *what, const char *value, int expect, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  if (!what) what = "ldm.classes";
  if (!value) return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.classes is missing", what);
  const char *p = value, *end = value + strlen(value), *why = NULL;
  char **v = NULL;
  int k = 0, cap = 0;
  skip_ws(&p);
  if (*p != '[') why = "not a JSON array of names";
  else {
    p++;
    skip_ws(&p);
    if (*p == ']') p++;
    else {
      for (;;) {
        if (*p != '"') {
          why = "expected a string";
          break;
        }
        char *name = parse_str(&p, end, &why);
        if (!name) break;
        size_t len = strlen(name);
        if (len == 0 || len > LDM_CLASS_NAME_MAX) {
          free(name);
          why = len ? "a name longer than 255 bytes" : "an empty name";
          break;
        }
        if (k == LDM_MAX_CLASSES) {
          free(name);
          why = "more names than classes can be";
          break;
        }
        if (k == cap) {
          int nc = cap ? cap * 2 : 16;
          char **q = realloc(v, sizeof *q * (size_t)nc);
          if (!q) {
            free(name);
            why = "out of host memory";
            break;
          }
          v = q;
          cap = nc;
        }
        v[k++] = name;
        skip_ws(&p);
        if (*p == ',') {
          p++;
          skip_ws(&p);
          continue;
        }
        if (*p == ']') {
          p++;
          break;
        }
        why = "expected ',' or ']'";
        break;
      }
    }
    if (!why) {
      skip_ws(&p);
      if (*p) why = "text after the array";
    }
  }
  if (!why && has_duplicate(v, k)) why = "the same name twice";
  if (!why && expect >= 0 && k != expect) {
    ldm_classes_free(v, k);
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.classes holds %d names but ldm.ncls is %d", what, k, expect);
  }
  if (why) {
    ldm_classes_free(v, k);
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: metadata ldm.classes: %s (at byte %zu)", what, why, (size_t)(p - value));
  }
  *names = v;
  *n = k;
  return LDM_OK;
}

ldm_status ldm_ckpt_read_classes(const ldm_st_file *f, int ncls, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  const char *v = ldm_st_meta(f, "ldm.classes");
  if (!v) return LDM_OK;
  return ldm_classes_parse(ldm_st_path(f), v, ncls, names, n);
}

int ldm_classes_find(char *const *names, int n, const char *name) {
  int found = -1;
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return i;
  for (int i = 0; i < n; i++)
    if (strcasecmp(names[i], name) == 0) {
      if (found >= 0) return -2;
      found = i;
    }
  return found;
}

void ldm_classes_list(char *const *names, int n, char *buf, size_t cap) {
  if (!cap) return;
  buf[0] = 0;
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    size_t need = strlen(names[i]) + (i ? 2 : 0);
    if (o + need + 4 >= cap) {
      if (o + 4 < cap) snprintf(buf + o, cap - o, "%s...", i ? ", " : "");
      return;
    }
    size_t at = o;
    o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", names[i]);
    for (size_t k = at; k < o; k++) /* one line: control characters as '?' */
      if ((unsigned char)buf[k] < 0x20 || buf[k] == 0x7f) buf[k] = '?';
  }
}
