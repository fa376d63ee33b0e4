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

/* The backend a run executes on: a value, never a NULL pointer meaning the CPU. */
typedef enum ldm_backend_kind { LDM_BACKEND_CPU = 0, LDM_BACKEND_VK = 1 } ldm_backend_kind;
typedef struct ldm_backend {
  ldm_backend_kind kind;
  ldm_vk_ctx *vk; /* LDM_BACKEND_VK: the open context (ldm_backend_close closes it); else NULL */
  char why[400];  /* how it was chosen, for the user ("Vulkan device ...", "CPU reference backend ...") */
} ldm_backend;

/* Open the backend for a --device value: "cpu" -> the CPU backend; "vk"/"vk:N" -> a Vulkan context;
 * "" or NULL (auto) -> a GPU when one exists, else the CPU backend (lavapipe is slower than the CPU
 * backend for training). b->why describes the choice. */
ldm_status ldm_backend_open(const char *device, ldm_backend *b);
/* The CPU reference backend (nothing to open or close). */
ldm_backend ldm_backend_cpu(void);
/* Close a Vulkan context (all executors on it must be freed first); b becomes the CPU backend. */
void ldm_backend_close(ldm_backend *b);
/* A Vulkan device that is not a CPU driver. */
bool ldm_backend_is_gpu(const ldm_backend *b);
/* An executor on the backend b. */
ldm_status ldm_exec_new(const ldm_backend *b, const ldm_graph *g, ldm_exec **out);

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
/* Check mode of one executor: a Vulkan executor runs each node on the device and on the CPU reference
 * from the same inputs and fails with LDM_ERR_MISMATCH naming the first node whose outputs diverge beyond
 * the op's tolerance. Off unless LDM_CHECK was set when its context was opened; no effect on a CPU
 * executor (ldm_exec_check is then false). */
void ldm_exec_set_check(ldm_exec *e, bool on);
bool ldm_exec_check(const ldm_exec *e);

#ifdef __cplusplus
}
#endif
#endif
