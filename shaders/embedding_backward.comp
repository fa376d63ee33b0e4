#version 450
#extension GL_GOOGLE_include_directive : require
// dtable[v][d] (+)= sum over b with idx[b] == v of dy[b][d]: one invocation per (v, d) looping over b
// in order, so repeated indices sum deterministically without atomics.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer Idx { uint idx[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) buffer DT { float dt[]; };
void main() {
  uint e = ldm_gid();
  if (e >= pc.V * pc.D) return;
  uint v = e / pc.D, d = e - v * pc.D;
  float s = 0.0;
  for (uint b = 0u; b < pc.B; b++)
    if (idx[b] == v) s += dy[b * pc.D + d];
  dt[e] = pc.accumulate != 0u ? dt[e] + s : s;
}
