/* Vulkan backend internals. */
#ifndef LDM_VK_INTERNAL_H
#define LDM_VK_INTERNAL_H
#include <volk.h>

#include "core/env.h"
#include "core/ops.h"
#include "ldm/vk.h"

const char *ldm_vk_result_str(VkResult r);
ldm_status ldm_vk_fail(VkResult r, const char *what, const char *file, int line);
#define VK_TRY(call, what)                                                                         \
  do {                                                                                             \
    VkResult vk_r_ = (call);                                                                       \
    if (vk_r_ != VK_SUCCESS) return ldm_vk_fail(vk_r_, (what), __FILE__, __LINE__);               \
  } while (0)

typedef struct vk_pipe {
  char shader[64];
  uint32_t spec[LDM_MAX_SPEC], nspec, nbind, pc_size;
  VkDescriptorSetLayout dsl;
  VkPipelineLayout layout;
  VkPipeline pipe;
} vk_pipe;

typedef struct vk_module {
  const char *name;
  VkShaderModule mod;
} vk_module;

struct ldm_vk_ctx {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice phys;
  VkDevice dev;
  VkQueue queue;
  uint32_t qfam;
  VkCommandPool pool;
  VkPipelineCache pcache;
  char pcache_path[512];
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem;
  ldm_vk_device_info info;
  ldm_env env;        /* LDM_* switches, read when the context was opened */
  ldm_dev_limits lim;
  uint32_t min_offset_align;
  float timestamp_period;
  bool timestamps;
  vk_pipe *pipes;
  int npipes, cap_pipes;
  vk_module *mods;
  int nmods, cap_mods;
};

/* pipelines: created on first use per (shader, spec tuple, bindings, push size), then reused */
ldm_status ldm_vk_pipeline(ldm_vk_ctx *c, const char *shader, const uint32_t *spec, uint32_t nspec, uint32_t nbind,
                           uint32_t pc_size, vk_pipe **out);

/* buffers */
typedef struct vk_buf {
  VkBuffer buf;
  VkDeviceMemory mem;
  VkDeviceSize size;
  void *map; /* host-visible buffers stay mapped */
} vk_buf;
ldm_status ldm_vk_buffer(ldm_vk_ctx *c, VkDeviceSize size, bool host_visible, bool readback, vk_buf *out);
void ldm_vk_buffer_free(ldm_vk_ctx *c, vk_buf *b);
/* one-shot command buffer: begin, (caller records), submit and wait */
ldm_status ldm_vk_oneshot_begin(ldm_vk_ctx *c, VkCommandBuffer *cb);
ldm_status ldm_vk_oneshot_end(ldm_vk_ctx *c, VkCommandBuffer cb);

#endif
