/* `ldm-vk conformance`: every shader and every fast CPU twin against the plain reference (src/ref) on the
 * user's device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "ldm/conformance.h"
#include "ldm/version.h"
#include "ldm/vk.h"

/* a number with fmt, or null for NaN / Inf (JSON has no such numbers) */
static void json_num(FILE *f, const char *fmt, double v) {
  if (isfinite(v)) fprintf(f, fmt, v);
  else fputs("null", f);
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

int ldm_cmd_conformance(int argc, char **argv) {
  char device[32] = "vk", opname[64] = "", jsonpath[512] = "";
  bool full = false, cpu_only = false;
  uint64_t seed = 42;
  const arg_def defs[] = {
      {"device", ARG_STR, device, sizeof device, "a Vulkan device, vk or vk:N [vk]", ARG_DEVICE},
      {"op", ARG_STR, opname, sizeof opname, "run only this op's cases", ARG_TEXT},
      {"full", ARG_BOOL, &full, 0, "add large shapes", ARG_SWITCH},
      {"cpu-only", ARG_BOOL, &cpu_only, 0, "check only the fast CPU twins against the reference (no device)",
       ARG_SWITCH},
      {"seed", ARG_U64, &seed, 0, "random seed of the inputs [42]", .min = 0, .max = 18446744073709551615.0},
      {"json", ARG_STR, jsonpath, sizeof jsonpath, "also write the results as JSON", ARG_TEXT},
  };
  int r = ldm_args_parse("conformance",
                         "usage: ldm-vk conformance [--device vk|vk:N] [--cpu-only] [--op NAME] [--full] [--seed S] [--json FILE]\n\n"
                         "Runs every op's conformance cases three ways from the same seeded inputs: the plain reference\n"
                         "(naive loops in double precision), the fast CPU twins and a Vulkan device. A case passes when the\n"
                         "device and the fast CPU each match the reference: NMSE within the op's tolerance and every element\n"
                         "within rtol (|ref| + RMS(ref)), rtol = 2 sqrt(tolerance) (exact for tolerance 0 and integer outputs),\n"
                         "no NaN, guard regions intact, bitwise deterministic. Prints op, shape, NMSE device vs fast CPU and\n"
                         "its max abs error (the numbers of earlier versions), NMSE device vs reference, NMSE fast CPU vs\n"
                         "reference, the worst element as a fraction of its bound, GPU time, pass/fail. Exit status 1 if any\n"
                         "case fails. --cpu-only needs no device and checks the fast CPU twins alone.\n"
                         "--full adds large shapes. Limits can be forced lower with LDM_VK_MAX_SHARED, LDM_VK_MAX_BUFFER_RANGE,\n"
                         "LDM_VK_DISABLE_FP16, LDM_VK_DISABLE_SUBGROUP; kernel variants forced with LDM_VK_TILE=large|medium|\n"
                         "small|narrow|wide, LDM_VK_SPLITK=0|N, LDM_VK_SUBPIXEL=0, LDM_CONV_NAIVE=1, LDM_GEMM_NAIVE=1; LDM_VK_VALIDATION=1 enables the\n"
                         "validation layer.",
                         defs, (int)(sizeof defs / sizeof defs[0]), argc, argv);
  if (r) return r == 1 ? 0 : 2;
  const char *op = opname[0] ? opname : NULL, *json = jsonpath[0] ? jsonpath : NULL;
  if (strcmp(device, "cpu") == 0)
    return ldm_cli_usage_error("conformance", "--device cpu: conformance compares a Vulkan device with the CPU");
  int n = 0;
  const ldm_conf_case *cases = ldm_conf_cases(&n);
  if (op) {
    bool any = false;
    for (int i = 0; i < n; i++) any |= strcmp(cases[i].op, op) == 0;
    if (!any) return ldm_cli_usage_error("conformance", "--op %s: no such op", op);
  }
  ldm_vk_ctx *vk = NULL;
  if (!cpu_only && ldm_vk_open(device, &vk) != LDM_OK) return ldm_cli_error();
  const ldm_vk_device_info *info = vk ? ldm_vk_info(vk) : NULL;
  const char *dev_name = info ? info->name : "none (fast CPU vs reference only)", *driver = info ? info->driver : "";
  if (info) printf("device: %s (%s, %s)\n", info->name, info->type, info->driver);
  else printf("device: %s\n", dev_name);
  printf("%-20s %-36s %11s %11s %11s %11s %7s %9s %-5s %s\n", "op", "shape", "NMSE", "max abs", "NMSE vk-ref",
         "NMSE cpu-ref", "elem", "GPU ms", "ok", "");
  FILE *jf = NULL;
  if (json) {
    jf = fopen(json, "w");
    if (!jf) {
      fprintf(stderr, "ldm-vk: cannot write %s\n", json);
      if (vk) ldm_vk_close(vk);
      return 1;
    }
    /* version and date as the bench JSON writes them (the report reader shows both) */
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else snprintf(date, sizeof date, "unknown");
    fprintf(jf, "{\"version\":");
    json_str(jf, ldm_version());
    fprintf(jf, ",\"date\":");
    json_str(jf, date);
    fprintf(jf, ",\"device\":");
    json_str(jf, dev_name);
    fprintf(jf, ",\"driver\":");
    json_str(jf, driver);
    fprintf(jf, ",\"cases\":[");
  }
  int pass = 0, fail = 0;
  for (int i = 0; i < n; i++) {
    const ldm_conf_case *c = &cases[i];
    if ((c->full_only && !full) || (op && strcmp(op, c->op) != 0)) continue;
    ldm_conf_result r;
    ldm_status s = ldm_conf_run(c, vk, seed, &r);
    bool ok = s == LDM_OK && r.pass;
    ok ? pass++ : fail++;
    double elem = r.cpu_ref.max_ratio > r.vk_ref.max_ratio ? r.cpu_ref.max_ratio : r.vk_ref.max_ratio;
    /* without a device run the device columns are no result: "-" */
    char nm[16] = "-", nm_vk[16] = "-";
    if (r.vk_run) {
      snprintf(nm, sizeof nm, "%.3g", r.nmse);
      snprintf(nm_vk, sizeof nm_vk, "%.3g", r.vk_ref.nmse);
    }
    printf("%-20s %-36s %11s %11.3g %11s %11.3g %7.3g %9.3f %-5s %s\n", c->op, c->shape, nm, r.max_abs, nm_vk,
           r.cpu_ref.nmse, elem, r.gpu_ms, ok ? "pass" : "FAIL", ok ? "" : r.message);
    fflush(stdout);
    if (jf) {
      fprintf(jf, "%s{\"op\":", pass + fail > 1 ? "," : "");
      json_str(jf, c->op);
      fprintf(jf, ",\"shape\":");
      json_str(jf, c->shape);
      fprintf(jf, ",\"nmse\":");
      json_num(jf, "%.6g", r.nmse);
      fprintf(jf, ",\"max_abs\":");
      json_num(jf, "%.6g", r.max_abs);
      fprintf(jf, ",\"tol\":%.3g,\"gpu_ms\":%.4f,\"pass\":%s", r.tol, r.gpu_ms, ok ? "true" : "false");
      /* three-way results: device and fast CPU against the reference */
      fprintf(jf, ",\"device_run\":%s,\"rtol\":%.3g", r.vk_run ? "true" : "false", r.rtol);
      const ldm_conf_cmp *cm[2] = {&r.vk_ref, &r.cpu_ref};
      const char *key[2] = {"vk_ref", "cpu_ref"};
      for (int k = 0; k < 2; k++) {
        fprintf(jf, ",\"nmse_%s\":", key[k]);
        json_num(jf, "%.6g", cm[k]->nmse);
        fprintf(jf, ",\"max_abs_%s\":", key[k]);
        json_num(jf, "%.6g", cm[k]->max_abs);
        fprintf(jf, ",\"max_ratio_%s\":", key[k]);
        json_num(jf, "%.4g", cm[k]->max_ratio);
        fprintf(jf, ",\"bad_%s\":%lld", key[k], (long long)cm[k]->bad);
      }
      fputc('}', jf);
    }
  }
  if (jf) {
    fprintf(jf, "],\"passed\":%d,\"failed\":%d}\n", pass, fail);
    if (fclose(jf) != 0) fprintf(stderr, "ldm-vk: error writing %s\n", json);
  }
  printf("%d passed, %d failed\n", pass, fail);
  if (vk) ldm_vk_close(vk);
  return fail ? 1 : 0;
}
