/* The safetensors header: a small strict JSON parser for exactly the subset safetensors uses (objects,
 * strings, arrays of non-negative integers, null for an empty __metadata__), building the reader's
 * metadata and tensor entries (io_internal.h). Strings go through the shared decoder (json_string.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "io/json_string.h"

/* JSON parser state. */
typedef struct {
  const char *path;
  const unsigned char *s;
  size_t n, pos;
} jp;

static ldm_status jerr(const jp *p, const char *what) {
  return LDM_FAIL(LDM_ERR_FORMAT, "%s: safetensors header is not valid JSON: %s at byte %zu", p->path, what,
                  p->pos + 8);
}

static void jws(jp *p) {
  while (p->pos < p->n) {
    unsigned char c = p->s[p->pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
    else break;
  }
}

static bool jpeek(jp *p, unsigned char c) {
  jws(p);
  return p->pos < p->n && p->s[p->pos] == c;
}

static ldm_status jexpect(jp *p, unsigned char c) {
  jws(p);
  if (p->pos >= p->n) return jerr(p, "unexpected end of header");
  if (p->s[p->pos] != c) {
    char what[40];
    snprintf(what, sizeof what, "expected '%c'", c);
    return jerr(p, what);
  }
  p->pos++;
  return LDM_OK;
}

/* After an object member: *more when a ',' follows (consumed), else the '}' that closes the object. */
static ldm_status jnext_member(jp *p, bool *more) {
  jws(p);
  *more = p->pos < p->n && p->s[p->pos] == ',';
  if (*more) {
    p->pos++;
    return LDM_OK;
  }
  return jexpect(p, '}');
}

/* Parse a JSON string into a fresh NUL-terminated UTF-8 buffer (\u0000 is rejected). */
static ldm_status jstring(jp *p, char **out) {
  *out = NULL;
  LDM_TRY(jexpect(p, '"'));
  size_t stop;
  ldm_jstr_err e = ldm_json_str_decode((const char *)p->s + p->pos, p->n - p->pos, out, NULL, &stop);
  if (e == LDM_JSTR_NOMEM) return LDM_ERR_NOMEM;
  /* where the error was found (after the escape character of a bad escape) */
  p->pos += stop + (e == LDM_JSTR_BAD_ESCAPE);
  switch (e) {
  case LDM_JSTR_OK: return LDM_OK;
  case LDM_JSTR_UNTERMINATED: return jerr(p, "unterminated string");
  case LDM_JSTR_CONTROL: return jerr(p, "control character in string");
  case LDM_JSTR_BAD_UTF8: return jerr(p, "invalid UTF-8 in string");
  case LDM_JSTR_BAD_HEX: return jerr(p, "bad \\u escape");
  case LDM_JSTR_LONE_LOW:
  case LDM_JSTR_NO_LOW: return jerr(p, "unpaired surrogate in \\u escape");
  case LDM_JSTR_NUL: return jerr(p, "\\u0000 in string");
  default: return jerr(p, "bad escape in string");
  }
}

/* Parse an array of non-negative integers (at most max of them, each <= INT64_MAX). */
static ldm_status jintarray(jp *p, const char *tname, const char *field, int max, uint64_t *vals, int *count) {
  LDM_TRY(jexpect(p, '['));
  *count = 0;
  if (jpeek(p, ']')) {
    p->pos++;
    return LDM_OK;
  }
  for (;;) {
    jws(p);
    if (p->pos >= p->n) return jerr(p, "unexpected end of header");
    if (p->s[p->pos] == '-')
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has a negative value in %s", p->path, tname, field);
    if (p->s[p->pos] < '0' || p->s[p->pos] > '9') return jerr(p, "expected an integer");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->n && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
      return jerr(p, "number with a leading zero");
    uint64_t v = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
      if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, (uint64_t)(p->s[p->pos] - '0'), &v) ||
          v > (uint64_t)INT64_MAX)
        return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has a value in %s that overflows 64 bits", p->path,
                        tname, field);
      p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has a non-integer value in %s", p->path, tname, field);
    if (*count >= max)
      return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has more than %d entries in %s", p->path, tname, max, field);
    vals[(*count)++] = v;
    jws(p);
    if (p->pos >= p->n) return jerr(p, "unexpected end of header");
    if (p->s[p->pos] == ',') {
      p->pos++;
      continue;
    }
    if (p->s[p->pos] == ']') {
      p->pos++;
      return LDM_OK;
    }
    return jerr(p, "expected ',' or ']'");
  }
}


/* A metadata key from the file, for a one-line message: control bytes as \xNN, cut at 64 bytes. */
static const char *meta_key_msg(const char *k, char *buf, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; k[i] && o + 8 < cap; i++) {
    unsigned char ch = (unsigned char)k[i];
    if (i >= 64) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (ch < 0x20 || ch == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
    else buf[o++] = (char)ch;
  }
  buf[o] = 0;
  return buf;
}

