#version 450
#extension GL_GOOGLE_include_directive : require
// GroupNorm backward, one workgroup per (n, g). With xhat = (x - mean) rstd:
//   pg[n, c] = sum_s dy xhat, pb[n, c] = sum_s dy            (reduce_sum over n gives dgamma, dbeta)
//   dx = rstd (gamma dy - mean_g(gamma dy) - xhat mean_g(gamma dy xhat))   (when want_dx)
// Per-channel fixed-order workgroup reductions (a tree, or subgroups in the *_sg variants); dx honours
// accumulate.
// Variant group_norm_silu_backward (-DGN_SILU): dy is the gradient of silu(h), h = xhat gamma + beta
// recomputed from x, mean, rstd, gamma and beta (binding 5); dh = act_silu_backward(h, dy) replaces dy.
#include "common.glsl"
#ifdef GN_SILU
#include "activations.glsl"
#endif
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Gamma { float gamma[]; };
layout(std430, binding = 2) readonly buffer Mean { float mean_in[]; };
layout(std430, binding = 3) readonly buffer Rstd { float rstd_in[]; };
layout(std430, binding = 4) readonly buffer DY { float dy[]; };
#ifdef GN_SILU
layout(std430, binding = 5) readonly buffer Beta { float beta[]; };
layout(std430, binding = 6) buffer DX { float dx[]; };
layout(std430, binding = 7) writeonly buffer PG { float pg[]; };
layout(std430, binding = 8) writeonly buffer PB { float pb[]; };
// the gradient at h = xhat gamma[c] + beta[c] of element i of channel c
float grad_h(uint i, uint c, float xh) { return act_silu_backward(xh * gamma[c] + beta[c], dy[i]); }
#else
layout(std430, binding = 5) buffer DX { float dx[]; };
layout(std430, binding = 6) writeonly buffer PG { float pg[]; };
layout(std430, binding = 7) writeonly buffer PB { float pb[]; };
float grad_h(uint i, uint c, float xh) { return dy[i]; }
#endif
shared float p1[gl_WorkGroupSize.x];
shared float p2[gl_WorkGroupSize.x];
#ifdef LDM_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

// the two channel sums (s1, s2) over the workgroup, to every invocation; p1 and p2 free again on return.
// The same two forms as wg_reduce.glsl's wg_sum, side by side: a fixed-order tree, or (-DLDM_SUBGROUP)
// subgroupAdd then the per-subgroup partials in subgroup order.
vec2 wg_sum2(float s1, float s2) {
  uint lid = gl_LocalInvocationID.x;
#ifdef LDM_SUBGROUP
  float a = subgroupAdd(s1), b = subgroupAdd(s2);
  if (subgroupElect()) {
    p1[gl_SubgroupID] = a;
    p2[gl_SubgroupID] = b;
  }
  barrier();
  float t1 = p1[0], t2 = p2[0];
  for (uint k = 1u; k < gl_NumSubgroups; k++) {
    t1 += p1[k];
    t2 += p2[k];
  }
#else
  p1[lid] = s1;
  p2[lid] = s2;
  barrier();
  for (uint w = gl_WorkGroupSize.x / 2u; w > 0u; w >>= 1u) {
    if (lid < w) {
      p1[lid] += p1[lid + w];
      p2[lid] += p2[lid + w];
    }
    barrier();
  }
  float t1 = p1[0], t2 = p2[0];
#endif
  barrier(); // p1/p2 are reused by the next channel
  return vec2(t1, t2);
}

void main() {
  uint ng = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (ng >= pc.N * pc.G) return; // uniform per workgroup
  uint lid = gl_LocalInvocationID.x;
  uint n = ng / pc.G, cg = pc.C / pc.G, M = cg * pc.S, base = ng * M, ch0 = (ng % pc.G) * cg;
  float m = mean_in[ng], r = rstd_in[ng];
  float A = 0.0, B = 0.0; // sum gamma dy, sum gamma dy xhat
  for (uint cc = 0u; cc < cg; cc++) {
    uint cb = base + cc * pc.S, c = ch0 + cc;
    float s1 = 0.0, s2 = 0.0;
    for (uint i = lid; i < pc.S; i += gl_WorkGroupSize.x) {
      float xh = (x[cb + i] - m) * r;
      float d = grad_h(cb + i, c, xh);
      s1 += d * xh;
      s2 += d;
    }
    vec2 t = wg_sum2(s1, s2);
    float t1 = t.x, t2 = t.y;
    if (lid == 0u) {
      pg[n * pc.C + c] = t1;
      pb[n * pc.C + c] = t2;
    }
    A += gamma[c] * t2;
    B += gamma[c] * t1;
  }
  if (pc.want_dx == 0u) return;
  float a = A / float(M), b = B / float(M);
  for (uint e = lid; e < M; e += gl_WorkGroupSize.x) {
    uint c = ch0 + e / pc.S;
    float xh = (x[base + e] - m) * r;
    float v = r * ((gamma[c] * grad_h(base + e, c, xh) - a) - xh * b);
    dx[base + e] = pc.accumulate != 0u ? dx[base + e] + v : v;
  }
}
