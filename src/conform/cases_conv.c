/* Conformance cases of the convolution family (odd shapes on purpose: sizes that are not multiples of the
 * 64x64x16 tiles, Cin*k*k not a multiple of 16, odd and even inputs to stride 2, non-square images).
 * The default run launches the tiled shaders; the low-limits run (4 KiB shared memory) the naive ones. */
#include <string.h>

#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ops/conv.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)
#define TRY_T(x)                                                                                   \
  do {                                                                                             \
    if ((x) < 0) return LDM_ERR_INTERNAL;                                                          \
  } while (0)

/* arg: N Cin H W Cout K(k,stride,pad) flags(bias 1, accumulate 2) splits */
#define K(k, s, p) ((k) | (s) << 8 | (p) << 16)
enum { BIAS = 1, ACC = 2 };

static ldm_pc_conv2d pc_of(const int *a) {
  uint32_t k = (uint32_t)a[5] & 255u, s = ((uint32_t)a[5] >> 8) & 255u, p = (uint32_t)a[5] >> 16;
  uint32_t Ho = ((uint32_t)a[2] + 2 * p - k) / s + 1, Wo = ((uint32_t)a[3] + 2 * p - k) / s + 1;
  ldm_pc_conv2d pc = {(uint32_t)a[0], (uint32_t)a[1], (uint32_t)a[2], (uint32_t)a[3], (uint32_t)a[4], Ho, Wo,
                      k, s, p, (uint32_t)(a[6] & BIAS), (uint32_t)!!(a[6] & ACC), 1, 0};
  return pc;
}

/* conv2d forward into a guarded output (the builder's own output would have no guard) */
static ldm_status c_conv2d(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  ldm_pc_conv2d pc = pc_of(a);
  int x = ldm_conf_input(cc, g, "x", 4, S(pc.N, pc.Cin, pc.H, pc.W), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 4, S(pc.Cout, pc.Cin, pc.k, pc.k), -0.5f, 0.5f);
  int b = pc.bias ? ldm_conf_input(cc, g, "bias", 1, S(pc.Cout), -1, 1) : x;
  int y = ldm_conf_output(cc, g, "y", 4, S(pc.N, pc.Cout, pc.Ho, pc.Wo));
  TRY_T(x);
  TRY_T(w);
  TRY_T(b);
  TRY_T(y);
  TRY_T(ldm_node_add(g, LDM_OP_conv2d, (int[]){x, w, b}, 3, &y, 1, &pc, sizeof pc, "conv2d"));
  return LDM_OK;
}

/* the public builder (output compared without a guard) */
static ldm_status c_conv2d_builder(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  ldm_pc_conv2d pc = pc_of(a);
  int x = ldm_conf_input(cc, g, "x", 4, S(pc.N, pc.Cin, pc.H, pc.W), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 4, S(pc.Cout, pc.Cin, pc.k, pc.k), -0.5f, 0.5f);
  int b = pc.bias ? ldm_conf_input(cc, g, "bias", 1, S(pc.Cout), -1, 1) : -1;
  TRY_T(x);
  TRY_T(w);
  int y = ldm_conv2d(g, x, w, b, (int)pc.stride, (int)pc.pad);
  TRY_T(y);
  ldm_conf_compare(cc, g, y);
  return LDM_OK;
}

static ldm_status c_conv2d_backward_data(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  ldm_pc_conv2d pc = pc_of(a);
  int dy = ldm_conf_input(cc, g, "dy", 4, S(pc.N, pc.Cout, pc.Ho, pc.Wo), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 4, S(pc.Cout, pc.Cin, pc.k, pc.k), -0.5f, 0.5f);
  int dx = ldm_conf_output(cc, g, "dx", 4, S(pc.N, pc.Cin, pc.H, pc.W));
  TRY_T(dy);
  TRY_T(w);
  TRY_T(dx);
  TRY_T(ldm_conv2d_backward_data_node(g, dy, w, dx, &pc, (int)pc.accumulate));
  return LDM_OK;
}

static ldm_status c_conv2d_backward_weight(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  ldm_pc_conv2d pc = pc_of(a);
  uint32_t splits = a[7] > 0 ? (uint32_t)a[7] : 1u;
  int dy = ldm_conf_input(cc, g, "dy", 4, S(pc.N, pc.Cout, pc.Ho, pc.Wo), -1, 1);
  int x = ldm_conf_input(cc, g, "x", 4, S(pc.N, pc.Cin, pc.H, pc.W), -1, 1);
  int dw = ldm_conf_output(cc, g, "dw", 2, S(splits, (int64_t)pc.Cout * pc.Cin * pc.k * pc.k));
  TRY_T(dy);
  TRY_T(x);
  TRY_T(dw);
  TRY_T(ldm_conv2d_backward_weight_node(g, dy, x, dw, &pc, splits, (int)pc.accumulate));
  return LDM_OK;
}

