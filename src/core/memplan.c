/* The memory plan, the last part of ldm_graph_plan (core/sched.h): every arena's offsets. Parameter-layout
 * arenas share one layout; CONST and HOST are packed in tensor order; the ACT arena is packed by liveness
 * in levels (docs/architecture.md "The level schedule"). */
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "core/sched.h"

typedef struct { int64_t off, end; int last; } live_block; /* last: the level of the block's last use */

static int64_t align_up(int64_t x) { return (x + LDM_ALIGN - 1) / LDM_ALIGN * LDM_ALIGN; }

/* the level of node index i (INT32_MAX: kept for the whole run) */
static int at_level(const int *lvl, int i) { return i == INT32_MAX ? INT32_MAX : lvl[i]; }

/* Whether tensor a is placed after tensor b: by the level of the first use (never-used tensors first),
 * then, when by_size, the larger one first (levels of many tensors pack with fewer holes that way: the
 * fmnist VAE step's arena is 386 MiB in first-use order, 356 by size, its live peak 356). */
static bool place_after(const ldm_graph *g, const int *lvl, bool by_size, int a, int b) {
  const ldm_tensor *x = &g->t[a], *y = &g->t[b];
  int fa = x->first_use < 0 ? -1 : at_level(lvl, x->first_use);
  int fb = y->first_use < 0 ? -1 : at_level(lvl, y->first_use);
  if (fa != fb) return fa > fb;
  return by_size && ldm_tensor_bytes(x) < ldm_tensor_bytes(y);
}

/* the ACT arena's lower bound: the most bytes of planned tensors live in one level (a sweep over the
 * levels' changes; kept tensors live from level 0 to the end) */
static ldm_status live_peak(ldm_graph *g, const int *lvl, int nlv) {
  int64_t *d = ldm_calloc((size_t)nlv + 2, sizeof *d);
  if (!d) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory in the memory plan");
  for (int i = 0; i < g->nt; i++) {
    const ldm_tensor *t = &g->t[i];
    if (t->arena != LDM_ARENA_ACT || t->view_of != -1) continue;
    int f = t->first_use < 0 || t->first_use == INT32_MAX ? 0 : lvl[t->first_use];
    int l = t->last_use == INT32_MAX || t->last_use < 0 ? nlv : lvl[t->last_use];
    d[f] += align_up(ldm_tensor_bytes(t));
    d[l + 1] -= align_up(ldm_tensor_bytes(t));
  }
  int64_t live = 0, peak = 0;
  for (int k = 0; k <= nlv; k++) {
    live += d[k];
    if (live > peak) peak = live;
  }
  g->act_live_peak = peak;
  free(d);
  return LDM_OK;
}

