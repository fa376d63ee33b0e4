/* Conformance cases of the normalisation / attention / embedding op family (odd shapes on purpose). */
#include <stdbool.h>
#include <stdio.h>

#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ops/norm.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)

/* output k (1: mean, 2: rstd) of the group_norm node whose output 0 is y (LDM_NONE if y is) */
static int gn_out(const ldm_graph *g, int y, int k) {
  for (int i = g->nn - 1; y != LDM_NONE && i >= 0; i--)
    if (g->n[i].nout > k && g->n[i].out[0] == y) return g->n[i].out[k];
  return LDM_NONE;
}

/* group_norm, or group_norm_silu when silu; reads N C H W groups offset (x in [offset-1, offset+1)) */
static ldm_status gn_case(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a, bool silu) {
  int x = ldm_conf_input(cc, g, "x", 4, S(a->N, a->C, a->H, a->W), a->offset - 1.0f, a->offset + 1.0f);
  int ga = ldm_conf_input(cc, g, "gamma", 1, S(a->C), 0.5f, 1.5f);
  int be = ldm_conf_input(cc, g, "beta", 1, S(a->C), -0.5f, 0.5f);
  int y = (silu ? ldm_group_norm_silu : ldm_group_norm)(g, x, ga, be, a->groups, 1e-5f);
  ldm_conf_compare(cc, g, y);
  ldm_conf_compare(cc, g, gn_out(g, y, 1));
  ldm_conf_compare(cc, g, gn_out(g, y, 2));
  return ldm_graph_status(g);
}
static ldm_status c_group_norm(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  return gn_case(g, cc, a, false);
}
static ldm_status c_group_norm_silu(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  return gn_case(g, cc, a, true);
}
/* the forward on each backend, then its backward node (group_norm[_silu]_backward); reads N C H W groups
 * acc want_dx */
static ldm_status gnb_case(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a, bool silu) {
  int64_t N = a->N, C = a->C;
  int x = ldm_conf_input(cc, g, "x", 4, S(N, C, a->H, a->W), -2, 2);
  int ga = ldm_conf_input(cc, g, "gamma", 1, S(C), 0.5f, 1.5f);
  int be = ldm_conf_input(cc, g, "beta", 1, S(C), -0.5f, 0.5f);
  int dy = ldm_conf_input(cc, g, "dy", 4, S(N, C, a->H, a->W), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 4, S(N, C, a->H, a->W));
  int pg = ldm_conf_output(cc, g, "pg", 1, S(N * C)), pb = ldm_conf_output(cc, g, "pb", 1, S(N * C));
  int y = (silu ? ldm_group_norm_silu : ldm_group_norm)(g, x, ga, be, a->groups, 1e-5f);
  int mean = gn_out(g, y, 1), rstd = gn_out(g, y, 2);
  if (silu)
    ldm_group_norm_silu_backward_node(g, x, ga, be, mean, rstd, dy, dx, pg, pb, a->groups, a->acc, a->want_dx);
  else
    ldm_group_norm_backward_node(g, x, ga, mean, rstd, dy, dx, pg, pb, a->groups, a->acc, a->want_dx);
  return ldm_graph_status(g);
}
static ldm_status c_group_norm_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  return gnb_case(g, cc, a, false);
}
static ldm_status c_group_norm_silu_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  return gnb_case(g, cc, a, true);
}
/* reads rows cols range (logits in [-range, range)) */
static ldm_status c_softmax(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 2, S(a->rows, a->cols), -a->range, a->range);
  int y = ldm_softmax(g, x, a->rows, a->cols);
  ldm_conf_compare(cc, g, y);
  return ldm_graph_status(g);
}
/* y = softmax(x) on each backend, then the backward node; reads rows cols range acc */
static ldm_status c_softmax_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 2, S(a->rows, a->cols), -a->range, a->range);
  int dy = ldm_conf_input(cc, g, "dy", 2, S(a->rows, a->cols), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 2, S(a->rows, a->cols));
  int y = ldm_softmax(g, x, a->rows, a->cols);
  ldm_pc_softmax_backward pc = {(uint32_t)a->rows, (uint32_t)a->cols, (uint32_t)a->acc};
  ldm_node_add(g, LDM_OP_softmax_backward, (int[]){y, dy}, 2, &dx, 1, &pc, sizeof pc, "softmax_backward");
  return ldm_graph_status(g);
}
/* reads N Ca Cb H W */
static ldm_status c_concat(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "a", 4, S(a->N, a->Ca, a->H, a->W), -1, 1);
  int y = ldm_conf_input(cc, g, "b", 4, S(a->N, a->Cb, a->H, a->W), -1, 1);
  int o = ldm_concat(g, x, y);
  ldm_conf_compare(cc, g, o);
  return ldm_graph_status(g);
}
/* reads N C H W nparts */
static ldm_status c_split(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 4, S(a->N, a->C, a->H, a->W), -1, 1);
  int outs[8] = {LDM_NONE, LDM_NONE, LDM_NONE, LDM_NONE, LDM_NONE, LDM_NONE, LDM_NONE, LDM_NONE};
  ldm_split(g, x, a->nparts, outs);
  for (int k = 0; k < a->nparts; k++) ldm_conf_compare(cc, g, outs[k]);
  return ldm_graph_status(g);
}
/* one node into a guarded output; reads O I Cx Co c0 d0 Cn acc zero_rest */
static ldm_status c_channel_copy(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 3, S(a->O, a->Cx, a->I), -1, 1);
  int o = ldm_conf_output(cc, g, "out", 3, S(a->O, a->Co, a->I));
  ldm_channel_copy(g, x, o, a->O, a->I, a->Cx, a->Co, a->c0, a->d0, a->Cn, a->acc, a->zero_rest);
  return ldm_graph_status(g);
}
/* channel_copy_multi jobs, one row each: {input, output, Cx, Co, c0, d0, Cn, acc, zero_rest}; inputs and
 * outputs are numbered per case (the same number: one tensor), each [O, C, I] with the C its jobs give */
