/* Strict JSON reader: recursive descent over a byte buffer, line/column tracked for messages. */
#include "report/json.h"

#include "io/json_string.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 64
#define LDM_JSON_MAX_MEMBERS 8192 /* per object; ldm-vk's own files have a few dozen */

typedef struct {
  const char *p, *end, *line_start;
  int line;
  const ldm_json_opts *o;
  ldm_status err;
} parser;

static ldm_status fail(parser *ps, const char *what) {
  if (ps->err != LDM_OK) return ps->err;
  int col = (int)(ps->p - ps->line_start) + 1;
  const char *name = ps->o && ps->o->name ? ps->o->name : "<json>";
  if (ps->p >= ps->end)
    ps->err = LDM_FAIL(LDM_ERR_FORMAT, "%s:%d: %s (at the end of the text)", name, ps->line, what);
  else
    ps->err = LDM_FAIL(LDM_ERR_FORMAT, "%s:%d: %s (column %d)", name, ps->line, what, col);
  return ps->err;
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end) {
    char c = *ps->p;
    if (c == '\n') {
      ps->line++;
      ps->p++;
      ps->line_start = ps->p;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ps->p++;
    } else {
      break;
    }
  }
}

static bool lit(parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return false;
  ps->p += n;
  return true;
}

/* ps->p at the opening quote (the decoder: io/json_string.h) */
static ldm_status parse_string(parser *ps, char **out) {
  ps->p++;
  size_t stop;
  ldm_jstr_err e = ldm_json_str_decode(ps->p, (size_t)(ps->end - ps->p), out, NULL, &stop);
  if (e == LDM_JSTR_NOMEM) return ps->err = LDM_FAIL(LDM_ERR_NOMEM, "out of memory reading JSON");
  ps->p += stop;
  switch (e) {
  case LDM_JSTR_OK: return LDM_OK;
  case LDM_JSTR_UNTERMINATED: return fail(ps, "unterminated string");
  case LDM_JSTR_CONTROL:
    return fail(ps, *ps->p == '\n' ? "unterminated string (a newline inside it)" : "control character in a string");
  case LDM_JSTR_BAD_UTF8: return fail(ps, "invalid UTF-8 in a string");
  case LDM_JSTR_BAD_HEX: return fail(ps, "bad \\u escape");
  case LDM_JSTR_LONE_LOW: return fail(ps, "lone low surrogate in a \\u escape");
  case LDM_JSTR_NO_LOW: return fail(ps, "high surrogate without a low surrogate in a \\u escape");
  case LDM_JSTR_NUL: return fail(ps, "\\u0000 in a string");
  default: return fail(ps, "bad escape in a string");
  }
}

static ldm_status parse_number(parser *ps, ldm_json *v) {
  const char *s = ps->p;
  if (ps->o && ps->o->allow_nonfinite) {
    static const struct { const char *w; double v; } nf[] = {
        {"-Infinity", -INFINITY}, {"Infinity", INFINITY}, {"-inf", -INFINITY}, {"inf", INFINITY},
        {"-nan", NAN},            {"nan", NAN},           {"NaN", NAN},        {"-NaN", NAN}};
    for (size_t i = 0; i < sizeof nf / sizeof nf[0]; i++)
      if (lit(ps, nf[i].w)) {
        v->type = LDM_JSON_NUM;
        v->num = nf[i].v;
        v->nonfinite = true;
        return LDM_OK;
      }
  }
  const char *p = s;
  if (p < ps->end && *p == '-') p++;
  if (p >= ps->end || !(*p >= '0' && *p <= '9')) return fail(ps, "expected a value");
  if (*p == '0') {
    p++;
    if (p < ps->end && *p >= '0' && *p <= '9') return fail(ps, "leading zero in a number");
  } else {
    while (p < ps->end && *p >= '0' && *p <= '9') p++;
  }
  if (p < ps->end && *p == '.') {
    p++;
    if (p >= ps->end || !(*p >= '0' && *p <= '9')) {
      ps->p = p;
      return fail(ps, "expected a digit after the decimal point");
    }
    while (p < ps->end && *p >= '0' && *p <= '9') p++;
  }
  if (p < ps->end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < ps->end && (*p == '+' || *p == '-')) p++;
    if (p >= ps->end || !(*p >= '0' && *p <= '9')) {
      ps->p = p;
      return fail(ps, "expected a digit in the exponent");
    }
    while (p < ps->end && *p >= '0' && *p <= '9') p++;
  }
  char buf[128];
  size_t n = (size_t)(p - s);
  if (n >= sizeof buf) return fail(ps, "number too long");
  memcpy(buf, s, n);
  buf[n] = 0;
  errno = 0;
  double d = strtod(buf, NULL);
  if (!isfinite(d)) return fail(ps, "number out of range");
  v->type = LDM_JSON_NUM;
  v->num = d;
  ps->p = p;
  return LDM_OK;
}