static ldm_status parse_metadata(jp *p, ldm_st_file *f) {
  jws(p);
  if (p->n - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) {
    p->pos += 4;
    return LDM_OK;
  }
  LDM_TRY(jexpect(p, '{'));
  if (jpeek(p, '}')) {
    p->pos++;
    return LDM_OK;
  }
  for (;;) {
    char *k = NULL, *v = NULL;
    LDM_TRY(jstring(p, &k));
    ldm_status s = jexpect(p, ':');
    char km[300];
    if (s == LDM_OK && !jpeek(p, '"'))
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: __metadata__ value for key \"%s\" is not a string", p->path,
                   meta_key_msg(k, km, sizeof km));
    if (s == LDM_OK) s = jstring(p, &v);
    /* a bound, so that the duplicate check below stays cheap on a hostile header (ldm-vk writes ~30 keys) */
    if (s == LDM_OK && f->nm >= LDM_ST_MAX_META)
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: more than %d __metadata__ keys", p->path, LDM_ST_MAX_META);
    for (int i = 0; s == LDM_OK && i < f->nm; i++)
      if (strcmp(f->mk[i], k) == 0)
        s = LDM_FAIL(LDM_ERR_FORMAT, "%s: duplicate __metadata__ key \"%s\"", p->path, meta_key_msg(k, km, sizeof km));
    if (s == LDM_OK) s = ldm_st_grow((void **)&f->mk, &f->capk, f->nm + 1, sizeof(char *));
    if (s == LDM_OK) s = ldm_st_grow((void **)&f->mv, &f->capv, f->nm + 1, sizeof(char *));
    if (s != LDM_OK) {
      free(k);
      free(v);
      return s;
    }
    f->mk[f->nm] = k;
    f->mv[f->nm] = v;
    f->nm++;
    bool more;
    LDM_TRY(jnext_member(p, &more));
    if (!more) return LDM_OK;
  }
}

/* Parse {"dtype":..,"shape":[..],"data_offsets":[b,e]} for tensor `name` (ownership taken). */
static ldm_status parse_tensor(jp *p, ldm_st_file *f, char *name) {
  ldm_status s = ldm_st_grow((void **)&f->e, &f->cape, f->ne + 1, sizeof(st_rentry));
  if (s != LDM_OK) {
    free(name);
    return s;
  }
  st_rentry *e = &f->e[f->ne++];
  memset(e, 0, sizeof *e);
  e->t.name = name; /* owned by f from here on */
  bool have_dt = false, have_shape = false, have_off = false;
  LDM_TRY(jexpect(p, '{'));
  if (jpeek(p, '}')) return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has no dtype", p->path, name);
  for (;;) {
    char *key = NULL;
    LDM_TRY(jstring(p, &key));
    s = jexpect(p, ':');
    if (s == LDM_OK) {
      if (strcmp(key, "dtype") == 0 && !have_dt) {
        char *dt = NULL;
        s = jstring(p, &dt);
        if (s == LDM_OK && !ldm_st_dtype_parse(dt, &e->t.dtype))
          s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has unknown dtype \"%s\"", p->path, name, dt);
        free(dt);
        have_dt = true;
      } else if (strcmp(key, "shape") == 0 && !have_shape) {
        uint64_t v[LDM_ST_MAX_DIMS];
        int cnt = 0;
        s = jintarray(p, name, "shape", LDM_ST_MAX_DIMS, v, &cnt);
        e->t.ndim = cnt;
        for (int i = 0; i < cnt; i++) e->t.shape[i] = (int64_t)v[i];
        have_shape = true;
      } else if (strcmp(key, "data_offsets") == 0 && !have_off) {
        uint64_t v[2];
        int cnt = 0;
        s = jintarray(p, name, "data_offsets", 2, v, &cnt);
        if (s == LDM_OK && cnt != 2)
          s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s data_offsets is not [begin,end]", p->path, name);
        if (s == LDM_OK) {
          e->begin = v[0];
          e->end = v[1];
        }
        have_off = true;
      } else if (strcmp(key, "dtype") == 0 || strcmp(key, "shape") == 0 || strcmp(key, "data_offsets") == 0) {
        s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has field \"%s\" twice", p->path, name, key);
      } else {
        s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has unknown field \"%s\"", p->path, name, key);
      }
    }
    free(key);
    if (s != LDM_OK) return s;
    bool more;
    LDM_TRY(jnext_member(p, &more));
    if (!more) break;
  }
  if (!have_dt) return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has no dtype", p->path, name);
  if (!have_shape) return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has no shape", p->path, name);
  if (!have_off) return LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor %s has no data_offsets", p->path, name);
  return LDM_OK;
}

ldm_status ldm_st_parse_header(const char *path, const unsigned char *hdr, size_t n, ldm_st_file *f) {
  jp pp = {path, hdr, n, 0}, *p = &pp;
  LDM_TRY(jexpect(p, '{'));
  if (jpeek(p, '}')) {
    p->pos++;
  } else {
    for (;;) {
      char *key = NULL;
      LDM_TRY(jstring(p, &key));
      ldm_status s = jexpect(p, ':');
      if (s != LDM_OK) {
        free(key);
        return s;
      }
      if (strcmp(key, "__metadata__") == 0) {
        free(key);
        if (f->have_meta) return LDM_FAIL(LDM_ERR_FORMAT, "%s: __metadata__ appears twice", p->path);
        f->have_meta = true;
        LDM_TRY(parse_metadata(p, f));
      } else {
        LDM_TRY(parse_tensor(p, f, key));
      }
      bool more;
      LDM_TRY(jnext_member(p, &more));
      if (!more) break;
    }
  }
  jws(p);
  if (p->pos != p->n) return jerr(p, "unexpected characters after the header object");
  return LDM_OK;
}

