/* Conformance cases of the basic op family (odd shapes on purpose). */
#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)
#define TRY_T(x)                                                                                   \
  do {                                                                                             \
    if ((x) < 0) return LDM_ERR_INTERNAL;                                                          \
  } while (0)

static ldm_status c_fill(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int o = ldm_conf_output(cc, g, "out", 1, S(a[0]));
  TRY_T(o);
  TRY_T(ldm_fill(g, o, -2.5f));
  return LDM_OK;
}
static ldm_status c_copy(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a[0]), -3, 3), o = ldm_conf_output(cc, g, "out", 1, S(a[0]));
  TRY_T(x);
  TRY_T(o);
  TRY_T(ldm_copy(g, x, o));
  return LDM_OK;
}
static ldm_status c_philox(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_conf_step(cc, g);
  int o = ldm_conf_output_ex(cc, g, "out", a[1] == 0 ? LDM_U32 : LDM_F32, 1, S(a[0]), 0, 1);
  TRY_T(st);
  TRY_T(o);
  TRY_T(ldm_philox_fill(g, o, a[2] ? st : -1, a[1], 1234u, 5u, 0x100000001ull));
  return LDM_OK;
}
static ldm_status c_ew_binary(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "a", 1, S(a[0]), -2, 2), y = ldm_conf_input(cc, g, "b", 1, S(a[0]), -2, 2);
  int o = ldm_conf_output(cc, g, "out", 1, S(a[0]));
  TRY_T(x);
  TRY_T(y);
  TRY_T(o);
  TRY_T(ldm_ew_binary(g, a[1], x, y, o, a[2]));
  return LDM_OK;
}
static ldm_status c_ew_scale(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a[0]), -2, 2), o = ldm_conf_output(cc, g, "out", 1, S(a[0]));
  TRY_T(x);
  TRY_T(o);
  TRY_T(ldm_ew_scale(g, x, o, -0.37f, a[1]));
  return LDM_OK;
}
static ldm_status c_silu(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a[0]), -8, 8);
  TRY_T(x);
  int y = ldm_silu(g, x);
  TRY_T(y);
  ldm_conf_compare(cc, g, y);
  return LDM_OK;
}
/* silu_backward through the autodiff: d/dx sum(silu(x) * w) */
static ldm_status c_silu_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S(a[0]), -8, 8), dy = ldm_conf_input(cc, g, "dy", 1, S(a[0]), -1, 1);
  int dx = ldm_conf_output(cc, g, "dx", 1, S(a[0]));
  TRY_T(x);
  TRY_T(dy);
  TRY_T(dx);
  struct { uint32_t n, accumulate; } pc = {(uint32_t)a[0], (uint32_t)a[1]};
  TRY_T(ldm_node_add(g, LDM_OP_silu_backward, (int[]){x, dy}, 2, &dx, 1, &pc, sizeof pc, "silu_backward"));
  return LDM_OK;
}
static ldm_status c_reduce(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S((int64_t)a[0] * a[1] * a[2]), -1, 1);
  int o = ldm_conf_output(cc, g, "out", 1, S(a[1]));
  TRY_T(x);
  TRY_T(o);
  TRY_T(ldm_reduce_sum(g, x, o, a[0], a[1], a[2], 0.5f, a[3]));
  return LDM_OK;
}
static ldm_status c_broadcast(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "x", 1, S((int64_t)a[3] * a[1]), -1, 1);
  int o = ldm_conf_output(cc, g, "out", 1, S((int64_t)a[0] * a[1] * a[2]));
  TRY_T(x);
  TRY_T(o);
  TRY_T(ldm_broadcast(g, x, o, a[0], a[1], a[2], a[3], -0.6f, a[4]));
  return LDM_OK;
}
static ldm_status c_mse(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "a", 1, S(a[0]), -1, 1), y = ldm_conf_input(cc, g, "b", 1, S(a[0]), -1, 1);
  TRY_T(x);
  TRY_T(y);
  int l = ldm_mse_loss(g, x, y);
  TRY_T(l);
  ldm_conf_compare(cc, g, l);
  return LDM_OK;
}
static ldm_status c_mse_backward(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int x = ldm_conf_input(cc, g, "a", 1, S(a[0]), -1, 1), y = ldm_conf_input(cc, g, "b", 1, S(a[0]), -1, 1);
  int dl = ldm_conf_input(cc, g, "dl", 1, S(1), 0.5f, 2);
  int o = ldm_conf_output(cc, g, "da", 1, S(a[0]));
  TRY_T(x);
  TRY_T(y);
  TRY_T(dl);
  TRY_T(o);
  struct { uint32_t n; float scale; uint32_t accumulate; } pc = {(uint32_t)a[0], 2.0f / (float)a[0], (uint32_t)a[1]};
  TRY_T(ldm_node_add(g, LDM_OP_mse_loss_backward, (int[]){x, y, dl}, 3, &o, 1, &pc, sizeof pc, "mse_loss_backward"));
  return LDM_OK;
}
/* arg: M N K batch ta tb bias(0 none,1 cols,2 rows) accumulate|bcastB<<1 */
static ldm_status c_gemm(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int64_t M = a[0], N = a[1], K = a[2], B = a[3];
  int bcast = (a[7] >> 1) & 1;
  int A_ = ldm_conf_input(cc, g, "A", 1, S(B * M * K), -1, 1);
  int B_ = ldm_conf_input(cc, g, "B", 1, S((bcast ? 1 : B) * N * K), -1, 1);
  int bias = a[6] ? ldm_conf_input(cc, g, "bias", 1, S(a[6] == 1 ? N : M), -1, 1) : -1;
  int C = ldm_conf_output(cc, g, "C", 1, S(B * M * N));
  TRY_T(A_);
  TRY_T(B_);
  TRY_T(C);
  ldm_gemm_args ga = {a[4], a[5], (int)B, 0.75f, a[7] & 1, a[6] == 2};
  TRY_T(ldm_gemm(g, A_, B_, a[6] ? bias : -1, C, M, N, K, ga));
  return LDM_OK;
}
static ldm_status c_sgd(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_conf_step(cc, g);
  int gr = ldm_conf_input(cc, g, "grad", 1, S(a[0]), -1, 1), p = ldm_conf_output(cc, g, "p", 1, S(a[0]));
  TRY_T(st);
  TRY_T(gr);
  TRY_T(p);
  TRY_T(ldm_sgd(g, p, gr, st));
  return LDM_OK;
}
static ldm_status c_adamw(ldm_graph *g, ldm_conf_ctx *cc, const int *a) {
  int st = ldm_conf_step(cc, g);
  int gr = ldm_conf_output(cc, g, "grad", 1, S(a[0]));
  int p = ldm_conf_output(cc, g, "p", 1, S(a[0]));
  int m = ldm_conf_output(cc, g, "m", 1, S(a[0]));
  int v = ldm_conf_output_ex(cc, g, "v", LDM_F32, 1, S(a[0]), 0.0f, 0.01f);
  TRY_T(st);
  TRY_T(gr);
  TRY_T(p);
  TRY_T(m);
  TRY_T(v);
  TRY_T(ldm_adamw(g, p, gr, m, v, st, 0.9f, 0.999f, 1e-8f, a[1] ? 0.01f : 0.0f));
  return LDM_OK;
}

