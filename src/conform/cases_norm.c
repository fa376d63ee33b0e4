/* Conformance cases of the normalisation / attention / embedding op family (odd shapes on purpose). */
#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ops/norm.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)
#define TRY_T(x)                                                                                   \
  do {                                                                                             \
    if ((x) < 0) return LDM_ERR_INTERNAL;                                                          \
  } while (0)

/* arg: N C H W groups offset(x in [offset-1, offset+1)) */
static ldm_status c_group_norm(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 4, S(a[0], a[1], a[2], a[3]), (float)a[5] - 1.0f, (float)a[5] + 1.0f);
  int ga = ldm_conf_input(cc, g, "gamma", 1, S(a[1]), 0.5f, 1.5f);
  int be = ldm_conf_input(cc, g, "beta", 1, S(a[1]), -0.5f, 0.5f);
  TRY_T(x);
  TRY_T(ga);
  TRY_T(be);
  int y = ldm_group_norm(g, x, ga, be, a[4], 1e-5f);
  TRY_T(y);
  const ldm_node *n = &g->n[g->nn - 1];
  int mean = n->out[1], rstd = n->out[2];
  ldm_conf_compare(cc, g, y);
  ldm_conf_compare(cc, g, mean);
  ldm_conf_compare(cc, g, rstd);
  return LDM_OK;
}
/* the forward on each backend, then its backward node; arg: N C H W groups accumulate want_dx */
static ldm_status c_group_norm_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int64_t N = a[0], C = a[1];
  int x = ldm_conf_input(cc, g, "x", 4, S(N, C, a[2], a[3]), -2, 2);
  int ga = ldm_conf_input(cc, g, "gamma", 1, S(C), 0.5f, 1.5f);
  int be = ldm_conf_input(cc, g, "beta", 1, S(C), -0.5f, 0.5f);
  int dy = ldm_conf_input(cc, g, "dy", 4, S(N, C, a[2], a[3]), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 4, S(N, C, a[2], a[3]));
  int pg = ldm_conf_output(cc, g, "pg", 1, S(N * C)), pb = ldm_conf_output(cc, g, "pb", 1, S(N * C));
  TRY_T(x);
  TRY_T(ga);
  TRY_T(be);
  TRY_T(dy);
  TRY_T(dx);
  TRY_T(pg);
  TRY_T(pb);
  TRY_T(ldm_group_norm(g, x, ga, be, a[4], 1e-5f));
  const ldm_node *n = &g->n[g->nn - 1];
  int mean = n->out[1], rstd = n->out[2];
  TRY_T(ldm_group_norm_backward_node(g, x, ga, mean, rstd, dy, dx, pg, pb, a[4], a[5], a[6]));
  return LDM_OK;
}
/* arg: rows cols logit-range */
static ldm_status c_softmax(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 2, S(a[0], a[1]), -(float)a[2], (float)a[2]);
  TRY_T(x);
  int y = ldm_softmax(g, x, a[0], a[1]);
  TRY_T(y);
  ldm_conf_compare(cc, g, y);
  return LDM_OK;
}
/* y = softmax(x) on each backend, then the backward node; arg: rows cols logit-range accumulate */
static ldm_status c_softmax_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 2, S(a[0], a[1]), -(float)a[2], (float)a[2]);
  int dy = ldm_conf_input(cc, g, "dy", 2, S(a[0], a[1]), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 2, S(a[0], a[1]));
  TRY_T(x);
  TRY_T(dy);
  TRY_T(dx);
  int y = ldm_softmax(g, x, a[0], a[1]);
  TRY_T(y);
  ldm_pc_softmax_backward pc = {(uint32_t)a[0], (uint32_t)a[1], (uint32_t)a[3]};
  TRY_T(ldm_node_add(g, LDM_OP_softmax_backward, (int[]){y, dy}, 2, &dx, 1, &pc, sizeof pc, "softmax_backward"));
  return LDM_OK;
}
/* arg: N Ca Cb H W */
static ldm_status c_concat(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "a", 4, S(a[0], a[1], a[3], a[4]), -1, 1);
  int y = ldm_conf_input(cc, g, "b", 4, S(a[0], a[2], a[3], a[4]), -1, 1);
  TRY_T(x);
  TRY_T(y);
  int o = ldm_concat(g, x, y);
  TRY_T(o);
  ldm_conf_compare(cc, g, o);
  return LDM_OK;
}
/* arg: N C H W nparts */
static ldm_status c_split(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 4, S(a[0], a[1], a[2], a[3]), -1, 1);
  TRY_T(x);
  int outs[8];
  TRY_T(ldm_split(g, x, a[4], outs));
  for (int k = 0; k < a[4]; k++) ldm_conf_compare(cc, g, outs[k]);
  return LDM_OK;
}
/* one node into a guarded output; arg: O I Cx Co c0 d0 Cn accumulate|zero_rest<<1 */
static ldm_status c_channel_copy(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 3, S(a[0], a[2], a[1]), -1, 1);
  int o = ldm_conf_output(cc, g, "out", 3, S(a[0], a[3], a[1]));
  TRY_T(x);
  TRY_T(o);
  TRY_T(ldm_channel_copy(g, x, o, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7] & 1, a[7] >> 1));
  return LDM_OK;
}
/* arg: V D B */
static ldm_status c_embedding(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int t = ldm_conf_input(cc, g, "table", 2, S(a[0], a[1]), -1, 1);
  int idx = ldm_conf_input_u32(cc, g, "idx", a[2], (uint32_t)a[0] + 2); /* a few out of range on purpose */
  TRY_T(t);
  TRY_T(idx);
  int o = ldm_embedding(g, t, idx);
  TRY_T(o);
  ldm_conf_compare(cc, g, o);
  return LDM_OK;
}
/* arg: V D B accumulate (B > V: repeated indices must sum) */
static ldm_status c_embedding_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int idx = ldm_conf_input_u32(cc, g, "idx", a[2], (uint32_t)a[0]);
  int dy = ldm_conf_input(cc, g, "dy", 2, S(a[2], a[1]), -1, 1);
  int dt = ldm_conf_output(cc, g, "dtable", 2, S(a[0], a[1]));
  TRY_T(idx);
  TRY_T(dy);
  TRY_T(dt);
  ldm_pc_embedding_backward pc = {(uint32_t)a[2], (uint32_t)a[0], (uint32_t)a[1], (uint32_t)a[3]};
  TRY_T(ldm_node_add(g, LDM_OP_embedding_backward, (int[]){idx, dy}, 2, &dt, 1, &pc, sizeof pc, "embedding_backward"));
  return LDM_OK;
}
/* arg: B dim (t in [0, 1000)) */
static ldm_status c_timestep_embedding(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int t = ldm_conf_input_u32(cc, g, "t", a[0], 1000);
  TRY_T(t);
  int o = ldm_timestep_embedding(g, t, a[1]);
  TRY_T(o);
  ldm_conf_compare(cc, g, o);
  return LDM_OK;
}
/* the composition (split + GEMM + softmax + GEMM); arg: B C H W heads */
static ldm_status c_attention(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int qkv = ldm_conf_input(cc, g, "qkv", 4, S(a[0], 3 * a[1], a[2], a[3]), -2, 2);
  TRY_T(qkv);
  int o = ldm_attention_core(g, qkv, a[4]);
  TRY_T(o);
  ldm_conf_compare(cc, g, o);
  return LDM_OK;
}

