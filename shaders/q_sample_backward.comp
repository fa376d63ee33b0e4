#version 450
#extension GL_GOOGLE_include_directive : require
// Gradients of q_sample (v_target = 0): dx0 (+)= sqrt(a) dy, dnoise (+)= sqrt(1-a) dy, and of v_target
// (v_target = 1): dx0 (+)= -sqrt(1-a) dy, dnoise (+)= sqrt(a) dy. An unwanted output is bound to the
// wanted one's buffer and never touched.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer AB { float abar[]; };
layout(std430, binding = 1) readonly buffer TS { uint ts[]; };
layout(std430, binding = 2) readonly buffer DY { float dy[]; };
layout(std430, binding = 3) buffer D0 { float d0[]; };
layout(std430, binding = 4) buffer DN { float dn[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float a = abar[min(ts[i / pc.per], pc.T - 1u)];
  float sa = sqrt(a), s1a = sqrt(1.0 - a);
  float c0 = pc.v_target != 0u ? -s1a : sa, cn = pc.v_target != 0u ? sa : s1a;
  float g = dy[i];
  if (pc.want_x0 != 0u) d0[i] = pc.acc_x0 != 0u ? d0[i] + c0 * g : c0 * g;
  if (pc.want_noise != 0u) dn[i] = pc.acc_noise != 0u ? dn[i] + cn * g : cn * g;
}
