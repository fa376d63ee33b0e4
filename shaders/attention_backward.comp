#version 450
#extension GL_GOOGLE_include_directive : require
// The gradient of the attention core in one dispatch (op attention_backward, src/ops/ops.def): inputs qkv,
// O, P, dO; output dqkv (+)= [dq; dk; dv]. Workgroups 0 .. B*heads*T-1 are query rows i (dq[:, i]); the next
// B*heads*T are key columns j (dk[:, j] and dv[:, j]); every element of dqkv is written by one invocation.
// Both kinds compute the same terms the same way (c ascending, no reduction across invocations), so a row
// and a column see identical dS_ij:
//   D_i = sum_c dO[c][i] O[c][i],  dS_ij = P_ij (sum_c dO[c][i] v[c][j] - D_i)
// and sum over j (rows) or i (columns) in ascending order, in chunks staged in shared memory, each
// invocation holding ACC output channels (channel blocks of ACC * WG when d is larger).
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer QKV { float x[]; };
layout(std430, binding = 1) readonly buffer Out { float o[]; };
layout(std430, binding = 2) readonly buffer Prob { float p[]; };
layout(std430, binding = 3) readonly buffer DOut { float go[]; };
layout(std430, binding = 4) buffer DQKV { float dx[]; };
shared float s1[gl_WorkGroupSize.x];
shared float s2[gl_WorkGroupSize.x];
#define ACC 4u

void store(uint e, float v) { dx[e] = pc.accumulate != 0u ? dx[e] + v : v; }

void main() {
  const uint WG = gl_WorkGroupSize.x, lid = gl_LocalInvocationID.x;
  uint T = pc.T, d = pc.d, C = pc.heads * pc.d, BHT = pc.B * pc.heads * T;
  uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (r >= 2u * BHT) return; // uniform per workgroup
  bool col = r >= BHT;
  uint rr = col ? r - BHT : r;
  uint bh = rr / T, t = rr - bh * T;
  uint b = bh / pc.heads, h = bh - b * pc.heads;
  uint qb = (b * 3u * C + h * d) * T, kb = qb + C * T, vb = kb + C * T;
  uint ob = (b * C + h * d) * T, pb = bh * T * T;
  if (!col) { // query row i = t
    uint i = t;
    float Di = 0.0;
    for (uint c = 0u; c < d; c++) Di += go[ob + c * T + i] * o[ob + c * T + i];
    for (uint c0 = 0u; c0 < d; c0 += ACC * WG) {
      float acc[ACC];
      [[unroll]] for (uint k = 0u; k < ACC; k++) acc[k] = 0.0;
      for (uint j0 = 0u; j0 < T; j0 += WG) {
        uint j = j0 + lid;
        if (j < T) {
          float dp = 0.0;
          for (uint c = 0u; c < d; c++) dp += go[ob + c * T + i] * x[vb + c * T + j];
          s1[lid] = p[pb + i * T + j] * (dp - Di);
        }
        barrier();
        uint n = min(WG, T - j0);
        [[unroll]] for (uint k = 0u; k < ACC; k++) {
          uint c = c0 + lid + k * WG;
          if (c < d) {
            uint kr = kb + c * T + j0;
            for (uint jj = 0u; jj < n; jj++) acc[k] += s1[jj] * x[kr + jj];
          }
        }
        barrier();
      }
      [[unroll]] for (uint k = 0u; k < ACC; k++) {
        uint c = c0 + lid + k * WG;
        if (c < d) store(qb + c * T + i, pc.scale * acc[k]);
      }
    }
    return;
  }
  uint j = t; // key column
  for (uint c0 = 0u; c0 < d; c0 += ACC * WG) {
    float ak[ACC], av[ACC];
    [[unroll]] for (uint k = 0u; k < ACC; k++) ak[k] = av[k] = 0.0;
    for (uint i0 = 0u; i0 < T; i0 += WG) {
      uint i = i0 + lid;
      if (i < T) {
        float Di = 0.0, dp = 0.0;
        for (uint c = 0u; c < d; c++) {
          float gv = go[ob + c * T + i];
          Di += gv * o[ob + c * T + i];
          dp += gv * x[vb + c * T + j];
        }
        float pij = p[pb + i * T + j];
        s1[lid] = pij;
        s2[lid] = pij * (dp - Di);
      }
      barrier();
      uint n = min(WG, T - i0);
      [[unroll]] for (uint k = 0u; k < ACC; k++) {
        uint c = c0 + lid + k * WG;
        if (c < d) {
          uint gr = ob + c * T + i0, qr = qb + c * T + i0;
          for (uint ii = 0u; ii < n; ii++) {
            av[k] += go[gr + ii] * s1[ii];
            ak[k] += x[qr + ii] * s2[ii];
          }
        }
      }
      barrier();
    }
    [[unroll]] for (uint k = 0u; k < ACC; k++) {
      uint c = c0 + lid + k * WG;
      if (c < d) {
        store(kb + c * T + j, pc.scale * ak[k]);
        store(vb + c * T + j, av[k]);
      }
    }
  }
}
