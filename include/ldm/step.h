/* The per-step values every replay reads: written by the host before each run, never re-recorded.
 * Field order mirrors shaders/common.glsl (STEP_* indices). The step tensor is a host-visible u32/f32
 * vector of LDM_STEP_WORDS words. */
#ifndef LDM_STEP_H
#define LDM_STEP_H
#ifdef __cplusplus
extern "C" {
#endif
enum {
  LDM_STEP_T = 0,        /* u32 optimizer step (1-based for the update being made) */
  LDM_STEP_RNG_LO = 1,   /* u32 Philox counter base for this step (low word)  */
  LDM_STEP_RNG_HI = 2,   /* u32 (high word) */
  LDM_STEP_LR = 3,       /* f32 learning rate for this step */
  LDM_STEP_BC1 = 4,      /* f32 1 - beta1^t */
  LDM_STEP_BC2 = 5,      /* f32 1 - beta2^t */
  LDM_STEP_EMA = 6,      /* f32 EMA decay for this step */
  LDM_STEP_LOSS_SCALE = 7, /* f32 loss scale (1 in fp32) */
  LDM_STEP_GRAD_CLIP = 8,  /* f32 max global grad norm (<= 0: off) */
  LDM_STEP_INV_ACCUM = 9,  /* f32 1 / gradient-accumulation micro-batches */
  LDM_STEP_SAMPLE_I = 10,  /* u32 sampler step index */
  LDM_STEP_ACCUM_ONLY = 11, /* u32 != 0: a gradient-accumulation micro-step: AdamW and EMA leave
                               parameters and gradients alone (0, the default, = a full step) */
  LDM_STEP_USER = 16,      /* 16..31 free for trainers and samplers */
  LDM_STEP_WORDS = 32
};
#ifdef __cplusplus
}
#endif
#endif
