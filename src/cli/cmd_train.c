/* `ldm-vk train` and `ldm-vk sample`. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/comm.h"
#include "cli/sample_cli.h"
#include "ldm/checkpoint.h"
#include "ldm/io.h"
#include "ldm/log.h"
#include "ldm/ops.h"
#include "ldm/runinfo.h"
#include "ldm/train.h"
#include "ldm/vk.h"

/* SIGINT / SIGTERM ask the run to stop: it saves a checkpoint and ldm_train returns LDM_ERR_INTERRUPTED */
static volatile sig_atomic_t stop_signal;
static void on_stop_signal(int sig) { stop_signal = sig; }

/* data parallel (docs/distributed.md): the ranks other than 0 show only their warnings and errors, each
 * line naming the rank */
static int log_rank = -1;
static void rank_log(void *user, ldm_log_level level, const char *line) {
  (void)user;
  if (level == LDM_LOG_INFO || level == LDM_LOG_DEBUG) return;
  fprintf(stderr, "ldm-vk: rank %d: %s\n", log_rank, line);
}
static int train_cmd(int argc, char **argv, const ldm_comm *comm);
/* stderr of a rank other than 0 while the command line is read (its errors are rank 0's): -1 when not muted */
static int muted_fd = -1;
static void unmute_stderr(void) {
  if (muted_fd < 0) return;
  dup2(muted_fd, 2);
  close(muted_fd);
  muted_fd = -1;
}
/* `ldm-vk train`, under mpirun one process per rank: MPI only when an MPI launcher started this process */
int ldm_cmd_train(int argc, char **argv) {
  int launched = cli_launched_size();
#ifdef LDM_HAVE_MPI
  if (launched > 0) {
    ldm_comm comm;
    int rc = cli_mpi_init(&comm);
    if (rc) return rc;
    /* a rank other than 0 keeps its stderr quiet while the command line is read (rank 0 shows its errors) */
    if (comm.rank != 0) {
      int nul = open("/dev/null", O_WRONLY);
      muted_fd = nul >= 0 ? dup(2) : -1;
      if (muted_fd >= 0) dup2(nul, 2);
      if (nul >= 0) close(nul);
    }
    rc = train_cmd(argc, argv, comm.size > 1 ? &comm : NULL);
    unmute_stderr();
    cli_mpi_finalize();
    return rc;
  }
#else
  if (launched > 1) {
    fprintf(stderr, "ldm-vk: started by an MPI launcher as one of %d processes, but this ldm-vk was built without MPI "
            "(install libopenmpi-dev and rebuild; meson -Dmpi=enabled): each process would train alone\n", launched);
    return 1;
  }
#endif
  return train_cmd(argc, argv, NULL);
}

