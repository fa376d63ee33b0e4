/* Every conformance case (the list `ldm-vk conformance` runs) three ways - the plain reference (src/ref),
 * the fast CPU twins and the Vulkan device - twice: with the device's own limits, and with every
 * LDM_VK_* limit forced low (small shared memory, no fp16, no subgroup operations, 2 MiB bindings) - the
 * stand-in for mobile and other vendors. Together the two runs must launch every shader embedded in the
 * binary (tests/shader_coverage.h). Without a device (or with LDM_TEST_CPU_ONLY=1) the fast CPU twins
 * are still checked against the reference, case by case; LDM_REQUIRE_VULKAN=1 makes a missing device a
 * failure instead. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "core/ops.h"
#include "core/shaders.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ref/ref.h"
#include "shader_coverage.h"
#include "vk_test_util.h"

static ldm_vk_ctx *vk_default, *vk_low, *vk;
static const ldm_conf_case *cases;
static int ncases;

START_TEST(conformance_case) {
  const ldm_conf_case *c = &cases[_i];
  if (c->full_only) return;
  ldm_conf_result r;
  ldm_status s = ldm_conf_run(c, vk, 42, &r);
  ck_assert_msg(s == LDM_OK, "%s [%s]: %s", c->op, c->shape, ldm_last_error());
  ck_assert_msg(r.vk_run == (vk != NULL), "%s [%s]: device run %d", c->op, c->shape, r.vk_run);
  ck_assert_msg(r.pass,
                "%s [%s]: NMSE device-vs-ref %.3g, CPU-vs-ref %.3g (tol %.3g), worst element %.3g / %.3g of its "
                "bound: %s",
                c->op, c->shape, r.vk_ref.nmse, r.cpu_ref.nmse, r.tol, r.vk_ref.max_ratio, r.cpu_ref.max_ratio,
                r.message);
}
END_TEST

/* every op has a reference and a case of its own (so every fast twin and shader meets the reference) */
START_TEST(every_op_has_a_reference_and_a_case) {
  for (int op = 0; op < LDM_OP_COUNT; op++) {
    ck_assert_msg(ldm_ref_of(op) != NULL, "op %s has no reference", ldm_op(op)->name);
    bool named = false;
    for (int i = 0; i < ncases; i++) named |= strcmp(cases[i].op, ldm_op(op)->name) == 0;
    ck_assert_msg(named, "no conformance case is named after op %s", ldm_op(op)->name);
  }
  ck_assert_ptr_null(ldm_ref_of(LDM_OP_COUNT));
  ck_assert_ptr_null(ldm_ref_of(-1));
}
END_TEST

static bool launched(const char *name) {
  ldm_vk_ctx *both[2] = {vk_default, vk_low};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < ldm_vk_pipeline_count(both[k]); i++)
      if (strcmp(ldm_vk_pipeline_shader(both[k], i), name) == 0) return true;
  return false;
}

START_TEST(every_shader_is_covered) {
  size_t nexp = sizeof expected_shaders / sizeof expected_shaders[0];
  for (size_t i = 0; i < ldm_shader_count(); i++) {
    const char *name = ldm_shader_at(i)->name;
    bool listed = false;
    for (size_t k = 0; k < nexp; k++) listed |= strcmp(expected_shaders[k], name) == 0;
    ck_assert_msg(listed, "shader %s is embedded but not a variant of src/ops/ops.def", name);
  }
  for (size_t k = 0; k < nexp; k++) {
    ck_assert_msg(ldm_shader_find(expected_shaders[k]) != NULL, "listed shader %s is not built", expected_shaders[k]);
    ck_assert_msg(launched(expected_shaders[k]), "no conformance case launches shader %s", expected_shaders[k]);
  }
}
END_TEST

/* The ops whose only checks are their conformance cases (no op-specific suite), named here so that a case
 * renamed or dropped is seen by name: each has a case of its name, every one of them passed above
 * (conformance_case), and with a device each launched its shader - for the unary.comp family the variants
 * fill, copy, ew_scale, clamp and the activations silu, gelu. */
