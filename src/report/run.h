/* Private to the run report (report.c): the metrics log read back per stage (metrics.c), the SVG charts
 * (chart.c), the sample-grid timeline (samples.c), the configuration section and the checkpoint metadata
 * it falls back on (run_config.c). */
#ifndef LDM_REPORT_RUN_H
#define LDM_REPORT_RUN_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "ldm/ldm.h"
#include "report/html.h"

#define MAX_STAGES 8
#define MAX_FIELDS 16

/* ---------------------------------------------------------------- metrics.jsonl (metrics.c) */

/* one stage's rows: step, time (NAN when the row has none) and skipped per row; the numeric fields as
 * columns in the order they first appear */
typedef struct {
  char name[32];
  int n, cap;
  double *step, *time;
  bool *skipped;
  int nf;
  char field[MAX_FIELDS][32];
  double *col[MAX_FIELDS]; /* NAN where absent, null or non-finite */
} stage_data;

typedef struct {
  stage_data st[MAX_STAGES];
  int ns;
  int rows;
  char device[256];
} metrics;

/* Read metrics.jsonl into m (zeroed by the caller; free with ldm_run_metrics_free even on failure). A
 * malformed row fails with LDM_ERR_FORMAT and "<file>:<line>: <what>". */
ldm_status ldm_run_metrics_read(const char *path, metrics *m);
void ldm_run_metrics_free(metrics *m);
/* the column of a field, -1 if the stage has none */
int ldm_run_field(const stage_data *s, const char *name);
/* wall time of a stage in seconds (NAN if unknown): from the timestamps when at least two rows have one
 * (*from_time), else the sum of steps / it_s */
double ldm_run_stage_wall(const stage_data *st, bool *from_time);

/* ---------------------------------------------------------------- checkpoint metadata (run_config.c) */

/* the ldm.* metadata of one checkpoint file, kept while the file is unchanged (same device, inode, size
 * and mtime); err: why it could not be read */
typedef struct {
  char path[4200];
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  bool valid;
  int n;
  char **k, **v;
  char err[400];
} meta_cache;

/* the cached metadata of the checkpoint at path; NULL if there is no such file */
const meta_cache *ldm_run_checkpoint_meta(const char *path);
/* a key's value, NULL if c is NULL or has no such key */
const char *ldm_run_meta_get(const meta_cache *c, const char *key);
/* the Configuration section: config.json as a table, else the ldm.* metadata of the checkpoints mv / mu
 * (either may be NULL); a malformed config.json fails */
ldm_status ldm_run_config_section(ldm_sbuf *o, const char *dir, const meta_cache *mv, const meta_cache *mu);

/* ---------------------------------------------------------------- charts (chart.c) */

/* The charts of one stage: loss (raw + EMA, log y), the other terms, grad norm, learning rate, it/s. */
ldm_status ldm_run_stage_charts(ldm_sbuf *o, const stage_data *st);
/* a number for a table cell: %.4g, an en dash when not finite */
void ldm_run_fmt_num(char *b, size_t n, double v);

/* ---------------------------------------------------------------- sample grids (samples.c) */

/* The sample-grid timeline of dir/samples/ *.png and dir/samples.png; image links are base + the path
 * relative to dir. A listing failure is a warning on the page. */
void ldm_run_samples_section(ldm_sbuf *o, const char *dir, const char *base);
#endif
