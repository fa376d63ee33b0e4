/* Convolution family on the CPU reference backend (no device): autodiff vs central finite differences
 * for conv2d (x, w, bias; k3 s1 p1, k3 s2 p1 on odd and even sizes, k1 s1 p0, the split backward-weight
 * path, a second consumer of x; the fused epilogue's chan and res terms, res as its gradient's first writer,
 * as the convolution's own input, and with earlier and later consumers) and upsample2x; forward, backward-data and backward-weight nodes against
 * the plain reference (src/ref: direct double-precision loops; every element, accumulate on and off, several
 * depth splits); builder
 * errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "ldm/model.h"
#include "gradcheck_util.h"
#include "ops/conv.h"
#include "ref/ref.h"

static float *read_all(ldm_exec *e, const ldm_graph *g, int t) {
  size_t n = (size_t)g->t[t].numel;
  float *v = malloc(n * 4);
  ck_assert_ptr_nonnull(v);
  ck_assert_int_eq(ldm_exec_read(e, t, v, n * 4), LDM_OK);
  return v;
}

/* arg: stride pad bias */
static int b_conv(ldm_graph *g, const int *in, const int *a) {
  return ldm_conv2d(g, in[0], in[1], a[2] ? in[2] : -1, a[0], a[1]);
}
/* x feeds two convolutions (the second dx contribution accumulates) and the output goes through SiLU */
static int b_conv_twice(ldm_graph *g, const int *in, const int *a) {
  int y1 = ldm_conv2d(g, in[0], in[1], in[2], a[0], a[1]);
  int y2 = ldm_conv2d(g, in[0], in[3], -1, a[0], a[1]);
  return ldm_silu(g, ldm_add(g, y1, y2));
}
/* the fused epilogue. arg: stride pad chan res; inputs x, w, bias, then chan [N, Cout] if chan, then res
 * [N, Cout, Ho, Wo] if res; the output through SiLU (a gradient that is not all ones) */
static int b_conv_epi(ldm_graph *g, const int *in, const int *a) {
  int chan = a[2] ? in[3] : LDM_NONE, res = a[3] ? in[3 + a[2]] : LDM_NONE;
  return ldm_silu(g, ldm_conv2d_ex(g, in[0], in[1], in[2], res, chan, a[0], a[1]));
}
/* res is also the convolution's input (x's gradient may not be dy itself: the fallback copy) */
static int b_conv_res_is_x(ldm_graph *g, const int *in, const int *a) {
  return ldm_silu(g, ldm_conv2d_ex(g, in[0], in[1], in[2], in[0], LDM_NONE, 1, 1));
}
/* res feeds a later node too (its gradient is written before the convolution's backward: accumulated)
 * and an earlier one (its gradient is dy itself, then the earlier consumer's contribution is added) */
static int b_conv_res_shared(ldm_graph *g, const int *in, const int *a) {
  int r = ldm_silu(g, in[0]);
  int y = ldm_conv2d_ex(g, ldm_silu(g, r), in[1], in[2], r, in[3], 1, 1);
  return ldm_mul(g, y, ldm_silu(g, r));
}
static int b_upsample(ldm_graph *g, const int *in, const int *a) { return ldm_upsample2x(g, ldm_silu(g, in[0])); }
/* upsample + conv as in the decoder */
static int b_up_conv(ldm_graph *g, const int *in, const int *a) {
  return ldm_conv2d(g, ldm_upsample2x(g, in[0]), in[1], in[2], 1, 1);
}

START_TEST(grad_conv_k3_s1_p1) {
  gc_in s[3] = {GC_IN(2, 3, 5, 6), GC_IN(4, 3, 3, 3), GC_IN(4)};
  gc_check("conv k3 s1 p1", b_conv, (int[]){1, 1, 1}, 3, s, 40, 2e-3);
  s[0].kind = GC_ACT_GRAD;
  gc_check("conv k3 s1 p1 (x activation)", b_conv, (int[]){1, 1, 1}, 3, s, 40, 2e-3);
  gc_check("conv k3 s1 p1 no bias", b_conv, (int[]){1, 1, 0}, 2, s, 40, 2e-3);
}
END_TEST

