#version 450
#extension GL_GOOGLE_include_directive : require
// Global grad norm, stage 1: workgroup g sums x[i]^2 over i = g*WG + lid + k*groups*WG in a fixed order
// and a fixed tree, writes partial[g] and flag[groups + g] = 1 when any value is NaN/Inf.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer P { float part_out[]; };
shared float part[gl_WorkGroupSize.x];
shared uint bad[gl_WorkGroupSize.x];
void main() {
  uint g = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x;
  uint stride = pc.groups * gl_WorkGroupSize.x;
  float s = 0.0;
  uint nf = 0u;
  uint i = g * gl_WorkGroupSize.x + lid;
  while (i < pc.n) {
    float v = x[i];
    s += v * v;
    nf |= (floatBitsToUint(v) & 0x7f800000u) == 0x7f800000u ? 1u : 0u;
    if (pc.n - i <= stride) break;  // no 32-bit wrap-around near 2^32 elements
    i += stride;
  }
  part[lid] = s;
  bad[lid] = nf;
  barrier();
  for (uint w = gl_WorkGroupSize.x / 2u; w > 0u; w >>= 1u) {
    if (lid < w) {
      part[lid] += part[lid + w];
      bad[lid] |= bad[lid + w];
    }
    barrier();
  }
  if (lid == 0u) {
    part_out[g] = part[0];
    part_out[pc.groups + g] = bad[0] != 0u ? 1.0 : 0.0;
  }
}
