/* Norm op family: GroupNorm, softmax, channel concat/split, embedding, timestep embedding, attention
 * core. This file: the graph builders, the backward emitters ldm_bwd_<op> (ops/autodiff.h) and the op
 * table entries ldm_op_desc_<op>; the CPU twins ldm_cpu_<op> are in src/cpu/kernels_norm.c, the Vulkan
 * launch plans ldm_plan_<op> in src/vk/plan.c. */
#include "ops/norm.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/fuse.h"
#include "core/ops.h"
#include "cpu/kernels.h"
#include "ldm/ops.h"
#include "ops/autodiff.h"
#include "ops/builder.h"
#include "vk/plan.h"

#define new_act ldm_new_act

static bool is_f32(const ldm_graph *g, int t) { return g->t[t].dtype == LDM_F32; }

/* ================================================================= group_norm, group_norm_silu */
/* the node of group_norm (op LDM_OP_group_norm) or group_norm_silu: outputs y, mean, rstd */
static int gn_node(ldm_graph *g, int op, const char *name, int x, int gamma, int beta, int groups, float eps) {
  LDM_INPUTS(g, x, gamma, beta);
  const ldm_tensor *tx = &g->t[x];
  if (tx->ndim < 2 || !is_f32(g, x))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "%s: input %s must be a f32 tensor [N, C, ...]", name, tx->name);
  int64_t N = tx->shape[0], C = tx->shape[1], S = tx->numel / (N * C);
  if (groups <= 0 || C % groups != 0)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "%s: %lld channels of %s do not split into %d groups", name,
                      (long long)C, tx->name, groups);
  if (g->t[gamma].numel != C || g->t[beta].numel != C || !is_f32(g, gamma) || !is_f32(g, beta))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "%s: gamma and beta must be f32 vectors of %lld channels (input %s)",
                      name, (long long)C, tx->name);
  if (!(eps >= 0.0f) || tx->numel > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "%s: eps %g must be >= 0 and %s below 2^32 elements", name, (double)eps,
                      tx->name);
  int64_t shape[LDM_MAX_DIMS];
  memcpy(shape, tx->shape, sizeof shape);
  int ndim = tx->ndim;
  int y = new_act(g, name, ndim, shape);
  int mean = new_act(g, "gn_mean", 1, LDM_SHAPE(N * groups));
  int rstd = new_act(g, "gn_rstd", 1, LDM_SHAPE(N * groups));
  ldm_pc_group_norm pc = {(uint32_t)N, (uint32_t)C, (uint32_t)S, (uint32_t)groups, eps};
  return ldm_node_emit(g, op, (int[]){x, gamma, beta}, 3, (int[]){y, mean, rstd}, 3, &pc, sizeof pc, name);
}
int ldm_group_norm(ldm_graph *g, int x, int gamma, int beta, int groups, float eps) {
  return gn_node(g, LDM_OP_group_norm, "group_norm", x, gamma, beta, groups, eps);
}
int ldm_group_norm_silu(ldm_graph *g, int x, int gamma, int beta, int groups, float eps) {
  return gn_node(g, LDM_OP_group_norm_silu, "group_norm_silu", x, gamma, beta, groups, eps);
}

/* group_norm_backward, or group_norm_silu_backward when beta != LDM_NONE (its sixth input) */
static int gnb_node(ldm_graph *g, int x, int gamma, int beta, int mean, int rstd, int dy, int dx, int pg, int pb,
                    int groups, int accumulate, int want_dx) {
  bool silu = beta != LDM_NONE;
  const char *name = silu ? "group_norm_silu_backward" : "group_norm_backward";
  LDM_INPUTS(g, x, gamma, mean, rstd, dy, want_dx ? dx : pg, pg, pb);
  if (silu) LDM_INPUTS(g, beta);
  const ldm_tensor *tx = &g->t[x];
  int64_t N = tx->shape[0], C = tx->shape[1], S = tx->numel / (N * C);
  if (g->t[pg].numel != N * C || g->t[pb].numel != N * C || g->t[dy].numel != tx->numel ||
      (want_dx && g->t[dx].numel != tx->numel) || g->t[mean].numel != N * groups || g->t[rstd].numel != N * groups ||
      (silu && g->t[beta].numel != C))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "%s: tensor sizes do not match input %s", name, tx->name);
  ldm_pc_group_norm_backward pc = {(uint32_t)N, (uint32_t)C, (uint32_t)S, (uint32_t)groups, (uint32_t)!!accumulate,
                                   (uint32_t)!!want_dx};
  return ldm_node_add(g, silu ? LDM_OP_group_norm_silu_backward : LDM_OP_group_norm_backward,
                      (int[]){x, gamma, mean, rstd, dy, beta}, silu ? 6 : 5, (int[]){want_dx ? dx : pg, pg, pb}, 3,
                      &pc, sizeof pc, name);
}
int ldm_group_norm_backward_node(ldm_graph *g, int x, int gamma, int mean, int rstd, int dy, int dx, int pg, int pb,
                                 int groups, int accumulate, int want_dx) {
  return gnb_node(g, x, gamma, LDM_NONE, mean, rstd, dy, dx, pg, pb, groups, accumulate, want_dx);
}
int ldm_group_norm_silu_backward_node(ldm_graph *g, int x, int gamma, int beta, int mean, int rstd, int dy, int dx,
                                      int pg, int pb, int groups, int accumulate, int want_dx) {
  return gnb_node(g, x, gamma, beta, mean, rstd, dy, dx, pg, pb, groups, accumulate, want_dx);
}

