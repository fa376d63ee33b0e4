/* The JSON file of `ldm-vk bench --json` (read back by `ldm-vk report --bench`). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/ops.h"
#include "cpu/pool.h"
#include "ldm/report.h"
#include "ldm/runinfo.h"
#include "ldm/version.h"
#include "report/html.h"

void ldm_sb_json_str(ldm_sbuf *o, const char *s) {
  ldm_sb_put(o, "\"");
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\') ldm_sb_printf(o, "\\%c", *p);
    else if (*p < 0x20) ldm_sb_printf(o, "\\u%04x", *p);
    else ldm_sb_putn(o, (const char *)p, 1);
  }
  ldm_sb_put(o, "\"");
}

static void json_num(ldm_sbuf *o, double v) {
  if (isfinite(v)) ldm_sb_printf(o, "%.6g", v);
  else ldm_sb_put(o, "null");
}

ldm_status ldm_bench_write_json(const char *path, const ldm_bench_record *r) {
  ldm_sbuf o = {0};
  char date[64], dev[600], drv[160];
  time_t t = time(NULL);
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  else snprintf(date, sizeof date, "unknown");
  if (!r->device) {
    ldm_backend cpu = ldm_backend_cpu();
    ldm_device_describe(&cpu, dev, sizeof dev, NULL); /* the CPU backend, as config.json names it */
    snprintf(drv, sizeof drv, "ldm-vk CPU backend, %d threads", ldm_cpu_threads());
  }
  ldm_sb_put(&o, "{\"version\":");
  ldm_sb_json_str(&o, ldm_version());
  ldm_sb_put(&o, ",\"date\":");
  ldm_sb_json_str(&o, date);
  ldm_sb_put(&o, ",\"config\":");
  ldm_sb_json_str(&o, r->config);
  ldm_sb_put(&o, ",\"preset\":");
  ldm_sb_json_str(&o, r->preset);
  ldm_sb_printf(&o, ",\"batch\":%d,\"iters\":%d,\"backend\":", r->batch, r->iters);
  ldm_sb_json_str(&o, r->device ? r->device : "cpu");
  ldm_sb_put(&o, ",\"device\":");
  ldm_sb_json_str(&o, r->device ? r->device : dev);
  ldm_sb_put(&o, ",\"device_type\":");
  ldm_sb_json_str(&o, r->device ? r->device_type : "cpu-reference");
  ldm_sb_put(&o, ",\"driver\":");
  ldm_sb_json_str(&o, r->device ? r->driver : drv);
  ldm_sb_put(&o, ",\"op_times\":");
  ldm_sb_json_str(&o, r->op_times);
  ldm_sb_printf(&o, ",\"params_vae\":%lld,\"params_unet\":%lld", r->params_vae, r->params_unet);
  static const char *old_keys[3] = {"vae_train_step_ms_median", "unet_train_step_ms_median", "unet_forward_ms_median"};
  for (int k = 0; k < r->nwork && k < 3; k++) {
    ldm_sb_printf(&o, ",\"%s\":", old_keys[k]);
    json_num(&o, r->median_ms[k]);
  }
  ldm_sb_put(&o, ",\"workloads\":[");
  for (int k = 0; k < r->nwork && k < 3; k++) {
    ldm_sb_put(&o, k ? ",\n{\"name\":" : "\n{\"name\":");
    ldm_sb_json_str(&o, r->name[k]);
    ldm_sb_printf(&o, ",\"nodes\":%d,\"median_ms\":", r->nodes[k]);
    json_num(&o, r->median_ms[k]);
    ldm_sb_put(&o, ",\"best_ms\":");
    json_num(&o, r->best_ms[k]);
    ldm_sb_put(&o, ",\"ops_ms\":{");
    bool first = true;
    for (int i = 0; r->op_ms[k] && i < LDM_OP_COUNT; i++)
      if (r->op_ms[k][i] > 0) {
        ldm_sb_put(&o, first ? "" : ",");
        ldm_sb_json_str(&o, ldm_op(i)->name);
        ldm_sb_put(&o, ":");
        json_num(&o, r->op_ms[k][i]);
        first = false;
      }
    ldm_sb_put(&o, "}}");
  }
  ldm_sb_put(&o, "],\"mm_nodes\":[");
  ldm_sb_put(&o, r->mm_nodes ? r->mm_nodes : "");
  ldm_sb_put(&o, "],\"node_times\":[");
  ldm_sb_put(&o, r->node_times ? r->node_times : "");
  ldm_sb_put(&o, "]}\n");
  ldm_status s = ldm_write_atomic(path, &o);
  ldm_sb_free(&o);
  return s;
}
