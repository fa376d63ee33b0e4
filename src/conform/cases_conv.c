/* Conformance cases of the convolution family (odd shapes on purpose: sizes that are not multiples of the
 * 64x64x16 tiles, Cin*k*k not a multiple of 16, odd and even inputs to stride 2, non-square images; the
 * "tiles" cases have rows and columns past one 128x128 tile, and rows under 32 with columns past several
 * 32x128 tiles, each with a partial last tile, for the tile variants that LDM_VK_TILE forces).
 * The default run launches the tiled shaders; the low-limits run (4 KiB shared memory) the naive ones. */
#include <string.h>

#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ops/conv.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)

/* reads N, C (= Cin), H, W, Cout, k, stride, pad, bias, acc; backward weight also splits; the forward also
 * kind, the fused epilogue's terms (EPI_CHAN: chan [N, Cout], EPI_RES: res [N, Cout, Ho, Wo]) */
enum { EPI_CHAN = 1, EPI_RES = 2 };

static ldm_pc_conv2d pc_of(const ldm_conf_args *a) {
  uint32_t k = (uint32_t)a->k, s = (uint32_t)a->stride, p = (uint32_t)a->pad;
  uint32_t Ho = ((uint32_t)a->H + 2 * p - k) / s + 1, Wo = ((uint32_t)a->W + 2 * p - k) / s + 1;
  ldm_pc_conv2d pc = {(uint32_t)a->N, (uint32_t)a->C, (uint32_t)a->H, (uint32_t)a->W, (uint32_t)a->Cout, Ho, Wo,
                      k, s, p, (uint32_t)!!a->bias, (uint32_t)a->acc, 1, 0, (uint32_t)!!(a->kind & EPI_CHAN),
                      (uint32_t)!!(a->kind & EPI_RES)};
  return pc;
}

/* conv2d forward into a guarded output (the builder's own output would have no guard) */
static ldm_status c_conv2d(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  ldm_pc_conv2d pc = pc_of(a);
  int x = ldm_conf_input(cc, g, "x", 4, S(pc.N, pc.Cin, pc.H, pc.W), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 4, S(pc.Cout, pc.Cin, pc.k, pc.k), -0.5f, 0.5f);
  int b = pc.bias ? ldm_conf_input(cc, g, "bias", 1, S(pc.Cout), -1, 1) : x;
  int ch = pc.chan ? ldm_conf_input(cc, g, "chan", 2, S(pc.N, pc.Cout), -1, 1) : x;
  int r = pc.res ? ldm_conf_input(cc, g, "res", 4, S(pc.N, pc.Cout, pc.Ho, pc.Wo), -1, 1) : x;
  int y = ldm_conf_output(cc, g, "y", 4, S(pc.N, pc.Cout, pc.Ho, pc.Wo));
  ldm_node_add(g, LDM_OP_conv2d, (int[]){x, w, b, ch, r}, 5, &y, 1, &pc, sizeof pc, "conv2d");
  return ldm_graph_status(g);
}

/* the public builder (output compared without a guard) */
static ldm_status c_conv2d_builder(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  ldm_pc_conv2d pc = pc_of(a);
  int x = ldm_conf_input(cc, g, "x", 4, S(pc.N, pc.Cin, pc.H, pc.W), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 4, S(pc.Cout, pc.Cin, pc.k, pc.k), -0.5f, 0.5f);
  int b = pc.bias ? ldm_conf_input(cc, g, "bias", 1, S(pc.Cout), -1, 1) : -1;
  int ch = pc.chan ? ldm_conf_input(cc, g, "chan", 2, S(pc.N, pc.Cout), -1, 1) : -1;
  int r = pc.res ? ldm_conf_input(cc, g, "res", 4, S(pc.N, pc.Cout, pc.Ho, pc.Wo), -1, 1) : -1;
  int y = ldm_conv2d_ex(g, x, w, b, r, ch, (int)pc.stride, (int)pc.pad);
  ldm_conf_compare(cc, g, y);
  return ldm_graph_status(g);
}