/* both forwards save x (an input), mean and rstd; group_norm_silu's backward recomputes h = xhat gamma + beta
 * from them (beta: its third input) rather than keeping h, an activation of x's size */
static ldm_status gn_bwd(ldm_graph *g, int ni, bool silu) {
  ldm_pc_group_norm p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int x = g->n[ni].in[0], gamma = g->n[ni].in[1], mean = g->n[ni].out[1], rstd = g->n[ni].out[2];
  int dy = ldm_grad_out(g, ni, 0);
  if (dy < 0) return LDM_OK; /* only mean/rstd were consumed: they carry no gradient */
  int64_t NC = (int64_t)p.N * p.C;
  int pg = new_act(g, "gn_dgamma_part", 1, &NC), pb = new_act(g, "gn_dbeta_part", 1, &NC);
  int want_dx = g->t[x].requires_grad, acc, dx = ldm_grad_in(g, ni, 0, &acc);
  gnb_node(g, x, gamma, silu ? g->n[ni].in[2] : LDM_NONE, mean, rstd, dy, dx, pg, pb, (int)p.G, acc, want_dx);
  int dg = ldm_grad_in(g, ni, 1, &acc);
  if (dg >= 0) ldm_reduce_sum(g, pg, dg, p.N, p.C, 1, 1.0f, acc);
  int db = ldm_grad_in(g, ni, 2, &acc);
  if (db >= 0) ldm_reduce_sum(g, pb, db, p.N, p.C, 1, 1.0f, acc);
  return LDM_OK;
}
ldm_status ldm_bwd_group_norm(ldm_graph *g, int ni) { return gn_bwd(g, ni, false); }
ldm_status ldm_bwd_group_norm_silu(ldm_graph *g, int ni) { return gn_bwd(g, ni, true); }
const ldm_op_desc ldm_op_desc_group_norm = {"group_norm", ldm_cpu_group_norm, ldm_plan_group_norm, ldm_bwd_group_norm};
const ldm_op_desc ldm_op_desc_group_norm_silu = {"group_norm_silu", ldm_cpu_group_norm_silu, ldm_plan_group_norm_silu,
                                                 ldm_bwd_group_norm_silu};

/* ================================================================= group_norm[_silu]_backward */
const ldm_op_desc ldm_op_desc_group_norm_backward = {"group_norm_backward", ldm_cpu_group_norm_backward,
                                                     ldm_plan_group_norm_backward, NULL};
const ldm_op_desc ldm_op_desc_group_norm_silu_backward = {"group_norm_silu_backward",
                                                          ldm_cpu_group_norm_silu_backward,
                                                          ldm_plan_group_norm_silu_backward, NULL};

