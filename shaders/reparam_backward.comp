#version 450
#extension GL_GOOGLE_include_directive : require
// dmu (+)= dz; dlogvar (+)= dz * 0.5 * exp(logvar / 2) * eps. An unwanted output is bound to the wanted
// one's buffer and never touched.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer LV { float lv[]; };
layout(std430, binding = 1) readonly buffer E { float e[]; };
layout(std430, binding = 2) readonly buffer DZ { float dz[]; };
layout(std430, binding = 3) buffer DMU { float dmu[]; };
layout(std430, binding = 4) buffer DLV { float dlv[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float g = dz[i];
  if (pc.want_mu != 0u) dmu[i] = pc.acc_mu != 0u ? dmu[i] + g : g;
  if (pc.want_lv != 0u) {
    float d = g * 0.5 * exp(0.5 * lv[i]) * e[i];
    dlv[i] = pc.acc_lv != 0u ? dlv[i] + d : d;
  }
}
