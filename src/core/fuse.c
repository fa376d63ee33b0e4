/* Node-merging passes of ldm_graph_plan (core/fuse.h).
 *
 * ldm_graph_merge_reductions: autodiff emits the parameter-gradient reductions one reduce_sum node each
 * (a convolution's split partials -> dW and dy -> db, a GroupNorm's partials -> dgamma and dbeta, ...),
 * adjacent and independent, so a Vulkan run pays one dispatch per reduction. The pass turns each run of
 * up to LDM_REDUCE_MULTI_MAX such nodes into one reduce_sum_multi node whose jobs are those reductions
 * unchanged (same layouts, scales, accumulate flags, launch forms), so the results are bitwise the same on
 * every backend and only the dispatch count changes.
 *
 * ldm_graph_merge_copies: a concatenation is two channel_copy nodes writing disjoint channel ranges of one
 * output, a split one node per part reading one input, and the gradient of a concatenation two nodes
 * reading one dy; all adjacent as recorded. The pass turns each run of up to LDM_COPY_MULTI_MAX of them
 * into one channel_copy_multi node whose jobs are those copies unchanged. It runs before the schedule: the
 * two halves of a concatenation conflict on their output, so the schedule would put them in two levels,
 * apart, where no merge of neighbours could find them. */
#include "core/fuse.h"

#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "core/ops.h"
#include "core/sched.h"
#include "ops/basic.h"
#include "ops/norm.h"

/* a boundary a pass keeps: between nodes i - 1 and i */
static bool is_boundary(const ldm_graph *g, int i) {
  if (i == g->n_forward) return true;
  for (int f = 0; f < g->nfence; f++)
    if (g->fence[f] == i) return true;
  return false;
}

/* One merge pass: runs of up to max adjacent nodes that start with a node `first` accepts and grow while
 * `fits` accepts the next node against the run, never across a boundary, each run of two or more replaced
 * by the node `make` builds from it; the fences and n_forward renumbered. */
typedef bool (*first_fn)(const ldm_node *n);
typedef bool (*fits_fn)(const ldm_graph *g, const ldm_node *run, int len, const ldm_node *next);
typedef void (*make_fn)(const ldm_graph *g, const ldm_node *run, int len, ldm_node *m);

