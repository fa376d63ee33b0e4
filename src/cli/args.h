/* Tiny flag parser shared by the subcommands: --name value / --name=value / boolean --name. */
#ifndef LDM_CLI_ARGS_H
#define LDM_CLI_ARGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { ARG_STR, ARG_INT, ARG_FLOAT, ARG_U64, ARG_BOOL } arg_kind;
typedef struct {
  const char *name; /* without the dashes */
  arg_kind kind;
  void *dst;
  size_t cap;       /* ARG_STR buffer size */
  const char *help;
} arg_def;

/* Returns 0 ok, 1 --help printed, 2 usage error (printed). */
int ldm_args_parse(const char *cmd, const char *usage, const arg_def *defs, int ndefs, int argc, char **argv);
#endif
