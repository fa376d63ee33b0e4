/* Graph builders of ldm-vk ops. Each appends node(s) to the graph and returns the output tensor id, or
 * LDM_NONE when refused; a builder given LDM_NONE appends nothing and fails the graph, so a chain of
 * builders is checked once (see "Errors" in ldm/graph.h). Builders are backend independent; the CPU twin
 * and the shader of each op compute the same function (see docs/ops.md). */
#ifndef LDM_OPS_H
#define LDM_OPS_H
#include "ldm/graph.h"
/* the activations (ldm_silu ...): builders generated from the `act` entries of the op manifest */
#include "ldm/activations.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- basic family (src/ops/basic.c) ---- */
/* out[0..n) = value (f32) */
int ldm_fill(ldm_graph *g, int out, float value);
/* out = in (same numel), elementwise copy */
int ldm_copy(ldm_graph *g, int in, int out);
/* Philox random fill of out: dist 0 = raw u32, 1 = uniform (0,1), 2 = standard normal.
 * The counter base is pc.base + step[LDM_STEP_RNG_LO/HI] when step >= 0 (fresh numbers each replay). */
enum { LDM_RNG_U32 = 0, LDM_RNG_UNIFORM = 1, LDM_RNG_NORMAL = 2 };
int ldm_philox_fill(ldm_graph *g, int out, int step, int dist, uint64_t seed, uint64_t stream, uint64_t base);

/* elementwise binary ops on equal-numel tensors; out = a op b */
enum { LDM_EW_ADD = 0, LDM_EW_SUB = 1, LDM_EW_MUL = 2 };
int ldm_add(ldm_graph *g, int a, int b);
int ldm_sub(ldm_graph *g, int a, int b);
int ldm_mul(ldm_graph *g, int a, int b);
int ldm_ew_binary(ldm_graph *g, int kind, int a, int b, int out, int accumulate);
/* out = alpha * x (+ out when accumulate) */
int ldm_scale(ldm_graph *g, int x, float alpha);
int ldm_ew_scale(ldm_graph *g, int x, int out, float alpha, int accumulate);

/* General reduction over a [O, J, I] view of x: out[j] (+)= scale * sum_{o,i} x[o][j][i].
 * Deterministic fixed-order tree, no atomics. */
int ldm_reduce_sum(ldm_graph *g, int x, int out, int64_t O, int64_t J, int64_t I, float scale, int accumulate);
/* out[o][j][i] (+)= alpha * x[o % xO][j] with xO = 1 (per-channel) or O (per-sample-per-channel) */
int ldm_broadcast(ldm_graph *g, int x, int out, int64_t O, int64_t J, int64_t I, int64_t xO, float alpha, int accumulate);
int ldm_sum(ldm_graph *g, int x);  /* scalar sum */
int ldm_mean(ldm_graph *g, int x); /* scalar mean */

/* scalar mean((a-b)^2); gradient flows to a (and b if it requires grad) */
int ldm_mse_loss(ldm_graph *g, int a, int b);

/* GEMM: C[b] = alpha * op(A[b]) @ op(B[b]) (+ bias) (+ C when accumulate).
 * A is [M,K] (or [K,M] when ta), B is [K,N] (or [N,K] when tb), all row-major and contiguous per
 * batch. bias (or -1) is a vector of N (bias_rows=0) or M (bias_rows=1). */
typedef struct ldm_gemm_args {
  int ta, tb;
  int batch;
  float alpha;
  int accumulate;
  int bias_rows;
} ldm_gemm_args;
int ldm_gemm(ldm_graph *g, int a, int b, int bias, int out, int64_t M, int64_t N, int64_t K, ldm_gemm_args args);
/* ldm_gemm with an activation in the epilogue (not with accumulate): act = LDM_GEMM_ACT_SILU: out =
 * silu(alpha op(A) op(B) + bias), and the node gets a second output, the pre-activation z (a new
 * activation tensor, out's shape: the backward's silu'(z) reads it). LDM_GEMM_ACT_NONE = ldm_gemm. */
enum { LDM_GEMM_ACT_NONE = 0, LDM_GEMM_ACT_SILU = 1 };
int ldm_gemm_act(ldm_graph *g, int a, int b, int bias, int out, int64_t M, int64_t N, int64_t K, ldm_gemm_args args,
                 int act);
/* Linear layer as in PyTorch: x [B, in] @ W^T ([out, in]) + b -> [B, out] */
int ldm_linear_op(ldm_graph *g, int x, int w, int bias);
/* silu(Linear(x)) as one GEMM with the SiLU epilogue (act LDM_GEMM_ACT_*; LDM_GEMM_ACT_NONE = ldm_linear_op) */
int ldm_linear_act(ldm_graph *g, int x, int w, int bias, int act);

