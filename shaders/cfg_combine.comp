#version 450
#extension GL_GOOGLE_include_directive : require
// classifier-free guidance: out = uncond + s (cond - uncond); x2 = [cond (n) | uncond (n)]
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float c = x[i], u = x[pc.n + i];
  o[i] = u + pc.scale * (c - u);
}
