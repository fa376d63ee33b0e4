/* `ldm-vk report`: report.html of a run directory, or a comparison page of bench / conformance JSON files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ldm/report.h"

static const char *usage_text =
    "usage: ldm-vk report RUN_DIR [--out FILE]\n"
    "       ldm-vk report --bench A.json B.json ... [--out FILE]\n"
    "       ldm-vk report --conformance A.json B.json ... [--out FILE]\n\n"
    "RUN_DIR: (re)writes RUN_DIR/report.html from the run's files: loss curves (raw and EMA, log scale), the\n"
    "VAE's reconstruction and KL terms, grad norm, learning rate, it/s, skipped steps, the sample grids of\n"
    "samples/, the configuration (config.json, else the checkpoints' ldm.* metadata), device and wall time.\n"
    "`ldm-vk train` rewrites the same page at every --log-every interval and at the end of each stage.\n\n"
    "--bench: `ldm-vk bench --json` files side by side (ratios against the first, per-op breakdown); the\n"
    "table is also printed. Files from another ldm-vk version, config, preset or batch are flagged.\n"
    "--conformance: `ldm-vk conformance --json` files as a grid per case and file: NMSE device vs reference,\n"
    "fast CPU vs reference, device vs fast CPU, the worst element against its bound, pass/fail; the table is\n"
    "also printed. Files without a device run (--cpu-only) show n/a for the device figures.\n\n"
    "options:\n"
    "  --out FILE   where to write the page [RUN_DIR/report.html; bench-report.html; conformance-report.html]\n"
    "  --help       this text\n\n"
    "A malformed metrics row or JSON file is named with its line; the exit status is then 1.\n";

int ldm_cmd_report(int argc, char **argv) {
  const char *out = NULL;
  int mode = 0; /* 0 run, 1 bench, 2 conformance */
  const char **files = calloc((size_t)argc + 1, sizeof *files);
  if (!files) return ldm_cli_error();
  int nf = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      free(files);
      return 0;
    } else if (!strcmp(a, "--bench") || !strcmp(a, "--conformance")) {
      int m = a[2] == 'b' ? 1 : 2;
      if (mode && mode != m) {
        free(files);
        return ldm_cli_usage_error("report", "--bench and --conformance cannot be combined");
      }
      mode = m;
    } else if (!strcmp(a, "--out") || !strncmp(a, "--out=", 6)) {
      const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v || !v[0]) {
        free(files);
        return ldm_cli_usage_error("report", "--out needs a file name");
      }
      out = v;
    } else if (a[0] == '-' && a[1]) {
      free(files);
      return ldm_cli_usage_error("report", "unknown option '%s'", a);
    } else {
      files[nf++] = a;
    }
  }
  ldm_status s;
  if (mode == 0) {
    if (nf != 1) {
      free(files);
      return ldm_cli_usage_error("report", nf ? "give one RUN_DIR (or --bench / --conformance FILES)" : "RUN_DIR is required");
    }
    s = ldm_report_run(files[0], out);
    if (s == LDM_OK) {
      if (out) fprintf(stderr, "wrote %s\n", out);
      else fprintf(stderr, "wrote %s/report.html\n", files[0]);
    }
  } else {
    if (nf < 1) {
      free(files);
      return ldm_cli_usage_error("report", "%s needs at least one JSON file", mode == 1 ? "--bench" : "--conformance");
    }
    const char *page = out ? out : mode == 1 ? "bench-report.html" : "conformance-report.html";
    s = mode == 1 ? ldm_report_bench(files, nf, page, stdout) : ldm_report_conformance(files, nf, page, stdout);
    if (s == LDM_OK) fprintf(stderr, "wrote %s\n", page);
  }
  free(files);
  return s == LDM_OK ? 0 : ldm_cli_error();
}