START_TEST(grad_conv_k3_s2_p1) {
  gc_in odd[3] = {{GC_SHAPE(2, 3, 7, 7), .kind = GC_ACT_GRAD}, GC_IN(5, 3, 3, 3), GC_IN(5)};
  gc_check("conv k3 s2 p1 7x7", b_conv, (int[]){2, 1, 1}, 3, odd, 40, 2e-3);
  gc_in even[3] = {{GC_SHAPE(2, 2, 8, 6), .kind = GC_ACT_GRAD}, GC_IN(3, 2, 3, 3), GC_IN(3)};
  gc_check("conv k3 s2 p1 8x6", b_conv, (int[]){2, 1, 1}, 3, even, 40, 2e-3);
}
END_TEST

START_TEST(grad_conv_k1_s1_p0) {
  gc_in s[3] = {{GC_SHAPE(3, 7, 4, 3), .kind = GC_ACT_GRAD}, GC_IN(5, 7, 1, 1), GC_IN(5)};
  gc_check("conv k1 s1 p0", b_conv, (int[]){1, 0, 1}, 3, s, 40, 2e-3);
}
END_TEST

START_TEST(grad_conv_split_weight_and_two_consumers) {
  /* N*Ho*Wo = 1024 output pixels: the autodiff splits the weight gradient (checked below) */
  gc_in s[4] = {{GC_SHAPE(4, 2, 16, 16), .kind = GC_ACT_GRAD}, GC_IN(3, 2, 3, 3), GC_IN(3), GC_IN(3, 2, 3, 3)};
  ldm_pc_conv2d pc = {4, 2, 16, 16, 3, 16, 16, 3, 1, 1, 1, 0, 1, 0, 0, 0};
  ck_assert_uint_gt(ldm_conv2d_weight_splits(&pc), 1);
  gc_check("conv split dw, x twice", b_conv_twice, (int[]){1, 1}, 4, s, 30, 2e-3);
}
END_TEST

START_TEST(grad_conv_epilogue) {
  /* chan only, res only, both; x an activation with a gradient, res one whose gradient is first written here */
  gc_in c[4] = {{GC_SHAPE(3, 2, 5, 6), .kind = GC_ACT_GRAD}, GC_IN(4, 2, 3, 3), GC_IN(4), GC_IN(3, 4)};
  gc_check("conv + chan", b_conv_epi, (int[]){1, 1, 1, 0}, 4, c, 40, 2e-3);
  gc_in r[4] = {{GC_SHAPE(3, 2, 7, 5), .kind = GC_ACT_GRAD}, GC_IN(5, 2, 3, 3), GC_IN(5),
                {GC_SHAPE(3, 5, 4, 3), .kind = GC_ACT_GRAD}};
  gc_check("conv s2 + res", b_conv_epi, (int[]){2, 1, 0, 1}, 4, r, 40, 2e-3);
  gc_in b[5] = {{GC_SHAPE(2, 3, 5, 7), .kind = GC_ACT_GRAD}, GC_IN(6, 3, 1, 1), GC_IN(6), GC_IN(2, 6),
                {GC_SHAPE(2, 6, 5, 7), .kind = GC_ACT_GRAD}};
  gc_check("conv k1 + chan + res", b_conv_epi, (int[]){1, 0, 1, 1}, 5, b, 40, 2e-3);
  gc_in x[3] = {{GC_SHAPE(2, 3, 5, 4), .kind = GC_ACT_GRAD}, GC_IN(3, 3, 3, 3), GC_IN(3)};
  gc_check("conv + res = x", b_conv_res_is_x, NULL, 3, x, 40, 2e-3);
  gc_in sh[4] = {{GC_SHAPE(2, 3, 4, 5), .kind = GC_ACT_GRAD}, GC_IN(3, 3, 3, 3), GC_IN(3), GC_IN(2, 3)};
  gc_check("conv + res shared + chan", b_conv_res_shared, NULL, 4, sh, 40, 2e-3);
}
END_TEST

START_TEST(grad_upsample2x) {
  gc_in s[1] = {{GC_SHAPE(2, 3, 3, 5), .kind = GC_ACT_GRAD}};
  gc_check("upsample2x", b_upsample, NULL, 1, s, 90, 2e-3);
  gc_in t[3] = {{GC_SHAPE(1, 2, 3, 4), .kind = GC_ACT_GRAD}, GC_IN(3, 2, 3, 3), GC_IN(3)};
  gc_check("upsample2x + conv", b_up_conv, NULL, 3, t, 40, 2e-3);
}
END_TEST

