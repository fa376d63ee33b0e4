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

/* Merge runs of channel_copy nodes that are adjacent in node order into one channel_copy_multi node each
 * (2 to LDM_COPY_MULTI_MAX jobs of one O and I), never across a fence or n_forward (renumbered as above):
 * the run's nodes pairwise fit (ldm_copy_jobs_fit). Each job computes exactly what its channel_copy node
 * did. The first pass of ldm_graph_plan, before the schedule (a concatenation's two copies conflict, so
 * the schedule would part them). Off with LDM_NO_FUSE=1. Before planning only. */
ldm_status ldm_graph_merge_copies(ldm_graph *g);

/* Whether channel_copy nodes a and b can be jobs of one dispatch: they do not conflict on tensors
 * (ldm_sched_conflict), or their one conflict is that both write disjoint channel ranges of the same output
 * tensor, neither with zero_rest (which writes all of it), and neither writes what the other reads. */
bool ldm_copy_jobs_fit(const ldm_graph *g, const ldm_node *a, const ldm_node *b);

#endif
