#version 450
#extension GL_GOOGLE_include_directive : require
// dmu (+)= dl / batch * mu; dlogvar (+)= dl / batch * 0.5 * (exp(logvar) - 1). An unwanted output is bound
// to the wanted one's buffer and never touched.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer MU { float mu[]; };
layout(std430, binding = 1) readonly buffer LV { float lv[]; };
layout(std430, binding = 2) readonly buffer DL { float dl[]; };
layout(std430, binding = 3) buffer DMU { float dmu[]; };
layout(std430, binding = 4) buffer DLV { float dlv[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float s = pc.inv_batch * dl[0];
  if (pc.want_mu != 0u) {
    float d = s * mu[i];
    dmu[i] = pc.acc_mu != 0u ? dmu[i] + d : d;
  }
  if (pc.want_lv != 0u) {
    float d = s * 0.5 * (exp(lv[i]) - 1.0);
    dlv[i] = pc.acc_lv != 0u ? dlv[i] + d : d;
  }
}