/* ---------------------------------------------------------------- direct reference loops */
typedef struct {
  int N, Cin, H, W, Cout, k, s, p, bias;
} cshape;

static void check_close(const char *what, const float *got, const float *ref, int64_t n, double tol) {
  double maxref = 0, maxerr = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) {
    if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
    double e = fabs((double)got[i] - ref[i]);
    ck_assert_msg(isfinite(got[i]), "%s: element %lld is not finite", what, (long long)i);
    if (e > maxerr) {
      maxerr = e;
      at = i;
    }
  }
  ck_assert_msg(maxerr <= tol * (maxref + 1e-30), "%s: max error %.3g at %lld (max |ref| %.3g)", what, maxerr,
                (long long)at, maxref);
}

/* conv2d, backward-data (accumulating onto random dx0) and backward-weight (splits s, each partial
 * checked, plus an accumulating unsplit node onto random dw0): the fast CPU twins against the plain
 * reference (src/ref: direct loops in double) run over the same graph from the same inputs */
static void direct_case(cshape c, uint32_t splits) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x = ldm_act(&g, "x", 4, LDM_SHAPE(c.N, c.Cin, c.H, c.W));
  int w = ldm_act(&g, "w", 4, LDM_SHAPE(c.Cout, c.Cin, c.k, c.k));
  int b = ldm_act(&g, "b", 1, LDM_SHAPE(c.Cout));
  int y = ldm_conv2d(&g, x, w, c.bias ? b : -1, c.s, c.p);
  ck_assert_msg(y >= 0, "%s", ldm_last_error());
  int Ho = (int)g.t[y].shape[2], Wo = (int)g.t[y].shape[3];
  ck_assert_int_eq(Ho, (c.H + 2 * c.p - c.k) / c.s + 1);
  ck_assert_int_eq(Wo, (c.W + 2 * c.p - c.k) / c.s + 1);
  ldm_pc_conv2d pc;
  memcpy(&pc, g.n[g.nn - 1].pc, sizeof pc);
  int64_t nw = (int64_t)c.Cout * c.Cin * c.k * c.k;
  int dy = ldm_act(&g, "dy", 4, LDM_SHAPE(c.N, c.Cout, Ho, Wo));
  int dx = ldm_act(&g, "dx", 4, LDM_SHAPE(c.N, c.Cin, c.H, c.W));
  int dxa = ldm_act(&g, "dx_acc", 4, LDM_SHAPE(c.N, c.Cin, c.H, c.W));
  int dwp = ldm_act(&g, "dw_parts", 2, LDM_SHAPE(splits, nw));
  int dwa = ldm_act(&g, "dw_acc", 1, LDM_SHAPE(nw));
  ck_assert_int_ge(ldm_conv2d_backward_data_node(&g, dy, w, dx, &pc, 0), 0);
  ck_assert_int_ge(ldm_conv2d_backward_data_node(&g, dy, w, dxa, &pc, 1), 0);
  ck_assert_int_ge(ldm_conv2d_backward_weight_node(&g, dy, x, dwp, &pc, splits, 0), 0);
  ck_assert_int_ge(ldm_conv2d_backward_weight_node(&g, dy, x, dwa, &pc, 1, 1), 0);
  for (int t = 0; t < g.nt; t++) ldm_keep(&g, t);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e, *er;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  ck_assert_int_eq(ldm_exec_cpu(&g, &er), LDM_OK);
  int ins[6] = {x, w, b, dy, dxa, dwa};
  for (int i = 0; i < 6; i++) {
    float scale = i == 1 ? 0.5f : 1.0f;
    gc_fill(e, &g, ins[i], 3, 100u + (uint64_t)i, -scale, scale);
    gc_fill(er, &g, ins[i], 3, 100u + (uint64_t)i, -scale, scale);
  }
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  ck_assert_int_eq(ldm_ref_run(er), LDM_OK);
  char what[160];
  snprintf(what, sizeof what, "N%d %d->%d %dx%d k%d s%d p%d%s", c.N, c.Cin, c.Cout, c.H, c.W, c.k, c.s, c.p,
           c.bias ? " bias" : "");
  const struct { int t; const char *name; } outs[] = {
      {y, "forward"}, {dx, "backward_data"}, {dxa, "backward_data accumulate"},
      {dwp, "backward_weight splits"}, {dwa, "backward_weight accumulate"},
  };
  for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
    float *got = read_all(e, &g, outs[k].t), *ref = read_all(er, &g, outs[k].t);
    char m[200];
    snprintf(m, sizeof m, "%s %s (%u splits)", what, outs[k].name, splits);
    check_close(m, got, ref, g.t[outs[k].t].numel, 1e-5);
    free(got);
    free(ref);
  }
  /* the split partials add up to the whole weight gradient: ref dw_acc - dw0 */
  float *parts = read_all(e, &g, dwp), *whole = read_all(er, &g, dwa), *sum = calloc((size_t)nw, sizeof(float));
  ck_assert_ptr_nonnull(sum);
  for (uint32_t s = 0; s < splits; s++)
    for (int64_t i = 0; i < nw; i++) sum[i] += parts[s * nw + i];
  for (int64_t i = 0; i < nw; i++) whole[i] -= gc_unif(3, 105, (uint64_t)i, -1.0f, 1.0f);
  char m[200];
  snprintf(m, sizeof m, "%s backward_weight %u splits summed", what, splits);
  check_close(m, sum, whole, nw, 1e-5);
  free(parts), free(whole), free(sum);
  ldm_exec_free(e);
  ldm_exec_free(er);
  ldm_graph_free(&g);
}

