/* Vulkan context: loader (volk), instance + validation, device enumeration and opening, limits,
 * pipelines with a persistent VkPipelineCache, buffers and one-shot submissions. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/shaders.h"
#include "ldm/log.h"
#include "vk/plan.h"
#include "vk/vk_internal.h"

/* validation warnings and errors seen by debug_cb in this process (the tests expect none) */
static atomic_ullong validation_msgs;

uint64_t ldm_vk_validation_messages(void) { return atomic_load(&validation_msgs); }

const char *ldm_vk_result_str(VkResult r) {
  switch (r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE) C(VK_ERROR_OUT_OF_HOST_MEMORY)
    C(VK_ERROR_OUT_OF_DEVICE_MEMORY) C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST)
    C(VK_ERROR_MEMORY_MAP_FAILED) C(VK_ERROR_LAYER_NOT_PRESENT) C(VK_ERROR_EXTENSION_NOT_PRESENT)
    C(VK_ERROR_FEATURE_NOT_PRESENT) C(VK_ERROR_INCOMPATIBLE_DRIVER) C(VK_ERROR_TOO_MANY_OBJECTS)
    C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL) C(VK_ERROR_OUT_OF_POOL_MEMORY)
    C(VK_ERROR_INVALID_SHADER_NV) C(VK_ERROR_UNKNOWN)
#undef C
  default: return "VK_ERROR (unlisted)";
  }
}

ldm_status ldm_vk_fail(VkResult r, const char *what, const char *file, int line) {
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
    return ldm_set_error(LDM_ERR_DEVICE_MEMORY, file, line,
                         "out of device memory (%s); try a smaller --batch or --device cpu", what);
  if (r == VK_ERROR_OUT_OF_HOST_MEMORY)
    return ldm_set_error(LDM_ERR_NOMEM, file, line, "out of host memory in the Vulkan driver (%s)", what);
  if (r == VK_ERROR_DEVICE_LOST)
    return ldm_set_error(LDM_ERR_VULKAN, file, line, "the GPU was lost (%s): driver crash or timeout", what);
  return ldm_set_error(LDM_ERR_VULKAN, file, line, "%s failed: %s", what, ldm_vk_result_str(r));
}

/* counts and logs the layer's warnings and errors; VK_FALSE: the call that caused one is not aborted */
static VKAPI_ATTR VkBool32 VKAPI_CALL debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                               VkDebugUtilsMessageTypeFlagsEXT type,
                                               const VkDebugUtilsMessengerCallbackDataEXT *d, void *user) {
  if (sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
    atomic_fetch_add(&validation_msgs, 1);
    bool err = (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0;
    ldm_log(err ? LDM_LOG_ERROR : LDM_LOG_WARN, "ldm-vk: Vulkan validation %s: %s", err ? "error" : "warning",
            d && d->pMessage ? d->pMessage : "(no message)");
  }
  return VK_FALSE;
}

static bool loader_ready;

static ldm_status load_loader(void) {
  if (loader_ready) return LDM_OK;
  if (volkInitialize() != VK_SUCCESS)
    return LDM_FAIL(LDM_ERR_NO_DEVICE,
                    "no Vulkan loader found (libvulkan.so.1); install libvulkan1 and a driver, or use --device cpu");
  loader_ready = true;
  return LDM_OK;
}

static bool has_layer(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
  VkLayerProperties *l = calloc(n, sizeof *l);
  if (!l) return false;
  bool found = false;
  if (vkEnumerateInstanceLayerProperties(&n, l) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(l[i].layerName, name) == 0) found = true;
  free(l);
  return found;
}

static bool has_instance_ext(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS) return false;
  VkExtensionProperties *e = calloc(n ? n : 1, sizeof *e);
  if (!e) return false;
  bool found = false;
  if (vkEnumerateInstanceExtensionProperties(NULL, &n, e) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(e[i].extensionName, name) == 0) found = true;
  free(e);
  return found;
}

