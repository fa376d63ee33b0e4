#version 450
#extension GL_GOOGLE_include_directive : require
// out[j] (+)= scale * sum_{o,i} x[o][j][i]; one workgroup per j with a fixed-order workgroup reduction
// (wg_reduce.glsl: a shared-memory tree, or subgroups in the *_sg variants), or one invocation per j when
// there are few terms (SERIAL). Deterministic either way, no atomics.
//
// reduce_sum_multi<NJOBS> (-DNJOBS=2..4): NJOBS independent reduce_sum jobs in one dispatch, job k reading
// binding k and writing binding NJOBS + k. The grid is the jobs' workgroups one after the other (a tree job:
// J_k workgroups, a serial job: ceil(J_k / 256)); every workgroup finds its job, which is uniform across it,
// and runs the same code (reduce_job) as a reduce_sum node of that job, so each job's bits are reduce_sum's.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
#ifndef NJOBS
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Out { float o[]; };
layout(constant_id = 1) const uint SERIAL = 0u; // 1: one invocation per j (few terms, many outputs)
float ld(uint k, uint e) { return x[e]; }
float ldo(uint k, uint j) { return o[j]; }
void st(uint k, uint j, float v) { o[j] = v; }
#else
layout(std430, binding = 0) readonly buffer X0 { float x0[]; };
layout(std430, binding = 1) readonly buffer X1 { float x1[]; };
#if NJOBS > 2
layout(std430, binding = 2) readonly buffer X2 { float x2[]; };
#endif
#if NJOBS > 3
layout(std430, binding = 3) readonly buffer X3 { float x3[]; };
#endif
layout(std430, binding = NJOBS + 0) buffer O0b { float o0[]; };
layout(std430, binding = NJOBS + 1) buffer O1b { float o1[]; };
#if NJOBS > 2
layout(std430, binding = NJOBS + 2) buffer O2b { float o2[]; };
#endif
#if NJOBS > 3
layout(std430, binding = NJOBS + 3) buffer O3b { float o3[]; };
#endif
// job k's buffers (k is uniform across the workgroup)
float ld(uint k, uint e) {
#if NJOBS > 3
  if (k == 3u) return x3[e];
#endif
#if NJOBS > 2
  if (k == 2u) return x2[e];
#endif
  return k == 1u ? x1[e] : x0[e];
}
float ldo(uint k, uint j) {
#if NJOBS > 3
  if (k == 3u) return o3[j];
#endif
#if NJOBS > 2
  if (k == 2u) return o2[j];
#endif
  return k == 1u ? o1[j] : o0[j];
}
void st(uint k, uint j, float v) {
#if NJOBS > 3
  if (k == 3u) { o3[j] = v; return; }
#endif
#if NJOBS > 2
  if (k == 2u) { o2[j] = v; return; }
#endif
  if (k == 1u) o1[j] = v; else o0[j] = v;
}
#endif
shared float part[gl_WorkGroupSize.x];
#include "wg_reduce.glsl"

// the serial form: invocation j of the job sums its terms in order
void reduce_serial(uint k, uint O, uint J, uint I, float scale, bool acc, uint j) {
  if (j >= J) return;
  float s = 0.0;
  for (uint oo = 0u; oo < O; oo++)
    for (uint ii = 0u; ii < I; ii++) s += ld(k, (oo * J + j) * I + ii);
  float r = s * scale;
  st(k, j, acc ? ldo(k, j) + r : r);
}

// the tree form: the workgroup reduces output j (j is uniform across the workgroup)
void reduce_tree(uint k, uint O, uint J, uint I, float scale, bool acc, uint j) {
  uint lid = gl_LocalInvocationID.x;
  uint total = O * I;
  float s = 0.0;
  for (uint e = lid; e < total; e += gl_WorkGroupSize.x) {
    uint oo = e / I, ii = e - oo * I;
    s += ld(k, (oo * J + j) * I + ii);
  }
  float t = wg_sum(s);
  if (lid == 0u) {
    float r = t * scale;
    st(k, j, acc ? ldo(k, j) + r : r);
  }
}

#ifndef NJOBS
void main() {
  if (SERIAL != 0u) {
    reduce_serial(0u, pc.O, pc.J, pc.I, pc.scale, pc.accumulate != 0u, ldm_gid());
    return;
  }
  uint j = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (j >= pc.J) return;  // uniform per workgroup
  reduce_tree(0u, pc.O, pc.J, pc.I, pc.scale, pc.accumulate != 0u, j);
}
#else
uint job_groups(uint J, uint flags) { return (flags & 2u) != 0u ? (J + gl_WorkGroupSize.x - 1u) / gl_WorkGroupSize.x : J; }
void run_job(uint k, uint O, uint J, uint I, float scale, uint flags, uint w) {
  if ((flags & 2u) != 0u)
    reduce_serial(k, O, J, I, scale, (flags & 1u) != 0u, w * gl_WorkGroupSize.x + gl_LocalInvocationID.x);
  else
    reduce_tree(k, O, J, I, scale, (flags & 1u) != 0u, w);
}
void main() {
  uint w = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;  // uniform per workgroup
  uint n0 = job_groups(pc.J0, pc.flags0);
  if (w < n0) { run_job(0u, pc.O0, pc.J0, pc.I0, pc.scale0, pc.flags0, w); return; }
  w -= n0;
  uint n1 = job_groups(pc.J1, pc.flags1);
  if (w < n1) { run_job(1u, pc.O1, pc.J1, pc.I1, pc.scale1, pc.flags1, w); return; }
  w -= n1;
#if NJOBS > 2
  uint n2 = job_groups(pc.J2, pc.flags2);
  if (w < n2) { run_job(2u, pc.O2, pc.J2, pc.I2, pc.scale2, pc.flags2, w); return; }
  w -= n2;
#endif
#if NJOBS > 3
  uint n3 = job_groups(pc.J3, pc.flags3);
  if (w < n3) { run_job(3u, pc.O3, pc.J3, pc.I3, pc.scale3, pc.flags3, w); return; }
#endif
}
#endif
