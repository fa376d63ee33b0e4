/* Backends execute a planned graph. The CPU backend interprets the node list; the Vulkan backend
 * records it into a command buffer once and replays it. Both expose the same calls. */
#ifndef LDM_BACKEND_H
#define LDM_BACKEND_H
#include "ldm/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ldm_exec ldm_exec;
typedef struct ldm_vk_ctx ldm_vk_ctx;

/* A CPU executor: allocates the arenas (zeroed) for a planned graph. */
ldm_status ldm_exec_cpu(const ldm_graph *g, ldm_exec **out);
/* A Vulkan executor on an open context (src/vk); records the command buffer at the first run. */
ldm_status ldm_exec_vk(ldm_vk_ctx *ctx, const ldm_graph *g, ldm_exec **out);
void ldm_exec_free(ldm_exec *e);

/* Run the whole node list (or nodes [first, last) ) once. */
ldm_status ldm_exec_run(ldm_exec *e);
ldm_status ldm_exec_run_range(ldm_exec *e, int first, int last);

/* Host access to tensor data (f32/u32 words; u8 tensors by bytes). HOST-arena tensors are mapped and
 * cheap; others go through staging copies on Vulkan. */
ldm_status ldm_exec_write(ldm_exec *e, int tensor, const void *data, size_t bytes);
ldm_status ldm_exec_read(ldm_exec *e, int tensor, void *data, size_t bytes);
/* Write/read raw bytes of a whole arena (checkpoints, copies between graphs). */
ldm_status ldm_exec_write_arena(ldm_exec *e, ldm_arena a, const void *data, size_t bytes);
ldm_status ldm_exec_read_arena(ldm_exec *e, ldm_arena a, void *data, size_t bytes);
/* Pointer to a HOST-arena tensor (valid while the executor lives). */
void *ldm_exec_host_ptr(ldm_exec *e, int tensor);

const ldm_graph *ldm_exec_graph(const ldm_exec *e);
bool ldm_exec_is_vk(const ldm_exec *e);
int ldm_exec_record_count(const ldm_exec *e); /* how often the Vulkan command buffer was recorded */
/* Per-node GPU time of the last run in ms (Vulkan with timestamps; NULL otherwise). */
const double *ldm_exec_node_times(const ldm_exec *e);
void ldm_exec_enable_timing(ldm_exec *e, bool on);

#ifdef __cplusplus
}
#endif
#endif
