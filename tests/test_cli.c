/* Flag validation of every ldm-vk subcommand, on the real binary (argv[1]): each bad value exits 2
 * at parse time with one line on stderr naming the flag (and its value), by exit and not by a signal,
 * before any work (nothing appears in the scratch directory the command was pointed at); good values
 * at the ends of each range are accepted (checked with a trailing --help, which stops after them). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"

static const char *exe;
static char tmp[64]; /* scratch directory: every path a command gets points into it */
static char io[64];  /* the commands' stdout and stderr files */

#ifndef CLI_ALARM_S
#define CLI_ALARM_S 20 /* seconds a command may run: every case should exit at once */
#endif

#define MAXARG 48
typedef struct {
  const char *args[MAXARG]; /* "@" is replaced by tmp; "@/x" by tmp + "/x" */
  const char *flag;         /* the message must contain this */
  const char *value;        /* and this, when not NULL */
} cli_case;

/* a base command line for each subcommand, then the bad flag last (a later flag wins) */
#define TRAIN "train", "--device", "cpu", "--config", "tiny", "--quiet", "--out", "@/run"
#define SAMPLE "sample", "--device", "cpu", "--ckpt", "@", "--out", "@/x.png", "--out-dir", "@/imgs"
#define BENCH "bench", "--device", "cpu", "--config", "tiny", "--iters", "1", "--json", "@/b.json"
#define CONF "conformance", "--op", "silu", "--json", "@/c.json"
#define EDIT "edit", "inpaint", "--device", "cpu", "--ckpt", "@", "--init", "@/in.png", "--mask", "@/m.png", "--out", "@/x.png"
#define FWD "forward", "--ckpt", "@", "--inputs", "@/in.safetensors", "--out", "@/o.safetensors"

