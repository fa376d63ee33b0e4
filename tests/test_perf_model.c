/* The performance model of `ldm-vk bench --model` (src/perf), without any device: the exact dispatch and
 * barrier counts of the fmnist workloads against the checked-in baseline (argv[1], tests/data/
 * perf_counts.json), a changed baseline is refused with a message naming the count, and the barrier rule on
 * a graph small enough to count by hand. Counts only: no timing is judged here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "ldm/ops.h"
#include "ldm/train.h"
#include "perf/workloads.h"
#include "vk/plan.h"

static const char *baseline_path;

static void fmnist_workloads(ldm_perf_workloads *w) {
  ldm_train_opts o;
  ldm_train_defaults(&o); /* fmnist, preset auto (full on a GPU target), batch 128 */
  ck_assert_int_eq(ldm_perf_workloads_build(&o, w), LDM_OK);
  ck_assert_str_eq(w->preset, "full");
  ck_assert_int_eq(w->batch, 128);
}

START_TEST(counts_match_baseline) {
  ldm_perf_workloads w;
  fmnist_workloads(&w);
  ldm_status s = ldm_perf_baseline_check(baseline_path, &w);
  if (s != LDM_OK) fprintf(stderr, "%s\n", ldm_last_error());
  ck_assert_int_eq(s, LDM_OK);
  ldm_perf_workloads_free(&w);
}
END_TEST

/* one count of the baseline changed by one: refused, naming that count and the way to update the file */
START_TEST(changed_count_is_refused) {
  ldm_perf_workloads w;
  fmnist_workloads(&w);
  char path[] = "/tmp/ldm_perf_counts_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ck_assert_int_eq(ldm_perf_baseline_write(path, &w), LDM_OK);
  ck_assert_int_eq(ldm_perf_baseline_check(path, &w), LDM_OK);
  /* rewrite "unet_train": {"dispatches": N, "barriers": B with B + 1 */
  FILE *r = fopen(path, "rb");
  ck_assert_ptr_nonnull(r);
  char text[8192];
  size_t n = fread(text, 1, sizeof text - 1, r);
  fclose(r);
  text[n] = 0;
  char *p = strstr(text, "\"unet_train\"");
  ck_assert_ptr_nonnull(p);
  p = strstr(p, "\"barriers\": ");
  ck_assert_ptr_nonnull(p);
  p += strlen("\"barriers\": ");
  int b = atoi(p);
  char *end = p;
  while (*end >= '0' && *end <= '9') end++;
  char out[8300];
  snprintf(out, sizeof out, "%.*s%d%s", (int)(p - text), text, b + 1, end);
  FILE *wf = fopen(path, "wb");
  ck_assert_ptr_nonnull(wf);
  fputs(out, wf);
  fclose(wf);
  ck_assert_int_eq(ldm_perf_baseline_check(path, &w), LDM_ERR_MISMATCH);
  const char *msg = ldm_last_error();
  ck_assert_ptr_nonnull(strstr(msg, "UNet train step: barriers changed from"));
  ck_assert_ptr_nonnull(strstr(msg, "--write-baseline"));
  remove(path);
  ldm_perf_workloads_free(&w);
}
END_TEST

/* y = 2x and z = 3x read the same input and write different tensors: one level; w = y + z reads what they
 * wrote: a barrier. The model's counts are the recorder's rule (vk/deps.c). */
START_TEST(barrier_rule_by_hand) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 2, LDM_SHAPE(64, 1000));
  ldm_keep(&g, x);
  int w = ldm_add(&g, ldm_scale(&g, x, 2.0f), ldm_scale(&g, x, 3.0f));
  ldm_keep(&g, w);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_perf_sum s;
  ldm_perf_row rows[3];
  ck_assert_int_eq(g.nn, 3);
  ck_assert_int_eq(ldm_perf_model(&g, ldm_perf_target_find("h200"), rows, &s), LDM_OK);
  ck_assert_int_eq(s.dispatches, 3);
  ck_assert_int_eq(s.barriers, 1);
  ck_assert(!rows[0].barrier && !rows[1].barrier && rows[2].barrier);
  ck_assert_int_eq(rows[1].level, 0);
  ck_assert_int_eq(rows[2].level, 1);
  /* 64000 elements: 250 workgroups of 256, more than 132 SMs; each node moves its tensors once */
  ck_assert_int_eq((int)rows[0].groups, 250);
  ck_assert_int_eq(s.below, 0);
  ck_assert(rows[2].c.bytes_rd == 2 * 64000.0 * 4 && rows[2].c.bytes_wr == 64000.0 * 4);
  int lv[3], nl = 0;
  ck_assert_int_eq(ldm_perf_earliest_levels(&g, lv, &nl), LDM_OK);
  ck_assert(lv[0] == 0 && lv[1] == 0 && lv[2] == 1 && nl == 2);
  ck_assert_int_eq(s.level_barriers, 1);
  ldm_graph_free(&g);
}
END_TEST

