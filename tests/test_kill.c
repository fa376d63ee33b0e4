/* Kill test: SIGKILL a tiny CPU training run at seeded random moments, biased to the moments it writes
 * (while a "*.tmp.<pid>" file is being written, right after a checkpoint file is renamed into place,
 * right after a metrics row), then check that `train --resume` finishes the run and that the result
 * is the uninterrupted run's: every step's loss bitwise the same, one metrics row per step, no
 * temporary files left, state and weights files at the same step, and `ldm-vk sample` works.
 *
 *   test_kill PATH/TO/ldm-vk [--full] [--trials N] [--seed S]
 *
 * 24 trials by default (about 2 minutes on 2 cores), 120 with --full (or LDM_KILL_TRIALS=N). A trial
 * killed before its first checkpoint has nothing to resume: `--resume` must refuse (exit 1, naming the
 * directory) and `--overwrite` then starts the run again. Exit 77 (skip) without Fashion-MNIST. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "ldm/io.h"

#define VAE_STEPS 6
#define UNET_STEPS 8

static const char *exe;
static char tmp[256];

static const char *const run_args[] = {"train",          "--config",      "tiny", "--device",       "cpu",
                                       "--vae-steps",    "6",             "--unet-steps", "8",      "--batch",
                                       "4",              "--limit-images", "64",  "--ckpt-every",   "2",
                                       "--log-every",    "1",             "--sample-steps", "2",    "--sample-every",
                                       "4",              "--quiet",       NULL};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng_state;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* ldm-vk train with run_args, --out dir and one extra flag (or NULL); stderr to log. */
static pid_t spawn(const char *dir, const char *extra, const char *log) {
  const char *argv[40];
  int n = 0;
  argv[n++] = exe;
  for (int i = 0; run_args[i]; i++) argv[n++] = run_args[i];
  argv[n++] = "--out";
  argv[n++] = dir;
  if (extra) argv[n++] = extra;
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 2);
      dup2(fd, 1);
      close(fd);
    }
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static int wait_rc(pid_t pid, bool *signalled) {
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (signalled) *signalled = WIFSIGNALED(st);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_sync(const char *dir, const char *extra, const char *log) { return wait_rc(spawn(dir, extra, log), NULL); }

enum { EV_TMP_CREATE, EV_RENAME, EV_METRICS, EV_KINDS, EV_NEVER = -2 };
static const char *const ev_names[EV_KINDS] = {"temp file created", "file renamed into place", "metrics row written"};

static void classify(const struct inotify_event *ev, int *counts) {
  if (!ev->len) return;
  if ((ev->mask & IN_CREATE) && strstr(ev->name, ".tmp.")) counts[EV_TMP_CREATE]++;
  if (ev->mask & IN_MOVED_TO) counts[EV_RENAME]++;
  if ((ev->mask & IN_MODIFY) && strcmp(ev->name, "metrics.jsonl") == 0) counts[EV_METRICS]++;
}

/* Run in dir (created empty) and SIGKILL it when the target event count is reached (kind >= 0), after
 * delay seconds (kind -1) or not at all (EV_NEVER). Returns true when the kill landed (the run had not finished). counts gets
 * the events seen; *wall the run's duration. */
static bool run_and_kill(const char *dir, const char *log, int kind, int target, double delay, int *counts,
                         double *wall) {
  mkdir(dir, 0755);
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO | IN_MODIFY) < 0) {
    perror("inotify");
    exit(1);
  }
  for (int k = 0; k < EV_KINDS; k++) counts[k] = 0;
  double t0 = now_s();
  pid_t pid = spawn(dir, NULL, log);
  bool killed = false, exited = false;
  int st = 0;
  char buf[8192] __attribute__((aligned(8)));
  while (!exited) {
    struct pollfd p = {fd, POLLIN, 0};
    int ms = 5;
    if (kind == -1) {
      double left = t0 + delay - now_s();
      if (left <= 0) {
        kill(pid, SIGKILL);
        killed = true;
        break;
      }
      ms = left < 0.005 ? 1 : 5;
    }
    if (poll(&p, 1, ms) > 0) {
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0)
        for (char *q = buf; q < buf + n;) {
          const struct inotify_event *ev = (const struct inotify_event *)q;
          classify(ev, counts);
          q += sizeof *ev + ev->len;
        }
      if (kind >= 0 && counts[kind] >= target) {
        kill(pid, SIGKILL);
        killed = true;
        break;
      }
    }
    if (waitpid(pid, &st, WNOHANG) == pid) exited = true;
  }
  if (!exited) waitpid(pid, &st, 0);
  *wall = now_s() - t0;
  close(fd);
  /* the kill "landed" when the process died of it, not when it had exited already */
  return killed && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* ldm.step of a safetensors file, -1 if it is missing or unreadable */
