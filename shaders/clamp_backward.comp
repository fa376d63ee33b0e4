#version 450
#extension GL_GOOGLE_include_directive : require
// dx (+)= dy where lo <= x <= hi (torch.clamp's gradient: bounds included), else 0
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) buffer DX { float dx[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float v = x[i];
  float d = (v >= pc.lo && v <= pc.hi) ? dy[i] : 0.0;
  dx[i] = pc.accumulate != 0u ? dx[i] + d : d;
}
