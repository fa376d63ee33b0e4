#version 450
#extension GL_GOOGLE_include_directive : require
// Tiled GEMM: C[b] = alpha * op(A[b]) op(B[b]) (+ bias) (+ C). A BM x BN output tile per workgroup over
// 16-deep K slabs staged in shared memory, one of the tile variants of tile.glsl (specialization constants).
#include "common.glsl"
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C { float c[]; };
#include "tile.glsl"

uint tid, m0, n0, aoff, boff;

// element l of this thread's share of a slab: (depth, row) of A, (depth, column) of B
void a_slot(uint l, out uint kk, out uint mm) {
  uint e = tid + l * NT;
  if (pc.ta == 0u) { kk = e % BK; mm = e / BK; } else { mm = e % BM; kk = e / BM; }
}
void b_slot(uint l, out uint kk, out uint nn) {
  uint e = tid + l * NT;
  if (pc.tb == 0u) { nn = e % BN; kk = e / BN; } else { kk = e % BK; nn = e / BK; }
}
void tile_fetch(uint k0) {
  [[unroll]] for (uint l = 0u; l < LA; l++) {
    uint kk, mm;
    a_slot(l, kk, mm);
    uint gm = m0 + mm, gk = k0 + kk;
    float v = 0.0;
    if (gm < pc.M && gk < pc.K) v = pc.ta == 0u ? a[aoff + gm * pc.K + gk] : a[aoff + gk * pc.M + gm];
    ra[l] = v;
  }
  [[unroll]] for (uint l = 0u; l < LB; l++) {
    uint kk, nn;
    b_slot(l, kk, nn);
    uint gn = n0 + nn, gk = k0 + kk;
    float v = 0.0;
    if (gn < pc.N && gk < pc.K) v = pc.tb == 0u ? b[boff + gk * pc.N + gn] : b[boff + gn * pc.K + gk];
    rb[l] = v;
  }
}
void tile_stash(uint buf) {
  [[unroll]] for (uint l = 0u; l < LA; l++) {
    uint kk, mm;
    a_slot(l, kk, mm);
    tile_st_a(buf, kk, mm, ra[l]);
  }
  [[unroll]] for (uint l = 0u; l < LB; l++) {
    uint kk, nn;
    b_slot(l, kk, nn);
    tile_st_b(buf, kk, nn, rb[l]);
  }
}

void main() {
  uint bz = gl_WorkGroupID.z;
  m0 = gl_WorkGroupID.y * BM;
  n0 = gl_WorkGroupID.x * BN;
  tid = gl_LocalInvocationIndex;
  uint tx = tid % TX, ty = tid / TX;
  aoff = bz * pc.sA;
  boff = bz * pc.sB;
  tile_loop(0u, pc.K, tx, ty);
  uint coff = bz * pc.sC;
  [[unroll]] for (uint r = 0u; r < TM; r++) {
    uint gm = m0 + tile_row(ty, r);
    if (gm >= pc.M) continue;
    [[unroll]] for (uint q = 0u; q < TN; q++) {
      uint gn = n0 + tile_col(tx, q);
      if (gn >= pc.N) continue;
      float v = pc.alpha * tacc[r * TN + q];
      if (pc.bias_mode == 1u) v += bias[gn];
      else if (pc.bias_mode == 2u) v += bias[gm];
      uint ci = coff + gm * pc.N + gn;
      c[ci] = pc.accumulate != 0u ? c[ci] + v : v;
    }
  }
}