START_TEST(conv_matches_direct_loops) {
  direct_case((cshape){2, 3, 7, 7, 5, 3, 1, 1, 1}, 1);
  direct_case((cshape){2, 4, 7, 7, 6, 3, 2, 1, 1}, 3);
  direct_case((cshape){2, 4, 8, 8, 6, 3, 2, 1, 0}, 2);
  direct_case((cshape){2, 37, 5, 5, 19, 1, 1, 0, 1}, 4);
  direct_case((cshape){3, 8, 6, 5, 9, 3, 1, 0, 0}, 5);
  direct_case((cshape){1, 3, 6, 7, 4, 5, 2, 2, 1}, 1);
  direct_case((cshape){3, 70, 9, 7, 66, 3, 1, 1, 1}, 7);   /* several CPU row/column blocks */
  direct_case((cshape){5, 16, 23, 21, 40, 3, 1, 1, 1}, 2); /* pixel blocks spanning samples and rows */
  direct_case((cshape){2, 3, 9, 1, 2, 3, 1, 1, 1}, 1);     /* one-column images */
  direct_case((cshape){2, 32, 9, 8, 12, 3, 2, 1, 1}, 3);   /* channel-last weight gradient, stride 2 */
  direct_case((cshape){2, 64, 23, 17, 8, 3, 1, 1, 0}, 3);  /* ... samples larger than a pixel chunk */
  direct_case((cshape){3, 96, 4, 4, 70, 3, 1, 1, 1}, 2);   /* ... many samples per chunk, 2 channel blocks */
  direct_case((cshape){2, 75, 4, 8, 12, 3, 1, 1, 1}, 2);   /* ... padded planes of 16-pixel blocks, 11 channels left */
  direct_case((cshape){3, 96, 8, 8, 20, 3, 2, 1, 1}, 2);   /* ... the same at stride 2 */
  direct_case((cshape){2, 5, 6, 7, 3, 1, 1, 1, 1}, 1);     /* pad > k - 1: the col2im data gradient */
  direct_case((cshape){1, 4, 10, 9, 6, 3, 3, 2, 1}, 2);    /* stride 3 */
  direct_case((cshape){2, 6, 5, 9, 1, 3, 1, 1, 1}, 1);     /* one output channel (direct path) */
  direct_case((cshape){3, 2, 7, 6, 4, 5, 1, 2, 0}, 2);     /* four output channels, two inputs, k5 */
  direct_case((cshape){2, 40, 11, 12, 2, 3, 1, 0, 1}, 1);  /* no padding, many input channels */
  direct_case((cshape){2, 32, 7, 9, 1, 3, 1, 1, 1}, 2);    /* channel-last weight gradient, 1 row */
  direct_case((cshape){1, 64, 6, 5, 2, 5, 1, 2, 0}, 1);    /* ... 2 rows, 25 taps in groups */
  direct_case((cshape){2, 32, 8, 8, 3, 3, 2, 1, 1}, 3);    /* ... 3 of 4 rows, stride 2 */
  direct_case((cshape){3, 77, 5, 19, 21, 3, 1, 1, 1}, 2);  /* ... 8x16 transposes and what they leave over */
  direct_case((cshape){2, 64, 5, 7, 12, 1, 1, 0, 1}, 2);   /* ... 1x1: an unpadded plane moved as one row */
  direct_case((cshape){2, 8, 6, 16, 11, 3, 1, 1, 1}, 1);   /* rows of 16: the forward read from the planes */
  direct_case((cshape){1, 8, 3, 32, 13, 3, 1, 1, 0}, 1);   /* ... rows of 32 */
  direct_case((cshape){2, 9, 6, 18, 10, 3, 1, 0, 1}, 2);   /* ... unpadded, 4 rows of 16 */
  direct_case((cshape){3, 8, 5, 64, 9, 3, 1, 1, 0}, 1);    /* ... rows of 64, samples of 10 blocks */
  direct_case((cshape){5, 12, 2, 8, 10, 3, 1, 1, 1}, 2);   /* rows of 8 in pairs: packed by permutes */
  direct_case((cshape){3, 9, 6, 8, 11, 3, 1, 1, 0}, 1);    /* ... samples of 3 pairs */
  direct_case((cshape){2, 6, 4, 4, 9, 5, 1, 2, 1}, 1);     /* ... rows of 4 in fours, k5 (rows 8 apart) */
  direct_case((cshape){3, 20, 4, 4, 16, 1, 1, 0, 1}, 1);   /* ... 1x1, unpadded */
  direct_case((cshape){20, 24, 4, 4, 16, 1, 1, 0, 1}, 2);  /* ... 1x1 over 3 sample groups: the input read in place */
  direct_case((cshape){12, 40, 5, 5, 24, 1, 1, 0, 0}, 1);  /* ... the same without the 16-column gather */
  direct_case((cshape){2, 5, 5, 37, 7, 3, 2, 1, 1}, 2);    /* stride 2, rows of 19: 16 + 3 by permutes */
  direct_case((cshape){1, 6, 6, 40, 9, 3, 2, 0, 0}, 1);    /* ... unpadded */
  direct_case((cshape){2, 3, 4, 7, 5, 3, 2, 1, 1}, 1);     /* ... rows of 4 */
}
END_TEST

