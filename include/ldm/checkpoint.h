/* Moving graph parameters (and optimizer state) between executors and safetensors files by name. */
#ifndef LDM_CHECKPOINT_H
#define LDM_CHECKPOINT_H
#include <stdbool.h>
#include <stdint.h>

#include "ldm/backend.h"
#include "ldm/io.h"
#include "ldm/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Add every parameter of g, read from arena `a` of e (PARAM, ADAM_M, ADAM_V or EMA), to the writer as
 * F32 tensors named prefix + parameter name. The data is copied. */
ldm_status ldm_ckpt_add_arena(ldm_st_writer *w, ldm_exec *e, ldm_arena a, const char *prefix);
/* Load every parameter of g into arena `a` from tensors named prefix + name; a missing tensor or a
 * shape mismatch is an error naming the file and the tensor (a checkpoint from another config). */
ldm_status ldm_ckpt_load_arena(const ldm_st_file *f, ldm_exec *e, ldm_arena a, const char *prefix);
/* mkdir -p: create a directory and its missing parents (LDM_ERR_IO naming the path on failure). */
ldm_status ldm_mkdir_p(const char *path);
/* Copy arena `from` to arena `to` of the same executor (e.g. PARAM -> EMA at initialisation). */
ldm_status ldm_exec_copy_arena(ldm_exec *e, ldm_arena from, ldm_arena to);

/* ---------------------------------------------------------------------------------------------
 * Checkpoint metadata ("ldm.*" keys of __metadata__), validated. A checkpoint is untrusted input:
 * every reader below refuses (LDM_ERR_FORMAT, one line naming the file, the key and the value) a
 * missing key, a value that is not exactly a number of the expected kind (a decimal integer without
 * sign, spaces, fraction or trailing characters; a finite decimal number), a value out of range, and
 * any "ldm."-prefixed key that ldm-vk does not write. The model configuration itself is read by
 * ldm_cfg_from_meta (ldm/train.h), which uses the same rules and ldm_model_cfg_valid.
 * ------------------------------------------------------------------------------------------- */
#define LDM_CKPT_MAX_STEP 2147483646LL /* steps and optimizer steps (the trainer counts in int) */
#define LDM_CKPT_MAX_T 100000          /* diffusion timesteps */
#define LDM_CKPT_MAX_SCALE 1e6         /* latent scale factor */

/* Strict scalar parsers, no file involved (src/io/ckpt_meta.c, like everything below). Integers:
 * optional '-' then decimal digits only, within [lo, hi]. Unsigned: digits only, no overflow. Reals:
 * decimal notation only (digits, sign, '.', exponent; no "nan", "inf", hexadecimal or spaces), the
 * whole string, finite, no underflow, within [lo, hi]. */
bool ldm_meta_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);
bool ldm_meta_parse_u64(const char *s, uint64_t *out);
bool ldm_meta_parse_real(const char *s, double lo, double hi, double *out);
/* A comma-separated list of 1..max integers, each in [lo, hi]; *n gets the count. */
bool ldm_meta_parse_int_list(const char *s, int lo, int hi, int max, int *v, int *n);

/* Every "ldm." key of f is one that ldm-vk writes (the list is in src/io/ckpt_meta.c: a new key
 * written anywhere must be added there, or the files that carry it no longer load). */
ldm_status ldm_ckpt_check_keys(const ldm_st_file *f);

/* Required integer / string metadata with a message naming the file, the key and the value. */
ldm_status ldm_ckpt_meta_int(const ldm_st_file *f, const char *key, int64_t lo, int64_t hi, int64_t *out);
ldm_status ldm_ckpt_meta_real(const ldm_st_file *f, const char *key, double lo, double hi, double *out);
/* One of the NULL-terminated choices; *index gets its position. */
ldm_status ldm_ckpt_meta_choice(const ldm_st_file *f, const char *key, const char *const *choices, int *index);

/* Run state of a stage file (state_vae.safetensors / state_unet.safetensors), for --resume. */
typedef struct ldm_ckpt_state {
  int64_t step;     /* completed steps, 0..LDM_CKPT_MAX_STEP */
  uint32_t opt_t;   /* optimizer steps taken, 0..step (skipped non-finite steps do not count) */
  bool done;
  double scale;     /* latent scale factor, 0 (not computed yet: VAE stage) ..LDM_CKPT_MAX_SCALE */
  uint64_t seed;
  int batch;        /* 1..INT32_MAX */
  int grad_accum;   /* 1..INT32_MAX */
  char stage[8];    /* "vae" or "unet" */
} ldm_ckpt_state;
/* Also checks the diffusion keys (ldm.T, ldm.beta_*, ldm.schedule, ...) that the file carries, as
 * ldm_ckpt_read_sched_meta would. */
ldm_status ldm_ckpt_read_state_meta(const ldm_st_file *f, ldm_ckpt_state *out);

/* Diffusion metadata of a UNet weights file (unet.safetensors), for sampling. */
typedef struct ldm_ckpt_sched {
  double scale;                /* latent scale factor, > 0 */
  int T;                       /* 2..LDM_CKPT_MAX_T */
  double beta_start, beta_end; /* 0 < beta_start < beta_end < 1 */
  bool zero_snr;
  ldm_schedule_kind schedule;
  bool v_pred;                 /* prediction "v" (else "eps") */
  int64_t step;
} ldm_ckpt_sched;
ldm_status ldm_ckpt_read_sched_meta(const ldm_st_file *f, ldm_ckpt_sched *out);

/* For the error paths of code that loads a checkpoint: when s is an error whose message does not name
 * `path`, the message becomes "<path>: <message>" (every message is one line: ldm_set_error turns
 * control characters into '?'). Returns s. */
ldm_status ldm_ckpt_name_error(ldm_status s, const char *path);
#ifdef __cplusplus
}
#endif
#endif
