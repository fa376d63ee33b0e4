/* Training (VAE -> latent cache -> UNet) and sampling of latent diffusion models. */
#ifndef LDM_TRAIN_H
#define LDM_TRAIN_H
#include <signal.h>

#include "ldm/backend.h"
#include "ldm/log.h"
#include "ldm/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The values of one metrics.jsonl row (a --log-every step, a stage's last step, a skipped step). */
typedef struct ldm_metrics {
  const char *stage;       /* "vae" | "unet" */
  int64_t step;
  float loss;
  int naux;                /* VAE: 2 (aux_name "rec", "kl"); UNet: 0 */
  const char *aux_name[2];
  float aux[2];
  float lr, grad_norm;
  double it_s;             /* steps per second since the previous row */
  bool skipped;            /* the step's loss or gradient was not finite: no update */
} ldm_metrics;
typedef void (*ldm_metrics_fn)(void *user, const ldm_metrics *m);

/* A sample grid of training, in memory: n images NCHW floats in [-1, 1] (VAE: n/2 originals, then their
 * reconstructions; UNet: class-major, nrow per class), and the PNG written for it (NULL if none). */
typedef struct ldm_sample_grid {
  const char *stage;       /* "vae" | "unet" */
  int64_t step;
  bool final;              /* the stage's last grid (UNet: also written as samples.png) */
  const float *images;
  int n, channels, height, width, nrow;
  const char *path;
} ldm_sample_grid;
typedef void (*ldm_sample_grid_fn)(void *user, const ldm_sample_grid *g);

/* Data-parallel training over several processes (docs/distributed.md): the collective operations of the
 * job, supplied by the host (`ldm-vk train` under mpirun implements them with MPI). Every rank calls the
 * same operations in the same order; each returns LDM_OK or an error (the job then cannot go on). */
typedef struct ldm_comm {
  int rank, size;             /* this process among the job's, the number of processes (>= 1) */
  int local_rank, local_size; /* the same among the processes of this machine (the device choice) */
  void *user;                 /* passed back to each function */
  /* n floats summed over all ranks, in place; every rank gets the same result */
  ldm_status (*allreduce_sum)(void *user, float *data, size_t n);
  /* `bytes` bytes of rank root to every rank */
  ldm_status (*bcast)(void *user, void *data, size_t bytes, int root);
  ldm_status (*barrier)(void *user);
} ldm_comm;

