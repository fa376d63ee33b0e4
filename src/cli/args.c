#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define U64_FULL 18446744073709551615.0 /* rounds to 2^64: a max >= this means every uint64_t */

static bool u64_full(const arg_def *d) { return d->max >= U64_FULL; }

/* the value as it goes into a one-line message: control characters as '?', quoted when empty or
 * blank-containing, cut at 60 characters */
static const char *show(const char *v, char *buf, size_t n) {
  bool quote = !*v || strpbrk(v, " \t") != NULL;
  size_t k = 0, len = strlen(v);
  if (quote && k + 1 < n) buf[k++] = '\'';
  for (size_t i = 0; i < len && i < 60 && k + 5 < n; i++)
    buf[k++] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
  if (len > 60 && k + 5 < n) buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
  if (quote && k + 1 < n) buf[k++] = '\'';
  buf[k] = 0;
  return buf;
}

static void num_text(double x, bool integer, char *buf, size_t n) {
  if (integer) snprintf(buf, n, "%.0f", x);
  else snprintf(buf, n, "%.9g", x);
}

/* "[1, 1000000]", "(0, 1]", "[0, 18446744073709551615]" */
static const char *range_text(const arg_def *d, char *buf, size_t n) {
  char lo[40], hi[40];
  bool integer = d->kind != ARG_FLOAT;
  num_text(d->min, integer, lo, sizeof lo);
  if (d->kind == ARG_U64 && u64_full(d)) snprintf(hi, sizeof hi, "18446744073709551615");
  else num_text(d->max, integer, hi, sizeof hi);
  int open = d->kind == ARG_FLOAT ? d->open : 0;
  snprintf(buf, n, "%c%s, %s%c", open & ARG_OPEN_MIN ? '(' : '[', lo, hi, open & ARG_OPEN_MAX ? ')' : ']');
  return buf;
}

/* "auto, quick, full" (+ " (N an integer in [0, 255])" when a choice takes a number) */
static const char *choices_text(const arg_def *d, char *buf, size_t n) {
  size_t k = 0;
  bool num = false;
  for (const char *c = d->choices; *c && k + 3 < n;) {
    const char *e = strchr(c, '|');
    size_t l = e ? (size_t)(e - c) : strlen(c);
    if (l && c[l - 1] == 'N') num = true;
    k += (size_t)snprintf(buf + k, n - k, "%s%.*s", k ? ", " : "", (int)l, c);
    if (k >= n) k = n - 1;
    c += l + (e ? 1 : 0);
  }
  if (num && k + 1 < n) {
    char r[96];
    const arg_def nd = {.kind = ARG_INT, .min = d->min, .max = d->max};
    snprintf(buf + k, n - k, " (N an integer in %s)", range_text(&nd, r, sizeof r));
  }
  return buf;
}

/* plain decimal: optional '-', then digits only */
static bool parse_decimal(const char *v, bool allow_minus, long long *out_s, unsigned long long *out_u) {
  const char *p = v;
  if (allow_minus && *p == '-') p++;
  if (!*p) return false;
  for (const char *q = p; *q; q++)
    if (*q < '0' || *q > '9') return false;
  errno = 0;
  char *end;
  if (out_s) *out_s = strtoll(v, &end, 10);
  else *out_u = strtoull(v, &end, 10);
  return errno == 0 && *end == 0;
}

/* decimal floating point: digits, '.', exponent and signs only (no nan, inf, hex, blanks) */
static bool parse_float(const char *v, double *out) {
  bool digit = false;
  for (const char *q = v; *q; q++) {
    if (*q >= '0' && *q <= '9') digit = true;
    else if (!strchr(".eE+-", *q)) return false;
  }
  if (!digit) return false;
  errno = 0;
  char *end;
  *out = strtod(v, &end);
  return errno == 0 && *end == 0 && isfinite(*out);
}

static bool in_range(const arg_def *d, double x) {
  int open = d->kind == ARG_FLOAT ? d->open : 0;
  bool lo = open & ARG_OPEN_MIN ? x > d->min : x >= d->min;
  bool hi = open & ARG_OPEN_MAX ? x < d->max : x <= d->max;
  return lo && hi;
}

static bool match_choice(const arg_def *d, const char *v) {
  for (const char *c = d->choices; *c;) {
    const char *e = strchr(c, '|');
    size_t l = e ? (size_t)(e - c) : strlen(c);
    if (strlen(v) == l && strncmp(v, c, l) == 0) return true;
    if (l && c[l - 1] == 'N' && strncmp(v, c, l - 1) == 0) {
      long long x;
      if (parse_decimal(v + l - 1, false, &x, NULL) && x >= d->min && x <= d->max) return true;
    }
    c += l + (e ? 1 : 0);
  }
  return false;
}

/* a table entry the parser cannot check is a programming error */
static bool def_ok(const arg_def *d) {
  switch (d->kind) {
  case ARG_INT: return d->min < d->max && d->min >= -2147483647.0 && d->max <= 2147483647.0;
  case ARG_FLOAT: return d->min < d->max && isfinite(d->min) && isfinite(d->max);
  case ARG_U64: return d->min >= 0 && d->min < d->max;
  case ARG_STR: return d->cap > 1 && (!d->choices || *d->choices);
  case ARG_BOOL: return true;
  }
  return false;
}

