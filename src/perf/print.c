/* The output of `ldm-vk bench --model`: per target a summary row per workload, the most expensive
 * dispatches (or all of them), and the same as JSON. Every figure is the model's (perf/model.c). */
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "perf/workloads.h"
#include "report/html.h"
#include "vk/plan.h"

static const char *const MODEL_NOTE =
    "PREDICTED by an analytic performance model, not measured: no device is opened; the constants are "
    "estimates to recalibrate on a real GPU (docs/perf.md)";

static void print_target(FILE *f, const ldm_perf_target *t) {
  fprintf(f, "target %s: %s\n  %u %s, %.2f TFLOP/s fp32, %.0f GB/s, %u KiB shared memory, subgroup %u\n", t->name,
          t->title, t->cus, t->cu_word, t->peak_tflops, t->bw_gbs, t->lim.max_shared >> 10, t->lim.subgroup_size);
  fprintf(f,
          "  model: tiled GEMM/conv at %.0f%% (8x8 register blocks), %.0f%% (4x4), %.0f%% (2x2) of peak, naive at "
          "%.0f%%, memory at %.0f%% of bandwidth; %.1f us per dispatch, %.1f us per barrier\n",
          100 * ldm_perf_tiled_eff(t, 1.0), 100 * ldm_perf_tiled_eff(t, 2.0), 100 * ldm_perf_tiled_eff(t, 4.0),
          100 * ldm_perf_eff(t, LDM_KC_NAIVE), 100 * t->mem_eff, t->dispatch_us, t->barrier_us);
}

static void print_summary_head(FILE *f, const ldm_perf_target *t) {
  char below[32];
  snprintf(below, sizeof below, "<1 wave"); /* fewer threads than CUs x LDM_TILE_RESIDENT */
  fprintf(f, "  %-16s %10s %8s %8s %9s %11s %8s %9s %8s %8s %9s  (%s + %s + %s)\n", "workload", "dispatches",
          "barriers", "disp/bar", "GEMM/conv", below, "GFLOP", "computed", "MB read", "MB write", "model ms", "work",
          "dispatch", "barrier");
}

static void print_summary(FILE *f, const char *name, const ldm_perf_sum *s) {
  char mmb[32];
  snprintf(mmb, sizeof mmb, "%d", s->mm_below);
  fprintf(f, "  %-16s %10d %8d %8.2f %9d %11s %8.1f %9.1f %8.0f %8.0f %9.2f  (%.2f + %.2f + %.2f)\n", name,
          s->dispatches, s->barriers, s->barriers ? (double)s->dispatches / s->barriers : (double)s->dispatches,
          s->mm, mmb, s->useful_flops * 1e-9, s->computed_flops * 1e-9, s->bytes_rd * 1e-6, s->bytes_wr * 1e-6,
          s->total_ms, s->work_ms, s->dispatch_ms, s->barrier_ms);
}

static int by_us(const void *a, const void *b) {
  const ldm_perf_row *x = a, *y = b;
  return x->us < y->us ? 1 : x->us > y->us ? -1 : x->node - y->node;
}