START_TEST(ops_checked_only_here_have_their_cases) {
  static const char *const ops[] = {"adamw", "cfg_rescale", "channel_copy", "embedding_backward", "gather_rows",
                                    "grad_norm_clip", "grad_norm_partial", "inpaint_blend", "kl_loss_backward",
                                    "label_dropout", "min_snr_weight", "philox_fill", "q_sample_backward",
                                    "reparam_backward", "sampler_step", "sgd", "timestep_embedding",
                                    "upsample2x_backward", "fill", "copy", "ew_scale", "clamp", "silu", "gelu"};
  static const char *const unary[] = {"fill", "copy", "ew_scale", "clamp", "silu", "gelu"};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    int n = 0;
    for (int i = 0; i < ncases; i++) n += strcmp(cases[i].op, ops[k]) == 0;
    ck_assert_msg(n > 0, "no conformance case is named %s", ops[k]);
    ck_assert_msg(ldm_shader_find(ops[k]) != NULL, "op %s has no shader of its name", ops[k]);
    if (vk) ck_assert_msg(launched(ops[k]), "the cases of %s did not launch its shader", ops[k]);
  }
  for (size_t k = 0; k < sizeof unary / sizeof unary[0]; k++)
    ck_assert_msg(ldm_shader_find(unary[k]) != NULL, "unary.comp variant %s is not built", unary[k]);
}
END_TEST

/* A case whose build fails is a failed run with the graph's recorded error as its message: a refused
 * helper (a tensor of dimension 0), and a refused op whose result the case dropped (an out-of-range
 * view under ldm_fill). */
static ldm_status c_bad_input(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 1, LDM_SHAPE(a->n), -1, 1);
  ldm_conf_compare(cc, g, ldm_silu(g, x));
  return ldm_graph_status(g);
}
static ldm_status c_dropped_refusal(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int o = ldm_conf_output(cc, g, "out", 1, LDM_SHAPE(a->n));
  ldm_fill(g, ldm_view(g, o, "past the end", a->n, 1, LDM_SHAPE(1)), 1.0f);
  return ldm_graph_status(g);
}
START_TEST(a_failed_build_fails_with_its_message) {
  const ldm_conf_case bad[2] = {{.op = "silu", .shape = "0", .build = c_bad_input, .a = {.n = 0}},
                                {.op = "fill", .shape = "7", .build = c_dropped_refusal, .a = {.n = 7}}};
  const char *want[2] = {"invalid dimension 0", "out of range"};
  for (int k = 0; k < 2; k++) {
    ldm_conf_result r;
    ldm_status s = ldm_conf_run(&bad[k], NULL, 42, &r);
    ck_assert_int_eq(s, LDM_ERR_INVALID_ARG);
    ck_assert(!r.pass);
    ck_assert_msg(strstr(r.message, want[k]) != NULL, "case %d: message '%s'", k, r.message);
  }
}
END_TEST

START_TEST(no_validation_messages) { ck_assert_uint_eq(ldm_vk_validation_messages(), 0); }
END_TEST

static bool final_run;
static void add_tests(TCase *tc) {
  tcase_add_loop_test(tc, conformance_case, 0, ncases);
  if (final_run) tcase_add_test(tc, every_op_has_a_reference_and_a_case);
  if (final_run) tcase_add_test(tc, a_failed_build_fails_with_its_message);
  if (final_run && vk) tcase_add_test(tc, every_shader_is_covered);
  if (final_run) tcase_add_test(tc, ops_checked_only_here_have_their_cases);
  if (vk) tcase_add_test(tc, no_validation_messages);
}

static int run_suite(const char *name, ldm_vk_ctx *ctx, bool final) {
  vk = ctx;
  final_run = final;
  return ldm_test_run(name, "cases", 900, true, add_tests);
}

int main(void) {
  cases = ldm_conf_cases(&ncases);
  const char *co = getenv("LDM_TEST_CPU_ONLY");
  bool cpu_only = co && atoi(co) != 0;
  if (!cpu_only && ldm_vk_open("vk", &vk_default) != LDM_OK) {
    fprintf(stderr, "no Vulkan device: %s\n", ldm_last_error());
    if (vk_test_required()) {
      fprintf(stderr, "LDM_REQUIRE_VULKAN=1: failing instead of skipping\n");
      return 1;
    }
    cpu_only = true;
  }
  if (cpu_only) {
    fprintf(stderr, "no device: only the fast CPU twins are checked against the reference\n");
    return run_suite("conformance (fast CPU vs reference)", NULL, true) ? 1 : 0;
  }
  setenv("LDM_VK_MAX_SHARED", "4096", 1);
  setenv("LDM_VK_MAX_BUFFER_RANGE", "2097152", 1);
  setenv("LDM_VK_DISABLE_FP16", "1", 1);
  setenv("LDM_VK_DISABLE_SUBGROUP", "1", 1);
  vk_low = vk_test_open();
  int failed = run_suite("conformance (device limits)", vk_default, false);
  failed += run_suite("conformance (all limits forced low)", vk_low, true);
  ldm_vk_close(vk_low);
  ldm_vk_close(vk_default);
  if (ldm_vk_validation_messages() != 0) {
    fprintf(stderr, "%llu validation messages\n", (unsigned long long)ldm_vk_validation_messages());
    failed++;
  }
  return failed ? 1 : 0;
}