/* arg: N C H W accumulate */
static ldm_status c_upsample2x(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 4, S(a[0], a[1], a[2], a[3]), -1, 1);
  int y = ldm_conf_output(cc, g, "y", 4, S(a[0], a[1], 2 * a[2], 2 * a[3]));
  TRY_T(x);
  TRY_T(y);
  ldm_pc_upsample2x pc = {(uint32_t)(a[0] * a[1]), (uint32_t)a[2], (uint32_t)a[3], (uint32_t)a[4]};
  TRY_T(ldm_node_add(g, LDM_OP_upsample2x, &x, 1, &y, 1, &pc, sizeof pc, "upsample2x"));
  return LDM_OK;
}
static ldm_status c_upsample2x_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int dy = ldm_conf_input(cc, g, "dy", 4, S(a[0], a[1], 2 * a[2], 2 * a[3]), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 4, S(a[0], a[1], a[2], a[3]));
  TRY_T(dy);
  TRY_T(dx);
  TRY_T(ldm_upsample2x_backward_node(g, dy, dx, a[4]));
  return LDM_OK;
}

const ldm_conf_case ldm_conf_cases_conv[] = {
    /* forward */
    {"conv2d", "N2 3->5 7x7 k3 s1 p1 bias", c_conv2d, {2, 3, 7, 7, 5, K(3, 1, 1), BIAS}, 0, false},
    {"conv2d", "N2 4->6 7x7 k3 s2 p1 bias (->4x4)", c_conv2d, {2, 4, 7, 7, 6, K(3, 2, 1), BIAS}, 0, false},
    {"conv2d", "N2 4->6 8x8 k3 s2 p1 (->4x4)", c_conv2d, {2, 4, 8, 8, 6, K(3, 2, 1), 0}, 0, false},
    {"conv2d", "N2 37->19 5x5 k1 s1 p0 bias", c_conv2d, {2, 37, 5, 5, 19, K(1, 1, 0), BIAS}, 0, false},
    {"conv2d", "N3 8->9 6x5 k3 s1 p1 no bias", c_conv2d, {3, 8, 6, 5, 9, K(3, 1, 1), 0}, 0, false},
    {"conv2d", "N4 64->64 8x8 k3 s1 p1 bias", c_conv2d, {4, 64, 8, 8, 64, K(3, 1, 1), BIAS}, 0, false},
    {"conv2d", "N2 5->7 9x6 k3 s1 p0 bias", c_conv2d, {2, 5, 9, 6, 7, K(3, 1, 0), BIAS}, 0, false},
    {"conv2d", "N1 3->4 6x7 k5 s2 p2 bias", c_conv2d, {1, 3, 6, 7, 4, K(5, 2, 2), BIAS}, 0, false},
    {"conv2d", "N3 70->66 5x5 k3 s1 p1 bias acc", c_conv2d, {3, 70, 5, 5, 66, K(3, 1, 1), BIAS | ACC}, 0, false},
    {"conv2d", "builder N2 6->3 9x9 k3 s2 p1 bias", c_conv2d_builder, {2, 6, 9, 9, 3, K(3, 2, 1), BIAS}, 0, false},
    {"conv2d", "N1 4->6 10x9 k3 s3 p2 bias", c_conv2d, {1, 4, 10, 9, 6, K(3, 3, 2), BIAS}, 0, false},
    {"conv2d", "N32 128->128 16x16 k3 s1 p1 bias", c_conv2d, {32, 128, 16, 16, 128, K(3, 1, 1), BIAS}, 0, true},
    {"conv2d", "N128 64->64 16x16 k3 s1 p1 bias", c_conv2d, {128, 64, 16, 16, 64, K(3, 1, 1), BIAS}, 0, true},
    /* backward data */
    {"conv2d_backward_data", "N2 3->5 7x7 k3 s1 p1", c_conv2d_backward_data, {2, 3, 7, 7, 5, K(3, 1, 1), 0}, 0, false},
    {"conv2d_backward_data", "N2 4->6 7x7 k3 s2 p1 acc", c_conv2d_backward_data, {2, 4, 7, 7, 6, K(3, 2, 1), ACC}, 0,
     false},
    {"conv2d_backward_data", "N2 4->6 8x8 k3 s2 p1", c_conv2d_backward_data, {2, 4, 8, 8, 6, K(3, 2, 1), 0}, 0, false},
    {"conv2d_backward_data", "N2 37->19 5x5 k1 s1 p0 acc", c_conv2d_backward_data, {2, 37, 5, 5, 19, K(1, 1, 0), ACC},
     0, false},
    {"conv2d_backward_data", "N3 8->9 6x5 k3 s1 p1", c_conv2d_backward_data, {3, 8, 6, 5, 9, K(3, 1, 1), 0}, 0, false},
    {"conv2d_backward_data", "N4 64->64 8x8 k3 s1 p1 acc", c_conv2d_backward_data, {4, 64, 8, 8, 64, K(3, 1, 1), ACC},
     0, false},
    {"conv2d_backward_data", "N2 5->7 9x6 k3 s1 p0", c_conv2d_backward_data, {2, 5, 9, 6, 7, K(3, 1, 0), 0}, 0, false},
    {"conv2d_backward_data", "N1 3->4 6x7 k5 s2 p2 acc", c_conv2d_backward_data, {1, 3, 6, 7, 4, K(5, 2, 2), ACC}, 0,
     false},
    {"conv2d_backward_data", "N3 70->66 5x5 k3 s1 p1", c_conv2d_backward_data, {3, 70, 5, 5, 66, K(3, 1, 1), 0}, 0,
     false},
    {"conv2d_backward_data", "N1 4->6 10x9 k3 s3 p2 acc", c_conv2d_backward_data, {1, 4, 10, 9, 6, K(3, 3, 2), ACC}, 0,
     false},
    {"conv2d_backward_data", "N32 128->128 16x16 k3 s1 p1", c_conv2d_backward_data,
     {32, 128, 16, 16, 128, K(3, 1, 1), 0}, 0, true},
    {"conv2d_backward_data", "N128 64->64 16x16 k3 s1 p1", c_conv2d_backward_data, {128, 64, 16, 16, 64, K(3, 1, 1), 0},
     0, true},
    /* backward weight (arg[7] = depth splits) */
    {"conv2d_backward_weight", "N2 3->5 7x7 k3 s1 p1", c_conv2d_backward_weight, {2, 3, 7, 7, 5, K(3, 1, 1), 0, 1}, 0,
     false},
    {"conv2d_backward_weight", "N2 4->6 7x7 k3 s2 p1 acc", c_conv2d_backward_weight,
     {2, 4, 7, 7, 6, K(3, 2, 1), ACC, 1}, 0, false},
    {"conv2d_backward_weight", "N2 4->6 8x8 k3 s2 p1 3 splits", c_conv2d_backward_weight,
     {2, 4, 8, 8, 6, K(3, 2, 1), 0, 3}, 0, false},
    {"conv2d_backward_weight", "N2 37->19 5x5 k1 s1 p0 acc", c_conv2d_backward_weight,
     {2, 37, 5, 5, 19, K(1, 1, 0), ACC, 1}, 0, false},
    {"conv2d_backward_weight", "N3 8->9 6x5 k3 s1 p1 4 splits", c_conv2d_backward_weight,
     {3, 8, 6, 5, 9, K(3, 1, 1), 0, 4}, 0, false},
    {"conv2d_backward_weight", "N4 64->64 8x8 k3 s1 p1 acc", c_conv2d_backward_weight,
     {4, 64, 8, 8, 64, K(3, 1, 1), ACC, 1}, 0, false},
    {"conv2d_backward_weight", "N4 64->64 8x8 k3 s1 p1 5 splits", c_conv2d_backward_weight,
     {4, 64, 8, 8, 64, K(3, 1, 1), 0, 5}, 0, false},
    {"conv2d_backward_weight", "N2 5->7 9x6 k3 s1 p0", c_conv2d_backward_weight, {2, 5, 9, 6, 7, K(3, 1, 0), 0, 1}, 0,
     false},
    {"conv2d_backward_weight", "N1 3->4 6x7 k5 s2 p2 acc", c_conv2d_backward_weight,
     {1, 3, 6, 7, 4, K(5, 2, 2), ACC, 1}, 0, false},
    {"conv2d_backward_weight", "N3 70->66 5x5 k3 s1 p1 acc", c_conv2d_backward_weight,
     {3, 70, 5, 5, 66, K(3, 1, 1), ACC, 1}, 0, false},
    {"conv2d_backward_weight", "N1 4->6 10x9 k3 s3 p2 2 splits", c_conv2d_backward_weight,
     {1, 4, 10, 9, 6, K(3, 3, 2), 0, 2}, 0, false},
    {"conv2d_backward_weight", "N32 128->128 16x16 k3 s1 p1 8 splits", c_conv2d_backward_weight,
     {32, 128, 16, 16, 128, K(3, 1, 1), 0, 8}, 0, true},
    {"conv2d_backward_weight", "N128 64->64 16x16 k3 s1 p1 16 splits", c_conv2d_backward_weight,
     {128, 64, 16, 16, 64, K(3, 1, 1), 0, 16}, 0, true},
    /* upsample: N C H W accumulate */
    {"upsample2x", "N1 C1 1x1", c_upsample2x, {1, 1, 1, 1, 0}, 0, false},
    {"upsample2x", "N2 C3 5x7", c_upsample2x, {2, 3, 5, 7, 0}, 0, false},
    {"upsample2x", "N3 C5 4x3 acc", c_upsample2x, {3, 5, 4, 3, 1}, 0, false},
    {"upsample2x_backward", "N1 C1 1x1", c_upsample2x_backward, {1, 1, 1, 1, 0}, 0, false},
    {"upsample2x_backward", "N2 C3 5x7", c_upsample2x_backward, {2, 3, 5, 7, 0}, 0, false},
    {"upsample2x_backward", "N3 C5 4x3 acc", c_upsample2x_backward, {3, 5, 4, 3, 1}, 0, false},
    {"upsample2x_backward", "N16 C64 16x16", c_upsample2x_backward, {16, 64, 16, 16, 0}, 0, true},
};
const int ldm_conf_cases_conv_n = (int)(sizeof ldm_conf_cases_conv / sizeof ldm_conf_cases_conv[0]);
