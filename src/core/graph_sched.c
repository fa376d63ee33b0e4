/* The level scheduler, the first pass of ldm_graph_plan (core/sched.h; docs/architecture.md "The level
 * schedule"). The recorder puts a barrier before a node that conflicts with one since the last barrier,
 * so the barriers of a part between fences are at least its longest chain of conflicting nodes, less one.
 * The pass reaches that: it places every node in a level between its earliest (one after its latest
 * conflicting predecessor) and its latest (one before its earliest conflicting successor, the chain's
 * length fixing the last level), then records the levels one after the other, each in the recorded order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "core/ops.h"
#include "core/sched.h"

typedef struct acc {
  int arena, base; /* base -2: the whole arena */
  int64_t b, e;    /* bytes of the base tensor */
  bool wr;
} acc;

#define NACC (LDM_MAX_IN + LDM_MAX_OUT)

typedef struct node_acc {
  acc a[NACC];
  int n;
  uint64_t rd, wr; /* a filter: a bit per base tensor (hashed), all bits for a whole-arena view */
} node_acc;

static acc tensor_acc(const ldm_graph *g, int id, bool wr) {
  const ldm_tensor *t = &g->t[id];
  acc x = {(int)t->arena, id, 0, ldm_tensor_bytes(t), wr};
  if (t->view_of >= 0) {
    x.base = t->view_of;
    x.b = t->view_offset;
    x.e = t->view_offset + ldm_tensor_bytes(t);
  } else if (t->view_of == -2) {
    x.base = -2;
  }
  return x;
}

static uint64_t bloom(const acc *x) {
  return x->base == -2 ? ~0ull : 1ull << (((uint32_t)x->base * 2654435761u) >> 26);
}

static void node_accesses(const ldm_graph *g, const ldm_node *n, node_acc *na) {
  na->n = 0;
  na->rd = na->wr = 0;
  for (int k = 0; k < n->nin + n->nout; k++) {
    bool wr = k >= n->nin;
    acc x = tensor_acc(g, wr ? n->out[k - n->nin] : n->in[k], wr);
    na->a[na->n++] = x;
    if (wr)
      na->wr |= bloom(&x);
    else
      na->rd |= bloom(&x);
  }
}

static bool acc_overlap(const acc *x, const acc *y) {
  if (x->arena != y->arena || !(x->wr || y->wr)) return false;
  if (x->base == -2 || y->base == -2) return true;
  return x->base == y->base && x->b < y->e && y->b < x->e;
}

static bool acc_conflict(const node_acc *p, const node_acc *q) {
  if (!((p->wr & (q->rd | q->wr)) | (p->rd & q->wr))) return false;
  for (int i = 0; i < p->n; i++)
    for (int j = 0; j < q->n; j++)
      if (acc_overlap(&p->a[i], &q->a[j])) return true;
  return false;
}

bool ldm_sched_conflict(const ldm_graph *g, const ldm_node *a, const ldm_node *b) {
  node_acc p, q;
  node_accesses(g, a, &p);
  node_accesses(g, b, &q);
  return acc_conflict(&p, &q);
}

ldm_status ldm_sched_levels(const ldm_graph *g, int *level, int *nlevels) {
  *nlevels = 0;
  node_acc *na = ldm_malloc(((size_t)g->nn + 1) * sizeof *na);
  if (!na) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory in the level schedule");
  int lv = 0, start = 0; /* the current level's first node */
  for (int i = 0; i < g->nn; i++) {
    node_accesses(g, &g->n[i], &na[i]);
    for (int j = start; j < i; j++)
      if (acc_conflict(&na[j], &na[i])) {
        lv++;
        start = i;
        break;
      }
    level[i] = lv;
  }
  *nlevels = g->nn ? lv + 1 : 0;
  free(na);
  return LDM_OK;
}

/* an ACT tensor of its own storage that the memory plan may reuse (not a view, not kept) */
static bool planned_act(const ldm_tensor *x) {
  return x->arena == LDM_ARENA_ACT && x->view_of == -1 && x->last_use != INT32_MAX;
}

/* Whether node i goes to its latest level rather than its earliest: when the ACT bytes of its outputs
 * whose lives end at a fixed place (read by a node that does not move with i: one placed late, one with
 * no slack, or no reader in the part: read after it or never) are at least the bytes of the inputs whose
 * last reader it is (in the recorded order), and not zero. Outputs read only by nodes that follow i early
 * move with it, so delaying i would not shorten them. any[t] / fixed[t]: t has a reader after i / a
 * fixed one. */
