/* Shared helpers of the op builders (src/ops/): named activations for builder outputs. */
#ifndef LDM_OPS_BUILDER_H
#define LDM_OPS_BUILDER_H
#include <stdio.h>

#include "ldm/graph.h"

/* an activation named "<what>#<node count>" */
static inline int ldm_new_act(ldm_graph *g, const char *what, int ndim, const int64_t *shape) {
  char nm[LDM_NAME_MAX];
  snprintf(nm, sizeof nm, "%s#%d", what, g->nn);
  return ldm_act(g, nm, ndim, shape);
}
/* the same with the shape of tensor `like` */
static inline int ldm_new_like(ldm_graph *g, int like, const char *what) {
  if (!ldm_graph_inputs(g, &like, 1)) return LDM_NONE;
  return ldm_new_act(g, what, g->t[like].ndim, g->t[like].shape);
}

#endif
