/* The diffusion / VAE-loss / optimizer op family (src/ops/diffusion.c). Its push-constant blocks
 * (ldm_pc_reparam ... ldm_pc_gather_rows) are generated from the op manifest src/ops/ops.def into
 * ldm_ops_pc.h, as are the shaders' blocks. */
#ifndef LDM_OPS_DIFFUSION_H
#define LDM_OPS_DIFFUSION_H
#include <stdint.h>

#include "ldm_ops_pc.h"

/* grad_norm_clip stage 1: fixed local size and at most this many partials (device independent, so the
 * reduction order, and with it the result, is the same on every device) */
#define LDM_GN_LOCAL 256u
#define LDM_GN_MAX_GROUPS 1024u

#endif
