#version 450
#extension GL_GOOGLE_include_directive : require
// Nearest-neighbour 2x upsample over NC planes: y[p][oh][ow] (+)= x[p][oh/2][ow/2]; one invocation per
// output element.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };
void main() {
  uint i = ldm_gid();
  uint W2 = 2u * pc.W, H2 = 2u * pc.H;
  if (i >= pc.NC * H2 * W2) return;
  uint ow = i % W2, t = i / W2, oh = t % H2, p = t / H2;
  float v = x[(p * pc.H + (oh >> 1u)) * pc.W + (ow >> 1u)];
  y[i] = pc.accumulate != 0u ? y[i] + v : v;
}
