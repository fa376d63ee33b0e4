/* Shared by the CPU op suites (core, ops-conv, ops-norm, ops-diffusion): autodiff against central finite
 * differences through ldm_gradcheck, seeded fills, and the suites' main. Header-only (static inline
 * functions with Check assertions inside): include it from one Check test file.
 *
 * A gradient check builds inputs in0.. from gc_in specs -> f = body(g, in, arg) -> loss = sum(f * w)
 * with a fixed random w, and compares d loss / d x with central differences for every input that takes
 * a gradient (GC_PARAM, GC_ACT_GRAD) and then every named parameter the body creates (module checks). */
#ifndef LDM_TESTS_GRADCHECK_UTIL_H
#define LDM_TESTS_GRADCHECK_UTIL_H
#include <check.h>

#include "check_util.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/gradcheck.h"
#include "ldm/ops.h"
#include "ldm/rng.h"

/* uniform in [lo, hi) from Philox (key, stream, element j) */
static inline float gc_unif(uint64_t key, uint64_t stream, uint64_t j, float lo, float hi) {
  return lo + (hi - lo) * ldm_u32_to_unit(ldm_rng_u32(key, stream, 0, j));
}

/* write tensor t of a planned graph: gc_unif(key, stream, element, lo, hi) */
static inline void gc_fill(ldm_exec *e, const ldm_graph *g, int t, uint64_t key, uint64_t stream, float lo, float hi) {
  int64_t n = g->t[t].numel;
  float *v = malloc((size_t)n * 4);
  ck_assert_ptr_nonnull(v);
  for (int64_t j = 0; j < n; j++) v[j] = gc_unif(key, stream, (uint64_t)j, lo, hi);
  ck_assert_int_eq(ldm_exec_write(e, t, v, (size_t)n * 4), LDM_OK);
  free(v);
}

/* ---------------------------------------------------------------- inputs */

typedef enum {
  GC_PARAM,    /* f32 parameter: its gradient accumulates; checked */
  GC_ACT_GRAD, /* f32 activation marked with ldm_requires_grad (first gradient write); checked */
  GC_ACT,      /* f32 activation without a gradient */
  GC_U32,      /* u32 activation (indices, timesteps): Philox (key 5, stream = input index) % max */
} gc_kind;

typedef struct {
  int ndim;
  int64_t s[4];
  gc_kind kind;
  float lo, hi; /* f32 values uniform in [lo, hi); both 0: [-1, 1) */
  uint32_t max; /* GC_U32: values below max */
} gc_in;
/* designated initializers of a gc_in's shape: {GC_SHAPE(2, 3, 5, 6), .kind = GC_ACT_GRAD} */
#define GC_SHAPE(...) .ndim = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), .s = {__VA_ARGS__}
/* a parameter input of values in [-1, 1) */
#define GC_IN(...) ((gc_in){GC_SHAPE(__VA_ARGS__)})

/* u32 tensors filled after planning: the GC_U32 inputs and those a body makes with gc_u32_input */
#define GC_MAX_U32 8
static struct {
  int t;
  int64_t stream; /* >= 0: Philox (5, stream) % mod; < 0: (j * mul + add) % mod */
  uint32_t mul, add, mod;
} gc_u32[GC_MAX_U32];
static int gc_nu32;

static inline void gc_u32_register(int t, int64_t stream, uint32_t mul, uint32_t add, uint32_t mod) {
  ck_assert_int_lt(gc_nu32, GC_MAX_U32);
  ck_assert_uint_gt(mod, 0);
  gc_u32[gc_nu32].t = t;
  gc_u32[gc_nu32].stream = stream;
  gc_u32[gc_nu32].mul = mul;
  gc_u32[gc_nu32].add = add;
  gc_u32[gc_nu32].mod = mod;
  gc_nu32++;
}

/* For a body: a kept u32 activation [n] holding (j * mul + add) % mod once the check fills its inputs. */
static inline int gc_u32_input(ldm_graph *g, const char *name, int64_t n, uint32_t mul, uint32_t add, uint32_t mod) {
  int t = ldm_tensor_new(g, name, LDM_ARENA_ACT, LDM_U32, 1, &n);
  ck_assert_int_ge(t, 0);
  ldm_keep(g, t);
  gc_u32_register(t, -1, mul, add, mod);
  return t;
}

