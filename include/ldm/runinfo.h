/* What a run directory records about itself: config.json (src/train/runinfo.c), the class names of the
 * checkpoints (metadata ldm.classes, src/io/ckpt_meta.c), timestamps and ldm-vk's version. */
#ifndef LDM_RUNINFO_H
#define LDM_RUNINFO_H
#include <stdbool.h>
#include <stddef.h>

#include "ldm/backend.h"
#include "ldm/data.h"
#include "ldm/io.h"
#include "ldm/model.h"
#include "ldm/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * JSON strings and class-name lists (src/io/ckpt_meta.c: no backend, so the fuzz harness of the
 * checkpoint metadata builds them too)
 * ------------------------------------------------------------------------------------------- */
#define LDM_CLASS_NAME_MAX 255 /* bytes of one class name (a folder name) */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF; NUL bytes are not allowed. */
bool ldm_utf8_valid(const char *s, size_t n);
/* s as a JSON string literal, quotes included, into dst (cap bytes, NUL-terminated, cut if too small);
 * returns the length the whole literal needs (snprintf-style). '"', '\\' and every control character
 * (U+0000..U+001F, U+007F) are escaped; bytes that are not valid UTF-8 become \ufffd, so the result is
 * always valid JSON. */
size_t ldm_json_quote(char *dst, size_t cap, const char *s);

/* The value of the metadata key ldm.classes: a compact JSON array of the names, ["T-shirt/top",...].
 * malloc'd; NULL (LDM_ERR_NOMEM set) when memory runs out. */
char *ldm_classes_encode(char *const *names, int n);
/* Parse such a value strictly (what: the file, for messages): a JSON array of 0..LDM_MAX_CLASSES
 * strings, each 1..LDM_CLASS_NAME_MAX bytes of valid UTF-8 without NUL, no two the same, exactly
 * `expect` of them when expect >= 0. *names: malloc'd (ldm_classes_free). LDM_ERR_FORMAT otherwise. */
ldm_status ldm_classes_parse(const char *what, const char *value, int expect, char ***names, int *n);
void ldm_classes_free(char **names, int n);
/* The class ldm.classes of a checkpoint names, validated as above against ncls; a file without the key
 * (unlabeled data, an older ldm-vk) gives *n = 0, *names = NULL. */
ldm_status ldm_ckpt_read_classes(const ldm_st_file *f, int ncls, char ***names, int *n);
/* Index of the class called `name`: an exact match, else the only one that matches ignoring ASCII case;
 * -1 when none matches, -2 when several match only ignoring case. */
int ldm_classes_find(char *const *names, int n, const char *name);
/* "T-shirt/top, Trouser, ..." for messages: one line (control characters as '?'), cut (with "...") to fit
 * cap bytes. */
void ldm_classes_list(char *const *names, int n, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * run directory (src/train/runinfo.c)
 * ------------------------------------------------------------------------------------------- */
/* "ldm-vk 0.1.0 (1df05e95706b-dirty)": ldm_version() and ldm_version_git() (ldm/version.h), for the
 * Software text of images and config.json. */
const char *ldm_software_string(void);
/* The current UTC time in ISO 8601 with milliseconds, "2026-12-01T21:01:20.123Z" (cap >= 25). */
void ldm_time_iso8601(char *buf, size_t cap);
/* The device as the backend reports it: the Vulkan device's name, or "CPU reference backend: <CPU
 * model>" (the CPU backend). type (may be NULL): the Vulkan device type or "cpu-reference". */
void ldm_device_describe(const ldm_backend *be, char *name, size_t cap, const char **type);

/* The settings of sampled images as image text (ldm_image_write_grid): Software, seed, sampler, steps,
 * guidance, eta, class (cls: "all", a class name or index), checkpoint (so->ckpt), and with stage (not
 * NULL) the training stage and step of a training sample grid. t points into st. Returns the count. */
typedef struct ldm_sample_text {
  ldm_image_text t[12];
  char num[6][32];
} ldm_sample_text;
int ldm_sample_text_make(ldm_sample_text *st, const ldm_sample_opts *so, const char *cls, const char *stage,
                         int64_t step);

/* config.json of o->out: every resolved hyperparameter (after the preset), the model configuration, the
 * data source (data_dir), its image count and class names, the device, ldm-vk's version and revision,
 * pretty-printed, written atomically. A new run writes it; o->resume keeps an existing one (a missing
 * one is written, one that does not parse is an error naming it) and logs a warning (LDM_LOG_WARN to
 * o->log) for each value that differs from what the run was started with. *elapsed0 (may be NULL):
 * the largest elapsed_s of the directory's metrics.jsonl (0 for a new run), where this process's
 * elapsed_s continue. */
ldm_status ldm_run_start(const ldm_train_opts *o, const ldm_model_cfg *c, const ldm_dataset *ds, const char *data_dir,
                         const ldm_backend *be, double *elapsed0);

#ifdef __cplusplus
}
#endif
#endif
