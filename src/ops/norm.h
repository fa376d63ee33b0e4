/* Push-constant blocks of the normalisation / attention / embedding op family (src/ops/norm.c); each
 * mirrors its shader's block field for field. */
#ifndef LDM_OPS_NORM_H
#define LDM_OPS_NORM_H
#include <stdint.h>

#include "ldm/graph.h"

/* x viewed as [N, C, S] (S = product of the trailing dims), G groups of C/G channels */
typedef struct { uint32_t N, C, S, G; float eps; } ldm_pc_group_norm;
/* want_dx = 0: only the per-(n, c) partials are written (x needs no gradient) */
typedef struct { uint32_t N, C, S, G, accumulate, want_dx; } ldm_pc_group_norm_backward;
typedef struct { uint32_t rows, cols; } ldm_pc_softmax;
typedef struct { uint32_t rows, cols, accumulate; } ldm_pc_softmax_backward;
/* out[o][d0 + c][i] (+)= x[o][c0 + c][i] for c < Cn, x viewed as [O, Cx, I], out as [O, Co, I];
 * zero_rest (only without accumulate): the other channels of out are set to 0 (a full write). */
typedef struct { uint32_t O, I, Cx, Co, c0, d0, Cn, accumulate, zero_rest; } ldm_pc_channel_copy;
typedef struct { uint32_t B, V, D; } ldm_pc_embedding;
typedef struct { uint32_t B, V, D, accumulate; } ldm_pc_embedding_backward;
/* out[b][k] = cos(t_b f_k), out[b][half + k] = sin(t_b f_k), f_k = exp((neg_log_base * k) / half) */
typedef struct { uint32_t B, half; float neg_log_base; } ldm_pc_timestep_embedding;

_Static_assert(sizeof(ldm_pc_group_norm) == 20, "pc size");
_Static_assert(sizeof(ldm_pc_group_norm_backward) == 24, "pc size");
_Static_assert(sizeof(ldm_pc_softmax) == 8, "pc size");
_Static_assert(sizeof(ldm_pc_softmax_backward) == 12, "pc size");
_Static_assert(sizeof(ldm_pc_channel_copy) == 36, "pc size");
_Static_assert(sizeof(ldm_pc_embedding) == 12, "pc size");
_Static_assert(sizeof(ldm_pc_embedding_backward) == 16, "pc size");
_Static_assert(sizeof(ldm_pc_timestep_embedding) == 12, "pc size");

/* ln(10000) as the reference twin uses it: the double math.log(10000) rounded to the fp32 tensor dtype */
#define LDM_TEMB_NEG_LOG_BASE (-9.210340371976184f)

/* Internal node builders (used by the autodiff rules and the conformance cases). */
/* group_norm_backward: dx (when want_dx; else the dx slot is bound to pg and left alone) and the
 * per-(n, c) partials pg = sum_s dy xhat, pb = sum_s dy that reduce_sum turns into dgamma / dbeta. */
int ldm_group_norm_backward_node(ldm_graph *g, int x, int gamma, int mean, int rstd, int dy, int dx, int pg, int pb,
                                 int groups, int accumulate, int want_dx);
/* out[o][d0 + c][i] (+)= x[o][c0 + c][i] for c < Cn; x is [O, Cx, I], out [O, Co, I]; zero_rest
 * (without accumulate) also zeroes the other channels of out. */
int ldm_channel_copy(ldm_graph *g, int x, int out, int64_t O, int64_t I, int64_t Cx, int64_t Co, int64_t c0,
                     int64_t d0, int64_t Cn, int accumulate, int zero_rest);

#endif
