/* The level schedule of ldm_graph_plan (src/core/graph_sched.c) and its memory plan (memplan.c), without a
 * device: the order constraints on small hand-built graphs (a diamond, a node that waits next to its reader,
 * an accumulated tensor with two writers, views over one base, a fence), and on the real train and
 * sampling graphs (fmnist and tiny): every pair of nodes that conflict on tensors keeps its order, no node
 * crosses a fence or n_forward, the tensor rule is the recorder's range rule when nothing is reused, and
 * the recorder's barriers are the schedule's levels (the memory plan adds none). Counts only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "core/sched.h"
#include "ldm/ops.h"
#include "ldm/train.h"
#include "perf/workloads.h"
#include "vk/deps.h"

/* label every node with its recorded index, plan, and return where each recorded node went */
static void plan_tagged(ldm_graph *g, int *pos) {
  for (int i = 0; i < g->nn; i++) snprintf(g->n[i].label, sizeof g->n[i].label, "#%d", i);
  ck_assert_msg(ldm_graph_plan(g) == LDM_OK, "%s", ldm_last_error());
  for (int k = 0; k < g->nn; k++) pos[atoi(g->n[k].label + 1)] = k;
}

static int nlevels(const ldm_graph *g) {
  int lv[64], nl = 0;
  ck_assert_int_le(g->nn, 64);
  ck_assert_int_eq(ldm_sched_levels(g, lv, &nl), LDM_OK);
  return nl;
}

#define ORDER(pos, ...)                                                                    \
  do {                                                                                        \
    const int want_[] = {__VA_ARGS__};                                                        \
    for (int k_ = 0; k_ < (int)(sizeof want_ / sizeof want_[0]); k_++)                        \
      ck_assert_msg(pos[want_[k_]] == k_, "recorded node %d at %d, want %d", want_[k_], pos[want_[k_]], k_); \
  } while (0)

/* a = 2x, b = 3x, c = a + b, d = 4y, f = 5d (kept): recorded, d shares c's level and f needs a third; scheduled,
 * d joins a and b, f joins c: two levels */
START_TEST(diamond) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 1, LDM_SHAPE(100)), y = ldm_act(&g, "y", 1, LDM_SHAPE(100));
  ldm_keep(&g, x), ldm_keep(&g, y);
  int c = ldm_add(&g, ldm_scale(&g, x, 2.0f), ldm_scale(&g, x, 3.0f));
  int f = ldm_scale(&g, ldm_scale(&g, y, 4.0f), 5.0f);
  ldm_keep(&g, c), ldm_keep(&g, f);
  int pos[5];
  plan_tagged(&g, pos);
  ORDER(pos, 0, 1, 3, 2, 4);
  ck_assert_int_eq(nlevels(&g), 2);
  ldm_graph_free(&g);
  /* LDM_NO_SCHEDULE=1: the recorded order, three levels */
  setenv("LDM_NO_SCHEDULE", "1", 1);
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  x = ldm_act(&g, "x", 1, LDM_SHAPE(100)), y = ldm_act(&g, "y", 1, LDM_SHAPE(100));
  ldm_keep(&g, x), ldm_keep(&g, y);
  c = ldm_add(&g, ldm_scale(&g, x, 2.0f), ldm_scale(&g, x, 3.0f));
  f = ldm_scale(&g, ldm_scale(&g, y, 4.0f), 5.0f);
  ldm_keep(&g, c), ldm_keep(&g, f);
  plan_tagged(&g, pos);
  unsetenv("LDM_NO_SCHEDULE");
  ORDER(pos, 0, 1, 2, 3, 4);
  ck_assert_int_eq(nlevels(&g), 3);
  ldm_graph_free(&g);
}
END_TEST

/* p = 5y is recorded first but read only at the end of a chain s1 -> s2 -> s3: it waits in the level before
 * its reader (its output is not kept, so placing it early would only lengthen its life) */
START_TEST(producer_waits_for_its_reader) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 1, LDM_SHAPE(100)), y = ldm_act(&g, "y", 1, LDM_SHAPE(100));
  ldm_keep(&g, x), ldm_keep(&g, y);
  int p = ldm_scale(&g, y, 5.0f);
  int s = ldm_scale(&g, ldm_scale(&g, ldm_scale(&g, x, 2.0f), 3.0f), 4.0f);
  int q = ldm_add(&g, s, p);
  ldm_keep(&g, q);
  int pos[5];
  plan_tagged(&g, pos);
  ORDER(pos, 1, 2, 0, 3, 4); /* levels {1} {2} {0, 3} {4}, each in the recorded order */
  ck_assert_int_eq(nlevels(&g), 4);
  ldm_graph_free(&g);
}
END_TEST

