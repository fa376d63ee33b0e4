#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer G { float gr[]; };
layout(std430, binding = 1) readonly buffer Step { float step[]; };
layout(std430, binding = 2) buffer P { float p[]; };
void main() {
  uint i = ldm_gid();
  if (i < pc.n) p[i] -= step[STEP_LR] * gr[i];
}