/* ================================================================= softmax */
ldm_status ldm_bwd_softmax(ldm_graph *g, int ni) {
  ldm_pc_softmax p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  ldm_pc_softmax_backward pc = {p.rows, p.cols, 0};
  return LDM_EMIT_UNARY_BACKWARD(g, ni, softmax_backward, g->n[ni].out[0], pc); /* reads y */
}
int ldm_softmax(ldm_graph *g, int x, int64_t rows, int64_t cols) {
  LDM_INPUTS(g, x);
  if (rows <= 0 || cols <= 0 || rows * cols != g->t[x].numel || !is_f32(g, x) || g->t[x].numel > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "softmax: %s (%lld elements) is not a f32 [%lld, %lld] matrix",
                      g->t[x].name, (long long)g->t[x].numel, (long long)rows, (long long)cols);
  int64_t shape[LDM_MAX_DIMS];
  memcpy(shape, g->t[x].shape, sizeof shape);
  int y = new_act(g, "softmax", g->t[x].ndim, shape);
  ldm_pc_softmax pc = {(uint32_t)rows, (uint32_t)cols};
  return ldm_node_emit(g, LDM_OP_softmax, &x, 1, &y, 1, &pc, sizeof pc, "softmax");
}
const ldm_op_desc ldm_op_desc_softmax = {"softmax", ldm_cpu_softmax, ldm_plan_softmax, ldm_bwd_softmax};
const ldm_op_desc ldm_op_desc_softmax_backward = {"softmax_backward", ldm_cpu_softmax_backward,
                                                  ldm_plan_softmax_backward, NULL};

/* ================================================================= channel_copy (concat / split) */
int ldm_channel_copy(ldm_graph *g, int x, int out, int64_t O, int64_t I, int64_t Cx, int64_t Co, int64_t c0,
                     int64_t d0, int64_t Cn, int accumulate, int zero_rest) {
  LDM_INPUTS(g, x, out);
  if (O <= 0 || I <= 0 || Cn <= 0 || c0 < 0 || d0 < 0 || c0 + Cn > Cx || d0 + Cn > Co || g->t[x].numel != O * Cx * I ||
      g->t[out].numel != O * Co * I || !is_f32(g, x) || !is_f32(g, out) || (accumulate && zero_rest) ||
      g->t[x].numel > UINT32_MAX || g->t[out].numel > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "channel copy %s -> %s: channels [%lld, +%lld) of [%lld, %lld, %lld] do not fit [%lld, %lld, "
                      "%lld] at %lld",
                      g->t[x].name, g->t[out].name, (long long)c0, (long long)Cn, (long long)O, (long long)Cx,
                      (long long)I, (long long)O, (long long)Co, (long long)I, (long long)d0);
  ldm_pc_channel_copy pc = {(uint32_t)O, (uint32_t)I, (uint32_t)Cx, (uint32_t)Co, (uint32_t)c0, (uint32_t)d0,
                            (uint32_t)Cn, (uint32_t)!!accumulate, (uint32_t)(zero_rest && Cn != Co)};
  return ldm_node_emit(g, LDM_OP_channel_copy, &x, 1, &out, 1, &pc, sizeof pc, "channel_copy");
}
ldm_status ldm_bwd_channel_copy(ldm_graph *g, int ni) {
  ldm_pc_channel_copy p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  int acc, dx = ldm_grad_in(g, ni, 0, &acc);
  /* the first contribution writes all of dx: zeros outside the slice (a split whose other parts get
   * their gradients later, with accumulate, or never) */
  ldm_channel_copy(g, ldm_grad_out(g, ni, 0), dx, p.O, p.I, p.Co, p.Cx, p.d0, p.c0, p.Cn, acc, !acc);
  return LDM_OK;
}
const ldm_op_desc ldm_op_desc_channel_copy = {"channel_copy", ldm_cpu_channel_copy, ldm_plan_channel_copy,
                                              ldm_bwd_channel_copy};

/* ================================================================= channel_copy_multi */
/* job k: the seven words Cx, Co, c0, d0, Cn, accumulate, zero_rest of its channel_copy block (the block
 * less O and I) at word 3 + 7k, after njobs, O, I */
_Static_assert(sizeof(ldm_pc_channel_copy) == 36 && sizeof(ldm_pc_channel_copy_multi) == 12 + 28 * LDM_COPY_MULTI_MAX,
               "channel_copy_multi: njobs, O, I, then channel_copy's last seven words per job");