static void print_help(const char *usage, const arg_def *d, int n) {
  printf("%s\n", usage);
  if (n > 0) printf("\noptions:\n");
  for (int i = 0; i < n; i++) {
    char left[128], r[96];
    const char *v = d[i].kind == ARG_BOOL    ? ""
                    : d[i].kind == ARG_STR   ? (d[i].choices ? d[i].choices : "S")
                    : d[i].kind == ARG_FLOAT ? "X"
                                             : "N";
    snprintf(left, sizeof left, "--%s%s%s", d[i].name, *v ? " " : "", v);
    printf("  %-22s %s", left, d[i].help);
    if (d[i].kind == ARG_INT || d[i].kind == ARG_U64 || d[i].kind == ARG_FLOAT)
      printf("; %s %s", d[i].kind == ARG_FLOAT ? "a number in" : "an integer in", range_text(&d[i], r, sizeof r));
    else if (d[i].kind == ARG_STR && d[i].choices && strchr(d[i].choices, 'N')) {
      const arg_def nd = {.kind = ARG_INT, .min = d[i].min, .max = d[i].max};
      printf("; N in %s", range_text(&nd, r, sizeof r));
    }
    printf("\n");
  }
}

static int bad_value(const char *cmd, const arg_def *d, const char *v) {
  char sv[80], r[200];
  show(v, sv, sizeof sv);
  switch (d->kind) {
  case ARG_INT:
  case ARG_U64: return ldm_cli_usage_error(cmd, "--%s %s: must be an integer in %s", d->name, sv, range_text(d, r, sizeof r));
  case ARG_FLOAT:
    return ldm_cli_usage_error(cmd, "--%s %s: must be a finite number in %s", d->name, sv, range_text(d, r, sizeof r));
  case ARG_STR:
    if (!*v) return ldm_cli_usage_error(cmd, "--%s %s: must not be empty", d->name, sv);
    if (strlen(v) >= d->cap)
      return ldm_cli_usage_error(cmd, "--%s %s: too long (at most %zu characters)", d->name, sv, d->cap - 1);
    return ldm_cli_usage_error(cmd, "--%s %s: must be one of %s", d->name, sv, choices_text(d, r, sizeof r));
  case ARG_BOOL: break;
  }
  return ldm_cli_usage_error(cmd, "--%s %s: invalid value", d->name, sv);
}

int ldm_args_parse(const char *cmd, const char *usage, const arg_def *d, int n, int argc, char **argv) {
  for (int k = 0; k < n; k++)
    if (!def_ok(&d[k])) {
      fprintf(stderr, "ldm-vk %s: internal error: the flag table entry of --%s has no valid range\n", cmd, d[k].name);
      return 2;
    }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_help(usage, d, n);
      return 1;
    }
    char sa[80];
    if (strncmp(a, "--", 2) != 0) return ldm_cli_usage_error(cmd, "unexpected argument %s", show(a, sa, sizeof sa));
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nl = eq ? (size_t)(eq - name) : strlen(name);
    const arg_def *def = NULL;
    for (int k = 0; k < n; k++)
      if (strlen(d[k].name) == nl && strncmp(d[k].name, name, nl) == 0) def = &d[k];
    if (!def) {
      char nm[80];
      snprintf(nm, sizeof nm, "%.*s", (int)(nl < 60 ? nl : 60), name);
      return ldm_cli_usage_error(cmd, "unknown option --%s", show(nm, sa, sizeof sa));
    }
    if (def->kind == ARG_BOOL) {
      if (eq) {
        if (strcmp(eq + 1, "1") == 0 || strcmp(eq + 1, "true") == 0) *(bool *)def->dst = true;
        else if (strcmp(eq + 1, "0") == 0 || strcmp(eq + 1, "false") == 0) *(bool *)def->dst = false;
        else return ldm_cli_usage_error(cmd, "--%s takes no value (or =0/=1)", def->name);
      } else {
        *(bool *)def->dst = true;
      }
      continue;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v) {
      if (i + 1 >= argc) return ldm_cli_usage_error(cmd, "--%s needs a value", def->name);
      v = argv[++i];
    }
    switch (def->kind) {
    case ARG_STR:
      if (!*v || strlen(v) >= def->cap || (def->choices && !match_choice(def, v))) return bad_value(cmd, def, v);
      memcpy(def->dst, v, strlen(v) + 1);
      break;
    case ARG_INT: {
      long long x;
      if (!parse_decimal(v, true, &x, NULL) || !in_range(def, (double)x)) return bad_value(cmd, def, v);
      *(int *)def->dst = (int)x;
      break;
    }
    case ARG_U64: {
      unsigned long long x;
      if (!parse_decimal(v, false, NULL, &x) || (double)x < def->min || (!u64_full(def) && (double)x > def->max))
        return bad_value(cmd, def, v);
      *(uint64_t *)def->dst = x;
      break;
    }
    case ARG_FLOAT: {
      double x;
      /* the range applies to the float that is stored (0.99999999 rounds to 1) */
      if (!parse_float(v, &x) || !isfinite((float)x) || !in_range(def, (double)(float)x)) return bad_value(cmd, def, v);
      *(float *)def->dst = (float)x;
      break;
    }
    case ARG_BOOL: break;
    }
  }
  return 0;
}
