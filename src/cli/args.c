#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void print_help(const char *usage, const arg_def *d, int n) {
  printf("%s\n\noptions:\n", usage);
  for (int i = 0; i < n; i++) {
    const char *v = d[i].kind == ARG_BOOL ? "" : d[i].kind == ARG_STR ? " S" : " N";
    char left[64];
    snprintf(left, sizeof left, "--%s%s", d[i].name, v);
    printf("  %-22s %s\n", left, d[i].help);
  }
}

int ldm_args_parse(const char *cmd, const char *usage, const arg_def *d, int n, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_help(usage, d, n);
      return 1;
    }
    if (strncmp(a, "--", 2) != 0) return ldm_cli_usage_error(cmd, "unexpected argument '%s'", a);
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nl = eq ? (size_t)(eq - name) : strlen(name);
    const arg_def *def = NULL;
    for (int k = 0; k < n; k++)
      if (strlen(d[k].name) == nl && strncmp(d[k].name, name, nl) == 0) def = &d[k];
    if (!def) return ldm_cli_usage_error(cmd, "unknown option '--%.*s'", (int)nl, name);
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
    char *end = NULL;
    errno = 0;
    switch (def->kind) {
    case ARG_STR:
      if (strlen(v) >= def->cap) return ldm_cli_usage_error(cmd, "--%s value is too long", def->name);
      memcpy(def->dst, v, strlen(v) + 1);
      break;
    case ARG_INT: {
      long x = strtol(v, &end, 10);
      if (*end || end == v || errno || x < -2147483647L || x > 2147483647L)
        return ldm_cli_usage_error(cmd, "--%s %s: not an integer", def->name, v);
      *(int *)def->dst = (int)x;
      break;
    }
    case ARG_U64: {
      unsigned long long x = strtoull(v, &end, 0);
      if (*end || end == v || errno || v[0] == '-')
        return ldm_cli_usage_error(cmd, "--%s %s: not a non-negative integer", def->name, v);
      *(uint64_t *)def->dst = x;
      break;
    }
    case ARG_FLOAT: {
      float x = strtof(v, &end);
      if (*end || end == v || errno) return ldm_cli_usage_error(cmd, "--%s %s: not a number", def->name, v);
      *(float *)def->dst = x;
      break;
    }
    case ARG_BOOL: break;
    }
  }
  return 0;
}