static void print_rows(FILE *f, const ldm_graph *g, const ldm_perf_row *rows, int count, const char *title) {
  fprintf(f, "  %s\n    %5s %-24s %-28s %9s %5s %3s %9s %9s %8s %8s %9s  %s\n", title, "node", "op", "shader",
          "workgrps", "fill", "bar", "GFLOP", "computed", "MB read", "MB write", "model us", "label");
  for (int i = 0; i < count; i++) {
    const ldm_perf_row *r = &rows[i];
    char sh[64];
    if (r->l.tile > 0) snprintf(sh, sizeof sh, "%s/%s", r->l.shader, ldm_tile_name(r->l.tile));
    else snprintf(sh, sizeof sh, "%s", r->l.shader);
    char shape[96] = "";
    const ldm_perf_cost *c = &r->c;
    if (c->mm_rows > 0) {
      int k = snprintf(shape, sizeof shape, " (%lldx%lldx%lld", (long long)c->mm_rows, (long long)c->mm_cols,
                       (long long)c->mm_depth);
      if (c->mm_batch > 1 && k > 0 && k < (int)sizeof shape)
        k += snprintf(shape + k, sizeof shape - (size_t)k, " x%lld", (long long)c->mm_batch);
      if (c->mm_split > 1 && k > 0 && k < (int)sizeof shape)
        k += snprintf(shape + k, sizeof shape - (size_t)k, ", split %u", c->mm_split);
      if (k > 0 && k < (int)sizeof shape) snprintf(shape + k, sizeof shape - (size_t)k, ")");
    }
    fprintf(f, "    %5d %-24s %-28s %9llu %4.0f%% %3s %9.3f %9.3f %8.2f %8.2f %9.2f  %s%s\n", r->node,
            ldm_op(g->n[r->node].op)->name, sh, (unsigned long long)r->groups, 100 * r->fill,
            r->barrier ? "B" : "", r->c.useful_flops * 1e-9, r->c.computed_flops * 1e-9, r->c.bytes_rd * 1e-6,
            r->c.bytes_wr * 1e-6, r->us, g->n[r->node].label, shape);
  }
}

static void json_sum(ldm_sbuf *o, const ldm_perf_sum *s) {
  ldm_sb_printf(o,
                "\"dispatches\": %d, \"barriers\": %d, \"mm_dispatches\": %d, \"mm_below_cus\": %d, \"below_cus\": %d, "
                "\"useful_gflop\": %.6g, \"computed_gflop\": %.6g, \"mb_read\": %.6g, \"mb_written\": %.6g, "
                "\"model_ms\": %.6g, \"work_ms\": %.6g, \"dispatch_ms\": %.6g, \"barrier_ms\": %.6g, "
                "\"earliest_level_barriers\": %d, \"earliest_level_model_ms\": %.6g, \"mm_low_fill\": %d, "
                "\"mm_split_fills\": %d, \"mm_split_faster\": %d, \"mm_split_level_faster\": %d, "
                "\"split_level_gain_ms\": %.6g",
                s->dispatches, s->barriers, s->mm, s->mm_below, s->below, s->useful_flops * 1e-9,
                s->computed_flops * 1e-9, s->bytes_rd * 1e-6, s->bytes_wr * 1e-6, s->total_ms, s->work_ms,
                s->dispatch_ms, s->barrier_ms, s->level_barriers, s->level_ms, s->mm_low_fill, s->mm_split_fills,
                s->mm_split_faster, s->mm_split_level_faster, s->split_level_gain_ms);
}

static void json_rows(ldm_sbuf *o, const ldm_graph *g, const ldm_perf_row *rows) {
  ldm_sb_put(o, ", \"nodes\": [");
  for (int i = 0; i < g->nn; i++) {
    const ldm_perf_row *r = &rows[i];
    ldm_sb_printf(o, "%s\n        {\"node\": %d, \"op\": ", i ? "," : "", i);
    ldm_sb_json_str(o, ldm_op(g->n[i].op)->name);
    ldm_sb_put(o, ", \"shader\": ");
    ldm_sb_json_str(o, r->l.shader);
    if (r->l.tile > 0) {
      ldm_sb_put(o, ", \"tile\": ");
      ldm_sb_json_str(o, ldm_tile_name(r->l.tile));
    }
    ldm_sb_put(o, ", \"label\": ");
    ldm_sb_json_str(o, g->n[i].label);
    static const char *const kc[LDM_KC_COUNT] = {"tiled", "naive", "memory"};
    ldm_sb_printf(o,
                  ", \"groups\": [%u, %u, %u], \"workgroups\": %llu, \"barrier_before\": %s, \"level\": %d, "
                  "\"useful_flops\": %.6g, \"computed_flops\": %.6g, \"bytes_read\": %.6g, \"bytes_written\": %.6g, "
                  "\"kind\": \"%s\", \"waves\": %.6g, \"fill\": %.6g, \"full_us\": %.6g, \"model_us\": %.6g",
                  r->l.groups[0], r->l.groups[1], r->l.groups[2], (unsigned long long)r->groups,
                  r->barrier ? "true" : "false", r->level, r->c.useful_flops, r->c.computed_flops, r->c.bytes_rd,
                  r->c.bytes_wr, kc[r->c.kc], r->waves, r->fill, r->full_us, r->us);
    if (r->split_fill > 0) /* the split probe's (tiled GEMM / convolution only) */
      ldm_sb_printf(o,
                    ", \"split_fill\": %.6g, \"split_fill_s\": %u, \"split_us\": %.6g, \"split_us_s\": %u, "
                    "\"split_level_gain_us\": %.6g",
                    r->split_fill, r->split_fill_s, r->split_us, r->split_us_s, r->split_level_gain_us);
    ldm_sb_put(o, "}");
  }
  ldm_sb_put(o, "]");
}

