/* Normalisation / attention / embedding op family: GroupNorm, softmax, channel concat/split (one
 * strided channel-copy op), embedding lookup, sinusoidal timestep embedding, and the self-attention
 * core composed of split + GEMM + softmax. Each op: graph builder, CPU twin (the reference and the
 * production CPU backend), Vulkan launch plan, autodiff rule. */
#include "ops/norm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ops.h"
#include "cpu/pool.h"
#include "ldm/ops.h"
#include "ops/builder.h"

#define F(i) ((float *)buf[i])
#define U(i) ((uint32_t *)buf[i])
#define PC(type) const type *p = (const type *)n->pc

#define new_act ldm_new_act

static bool is_f32(const ldm_graph *g, int t) { return g->t[t].dtype == LDM_F32; }

/* ---------------------------------------------------------------- launch helpers */

/* Power-of-two workgroup size for a per-row tree reduction: about `want` invocations, clamped to
 * [32, 256] and to what the device allows (invocations, and `shared_per_inv` bytes of shared memory
 * per invocation within max_shared). */
static uint32_t tree_wg(const ldm_dev_limits *lim, uint64_t want, uint32_t shared_per_inv) {
  uint32_t ls = 32;
  while (ls < 256 && ls < want) ls <<= 1;
  while (ls > 1 && (ls > lim->max_wg_invocations || (uint64_t)ls * shared_per_inv > lim->max_shared)) ls >>= 1;
  return ls;
}

/* one workgroup per item, the grid split over x and y when there are more than 65535 items */
static void per_item_groups(ldm_launch *l, uint64_t items) {
  if (items < 1) items = 1;
  l->groups[0] = (uint32_t)(items < 65535 ? items : 65535);
  l->groups[1] = (uint32_t)((items + 65534) / 65535);
  l->groups[2] = 1;
}

/* double-precision sums with four independent accumulators (fixed order, vectorisable) */
static double sum_f(const float *x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; i++) s0 += x[i];
  return (s0 + s1) + (s2 + s3);
}
static double sumsq_dev(const float *x, int64_t n, double m) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    double d0 = x[i] - m, d1 = x[i + 1] - m, d2 = x[i + 2] - m, d3 = x[i + 3] - m;
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < n; i++) {
    double d = x[i] - m;
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

/* ================================================================= group_norm */
static ldm_status bwd_group_norm(ldm_graph *g, int ni);

int ldm_group_norm(ldm_graph *g, int x, int gamma, int beta, int groups, float eps) {
  LDM_INPUTS(g, x, gamma, beta);
  const ldm_tensor *tx = &g->t[x];
  if (tx->ndim < 2 || !is_f32(g, x))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "group_norm: input %s must be a f32 tensor [N, C, ...]", tx->name);
  int64_t N = tx->shape[0], C = tx->shape[1], S = tx->numel / (N * C);
  if (groups <= 0 || C % groups != 0)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "group_norm: %lld channels of %s do not split into %d groups",
                      (long long)C, tx->name, groups);
  if (g->t[gamma].numel != C || g->t[beta].numel != C || !is_f32(g, gamma) || !is_f32(g, beta))
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "group_norm: gamma and beta must be f32 vectors of %lld channels (input %s)", (long long)C,
                      tx->name);
  if (!(eps >= 0.0f) || tx->numel > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "group_norm: eps %g must be >= 0 and %s below 2^32 elements", (double)eps,
                      tx->name);
  int64_t shape[LDM_MAX_DIMS];
  memcpy(shape, tx->shape, sizeof shape);
  int ndim = tx->ndim;
  int y = new_act(g, "group_norm", ndim, shape);
  int mean = new_act(g, "gn_mean", 1, LDM_SHAPE(N * groups));
  int rstd = new_act(g, "gn_rstd", 1, LDM_SHAPE(N * groups));
  ldm_pc_group_norm pc = {(uint32_t)N, (uint32_t)C, (uint32_t)S, (uint32_t)groups, eps};
  return ldm_node_emit(g, LDM_OP_group_norm, (int[]){x, gamma, beta}, 3, (int[]){y, mean, rstd}, 3, &pc, sizeof pc,
                       "group_norm");
}