static long long file_step(const char *dir, const char *name) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (access(p, F_OK) != 0) return -1;
  ldm_st_file *f;
  if (ldm_st_open(p, &f) != LDM_OK) return -2;
  const char *v = ldm_st_meta(f, "ldm.step");
  long long s = v ? atoll(v) : -3;
  ldm_st_close(f);
  return s;
}

static int count_temps(const char *dir) {
  int n = 0;
  char sub[600];
  snprintf(sub, sizeof sub, "%s/samples", dir);
  const char *dirs[2] = {dir, sub};
  for (int k = 0; k < 2; k++) {
    DIR *d = opendir(dirs[k]);
    if (!d) continue;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
      if (strstr(de->d_name, ".tmp.")) n++;
    closedir(d);
  }
  return n;
}

/* metrics rows: loss text per (stage, step); returns false on a malformed row. dup gets duplicate rows. */
typedef struct {
  char vae[VAE_STEPS + 1][40], unet[UNET_STEPS + 1][40];
  int nv[VAE_STEPS + 1], nu[UNET_STEPS + 1];
  int other; /* rows of steps past the totals or unparseable */
} metrics;

static void read_metrics(const char *dir, metrics *m) {
  memset(m, 0, sizeof *m);
  char p[600], line[1024];
  snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
  FILE *f = fopen(p, "r");
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    char st[8], loss[40];
    long long step;
    if (sscanf(line, "{\"stage\":\"%7[^\"]\",\"step\":%lld,\"loss\":%39[^,}]", st, &step, loss) != 3 ||
        strchr(line, '\n') == NULL) {
      m->other++;
      continue;
    }
    if (strcmp(st, "vae") == 0 && step >= 1 && step <= VAE_STEPS) {
      m->nv[step]++;
      snprintf(m->vae[step], sizeof m->vae[step], "%s", loss);
    } else if (strcmp(st, "unet") == 0 && step >= 1 && step <= UNET_STEPS) {
      m->nu[step]++;
      snprintf(m->unet[step], sizeof m->unet[step], "%s", loss);
    } else {
      m->other++;
    }
  }
  fclose(f);
}

/* rows past the checkpoint of their stage (what a resume without de-duplication would repeat) */
static int rows_past_checkpoint(const metrics *m, long long vstep, long long ustep) {
  int n = 0;
  for (int k = 1; k <= VAE_STEPS; k++)
    if (k > vstep) n += m->nv[k];
  for (int k = 1; k <= UNET_STEPS; k++)
    if (k > ustep) n += m->nu[k];
  return n;
}

