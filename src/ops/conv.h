/* The convolution family (src/ops/conv.c). Its push-constant blocks ldm_pc_conv2d (conv2d,
 * conv2d_backward_data and conv2d_backward_weight; tiled and naive variants share their source per mode,
 * see shaders/conv2d.comp and shaders/conv2d_naive.comp) and ldm_pc_upsample2x (upsample2x and its
 * backward) are generated from the op manifest src/ops/ops.def into ldm_ops_pc.h. */
#ifndef LDM_OPS_CONV_H
#define LDM_OPS_CONV_H
#include <stdbool.h>
#include <stdint.h>

#include "ldm/graph.h"
#include "ldm_ops_pc.h"

/* Backward nodes (used by the autodiff rule and by the conformance cases). `fwd` is the forward node's
 * block; dx = conv2d_backward_data(dy, w); out = conv2d_backward_weight(dy, x) with `splits` depth
 * ranges (out has splits * Cout * Cin*k*k elements). Return the output id or -1. */
int ldm_conv2d_backward_data_node(ldm_graph *g, int dy, int w, int dx, const ldm_pc_conv2d *fwd, int accumulate);
int ldm_conv2d_backward_weight_node(ldm_graph *g, int dy, int x, int out, const ldm_pc_conv2d *fwd, uint32_t splits,
                                    int accumulate);
/* The depth split the autodiff uses for a forward block (1 = no split): enough workgroups to fill a
 * large GPU, bounded scratch, at least 512 pixels per split. */
uint32_t ldm_conv2d_weight_splits(const ldm_pc_conv2d *fwd);
/* the implicit GEMM of convolution op (LDM_OP_conv2d, _backward_data, _backward_weight): output rows x cols,
 * reduction depth (shaders/conv2d.comp's header; backward_weight's depth: all N*Ho*Wo pixels, before splits) */
void ldm_conv2d_gemm_dims(const ldm_pc_conv2d *p, int op, int64_t *rows, int64_t *cols, int64_t *depth);
/* split-K of conv2d / conv2d_backward_data (bwd_data true): the device-independent most depth splits S_max of
 * the implicit GEMM (1 = never split); the plan picks S <= S_max per device (docs/perf.md "Change 7") */
uint32_t ldm_conv2d_split_max(const ldm_pc_conv2d *p, bool bwd_data);
/* conv2d_backward_weight's split-K on the device (docs/perf.md "Change 10"): the most inner splits per builder
 * split (1: none; else the node's outputs 1 and 2 are its workspace [splits x S_max, Cout, Cin k k] and counters) */
uint32_t ldm_conv2d_weight_split_max(const ldm_pc_conv2d *p);
/* the counters of a split node: one per 32 x 32 output tile (the smallest tile of every variant) */
int64_t ldm_conv2d_split_counters(const ldm_pc_conv2d *p, bool bwd_data);
/* conv2d_backward_data by output parity (conv2d_backward_data_sub; docs/perf.md "Change 15"): for stride S > 1
 * the dx pixels (ih, iw) of class cls = py * S + px (ih % S == py, iw % S == px) receive only the taps
 * kh = rh + S jh, kw = rw + S jw (rh = (py + pad) % S, rw likewise), so each class is a GEMM of its own with
 * *cols = N x ceil((H - py) / S) x ceil((W - px) / S) columns and *depth = Cout x nkh x nkw, no stride holes */
void ldm_conv2d_sub_class(const ldm_pc_conv2d *p, uint32_t cls, int64_t *cols, int64_t *depth);
int ldm_upsample2x_backward_node(ldm_graph *g, int dy, int dx, int accumulate);

#endif
