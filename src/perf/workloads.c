/* `ldm-vk bench --model`: the workloads of `ldm-vk bench` (the VAE and UNet train steps and a sampling
 * step's UNet forward), built by the trainer's own stage code (train/stage.c, train/bench.c) and planned,
 * but never given an executor: no device is opened. Each is modelled on a target (model.c); the counts of
 * dispatches and barriers are also what tests/data/perf_counts.json pins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/workloads.h"
#include "report/html.h"
#include "report/json.h"
#include "train/trainer.h"

static const char *const wl_names[LDM_PERF_NWL] = {"VAE train step", "UNet train step", "UNet forward"};
static const char *const wl_keys[LDM_PERF_NWL] = {"vae_train", "unet_train", "unet_forward"};

void ldm_perf_workloads_free(ldm_perf_workloads *w) {
  for (int k = 0; k < LDM_PERF_NWL; k++)
    if (w->g[k].t) ldm_graph_free(&w->g[k]);
}

/* the stage graph of tr_build_*_graph, moved out of its tr_stage */
static ldm_status stage_graph(tr_ctx *sc, bool unet, int B, ldm_graph *out) {
  tr_stage r;
  memset(&r, 0, sizeof r);
  ldm_status s = unet ? tr_build_unet_graph(&r, sc, B) : tr_build_vae_graph(&r, sc, B);
  if (s != LDM_OK) {
    if (r.g.t) ldm_graph_free(&r.g);
    return s;
  }
  *out = r.g;
  return LDM_OK;
}

ldm_status ldm_perf_workloads_build(const ldm_train_opts *in, ldm_perf_workloads *w) {
  memset(w, 0, sizeof *w);
  ldm_train_opts o = *in;
  o.quiet = true;
  /* every target is a GPU: "auto" is the GPU's preset */
  if (strcmp(o.preset, "auto") == 0) snprintf(o.preset, sizeof o.preset, "full");
  ldm_backend be = ldm_backend_cpu(); /* a value only: the graphs are planned, never executed */
  tr_recipe rc;
  LDM_TRY(tr_recipe_resolve(&o, &be, &rc));
  o = rc.o;
  const ldm_model_cfg *c = &rc.c;
  snprintf(w->config, sizeof w->config, "%s", c->name);
  snprintf(w->preset, sizeof w->preset, "%s", o.preset);
  w->batch = o.batch;
  /* the data set of `ldm-vk bench`: 4 batches of synthetic rows (only its size enters the graphs) */
  ldm_dataset ds;
  memset(&ds, 0, sizeof ds);
  ds.n = 4 * o.batch;
  ds.channels = c->cin;
  ds.height = ds.width = c->res;
  ds.num_classes = c->ncls;
  tr_stage_state st = {0};
  tr_ctx sc = {.o = &o, .c = c, .be = &be, .st = &st, .scale = 1.0, .ds = &ds};
  ldm_status s = stage_graph(&sc, false, o.batch, &w->g[0]);
  if (s == LDM_OK) s = stage_graph(&sc, true, o.batch, &w->g[1]);
  if (s == LDM_OK) s = tr_bench_forward_graph(&w->g[2], c, o.batch);
  for (int k = 0; k < LDM_PERF_NWL; k++) w->name[k] = wl_names[k], w->key[k] = wl_keys[k];
  if (s != LDM_OK) ldm_perf_workloads_free(w);
  return s;
}

/* ---------------------------------------------------------------- the counts baseline */

/* the counts of one workload on every target */
typedef struct {
  int dispatches, barriers, mm;
  int mm_below[16], below[16];
} wl_counts;

static ldm_status counts_of(const ldm_graph *g, wl_counts *wc) {
  int nt;
  const ldm_perf_target *t = ldm_perf_targets(&nt);
  memset(wc, 0, sizeof *wc);
  for (int i = 0; i < nt && i < 16; i++) {
    ldm_perf_sum s;
    LDM_TRY(ldm_perf_model(g, &t[i], NULL, &s));
    wc->dispatches = s.dispatches, wc->barriers = s.barriers, wc->mm = s.mm;
    wc->mm_below[i] = s.mm_below, wc->below[i] = s.below;
  }
  return LDM_OK;
}