/* every GEMM/conv dispatch computes at least its useful FLOPs; every target models every workload */
START_TEST(tiles_cover_the_work) {
  ldm_perf_workloads w;
  fmnist_workloads(&w);
  int nt;
  const ldm_perf_target *t = ldm_perf_targets(&nt);
  ck_assert_int_ge(nt, 4);
  for (int i = 0; i < nt; i++)
    for (int k = 0; k < LDM_PERF_NWL; k++) {
      ldm_perf_row *rows = calloc((size_t)w.g[k].nn, sizeof *rows);
      ldm_perf_sum s;
      ck_assert_int_eq(ldm_perf_model(&w.g[k], &t[i], rows, &s), LDM_OK);
      ck_assert_int_eq(s.dispatches, w.g[k].nn);
      int levels = 0;
      double gain = 0;
      ck_assert(s.total_ms > 0 && s.computed_flops >= s.useful_flops);
      for (int n = 0; n < w.g[k].nn; n++) {
        const ldm_perf_row *r = &rows[n];
        ck_assert(r->groups >= 1);
        if (r->c.kc != LDM_KC_MEMORY) ck_assert(r->c.computed_flops >= r->c.useful_flops);
        ck_assert(r->fill > 0 && r->fill <= 1);
        /* the split probe tries the launched split too: it never reports less fill than the launch has */
        if (r->split_fill_s > 0) ck_assert(r->split_fill >= r->fill - 1e-9);
        if (r->split_us > 0) ck_assert(r->split_fill >= LDM_PERF_LOW_FILL && r->split_us_s >= 1);
        /* a split that does not lower the dispatch's full-occupancy time (more workspace) shortens its level
         * only as the level's longest dispatch alone, by at most what it saves alone */
        if (r->split_level_gain_us > 0) {
          ck_assert(r->fill < LDM_PERF_LOW_FILL && r->split_us > 0);
          if (r->split_full_us >= r->full_us - 1e-9)
            ck_assert(r->split_level_gain_us <= r->us - r->split_us + 1e-9);
          levels++, gain += r->split_level_gain_us;
        }
      }
      ck_assert(s.mm_split_faster <= s.mm_split_fills && s.mm_split_fills <= s.mm_low_fill && s.mm_low_fill <= s.mm);
      ck_assert_int_eq(s.mm_split_level_faster, levels);
      ck_assert(fabs(s.split_level_gain_ms - gain * 1e-3) < 1e-9);
      free(rows);
    }
  ldm_perf_workloads_free(&w);
}
END_TEST

/* whole waves (vk/plan.h ldm_tile_fill): under one wave the units used, over one the last wave's share */
START_TEST(fill_counts_whole_waves) {
  const double w = LDM_TILE_RESIDENT;
  ck_assert(fabs(ldm_tile_fill(64 * w, 132) - 64.0 / 132) < 1e-12);
  ck_assert(fabs(ldm_tile_fill(132 * w, 132) - 1) < 1e-12);
  ck_assert(fabs(ldm_tile_fill(150 * w, 132) - 150.0 / 264) < 1e-12);
  ck_assert(fabs(ldm_tile_fill(264 * w, 132) - 1) < 1e-12);
  ck_assert(fabs(ldm_tile_fill(400 * w, 132) - 400.0 / 528) < 1e-12);
  ck_assert(fabs(ldm_tile_fill(3 * w, 0) - 1) < 1e-12); /* no unit count: one */
}
END_TEST

static void add(TCase *tc) {
  tcase_add_test(tc, fill_counts_whole_waves);
  tcase_add_test(tc, counts_match_baseline);
  tcase_add_test(tc, changed_count_is_refused);
  tcase_add_test(tc, barrier_rule_by_hand);
  tcase_add_test(tc, tiles_cover_the_work);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_perf_model BASELINE.json\n");
    return 2;
  }
  baseline_path = argv[1];
  return ldm_test_run("perf-model", "counts", 120, false, add) ? 1 : 0;
}