typedef struct {
  const ldm_pc_group_norm *p;
  const float *x, *gamma, *beta;
  float *y, *mean, *rstd;
} gn_ctx;
static void gn_groups(void *vc, int64_t j0, int64_t j1) {
  const gn_ctx *c = vc;
  const ldm_pc_group_norm *p = c->p;
  const int64_t S = p->S, cg = p->C / p->G, M = cg * S;
  for (int64_t ng = j0; ng < j1; ng++) {
    const float *xs = c->x + ng * M;
    float *ys = c->y + ng * M;
    double mean = sum_f(xs, M) / (double)M;
    double var = sumsq_dev(xs, M, mean) / (double)M;
    float mf = (float)mean, rf = (float)(1.0 / sqrt(var + (double)p->eps));
    int64_t ch0 = (ng % p->G) * cg;
    for (int64_t cc = 0; cc < cg; cc++) {
      float ga = c->gamma[ch0 + cc], be = c->beta[ch0 + cc];
      const float *xr = xs + cc * S;
      float *yr = ys + cc * S;
      for (int64_t i = 0; i < S; i++) {
        float xh = (xr[i] - mf) * rf;
        yr[i] = xh * ga + be;
      }
    }
    c->mean[ng] = mf;
    c->rstd[ng] = rf;
  }
}
static void cpu_group_norm(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gn_ctx c = {(const ldm_pc_group_norm *)n->pc, F(0), F(1), F(2), F(3), F(4), F(5)};
  ldm_parallel_for((int64_t)c.p->N * c.p->G, 1, gn_groups, &c);
}
static void plan_group_norm(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_group_norm);
  uint64_t M = (uint64_t)(p->C / p->G) * p->S;
  l->shader = "group_norm";
  l->spec[0] = tree_wg(lim, M / 2, 4);
  l->nspec = 1;
  per_item_groups(l, (uint64_t)p->N * p->G);
}

int ldm_group_norm_backward_node(ldm_graph *g, int x, int gamma, int mean, int rstd, int dy, int dx, int pg, int pb,
                                 int groups, int accumulate, int want_dx) {
  LDM_INPUTS(g, x, gamma, mean, rstd, dy, want_dx ? dx : pg, pg, pb);
  const ldm_tensor *tx = &g->t[x];
  int64_t N = tx->shape[0], C = tx->shape[1], S = tx->numel / (N * C);
  if (g->t[pg].numel != N * C || g->t[pb].numel != N * C || g->t[dy].numel != tx->numel ||
      (want_dx && g->t[dx].numel != tx->numel) || g->t[mean].numel != N * groups || g->t[rstd].numel != N * groups)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "group_norm_backward: tensor sizes do not match input %s", tx->name);
  ldm_pc_group_norm_backward pc = {(uint32_t)N, (uint32_t)C, (uint32_t)S, (uint32_t)groups, (uint32_t)!!accumulate,
                                   (uint32_t)!!want_dx};
  return ldm_node_add(g, LDM_OP_group_norm_backward, (int[]){x, gamma, mean, rstd, dy}, 5,
                      (int[]){want_dx ? dx : pg, pg, pb}, 3, &pc, sizeof pc, "group_norm_backward");
}

static ldm_status bwd_group_norm(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni]; /* copy: the node list may move while we append */
  ldm_pc_group_norm p;
  memcpy(&p, n.pc, sizeof p);
  int x = n.in[0], gamma = n.in[1], beta = n.in[2];
  int dy = ldm_grad_of(g, n.out[0]);
  if (dy < 0) return LDM_OK; /* only mean/rstd were consumed: they carry no gradient */
  int64_t NC = (int64_t)p.N * p.C;
  int pg = new_act(g, "gn_dgamma_part", 1, &NC), pb = new_act(g, "gn_dbeta_part", 1, &NC);
  int want_dx = g->t[x].requires_grad, acc = 0, dx = want_dx ? ldm_grad_target(g, x, &acc) : -1;

  ldm_group_norm_backward_node(g, x, gamma, n.out[1], n.out[2], dy, dx, pg, pb, (int)p.G, acc, want_dx);
  if (g->t[gamma].requires_grad) {
    int ga, dg = ldm_grad_target(g, gamma, &ga);
    ldm_reduce_sum(g, pg, dg, p.N, p.C, 1, 1.0f, ga);
  }
  if (g->t[beta].requires_grad) {
    int ba, db = ldm_grad_target(g, beta, &ba);
    ldm_reduce_sum(g, pb, db, p.N, p.C, 1, 1.0f, ba);
  }
  return LDM_OK;
}
const ldm_op_desc ldm_op_desc_group_norm = {"group_norm", cpu_group_norm, plan_group_norm, bwd_group_norm, 1e-7};