/* API 1.2 when the loader has it (driver properties and the 1.1/1.2 feature structs used by describe are
 * core there), else 1.1 (vkGetPhysicalDeviceProperties2, subgroup properties). The validation layer only
 * when asked for, and then it must exist; a messenger only with validation. */
static ldm_status make_instance(bool validation, VkInstance *inst, VkDebugUtilsMessengerEXT *msg) {
  LDM_TRY(load_loader());
  uint32_t api = VK_API_VERSION_1_1;
  if (vkEnumerateInstanceVersion) {
    uint32_t v = 0;
    if (vkEnumerateInstanceVersion(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_2) api = VK_API_VERSION_1_2;
  }
  const char *layers[1];
  uint32_t nl = 0;
  const char *exts[1];
  uint32_t ne = 0;
  if (validation) {
    if (!has_layer("VK_LAYER_KHRONOS_validation"))
      return LDM_FAIL(LDM_ERR_UNSUPPORTED,
                      "LDM_VK_VALIDATION=1 but VK_LAYER_KHRONOS_validation is not installed (vulkan-validationlayers)");
    layers[nl++] = "VK_LAYER_KHRONOS_validation";
  }
  bool dbg = has_instance_ext(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  if (dbg) exts[ne++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "ldm-vk",
                           .applicationVersion = 1, .pEngineName = "ldm-vk", .apiVersion = api};
  VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app,
                             .enabledLayerCount = nl, .ppEnabledLayerNames = layers,
                             .enabledExtensionCount = ne, .ppEnabledExtensionNames = exts};
  VkDebugUtilsMessengerCreateInfoEXT mci = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = debug_cb};
  /* chained into the instance info, the messenger also covers vkCreateInstance / vkDestroyInstance */
  if (dbg && validation) ci.pNext = &mci; /* also catch messages of instance creation itself */
  VkResult r = vkCreateInstance(&ci, NULL, inst);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED)
    return LDM_FAIL(LDM_ERR_NO_DEVICE, "no Vulkan driver could be initialised (%s); use --device cpu",
                    ldm_vk_result_str(r));
  VK_TRY(r, "vkCreateInstance");
  volkLoadInstance(*inst);
  *msg = VK_NULL_HANDLE;
  if (dbg && validation) VK_TRY(vkCreateDebugUtilsMessengerEXT(*inst, &mci, NULL, msg), "vkCreateDebugUtilsMessengerEXT");
  return LDM_OK;
}

/* All physical devices; VK_INCOMPLETE (a device appeared between the two calls) keeps those that fit. */
static ldm_status enumerate(VkInstance inst, VkPhysicalDevice **phys, uint32_t *n) {
  *n = 0;
  VK_TRY(vkEnumeratePhysicalDevices(inst, n, NULL), "vkEnumeratePhysicalDevices");
  if (*n == 0)
    return LDM_FAIL(LDM_ERR_NO_DEVICE, "no Vulkan device found; install a Vulkan driver (e.g. mesa-vulkan-drivers) or use --device cpu");
  *phys = ldm_calloc(*n, sizeof **phys);
  if (!*phys) return LDM_ERR_NOMEM;
  VkResult r = vkEnumeratePhysicalDevices(inst, n, *phys);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    free(*phys);
    return ldm_vk_fail(r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
  }
  return LDM_OK;
}

ldm_status ldm_vk_list(ldm_vk_device_info **list, int *n) {
  VkInstance inst;
  VkDebugUtilsMessengerEXT msg;
  ldm_env env;
  ldm_env_read(&env);
  LDM_TRY(make_instance(env.vk_validation, &inst, &msg));
  VkPhysicalDevice *phys = NULL;
  uint32_t np = 0;
  ldm_status s = enumerate(inst, &phys, &np);
  if (s == LDM_OK) {
    *list = ldm_calloc(np, sizeof **list);
    if (!*list) s = LDM_ERR_NOMEM;
    else {
      for (uint32_t i = 0; i < np; i++) ldm_vk_describe(phys[i], (int)i, &env, &(*list)[i]);
      *n = (int)np;
    }
  }
  free(phys);
  if (msg) vkDestroyDebugUtilsMessengerEXT(inst, msg, NULL);
  vkDestroyInstance(inst, NULL);
  return s;
}

