/* Vulkan backend internals, shared by the context (vk_ctx.c: instance, device, queue, pipelines, buffers,
 * one-shot submissions; vk_features.c: what a physical device has) and the executor (exec_vk.c: arenas,
 * descriptor sets, the recorded command buffer, barriers, timestamps, check mode).
 *
 * The model: one VkDevice with one queue (a compute queue family, compute-only if the device has one);
 * every submission is waited for on a fence before the call returns, so at most one submission per
 * executor is ever in flight and the host may touch mapped memory as soon as a call is back. */
#ifndef LDM_VK_INTERNAL_H
#define LDM_VK_INTERNAL_H
#include <volk.h>

#include "core/env.h"
#include "core/ops.h"
#include "ldm/vk.h"

/* "VK_ERROR_..." for a VkResult */
const char *ldm_vk_result_str(VkResult r);
/* Report a failed Vulkan call through the error convention: out of device memory becomes
 * LDM_ERR_DEVICE_MEMORY (with a hint), out of host memory LDM_ERR_NOMEM, device lost and the rest
 * LDM_ERR_VULKAN. VK_TRY returns that status from the calling function when the call fails. */
ldm_status ldm_vk_fail(VkResult r, const char *what, const char *file, int line);
#define VK_TRY(call, what)                                                                         \
  do {                                                                                             \
    VkResult vk_r_ = (call);                                                                       \
    if (vk_r_ != VK_SUCCESS) return ldm_vk_fail(vk_r_, (what), __FILE__, __LINE__);               \
  } while (0)

/* One compute pipeline. The key (shader, specialization constants, binding count, push-constant size)
 * fixes everything the pipeline is built from: a descriptor set layout of nbind storage buffers at
 * bindings 0..nbind-1 (the node's inputs, then its outputs), a pipeline layout of that one set plus a
 * push-constant range [0, pc_size) when pc_size > 0, and the specialized shader. */
typedef struct vk_pipe {
  char shader[64];
  uint32_t spec[LDM_MAX_SPEC], nspec, nbind, pc_size;
  VkDescriptorSetLayout dsl;
  VkPipelineLayout layout;
  VkPipeline pipe;
} vk_pipe;

/* A shader module, created once per shader and shared by all its pipelines (specializations). */
typedef struct vk_module {
  const char *name;
  VkShaderModule mod;
} vk_module;

/* What vkCreateDevice enables: each detected feature the shaders may use, unless its LDM_VK_DISABLE_*
 * switch forces it off (fp16 and 16-bit storage: _FP16; int8 and 8-bit storage: _INT8; subgroup extended
 * types and subgroup size control: _SUBGROUP). subgroup_arith is no feature to enable (a property), recorded
 * because the launch plans use it. */
typedef struct ldm_vk_enable {
  bool v12;                     /* the 1.1/1.2 feature structs are chained (a 1.2 device, as describe queried) */
  bool fp16, storage16, int8, storage8, subgroup_ext_types, subgroup_arith, subgroup_size_control;
} ldm_vk_enable;
/* vk_features.c: fill d from the physical device p (index: its place in the enumeration), d->enabled
 * from ldm_vk_choose_enable under env */
void ldm_vk_describe(VkPhysicalDevice p, int index, const ldm_env *env, ldm_vk_device_info *d);
/* the set enabled on a device described as d, under env; names (when not NULL, cap bytes) lists it */
void ldm_vk_choose_enable(const ldm_vk_device_info *d, const ldm_env *env, ldm_vk_enable *en, char *names, size_t cap);

struct ldm_vk_ctx {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice phys;
  VkDevice dev;
  /* queue 0 of family qfam: every submission of the backend goes to it */
  VkQueue queue;
  uint32_t qfam;
  /* of qfam, with RESET_COMMAND_BUFFER: the executor resets and re-records its command buffer in place */
  VkCommandPool pool;
  /* loaded from pcache_path at open, written back at close (VK_NULL_HANDLE: none; pcache_path "": no file) */
  VkPipelineCache pcache;
  char pcache_path[512];
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem;
  ldm_vk_device_info info;
  ldm_env env;        /* LDM_* switches, read when the context was opened */
  ldm_dev_limits lim;
  ldm_vk_enable en;   /* the features and extensions enabled at vkCreateDevice (info.enabled names them) */
  /* minStorageBufferOffsetAlignment (open refuses a device that needs more than LDM_ALIGN, the alignment of
   * every tensor's own storage in its arena); timestamp_period: nanoseconds per
   * tick; timestamps: the device reports a period and the queue's family has timestampValidBits */
  uint32_t min_offset_align;
  uint32_t max_storage_buffers; /* storage-buffer bindings of one pipeline: the per-stage and per-set limits */
  float timestamp_period;
  bool timestamps;
  /* grows by realloc: an executor keeps copies of the entries, never pointers into it */
  vk_pipe *pipes;
  int npipes, cap_pipes;
  vk_module *mods;
  int nmods, cap_mods;
};

/* pipelines: created on first use per (shader, spec tuple, bindings, push size), then reused */
ldm_status ldm_vk_pipeline(ldm_vk_ctx *c, const char *shader, const uint32_t *spec, uint32_t nspec, uint32_t nbind,
                           uint32_t pc_size, vk_pipe **out);

/* Buffers: size rounded up to a multiple of 256 bytes (0 -> 256), usable as storage buffer and as copy
 * source and destination, one queue family (exclusive). host_visible: HOST_VISIBLE | HOST_COHERENT memory,
 * mapped for the buffer's life (coherent, so no flush or invalidate is needed), HOST_CACHED preferred when
 * readback (the host reads it), else DEVICE_LOCAL preferred (resizable BAR, unified memory); otherwise
 * DEVICE_LOCAL memory. */
typedef struct vk_buf {
  VkBuffer buf;
  VkDeviceMemory mem;
  VkDeviceSize size;
  void *map; /* host-visible buffers stay mapped */
  VkMemoryPropertyFlags flags; /* of the memory type it got */
} vk_buf;
ldm_status ldm_vk_buffer(ldm_vk_ctx *c, VkDeviceSize size, bool host_visible, bool readback, vk_buf *out);
void ldm_vk_buffer_free(ldm_vk_ctx *c, vk_buf *b);
/* One-shot command buffer: begin (ONE_TIME_SUBMIT, from the context's pool), the caller records, end
 * submits it on the queue with a fresh fence, waits for the fence without a timeout and frees the command
 * buffer: when it returns, all the recorded work has completed. */
ldm_status ldm_vk_oneshot_begin(ldm_vk_ctx *c, VkCommandBuffer *cb);
ldm_status ldm_vk_oneshot_end(ldm_vk_ctx *c, VkCommandBuffer cb);

#endif
