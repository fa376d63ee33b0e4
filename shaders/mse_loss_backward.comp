#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer DL { float dl[]; };
layout(std430, binding = 3) buffer DA { float da[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float d = pc.scale * dl[0] * (a[i] - b[i]);
  da[i] = pc.accumulate != 0u ? da[i] + d : d;
}