static int train_cmd(int argc, char **argv, const ldm_comm *comm) {
  ldm_train_opts o;
  ldm_train_defaults(&o);
  const arg_def defs[] = {
      {"config", ARG_STR, o.config, sizeof o.config, "model configuration [fmnist]", .choices = "fmnist|celeba64|tiny"},
      {"data", ARG_STR, o.data, sizeof o.data, "an idx dir (Fashion-MNIST layout; its class names are given to the labels), or a folder of PNG/JPEG (sub-folders = classes)", ARG_TEXT},
      {"device", ARG_STR, o.device, sizeof o.device, "(default: a GPU if present, else cpu)", ARG_DEVICE},
      {"out", ARG_STR, o.out, sizeof o.out,
       "run directory (config.json, checkpoints, metrics.jsonl, samples/) [runs/<config>]", ARG_TEXT},
      {"stage", ARG_STR, o.stage, sizeof o.stage, "stages to train [all]", .choices = "vae|unet|all"},
      {"preset", ARG_STR, o.preset, sizeof o.preset, "[auto: full on a GPU, quick otherwise]", .choices = "auto|quick|full"},
      {"vae-steps", ARG_INT, &o.vae_steps, 0, "VAE steps [3000; quick 800]", .min = 1, .max = 10000000},
      {"unet-steps", ARG_INT, &o.unet_steps, 0, "UNet steps [6000; quick 6000]", .min = 1, .max = 10000000},
      {"batch", ARG_INT, &o.batch, 0, "batch size [128; quick 64]", .min = 1, .max = 65536},
      {"grad-accum", ARG_INT, &o.grad_accum, 0, "micro-batches of --batch per optimizer step [1]", .min = 1, .max = 1024},
      {"lr", ARG_FLOAT, &o.unet_lr, 0, "UNet learning rate [2e-4; quick 1e-3]", .min = 0, .max = 1, .open = ARG_OPEN_MIN},
      {"vae-lr", ARG_FLOAT, &o.vae_lr, 0, "VAE learning rate [2e-4; quick 1e-3]", .min = 0, .max = 1, .open = ARG_OPEN_MIN},
      {"seed", ARG_U64, &o.seed, 0, "random seed [0]", .min = 0, .max = 18446744073709551615.0},
      {"resume", ARG_BOOL, &o.resume, 0, "continue the run in --out from its last checkpoint", ARG_SWITCH},
      {"overwrite", ARG_BOOL, &o.overwrite, 0, "--out holds an earlier run: remove its files and start anew", ARG_SWITCH},
      {"kl-weight", ARG_FLOAT, &o.kl_weight, 0, "VAE KL weight [1e-6]", .min = 0, .max = 1},
      {"clip", ARG_FLOAT, &o.clip, 0, "UNet global grad-norm clip, 0 = off [1.0]", .min = 0, .max = 1e6},
      {"ema", ARG_FLOAT, &o.ema_decay, 0, "EMA decay [0.999; quick 0.995]", .min = 0, .max = 1, .open = ARG_OPEN_MAX},
      {"ema-warmup", ARG_BOOL, &o.ema_warmup, 0, "EMA decay min(decay, (1+t)/(10+t))", ARG_SWITCH},
      {"warmup", ARG_INT, &o.warmup, 0, "LR warm-up steps, 0 = none [500; quick 100]", .min = 0, .max = 10000000},
      {"lr-schedule", ARG_STR, o.lr_schedule, sizeof o.lr_schedule, "LR after warm-up [constant]",
       .choices = "constant|cosine"},
      {"cfg-dropout", ARG_FLOAT, &o.cfg_dropout, 0, "probability of the null label [0.1]", .min = 0, .max = 1},
      {"schedule", ARG_STR, o.schedule, sizeof o.schedule, "noise schedule [linear]",
       .choices = "linear|scaled_linear|cosine"},
      {"timesteps", ARG_INT, &o.T, 0, "diffusion steps T [1000]", .min = 2, .max = 100000},
      {"beta-start", ARG_FLOAT, &o.beta_start, 0, "first beta of the linear schedules [1e-4]", .min = 0, .max = 1,
       .open = ARG_OPEN_MIN | ARG_OPEN_MAX},
      {"beta-end", ARG_FLOAT, &o.beta_end, 0, "last beta of the linear schedules [0.02]", .min = 0, .max = 1,
       .open = ARG_OPEN_MIN | ARG_OPEN_MAX},
      {"zero-snr", ARG_BOOL, &o.zero_snr, 0, "rescale the schedule to zero terminal SNR", ARG_SWITCH},
      {"prediction", ARG_STR, o.prediction, sizeof o.prediction, "UNet target [eps]", .choices = "eps|v"},
      {"min-snr-gamma", ARG_FLOAT, &o.min_snr_gamma, 0, "min-SNR-gamma loss weighting, 0 = off [0]", .min = 0, .max = 1000},
      {"offset-noise", ARG_FLOAT, &o.offset_noise, 0, "offset noise strength, 0 = off [0]", .min = 0, .max = 1},
      {"log-every", ARG_INT, &o.log_every, 0, "metrics/progress interval [50]", .min = 1, .max = 1000000},
      {"sample-every", ARG_INT, &o.sample_every, 0, "sample grid interval, 0 = only at the end [1000 if >= 2000 UNet steps, else 0]",
       .min = 0, .max = 10000000},
      {"ckpt-every", ARG_INT, &o.ckpt_every, 0, "checkpoint interval, 0 = only at the end [500]", .min = 0, .max = 10000000},
      {"sample-steps", ARG_INT, &o.sample_steps, 0, "DDIM steps of the training sample grids, at most --timesteps [50]",
       .min = 1, .max = 100000},
      {"guidance", ARG_FLOAT, &o.guidance, 0, "classifier-free guidance of the sample grids [2.0]", .min = 0, .max = 100},
      {"limit-images", ARG_INT, &o.limit_images, 0, "use only the first N training images, 0 = all [0]", .min = 0,
       .max = 2147483647},
      {"check", ARG_BOOL, &o.check, 0, "compare every node of the first step with the CPU reference", ARG_SWITCH},
      {"quiet", ARG_BOOL, &o.quiet, 0, "no progress output", ARG_SWITCH},
  };
  int r = ldm_args_parse("train", "usage: ldm-vk train [options]\n\nTrains the VAE, caches the latents, trains the UNet, "
                                  "writes checkpoints and sample grids to --out.",
                         defs, (int)(sizeof defs / sizeof defs[0]), argc, argv);
  if (r) return r == 1 ? 0 : 2;
  /* cross-flag checks, before any work: the training sample grids run DDIM over the T timesteps */
  if (o.sample_steps > o.T)
    return ldm_cli_usage_error("train", "--sample-steps %d: must be at most --timesteps (%d)", o.sample_steps, o.T);
  if (o.beta_start >= o.beta_end)
    return ldm_cli_usage_error("train", "--beta-start %g: must be below --beta-end (%g)", (double)o.beta_start,
                               (double)o.beta_end);
  if (comm && o.batch > 0 && o.batch % comm->size != 0)
    return ldm_cli_usage_error("train", "--batch %d: must be a multiple of the %d ranks (each computes batch / ranks "
                               "samples)", o.batch, comm->size);
  unmute_stderr();
  cli_hooks_install();
  o.log = cli_log;
  o.progress = cli_progress;
  o.user = &cli_term;
  char rank_dev[sizeof o.device] = "";
  bool shared = false;
  if (comm) {
    o.comm = comm;
    cli_rank_device(o.device, comm->local_rank, comm->local_size, rank_dev, sizeof rank_dev, &shared);
    if (strcmp(rank_dev, o.device) != 0) snprintf(o.device, sizeof o.device, "%s", rank_dev);
    if (comm->rank != 0) {
      /* rank 0 shows the run; the others their warnings and errors only (and their stderr again) */
      log_rank = comm->rank;
      o.log = rank_log;
      o.progress = NULL;
      ldm_set_log(rank_log, NULL);
    }
    if (comm->rank == 0 && !o.quiet)
      fprintf(stderr, "ldm-vk train: %d ranks, %d on this machine%s\n", comm->size, comm->local_size,
              shared ? " (sharing its Vulkan device)" : "");
  }
  stop_signal = 0;
  o.cancel = &stop_signal;
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  /* a read or write in flight completes; the run stops at its next step; a second Ctrl-C (the default
   * action again) ends a run that hangs in a checkpoint or a device wait */
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  ldm_train_result res;
  ldm_status s = ldm_train(&o, &res);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  term_close_line(&cli_term);
  /* exit status: ldm_train_exit_code (0 done, 1 error, 2 usage, 3 non-finite, 130 SIGINT, 143 SIGTERM) */
  char skipped[128] = "";
  if (res.skipped[0] + res.skipped[1] > 0)
    snprintf(skipped, sizeof skipped, " (%lld non-finite steps skipped: VAE %lld, UNet %lld)",
             (long long)(res.skipped[0] + res.skipped[1]), (long long)res.skipped[0], (long long)res.skipped[1]);
  if (s != LDM_OK && comm) {
    int code = ldm_train_exit_code(&res, s);
#ifdef LDM_HAVE_MPI
    /* this rank's failure alone: the others may be waiting for it in a collective, so the job ends here */
    if (!res.collective) {
      fprintf(stderr, "ldm-vk: rank %d: %s\n", comm->rank, ldm_last_error());
      cli_mpi_abort(code);
    }
#endif
    if (comm->rank != 0) return code; /* the whole job's failure: rank 0 shows it */
  }
  if (s != LDM_OK) {
    fprintf(stderr, "ldm-vk: %s\n", ldm_last_error());
    if (skipped[0]) fprintf(stderr, "ldm-vk: the run did not finish%s\n", skipped);
    return ldm_train_exit_code(&res, s);
  }
  if (comm && comm->rank != 0) return 0;
  char grid[600];
  snprintf(grid, sizeof grid, "%s/samples.png", res.out);
  struct stat st;
  if (stat(grid, &st) == 0)
    fprintf(stderr, "done%s: weights in %s/vae.safetensors and %s/unet.safetensors, samples in %s\n", skipped, res.out,
            res.out, grid);
  else
    fprintf(stderr, "done%s: weights in %s\n", skipped, res.out);
  return 0;
}

