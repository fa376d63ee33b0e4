/* The training loop of both stages: the step buffer per (micro-)step, the host's log, progress and
 * metrics rows, the non-finite step handling and the LDM_TEST_FAULT hook, checkpoints and grids at their
 * intervals. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ldm/report.h"
#include "ldm/runinfo.h"
#include "train/trainer.h"

/* ---------------------------------------------------------------- cancel, log, progress */

/* The library installs no signal handler and writes nothing to stderr: the host's o->cancel stops a run,
 * its o->log gets the lines, its o->progress the numbers (ldm/log.h). */
bool tr_cancelled(const ldm_train_opts *o) { return o->cancel && *o->cancel; }

/* a line for the host; LDM_LOG_INFO lines are dropped with quiet */
void tr_log(const ldm_train_opts *o, ldm_log_level lv, const char *fmt, ...) {
  if (lv == LDM_LOG_INFO && o->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  ldm_vlog_to(o->log, o->user, lv, fmt, ap);
  va_end(ap);
}

double tr_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The work left in this call, for the run-wide ETA: per phase the units left (steps; images for the latent
 * cache), the images one unit processes and the measured seconds per unit (0: not measured yet). A phase
 * that has not run yet is estimated from the latest measured one through cost_per_image. */
/* seconds per image relative to a VAE training step's, measured with the quick preset on 2 CPU cores (VAE
 * step 0.12 s, latent cache 14 s for 60000 images, UNet step 0.069 s; batch 64) */
static const double cost_per_image[PH_N] = {1.0, 0.125, 0.57};
static double run_eta(const tr_plan *rp, bool *estimated) {
  double base = 0; /* seconds per image of a VAE training step */
  for (int i = 0; i < PH_N; i++)
    if (rp->s_per_unit[i] > 0 && rp->images_per_unit[i] > 0)
      base = rp->s_per_unit[i] / rp->images_per_unit[i] / cost_per_image[i];
  *estimated = false;
  double t = 0;
  for (int i = 0; i < PH_N; i++) {
    if (rp->left[i] <= 0) continue;
    if (rp->s_per_unit[i] > 0) {
      t += (double)rp->left[i] * rp->s_per_unit[i];
    } else {
      if (base <= 0) return -1;
      t += (double)rp->left[i] * rp->images_per_unit[i] * cost_per_image[i] * base;
      *estimated = true;
    }
  }
  return t;
}

/* after `done` units of the phase: the plan's numbers, then the host's progress function */
void tr_progress_report(tr_progress *p, int64_t done, double loss, const char *extra, bool final, bool log_step) {
  double t = tr_now();
  int64_t n = done - p->first;
  double rate = n > 0 && t > p->t0 ? (double)n / (t - p->t0) : 0;
  if (p->plan) {
    p->plan->left[p->phase] = p->total - done;
    if (rate > 0) p->plan->s_per_unit[p->phase] = 1.0 / rate;
  }
  if (p->o->quiet || !p->o->progress) return;
  static const ldm_progress_phase ph[PH_N] = {LDM_PHASE_VAE, LDM_PHASE_CACHE, LDM_PHASE_UNET};
  ldm_progress pr;
  memset(&pr, 0, sizeof pr);
  pr.phase = ph[p->phase];
  pr.name = p->name;
  pr.done = done;
  pr.total = p->total;
  pr.loss = loss;
  pr.extra = extra ? extra : "";
  pr.rate = rate;
  pr.rate_unit = p->unit;
  pr.eta_s = rate > 0 ? (double)(p->total - done) / rate : -1;
  pr.run_eta_s = p->plan ? run_eta(p->plan, &pr.run_eta_estimated) : -1;
  pr.final = final;
  pr.log_step = log_step;
  p->o->progress(p->o->user, &pr);
}

/* the gradients are zero at the start of a step (AdamW zeroes what it consumed): make one of them NaN */
static ldm_status poison_grads(ldm_exec *e) {
  const ldm_graph *g = ldm_exec_graph(e);
  size_t sz = (size_t)g->arena_size[LDM_ARENA_GRAD];
  float *img = ldm_calloc(1, sz ? sz : 4);
  if (!img) return LDM_ERR_NOMEM;
  for (int i = 0; i < g->nt; i++)
    if (g->t[i].arena == LDM_ARENA_PARAM && g->t[i].view_of == -1 && g->t[i].numel > 0) {
      img[g->t[i].offset / 4] = NAN;
      break;
    }
  ldm_status s = ldm_exec_write_arena(e, LDM_ARENA_GRAD, img, sz);
  free(img);
  return s;
}


static ldm_status write_metrics(FILE *f, const char *out, const tr_stage *r, int64_t step, float loss,
                                const float *aux, float lr, float gnorm, double it_s, bool skipped, double ar_ms) {
  if (!f) return LDM_OK;
  char b[6][32]; /* JSON has no NaN or Infinity: a non-finite number is null */
#define JNUM(i, fmt, v) (isfinite(v) ? (snprintf(b[i], sizeof b[i], fmt, v), b[i]) : "null")
  fprintf(f, "{\"stage\":\"%s\",\"step\":%lld,\"loss\":%s", r->name, (long long)step, JNUM(0, "%.9g", loss));
  for (int k = 0; k < 2; k++)
    if (r->aux_name[k]) fprintf(f, ",\"%s\":%s", r->aux_name[k], JNUM(1 + k, "%.7g", aux[k]));
  /* time: UTC, ISO 8601 with milliseconds; elapsed_s: seconds of the run so far (the device is in config.json) */
  char when[40];
  ldm_time_iso8601(when, sizeof when);
  fprintf(f, ",\"lr\":%s,\"grad_norm\":%s,\"it_s\":%s,\"skipped\":%s,\"time\":\"%s\",\"elapsed_s\":%.3f",
          JNUM(3, "%.4g", lr), JNUM(4, "%.5g", gnorm), JNUM(5, "%.3f", it_s), skipped ? "true" : "false", when,
          tr_now() - r->t_run0);
  /* data parallel: the gradient all-reduce of the step (download, sum over the ranks, upload) */
  if (ar_ms >= 0) fprintf(f, ",\"allreduce_ms\":%.3f", ar_ms);
  fputs("}\n", f);
#undef JNUM
  /* flushed row by row, so that a full disk is noticed (and named) at the row that did not fit */
  if (fflush(f) != 0 || ferror(f))
    return LDM_FAIL(LDM_ERR_IO, "%s/metrics.jsonl: write failed: %s", out, strerror(errno ? errno : EIO));
  return LDM_OK;
}

ldm_status tr_run_stage(tr_stage *r, tr_ctx *ctx, tr_batcher *ss, int B, FILE *metrics, tr_periodic_fn sample_fn,
                        tr_periodic_fn ckpt_fn) {
  const ldm_train_opts *o = ctx->o;
  tr_stage_state *st = ctx->st;
  const ldm_env *env = ctx->env;
  tr_progress p = {o, ctx->plan, r->ema ? PH_UNET : PH_VAE, r->name, "it/s", r->total, st->step, tr_now()};
  /* data parallel (comm.c): each rank runs its rows of the global batch B up to the optimizer part, the
   * gradients are summed over the ranks, then every rank runs the optimizer part on the same sums; rank 0
   * alone writes the run directory and tells the others how that went (tr_agree) */
  int P = tr_size(o);
  bool root = tr_rank(o) == 0;
  int nn = ldm_exec_graph(r->e)->nn;
  uint32_t *batch = ldm_malloc((size_t)B * 4);
  if (!batch) return LDM_ERR_NOMEM;
  uint32_t *sw = ldm_exec_host_ptr(r->e, r->step_t);
  const float *gs = ldm_exec_host_ptr(r->e, r->gs_t);
  int nan_run = 0;
  bool first = true;
  ldm_status s = LDM_OK;
  double t_last = tr_now();
  int64_t s_last = st->step;
  while (st->step < r->total && s == LDM_OK) {
    if (P == 1 && tr_cancelled(o)) { /* data parallel: decided together after the all-reduce */
      s = LDM_ERR_INTERRUPTED;
      break;
    }
    int64_t k = st->step + 1; /* the step being made (1-based) */
    float lr = tr_lr_at(o, r->base_lr, (int)k, r->total);
    float decay = r->ema ? o->ema_decay : 0.0f;
    if (r->ema && o->ema_warmup) {
      float w = (1.0f + (float)k) / (10.0f + (float)k);
      decay = decay < w ? decay : w;
    }
    /* --grad-accum A: A replays (micro-batches) per optimizer step; only the last one updates */
    int A = o->grad_accum > 0 ? o->grad_accum : 1;
    float loss = 0, aux[2] = {0, 0};
    for (int j = 0; j < A && s == LDM_OK; j++) {
      int64_t micro = (k - 1) * A + j; /* data and random numbers are a function of the micro-step */
      tr_batch_indices(ss, micro, B, batch);
      for (int i = 0; i < r->nsrc; i++) tr_data_src_step(r->e, &r->src[i], r->src_data[i], r->src_elem[i], batch);
      /* the clip coefficient scales the summed gradients by 1 / (A * P): the mean over the global batch */
      ldm_step_fields f = {st->opt_t + 1, (uint64_t)micro + 1,
                           ldm_env_fault_at(env, r->name, LDM_FAULT_EXPLODE, k) ? 1e30f : lr, decay,
                           strcmp(r->name, "vae") ? o->clip : 0.0f, A * P, j + 1 < A};
      ldm_step_fill(sw, &ldm_adamw_recipe, &f);
      if (j == 0 && ldm_env_fault_at(env, r->name, LDM_FAULT_NAN, k)) s = poison_grads(r->e);
      if (s != LDM_OK) break;
      /* --check: the first step of the stage runs node by node against the CPU reference */
      bool check0 = ldm_exec_check(r->e);
      if (o->check && first) ldm_exec_set_check(r->e, true);
      first = false;
      s = P == 1 ? ldm_exec_run(r->e) : ldm_exec_run_range(r->e, 0, ldm_graph_fence_node(&r->g, r->opt_fence)); /* P > 1: up to the optimizer */
      ldm_exec_set_check(r->e, check0);
      float l = 0, a2[2] = {0, 0};
      if (s == LDM_OK) s = ldm_exec_read(r->e, r->loss_t, &l, 4);
      for (int a = 0; a < 2 && s == LDM_OK; a++)
        if (r->aux_t[a] >= 0) s = ldm_exec_read(r->e, r->aux_t[a], &a2[a], 4);
      loss += l / (float)A;
      aux[0] += a2[0] / (float)A;
      aux[1] += a2[1] / (float)A;
    }
    bool stop_all = false; /* data parallel: some rank was asked to stop */
    double ar_ms = -1;
    if (s == LDM_OK && P > 1) {
      /* the gradients and the step's loss summed over the ranks, then the optimizer part on every rank */
      float x[4] = {loss, aux[0], aux[1], tr_cancelled(o) ? 1.0f : 0.0f};
      double t0 = r->ar_s;
      s = tr_allreduce_grads(o, r, x, 4);
      ar_ms = (r->ar_s - t0) * 1e3;
      loss = x[0] / (float)P;
      aux[0] = x[1] / (float)P;
      aux[1] = x[2] / (float)P;
      stop_all = x[3] > 0;
      if (s == LDM_OK) s = ldm_exec_run_range(r->e, ldm_graph_fence_node(&r->g, r->opt_fence), nn);
    }
    if (s != LDM_OK) break;
    bool skipped = gs[1] != 0.0f || !isfinite(loss);
    st->step = k;
    if (skipped) {
      nan_run++;
      r->skipped++;
      tr_log(o, LDM_LOG_WARN, "%s step %lld: non-finite loss or gradient, update skipped (%d in a row)", r->name,
           (long long)k, nan_run);
    } else {
      nan_run = 0;
      st->opt_t++;
    }
    char extra[96];
    if (r->aux_name[0]) snprintf(extra, sizeof extra, "%s %.4g gnorm %.3g", r->aux_name[0], aux[0], gs[2]);
    else snprintf(extra, sizeof extra, "gnorm %.3g", gs[2]);
    bool last = st->step == r->total;
    tr_progress_report(&p, k, loss, extra, last, k % o->log_every == 0 || last);
    if (k % o->log_every == 0 || last || skipped) {
      double t = tr_now();
      double its = (double)(k - s_last) / (t - t_last + 1e-9);
      t_last = t;
      s_last = k;
      s = write_metrics(metrics, o->out, r, k, loss, aux, lr, gs[2], its, skipped, ar_ms);
      if (o->metrics) { /* the host's copy of the row */
        ldm_metrics m = {r->name, k, loss, 0, {NULL, NULL}, {0, 0}, lr, gs[2], its, skipped};
        for (int a = 0; a < 2; a++)
          if (r->aux_name[a]) m.aux_name[m.naux] = r->aux_name[a], m.aux[m.naux++] = aux[a];
        o->metrics(o->user, &m);
      }
    }
    char note[96];
    if (s == LDM_OK && nan_run >= o->max_nan_steps) {
      tr_last_ckpt_note(st, note, sizeof note);
      s = LDM_FAIL(LDM_ERR_NUMERIC, "%d consecutive non-finite steps in stage %s (%lld skipped in all); stopping: %s; "
                   "try a lower --lr", nan_run, r->name, (long long)r->skipped, note);
      break;
    }
    /* a skipped step changed nothing: neither a checkpoint nor a sample grid of it (the final ones included) */
    if (s == LDM_OK && root && !skipped && ckpt_fn && (last || (o->ckpt_every > 0 && k % o->ckpt_every == 0)))
      s = ckpt_fn(ctx, r, k, last);
    if (s == LDM_OK && root && !skipped && sample_fn && (last || (o->sample_every > 0 && k % o->sample_every == 0)))
      s = sample_fn(ctx, r, k, last);
    /* report.html at every log interval and at the end of the stage (after its sample grid); warns, never fails */
    if (s == LDM_OK && root && (k % o->log_every == 0 || last)) ldm_report_update(o->out, last, o->log, o->user);
    /* data parallel: how rank 0's metrics row, checkpoint and grid went, to every rank */
    if (P > 1) s = tr_agree(o, s, ctx->res);
    if (s == LDM_OK && stop_all) s = LDM_ERR_INTERRUPTED;
  }
  if (s == LDM_OK && nan_run > 0) { /* the stage ran out of steps while non-finite: not a finished stage */
    char note[96];
    tr_last_ckpt_note(st, note, sizeof note);
    s = LDM_FAIL(LDM_ERR_NUMERIC,
                 "stage %s ended on %d non-finite steps in a row (%lld skipped in all): its final checkpoint was not "
                 "written and %s; try a lower --lr",
                 r->name, nan_run, (long long)r->skipped, note);
  }
  if (s == LDM_ERR_INTERRUPTED) {
    int why = o->cancel ? (int)*o->cancel : 0;
    tr_log(o, LDM_LOG_WARN, "interrupted by %s: saving a checkpoint at step %lld",
         why == SIGTERM ? "SIGTERM" : why == SIGINT ? "SIGINT" : P > 1 ? "a stop request of another rank" : "a cancel request",
         (long long)st->step);
    ldm_status cs = root && ckpt_fn && st->ckpt_step != st->step ? ckpt_fn(ctx, r, st->step, false) : LDM_OK;
    cs = tr_agree(o, cs, ctx->res);
    if (P > 1 && ctx->res) ctx->res->collective = true; /* every rank stops here */
    if (cs != LDM_OK) s = cs;
    else LDM_FAIL(LDM_ERR_INTERRUPTED, "interrupted; resume with --resume");
  }
  /* the non-finite decisions are made on the summed gradients and the global loss: every rank stops */
  if (P > 1 && s == LDM_ERR_NUMERIC && ctx->res) ctx->res->collective = true;
  if (P > 1 && r->ar_steps > 0)
    tr_log(o, LDM_LOG_INFO, "%s: gradient all-reduce over %d ranks: %.2f MB per step, %.2f ms per step (download, "
           "MPI sum, upload; mean of %lld steps)", r->name, P,
           (double)ldm_exec_graph(r->e)->arena_size[LDM_ARENA_GRAD] / 1e6, r->ar_s * 1e3 / (double)r->ar_steps,
           (long long)r->ar_steps);
  free(batch);
  return s;
}

