/* UTF-8 sequence validation and the JSON string decoder shared by the safetensors header reader, the
 * class-name list reader and the report's JSON reader (json_string.h). */
#include "io/json_string.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/io.h"

size_t ldm_utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* four hex digits at s[i..i+4), all before end */
static bool hex4(const unsigned char *s, size_t i, size_t end, uint32_t *out) {
  if (end - i < 4) return false;
  uint32_t v = 0;
  for (size_t k = 0; k < 4; k++) {
    int h = hexval(s[i + k]);
    if (h < 0) return false;
    v = (v << 4) | (uint32_t)h;
  }
  *out = v;
  return true;
}

static size_t put_utf8(char *d, uint32_t cp) {
  if (cp < 0x80) {
    d[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    d[0] = (char)(0xC0 | (cp >> 6));
    d[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    d[0] = (char)(0xE0 | (cp >> 12));
    d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  d[0] = (char)(0xF0 | (cp >> 18));
  d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  d[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

ldm_jstr_err ldm_json_str_decode(const char *text, size_t n, char **out, size_t *len, size_t *stop) {
  const unsigned char *s = (const unsigned char *)text;
  *out = NULL;
  *stop = 0;
  /* The closing quote: every backslash escapes the byte after it. The decoder below steps over the same
   * bytes (UTF-8 sequences and the hex digits of \u hold no quote or backslash), so every backslash it
   * meets has its escaped character before `end`. */
  size_t end = 0;
  while (end < n && s[end] != '"') end += s[end] == '\\' ? 2 : 1;
  if (end >= n) return LDM_JSTR_UNTERMINATED;
  char *b = ldm_malloc(end + 1); /* decoded text is never longer than its source */
  if (!b) return LDM_JSTR_NOMEM;
  size_t i = 0, o = 0;
  ldm_jstr_err e = LDM_JSTR_OK;
  while (i < end) {
    unsigned char c = s[i];
    if (c < 0x20) {
      e = LDM_JSTR_CONTROL;
      break;
    }
    if (c != '\\') {
      size_t k = ldm_utf8_seq(s + i, end - i);
      if (!k) {
        e = LDM_JSTR_BAD_UTF8;
        break;
      }
      memcpy(b + o, s + i, k);
      o += k;
      i += k;
      continue;
    }
    unsigned char x = s[i + 1];
    i += 2;
    static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
    const char *simple = x ? strchr(esc_in, x) : NULL;
    if (simple) {
      b[o++] = esc_out[simple - esc_in];
      continue;
    }
    if (x != 'u') {
      i--;
      e = LDM_JSTR_BAD_ESCAPE;
      break;
    }
    uint32_t cp, lo;
    if (!hex4(s, i, end, &cp)) {
      e = LDM_JSTR_BAD_HEX;
      break;
    }
    i += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      e = LDM_JSTR_LONE_LOW;
      break;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (end - i < 2 || s[i] != '\\' || s[i + 1] != 'u') {
        e = LDM_JSTR_NO_LOW;
        break;
      }
      i += 2;
      if (!hex4(s, i, end, &lo)) {
        e = LDM_JSTR_NO_LOW;
        break;
      }
      i += 4;
      if (lo < 0xDC00 || lo > 0xDFFF) {
        e = LDM_JSTR_NO_LOW;
        break;
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) {
      e = LDM_JSTR_NUL;
      break;
    }
    o += put_utf8(b + o, cp); /* 6 (or 12) source bytes give at most 4 */
  }
  if (e != LDM_JSTR_OK) {
    free(b);
    *stop = i;
    return e;
  }
  b[o] = 0;
  *out = b;
  if (len) *len = o;
  *stop = end + 1;
  return LDM_JSTR_OK;
}