/* a limit from the environment can only lower the device's own (0 = not set) */

/* LDM_VK_PIPELINE_CACHE, else $XDG_CACHE_HOME/ldm-vk or ~/.cache/ldm-vk (made if missing), one file per
 * vendor and device id so a cache is only offered to the kind of GPU that wrote it; "" when none. */
static void pcache_path(ldm_vk_ctx *c) {
  const char *e = c->env.vk_pipeline_cache;
  c->pcache_path[0] = 0;
  if (e && strcmp(e, "off") == 0) return;
  if (e && *e) {
    snprintf(c->pcache_path, sizeof c->pcache_path, "%s", e);
    return;
  }
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char dir[400];
  if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/ldm-vk", xdg);
  else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/ldm-vk", home);
  else return;
  char parent[400];
  snprintf(parent, sizeof parent, "%s", dir);
  char *slash = strrchr(parent, '/');
  if (slash) {
    *slash = 0;
    if (mkdir(parent, 0755) != 0 && errno != EEXIST) return;
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return;
  snprintf(c->pcache_path, sizeof c->pcache_path, "%s/pipelines-%04x-%04x.bin", dir, c->info.vendor_id,
           c->info.device_id);
}

/* The context's VkPipelineCache, seeded from the file when it exists and is under 64 MiB. The driver checks
 * the data's header (vendor, device, pipelineCacheUUID) and ignores data it cannot use; a driver that fails
 * instead gets a second, empty try. Without a cache (VK_NULL_HANDLE) pipelines are compiled every time. */
static void load_pcache(ldm_vk_ctx *c) {
  pcache_path(c);
  void *data = NULL;
  size_t size = 0;
  if (c->pcache_path[0]) {
    FILE *f = fopen(c->pcache_path, "rb");
    if (f) {
      if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz > 0 && sz < (64l << 20) && fseek(f, 0, SEEK_SET) == 0) {
          data = malloc((size_t)sz);
          if (data && fread(data, 1, (size_t)sz, f) == (size_t)sz) size = (size_t)sz;
        }
      }
      fclose(f);
    }
  }
  VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO, .initialDataSize = size,
                                  .pInitialData = size ? data : NULL};
  if (vkCreatePipelineCache(c->dev, &ci, NULL, &c->pcache) != VK_SUCCESS) {
    ci.initialDataSize = 0; /* a stale or foreign cache: start empty */
    ci.pInitialData = NULL;
    if (vkCreatePipelineCache(c->dev, &ci, NULL, &c->pcache) != VK_SUCCESS) c->pcache = VK_NULL_HANDLE;
  }
  free(data);
}

/* At close, when this context created pipelines: the driver's cache data through "<path>.tmp.<pid>" and
 * rename (a concurrent reader never sees half a file); not fsync'd, never fatal: a lost cache costs only
 * compile time. */
static void save_pcache(ldm_vk_ctx *c) {
  if (!c->pcache || !c->pcache_path[0] || c->npipes == 0) return;
  size_t sz = 0;
  if (vkGetPipelineCacheData(c->dev, c->pcache, &sz, NULL) != VK_SUCCESS || sz == 0) return;
  void *d = malloc(sz);
  if (!d) return;
  if (vkGetPipelineCacheData(c->dev, c->pcache, &sz, d) == VK_SUCCESS) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", c->pcache_path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f) {
      bool ok = fwrite(d, 1, sz, f) == sz;
      ok = (fclose(f) == 0) && ok;
      if (!ok || rename(tmp, c->pcache_path) != 0) remove(tmp); /* a cache is optional: never fatal */
    }
  }
  free(d);
}

/* "vk" (the default device) or "vk:N": instance, device choice, alignment check, queue family, device and
 * queue, command pool, effective limits, pipeline cache; on failure ldm_vk_close undoes a partial context. */
