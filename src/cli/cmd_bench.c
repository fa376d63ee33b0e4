/* `ldm-vk bench`: step times of the train and sampling graphs on a device (benchmarks, not tests). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/comm.h"
#include "ldm/model.h"
#include "ldm/train.h"
#include "perf/workloads.h"

/* `ldm-vk bench --mpi` under mpirun: the MPI_Allreduce of each stage's gradient (docs/distributed.md) */
static int bench_mpi(const ldm_train_opts *o, int iters) {
#ifndef LDM_HAVE_MPI
  (void)o, (void)iters;
  fprintf(stderr, "ldm-vk: bench --mpi: this ldm-vk was built without MPI (install libopenmpi-dev and rebuild)\n");
  return 1;
#else
  if (cli_launched_size() == 0)
    return ldm_cli_usage_error("bench", "--mpi: start it under an MPI launcher, e.g. mpirun -np 2 ldm-vk bench --mpi");
  ldm_comm cm;
  int rc = cli_mpi_init(&cm);
  if (rc) return rc;
  /* what a data-parallel step all-reduces: the gradient arena of each stage's graph (the planned graphs of
   * the performance model, the trainer's own builders, no executor) */
  ldm_perf_workloads w;
  int64_t n[2] = {0, 0}, params[2] = {0, 0};
  if (ldm_perf_workloads_build(o, &w) != LDM_OK) {
    rc = ldm_cli_error();
  } else {
    for (int k = 0; k < 2; k++) {
      n[k] = w.g[k].arena_size[LDM_ARENA_GRAD] / 4;
      params[k] = ldm_param_count(&w.g[k]);
    }
  }
  if (rc == 0 && cm.rank == 0)
    printf("ldm-vk bench --mpi: %d ranks (%d on this machine), config %s, preset %s, median of %d timed "
           "MPI_Allreduce (sum, fp32) each\n%-10s %12s %10s %10s %10s %12s\n", cm.size, cm.local_size, w.config,
           w.preset, iters, "gradient", "parameters", "MB", "median ms", "best ms", "bus GB/s");
  if (rc == 0) ldm_perf_workloads_free(&w);
  for (int k = 0; k < 2 && rc == 0; k++) {
    double med = 0, best = 0;
    if (cli_mpi_time_allreduce((size_t)n[k], iters, &med, &best) != 0) {
      fprintf(stderr, "ldm-vk: rank %d: MPI_Allreduce failed\n", cm.rank);
      cli_mpi_abort(1);
    }
    /* bus bandwidth: the 2 (N - 1) / N bytes per rank a ring all-reduce moves, per second */
    double bytes = (double)n[k] * 4, bus = 2.0 * (cm.size - 1) / cm.size * bytes / med / 1e9;
    if (cm.rank == 0)
      printf("%-10s %12lld %10.2f %10.3f %10.3f %12.2f\n", k ? "UNet" : "VAE", (long long)params[k], bytes / 1e6,
             med * 1e3, best * 1e3, bus);
  }
  if (rc == 0 && cm.rank == 0)
    printf("(a data-parallel step adds this, plus the gradient download and upload of its device, to the step "
           "time of batch / %d samples; the training log and metrics.jsonl (allreduce_ms) give the whole)\n", cm.size);
  if (rc != 0) cli_mpi_abort(rc);
  cli_mpi_finalize();
  return 0;
#endif
}

int ldm_cmd_bench(int argc, char **argv) {
  ldm_train_opts o;
  ldm_train_defaults(&o);
  int iters = 20;
  char json[512] = "";
  bool model = false, nodes = false;
  char target[32] = "h200", baseline[512] = "";
  int top = 8;
  bool mpi = false;
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
      {"mpi", ARG_BOOL, &mpi, 0, "under mpirun: time the gradient all-reduce of each stage instead", ARG_SWITCH},
  };
  int r = ldm_args_parse("bench", "usage: ldm-vk bench [options]\n\nMedian time of a VAE train step, a UNet train "
                                  "step and a UNet forward on synthetic data, with the most expensive ops.\n"
                                  "With --model: the figures of a performance model of those command buffers on a "
                                  "target GPU (dispatches, barriers, workgroups, FLOPs, bytes, predicted ms); "
                                  "nothing runs and no device is opened.",
                         defs, (int)(sizeof defs / sizeof defs[0]), argc, argv);
  if (r) return r == 1 ? 0 : 2;
  if (mpi && model) return ldm_cli_usage_error("bench", "--mpi and --model: one at a time");
  if (mpi) return bench_mpi(&o, iters);
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
