#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) buffer Out { float o[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float r = pc.kind == 0u ? a[i] + b[i] : pc.kind == 1u ? a[i] - b[i] : a[i] * b[i];
  o[i] = pc.accumulate != 0u ? o[i] + r : r;
}
