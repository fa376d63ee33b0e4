/* The Check runner every suite of ldm-vk uses: one suite with one test case. nofork keeps state such
 * as an open Vulkan context across tests. Returns the number of failed tests. */
#ifndef LDM_CHECK_UTIL_H
#define LDM_CHECK_UTIL_H
#include <check.h>
#include <stdbool.h>

static inline int ldm_test_run(const char *suite, const char *tcase, double timeout, bool nofork,
                               void (*add_tests)(TCase *tc)) {
  Suite *s = suite_create(suite);
  TCase *tc = tcase_create(tcase);
  tcase_set_timeout(tc, timeout);
  add_tests(tc);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  if (nofork) srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed;
}
#endif
