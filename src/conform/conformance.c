/* The conformance runner: build a case, run it on the CPU reference and on a Vulkan device from the
 * same seeded inputs, compare (NMSE, max abs error, NaN), check guard regions and determinism. */
#include "ldm/conformance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "ldm/vk.h"

#define MAX_IO 32
#define GUARD 67 /* odd on purpose */
#define SENTINEL 0x7fc0dead /* a NaN pattern no op writes */

typedef struct {
  int t;
  int kind; /* 0 float input, 1 u32 input, 2 output (guarded), 3 compared only, 4 step */
  float lo, hi;
  uint32_t maxval;
  int base; /* guarded outputs: the full tensor including the guard */
} conf_io;

struct ldm_conf_ctx {
  conf_io io[MAX_IO];
  int n;
};

static int add_io(ldm_conf_ctx *cc, conf_io x) {
  if (cc->n == MAX_IO) {
    LDM_FAIL(LDM_ERR_INTERNAL, "conformance case has too many tensors");
    return -1;
  }
  cc->io[cc->n++] = x;
  return x.t;
}

int ldm_conf_input(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int ndim, const int64_t *shape, float lo, float hi) {
  int t = ldm_act(g, name, ndim, shape);
  if (t < 0) return -1;
  ldm_keep(g, t);
  return add_io(cc, (conf_io){t, 0, lo, hi, 0, -1});
}

int ldm_conf_input_u32(ldm_conf_ctx *cc, ldm_graph *g, const char *name, int64_t n, uint32_t maxval) {
  int t = ldm_tensor_new(g, name, LDM_ARENA_ACT, LDM_U32, 1, &n);
  if (t < 0) return -1;
  ldm_keep(g, t);
  return add_io(cc, (conf_io){t, 1, 0, 0, maxval, -1});
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
  if (base < 0) return -1;
  ldm_keep(g, base);
  int t = ldm_view(g, base, name, 0, ndim, shape);
  if (t < 0) return -1;
  return add_io(cc, (conf_io){t, 2, lo, hi, 0, base});
}

void ldm_conf_compare(ldm_conf_ctx *cc, ldm_graph *g, int t) {
  ldm_keep(g, t);
  add_io(cc, (conf_io){t, 3, 0, 0, 0, -1});
}

int ldm_conf_step(ldm_conf_ctx *cc, ldm_graph *g) {
  int t = ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS);
  if (t < 0) return -1;
  return add_io(cc, (conf_io){t, 4, 0, 0, 0, -1});
}

static void fill_step(uint32_t *w) {
  memset(w, 0, LDM_STEP_WORDS * 4);
  float f;
  w[LDM_STEP_T] = 3;
  w[LDM_STEP_RNG_LO] = 7;
  f = 1e-3f; memcpy(&w[LDM_STEP_LR], &f, 4);
  f = 1.0f - powf(0.9f, 3); memcpy(&w[LDM_STEP_BC1], &f, 4);
  f = 1.0f - powf(0.999f, 3); memcpy(&w[LDM_STEP_BC2], &f, 4);
  f = 0.999f; memcpy(&w[LDM_STEP_EMA], &f, 4);
  f = 1.0f; memcpy(&w[LDM_STEP_LOSS_SCALE], &f, 4);
  f = 1.0f; memcpy(&w[LDM_STEP_GRAD_CLIP], &f, 4);
  f = 1.0f; memcpy(&w[LDM_STEP_INV_ACCUM], &f, 4);
  w[LDM_STEP_SAMPLE_I] = 5;
}

