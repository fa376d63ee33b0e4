/* Backward emitters: ldm_bwd_<op> appends the backward nodes of forward node ni (reverse-mode autodiff,
 * called by ldm_graph_backward through the op table). Defined with the builders in src/ops/<family>.c (those of
 * the activation ops in the generated ldm_act_ops.c). */
#ifndef LDM_OPS_AUTODIFF_H
#define LDM_OPS_AUTODIFF_H
#include <stddef.h>

#include "core/ops.h"
#include "ldm/graph.h"

/* ldm_emit_unary_backward for a backward op <op> whose push constants ldm_pc_<op> pc end in `accumulate` */
#define LDM_EMIT_UNARY_BACKWARD(g, ni, op, a, pc)                                                  \
  ldm_emit_unary_backward((g), (ni), LDM_OP_##op, (a), &(pc), sizeof(pc), offsetof(ldm_pc_##op, accumulate))

ldm_status ldm_bwd_copy(ldm_graph *g, int ni);
ldm_status ldm_bwd_ew_binary(ldm_graph *g, int ni);
ldm_status ldm_bwd_ew_scale(ldm_graph *g, int ni);
ldm_status ldm_bwd_mse_loss(ldm_graph *g, int ni);
ldm_status ldm_bwd_gemm(ldm_graph *g, int ni);
ldm_status ldm_bwd_broadcast(ldm_graph *g, int ni);
ldm_status ldm_bwd_reduce_sum(ldm_graph *g, int ni);
ldm_status ldm_bwd_conv2d(ldm_graph *g, int ni);
ldm_status ldm_bwd_upsample2x(ldm_graph *g, int ni);
ldm_status ldm_bwd_reparam(ldm_graph *g, int ni);
ldm_status ldm_bwd_clamp(ldm_graph *g, int ni);
ldm_status ldm_bwd_kl_loss(ldm_graph *g, int ni);
ldm_status ldm_bwd_q_sample(ldm_graph *g, int ni);
ldm_status ldm_bwd_v_target(ldm_graph *g, int ni);
ldm_status ldm_bwd_weighted_mse(ldm_graph *g, int ni);
ldm_status ldm_bwd_group_norm(ldm_graph *g, int ni);
ldm_status ldm_bwd_group_norm_silu(ldm_graph *g, int ni);
ldm_status ldm_bwd_softmax(ldm_graph *g, int ni);
ldm_status ldm_bwd_attention(ldm_graph *g, int ni);
ldm_status ldm_bwd_channel_copy(ldm_graph *g, int ni);
ldm_status ldm_bwd_embedding(ldm_graph *g, int ni);

#endif
