/* `ldm-vk bench`: the train steps of both stages and a sampling step's UNet forward, timed on synthetic
 * data, built by the trainer's own stage set-up (stage.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "ldm/ops.h"
#include "ldm/report.h"
#include "ldm/vk.h"
#include "ops/conv.h"
#include "report/html.h"
#include "sample/sampler.h"
#include "vk/plan.h"
#include "train/trainer.h"

/* ---------------------------------------------------------------- benchmark */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* the nodes of one timed run as JSON objects: every node (bench --json "node_times": op, shader, time; for
 * scripts/model_vs_measured.py) and the tiled GEMM / convolution ones ("mm_nodes": the shape, the tile
 * variant the plan chose under lim, the node's time; for scripts/tile_winners.py) */
typedef struct {
  const ldm_dev_limits *lim; /* NULL: the CPU backend (no variant) */
  const char *workload;
  ldm_sbuf *out;
  ldm_sbuf *all; /* every node: workload, node, op, shader, time ("node_times") */
} mm_log;

static void log_mm_nodes(const mm_log *m, const ldm_graph *g, const double *ms) {
  for (int i = 0; m && m->out && m->all && ms && i < g->nn; i++) {
    const ldm_node *n = &g->n[i];
    ldm_launch l;
    if (m->lim) ldm_node_launch(g, n, m->lim, &l);
    ldm_sb_put(m->all, m->all->n ? ",\n{\"workload\":" : "\n{\"workload\":");
    ldm_sb_json_str(m->all, m->workload);
    ldm_sb_printf(m->all, ",\"node\":%d,\"op\":", i);
    ldm_sb_json_str(m->all, ldm_op(n->op)->name);
    ldm_sb_put(m->all, ",\"shader\":");
    ldm_sb_json_str(m->all, m->lim ? l.shader : "cpu");
    ldm_sb_printf(m->all, ",\"ms\":%.6g}", ms[i]);
    char shape[160];
    if (n->op == LDM_OP_gemm) {
      const ldm_pc_gemm *p = (const ldm_pc_gemm *)n->pc;
      snprintf(shape, sizeof shape, "M%u N%u K%u batch %u%s%s", p->M, p->N, p->K, p->batch, p->ta ? " tA" : "",
               p->tb ? " tB" : "");
    } else if (n->op == LDM_OP_conv2d || n->op == LDM_OP_conv2d_backward_data || n->op == LDM_OP_conv2d_backward_weight) {
      const ldm_pc_conv2d *p = (const ldm_pc_conv2d *)n->pc;
      snprintf(shape, sizeof shape, "N%u %u->%u %ux%u k%u s%u splits %u", p->N, p->Cin, p->Cout, p->H, p->W, p->k,
               p->stride, p->splits);
    } else {
      continue;
    }
    ldm_sb_put(m->out, m->out->n ? ",\n{\"workload\":" : "\n{\"workload\":");
    ldm_sb_json_str(m->out, m->workload);
    ldm_sb_printf(m->out, ",\"node\":%d,\"op\":", i);
    ldm_sb_json_str(m->out, ldm_op(n->op)->name);
    ldm_sb_put(m->out, ",\"shape\":");
    ldm_sb_json_str(m->out, shape);
    ldm_sb_put(m->out, ",\"shader\":");
    ldm_sb_json_str(m->out, m->lim ? l.shader : "cpu");
    ldm_sb_put(m->out, ",\"tile\":");
    ldm_sb_json_str(m->out, m->lim && l.tile ? ldm_tile_name(l.tile) : "none");
    ldm_sb_printf(m->out, ",\"ms\":%.6g}", ms[i]);
  }
}

/* median wall time of `iters` runs after 3 warm-up runs, and per-op device time of one timed run */
static ldm_status time_exec(ldm_exec *e, int iters, double *median, double *best, double *op_ms, const mm_log *mm) {
  double *t = ldm_malloc((size_t)iters * sizeof *t);
  if (!t) return LDM_ERR_NOMEM;
  ldm_status s = LDM_OK;
  for (int i = 0; i < 3 && s == LDM_OK; i++) s = ldm_exec_run(e);
  for (int i = 0; i < iters && s == LDM_OK; i++) {
    double t0 = tr_now();
    s = ldm_exec_run(e);
    t[i] = (tr_now() - t0) * 1e3;
  }
  if (s == LDM_OK) {
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    *median = t[iters / 2];
    *best = t[0];
    ldm_exec_enable_timing(e, true);
    s = ldm_exec_run(e);
    const double *ms = ldm_exec_node_times(e);
    const ldm_graph *g = ldm_exec_graph(e);
    for (int i = 0; i < LDM_OP_COUNT; i++) op_ms[i] = 0;
    for (int i = 0; ms && i < g->nn; i++) op_ms[g->n[i].op] += ms[i];
    log_mm_nodes(mm, g, ms);
    ldm_exec_enable_timing(e, false);
  }
  free(t);
  return s;
}

static void print_ops(FILE *f, const double *op_ms) {
  int order[LDM_OP_COUNT];
  double total = 0;
  for (int i = 0; i < LDM_OP_COUNT; i++) order[i] = i, total += op_ms[i];
  for (int i = 1; i < LDM_OP_COUNT; i++)
    for (int j = i; j > 0 && op_ms[order[j]] > op_ms[order[j - 1]]; j--) {
      int tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  for (int k = 0; k < 6 && total > 0; k++)
    if (op_ms[order[k]] > 0)
      fprintf(f, "    %-24s %9.3f ms  %5.1f%%\n", ldm_op(order[k])->name, op_ms[order[k]], 100 * op_ms[order[k]] / total);
}

/* one stage's train step on the first B rows, timed (lr 0: the weights stay put) */
static ldm_status bench_stage(tr_ctx *sc, bool unet, int B, int iters, double *median, double *best, double *op_ms,
                              int *nodes, int64_t *params, const mm_log *mm) {
  tr_stage r;
  memset(&r, 0, sizeof r);
  ldm_status s = unet ? tr_build_unet_stage(&r, sc, B) : tr_build_vae_stage(&r, sc, B);
  if (s == LDM_OK) {
    *nodes = r.g.nn;
    *params = ldm_param_count(&r.g);
    /* the first B rows of the synthetic data, as the trainer gives a batch: the indices into a device table,
     * or the rows themselves into a host one (a CPU backend's) */
    int nb = B;
    for (int k = 0; k < r.nsrc; k++)
      if (r.src[k].first + r.src[k].n > nb) nb = r.src[k].first + r.src[k].n;
    uint32_t *batch = ldm_malloc((size_t)nb * 4);
    if (!batch) s = LDM_ERR_NOMEM;
    for (int b = 0; s == LDM_OK && b < nb; b++) batch[b] = (uint32_t)b;
    for (int k = 0; s == LDM_OK && k < r.nsrc; k++)
      tr_data_src_step(r.e, &r.src[k], r.src_data[k], r.src_elem[k], batch);
    free(batch);
    ldm_step_fields f = {1, 1, 0.0f, unet ? 0.999f : 0.0f, unet ? sc->o->clip : 0.0f, 1, false};
    if (s == LDM_OK) ldm_step_fill(ldm_exec_host_ptr(r.e, r.step_t), &ldm_adamw_recipe, &f);
    if (s == LDM_OK) s = time_exec(r.e, iters, median, best, op_ms, mm);
    /* a step on non-finite numbers times other code (the optimizer skips it): refuse to report it */
    float loss = 0;
    if (s == LDM_OK) s = ldm_exec_read(r.e, r.loss_t, &loss, 4);
    const float *gs = s == LDM_OK && r.gs_t >= 0 ? ldm_exec_host_ptr(r.e, r.gs_t) : NULL;
    if (s == LDM_OK && (!isfinite(loss) || (gs && gs[1] != 0.0f)))
      s = LDM_FAIL(LDM_ERR_INTERNAL,
                   "bench: the %s train step ran on non-finite numbers (loss %g): its time would not be a train step's",
                   unet ? "UNet" : "VAE", (double)loss);
  }
  tr_stage_free(&r);
  return s;
}

ldm_status tr_bench_forward_graph(ldm_graph *g, const ldm_model_cfg *c, int B) {
  LDM_TRY(ldm_graph_init(g));
  int lr = ldm_latent_res(c);
  int x = ldm_act(g, "x", 4, LDM_SHAPE(B, c->z, lr, lr));
  int t = ldm_tensor_new(g, "t", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
  int y = ldm_tensor_new(g, "y", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
  ldm_keep(g, x), ldm_keep(g, t), ldm_keep(g, y);
  LDM_TRY(ldm_graph_check(g, ldm_unet(g, c, x, t, y)));
  return ldm_graph_plan(g);
}

ldm_status ldm_bench(const ldm_train_opts *in, int iters, FILE *f, const char *json_path) {
  ldm_train_opts o = *in;
  o.quiet = true;
  ldm_model_cfg c;
  LDM_TRY(ldm_model_config(o.config, &c));
  ldm_backend be;
  LDM_TRY(ldm_backend_open(o.device, &be));
  const char *why = be.why;
  tr_recipe rc;
  ldm_status rs = tr_recipe_resolve(&o, &be, &rc);
  if (rs != LDM_OK) {
    ldm_backend_close(&be);
    return rs;
  }
  o = rc.o;
  c = rc.c;
  bool vk = be.kind == LDM_BACKEND_VK;
  int B = o.batch;
  /* synthetic data: the step time does not depend on the pixel values */
  ldm_dataset ds;
  memset(&ds, 0, sizeof ds);
  ds.n = 4 * B;
  ds.channels = c.cin;
  ds.height = ds.width = c.res;
  ds.num_classes = c.ncls;
  size_t per = (size_t)c.cin * c.res * c.res;
  ds.pixels = ldm_malloc((size_t)ds.n * per);
  ds.labels = ldm_malloc((size_t)ds.n * sizeof *ds.labels);
  int lr = ldm_latent_res(&c);
  size_t lat = (size_t)c.z * lr * lr;
  float *cache = ldm_malloc((size_t)ds.n * 2 * lat * 4);
  uint32_t *labels = ldm_malloc((size_t)ds.n * 4);
  ldm_status s = ds.pixels && ds.labels && cache && labels ? LDM_OK : LDM_ERR_NOMEM;
  for (size_t i = 0; s == LDM_OK && i < (size_t)ds.n * per; i++) ds.pixels[i] = (uint8_t)(i * 2654435761u >> 24);
  for (int i = 0; s == LDM_OK && i < ds.n; i++) ds.labels[i] = i % 10, labels[i] = (uint32_t)(i % 10);
  for (size_t i = 0; s == LDM_OK && i < (size_t)ds.n * 2 * lat; i++) /* (mu, logvar) in [-0.8, 0.8] */
    cache[i] = (float)((int)(i % 17) - 8) * 0.1f;
  double vm = 0, vb = 0, um = 0, ub = 0, fm = 0, fb = 0;
  double *ops = ldm_calloc(3 * LDM_OP_COUNT, sizeof *ops);
  if (s == LDM_OK && !ops) s = LDM_ERR_NOMEM;
  tr_stage_state st = {0};
  tr_ctx sc = {&o, &c, &be, NULL, &st, 1.0, &ds, NULL, cache, labels, NULL, NULL};
  int nodes[3] = {0, 0, 0};
  int64_t params[2] = {0, 0};
  ldm_sbuf mmj = {0}, allj = {0};
  const ldm_dev_limits *lim = vk ? ldm_vk_limits(be.vk) : NULL;
  mm_log mv = {lim, "VAE train step", &mmj, &allj}, mu = {lim, "UNet train step", &mmj, &allj},
         mf = {lim, "UNet forward", &mmj, &allj};
  if (s == LDM_OK) s = bench_stage(&sc, false, B, iters, &vm, &vb, ops, &nodes[0], &params[0], &mv);
  if (s == LDM_OK) s = bench_stage(&sc, true, B, iters, &um, &ub, ops + LDM_OP_COUNT, &nodes[1], &params[1], &mu);
  if (s == LDM_OK) { /* a sampling step's UNet forward (batch B, no guidance doubling) */
    ldm_graph g;
    memset(&g, 0, sizeof g);
    s = tr_bench_forward_graph(&g, &c, B);
    ldm_exec *e = NULL;
    if (s == LDM_OK) s = ldm_exec_new(&be, &g, &e);
    if (s == LDM_OK) {
      nodes[2] = g.nn;
      s = time_exec(e, iters, &fm, &fb, ops + 2 * LDM_OP_COUNT, &mf);
    }
    ldm_exec_free(e);
    if (g.t) ldm_graph_free(&g);
  }
  if (s == LDM_OK) {
    fprintf(f, "ldm-vk bench: config %s, preset %s, batch %d, %d timed runs each\nbackend: %s\n\n", c.name, o.preset,
            B, iters, why);
    fprintf(f, "%-22s %8s %10s %10s %12s\n", "workload", "nodes", "median ms", "best ms", "images/s");
    const char *names[3] = {"VAE train step", "UNet train step", "UNet forward"};
    double med[3] = {vm, um, fm}, bst[3] = {vb, ub, fb};
    for (int k = 0; k < 3; k++) {
      fprintf(f, "%-22s %8d %10.2f %10.2f %12.1f\n", names[k], nodes[k], med[k], bst[k], B / (med[k] * 1e-3));
      print_ops(f, ops + k * LDM_OP_COUNT);
    }
    fprintf(f, "(parameters: VAE %lld, UNet %lld; per-op times from %s)\n", (long long)params[0], (long long)params[1],
            vk ? "GPU timestamps of a serialised run" : "wall clock per node");
    s = ldm_sample_bench(&be, &c, B, iters, f); /* the sampler graph: src/sample/sample.c */
    if (json_path && json_path[0]) {
      const ldm_vk_device_info *vi = vk ? ldm_vk_info(be.vk) : NULL; /* version, date, device, per-op times */
      ldm_bench_record br = {c.name, o.preset, vi ? vi->name : NULL, vi ? vi->type : NULL, vi ? vi->driver : NULL,
                             vk ? "GPU timestamps of a serialised run" : "wall clock per node", B, iters, 3,
                             {names[0], names[1], names[2]}, {nodes[0], nodes[1], nodes[2]}, {vm, um, fm}, {vb, ub, fb},
                             {ops, ops + LDM_OP_COUNT, ops + 2 * LDM_OP_COUNT}, params[0], params[1],
                             mmj.n && !mmj.oom ? mmj.b : "", allj.n && !allj.oom ? allj.b : ""};
      s = ldm_bench_write_json(json_path, &br);
    }
  }
  ldm_sb_free(&mmj);
  ldm_sb_free(&allj);
  free(ops);
  free(cache);
  free(labels);
  ldm_dataset_free(&ds);
  ldm_backend_close(&be);
  return s;
}

