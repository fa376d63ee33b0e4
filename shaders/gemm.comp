#version 450
#extension GL_GOOGLE_include_directive : require
// Tiled GEMM: C[b] = alpha * op(A[b]) op(B[b]) (+ bias) (+ C). A BM x BN output tile per workgroup over
// 16-deep K slabs staged in shared memory, one of the tile variants of tile.glsl (specialization constants).
//   GEMM_SILU   (gemm_silu, docs/perf.md "Change 9"): the SiLU epilogue: z = alpha AB + bias is written to
//               binding 4 (the pre-activation the backward reads), C = silu(z) (act_silu, the silu op's own
//               element function: the same float as the unfused linear -> silu pair); never with accumulate
//   GEMM_SPLIT  (gemm_split, docs/perf.md "Change 10"; batch 1): S = gl_NumWorkGroups.z splits of K, whole
//               slabs each; workgroup (tile, s) writes its partials to ws[s][m][n], the last of a tile's S
//               workgroups (its counter's atomicAdd returned S - 1) adds the S partials in order s = 0..S-1,
//               resets the counter and stores once: a fixed order, no float atomics (as conv2d.comp's split)
#include "common.glsl"
#include "activations.glsl"
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C { float c[]; };
#ifdef GEMM_SILU
layout(std430, binding = 4) writeonly buffer Z { float zpre[]; };
#define SPLIT_BINDING 5
#else
#define SPLIT_BINDING 4
#endif
#ifdef GEMM_SPLIT
layout(std430, binding = SPLIT_BINDING) coherent buffer Ws { float ws[]; };      // [S, M, N]
layout(std430, binding = SPLIT_BINDING + 1) coherent buffer Cnt { uint cnt[]; }; // one per tile, zero between runs
#endif
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

// the epilogue of output (gm, gn): bias, then (GEMM_SILU) z and silu, or accumulate
void gemm_store(uint coff, uint gm, uint gn, float sum) {
  float v = pc.alpha * sum;
  if (pc.bias_mode == 1u) v += bias[gn];
  else if (pc.bias_mode == 2u) v += bias[gm];
  uint ci = coff + gm * pc.N + gn;
#ifdef GEMM_SILU
  zpre[ci] = v;
  c[ci] = act_silu(v);
#else
  c[ci] = pc.accumulate != 0u ? c[ci] + v : v;
#endif
}

void main() {
#ifdef GEMM_SPLIT
  uint bz = 0u, nsplit = gl_NumWorkGroups.z, split = gl_WorkGroupID.z;
#else
  uint bz = gl_WorkGroupID.z;
#endif
  m0 = gl_WorkGroupID.y * BM;
  n0 = gl_WorkGroupID.x * BN;
  tid = gl_LocalInvocationIndex;
  uint tx = tid % TX, ty = tid / TX;
  aoff = bz * pc.sA;
  boff = bz * pc.sB;
  uint coff = bz * pc.sC;
#ifdef GEMM_SPLIT
  uint per = ((pc.K + BK - 1u) / BK + nsplit - 1u) / nsplit * BK; // whole slabs per split
  uint d0 = min(pc.K, split * per);
  tile_loop(d0, min(pc.K, d0 + per), tx, ty);
  [[unroll]] for (uint r = 0u; r < TM; r++) {
    uint gm = m0 + tile_row(ty, r);
    if (gm >= pc.M) continue;
    [[unroll]] for (uint q = 0u; q < TN; q++) {
      uint gn = n0 + tile_col(tx, q);
      if (gn < pc.N) ws[(split * pc.M + gm) * pc.N + gn] = tacc[r * TN + q];
    }
  }
  memoryBarrierBuffer();
  barrier();
  uint tile = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (tid == 0u) As[0].x = atomicAdd(cnt[tile], 1u) == nsplit - 1u ? 1.0 : 0.0;
  barrier();
  if (As[0].x == 0.0) return; // uniform per workgroup
  memoryBarrierBuffer();
  if (tid == 0u) atomicExchange(cnt[tile], 0u);
  [[unroll]] for (uint r = 0u; r < TM; r++) {
    uint gm = m0 + tile_row(ty, r);
    if (gm >= pc.M) continue;
    [[unroll]] for (uint q = 0u; q < TN; q++) {
      uint gn = n0 + tile_col(tx, q);
      if (gn >= pc.N) continue;
      float v = split == 0u ? tacc[r * TN + q] : ws[gm * pc.N + gn];
      for (uint s2 = 1u; s2 < nsplit; s2++) v += s2 == split ? tacc[r * TN + q] : ws[(s2 * pc.M + gm) * pc.N + gn];
      gemm_store(coff, gm, gn, v);
    }
  }
#else
  tile_loop(0u, pc.K, tx, ty);
  [[unroll]] for (uint r = 0u; r < TM; r++) {
    uint gm = m0 + tile_row(ty, r);
    if (gm >= pc.M) continue;
    [[unroll]] for (uint q = 0u; q < TN; q++) {
      uint gn = n0 + tile_col(tx, q);
      if (gn < pc.N) gemm_store(coff, gm, gn, tacc[r * TN + q]);
    }
  }
#endif
}
