/* The op manifest src/ops/ops.def against the code: every op's name and autodiff flag in the generated
 * table equal its ldm_op_desc (so the two cannot drift apart; the tolerance lives in the manifest only),
 * every block size is what the
 * executors accept and nothing else, every variant is embedded, and the step-buffer layout. */
#include <check.h>
#include <string.h>

#include "check_util.h"
#include "core/ops.h"
#include "core/shaders.h"
#include "ldm/step.h"

START_TEST(table_matches_descs) {
  for (int i = 0; i < LDM_OP_COUNT; i++) {
    const ldm_op_desc *d = ldm_op(i);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(ldm_op_by_name(d->name), i);
    ck_assert_msg((d->backward != NULL) == ldm_op_has_grad(i), "op %s: autodiff rule %s, manifest grad %s", d->name,
                  d->backward ? "yes" : "no", ldm_op_has_grad(i) ? "yes" : "no");
    const char *f = ldm_op_family(i);
    ck_assert_msg(f && (!strcmp(f, "basic") || !strcmp(f, "norm") || !strcmp(f, "conv") || !strcmp(f, "diffusion")),
                  "op %s: family %s", d->name, f ? f : "(null)");
    ck_assert_msg(ldm_op_pc_size(i) > 0 && ldm_op_pc_size(i) <= LDM_MAX_PC && ldm_op_pc_size(i) % 4 == 0,
                  "op %s: block of %u bytes", d->name, ldm_op_pc_size(i));
  }
  ck_assert_uint_eq(ldm_op_pc_size(-1), 0);
  ck_assert_uint_eq(ldm_op_pc_size(LDM_OP_COUNT), 0);
  ck_assert(ldm_op_tol(LDM_OP_COUNT) < 0);
  ck_assert_ptr_null(ldm_op_family(LDM_OP_COUNT));
  /* a few sizes by hand: the generated typedefs are the blocks the ops build */
  ck_assert_uint_eq(ldm_op_pc_size(LDM_OP_gemm), 52); /* act (docs/perf.md "Change 9") */
  ck_assert_uint_eq(ldm_op_pc_size(LDM_OP_conv2d_backward_weight), 64);
  ck_assert_uint_eq(ldm_op_pc_size(LDM_OP_v_target), ldm_op_pc_size(LDM_OP_q_sample));
  ck_assert_uint_eq(ldm_op_pc_size(LDM_OP_fill), 8);
}
END_TEST

START_TEST(check_pc_rejects_other_sizes) {
  for (int i = 0; i < LDM_OP_COUNT; i++) {
    ldm_node n;
    memset(&n, 0, sizeof n);
    n.op = i;
    n.pc_size = ldm_op_pc_size(i);
    ck_assert_int_eq(ldm_op_check_pc(&n), LDM_OK);
    n.pc_size += 4;
    ck_assert_int_eq(ldm_op_check_pc(&n), LDM_ERR_INTERNAL);
    ck_assert_msg(strstr(ldm_last_error(), ldm_op(i)->name) != NULL, "error names the op: %s", ldm_last_error());
    n.pc_size -= 8;
    ck_assert_int_eq(ldm_op_check_pc(&n), LDM_ERR_INTERNAL);
  }
  ldm_node bad;
  memset(&bad, 0, sizeof bad);
  bad.op = LDM_OP_COUNT;
  ck_assert_int_eq(ldm_op_check_pc(&bad), LDM_ERR_INTERNAL);
}
END_TEST

START_TEST(every_variant_is_embedded) {
  size_t n = 0;
#define LDM_SHADER(variant, op)                                                                                    \
  n++;                                                                                                             \
  ck_assert_msg(ldm_shader_find(#variant) != NULL, "variant %s of op %s is not embedded", #variant, #op);          \
  ck_assert_int_ge(ldm_op_by_name(#op), 0);
#include "ldm_shader_list.h"
#undef LDM_SHADER
  ck_assert_uint_eq(n, ldm_shader_count());
}
END_TEST

START_TEST(step_layout) {
  ck_assert_int_eq(LDM_STEP_T, 0);
  ck_assert_int_eq(LDM_STEP_RNG_LO, 1);
  ck_assert_int_eq(LDM_STEP_RNG_HI, 2);
  ck_assert_int_eq(LDM_STEP_LR, 3);
  ck_assert_int_eq(LDM_STEP_ACCUM_ONLY, 11);
  ck_assert_int_eq(LDM_STEP_USER, 16);
  ck_assert_int_eq(LDM_STEP_WORDS, 32);
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, table_matches_descs);
  tcase_add_test(tc, check_pc_rejects_other_sizes);
  tcase_add_test(tc, every_variant_is_embedded);
  tcase_add_test(tc, step_layout);
}

int main(void) { return ldm_test_run("ops-manifest", "manifest", 30, false, add_tests) ? 1 : 0; }