ldm_status ldm_memplan(ldm_graph *g) {
  /* lifetimes of activation storage (views extend their base) */
  for (int i = 0; i < g->nn; i++) {
    const ldm_node *n = &g->n[i];
    for (int k = 0; k < n->nin + n->nout; k++) {
      int t = k < n->nin ? n->in[k] : n->out[k - n->nin];
      if (g->t[t].view_of >= 0) t = g->t[t].view_of;
      ldm_tensor *x = &g->t[t];
      if (x->last_use == INT32_MAX) continue;
      if (x->first_use < 0 || i < x->first_use) x->first_use = i;
      if (i > x->last_use) x->last_use = i;
    }
  }
  /* parameter-layout arenas: one shared layout */
  int64_t poff = 0;
  for (int i = 0; i < g->nt; i++) {
    ldm_tensor *t = &g->t[i];
    if (t->view_of != -1 || t->arena != LDM_ARENA_PARAM) continue;
    t->offset = poff;
    if (t->grad >= 0) g->t[t->grad].offset = poff;
    poff += align_up(ldm_tensor_bytes(t));
  }
  g->arena_size[LDM_ARENA_PARAM] = poff;
  for (int a = (int)LDM_ARENA_GRAD; a <= (int)LDM_ARENA_EMA; a++) {
    g->arena_size[a] = poff;
    for (int i = 0; i < g->nt; i++) {
      ldm_tensor *t = &g->t[i];
      if ((int)t->arena == a && t->view_of == -1 && t->offset < 0) {
        /* a tensor of a param-layout arena that is not a param's twin: append */
        t->offset = g->arena_size[a];
        g->arena_size[a] += align_up(ldm_tensor_bytes(t));
      }
    }
  }
  ldm_env env;
  ldm_env_read(&env);
  bool memplan = !env.no_memplan;
  /* the levels the reuse goes by: the recorder's on the final order, or every node its own level */
  int *lvl = ldm_malloc(((size_t)g->nn + 1) * sizeof *lvl);
  if (!lvl) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory in the memory plan");
  int nlv = 0;
  lvl[0] = 0;
  ldm_status st = LDM_OK;
  bool by_level = !env.no_schedule && memplan;
  if (!by_level)
    for (int i = 0; i < g->nn; i++) lvl[i] = i;
  else
    st = ldm_sched_levels(g, lvl, &nlv);
  if (st != LDM_OK) {
    free(lvl);
    return st;
  }
  for (int a = LDM_ARENA_ACT; a < LDM_ARENA_COUNT; a++) {
    int64_t size = 0;
    if (a != LDM_ARENA_ACT || !memplan) {
      for (int i = 0; i < g->nt; i++) {
        ldm_tensor *t = &g->t[i];
        if ((int)t->arena != a || t->view_of != -1) continue;
        t->offset = size;
        size += align_up(ldm_tensor_bytes(t));
      }
    } else {
      /* greedy first-fit by liveness: tensors in order of first use; a block is free once the
       * level passed the level of its last use (tensors used in one level never share memory, so reuse
       * adds no hazard inside a level). Unused tensors get a private slot. */
      int nb = 0, capb = 64;
      live_block *blk = ldm_malloc((size_t)capb * sizeof *blk);
      int *order = ldm_malloc((size_t)g->nt * sizeof *order);
      if (!blk || !order) {
        free(blk);
        free(order);
        free(lvl);
        return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory in the memory plan");
      }
      int no = 0;
      for (int i = 0; i < g->nt; i++)
        if ((int)g->t[i].arena == a && g->t[i].view_of == -1) order[no++] = i;
      /* insertion sort (stable) by place_after */
      for (int i = 1; i < no; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && place_after(g, lvl, by_level, order[j], v)) {
          order[j + 1] = order[j];
          j--;
        }
        order[j + 1] = v;
      }
      for (int oi = 0; oi < no; oi++) {
        ldm_tensor *t = &g->t[order[oi]];
        int64_t need = align_up(ldm_tensor_bytes(t));
        if (t->first_use < 0) { /* never used: keep a slot anyway so it can be read/written */
          t->first_use = 0;
          t->last_use = INT32_MAX;
        }
        int first = at_level(lvl, t->first_use);
        /* collect blocks still live at t->first_use, sorted by offset, and find the first gap */
        int64_t best = -1;
        int64_t cursor = 0;
        /* blocks are kept sorted by offset */
        for (int b = 0; b <= nb; b++) {
          int64_t gap_end = b < nb ? blk[b].off : INT64_MAX;
          if (b < nb && blk[b].last < first) continue; /* dead block: its space is free */
          if (gap_end - cursor >= need) {
            best = cursor;
            break;
          }
          if (b < nb) cursor = blk[b].end > cursor ? blk[b].end : cursor;
        }
        t->offset = best;
        if (best + need > size) size = best + need;
        /* drop dead blocks that overlap the new one, insert the new block sorted */
        int w = 0;
        for (int b = 0; b < nb; b++) {
          bool dead = blk[b].last < first;
          bool overlap = blk[b].off < best + need && blk[b].end > best;
          if (dead && overlap) continue;
          blk[w++] = blk[b];
        }
        nb = w;
        if (nb == capb) {
          capb *= 2;
          live_block *nbk = realloc(blk, (size_t)capb * sizeof *nbk);
          if (!nbk) {
            free(blk);
            free(order);
            free(lvl);
            return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory in the memory plan");
          }
          blk = nbk;
        }
        int pos = nb;
        while (pos > 0 && blk[pos - 1].off > best) {
          blk[pos] = blk[pos - 1];
          pos--;
        }
        blk[pos].off = best;
        blk[pos].end = best + need;
        blk[pos].last = at_level(lvl, t->last_use);
        nb++;
      }
      free(blk);
      free(order);
    }
    g->arena_size[a] = size;
  }
  if (memplan) st = live_peak(g, lvl, by_level ? nlv : g->nn);
  free(lvl);
  if (st != LDM_OK) return st;
  for (int i = 0; i < g->nt; i++)
    if (g->t[i].view_of == -2) {
      /* whole-arena views cover what was planned */
      g->t[i].numel = g->arena_size[g->t[i].arena] / 4;
    }
  return LDM_OK;
}
