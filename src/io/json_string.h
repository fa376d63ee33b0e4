/* The one JSON string decoder (RFC 8259, strictly) of the three readers of JSON text: the safetensors
 * header (src/io/safetensors_header.c), the ldm.classes list of names (src/io/ckpt_meta.c) and the
 * report's JSON reader (src/report/json.c). Each reader words its own messages from the error kind. */
#ifndef LDM_IO_JSON_STRING_H
#define LDM_IO_JSON_STRING_H
#include <stddef.h>

typedef enum {
  LDM_JSTR_OK = 0,
  LDM_JSTR_UNTERMINATED, /* no closing quote before the end of the text (*stop: 0) */
  LDM_JSTR_CONTROL,      /* a raw byte below 0x20 (*stop: at it) */
  LDM_JSTR_BAD_UTF8,     /* raw bytes that are not valid UTF-8 (ldm_utf8_seq; *stop: at the first) */
  LDM_JSTR_BAD_ESCAPE,   /* a backslash before none of " \ / b f n r t u (*stop: at that character) */
  LDM_JSTR_BAD_HEX,      /* \u without four hex digits (*stop: after the "\u") */
  LDM_JSTR_LONE_LOW,     /* a low surrogate \uDC00..\uDFFF with no high one before it (*stop: after it) */
  LDM_JSTR_NO_LOW,       /* a high surrogate \uD800..\uDBFF not followed by a low one (*stop: where the
                          * "\u" or its four hex digits were expected, or after the escape that is not one) */
  LDM_JSTR_NUL,          /* \u0000: the result is a C string (*stop: after the escape) */
  LDM_JSTR_NOMEM,        /* out of host memory (the thread's error is set; *stop: 0) */
} ldm_jstr_err;

/* Decode the JSON string whose text starts at s (just after its opening quote; n bytes of text to the end
 * of the document). The closing quote is found first (an unterminated string is refused before anything
 * else), then the characters are decoded in order: the escapes \" \\ \/ \b \f \n \r \t and \uXXXX (hex
 * digits of either case, a surrogate pair as one code point), raw UTF-8 checked sequence by sequence.
 * On success *out is a malloc'd NUL-terminated UTF-8 string (free()), *len (may be NULL) its length and
 * *stop the bytes read, closing quote included. On failure *out is NULL and *stop the offset from s at
 * which the error was found (see each kind). */
ldm_jstr_err ldm_json_str_decode(const char *s, size_t n, char **out, size_t *len, size_t *stop);
#endif