static ldm_status parse_value(parser *ps, ldm_json *v, int depth);

static ldm_status grow(parser *ps, ldm_json *v, size_t *cap, bool keys) {
  if (v->n < *cap) return LDM_OK;
  size_t nc = *cap ? *cap * 2 : 4;
  ldm_json *it = realloc(v->items, nc * sizeof *it);
  if (!it) return ps->err = LDM_FAIL(LDM_ERR_NOMEM, "out of memory reading JSON");
  v->items = it;
  if (keys) {
    char **k = realloc(v->keys, nc * sizeof *k);
    if (!k) return ps->err = LDM_FAIL(LDM_ERR_NOMEM, "out of memory reading JSON");
    v->keys = k;
  }
  *cap = nc;
  return LDM_OK;
}

static ldm_status parse_array(parser *ps, ldm_json *v, int depth) {
  v->type = LDM_JSON_ARR;
  ps->p++;
  size_t cap = 0;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
    return LDM_OK;
  }
  for (;;) {
    LDM_TRY(grow(ps, v, &cap, false));
    skip_ws(ps);
    memset(&v->items[v->n], 0, sizeof v->items[0]);
    ldm_status s = parse_value(ps, &v->items[v->n], depth + 1);
    if (s != LDM_OK) {
      ldm_json_free(&v->items[v->n]);
      return s;
    }
    v->n++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == ']') return fail(ps, "trailing comma in an array");
      continue;
    }
    if (ps->p < ps->end && *ps->p == ']') {
      ps->p++;
      return LDM_OK;
    }
    return fail(ps, "expected ',' or ']' in an array");
  }
}

static ldm_status parse_object(parser *ps, ldm_json *v, int depth) {
  v->type = LDM_JSON_OBJ;
  ps->p++;
  size_t cap = 0;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
    return LDM_OK;
  }
  for (;;) {
    LDM_TRY(grow(ps, v, &cap, true));
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"')
      return fail(ps, v->n ? "expected a key (a string) after ','" : "expected a key (a string) or '}'");
    const char *key_at = ps->p;
    char *key;
    LDM_TRY(parse_string(ps, &key));
    if (v->n >= LDM_JSON_MAX_MEMBERS) { /* keeps the duplicate check below cheap on a hostile file */
      ps->p = key_at;
      free(key);
      return fail(ps, "an object with too many members");
    }
    for (size_t i = 0; i < v->n; i++)
      if (strcmp(v->keys[i], key) == 0) {
        ps->p = key_at;
        free(key);
        return fail(ps, "duplicate key in an object");
      }
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':') {
      free(key);
      return fail(ps, "expected ':' after a key");
    }
    ps->p++;
    skip_ws(ps);
    memset(&v->items[v->n], 0, sizeof v->items[0]);
    ldm_status s = parse_value(ps, &v->items[v->n], depth + 1);
    if (s != LDM_OK) {
      ldm_json_free(&v->items[v->n]);
      free(key);
      return s;
    }
    v->keys[v->n] = key;
    v->n++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == '}') return fail(ps, "trailing comma in an object");
      continue;
    }
    if (ps->p < ps->end && *ps->p == '}') {
      ps->p++;
      return LDM_OK;
    }
    return fail(ps, "expected ',' or '}' in an object");
  }
}

