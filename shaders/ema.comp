#version 450
#extension GL_GOOGLE_include_directive : require
// ema = d ema + (1 - d) p with d = step[STEP_EMA] (the host applies any EMA warm-up); nothing on
// a gradient-accumulation micro-step
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer P { float p[]; };
layout(std430, binding = 1) readonly buffer Step { float step[]; };
layout(std430, binding = 2) buffer E { float e[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n || floatBitsToUint(step[STEP_ACCUM_ONLY]) != 0u) return;
  float d = step[STEP_EMA], od = 1.0 - d;
  e[i] = d * e[i] + od * p[i];
}