/* Write identical initial contents into an executor. */
static ldm_status init_exec(ldm_exec *e, const ldm_graph *g, const ldm_conf_ctx *cc, uint64_t seed) {
  for (int i = 0; i < cc->n; i++) {
    const conf_io *io = &cc->io[i];
    int t = io->kind == 2 ? io->base : io->t;
    size_t nw = (size_t)(ldm_tensor_bytes(&g->t[t]) / 4);
    uint32_t *w = ldm_malloc(nw * 4);
    if (!w) return LDM_ERR_NOMEM;
    if (io->kind == 4) {
      fill_step(w);
    } else {
      for (size_t j = 0; j < nw; j++) {
        uint32_t r = ldm_rng_u32(seed, 1000u + (uint64_t)i, 0, j);
        if (io->kind == 1) {
          w[j] = io->maxval ? r % io->maxval : r;
        } else {
          float f = io->lo + (io->hi - io->lo) * ldm_u32_to_unit(r);
          memcpy(&w[j], &f, 4);
        }
      }
      if (io->kind == 2)
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

ldm_status ldm_conf_run(const ldm_conf_case *c, ldm_vk_ctx *vk, uint64_t seed, ldm_conf_result *r) {
  memset(r, 0, sizeof *r);
  ldm_graph g;
  LDM_TRY(ldm_graph_init(&g));
  ldm_conf_ctx cc = {0};
  ldm_exec *ec = NULL, *ev = NULL;
  ldm_status s = c->build(&g, &cc, c->arg);
  if (s == LDM_OK) s = ldm_graph_plan(&g);
  if (s == LDM_OK) s = ldm_exec_cpu(&g, &ec);
  if (s == LDM_OK) s = ldm_exec_vk(vk, &g, &ev);
  if (s == LDM_OK) s = init_exec(ec, &g, &cc, seed);
  if (s == LDM_OK) s = init_exec(ev, &g, &cc, seed);
  if (s == LDM_OK) s = ldm_exec_run(ec);
  if (s == LDM_OK) s = ldm_exec_run(ev);
  /* tolerance: the case's, else the strictest-looser of its nodes' ops (the last node decides) */
  double tol = c->tol;
  if (tol <= 0)
    for (int i = 0; i < g.nn; i++) tol = tol > ldm_op(g.n[i].op)->nmse_tol ? tol : ldm_op(g.n[i].op)->nmse_tol;
  r->tol = tol;
  double num = 0, den = 0;
  r->guard_ok = true;
  uint32_t **first = ldm_calloc((size_t)cc.n, sizeof *first);
  if (!first && s == LDM_OK) s = LDM_ERR_NOMEM;
  for (int i = 0; i < cc.n && s == LDM_OK; i++) {
    const conf_io *io = &cc.io[i];
    if (io->kind < 2 || io->kind == 4) continue;
    int t = io->kind == 2 ? io->base : io->t;
    uint32_t *a = NULL, *b = NULL;
    size_t nw;
    s = read_all(ec, &g, t, &a, &nw);
    if (s == LDM_OK) s = read_all(ev, &g, t, &b, &nw);
    if (s == LDM_OK) {
      size_t n = (size_t)(ldm_tensor_bytes(&g.t[io->t]) / 4);
      bool isf = g.t[io->t].dtype == LDM_F32;
      for (size_t j = 0; j < n; j++) {
        if (!isf) {
          if (a[j] != b[j]) { num += 1; den += 1; r->max_abs = 1; }
          else den += 1;
          continue;
        }
        float fa, fb;
        memcpy(&fa, &a[j], 4);
        memcpy(&fb, &b[j], 4);
        if (isnan(fa) || isnan(fb) || isinf(fa) != isinf(fb)) {
          r->nan = true;
          continue;
        }
        double d = (double)fb - fa;
        num += d * d;
        den += (double)fa * fa;
        if (fabs(d) > r->max_abs) r->max_abs = fabs(d);
      }
      if (io->kind == 2)
        for (size_t j = n; j < nw; j++)
          if (b[j] != SENTINEL) r->guard_ok = false;
      first[i] = b;
      b = NULL;
    }
    free(a);
    free(b);
  }
  r->nmse = den > 0 ? num / den : num;
  /* determinism: the same inputs again must give bitwise the same device output; time this run */
  r->deterministic = true;
  if (s == LDM_OK) s = init_exec(ev, &g, &cc, seed);
  if (s == LDM_OK) {
    ldm_exec_enable_timing(ev, true);
    s = ldm_exec_run(ev);
    const double *ms = ldm_exec_node_times(ev);
    if (s == LDM_OK && ms)
      for (int i = 0; i < g.nn; i++) r->gpu_ms += ms[i];
  }
  for (int i = 0; i < cc.n && s == LDM_OK; i++) {
    if (!first[i]) continue;
    const conf_io *io = &cc.io[i];
    int t = io->kind == 2 ? io->base : io->t;
    uint32_t *b = NULL;
    size_t nw;
    s = read_all(ev, &g, t, &b, &nw);
    if (s == LDM_OK && memcmp(b, first[i], nw * 4) != 0) r->deterministic = false;
    free(b);
  }
  for (int i = 0; first && i < cc.n; i++) free(first[i]);
  free(first);
  if (s == LDM_OK) {
    r->pass = !r->nan && r->guard_ok && r->deterministic && r->nmse <= tol;
    if (!r->pass)
      snprintf(r->message, sizeof r->message, "%s%s%s%s", r->nan ? "NaN/Inf " : "",
               r->guard_ok ? "" : "guard region overwritten ", r->deterministic ? "" : "not deterministic ",
               r->nmse > tol ? "NMSE above tolerance" : "");
  } else {
    snprintf(r->message, sizeof r->message, "%s", ldm_last_error());
  }
  ldm_exec_free(ec);
  ldm_exec_free(ev);
  ldm_graph_free(&g);
  return s;
}