ldm_status ldm_vk_open(const char *spec, ldm_vk_ctx **out) {
  int want = -1;
  if (spec && strncmp(spec, "vk:", 3) == 0) {
    char *end;
    long v = strtol(spec + 3, &end, 10);
    if (end == spec + 3 || *end || v < 0)
      return LDM_FAIL(LDM_ERR_INVALID_ARG, "--device %s: expected vk, vk:N or cpu", spec);
    want = (int)v;
  } else if (spec && strcmp(spec, "vk") != 0) {
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--device %s: expected vk, vk:N or cpu", spec);
  }
  ldm_vk_ctx *c = ldm_calloc(1, sizeof *c);
  if (!c) return LDM_ERR_NOMEM;
  ldm_env_read(&c->env); /* the switches this context lives by, read once */
  if (c->env.vk_tile_bad) {
    ldm_status bad = LDM_FAIL(LDM_ERR_INVALID_ARG, "LDM_VK_TILE=%s: expected auto, large, medium, small, narrow or wide",
                              c->env.vk_tile_str);
    free(c);
    return bad;
  }
  ldm_status s = make_instance(c->env.vk_validation, &c->instance, &c->messenger);
  if (s != LDM_OK) {
    free(c);
    return s;
  }
  VkPhysicalDevice *phys = NULL;
  uint32_t np = 0;
  s = enumerate(c->instance, &phys, &np);
  if (s != LDM_OK) {
    ldm_vk_close(c);
    return s;
  }
  ldm_vk_device_info *infos = ldm_calloc(np, sizeof *infos);
  if (!infos) {
    free(phys);
    ldm_vk_close(c);
    return LDM_ERR_NOMEM;
  }
  for (uint32_t i = 0; i < np; i++) ldm_vk_describe(phys[i], (int)i, &c->env, &infos[i]);
  int pick = want >= 0 ? want : ldm_vk_pick_default(infos, (int)np);
  if (pick < 0 || pick >= (int)np || !infos[pick].has_compute) {
    free(phys);
    free(infos);
    ldm_vk_close(c);
    if (want >= 0)
      return LDM_FAIL(LDM_ERR_INVALID_ARG, "--device vk:%d: there are %u Vulkan devices (see `ldm-vk devices`)", want, np);
    return LDM_FAIL(LDM_ERR_NO_DEVICE, "no Vulkan device with a compute queue; use --device cpu");
  }
  c->phys = phys[pick];
  c->info = infos[pick];
  free(phys);
  free(infos);
  vkGetPhysicalDeviceProperties(c->phys, &c->props);
  vkGetPhysicalDeviceMemoryProperties(c->phys, &c->mem);
  /* descriptors bind tensors at arena offsets, multiples of LDM_ALIGN (views aside): valid offsets only here */
  c->min_offset_align = (uint32_t)c->props.limits.minStorageBufferOffsetAlignment;
  if (c->min_offset_align > LDM_ALIGN) {
    ldm_vk_close(c);
    return LDM_FAIL(LDM_ERR_UNSUPPORTED, "device needs %u-byte buffer offset alignment (ldm-vk aligns to %d)",
                    c->min_offset_align, LDM_ALIGN);
  }
  c->max_storage_buffers = c->props.limits.maxPerStageDescriptorStorageBuffers;
  if (c->props.limits.maxDescriptorSetStorageBuffers < c->max_storage_buffers)
    c->max_storage_buffers = c->props.limits.maxDescriptorSetStorageBuffers;
  c->timestamp_period = c->props.limits.timestampPeriod;
  c->timestamps = c->info.timestamps;
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, NULL);
  VkQueueFamilyProperties qf[32];
  if (nq > 32) nq = 32;
  vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, qf);
  /* a compute-only family (async compute, apart from graphics work) before any family with compute */
  c->qfam = UINT32_MAX;
  for (uint32_t i = 0; i < nq && c->qfam == UINT32_MAX; i++) /* prefer a compute-only queue */
    if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) c->qfam = i;
  for (uint32_t i = 0; i < nq && c->qfam == UINT32_MAX; i++)
    if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) c->qfam = i;
  /* describe looked at the first compute family; the chosen one must have timestamps too */
  c->timestamps = c->timestamps && qf[c->qfam].timestampValidBits > 0;
  /* One queue; the detected features the shaders may use, less those an LDM_VK_DISABLE_* switch forces off
   * (ldm_vk_choose_enable; c->info.enabled names them): the 1.1/1.2 feature structs and, when the device
   * has it, VK_EXT_subgroup_size_control with its feature struct. */
  ldm_vk_choose_enable(&c->info, &c->env, &c->en, NULL, 0);
  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = c->qfam,
                                 .queueCount = 1, .pQueuePriorities = &prio};
  VkPhysicalDeviceSubgroupSizeControlFeaturesEXT ssc = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT, .subgroupSizeControl = VK_TRUE};
  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                          .pNext = c->en.subgroup_size_control ? &ssc : NULL,
                                          .shaderFloat16 = c->en.fp16, .shaderInt8 = c->en.int8,
                                          .storageBuffer8BitAccess = c->en.storage8,
                                          .shaderSubgroupExtendedTypes = c->en.subgroup_ext_types};
  VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                          .pNext = &f12, .storageBuffer16BitAccess = c->en.storage16};
  VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
  const char *dexts[1];
  uint32_t ndext = 0;
  if (c->en.subgroup_size_control) dexts[ndext++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = c->en.v12 ? &f2 : NULL,
                            .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
                            .enabledExtensionCount = ndext, .ppEnabledExtensionNames = ndext ? dexts : NULL};
  VkResult r = vkCreateDevice(c->phys, &dci, NULL, &c->dev);
  if (r != VK_SUCCESS) {
    ldm_vk_close(c);
    return ldm_vk_fail(r, "vkCreateDevice", __FILE__, __LINE__);
  }
  volkLoadDevice(c->dev);
  vkGetDeviceQueue(c->dev, c->qfam, 0, &c->queue);
  /* RESET_COMMAND_BUFFER: the executor resets its command buffer (vkResetCommandBuffer) to re-record it */
  VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, .queueFamilyIndex = c->qfam};
  r = vkCreateCommandPool(c->dev, &pci, NULL, &c->pool);
  if (r != VK_SUCCESS) {
    ldm_vk_close(c);
    return ldm_vk_fail(r, "vkCreateCommandPool", __FILE__, __LINE__);
  }
  /* effective limits: the device's, then the switches (some forced lower to emulate small devices) */
  c->lim.max_shared = c->info.max_shared;
  c->lim.max_buffer_range = c->info.max_buffer_range;
  c->lim.subgroup_size = c->en.subgroup_arith ? c->info.subgroup_size : 0;
  c->lim.fp16 = c->en.fp16 && c->en.storage16; /* as enabled: a 1.2 device with both, not forced off */
  c->lim.max_wg_invocations = c->info.max_wg_invocations;
  ldm_limits_apply_switches(&c->env, &c->lim);
  c->lim.compute_units = c->info.compute_units ? c->info.compute_units : 1;
  c->lim.cu_source = c->info.cu_source;
  c->lim.fma_per_byte = ldm_fma_per_byte_guess(c->info.type, c->lim.compute_units);
  load_pcache(c);
  *out = c;
  return LDM_OK;
}

