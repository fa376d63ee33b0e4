#version 450
#extension GL_GOOGLE_include_directive : require
// GroupNorm forward (torch.nn.GroupNorm): one workgroup per (n, g); the group is contiguous in NCHW
// (C/G channels x S positions). Two passes with fixed-order workgroup reductions (wg_reduce.glsl: a tree,
// or subgroups in the *_sg variants): mean, then the biased variance of (x - mean), so a large mean does not
// cancel the variance. Saves mean and rstd per (n, g).
// Variant group_norm_silu (-DGN_SILU): y = silu(xhat gamma + beta), the same h then act_silu of unary.comp.
#include "common.glsl"
#ifdef GN_SILU
#include "activations.glsl"
#endif
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 2) readonly buffer Beta { float beta[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) writeonly buffer Mean { float mean_out[]; };
layout(std430, binding = 5) writeonly buffer Rstd { float rstd_out[]; };
shared float part[gl_WorkGroupSize.x];
#include "wg_reduce.glsl"

void main() {
  uint ng = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (ng >= pc.N * pc.G) return; // uniform per workgroup
  uint lid = gl_LocalInvocationID.x;
  uint cg = pc.C / pc.G, M = cg * pc.S, base = ng * M;
  float s = 0.0;
  for (uint e = lid; e < M; e += gl_WorkGroupSize.x) s += x[base + e];
  float mean = wg_sum(s) / float(M);
  float q = 0.0;
  for (uint e = lid; e < M; e += gl_WorkGroupSize.x) {
    float d = x[base + e] - mean;
    q += d * d;
  }
  float var = wg_sum(q) / float(M);
  float rstd = 1.0 / sqrt(var + pc.eps);
  uint ch0 = (ng % pc.G) * cg;
  for (uint e = lid; e < M; e += gl_WorkGroupSize.x) {
    uint c = ch0 + e / pc.S;
    float xh = (x[base + e] - mean) * rstd;
    float h = xh * gamma[c] + beta[c];
#ifdef GN_SILU
    h = act_silu(h);
#endif
    y[base + e] = h;
  }
  if (lid == 0u) {
    mean_out[ng] = mean;
    rstd_out[ng] = rstd;
  }
}
