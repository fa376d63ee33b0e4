/* HTML reports: a run directory's training curves, sample-grid timeline and configuration
 * (report.html), and side-by-side comparisons of `ldm-vk bench --json` / `ldm-vk conformance --json`
 * files. Pages are self-contained (inline SVG and CSS, no external resources but the run's own PNGs,
 * linked relatively) and open from disk. */
#ifndef LDM_REPORT_H
#define LDM_REPORT_H
#include <stdbool.h>
#include <stdio.h>

#include "ldm/ldm.h"
#include "ldm/log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write the report of run_dir to out_path (NULL: <run_dir>/report.html) atomically (a temp file in the
 * same directory, then rename). Reads metrics.jsonl, samples/ *.png, samples.png, config.json (else the
 * ldm.* metadata of vae.safetensors / unet.safetensors). A malformed metrics row or JSON file fails with
 * LDM_ERR_FORMAT and "<file>:<line>: <what>". When out_path is NULL or inside run_dir, the image links
 * are relative to it. */
ldm_status ldm_report_run(const char *run_dir, const char *out_path);

/* For the trainer: ldm_report_run(run_dir, NULL), but a failure is only a one-line warning to log (the
 * run's log function and its user pointer; NULL: the process-wide one), once per distinct message, and
 * never fails; it leaves the thread's error state clear. Unless force (the end of a stage), a call is
 * skipped when the page would take more than 5% of the time since the last one (a very long metrics log
 * written at every step). */
void ldm_report_update(const char *run_dir, bool force, ldm_log_fn log, void *user);

/* Compare `ldm-vk bench --json` files: an HTML page at out_html (NULL: none) and the same table as text
 * on text (NULL: none). The first file is the baseline of the ratios. Files whose ldm-vk version,
 * config, preset or batch differ from the first are flagged in both. */
ldm_status ldm_report_bench(const char *const *files, int n, const char *out_html, FILE *text);

/* Compare `ldm-vk conformance --json` files: per case and file, NMSE device vs reference, fast CPU vs reference,
 * device vs fast CPU and the worst element against its bound (HTML + text); files without a device run or
 * from older versions (no reference figures) are marked, their missing figures shown as such. */
ldm_status ldm_report_conformance(const char *const *files, int n, const char *out_html, FILE *text);

/* `ldm-vk bench --json`: one JSON object with the ldm-vk version, the UTC date, the configuration, the
 * device (device NULL: the CPU reference backend, named after /proc/cpuinfo), its driver, and per workload
 * the node count, median and best ms and the per-op ms (op_ms[k]: LDM_OP_COUNT values or NULL). The keys
 * of the first format (vae_train_step_ms_median, ...) are kept. Written atomically. */
typedef struct ldm_bench_record {
  const char *config, *preset;
  const char *device, *device_type, *driver; /* device NULL: the CPU backend */
  const char *op_times;                      /* how the per-op times were measured */
  int batch, iters;
  int nwork;                                 /* <= 3: VAE train step, UNet train step, UNet forward */
  const char *name[3];
  int nodes[3];
  double median_ms[3], best_ms[3];
  const double *op_ms[3];
  long long params_vae, params_unet;
  /* the GEMM / convolution nodes of the timed runs, as JSON objects separated by commas (the shape, the
   * tile variant, the time), written as "mm_nodes": [...]; NULL or "" for none */
  const char *mm_nodes;
  /* every node of the timed runs (workload, node, op, shader, ms), as JSON objects separated by commas,
   * written as "node_times": [...] (the performance model's recalibration, scripts/model_vs_measured.py);
   * NULL or "" for none */
  const char *node_times;
} ldm_bench_record;
ldm_status ldm_bench_write_json(const char *path, const ldm_bench_record *r);

#ifdef __cplusplus
}
#endif
#endif
