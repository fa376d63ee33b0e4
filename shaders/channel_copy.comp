#version 450
#extension GL_GOOGLE_include_directive : require
// Strided channel copy (concat, split and both gradients): x is [O, Cx, I], out [O, Co, I];
// out[o][d0 + c][i] (+)= x[o][c0 + c][i] for c < Cn. zero_rest (never with accumulate): the launch
// covers all of out and the channels outside [d0, d0 + Cn) are set to 0.
//
// channel_copy_multi<NJOBS> (-DNJOBS=2..4): NJOBS channel_copy jobs of one O and I in one dispatch, job k
// reading binding k and writing binding NJOBS + k (two jobs may be given one output tensor: they write
// disjoint channels of it). The invocations are the jobs' one after the other, each job's as many as its
// channel_copy launch has; every invocation finds its job and runs the same code (copy_elem) as the
// channel_copy invocation of that element, so each job's bits are channel_copy's.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
#ifndef NJOBS
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Out { float o[]; };
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
// job k's buffers
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

// element e (< O * Cw * I) of job k's launch, Cw = the channels it writes per o
void copy_elem(uint k, uint e, uint O, uint I, uint Cx, uint Co, uint c0, uint d0, uint Cn, uint acc, uint zr) {
  uint Cw = zr != 0u ? Co : Cn;
  uint oc = e / I, i = e - oc * I;
  uint oo = oc / Cw, c = oc - oo * Cw;
  uint dc = zr != 0u ? c : d0 + c;
  uint dst = (oo * Co + dc) * I + i;
  if (dc < d0 || dc >= d0 + Cn) {
    st(k, dst, 0.0);
    return;
  }
  float v = ld(k, (oo * Cx + c0 + (dc - d0)) * I + i);
  st(k, dst, acc != 0u ? ldo(k, dst) + v : v);
}

#ifndef NJOBS
void main() {
  uint e = ldm_gid();
  uint Cw = pc.zero_rest != 0u ? pc.Co : pc.Cn;
  if (e >= pc.O * Cw * pc.I) return;
  copy_elem(0u, e, pc.O, pc.I, pc.Cx, pc.Co, pc.c0, pc.d0, pc.Cn, pc.accumulate, pc.zero_rest);
}
#else
uint job_elems(uint Co, uint Cn, uint zr) { return pc.O * (zr != 0u ? Co : Cn) * pc.I; }
void main() {
  uint e = ldm_gid();
  uint n0 = job_elems(pc.Co0, pc.Cn0, pc.zero0);
  if (e < n0) { copy_elem(0u, e, pc.O, pc.I, pc.Cx0, pc.Co0, pc.src0, pc.dst0, pc.Cn0, pc.acc0, pc.zero0); return; }
  e -= n0;
  uint n1 = job_elems(pc.Co1, pc.Cn1, pc.zero1);
  if (e < n1) { copy_elem(1u, e, pc.O, pc.I, pc.Cx1, pc.Co1, pc.src1, pc.dst1, pc.Cn1, pc.acc1, pc.zero1); return; }
  e -= n1;
#if NJOBS > 2
  uint n2 = job_elems(pc.Co2, pc.Cn2, pc.zero2);
  if (e < n2) { copy_elem(2u, e, pc.O, pc.I, pc.Cx2, pc.Co2, pc.src2, pc.dst2, pc.Cn2, pc.acc2, pc.zero2); return; }
  e -= n2;
#endif
#if NJOBS > 3
  uint n3 = job_elems(pc.Co3, pc.Cn3, pc.zero3);
  if (e < n3) { copy_elem(3u, e, pc.O, pc.I, pc.Cx3, pc.Co3, pc.src3, pc.dst3, pc.Cn3, pc.acc3, pc.zero3); return; }
#endif
}
#endif
