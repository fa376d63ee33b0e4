#version 450
#extension GL_GOOGLE_include_directive : require
// Guidance rescale (Lin et al. 2023; src/ops/ops.def, `op cfg_rescale`), one invocation per sample b:
//   out_b = phi g_b std(cond_b) / std(g_b) + (1 - phi) g_b
// g = the guided output [B, per], cond = the first half of the model output x2 [2B, per]. The standard
// deviations are two-pass (mean, then squared deviations) in element order, as ldm_cpu_cfg_rescale; a
// zero std(g) leaves g as it is.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X2 { float x2[]; };
layout(std430, binding = 1) readonly buffer G { float gd[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
void main() {
  uint b = ldm_gid();
  if (b >= pc.B) return;
  uint base = b * pc.per;
  float n = float(pc.per);
  float mc = 0.0, mg = 0.0;
  for (uint j = 0u; j < pc.per; j++) {
    mc += x2[base + j];
    mg += gd[base + j];
  }
  mc /= n;
  mg /= n;
  float vc = 0.0, vg = 0.0;
  for (uint j = 0u; j < pc.per; j++) {
    float dc = x2[base + j] - mc, dg = gd[base + j] - mg;
    vc += dc * dc;
    vg += dg * dg;
  }
  float r = vg > 0.0 ? sqrt(vc / vg) : 1.0;
  float f = pc.phi * r + (1.0 - pc.phi);
  for (uint j = 0u; j < pc.per; j++) o[base + j] = f * gd[base + j];
}