/* ---- optimizers (src/ops/basic.c) ---- */
/* SGD: p -= lr * g (lr from step[LDM_STEP_LR]) */
int ldm_sgd(ldm_graph *g, int p, int grad, int step);
/* AdamW over whole (flat) tensors: decoupled weight decay, bias corrections from the step buffer. */
int ldm_adamw(ldm_graph *g, int p, int grad, int m, int v, int step, float beta1, float beta2, float eps,
              float weight_decay);


/* ---- convolution family (src/ops/conv.c) ---- NCHW activations, weights [Cout, Cin, kh, kw] */
/* y = conv2d(x, w) + bias (bias may be -1); square kernel k = w.shape[2], given stride and padding */
int ldm_conv2d(ldm_graph *g, int x, int w, int bias, int stride, int pad);
/* y = ((conv2d(x, w) + bias[co]) + chan[n, co]) + res[n, co, oh, ow], the adds in this order in one dispatch
 * (a fused epilogue); bias, res ([N, Cout, Ho, Wo], y's shape) and chan ([N, Cout]) may each be LDM_NONE */
int ldm_conv2d_ex(ldm_graph *g, int x, int w, int bias, int res, int chan, int stride, int pad);
/* nearest-neighbour 2x upsample of [N, C, H, W] -> [N, C, 2H, 2W] */
int ldm_upsample2x(ldm_graph *g, int x);

/* ---- normalisation / attention / embedding family (src/ops/norm.c) ---- */
/* GroupNorm with affine gamma/beta [C] over x [N, C, ...] */
int ldm_group_norm(ldm_graph *g, int x, int gamma, int beta, int groups, float eps);
/* silu(group_norm(x)) as one op (one pass; the backward recomputes the normalised values, none are kept) */
int ldm_group_norm_silu(ldm_graph *g, int x, int gamma, int beta, int groups, float eps);
/* softmax over the last dimension of a [rows, cols] view */
int ldm_softmax(ldm_graph *g, int x, int64_t rows, int64_t cols);
/* concatenate along dim 1 (channels) of NCHW tensors with equal N, H, W */
int ldm_concat(ldm_graph *g, int a, int b);
/* split dim 1 into nparts equal parts: outs[k] = x[:, k*C/n:(k+1)*C/n] */
int ldm_split(ldm_graph *g, int x, int nparts, int *outs);
/* rows of table [V, D] selected by u32 indices idx [B] -> [B, D] (gradient scatters into table) */
int ldm_embedding(ldm_graph *g, int table, int idx);
/* sinusoidal embedding of u32 timesteps t [B] -> [B, dim]: cos(t f_k) then sin(t f_k),
 * f_k = exp(-ln(10000) k / (dim/2)); no gradient */
int ldm_timestep_embedding(ldm_graph *g, int t, int dim);
/* self-attention core on qkv [B, 3C, H, W] (q, k, v chunks of C channels, `heads` heads of C/heads):
 * o[b, h] = v softmax(q^T k / sqrt(d))^T -> [B, C, H, W] (the reference twin's Attn without norm/proj); one
 * `attention` node (one dispatch), which also saves the probabilities [B*heads, HW, HW] for its backward */
int ldm_attention_core(ldm_graph *g, int qkv, int heads);

/* ---- diffusion / VAE / optimizer family (src/ops/diffusion.c) ---- */
/* z = mu + exp(logvar / 2) * eps (gradients to mu and logvar) */
int ldm_reparam(ldm_graph *g, int mu, int logvar, int eps);
/* clamp(x, lo, hi), gradient passes where lo <= x <= hi (torch.clamp; a NaN passes through) */
int ldm_clamp(ldm_graph *g, int x, float lo, float hi);
/* scalar 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar) / batch, batch = mu.shape[0] */
int ldm_kl_loss(ldm_graph *g, int mu, int logvar);
/* x_t = sqrt(abar[t_b]) x0 + sqrt(1 - abar[t_b]) noise per sample b; abar is a f32 table [T], t u32 [B] */
int ldm_q_sample(ldm_graph *g, int x0, int noise, int abar, int t);
/* v-prediction target v = sqrt(abar) noise - sqrt(1-abar) x0 (per sample t) */
int ldm_v_target(ldm_graph *g, int x0, int noise, int abar, int t);
/* per-sample weighted MSE: mean_b( w[b] * mean_i (a - b)^2 ), w [B] (no gradient to w) */
int ldm_weighted_mse(ldm_graph *g, int a, int b, int w);
/* min-SNR-gamma weights per sample: min(snr, gamma) / snr (eps-pred) or min(snr, gamma)/(snr+1) (v-pred) */
int ldm_min_snr_weight(ldm_graph *g, int abar, int t, float gamma, int v_pred);
/* classifier-free guidance: out = uncond + s (cond - uncond), cond/uncond halves of x [2B, ...] */
int ldm_cfg_combine(ldm_graph *g, int x2, float scale);
/* The samplers (ldm_sample_opts.sampler; src/sample/coefs.c gives each its coefficients). */
enum {
  LDM_SAMPLER_DDIM = 0, LDM_SAMPLER_DDPM = 1, LDM_SAMPLER_EULER = 2, LDM_SAMPLER_EULER_A = 3, LDM_SAMPLER_HEUN = 4,
  LDM_SAMPLER_DPMPP_2M = 5, LDM_SAMPLER_DPMPP_2M_SDE = 6, LDM_SAMPLER_UNIPC = 7, LDM_SAMPLER_COUNT = 8
};
/* Words of a sampler's coefficient table (f32 [LDM_SC_WORDS], written by the host before each replay). */
enum {
  LDM_SC_STEP = 0,   /* 23 words: ldm_sampler_step */
  LDM_SC_EVAL = 23,  /* 2 words: alpha, sigma of this replay's model evaluation (x_t = alpha x0 + sigma eps) */
  LDM_SC_BLEND = 25, /* 4 words: ldm_inpaint_blend */
  LDM_SC_WORDS = 32
};
/* One step of any sampler, in place on x, h1, h2, h3 (all of x's size), from the model output m and
 * noise, with the coefficients c = coef[off ..] (an f32 table the host writes per replay):
 *   D = c0 x + c1 m;  v = (x, D, h1, h2, h3, noise);
 *   x <- c[2..8) . v;  h1 <- c[8..13) . v[0:5];  h2 <- c[13..18) . v[0:5];  h3 <- c[18..23) . v[0:5].
 * Returns x. */
