#version 450
#extension GL_GOOGLE_include_directive : require
// out[o][j][i] (+)= alpha * x[o % xO][j]
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Out { float o[]; };
void main() {
  uint e = ldm_gid();
  if (e >= pc.O * pc.J * pc.I) return;
  uint oj = e / pc.I;
  uint oo = oj / pc.J, j = oj - oo * pc.J;
  float v = pc.alpha * x[(oo % pc.xO) * pc.J + j];
  o[e] = pc.accumulate != 0u ? o[e] + v : v;
}
