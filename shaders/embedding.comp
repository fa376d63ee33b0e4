#version 450
#extension GL_GOOGLE_include_directive : require
// out[b][d] = table[idx[b]][d]; an index outside the table gives a zero row.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer T { float table[]; };
layout(std430, binding = 1) readonly buffer Idx { uint idx[]; };
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
void main() {
  uint e = ldm_gid();
  if (e >= pc.B * pc.D) return;
  uint b = e / pc.D, d = e - b * pc.D;
  uint v = idx[b];
  o[e] = v < pc.V ? table[v * pc.D + d] : 0.0;
}