ldm_status ldm_perf_baseline_write(const char *path, const ldm_perf_workloads *w) {
  int nt;
  const ldm_perf_target *t = ldm_perf_targets(&nt);
  ldm_sbuf o = {0};
  ldm_sb_put(&o, "{\n  \"note\": \"exact counts of the recorded command buffers (ldm-vk bench --model); a change "
                 "is reviewed: ldm-vk bench --model --write-baseline FILE\",\n");
  ldm_sb_printf(&o, "  \"config\": \"%s\",\n  \"preset\": \"%s\",\n  \"batch\": %d,\n  \"workloads\": {\n",
                w->config, w->preset, w->batch);
  ldm_status s = LDM_OK;
  for (int k = 0; k < LDM_PERF_NWL && s == LDM_OK; k++) {
    wl_counts wc;
    s = counts_of(&w->g[k], &wc);
    if (s != LDM_OK) break;
    ldm_sb_printf(&o, "    \"%s\": {\"dispatches\": %d, \"barriers\": %d, \"mm_dispatches\": %d,\n", w->key[k],
                  wc.dispatches, wc.barriers, wc.mm);
    for (int pass = 0; pass < 2; pass++) {
      ldm_sb_printf(&o, "      \"%s\": {", pass ? "below_cus" : "mm_below_cus");
      for (int i = 0; i < nt; i++)
        ldm_sb_printf(&o, "%s\"%s\": %d", i ? ", " : "", t[i].name, pass ? wc.below[i] : wc.mm_below[i]);
      ldm_sb_printf(&o, "}%s\n", pass ? "" : ",");
    }
    ldm_sb_printf(&o, "    }%s\n", k + 1 < LDM_PERF_NWL ? "," : "");
  }
  ldm_sb_put(&o, "  }\n}\n");
  if (s == LDM_OK) s = ldm_write_atomic(path, &o);
  ldm_sb_free(&o);
  return s;
}

/* one count against the baseline's: the first difference is the error */
static ldm_status check_one(const char *path, const char *wl, const char *what, const char *target,
                            const ldm_json *obj, const char *key, int now) {
  double was;
  if (!ldm_json_get_num(obj, key, &was))
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: %s has no \"%s\"%s%s", path, wl, key, target ? " for target " : "",
                    target ? target : "");
  if ((int)was == now) return LDM_OK;
  return LDM_FAIL(LDM_ERR_MISMATCH,
                  "%s: %s: %s%s%s changed from %d to %d; if the change is intended, update the baseline with "
                  "`ldm-vk bench --model --write-baseline %s` and review the diff",
                  path, wl, what, target ? " on " : "", target ? target : "", (int)was, now, path);
}

ldm_status ldm_perf_baseline_check(const char *path, const ldm_perf_workloads *w) {
  ldm_json j;
  LDM_TRY(ldm_json_parse_file(path, 1 << 20, false, &j));
  ldm_status s = LDM_OK;
  const char *cfg = ldm_json_get_str(&j, "config"), *pre = ldm_json_get_str(&j, "preset");
  double b = 0;
  if (!cfg || !pre || !ldm_json_get_num(&j, "batch", &b) || strcmp(cfg, w->config) || strcmp(pre, w->preset) ||
      (int)b != w->batch)
    s = LDM_FAIL(LDM_ERR_MISMATCH, "%s: the baseline is not of config %s, preset %s, batch %d", path, w->config,
                 w->preset, w->batch);
  const ldm_json *wls = ldm_json_get(&j, "workloads");
  int nt;
  const ldm_perf_target *t = ldm_perf_targets(&nt);
  for (int k = 0; k < LDM_PERF_NWL && s == LDM_OK; k++) {
    const ldm_json *o = ldm_json_get(wls, w->key[k]);
    if (!o) {
      s = LDM_FAIL(LDM_ERR_FORMAT, "%s: no workload \"%s\"", path, w->key[k]);
      break;
    }
    wl_counts wc;
    s = counts_of(&w->g[k], &wc);
    if (s == LDM_OK) s = check_one(path, w->name[k], "dispatches", NULL, o, "dispatches", wc.dispatches);
    if (s == LDM_OK) s = check_one(path, w->name[k], "barriers", NULL, o, "barriers", wc.barriers);
    if (s == LDM_OK) s = check_one(path, w->name[k], "GEMM/conv dispatches", NULL, o, "mm_dispatches", wc.mm);
    const ldm_json *mb = ldm_json_get(o, "mm_below_cus"), *ab = ldm_json_get(o, "below_cus");
    for (int i = 0; i < nt && s == LDM_OK; i++) {
      s = check_one(path, w->name[k], "GEMM/conv dispatches below the CU count", t[i].name, mb, t[i].name,
                    wc.mm_below[i]);
      if (s == LDM_OK)
        s = check_one(path, w->name[k], "dispatches below the CU count", t[i].name, ab, t[i].name, wc.below[i]);
    }
  }
  ldm_json_free(&j);
  return s;
}
