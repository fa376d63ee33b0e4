#version 450
#extension GL_GOOGLE_include_directive : require
// Row softmax of a [rows, cols] matrix, y = exp(x - max) / sum exp(x - max) (the max keeps large
// logits finite). SERIAL: one invocation per row (short rows); else one workgroup per row with
// fixed-order workgroup reductions for the max and the sum (wg_reduce.glsl).
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };
layout(constant_id = 1) const uint SERIAL = 0u;
shared float part[gl_WorkGroupSize.x];
#include "wg_reduce.glsl"

void main() {
  if (SERIAL != 0u) {
    uint r = ldm_gid();
    if (r >= pc.rows) return;
    uint b = r * pc.cols;
    float m = x[b];
    for (uint j = 1u; j < pc.cols; j++) m = max(m, x[b + j]);
    float s = 0.0;
    for (uint j = 0u; j < pc.cols; j++) {
      float e = exp(x[b + j] - m);
      y[b + j] = e;
      s += e;
    }
    for (uint j = 0u; j < pc.cols; j++) y[b + j] = y[b + j] / s;
    return;
  }
  uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (r >= pc.rows) return; // uniform per workgroup
  uint lid = gl_LocalInvocationID.x, b = r * pc.cols;
  float m = x[b];
  for (uint j = lid; j < pc.cols; j += gl_WorkGroupSize.x) m = max(m, x[b + j]);
  m = wg_max(m);
  float s = 0.0;
  for (uint j = lid; j < pc.cols; j += gl_WorkGroupSize.x) {
    float e = exp(x[b + j] - m);
    y[b + j] = e;
    s += e;
  }
  s = wg_sum(s);
  // each invocation rescales only the elements it wrote itself: no barrier on y needed
  for (uint j = lid; j < pc.cols; j += gl_WorkGroupSize.x) y[b + j] = y[b + j] / s;
}
