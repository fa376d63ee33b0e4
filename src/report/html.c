/* Report page helpers: text buffer, escaping, atomic writes, the style sheet and the self-check script. */
#include "report/html.h"

#include "ldm/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ldm/version.h"

void ldm_sb_free(ldm_sbuf *s) {
  free(s->b);
  memset(s, 0, sizeof *s);
}

static bool sb_reserve(ldm_sbuf *s, size_t extra) {
  if (s->oom) return false;
  if (s->n + extra + 1 <= s->cap) return true;
  size_t nc = s->cap ? s->cap : 4096;
  while (nc < s->n + extra + 1) nc *= 2;
  char *nb = realloc(s->b, nc);
  if (!nb) {
    s->oom = true;
    return false;
  }
  s->b = nb;
  s->cap = nc;
  return true;
}

void ldm_sb_putn(ldm_sbuf *s, const char *text, size_t n) {
  if (!sb_reserve(s, n)) return;
  memcpy(s->b + s->n, text, n);
  s->n += n;
  s->b[s->n] = 0;
}

void ldm_sb_put(ldm_sbuf *s, const char *text) { ldm_sb_putn(s, text, strlen(text)); }

void ldm_sb_printf(ldm_sbuf *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (k < 0 || !sb_reserve(s, (size_t)k)) return;
  va_start(ap, fmt);
  vsnprintf(s->b + s->n, (size_t)k + 1, fmt, ap);
  va_end(ap);
  s->n += (size_t)k;
}

void ldm_sb_html(ldm_sbuf *s, const char *text) {
  for (const char *p = text ? text : ""; *p; p++) {
    switch (*p) {
    case '&': ldm_sb_put(s, "&amp;"); break;
    case '<': ldm_sb_put(s, "&lt;"); break;
    case '>': ldm_sb_put(s, "&gt;"); break;
    case '"': ldm_sb_put(s, "&quot;"); break;
    case '\'': ldm_sb_put(s, "&#39;"); break;
    default: ldm_sb_putn(s, p, 1);
    }
  }
}

void ldm_sb_url(ldm_sbuf *s, const char *path) {
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._~/-", *p))
      ldm_sb_putn(s, (const char *)p, 1);
    else
      ldm_sb_printf(s, "%%%02X", *p);
  }
}

ldm_status ldm_write_atomic(const char *path, const ldm_sbuf *s) {
  if (s->oom) return LDM_FAIL(LDM_ERR_NOMEM, "out of memory building %s", path);
  return ldm_file_write_atomic(path, s->b, s->n); /* temp file, fsync, rename, fsync of the directory */
}

void ldm_now_utc(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm);
  else snprintf(buf, n, "unknown");
}

const char *ldm_palette(int i) {
  static const char *p[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                            "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"};
  return p[(i % 12 + 12) % 12];
}

static const char *css =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;"
    "padding:16px 24px 40px;color:#1d232a;background:#fff}"
    "h1{font-size:22px;margin:4px 0 2px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d6dbe0;"
    "padding-bottom:3px}h3{font-size:14px;margin:14px 0 6px}"
    ".sub{color:#56606b}.muted{color:#7a838c}"
    "table{border-collapse:collapse;margin:4px 0 10px}th,td{border:1px solid #d6dbe0;padding:3px 8px;"
    "text-align:left;vertical-align:top}th{background:#f2f4f6;font-weight:600}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}"
    ".chart{border:1px solid #d6dbe0;border-radius:6px;padding:6px 8px 4px}"
    ".chart svg{width:100%;height:auto;display:block}"
    ".chart .cap{font-size:12px;color:#56606b}"
    "svg text{font:11px system-ui,'DejaVu Sans',sans-serif;fill:#3b444d}svg .title{font-size:13px;"
    "font-weight:600;fill:#1d232a}"
    "svg .grid{stroke:#e6e9ec;stroke-width:1}svg .axis{stroke:#7a838c;stroke-width:1}"
    "svg polyline{fill:none;stroke-linejoin:round;stroke-linecap:round}"
    "svg .raw{stroke-width:1.2;opacity:.45}svg .ema{stroke-width:2.2}svg .one{stroke-width:1.8}"
    "svg .skip{stroke:#d62728;stroke-width:1;stroke-dasharray:3 2}svg .nan{fill:#d62728}"
    ".timeline{display:flex;gap:10px;overflow-x:auto;padding-bottom:6px;align-items:flex-end}"
    ".timeline figure{margin:0;text-align:center;flex:none}"
    ".timeline img{image-rendering:pixelated;border:1px solid #d6dbe0;display:block}.timeline figcaption{font-size:12px;color:#56606b}"
    ".warn{background:#fff4e5;border:1px solid #f0b35a;border-radius:6px;padding:6px 10px;margin:8px 0}"
    ".flag{color:#b35900;font-weight:600}"
    ".bad{background:#fde2e1}.ok0{background:#e3f4e1}.ok1{background:#eef7d9}.ok2{background:#fbf3d0}"
    ".ok3{background:#fde9cf}.miss{color:#9aa2a9}"
    "pre{background:#f6f8fa;border:1px solid #d6dbe0;border-radius:6px;padding:8px;overflow:auto}"
    "#selfcheck{font-size:12px;color:#7a838c;margin-top:24px}";