const ldm_conf_case ldm_conf_cases_norm[] = {
    {"group_norm", "[3,12,7,7] G3", c_group_norm, {3, 12, 7, 7, 3, 0}, 0, false},
    {"group_norm", "[2,64,8,8] G16", c_group_norm, {2, 64, 8, 8, 16, 0}, 0, false},
    {"group_norm", "[1,5,1,1] G5 (one element per group)", c_group_norm, {1, 5, 1, 1, 5, 0}, 0, false},
    {"group_norm", "[2,8,33,31] G2 offset 100", c_group_norm, {2, 8, 33, 31, 2, 100}, 0, false},
    {"group_norm", "[2,32,4,4] G8 offset 1000", c_group_norm, {2, 32, 4, 4, 8, 1000}, 0, false},
    {"group_norm", "[16,128,16,16] G32", c_group_norm, {16, 128, 16, 16, 32, 0}, 0, true},
    {"group_norm_backward", "[3,12,7,7] G3", c_group_norm_backward, {3, 12, 7, 7, 3, 0, 1}, 0, false},
    {"group_norm_backward", "[2,64,8,8] G16 acc", c_group_norm_backward, {2, 64, 8, 8, 16, 1, 1}, 0, false},
    {"group_norm_backward", "[2,8,33,31] G2", c_group_norm_backward, {2, 8, 33, 31, 2, 0, 1}, 0, false},
    {"group_norm_backward", "[3,12,5,3] G4 no dx", c_group_norm_backward, {3, 12, 5, 3, 4, 0, 0}, 0, false},
    {"group_norm_backward", "[16,128,16,16] G32", c_group_norm_backward, {16, 128, 16, 16, 32, 0, 1}, 0, true},
    {"softmax", "[7,1] +-50", c_softmax, {7, 1, 50}, 0, false},
    {"softmax", "[33,17] +-50", c_softmax, {33, 17, 50}, 0, false},
    {"softmax", "[5,1000] +-50", c_softmax, {5, 1000, 50}, 0, false},
    {"softmax", "[2048,16] +-4 (attention 4x4)", c_softmax, {2048, 16, 4}, 0, false},
    {"softmax", "[300,65] +-8", c_softmax, {300, 65, 8}, 0, false},
    {"softmax", "[4096,1024] +-8", c_softmax, {4096, 1024, 8}, 0, true},
    {"softmax_backward", "[7,1] +-50", c_softmax_backward, {7, 1, 50, 0}, 0, false},
    {"softmax_backward", "[33,17] +-50 acc", c_softmax_backward, {33, 17, 50, 1}, 0, false},
    {"softmax_backward", "[5,1000] +-50", c_softmax_backward, {5, 1000, 50, 0}, 0, false},
    {"softmax_backward", "[300,65] +-8 acc", c_softmax_backward, {300, 65, 8, 1}, 0, false},
    {"channel_copy", "concat [3,5,7,3,5]", c_concat, {3, 5, 7, 3, 5}, 0, false},
    {"channel_copy", "concat [2,64,128,8,8]", c_concat, {2, 64, 128, 8, 8}, 0, false},
    {"channel_copy", "split [3,12,7,7] into 3", c_split, {3, 12, 7, 7, 3}, 0, false},
    {"channel_copy", "split [2,8,1,5] into 2", c_split, {2, 8, 1, 5, 2}, 0, false},
    {"channel_copy", "[3,7x9 -> 5x11 at 2] acc", c_channel_copy, {3, 11, 7, 9, 1, 2, 5, 1}, 0, false},
    {"channel_copy", "[3,4x9 -> 12x9 at 4] zero rest", c_channel_copy, {3, 9, 4, 12, 0, 4, 4, 2}, 0, false},
    {"channel_copy", "[2,12x25 -> 4x25 from 8]", c_channel_copy, {2, 25, 12, 4, 8, 0, 4, 0}, 0, false},
    {"embedding", "V5 D33 B37", c_embedding, {5, 33, 37}, 0, false},
    {"embedding", "V11 D256 B128", c_embedding, {11, 256, 128}, 0, false},
    {"embedding_backward", "V5 D33 B37 (repeats)", c_embedding_backward, {5, 33, 37, 0}, 0, false},
    {"embedding_backward", "V11 D256 B128 acc", c_embedding_backward, {11, 256, 128, 1}, 0, false},
    {"embedding_backward", "V300 D7 B3", c_embedding_backward, {300, 7, 3, 0}, 0, false},
    {"timestep_embedding", "B64 dim128 t<1000", c_timestep_embedding, {64, 128}, 0, false},
    {"timestep_embedding", "B7 dim6", c_timestep_embedding, {7, 6}, 0, false},
    {"timestep_embedding", "B1000 dim256", c_timestep_embedding, {1000, 256}, 0, true},
    {"attention_core", "[2,16,5,5] 4 heads", c_attention, {2, 16, 5, 5, 4}, 0, false},
    {"attention_core", "[3,12,4,4] 1 head", c_attention, {3, 12, 4, 4, 1}, 0, false},
    {"attention_core", "[2,64,9,9] 4 heads", c_attention, {2, 64, 9, 9, 4}, 0, false},
    {"attention_core", "[16,128,8,8] 4 heads", c_attention, {16, 128, 8, 8, 4}, 0, true},
};
const int ldm_conf_cases_norm_n = (int)(sizeof ldm_conf_cases_norm / sizeof ldm_conf_cases_norm[0]);