/* gsum = sum(2u) then gsum += sum(3v) (3v kept): the two writers keep their order (the second one's input
 * moves up next to the first one's), and the reader of gsum comes after both */
START_TEST(accumulated_tensor_two_writers) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int u = ldm_act(&g, "u", 2, LDM_SHAPE(4, 8)), v = ldm_act(&g, "v", 2, LDM_SHAPE(4, 8));
  int gs = ldm_act(&g, "gsum", 1, LDM_SHAPE(4));
  ldm_keep(&g, u), ldm_keep(&g, v), ldm_keep(&g, gs);
  ldm_reduce_sum(&g, ldm_scale(&g, u, 2.0f), gs, 1, 4, 8, 1.0f, 0); /* nodes 0, 1 */
  int b = ldm_scale(&g, v, 3.0f);                                    /* node 2 */
  ldm_keep(&g, b);
  ldm_reduce_sum(&g, b, gs, 1, 4, 8, 1.0f, 1);                       /* node 3 */
  int r = ldm_scale(&g, gs, 0.5f);                                   /* node 4 */
  ldm_keep(&g, r);
  ck_assert_int_eq(g.nn, 5);
  int pos[5];
  plan_tagged(&g, pos);
  ORDER(pos, 0, 2, 1, 3, 4);
  ck_assert_int_eq(nlevels(&g), 4);
  ldm_graph_free(&g);
}
END_TEST

static void fill_node(ldm_graph *g, int t, float value) {
  struct { float value; uint32_t n; } pc = {value, (uint32_t)g->t[t].numel};
  ck_assert_int_ge(ldm_node_add(g, LDM_OP_fill, NULL, 0, &t, 1, &pc, sizeof pc, "fill"), 0);
}

/* two views of the two halves of X: their writers share a level; a reader of the whole X comes after both;
 * a later write of the first half stays after that reader (write after read); a reader of the second half
 * needs only its writer */
START_TEST(views_over_one_base) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int X = ldm_act(&g, "X", 2, LDM_SHAPE(2, 64));
  ldm_keep(&g, X);
  int v1 = ldm_view(&g, X, "X.0", 0, 1, LDM_SHAPE(64)), v2 = ldm_view(&g, X, "X.1", 64, 1, LDM_SHAPE(64));
  fill_node(&g, v1, 1.0f);             /* 0 */
  fill_node(&g, v2, 2.0f);             /* 1 */
  int s = ldm_scale(&g, X, 2.0f);      /* 2 */
  fill_node(&g, v1, 3.0f);             /* 3 */
  int w = ldm_scale(&g, v2, 4.0f);     /* 4 */
  ldm_keep(&g, s), ldm_keep(&g, w);
  int pos[5];
  plan_tagged(&g, pos);
  ORDER(pos, 0, 1, 2, 4, 3);
  ck_assert_int_eq(nlevels(&g), 3);
  ldm_graph_free(&g);
}
END_TEST

/* a = 2x, b = 3a | fence | c = 4b, e = 5c, d = 6x: d is independent of all but may not cross the fence;
 * after it, d joins c */
START_TEST(fence_is_kept) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 1, LDM_SHAPE(100));
  ldm_keep(&g, x);
  int b = ldm_scale(&g, ldm_scale(&g, x, 2.0f), 3.0f);
  ldm_keep(&g, b);
  int slot = ldm_graph_fence(&g);
  int e = ldm_scale(&g, ldm_scale(&g, b, 4.0f), 5.0f);
  int d = ldm_scale(&g, x, 6.0f);
  ldm_keep(&g, e), ldm_keep(&g, d);
  int pos[5];
  plan_tagged(&g, pos);
  ORDER(pos, 0, 1, 2, 4, 3);
  ck_assert_int_eq(ldm_graph_fence_node(&g, slot), 2);
  ldm_graph_free(&g);
}
END_TEST

/* the part (between n_forward and fences) node i belongs to */
static int part_of(const ldm_graph *g, int i) {
  int p = g->n_forward > 0 && i >= g->n_forward;
  for (int f = 0; f < g->nfence; f++) p = 2 * p + (i >= g->fence[f]);
  return p;
}

static void build(const char *config, const char *no_schedule, const char *no_memplan, ldm_perf_workloads *w) {
  ldm_train_opts o;
  ldm_train_defaults(&o);
  snprintf(o.config, sizeof o.config, "%s", config);
  if (no_schedule) setenv("LDM_NO_SCHEDULE", no_schedule, 1);
  if (no_memplan) setenv("LDM_NO_MEMPLAN", no_memplan, 1);
  ldm_status s = ldm_perf_workloads_build(&o, w);
  unsetenv("LDM_NO_SCHEDULE");
  unsetenv("LDM_NO_MEMPLAN");
  ck_assert_msg(s == LDM_OK, "%s", ldm_last_error());
}

