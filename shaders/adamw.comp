#version 450
#extension GL_GOOGLE_include_directive : require
// AdamW (decoupled weight decay), PyTorch's formula; bias corrections and lr from the step buffer.
// gs (when use_gs): gs[0] multiplies the gradient (clip / loss-scale), gs[1] != 0 skips the step.
// The gradient is consumed: zeroed after the update or the skip; an accumulation micro-step
// (step[STEP_ACCUM_ONLY] != 0) leaves everything as it is.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer Step { float step[]; };
layout(std430, binding = 1) readonly buffer GS { float gs[]; };
layout(std430, binding = 2) buffer P { float p[]; };
layout(std430, binding = 3) buffer M { float m[]; };
layout(std430, binding = 4) buffer V { float v[]; };
layout(std430, binding = 5) buffer G { float gr[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n || floatBitsToUint(step[STEP_ACCUM_ONLY]) != 0u) return;
  float gsc = 1.0;
  if (pc.use_gs != 0u) {
    if (gs[1] != 0.0) {
      gr[i] = 0.0;
      return;
    }
    gsc = gs[0];
  }
  float lr = step[STEP_LR], bc1 = step[STEP_BC1], bc2 = step[STEP_BC2];
  float g = gr[i] * gsc;
  float mi = pc.beta1 * m[i] + (1.0 - pc.beta1) * g;
  float vi = pc.beta2 * v[i] + (1.0 - pc.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  float denom = sqrt(vi) / sqrt(bc2) + pc.eps;
  p[i] = p[i] * (1.0 - lr * pc.wd) - (lr / bc1) * mi / denom;
  gr[i] = 0.0;
}
