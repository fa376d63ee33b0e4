/* The trainer's parts (src/train/): recipe.c resolves the caller's options into a recipe; rundir.c
 * prepares and repairs the run directory; ckpt.c writes, checks and loads the stage checkpoints;
 * stage.c builds the stage graphs and executors (shared with bench.c); loop.c is the training loop
 * with its progress, metrics rows and test faults; grids.c makes the sample grids; train.c runs the
 * stages in order. */
#ifndef LDM_TRAINER_H
#define LDM_TRAINER_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/env.h"
#include "ldm/backend.h"
#include "ldm/checkpoint.h"
#include "ldm/data.h"
#include "ldm/io.h"
#include "ldm/log.h"
#include "ldm/train.h"
#include "runtime/runtime.h"

#define TR_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

/* ---------------------------------------------------------------- recipe.c */

/* The recipe of a run: the caller's options with every preset-dependent value resolved (never < 0) and
 * the default run directory filled in, and the model configuration after the preset. The caller's
 * ldm_train_opts is never written. */
typedef struct tr_recipe {
  ldm_train_opts o;
  ldm_model_cfg c;
} tr_recipe;

/* The checks of the options that need no backend (before it is opened). */
ldm_status tr_recipe_check(const ldm_train_opts *in);
/* Resolve in (checked) for the backend be into *r (the preset, its defaults). */
ldm_status tr_recipe_resolve(const ldm_train_opts *in, const ldm_backend *be, tr_recipe *r);
/* The learning rate of step (1-based) of a stage with base rate base and total steps. */
float tr_lr_at(const ldm_train_opts *o, float base, int step, int total);

/* ---------------------------------------------------------------- loop.c: log, progress */

