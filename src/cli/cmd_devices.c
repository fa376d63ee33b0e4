/* `ldm-vk devices`: every Vulkan device with what ldm-vk cares about. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/plan.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "ldm/vk.h"

int ldm_cmd_devices(int argc, char **argv) {
  int r = ldm_args_parse("devices",
                         "usage: ldm-vk devices\n\nLists Vulkan devices: name, vendor, driver, type, API version, memory heaps,\n"
                         "subgroup size, shared memory, max storage buffer range, fp16/int8/cooperative-matrix support,\n"
                         "compute units (the tile choice's wave: reported by a vendor extension or a stated guess),\n"
                         "and which one `--device vk` picks. `--device vk:N` selects device N; `--device cpu` the CPU reference.",
                         NULL, 0, argc, argv);
  if (r) return r == 1 ? 0 : 2;
  ldm_vk_device_info *l = NULL;
  int n = 0;
  if (ldm_vk_list(&l, &n) != LDM_OK) {
    fprintf(stderr, "ldm-vk: %s\n", ldm_last_error());
    printf("cpu: the CPU reference backend is always available (--device cpu)\n");
    return 1;
  }
  int pick = ldm_vk_pick_default(l, n);
  for (int i = 0; i < n; i++) {
    const ldm_vk_device_info *d = &l[i];
    printf("vk:%d  %s%s\n", i, d->name, i == pick ? "   <- --device vk" : "");
    printf("      vendor %s (0x%04x), device 0x%04x, type %s, Vulkan %s\n", d->vendor, d->vendor_id, d->device_id,
           d->type, d->api_version);
    printf("      driver %s\n", d->driver);
    printf("      memory heaps:");
    for (int h = 0; h < d->heap_count; h++)
      printf(" %.1f GiB%s", (double)d->heap_size[h] / 1073741824.0, d->heap_device_local[h] ? " (device-local)" : "");
    printf("\n      subgroup %u%s, shared memory %u KiB, max buffer range %.0f MiB, max workgroup %u\n",
           d->subgroup_size, d->subgroup_arith ? " (arithmetic ops)" : "", d->max_shared / 1024,
           (double)d->max_buffer_range / 1048576.0, d->max_wg_invocations);
    printf("      fp16 %s, int8 %s, 16-bit storage %s, cooperative matrix KHR %s, NV cooperative matrix2 %s, "
           "timestamps %s\n",
           d->fp16 ? "yes" : "no", d->int8 ? "yes" : "no", d->storage16 ? "yes" : "no", d->coop_matrix_khr ? "yes" : "no",
           d->coop_matrix2_nv ? "yes" : "no", d->timestamps ? "yes" : "no");
    printf("      compute units %u (%s); FMAs per DRAM byte %.0f (a guess by device class, for the split-K choice)\n",
           d->compute_units, d->cu_source, ldm_fma_per_byte_guess(d->type, d->compute_units));
    printf("      enabled: %s\n", d->enabled[0] ? d->enabled : "(none)");
  }
  printf("cpu   the CPU reference backend (--device cpu)\n");
  free(l);
  return 0;
}
