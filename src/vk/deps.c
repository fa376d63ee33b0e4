/* The barrier decision of the recorded command buffer (vk/deps.h), shared by the Vulkan executor and
 * the performance model. */
#include "vk/deps.h"

#include <stdlib.h>

#include "core/ops.h"

ldm_range ldm_tensor_range(const ldm_graph *g, int t) {
  ldm_arena a;
  int64_t off;
  ldm_tensor_storage(g, t, &a, &off);
  return (ldm_range){(int)a, off, off + ldm_tensor_bytes(&g->t[t])};
}

static bool overlaps(const ldm_range *s, int n, ldm_range x) {
  for (int i = 0; i < n; i++)
    if (s[i].arena == x.arena && s[i].b < x.e && x.b < s[i].e) return true;
  return false;
}

static ldm_status add(ldm_range **s, int *n, int *cap, ldm_range x) {
  if (*n == *cap) {
    int nc = *cap ? *cap * 2 : 64;
    ldm_range *nr = realloc(*s, (size_t)nc * sizeof *nr);
    if (!nr) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory recording the command buffer");
    *s = nr;
    *cap = nc;
  }
  (*s)[(*n)++] = x;
  return LDM_OK;
}

/* the hazards of node n against the ranges written (wr) and read (rd) before it */
static bool hazard(const ldm_graph *g, const ldm_node *n, const ldm_range *wr, int nwr, const ldm_range *rd,
                   int nrd) {
  for (int k = 0; k < n->nin; k++)
    if (overlaps(wr, nwr, ldm_tensor_range(g, n->in[k]))) return true; /* read after write */
  for (int k = 0; k < n->nout; k++) {
    ldm_range r = ldm_tensor_range(g, n->out[k]);
    if (overlaps(wr, nwr, r) || overlaps(rd, nrd, r)) return true; /* write after write, after read */
  }
  return false;
}

bool ldm_deps_conflict(const ldm_graph *g, const ldm_node *a, const ldm_node *b) {
  ldm_range wr[LDM_MAX_OUT], rd[LDM_MAX_IN];
  for (int k = 0; k < a->nout; k++) wr[k] = ldm_tensor_range(g, a->out[k]);
  for (int k = 0; k < a->nin; k++) rd[k] = ldm_tensor_range(g, a->in[k]);
  return hazard(g, b, wr, a->nout, rd, a->nin);
}

ldm_status ldm_deps_next(ldm_deps *d, const ldm_graph *g, const ldm_node *n, bool force, bool *barrier) {
  *barrier = force || hazard(g, n, d->wr, d->nwr, d->rd, d->nrd);
  if (*barrier) d->nwr = d->nrd = 0;
  for (int k = 0; k < n->nin; k++) LDM_TRY(add(&d->rd, &d->nrd, &d->cap_rd, ldm_tensor_range(g, n->in[k])));
  for (int k = 0; k < n->nout; k++) LDM_TRY(add(&d->wr, &d->nwr, &d->cap_wr, ldm_tensor_range(g, n->out[k])));
  return LDM_OK;
}

void ldm_deps_free(ldm_deps *d) {
  free(d->wr);
  free(d->rd);
  d->wr = d->rd = NULL;
  d->nwr = d->nrd = d->cap_wr = d->cap_rd = 0;
}
