/* The reference table (from the LDM_OP X-macro list) and the reference interpreter over a CPU executor. */
#include "ref/ref.h"

#include "core/exec.h"
#include "core/ops.h"

static const ldm_ref_fn table[] = {
#define LDM_OP(name) ldm_ref_##name,
#include "core/op_list.h"
#undef LDM_OP
};
_Static_assert(sizeof table / sizeof table[0] == LDM_OP_COUNT, "one reference per op");

ldm_ref_fn ldm_ref_of(int op_id) { return op_id >= 0 && op_id < LDM_OP_COUNT ? table[op_id] : NULL; }

ldm_status ldm_ref_run_range(ldm_exec *e, int first, int last) {
  return ldm_exec_cpu_run_with(e, first, last, ldm_ref_of);
}
