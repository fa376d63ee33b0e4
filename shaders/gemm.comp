#version 450
#extension GL_GOOGLE_include_directive : require
// Tiled GEMM: C[b] = alpha * op(A[b]) op(B[b]) (+ bias) (+ C). 64x64 output tile per workgroup,
// 16-deep K slabs staged in shared memory (8 KiB), 16x16 threads each computing a strided 4x4 block.
#include "common.glsl"
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C { float c[]; };
shared float As[16][64];
shared float Bs[16][64];
void main() {
  uint bz = gl_WorkGroupID.z;
  uint m0 = gl_WorkGroupID.y * 64u, n0 = gl_WorkGroupID.x * 64u;
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, tid = ty * 16u + tx;
  uint aoff = bz * pc.sA, boff = bz * pc.sB;
  float acc[4][4];
  [[unroll]] for (int r = 0; r < 4; r++)
    [[unroll]] for (int q = 0; q < 4; q++) acc[r][q] = 0.0;
  for (uint k0 = 0u; k0 < pc.K; k0 += 16u) {
    [[unroll]] for (uint l = 0u; l < 4u; l++) {
      uint e = tid + l * 256u;
      uint mm, kk;
      if (pc.ta == 0u) { kk = e % 16u; mm = e / 16u; } else { mm = e % 64u; kk = e / 64u; }
      uint gm = m0 + mm, gk = k0 + kk;
      float v = 0.0;
      if (gm < pc.M && gk < pc.K) v = pc.ta == 0u ? a[aoff + gm * pc.K + gk] : a[aoff + gk * pc.M + gm];
      As[kk][mm] = v;
      uint nn;
      if (pc.tb == 0u) { nn = e % 64u; kk = e / 64u; } else { kk = e % 16u; nn = e / 16u; }
      uint gn = n0 + nn;
      gk = k0 + kk;
      v = 0.0;
      if (gn < pc.N && gk < pc.K) v = pc.tb == 0u ? b[boff + gk * pc.N + gn] : b[boff + gn * pc.K + gk];
      Bs[kk][nn] = v;
    }
    barrier();
    [[unroll]] for (uint k = 0u; k < 16u; k++) {
      float av[4], bv[4];
      [[unroll]] for (uint r = 0u; r < 4u; r++) av[r] = As[k][ty + 16u * r];
      [[unroll]] for (uint q = 0u; q < 4u; q++) bv[q] = Bs[k][tx + 16u * q];
      [[unroll]] for (uint r = 0u; r < 4u; r++)
        [[unroll]] for (uint q = 0u; q < 4u; q++) acc[r][q] += av[r] * bv[q];
    }
    barrier();
  }
  uint coff = bz * pc.sC;
  [[unroll]] for (uint r = 0u; r < 4u; r++) {
    uint gm = m0 + ty + 16u * r;
    if (gm >= pc.M) continue;
    [[unroll]] for (uint q = 0u; q < 4u; q++) {
      uint gn = n0 + tx + 16u * q;
      if (gn >= pc.N) continue;
      float v = pc.alpha * acc[r][q];
      if (pc.bias_mode == 1u) v += bias[gn];
      else if (pc.bias_mode == 2u) v += bias[gm];
      uint ci = coff + gm * pc.N + gn;
      c[ci] = pc.accumulate != 0u ? c[ci] + v : v;
    }
  }
}