/* ================================================================= group_norm_backward */
typedef struct {
  const ldm_pc_group_norm_backward *p;
  const float *x, *gamma, *mean, *rstd, *dy;
  float *dx, *pg, *pb;
} gnb_ctx;
static void gnb_groups(void *vc, int64_t j0, int64_t j1) {
  const gnb_ctx *c = vc;
  const ldm_pc_group_norm_backward *p = c->p;
  const int64_t S = p->S, C = p->C, cg = C / p->G, M = cg * S;
  for (int64_t ng = j0; ng < j1; ng++) {
    int64_t nn = ng / p->G, ch0 = (ng % p->G) * cg;
    float m = c->mean[ng], r = c->rstd[ng];
    const float *xs = c->x + ng * M, *dys = c->dy + ng * M;
    double A = 0, B = 0; /* sum gamma dy, sum gamma dy xhat over the group */
    for (int64_t cc = 0; cc < cg; cc++) {
      const float *xr = xs + cc * S, *dr = dys + cc * S;
      double s1 = 0, s2 = 0;
      for (int64_t i = 0; i < S; i++) {
        float xh = (xr[i] - m) * r;
        s1 += (double)dr[i] * xh;
        s2 += dr[i];
      }
      c->pg[nn * C + ch0 + cc] = (float)s1;
      c->pb[nn * C + ch0 + cc] = (float)s2;
      A += (double)c->gamma[ch0 + cc] * s2;
      B += (double)c->gamma[ch0 + cc] * s1;
    }
    if (!p->want_dx) continue;
    float a = (float)(A / (double)M), b = (float)(B / (double)M);
    float *dxs = c->dx + ng * M;
    for (int64_t cc = 0; cc < cg; cc++) {
      float ga = c->gamma[ch0 + cc];
      const float *xr = xs + cc * S, *dr = dys + cc * S;
      float *o = dxs + cc * S;
      for (int64_t i = 0; i < S; i++) {
        float xh = (xr[i] - m) * r;
        float v = r * ((ga * dr[i] - a) - xh * b);
        o[i] = p->accumulate ? o[i] + v : v;
      }
    }
  }
}
static void cpu_group_norm_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  gnb_ctx c = {(const ldm_pc_group_norm_backward *)n->pc, F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7)};
  ldm_parallel_for((int64_t)c.p->N * c.p->G, 1, gnb_groups, &c);
}
static void plan_group_norm_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                     ldm_launch *l) {
  PC(ldm_pc_group_norm_backward);
  l->shader = "group_norm_backward";
  l->spec[0] = tree_wg(lim, p->S, 8);
  l->nspec = 1;
  per_item_groups(l, (uint64_t)p->N * p->G);
}
const ldm_op_desc ldm_op_desc_group_norm_backward = {"group_norm_backward", cpu_group_norm_backward,
                                                     plan_group_norm_backward, NULL, 1e-7};

