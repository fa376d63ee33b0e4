#version 450
#extension GL_GOOGLE_include_directive : require
// Min-SNR-gamma loss weights (Hang et al. 2023), snr = a / (1 - a), a = abar[t[b]]:
//   eps-pred: min(snr, gamma) / snr = min(1, gamma (1 - a) / a)  (1 at a = 0)
//   v-pred:   min(snr, gamma) / (snr + 1) = min(a, gamma (1 - a))
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer AB { float abar[]; };
layout(std430, binding = 1) readonly buffer TS { uint ts[]; };
layout(std430, binding = 2) writeonly buffer W { float w[]; };
void main() {
  uint b = ldm_gid();
  if (b >= pc.B) return;
  float a = abar[min(ts[b], pc.T - 1u)], om = 1.0 - a;
  if (pc.v_pred != 0u) w[b] = min(a, pc.gamma * om);
  else w[b] = a > 0.0 ? min(1.0, pc.gamma * om / a) : 1.0;
}
