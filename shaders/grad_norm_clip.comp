#version 450
#extension GL_GOOGLE_include_directive : require
// Global grad norm, stage 2 (one workgroup): sums the partials in a fixed order and writes
//   gs[0] = coef / loss_scale * inv_accum, gs[1] = NaN/Inf flag, gs[2] = norm, gs[3] = coef,
// norm = sqrt(sum) * inv_accum / loss_scale, coef = min(1, clip / norm) (1 when clip <= 0).
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer P { float part_in[]; };
layout(std430, binding = 1) readonly buffer Step { float step[]; };
layout(std430, binding = 2) writeonly buffer GS { float gs[]; };
shared float part[gl_WorkGroupSize.x];
shared float bad[gl_WorkGroupSize.x];
void main() {
  uint lid = gl_LocalInvocationID.x;
  float s = 0.0, f = 0.0;
  for (uint i = lid; i < pc.groups; i += gl_WorkGroupSize.x) {
    s += part_in[i];
    f = max(f, part_in[pc.groups + i]);
  }
  part[lid] = s;
  bad[lid] = f;
  barrier();
  for (uint w = gl_WorkGroupSize.x / 2u; w > 0u; w >>= 1u) {
    if (lid < w) {
      part[lid] += part[lid + w];
      bad[lid] = max(bad[lid], bad[lid + w]);
    }
    barrier();
  }
  if (lid == 0u) {
    float ls = step[STEP_LOSS_SCALE], ia = step[STEP_INV_ACCUM], clip = step[STEP_GRAD_CLIP];
    float norm = sqrt(part[0]) * ia / ls;
    float coef = (clip > 0.0 && norm > clip) ? clip / norm : 1.0;
    gs[0] = coef / ls * ia;
    gs[1] = bad[0];
    gs[2] = norm;
    gs[3] = coef;
  }
}