/* ================================================================= softmax */
static ldm_status bwd_softmax(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_softmax p;
  memcpy(&p, n.pc, sizeof p);
  int acc, dx = ldm_grad_target(g, n.in[0], &acc);
  ldm_pc_softmax_backward pc = {p.rows, p.cols, (uint32_t)acc};
  ldm_node_add(g, LDM_OP_softmax_backward, (int[]){n.out[0], ldm_grad_of(g, n.out[0])}, 2, &dx, 1, &pc, sizeof pc,
               "softmax_backward");
  return LDM_OK;
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
typedef struct {
  uint32_t cols, accumulate;
  const float *a, *b; /* forward: x; backward: y, dy */
  float *o;
} sm_ctx;
static void sm_rows(void *vc, int64_t r0, int64_t r1) {
  const sm_ctx *c = vc;
  const int64_t L = c->cols;
  for (int64_t r = r0; r < r1; r++) {
    const float *x = c->a + r * L;
    float *y = c->o + r * L;
    float m = x[0];
    for (int64_t j = 1; j < L; j++) m = x[j] > m ? x[j] : m;
    double s = 0;
    for (int64_t j = 0; j < L; j++) {
      y[j] = expf(x[j] - m);
      s += y[j];
    }
    float sf = (float)s;
    for (int64_t j = 0; j < L; j++) y[j] = y[j] / sf;
  }
}
static void cpu_softmax(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_softmax);
  sm_ctx c = {p->cols, 0, F(0), NULL, F(1)};
  ldm_parallel_for(p->rows, 1 + 4096 / p->cols, sm_rows, &c);
}
static void smb_rows(void *vc, int64_t r0, int64_t r1) {
  const sm_ctx *c = vc;
  const int64_t L = c->cols;
  for (int64_t r = r0; r < r1; r++) {
    const float *y = c->a + r * L, *dy = c->b + r * L;
    float *dx = c->o + r * L;
    double s = 0;
    for (int64_t j = 0; j < L; j++) s += (double)dy[j] * y[j];
    float sf = (float)s;
    for (int64_t j = 0; j < L; j++) {
      float v = y[j] * (dy[j] - sf);
      dx[j] = c->accumulate ? dx[j] + v : v;
    }
  }
}
static void cpu_softmax_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_softmax_backward);
  sm_ctx c = {p->cols, p->accumulate, F(0), F(1), F(2)};
  ldm_parallel_for(p->rows, 1 + 4096 / p->cols, smb_rows, &c);
}
/* rows of up to 64 columns: one invocation per row (SERIAL); longer rows: a workgroup per row */
static void plan_softmax_common(uint32_t rows, uint32_t cols, const ldm_dev_limits *lim, ldm_launch *l) {
  if (cols <= 64) {
    ldm_launch_1d(l, l->shader, rows);
    l->spec[1] = 1;
    l->nspec = 2;
    return;
  }
  l->spec[0] = tree_wg(lim, cols / 4, 4);
  l->spec[1] = 0;
  l->nspec = 2;
  per_item_groups(l, rows);
}
static void plan_softmax(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_softmax);
  l->shader = "softmax";
  plan_softmax_common(p->rows, p->cols, lim, l);
}
static void plan_softmax_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_softmax_backward);
  l->shader = "softmax_backward";
  plan_softmax_common(p->rows, p->cols, lim, l);
}
const ldm_op_desc ldm_op_desc_softmax = {"softmax", cpu_softmax, plan_softmax, bwd_softmax, 1e-6};
const ldm_op_desc ldm_op_desc_softmax_backward = {"softmax_backward", cpu_softmax_backward, plan_softmax_backward,
                                                  NULL, 1e-6};

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
static ldm_status bwd_channel_copy(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_channel_copy p;
  memcpy(&p, n.pc, sizeof p);
  int acc, dx = ldm_grad_target(g, n.in[0], &acc);
  /* the first contribution writes all of dx: zeros outside the slice (a split whose other parts get
   * their gradients later, with accumulate, or never) */
  ldm_channel_copy(g, ldm_grad_of(g, n.out[0]), dx, p.O, p.I, p.Co, p.Cx, p.d0, p.c0, p.Cn, acc, !acc);
  return LDM_OK;
}
typedef struct {
  const ldm_pc_channel_copy *p;
  const float *x;
  float *o;
  uint32_t Cw; /* channels written per o */
} cc_ctx;
static void cc_rows(void *vc, int64_t r0, int64_t r1) {
  const cc_ctx *c = vc;
  const ldm_pc_channel_copy *p = c->p;
  const int64_t I = p->I;
  for (int64_t r = r0; r < r1; r++) {
    int64_t o = r / c->Cw, ch = r % c->Cw;
    int64_t dc = p->zero_rest ? ch : p->d0 + ch;
    float *dst = c->o + (o * p->Co + dc) * I;
    if (dc < p->d0 || dc >= (int64_t)p->d0 + p->Cn) {
      memset(dst, 0, (size_t)I * 4);
      continue;
    }
    const float *src = c->x + (o * p->Cx + p->c0 + dc - p->d0) * I;
    if (p->accumulate)
      for (int64_t i = 0; i < I; i++) dst[i] += src[i];
    else
      memcpy(dst, src, (size_t)I * 4);
  }
}
static void cpu_channel_copy(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_channel_copy);
  cc_ctx c = {p, F(0), F(1), p->zero_rest ? p->Co : p->Cn};
  ldm_parallel_for((int64_t)p->O * c.Cw, 1 + 16384 / p->I, cc_rows, &c);
}
static void plan_channel_copy(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_channel_copy);
  ldm_launch_1d(l, "channel_copy", (int64_t)p->O * (p->zero_rest ? p->Co : p->Cn) * p->I);
}
const ldm_op_desc ldm_op_desc_channel_copy = {"channel_copy", cpu_channel_copy, plan_channel_copy, bwd_channel_copy,
                                              0};

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
  int refusals = g->refusals;
  for (int k = 0; k < nparts; k++)
    outs[k] = ldm_channel_copy(g, x, new_act(g, "split", g->t[x].ndim, shape), O, I, C, Cp, k * Cp, 0, Cp, 0, 0);
  return g->refusals == refusals ? outs[0] : LDM_NONE; /* every part, or the none id */
}

