/* The target GPUs of the performance model. Every constant and its source is in docs/perf.md ("Targets");
 * the figures of vendor spec sheets are marked there, the rest are estimates to be recalibrated on a real
 * run. The limits are what the device's Vulkan driver reports, so the launch plans are the ones it gets. */
#include <string.h>

#include "perf/perf.h"
#include "vk/plan.h"

#define GIB (UINT64_C(1) << 30)

static ldm_perf_target targets[] = { /* lim.fma_per_byte: ldm_perf_targets */
    {"h200", "NVIDIA H200 SXM (datacentre, Hopper)", 132, "SMs", 67.0, 4800.0, 128, 128, 0.10, 0.80, 1.5, 3.0,
     {.compute_units = 132, .cu_source = "the target's SMs", .max_shared = 48u << 10, .subgroup_size = 32, .fp16 = true, .max_wg_invocations = 1024,
      .max_buffer_range = 4 * GIB - 1}, "discrete"},
    {"rtx4060", "NVIDIA GeForce RTX 4060 (mid-range discrete, Ada)", 24, "SMs", 15.11, 272.0, 128, 128, 0.10, 0.80,
     1.5, 3.0,
     {.compute_units = 24, .cu_source = "the target's SMs", .max_shared = 48u << 10, .subgroup_size = 32, .fp16 = true, .max_wg_invocations = 1024,
      .max_buffer_range = 4 * GIB - 1}, "discrete"},
    {"rx7600", "AMD Radeon RX 7600 (mid-range discrete, RDNA 3)", 32, "CUs", 21.75, 288.0, 128, 128, 0.10, 0.80, 2.0,
     4.0,
     {.compute_units = 32, .cu_source = "the target's CUs", .max_shared = 64u << 10, .subgroup_size = 64, .fp16 = true, .max_wg_invocations = 1024,
      .max_buffer_range = 4 * GIB - 1}, "discrete"},
    {"iris-xe", "Intel Iris Xe, 96 EUs (integrated, Xe-LP)", 6, "subslices", 2.07, 68.3, 64, 128, 0.10, 0.70, 3.0,
     6.0,
     {.compute_units = 6, .cu_source = "the target's subslices", .max_shared = 64u << 10, .subgroup_size = 32, .fp16 = true, .max_wg_invocations = 1024,
      .max_buffer_range = GIB}, "integrated"},
    {"mali-g710", "Arm Mali-G710 MC10 (mobile, Valhall)", 10, "cores", 1.09, 51.2, 64, 64, 0.10, 0.60, 4.0, 8.0,
     {.compute_units = 10, .cu_source = "the target's cores", .max_shared = 32u << 10, .subgroup_size = 16, .fp16 = true, .max_wg_invocations = 1024,
      .max_buffer_range = GIB}, "integrated"},
};

const ldm_perf_target *ldm_perf_targets(int *count) {
  *count = (int)(sizeof targets / sizeof targets[0]);
  /* the plan's workspace weight as a real device of the class gets it */
  for (int i = 0; i < *count; i++) targets[i].lim.fma_per_byte = ldm_fma_per_byte_guess(targets[i].type, targets[i].cus);
  return targets;
}

const ldm_perf_target *ldm_perf_target_find(const char *name) {
  int n;
  const ldm_perf_target *t = ldm_perf_targets(&n);
  for (int i = 0; i < n; i++)
    if (strcmp(t[i].name, name) == 0) return &t[i];
  return NULL;
}

double ldm_perf_tiled_eff(const ldm_perf_target *t, double b_per_fma) {
  double lds = t->lds_bytes_clk / ((b_per_fma > 0 ? b_per_fma : 2.0) * t->fp32_lanes);
  return LDM_TILE_PEAK_EFF * (lds < 1.0 ? lds : 1.0);
}

double ldm_perf_eff(const ldm_perf_target *t, ldm_perf_kclass kc) {
  if (kc == LDM_KC_TILED) return ldm_perf_tiled_eff(t, 2.0);
  if (kc == LDM_KC_NAIVE) return t->naive_eff;
  return 0.5; /* elementwise and reductions: their few FLOPs never decide (bytes do) */
}
