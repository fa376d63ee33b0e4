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

static void *resolve(ldm_exec *e, int t) {
  ldm_arena a;
  int64_t off;
  ldm_tensor_storage(e->g, t, &a, &off);
  return e->vt->host_ptr(e, a, off);
}

ldm_status ldm_ref_run_range(ldm_exec *e, int first, int last) {
  const ldm_graph *g = e->g;
  if (e->is_vk) return LDM_FAIL(LDM_ERR_INVALID_ARG, "the reference runs over a CPU executor, not a Vulkan one");
  if (first < 0 || last > g->nn || first > last) return LDM_FAIL(LDM_ERR_INVALID_ARG, "bad node range");
  for (int i = first; i < last; i++) {
    const ldm_node *n = &g->n[i];
    ldm_ref_fn f = ldm_ref_of(n->op);
    if (!f) return LDM_FAIL(LDM_ERR_INTERNAL, "node %d (%s): no reference for op %d", i, n->label, n->op);
    void *buf[LDM_MAX_IN + LDM_MAX_OUT];
    for (int k = 0; k < n->nin; k++) buf[k] = resolve(e, n->in[k]);
    for (int k = 0; k < n->nout; k++) buf[n->nin + k] = resolve(e, n->out[k]);
    f(g, n, buf);
  }
  return LDM_OK;
}
