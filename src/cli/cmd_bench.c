/* `ldm-vk bench`: step times of the train and sampling graphs on a device (benchmarks, not tests). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "ldm/train.h"
#include "perf/workloads.h"

int ldm_cmd_bench(int argc, char **argv) {
  ldm_train_opts o;
  ldm_train_defaults(&o);
  int iters = 20;
  char json[512] = "";
  bool model = false, nodes = false;
  char target[32] = "h200", baseline[512] = "";
  int top = 8;
  const arg_def defs[] = {
      {"config", ARG_STR, o.config, sizeof o.config, "model configuration [fmnist]", .choices = "fmnist|celeba64|tiny"},
      {"device", ARG_STR, o.device, sizeof o.device, "(default: a GPU if present, else cpu)", ARG_DEVICE},
      {"preset", ARG_STR, o.preset, sizeof o.preset, "the model size of that preset [auto]", .choices = "auto|quick|full"},
      {"batch", ARG_INT, &o.batch, 0, "batch size [128; quick 64]", .min = 1, .max = 65536},
      {"iters", ARG_INT, &iters, 0, "timed runs per workload [20]", .min = 1, .max = 100000},
      {"json", ARG_STR, json, sizeof json, "also write the medians as JSON (--model: the model's figures)",
       ARG_TEXT},
      {"model", ARG_BOOL, &model, 0, "predict instead of measure: the performance model, no device opened",
       ARG_SWITCH},
      {"target", ARG_STR, target, sizeof target, "--model: the GPU modelled, all, or list [h200]", ARG_TEXT},
      {"nodes", ARG_BOOL, &nodes, 0, "--model: every dispatch, in recording order", ARG_SWITCH},
      {"top", ARG_INT, &top, 0, "--model: the most expensive dispatches shown per workload [8]", .min = 0, .max = 100000},
      {"write-baseline", ARG_STR, baseline, sizeof baseline, "--model: write the counts baseline file and stop",
       ARG_TEXT},
  };
  int r = ldm_args_parse("bench", "usage: ldm-vk bench [options]\n\nMedian time of a VAE train step, a UNet train "
                                  "step and a UNet forward on synthetic data, with the most expensive ops.\n"
                                  "With --model: the figures of a performance model of those command buffers on a "
                                  "target GPU (dispatches, barriers, workgroups, FLOPs, bytes, predicted ms); "
                                  "nothing runs and no device is opened.",
                         defs, (int)(sizeof defs / sizeof defs[0]), argc, argv);
  if (r) return r == 1 ? 0 : 2;
  if (model) {
    if (strcmp(target, "all") && strcmp(target, "list") && !ldm_perf_target_find(target))
      return ldm_cli_usage_error("bench", "--target %s: no such target (ldm-vk bench --model --target list)", target);
    ldm_perf_opts po = {target, top, nodes, json, baseline};
    return ldm_bench_model(&o, &po, stdout) == LDM_OK ? 0 : ldm_cli_error();
  }
  if (nodes || baseline[0] || strcmp(target, "h200") != 0)
    return ldm_cli_usage_error("bench", "--target, --nodes and --write-baseline need --model");
  return ldm_bench(&o, iters, stdout, json) == LDM_OK ? 0 : ldm_cli_error();
}
