#version 450
#extension GL_GOOGLE_include_directive : require
// KL(q(z|x) || N(0,I)) = 0.5 / batch * sum(mu^2 + exp(logvar) - 1 - logvar): one workgroup, strided
// partial sums then a fixed-order tree (deterministic, no atomics).
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer MU { float mu[]; };
layout(std430, binding = 1) readonly buffer LV { float lv[]; };
layout(std430, binding = 2) writeonly buffer L { float loss[]; };
shared float part[gl_WorkGroupSize.x];
void main() {
  uint lid = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint i = lid; i < pc.n; i += gl_WorkGroupSize.x) {
    float m = mu[i], l = lv[i];
    s += m * m + exp(l) - 1.0 - l;
  }
  part[lid] = s;
  barrier();
  for (uint w = gl_WorkGroupSize.x / 2u; w > 0u; w >>= 1u) {
    if (lid < w) part[lid] += part[lid + w];
    barrier();
  }
  if (lid == 0u) loss[0] = part[0] * pc.scale;
}
