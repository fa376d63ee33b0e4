#version 450
#extension GL_GOOGLE_include_directive : require
// y = clamp(x, lo, hi) by comparisons (a NaN passes through, as in torch.clamp)
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float v = x[i];
  y[i] = v < pc.lo ? pc.lo : (v > pc.hi ? pc.hi : v);
}
