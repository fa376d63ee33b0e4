/* Every op of ldm-vk, one LDM_OP(name) line each, in op-id order; name = shader variant family = CPU twin =
 * test case. The list is generated from the op manifest src/ops/ops.def (append new ops at its end) into
 * ldm_op_list.h in the build dir. Each op defines `const ldm_op_desc ldm_op_desc_<name>` in its family file
 * (src/ops/). Included repeatedly with different LDM_OP definitions (no include guard). */
#include "ldm_op_list.h"
