/* Physical-device description: properties, memory heaps, limits and the optional features and extensions
 * ldm-vk detects (ldm_vk_describe), and the default choice among devices (ldm_vk_pick_default). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vk/vk_internal.h"

static const char *vendor_name(uint32_t id) {
  switch (id) {
  case 0x1002: return "AMD";
  case 0x10DE: return "NVIDIA";
  case 0x8086: return "Intel";
  case 0x13B5: return "ARM";
  case 0x5143: return "Qualcomm";
  case 0x1010: return "ImgTec";
  case 0x106B: return "Apple";
  case 0x10005: return "Mesa";
  default: return "unknown";
  }
}

static bool dev_has_ext(VkPhysicalDevice p, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(p, NULL, &n, NULL) != VK_SUCCESS) return false;
  VkExtensionProperties *e = calloc(n ? n : 1, sizeof *e);
  if (!e) return false;
  bool found = false;
  if (vkEnumerateDeviceExtensionProperties(p, NULL, &n, e) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(e[i].extensionName, name) == 0) found = true;
  free(e);
  return found;
}

/* The compute units a workgroup runs on (SMs, CUs, shader cores), from the vendor extension whose
 * properties report them (querying properties needs only the extension to be supported), else a guess by
 * device type: 16 for a discrete GPU, 8 for an integrated or virtual one, the host's online cores for a CPU
 * implementation (lavapipe runs a workgroup per thread), 8 otherwise. */
static void compute_units(VkPhysicalDevice p, const VkPhysicalDeviceProperties *P, ldm_vk_device_info *d) {
  bool nv = dev_has_ext(p, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
  bool amd = dev_has_ext(p, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
  bool arm = dev_has_ext(p, VK_ARM_SHADER_CORE_BUILTINS_EXTENSION_NAME);
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
  VkPhysicalDeviceShaderCorePropertiesAMD cu = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
  VkPhysicalDeviceShaderCoreBuiltinsPropertiesARM core = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_BUILTINS_PROPERTIES_ARM};
  void *chain = NULL;
  if (nv) sm.pNext = chain, chain = &sm;
  if (amd) cu.pNext = chain, chain = &cu;
  if (arm) core.pNext = chain, chain = &core;
  if (chain) {
    VkPhysicalDeviceProperties2 pr = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = chain};
    vkGetPhysicalDeviceProperties2(p, &pr);
  }
  uint32_t amd_cus = cu.shaderEngineCount * cu.shaderArraysPerEngineCount * cu.computeUnitsPerShaderArray;
  if (nv && sm.shaderSMCount) {
    d->compute_units = sm.shaderSMCount;
    snprintf(d->cu_source, sizeof d->cu_source, "SMs, VK_NV_shader_sm_builtins");
  } else if (amd && amd_cus) {
    d->compute_units = amd_cus;
    snprintf(d->cu_source, sizeof d->cu_source, "CUs, VK_AMD_shader_core_properties (%u x %u x %u)",
             cu.shaderEngineCount, cu.shaderArraysPerEngineCount, cu.computeUnitsPerShaderArray);
  } else if (arm && core.shaderCoreCount) {
    d->compute_units = core.shaderCoreCount;
    snprintf(d->cu_source, sizeof d->cu_source, "cores, VK_ARM_shader_core_builtins");
  } else if (P->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    d->compute_units = n > 0 ? (uint32_t)n : 1;
    snprintf(d->cu_source, sizeof d->cu_source, "a guess: the host's online cores (a CPU implementation)");
  } else {
    bool disc = P->deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
    bool igp = P->deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU || P->deviceType == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU;
    d->compute_units = disc ? 16 : 8;
    snprintf(d->cu_source, sizeof d->cu_source, "a guess for a%s device (no extension reports it)",
             disc ? " discrete" : igp ? "n integrated or virtual" : "n unknown");
  }
}

/* Properties (with subgroup properties, and driver name on 1.2), memory heaps, the limits the op planners
 * use, the features fp16 / int8 / 8- and 16-bit storage / subgroup extended types / subgroup size control
 * (enabled by ldm_vk_open as ldm_vk_choose_enable says) and the cooperative-matrix extensions (reported
 * only: no shader uses them), and whether the first compute queue family has timestamps. */
