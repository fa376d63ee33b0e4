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