typedef struct ldm_train_opts {
  char config[32];      /* fmnist | celeba64 | tiny */
  char data[512];       /* dataset dir ("" = /usr/share/datasets/fashion-mnist) */
  char device[32];      /* "" = auto (a GPU if present, else the CPU backend), vk, vk:N, cpu */
  char out[512];        /* run directory ("" = runs/<config>) */
  char stage[8];        /* vae | unet | all */
  char preset[8];       /* auto | quick | full */
  /* vae_steps, unet_steps, batch, vae_lr, unet_lr, ema_decay, warmup, sample_every, ckpt_every:
   * LDM_TRAIN_PRESET (as ldm_train_defaults sets them; any value < 0) means "the preset's value"
   * (docs/presets.md); any value >= 0 is taken as given, also when it equals the full preset's default */
  int vae_steps, unet_steps, batch;
  int grad_accum;       /* micro-batches per optimizer step (effective batch = batch * grad_accum) */
  float vae_lr, unet_lr;
  uint64_t seed;
  bool resume;
  /* recipe knobs */
  float kl_weight, clip, ema_decay, cfg_dropout;
  int warmup;
  bool ema_warmup;
  char lr_schedule[16]; /* constant | cosine (after warm-up) */
  char schedule[16];    /* linear | scaled_linear | cosine */
  int T;
  float beta_start, beta_end;
  bool zero_snr;
  char prediction[8];   /* eps | v */
  float min_snr_gamma;  /* 0 = off */
  float offset_noise;   /* 0 = off */
  int log_every, sample_every, ckpt_every;
  int sample_steps;
  float guidance;
  bool quiet;
  bool check;           /* LDM_CHECK on the first step of each stage */
  int max_nan_steps;    /* consecutive skipped steps before the run stops */
  int limit_images;     /* use only the first N images (0 = all) */
  bool overwrite;       /* --out holds an earlier run: remove its files first (else only --resume may use it) */
  /* the host's hooks (all optional, all called on the thread that runs ldm_train; user is passed back):
   * log: every line of text (else the process-wide ldm_set_log function, else none); progress: every step
   * of both stages and every batch of the latent cache (none with quiet); metrics: every metrics.jsonl row;
   * sample_grid: every sample grid. quiet also drops the LDM_LOG_INFO lines. */
  ldm_log_fn log;
  ldm_progress_fn progress;
  ldm_metrics_fn metrics;
  ldm_sample_grid_fn sample_grid;
  void *user;
  /* cancel: when *cancel becomes non-zero (from a signal handler, a callback or another thread), the run
   * stops at the next step (or latent-cache batch), writes a checkpoint of the last step and returns
   * LDM_ERR_INTERRUPTED. The library installs no signal handler: `ldm-vk train` stores the signal's number. */
  volatile sig_atomic_t *cancel;
  /* data-parallel training (NULL, or size 1: this process alone). --batch stays the global batch: each of
   * the comm->size ranks computes batch / size samples of it, gradients are summed every optimizer step,
   * rank 0 alone writes the run directory (which every rank must see: --resume reads it on each). */
  const ldm_comm *comm;
} ldm_train_opts;
#define LDM_TRAIN_PRESET (-1) /* a preset-dependent option left to the preset */

/* What one ldm_train call did (ldm_train never writes its options). */
typedef struct ldm_train_result {
  int signal;           /* *cancel when it stopped the run (LDM_ERR_INTERRUPTED: the CLI's signal), else 0 */
  int64_t skipped[2];   /* non-finite steps skipped (VAE, UNet) in this call */
  bool usage_error;     /* the failure is the command line's: a non-empty --out without --resume/--overwrite */
  char out[512];        /* the run directory used (o->out, or runs/<config>) */
  char preset[8];       /* the preset resolved: quick | full */
  /* data-parallel runs: the failure is the whole job's (every rank stops with it: a usage error, rank 0's
   * run directory or checkpoint, a run gone non-finite) and rank 0 shows its message; false: this rank's
   * alone (the others may wait for it in a collective: the host ends the job) */
  bool collective;
} ldm_train_result;

void ldm_train_defaults(ldm_train_opts *o);
/* Runs the stages (res may be NULL); returns LDM_OK, LDM_ERR_INTERRUPTED after a clean stop on *o->cancel, LDM_ERR_NUMERIC
 * when the run went non-finite (20 skipped steps in a row, a stage that ended on skipped steps, or weights
 * that are not finite or |w| >= 1e20 at a checkpoint: nothing non-finite is ever written), or an error.
 * A new run needs an empty or missing o->out (o->overwrite first removes an earlier run's files);
 * o->resume needs a checkpoint there, cleans stale "*.tmp.<pid>" files, rebuilds a weights file torn
 * from its state file (ldm_run_repair) and drops metrics.jsonl rows past the checkpoints.
 * Test hook: LDM_TEST_FAULT=STAGE:nan|explode:STEP[:COUNT][,...] (src/core/env.h). */
ldm_status ldm_train(const ldm_train_opts *o, ldm_train_result *res);
/* Exit status of `ldm-vk train` for ldm_train's result: 0 done; 1 an error (I/O, bad file, --resume
 * without a checkpoint, ...); 2 a usage error (r->usage_error); 3 the run went non-finite
 * (LDM_ERR_NUMERIC); after an interruption 143 if r->signal is SIGTERM, else 130 (SIGINT, a cancel). */
