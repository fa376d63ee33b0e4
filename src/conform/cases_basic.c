/* Conformance cases of the basic op family (odd shapes on purpose). */
#include <stdio.h>

#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ops/basic.h"
#include "runtime/runtime.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)

static ldm_status c_fill(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int o = ldm_conf_output(cc, g, "out", 1, S(a->n));
  ldm_fill(g, o, -2.5f);
  return ldm_graph_status(g);
}
static ldm_status c_copy(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a->n), -3, 3), o = ldm_conf_output(cc, g, "out", 1, S(a->n));
  ldm_copy(g, x, o);
  return ldm_graph_status(g);
}
/* reads n, kind (LDM_RNG_*), use_step */
static ldm_status c_philox(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int st = ldm_conf_step(cc, g);
  int o = ldm_conf_output_ex(cc, g, "out", a->kind == LDM_RNG_U32 ? LDM_U32 : LDM_F32, 1, S(a->n), 0, 1);
  ldm_philox_fill(g, o, a->use_step ? st : -1, a->kind, 1234u, 5u, 0x100000001ull);
  return ldm_graph_status(g);
}
/* reads n, kind (LDM_EW_*), acc; fill, copy, ew_scale, mse, sgd: n (and acc) */
static ldm_status c_ew_binary(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "a", 1, S(a->n), -2, 2), y = ldm_conf_input(cc, g, "b", 1, S(a->n), -2, 2);
  int o = ldm_conf_output(cc, g, "out", 1, S(a->n));
  ldm_ew_binary(g, a->kind, x, y, o, a->acc);
  return ldm_graph_status(g);
}
static ldm_status c_ew_scale(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a->n), -2, 2), o = ldm_conf_output(cc, g, "out", 1, S(a->n));
  ldm_ew_scale(g, x, o, -0.37f, a->acc);
  return ldm_graph_status(g);
}
/* reads O J I acc (x [O, J, I] -> out [J]) */
static ldm_status c_reduce(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S((int64_t)a->O * a->J * a->I), -1, 1);
  int o = ldm_conf_output(cc, g, "out", 1, S(a->J));
  ldm_reduce_sum(g, x, o, a->O, a->J, a->I, 0.5f, a->acc);
  return ldm_graph_status(g);
}
/* reads nparts (jobs, 2 .. 4), c0 (the first row of multi_jobs): reduce_sum_multi of the jobs {O, J, I, acc} */
static const int64_t multi_jobs[][4] = {
    {3, 17, 33, 1}, {129, 5, 1, 0},                                   /* tree + serial, accumulate on / off */
    {1, 1, 100003, 0}, {2, 70001, 1, 1}, {7, 3, 5, 0},                 /* one long tree, a wide serial, odd */
    {1, 1, 1, 1}, {5, 33, 17, 0}, {2, 300, 3, 1}, {11, 257, 1, 0},     /* four jobs */
};
static ldm_status c_reduce_multi(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x[4], o[4];
  ldm_pc_reduce_sum jobs[4];
  for (int k = 0; k < a->nparts; k++) {
    const int64_t *r = multi_jobs[a->c0 + k];
    char name[16];
    snprintf(name, sizeof name, "x%d", k);
    x[k] = ldm_conf_input(cc, g, name, 1, S(r[0] * r[1] * r[2]), -1, 1);
    snprintf(name, sizeof name, "out%d", k);
    o[k] = ldm_conf_output(cc, g, name, 1, S(r[1]));
    jobs[k] = (ldm_pc_reduce_sum){(uint32_t)r[0], (uint32_t)r[1], (uint32_t)r[2], 0.5f - 0.25f * (float)k, (uint32_t)r[3]};
  }
  ldm_reduce_sum_multi(g, (int)a->nparts, x, o, jobs);
  return ldm_graph_status(g);
}
/* reads O J I xO acc (x [xO, J] -> out [O, J, I]) */
static ldm_status c_broadcast(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S((int64_t)a->xO * a->J), -1, 1);
  int o = ldm_conf_output(cc, g, "out", 1, S((int64_t)a->O * a->J * a->I));
  ldm_broadcast(g, x, o, a->O, a->J, a->I, a->xO, -0.6f, a->acc);
  return ldm_graph_status(g);
}
static ldm_status c_mse(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "a", 1, S(a->n), -1, 1), y = ldm_conf_input(cc, g, "b", 1, S(a->n), -1, 1);
  int l = ldm_mse_loss(g, x, y);
  ldm_conf_compare(cc, g, l);
  return ldm_graph_status(g);
}
static ldm_status c_mse_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int x = ldm_conf_input(cc, g, "a", 1, S(a->n), -1, 1), y = ldm_conf_input(cc, g, "b", 1, S(a->n), -1, 1);
  int dl = ldm_conf_input(cc, g, "dl", 1, S(1), 0.5f, 2);
  int o = ldm_conf_output(cc, g, "da", 1, S(a->n));
  ldm_pc_mse_loss_backward pc = {.n = (uint32_t)a->n, .scale = 2.0f / (float)a->n, .accumulate = (uint32_t)a->acc};
  ldm_node_add(g, LDM_OP_mse_loss_backward, (int[]){x, y, dl}, 3, &o, 1, &pc, sizeof pc, "mse_loss_backward");
  return ldm_graph_status(g);
}
/* reads M N K batch, ta tb, bias (LDM_BIAS_*), acc, bcast_b (one B for the whole batch), kind (act:
 * LDM_GEMM_ACT_*; the pre-activation output z is compared too). Batch-1 GEMMs of few tiles get split-K's
 * workspace and counters from the builder (ldm_gemm_split_max); LDM_VK_SPLITK forces S. */