/* Idle the device (nothing may be in use), save the pipeline cache, destroy in reverse order of creation.
 * Executors must have been freed before. */
void ldm_vk_close(ldm_vk_ctx *c) {
  if (!c) return;
  if (c->dev) {
    vkDeviceWaitIdle(c->dev);
    save_pcache(c);
    for (int i = 0; i < c->npipes; i++) {
      vkDestroyPipeline(c->dev, c->pipes[i].pipe, NULL);
      vkDestroyPipelineLayout(c->dev, c->pipes[i].layout, NULL);
      vkDestroyDescriptorSetLayout(c->dev, c->pipes[i].dsl, NULL);
    }
    for (int i = 0; i < c->nmods; i++) vkDestroyShaderModule(c->dev, c->mods[i].mod, NULL);
    if (c->pcache) vkDestroyPipelineCache(c->dev, c->pcache, NULL);
    if (c->pool) vkDestroyCommandPool(c->dev, c->pool, NULL);
    vkDestroyDevice(c->dev, NULL);
  }
  free(c->pipes);
  free(c->mods);
  if (c->messenger) vkDestroyDebugUtilsMessengerEXT(c->instance, c->messenger, NULL);
  if (c->instance) vkDestroyInstance(c->instance, NULL);
  free(c);
}

const ldm_vk_device_info *ldm_vk_info(const ldm_vk_ctx *c) { return &c->info; }
const ldm_dev_limits *ldm_vk_limits(const ldm_vk_ctx *c) { return &c->lim; }
int ldm_vk_pipeline_count(const ldm_vk_ctx *c) { return c->npipes; }
const char *ldm_vk_pipeline_shader(const ldm_vk_ctx *c, int i) { return i >= 0 && i < c->npipes ? c->pipes[i].shader : NULL; }

