#include "core/ops.h"

#include <string.h>

#define LDM_OP(name) extern const ldm_op_desc ldm_op_desc_##name;
#include "core/op_list.h"
#undef LDM_OP

static const ldm_op_desc *const table[LDM_OP_COUNT] = {
#define LDM_OP(name) &ldm_op_desc_##name,
#include "core/op_list.h"
#undef LDM_OP
};

const ldm_op_desc *ldm_op(int id) { return id >= 0 && id < LDM_OP_COUNT ? table[id] : NULL; }

/* Generated from src/ops/ops.def: ldm_op_manifest[id] = {name, family, pc_size, nmse_tol, grad}. */
#include "ldm_op_table.h"
_Static_assert(sizeof ldm_op_manifest / sizeof ldm_op_manifest[0] == LDM_OP_COUNT, "one manifest row per op");

uint32_t ldm_op_pc_size(int id) { return id >= 0 && id < LDM_OP_COUNT ? ldm_op_manifest[id].pc_size : 0; }
double ldm_op_tol(int id) { return id >= 0 && id < LDM_OP_COUNT ? ldm_op_manifest[id].nmse_tol : -1.0; }
const char *ldm_op_family(int id) { return id >= 0 && id < LDM_OP_COUNT ? ldm_op_manifest[id].family : NULL; }
bool ldm_op_has_grad(int id) { return id >= 0 && id < LDM_OP_COUNT && ldm_op_manifest[id].grad; }

ldm_status ldm_op_check_pc(const ldm_node *n) {
  if (n->op < 0 || n->op >= LDM_OP_COUNT) return LDM_FAIL(LDM_ERR_INTERNAL, "node of unknown op %d", n->op);
  if (n->pc_size != ldm_op_manifest[n->op].pc_size)
    return LDM_FAIL(LDM_ERR_INTERNAL, "node of op %s has %u push-constant bytes, its block (src/ops/ops.def) has %u",
                    ldm_op_manifest[n->op].name, (unsigned)n->pc_size, (unsigned)ldm_op_manifest[n->op].pc_size);
  return LDM_OK;
}

int ldm_op_by_name(const char *name) {
  for (int i = 0; i < LDM_OP_COUNT; i++)
    if (strcmp(table[i]->name, name) == 0) return i;
  return -1;
}

void ldm_launch_1d(ldm_launch *l, const char *shader, int64_t n) {
  l->shader = shader;
  l->spec[0] = 256;
  l->nspec = 1;
  int64_t groups = (n + 255) / 256;
  if (groups < 1) groups = 1;
  l->groups[0] = (uint32_t)(groups < 65535 ? groups : 65535);
  l->groups[1] = (uint32_t)((groups + 65534) / 65535);
  l->groups[2] = 1;
}

void ldm_plan_1d_n(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l) {
  (void)g;
  (void)lim;
  uint32_t count;
  memcpy(&count, n->pc, sizeof count);
  ldm_launch_1d(l, ldm_op(n->op)->name, count);
}