static void real_graphs(const char *config) {
  /* the schedule alone: the merge pass after it (src/core/fuse.c) merges differently in the two orders */
  setenv("LDM_NO_FUSE", "1", 1);
  /* no reuse, recorded order: the tensor rule is the recorder's range rule, pair by pair */
  ldm_perf_workloads raw, rec, sch;
  build(config, "1", "1", &raw);
  for (int k = 0; k < LDM_PERF_NWL; k++) {
    const ldm_graph *g = &raw.g[k];
    for (int i = 0; i < g->nn; i++)
      for (int j = i + 1; j < g->nn; j++)
        ck_assert_msg(ldm_sched_conflict(g, &g->n[i], &g->n[j]) == ldm_deps_conflict(g, &g->n[i], &g->n[j]),
                      "%s %s: nodes %d and %d: the tensor and range rules differ", config, raw.name[k], i, j);
  }
  ldm_perf_workloads_free(&raw);
  /* the recorded order (planned), its schedule, and the graphs planned with the schedule */
  build(config, "1", NULL, &rec);
  build(config, NULL, NULL, &sch);
  int moved_any = 0;
  for (int k = 0; k < LDM_PERF_NWL; k++) {
    const ldm_graph *g = &rec.g[k], *h = &sch.g[k];
    int n = g->nn;
    ck_assert_int_eq(h->nn, n);
    ck_assert_int_eq(h->n_forward, g->n_forward);
    ck_assert_int_eq(h->nfence, g->nfence);
    for (int f = 0; f < g->nfence; f++) ck_assert_int_eq(h->fence[f], g->fence[f]);
    int *perm = malloc((size_t)n * sizeof *perm), *at = malloc((size_t)n * sizeof *at);
    ck_assert_int_eq(ldm_sched_order(g, perm), LDM_OK);
    for (int p = 0; p < n; p++) at[p] = -1;
    for (int p = 0; p < n; p++) {
      ck_assert(perm[p] >= 0 && perm[p] < n && at[perm[p]] < 0);
      at[perm[p]] = p;
      ck_assert_msg(part_of(g, perm[p]) == part_of(g, p), "%s %s: node %d crosses a fence", config, rec.name[k], perm[p]);
      /* the plan ran this schedule */
      ck_assert_msg(memcmp(&h->n[p], &g->n[perm[p]], sizeof h->n[p]) == 0, "%s %s: node %d differs", config,
                    rec.name[k], p);
    }
    int conflicts = 0, moved = 0;
    for (int i = 0; i < n; i++) {
      moved += at[i] != i;
      for (int j = i + 1; j < n; j++)
        if (ldm_sched_conflict(g, &g->n[i], &g->n[j])) {
          conflicts++;
          ck_assert_msg(at[i] < at[j], "%s %s: conflicting nodes %d and %d swapped", config, rec.name[k], i, j);
        }
    }
    ck_assert_int_gt(conflicts, 0);
    moved_any += moved; /* the schedule does reorder these graphs (the fmnist UNet forward, since the time
                         * embedding's SiLU went into its GEMM, comes in schedule order already) */
    /* the recorder's barriers on the scheduled, planned graph: one per level boundary, not more */
    int *lv = malloc((size_t)n * sizeof *lv), nl = 0;
    ck_assert_int_eq(ldm_sched_levels(h, lv, &nl), LDM_OK);
    ldm_perf_sum s0, s1;
    ck_assert_int_eq(ldm_perf_model(g, ldm_perf_target_find("h200"), NULL, &s0), LDM_OK);
    ck_assert_int_eq(ldm_perf_model(h, ldm_perf_target_find("h200"), NULL, &s1), LDM_OK);
    ck_assert_int_eq(s1.barriers, nl - 1);
    ck_assert_int_le(s1.barriers, s0.barriers);
    free(lv);
    free(perm);
    free(at);
  }
  ck_assert_msg(moved_any > 0, "%s: the schedule moved no node of any workload", config);
  ldm_perf_workloads_free(&rec);
  ldm_perf_workloads_free(&sch);
  unsetenv("LDM_NO_FUSE");
}

START_TEST(real_graphs_fmnist) { real_graphs("fmnist"); }
END_TEST

START_TEST(real_graphs_tiny) { real_graphs("tiny"); }
END_TEST

static void add(TCase *tc) {
  tcase_add_test(tc, diamond);
  tcase_add_test(tc, producer_waits_for_its_reader);
  tcase_add_test(tc, accumulated_tensor_two_writers);
  tcase_add_test(tc, views_over_one_base);
  tcase_add_test(tc, fence_is_kept);
  tcase_add_test(tc, real_graphs_fmnist);
  tcase_add_test(tc, real_graphs_tiny);
}

int main(void) { return ldm_test_run("sched", "schedule", 300, false, add) ? 1 : 0; }
