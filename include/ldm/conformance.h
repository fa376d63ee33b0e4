/* Conformance: every shader against its CPU twin on seeded random inputs. The same case list serves
 * `ldm-vk conformance` and the unit tests, so they cannot drift apart. */
#ifndef LDM_CONFORMANCE_H
#define LDM_CONFORMANCE_H
#include "ldm/backend.h"
#include "ldm/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ldm_conf_ctx ldm_conf_ctx;

typedef struct ldm_conf_case {
  const char *op;    /* op (= shader family) under test */
  const char *shape; /* human-readable shape */
  ldm_status (*build)(ldm_graph *g, ldm_conf_ctx *cc, const int *arg);
  int arg[8];
  double tol;        /* NMSE tolerance; 0 = the op's own */
  bool full_only;    /* large shapes: only with --full */
} ldm_conf_case;

/* Inside a case builder: an input filled with seeded uniform values in [lo, hi) (kept alive for the
 * whole run), an integer input in [0, maxval), and an output to compare (created with a guard region
 * after it that must stay untouched). Outputs start with random values so accumulate modes are tested.
 * ldm_conf_compare marks an existing tensor as compared (no guard). */
int ldm_conf_input(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int ndim, const int64_t *shape, float lo, float hi);
int ldm_conf_input_u32(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int64_t n, uint32_t maxval);
int ldm_conf_output(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int ndim, const int64_t *shape);
/* ... with a dtype and the range of its random initial values (e.g. Adam's v must start >= 0) */
int ldm_conf_output_ex(ldm_conf_ctx *cc, ldm_graph *g, const char *name, ldm_dtype dt, int ndim, const int64_t *shape,
                       float lo, float hi);
void ldm_conf_compare(ldm_conf_ctx *cc, ldm_graph *g, int t);
/* The step buffer (host arena) a case may pass to ops that read per-step values; filled with sane
 * values (step 3, lr 1e-3, bias corrections of step 3, rng counter 7). */
int ldm_conf_step(ldm_conf_ctx *cc, ldm_graph *g);

typedef struct ldm_conf_result {
  double nmse, max_abs, tol;
  bool nan, guard_ok, deterministic, pass;
  double gpu_ms; /* sum of node timestamps, 0 when unavailable */
  char message[256];
} ldm_conf_result;

/* All cases (full_only ones included; filter yourself). */
const ldm_conf_case *ldm_conf_cases(int *n);
/* Run one case on the CPU reference and on `exec_vk` device. */
typedef struct ldm_vk_ctx ldm_vk_ctx;
ldm_status ldm_conf_run(const ldm_conf_case *c, ldm_vk_ctx *vk, uint64_t seed, ldm_conf_result *r);

#ifdef __cplusplus
}
#endif
#endif
