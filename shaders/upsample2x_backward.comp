#version 450
#extension GL_GOOGLE_include_directive : require
// Gradient of the nearest 2x upsample: dx[p][h][w] (+)= the sum of its 4 children, in the fixed order
// ((dy[2h][2w] + dy[2h][2w+1]) + dy[2h+1][2w]) + dy[2h+1][2w+1] (as the CPU twin).
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) buffer DX { float dx[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.NC * pc.H * pc.W) return;
  uint w = i % pc.W, t = i / pc.W, h = t % pc.H, p = t / pc.H;
  uint W2 = 2u * pc.W;
  uint r0 = (p * 2u * pc.H + 2u * h) * W2 + 2u * w, r1 = r0 + W2;
  float s = dy[r0] + dy[r0 + 1u];
  s += dy[r1];
  s += dy[r1 + 1u];
  dx[i] = pc.accumulate != 0u ? dx[i] + s : s;
}
