#version 450
#extension GL_GOOGLE_include_directive : require
// Strided channel copy (concat, split and both gradients): x is [O, Cx, I], out [O, Co, I];
// out[o][d0 + c][i] (+)= x[o][c0 + c][i] for c < Cn. zero_rest (never with accumulate): the launch
// covers all of out and the channels outside [d0, d0 + Cn) are set to 0.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Out { float o[]; };
void main() {
  uint e = ldm_gid();
  uint Cw = pc.zero_rest != 0u ? pc.Co : pc.Cn;
  if (e >= pc.O * Cw * pc.I) return;
  uint oc = e / pc.I, i = e - oc * pc.I;
  uint oo = oc / Cw, c = oc - oo * Cw;
  uint dc = pc.zero_rest != 0u ? c : pc.d0 + c;
  uint dst = (oo * pc.Co + dc) * pc.I + i;
  if (dc < pc.d0 || dc >= pc.d0 + pc.Cn) {
    o[dst] = 0.0;
    return;
  }
  float v = x[(oo * pc.Cx + pc.c0 + (dc - pc.d0)) * pc.I + i];
  o[dst] = pc.accumulate != 0u ? o[dst] + v : v;
}
