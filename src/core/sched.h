/* The level scheduler and the memory plan of ldm_graph_plan (graph_sched.c, memplan.c; docs/architecture.md
 * "The level schedule").
 *
 * Hazards here are on TENSORS, before any offset exists: two accesses touch the same storage when they are
 * of the same arena and of the same base tensor with overlapping bytes (a view is its base's bytes
 * [view_offset, view_offset + size)), or one of them is a whole-arena view (ldm_arena_view). Two nodes
 * conflict when one writes storage the other reads or writes (an output is a write; an in-place or
 * accumulating output is both a read and a write, so it conflicts as a write). */
#ifndef LDM_CORE_SCHED_H
#define LDM_CORE_SCHED_H
#include <stdbool.h>

#include "ldm/graph.h"

/* Whether nodes a and b conflict on tensors (symmetric). */
bool ldm_sched_conflict(const ldm_graph *g, const ldm_node *a, const ldm_node *b);

/* The schedule's order of g's nodes, without changing g: perm[k] = the index of the node that goes to
 * position k. Every pair of conflicting nodes keeps its relative order, and no node crosses n_forward or a
 * fence. Nodes are grouped into levels of mutually independent nodes (as many levels as the longest
 * dependency chain of each fenced part needs), each level in the recorded order except for its reduce_sum
 * nodes: last in an even level, first in an odd one, so that neighbouring levels' reductions are adjacent
 * for the merge pass. */
ldm_status ldm_sched_order(const ldm_graph *g, int *perm);

/* The first pass of ldm_graph_plan: reorder g's nodes by ldm_sched_order, unless LDM_NO_SCHEDULE=1 (the
 * recorded order). Fences keep their boundaries. */
ldm_status ldm_graph_schedule(ldm_graph *g);

/* The levels of g's nodes in their current order, by the recorder's rule on tensors: a node starts a new
 * level when it conflicts with a node of the current one. level[i] is non-decreasing; *nlevels their count. */
ldm_status ldm_sched_levels(const ldm_graph *g, int *level, int *nlevels);

/* Offsets of every arena (the last part of ldm_graph_plan, memplan.c). The ACT arena is packed by
 * liveness in LEVELS (ldm_sched_levels): a block whose last use is in level L is reused only by a tensor
 * first used after L, so reuse adds no barrier. With LDM_NO_SCHEDULE=1 every node is its own level (the
 * plan of the recorded order, node by node); with LDM_NO_MEMPLAN=1 nothing is reused. */
ldm_status ldm_memplan(ldm_graph *g);

#endif