static bool goes_late(const ldm_graph *g, int i, const int *last, const uint8_t *any, const uint8_t *fixed) {
  const ldm_node *n = &g->n[i];
  int64_t out = 0, freed = 0;
  for (int k = 0; k < n->nout; k++) {
    int t = n->out[k];
    if (planned_act(&g->t[t]) && !g->t[t].scratch && (!any[t] || fixed[t])) out += ldm_tensor_bytes(&g->t[t]);
  }
  for (int k = 0; k < n->nin; k++) {
    int t = n->in[k];
    bool dup = false; /* an input listed twice frees once */
    for (int j = 0; j < k; j++) dup |= n->in[j] == t;
    if (!dup && planned_act(&g->t[t]) && last[t] == i) freed += ldm_tensor_bytes(&g->t[t]);
  }
  return out > 0 && out >= freed;
}

/* one fenced part [s0, s1): its nodes' levels (0-based) in lvl[0 .. s1 - s0) */
static ldm_status schedule_part(const ldm_graph *g, const node_acc *na, const int *last, uint8_t *any, uint8_t *fixed,
                                int s0, int s1, int *lvl) {
  int n = s1 - s0;
  /* conflict edges j -> i (j < i), grouped by i: preds of i are pred[pstart[i] .. pstart[i + 1]) */
  int cap = 4 * n + 16, ne = 0;
  int *pred = ldm_malloc((size_t)cap * sizeof *pred), *pstart = ldm_malloc(((size_t)n + 1) * sizeof *pstart);
  int *asap = ldm_malloc(((size_t)n + 1) * sizeof *asap), *alap = ldm_malloc(((size_t)n + 1) * sizeof *alap);
  ldm_status st = pred && pstart && asap && alap ? LDM_OK : LDM_ERR_NOMEM;
  for (int i = 0; i < n && st == LDM_OK; i++) {
    pstart[i] = ne;
    for (int j = 0; j < i; j++) {
      if (!acc_conflict(&na[s0 + j], &na[s0 + i])) continue;
      if (ne == cap) {
        int *np = realloc(pred, (size_t)cap * 2 * sizeof *np);
        if (!np) {
          st = LDM_ERR_NOMEM;
          break;
        }
        pred = np;
        cap *= 2;
      }
      pred[ne++] = j;
    }
  }
  if (st == LDM_OK) {
    pstart[n] = ne;
    int L = 0;
    for (int i = 0; i < n; i++) {
      asap[i] = 0;
      for (int e = pstart[i]; e < pstart[i + 1]; e++)
        if (asap[pred[e]] + 1 > asap[i]) asap[i] = asap[pred[e]] + 1;
      if (asap[i] + 1 > L) L = asap[i] + 1;
    }
    for (int i = 0; i < n; i++) alap[i] = L - 1;
    for (int i = n - 1; i >= 0; i--) /* every successor of i comes later and is final by now */
      for (int e = pstart[i]; e < pstart[i + 1]; e++)
        if (alap[i] - 1 < alap[pred[e]]) alap[pred[e]] = alap[i] - 1;
    /* Which nodes wait (goes_late), decided from the last node back so that each node knows its readers'
     * choices: a node whose outputs are needed only later (a time-embedding projection) waits next to its
     * readers; one that frees what it adds (a parameter-gradient reduction, which writes GRAD and ends its
     * partial sums) runs early, and so does the node it reads from (the backward-weight convolution), whose
     * output would wait with it. lvl[i] holds the choice (1: late) until the places are set. */
    for (int i = n - 1; i >= 0; i--) {
      const ldm_node *nd = &g->n[s0 + i];
      lvl[i] = asap[i] < alap[i] && goes_late(g, s0 + i, last, any, fixed);
      for (int k = 0; k < nd->nin; k++) {
        any[nd->in[k]] = 1;
        if (lvl[i] || asap[i] == alap[i]) fixed[nd->in[k]] = 1;
      }
    }
    for (int i = 0; i < n; i++) {
      const ldm_node *nd = &g->n[s0 + i];
      for (int k = 0; k < nd->nin; k++) any[nd->in[k]] = fixed[nd->in[k]] = 0; /* clean for the next part */
    }
    /* The places, in the recorded order: each node at its earliest level given its predecessors' places, or
     * at its latest. Any place in [earliest, latest] keeps every successor's range non-empty. */
    for (int i = 0; i < n; i++) {
      int lb = 0;
      for (int e = pstart[i]; e < pstart[i + 1]; e++)
        if (lvl[pred[e]] + 1 > lb) lb = lvl[pred[e]] + 1;
      lvl[i] = lvl[i] && alap[i] > lb ? alap[i] : lb;
    }
  }
  free(pred);
  free(pstart);
  free(asap);
  free(alap);
  if (st != LDM_OK) return LDM_FAIL(st, "out of host memory in the level schedule");
  return LDM_OK;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

ldm_status ldm_sched_order(const ldm_graph *g, int *perm) {
  int nn = g->nn;
  for (int i = 0; i < nn; i++) perm[i] = i;
  if (nn < 2) return LDM_OK;
  /* the parts: boundaries at n_forward and every fence */
  int cut[LDM_MAX_FENCES + 3], nc = 0;
  cut[nc++] = 0;
  cut[nc++] = nn;
  if (g->n_forward > 0 && g->n_forward < nn) cut[nc++] = g->n_forward;
  for (int f = 0; f < g->nfence; f++)
    if (g->fence[f] > 0 && g->fence[f] < nn) cut[nc++] = g->fence[f];
  qsort(cut, (size_t)nc, sizeof *cut, cmp_int);
  node_acc *na = ldm_malloc((size_t)nn * sizeof *na);
  int *last = ldm_malloc(((size_t)g->nt + 1) * sizeof *last), *lvl = ldm_malloc((size_t)nn * sizeof *lvl);
  int *count = NULL;
  uint8_t *any = ldm_calloc((size_t)g->nt + 1, 1), *fixed = ldm_calloc((size_t)g->nt + 1, 1);
  ldm_status st = na && last && lvl && any && fixed ? LDM_OK : LDM_ERR_NOMEM;
  if (st == LDM_OK) {
    for (int t = 0; t < g->nt; t++) last[t] = -1;
    for (int i = 0; i < nn; i++) {
      node_accesses(g, &g->n[i], &na[i]);
      for (int k = 0; k < g->n[i].nin; k++) last[g->n[i].in[k]] = i;
      for (int k = 0; k < g->n[i].nout; k++) last[g->n[i].out[k]] = i;
    }
  }
  for (int c = 0; c + 1 < nc && st == LDM_OK; c++) {
    int s0 = cut[c], s1 = cut[c + 1];
    if (s1 - s0 < 2) continue;
    st = schedule_part(g, na, last, any, fixed, s0, s1, lvl);
    if (st != LDM_OK) break;
    /* a stable counting sort by level, and inside a level the reduce_sum nodes last in even levels and
     * first in odd ones: the nodes of a level are independent, so their order is free, and this puts the
     * reductions of two neighbouring levels side by side, where the merge pass (core/fuse.c) packs them
     * into as few reduce_sum_multi dispatches as their tensors allow (docs/perf.md, change 12) */
    int nl = 0;
    for (int i = 0; i < s1 - s0; i++)
      if (lvl[i] + 1 > nl) nl = lvl[i] + 1;
    size_t nkeys = (size_t)nl * LDM_OP_COUNT;
    free(count);
    count = ldm_calloc(nkeys + 1, sizeof *count);
    if (!count) {
      st = LDM_FAIL(LDM_ERR_NOMEM, "out of host memory in the level schedule");
      break;
    }
#define SCHED_KEY(i) ((size_t)lvl[i] * LDM_OP_COUNT + ((g->n[s0 + (i)].op == LDM_OP_reduce_sum) ^ (lvl[i] & 1) ? 1u : 0u))
    for (int i = 0; i < s1 - s0; i++) count[SCHED_KEY(i) + 1]++;
    for (size_t k = 0; k < nkeys; k++) count[k + 1] += count[k];
    for (int i = 0; i < s1 - s0; i++) perm[s0 + count[SCHED_KEY(i)]++] = s0 + i;
#undef SCHED_KEY
  }
  free(na);
  free(last);
  free(lvl);
  free(count);
  free(any);
  free(fixed);
  if (st == LDM_ERR_NOMEM) return LDM_FAIL(st, "out of host memory in the level schedule");
  return st;
}

ldm_status ldm_graph_schedule(ldm_graph *g) {
  ldm_env env;
  ldm_env_read(&env);
  if (env.no_schedule || g->nn < 2) return LDM_OK;
  int *perm = ldm_malloc((size_t)g->nn * sizeof *perm);
  ldm_node *nodes = ldm_malloc((size_t)g->nn * sizeof *nodes);
  ldm_status st = perm && nodes ? ldm_sched_order(g, perm) : LDM_FAIL(LDM_ERR_NOMEM, "out of host memory in the level schedule");
  if (st == LDM_OK) {
    for (int k = 0; k < g->nn; k++) nodes[k] = g->n[perm[k]];
    memcpy(g->n, nodes, (size_t)g->nn * sizeof *nodes);
  }
  free(perm);
  free(nodes);
  return st;
}