static ldm_status c_conv2d_backward_data(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  ldm_pc_conv2d pc = pc_of(a);
  int dy = ldm_conf_input(cc, g, "dy", 4, S(pc.N, pc.Cout, pc.Ho, pc.Wo), -1, 1);
  int w = ldm_conf_input(cc, g, "w", 4, S(pc.Cout, pc.Cin, pc.k, pc.k), -0.5f, 0.5f);
  int dx = ldm_conf_output(cc, g, "dx", 4, S(pc.N, pc.Cin, pc.H, pc.W));
  ldm_conv2d_backward_data_node(g, dy, w, dx, &pc, (int)pc.accumulate);
  return ldm_graph_status(g);
}

static ldm_status c_conv2d_backward_weight(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  ldm_pc_conv2d pc = pc_of(a);
  uint32_t splits = a->splits > 0 ? (uint32_t)a->splits : 1u;
  int dy = ldm_conf_input(cc, g, "dy", 4, S(pc.N, pc.Cout, pc.Ho, pc.Wo), -1, 1);
  int x = ldm_conf_input(cc, g, "x", 4, S(pc.N, pc.Cin, pc.H, pc.W), -1, 1);
  int dw = ldm_conf_output(cc, g, "dw", 2, S(splits, (int64_t)pc.Cout * pc.Cin * pc.k * pc.k));
  ldm_conv2d_backward_weight_node(g, dy, x, dw, &pc, splits, (int)pc.accumulate);
  return ldm_graph_status(g);
}

/* reads N C H W acc */
static ldm_status c_upsample2x(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 4, S(a->N, a->C, a->H, a->W), -1, 1);
  int y = ldm_conf_output(cc, g, "y", 4, S(a->N, a->C, 2 * a->H, 2 * a->W));
  ldm_pc_upsample2x pc = {(uint32_t)(a->N * a->C), (uint32_t)a->H, (uint32_t)a->W, (uint32_t)a->acc};
  ldm_node_add(g, LDM_OP_upsample2x, &x, 1, &y, 1, &pc, sizeof pc, "upsample2x");
  return ldm_graph_status(g);
}
static ldm_status c_upsample2x_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int dy = ldm_conf_input(cc, g, "dy", 4, S(a->N, a->C, 2 * a->H, 2 * a->W), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 4, S(a->N, a->C, a->H, a->W));
  ldm_upsample2x_backward_node(g, dy, dx, a->acc);
  return ldm_graph_status(g);
}

