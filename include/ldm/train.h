/* Training (VAE -> latent cache -> UNet) and sampling of latent diffusion models. */
#ifndef LDM_TRAIN_H
#define LDM_TRAIN_H
#include "ldm/model.h"

typedef struct ldm_vk_ctx ldm_vk_ctx;

typedef struct ldm_train_opts {
  char config[32];      /* fmnist | celeba64 | tiny */
  char data[512];       /* dataset dir ("" = /usr/share/datasets/fashion-mnist) */
  char device[32];      /* "" = auto (a GPU if present, else the CPU backend), vk, vk:N, cpu */
  char out[512];        /* run directory */
  char stage[8];        /* vae | unet | all */
  char preset[8];       /* auto | quick | full */
  int vae_steps, unet_steps, batch;
  int grad_accum;       /* micro-batches per optimizer step (effective batch = batch * grad_accum) */
  float vae_lr, unet_lr;
  uint64_t seed;
  bool resume;
  /* recipe knobs (DESIGN.md section 4 defaults) */
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
  /* results, set by ldm_train */
  int signal;           /* SIGINT or SIGTERM that stopped the run (LDM_ERR_INTERRUPTED), else 0 */
  int64_t skipped[2];   /* non-finite steps skipped (VAE, UNet) in this call */
  bool usage_error;     /* the failure is the command line's: a non-empty --out without --resume/--overwrite */
} ldm_train_opts;

void ldm_train_defaults(ldm_train_opts *o);
/* Runs the stages; returns LDM_OK, LDM_ERR_INTERRUPTED after a clean Ctrl-C / SIGTERM save, LDM_ERR_NUMERIC
 * when the run went non-finite (20 skipped steps in a row, a stage that ended on skipped steps, or weights
 * that are not finite or |w| >= 1e20 at a checkpoint: nothing non-finite is ever written), or an error.
 * A new run needs an empty or missing o->out (o->overwrite first removes an earlier run's files);
 * o->resume needs a checkpoint there, cleans stale "*.tmp.<pid>" files, rebuilds a weights file torn
 * from its state file (ldm_run_repair) and drops metrics.jsonl rows past the checkpoints.
 * Test hook: LDM_TEST_FAULT=STAGE:nan|explode:STEP[:COUNT][,...] (src/train/train.c). */
ldm_status ldm_train(ldm_train_opts *o);
/* Exit status of `ldm-vk train` for ldm_train's result: 0 done; 1 an error (I/O, bad file, --resume
 * without a checkpoint, ...); 2 a usage error (o->usage_error); 3 the run went non-finite
 * (LDM_ERR_NUMERIC); 128 + signal after an interruption: 130 SIGINT, 143 SIGTERM. */
int ldm_train_exit_code(const ldm_train_opts *o, ldm_status s);
/* A run directory's checkpoint is its state files; vae.safetensors / unet.safetensors are derived from
 * them. Rebuild each weights file that is missing or holds another ldm.step than its state file (a
 * process killed between the two writes); a weights file that cannot be read stays an error. *repaired
 * (may be NULL) counts the files rewritten; a message per file unless quiet. */
ldm_status ldm_run_repair(const char *dir, bool quiet, int *repaired);

typedef struct ldm_sample_opts {
  char ckpt[512];       /* run directory with vae.safetensors and unet.safetensors */
  char device[32];
  int n;                /* images */
  int cls;              /* class index, or -1 for all classes in turn */
  int sampler;          /* LDM_SAMPLER_DDIM / LDM_SAMPLER_DDPM */
  int steps;
  float eta, guidance;
  uint64_t seed;
  int batch;            /* images per device batch */
} ldm_sample_opts;

void ldm_sample_defaults(ldm_sample_opts *o);
/* Generate o->n images (NCHW floats in [-1,1], malloc'd) with their class labels (-1 unconditional).
 * vk may be NULL for the CPU backend. */
ldm_status ldm_sample(ldm_vk_ctx *vk, const ldm_sample_opts *o, float **images, int **labels, ldm_model_cfg *cfg);

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

/* Open the backend for a --device value: "cpu" -> *vk = NULL; "vk"/"vk:N" -> a context; "" (auto) ->
 * a GPU when one exists, else the CPU backend (lavapipe is slower than the CPU backend for training).
 * *why describes the choice for the user. */
ldm_status ldm_backend_open(const char *device, ldm_vk_ctx **vk, char *why, size_t why_len);
/* An executor on the chosen backend. */
typedef struct ldm_exec ldm_exec;
ldm_status ldm_exec_new(ldm_vk_ctx *vk, const ldm_graph *g, ldm_exec **e);

#endif