/* ================================================================= embedding */
static ldm_status bwd_embedding(ldm_graph *g, int ni) {
  ldm_node n = g->n[ni];
  ldm_pc_embedding p;
  memcpy(&p, n.pc, sizeof p);
  int acc, dt = ldm_grad_target(g, n.in[0], &acc);
  ldm_pc_embedding_backward pc = {p.B, p.V, p.D, (uint32_t)acc};
  ldm_node_add(g, LDM_OP_embedding_backward, (int[]){n.in[1], ldm_grad_of(g, n.out[0])}, 2, &dt, 1, &pc, sizeof pc,
               "embedding_backward");
  return LDM_OK;
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
/* an index outside the table gives a zero row (and no gradient) instead of reading out of bounds */
static void cpu_embedding(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_embedding);
  const float *t = F(0);
  const uint32_t *idx = U(1);
  float *o = F(2);
  for (uint32_t b = 0; b < p->B; b++) {
    if (idx[b] < p->V)
      memcpy(o + (size_t)b * p->D, t + (size_t)idx[b] * p->D, (size_t)p->D * 4);
    else
      memset(o + (size_t)b * p->D, 0, (size_t)p->D * 4);
  }
}
static void plan_embedding(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_embedding);
  ldm_launch_1d(l, "embedding", (int64_t)p->B * p->D);
}
const ldm_op_desc ldm_op_desc_embedding = {"embedding", cpu_embedding, plan_embedding, bwd_embedding, 0};

