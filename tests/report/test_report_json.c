/* The strict JSON reader of `ldm-vk report` (src/report/json.c): what it accepts, what it refuses, and that
 * every refusal names the file, the line and the column; and the conformance page built on it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "ldm/report.h"
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

static char *slurp(FILE *f) {
  long n = ftell(f);
  ck_assert(n >= 0);
  char *b = calloc((size_t)n + 1, 1);
  ck_assert_ptr_nonnull(b);
  rewind(f);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  return b;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_ge(fputs(text, f), 0);
  ck_assert_int_eq(fclose(f), 0);
}

/* the line of the text table that starts with op and shape */
static const char *row_of(const char *text, const char *op_shape) {
  for (const char *p = text; (p = strstr(p, op_shape)); p++)
    if (p == text || p[-1] == '\n') return p;
  return NULL;
}

/* `ldm-vk report --conformance` on an older file (nmse only), a --cpu-only file (device_run false: its
 * device figures are zeros that must not be shown) and a three-way file with a failed case */
START_TEST(conformance_page_figures) {
  char dir[512];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/ldm_test_report_XXXXXX", tmp && tmp[0] ? tmp : P_tmpdir);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char old[600], cpu[600], dev[600], html[600], bad[600];
  snprintf(old, sizeof old, "%s/old.json", dir);
  snprintf(cpu, sizeof cpu, "%s/cpu.json", dir);
  snprintf(dev, sizeof dev, "%s/dev.json", dir);
  snprintf(html, sizeof html, "%s/conf.html", dir);
  snprintf(bad, sizeof bad, "%s/bad.json", dir);
  write_file(old, "{\"device\":\"old gpu\",\"driver\":\"d\",\"cases\":[{\"op\":\"silu\",\"shape\":\"5003\",\"nmse\":2.5e-09,"
                  "\"max_abs\":1e-05,\"tol\":1e-08,\"gpu_ms\":0.1,\"pass\":true}]}\n");
  write_file(cpu, "{\"device\":\"none (fast CPU vs reference only)\",\"driver\":\"\",\"cases\":[{\"op\":\"silu\",\"shape\":"
                  "\"5003\",\"nmse\":0,\"max_abs\":0,\"tol\":1e-08,\"gpu_ms\":0,\"pass\":true,\"device_run\":false,\"rtol\":0.0002,"
                  "\"nmse_vk_ref\":0,\"max_abs_vk_ref\":0,\"max_ratio_vk_ref\":0,\"bad_vk_ref\":0,\"nmse_cpu_ref\":2.34e-15,"
                  "\"max_abs_cpu_ref\":1e-07,\"max_ratio_cpu_ref\":0.00331,\"bad_cpu_ref\":0}]}\n");
  write_file(dev, "{\"device\":\"new gpu\",\"driver\":\"d\",\"cases\":[{\"op\":\"silu\",\"shape\":\"5003\",\"nmse\":3e-12,"
                  "\"max_abs\":2e-06,\"tol\":1e-08,\"gpu_ms\":0.2,\"pass\":true,\"device_run\":true,\"rtol\":0.0002,"
                  "\"nmse_vk_ref\":4e-12,\"max_abs_vk_ref\":2e-06,\"max_ratio_vk_ref\":0.25,\"bad_vk_ref\":0,"
                  "\"nmse_cpu_ref\":2.34e-15,\"max_abs_cpu_ref\":1e-07,\"max_ratio_cpu_ref\":0.00331,\"bad_cpu_ref\":0},"
                  "{\"op\":\"copy\",\"shape\":\"1\",\"nmse\":0,\"max_abs\":1,\"tol\":0,\"gpu_ms\":0.1,\"pass\":false,"
                  "\"device_run\":true,\"rtol\":0,\"nmse_vk_ref\":0.5,\"max_abs_vk_ref\":1,\"max_ratio_vk_ref\":null,"
                  "\"bad_vk_ref\":1,\"nmse_cpu_ref\":0,\"max_abs_cpu_ref\":0,\"max_ratio_cpu_ref\":0,\"bad_cpu_ref\":0}]}\n");
  const char *files[3] = {old, cpu, dev};
  FILE *t = tmpfile();
  ck_assert_ptr_nonnull(t);
  ck_assert_msg(ldm_report_conformance(files, 3, html, t) == LDM_OK, "%s", ldm_last_error());
  char *text = slurp(t);
  fclose(t);
  /* per file: vk-cpu vk-ref cpu-ref elem ok; the older file has no reference figures, the --cpu-only file no
   * device figures (n/a, never 0), the failed case's infinite element ratio is flagged */
  const char *r = row_of(text, "silu"), *want =
      "silu                 5003                                 |   2.5e-09          -          -          -  ok   |"
      "       n/a        n/a   2.34e-15    0.00331  ok   |     3e-12      4e-12   2.34e-15       0.25  ok  \n";
  ck_assert_msg(r && !strncmp(r, want, strlen(want)), "silu row:\n%s\nin\n%s", want, text);
  r = row_of(text, "copy");
  want = "copy                 1                                    |         -          -          -          -  -    |"
         "         -          -          -          -  -    |         0        0.5!         0        inf! FAIL\n";
  ck_assert_msg(r && !strncmp(r, want, strlen(want)), "copy row:\n%s\nin\n%s", want, text);
  ck_assert_msg(strstr(text, "1 passed, 0 failed; no device run"), "%s", text);
  ck_assert_msg(strstr(text, "1 passed, 1 failed; device and fast CPU vs reference"), "%s", text);
  ck_assert_msg(strstr(text, "0 failed; device vs fast CPU only (older file"), "%s", text);
  free(text);
  FILE *h = fopen(html, "r");
  ck_assert_ptr_nonnull(h);
  fseek(h, 0, SEEK_END);
  char *page = slurp(h);
  fclose(h);
  /* two rows of 3 + 3 x 5 cells; the --cpu-only file's two device cells of its one case are n/a */
  ck_assert_msg(strstr(page, "<tbody data-expect-children=\"2\">"), "grid rows");
  ck_assert_msg(strstr(page, "<tr data-expect-children=\"18\">"), "grid cells");
  int na = 0, fails = 0, older = 0;
  for (const char *p = page; (p = strstr(p, ">n/a</td>")); p++) na++;
  for (const char *p = page; (p = strstr(p, ">FAIL</td>")); p++) fails++;
  for (const char *p = page; (p = strstr(p, "title=\"not recorded (older file)\">&#8212;</td>")); p++) older++;
  ck_assert_int_eq(na, 2);
  ck_assert_int_eq(fails, 1);
  ck_assert_int_eq(older, 3);
  ck_assert_msg(strstr(page, "data-device-run=\"false\""), "the --cpu-only file is not marked");
  ck_assert_msg(strstr(page, "(no device run)</span></th>"), "the --cpu-only file's column is not marked");
  ck_assert_msg(strstr(page, "<td class=\"n bad\" title=\"device vs reference: max abs 1, worst element inf of its bound, 1 "
                             "outside; fast CPU vs reference: max abs 0, worst element 0 of its bound, 0 outside; rtol "
                             "0\">inf</td>"), "the infinite element ratio");
  ck_assert_msg(strstr(page, "<td class=\"n ok1\" title=\"device vs reference: max abs 2e-06, worst element 0.25 of its bound, "
                             "0 outside; fast CPU vs reference: max abs 1e-07, worst element 0.00331 of its bound, 0 outside; "
                             "rtol 0.0002\">0.25</td>"), "the worst element of both backends");
  free(page);
  /* what `ldm-vk conformance --json` writes now: version and date, null for a NaN / Inf figure */
  char nul[600];
  snprintf(nul, sizeof nul, "%s/null.json", dir);
  write_file(nul, "{\"version\":\"9.9.9\",\"date\":\"2026-01-02T03:04:05Z\",\"device\":\"g\",\"driver\":\"d\",\"cases\":["
                  "{\"op\":\"silu\",\"shape\":\"1\",\"nmse\":null,\"max_abs\":null,\"tol\":1e-08,\"gpu_ms\":0,\"pass\":false,"
                  "\"device_run\":true,\"rtol\":0.0002,\"nmse_vk_ref\":null,\"max_abs_vk_ref\":null,\"max_ratio_vk_ref\":null,"
                  "\"bad_vk_ref\":0,\"nmse_cpu_ref\":0,\"max_abs_cpu_ref\":0,\"max_ratio_cpu_ref\":0,\"bad_cpu_ref\":0}]}\n");
  const char *nulls[1] = {nul};
  t = tmpfile();
  ck_assert_ptr_nonnull(t);
  ck_assert_msg(ldm_report_conformance(nulls, 1, NULL, t) == LDM_OK, "%s", ldm_last_error());
  text = slurp(t);
  fclose(t);
  ck_assert_msg(strstr(text, "ldm-vk 9.9.9, 2026-01-02T03:04:05Z"), "%s", text);
  free(text);
  remove(nul);
  /* a malformed new key is refused with its line */
  write_file(bad, "{\"cases\":[\n{\"op\":\"silu\",\"shape\":\"1\",\"nmse\":0,\"pass\":true,\n\"device_run\":\"no\"}]}\n");
  const char *one[1] = {bad};
  ck_assert_int_eq(ldm_report_conformance(one, 1, NULL, NULL), LDM_ERR_FORMAT);
  ck_assert_msg(strstr(ldm_last_error(), "bad.json:3: \"device_run\" must be true or false"), "%s", ldm_last_error());
  write_file(bad, "{\"cases\":[\n{\"op\":\"silu\",\"shape\":\"1\",\"nmse\":0,\"pass\":true,\"device_run\":true,\n"
                  "\"max_ratio_vk_ref\":\"big\"}]}\n");
  ck_assert_int_eq(ldm_report_conformance(one, 1, NULL, NULL), LDM_ERR_FORMAT);
  ck_assert_msg(strstr(ldm_last_error(), "bad.json:3: \"max_ratio_vk_ref\" must be a number or null"), "%s",
                ldm_last_error());
  const char *paths[5] = {old, cpu, dev, html, bad};
  for (int i = 0; i < 5; i++) unlink(paths[i]);
  rmdir(dir);
}
END_TEST

static void add(TCase *tc) {
  tcase_add_test(tc, accepts_rfc8259);
  tcase_add_test(tc, refuses_everything_else);
  tcase_add_test(tc, errors_name_line_and_column);
  tcase_add_test(tc, nonfinite_only_when_asked);
  tcase_add_test(tc, conformance_page_figures);
}

int main(void) { return ldm_test_run("report-json", "json", 60, false, add) ? EXIT_FAILURE : EXIT_SUCCESS; }