/* one target: text to f, JSON into o (when o) */
static ldm_status model_target(FILE *f, ldm_sbuf *o, const ldm_perf_workloads *w, const ldm_perf_target *t,
                               const ldm_perf_opts *po) {
  ldm_perf_row *rows[LDM_PERF_NWL] = {NULL, NULL, NULL};
  ldm_perf_sum sum[LDM_PERF_NWL];
  ldm_status s = LDM_OK;
  for (int k = 0; k < LDM_PERF_NWL && s == LDM_OK; k++) {
    rows[k] = ldm_calloc((size_t)w->g[k].nn + 1, sizeof *rows[k]);
    s = rows[k] ? ldm_perf_model(&w->g[k], t, rows[k], &sum[k]) : LDM_ERR_NOMEM;
  }
  if (s == LDM_OK) {
    print_target(f, t);
    print_summary_head(f, t);
    for (int k = 0; k < LDM_PERF_NWL; k++) print_summary(f, w->name[k], &sum[k]);
    fprintf(f, "  what-if, every node at its earliest level (same memory plan, one barrier per level):");
    for (int k = 0; k < LDM_PERF_NWL; k++)
      fprintf(f, "%s %s %d -> %d barriers, %.2f -> %.2f ms", k ? ";" : "", w->name[k], sum[k].barriers,
              sum[k].level_barriers, sum[k].total_ms, sum[k].level_ms);
    fprintf(f, "\n  GEMM/conv dispatches under %.0f%% fill (whole waves of the %u %s) / a split-K of up to %d would fill "
               "them to %.0f%% / and be faster by %.0f%%:",
            100 * LDM_PERF_LOW_FILL, t->cus, t->cu_word, LDM_PERF_SPLIT_PROBE, 100 * LDM_PERF_LOW_FILL,
            100 * LDM_PERF_SPLIT_GAIN);
    for (int k = 0; k < LDM_PERF_NWL; k++)
      fprintf(f, "%s %s %d / %d / %d", k ? ";" : "", w->name[k], sum[k].mm_low_fill, sum[k].mm_split_fills,
              sum[k].mm_split_faster);
    fprintf(f, "\n  ... of those, where the split would also shorten its level (the dispatches between two barriers share "
               "the GPU) by %.0f%%, and the step time it would save:",
            100 * LDM_PERF_SPLIT_GAIN);
    for (int k = 0; k < LDM_PERF_NWL; k++)
      fprintf(f, "%s %s %d, %.3f ms", k ? ";" : "", w->name[k], sum[k].mm_split_level_faster,
              sum[k].split_level_gain_ms);
    fprintf(f, "\n");
    for (int k = 0; k < LDM_PERF_NWL && (po->nodes || po->top > 0); k++) {
      const ldm_graph *g = &w->g[k];
      char title[160];
      if (po->nodes) {
        snprintf(title, sizeof title, "%s, every dispatch in recording order (B: a barrier before it):", w->name[k]);
        print_rows(f, g, rows[k], g->nn, title);
      } else {
        ldm_perf_row *sorted = ldm_malloc(((size_t)g->nn + 1) * sizeof *sorted);
        if (!sorted) {
          s = LDM_ERR_NOMEM;
          break;
        }
        memcpy(sorted, rows[k], (size_t)g->nn * sizeof *sorted);
        qsort(sorted, (size_t)g->nn, sizeof *sorted, by_us);
        int top = po->top < g->nn ? po->top : g->nn;
        snprintf(title, sizeof title, "%s, the %d dispatches of the longest model time alone (B: a barrier before it):",
                 w->name[k], top);
        print_rows(f, g, sorted, top, title);
        free(sorted);
      }
    }
    fprintf(f, "\n");
  }
  if (s == LDM_OK && o) {
    ldm_sb_put(o, "    {\"target\": ");
    ldm_sb_json_str(o, t->name);
    ldm_sb_put(o, ", \"title\": ");
    ldm_sb_json_str(o, t->title);
    ldm_sb_printf(o,
                  ", \"cus\": %u, \"peak_tflops\": %.6g, \"bandwidth_gbs\": %.6g, \"tiled_eff\": %.6g, "
                  "\"naive_eff\": %.6g, \"mem_eff\": %.6g, \"dispatch_us\": %.6g, \"barrier_us\": %.6g, "
                  "\"workloads\": [",
                  t->cus, t->peak_tflops, t->bw_gbs, ldm_perf_eff(t, LDM_KC_TILED), ldm_perf_eff(t, LDM_KC_NAIVE),
                  t->mem_eff, t->dispatch_us, t->barrier_us);
    for (int k = 0; k < LDM_PERF_NWL; k++) {
      ldm_sb_printf(o, "%s\n      {\"workload\": \"%s\", \"name\": ", k ? "," : "", w->key[k]);
      ldm_sb_json_str(o, w->name[k]);
      ldm_sb_put(o, ", ");
      json_sum(o, &sum[k]);
      json_rows(o, &w->g[k], rows[k]);
      ldm_sb_put(o, "}");
    }
    ldm_sb_put(o, "]}");
  }
  for (int k = 0; k < LDM_PERF_NWL; k++) free(rows[k]);
  return s;
}