_Static_assert(offsetof(ldm_pc_channel_copy, Cx) == 8, "channel_copy: O, I, then the words of a job");
uint64_t ldm_channel_copy_elems(const ldm_pc_channel_copy *p) {
  return (uint64_t)p->O * (p->zero_rest ? p->Co : p->Cn) * p->I;
}
void ldm_copy_multi_job(const ldm_pc_channel_copy_multi *m, int k, ldm_pc_channel_copy *job) {
  job->O = m->O;
  job->I = m->I;
  memcpy(&job->Cx, (const uint8_t *)m + 12 + 28 * (size_t)k, 28);
}
bool ldm_copy_multi_pc(const ldm_pc_channel_copy *jobs, int njobs, ldm_pc_channel_copy_multi *m) {
  if (njobs < 2 || njobs > LDM_COPY_MULTI_MAX) return false;
  uint64_t total = 0;
  for (int k = 0; k < njobs; k++) {
    if (jobs[k].O != jobs[0].O || jobs[k].I != jobs[0].I) return false;
    total += ldm_channel_copy_elems(&jobs[k]);
  }
  if (total > UINT32_MAX) return false; /* the shader's invocation index is a uint */
  memset(m, 0, sizeof *m);
  m->njobs = (uint32_t)njobs;
  m->O = jobs[0].O;
  m->I = jobs[0].I;
  for (int k = 0; k < njobs; k++) memcpy((uint8_t *)m + 12 + 28 * (size_t)k, &jobs[k].Cx, 28);
  return true;
}
int ldm_channel_copy_multi(ldm_graph *g, int njobs, const int *x, const int *out, const ldm_pc_channel_copy *jobs) {
  if (njobs < 2 || njobs > LDM_COPY_MULTI_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "channel_copy_multi: %d jobs (2 to %d)", njobs, LDM_COPY_MULTI_MAX);
  ldm_node one[LDM_COPY_MULTI_MAX];
  for (int k = 0; k < njobs; k++) {
    LDM_INPUTS(g, x[k], out[k]);
    const ldm_pc_channel_copy *p = &jobs[k];
    if (!is_f32(g, x[k]) || !is_f32(g, out[k]) || p->Cn == 0 || (uint64_t)p->c0 + p->Cn > p->Cx ||
        (uint64_t)p->d0 + p->Cn > p->Co || (int64_t)p->O * p->Cx * p->I != g->t[x[k]].numel ||
        (int64_t)p->O * p->Co * p->I != g->t[out[k]].numel || (p->accumulate && p->zero_rest) || p->accumulate > 1 ||
        p->zero_rest > 1)
      return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "channel_copy_multi: job %d does not match %s -> %s", k,
                        g->t[x[k]].name, g->t[out[k]].name);
    memset(&one[k], 0, sizeof one[k]); /* the job as its channel_copy node, for the merge rule */
    one[k].op = LDM_OP_channel_copy;
    one[k].nin = one[k].nout = 1;
    one[k].in[0] = x[k];
    one[k].out[0] = out[k];
    memcpy(one[k].pc, p, sizeof *p);
    one[k].pc_size = sizeof *p;
    for (int j = 0; j < k; j++)
      if (!ldm_copy_jobs_fit(g, &one[j], &one[k]))
        return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "channel_copy_multi: jobs %d and %d depend on each other", j, k);
  }
  ldm_pc_channel_copy_multi pc;
  if (!ldm_copy_multi_pc(jobs, njobs, &pc))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "channel_copy_multi: jobs of different O or I, or over 2^32 elements");
  int in[LDM_COPY_MULTI_MAX], o[LDM_COPY_MULTI_MAX];
  memcpy(in, x, (size_t)njobs * sizeof *in);
  memcpy(o, out, (size_t)njobs * sizeof *o);
  return ldm_node_emit(g, LDM_OP_channel_copy_multi, in, njobs, o, njobs, &pc, sizeof pc, "channel_copy_multi");
}
const ldm_op_desc ldm_op_desc_channel_copy_multi = {"channel_copy_multi", ldm_cpu_channel_copy_multi,
                                                    ldm_plan_channel_copy_multi, NULL};

/* dims of an NCHW-like tensor as [O = N, C, I = product of the rest] */
static bool nci(const ldm_graph *g, int t, int64_t *O, int64_t *C, int64_t *I) {
  const ldm_tensor *x = &g->t[t];
  if (x->ndim < 2 || x->dtype != LDM_F32) return false;
  *O = x->shape[0];
  *C = x->shape[1];
  *I = x->numel / (*O * *C);
  return true;
}

