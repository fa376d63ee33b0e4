/* Tiny flag parser shared by the subcommands: --name value / --name=value / boolean --name.
 * Every value is checked at parse time against its table entry (range, finiteness, choices), so a bad
 * flag exits 2 with one line naming the flag, its value and what is allowed, before any work starts. */
#ifndef LDM_CLI_ARGS_H
#define LDM_CLI_ARGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { ARG_STR, ARG_INT, ARG_FLOAT, ARG_U64, ARG_BOOL } arg_kind;

/* ARG_FLOAT: the bounds excluded from the range */
enum { ARG_OPEN_MIN = 1, ARG_OPEN_MAX = 2 };

typedef struct arg_def {
  const char *name; /* without the dashes */
  arg_kind kind;
  void *dst;        /* char[cap], int, float, uint64_t or bool */
  size_t cap;       /* ARG_STR buffer size */
  const char *help;
  /* ARG_INT, ARG_FLOAT, ARG_U64: the allowed range [min, max] (required: min < max; ARG_INT within
   * int, ARG_U64 max >= 2^64 means every uint64_t); ARG_FLOAT values must also be finite. Integers are
   * plain decimal digits (optionally '-'): no "3.5", "1e3", "0x10", blanks or empty values. */
  double min, max;
  int open;            /* ARG_FLOAT: ARG_OPEN_MIN | ARG_OPEN_MAX */
  /* ARG_STR: NULL (any non-empty text) or "a|b|c": the value must be one of them; a choice ending in
   * "N" ("N", "vk:N") matches its prefix followed by a decimal integer in [min, max]. */
  const char *choices;
} arg_def;

/* markers for the entries without a range (they also keep -Wmissing-field-initializers quiet):
 * a free-text string flag (any non-empty value) and a boolean switch */
#define ARG_TEXT .choices = NULL
#define ARG_SWITCH .open = 0

/* the --device flag of every subcommand: vk, vk:N (N in [0, 255]) or cpu */
#define ARG_DEVICE .choices = "vk|vk:N|cpu", .min = 0, .max = 255

/* Returns 0 ok, 1 --help printed, 2 usage error (printed). */
int ldm_args_parse(const char *cmd, const char *usage, const arg_def *defs, int ndefs, int argc, char **argv);
#endif
