#include "ldm/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/rng.h"

void ldm_requires_grad(ldm_graph *g, int t) { g->t[t].requires_grad = true; }

static ldm_status loss_at(ldm_exec *e, int loss, double *out) {
  const ldm_graph *g = ldm_exec_graph(e);
  LDM_TRY(ldm_exec_run_range(e, 0, g->n_forward));
  float l;
  LDM_TRY(ldm_exec_read(e, loss, &l, 4));
  *out = l;
  return LDM_OK;
}

ldm_status ldm_gradcheck(ldm_exec *e, int loss, const int *wrt, int nwrt, int samples, double eps, uint64_t seed,
                         double *worst, const char **worst_name) {
  const ldm_graph *g = ldm_exec_graph(e);
  *worst = 0;
  *worst_name = "";
  /* analytic gradients: one full run (grads of parameters accumulate, so zero them first) */
  size_t gs = (size_t)g->arena_size[LDM_ARENA_GRAD];
  if (gs) {
    void *z = ldm_calloc(1, gs);
    if (!z) return LDM_ERR_NOMEM;
    ldm_status s = ldm_exec_write_arena(e, LDM_ARENA_GRAD, z, gs);
    free(z);
    LDM_TRY(s);
  }
  LDM_TRY(ldm_exec_run(e));
  for (int w = 0; w < nwrt; w++) {
    int t = wrt[w];
    int gt = g->t[t].grad;
    if (gt < 0) return LDM_FAIL(LDM_ERR_INTERNAL, "gradcheck: '%s' has no gradient", g->t[t].name);
    size_t n = (size_t)g->t[t].numel;
    float *x = ldm_malloc(n * 4), *ga = ldm_malloc(n * 4);
    if (!x || !ga) {
      free(x);
      free(ga);
      return LDM_ERR_NOMEM;
    }
    ldm_status s = ldm_exec_read(e, t, x, n * 4);
    if (s == LDM_OK) s = ldm_exec_read(e, gt, ga, n * 4);
    double maxdiff = 0, maxnum = 0;
    int ns = (size_t)samples >= n ? (int)n : samples;
    for (int k = 0; k < ns && s == LDM_OK; k++) {
      size_t i = (size_t)samples >= n ? (size_t)k : ldm_rng_u32(seed, 77u + (uint64_t)w, 0, (uint64_t)k) % n;
      float orig = x[i];
      double lp = 0, lm = 0;
      x[i] = orig + (float)eps;
      s = ldm_exec_write(e, t, x, n * 4);
      if (s == LDM_OK) s = loss_at(e, loss, &lp);
      x[i] = orig - (float)eps;
      if (s == LDM_OK) s = ldm_exec_write(e, t, x, n * 4);
      if (s == LDM_OK) s = loss_at(e, loss, &lm);
      x[i] = orig;
      if (s == LDM_OK) s = ldm_exec_write(e, t, x, n * 4);
      /* the actual step taken in float */
      double h = ((double)(orig + (float)eps) - (double)(orig - (float)eps));
      double num = (lp - lm) / h;
      double d = fabs(num - ga[i]);
      if (d > maxdiff) maxdiff = d;
      if (fabs(num) > maxnum) maxnum = fabs(num);
      if (fabs((double)ga[i]) > maxnum) maxnum = fabs((double)ga[i]);
    }
    free(x);
    free(ga);
    LDM_TRY(s);
    double err = maxdiff / (maxnum + 1e-6);
    if (w == 0 || err > *worst) {
      *worst = err;
      *worst_name = g->t[t].name;
    }
  }
  return LDM_OK;
}