static bool tail_has(const char *log, const char *what) {
  FILE *f = fopen(log, "r");
  if (!f) return false;
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return strstr(buf, what) != NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_kill PATH/TO/ldm-vk [--full] [--trials N] [--seed S]\n");
    return 2;
  }
  exe = argv[1];
  int trials = 24;
  uint64_t seed = 20261201;
  const char *env = getenv("LDM_KILL_TRIALS");
  if (env && atoi(env) > 0) trials = atoi(env);
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--full") == 0) trials = 120;
    else if (strcmp(argv[i], "--trials") == 0 && i + 1 < argc) trials = atoi(argv[++i]);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "test_kill: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) {
    fprintf(stderr, "Fashion-MNIST not installed: the kill test is skipped\n");
    return 77;
  }
  snprintf(tmp, sizeof tmp, "/tmp/ldm-test-kill-XXXXXX");
  if (!mkdtemp(tmp)) return 1;

  /* the uninterrupted run: its losses, its duration and how many writes of each kind it makes */
  char ref[400], log[400];
  snprintf(ref, sizeof ref, "%s/reference", tmp);
  snprintf(log, sizeof log, "%s/reference.log", tmp);
  int ref_counts[EV_KINDS];
  double ref_wall;
  run_and_kill(ref, log, EV_NEVER, 0, 0, ref_counts, &ref_wall);
  metrics rm;
  read_metrics(ref, &rm);
  for (int k = 1; k <= VAE_STEPS; k++)
    if (rm.nv[k] != 1) {
      fprintf(stderr, "reference run: VAE step %d has %d metrics rows (log %s)\n", k, rm.nv[k], log);
      return 1;
    }
  for (int k = 1; k <= UNET_STEPS; k++)
    if (rm.nu[k] != 1) {
      fprintf(stderr, "reference run: UNet step %d has %d metrics rows (log %s)\n", k, rm.nu[k], log);
      return 1;
    }
  fprintf(stderr, "reference run: %.2f s, %d temp files, %d renames, %d metrics writes; %d trials, seed %llu\n",
          ref_wall, ref_counts[EV_TMP_CREATE], ref_counts[EV_RENAME], ref_counts[EV_METRICS], trials,
          (unsigned long long)seed);

  int failures = 0, landed = 0, recovered = 0, restarted = 0, torn = 0, with_temps = 0, with_extra_rows = 0;
  int by_kind[EV_KINDS + 1] = {0};
  for (int t = 0; t < trials; t++) {
    rng_state = seed * 1000003u + (uint64_t)t;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/t%03d", tmp, t);
    snprintf(log, sizeof log, "%s/t%03d.log", tmp, t);
    /* 3 of 4 trials kill at a write event, 1 of 4 after a uniformly random delay */
    int kind = (int)(rnd() % 4);
    if (kind == EV_KINDS) kind = -1;
    int target = 1;
    double delay = 0;
    if (kind >= 0) target = 1 + (int)(rnd() % (uint64_t)(ref_counts[kind] > 0 ? ref_counts[kind] : 1));
    else delay = ref_wall * (double)(rnd() % 1000) / 1000.0;
    int counts[EV_KINDS];
    double wall;
    bool hit = run_and_kill(dir, log, kind, target, delay, counts, &wall);
    by_kind[kind >= 0 ? kind : EV_KINDS] += hit;
    landed += hit;
    /* what the kill left behind */
    long long sv = file_step(dir, "state_vae.safetensors"), wv = file_step(dir, "vae.safetensors");
    long long su = file_step(dir, "state_unet.safetensors"), wu = file_step(dir, "unet.safetensors");
    bool was_torn = (sv >= 0 && wv != sv) || (su >= 0 && wu != su);
    int temps = count_temps(dir);
    metrics before;
    read_metrics(dir, &before);
    int extra = rows_past_checkpoint(&before, sv > 0 ? sv : 0, su > 0 ? su : 0);
    torn += was_torn;
    with_temps += temps > 0;
    with_extra_rows += extra > 0;
    char what[200];
    if (kind >= 0) snprintf(what, sizeof what, "kill at %s #%d", ev_names[kind], target);
    else snprintf(what, sizeof what, "kill after %.3f s", delay);
    /* recover */
    bool ok = true;
    int rc = run_sync(dir, "--resume", log);
    if (sv < 0 && su < 0) {
      /* nothing to resume: --resume must say so, --overwrite starts again */
      if (rc != 1 || !tail_has(log, dir)) {
        fprintf(stderr, "trial %d (%s): --resume without a checkpoint gave exit %d, not 1 naming %s (log %s)\n", t,
                what, rc, dir, log);
        ok = false;
      }
      rc = run_sync(dir, "--overwrite", log);
      restarted++;
    }
    if (rc != 0) {
      fprintf(stderr, "trial %d (%s): recovery exited %d (log %s)\n", t, what, rc, log);
      ok = false;
    }
    /* the recovered run is the uninterrupted one */
    metrics after;
    read_metrics(dir, &after);
    for (int k = 1; k <= VAE_STEPS && ok; k++)
      if (after.nv[k] != 1 || strcmp(after.vae[k], rm.vae[k]) != 0) {
        fprintf(stderr, "trial %d (%s): VAE step %d: %d metrics rows, loss %s (uninterrupted: %s)\n", t, what, k,
                after.nv[k], after.vae[k], rm.vae[k]);
        ok = false;
      }
    for (int k = 1; k <= UNET_STEPS && ok; k++)
      if (after.nu[k] != 1 || strcmp(after.unet[k], rm.unet[k]) != 0) {
        fprintf(stderr, "trial %d (%s): UNet step %d: %d metrics rows, loss %s (uninterrupted: %s)\n", t, what, k,
                after.nu[k], after.unet[k], rm.unet[k]);
        ok = false;
      }
    if (ok && after.other) {
      fprintf(stderr, "trial %d (%s): %d stray metrics rows\n", t, what, after.other);
      ok = false;
    }
    int left = count_temps(dir);
    if (ok && left) {
      fprintf(stderr, "trial %d (%s): %d temporary files left after the resume\n", t, what, left);
      ok = false;
    }
    sv = file_step(dir, "state_vae.safetensors"), wv = file_step(dir, "vae.safetensors");
    su = file_step(dir, "state_unet.safetensors"), wu = file_step(dir, "unet.safetensors");
    if (ok && (sv != VAE_STEPS || wv != VAE_STEPS || su != UNET_STEPS || wu != UNET_STEPS)) {
      fprintf(stderr, "trial %d (%s): after the resume state/weights steps are VAE %lld/%lld, UNet %lld/%lld\n", t,
              what, sv, wv, su, wu);
      ok = false;
    }
    if (ok) {
      char cmd[1200];
      snprintf(cmd, sizeof cmd, "%s sample --device cpu --ckpt %s --n 2 --steps 2 --out %s/s.png >>%s 2>&1", exe, dir,
               dir, log);
      int src = system(cmd);
      if (!WIFEXITED(src) || WEXITSTATUS(src) != 0) {
        fprintf(stderr, "trial %d (%s): sample failed after the resume (log %s)\n", t, what, log);
        ok = false;
      }
    }
    if (ok) recovered++;
    else failures++;
    fprintf(stderr, "trial %2d: %-34s %s; left %s%s%s -> %s\n", t, what, hit ? "killed" : "finished first",
            was_torn ? "a torn pair, " : "", temps ? "temp files, " : "", extra ? "rows past the checkpoint" : "-",
            ok ? "recovered" : "FAILED");
  }
  fprintf(stderr,
          "kill test: %d trials, %d killed (%d at a temp file, %d after a rename, %d after a metrics row, %d after a "
          "delay), %d recovered, %d restarted for want of a checkpoint; before the resume %d had a torn "
          "state/weights pair, %d temp files, %d metrics rows past the checkpoint\n",
          trials, landed, by_kind[0], by_kind[1], by_kind[2], by_kind[3], recovered, restarted, torn, with_temps,
          with_extra_rows);
  /* a test that killed nothing tested nothing: most trials must land before the run finished */
  if (landed < trials / 2) {
    fprintf(stderr, "kill test: only %d of %d kills landed before the run finished: the trials test too little\n",
            landed, trials);
    failures++;
  }
  if (!failures) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  } else {
    fprintf(stderr, "kill test: %d FAILED; files kept in %s\n", failures, tmp);
  }
  return failures ? 1 : 0;
}
