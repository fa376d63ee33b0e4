/* Shared by the reference files: typed views of the node buffers and the accumulate rule. */
#ifndef LDM_REF_UTIL_H
#define LDM_REF_UTIL_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ldm/graph.h"

#define RF(i) ((float *)buf[i])
#define RU(i) ((uint32_t *)buf[i])
#define RPC(type) type p_; memcpy(&p_, n->pc, sizeof p_); const type *p = &p_; (void)g

/* out = accumulate ? out + v : v, rounded once to fp32 */
static inline void ref_store(float *out, uint32_t accumulate, double v) {
  *out = (float)(accumulate ? (double)*out + v : v);
}
/* a float word of the step buffer */
static inline double ref_step_f(const uint32_t *st, int w) {
  float f;
  memcpy(&f, &st[w], 4);
  return f;
}
/* an out-of-range timestep reads the last table entry */
static inline uint32_t ref_tidx(uint32_t t, uint32_t T) { return t < T ? t : T - 1; }
static inline uint64_t ref_u64(uint32_t lo, uint32_t hi) { return ((uint64_t)hi << 32) | lo; }

/* silu: y = x sigmoid(x); dx = dy s (1 + x (1 - s)), s = sigmoid(x) (the silu ops and group_norm_silu) */
static inline double ldm_ref_act_silu(double x) { return x / (1.0 + exp(-x)); }
static inline double ldm_ref_act_silu_backward(double x, double dy) {
  double s = 1.0 / (1.0 + exp(-x));
  return dy * s * (1.0 + x * (1.0 - s));
}

#endif