/* one more word of model_switch_names */
static void add_word(char *out, size_t cap, size_t *k, const char *word) {
  int m = snprintf(out + *k, cap - *k, "%s%s", *k ? " " : "", word);
  if (m > 0) *k = *k + (size_t)m < cap ? *k + (size_t)m : cap - 1;
}
/* the launch switches of ldm_limits_apply_switches that are set, as NAME=VALUE words; false when none is */
static bool model_switch_names(const ldm_env *env, char *out, size_t cap) {
  size_t k = 0;
  char w[64];
  out[0] = 0;
  if (env->gemm_naive) add_word(out, cap, &k, "LDM_GEMM_NAIVE=1");
  if (env->conv_naive) add_word(out, cap, &k, "LDM_CONV_NAIVE=1");
  if (env->vk_tile) {
    snprintf(w, sizeof w, "LDM_VK_TILE=%s", ldm_tile_name(env->vk_tile));
    add_word(out, cap, &k, w);
  }
  if (env->vk_splitk) { /* -1: "0", never split */
    snprintf(w, sizeof w, "LDM_VK_SPLITK=%d", env->vk_splitk < 0 ? 0 : env->vk_splitk);
    add_word(out, cap, &k, w);
  }
  if (env->no_subpixel) add_word(out, cap, &k, "LDM_VK_SUBPIXEL=0");
  if (env->vk_no_subgroup) add_word(out, cap, &k, "LDM_VK_DISABLE_SUBGROUP=1");
  if (env->vk_max_shared) {
    snprintf(w, sizeof w, "LDM_VK_MAX_SHARED=%llu", (unsigned long long)env->vk_max_shared);
    add_word(out, cap, &k, w);
  }
  if (env->vk_max_buffer_range) {
    snprintf(w, sizeof w, "LDM_VK_MAX_BUFFER_RANGE=%llu", (unsigned long long)env->vk_max_buffer_range);
    add_word(out, cap, &k, w);
  }
  return k > 0;
}