static ldm_status parse_value(parser *ps, ldm_json *v, int depth) {
  if (depth > MAX_DEPTH) return fail(ps, "nested too deeply");
  skip_ws(ps);
  v->line = ps->line;
  if (ps->p >= ps->end) return fail(ps, "expected a value");
  switch (*ps->p) {
  case '{': return parse_object(ps, v, depth);
  case '[': return parse_array(ps, v, depth);
  case '"':
    v->type = LDM_JSON_STR;
    return parse_string(ps, &v->str);
  case 't':
    if (!lit(ps, "true")) return fail(ps, "expected a value");
    v->type = LDM_JSON_BOOL;
    v->b = true;
    return LDM_OK;
  case 'f':
    if (!lit(ps, "false")) return fail(ps, "expected a value");
    v->type = LDM_JSON_BOOL;
    return LDM_OK;
  case 'n':
    if (lit(ps, "null")) {
      v->type = LDM_JSON_NULL;
      return LDM_OK;
    }
    return parse_number(ps, v); /* "nan" with allow_nonfinite */
  default: return parse_number(ps, v);
  }
}

void ldm_json_free(ldm_json *v) {
  if (!v) return;
  for (size_t i = 0; i < v->n; i++) {
    if (v->items) ldm_json_free(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
  memset(v, 0, sizeof *v);
}

ldm_status ldm_json_parse(const char *text, size_t len, const ldm_json_opts *opts, ldm_json *out) {
  static const ldm_json_opts none = {NULL, 1, false};
  parser ps = {text, text + len, text, opts && opts->line0 > 0 ? opts->line0 : 1, opts ? opts : &none, LDM_OK};
  ldm_json v;
  memset(&v, 0, sizeof v);
  /* a UTF-8 byte order mark is not JSON (RFC 8259 section 8.1 lets a parser ignore it; we refuse it) */
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) return fail(&ps, "byte order mark before the JSON value");
  ldm_status s = parse_value(&ps, &v, 0);
  if (s == LDM_OK) {
    skip_ws(&ps);
    if (ps.p < ps.end) s = fail(&ps, "unexpected text after the JSON value");
  }
  if (s != LDM_OK) {
    ldm_json_free(&v);
    return s;
  }
  *out = v;
  return LDM_OK;
}

ldm_status ldm_read_file(const char *path, size_t max_bytes, char **buf, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return LDM_FAIL(LDM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  /* read at most max_bytes + 1: one byte more than allowed tells a file that is too large */
  size_t limit = max_bytes < SIZE_MAX - 1 ? max_bytes + 1 : max_bytes;
  size_t cap = limit < 65536 ? limit : 65536, n = 0;
  char *b = malloc(cap + 1);
  if (!b) {
    fclose(f);
    return LDM_FAIL(LDM_ERR_NOMEM, "out of memory reading %s", path);
  }
  for (;;) {
    if (n == cap && cap < limit) {
      cap = cap > limit / 2 ? limit : cap * 2;
      char *nb = realloc(b, cap + 1);
      if (!nb) {
        free(b);
        fclose(f);
        return LDM_FAIL(LDM_ERR_NOMEM, "out of memory reading %s", path);
      }
      b = nb;
    }
    if (n == cap) break;
    size_t k = fread(b + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  int err = ferror(f) ? errno : 0;
  fclose(f);
  if (err || n > max_bytes) {
    free(b);
    if (err) return LDM_FAIL(LDM_ERR_IO, "error reading %s: %s", path, strerror(err));
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: larger than %zu bytes", path, max_bytes);
  }
  b[n] = 0;
  *buf = b;
  *len = n;
  return LDM_OK;
}

ldm_status ldm_json_parse_file(const char *path, size_t max_bytes, bool allow_nonfinite, ldm_json *out) {
  char *buf;
  size_t len;
  LDM_TRY(ldm_read_file(path, max_bytes, &buf, &len));
  ldm_json_opts o = {path, 1, allow_nonfinite};
  ldm_status s = ldm_json_parse(buf, len, &o, out);
  free(buf);
  return s;
}

const ldm_json *ldm_json_get(const ldm_json *v, const char *key) {
  if (!v || v->type != LDM_JSON_OBJ) return NULL;
  for (size_t i = 0; i < v->n; i++)
    if (strcmp(v->keys[i], key) == 0) return &v->items[i];
  return NULL;
}

const char *ldm_json_get_str(const ldm_json *v, const char *key) {
  const ldm_json *m = ldm_json_get(v, key);
  return m && m->type == LDM_JSON_STR ? m->str : NULL;
}

bool ldm_json_get_num(const ldm_json *v, const char *key, double *out) {
  const ldm_json *m = ldm_json_get(v, key);
  if (!m || m->type != LDM_JSON_NUM || m->nonfinite) return false;
  *out = m->num;
  return true;
}