static inline void gc_fill_u32(ldm_exec *e, const ldm_graph *g) {
  for (int k = 0; k < gc_nu32; k++) {
    int64_t n = g->t[gc_u32[k].t].numel;
    uint32_t *v = malloc((size_t)n * 4);
    ck_assert_ptr_nonnull(v);
    for (int64_t j = 0; j < n; j++)
      v[j] = (gc_u32[k].stream >= 0 ? ldm_rng_u32(5, (uint64_t)gc_u32[k].stream, 0, (uint64_t)j)
                                    : (uint32_t)j * gc_u32[k].mul + gc_u32[k].add) %
             gc_u32[k].mod;
    ck_assert_int_eq(ldm_exec_write(e, gc_u32[k].t, v, (size_t)n * 4), LDM_OK);
    free(v);
  }
}

/* ---------------------------------------------------------------- the check */

typedef int (*gc_body)(ldm_graph *g, const int *in, const int *arg);

/* a parameter the body creates, found by name after the build and checked after the inputs */
typedef struct {
  const char *name;
  bool gain; /* a norm's scale: values 1 + 0.3 u instead of u (u uniform in [-1, 1)) */
} gc_param;

#define GC_W_STREAM_ID (-1) /* gc_case.w_stream: w's values from the stream of its tensor index */

typedef struct {
  const char *what; /* names the case in failure messages */
  gc_body body;
  const int *arg; /* passed to body */
  int nin;
  const gc_in *in;
  const gc_param *params; /* np parameters the body creates (module checks) */
  int np;
  int samples;   /* elements checked per tensor (all of a smaller one); 0: 40 */
  double eps;    /* finite-difference step; 0: 1e-2 */
  uint64_t seed; /* which elements are sampled; 0: 11 */
  double tol;    /* the worst relative gradient error must stay below this */
  /* f32 values: Philox key `key` (0: 3); input i from stream i, parameters the body creates from the
   * stream of their tensor index, w in [-1, 1) from stream w_stream (0: nin; or GC_W_STREAM_ID) */
  uint64_t key;
  int64_t w_stream;
} gc_case;

#define GC_MAX_IN 8
#define GC_MAX_WRT 24

static inline bool gc_is_gain(const gc_case *c, const char *name) {
  for (int k = 0; k < c->np; k++)
    if (c->params[k].gain && strcmp(c->params[k].name, name) == 0) return true;
  return false;
}

static inline void gc_check_case(const gc_case *c) {
  const char *what = c->what;
  ck_assert_msg(c->nin <= GC_MAX_IN && c->nin + c->np <= GC_MAX_WRT, "%s: too many inputs", what);
  ck_assert_msg(c->tol > 0, "%s: no tolerance", what);
  uint64_t key = c->key ? c->key : 3;
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  gc_nu32 = 0;
  int in[GC_MAX_IN], wrt[GC_MAX_WRT], nw = 0;
  for (int i = 0; i < c->nin; i++) {
    const gc_in *s = &c->in[i];
    char nm[16];
    snprintf(nm, sizeof nm, "in%d", i);
    if (s->kind == GC_U32) in[i] = ldm_tensor_new(&g, nm, LDM_ARENA_ACT, LDM_U32, s->ndim, s->s);
    else if (s->kind == GC_PARAM) in[i] = ldm_param(&g, nm, s->ndim, s->s);
    else in[i] = ldm_act(&g, nm, s->ndim, s->s);
    ck_assert_msg(in[i] >= 0, "%s: %s", what, ldm_last_error());
    ldm_keep(&g, in[i]);
    if (s->kind == GC_U32) gc_u32_register(in[i], i, 0, 0, s->max);
    if (s->kind == GC_ACT_GRAD) ldm_requires_grad(&g, in[i]);
    if (s->kind == GC_PARAM || s->kind == GC_ACT_GRAD) wrt[nw++] = in[i];
  }
  int f = c->body(&g, in, c->arg);
  ck_assert_msg(f >= 0, "%s: %s", what, ldm_last_error());
  for (int k = 0; k < c->np; k++) {
    wrt[nw] = ldm_find(&g, c->params[k].name);
    ck_assert_msg(wrt[nw] >= 0, "%s: no parameter %s", what, c->params[k].name);
    nw++;
  }
  int w = ldm_act(&g, "w", 1, &g.t[f].numel);
  ldm_keep(&g, w);
  int loss = ldm_sum(&g, ldm_mul(&g, f, w));
  ck_assert_int_ge(loss, 0);
  ldm_keep(&g, loss);
  ck_assert_msg(ldm_graph_backward(&g, loss) == LDM_OK, "%s: %s", what, ldm_last_error());
  for (int k = 0; k < nw; k++) /* activation gradients are read after the run: keep them */
    if (g.t[wrt[k]].grad >= 0) ldm_keep(&g, g.t[wrt[k]].grad);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  for (int i = 0; i < c->nin; i++) {
    const gc_in *s = &c->in[i];
    if (s->kind == GC_U32) continue;
    bool unit = s->lo == 0 && s->hi == 0;
    gc_fill(e, &g, in[i], key, (uint64_t)i, unit ? -1.0f : s->lo, unit ? 1.0f : s->hi);
  }
  for (int t = c->nin; t < g.nt; t++) { /* parameters the body made */
    if (g.t[t].arena != LDM_ARENA_PARAM || g.t[t].view_of != -1) continue;
    int64_t n = g.t[t].numel;
    bool gain = gc_is_gain(c, g.t[t].name);
    float *v = malloc((size_t)n * 4);
    ck_assert_ptr_nonnull(v);
    for (int64_t j = 0; j < n; j++) {
      float u = gc_unif(key, (uint64_t)t, (uint64_t)j, -1.0f, 1.0f);
      v[j] = gain ? 1.0f + 0.3f * u : u;
    }
    ck_assert_int_eq(ldm_exec_write(e, t, v, (size_t)n * 4), LDM_OK);
    free(v);
  }
  int64_t ws = c->w_stream == GC_W_STREAM_ID ? w : c->w_stream ? c->w_stream : c->nin;
  gc_fill(e, &g, w, key, (uint64_t)ws, -1.0f, 1.0f);
  gc_fill_u32(e, &g);
  double worst;
  const char *where;
  ck_assert_int_eq(ldm_gradcheck(e, loss, wrt, nw, c->samples ? c->samples : 40, c->eps ? c->eps : 1e-2,
                                 c->seed ? c->seed : 11, &worst, &where),
                   LDM_OK);
  if (getenv("LDM_TEST_VERBOSE")) printf("%-40s worst relative gradient error %.3g (%s)\n", what, worst, where);
  ck_assert_msg(worst < c->tol, "%s: gradient error %.3g at %s", what, worst, where);
  ldm_exec_free(e);
  ldm_graph_free(&g);
}

