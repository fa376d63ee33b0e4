/* The registry of conformance case tables, one per op family (append new families here), then the default
 * cases of the activation ops (cases_act.c) of which no family table has a case. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/conformance.h"

extern const ldm_conf_case ldm_conf_cases_basic[];
extern const int ldm_conf_cases_basic_n;
extern const ldm_conf_case ldm_conf_cases_norm[];
extern const int ldm_conf_cases_norm_n;
extern const ldm_conf_case ldm_conf_cases_diffusion[];
extern const int ldm_conf_cases_diffusion_n;
extern const ldm_conf_case ldm_conf_cases_conv[];
extern const int ldm_conf_cases_conv_n;
extern const ldm_conf_case ldm_conf_cases_act[];
extern const int ldm_conf_cases_act_n;

static const struct { const ldm_conf_case *c; const int *n; } families[] = {
    {ldm_conf_cases_basic, &ldm_conf_cases_basic_n},
    {ldm_conf_cases_norm, &ldm_conf_cases_norm_n},
    {ldm_conf_cases_diffusion, &ldm_conf_cases_diffusion_n},
    {ldm_conf_cases_conv, &ldm_conf_cases_conv_n},
};

const ldm_conf_case *ldm_conf_cases(int *n) {
  static ldm_conf_case *all;
  static int count;
  if (!all) {
    int total = ldm_conf_cases_act_n;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) total += *families[f].n;
    all = calloc((size_t)total, sizeof *all);
    if (!all) {
      *n = 0;
      return NULL;
    }
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
      memcpy(all + count, families[f].c, (size_t)*families[f].n * sizeof *all);
      count += *families[f].n;
    }
    int hand = count;
    for (int i = 0; i < ldm_conf_cases_act_n; i++) {
      bool own = false; /* a family table has cases of this op: they replace the defaults */
      for (int j = 0; j < hand && !own; j++) own = strcmp(all[j].op, ldm_conf_cases_act[i].op) == 0;
      if (!own) all[count++] = ldm_conf_cases_act[i];
    }
  }
  *n = count;
  return all;
}
