/* Node-merging passes of ldm_graph_plan (core/fuse.h).
 *
 * ldm_graph_merge_reductions: autodiff emits the parameter-gradient reductions one reduce_sum node each
 * (a convolution's split partials -> dW and dy -> db, a GroupNorm's partials -> dgamma and dbeta, ...),
 * adjacent and independent, so a Vulkan run pays one dispatch per reduction. The pass turns each run of
 * up to LDM_REDUCE_MULTI_MAX such nodes into one reduce_sum_multi node whose jobs are those reductions
 * unchanged (same layouts, scales, accumulate flags, launch forms), so the results are bitwise the same on
 * every backend and only the dispatch count changes. */
#include "core/fuse.h"

#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "core/ops.h"
#include "core/sched.h"
#include "ops/basic.h"

/* a boundary a pass keeps: between nodes i - 1 and i */
static bool is_boundary(const ldm_graph *g, int i) {
  if (i == g->n_forward) return true;
  for (int f = 0; f < g->nfence; f++)
    if (g->fence[f] == i) return true;
  return false;
}

static bool mergeable(const ldm_node *n) { return n->op == LDM_OP_reduce_sum && n->nspec == 0; }

ldm_status ldm_graph_merge_reductions(ldm_graph *g) {
  if (g->planned) return LDM_FAIL(LDM_ERR_INTERNAL, "merge_reductions: the graph is planned already");
  ldm_env env;
  ldm_env_read(&env);
  if (env.no_fuse || g->nn < 2) return LDM_OK;
  int *pos = ldm_malloc(((size_t)g->nn + 1) * sizeof *pos); /* old node -> new index of the node holding it */
  if (!pos) return LDM_ERR_NOMEM;
  int w = 0;
  for (int i = 0; i < g->nn;) {
    int len = 1;
    if (mergeable(&g->n[i])) {
      while (i + len < g->nn && len < LDM_REDUCE_MULTI_MAX && mergeable(&g->n[i + len]) && !is_boundary(g, i + len)) {
        bool ok = true;
        for (int k = 0; k < len && ok; k++)
          ok = !ldm_sched_conflict(g, &g->n[i + k], &g->n[i + len]); /* the schedule's tensor rule */
        if (!ok) break;
        len++;
      }
    }
    for (int k = 0; k < len; k++) pos[i + k] = w;
    if (len == 1) {
      if (w != i) g->n[w] = g->n[i];
    } else {
      ldm_pc_reduce_sum jobs[LDM_REDUCE_MULTI_MAX];
      ldm_node m;
      memset(&m, 0, sizeof m);
      m.op = LDM_OP_reduce_sum_multi;
      m.nin = m.nout = len;
      for (int k = 0; k < len; k++) {
        const ldm_node *r = &g->n[i + k];
        memcpy(&jobs[k], r->pc, sizeof jobs[k]);
        m.in[k] = r->in[0];
        m.out[k] = r->out[0];
        m.backward = m.backward || r->backward;
      }
      ldm_pc_reduce_sum_multi pc;
      ldm_reduce_multi_pc(jobs, len, &pc);
      memcpy(m.pc, &pc, sizeof pc);
      m.pc_size = sizeof pc;
      strcpy(m.label, "reduce_sum_multi");
      g->n[w] = m;
    }
    w++;
    i += len;
  }
  pos[g->nn] = w;
  if (g->n_forward > 0) g->n_forward = pos[g->n_forward];
  for (int f = 0; f < g->nfence; f++) g->fence[f] = pos[g->fence[f]];
  g->nn = w;
  free(pos);
  return LDM_OK;
}
