/* The conformance runner: build a case, run it three ways from the same seeded inputs - the plain
 * reference (src/ref), the fast CPU twins and a Vulkan device - and compare fast-vs-reference and
 * device-vs-reference (NMSE, a per-element bound, NaN), check guard regions and determinism. The
 * device-vs-fast-CPU NMSE of the earlier runner is still computed, so old results stay comparable. */
#include "ldm/conformance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "ldm/vk.h"
#include "ref/ref.h"
#include "runtime/runtime.h"

#define MAX_IO 32
#define GUARD 67 /* odd on purpose */
#define SENTINEL 0x7fc0dead /* a NaN pattern no op writes */

typedef struct {
  int t;
  ldm_conf_kind kind;
  float lo, hi;
  uint32_t maxval;
  int base; /* guarded outputs: the full tensor including the guard */
} conf_io;

struct ldm_conf_ctx {
  conf_io io[MAX_IO];
  int n;
};

/* The helpers below take part in the graph's sticky error: a tensor they cannot make, or one tensor too
 * many, fails the graph, so the rest of the case appends nothing and the runner reports the recorded
 * error. */
static int add_io(ldm_conf_ctx *cc, ldm_graph *g, conf_io x) {
  if (ldm_graph_check(g, x.t) != LDM_OK) return LDM_NONE;
  if (cc->n == MAX_IO) return LDM_REFUSE(g, LDM_ERR_INTERNAL, "conformance case has too many tensors");
  cc->io[cc->n++] = x;
  return x.t;
}

int ldm_conf_input(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int ndim, const int64_t *shape, float lo, float hi) {
  int t = ldm_act(g, name, ndim, shape);
  ldm_keep(g, t);
  return add_io(cc, g, (conf_io){t, LDM_IN_UNIFORM, lo, hi, 0, -1});
}

int ldm_conf_input_u32(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int64_t n, uint32_t maxval) {
  int t = ldm_tensor_new(g, name, LDM_ARENA_ACT, LDM_U32, 1, &n);
  ldm_keep(g, t);
  return add_io(cc, g, (conf_io){t, LDM_IN_INDEX, 0, 0, maxval, -1});
}

int ldm_conf_output(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int ndim, const int64_t *shape) {
  return ldm_conf_output_ex(cc, g, name, LDM_F32, ndim, shape, -1.0f, 1.0f);
}

int ldm_conf_output_ex(ldm_conf_ctx *cc, ldm_graph *g, const char *name, ldm_dtype dt, int ndim, const int64_t *shape,
                       float lo, float hi) {
  int64_t numel = 1;
  for (int i = 0; i < ndim; i++) numel *= shape[i];
  char bn[LDM_NAME_MAX];
  snprintf(bn, sizeof bn, "%s+guard", name);
  int64_t total = numel + GUARD;
  int base = ldm_tensor_new(g, bn, LDM_ARENA_ACT, dt, 1, &total);
  ldm_keep(g, base);
  int t = ldm_view(g, base, name, 0, ndim, shape);
  return add_io(cc, g, (conf_io){t, LDM_OUT_GUARDED, lo, hi, 0, base});
}

void ldm_conf_compare(ldm_conf_ctx *cc, ldm_graph *g, int t) {
  ldm_keep(g, t);
  add_io(cc, g, (conf_io){t, LDM_OUT_COMPARED, 0, 0, 0, -1});
}

int ldm_conf_step(ldm_conf_ctx *cc, ldm_graph *g) {
  int t = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  return add_io(cc, g, (conf_io){t, LDM_IN_STEP, 0, 0, 0, -1});
}

static void fill_step(uint32_t *w) {
  memset(w, 0, LDM_STEP_WORDS * 4);
  float f;
  w[LDM_STEP_T] = 3;
  w[LDM_STEP_RNG_LO] = 7;
  f = 1e-3f; memcpy(&w[LDM_STEP_LR], &f, 4);
  f = 1.0f - powf(ldm_adamw_recipe.beta1, 3); memcpy(&w[LDM_STEP_BC1], &f, 4);
  f = 1.0f - powf(ldm_adamw_recipe.beta2, 3); memcpy(&w[LDM_STEP_BC2], &f, 4);
  f = 0.999f; memcpy(&w[LDM_STEP_EMA], &f, 4);
  f = 1.0f; memcpy(&w[LDM_STEP_LOSS_SCALE], &f, 4);
  f = 1.0f; memcpy(&w[LDM_STEP_GRAD_CLIP], &f, 4);
  f = 1.0f; memcpy(&w[LDM_STEP_INV_ACCUM], &f, 4);
  w[LDM_STEP_SAMPLE_I] = 5;
}

