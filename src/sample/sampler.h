/* The sampler's entry point on weights in memory (the trainer's sample grids); ldm_sample (ldm/train.h)
 * is this on the weights files of a run directory. */
#ifndef LDM_SAMPLER_H
#define LDM_SAMPLER_H
#include "ldm/backend.h"
#include "ldm/checkpoint.h"
#include "ldm/io.h"
#include "ldm/train.h"
#include "sample/coefs.h"

/* Model weights by tensor name: a weights file (file), or an arena image laid out as the parameters of
 * graph g (a training executor's arena read to the host). */
typedef struct ldm_weights {
  const ldm_st_file *file;
  const ldm_graph *g;
  const void *arena;
  const char *path; /* names the source in error messages (NULL: none) */
} ldm_weights;

/* Load w into arena a of e: every parameter of e's graph by name, with its shape. */
ldm_status ldm_weights_load(const ldm_weights *w, ldm_exec *e, ldm_arena a);
/* Plan g (a VAE encoder or decoder built for nb images, input tensor in, output tensor out), load vae into it
 * and run it over the n images of src in batches of nb (in_per / out_per floats per image), into dst. */
ldm_status ldm_vae_run_batches(const ldm_backend *be, ldm_graph *g, const ldm_weights *vae, int in, int64_t in_per,
                               int out, int64_t out_per, int nb, const float *src, int n, float *dst);

/* Sample o->n images from the model c with the noise schedule sch (as ldm_ckpt_read_sched_meta reads it)
 * and the UNet / VAE weights unet, vae; as ldm_sample otherwise. c and sch are trusted (checked). */
ldm_status ldm_sample_weights(const ldm_backend *be, const ldm_sample_opts *o, const ldm_model_cfg *c,
                              const ldm_ckpt_sched *sch, const ldm_weights *unet, const ldm_weights *vae,
                              float **images, int **labels);

/* Philox streams of the sampler (key = the seed): z_T and the img2img start (host), the step noise, the
 * known region's and RePaint's re-noising (device). Image i draws blocks (i per + j) / 4. */
#define LDM_SAMPLE_STREAM_INIT 0xA11CEu
#define LDM_SAMPLE_STREAM_STEP 0x5A5Au
#define LDM_SAMPLE_STREAM_KNOWN 0x5A5Bu
#define LDM_SAMPLE_STREAM_JUMP 0x5A5Cu
/* per N(0, 1) values of image img (its index among all images of the call) from stream */
void ldm_sample_noise(uint64_t seed, uint64_t stream, int64_t img, int64_t per, float *out);

/* The model of a sampler graph. build appends it on the state x ([nb, ...], the noisy latent x_t) with
 * the coefficient table coef (words LDM_SC_EVAL, +1: alpha and sigma of the evaluation) and returns its
 * output (eps, or v when the spec says v_pred) of x's shape; ready (optional) runs once the executor
 * exists (weights); before (optional) runs before every replay r with the model's timestep t and the
 * first image index of the batch. */
typedef struct ldm_sampler_model {
  int (*build)(void *user, ldm_graph *g, int x, int coef);
  ldm_status (*ready)(void *user, ldm_exec *e);
  ldm_status (*before)(void *user, ldm_exec *e, uint32_t t, int base, int replay);
  void *user;
} ldm_sampler_model;

typedef struct ldm_sampler_run_opts {
  const ldm_sampler_spec *spec;
  int n, nb;                /* images, images per batch */
  int ndim;                 /* the shape of one image's latent ([C, H, W] or [d]) */
  int64_t shape[3];
  uint64_t seed;
  const float *init;        /* n latents (already scaled) for img2img / inpainting, or NULL */
  const float *mask;        /* n masks [1, H, W] (1 = repaint), or NULL; needs init */
  ldm_progress_fn progress; /* as ldm_sample_opts */
  void *user;
  volatile sig_atomic_t *cancel;
} ldm_sampler_run_opts;

/* Run the plan of ro->spec on every batch: out = the n final latents (x at level 0, unscaled by nothing). */
ldm_status ldm_sampler_run(const ldm_backend *be, const ldm_sampler_model *m, const ldm_sampler_run_opts *ro,
                           float *out);
/* ldm-vk bench: the median time of one replay of the sampler graph (iters >= 1 timed runs after 3 warm-up
 * runs) and the time of its sampler_step node in one timed run (device timestamps, or wall clock). */
ldm_status ldm_sampler_time(const ldm_backend *be, const ldm_sampler_model *m, const ldm_sampler_run_opts *ro,
                            int iters, double *replay_ms, double *step_op_ms);
/* The per-step cost of sampling with the UNet of c at batch nb (guidance on: the UNet runs on 2 nb),
 * printed to f: one replay (= one step of every sampler but Heun, which makes two evaluations a step) and
 * the sampler_step op in it. Weights are zero (the cost does not depend on them). */
#include <stdio.h>
ldm_status ldm_sample_bench(const ldm_backend *be, const ldm_model_cfg *c, int nb, int iters, FILE *f);

/* The weights files of a run directory: unet.safetensors and vae.safetensors, their model configuration
 * (checked: the two files have the same VAE) and the UNet's noise schedule, all validated. unet / vae
 * point into r (r must not move while they are used). */
typedef struct ldm_run_weights {
  ldm_st_file *uf, *vf;
  char upath[600], vpath[600];
  ldm_model_cfg c;
  ldm_ckpt_sched sch;
  ldm_weights unet, vae;
} ldm_run_weights;
ldm_status ldm_run_weights_open(const char *dir, ldm_run_weights *r); /* on failure nothing stays open */
void ldm_run_weights_close(ldm_run_weights *r);
#endif