static ldm_status get_module(ldm_vk_ctx *c, const char *shader, VkShaderModule *mod) {
  for (int i = 0; i < c->nmods; i++)
    if (strcmp(c->mods[i].name, shader) == 0) {
      *mod = c->mods[i].mod;
      return LDM_OK;
    }
  const ldm_shader_blob *b = ldm_shader_find(shader);
  if (!b) return LDM_FAIL(LDM_ERR_INTERNAL, "shader '%s' is not built into this binary", shader);
  if (c->nmods == c->cap_mods) {
    int cap = c->cap_mods ? c->cap_mods * 2 : 32;
    vk_module *m = realloc(c->mods, (size_t)cap * sizeof *m);
    if (!m) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory");
    c->mods = m;
    c->cap_mods = cap;
  }
  VkShaderModuleCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = b->size,
                                 .pCode = b->code};
  VK_TRY(vkCreateShaderModule(c->dev, &ci, NULL, mod), "vkCreateShaderModule");
  c->mods[c->nmods].name = b->name;
  c->mods[c->nmods].mod = *mod;
  c->nmods++;
  return LDM_OK;
}

/* Look up (linearly: only while an executor is prepared) or create the pipeline of a key, with its descriptor
 * set layout and pipeline layout (vk_pipe in vk_internal.h); modules are shared (get_module). */