static ldm_status c_gemm(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int64_t M = a->M, N = a->N, K = a->K, B = a->batch;
  int bcast = a->bcast_b;
  int A_ = ldm_conf_input(cc, g, "A", 1, S(B * M * K), -1, 1);
  int B_ = ldm_conf_input(cc, g, "B", 1, S((bcast ? 1 : B) * N * K), -1, 1);
  int bias = a->bias ? ldm_conf_input(cc, g, "bias", 1, S(a->bias == 1 ? N : M), -1, 1) : -1;
  int C = ldm_conf_output(cc, g, "C", 1, S(B * M * N));
  ldm_gemm_args ga = {a->ta, a->tb, (int)B, 0.75f, a->acc, a->bias == LDM_BIAS_ROWS};
  if (ldm_gemm_act(g, A_, B_, a->bias ? bias : -1, C, M, N, K, ga, a->kind) >= 0 && a->kind) ldm_conf_compare(cc, g, g->n[g->nn - 1].out[1]);
  return ldm_graph_status(g);
}
static ldm_status c_sgd(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int st = ldm_conf_step(cc, g);
  int gr = ldm_conf_input(cc, g, "grad", 1, S(a->n), -1, 1), p = ldm_conf_output(cc, g, "p", 1, S(a->n));
  ldm_sgd(g, p, gr, st);
  return ldm_graph_status(g);
}
/* reads n, wd (weight decay 0.01) */
static ldm_status c_adamw(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *a) {
  int st = ldm_conf_step(cc, g);
  int gr = ldm_conf_output(cc, g, "grad", 1, S(a->n));
  int p = ldm_conf_output(cc, g, "p", 1, S(a->n));
  int m = ldm_conf_output(cc, g, "m", 1, S(a->n));
  int v = ldm_conf_output_ex(cc, g, "v", LDM_F32, 1, S(a->n), 0.0f, 0.01f);
  ldm_adamw(g, p, gr, m, v, st, ldm_adamw_recipe.beta1, ldm_adamw_recipe.beta2, ldm_adamw_recipe.eps, a->wd ? 0.01f : 0.0f);
  return ldm_graph_status(g);
}