/* dtable[v] (+)= sum over b with idx[b] == v of dy[b], b in increasing order (as the shader) */
typedef struct {
  const ldm_pc_embedding_backward *p;
  const uint32_t *idx;
  const float *dy;
  float *dt;
} embb_ctx;
static void embb_rows(void *vc, int64_t v0, int64_t v1) {
  const embb_ctx *c = vc;
  const ldm_pc_embedding_backward *p = c->p;
  const int64_t D = p->D;
  for (int64_t v = v0; v < v1; v++) {
    float *row = c->dt + v * D;
    float tmp[256];
    for (int64_t d0 = 0; d0 < D; d0 += 256) {
      int64_t nd = D - d0 < 256 ? D - d0 : 256;
      for (int64_t d = 0; d < nd; d++) tmp[d] = 0.0f;
      for (uint32_t b = 0; b < p->B; b++) {
        if (c->idx[b] != (uint32_t)v) continue;
        const float *src = c->dy + (int64_t)b * D + d0;
        for (int64_t d = 0; d < nd; d++) tmp[d] += src[d];
      }
      for (int64_t d = 0; d < nd; d++) row[d0 + d] = p->accumulate ? row[d0 + d] + tmp[d] : tmp[d];
    }
  }
}
static void cpu_embedding_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  embb_ctx c = {(const ldm_pc_embedding_backward *)n->pc, U(0), F(1), F(2)};
  ldm_parallel_for(c.p->V, 1, embb_rows, &c);
}
static void plan_embedding_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_embedding_backward);
  ldm_launch_1d(l, "embedding_backward", (int64_t)p->V * p->D);
}
const ldm_op_desc ldm_op_desc_embedding_backward = {"embedding_backward", cpu_embedding_backward,
                                                    plan_embedding_backward, NULL, 1e-10};

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
/* The reference twin computes f = exp(-ln(10000) * k / half) and t * f in fp32 (torch float32), then
 * cos and sin of that fp32 argument; we evaluate cos/sin of the fp32 argument in double. */
static void cpu_timestep_embedding(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_timestep_embedding);
  const uint32_t *t = U(0);
  float *o = F(1);
  const uint32_t H = p->half;
  for (uint32_t k = 0; k < H; k++) {
    float v = p->neg_log_base * (float)k;
    v = v / (float)H;
    float f = expf(v);
    for (uint32_t b = 0; b < p->B; b++) {
      float a = (float)t[b] * f;
      o[(size_t)b * 2 * H + k] = (float)cos((double)a);
      o[(size_t)b * 2 * H + H + k] = (float)sin((double)a);
    }
  }
}
static void plan_timestep_embedding(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  PC(ldm_pc_timestep_embedding);
  ldm_launch_1d(l, "timestep_embedding", (int64_t)p->B * p->half);
}
const ldm_op_desc ldm_op_desc_timestep_embedding = {"timestep_embedding", cpu_timestep_embedding,
                                                    plan_timestep_embedding, NULL, 1e-8};

/* ================================================================= attention core (composition) */
/* q, k, v = split(qkv, 3), each [B, C, ...] = [B*heads, d, HW] in memory (no copies needed for the
 * head view: heads are contiguous channel blocks). S = q^T k / sqrt(d) [B*heads, HW, HW];
 * P = softmax(S) over the last dim; O = v P^T [B*heads, d, HW] = [B, C, ...]. */
int ldm_attention_core(ldm_graph *g, int qkv, int heads) {
  LDM_INPUTS(g, qkv);
  int64_t B, C3, HW;
  if (!nci(g, qkv, &B, &C3, &HW) || C3 % 3 != 0 || heads < 1 || (C3 / 3) % heads != 0)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG,
                      "attention_core: %s must be f32 [B, 3C, ...] with C divisible by %d heads", g->t[qkv].name,
                      heads);
  int64_t C = C3 / 3, d = C / heads, BH = B * heads;
  if (BH > INT32_MAX || HW * HW * BH > UINT32_MAX)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "attention_core: %s is too large (scores over 2^32 elements)",
                      g->t[qkv].name);
  int parts[3] = {LDM_NONE, LDM_NONE, LDM_NONE};
  ldm_split(g, qkv, 3, parts);
  ldm_gemm_args qk = {1, 0, (int)BH, (float)(1.0 / sqrt((double)d)), 0, 0};
  int S = ldm_gemm(g, parts[0], parts[1], -1, new_act(g, "attn_scores", 3, LDM_SHAPE(BH, HW, HW)), HW, HW, d, qk);
  int P = ldm_softmax(g, S, BH * HW, HW);
  int64_t shape[LDM_MAX_DIMS]; /* v's shape: qkv's with C channels */
  memcpy(shape, g->t[qkv].shape, sizeof shape);
  shape[1] = C;
  int O = new_act(g, "attention", g->t[qkv].ndim, shape);

  ldm_gemm_args pv = {0, 1, (int)BH, 1.0f, 0, 0};
  return ldm_gemm(g, parts[2], P, -1, O, d, HW, HW, pv);
}