static ldm_status merge_runs(ldm_graph *g, int max, first_fn first, fits_fn fits, make_fn make) {
  int *pos = ldm_malloc(((size_t)g->nn + 1) * sizeof *pos); /* old node -> new index of the node holding it */
  if (!pos) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory merging nodes");
  int w = 0;
  for (int i = 0; i < g->nn;) {
    int len = 1;
    if (first(&g->n[i]))
      while (i + len < g->nn && len < max && !is_boundary(g, i + len) && fits(g, &g->n[i], len, &g->n[i + len]))
        len++;
    for (int k = 0; k < len; k++) pos[i + k] = w;
    if (len == 1) {
      if (w != i) g->n[w] = g->n[i];
    } else {
      ldm_node m;
      memset(&m, 0, sizeof m);
      make(g, &g->n[i], len, &m);
      for (int k = 0; k < len; k++) m.backward = m.backward || g->n[i + k].backward;
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

/* ---------------------------------------------------------------- reductions */
static bool reduce_first(const ldm_node *n) { return n->op == LDM_OP_reduce_sum && n->nspec == 0; }

static bool reduce_fits(const ldm_graph *g, const ldm_node *run, int len, const ldm_node *next) {
  if (!reduce_first(next)) return false;
  for (int k = 0; k < len; k++)
    if (ldm_sched_conflict(g, &run[k], next)) return false; /* the schedule's tensor rule */
  return true;
}

static void reduce_make(const ldm_graph *g, const ldm_node *run, int len, ldm_node *m) {
  (void)g;
  ldm_pc_reduce_sum jobs[LDM_REDUCE_MULTI_MAX];
  m->op = LDM_OP_reduce_sum_multi;
  m->nin = m->nout = len;
  for (int k = 0; k < len; k++) {
    memcpy(&jobs[k], run[k].pc, sizeof jobs[k]);
    m->in[k] = run[k].in[0];
    m->out[k] = run[k].out[0];
  }
  ldm_pc_reduce_sum_multi pc;
  ldm_reduce_multi_pc(jobs, len, &pc);
  memcpy(m->pc, &pc, sizeof pc);
  m->pc_size = sizeof pc;
  strcpy(m->label, "reduce_sum_multi");
}

ldm_status ldm_graph_merge_reductions(ldm_graph *g) {
  if (g->planned) return LDM_FAIL(LDM_ERR_INTERNAL, "merge_reductions: the graph is planned already");
  ldm_env env;
  ldm_env_read(&env);
  if (env.no_fuse || g->nn < 2) return LDM_OK;
  return merge_runs(g, LDM_REDUCE_MULTI_MAX, reduce_first, reduce_fits, reduce_make);
}

/* ---------------------------------------------------------------- channel copies */
static ldm_pc_channel_copy copy_pc(const ldm_node *n) {
  ldm_pc_channel_copy p;
  memcpy(&p, n->pc, sizeof p);
  return p;
}

bool ldm_copy_jobs_fit(const ldm_graph *g, const ldm_node *a, const ldm_node *b) {
  if (!ldm_sched_conflict(g, a, b)) return true; /* independent */
  /* the one conflict a dispatch can hold: both write disjoint channel ranges of one output (each element
   * then has one writer, which reads it too when it accumulates), neither zeroing the rest of it */
  ldm_pc_channel_copy p = copy_pc(a), q = copy_pc(b);
  if (a->out[0] != b->out[0] || p.zero_rest || q.zero_rest || p.Co != q.Co || p.O != q.O || p.I != q.I) return false;
  if (!(p.d0 + p.Cn <= q.d0 || q.d0 + q.Cn <= p.d0)) return false;
  /* and nothing else: neither writes what the other reads */
  ldm_node ra = *a, rb = *b;
  ra.nout = rb.nout = 0;
  return !ldm_sched_conflict(g, a, &rb) && !ldm_sched_conflict(g, &ra, b);
}

static bool copy_first(const ldm_node *n) { return n->op == LDM_OP_channel_copy && n->nspec == 0; }

static bool copy_fits(const ldm_graph *g, const ldm_node *run, int len, const ldm_node *next) {
  if (!copy_first(next)) return false;
  ldm_pc_channel_copy jobs[LDM_COPY_MULTI_MAX];
  for (int k = 0; k < len; k++) {
    if (!ldm_copy_jobs_fit(g, &run[k], next)) return false;
    jobs[k] = copy_pc(&run[k]);
  }
  jobs[len] = copy_pc(next);
  ldm_pc_channel_copy_multi m;
  return ldm_copy_multi_pc(jobs, len + 1, &m); /* one O and I, under 2^32 invocations */
}

static void copy_make(const ldm_graph *g, const ldm_node *run, int len, ldm_node *m) {
  (void)g;
  ldm_pc_channel_copy jobs[LDM_COPY_MULTI_MAX];
  m->op = LDM_OP_channel_copy_multi;
  m->nin = m->nout = len;
  for (int k = 0; k < len; k++) {
    jobs[k] = copy_pc(&run[k]);
    m->in[k] = run[k].in[0];
    m->out[k] = run[k].out[0];
  }
  ldm_pc_channel_copy_multi pc;
  ldm_copy_multi_pc(jobs, len, &pc); /* copy_fits checked it */
  memcpy(m->pc, &pc, sizeof pc);
  m->pc_size = sizeof pc;
  strcpy(m->label, "channel_copy_multi");
}

ldm_status ldm_graph_merge_copies(ldm_graph *g) {
  if (g->planned) return LDM_FAIL(LDM_ERR_INTERNAL, "merge_copies: the graph is planned already");
  ldm_env env;
  ldm_env_read(&env);
  if (env.no_fuse || g->nn < 2) return LDM_OK;
  return merge_runs(g, LDM_COPY_MULTI_MAX, copy_first, copy_fits, copy_make);
}