const ldm_conf_case ldm_conf_cases_basic[] = {
    {.op = "fill", .shape = "1", .build = c_fill, .a = {.n = 1}},
    {.op = "fill", .shape = "4099", .build = c_fill, .a = {.n = 4099}},
    {.op = "copy", .shape = "1", .build = c_copy, .a = {.n = 1}},
    {.op = "copy", .shape = "70001", .build = c_copy, .a = {.n = 70001}},
    {.op = "philox_fill", .shape = "u32 4097", .build = c_philox, .a = {.n = 4097, .kind = LDM_RNG_U32, .use_step = true}},
    {.op = "philox_fill", .shape = "uniform 1001 no-step", .build = c_philox, .a = {.n = 1001, .kind = LDM_RNG_UNIFORM}},
    {.op = "philox_fill", .shape = "normal 4099", .build = c_philox, .a = {.n = 4099, .kind = LDM_RNG_NORMAL, .use_step = true}, .tol = 1e-10},
    {.op = "ew_binary", .shape = "add 1", .build = c_ew_binary, .a = {.n = 1, .kind = LDM_EW_ADD}},
    {.op = "ew_binary", .shape = "sub 1023 acc", .build = c_ew_binary, .a = {.n = 1023, .kind = LDM_EW_SUB, .acc = true}},
    {.op = "ew_binary", .shape = "mul 70001", .build = c_ew_binary, .a = {.n = 70001, .kind = LDM_EW_MUL}},
    {.op = "ew_binary", .shape = "mul 257 acc", .build = c_ew_binary, .a = {.n = 257, .kind = LDM_EW_MUL, .acc = true}},
    {.op = "ew_scale", .shape = "1023", .build = c_ew_scale, .a = {.n = 1023}},
    {.op = "ew_scale", .shape = "4097 acc", .build = c_ew_scale, .a = {.n = 4097, .acc = true}},
    {.op = "reduce_sum", .shape = "[1,1,1]", .build = c_reduce, .a = {.O = 1, .J = 1, .I = 1}},
    {.op = "reduce_sum", .shape = "[3,17,33] acc", .build = c_reduce, .a = {.O = 3, .J = 17, .I = 33, .acc = true}},
    {.op = "reduce_sum", .shape = "[1,1,100003]", .build = c_reduce, .a = {.O = 1, .J = 1, .I = 100003}},
    {.op = "reduce_sum", .shape = "[129,5,1]", .build = c_reduce, .a = {.O = 129, .J = 5, .I = 1}},
    {.op = "reduce_sum", .shape = "[2,70001,1]", .build = c_reduce, .a = {.O = 2, .J = 70001, .I = 1}},
    {.op = "reduce_sum", .shape = "[4,300,24] acc", .build = c_reduce, .a = {.O = 4, .J = 300, .I = 24, .acc = true}},
    {.op = "reduce_sum_multi", .shape = "2 jobs [3,17,33] acc, [129,5,1]", .build = c_reduce_multi, .a = {.nparts = 2, .c0 = 0}},
    {.op = "reduce_sum_multi", .shape = "3 jobs [1,1,100003], [2,70001,1] acc, [7,3,5]", .build = c_reduce_multi, .a = {.nparts = 3, .c0 = 2}},
    {.op = "reduce_sum_multi", .shape = "4 jobs [1,1,1] acc, [5,33,17], [2,300,3] acc, [11,257,1]", .build = c_reduce_multi, .a = {.nparts = 4, .c0 = 5}},
    {.op = "broadcast", .shape = "[1,1,1]", .build = c_broadcast, .a = {.O = 1, .J = 1, .I = 1, .xO = 1}},
    {.op = "broadcast", .shape = "[3,17,33] per-channel acc", .build = c_broadcast, .a = {.O = 3, .J = 17, .I = 33, .xO = 1, .acc = true}},
    {.op = "broadcast", .shape = "[5,7,11] per-sample", .build = c_broadcast, .a = {.O = 5, .J = 7, .I = 11, .xO = 5}},
    {.op = "mse_loss", .shape = "1", .build = c_mse, .a = {.n = 1}},
    {.op = "mse_loss", .shape = "131073", .build = c_mse, .a = {.n = 131073}},
    {.op = "mse_loss_backward", .shape = "1031", .build = c_mse_backward, .a = {.n = 1031}},
    {.op = "mse_loss_backward", .shape = "33 acc", .build = c_mse_backward, .a = {.n = 33, .acc = true}},
    {.op = "gemm", .shape = "1x1x1", .build = c_gemm, .a = {.M = 1, .N = 1, .K = 1, .batch = 1}},
    {.op = "gemm", .shape = "33x65x17", .build = c_gemm, .a = {.M = 33, .N = 65, .K = 17, .batch = 1}},
    {.op = "gemm", .shape = "33x65x17 tA", .build = c_gemm, .a = {.M = 33, .N = 65, .K = 17, .batch = 1, .ta = true}},
    {.op = "gemm", .shape = "33x65x17 tB", .build = c_gemm, .a = {.M = 33, .N = 65, .K = 17, .batch = 1, .tb = true}},
    {.op = "gemm", .shape = "33x65x17 tA tB", .build = c_gemm, .a = {.M = 33, .N = 65, .K = 17, .batch = 1, .ta = true, .tb = true}},
    {.op = "gemm", .shape = "257x129x511", .build = c_gemm, .a = {.M = 257, .N = 129, .K = 511, .batch = 1}},
    {.op = "gemm", .shape = "257x129x511 tA tB bias-cols acc", .build = c_gemm, .a = {.M = 257, .N = 129, .K = 511, .batch = 1, .ta = true, .tb = true, .bias = LDM_BIAS_COLS, .acc = true}},
    {.op = "gemm", .shape = "batch 3 x 31x47x19 tB bias-rows", .build = c_gemm, .a = {.M = 31, .N = 47, .K = 19, .batch = 3, .tb = true, .bias = LDM_BIAS_ROWS}},
    {.op = "gemm", .shape = "batch 5 x 17x9x64 tA shared-B acc", .build = c_gemm, .a = {.M = 17, .N = 9, .K = 64, .batch = 5, .ta = true, .acc = true, .bcast_b = true}},
    {.op = "gemm", .shape = "1x300x1", .build = c_gemm, .a = {.M = 1, .N = 300, .K = 1, .batch = 1, .bias = LDM_BIAS_COLS}},
    /* the SiLU epilogue (docs/perf.md "Change 9") and split-K (S_max from the builder; "Change 10") */
    {.op = "gemm", .shape = "silu 33x65x17 tB bias-cols", .build = c_gemm, .a = {.M = 33, .N = 65, .K = 17, .batch = 1, .tb = true, .bias = LDM_BIAS_COLS, .kind = LDM_GEMM_ACT_SILU}},
    {.op = "gemm", .shape = "silu 128x256x128 tB bias-cols (split builder)", .build = c_gemm, .a = {.M = 128, .N = 256, .K = 128, .batch = 1, .tb = true, .bias = LDM_BIAS_COLS, .kind = LDM_GEMM_ACT_SILU}},
    {.op = "gemm", .shape = "silu batch 2 x 20x30x40 bias-rows", .build = c_gemm, .a = {.M = 20, .N = 30, .K = 40, .batch = 2, .bias = LDM_BIAS_ROWS, .kind = LDM_GEMM_ACT_SILU}},
    /* one 64x64 tile: split by the auto choice on a 2-unit device too (lavapipe), so the split variants run */
    {.op = "gemm", .shape = "split builder 64x60x1000 tA bias-rows", .build = c_gemm, .a = {.M = 64, .N = 60, .K = 1000, .batch = 1, .ta = true, .bias = LDM_BIAS_ROWS}},
    {.op = "gemm", .shape = "silu split builder 50x64x777 tB bias-cols", .build = c_gemm, .a = {.M = 50, .N = 64, .K = 777, .batch = 1, .tb = true, .bias = LDM_BIAS_COLS, .kind = LDM_GEMM_ACT_SILU}},
    {.op = "gemm", .shape = "split builder 256x128x128 tA acc", .build = c_gemm, .a = {.M = 256, .N = 128, .K = 128, .batch = 1, .ta = true, .acc = true}},
    {.op = "gemm", .shape = "1024x1024x1024", .build = c_gemm, .a = {.M = 1024, .N = 1024, .K = 1024, .batch = 1}, .full_only = true},
    {.op = "gemm", .shape = "batch 8 x 512x384x640 tB", .build = c_gemm, .a = {.M = 512, .N = 384, .K = 640, .batch = 8, .tb = true}, .full_only = true},
    {.op = "sgd", .shape = "1001", .build = c_sgd, .a = {.n = 1001}},
    {.op = "adamw", .shape = "4099", .build = c_adamw, .a = {.n = 4099}},
    {.op = "adamw", .shape = "257 wd", .build = c_adamw, .a = {.n = 257, .wd = true}},
};
const int ldm_conf_cases_basic_n = (int)(sizeof ldm_conf_cases_basic / sizeof ldm_conf_cases_basic[0]);