const ldm_conf_case ldm_conf_cases_conv[] = {
    /* forward */
    {.op = "conv2d", .shape = "N2 3->5 7x7 k3 s1 p1 bias", .build = c_conv2d, .a = {.N = 2, .C = 3, .H = 7, .W = 7, .Cout = 5, .k = 3, .stride = 1, .pad = 1, .bias = 1}},
    {.op = "conv2d", .shape = "N2 4->6 7x7 k3 s2 p1 bias (->4x4)", .build = c_conv2d, .a = {.N = 2, .C = 4, .H = 7, .W = 7, .Cout = 6, .k = 3, .stride = 2, .pad = 1, .bias = 1}},
    {.op = "conv2d", .shape = "N2 4->6 8x8 k3 s2 p1 (->4x4)", .build = c_conv2d, .a = {.N = 2, .C = 4, .H = 8, .W = 8, .Cout = 6, .k = 3, .stride = 2, .pad = 1}},
    {.op = "conv2d", .shape = "N2 37->19 5x5 k1 s1 p0 bias", .build = c_conv2d, .a = {.N = 2, .C = 37, .H = 5, .W = 5, .Cout = 19, .k = 1, .stride = 1, .pad = 0, .bias = 1}},
    {.op = "conv2d", .shape = "N3 8->9 6x5 k3 s1 p1 no bias", .build = c_conv2d, .a = {.N = 3, .C = 8, .H = 6, .W = 5, .Cout = 9, .k = 3, .stride = 1, .pad = 1}},
    {.op = "conv2d", .shape = "N4 64->64 8x8 k3 s1 p1 bias", .build = c_conv2d, .a = {.N = 4, .C = 64, .H = 8, .W = 8, .Cout = 64, .k = 3, .stride = 1, .pad = 1, .bias = 1}},
    {.op = "conv2d", .shape = "N2 5->7 9x6 k3 s1 p0 bias", .build = c_conv2d, .a = {.N = 2, .C = 5, .H = 9, .W = 6, .Cout = 7, .k = 3, .stride = 1, .pad = 0, .bias = 1}},
    {.op = "conv2d", .shape = "N1 3->4 6x7 k5 s2 p2 bias", .build = c_conv2d, .a = {.N = 1, .C = 3, .H = 6, .W = 7, .Cout = 4, .k = 5, .stride = 2, .pad = 2, .bias = 1}},
    {.op = "conv2d", .shape = "N3 70->66 5x5 k3 s1 p1 bias acc", .build = c_conv2d, .a = {.N = 3, .C = 70, .H = 5, .W = 5, .Cout = 66, .k = 3, .stride = 1, .pad = 1, .bias = 1, .acc = true}},
    {.op = "conv2d", .shape = "builder N2 6->3 9x9 k3 s2 p1 bias", .build = c_conv2d_builder, .a = {.N = 2, .C = 6, .H = 9, .W = 9, .Cout = 3, .k = 3, .stride = 2, .pad = 1, .bias = 1}},
    {.op = "conv2d", .shape = "N1 4->6 10x9 k3 s3 p2 bias", .build = c_conv2d, .a = {.N = 1, .C = 4, .H = 10, .W = 9, .Cout = 6, .k = 3, .stride = 3, .pad = 2, .bias = 1}},
    {.op = "conv2d", .shape = "N32 128->128 16x16 k3 s1 p1 bias", .build = c_conv2d, .a = {.N = 32, .C = 128, .H = 16, .W = 16, .Cout = 128, .k = 3, .stride = 1, .pad = 1, .bias = 1}, .full_only = true},
    {.op = "conv2d", .shape = "N128 64->64 16x16 k3 s1 p1 bias", .build = c_conv2d, .a = {.N = 128, .C = 64, .H = 16, .W = 16, .Cout = 64, .k = 3, .stride = 1, .pad = 1, .bias = 1}, .full_only = true},
    /* forward with the fused epilogue: chan only, res only, both; with and without bias, accumulate, the
     * builder, stride 2, a 1x1 kernel and more than one 64x64 tile */
    {.op = "conv2d", .shape = "N3 5->7 9x6 k3 s1 p1 bias chan", .build = c_conv2d, .a = {.N = 3, .C = 5, .H = 9, .W = 6, .Cout = 7, .k = 3, .stride = 1, .pad = 1, .bias = 1, .kind = EPI_CHAN}},
    {.op = "conv2d", .shape = "N2 6->5 7x7 k3 s2 p1 chan (->4x4)", .build = c_conv2d, .a = {.N = 2, .C = 6, .H = 7, .W = 7, .Cout = 5, .k = 3, .stride = 2, .pad = 1, .kind = EPI_CHAN}},
    {.op = "conv2d", .shape = "N3 37->19 5x7 k1 s1 p0 bias res", .build = c_conv2d, .a = {.N = 3, .C = 37, .H = 5, .W = 7, .Cout = 19, .k = 1, .stride = 1, .pad = 0, .bias = 1, .kind = EPI_RES}},
    {.op = "conv2d", .shape = "N2 4->6 8x7 k3 s2 p1 res (->4x4)", .build = c_conv2d, .a = {.N = 2, .C = 4, .H = 8, .W = 7, .Cout = 6, .k = 3, .stride = 2, .pad = 1, .kind = EPI_RES}},
    {.op = "conv2d", .shape = "N3 9->70 7x5 k3 s1 p1 bias chan res", .build = c_conv2d, .a = {.N = 3, .C = 9, .H = 7, .W = 5, .Cout = 70, .k = 3, .stride = 1, .pad = 1, .bias = 1, .kind = EPI_CHAN | EPI_RES}},
    {.op = "conv2d", .shape = "N5 3->2 7x9 k3 s1 p1 bias chan res acc", .build = c_conv2d, .a = {.N = 5, .C = 3, .H = 7, .W = 9, .Cout = 2, .k = 3, .stride = 1, .pad = 1, .bias = 1, .acc = true, .kind = EPI_CHAN | EPI_RES}},
    {.op = "conv2d", .shape = "builder N2 6->3 9x9 k3 s2 p1 bias chan res", .build = c_conv2d_builder, .a = {.N = 2, .C = 6, .H = 9, .W = 9, .Cout = 3, .k = 3, .stride = 2, .pad = 1, .bias = 1, .kind = EPI_CHAN | EPI_RES}},
    {.op = "conv2d", .shape = "builder N3 11->13 6x5 k1 s1 p0 res", .build = c_conv2d_builder, .a = {.N = 3, .C = 11, .H = 6, .W = 5, .Cout = 13, .k = 1, .stride = 1, .pad = 0, .kind = EPI_RES}},
    {.op = "conv2d", .shape = "tiles N2 20->150 9x8 k3 s1 p1 bias", .build = c_conv2d, .a = {.N = 2, .C = 20, .H = 9, .W = 8, .Cout = 150, .k = 3, .stride = 1, .pad = 1, .bias = 1}},
    {.op = "conv2d", .shape = "tiles N3 24->29 11x13 k3 s1 p1 bias", .build = c_conv2d, .a = {.N = 3, .C = 24, .H = 11, .W = 13, .Cout = 29, .k = 3, .stride = 1, .pad = 1, .bias = 1}},
    /* rows of 16 and 32 pixels: the CPU twin reads these from the padded planes in place (fwd_direct_ok) */
    {.op = "conv2d", .shape = "N2 9->11 4x16 k3 s1 p1 bias chan res acc", .build = c_conv2d, .a = {.N = 2, .C = 9, .H = 4, .W = 16, .Cout = 11, .k = 3, .stride = 1, .pad = 1, .bias = 1, .acc = true, .kind = EPI_CHAN | EPI_RES}},
    {.op = "conv2d", .shape = "N1 8->17 3x32 k3 s1 p1 res", .build = c_conv2d, .a = {.N = 1, .C = 8, .H = 3, .W = 32, .Cout = 17, .k = 3, .stride = 1, .pad = 1, .kind = EPI_RES}},
    /* split-K (the builder gives these S_max > 1: workspace and counter outputs; LDM_VK_SPLITK forces S) */
    {.op = "conv2d", .shape = "split builder N3 70->66 5x5 k3 s1 p1 bias", .build = c_conv2d_builder, .a = {.N = 3, .C = 70, .H = 5, .W = 5, .Cout = 66, .k = 3, .stride = 1, .pad = 1, .bias = 1}},
    {.op = "conv2d", .shape = "split builder N2 37->19 7x5 k3 s1 p1 bias chan res", .build = c_conv2d_builder, .a = {.N = 2, .C = 37, .H = 7, .W = 5, .Cout = 19, .k = 3, .stride = 1, .pad = 1, .bias = 1, .kind = EPI_CHAN | EPI_RES}},
    {.op = "conv2d", .shape = "split builder N4 64->130 9x7 k3 s2 p1 res (->5x4)", .build = c_conv2d_builder, .a = {.N = 4, .C = 64, .H = 9, .W = 7, .Cout = 130, .k = 3, .stride = 2, .pad = 1, .kind = EPI_RES}},
    /* backward data */
    {.op = "conv2d_backward_data", .shape = "N2 3->5 7x7 k3 s1 p1", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 3, .H = 7, .W = 7, .Cout = 5, .k = 3, .stride = 1, .pad = 1}},
    {.op = "conv2d_backward_data", .shape = "N2 4->6 7x7 k3 s2 p1 acc", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 4, .H = 7, .W = 7, .Cout = 6, .k = 3, .stride = 2, .pad = 1, .acc = true}},
    {.op = "conv2d_backward_data", .shape = "N2 4->6 8x8 k3 s2 p1", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 4, .H = 8, .W = 8, .Cout = 6, .k = 3, .stride = 2, .pad = 1}},
    {.op = "conv2d_backward_data", .shape = "N2 37->19 5x5 k1 s1 p0 acc", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 37, .H = 5, .W = 5, .Cout = 19, .k = 1, .stride = 1, .pad = 0, .acc = true}},
    {.op = "conv2d_backward_data", .shape = "N3 8->9 6x5 k3 s1 p1", .build = c_conv2d_backward_data, .a = {.N = 3, .C = 8, .H = 6, .W = 5, .Cout = 9, .k = 3, .stride = 1, .pad = 1}},
    {.op = "conv2d_backward_data", .shape = "N4 64->64 8x8 k3 s1 p1 acc", .build = c_conv2d_backward_data, .a = {.N = 4, .C = 64, .H = 8, .W = 8, .Cout = 64, .k = 3, .stride = 1, .pad = 1, .acc = true}},
    {.op = "conv2d_backward_data", .shape = "N2 5->7 9x6 k3 s1 p0", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 5, .H = 9, .W = 6, .Cout = 7, .k = 3, .stride = 1, .pad = 0}},
    {.op = "conv2d_backward_data", .shape = "N1 3->4 6x7 k5 s2 p2 acc", .build = c_conv2d_backward_data, .a = {.N = 1, .C = 3, .H = 6, .W = 7, .Cout = 4, .k = 5, .stride = 2, .pad = 2, .acc = true}},
    {.op = "conv2d_backward_data", .shape = "N3 70->66 5x5 k3 s1 p1", .build = c_conv2d_backward_data, .a = {.N = 3, .C = 70, .H = 5, .W = 5, .Cout = 66, .k = 3, .stride = 1, .pad = 1}},
    {.op = "conv2d_backward_data", .shape = "N1 4->6 10x9 k3 s3 p2 acc", .build = c_conv2d_backward_data, .a = {.N = 1, .C = 4, .H = 10, .W = 9, .Cout = 6, .k = 3, .stride = 3, .pad = 2, .acc = true}},
    {.op = "conv2d_backward_data", .shape = "N32 128->128 16x16 k3 s1 p1", .build = c_conv2d_backward_data, .a = {.N = 32, .C = 128, .H = 16, .W = 16, .Cout = 128, .k = 3, .stride = 1, .pad = 1}, .full_only = true},
    {.op = "conv2d_backward_data", .shape = "N128 64->64 16x16 k3 s1 p1", .build = c_conv2d_backward_data, .a = {.N = 128, .C = 64, .H = 16, .W = 16, .Cout = 64, .k = 3, .stride = 1, .pad = 1}, .full_only = true},
    {.op = "conv2d_backward_data", .shape = "N2 13->9 6x16 k3 s1 p1 acc", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 13, .H = 6, .W = 16, .Cout = 9, .k = 3, .stride = 1, .pad = 1, .acc = true}},
    {.op = "conv2d_backward_data", .shape = "tiles N2 150->20 9x8 k3 s1 p1", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 150, .H = 9, .W = 8, .Cout = 20, .k = 3, .stride = 1, .pad = 1}},
    {.op = "conv2d_backward_data", .shape = "tiles N3 29->24 11x13 k3 s1 p1 acc", .build = c_conv2d_backward_data, .a = {.N = 3, .C = 29, .H = 11, .W = 13, .Cout = 24, .k = 3, .stride = 1, .pad = 1, .acc = true}},
    /* by output parity (conv2d_backward_data_sub, docs/perf.md "Change 15"): strides 2 and 3, odd sizes (classes
     * of unequal size), a 1x1 kernel whose odd classes no tap reaches (zero, or kept when accumulating), enough
     * input channels for a tile and few enough taps or columns that the plan does not split the depth */
    {.op = "conv2d_backward_data", .shape = "sub N2 24->8 9x7 k3 s2 p1", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 24, .H = 9, .W = 7, .Cout = 8, .k = 3, .stride = 2, .pad = 1}},
    {.op = "conv2d_backward_data", .shape = "sub N2 20->12 12x12 k3 s2 p1 acc", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 20, .H = 12, .W = 12, .Cout = 12, .k = 3, .stride = 2, .pad = 1, .acc = true}},
    {.op = "conv2d_backward_data", .shape = "sub N2 16->8 7x11 k5 s3 p2", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 16, .H = 7, .W = 11, .Cout = 8, .k = 5, .stride = 3, .pad = 2}},
    {.op = "conv2d_backward_data", .shape = "sub N2 12->10 6x6 k1 s2 p0 acc", .build = c_conv2d_backward_data, .a = {.N = 2, .C = 12, .H = 6, .W = 6, .Cout = 10, .k = 1, .stride = 2, .pad = 0, .acc = true}},
    {.op = "conv2d_backward_data", .shape = "sub N1 40->6 13x9 k3 s2 p0", .build = c_conv2d_backward_data, .a = {.N = 1, .C = 40, .H = 13, .W = 9, .Cout = 6, .k = 3, .stride = 2, .pad = 0}},
    /* backward weight (.splits = depth splits) */
    {.op = "conv2d_backward_weight", .shape = "N2 3->5 7x7 k3 s1 p1", .build = c_conv2d_backward_weight, .a = {.N = 2, .C = 3, .H = 7, .W = 7, .Cout = 5, .k = 3, .stride = 1, .pad = 1, .splits = 1}},
    {.op = "conv2d_backward_weight", .shape = "N2 4->6 7x7 k3 s2 p1 acc", .build = c_conv2d_backward_weight, .a = {.N = 2, .C = 4, .H = 7, .W = 7, .Cout = 6, .k = 3, .stride = 2, .pad = 1, .acc = true, .splits = 1}},
    {.op = "conv2d_backward_weight", .shape = "N2 4->6 8x8 k3 s2 p1 3 splits", .build = c_conv2d_backward_weight, .a = {.N = 2, .C = 4, .H = 8, .W = 8, .Cout = 6, .k = 3, .stride = 2, .pad = 1, .splits = 3}},
    {.op = "conv2d_backward_weight", .shape = "N2 37->19 5x5 k1 s1 p0 acc", .build = c_conv2d_backward_weight, .a = {.N = 2, .C = 37, .H = 5, .W = 5, .Cout = 19, .k = 1, .stride = 1, .pad = 0, .acc = true, .splits = 1}},
    {.op = "conv2d_backward_weight", .shape = "N3 8->9 6x5 k3 s1 p1 4 splits", .build = c_conv2d_backward_weight, .a = {.N = 3, .C = 8, .H = 6, .W = 5, .Cout = 9, .k = 3, .stride = 1, .pad = 1, .splits = 4}},
    {.op = "conv2d_backward_weight", .shape = "N4 64->64 8x8 k3 s1 p1 acc", .build = c_conv2d_backward_weight, .a = {.N = 4, .C = 64, .H = 8, .W = 8, .Cout = 64, .k = 3, .stride = 1, .pad = 1, .acc = true, .splits = 1}},
    {.op = "conv2d_backward_weight", .shape = "N4 64->64 8x8 k3 s1 p1 5 splits", .build = c_conv2d_backward_weight, .a = {.N = 4, .C = 64, .H = 8, .W = 8, .Cout = 64, .k = 3, .stride = 1, .pad = 1, .splits = 5}},
    {.op = "conv2d_backward_weight", .shape = "N2 5->7 9x6 k3 s1 p0", .build = c_conv2d_backward_weight, .a = {.N = 2, .C = 5, .H = 9, .W = 6, .Cout = 7, .k = 3, .stride = 1, .pad = 0, .splits = 1}},
    {.op = "conv2d_backward_weight", .shape = "N1 3->4 6x7 k5 s2 p2 acc", .build = c_conv2d_backward_weight, .a = {.N = 1, .C = 3, .H = 6, .W = 7, .Cout = 4, .k = 5, .stride = 2, .pad = 2, .acc = true, .splits = 1}},
    {.op = "conv2d_backward_weight", .shape = "N3 70->66 5x5 k3 s1 p1 acc", .build = c_conv2d_backward_weight, .a = {.N = 3, .C = 70, .H = 5, .W = 5, .Cout = 66, .k = 3, .stride = 1, .pad = 1, .acc = true, .splits = 1}},
    /* split-K inside the node (ldm_conv2d_weight_split_max > 1: workspace and counter outputs; docs/perf.md
     * "Change 10"), with and without the builder's splits */
    {.op = "conv2d_backward_weight", .shape = "split builder N4 8->28 16x16 k3 s1 p1 acc", .build = c_conv2d_backward_weight, .a = {.N = 4, .C = 8, .H = 16, .W = 16, .Cout = 28, .k = 3, .stride = 1, .pad = 1, .acc = true, .splits = 1}},
    {.op = "conv2d_backward_weight", .shape = "split builder N8 16->24 16x16 k3 s1 p1 3 splits", .build = c_conv2d_backward_weight, .a = {.N = 8, .C = 16, .H = 16, .W = 16, .Cout = 24, .k = 3, .stride = 1, .pad = 1, .splits = 3}},
    {.op = "conv2d_backward_weight", .shape = "split builder N6 40->70 9x11 k1 s1 p0 2 splits", .build = c_conv2d_backward_weight, .a = {.N = 6, .C = 40, .H = 9, .W = 11, .Cout = 70, .k = 1, .stride = 1, .pad = 0, .splits = 2}},
    {.op = "conv2d_backward_weight", .shape = "N1 4->6 10x9 k3 s3 p2 2 splits", .build = c_conv2d_backward_weight, .a = {.N = 1, .C = 4, .H = 10, .W = 9, .Cout = 6, .k = 3, .stride = 3, .pad = 2, .splits = 2}},
    {.op = "conv2d_backward_weight", .shape = "N32 128->128 16x16 k3 s1 p1 8 splits", .build = c_conv2d_backward_weight, .a = {.N = 32, .C = 128, .H = 16, .W = 16, .Cout = 128, .k = 3, .stride = 1, .pad = 1, .splits = 8}, .full_only = true},
    {.op = "conv2d_backward_weight", .shape = "N128 64->64 16x16 k3 s1 p1 16 splits", .build = c_conv2d_backward_weight, .a = {.N = 128, .C = 64, .H = 16, .W = 16, .Cout = 64, .k = 3, .stride = 1, .pad = 1, .splits = 16}, .full_only = true},
    {.op = "conv2d_backward_weight", .shape = "tiles N2 20->150 9x8 k3 s1 p1 2 splits", .build = c_conv2d_backward_weight, .a = {.N = 2, .C = 20, .H = 9, .W = 8, .Cout = 150, .k = 3, .stride = 1, .pad = 1, .splits = 2}},
    {.op = "conv2d_backward_weight", .shape = "tiles N3 24->29 11x13 k3 s1 p1 acc", .build = c_conv2d_backward_weight, .a = {.N = 3, .C = 24, .H = 11, .W = 13, .Cout = 29, .k = 3, .stride = 1, .pad = 1, .acc = true, .splits = 1}},
    /* upsample: N C H W accumulate */
    {.op = "upsample2x", .shape = "N1 C1 1x1", .build = c_upsample2x, .a = {.N = 1, .C = 1, .H = 1, .W = 1}},
    {.op = "upsample2x", .shape = "N2 C3 5x7", .build = c_upsample2x, .a = {.N = 2, .C = 3, .H = 5, .W = 7}},
    {.op = "upsample2x", .shape = "N3 C5 4x3 acc", .build = c_upsample2x, .a = {.N = 3, .C = 5, .H = 4, .W = 3, .acc = true}},
    {.op = "upsample2x_backward", .shape = "N1 C1 1x1", .build = c_upsample2x_backward, .a = {.N = 1, .C = 1, .H = 1, .W = 1}},
    {.op = "upsample2x_backward", .shape = "N2 C3 5x7", .build = c_upsample2x_backward, .a = {.N = 2, .C = 3, .H = 5, .W = 7}},
    {.op = "upsample2x_backward", .shape = "N3 C5 4x3 acc", .build = c_upsample2x_backward, .a = {.N = 3, .C = 5, .H = 4, .W = 3, .acc = true}},
    {.op = "upsample2x_backward", .shape = "N16 C64 16x16", .build = c_upsample2x_backward, .a = {.N = 16, .C = 64, .H = 16, .W = 16}, .full_only = true},
};
const int ldm_conf_cases_conv_n = (int)(sizeof ldm_conf_cases_conv / sizeof ldm_conf_cases_conv[0]);
