/* The performance model over one planned graph (perf/perf.h, docs/perf.md "The model"). It walks the
 * nodes in the executor's order with the executor's own code: ldm_node_launch for the launch (vk/plan.c),
 * ldm_deps_next for the barriers (vk/deps.c). */
#include <stdlib.h>
#include <string.h>

#include "perf/perf.h"
#include "vk/deps.h"
#include "vk/plan.h"

static void add_level(double sum_full, double max_alone, ldm_perf_sum *s) {
  s->work_ms += (sum_full > max_alone ? sum_full : max_alone) * 1e-3;
}

ldm_status ldm_perf_earliest_levels(const ldm_graph *g, int *levels, int *nlevels) {
  *nlevels = 0;
  for (int i = 0; i < g->nn; i++) {
    int lv = 0;
    for (int j = i - 1; j >= 0; j--) /* only a later level than the best so far can raise it */
      if (levels[j] + 1 > lv && ldm_deps_conflict(g, &g->n[j], &g->n[i])) lv = levels[j] + 1;
    levels[i] = lv;
    if (lv + 1 > *nlevels) *nlevels = lv + 1;
  }
  return LDM_OK;
}

/* A level's time: max(its dispatches' full_us summed, the longest one's us), with dispatch `swap` (-1: none)
 * at its probed split's times instead */
static double level_time(const ldm_perf_row *rows, int lo, int hi, int swap) {
  double sum = 0, mx = 0;
  for (int i = lo; i < hi; i++) {
    double full = i == swap ? rows[i].split_full_us : rows[i].full_us, us = i == swap ? rows[i].split_us : rows[i].us;
    sum += full;
    if (us > mx) mx = us;
  }
  return sum > mx ? sum : mx;
}

/* Of the GEMM / convolution dispatches under LDM_PERF_LOW_FILL that a probed split fills, those where that
 * split also shortens their level (the dispatches between two barriers, which share the GPU) by more than
 * LDM_PERF_SPLIT_GAIN of its time: row.split_level_gain_us, s->mm_split_level_faster and the sum of their
 * gains. A dispatch whose level is bound by the sum of its dispatches' work leaves units its neighbours use. */
static void split_level_gains(ldm_perf_row *rows, int nn, ldm_perf_sum *s) {
  for (int lo = 0, hi; lo < nn; lo = hi) {
    for (hi = lo + 1; hi < nn && rows[hi].level == rows[lo].level;) hi++;
    double base = level_time(rows, lo, hi, -1);
    for (int i = lo; i < hi; i++) {
      ldm_perf_row *r = &rows[i];
      if (r->c.kc != LDM_KC_TILED || r->fill >= LDM_PERF_LOW_FILL || r->split_us <= 0) continue;
      double gain = base - level_time(rows, lo, hi, i);
      if (gain <= LDM_PERF_SPLIT_GAIN * base) continue;
      r->split_level_gain_us = gain;
      s->mm_split_level_faster++;
      s->split_level_gain_ms += gain * 1e-3;
    }
  }
}

/* the earliest-level order's barriers and time, from the rows' per-dispatch times */
static ldm_status level_what_if(const ldm_graph *g, const ldm_perf_target *t, const ldm_perf_row *rows,
                                ldm_perf_sum *s) {
  int nl = 0;
  int *lv = ldm_malloc(((size_t)g->nn + 1) * sizeof *lv);
  double *sum = ldm_calloc((size_t)g->nn + 1, sizeof *sum), *mx = ldm_calloc((size_t)g->nn + 1, sizeof *mx);
  ldm_status st = lv && sum && mx ? ldm_perf_earliest_levels(g, lv, &nl) : LDM_ERR_NOMEM;
  if (st == LDM_OK) {
    for (int i = 0; i < g->nn; i++) {
      sum[lv[i]] += rows[i].full_us;
      if (rows[i].us > mx[lv[i]]) mx[lv[i]] = rows[i].us;
    }
    double work = 0;
    for (int l = 0; l < nl; l++) work += (sum[l] > mx[l] ? sum[l] : mx[l]) * 1e-3;
    s->level_barriers = nl > 0 ? nl - 1 : 0;
    s->level_ms = work + s->dispatch_ms + s->level_barriers * t->barrier_us * 1e-3;
  }
  free(lv);
  free(sum);
  free(mx);
  return st;
}

/* The launched tiles with S = 1 .. LDM_PERF_SPLIT_PROBE splits of the depth instead (whole 16-deep slabs, no
 * empty split: S' = ceil(slabs / ceil(slabs / S)), as the split shaders divide it): the best fill one reaches,
 * and the fastest that fills to LDM_PERF_LOW_FILL, costed as the row (its FLOPs; the workspace's partials
 * written and read, 8 bytes per output and split, as cost.c counts the launched split's). Not for the parity
 * variant of strided backward data (its z is the parities) nor a batched GEMM (no split-K). */
