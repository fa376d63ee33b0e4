#version 450
#extension GL_GOOGLE_include_directive : require
// loss = mean_b(w[b] * mean_i (a - b)^2) = sum_i w[i / per] (a_i - b_i)^2 / n: one workgroup, strided
// partial sums then a fixed-order tree.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer W { float w[]; };
layout(std430, binding = 3) writeonly buffer L { float loss[]; };
shared float part[gl_WorkGroupSize.x];
void main() {
  uint lid = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint i = lid; i < pc.n; i += gl_WorkGroupSize.x) {
    float d = a[i] - b[i];
    s += w[i / pc.per] * (d * d);
  }
  part[lid] = s;
  barrier();
  for (uint k = gl_WorkGroupSize.x / 2u; k > 0u; k >>= 1u) {
    if (lid < k) part[lid] += part[lid + k];
    barrier();
  }
  if (lid == 0u) loss[0] = part[0] * pc.inv_n;
}