/* the common case: default eps, seed and values */
static inline void gc_check(const char *what, gc_body body, const int *arg, int nin, const gc_in *in, int samples,
                            double tol) {
  gc_check_case(
      &(gc_case){.what = what, .body = body, .arg = arg, .nin = nin, .in = in, .samples = samples, .tol = tol});
}

/* ---------------------------------------------------------------- refusal probes */

/* The first refused builder fails its graph, so each refusal probe runs on its own throwaway graph g:
 * GC_REFUSES(type, setup, call, msg...) builds the inputs `const type in = setup(&g)`, then asserts that
 * `call` (naming g and in) returns LDM_NONE and fails g, and that the thread error contains each msg
 * (NULL: none checked). */
static inline void gc_refused(ldm_graph *g, int id, const char *call, const char *const *msgs, int nmsg) {
  ck_assert_msg(id == LDM_NONE, "%s returned %d, expected LDM_NONE (refused)", call, id);
  ck_assert_msg(ldm_graph_status(g) != LDM_OK, "%s was refused but its graph has not failed", call);
  for (int i = 0; i < nmsg; i++)
    if (msgs[i])
      ck_assert_msg(strstr(ldm_last_error(), msgs[i]), "%s: the error \"%s\" does not name \"%s\"", call,
                    ldm_last_error(), msgs[i]);
  ldm_graph_free(g);
}
#define GC_REFUSES(type, setup, call, ...)                                                         \
  do {                                                                                             \
    ldm_graph g;                                                                                   \
    ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);                                                  \
    const type in = setup(&g);                                                                     \
    (void)in;                                                                                      \
    const char *const gc_msgs_[] = {__VA_ARGS__};                                                  \
    gc_refused(&g, (call), #call, gc_msgs_, (int)(sizeof gc_msgs_ / sizeof gc_msgs_[0]));         \
  } while (0)

/* ---------------------------------------------------------------- the suites' main */

/* One suite of one test case (add_tests adds the tests) with a timeout in seconds; the exit status of main. */
static inline int gc_run_suite(const char *suite, const char *tcase, double timeout, void (*add_tests)(TCase *tc)) {
  return ldm_test_run(suite, tcase, timeout, false, add_tests) ? 1 : 0;
}
#endif