static const cli_case bad[] = {
    /* train: integers */
    {{TRAIN, "--log-every", "0"}, "--log-every", "0"},
    {{TRAIN, "--log-every=0"}, "--log-every", "0"},
    {{TRAIN, "--log-every", "-5"}, "--log-every", "-5"},
    {{TRAIN, "--log-every", "1000001"}, "--log-every", "1000001"},
    {{TRAIN, "--log-every", "3.5"}, "--log-every", "3.5"},
    {{TRAIN, "--log-every", "1e3"}, "--log-every", "1e3"},
    {{TRAIN, "--log-every", ""}, "--log-every", "''"},
    {{TRAIN, "--log-every", " 5"}, "--log-every", "' 5'"},
    {{TRAIN, "--log-every", "0x10"}, "--log-every", "0x10"},
    {{TRAIN, "--log-every", "5x"}, "--log-every", "5x"},
    {{TRAIN, "--log-every", "+5"}, "--log-every", "+5"},
    {{TRAIN, "--log-every"}, "--log-every", NULL},
    {{TRAIN, "--batch", "-1"}, "--batch", "-1"},
    {{TRAIN, "--batch", "0"}, "--batch", "0"},
    {{TRAIN, "--batch", "65537"}, "--batch", "65537"},
    {{TRAIN, "--vae-steps", "-1"}, "--vae-steps", "-1"},
    {{TRAIN, "--vae-steps", "0"}, "--vae-steps", "0"},
    {{TRAIN, "--unet-steps", "-1"}, "--unet-steps", "-1"},
    {{TRAIN, "--unet-steps", "99999999999"}, "--unet-steps", "99999999999"},
    {{TRAIN, "--grad-accum", "0"}, "--grad-accum", "0"},
    {{TRAIN, "--timesteps", "1"}, "--timesteps", "1"},
    {{TRAIN, "--timesteps", "2000000000"}, "--timesteps", "2000000000"},
    {{TRAIN, "--timesteps", "0"}, "--timesteps", "0"},
    {{TRAIN, "--warmup", "-1"}, "--warmup", "-1"},
    {{TRAIN, "--sample-every", "-1"}, "--sample-every", "-1"},
    {{TRAIN, "--ckpt-every", "-1"}, "--ckpt-every", "-1"},
    {{TRAIN, "--sample-steps", "0"}, "--sample-steps", "0"},
    {{TRAIN, "--limit-images", "-1"}, "--limit-images", "-1"},
    {{TRAIN, "--seed", "-1"}, "--seed", "-1"},
    {{TRAIN, "--seed", "0x10"}, "--seed", "0x10"},
    {{TRAIN, "--seed", "18446744073709551616"}, "--seed", "18446744073709551616"},
    {{TRAIN, "--seed", "1.5"}, "--seed", "1.5"},
    /* train: cross-flag (DDIM over the T timesteps of the run) */
    {{TRAIN, "--timesteps", "50", "--sample-steps", "60"}, "--sample-steps", "60"},
    {{TRAIN, "--sample-steps", "1001"}, "--sample-steps", "1001"},
    /* train: floats */
    {{TRAIN, "--lr", "nan"}, "--lr", "nan"},
    {{TRAIN, "--lr", "inf"}, "--lr", "inf"},
    {{TRAIN, "--lr", "0"}, "--lr", "0"},
    {{TRAIN, "--lr", "-1e-4"}, "--lr", "-1e-4"},
    {{TRAIN, "--lr", "2"}, "--lr", "2"},
    {{TRAIN, "--lr", "1e-50"}, "--lr", "1e-50"},
    {{TRAIN, "--lr", "abc"}, "--lr", "abc"},
    {{TRAIN, "--lr", "0x1p-3"}, "--lr", "0x1p-3"},
    {{TRAIN, "--vae-lr", "nan"}, "--vae-lr", "nan"},
    {{TRAIN, "--guidance", "nan"}, "--guidance", "nan"},
    {{TRAIN, "--guidance", "-1"}, "--guidance", "-1"},
    {{TRAIN, "--guidance", "101"}, "--guidance", "101"},
    {{TRAIN, "--ema", "1"}, "--ema", "1"},
    {{TRAIN, "--ema", "0.99999999"}, "--ema", "0.99999999"},
    {{TRAIN, "--ema", "-0.1"}, "--ema", "-0.1"},
    {{TRAIN, "--cfg-dropout", "1.5"}, "--cfg-dropout", "1.5"},
    {{TRAIN, "--cfg-dropout", "-0.1"}, "--cfg-dropout", "-0.1"},
    {{TRAIN, "--clip", "-1"}, "--clip", "-1"},
    {{TRAIN, "--kl-weight", "nan"}, "--kl-weight", "nan"},
    {{TRAIN, "--beta-start", "0"}, "--beta-start", "0"},
    {{TRAIN, "--beta-end", "1"}, "--beta-end", "1"},
    {{TRAIN, "--beta-start", "0.03"}, "--beta-start", "0.03"}, /* above the default --beta-end 0.02 */
    {{TRAIN, "--beta-start", "0.01", "--beta-end", "0.01"}, "--beta-start", "0.01"},
    {{TRAIN, "--min-snr-gamma", "-1"}, "--min-snr-gamma", "-1"},
    {{TRAIN, "--offset-noise", "nan"}, "--offset-noise", "nan"},
    /* train: choices and strings */
    {{TRAIN, "--preset", "fast"}, "--preset", "fast"},
    {{TRAIN, "--lr-schedule", "step"}, "--lr-schedule", "step"},
    {{TRAIN, "--schedule", "quadratic"}, "--schedule", "quadratic"},
    {{TRAIN, "--prediction", "x0"}, "--prediction", "x0"},
    {{TRAIN, "--stage", "both"}, "--stage", "both"},
    {{TRAIN, "--config", "big"}, "--config", "big"},
    {{TRAIN, "--device", "gpu"}, "--device", "gpu"},
    {{TRAIN, "--device", "vk:-1"}, "--device", "vk:-1"},
    {{TRAIN, "--device", "vk:x"}, "--device", "vk:x"},
    {{TRAIN, "--device", "vk:256"}, "--device", "vk:256"},
    {{TRAIN, "--device", ""}, "--device", "''"},
    {{TRAIN, "--out", ""}, "--out", "''"},
    {{TRAIN, "--resume=2"}, "--resume", NULL},
    {{TRAIN, "--bogus"}, "--bogus", NULL},
    /* sample: validated before the checkpoint is read */
    {{SAMPLE, "--guidance", "nan"}, "--guidance", "nan"},
    {{SAMPLE, "--guidance", "inf"}, "--guidance", "inf"},
    {{SAMPLE, "--guidance", "-0.5"}, "--guidance", "-0.5"},
    {{SAMPLE, "--eta", "-0.5"}, "--eta", "-0.5"},
    {{SAMPLE, "--eta", "2"}, "--eta", "2"},
    {{SAMPLE, "--eta", "nan"}, "--eta", "nan"},
    {{SAMPLE, "--steps", "0"}, "--steps", "0"},
    {{SAMPLE, "--steps", "-1"}, "--steps", "-1"},
    {{SAMPLE, "--n", "0"}, "--n", "0"},
    {{SAMPLE, "--n", "1.5"}, "--n", "1.5"},
    {{SAMPLE, "--batch", "0"}, "--batch", "0"},
    {{SAMPLE, "--class", "-1"}, "--class", "-1"},
    {{SAMPLE, "--class", "1.5"}, "--class", "1.5"},
    {{SAMPLE, "--class", "dog"}, "--class", "dog"},
    {{SAMPLE, "--sampler", "lms"}, "--sampler", "lms"},
    {{SAMPLE, "--sigmas", "linear"}, "--sigmas", "linear"},
    {{SAMPLE, "--guidance-rescale", "1.5"}, "--guidance-rescale", "1.5"},
    {{SAMPLE, "--seed", "1e3"}, "--seed", "1e3"},
    {{SAMPLE, "--device", "cpu0"}, "--device", "cpu0"},
    /* bench */
    {{BENCH, "--iters", "0"}, "--iters", "0"},
    {{BENCH, "--iters", "-1"}, "--iters", "-1"},
    {{BENCH, "--batch", "0"}, "--batch", "0"},
    {{BENCH, "--batch", "3.5"}, "--batch", "3.5"},
    {{BENCH, "--preset", "fast"}, "--preset", "fast"},
    {{BENCH, "--config", "big"}, "--config", "big"},
    {{BENCH, "--device", "vk:"}, "--device", "vk:"},
    {{BENCH, "--model", "--target", "nope"}, "--target", "nope"},
    {{BENCH, "--model", "--top", "-1"}, "--top", "-1"},
    {{BENCH, "--nodes"}, "--nodes", NULL},
    /* conformance */
    {{CONF, "--seed", "-1"}, "--seed", "-1"},
    {{CONF, "--seed", "1.5"}, "--seed", "1.5"},
    {{CONF, "--seed", ""}, "--seed", "''"},
    {{CONF, "--device", "gpu"}, "--device", "gpu"},
    {{CONF, "--device", "cpu"}, "--device", "cpu"},
    {{CONF, "--bogus"}, "--bogus", NULL},
    /* forward */
    {{FWD, "--device", "gpu"}, "--device", "gpu"},
    {{FWD, "--device", ""}, "--device", "''"},
    /* devices */
    {{"devices", "--bogus"}, "--bogus", NULL},
    {{"devices", "extra"}, "extra", NULL},
    /* edit */
    {{EDIT, "--strength", "1.5"}, "--strength", "1.5"},
    {{EDIT, "--strength", "-0.1"}, "--strength", "-0.1"},
    {{EDIT, "--strength", "nan"}, "--strength", "nan"},
    {{EDIT, "--n", "0"}, "--n", "0"},
    {{EDIT, "--n", "1001"}, "--n", "1001"},
    {{EDIT, "--steps", "0"}, "--steps", "0"},
    {{EDIT, "--repaint", "3"}, "--repaint", "3"},
    {{EDIT, "--repaint", "1,1001"}, "--repaint", "1,1001"},
    {{EDIT, "--repaint", "-1,2"}, "--repaint", "-1,2"},
    {{EDIT, "--sampler", "euler?"}, "--sampler", "euler?"},
    {{EDIT, "--bogus"}, "--bogus", NULL},
    {{"edit", "img2img", "--mask", "@/m.png", "--init", "@/in.png", "--ckpt", "@", "--out", "@/x.png"}, "--mask", NULL},
    {{"edit", "morph"}, "morph", NULL},
};
#define NBAD (int)(sizeof bad / sizeof bad[0])

