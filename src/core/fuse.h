/* Graph passes of ldm_graph_plan that merge nodes (src/core/fuse.c). */
#ifndef LDM_CORE_FUSE_H
#define LDM_CORE_FUSE_H
#include "ldm/graph.h"

/* Merge runs of reduce_sum nodes that are adjacent in node order and independent (no node of the run reads or
 * writes a tensor another one writes) into one reduce_sum_multi node each (up to LDM_REDUCE_MULTI_MAX jobs),
 * never across a fence or n_forward; the fences and n_forward are renumbered to the same boundaries. Each
 * job computes exactly what its reduce_sum node did. Off with LDM_NO_FUSE=1. Before planning only (tensor
 * lifetimes are computed from the merged node list). */
ldm_status ldm_graph_merge_reductions(ldm_graph *g);

#endif
