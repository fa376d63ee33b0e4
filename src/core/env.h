/* Every LDM_* environment switch of the library, parsed in one place (ldm_env_read).
 *
 * Nothing else in src/ calls getenv for an LDM_* switch. Each consumer takes one snapshot at its own
 * well-defined moment and keeps it: the Vulkan context when it is opened (limits, validation, kernel
 * choice, check mode), the thread pool when it starts, the scheduler and memory planner per ldm_graph_plan, the error
 * reporter per error (debug). So a switch set before a context is opened applies to that context, and
 * never changes under a recorded graph. */
#ifndef LDM_CORE_ENV_H
#define LDM_CORE_ENV_H
#include <stdbool.h>
#include <stdint.h>

/* LDM_TEST_FAULT, a test hook of the trainer (not a user flag): comma-separated items
 * STAGE:KIND:STEP[:COUNT] (STAGE vae or unet, steps 1-based, COUNT 1 by default):
 *   nan      steps STEP..STEP+COUNT-1 start from a NaN gradient instead of zero: each is skipped exactly
 *            as a step whose gradient went non-finite by itself;
 *   explode  the learning rate of steps STEP..STEP+COUNT-1 is 1e30: the update takes the weights to about
 *            1e30 (still finite, so that step is not skipped) and the steps after it go non-finite. */
enum { LDM_FAULT_NAN, LDM_FAULT_EXPLODE };
#define LDM_FAULT_MAX 8
typedef struct ldm_env_fault {
  char stage[8];
  int kind; /* LDM_FAULT_* */
  long long step, count;
} ldm_env_fault;

/* LDM_VK_TILE: the tile variant of the tiled GEMM / convolution shaders (docs/perf.md "Tile variants") */
enum { LDM_TILE_AUTO, LDM_TILE_LARGE, LDM_TILE_MEDIUM, LDM_TILE_SMALL, LDM_TILE_NARROW, LDM_TILE_WIDE, LDM_TILE_COUNT };

typedef struct ldm_env {
  bool check;            /* LDM_CHECK: a Vulkan executor compares every node with the CPU */
  bool gemm_naive;       /* LDM_GEMM_NAIVE=1: the one-thread-per-output GEMM shader */
  bool conv_naive;       /* LDM_CONV_NAIVE=1: the one-thread-per-output convolution shaders */
  bool no_subpixel;      /* LDM_VK_SUBPIXEL=0: strided conv2d_backward_data computes its stride holes (no
                            conv2d_backward_data_sub; docs/perf.md "Change 15") */
  bool no_memplan;       /* LDM_NO_MEMPLAN (non-zero integer): every activation gets its own storage */
  bool no_fuse;         /* LDM_NO_FUSE=1: ldm_graph_plan merges no nodes (core/fuse.c) */
  bool debug;            /* LDM_DEBUG (set): debug log lines, error origins */
  bool vk_validation;    /* LDM_VK_VALIDATION: the Khronos validation layer */
  bool vk_no_subgroup;   /* LDM_VK_DISABLE_SUBGROUP: behave as a device without subgroup arithmetic */
  bool vk_no_fp16;       /* LDM_VK_DISABLE_FP16: behave as a device without 16-bit floats */
  bool vk_no_int8;       /* LDM_VK_DISABLE_INT8: enable neither shaderInt8 nor 8-bit storage */
  int vk_stage_host;     /* LDM_VK_STAGE_HOST: 1 stage the host arena's shader inputs in device-local memory,
                            0 never, -1 (unset) when host-visible memory is not device-local (exec_vk.c) */
  uint64_t vk_max_shared;       /* LDM_VK_MAX_SHARED: lower the shared-memory limit (0 = unset) */
  uint64_t vk_max_buffer_range; /* LDM_VK_MAX_BUFFER_RANGE: lower the binding-range limit (0 = unset) */
  const char *vk_pipeline_cache; /* LDM_VK_PIPELINE_CACHE: a file, "off", or NULL (the default place) */
  long threads;          /* LDM_THREADS: CPU worker threads (0 = unset: one per online core) */
  const char *test_fault; /* LDM_TEST_FAULT as set (NULL when unset or empty) */
  bool test_fault_bad;    /* it does not parse: the trainer refuses to run */
  int nfaults;
  ldm_env_fault faults[LDM_FAULT_MAX];
  bool no_schedule;      /* LDM_NO_SCHEDULE (non-zero integer): nodes stay in the recorded order and the memory
                            plan reuses by node, not by level (the plan before the level schedule) */
  int vk_tile;           /* LDM_VK_TILE=auto|large|medium|small|narrow|wide: LDM_TILE_* (unset or empty: auto) */
  bool vk_tile_bad;      /* it is none of those: opening a Vulkan context refuses */
  const char *vk_tile_str; /* LDM_VK_TILE as set (NULL when unset or empty) */
  int vk_splitk;         /* LDM_VK_SPLITK: unset or empty 0 (the plan chooses), "0" -1 (no split-K), N > 0: force
                            S = min(N, S_max) (ldm_dev_limits.splitk) */
} ldm_env;

/* Parse the current environment into *e (no side effects, no allocation). */
void ldm_env_read(ldm_env *e);
/* Whether the faults of e make step `step` (1-based) of stage ("vae" | "unet") a fault of kind. */
bool ldm_env_fault_at(const ldm_env *e, const char *stage, int kind, int64_t step);

#endif