/* accepted values, the ends of the ranges; the trailing --help stops after they are parsed */
static const cli_case good[] = {
    {{"train", "--log-every", "1", "--log-every", "1000000", "--lr", "1", "--lr", "1e-8", "--vae-lr", "0.5", "--ema", "0",
      "--ema", "0.9999", "--clip", "0", "--warmup", "0", "--sample-every", "0", "--ckpt-every", "0", "--limit-images", "0",
      "--guidance", "0", "--guidance", "100", "--cfg-dropout", "0", "--cfg-dropout=1", "--timesteps", "2", "--timesteps",
      "100000", "--batch", "1", "--batch", "65536", "--seed", "0", "--seed", "18446744073709551615", "--help"}, NULL, NULL},
    {{"train", "--preset", "quick", "--lr-schedule", "cosine", "--schedule", "scaled_linear", "--prediction", "v",
      "--stage", "vae", "--config", "celeba64", "--device", "vk:0", "--device", "vk:255", "--device", "cpu",
      "--min-snr-gamma", "5", "--offset-noise", "0.1", "--beta-start", "1e-4", "--beta-end", "0.02", "--sample-steps",
      "1", "--vae-steps", "1", "--unet-steps", "10000000", "--grad-accum", "1024", "--kl-weight", "1", "--resume=0",
      "--zero-snr", "--quiet", "--out", "@/run", "--help"}, NULL, NULL},
    {{"sample", "--class", "3", "--class", "all", "--sampler", "ddpm", "--eta", "1", "--guidance", "1", "--steps", "1000",
      "--n", "1", "--batch", "1", "--seed", "7", "--device", "vk", "--help"}, NULL, NULL},
    {{"bench", "--iters", "1", "--batch", "8", "--preset", "full", "--device", "cpu", "--help"}, NULL, NULL},
    {{"conformance", "--seed", "0", "--device", "vk:1", "--full", "--op", "silu", "--help"}, NULL, NULL},
    {{"forward", "--device", "vk", "--help"}, NULL, NULL},
    {{"devices", "--help"}, NULL, NULL},
    {{"edit", "img2img", "--strength", "0", "--strength", "1", "--n", "1", "--n", "1000", "--class", "all", "--help"}, NULL,
      NULL},
    {{"edit", "inpaint", "--repaint", "1,1", "--repaint", "1000,1000", "--sampler", "ddpm", "--help"}, NULL, NULL},
};
#define NGOOD (int)(sizeof good / sizeof good[0])