void ldm_vk_describe(VkPhysicalDevice p, int index, const ldm_env *env, ldm_vk_device_info *d) {
  memset(d, 0, sizeof *d);
  d->index = index;
  VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &sg};
  VkPhysicalDeviceProperties props0;
  vkGetPhysicalDeviceProperties(p, &props0);
  bool v12 = props0.apiVersion >= VK_API_VERSION_1_2;
  /* the driver properties struct is only valid to chain on a 1.2 device */
  VkPhysicalDeviceProperties2 pr = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = v12 ? (void *)&drv : (void *)&sg};
  vkGetPhysicalDeviceProperties2(p, &pr);
  const VkPhysicalDeviceProperties *P = &pr.properties;
  snprintf(d->name, sizeof d->name, "%s", P->deviceName);
  d->vendor_id = P->vendorID;
  d->device_id = P->deviceID;
  snprintf(d->vendor, sizeof d->vendor, "%s", vendor_name(P->vendorID));
  const char *ty = "other";
  switch (P->deviceType) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: ty = "discrete"; break;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: ty = "integrated"; break;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: ty = "virtual"; break;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: ty = "cpu"; break;
  default: break;
  }
  snprintf(d->type, sizeof d->type, "%s", ty);
  if (v12)
    snprintf(d->driver, sizeof d->driver, "%.120s %.120s", drv.driverName, drv.driverInfo);
  else
    snprintf(d->driver, sizeof d->driver, "version 0x%x", P->driverVersion);
  snprintf(d->api_version, sizeof d->api_version, "%u.%u.%u", VK_API_VERSION_MAJOR(P->apiVersion),
           VK_API_VERSION_MINOR(P->apiVersion), VK_API_VERSION_PATCH(P->apiVersion));
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(p, &mp);
  d->heap_count = (int)(mp.memoryHeapCount < 16 ? mp.memoryHeapCount : 16);
  for (int i = 0; i < d->heap_count; i++) {
    d->heap_size[i] = mp.memoryHeaps[i].size;
    d->heap_device_local[i] = mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
    if (d->heap_device_local[i]) d->device_local_bytes += mp.memoryHeaps[i].size;
  }
  for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
    if (mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
      d->host_visible_bytes = mp.memoryHeaps[mp.memoryTypes[i].heapIndex].size;
      break;
    }
  d->subgroup_size = sg.subgroupSize;
  d->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                      (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  d->max_shared = P->limits.maxComputeSharedMemorySize;
  d->max_buffer_range = P->limits.maxStorageBufferRange;
  d->max_wg_invocations = P->limits.maxComputeWorkGroupInvocations;
  if (v12) {
    bool has_ssc = dev_has_ext(p, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT ssc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .pNext = has_ssc ? &ssc : NULL};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 f = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    vkGetPhysicalDeviceFeatures2(p, &f);
    d->fp16 = f12.shaderFloat16;
    d->int8 = f12.shaderInt8;
    d->storage16 = f11.storageBuffer16BitAccess;
    d->storage8 = f12.storageBuffer8BitAccess;
    d->subgroup_ext_types = f12.shaderSubgroupExtendedTypes;
    d->subgroup_size_control = has_ssc && ssc.subgroupSizeControl;
  }
  d->coop_matrix_khr = dev_has_ext(p, "VK_KHR_cooperative_matrix");
  d->coop_matrix2_nv = dev_has_ext(p, "VK_NV_cooperative_matrix2");
  compute_units(p, P, d);
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(p, &nq, NULL);
  VkQueueFamilyProperties qf[32];
  if (nq > 32) nq = 32;
  vkGetPhysicalDeviceQueueFamilyProperties(p, &nq, qf);
  for (uint32_t i = 0; i < nq; i++)
    if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      d->has_compute = true;
      d->timestamps = qf[i].timestampValidBits > 0 && P->limits.timestampPeriod > 0;
      break;
    }
  d->v12_features = v12;
  ldm_vk_choose_enable(d, env, NULL, d->enabled, sizeof d->enabled);
}

void ldm_vk_choose_enable(const ldm_vk_device_info *d, const ldm_env *env, ldm_vk_enable *en, char *names, size_t cap) {
  ldm_vk_enable e = {.v12 = d->v12_features};
  e.fp16 = e.v12 && d->fp16 && !env->vk_no_fp16;
  e.storage16 = e.v12 && d->storage16 && !env->vk_no_fp16;
  e.int8 = e.v12 && d->int8 && !env->vk_no_int8;
  e.storage8 = e.v12 && d->storage8 && !env->vk_no_int8;
  e.subgroup_ext_types = e.v12 && d->subgroup_ext_types && !env->vk_no_subgroup;
  e.subgroup_size_control = e.v12 && d->subgroup_size_control && !env->vk_no_subgroup;
  e.subgroup_arith = d->subgroup_arith && !env->vk_no_subgroup;
  if (en) *en = e;
  if (!names || cap == 0) return;
  const struct {
    bool on;
    const char *name;
  } list[] = {{e.fp16, "shaderFloat16"},
              {e.storage16, "storageBuffer16BitAccess"},
              {e.int8, "shaderInt8"},
              {e.storage8, "storageBuffer8BitAccess"},
              {e.subgroup_ext_types, "shaderSubgroupExtendedTypes"},
              {e.subgroup_size_control, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME},
              {e.subgroup_arith, "subgroup-arithmetic"}};
  size_t k = 0;
  names[0] = 0;
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
    if (list[i].on && k < cap) {
      int w = snprintf(names + k, cap - k, "%s%s", k ? " " : "", list[i].name);
      if (w > 0) k += (size_t)w;
    }
}

/* the first device with a compute queue: discrete, then integrated, virtual, CPU (lavapipe), other */
int ldm_vk_pick_default(const ldm_vk_device_info *l, int n) {
  static const char *rank[] = {"discrete", "integrated", "virtual", "cpu", "other"};
  for (int r = 0; r < 5; r++)
    for (int i = 0; i < n; i++)
      if (l[i].has_compute && strcmp(l[i].type, rank[r]) == 0) return i;
  return -1;
}

