/* Every conformance case (the list `ldm-vk conformance` runs) on the Vulkan device vs the CPU. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "ldm/conformance.h"
#include "vk_test_util.h"

static ldm_vk_ctx *vk;
static const ldm_conf_case *cases;
static int ncases;

START_TEST(conformance_case) {
  const ldm_conf_case *c = &cases[_i];
  if (c->full_only) return;
  ldm_conf_result r;
  ldm_status s = ldm_conf_run(c, vk, 42, &r);
  ck_assert_msg(s == LDM_OK, "%s [%s]: %s", c->op, c->shape, ldm_last_error());
  ck_assert_msg(r.pass, "%s [%s]: NMSE %.3g (tol %.3g) max %.3g: %s", c->op, c->shape, r.nmse, r.tol, r.max_abs,
                r.message);
}
END_TEST

START_TEST(no_validation_messages) { ck_assert_uint_eq(ldm_vk_validation_messages(), 0); }
END_TEST

int main(void) {
  vk = vk_test_open();
  cases = ldm_conf_cases(&ncases);
  Suite *s = suite_create("conformance");
  TCase *tc = tcase_create("cases");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, conformance_case, 0, ncases);
  tcase_add_test(tc, no_validation_messages);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  ldm_vk_close(vk);
  if (ldm_vk_validation_messages() != 0) {
    fprintf(stderr, "%llu validation messages\n", (unsigned long long)ldm_vk_validation_messages());
    failed++;
  }
  return failed ? 1 : 0;
}