START_TEST(upsample_matches_direct_loops) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int N = 2, C = 3, H = 3, W = 5;
  int x = ldm_act(&g, "x", 4, LDM_SHAPE(N, C, H, W));
  int y = ldm_upsample2x(&g, x);
  ck_assert_int_ge(y, 0);
  ck_assert_int_eq(g.t[y].shape[2], 2 * H);
  ck_assert_int_eq(g.t[y].shape[3], 2 * W);
  int dx = ldm_act(&g, "dx", 4, LDM_SHAPE(N, C, H, W));
  ck_assert_int_ge(ldm_upsample2x_backward_node(&g, y, dx, 0), 0);
  for (int t = 0; t < g.nt; t++) ldm_keep(&g, t);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  gc_fill(e, &g, x, 3, 5, -1.0f, 1.0f);
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  float *X = read_all(e, &g, x), *Y = read_all(e, &g, y), *DX = read_all(e, &g, dx);
  for (int p = 0; p < N * C; p++)
    for (int h = 0; h < 2 * H; h++)
      for (int w = 0; w < 2 * W; w++)
        ck_assert_float_eq(Y[(p * 2 * H + h) * 2 * W + w], X[(p * H + h / 2) * W + w / 2]);
  for (int i = 0; i < N * C * H * W; i++) ck_assert_float_eq_tol(DX[i], 4.0f * X[i], 1e-6f);
  free(X), free(Y), free(DX);
  ldm_exec_free(e);
  ldm_graph_free(&g);
}
END_TEST