int ldm_sampler_step(ldm_graph *g, int x, int m, int h1, int h2, int h3, int noise, int coef, int off);
/* Inpainting, in place on x [B, C, H, W]: mask [B, 1, H, W] (1 = repaint, 0 = keep), z0 like x, n1, n2
 * noise like x, c = coef[off ..]: x <- mask (c0 x + c1 n2) + (1 - mask) (c2 z0 + c3 n1). Returns x. */
int ldm_inpaint_blend(ldm_graph *g, int x, int z0, int mask, int n1, int n2, int coef, int off);
/* Guidance rescale (Lin et al. 2023): x2 the model output [2B, ...] on [cond; uncond], guided =
 * ldm_cfg_combine(x2): per sample, phi guided std(cond) / std(guided) + (1 - phi) guided. */
int ldm_cfg_rescale(ldm_graph *g, int x2, int guided, float phi);
/* The exact denoiser of data from a mixture of K <= 64 isotropic Gaussians in d dimensions: x [B, d] =
 * a x0 + s eps with (a, s) = coef[off], coef[off + 1]; params [K, d + 2] rows (weight, variance, mean[d]).
 * pred 0: E[eps | x], 1: E[v | x] (v = a eps - s x0), 2: E[x0 | x]. A model without weights, for tests. */
int ldm_gauss_mix_denoise(ldm_graph *g, int x, int params, int coef, int off, int pred);
/* EMA over whole arenas: ema = d ema + (1-d) p, d = step[LDM_STEP_EMA] */
int ldm_ema(ldm_graph *g, int ema, int p, int step);
/* global gradient norm of grads (a flat arena view), deterministic two-stage reduction; writes
 * gs[0] = min(1, clip / norm) / loss_scale * inv_accum (clip from step, <= 0: no clipping),
 * gs[1] = 1 if any gradient is NaN/Inf else 0, gs[2] = the unscaled norm. gs is a HOST tensor of 4. */
int ldm_grad_norm_clip(ldm_graph *g, int grads, int step, int gs);
/* AdamW that reads gs (see above): skips the update when gs[1] != 0, scales grads by gs[0] */
int ldm_adamw_gs(ldm_graph *g, int p, int grad, int m, int v, int step, int gs, float beta1, float beta2, float eps,
                 float weight_decay);
/* Philox-driven u32 in [lo, hi) per element (fresh each step through the step buffer's counter) */
int ldm_randint(ldm_graph *g, int out, int step, uint64_t seed, uint64_t stream, uint32_t lo, uint32_t hi);
/* labels with probability p replaced by null_class (classifier-free guidance training) */
int ldm_label_dropout(ldm_graph *g, int labels, int out, int step, uint64_t seed, uint64_t stream, float p,
                      uint32_t null_class);
/* gather rows: out[b] = table[idx[b]] (row_elems per row). A u8 table is converted to f32 as
 * v * scale + shift (images: 2/255, -1); a 32-bit table (f32, u32, i32) is copied word for word into an
 * out of its dtype. idx is u32 [B] (HOST arena); an index past the table reads its last row. */
int ldm_gather_rows(ldm_graph *g, int table, int idx, int out, int64_t row_elems, float scale, float shift);

#ifdef __cplusplus
}
#endif
#endif