static bool is_output(const conf_io *io) { return io->kind == LDM_OUT_GUARDED || io->kind == LDM_OUT_COMPARED; }
static int storage_of(const conf_io *io) { return io->kind == LDM_OUT_GUARDED ? io->base : io->t; }

/* Write identical initial contents into an executor (the stream of tensor i is 1000 + i). */
static ldm_status init_exec(ldm_exec *e, const ldm_graph *g, const ldm_conf_ctx *cc, uint64_t seed) {
  for (int i = 0; i < cc->n; i++) {
    const conf_io *io = &cc->io[i];
    int t = storage_of(io);
    size_t nw = (size_t)(ldm_tensor_bytes(&g->t[t]) / 4);
    uint32_t *w = ldm_malloc(nw * 4);
    if (!w) return LDM_ERR_NOMEM;
    if (io->kind == LDM_IN_STEP) {
      fill_step(w);
    } else {
      for (size_t j = 0; j < nw; j++) {
        uint32_t r = ldm_rng_u32(seed, 1000u + (uint64_t)i, 0, j);
        if (io->kind == LDM_IN_INDEX) {
          w[j] = io->maxval ? r % io->maxval : r;
        } else {
          float f = io->lo + (io->hi - io->lo) * ldm_u32_to_unit(r);
          memcpy(&w[j], &f, 4);
        }
      }
      if (io->kind == LDM_OUT_GUARDED)
        for (size_t j = (size_t)g->t[io->t].numel; j < nw; j++) w[j] = SENTINEL;
    }
    ldm_status s = ldm_exec_write(e, t, w, nw * 4);
    free(w);
    LDM_TRY(s);
  }
  return LDM_OK;
}

static ldm_status read_all(ldm_exec *e, const ldm_graph *g, int t, uint32_t **out, size_t *nw) {
  *nw = (size_t)(ldm_tensor_bytes(&g->t[t]) / 4);
  *out = ldm_malloc(*nw * 4);
  if (!*out) return LDM_ERR_NOMEM;
  return ldm_exec_read(e, t, *out, *nw * 4);
}

/* Per-element tolerance, derived from the op's NMSE tolerance for every op family alike: an error of
 * sqrt(tol) relative to the tensor's RMS is what an NMSE of tol averages to; a single element may be off
 * by twice that, relative to its own magnitude plus the tensor's RMS (the RMS term covers results that
 * cancel to near 0). So elementwise ops (tol 1e-12..1e-10) get 2e-6..2e-5, reductions and losses (1e-9)
 * 6e-5, GEMM / convolution / softmax (1e-6) 2e-3; tol 0 (data movement, Philox integers, indices) and
 * every integer output: exact. On lavapipe the worst element of any case uses about a tenth of it. */
double ldm_conf_rtol(double nmse_tol) { return nmse_tol > 0 ? 2.0 * sqrt(nmse_tol) : 0.0; }

typedef struct {
  double num, den;
} nmse_acc;