void ldm_page_begin(ldm_sbuf *s, const char *title) {
  ldm_sb_put(s, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>");
  ldm_sb_html(s, title);
  ldm_sb_printf(s, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
}

/* The page renders without JavaScript; this script only checks the page against itself (every chart
 * line holds the points its data-points says, every image loaded, tables and bar charts are complete)
 * and records the verdict in <body data-ok> for tests. */
static const char *selfcheck_js =
    "<script>\n"
    "(function(){\n"
    "function check(){\n"
    " var bad=[],nl=0,ni=0;\n"
    " var pl=document.querySelectorAll('polyline[data-points]');\n"
    " for(var i=0;i<pl.length;i++){var p=pl[i],t=(p.getAttribute('points')||'').trim();\n"
    "  var k=t?t.split(/\\s+/).length:0,want=+p.getAttribute('data-points');nl++;\n"
    "  if(k!==want)bad.push(p.getAttribute('data-series')+': '+k+' points, expected '+want);\n"
    "  if(p.hasAttribute('data-rows')&&want+(+p.getAttribute('data-missing')||0)!==+p.getAttribute('data-rows'))\n"
    "   bad.push(p.getAttribute('data-series')+': points + missing != rows');}\n"
    " var im=document.images;\n"
    " for(var j=0;j<im.length;j++){ni++;if(!im[j].complete||!im[j].naturalWidth)bad.push('image not loaded: '+im[j].getAttribute('src'));}\n"
    " var ex=document.querySelectorAll('[data-expect-children]');\n"
    " for(var e=0;e<ex.length;e++)if(ex[e].children.length!==+ex[e].getAttribute('data-expect-children'))\n"
    "  bad.push((ex[e].id||ex[e].tagName)+': '+ex[e].children.length+' rows, expected '+ex[e].getAttribute('data-expect-children'));\n"
    " var bs=document.querySelectorAll('svg[data-bars]');\n"
    " for(var b=0;b<bs.length;b++){var nb=bs[b].querySelectorAll('rect.bar').length;\n"
    "  if(nb!==+bs[b].getAttribute('data-bars'))bad.push('bar chart: '+nb+' bars, expected '+bs[b].getAttribute('data-bars'));}\n"
    " var out=document.getElementById('selfcheck');\n"
    " document.body.setAttribute('data-ok',bad.length?'0':'1');\n"
    " if(bad.length){document.body.setAttribute('data-problems',bad.join('; '));console.error('report self-check: '+bad.join('; '));}\n"
    " if(out)out.textContent=bad.length?'self-check FAILED: '+bad.join('; '):\n"
    "  'self-check passed: '+nl+' chart lines, '+ni+' images, '+ex.length+' tables, '+bs.length+' bar charts';\n"
    "}\n"
    "if(document.readyState==='complete')check();else window.addEventListener('load',check);\n"
    "})();\n"
    "</script>\n";

void ldm_page_end(ldm_sbuf *s) {
  char now[64];
  ldm_now_utc(now, sizeof now);
  ldm_sb_printf(s, "<p class=\"muted\">written by ldm-vk %s (git %s) on %s</p>\n"
                   "<p id=\"selfcheck\">(the page's self-check needs JavaScript)</p>\n",
                ldm_version(), ldm_version_git(), now);
  ldm_sb_put(s, selfcheck_js);
  ldm_sb_put(s, "</body></html>\n");
}
