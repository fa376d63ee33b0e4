#version 450
#extension GL_GOOGLE_include_directive : require
// VAE reparameterisation: z = mu + exp(logvar / 2) * eps
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer MU { float mu[]; };
layout(std430, binding = 1) readonly buffer LV { float lv[]; };
layout(std430, binding = 2) readonly buffer E { float e[]; };
layout(std430, binding = 3) writeonly buffer Z { float z[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  z[i] = mu[i] + exp(0.5 * lv[i]) * e[i];
}