/* x against ref over the n words of one compared tensor */
static void compare(const uint32_t *x, const uint32_t *ref, size_t n, bool isf, double rtol, nmse_acc *acc,
                    ldm_conf_cmp *c, bool *nan) {
  if (!isf) {
    for (size_t j = 0; j < n; j++)
      if (x[j] != ref[j]) {
        acc->num += 1;
        c->bad++;
        c->max_abs = 1;
        c->max_ratio = INFINITY;
      }
    acc->den += (double)n;
    return;
  }
  double ss = 0;
  for (size_t j = 0; j < n; j++) {
    float fr;
    memcpy(&fr, &ref[j], 4);
    if (isfinite(fr)) ss += (double)fr * fr;
  }
  double rms = n ? sqrt(ss / (double)n) : 0;
  for (size_t j = 0; j < n; j++) {
    float fx, fr;
    memcpy(&fx, &x[j], 4);
    memcpy(&fr, &ref[j], 4);
    if (isnan(fx) || isnan(fr) || isinf(fx) != isinf(fr)) {
      *nan = true;
      continue;
    }
    double d = fabs((double)fx - fr);
    if (isinf(fr)) d = fx == fr ? 0 : INFINITY;
    acc->num += d * d;
    acc->den += isinf(fr) ? 0 : (double)fr * fr;
    if (d > c->max_abs) c->max_abs = d;
    double bound = rtol * (fabs((double)fr) + rms);
    double ratio = d == 0 ? 0 : bound > 0 ? d / bound : INFINITY;
    if (ratio > c->max_ratio) c->max_ratio = ratio;
    if (ratio > 1) c->bad++;
  }
}
static double nmse_of(const nmse_acc *a) { return a->den > 0 ? a->num / a->den : a->num; }

static bool guard_intact(const uint32_t *w, size_t from, size_t to) {
  for (size_t j = from; j < to; j++)
    if (w[j] != SENTINEL) return false;
  return true;
}

/* the first compared outputs of the checked backend (the device, else the fast CPU), for the rerun */
typedef struct {
  uint32_t **w;
  int n;
} first_run;

static ldm_status compare_all(ldm_exec *er, ldm_exec *ec, ldm_exec *ev, const ldm_graph *g, const ldm_conf_ctx *cc,
                              double rtol, ldm_conf_result *r, first_run *fr) {
  nmse_acc a_cpu = {0, 0}, a_vk = {0, 0}, a_old = {0, 0};
  ldm_conf_cmp old = {0, 0, 0, 0};
  ldm_status s = LDM_OK;
  for (int i = 0; i < cc->n && s == LDM_OK; i++) {
    const conf_io *io = &cc->io[i];
    if (!is_output(io)) continue;
    int t = storage_of(io);
    uint32_t *R = NULL, *A = NULL, *B = NULL;
    size_t nw;
    s = read_all(er, g, t, &R, &nw);
    if (s == LDM_OK) s = read_all(ec, g, t, &A, &nw);
    if (s == LDM_OK && ev) s = read_all(ev, g, t, &B, &nw);
    if (s == LDM_OK) {
      size_t n = (size_t)(ldm_tensor_bytes(&g->t[io->t]) / 4);
      bool isf = g->t[io->t].dtype == LDM_F32;
      compare(A, R, n, isf, rtol, &a_cpu, &r->cpu_ref, &r->nan);
      if (B) {
        compare(B, R, n, isf, rtol, &a_vk, &r->vk_ref, &r->nan);
        compare(B, A, n, isf, rtol, &a_old, &old, &r->nan);
      }
      if (io->kind == LDM_OUT_GUARDED)
        r->guard_ok &= guard_intact(R, n, nw) && guard_intact(A, n, nw) && (!B || guard_intact(B, n, nw));
      if (B) {
        fr->w[i] = B;
        B = NULL;
      } else {
        fr->w[i] = A;
        A = NULL;
      }
    }
    free(R);
    free(A);
    free(B);
  }
  r->cpu_ref.nmse = nmse_of(&a_cpu);
  r->vk_ref.nmse = nmse_of(&a_vk);
  r->nmse = nmse_of(&a_old);
  r->max_abs = old.max_abs;
  return s;
}

/* determinism: the same inputs again must give bitwise the same outputs (device, else fast CPU); the
 * device rerun is timed */
static ldm_status rerun(ldm_exec *e, const ldm_graph *g, const ldm_conf_ctx *cc, uint64_t seed, ldm_conf_result *r,
                        const first_run *fr) {
  LDM_TRY(init_exec(e, g, cc, seed));
  ldm_exec_enable_timing(e, ldm_exec_is_vk(e));
  LDM_TRY(ldm_exec_run(e));
  const double *ms = ldm_exec_node_times(e);
  if (ms && ldm_exec_is_vk(e))
    for (int i = 0; i < g->nn; i++) r->gpu_ms += ms[i];
  r->deterministic = true;
  for (int i = 0; i < cc->n; i++) {
    if (!fr->w[i]) continue;
    uint32_t *b = NULL;
    size_t nw;
    ldm_status s = read_all(e, g, storage_of(&cc->io[i]), &b, &nw);
    if (s == LDM_OK && memcmp(b, fr->w[i], nw * 4) != 0) r->deterministic = false;
    free(b);
    LDM_TRY(s);
  }
  return LDM_OK;
}

