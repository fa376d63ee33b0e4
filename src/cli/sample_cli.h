/* What `ldm-vk sample` and `ldm-vk edit` share (and `train` the terminal hooks): the progress line and log
 * on stderr, the generation flags, the checks before any work (--ckpt, --out, --class), the backend. */
#ifndef LDM_CLI_SAMPLE_CLI_H
#define LDM_CLI_SAMPLE_CLI_H
#include <stdbool.h>
#include <stddef.h>

#include "cli/args.h"
#include "ldm/io.h"
#include "ldm/log.h"
#include "ldm/runinfo.h"
#include "ldm/train.h"

/* stderr: log lines as they come; progress on a terminal as one line rewritten in place (at most 4 times
 * a second), into a log file (not a terminal) one line per --log-every step of training only */
typedef struct {
  bool tty;
  bool open;   /* a progress line without its newline is on the terminal */
  double last; /* when it was written */
} term_state;
extern term_state cli_term;
void term_close_line(term_state *t);
void cli_log(void *user, ldm_log_level level, const char *line);
void cli_progress(void *user, const ldm_progress *p);
void cli_hooks_install(void); /* cli_log (on cli_term) as the process-wide log function */

/* the flags of the generation settings that are not ldm_sample_opts fields themselves */
typedef struct sample_cli {
  char cls[LDM_CLASS_NAME_MAX + 1], sampler[16], sigmas[16], spacing[16], out[512], out_dir[512], format[8];
  ldm_image_format out_fmt; /* of --out (sample_cli_setup) */
  bool dir_jpg;             /* --format jpg */
  char **names;             /* the run's class names (sample_cli_setup; may be none) */
  int nnames;
} sample_cli;
void sample_cli_init(sample_cli *sc); /* --class all, --sampler ddim, --sigmas discrete, --spacing linspace, --format png */
void sample_cli_free(sample_cli *sc);

/* the flag table entries: --device, and --class --sampler --sigmas --spacing --steps --eta --guidance
 * --guidance-rescale --seed --batch */
#define SAMPLE_CLI_DEVICE(o) \
  {"device", ARG_STR, (o).device, sizeof (o).device, "(default: a GPU if present, else cpu)", ARG_DEVICE}
#define SAMPLE_CLI_GEN(o, sc) \
  {"class", ARG_STR, (sc).cls, sizeof (sc).cls, \
   "all, a class index (below the model's class count) or a class name of the run (any case) [all]", ARG_TEXT}, \
  {"sampler", ARG_STR, (sc).sampler, sizeof (sc).sampler, "[ddim] (docs/samplers.md)", \
   .choices = "ddim|ddpm|euler|euler_a|heun|dpmpp_2m|dpmpp_2m_sde|unipc"}, \
  {"sigmas", ARG_STR, (sc).sigmas, sizeof (sc).sigmas, \
   "noise levels: the training timesteps, Karras (rho 7) or exponential [discrete]", \
   .choices = "discrete|karras|exponential"}, \
  {"spacing", ARG_STR, (sc).spacing, sizeof (sc).spacing, "timesteps of --sigmas discrete [linspace]", \
   .choices = "linspace|leading|trailing"}, \
  {"steps", ARG_INT, &(o).steps, 0, "sampling steps, at most the run's timesteps [50]", .min = 1, .max = 100000}, \
  {"eta", ARG_FLOAT, &(o).eta, 0, "DDIM eta, 0 = deterministic [0]", .min = 0, .max = 1}, \
  {"guidance", ARG_FLOAT, &(o).guidance, 0, "classifier-free guidance scale, 1 = off [2.0]", .min = 0, .max = 100}, \
  {"guidance-rescale", ARG_FLOAT, &(o).guidance_rescale, 0, \
   "rescale the guided output to the conditional one's std (Lin et al. 2023), 0 = off [0]", .min = 0, .max = 1}, \
  {"seed", ARG_U64, &(o).seed, 0, "random seed [0]", .min = 0, .max = 18446744073709551615.0}, \
  {"batch", ARG_INT, &(o).batch, 0, "images per device batch [100]", .min = 1, .max = 65536}

/* After the flags are parsed, before any work: --ckpt given and a directory, --out or --out-dir given,
 * --out's image type (sc->out_fmt), the folder of --out made, the terminal hooks installed, a torn
 * checkpoint repaired, --sampler / --sigmas / --spacing into o, --class resolved into o->cls (sc->names: the run's class
 * names). Returns 0, or the exit status (2 usage, 1 error; the message printed, naming cmd). */
int sample_cli_setup(const char *cmd, sample_cli *sc, ldm_sample_opts *o);
/* Open o->device (printing "backend: ..."), the progress line on a terminal. Returns 0 or 1 (printed). */
int sample_cli_backend(ldm_sample_opts *o, ldm_backend *be);
/* The class text of the generation settings: "all" (label -2), "none (unconditional)" (-1), "K NAME"
 * (named) or "K". */
void sample_cli_class_text(const sample_cli *sc, int label, char *buf, size_t cap);
#endif
