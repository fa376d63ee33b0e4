/* `ldm-vk bench`: step times of the train and sampling graphs on a device (benchmarks, not tests). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "ldm/train.h"

int ldm_cmd_bench(int argc, char **argv) {
  ldm_train_opts o;
  ldm_train_defaults(&o);
  int iters = 20;
  char json[512] = "";
  const arg_def defs[] = {
      {"config", ARG_STR, o.config, sizeof o.config, "model configuration [fmnist]", .choices = "fmnist|celeba64|tiny"},
      {"device", ARG_STR, o.device, sizeof o.device, "(default: a GPU if present, else cpu)", ARG_DEVICE},
      {"preset", ARG_STR, o.preset, sizeof o.preset, "the model size of that preset [auto]", .choices = "auto|quick|full"},
      {"batch", ARG_INT, &o.batch, 0, "batch size [128; quick 64]", .min = 1, .max = 65536},
      {"iters", ARG_INT, &iters, 0, "timed runs per workload [20]", .min = 1, .max = 100000},
      {"json", ARG_STR, json, sizeof json, "also write the medians as JSON", ARG_TEXT},
  };
  int r = ldm_args_parse("bench", "usage: ldm-vk bench [options]\n\nMedian time of a VAE train step, a UNet train "
                                  "step and a UNet forward on synthetic data, with the most expensive ops.",
                         defs, (int)(sizeof defs / sizeof defs[0]), argc, argv);
  if (r) return r == 1 ? 0 : 2;
  return ldm_bench(&o, iters, stdout, json) == LDM_OK ? 0 : ldm_cli_error();
}
