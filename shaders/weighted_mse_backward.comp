#version 450
#extension GL_GOOGLE_include_directive : require
// dx (+)= scale * dl * w[i / per] * (a - b), scale = +-2 / n (gradient to a or to b)
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer W { float w[]; };
layout(std430, binding = 3) readonly buffer DL { float dl[]; };
layout(std430, binding = 4) buffer DX { float dx[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float sw = (pc.scale * dl[0]) * w[i / pc.per];
  float d = sw * (a[i] - b[i]);
  dx[i] = pc.accumulate != 0u ? dx[i] + d : d;
}
