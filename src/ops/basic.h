/* The basic op family (src/ops/basic.c). Its push-constant blocks (ldm_pc_fill ... ldm_pc_adamw) are generated
 * from the op manifest src/ops/ops.def into ldm_ops_pc.h, as are the shaders' blocks. */
#ifndef LDM_OPS_BASIC_H
#define LDM_OPS_BASIC_H
#include <stdint.h>

#include "ldm_ops_pc.h"

/* gemm bias_mode */
enum { LDM_BIAS_NONE = 0, LDM_BIAS_COLS = 1, LDM_BIAS_ROWS = 2 };

#endif
