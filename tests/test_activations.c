/* Every activation op (ldm_act_list.h, generated from the `act NAME` entries of src/ops/ops.def), with no
 * code per activation: autodiff of d/dx sum(NAME(x) * w) against central finite differences on the CPU,
 * and the fast CPU twins ldm_cpu_NAME[_backward] against the plain references ldm_ref_NAME[_backward] in
 * double, element by element at a tight bound, over a grid of x in [-12, 12] and a few special values. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "gradcheck_util.h"
#include "ops/basic.h"
#include "ref/ref.h"

/* the gradient-check bodies and the list of activations */
#define LDM_ACT(a)                                                                                 \
  static int b_##a(ldm_graph *g, const int *in, const int *arg) { return ldm_##a(g, in[0]); }
#include "ldm_act_list.h"
#undef LDM_ACT

static const struct {
  const char *name;
  gc_body body;
  int (*build)(ldm_graph *g, int x);
} acts[] = {
#define LDM_ACT(a) {#a, b_##a, ldm_##a},
#include "ldm_act_list.h"
#undef LDM_ACT
};
#define NACT ((int)(sizeof acts / sizeof acts[0]))

START_TEST(every_activation_is_an_op_pair) {
  ck_assert_int_gt(NACT, 0);
  for (int k = 0; k < NACT; k++) {
    char bn[64];
    snprintf(bn, sizeof bn, "%s_backward", acts[k].name);
    int f = ldm_op_by_name(acts[k].name), b = ldm_op_by_name(bn);
    ck_assert_msg(f >= 0 && b == f + 1, "%s: ops %d and %d", acts[k].name, f, b);
    ck_assert(ldm_op_has_grad(f) && !ldm_op_has_grad(b));
    ck_assert_uint_eq(ldm_op_pc_size(f), 4);
    ck_assert_uint_eq(ldm_op_pc_size(b), 8);
  }
}
END_TEST

/* d/dx sum(act(x) * w) against central differences, x in [-4, 4) */
START_TEST(gradient_of_every_activation) {
  gc_in in[1] = {{GC_SHAPE(41), .lo = -4.0f, .hi = 4.0f}};
  for (int k = 0; k < NACT; k++) gc_check(acts[k].name, acts[k].body, NULL, 1, in, 41, 2e-3);
}
END_TEST

#define NX 4099
/* x: a grid over [-12, 12], then special values */
static void fill_x(float *x, float *dy) {
  static const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 0.5f, -0.5f, 1.0f, -1.0f,
                                  3.0f, -3.0f, 20.0f, -20.0f};
  int ns = (int)(sizeof special / sizeof special[0]);
  for (int i = 0; i < NX - ns; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(NX - ns - 1);
  for (int i = 0; i < ns; i++) x[NX - ns + i] = special[i];
  for (int i = 0; i < NX; i++) dy[i] = gc_unif(9, 1, (uint64_t)i, -1.0f, 1.0f);
}

/* |fast - ref| <= 1e-6 (1 + |ref|) for every element; returns the worst ratio */
static double compare(const char *what, const float *fast, const float *ref, const float *x) {
  double worst = 0;
  for (int i = 0; i < NX; i++) {
    double d = fabs((double)fast[i] - ref[i]), bound = 1e-6 * (1.0 + fabs(ref[i]));
    ck_assert_msg(isfinite(fast[i]) && d <= bound, "%s at x = %.9g: fast %.9g, reference %.9g", what, x[i], fast[i],
                  ref[i]);
    if (d / bound > worst) worst = d / bound;
  }
  return worst;
}

START_TEST(fast_twins_match_the_references) {
  float *x = malloc(NX * 4), *dy = malloc(NX * 4), *fast = malloc(NX * 4), *ref = malloc(NX * 4);
  ck_assert(x && dy && fast && ref);
  fill_x(x, dy);
  for (int k = 0; k < NACT; k++) {
    ldm_graph g;
    ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
    int t = ldm_act(&g, "x", 1, LDM_SHAPE(NX));
    ck_assert_int_ge(acts[k].build(&g, t), 0);
    ldm_node n = g.n[g.nn - 1]; /* the forward node: in x, out y */
    ck_assert_int_eq(n.op, ldm_op_by_name(acts[k].name));
    void *fb[2] = {x, fast}, *rb[2] = {x, ref};
    ldm_op(n.op)->cpu(&g, &n, fb);
    ldm_ref_of(n.op)(&g, &n, rb);
    double wf = compare(acts[k].name, fast, ref, x);

    /* the backward node: in x, dy; out dx (then once more accumulating into dx) */
    n.op += 1;
    n.nin = 2;
    struct {
      uint32_t n, accumulate;
    } pc = {NX, 0}; /* every activation's backward block (the manifest implies it) */
    memcpy(n.pc, &pc, sizeof pc);
    n.pc_size = sizeof pc;
    void *fb2[3] = {x, dy, fast}, *rb2[3] = {x, dy, ref};
    ldm_op(n.op)->cpu(&g, &n, fb2);
    ldm_ref_of(n.op)(&g, &n, rb2);
    char what[80];
    snprintf(what, sizeof what, "%s_backward", acts[k].name);
    double wb = compare(what, fast, ref, x);
    pc.accumulate = 1;
    memcpy(n.pc, &pc, sizeof pc);
    ldm_op(n.op)->cpu(&g, &n, fb2);
    ldm_ref_of(n.op)(&g, &n, rb2);
    compare(what, fast, ref, x);
    if (getenv("LDM_TEST_VERBOSE"))
      printf("%-12s fast vs reference: worst |d| / (1e-6 (1 + |ref|)) %.3g forward, %.3g backward\n", acts[k].name,
             wf, wb);
    ldm_graph_free(&g);
  }
  free(x);
  free(dy);
  free(fast);
  free(ref);
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, every_activation_is_an_op_pair);
  tcase_add_test(tc, gradient_of_every_activation);
  tcase_add_test(tc, fast_twins_match_the_references);
}

int main(void) { return gc_run_suite("activations", "activations", 120, add_tests); }