const ldm_conf_case ldm_conf_cases_basic[] = {
    {"fill", "1", c_fill, {1}, 0, false},
    {"fill", "4099", c_fill, {4099}, 0, false},
    {"copy", "1", c_copy, {1}, 0, false},
    {"copy", "70001", c_copy, {70001}, 0, false},
    {"philox_fill", "u32 4097", c_philox, {4097, 0, 1}, 0, false},
    {"philox_fill", "uniform 1001 no-step", c_philox, {1001, 1, 0}, 0, false},
    {"philox_fill", "normal 4099", c_philox, {4099, 2, 1}, 1e-10, false},
    {"ew_binary", "add 1", c_ew_binary, {1, 0, 0}, 0, false},
    {"ew_binary", "sub 1023 acc", c_ew_binary, {1023, 1, 1}, 0, false},
    {"ew_binary", "mul 70001", c_ew_binary, {70001, 2, 0}, 0, false},
    {"ew_binary", "mul 257 acc", c_ew_binary, {257, 2, 1}, 0, false},
    {"ew_scale", "1023", c_ew_scale, {1023, 0}, 0, false},
    {"ew_scale", "4097 acc", c_ew_scale, {4097, 1}, 0, false},
    {"silu", "1", c_silu, {1}, 0, false},
    {"silu", "5003", c_silu, {5003}, 0, false},
    {"silu_backward", "5003", c_silu_backward, {5003, 0}, 0, false},
    {"silu_backward", "77 acc", c_silu_backward, {77, 1}, 0, false},
    {"reduce_sum", "[1,1,1]", c_reduce, {1, 1, 1, 0}, 0, false},
    {"reduce_sum", "[3,17,33] acc", c_reduce, {3, 17, 33, 1}, 0, false},
    {"reduce_sum", "[1,1,100003]", c_reduce, {1, 1, 100003, 0}, 0, false},
    {"reduce_sum", "[129,5,1]", c_reduce, {129, 5, 1, 0}, 0, false},
    {"reduce_sum", "[2,70001,1]", c_reduce, {2, 70001, 1, 0}, 0, false},
    {"broadcast", "[1,1,1]", c_broadcast, {1, 1, 1, 1, 0}, 0, false},
    {"broadcast", "[3,17,33] per-channel acc", c_broadcast, {3, 17, 33, 1, 1}, 0, false},
    {"broadcast", "[5,7,11] per-sample", c_broadcast, {5, 7, 11, 5, 0}, 0, false},
    {"mse_loss", "1", c_mse, {1}, 0, false},
    {"mse_loss", "131073", c_mse, {131073}, 0, false},
    {"mse_loss_backward", "1031", c_mse_backward, {1031, 0}, 0, false},
    {"mse_loss_backward", "33 acc", c_mse_backward, {33, 1}, 0, false},
    {"gemm", "1x1x1", c_gemm, {1, 1, 1, 1, 0, 0, 0, 0}, 0, false},
    {"gemm", "33x65x17", c_gemm, {33, 65, 17, 1, 0, 0, 0, 0}, 0, false},
    {"gemm", "33x65x17 tA", c_gemm, {33, 65, 17, 1, 1, 0, 0, 0}, 0, false},
    {"gemm", "33x65x17 tB", c_gemm, {33, 65, 17, 1, 0, 1, 0, 0}, 0, false},
    {"gemm", "33x65x17 tA tB", c_gemm, {33, 65, 17, 1, 1, 1, 0, 0}, 0, false},
    {"gemm", "257x129x511", c_gemm, {257, 129, 511, 1, 0, 0, 0, 0}, 0, false},
    {"gemm", "257x129x511 tA tB bias-cols acc", c_gemm, {257, 129, 511, 1, 1, 1, 1, 1}, 0, false},
    {"gemm", "batch 3 x 31x47x19 tB bias-rows", c_gemm, {31, 47, 19, 3, 0, 1, 2, 0}, 0, false},
    {"gemm", "batch 5 x 17x9x64 tA shared-B acc", c_gemm, {17, 9, 64, 5, 1, 0, 0, 3}, 0, false},
    {"gemm", "1x300x1", c_gemm, {1, 300, 1, 1, 0, 0, 1, 0}, 0, false},
    {"gemm", "1024x1024x1024", c_gemm, {1024, 1024, 1024, 1, 0, 0, 0, 0}, 0, true},
    {"gemm", "batch 8 x 512x384x640 tB", c_gemm, {512, 384, 640, 8, 0, 1, 0, 0}, 0, true},
    {"sgd", "1001", c_sgd, {1001}, 0, false},
    {"adamw", "4099", c_adamw, {4099, 0}, 0, false},
    {"adamw", "257 wd", c_adamw, {257, 1}, 0, false},
};
const int ldm_conf_cases_basic_n = (int)(sizeof ldm_conf_cases_basic / sizeof ldm_conf_cases_basic[0]);
