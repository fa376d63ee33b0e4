/* ldm-vk command-line entry point: subcommand dispatch, --help, --version. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ldm/ldm.h"
#include "ldm/log.h"
#include "ldm/version.h"

static const ldm_cmd commands[] = {
    {"train", "train a latent diffusion model (VAE, latent cache, UNet) on Fashion-MNIST or an image folder", ldm_cmd_train},
    {"sample", "generate images from a trained run directory (DDIM, DDPM, Euler, Heun, DPM++, UniPC; classifier-free guidance)", ldm_cmd_sample},
    {"devices", "list Vulkan devices, their limits and features, and which one --device vk picks", ldm_cmd_devices},
    {"conformance", "check every shader on a Vulkan device against the CPU reference", ldm_cmd_conformance},
    {"bench", "time the train and sampling steps on a device, with the most expensive ops (--model: predict them, no device)", ldm_cmd_bench},
    {"report", "HTML report of a run directory (curves, sample grids, config), or of bench/conformance JSON files", ldm_cmd_report},
    {"forward", "run a trained VAE and UNet on inputs from a safetensors file (cross-checks, debugging)", ldm_cmd_forward},
    {"edit", "edit images with a trained run: img2img (SDEdit) and inpainting (RePaint)", ldm_cmd_edit},
};
#define NCMD (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: ldm-vk <command> [options]\n\n"
             "Train and sample latent diffusion models on any Vulkan GPU (or the CPU reference backend).\n\n"
             "commands:\n");
  for (int i = 0; i < NCMD; i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nglobal options:\n  --help       this text (or `ldm-vk <command> --help`)\n"
             "  --version    print the version\n\n"
             "environment: LDM_VK_VALIDATION=1 (validation layers), LDM_CHECK=1 (compare every node with the CPU),\n"
             "  LDM_VK_MAX_SHARED, LDM_VK_MAX_BUFFER_RANGE, LDM_VK_DISABLE_FP16, LDM_VK_DISABLE_SUBGROUP (force limits lower),\n"
             "  LDM_VK_DISABLE_INT8 (no int8 features), LDM_VK_STAGE_HOST=1/0 (host arena copied to device memory or not),\n"
             "  LDM_THREADS (CPU backend threads)\n");
}

int ldm_cli_error(void) {
  fprintf(stderr, "ldm-vk: %s\n", ldm_last_error());
  return 1;
}

int ldm_cli_usage_error(const char *cmd, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (unsigned char *c = (unsigned char *)msg; *c; c++) /* argv may hold anything: one line */
    if (*c < 0x20 || *c == 0x7f) *c = '?';
  fprintf(stderr, "ldm-vk%s%s: %s", cmd ? " " : "", cmd ? cmd : "", msg);
  fprintf(stderr, " (see `ldm-vk %s%s--help`)\n", cmd ? cmd : "", cmd ? " " : "");
  return 2;
}

/* The library prints nothing itself; every command shows its messages (Vulkan validation, warnings) on
 * stderr. `train` and `sample` install their own handler on top, which also keeps the progress line tidy. */
static void stderr_log(void *user, ldm_log_level level, const char *line) {
  (void)user;
  if (level == LDM_LOG_DEBUG && !getenv("LDM_DEBUG")) return;
  fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv) {
  ldm_set_log(stderr_log, NULL);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("ldm-vk %s (git %s)\n", ldm_version(), ldm_version_git());
    return 0;
  }
  for (int i = 0; i < NCMD; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  if (argv[1][0] == '-') return ldm_cli_usage_error(NULL, "unknown option '%s'", argv[1]);
  return ldm_cli_usage_error(NULL, "unknown command '%s'", argv[1]);
}
