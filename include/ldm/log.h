/* Messages and progress of the library: it never writes to stderr or stdout itself. Every line it has for a
 * person goes to a log function (per call: ldm_train_opts.log / ldm_sample_opts.log; for the rest of the
 * library, e.g. Vulkan validation messages and the CPU backend's last words before an abort: the
 * process-wide one of ldm_set_log). Without one the library is silent; errors still come back as status
 * codes with ldm_last_error(). Progress of long operations goes to a progress function as numbers;
 * ldm_progress_format makes the one-line text that `ldm-vk` prints for all of them. */
#ifndef LDM_LOG_H
#define LDM_LOG_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ldm_log_level {
  LDM_LOG_DEBUG,
  LDM_LOG_INFO,  /* what a run does: configuration, stages, files written */
  LDM_LOG_WARN,  /* something a person should know: skipped steps, an interruption, a repaired file */
  LDM_LOG_ERROR, /* the library is about to abort (the CPU backend out of memory) or a validation error */
} ldm_log_level;

/* One line of text, without a trailing newline; valid only during the call. */
typedef void (*ldm_log_fn)(void *user, ldm_log_level level, const char *line);

/* The process-wide log function (NULL: silent, the default), for messages that belong to no call with its
 * own log function. Set it before other threads use the library; fn may be called from any thread (the
 * Vulkan driver's included). */
void ldm_set_log(ldm_log_fn fn, void *user);

/* Send a line to fn (user) if fn is not NULL, else to the process-wide log function, else nowhere. The
 * text is cut at 1023 bytes; it is one line: trailing newlines are dropped, other control characters
 * (from a path or a folder name) become '?'. */
void ldm_log_to(ldm_log_fn fn, void *user, ldm_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ldm_vlog_to(ldm_log_fn fn, void *user, ldm_log_level level, const char *fmt, va_list ap);
/* ldm_log_to(NULL, NULL, ...): the process-wide log function */
void ldm_log(ldm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef enum ldm_progress_phase {
  LDM_PHASE_VAE,    /* stage 1: VAE training steps */
  LDM_PHASE_CACHE,  /* the latent cache: images encoded */
  LDM_PHASE_UNET,   /* stage 2: UNet training steps */
  LDM_PHASE_SAMPLE, /* ldm_sample: images generated */
} ldm_progress_phase;

typedef struct ldm_progress {
  ldm_progress_phase phase;
  const char *name;      /* "vae", "latent cache", "unet", "sample" */
  int64_t done, total;   /* steps (training) or images (latent cache, sample) */
  double loss;           /* training: the step's loss; NAN otherwise */
  const char *extra;     /* training: "rec 0.01 gnorm 0.41" (VAE), "gnorm 0.41" (UNet); "" otherwise */
  double rate;           /* done per second so far in this phase (0 before the first) */
  const char *rate_unit; /* "it/s", "images/s", "steps/s" (sample: denoising steps of all its images) */
  double eta_s;          /* seconds left in this phase; < 0 unknown */
  double run_eta_s;      /* seconds left in the whole call (ldm_train: every stage still to run); < 0 unknown */
  bool run_eta_estimated; /* run_eta_s counts a phase that has not run yet at a rate estimated from another */
  bool final;            /* the last update of this phase */
  bool log_step;         /* training: a --log-every step or the stage's last one (a line for a log file) */
} ldm_progress;

typedef void (*ldm_progress_fn)(void *user, const ldm_progress *p);

/* The progress line of every long operation, e.g.
 *   unet step 120/300 loss 0.41234 gnorm 0.812 14.20 it/s ETA 0m12s, run ETA 0m25s
 *   latent cache 500/1000 images 950.0 images/s ETA 0m00s, run ETA ~3m10s
 *   sample 8/40 images 25.3 steps/s ETA 1m03s
 * ("~": estimated before the phase ran). Writes at most n bytes (NUL included); returns the length. */
size_t ldm_progress_format(const ldm_progress *p, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
