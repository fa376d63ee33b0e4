/* The strict JSON reader of `ldm-vk report` (src/report/json.c): what it accepts, what it refuses, and that
 * every refusal names the file, the line and the column. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "report/json.h"

static ldm_status parse(const char *text, bool nonfinite, ldm_json *v) {
  ldm_json_opts o = {"doc.json", 1, nonfinite};
  return ldm_json_parse(text, strlen(text), &o, v);
}

START_TEST(accepts_rfc8259) {
  static const char *good[] = {"0", "-0", "1e5", "-1.5E-3", "[]", "{}", "null", "true", "\"\"", "\"\\ud83d\\ude00\"",
                               "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", " [ 1 , { \"a\" : [ null , true , false ] } ] \n",
                               "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"", "{\"a\":{\"b\":{\"c\":[[[]]]}}}"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    ldm_json v;
    ck_assert_msg(parse(good[i], false, &v) == LDM_OK, "refused %s: %s", good[i], ldm_last_error());
    ldm_json_free(&v);
  }
  ldm_json v;
  ck_assert_int_eq(parse("{\"k\":[1,-2.5e2,\"x\\u00e9\",true,null]}", false, &v), LDM_OK);
  const ldm_json *k = ldm_json_get(&v, "k");
  ck_assert_ptr_nonnull(k);
  ck_assert_int_eq(k->type, LDM_JSON_ARR);
  ck_assert_uint_eq(k->n, 5);
  ck_assert(k->items[0].num == 1 && k->items[1].num == -250);
  ck_assert_str_eq(k->items[2].str, "x\xc3\xa9");
  ck_assert(k->items[3].type == LDM_JSON_BOOL && k->items[3].b);
  ck_assert_int_eq(k->items[4].type, LDM_JSON_NULL);
  ck_assert_ptr_null(ldm_json_get(&v, "missing"));
  ldm_json_free(&v);
  ck_assert_int_eq(parse("\"\\ud83d\\ude00\"", false, &v), LDM_OK);
  ck_assert_str_eq(v.str, "\xf0\x9f\x98\x80");
  ldm_json_free(&v);
}
END_TEST

START_TEST(refuses_everything_else) {
  static const char *bad[] = {"", " ", "01", "1.", "-", "+1", ".5", "1e", "1e+", "[1,]", "{\"a\":1,}", "{\"a\" 1}",
                              "{a:1}", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\x\"", "\"a\nb\"", "\"\t\"", "nul",
                              "truee", "[1 2]", "\xEF\xBB\xBF{}", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "1e400",
                              "NaN", "nan", "[", "{\"a\":1}{}", "{\"a\":1,\"a\":2}", "/*c*/1", "'a'", "\"abc"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ldm_json v;
    ck_assert_msg(parse(bad[i], false, &v) == LDM_ERR_FORMAT, "accepted \"%s\"", bad[i]);
    ck_assert_msg(strncmp(ldm_last_error(), "doc.json:", 9) == 0, "%s: message %s", bad[i], ldm_last_error());
  }
  /* nesting is bounded: 60 levels are fine, 100 are not */
  char deep[201];
  ldm_json v;
  for (int levels = 60; levels <= 100; levels += 40) {
    memset(deep, '[', (size_t)levels);
    memset(deep + levels, ']', (size_t)levels);
    deep[2 * levels] = 0;
    ldm_status s = parse(deep, false, &v);
    if (levels == 60) {
      ck_assert_msg(s == LDM_OK, "%s", ldm_last_error());
      ldm_json_free(&v);
    } else {
      ck_assert_int_eq(s, LDM_ERR_FORMAT);
      ck_assert_msg(strstr(ldm_last_error(), "nested too deeply"), "%s", ldm_last_error());
    }
  }
}
END_TEST

START_TEST(errors_name_line_and_column) {
  ldm_json v;
  ck_assert_int_eq(parse("{\n  \"a\": 1,\n  \"b\" 2\n}", false, &v), LDM_ERR_FORMAT);
  ck_assert_msg(strcmp(ldm_last_error(), "doc.json:3: expected ':' after a key (column 7)") == 0, "%s", ldm_last_error());
  /* a metrics row gets its own line number */
  ldm_json_opts o = {"run/metrics.jsonl", 42, true};
  ck_assert_int_eq(ldm_json_parse("{\"x\":", 5, &o, &v), LDM_ERR_FORMAT);
  ck_assert_msg(strstr(ldm_last_error(), "run/metrics.jsonl:42: "), "%s", ldm_last_error());
}
END_TEST

START_TEST(nonfinite_only_when_asked) {
  ldm_json v;
  const char *nf = "[nan,-nan,inf,-inf,NaN,Infinity,-Infinity,1]";
  ck_assert_int_eq(parse(nf, false, &v), LDM_ERR_FORMAT);
  ck_assert_int_eq(parse(nf, true, &v), LDM_OK);
  ck_assert_uint_eq(v.n, 8);
  for (int i = 0; i < 7; i++) ck_assert_msg(v.items[i].nonfinite && !isfinite(v.items[i].num), "item %d", i);
  ck_assert(!v.items[7].nonfinite && v.items[7].num == 1);
  ldm_json_free(&v);
  double d;
  ck_assert_int_eq(parse("{\"a\":nan,\"b\":null,\"c\":2}", true, &v), LDM_OK);
  ck_assert(!ldm_json_get_num(&v, "a", &d) && !ldm_json_get_num(&v, "b", &d));
  ck_assert(ldm_json_get_num(&v, "c", &d) && d == 2);
  ldm_json_free(&v);
}
END_TEST

static void add(TCase *tc) {
  tcase_add_test(tc, accepts_rfc8259);
  tcase_add_test(tc, refuses_everything_else);
  tcase_add_test(tc, errors_name_line_and_column);
  tcase_add_test(tc, nonfinite_only_when_asked);
}

int main(void) { return ldm_test_run("report-json", "json", 60, false, add) ? EXIT_FAILURE : EXIT_SUCCESS; }
