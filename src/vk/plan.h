/* Vulkan launch plans: ldm_plan_<op> chooses the shader variant, specialization constants and grid of
 * node n under the device limits (src/vk/plan.c). Ops without one use ldm_plan_1d_n (core/ops.h). */
#ifndef LDM_VK_PLAN_H
#define LDM_VK_PLAN_H
#include "core/ops.h"

/* The launch of node n on a device with limits lim, as the executor records it: the op's plan (or the
 * default 1-D plan over out[0]), the builder's spec constants over the plan's, and grid dimensions left at
 * 0 set to 1 (a 0 would dispatch nothing). Shared by the Vulkan executor and the performance model. */
void ldm_node_launch(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);

/* Tile variants of the tiled GEMM / convolution shaders (shaders/tile.glsl, docs/perf.md "Tile variants").
 * A compute unit is taken to need LDM_TILE_RESIDENT resident invocations to hide its latency (an estimate):
 * the choice's wave, and the performance model's fill, count threads against units x that. */
#define LDM_TILE_RESIDENT 256
/* The fill of a tiled GEMM / convolution grid of `threads` invocations on `cus` compute units: its waves
 * (threads / (cus x LDM_TILE_RESIDENT)) against the whole waves it occupies. Under one wave, the units it
 * leaves idle; over one, the last partial wave's (a unit that is full with one tile finishes a second one
 * after the first: 150 tiles on 132 units take two tile times, fill 57%). Shared by the plan's choice and
 * the performance model (docs/perf.md "Change 16"). */
double ldm_tile_fill(double threads, uint32_t cus);
/* The splits a split-K of S over `slabs` 16-deep slabs really makes: whole slabs, no empty split,
 * ceil(slabs / ceil(slabs / S)) (the split shaders' division); 1 for S <= 1 */
uint32_t ldm_split_effective(int64_t slabs, uint32_t S);
/* ldm_dev_limits.fma_per_byte of a device of type (ldm_vk_device_info.type: "discrete", "integrated", ...)
 * with cus compute units: a guess by class, for no Vulkan query reports the memory bandwidth (docs/perf.md
 * "Change 16"). The performance model's targets take it too, so their plans are the ones such a device gets. */
double ldm_fma_per_byte_guess(const char *type, uint32_t cus);
/* The bytes a node's dispatch must move at least: every input it uses read once (not a convolution's absent
 * epilogue terms, bound to x), every output written once but the scratch ones (a split's workspace and
 * counters, which depend on the launch). The tile choice's memory side and the performance model's default
 * cost (perf/cost.c). */
void ldm_node_io_bytes(const ldm_graph *g, const ldm_node *n, double *rd, double *wr);
/* The tiled GEMM / convolution kernels' fraction of peak at 1 shared byte per FMA lane and clock (8x8 register
 * blocks on a device of 1 shared byte per lane and clock): the performance model's targets and the tile
 * choice's compute side (docs/perf.md "Targets", "Change 17") */
#define LDM_TILE_PEAK_EFF 0.9
/* The launch switches of env (LDM_GEMM_NAIVE, LDM_CONV_NAIVE, LDM_VK_TILE, LDM_VK_SPLITK, LDM_VK_SUBPIXEL,
 * LDM_VK_DISABLE_SUBGROUP, LDM_VK_MAX_SHARED, LDM_VK_MAX_BUFFER_RANGE) applied to a device's limits: what a
 * Vulkan context launches with (vk_ctx.c), and what `bench --model` models (perf/print.c). */
struct ldm_env;
void ldm_limits_apply_switches(const struct ldm_env *env, ldm_dev_limits *lim);
/* The naive convolution shaders' cost per FMA against the 8x8 tiles' (1 shared byte per FMA): the ratio of
 * the performance model's 90% and 10% of peak (docs/perf.md "Targets", "Change 14"). The auto choice runs
 * a convolution of few output rows (one output channel) naive where its padded tiles would cost more. */
#define LDM_NAIVE_FMA_COST 9.0
const char *ldm_tile_name(int tile);                             /* LDM_TILE_* -> "large" ...; "auto" */
uint32_t ldm_tile_shared(uint32_t bm, uint32_t bn, uint32_t flags); /* bytes of shared memory */

void ldm_plan_fill(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_philox_fill(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_reduce_sum(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_reduce_sum_multi(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_mse_loss(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_gemm(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_broadcast(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_conv2d(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_conv2d_backward_data(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_conv2d_backward_weight(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_upsample2x(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_upsample2x_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_kl_loss(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_weighted_mse(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_weighted_mse_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_min_snr_weight(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_grad_norm_partial(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_grad_norm_clip(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_randint(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_label_dropout(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_gather_rows(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_group_norm(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_group_norm_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_group_norm_silu(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_group_norm_silu_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim,
                                       ldm_launch *l);
void ldm_plan_softmax(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_softmax_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_attention(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_attention_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_channel_copy(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_channel_copy_multi(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_embedding(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_embedding_backward(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
void ldm_plan_timestep_embedding(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);

#endif
