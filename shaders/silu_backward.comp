#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) buffer DX { float dx[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float s = 1.0 / (1.0 + exp(-x[i]));
  float d = dy[i] * s * (1.0 + x[i] * (1.0 - s));
  dx[i] = pc.accumulate != 0u ? dx[i] + d : d;
}
