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
#include "ops/basic.h"

/* the storage a tensor names before planning: its root tensor and the byte range inside it; whole-arena
 * views (view_of -2) are flagged and overlap everything in their arena */
typedef struct {
  int root;
  ldm_arena arena;
  bool whole;
  int64_t b, e;
} span;

static span span_of(const ldm_graph *g, int t) {
  span s = {t, g->t[t].arena, g->t[t].view_of == -2, 0, ldm_tensor_bytes(&g->t[t])};
  while (g->t[s.root].view_of >= 0) {
    s.b += g->t[s.root].view_offset;
    s.root = g->t[s.root].view_of;
  }
  s.e = s.b + ldm_tensor_bytes(&g->t[t]);
  s.arena = g->t[s.root].arena;
  s.whole = s.whole || g->t[s.root].view_of == -2;
  return s;
}

/* whether two tensors may share storage. Distinct root tensors of one arena get distinct storage when both
 * are used by one node: lifetimes are computed after this pass, from the merged node. The GRAD .. EMA arenas
 * mirror the PARAM layout, so a whole view of one overlaps every tensor of that arena only. */
static bool may_alias(const ldm_graph *g, int a, int b) {
  span x = span_of(g, a), y = span_of(g, b);
  if (x.arena != y.arena) return false;
  if (x.whole || y.whole) return true;
  return x.root == y.root && x.b < y.e && y.b < x.e;
}

/* node b against node a: b reads what a writes, or writes what a reads or writes */
static bool conflict(const ldm_graph *g, const ldm_node *a, const ldm_node *b) {
  for (int i = 0; i < a->nout; i++) {
    for (int k = 0; k < b->nin; k++)
      if (may_alias(g, a->out[i], b->in[k])) return true;
    for (int k = 0; k < b->nout; k++)
      if (may_alias(g, a->out[i], b->out[k])) return true;
  }
  for (int i = 0; i < a->nin; i++)
    for (int k = 0; k < b->nout; k++)
      if (may_alias(g, a->in[i], b->out[k])) return true;
  return false;
}

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
          ok = !conflict(g, &g->n[i + k], &g->n[i + len]) && !conflict(g, &g->n[i + len], &g->n[i + k]);
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
