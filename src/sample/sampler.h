/* The sampler's entry point on weights in memory (the trainer's sample grids); ldm_sample (ldm/train.h)
 * is this on the weights files of a run directory. */
#ifndef LDM_SAMPLER_H
#define LDM_SAMPLER_H
#include "ldm/backend.h"
#include "ldm/checkpoint.h"
#include "ldm/io.h"
#include "ldm/train.h"

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

/* Sample o->n images from the model c with the noise schedule sch (as ldm_ckpt_read_sched_meta reads it)
 * and the UNet / VAE weights unet, vae; as ldm_sample otherwise. c and sch are trusted (checked). */
ldm_status ldm_sample_weights(const ldm_backend *be, const ldm_sample_opts *o, const ldm_model_cfg *c,
                              const ldm_ckpt_sched *sch, const ldm_weights *unet, const ldm_weights *vae,
                              float **images, int **labels);

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
