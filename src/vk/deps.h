/* Where the Vulkan executor records a barrier, as a function of the graph alone (no VkDevice): the
 * recorder (exec_vk.c) and the performance model (src/perf) call the same code, so the model counts the
 * barriers the command buffer really holds. */
#ifndef LDM_VK_DEPS_H
#define LDM_VK_DEPS_H
#include <stdbool.h>
#include <stdint.h>

#include "ldm/graph.h"

/* The bytes [b, e) of one arena. Arenas are separate VkBuffers, so ranges of different arenas never
 * overlap. */
typedef struct ldm_range {
  int arena;
  int64_t b, e;
} ldm_range;
/* a tensor's bytes in its arena (views resolve to their base tensor's storage) */
ldm_range ldm_tensor_range(const ldm_graph *g, int t);

/* What the dispatches since the last barrier read and wrote. Zero-initialise; ldm_deps_free at the end. */
typedef struct ldm_deps {
  ldm_range *wr, *rd;
  int nwr, nrd, cap_wr, cap_rd;
} ldm_deps;

/* Node n is about to be recorded: *barrier = whether a barrier must come before it, i.e. it touches
 * memory that a dispatch since the last barrier touched in a conflicting way (an input overlapping a
 * range written: read-after-write; an output overlapping a range written or read: write-after-write,
 * write-after-read), or `force`. A barrier orders everything before it against everything after, so the
 * tracked ranges start empty again after one; then n's own reads and writes are added. */
ldm_status ldm_deps_next(ldm_deps *d, const ldm_graph *g, const ldm_node *n, bool force, bool *barrier);
void ldm_deps_free(ldm_deps *d);
/* The same hazards between two nodes: b (later) reads what a wrote, or writes what a read or wrote. */
bool ldm_deps_conflict(const ldm_graph *g, const ldm_node *a, const ldm_node *b);

#endif
