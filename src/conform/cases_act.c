/* Default conformance cases of the activation ops (ldm_act_list.h, from the `act NAME` entries of
 * src/ops/ops.def): NAME on 1 and 5003 elements, NAME_backward on 5003 and on 77 accumulating ones, inputs
 * x in [-8, 8) and dy in [-1, 1). The registry (cases.c) takes an activation's rows from here unless a family
 * table has rows of its own for the op. */
#include "core/ops.h"
#include "ldm/conformance.h"
#include "ldm/ops.h"
#include "ops/basic.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)

/* y = NAME(x) through its builder; NAME_backward as one node: dx (+)= NAME'(x) dy */
#define LDM_ACT(a)                                                                                                    \
  static ldm_status c_##a(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *args) {                                \
    int x = ldm_conf_input(cc, g, "x", 1, S(args->n), -8, 8);                                                         \
    int y = ldm_##a(g, x);                                                                                            \
    ldm_conf_compare(cc, g, y);                                                                                       \
    return ldm_graph_status(g);                                                                                       \
  }                                                                                                                   \
  static ldm_status c_##a##_backward(ldm_graph *g, ldm_conf_ctx *cc, const ldm_conf_args *args) {                     \
    int x = ldm_conf_input(cc, g, "x", 1, S(args->n), -8, 8), dy = ldm_conf_input(cc, g, "dy", 1, S(args->n), -1, 1); \
    int dx = ldm_conf_output(cc, g, "dx", 1, S(args->n));                                                             \
    ldm_pc_##a##_backward pc = {.n = (uint32_t)args->n, .accumulate = (uint32_t)args->acc};                           \
    ldm_node_add(g, LDM_OP_##a##_backward, (int[]){x, dy}, 2, &dx, 1, &pc, sizeof pc, #a "_backward");                \
    return ldm_graph_status(g);                                                                                       \
  }
#include "ldm_act_list.h"
#undef LDM_ACT

const ldm_conf_case ldm_conf_cases_act[] = {
#define LDM_ACT(NAME)                                                                              \
  {.op = #NAME, .shape = "1", .build = c_##NAME, .a = {.n = 1}},                                   \
  {.op = #NAME, .shape = "5003", .build = c_##NAME, .a = {.n = 5003}},                             \
  {.op = #NAME "_backward", .shape = "5003", .build = c_##NAME##_backward, .a = {.n = 5003}},      \
  {.op = #NAME "_backward", .shape = "77 acc", .build = c_##NAME##_backward, .a = {.n = 77, .acc = true}},
#include "ldm_act_list.h"
#undef LDM_ACT
};
const int ldm_conf_cases_act_n = (int)(sizeof ldm_conf_cases_act / sizeof ldm_conf_cases_act[0]);