ldm_status ldm_vk_pipeline(ldm_vk_ctx *c, const char *shader, const uint32_t *spec, uint32_t nspec, uint32_t nbind,
                           uint32_t pc_size, vk_pipe **out) {
  for (int i = 0; i < c->npipes; i++) {
    vk_pipe *p = &c->pipes[i];
    if (p->nspec == nspec && p->nbind == nbind && p->pc_size == pc_size && strcmp(p->shader, shader) == 0 &&
        memcmp(p->spec, spec, nspec * sizeof *spec) == 0) {
      *out = p;
      return LDM_OK;
    }
  }
  /* a node binds one storage buffer per input and output (up to 8: reduce_sum_multi4, channel_copy_multi4;
   * 9: group_norm_silu_backward); Vulkan guarantees only 4 per stage */
  if (nbind > c->max_storage_buffers)
    return LDM_FAIL(LDM_ERR_UNSUPPORTED, "shader '%s' binds %u storage buffers; this device allows %u per shader stage",
                    shader, nbind, c->max_storage_buffers);
  VkShaderModule mod;
  LDM_TRY(get_module(c, shader, &mod));
  if (c->npipes == c->cap_pipes) {
    int cap = c->cap_pipes ? c->cap_pipes * 2 : 32;
    vk_pipe *np = realloc(c->pipes, (size_t)cap * sizeof *np);
    if (!np) return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory");
    c->pipes = np;
    c->cap_pipes = cap;
  }
  vk_pipe *p = &c->pipes[c->npipes];
  memset(p, 0, sizeof *p);
  snprintf(p->shader, sizeof p->shader, "%s", shader);
  memcpy(p->spec, spec, nspec * sizeof *spec);
  p->nspec = nspec;
  p->nbind = nbind;
  p->pc_size = pc_size;
  /* binding k, a compute-stage storage buffer: the node's k-th input, then its outputs (prepare() in exec_vk.c) */
  VkDescriptorSetLayoutBinding b[LDM_MAX_IN + LDM_MAX_OUT];
  for (uint32_t i = 0; i < nbind; i++)
    b[i] = (VkDescriptorSetLayoutBinding){.binding = i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  VkDescriptorSetLayoutCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                         .bindingCount = nbind, .pBindings = b};
  VK_TRY(vkCreateDescriptorSetLayout(c->dev, &dci, NULL, &p->dsl), "vkCreateDescriptorSetLayout");
  /* a zero-sized push-constant range is invalid: none is declared when the node has no push constants */
  VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = pc_size};
  VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                    .pSetLayouts = &p->dsl, .pushConstantRangeCount = pc_size ? 1 : 0,
                                    .pPushConstantRanges = &pcr};
  VkResult r = vkCreatePipelineLayout(c->dev, &lci, NULL, &p->layout);
  if (r != VK_SUCCESS) {
    vkDestroyDescriptorSetLayout(c->dev, p->dsl, NULL);
    return ldm_vk_fail(r, "vkCreatePipelineLayout", __FILE__, __LINE__);
  }
  /* specialization constant i (constant_id = i) is the 4-byte word spec[i] */
  VkSpecializationMapEntry me[LDM_MAX_SPEC];
  for (uint32_t i = 0; i < nspec; i++) me[i] = (VkSpecializationMapEntry){i, i * 4, 4};
  VkSpecializationInfo si = {.mapEntryCount = nspec, .pMapEntries = me, .dataSize = nspec * 4, .pData = p->spec};
  VkComputePipelineCreateInfo ci = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = mod, .pName = "main", .pSpecializationInfo = nspec ? &si : NULL},
      .layout = p->layout};
  /* through the pipeline cache: a pipeline compiled by an earlier run is not compiled again */
  r = vkCreateComputePipelines(c->dev, c->pcache, 1, &ci, NULL, &p->pipe);
  if (r != VK_SUCCESS) {
    vkDestroyPipelineLayout(c->dev, p->layout, NULL);
    vkDestroyDescriptorSetLayout(c->dev, p->dsl, NULL);
    return ldm_vk_fail(r, "vkCreateComputePipelines", __FILE__, __LINE__);
  }
  c->npipes++;
  *out = p;
  return LDM_OK;
}

/* The first allowed memory type with all of want and none of avoid. The spec lists types with fewer
 * property flags first (of equal ones, the faster heap): the first match is the plainest that fits. */
static int find_mem(const ldm_vk_ctx *c, uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) {
  for (uint32_t i = 0; i < c->mem.memoryTypeCount; i++)
    if ((bits & (1u << i)) && (c->mem.memoryTypes[i].propertyFlags & want) == want &&
        !(c->mem.memoryTypes[i].propertyFlags & avoid))
      return (int)i;
  return -1;
}

