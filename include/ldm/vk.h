/* Vulkan runtime of ldm-vk: device discovery and choice, context, limits (optionally forced lower). */
#ifndef LDM_VK_H
#define LDM_VK_H
#include "ldm/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ldm_vk_device_info {
  int index;
  char name[256];
  char vendor[32];
  uint32_t vendor_id, device_id;
  char type[16];            /* discrete, integrated, virtual, cpu, other */
  char driver[256];         /* driver name + info */
  char api_version[32];
  uint64_t device_local_bytes, host_visible_bytes;
  int heap_count;
  uint64_t heap_size[16];
  bool heap_device_local[16];
  uint32_t subgroup_size;
  bool subgroup_arith;
  uint32_t max_shared;
  uint64_t max_buffer_range;
  uint32_t max_wg_invocations;
  bool fp16, int8, storage16;
  bool coop_matrix_khr, coop_matrix2_nv;
  bool timestamps;
  bool has_compute;
  bool storage8, subgroup_ext_types, subgroup_size_control; /* 8-bit storage, 1.2 subgroup types, EXT */
  bool v12_features;        /* a 1.2 device: the 1.1/1.2 feature structs were queried (and may be enabled) */
  /* what `--device vk` enables on this device at vkCreateDevice given the LDM_VK_DISABLE_* switches, as
   * Vulkan names separated by spaces ("" when nothing) */
  char enabled[256];
  /* SMs / CUs / cores, from VK_NV_shader_sm_builtins, VK_AMD_shader_core_properties or
   * VK_ARM_shader_core_builtins (their properties only; nothing is enabled for them), else a guess by
   * device type (docs/perf.md "Tile variants"); cu_source says which */
  uint32_t compute_units;
  char cu_source[96];
} ldm_vk_device_info;

/* Enumerate devices. Returns LDM_ERR_NO_DEVICE (with a user-facing sentence) when the loader or any
 * device is missing. *list is malloc'd. */
ldm_status ldm_vk_list(ldm_vk_device_info **list, int *n);
/* Index of the device "--device vk" picks: discrete > integrated > virtual > cpu. */
int ldm_vk_pick_default(const ldm_vk_device_info *list, int n);

/* Open a context on "vk" (default pick) or "vk:N". Validation layers when LDM_VK_VALIDATION=1. */
ldm_status ldm_vk_open(const char *spec, ldm_vk_ctx **out);
void ldm_vk_close(ldm_vk_ctx *ctx);
const ldm_vk_device_info *ldm_vk_info(const ldm_vk_ctx *ctx);
/* Effective limits after LDM_VK_MAX_SHARED, LDM_VK_MAX_BUFFER_RANGE, LDM_VK_DISABLE_FP16,
 * LDM_VK_DISABLE_SUBGROUP overrides. */
struct ldm_dev_limits;
const struct ldm_dev_limits *ldm_vk_limits(const ldm_vk_ctx *ctx);

/* Validation messages (warnings + errors) seen by the debug messenger since start. */
uint64_t ldm_vk_validation_messages(void);
/* Number of pipelines created by this context (cache effectiveness). */
int ldm_vk_pipeline_count(const ldm_vk_ctx *ctx);
/* Shader variant of the i-th pipeline created (which shaders a workload launched). */
const char *ldm_vk_pipeline_shader(const ldm_vk_ctx *ctx, int i);

/* Check mode is a per-executor option: ldm_exec_set_check (ldm/backend.h); LDM_CHECK=1 when the context
 * is opened makes it the default of its executors. */

#ifdef __cplusplus
}
#endif
#endif
