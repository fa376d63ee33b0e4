/* Helpers shared by the report pages: a growable text buffer, HTML/URL escaping, atomic file writes,
 * the common style sheet. */
#ifndef LDM_REPORT_HTML_H
#define LDM_REPORT_HTML_H
#include <stdbool.h>
#include <stddef.h>

#include "ldm/ldm.h"

typedef struct {
  char *b;
  size_t n, cap;
  bool oom;
} ldm_sbuf;

void ldm_sb_free(ldm_sbuf *s);
void ldm_sb_put(ldm_sbuf *s, const char *text);
void ldm_sb_putn(ldm_sbuf *s, const char *text, size_t n);
void ldm_sb_printf(ldm_sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* text with & < > " ' escaped (for element content and quoted attribute values) */
void ldm_sb_html(ldm_sbuf *s, const char *text);
/* a path for href/src: percent-encodes everything but [A-Za-z0-9._~/-] */
void ldm_sb_url(ldm_sbuf *s, const char *path);
/* a JSON string literal: quotes, " and \ escaped, control characters as \u00XX (report/bench_json.c) */
void ldm_sb_json_str(ldm_sbuf *s, const char *text);

/* write s to path via "<path>.tmp.<pid>" + fsync + rename (the temp file is removed on failure) */
ldm_status ldm_write_atomic(const char *path, const ldm_sbuf *s);

/* <!doctype html> ... <body>: the shared style sheet and a title */
void ldm_page_begin(ldm_sbuf *s, const char *title);
/* the self-check script and </body></html> */
void ldm_page_end(ldm_sbuf *s);

/* UTC date-time "YYYY-MM-DD HH:MM UTC" of now */
void ldm_now_utc(char *buf, size_t n);
/* the colour of the i-th series / op (a fixed palette) */
const char *ldm_palette(int i);
#endif