static bool dir_empty(const char *p) {
  DIR *d = opendir(p);
  if (!d) return false;
  struct dirent *e;
  bool empty = true;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
  closedir(d);
  return empty;
}

static void slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = 0;
}

/* an empty scratch directory for each test */
static void fresh_tmp(void) {
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s", tmp, tmp);
  ck_assert_int_eq(system(cmd), 0);
}

/* runs exe with the case's arguments; stderr into err, stdout into out (both NUL-terminated) */
static int run(const cli_case *c, char *err, size_t errcap, char *out, size_t outcap, char *line, size_t linecap) {
  static char paths[MAXARG][160];
  char *argv[MAXARG + 2];
  int n = 0;
  argv[n++] = (char *)exe;
  size_t k = 0;
  for (int i = 0; i < MAXARG && c->args[i]; i++) {
    const char *a = c->args[i];
    if (a[0] == '@') snprintf(paths[i], sizeof paths[i], "%s%s", tmp, a + 1);
    else snprintf(paths[i], sizeof paths[i], "%s", a);
    argv[n++] = paths[i];
    k += (size_t)snprintf(line + k, k < linecap ? linecap - k : 0, " [%s]", paths[i]);
  }
  argv[n] = NULL;
  char eo[160], oo[160];
  snprintf(eo, sizeof eo, "%s/stderr", io);
  snprintf(oo, sizeof oo, "%s/stdout", io);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    if (!freopen(eo, "w", stderr) || !freopen(oo, "w", stdout)) _exit(126);
    if (chdir(tmp) != 0) _exit(126); /* a relative default path (runs/fmnist) would land in tmp too */
    alarm(CLI_ALARM_S); /* a flag that is not validated may start the work: fail by a signal, not a hang */
    execv(exe, argv);
    _exit(127);
  }
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_msg(!WIFSIGNALED(st), "%s:%s: killed by signal %d; stderr: %s", exe, line, WIFSIGNALED(st) ? WTERMSIG(st) : 0,
                err);
  ck_assert(WIFEXITED(st));
  slurp(eo, err, errcap);
  slurp(oo, out, outcap);
  return WEXITSTATUS(st);
}

START_TEST(bad_flag_exits_2) {
  const cli_case *c = &bad[_i];
  fresh_tmp();
  static char err[65536], out[65536];
  char line[2048] = "";
  int rc = run(c, err, sizeof err, out, sizeof out, line, sizeof line);
  ck_assert_msg(rc == 2, "%s:%s: exit %d, expected 2; stderr: %s", exe, line, rc, err);
  size_t len = strlen(err);
  char *nl = strchr(err, '\n');
  ck_assert_msg(len > 0 && nl == err + len - 1, "%s:%s: stderr is not one line: '%s'", exe, line, err);
  char prefix[64];
  /* edit names its mode: "ldm-vk edit inpaint: " */
  bool mode = strcmp(c->args[0], "edit") == 0 && c->args[1] && c->args[1][0] != '-' && strcmp(c->args[1], "morph") != 0;
  snprintf(prefix, sizeof prefix, "ldm-vk %s%s%s: ", c->args[0], mode ? " " : "", mode ? c->args[1] : "");
  ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "%s:%s: message does not start with '%s': %s", exe, line,
                prefix, err);
  ck_assert_msg(strstr(err, c->flag) != NULL, "%s:%s: message does not name %s: %s", exe, line, c->flag, err);
  if (c->value) {
    char fv[128];
    snprintf(fv, sizeof fv, "%s %s", c->flag, c->value);
    ck_assert_msg(strstr(err, fv) != NULL, "%s:%s: message does not name '%s': %s", exe, line, fv, err);
  }
  ck_assert_msg(dir_empty(tmp), "%s:%s: the command created files in %s before failing", exe, line, tmp);
}
END_TEST

