/* Conformance: every op three ways on the same seeded inputs - the plain reference (src/ref), the fast
 * CPU twin and a Vulkan device - fast-vs-reference and device-vs-reference compared. The same case list
 * serves `ldm-vk conformance` and the unit tests, so they cannot drift apart. */
#ifndef LDM_CONFORMANCE_H
#define LDM_CONFORMANCE_H
#include "ldm/backend.h"
#include "ldm/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ldm_conf_ctx ldm_conf_ctx;

/* What a tensor of a case is to the runner. */
typedef enum ldm_conf_kind {
  LDM_IN_UNIFORM = 0, /* f32 input, seeded uniform values in [lo, hi) */
  LDM_IN_INDEX,       /* u32 input, seeded values in [0, maxval) (maxval 0: any u32) */
  LDM_IN_STEP,        /* the step buffer (host arena), filled with sane per-step values */
  LDM_OUT_GUARDED,    /* compared output with a guard region after it that must stay untouched; starts
                         with seeded values in [lo, hi), so accumulate modes and in-place updates are tested */
  LDM_OUT_COMPARED,   /* an existing tensor (a builder's own output), compared, no guard */
} ldm_conf_kind;

/* Which outputs an op with two optional gradients writes (reparam, kl_loss, q_sample backward). */
enum { LDM_CONF_WANT_1 = 1, LDM_CONF_WANT_2 = 2, LDM_CONF_WANT_BOTH = 3 };
/* Exact values a case plants into an input during the run. */
typedef enum ldm_conf_plant {
  LDM_PLANT_NONE = 0,
  LDM_PLANT_NAN,  /* a NaN (gradient clipping: flag, skipped step) */
  LDM_PLANT_INF,  /* +Inf */
  LDM_PLANT_ZERO, /* abar[0] = 0 at t[0] = 0 (zero terminal SNR) */
  LDM_PLANT_ONE,  /* abar[0] = 1 at t[0] = 0 */
} ldm_conf_plant;
#define LDM_CONF_FINAL_STEP (-1) /* sampler t_prev of the last step */

/* The typed arguments of a case, set with designated initialisers; each op's builder reads the fields
 * its comment in src/conform/cases_*.c names, the others stay 0. */
typedef struct ldm_conf_args {
  int64_t n;                        /* elements of a 1-D op */
  int64_t N, C, H, W;               /* an NCHW image (C = Cin of a convolution) */
  int64_t Cout, k, stride, pad;     /* convolution */
  int64_t splits;                   /* conv2d_backward_weight depth splits (0 = 1) */
  int64_t M, K, batch;              /* GEMM: op(A) [M, K] x op(B) [K, N] per batch */
  int64_t O, J, I, xO;              /* reduce_sum / broadcast / channel_copy layouts */
  int64_t rows, cols;               /* row-wise ops (softmax) and 2-D shapes */
  int64_t B, per, T;                /* per-sample ops: samples, elements per sample, schedule entries */
  int64_t V, D, dim, row;           /* tables: entries, row width; embedding dim; gather row elements */
  int64_t groups, heads, nparts;    /* group norm groups, attention heads, split parts */
  int64_t Ca, Cb, Cx, Co, c0, d0, Cn; /* concat inputs; channel copy source/destination channels */
  int64_t tmax;                     /* timesteps drawn from [0, tmax) (past T on purpose) */
  int64_t t, t_prev;                /* sampler: abar index t - 64 of this step, t_prev (or LDM_CONF_FINAL_STEP) */
  int kind;                         /* LDM_EW_*, LDM_RNG_*, LDM_SAMPLER_*, gather table dtype (LDM_F32/U32/U8) */
  int bias;                         /* GEMM LDM_BIAS_*; convolution: 1 = bias */
  int want;                         /* LDM_CONF_WANT_* */
  ldm_conf_plant plant;
  bool acc, acc2;                   /* accumulate into the (first / second) output */
  bool ta, tb, bcast_b;             /* GEMM transposes, one B shared by the batch */
  bool use_step, wd, want_dx, zero_rest, edges, v, to_b;
  float range, offset;              /* value ranges: inputs in [-range, range), centred on offset */
  float scale, eta, p;              /* guidance scale, DDIM eta, dropout probability */
  uint32_t ulo, uhi, null_class;    /* randint [ulo, uhi), label dropout's null class */
} ldm_conf_args;

typedef struct ldm_conf_case {
  const char *op;    /* op (= shader family) under test */
  const char *shape; /* human-readable shape */
  ldm_status (*build)(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a);
  ldm_conf_args a;
  double tol;        /* NMSE tolerance; 0 = the largest of its nodes' ops' own */
  bool full_only;    /* large shapes: only with --full */
} ldm_conf_case;

/* Inside a case builder: an input filled with seeded uniform values in [lo, hi) (kept alive for the
 * whole run), an integer input in [0, maxval), and an output to compare (created with a guard region
 * after it that must stay untouched). Outputs start with random values so accumulate modes are tested.
 * ldm_conf_compare marks an existing tensor as compared (no guard). They take part in the graph's sticky
 * error (ldm/graph.h): one that cannot make its tensor (or is given LDM_NONE) fails the graph and returns
 * LDM_NONE, so a case builder is a chain of plain calls that returns ldm_graph_status(g) once. The runner
 * fails a case with the graph's recorded error if any call of its build was refused. */
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

/* One comparison of a backend's outputs with the reference's (or, for `vk_cpu`, with the fast CPU's). */
typedef struct ldm_conf_cmp {
  double nmse;     /* sum (x - ref)^2 / sum ref^2 over every compared f32 element; integer outputs: the
                      fraction of differing words */
  double max_abs;  /* max |x - ref| */
  double max_ratio; /* max |x - ref| / (atol + rtol |ref|): <= 1 passes the per-element check */
  int64_t bad;     /* elements outside |x - ref| <= atol + rtol |ref| (integer outputs: differing words) */
} ldm_conf_cmp;

typedef struct ldm_conf_result {
  double nmse, max_abs, tol;  /* Vulkan vs the fast CPU twin: the numbers conformance reported before the
                                 reference existed (0 without a device) */
  ldm_conf_cmp vk_ref;        /* Vulkan vs the reference */
  ldm_conf_cmp cpu_ref;       /* fast CPU vs the reference */
  double rtol;                /* per-element bound |x - ref| <= rtol (|ref| + rms(ref of that tensor)) */
  bool vk_run;                /* false: no device given, only the fast CPU was checked */
  bool nan, guard_ok, deterministic, pass;
  double gpu_ms; /* sum of node timestamps, 0 when unavailable */
  char message[256];
} ldm_conf_result;

/* All cases (full_only ones included; filter yourself). */
const ldm_conf_case *ldm_conf_cases(int *n);
/* Run one case on the reference, the fast CPU twins and (vk != NULL) the Vulkan device. */
typedef struct ldm_vk_ctx ldm_vk_ctx;
ldm_status ldm_conf_run(const ldm_conf_case *c, ldm_vk_ctx *vk, uint64_t seed, ldm_conf_result *r);
/* The per-element relative tolerance of an NMSE tolerance: 2 sqrt(tol) (0 for 0: exact). */
double ldm_conf_rtol(double nmse_tol);

#ifdef __cplusplus
}
#endif
#endif