static void split_probe(const ldm_perf_target *t, double tc, double bw, ldm_perf_row *r) {
  const ldm_perf_cost *c = &r->c;
  bool sub = strstr(r->l.shader, "_sub") != NULL, batched = strncmp(r->l.shader, "gemm", 4) == 0 && c->mm_batch > 1;
  if (c->mm_depth <= 0 || sub || batched) return;
  uint32_t s0 = c->mm_split ? c->mm_split : 1;
  uint64_t base = r->groups / s0, inv = r->groups ? r->threads / r->groups : 256;
  double z = c->mm_batch > 0 ? (double)c->mm_batch : 1, out = (double)c->mm_rows * (double)c->mm_cols * z;
  double bytes = c->bytes_rd + c->bytes_wr - (s0 > 1 ? 8.0 * s0 * out : 0);
  int64_t slabs = (c->mm_depth + 15) / 16;
  for (int64_t sp = 1; sp <= LDM_PERF_SPLIT_PROBE && sp <= slabs; sp++) {
    uint32_t eff = ldm_split_effective(slabs, (uint32_t)sp);
    double f = ldm_tile_fill((double)base * (double)eff * (double)inv, t->cus);
    if (f > r->split_fill + 1e-9) r->split_fill = f, r->split_fill_s = eff;
    double tm = (bytes + (eff > 1 ? 8.0 * (double)eff * out : 0)) / bw, us = (tc > tm ? tc : tm) * 1e6 / f;
    if (f >= LDM_PERF_LOW_FILL && (r->split_us == 0 || us < r->split_us))
      r->split_us = us, r->split_us_s = eff, r->split_full_us = us * f;
  }
}

ldm_status ldm_perf_model(const ldm_graph *g, const ldm_perf_target *t, ldm_perf_row *rows, ldm_perf_sum *s) {
  memset(s, 0, sizeof *s);
  if (!g->planned) return LDM_FAIL(LDM_ERR_INTERNAL, "the performance model needs a planned graph");
  ldm_deps deps = {0};
  ldm_status st = LDM_OK;
  double peak = t->peak_tflops * 1e12, bw = t->bw_gbs * 1e9 * t->mem_eff;
  double sum_full = 0, max_alone = 0; /* of the current level */
  int level = 0;
  for (int i = 0; i < g->nn && st == LDM_OK; i++) {
    const ldm_node *n = &g->n[i];
    ldm_perf_row r;
    memset(&r, 0, sizeof r);
    r.node = i;
    st = ldm_deps_next(&deps, g, n, false, &r.barrier);
    if (st != LDM_OK) break;
    if (r.barrier) {
      add_level(sum_full, max_alone, s);
      sum_full = max_alone = 0;
      level++;
      s->barriers++;
    }
    r.level = level;
    ldm_node_launch(g, n, &t->lim, &r.l);
    r.groups = (uint64_t)r.l.groups[0] * r.l.groups[1] * r.l.groups[2];
    /* the fill in resident threads: a 64-thread workgroup is not a whole unit's work */
    uint32_t inv = r.l.local ? r.l.local : r.l.nspec ? r.l.spec[0] : 256;
    r.threads = r.groups * inv;
    double wave = (double)t->cus * LDM_TILE_RESIDENT;
    bool under = (double)r.threads < wave;
    r.waves = (double)r.threads / wave;
    r.fill = under ? (double)r.threads / wave : 1.0;
    ldm_perf_node_cost(g, n, &r.l, &r.c);
    if (r.c.kc == LDM_KC_TILED) r.fill = ldm_tile_fill((double)r.threads, t->cus); /* whole waves */
    double eff = r.c.kc == LDM_KC_TILED ? ldm_perf_tiled_eff(t, r.c.smem_b_per_fma) : ldm_perf_eff(t, r.c.kc);
    double tc = r.c.computed_flops / (peak * eff), tm = (r.c.bytes_rd + r.c.bytes_wr) / bw;
    r.full_us = (tc > tm ? tc : tm) * 1e6;
    r.us = r.full_us / r.fill;
    for (int k = 0; k < r.c.njobs; k++) { /* a multi-job dispatch: no faster than its slowest job alone */
      double jf = r.c.job_groups[k] >= t->cus ? 1.0 : (double)r.c.job_groups[k] / t->cus;
      double jus = r.c.job_bytes[k] / bw * 1e6 / (jf > 0 ? jf : 1.0);
      if (jus > r.us) r.us = jus;
    }
    if (r.c.kc == LDM_KC_TILED) split_probe(t, tc, bw, &r);
    sum_full += r.full_us;
    if (r.us > max_alone) max_alone = r.us;
    s->dispatches++;
    if (under) s->below++;
    if (r.c.kc != LDM_KC_MEMORY) {
      s->mm++;
      if (under) s->mm_below++;
      if (r.fill < LDM_PERF_LOW_FILL) {
        s->mm_low_fill++;
        if (r.split_fill >= LDM_PERF_LOW_FILL) s->mm_split_fills++;
        if (r.split_us > 0 && r.split_us < r.us * (1 - LDM_PERF_SPLIT_GAIN)) s->mm_split_faster++;
      }
    }
    s->useful_flops += r.c.useful_flops;
    s->computed_flops += r.c.computed_flops;
    s->bytes_rd += r.c.bytes_rd;
    s->bytes_wr += r.c.bytes_wr;
    if (rows) rows[i] = r;
  }
  ldm_deps_free(&deps);
  if (st != LDM_OK) return st;
  add_level(sum_full, max_alone, s);
  s->dispatch_ms = s->dispatches * t->dispatch_us * 1e-3;
  s->barrier_ms = s->barriers * t->barrier_us * 1e-3;
  s->total_ms = s->work_ms + s->dispatch_ms + s->barrier_ms;
  if (rows) split_level_gains(rows, g->nn, s);
  return rows ? level_what_if(g, t, rows, s) : LDM_OK;
}
