/* `ldm-vk conformance`: every shader against the CPU reference on the user's device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "ldm/conformance.h"
#include "ldm/vk.h"

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
  bool full = false;
  uint64_t seed = 42;
  const arg_def defs[] = {
      {"device", ARG_STR, device, sizeof device, "a Vulkan device, vk or vk:N [vk]", ARG_DEVICE},
      {"op", ARG_STR, opname, sizeof opname, "run only this op's cases", ARG_TEXT},
      {"full", ARG_BOOL, &full, 0, "add large shapes", ARG_SWITCH},
      {"seed", ARG_U64, &seed, 0, "random seed of the inputs [42]", .min = 0, .max = 18446744073709551615.0},
      {"json", ARG_STR, jsonpath, sizeof jsonpath, "also write the results as JSON", ARG_TEXT},
  };
  int r = ldm_args_parse("conformance",
                         "usage: ldm-vk conformance [--device vk|vk:N] [--op NAME] [--full] [--seed S] [--json FILE]\n\n"
                         "Runs every op's conformance cases on a Vulkan device against the CPU reference backend and prints\n"
                         "op, shape, NMSE, max abs error, pass/fail and GPU time. Exit status 1 if any case fails.\n"
                         "--full adds large shapes. Limits can be forced lower with LDM_VK_MAX_SHARED, LDM_VK_MAX_BUFFER_RANGE,\n"
                         "LDM_VK_DISABLE_FP16, LDM_VK_DISABLE_SUBGROUP; LDM_VK_VALIDATION=1 enables the validation layer.",
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
  ldm_vk_ctx *vk;
  if (ldm_vk_open(device, &vk) != LDM_OK) return ldm_cli_error();
  const ldm_vk_device_info *info = ldm_vk_info(vk);
  printf("device: %s (%s, %s)\n", info->name, info->type, info->driver);
  printf("%-20s %-36s %11s %11s %9s %-5s %s\n", "op", "shape", "NMSE", "max abs", "GPU ms", "ok", "");
  FILE *jf = NULL;
  if (json) {
    jf = fopen(json, "w");
    if (!jf) {
      fprintf(stderr, "ldm-vk: cannot write %s\n", json);
      ldm_vk_close(vk);
      return 1;
    }
    fprintf(jf, "{\"device\":");
    json_str(jf, info->name);
    fprintf(jf, ",\"driver\":");
    json_str(jf, info->driver);
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
    printf("%-20s %-36s %11.3g %11.3g %9.3f %-5s %s\n", c->op, c->shape, r.nmse, r.max_abs, r.gpu_ms,
           ok ? "pass" : "FAIL", ok ? "" : r.message);
    fflush(stdout);
    if (jf) {
      fprintf(jf, "%s{\"op\":", pass + fail > 1 ? "," : "");
      json_str(jf, c->op);
      fprintf(jf, ",\"shape\":");
      json_str(jf, c->shape);
      fprintf(jf, ",\"nmse\":%.6g,\"max_abs\":%.6g,\"tol\":%.3g,\"gpu_ms\":%.4f,\"pass\":%s}", r.nmse, r.max_abs, r.tol,
              r.gpu_ms, ok ? "true" : "false");
    }
  }
  if (jf) {
    fprintf(jf, "],\"passed\":%d,\"failed\":%d}\n", pass, fail);
    if (fclose(jf) != 0) fprintf(stderr, "ldm-vk: error writing %s\n", json);
  }
  printf("%d passed, %d failed\n", pass, fail);
  ldm_vk_close(vk);
  return fail ? 1 : 0;
}