static const uint32_t copy_jobs[][9] = {
    /* nparts 2, c0 0: a concatenation [3, 5 + 7, 11], the second half accumulating */
    {0, 0, 5, 12, 0, 0, 5, 0, 0}, {1, 0, 7, 12, 0, 5, 7, 1, 0},
    /* nparts 3, c0 2: a split of one [2, 12, 25] into 4 + 4 (acc) and 4 into the middle of 9 (zero rest) */
    {0, 0, 12, 4, 0, 0, 4, 0, 0}, {0, 1, 12, 4, 4, 0, 4, 1, 0}, {0, 2, 12, 9, 8, 3, 4, 0, 1},
    /* nparts 4, c0 5: a whole copy, two disjoint slices of one output (one acc), a zero-rest slice */
    {0, 0, 9, 9, 0, 0, 9, 0, 0}, {1, 1, 3, 20, 0, 0, 3, 0, 0}, {2, 1, 6, 20, 0, 14, 6, 1, 0},
    {0, 2, 9, 6, 2, 1, 4, 0, 1},
};
/* reads O I nparts (jobs, 2 .. 4) c0 (the first row of copy_jobs) */
static ldm_status c_copy_multi(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int xs[4] = {LDM_NONE, LDM_NONE, LDM_NONE, LDM_NONE}, os[4] = {LDM_NONE, LDM_NONE, LDM_NONE, LDM_NONE};
  int x[4], o[4];
  ldm_pc_channel_copy jobs[4];
  for (int k = 0; k < a->nparts; k++) {
    const uint32_t *r = copy_jobs[a->c0 + k];
    char name[16];
    if (xs[r[0]] == LDM_NONE) {
      snprintf(name, sizeof name, "x%u", r[0]);
      xs[r[0]] = ldm_conf_input(cc, g, name, 3, S(a->O, r[2], a->I), -1, 1);
    }
    if (os[r[1]] == LDM_NONE) {
      snprintf(name, sizeof name, "out%u", r[1]);
      os[r[1]] = ldm_conf_output(cc, g, name, 3, S(a->O, r[3], a->I));
    }
    x[k] = xs[r[0]];
    o[k] = os[r[1]];
    jobs[k] = (ldm_pc_channel_copy){(uint32_t)a->O, (uint32_t)a->I, r[2], r[3], r[4], r[5], r[6], r[7], r[8]};
  }
  ldm_channel_copy_multi(g, (int)a->nparts, x, o, jobs);
  return ldm_graph_status(g);
}
/* reads V D B */
static ldm_status c_embedding(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int t = ldm_conf_input(cc, g, "table", 2, S(a->V, a->D), -1, 1);
  int idx = ldm_conf_input_u32(cc, g, "idx", a->B, (uint32_t)a->V + 2); /* a few out of range on purpose */
  int o = ldm_embedding(g, t, idx);
  ldm_conf_compare(cc, g, o);
  return ldm_graph_status(g);
}
/* reads V D B acc (B > V: repeated indices must sum) */
static ldm_status c_embedding_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int idx = ldm_conf_input_u32(cc, g, "idx", a->B, (uint32_t)a->V);
  int dy = ldm_conf_input(cc, g, "dy", 2, S(a->B, a->D), -1, 1);
  int dt = ldm_conf_output(cc, g, "dtable", 2, S(a->V, a->D));
  ldm_pc_embedding_backward pc = {(uint32_t)a->B, (uint32_t)a->V, (uint32_t)a->D, (uint32_t)a->acc};
  ldm_node_add(g, LDM_OP_embedding_backward, (int[]){idx, dy}, 2, &dt, 1, &pc, sizeof pc, "embedding_backward");
  return ldm_graph_status(g);
}
/* reads B dim (t in [0, 1000)) */
static ldm_status c_timestep_embedding(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int t = ldm_conf_input_u32(cc, g, "t", a->B, 1000);
  int o = ldm_timestep_embedding(g, t, a->dim);
  ldm_conf_compare(cc, g, o);
  return ldm_graph_status(g);
}
/* the attention node; reads N C H W heads range (qkv in [-range, range)) */
static ldm_status c_attention(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int qkv = ldm_conf_input(cc, g, "qkv", 4, S(a->N, 3 * a->C, a->H, a->W), -a->range, a->range);
  int o = ldm_attention_core(g, qkv, a->heads);
  ldm_conf_compare(cc, g, o);
  ldm_conf_compare(cc, g, gn_out(g, o, 1)); /* P */
  return ldm_graph_status(g);
}
/* the attention node on each backend, then its backward node; reads N C H W heads range acc */
static ldm_status c_attention_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int qkv = ldm_conf_input(cc, g, "qkv", 4, S(a->N, 3 * a->C, a->H, a->W), -a->range, a->range);
  int dy = ldm_conf_input(cc, g, "dy", 4, S(a->N, a->C, a->H, a->W), -1, 1);
  int dx = ldm_conf_output(cc, g, "dqkv", 4, S(a->N, 3 * a->C, a->H, a->W));
  int o = ldm_attention_core(g, qkv, a->heads);
  ldm_attention_backward_node(g, qkv, o, gn_out(g, o, 1), dy, dx, a->acc);
  return ldm_graph_status(g);
}

