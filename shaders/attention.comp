#version 450
#extension GL_GOOGLE_include_directive : require
// The attention core in one dispatch (op attention, src/ops/ops.def): qkv [B, 3C, T] -> O [B, C, T] and the
// saved probabilities P [B*heads, T, T]. One workgroup per (bh, query row i), the grid flattened over x and
// y. Pass 1: s_j = scale * sum_c q[c][i] k[c][j] (c ascending) into P's row, and the row max; pass 2:
// e_j = exp(s_j - max) in place and their sum (fixed-order workgroup reductions, wg_reduce.glsl); pass 3, in
// chunks of one key per invocation staged in shared memory: P_ij = e_j / sum, and O[c][i] = sum_j v[c][j] P_ij
// (j ascending), each invocation holding ACC output channels (channel blocks of ACC * WG when d is larger).
// Invocation lid owns the keys j = lid (mod WG) in every pass, so it reads back only what it wrote itself.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer QKV { float x[]; };
layout(std430, binding = 1) writeonly buffer Out { float o[]; };
layout(std430, binding = 2) buffer Prob { float p[]; };
shared float part[gl_WorkGroupSize.x];
shared float ps[gl_WorkGroupSize.x];
#include "wg_reduce.glsl"
#define ACC 4u

void main() {
  const uint WG = gl_WorkGroupSize.x, lid = gl_LocalInvocationID.x;
  uint T = pc.T, d = pc.d, C = pc.heads * pc.d;
  uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (r >= pc.B * pc.heads * T) return; // uniform per workgroup
  uint bh = r / T, i = r - bh * T;
  uint b = bh / pc.heads, h = bh - b * pc.heads;
  uint qb = (b * 3u * C + h * d) * T, kb = qb + C * T, vb = kb + C * T; // q[c][i] = x[qb + c * T + i]
  uint ob = (b * C + h * d) * T, pb = r * T;
  float m = -3.402823466e38;
  for (uint j = lid; j < T; j += WG) {
    float s = 0.0;
    for (uint c = 0u; c < d; c++) s += x[qb + c * T + i] * x[kb + c * T + j];
    s *= pc.scale;
    p[pb + j] = s;
    m = max(m, s);
  }
  m = wg_max(m);
  float l = 0.0;
  for (uint j = lid; j < T; j += WG) {
    float e = exp(p[pb + j] - m);
    p[pb + j] = e;
    l += e;
  }
  l = wg_sum(l);
  for (uint c0 = 0u; c0 < d; c0 += ACC * WG) {
    float acc[ACC];
    [[unroll]] for (uint k = 0u; k < ACC; k++) acc[k] = 0.0;
    for (uint j0 = 0u; j0 < T; j0 += WG) {
      uint j = j0 + lid;
      if (j < T) {
        float v = p[pb + j];
        if (c0 == 0u) {
          v = v / l;
          p[pb + j] = v;
        }
        ps[lid] = v;
      }
      barrier();
      uint n = min(WG, T - j0);
      [[unroll]] for (uint k = 0u; k < ACC; k++) {
        uint c = c0 + lid + k * WG;
        if (c < d) {
          uint vr = vb + c * T + j0;
          for (uint jj = 0u; jj < n; jj++) acc[k] += x[vr + jj] * ps[jj];
        }
      }
      barrier();
    }
    [[unroll]] for (uint k = 0u; k < ACC; k++) {
      uint c = c0 + lid + k * WG;
      if (c < d) o[ob + c * T + i] = acc[k];
    }
  }
}
