/* Push-constant blocks of the convolution family; each mirrors its shaders' block field for field.
 * One block serves conv2d, conv2d_backward_data and conv2d_backward_weight (tiled and naive variants share
 * their source per mode, see shaders/conv2d.comp and shaders/conv2d_naive.comp). */
#ifndef LDM_OPS_CONV_H
#define LDM_OPS_CONV_H
#include <stdint.h>

#include "ldm/graph.h"

/* x [N, Cin, H, W], w [Cout, Cin, k, k], y [N, Cout, Ho, Wo]. bias: conv2d only (1 = bias binding is
 * real). accumulate: out = acc ? out + v : v. backward_weight splits the reduction over the N*Ho*Wo output
 * pixels ("depth") into `splits` consecutive ranges of split_len pixels; split s writes
 * out[s][Cout][Cin*k*k] (a partial sum that a reduce_sum node adds up in fixed order when splits > 1). */
typedef struct {
  uint32_t N, Cin, H, W, Cout, Ho, Wo;
  uint32_t k, stride, pad;
  uint32_t bias, accumulate;
  uint32_t splits, split_len;
} ldm_pc_conv2d;
_Static_assert(sizeof(ldm_pc_conv2d) == 56, "pc size");

/* upsample2x / upsample2x_backward over NC = N*C planes of H x W (input size) */
typedef struct { uint32_t NC, H, W, accumulate; } ldm_pc_upsample2x;
_Static_assert(sizeof(ldm_pc_upsample2x) == 16, "pc size");

/* Backward nodes (used by the autodiff rule and by the conformance cases). `fwd` is the forward node's
 * block; dx = conv2d_backward_data(dy, w); out = conv2d_backward_weight(dy, x) with `splits` depth
 * ranges (out has splits * Cout * Cin*k*k elements). Return the output id or -1. */
int ldm_conv2d_backward_data_node(ldm_graph *g, int dy, int w, int dx, const ldm_pc_conv2d *fwd, int accumulate);
int ldm_conv2d_backward_weight_node(ldm_graph *g, int dy, int x, int out, const ldm_pc_conv2d *fwd, uint32_t splits,
                                    int accumulate);
/* The depth split the autodiff uses for a forward block (1 = no split): enough workgroups to fill a
 * large GPU, bounded scratch, at least 512 pixels per split. */
uint32_t ldm_conv2d_weight_splits(const ldm_pc_conv2d *fwd);
int ldm_upsample2x_backward_node(ldm_graph *g, int dy, int dx, int accumulate);

#endif
