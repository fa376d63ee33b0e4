/* Executor internals shared by the backends. */
#ifndef LDM_CORE_EXEC_H
#define LDM_CORE_EXEC_H
#include "ldm/backend.h"

typedef struct ldm_exec_vtbl {
  ldm_status (*run_range)(ldm_exec *e, int first, int last);
  ldm_status (*write)(ldm_exec *e, ldm_arena a, int64_t off, const void *data, size_t bytes);
  ldm_status (*read)(ldm_exec *e, ldm_arena a, int64_t off, void *data, size_t bytes);
  void *(*host_ptr)(ldm_exec *e, ldm_arena a, int64_t off);
  void (*destroy)(ldm_exec *e);
} ldm_exec_vtbl;

struct ldm_exec {
  const ldm_graph *g;
  const ldm_exec_vtbl *vt;
  bool is_vk;
  int record_count;
  double *node_ms;
  bool timing;
};

/* The CPU interpreter with a chosen function per op: nodes [first, last) of a CPU executor (ldm_exec_cpu)
 * over its host arenas, node i by fn_of(op of node i) (NULL: an internal error). The executor's own runs
 * use the fast twins; the reference oracle (src/ref) passes its table. Fails on a Vulkan executor. */
typedef void (*ldm_node_fn)(const ldm_graph *g, const ldm_node *n, void *const *buf);
ldm_status ldm_exec_cpu_run_with(ldm_exec *e, int first, int last, ldm_node_fn (*fn_of)(int op));

/* resolve tensor -> (arena, offset) and check the byte count */
ldm_status ldm_exec_locate(const ldm_exec *e, int tensor, size_t bytes, ldm_arena *a, int64_t *off);
#endif
