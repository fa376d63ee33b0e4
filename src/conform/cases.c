/* The registry of conformance case tables, one per op family (append new families here). */
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
    int total = 0;
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
  }
  *n = count;
  return all;
}
