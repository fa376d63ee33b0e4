#version 450
#extension GL_GOOGLE_include_directive : require
// Forward diffusion per sample b = i / per with a = abar[t[b]]:
//   q_sample: x_t = sqrt(a) x0 + sqrt(1 - a) noise
//   v_target (-DV_TARGET): v = sqrt(a) noise - sqrt(1 - a) x0
// A timestep past the table reads its last entry.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X0 { float x0[]; };
layout(std430, binding = 1) readonly buffer N { float ns[]; };
layout(std430, binding = 2) readonly buffer AB { float abar[]; };
layout(std430, binding = 3) readonly buffer TS { uint ts[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float a = abar[min(ts[i / pc.per], pc.T - 1u)];
  float sa = sqrt(a), s1a = sqrt(1.0 - a);
#ifdef V_TARGET
  o[i] = -s1a * x0[i] + sa * ns[i];
#else
  o[i] = sa * x0[i] + s1a * ns[i];
#endif
}