int ldm_train_exit_code(const ldm_train_result *r, ldm_status s);
/* A run directory's checkpoint is its state files; vae.safetensors / unet.safetensors are derived from
 * them. Rebuild each weights file that is missing or holds another ldm.step than its state file (a
 * process killed between the two writes); a weights file that cannot be read stays an error. *repaired
 * (may be NULL) counts the files rewritten; a message per file (LDM_LOG_WARN, to the process-wide log
 * function) unless quiet. */
ldm_status ldm_run_repair(const char *dir, bool quiet, int *repaired);

typedef struct ldm_sample_opts {
  char ckpt[512];       /* run directory with vae.safetensors and unet.safetensors */
  char device[32];
  int n;                /* images */
  int cls;              /* class index, or -1 for all classes in turn */
  int sampler;          /* LDM_SAMPLER_* (ldm/ops.h): ddim, ddpm, euler, euler_a, heun, dpmpp_2m, dpmpp_2m_sde, unipc */
  int steps;
  float eta, guidance;
  uint64_t seed;
  int batch;            /* images per device batch */
  /* optional hooks, as in ldm_train_opts: progress after every denoising step (done = images finished;
   * ldm_sample prints nothing, so it has no log function), cancel (LDM_ERR_INTERRUPTED at the next step) */
  ldm_progress_fn progress;
  void *user;
  volatile sig_atomic_t *cancel;
  /* editing (`ldm-vk edit`; NULL / 0 for plain sampling). init: o->n latents [n, z, lr, lr] as the VAE
   * encoder's posterior mean gives them (unscaled: the sampler applies the run's scale factor). strength in
   * [0, 1]: the part of the schedule that is run (SDEdit): init is noised to the step that strength selects
   * and the tail of the schedule is denoised; 0 runs no step (the init latent is decoded as it is), 1 starts
   * from pure noise as plain sampling does. mask: o->n masks on the latent grid [n, 1, lr, lr], 1 = repaint,
   * 0 = keep; at every step the kept region is replaced by init re-noised to that step's noise level.
   * repaint_jump, repaint_resample: RePaint (jump length in steps, resamplings per jump; 0 = off). */
  const float *init;
  const float *mask;
  float strength;
  int repaint_jump, repaint_resample;
  /* the noise-level grid: sigmas 0 discrete (the training timesteps, spaced by spacing: 0 linspace, 1
   * leading, 2 trailing), 1 Karras (rho 7), 2 exponential; guidance_rescale: phi of Lin et al. 2023 (0 off) */
  int sigmas, spacing;
  float guidance_rescale;
} ldm_sample_opts;

void ldm_sample_defaults(ldm_sample_opts *o);
/* Generate o->n images (NCHW floats in [-1,1], malloc'd) with their class labels (-1 unconditional) on
 * the backend be (ldm_backend_open, or ldm_backend_cpu()). */
ldm_status ldm_sample(const ldm_backend *be, const ldm_sample_opts *o, float **images, int **labels,
                      ldm_model_cfg *cfg);

/* Time the VAE train step, the UNet train step and a UNet forward (sampling step) of opts' config,
 * preset, device and batch on synthetic data; print a table with per-op breakdowns to f (and a JSON
 * line to json_path when given). */
#include <stdio.h>
ldm_status ldm_bench(const ldm_train_opts *opts, int iters, FILE *f, const char *json_path);

/* model configuration <-> safetensors metadata ("ldm.*" keys) */
typedef struct ldm_st_writer ldm_st_writer;
typedef struct ldm_st_file ldm_st_file;
ldm_status ldm_cfg_to_meta(const ldm_model_cfg *c, ldm_st_writer *w);
ldm_status ldm_cfg_from_meta(const ldm_st_file *f, ldm_model_cfg *c);

#ifdef __cplusplus
}
#endif
#endif
