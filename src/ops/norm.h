/* The normalisation / attention / embedding op family (src/ops/norm.c). Its push-constant blocks
 * (ldm_pc_group_norm ... ldm_pc_timestep_embedding) are generated from the op manifest src/ops/ops.def
 * into ldm_ops_pc.h, as are the shaders' blocks. */
#ifndef LDM_OPS_NORM_H
#define LDM_OPS_NORM_H
#include <stdbool.h>
#include <stdint.h>

#include "ldm/graph.h"
#include "ldm_ops_pc.h"

/* ln(10000) as the reference twin uses it: the double math.log(10000) rounded to the fp32 tensor dtype */
#define LDM_TEMB_NEG_LOG_BASE (-9.210340371976184f)

/* Internal node builders (used by the autodiff rules and the conformance cases). */
/* group_norm_backward: dx (when want_dx; else the dx slot is bound to pg and left alone) and the
 * per-(n, c) partials pg = sum_s dy xhat, pb = sum_s dy that reduce_sum turns into dgamma / dbeta. */
int ldm_group_norm_backward_node(ldm_graph *g, int x, int gamma, int mean, int rstd, int dy, int dx, int pg, int pb,
                                 int groups, int accumulate, int want_dx);
/* group_norm_silu_backward: the same of dh = silu'(h) dy, h = xhat gamma + beta recomputed */
int ldm_group_norm_silu_backward_node(ldm_graph *g, int x, int gamma, int beta, int mean, int rstd, int dy, int dx,
                                      int pg, int pb, int groups, int accumulate, int want_dx);
/* out[o][d0 + c][i] (+)= x[o][c0 + c][i] for c < Cn; x is [O, Cx, I], out [O, Co, I]; zero_rest
 * (without accumulate) also zeroes the other channels of out. */
int ldm_channel_copy(ldm_graph *g, int x, int out, int64_t O, int64_t I, int64_t Cx, int64_t Co, int64_t c0,
                     int64_t d0, int64_t Cn, int accumulate, int zero_rest);
/* attention_backward: dx (+)= d qkv of the attention node (ldm_attention_core) that read qkv and made o and
 * p, from dy = d o */
int ldm_attention_backward_node(ldm_graph *g, int qkv, int o, int p, int dy, int dx, int accumulate);

/* channel_copy_multi: up to this many channel_copy jobs in one node (src/core/fuse.c) */
#define LDM_COPY_MULTI_MAX 4
/* Job k of a channel_copy_multi block as the channel_copy block it stands for. */
void ldm_copy_multi_job(const ldm_pc_channel_copy_multi *m, int k, ldm_pc_channel_copy *job);
/* The channel_copy_multi block of njobs (2 .. LDM_COPY_MULTI_MAX) channel_copy jobs; false (and nothing
 * written) when they do not share O and I or their launches together pass 2^32 invocations. */
bool ldm_copy_multi_pc(const ldm_pc_channel_copy *jobs, int njobs, ldm_pc_channel_copy_multi *m);
/* Elements (invocations) of one channel_copy job's launch: O x (zero_rest ? Co : Cn) x I. */
uint64_t ldm_channel_copy_elems(const ldm_pc_channel_copy *p);
/* A channel_copy_multi node: job k copies x[k] into out[k] as ldm_channel_copy(g, x[k], out[k], jobs[k]...)
 * would. Jobs writing one output must write disjoint channel ranges, none with zero_rest; no job may write
 * what another reads. Returns out[0] (LDM_NONE if refused). */
int ldm_channel_copy_multi(ldm_graph *g, int njobs, const int *x, const int *out, const ldm_pc_channel_copy *jobs);

#endif