ldm_status ldm_bench_model(const ldm_train_opts *in, const ldm_perf_opts *po, FILE *f) {
  int nt;
  const ldm_perf_target *all = ldm_perf_targets(&nt);
  const char *tn = po->target && po->target[0] ? po->target : "h200";
  if (strcmp(tn, "list") == 0) {
    fprintf(f, "targets of ldm-vk bench --model (constants and sources: docs/perf.md):\n");
    for (int i = 0; i < nt; i++) fprintf(f, "  %-10s %s\n", all[i].name, all[i].title);
    return LDM_OK;
  }
  const ldm_perf_target *one = strcmp(tn, "all") == 0 ? NULL : ldm_perf_target_find(tn);
  if (!one && strcmp(tn, "all") != 0)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--target %s: no such target (ldm-vk bench --model --target list)", tn);
  ldm_env env;
  ldm_env_read(&env);
  if (env.vk_tile_bad)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "LDM_VK_TILE=%s: not auto, large, medium, small, narrow or wide",
                    env.vk_tile_str ? env.vk_tile_str : "");
  ldm_perf_workloads w;
  LDM_TRY(ldm_perf_workloads_build(in, &w));
  ldm_status s = LDM_OK;
  if (po->baseline && po->baseline[0]) {
    s = ldm_perf_baseline_write(po->baseline, &w);
    if (s == LDM_OK) fprintf(f, "counts baseline written to %s\n", po->baseline);
    ldm_perf_workloads_free(&w);
    return s;
  }
  fprintf(f, "ldm-vk bench --model: %s.\nconfig %s, preset %s, batch %d; the command buffers as the Vulkan executor "
             "records them (same launch plans, same barriers)\n",
          MODEL_NOTE, w.config, w.preset, w.batch);
  fprintf(f, "ACT arena (the memory plan; level schedule %s):", env.no_schedule ? "off, LDM_NO_SCHEDULE" : "on");
  for (int k = 0; k < LDM_PERF_NWL; k++) {
    fprintf(f, "%s %s %.2f MiB", k ? ";" : "", w.name[k], (double)w.g[k].arena_size[LDM_ARENA_ACT] / 1048576.0);
    if (w.g[k].act_live_peak > 0) fprintf(f, " (live peak %.2f)", (double)w.g[k].act_live_peak / 1048576.0);
  }
  fprintf(f, "\n");
  char sw[256];
  if (model_switch_names(&env, sw, sizeof sw)) fprintf(f, "launch switches modelled: %s\n", sw);
  fprintf(f, "\n");
  bool json = po->json_path && po->json_path[0];
  ldm_sbuf o = {0};
  if (json) {
    ldm_sb_put(&o, "{\n  \"model\": true,\n  \"note\": ");
    ldm_sb_json_str(&o, MODEL_NOTE);
    ldm_sb_put(&o, ",\n  \"switches\": ");
    ldm_sb_json_str(&o, sw);
    ldm_sb_printf(&o, ",\n  \"config\": \"%s\",\n  \"preset\": \"%s\",\n  \"batch\": %d,\n  \"targets\": [\n", w.config,
                  w.preset, w.batch);
  }
  for (int i = 0, first = 1; i < nt && s == LDM_OK; i++) {
    if (one && one != &all[i]) continue;
    if (json && !first) ldm_sb_put(&o, ",\n");
    first = 0;
    ldm_perf_target t = all[i];
    ldm_limits_apply_switches(&env, &t.lim);
    s = model_target(f, json ? &o : NULL, &w, &t, po);
  }
  if (json && s == LDM_OK) {
    ldm_sb_put(&o, "\n  ]\n}\n");
    s = ldm_write_atomic(po->json_path, &o);
  }
  ldm_sb_free(&o);
  ldm_perf_workloads_free(&w);
  return s;
}