const ldm_conf_case ldm_conf_cases_norm[] = {
    {.op = "group_norm", .shape = "[3,12,7,7] G3", .build = c_group_norm, .a = {.N = 3, .C = 12, .H = 7, .W = 7, .groups = 3}},
    {.op = "group_norm", .shape = "[2,64,8,8] G16", .build = c_group_norm, .a = {.N = 2, .C = 64, .H = 8, .W = 8, .groups = 16}},
    {.op = "group_norm", .shape = "[1,5,1,1] G5 (one element per group)", .build = c_group_norm, .a = {.N = 1, .C = 5, .H = 1, .W = 1, .groups = 5}},
    {.op = "group_norm", .shape = "[2,8,33,31] G2 offset 100", .build = c_group_norm, .a = {.N = 2, .C = 8, .H = 33, .W = 31, .groups = 2, .offset = 100}},
    {.op = "group_norm", .shape = "[2,32,4,4] G8 offset 1000", .build = c_group_norm, .a = {.N = 2, .C = 32, .H = 4, .W = 4, .groups = 8, .offset = 1000}},
    {.op = "group_norm", .shape = "[16,128,16,16] G32", .build = c_group_norm, .a = {.N = 16, .C = 128, .H = 16, .W = 16, .groups = 32}, .full_only = true},
    {.op = "group_norm_backward", .shape = "[3,12,7,7] G3", .build = c_group_norm_backward, .a = {.N = 3, .C = 12, .H = 7, .W = 7, .groups = 3, .want_dx = true}},
    {.op = "group_norm_backward", .shape = "[2,64,8,8] G16 acc", .build = c_group_norm_backward, .a = {.N = 2, .C = 64, .H = 8, .W = 8, .groups = 16, .acc = true, .want_dx = true}},
    {.op = "group_norm_backward", .shape = "[2,8,33,31] G2", .build = c_group_norm_backward, .a = {.N = 2, .C = 8, .H = 33, .W = 31, .groups = 2, .want_dx = true}},
    {.op = "group_norm_backward", .shape = "[3,12,5,3] G4 no dx", .build = c_group_norm_backward, .a = {.N = 3, .C = 12, .H = 5, .W = 3, .groups = 4}},
    {.op = "group_norm_backward", .shape = "[16,128,16,16] G32", .build = c_group_norm_backward, .a = {.N = 16, .C = 128, .H = 16, .W = 16, .groups = 32, .want_dx = true}, .full_only = true},
    {.op = "softmax", .shape = "[7,1] +-50", .build = c_softmax, .a = {.rows = 7, .cols = 1, .range = 50}},
    {.op = "softmax", .shape = "[33,17] +-50", .build = c_softmax, .a = {.rows = 33, .cols = 17, .range = 50}},
    {.op = "softmax", .shape = "[5,1000] +-50", .build = c_softmax, .a = {.rows = 5, .cols = 1000, .range = 50}},
    {.op = "softmax", .shape = "[2048,16] +-4 (attention 4x4)", .build = c_softmax, .a = {.rows = 2048, .cols = 16, .range = 4}},
    {.op = "softmax", .shape = "[300,65] +-8", .build = c_softmax, .a = {.rows = 300, .cols = 65, .range = 8}},
    {.op = "softmax", .shape = "[4096,1024] +-8", .build = c_softmax, .a = {.rows = 4096, .cols = 1024, .range = 8}, .full_only = true},
    {.op = "softmax_backward", .shape = "[7,1] +-50", .build = c_softmax_backward, .a = {.rows = 7, .cols = 1, .range = 50}},
    {.op = "softmax_backward", .shape = "[33,17] +-50 acc", .build = c_softmax_backward, .a = {.rows = 33, .cols = 17, .range = 50, .acc = true}},
    {.op = "softmax_backward", .shape = "[5,1000] +-50", .build = c_softmax_backward, .a = {.rows = 5, .cols = 1000, .range = 50}},
    {.op = "softmax_backward", .shape = "[300,65] +-8 acc", .build = c_softmax_backward, .a = {.rows = 300, .cols = 65, .range = 8, .acc = true}},
    {.op = "channel_copy", .shape = "concat [3,5,7,3,5]", .build = c_concat, .a = {.N = 3, .Ca = 5, .Cb = 7, .H = 3, .W = 5}},
    {.op = "channel_copy", .shape = "concat [2,64,128,8,8]", .build = c_concat, .a = {.N = 2, .Ca = 64, .Cb = 128, .H = 8, .W = 8}},
    {.op = "channel_copy", .shape = "split [3,12,7,7] into 3", .build = c_split, .a = {.N = 3, .C = 12, .H = 7, .W = 7, .nparts = 3}},
    {.op = "channel_copy", .shape = "split [2,8,1,5] into 2", .build = c_split, .a = {.N = 2, .C = 8, .H = 1, .W = 5, .nparts = 2}},
    {.op = "channel_copy", .shape = "[3,7x9 -> 5x11 at 2] acc", .build = c_channel_copy, .a = {.O = 3, .I = 11, .Cx = 7, .Co = 9, .c0 = 1, .d0 = 2, .Cn = 5, .acc = true}},
    {.op = "channel_copy", .shape = "[3,4x9 -> 12x9 at 4] zero rest", .build = c_channel_copy, .a = {.O = 3, .I = 9, .Cx = 4, .Co = 12, .d0 = 4, .Cn = 4, .zero_rest = true}},
    {.op = "channel_copy", .shape = "[2,12x25 -> 4x25 from 8]", .build = c_channel_copy, .a = {.O = 2, .I = 25, .Cx = 12, .Co = 4, .c0 = 8, .Cn = 4}},
    {.op = "channel_copy_multi", .shape = "2 jobs: concat [3,5+7,11], 2nd acc", .build = c_copy_multi, .a = {.O = 3, .I = 11, .nparts = 2, .c0 = 0}},
    {.op = "channel_copy_multi", .shape = "3 jobs: split [2,12,25], acc, zero rest", .build = c_copy_multi, .a = {.O = 2, .I = 25, .nparts = 3, .c0 = 2}},
    {.op = "channel_copy_multi", .shape = "4 jobs [5,C,7]: 2 into 1 (acc), zero rest", .build = c_copy_multi, .a = {.O = 5, .I = 7, .nparts = 4, .c0 = 5}},
    {.op = "embedding", .shape = "V5 D33 B37", .build = c_embedding, .a = {.V = 5, .D = 33, .B = 37}},
    {.op = "embedding", .shape = "V11 D256 B128", .build = c_embedding, .a = {.V = 11, .D = 256, .B = 128}},
    {.op = "embedding_backward", .shape = "V5 D33 B37 (repeats)", .build = c_embedding_backward, .a = {.V = 5, .D = 33, .B = 37}},
    {.op = "embedding_backward", .shape = "V11 D256 B128 acc", .build = c_embedding_backward, .a = {.V = 11, .D = 256, .B = 128, .acc = true}},
    {.op = "embedding_backward", .shape = "V300 D7 B3", .build = c_embedding_backward, .a = {.V = 300, .D = 7, .B = 3}},
    {.op = "timestep_embedding", .shape = "B64 dim128 t<1000", .build = c_timestep_embedding, .a = {.B = 64, .dim = 128}},
    {.op = "timestep_embedding", .shape = "B7 dim6", .build = c_timestep_embedding, .a = {.B = 7, .dim = 6}},
    {.op = "timestep_embedding", .shape = "B1000 dim256", .build = c_timestep_embedding, .a = {.B = 1000, .dim = 256}, .full_only = true},
{.op = "attention", .shape = "[2,16,5,5] 4 heads", .build = c_attention, .a = {.N = 2, .C = 16, .H = 5, .W = 5, .heads = 4, .range = 2}},
    {.op = "attention", .shape = "[3,12,4,4] 1 head", .build = c_attention, .a = {.N = 3, .C = 12, .H = 4, .W = 4, .heads = 1, .range = 2}},
    {.op = "attention", .shape = "[2,64,9,9] 4 heads", .build = c_attention, .a = {.N = 2, .C = 64, .H = 9, .W = 9, .heads = 4, .range = 2}},
    {.op = "attention", .shape = "[1,8,1,1] 2 heads (one token)", .build = c_attention, .a = {.N = 1, .C = 8, .H = 1, .W = 1, .heads = 2, .range = 2}},
    {.op = "attention", .shape = "[2,2400,3,3] 2 heads (d 1200: channel blocks)", .build = c_attention, .a = {.N = 2, .C = 2400, .H = 3, .W = 3, .heads = 2, .range = 0.1f}},
    {.op = "attention", .shape = "[1,8,19,19] 2 heads (361 tokens) +-6", .build = c_attention, .a = {.N = 1, .C = 8, .H = 19, .W = 19, .heads = 2, .range = 6}},
    {.op = "attention", .shape = "[16,128,8,8] 4 heads", .build = c_attention, .a = {.N = 16, .C = 128, .H = 8, .W = 8, .heads = 4, .range = 2}, .full_only = true},
    {.op = "attention_backward", .shape = "[2,16,5,5] 4 heads", .build = c_attention_backward, .a = {.N = 2, .C = 16, .H = 5, .W = 5, .heads = 4, .range = 2}},
    {.op = "attention_backward", .shape = "[3,12,4,4] 1 head acc", .build = c_attention_backward, .a = {.N = 3, .C = 12, .H = 4, .W = 4, .heads = 1, .range = 2, .acc = true}},
    {.op = "attention_backward", .shape = "[2,64,9,9] 4 heads", .build = c_attention_backward, .a = {.N = 2, .C = 64, .H = 9, .W = 9, .heads = 4, .range = 2}},
    {.op = "attention_backward", .shape = "[1,8,1,1] 2 heads (one token)", .build = c_attention_backward, .a = {.N = 1, .C = 8, .H = 1, .W = 1, .heads = 2, .range = 2}},
    {.op = "attention_backward", .shape = "[2,2400,3,3] 2 heads (d 1200) acc", .build = c_attention_backward, .a = {.N = 2, .C = 2400, .H = 3, .W = 3, .heads = 2, .range = 0.1f, .acc = true}},
    {.op = "attention_backward", .shape = "[1,8,19,19] 2 heads (361 tokens)", .build = c_attention_backward, .a = {.N = 1, .C = 8, .H = 19, .W = 19, .heads = 2, .range = 3}},
    {.op = "attention_backward", .shape = "[16,128,8,8] 4 heads", .build = c_attention_backward, .a = {.N = 16, .C = 128, .H = 8, .W = 8, .heads = 4, .range = 2}, .full_only = true},
    {.op = "group_norm_silu", .shape = "[3,12,7,7] G3", .build = c_group_norm_silu, .a = {.N = 3, .C = 12, .H = 7, .W = 7, .groups = 3}},
    {.op = "group_norm_silu", .shape = "[1,5,1,1] G5 (one element per group)", .build = c_group_norm_silu, .a = {.N = 1, .C = 5, .H = 1, .W = 1, .groups = 5}},
    {.op = "group_norm_silu", .shape = "[2,8,33,31] G2 offset 100", .build = c_group_norm_silu, .a = {.N = 2, .C = 8, .H = 33, .W = 31, .groups = 2, .offset = 100}},
    {.op = "group_norm_silu", .shape = "[2,64,8,8] G32", .build = c_group_norm_silu, .a = {.N = 2, .C = 64, .H = 8, .W = 8, .groups = 32}},
    {.op = "group_norm_silu", .shape = "[16,128,16,16] G32", .build = c_group_norm_silu, .a = {.N = 16, .C = 128, .H = 16, .W = 16, .groups = 32}, .full_only = true},
    {.op = "group_norm_silu_backward", .shape = "[3,12,7,7] G3", .build = c_group_norm_silu_backward, .a = {.N = 3, .C = 12, .H = 7, .W = 7, .groups = 3, .want_dx = true}},
    {.op = "group_norm_silu_backward", .shape = "[2,64,8,8] G16 acc", .build = c_group_norm_silu_backward, .a = {.N = 2, .C = 64, .H = 8, .W = 8, .groups = 16, .acc = true, .want_dx = true}},
    {.op = "group_norm_silu_backward", .shape = "[2,8,33,31] G2", .build = c_group_norm_silu_backward, .a = {.N = 2, .C = 8, .H = 33, .W = 31, .groups = 2, .want_dx = true}},
    {.op = "group_norm_silu_backward", .shape = "[3,12,5,3] G4 no dx", .build = c_group_norm_silu_backward, .a = {.N = 3, .C = 12, .H = 5, .W = 3, .groups = 4}},
    {.op = "group_norm_silu_backward", .shape = "[16,128,16,16] G32", .build = c_group_norm_silu_backward, .a = {.N = 16, .C = 128, .H = 16, .W = 16, .groups = 32, .want_dx = true}, .full_only = true},
};
const int ldm_conf_cases_norm_n = (int)(sizeof ldm_conf_cases_norm / sizeof ldm_conf_cases_norm[0]);
