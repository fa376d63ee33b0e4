/* `ldm-vk conformance`: every shader against the CPU reference on the user's device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  const char *device = "vk", *op = NULL, *json = NULL;
  bool full = false;
  unsigned long long seed = 42;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0) {
      printf("usage: ldm-vk conformance [--device vk|vk:N] [--op NAME] [--full] [--seed S] [--json FILE]\n\n"
             "Runs every op's conformance cases on a Vulkan device against the CPU reference backend and prints\n"
             "op, shape, NMSE, max abs error, pass/fail and GPU time. Exit status 1 if any case fails.\n"
             "--full adds large shapes. Limits can be forced lower with LDM_VK_MAX_SHARED, LDM_VK_MAX_BUFFER_RANGE,\n"
             "LDM_VK_DISABLE_FP16, LDM_VK_DISABLE_SUBGROUP; LDM_VK_VALIDATION=1 enables the validation layer.\n");
      return 0;
    } else if (strcmp(a, "--full") == 0) {
      full = true;
    } else if ((strcmp(a, "--device") == 0 || strcmp(a, "--op") == 0 || strcmp(a, "--json") == 0 ||
                strcmp(a, "--seed") == 0)) {
      if (i + 1 >= argc) return ldm_cli_usage_error("conformance", "%s needs a value", a);
      const char *v = argv[++i];
      if (a[2] == 'd') device = v;
      else if (a[2] == 'o') op = v;
      else if (a[2] == 'j') json = v;
      else {
        char *end;
        seed = strtoull(v, &end, 0);
        if (*end || end == v) return ldm_cli_usage_error("conformance", "--seed %s is not a number", v);
      }
    } else {
      return ldm_cli_usage_error("conformance", "unknown option '%s'", a);
    }
  }
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