int ldm_cmd_sample(int argc, char **argv) {
  ldm_sample_opts o;
  ldm_sample_defaults(&o);
  sample_cli sc;
  sample_cli_init(&sc);
  const arg_def defs[] = {
      {"ckpt", ARG_STR, o.ckpt, sizeof o.ckpt, "run directory of `ldm-vk train` (vae.safetensors, unet.safetensors)", ARG_TEXT},
      SAMPLE_CLI_DEVICE(o),
      {"n", ARG_INT, &o.n, 0, "number of images [40]", .min = 1, .max = 100000},
      SAMPLE_CLI_GEN(o, sc),
      {"out", ARG_STR, sc.out, sizeof sc.out, "write one grid here: FILE.png, or FILE.jpg / FILE.jpeg (JPEG, quality 95)",
       ARG_TEXT},
      {"out-dir", ARG_STR, sc.out_dir, sizeof sc.out_dir,
       "write one file per image, <class>_<index>.png (.jpg with --format jpg)", ARG_TEXT},
      {"format", ARG_STR, sc.format, sizeof sc.format, "image type of the --out-dir files [png]", .choices = "png|jpg"},
  };
  int r = ldm_args_parse("sample", "usage: ldm-vk sample --ckpt DIR [options] (--out grid.png|grid.jpg | --out-dir DIR)",
                         defs, (int)(sizeof defs / sizeof defs[0]), argc, argv);
  if (r) return r == 1 ? 0 : 2;
  int rc = sample_cli_setup("sample", &sc, &o);
  if (rc) return rc;
  const char *out = sc.out, *out_dir = sc.out_dir;
  ldm_backend be;
  if (sample_cli_backend(&o, &be)) {
    sample_cli_free(&sc);
    return 1;
  }
  float *imgs;
  int *labels;
  ldm_model_cfg c;
  ldm_status s = ldm_sample(&be, &o, &imgs, &labels, &c);
  term_close_line(&cli_term);
  ldm_backend_close(&be);
  if (s != LDM_OK) {
    sample_cli_free(&sc);
    return ldm_cli_error();
  }
  int64_t per = (int64_t)c.cin * c.res * c.res;
  /* the generation settings go into every image (PNG text chunks, a JPEG comment) */
  char cls_text[LDM_CLASS_NAME_MAX + 32];
  sample_cli_class_text(&sc, o.cls < 0 ? -2 : o.cls, cls_text, sizeof cls_text);
  ldm_sample_text txt;
  if (out[0]) {
    /* all classes in turn (image i has class i % ncls): one class per row, as the training grids */
    bool by_class = c.ncls > 0 && o.cls < 0 && o.n % c.ncls == 0;
    int nrow = by_class ? o.n / c.ncls : (o.n < 10 ? o.n : 10);
    float *grid = by_class ? malloc((size_t)(o.n * per) * 4) : imgs;
    if (!grid) s = LDM_ERR_NOMEM;
    for (int i = 0; by_class && grid && i < o.n; i++)
      memcpy(grid + ((int64_t)(i % c.ncls) * nrow + i / c.ncls) * per, imgs + (int64_t)i * per, (size_t)per * 4);
    int nt = ldm_sample_text_make(&txt, &o, by_class ? "all (one row per class)" : cls_text, NULL, 0);
    if (s == LDM_OK) s = ldm_image_write_grid(out, sc.out_fmt, grid, o.n, c.cin, c.res, c.res, nrow, c.crop, txt.t, nt);
    if (grid != imgs) free(grid);
    if (s == LDM_OK) fprintf(stderr, "wrote %s (%d images)\n", out, o.n);
  }
  if (s == LDM_OK && out_dir[0]) {
    s = ldm_mkdir_p(out_dir);
    int *count = calloc((size_t)(c.ncls + 1), sizeof *count);
    const char *ext = sc.dir_jpg ? "jpg" : "png";
    for (int i = 0; i < o.n && s == LDM_OK && count; i++) {
      char p[700];
      int k = labels[i] >= 0 ? labels[i] : c.ncls;
      if (labels[i] >= 0) snprintf(p, sizeof p, "%s/%d_%d.%s", out_dir, labels[i], count[k]++, ext);
      else snprintf(p, sizeof p, "%s/uncond_%d.%s", out_dir, count[k]++, ext);
      sample_cli_class_text(&sc, labels[i], cls_text, sizeof cls_text);
      int nt = ldm_sample_text_make(&txt, &o, cls_text, NULL, 0);
      s = ldm_image_write(p, sc.dir_jpg ? LDM_IMAGE_JPEG : LDM_IMAGE_PNG, imgs + (int64_t)i * per, c.cin, c.res, c.res,
                          c.crop, txt.t, nt);
    }
    if (!count) s = LDM_ERR_NOMEM;
    free(count);
    if (s == LDM_OK) fprintf(stderr, "wrote %d images to %s\n", o.n, out_dir);
  }
  sample_cli_free(&sc);
  free(imgs);
  free(labels);
  return s == LDM_OK ? 0 : ldm_cli_error();
}