/* the inputs of the refusal probes, built afresh on each probe's own graph */
typedef struct { int x, w, w2, b, big, flat; } conv_probe;
static conv_probe conv_probe_inputs(ldm_graph *g) {
  conv_probe in = {ldm_act(g, "x", 4, LDM_SHAPE(2, 3, 8, 8)),   ldm_act(g, "w", 4, LDM_SHAPE(5, 4, 3, 3)),
                   ldm_act(g, "w2", 4, LDM_SHAPE(5, 3, 3, 3)),  ldm_act(g, "b", 1, LDM_SHAPE(4)),
                   ldm_act(g, "w9", 4, LDM_SHAPE(5, 3, 11, 11)), ldm_act(g, "flat", 1, LDM_SHAPE(10))};
  return in;
}
#define REFUSES(call, ...) GC_REFUSES(conv_probe, conv_probe_inputs, call, __VA_ARGS__)
START_TEST(builder_errors) {
  REFUSES(ldm_conv2d(&g, in.x, in.w, -1, 1, 1), "w");
  REFUSES(ldm_conv2d(&g, in.x, in.w2, in.b, 1, 1), "bias");
  REFUSES(ldm_conv2d(&g, in.x, in.w2, -1, 0, 1), NULL);
  REFUSES(ldm_conv2d(&g, in.x, in.big, -1, 1, 1), NULL); /* 8 + 2 < 11 */
  REFUSES(ldm_upsample2x(&g, in.flat), NULL);
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  conv_probe in = conv_probe_inputs(&g);
  ck_assert_int_ge(ldm_conv2d(&g, in.x, in.w2, -1, 2, 1), 0);
  ck_assert_int_eq(ldm_graph_status(&g), LDM_OK);
  ldm_graph_free(&g);
}
END_TEST

/* The models use the fused epilogue, and their parameters keep the names and initial values they had when
 * the ResBlocks and attention still added with separate broadcast/add nodes: FNV-1a over every parameter's
 * name and initial bytes (seed 1234), the values computed with the unfused builders (docs/perf.md, change 6) */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}
static uint64_t model_init_hash(const char *cfgname, int unet) {
  ldm_model_cfg c;
  ck_assert_int_eq(ldm_model_config(cfgname, &c), LDM_OK);
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int B = 2, out;
  if (unet) {
    int r = ldm_latent_res(&c);
    int x = ldm_act(&g, "x", 4, LDM_SHAPE(B, c.z, r, r));
    int t = ldm_tensor_new(&g, "t", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
    int y = ldm_tensor_new(&g, "y", LDM_ARENA_ACT, LDM_U32, 1, LDM_SHAPE(B));
    out = ldm_unet(&g, &c, x, t, y);
  } else {
    int x = ldm_act(&g, "x", 4, LDM_SHAPE(B, c.cin, c.res, c.res));
    int mu, lv;
    ldm_vae_encode(&g, &c, x, &mu, &lv);
    out = ldm_vae_decode(&g, &c, mu);
    ldm_keep(&g, lv);
  }
  ldm_keep(&g, out);
  ck_assert_msg(ldm_graph_plan(&g) == LDM_OK, "%s", ldm_last_error());
  void *img = calloc(1, (size_t)g.arena_size[LDM_ARENA_PARAM] + 64);
  ck_assert_ptr_nonnull(img);
  ck_assert_int_eq(ldm_params_init(&g, 1234, img), LDM_OK);
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < g.nt; i++) {
    const ldm_tensor *t = &g.t[i];
    if (t->arena != LDM_ARENA_PARAM || t->view_of != -1) continue;
    h = fnv(h, t->name, strlen(t->name));
    h = fnv(h, (char *)img + t->offset, (size_t)t->numel * 4);
  }
  free(img);
  ldm_graph_free(&g);
  return h;
}
START_TEST(model_params_keep_initial_values) {
  ck_assert_uint_eq(model_init_hash("tiny", 0), 0xe0068e0268899209ull);
  ck_assert_uint_eq(model_init_hash("tiny", 1), 0xb3e9b4221ecc46b6ull);
  ck_assert_uint_eq(model_init_hash("fmnist", 0), 0x3e0d3120096d13b8ull);
  ck_assert_uint_eq(model_init_hash("fmnist", 1), 0xa42cc8ae29e54196ull);
}
END_TEST

static void add_tests(TCase *tc) {
  tcase_add_test(tc, grad_conv_k3_s1_p1);
  tcase_add_test(tc, grad_conv_k3_s2_p1);
  tcase_add_test(tc, grad_conv_k1_s1_p0);
  tcase_add_test(tc, grad_conv_split_weight_and_two_consumers);
  tcase_add_test(tc, grad_conv_epilogue);
  tcase_add_test(tc, grad_upsample2x);
  tcase_add_test(tc, conv_matches_direct_loops);
  tcase_add_test(tc, upsample_matches_direct_loops);
  tcase_add_test(tc, builder_errors);
  tcase_add_test(tc, model_params_keep_initial_values);
}

int main(void) { return gc_run_suite("ops-conv", "conv", 300, add_tests); }
