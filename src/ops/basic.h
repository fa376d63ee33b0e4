/* Push-constant blocks of the basic op family; each mirrors its shader's block field for field. */
#ifndef LDM_OPS_BASIC_H
#define LDM_OPS_BASIC_H
#include <stdint.h>

typedef struct { float value; uint32_t n; } ldm_pc_fill;
typedef struct { uint32_t n; } ldm_pc_copy;
typedef struct { uint32_t n, dist, seed_lo, seed_hi, stream_lo, stream_hi, base_lo, base_hi, use_step; } ldm_pc_philox_fill;
typedef struct { uint32_t n, kind, accumulate; } ldm_pc_ew_binary;
typedef struct { uint32_t n; float alpha; uint32_t accumulate; } ldm_pc_ew_scale;
typedef struct { uint32_t n; } ldm_pc_silu;
typedef struct { uint32_t n, accumulate; } ldm_pc_silu_backward;
typedef struct { uint32_t O, J, I; float scale; uint32_t accumulate; } ldm_pc_reduce_sum;
typedef struct { uint32_t O, J, I, xO; float alpha; uint32_t accumulate; } ldm_pc_broadcast;
typedef struct { uint32_t n; float inv_n; } ldm_pc_mse_loss;
typedef struct { uint32_t n; float scale; uint32_t accumulate; } ldm_pc_mse_loss_backward;
typedef struct {
  uint32_t M, N, K, batch;
  uint32_t ta, tb, bias_mode, accumulate;
  float alpha;
  uint32_t sA, sB, sC;
} ldm_pc_gemm;
typedef struct { uint32_t n; } ldm_pc_sgd;
typedef struct { uint32_t n; float beta1, beta2, eps, wd; uint32_t use_gs; } ldm_pc_adamw;

_Static_assert(sizeof(ldm_pc_fill) == 8, "pc size");
_Static_assert(sizeof(ldm_pc_philox_fill) == 36, "pc size");
_Static_assert(sizeof(ldm_pc_ew_binary) == 12, "pc size");
_Static_assert(sizeof(ldm_pc_ew_scale) == 12, "pc size");
_Static_assert(sizeof(ldm_pc_reduce_sum) == 20, "pc size");
_Static_assert(sizeof(ldm_pc_mse_loss) == 8, "pc size");
_Static_assert(sizeof(ldm_pc_broadcast) == 24, "pc size");
_Static_assert(sizeof(ldm_pc_mse_loss_backward) == 12, "pc size");
_Static_assert(sizeof(ldm_pc_gemm) == 48, "pc size");
_Static_assert(sizeof(ldm_pc_adamw) == 24, "pc size");

enum { LDM_BIAS_NONE = 0, LDM_BIAS_COLS = 1, LDM_BIAS_ROWS = 2 };

#endif
