#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer In { uint x[]; };
layout(std430, binding = 1) writeonly buffer Out { uint o[]; };
void main() {
  uint i = ldm_gid();
  if (i < pc.n) o[i] = x[i];
}