ldm_status ldm_vk_buffer(ldm_vk_ctx *c, VkDeviceSize size, bool host_visible, bool readback, vk_buf *out) {
  memset(out, 0, sizeof *out);
  /* whole 256-byte blocks (LDM_ALIGN): the last tensor of an arena and rounded-up copies stay inside */
  if (size == 0) size = 256;
  size = (size + 255) / 256 * 256;
  out->size = size;
  VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                            .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                     VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                            .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VK_TRY(vkCreateBuffer(c->dev, &bci, NULL, &out->buf), "vkCreateBuffer");
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(c->dev, out->buf, &req);
  int mt = -1;
  const VkMemoryPropertyFlags HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  if (host_visible) {
    if (readback) mt = find_mem(c, req.memoryTypeBits, HV | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (mt < 0) mt = find_mem(c, req.memoryTypeBits, HV | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (mt < 0) mt = find_mem(c, req.memoryTypeBits, HV, 0);
  } else {
    mt = find_mem(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (mt < 0) mt = find_mem(c, req.memoryTypeBits, 0, 0);
  }
  if (mt < 0) {
    vkDestroyBuffer(c->dev, out->buf, NULL);
    return LDM_FAIL(LDM_ERR_UNSUPPORTED, "no suitable Vulkan memory type for a %s buffer",
                    host_visible ? "host-visible" : "device");
  }
  VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                             .memoryTypeIndex = (uint32_t)mt};
  out->flags = c->mem.memoryTypes[mt].propertyFlags;
  VkResult r = vkAllocateMemory(c->dev, &ai, NULL, &out->mem);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(c->dev, out->buf, NULL);
    out->buf = VK_NULL_HANDLE;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
      return LDM_FAIL(LDM_ERR_DEVICE_MEMORY,
                      "out of device memory allocating %.1f MiB; try a smaller --batch or --device cpu",
                      (double)size / 1048576.0);
    return ldm_vk_fail(r, "vkAllocateMemory", __FILE__, __LINE__);
  }
  r = vkBindBufferMemory(c->dev, out->buf, out->mem, 0);
  if (r == VK_SUCCESS && host_visible) r = vkMapMemory(c->dev, out->mem, 0, VK_WHOLE_SIZE, 0, &out->map);
  if (r != VK_SUCCESS) {
    ldm_vk_buffer_free(c, out);
    return ldm_vk_fail(r, "binding/mapping buffer memory", __FILE__, __LINE__);
  }
  return LDM_OK;
}

void ldm_vk_buffer_free(ldm_vk_ctx *c, vk_buf *b) {
  if (b->map) vkUnmapMemory(c->dev, b->mem);
  if (b->buf) vkDestroyBuffer(c->dev, b->buf, NULL);
  if (b->mem) vkFreeMemory(c->dev, b->mem, NULL);
  memset(b, 0, sizeof *b);
}

ldm_status ldm_vk_oneshot_begin(ldm_vk_ctx *c, VkCommandBuffer *cb) {
  VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c->pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
  VK_TRY(vkAllocateCommandBuffers(c->dev, &ai, cb), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VkResult r = vkBeginCommandBuffer(*cb, &bi);
  if (r != VK_SUCCESS) {
    vkFreeCommandBuffers(c->dev, c->pool, 1, cb);
    return ldm_vk_fail(r, "vkBeginCommandBuffer", __FILE__, __LINE__);
  }
  return LDM_OK;
}

/* A fresh fence per submission, waited for without a timeout: when this returns the queue has finished the
 * command buffer, so it may be freed and the caller may read mapped memory (made visible to the host by the
 * barrier each recording ends with). */
ldm_status ldm_vk_oneshot_end(ldm_vk_ctx *c, VkCommandBuffer cb) {
  VkResult r = vkEndCommandBuffer(cb);
  VkFence fence = VK_NULL_HANDLE;
  if (r == VK_SUCCESS) {
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vkCreateFence(c->dev, &fci, NULL, &fence);
  }
  if (r == VK_SUCCESS) {
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    r = vkQueueSubmit(c->queue, 1, &si, fence);
  }
  if (r == VK_SUCCESS) r = vkWaitForFences(c->dev, 1, &fence, VK_TRUE, UINT64_MAX);
  if (fence) vkDestroyFence(c->dev, fence, NULL);
  vkFreeCommandBuffers(c->dev, c->pool, 1, &cb);
  if (r != VK_SUCCESS) return ldm_vk_fail(r, "one-shot submission", __FILE__, __LINE__);
  return LDM_OK;
}