int ldm_concat(ldm_graph *g, int a, int b) {
  LDM_INPUTS(g, a, b);
  int64_t Oa, Ca, Ia, Ob, Cb, Ib;
  const ldm_tensor *ta = &g->t[a], *tb = &g->t[b];
  bool ok = nci(g, a, &Oa, &Ca, &Ia) && nci(g, b, &Ob, &Cb, &Ib) && ta->ndim == tb->ndim && Oa == Ob;
  for (int k = 2; ok && k < ta->ndim; k++) ok = ta->shape[k] == tb->shape[k];
  if (!ok)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "concat: %s and %s must be f32 [N, C, ...] tensors with equal N and spatial dims", ta->name,
                      tb->name);
  int64_t shape[LDM_MAX_DIMS];
  memcpy(shape, ta->shape, sizeof shape);
  shape[1] = Ca + Cb;
  int out = new_act(g, "concat", ta->ndim, shape);
  out = ldm_channel_copy(g, a, out, Oa, Ia, Ca, Ca + Cb, 0, 0, Ca, 0, 0); /* LDM_NONE if refused */
  return ldm_channel_copy(g, b, out, Oa, Ia, Cb, Ca + Cb, 0, Ca, Cb, 0, 0);
}

int ldm_split(ldm_graph *g, int x, int nparts, int *outs) {
  LDM_INPUTS(g, x);
  int64_t O, C, I;
  if (!nci(g, x, &O, &C, &I) || nparts < 1 || C % nparts != 0)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "split: %s must be a f32 [N, C, ...] tensor whose C divides into %d parts", g->t[x].name, nparts);
  int64_t shape[LDM_MAX_DIMS];
  memcpy(shape, g->t[x].shape, sizeof shape);
  int64_t Cp = C / nparts;
  shape[1] = Cp;
  for (int k = 0; k < nparts; k++)
    outs[k] = ldm_channel_copy(g, x, new_act(g, "split", g->t[x].ndim, shape), O, I, C, Cp, k * Cp, 0, Cp, 0, 0);
  return ldm_graph_status(g) == LDM_OK ? outs[0] : LDM_NONE; /* every part, or the none id */
}

/* ================================================================= embedding */
ldm_status ldm_bwd_embedding(ldm_graph *g, int ni) {
  ldm_pc_embedding p;
  memcpy(&p, g->n[ni].pc, sizeof p);
  ldm_pc_embedding_backward pc = {p.B, p.V, p.D, 0};
  return LDM_EMIT_UNARY_BACKWARD(g, ni, embedding_backward, g->n[ni].in[1], pc); /* reads the indices */
}
int ldm_embedding(ldm_graph *g, int table, int idx) {
  LDM_INPUTS(g, table, idx);
  const ldm_tensor *tt = &g->t[table], *ti = &g->t[idx];
  if (tt->ndim != 2 || tt->dtype != LDM_F32 || ti->dtype != LDM_U32 || tt->numel > UINT32_MAX ||
      ti->numel * tt->shape[1] > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "embedding: table %s must be f32 [V, D] and indices %s u32", tt->name,
                      ti->name);

  int64_t B = ti->numel, V = tt->shape[0], D = tt->shape[1];
  int out = new_act(g, "embedding", 2, LDM_SHAPE(B, D));
  ldm_pc_embedding pc = {(uint32_t)B, (uint32_t)V, (uint32_t)D};
  return ldm_node_emit(g, LDM_OP_embedding, (int[]){table, idx}, 2, &out, 1, &pc, sizeof pc, "embedding");
}
const ldm_op_desc ldm_op_desc_embedding = {"embedding", ldm_cpu_embedding, ldm_plan_embedding, ldm_bwd_embedding};

const ldm_op_desc ldm_op_desc_embedding_backward = {"embedding_backward", ldm_cpu_embedding_backward,
                                                    ldm_plan_embedding_backward, NULL};

/* ================================================================= timestep_embedding */
int ldm_timestep_embedding(ldm_graph *g, int t, int dim) {
  LDM_INPUTS(g, t);
  const ldm_tensor *tt = &g->t[t];
  if (tt->dtype != LDM_U32 || dim < 2 || dim % 2 != 0 || tt->numel * dim > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "timestep_embedding: timesteps %s must be u32 and dim %d even and >= 2",
                      tt->name, dim);
  int64_t B = tt->numel;
  int out = new_act(g, "timestep_embedding", 2, LDM_SHAPE(B, dim));
  ldm_pc_timestep_embedding pc = {(uint32_t)B, (uint32_t)(dim / 2), LDM_TEMB_NEG_LOG_BASE};
  return ldm_node_emit(g, LDM_OP_timestep_embedding, &t, 1, &out, 1, &pc, sizeof pc, "timestep_embedding");
}
const ldm_op_desc ldm_op_desc_timestep_embedding = {"timestep_embedding", ldm_cpu_timestep_embedding,
                                                    ldm_plan_timestep_embedding, NULL};