void tr_log(const ldm_train_opts *o, ldm_log_level lv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
double tr_now(void);
bool tr_cancelled(const ldm_train_opts *o);

/* The work left in this call, for the run-wide ETA: per phase the units left (steps; images for the latent
 * cache), the images one unit processes and the measured seconds per unit (0: not measured yet). A phase
 * that has not run yet is estimated from the latest measured one. */
enum { PH_VAE, PH_CACHE, PH_UNET, PH_N };
typedef struct {
  int64_t left[PH_N];
  double images_per_unit[PH_N];
  double s_per_unit[PH_N];
} tr_plan;

typedef struct {
  const ldm_train_opts *o;
  tr_plan *plan;   /* may be NULL */
  int phase;       /* PH_* */
  const char *name, *unit;
  int64_t total, first;
  double t0;
} tr_progress;
/* after `done` units of the phase: the plan's numbers, then the host's progress function */
void tr_progress_report(tr_progress *p, int64_t done, double loss, const char *extra, bool final, bool log_step);

/* ---------------------------------------------------------------- stage state, ckpt.c */

typedef struct {
  int64_t step;        /* completed steps */
  uint32_t opt_t;      /* optimizer steps taken (skipped NaN steps do not count) */
  bool done;
  int64_t ckpt_step;   /* step of the last checkpoint written or loaded in this process; -1: none */
} tr_stage_state;

void tr_last_ckpt_note(const tr_stage_state *st, char *b, size_t n);
/* Refuse weights, optimizer state or EMA that are not finite or have blown up (LDM_ERR_NUMERIC). */
ldm_status tr_ckpt_health(ldm_exec *e, const char *stage, bool ema, const tr_stage_state *st, int64_t step);
/* The metadata of a stage file (untrusted: validated); with c and o it must also be this run's. */
ldm_status tr_state_meta_check(const ldm_st_file *f, const char *path, const char *stage, const ldm_model_cfg *c,
                               const ldm_train_opts *o, ldm_ckpt_state *cs);
/* --resume, first of all: a stage file's step (0 without one), checked as tr_load_stage will. */
ldm_status tr_state_check(const char *dir, const char *stage, const ldm_model_cfg *c, const ldm_train_opts *o,
                          int64_t *step);
ldm_status tr_load_stage(const char *out, const char *stage, ldm_exec *e, const ldm_model_cfg *c,
                         const ldm_train_opts *o, bool ema, tr_stage_state *st, double *scale, bool *found);
/* The noise schedule as a reader of the weights file sees it (the same text, parsed). */
void tr_sched_of(const ldm_train_opts *o, double scale, ldm_ckpt_sched *sch);

/* ---------------------------------------------------------------- rundir.c */

bool tr_file_exists(const char *p);
/* A new run needs an empty (or new) directory, --overwrite replaces an earlier run, --resume needs a
 * checkpoint; *usage_error for the command line's mistakes. */
ldm_status tr_prepare_run_dir(const ldm_train_opts *o, bool *usage_error);
/* --resume: metrics.jsonl keeps the rows of steps its checkpoints hold */
ldm_status tr_metrics_trim(const ldm_train_opts *o, const char *dir, int64_t vae_step, int64_t unet_step);
ldm_status tr_run_repair(const char *dir, bool quiet, ldm_log_fn lf, void *lu, int *repaired);

/* ---------------------------------------------------------------- stage.c */

/* Batch indices for a step: epoch-wise seeded permutations, a function of (seed, step) only. */
typedef struct {
  uint32_t *perm;
  int n;
  int64_t epoch;
  uint64_t seed;
} tr_batcher;
void tr_batch_indices(tr_batcher *s, int64_t step0, int B, uint32_t *out);

/* The dataset table lives on the device when it fits one binding; else the host uploads each batch. */
typedef struct {
  int table, idx;   /* gather source and indices */
  bool on_device;
  int64_t row;      /* elements per row */
  int first, n;     /* the rows gathered: batch[first .. first + n) of the global batch */
} tr_data_src;
/* per step: the rows batch[d->first .. d->first + d->n) of the global batch */
void tr_data_src_step(ldm_exec *e, const tr_data_src *d, const void *all, size_t elem, const uint32_t *batch);

/* One stage's train graph and executor. */
typedef struct {
  const char *name;      /* "vae" | "unet" */
  ldm_graph g;
  ldm_exec *e;
  int step_t, loss_t, gs_t, aux_t[2];
  const char *aux_name[2];
  tr_data_src src[2];
  const void *src_data[2];
  size_t src_elem[2];
  int nsrc;
  bool ema;
  float base_lr;
  int total;
  int64_t skipped;       /* non-finite steps skipped in this process */
  int opt_fence;         /* fence slot: the first node of the optimizer part (grad-norm clip, AdamW, EMA) */
  int rank_idx;          /* data parallel: HOST [batch / ranks] indices of this rank's rows of the global batch */
  double ar_s;           /* data parallel: seconds spent in the gradient all-reduce (download, sum, upload) */
  int64_t ar_steps;      /* ... over this many optimizer steps */
  float *ar_buf;         /* data parallel: the host copy of the gradients (and the step's scalars) */
  double t_run0;         /* tr_now() when elapsed_s of the metrics rows was 0 (earlier processes count) */
} tr_stage;

/* What the stages of one ldm_train (or ldm_bench) share. */
typedef struct {
  const ldm_train_opts *o;  /* the resolved recipe */
  const ldm_model_cfg *c;
  const ldm_backend *be;
  const ldm_env *env;       /* LDM_TEST_FAULT */
  tr_stage_state *st;       /* the stage being trained */
  double scale;             /* latent scale factor (UNet stage) */
  ldm_dataset *ds;
  tr_plan *plan;            /* the run-wide ETA's numbers (NULL: none) */
  float *cache;             /* UNet stage: the latent cache, (mu, logvar) rows */
  uint32_t *labels;         /* UNet stage: the labels (the null class for unlabeled images) */
  ldm_st_file *vae_file;    /* UNet stage: vae.safetensors (the decoder of the sample grids) */
  ldm_train_result *res;    /* data parallel: collective is set where all ranks stop together (may be NULL) */
} tr_ctx;

ldm_status tr_load_data(const ldm_train_opts *o, const ldm_model_cfg *c, ldm_dataset *ds);
ldm_status tr_build_vae_stage(tr_stage *r, tr_ctx *c, int B);
ldm_status tr_build_unet_stage(tr_stage *r, tr_ctx *c, int B);
/* The graphs of those stages, planned, without an executor (the performance model, src/perf) */
ldm_status tr_build_vae_graph(tr_stage *r, tr_ctx *c, int B);
ldm_status tr_build_unet_graph(tr_stage *r, tr_ctx *c, int B);
/* bench.c: the graph of a sampling step's UNet forward at batch B (no guidance doubling), planned */
ldm_status tr_bench_forward_graph(ldm_graph *g, const ldm_model_cfg *c, int B);
/* The initial parameters of stage r (built for the global batch B) into img, as a one-rank run has them. */
ldm_status tr_params_init(tr_ctx *c, const tr_stage *r, int B, uint64_t seed, void *img);
/* Encode the whole dataset with the VAE of c->vae_file: the cache and the scale 1/std(z). */
ldm_status tr_encode_cache(tr_ctx *c, float **cache, double *scale);
void tr_stage_free(tr_stage *r);

/* ---------------------------------------------------------------- loop.c */

typedef ldm_status (*tr_periodic_fn)(tr_ctx *c, tr_stage *r, int64_t step, bool final);
/* Train r from c->st->step to r->total; ckpt_fn and sample_fn at their intervals and at the end. */
ldm_status tr_run_stage(tr_stage *r, tr_ctx *c, tr_batcher *ss, int B, FILE *metrics, tr_periodic_fn sample_fn,
                        tr_periodic_fn ckpt_fn);
/* One checkpoint of a stage: health first, then the state file, then the weights file (ckpt.c). */
ldm_status tr_write_ckpt(tr_ctx *c, tr_stage *r, int64_t step, bool final);

/* ---------------------------------------------------------------- comm.c: data parallel */

/* o->comm's rank and size (0 and 1 without one) */
int tr_rank(const ldm_train_opts *o);
int tr_size(const ldm_train_opts *o);
/* Where rank 0 alone did something (the run directory, a checkpoint, a metrics row): its status s0 to
 * every rank. Returns s on rank 0; elsewhere this rank's own failure s, else rank 0's failure (with its
 * message). res (may be NULL) gets collective = true when rank 0 failed, and rank 0's usage_error. Without
 * a comm (or size 1): s. */
ldm_status tr_agree(const ldm_train_opts *o, ldm_status s, ldm_train_result *res);
/* bytes of rank root to every rank (LDM_OK without a comm) */
ldm_status tr_bcast(const ldm_train_opts *o, void *data, size_t bytes, int root);
/* n floats summed over the ranks, in place */
ldm_status tr_allreduce(const ldm_train_opts *o, float *data, size_t n);
/* The gradient all-reduce of an optimizer step: the GRAD arena downloaded, summed over the ranks with
 * the nx floats of x appended (the step's loss and its parts, the cancel flag), uploaded. */
ldm_status tr_allreduce_grads(const ldm_train_opts *o, tr_stage *r, float *x, int nx);

/* ---------------------------------------------------------------- grids.c */

ldm_status tr_vae_samples(tr_ctx *c, tr_stage *r, int64_t step, bool final);
ldm_status tr_unet_samples(tr_ctx *c, tr_stage *r, int64_t step, bool final);

#endif