START_TEST(good_values_accepted) {
  const cli_case *c = &good[_i];
  fresh_tmp();
  static char err[65536], out[65536];
  char line[4096] = "";
  int rc = run(c, err, sizeof err, out, sizeof out, line, sizeof line);
  ck_assert_msg(rc == 0 && err[0] == 0, "%s:%s: exit %d; stderr: %s", exe, line, rc, err);
  ck_assert_msg(strstr(out, "usage: ldm-vk") != NULL, "%s:%s: no help text", exe, line);
  ck_assert(dir_empty(tmp));
}
END_TEST

/* the ranges are part of the help text (they come from the same table the parser checks) */
START_TEST(help_shows_ranges) {
  static char err[65536], out[65536];
  char line[256] = "";
  const cli_case c = {{"train", "--help"}, NULL, NULL};
  ck_assert_int_eq(run(&c, err, sizeof err, out, sizeof out, line, sizeof line), 0);
  const char *want[] = {"--log-every N", "[1, 1000000]", "--lr X", "(0, 1]", "--ema X", "[0, 1)", "--timesteps N",
                        "[2, 100000]", "--preset auto|quick|full", "--lr-schedule constant|cosine", "--device vk|vk:N|cpu"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ck_assert_msg(strstr(out, want[i]) != NULL, "train --help lacks '%s':\n%s", want[i], out);
  const cli_case s = {{"sample", "--help"}, NULL, NULL};
  ck_assert_int_eq(run(&s, err, sizeof err, out, sizeof out, line, sizeof line), 0);
  /* --class takes all, an index or a class name of the run (looked up in its checkpoint) */
  ck_assert_msg(strstr(out, "--guidance X") && strstr(out, "[0, 100]") && strstr(out, "--class S") &&
                    strstr(out, "a class name"),
                "%s", out);
}
END_TEST

/* bench times real train steps: on the CPU backend (host data tables) its steps run on finite numbers, or it
 * says so and fails rather than time an optimizer that skips the step (the synthetic latents once wrapped
 * around as unsigned numbers to 1.8e18 and every UNet step was non-finite) */
START_TEST(bench_runs_on_finite_steps) {
  fresh_tmp();
  static char err[65536], out[65536];
  char line[512] = "";
  const cli_case c = {{"bench", "--device", "cpu", "--config", "tiny", "--iters", "1", "--json", "@/b.json"}, NULL, NULL};
  int rc = run(&c, err, sizeof err, out, sizeof out, line, sizeof line);
  ck_assert_msg(rc == 0, "%s:%s: exit %d; stderr: %s", exe, line, rc, err);
  char path[200], json[1 << 16];
  snprintf(path, sizeof path, "%s/b.json", tmp);
  slurp(path, json, sizeof json);
  ck_assert_msg(strstr(json, "\"unet_train_step_ms_median\"") != NULL, "%s", json);
}
END_TEST

static void add(TCase *tc) {
  tcase_add_test(tc, bench_runs_on_finite_steps);
  tcase_add_loop_test(tc, bad_flag_exits_2, 0, NBAD);
  tcase_add_loop_test(tc, good_values_accepted, 0, NGOOD);
  tcase_add_test(tc, help_shows_ranges);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_cli path/to/ldm-vk\n");
    return 2;
  }
  exe = argv[1];
  static char abs_exe[4096];
  if (exe[0] != '/') { /* the commands run in tmp */
    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd)) return 1;
    snprintf(abs_exe, sizeof abs_exe, "%s/%s", cwd, exe);
    exe = abs_exe;
  }
  if (access(exe, X_OK) != 0) {
    fprintf(stderr, "test_cli: %s is not an executable\n", exe);
    return 1;
  }
  snprintf(tmp, sizeof tmp, "/tmp/ldm_cli_XXXXXX");
  snprintf(io, sizeof io, "/tmp/ldm_cli_io_XXXXXX");
  if (!mkdtemp(tmp) || !mkdtemp(io)) {
    perror("mkdtemp");
    return 1;
  }
  int failed = ldm_test_run("cli", "flags", 60, false, add);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", tmp, io);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return failed ? 1 : 0;
}