/* ================================================================= attention, attention_backward */
/* The attention core as one op: qkv [B, 3C, ...] (q, k, v the channel thirds, each [B*heads, d, HW] in memory:
 * heads are contiguous channel blocks) -> O [B, C, ...] = v softmax(q^T k / sqrt(d))^T per head, with the
 * probabilities P [B*heads, HW, HW] saved for the backward (its second output). One dispatch forward and one
 * backward instead of the split (3 copies), two GEMMs and a softmax each way (docs/perf.md, change 11). */
int ldm_attention_core(ldm_graph *g, int qkv, int heads) {
  LDM_INPUTS(g, qkv);
  int64_t B, C3, HW;
  if (!nci(g, qkv, &B, &C3, &HW) || C3 % 3 != 0 || heads < 1 || (C3 / 3) % heads != 0)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "attention_core: %s must be f32 [B, 3C, ...] with C divisible by %d heads", g->t[qkv].name,
                      heads);
  int64_t C = C3 / 3, d = C / heads, BH = B * heads;
  if (BH > INT32_MAX || HW * HW * BH > UINT32_MAX || g->t[qkv].numel > UINT32_MAX || 2 * BH * HW > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "attention_core: %s is too large (scores over 2^32 elements)",
                      g->t[qkv].name);
  int64_t shape[LDM_MAX_DIMS]; /* O's shape: qkv's with C channels */
  memcpy(shape, g->t[qkv].shape, sizeof shape);
  shape[1] = C;
  int O = new_act(g, "attention", g->t[qkv].ndim, shape);
  int P = new_act(g, "attn_probs", 3, LDM_SHAPE(BH, HW, HW));
  ldm_pc_attention pc = {(uint32_t)B, (uint32_t)heads, (uint32_t)d, (uint32_t)HW, (float)(1.0 / sqrt((double)d))};
  return ldm_node_emit(g, LDM_OP_attention, &qkv, 1, (int[]){O, P}, 2, &pc, sizeof pc, "attention");
}
int ldm_attention_backward_node(ldm_graph *g, int qkv, int o, int p, int dy, int dx, int accumulate) {
  LDM_INPUTS(g, qkv, o, p, dy, dx);
  for (int i = g->nn - 1; i >= 0; i--) /* the shape of the attention node that made o and p */
    if (g->n[i].op == LDM_OP_attention && g->n[i].out[0] == o && g->n[i].out[1] == p && g->n[i].in[0] == qkv) {
      ldm_pc_attention f;
      memcpy(&f, g->n[i].pc, sizeof f);
      if (g->t[dy].numel != g->t[o].numel || g->t[dx].numel != g->t[qkv].numel)
        break;
      ldm_pc_attention_backward pc = {f.B, f.heads, f.d, f.T, f.scale, (uint32_t)!!accumulate};
      return ldm_node_add(g, LDM_OP_attention_backward, (int[]){qkv, o, p, dy}, 4, &dx, 1, &pc, sizeof pc,
                          "attention_backward");
    }
  return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                    "attention_backward: %s and %s are not the outputs of an attention of %s, or %s / %s differ in size",
                    g->t[o].name, g->t[p].name, g->t[qkv].name, g->t[dy].name, g->t[dx].name);
}
/* saves qkv (its input), O and P; dqkv from dO in one node */
ldm_status ldm_bwd_attention(ldm_graph *g, int ni) {
  int qkv = g->n[ni].in[0], o = g->n[ni].out[0], p = g->n[ni].out[1];
  int dy = ldm_grad_out(g, ni, 0);
  if (dy < 0) return LDM_OK; /* only P was consumed: it carries no gradient */
  int acc, dx = ldm_grad_in(g, ni, 0, &acc);
  if (dx >= 0) ldm_attention_backward_node(g, qkv, o, p, dy, dx, acc);
  return LDM_OK;
}
const ldm_op_desc ldm_op_desc_attention = {"attention", ldm_cpu_attention, ldm_plan_attention, ldm_bwd_attention};
const ldm_op_desc ldm_op_desc_attention_backward = {"attention_backward", ldm_cpu_attention_backward,
                                                    ldm_plan_attention_backward, NULL};
