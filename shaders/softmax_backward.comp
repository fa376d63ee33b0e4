#version 450
#extension GL_GOOGLE_include_directive : require
// Softmax backward per row: dx = y (dy - sum_j dy_j y_j). SERIAL: one invocation per row; else one
// workgroup per row with a fixed-order workgroup reduction (wg_reduce.glsl) for the dot product. dx honours accumulate.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer Yb { float y[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) buffer DX { float dx[]; };
layout(constant_id = 1) const uint SERIAL = 0u;
shared float part[gl_WorkGroupSize.x];
#include "wg_reduce.glsl"

void main() {
  uint r, lid, stride;
  if (SERIAL != 0u) {
    r = ldm_gid();
    if (r >= pc.rows) return;
    lid = 0u;
    stride = 1u;
  } else {
    r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (r >= pc.rows) return; // uniform per workgroup
    lid = gl_LocalInvocationID.x;
    stride = gl_WorkGroupSize.x;
  }
  uint b = r * pc.cols;
  float s = 0.0;
  for (uint j = lid; j < pc.cols; j += stride) s += dy[b + j] * y[b + j];
  if (SERIAL == 0u) {
    s = wg_sum(s);
  }
  for (uint j = lid; j < pc.cols; j += stride) {
    float v = y[b + j] * (dy[b + j] - s);
    dx[b + j] = pc.accumulate != 0u ? dx[b + j] + v : v;
  }
}
