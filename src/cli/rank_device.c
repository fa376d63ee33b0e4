/* The device of a data-parallel rank (src/cli/comm.h): one rank per GPU of the machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/comm.h"
#include "ldm/vk.h"

int cli_launched_size(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
  for (int i = 0; i < 3; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return atoi(v) > 0 ? atoi(v) : 1;
  }
  return getenv("PMIX_RANK") ? 1 : 0; /* a PMIx launcher that does not export the size */
}

void cli_rank_device(const char *device, int local_rank, int local_size, char *out, size_t n, bool *shared) {
  snprintf(out, n, "%s", device);
  *shared = false;
  bool vk = strcmp(device, "vk") == 0, any = device[0] == 0;
  if (!vk && !any) return; /* vk:N, cpu: as given */
  ldm_vk_device_info *l = NULL;
  int nd = 0;
  if (ldm_vk_list(&l, &nd) != LDM_OK) { /* no Vulkan: the backend's own choice says why */
    ldm_clear_error();
    return;
  }
  static const char *kinds[] = {"discrete", "integrated", "virtual"};
  int gpus[64], ng = 0;
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < nd && ng < 64; i++)
      if (l[i].has_compute && strcmp(l[i].type, kinds[k]) == 0) gpus[ng++] = i;
  free(l);
  if (ng == 0) { /* no GPU: "vk" is the default (CPU) device for all, the automatic choice the CPU backend */
    *shared = local_size > 1 && vk;
    return;
  }
  snprintf(out, n, "vk:%d", gpus[local_rank % ng]);
  *shared = local_size > ng;
}
