/* The CPU twins of the ops, one per op: ldm_cpu_<op> computes node n on resolved buffers (buf[0..nin)
 * the inputs, buf[nin..nin+nout) the outputs), the reference of its shader and the production CPU
 * backend. Defined in src/cpu/kernels_<family>.c, the elementwise ones by EW(<op>, ...) in
 * src/cpu/kernels_elementwise.c; the op table (ldm_op_desc_<op>.cpu) points here. */
#ifndef LDM_CPU_KERNELS_H
#define LDM_CPU_KERNELS_H
#include <string.h>

#include "ldm/graph.h"

/* Helpers shared by the twins: the entry of a per-sample table for timestep t (an out-of-range t reads
 * the last entry, on both backends) and a float word of the step buffer. */
static inline uint32_t cpu_tidx(uint32_t t, uint32_t T) { return t < T ? t : T - 1; }
static inline float cpu_step_f(const uint32_t *st, int w) {
  float f;
  memcpy(&f, &st[w], 4);
  return f;
}

void ldm_cpu_fill(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_copy(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_philox_fill(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_ew_binary(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_ew_scale(const ldm_graph *g, const ldm_node *n, void *const *buf);
/* the activation ops (ldm_act_list.h, from the `act` entries of src/ops/ops.def): ldm_cpu_NAME and
 * ldm_cpu_NAME_backward run the element functions ldm_cpu_act_NAME[_backward] (kernels_elementwise.c) */
#define LDM_ACT(a)                                                                                 \
  void ldm_cpu_##a(const ldm_graph *g, const ldm_node *n, void *const *buf);                       \
  void ldm_cpu_##a##_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
#include "ldm_act_list.h"
#undef LDM_ACT
void ldm_cpu_reduce_sum(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_reduce_sum_multi(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_mse_loss(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_mse_loss_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_gemm(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_broadcast(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_sgd(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_adamw(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_conv2d(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_conv2d_backward_data(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_conv2d_backward_weight(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_upsample2x(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_upsample2x_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_reparam(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_reparam_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_clamp(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_clamp_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_kl_loss(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_kl_loss_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_q_sample(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_v_target(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_q_sample_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_weighted_mse(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_weighted_mse_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_min_snr_weight(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_cfg_combine(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_sampler_step(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_inpaint_blend(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_cfg_rescale(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_gauss_mix_denoise(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_ema(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_grad_norm_partial(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_grad_norm_clip(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_randint(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_label_dropout(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_gather_rows(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_group_norm(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_group_norm_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_group_norm_silu(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_group_norm_silu_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_softmax(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_softmax_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_attention(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_attention_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_channel_copy(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_channel_copy_multi(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_embedding(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_embedding_backward(const ldm_graph *g, const ldm_node *n, void *const *buf);
void ldm_cpu_timestep_embedding(const ldm_graph *g, const ldm_node *n, void *const *buf);

#endif
