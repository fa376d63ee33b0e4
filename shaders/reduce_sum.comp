#version 450
#extension GL_GOOGLE_include_directive : require
// out[j] (+)= scale * sum_{o,i} x[o][j][i]; one workgroup per j with a fixed-order tree, or one
// invocation per j when there are few terms (SERIAL). Deterministic either way, no atomics.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Out { float o[]; };
layout(constant_id = 1) const uint SERIAL = 0u; // 1: one invocation per j (few terms, many outputs)
shared float part[gl_WorkGroupSize.x];
void main() {
  if (SERIAL != 0u) {
    uint j = ldm_gid();
    if (j >= pc.J) return;
    float s = 0.0;
    for (uint oo = 0u; oo < pc.O; oo++)
      for (uint ii = 0u; ii < pc.I; ii++) s += x[(oo * pc.J + j) * pc.I + ii];
    float r = s * pc.scale;
    o[j] = pc.accumulate != 0u ? o[j] + r : r;
    return;
  }
  uint j = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (j >= pc.J) return;  // uniform per workgroup
  uint lid = gl_LocalInvocationID.x;
  uint total = pc.O * pc.I;
  float s = 0.0;
  for (uint e = lid; e < total; e += gl_WorkGroupSize.x) {
    uint oo = e / pc.I, ii = e - oo * pc.I;
    s += x[(oo * pc.J + j) * pc.I + ii];
  }
  part[lid] = s;
  barrier();
  for (uint w = gl_WorkGroupSize.x / 2u; w > 0u; w >>= 1u) {
    if (lid < w) part[lid] += part[lid + w];
    barrier();
  }
  if (lid == 0u) {
    float r = part[0] * pc.scale;
    o[j] = pc.accumulate != 0u ? o[j] + r : r;
  }
}
