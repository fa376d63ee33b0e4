/* The plain reference oracle: one obviously-correct function per op of core/op_list.h, against which both
 * the fast CPU twins (src/ops, src/cpu) and the Vulkan shaders are checked (src/conform).
 *
 * Style: naive loops in the order the op's definition reads, double accumulation, libm exp/sqrt/cos,
 * no threads, no intrinsics, no blocking. Each function has the CPU-twin signature: buf[0..nin-1] are
 * the node's inputs, buf[nin..nin+nout-1] its outputs (resolved host pointers), n->pc its ldm_pc_<op>
 * parameter block. In-place ops (sgd, adamw, ema, accumulate modes) read their outputs first, as the
 * twins do. Where an op is defined in fp32 arithmetic (the timestep embedding's argument, the Philox
 * uniform / normal transforms of core/philox.c) the reference evaluates that definition, not a
 * double-precision variant of it. */
#ifndef LDM_REF_REF_H
#define LDM_REF_REF_H
#include "ldm/backend.h"
#include "ldm/graph.h"

typedef void (*ldm_ref_fn)(const ldm_graph *g, const ldm_node *n, void *const *buf);

#define LDM_OP(name) void ldm_ref_##name(const ldm_graph *g, const ldm_node *n, void *const *buf);
#include "core/op_list.h"
#undef LDM_OP

/* The reference of op `op_id` (an ldm_op_id), NULL for an unknown id. */
ldm_ref_fn ldm_ref_of(int op_id);

/* Run nodes [first, last) of a CPU executor's graph (ldm_exec_cpu) with the reference functions
 * instead of the fast twins, over that executor's host arenas. Fails on a Vulkan executor. */
ldm_status ldm_ref_run_range(ldm_exec *e, int first, int last);
static inline ldm_status ldm_ref_run(ldm_exec *e) { return ldm_ref_run_range(e, 0, ldm_exec_graph(e)->nn); }

#endif