static void verdict(ldm_conf_result *r) {
  const ldm_conf_cmp *c[2] = {&r->cpu_ref, &r->vk_ref};
  const char *who[2] = {"CPU", "device"};
  bool ok = !r->nan && r->guard_ok && r->deterministic;
  size_t len = 0;
  r->message[0] = 0;
  for (int k = 0; k < (r->vk_run ? 2 : 1); k++) {
    bool nm = c[k]->nmse > r->tol, el = c[k]->bad > 0;
    ok &= !nm && !el;
    if ((nm || el) && len < sizeof r->message)
      len += (size_t)snprintf(r->message + len, sizeof r->message - len, "%s%s%s%s vs reference ", who[k],
                              nm ? ": NMSE above tolerance" : ":", nm && el ? "," : "",
                              el ? " elements outside the per-element bound" : "");
  }
  if (len < sizeof r->message)
    snprintf(r->message + len, sizeof r->message - len, "%s%s%s", r->nan ? "NaN/Inf " : "",
             r->guard_ok ? "" : "guard region overwritten ", r->deterministic ? "" : "not deterministic ");
  r->pass = ok;
}

ldm_status ldm_conf_run(const ldm_conf_case *c, ldm_vk_ctx *vk, uint64_t seed, ldm_conf_result *r) {
  memset(r, 0, sizeof *r);
  ldm_graph g;
  LDM_TRY(ldm_graph_init(&g));
  ldm_conf_ctx cc = {0};
  ldm_exec *er = NULL, *ec = NULL, *ev = NULL;
  r->vk_run = vk != NULL;
  ldm_status s = c->build(&g, &cc, &c->a);
  /* a refused call fails the case, also one whose result the case dropped (an op writing into a given
   * output): the graph's recorded error, restored as the thread error for the message below */
  if (ldm_graph_status(&g) != LDM_OK) s = ldm_graph_check(&g, LDM_NONE);
  if (s == LDM_OK) s = ldm_graph_plan(&g);
  if (s == LDM_OK) s = ldm_exec_cpu(&g, &er);
  if (s == LDM_OK) s = ldm_exec_cpu(&g, &ec);
  if (s == LDM_OK && vk) s = ldm_exec_vk(vk, &g, &ev);
  if (s == LDM_OK) s = init_exec(er, &g, &cc, seed);
  if (s == LDM_OK) s = init_exec(ec, &g, &cc, seed);
  if (s == LDM_OK && ev) s = init_exec(ev, &g, &cc, seed);
  if (s == LDM_OK) s = ldm_ref_run(er);
  if (s == LDM_OK) s = ldm_exec_run(ec);
  if (s == LDM_OK && ev) s = ldm_exec_run(ev);
  /* tolerance: the case's, else the loosest of its nodes' ops (the largest wins) */
  double tol = c->tol;
  if (tol <= 0)
    for (int i = 0; i < g.nn; i++) tol = tol > ldm_op_tol(g.n[i].op) ? tol : ldm_op_tol(g.n[i].op);
  r->tol = tol;
  r->rtol = ldm_conf_rtol(tol);
  r->guard_ok = true;
  first_run fr = {ldm_calloc((size_t)cc.n + 1, sizeof(uint32_t *)), cc.n};
  if (!fr.w && s == LDM_OK) s = LDM_ERR_NOMEM;
  if (s == LDM_OK) s = compare_all(er, ec, ev, &g, &cc, r->rtol, r, &fr);
  if (s == LDM_OK) s = rerun(ev ? ev : ec, &g, &cc, seed, r, &fr);
  for (int i = 0; fr.w && i < cc.n; i++) free(fr.w[i]);
  free(fr.w);
  if (s == LDM_OK) verdict(r);
  else snprintf(r->message, sizeof r->message, "%s", ldm_last_error());
  ldm_exec_free(er);
  ldm_exec_free(ec);
  ldm_exec_free(ev);
  ldm_graph_free(&g);
  return s;
}
