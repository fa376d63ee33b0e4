#version 450
#extension GL_GOOGLE_include_directive : require
// Convolution as an implicit GEMM (no im2col buffer in memory). Each workgroup computes a 64x64 output
// tile: 16-deep slabs of the weights and of the virtual im2col matrix are staged in shared memory (8 KiB),
// 16x16 threads each accumulate a strided 4x4 register block (as gemm.comp). One source, three ops:
//   CONV_FWD         conv2d:                 y[n,co,oh,ow] = sum_{ci,kh,kw} w[co,ci,kh,kw] x[n,ci,ih,iw] + bias[co]
//                    rows co, columns (n,oh,ow), depth (ci,kh,kw);    ih = oh*S - pad + kh, iw = ow*S - pad + kw
//   CONV_BWD_DATA    conv2d_backward_data:   dx[n,ci,ih,iw] = sum_{co,kh,kw} w[co,ci,kh,kw] dy[n,co,oh,ow]
//                    rows ci, columns (n,ih,iw), depth (co,kh,kw); taps whose oh/ow are not integers or out
//                    of range contribute zero (a gather: each output written once, no atomics)
//   CONV_BWD_WEIGHT  conv2d_backward_weight: dw[s,co,ci,kh,kw] = sum_{(n,oh,ow) in split s} dy[n,co,oh,ow]
//                                                                                   * x[n,ci,ih,iw]
//                    rows co, columns (ci,kh,kw), depth = the output pixels of split s (workgroup z), in order
// Bindings: FWD x, w, bias, chan, res, y; BWD_DATA dy, w, dx; BWD_WEIGHT dy, x, dw. Every output:
// o = acc ? o + v : v. FWD's fused epilogue (conv_store): v = ((sum + bias[co]) + chan[n,co]) + res[n,co,p],
// each term only where pc.has_bias / has_chan / has_res is set (an absent one is bound to x, never read).
#include "common.glsl"
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(constant_id = 1) const uint KS = 3u; // kernel size (= pc.k)
layout(constant_id = 2) const uint S = 1u;  // stride (= pc.stride)
const uint KK = KS * KS;
layout(std430, binding = 0) readonly buffer In0 { float in0[]; };
layout(std430, binding = 1) readonly buffer In1 { float in1[]; };
#ifdef CONV_FWD
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer Chan { float chan[]; }; // [N, Cout]
layout(std430, binding = 4) readonly buffer Res { float res[]; };   // [N, Cout, Ho, Wo], y's layout
layout(std430, binding = 5) buffer Out { float o[]; };
#else
layout(std430, binding = 2) buffer Out { float o[]; };
#endif
shared float As[16][65]; // [depth][row], padded against bank conflicts on the transposing stores
shared float Bs[16][65]; // [depth][column]

// The epilogue: output element (row, col) of the implicit GEMM, v its accumulated sum (of split
// `gl_WorkGroupID.z` for BWD_WEIGHT). Every tile variant's store goes through here.
void conv_store(uint row, uint col, uint M, uint NCOL, float v) {
#if defined(CONV_FWD)
  uint P = pc.Ho * pc.Wo, n = col / P, pix = col - n * P;
  uint oi = n * pc.Cout * P + pix + row * P;
  if (pc.has_bias != 0u) v += bias[row];
  if (pc.has_chan != 0u) v += chan[n * pc.Cout + row];
  if (pc.has_res != 0u) v += res[oi];
#elif defined(CONV_BWD_DATA)
  uint HW = pc.H * pc.W, n = col / HW, pix = col - n * HW;
  uint oi = n * pc.Cin * HW + pix + row * HW;
#else
  uint oi = gl_WorkGroupID.z * pc.Cout * NCOL + col + row * NCOL;
#endif
  o[oi] = pc.accumulate != 0u ? o[oi] + v : v;
}

void main() {
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, tid = ty * 16u + tx;
  uint P = pc.Ho * pc.Wo, HW = pc.H * pc.W;
  int pad = int(pc.pad);
#if defined(CONV_FWD)
  uint M = pc.Cout, NCOL = pc.N * P, d0 = 0u, d1 = pc.Cin * KK;
#elif defined(CONV_BWD_DATA)
  uint M = pc.Cin, NCOL = pc.N * HW, d0 = 0u, d1 = pc.Cout * KK;
#else
  uint M = pc.Cout, NCOL = pc.Cin * KK;
  uint split = gl_WorkGroupID.z;
  uint d0 = split * pc.split_len, d1 = min(pc.N * P, d0 + pc.split_len);
#endif
#if defined(CONV_BWD_WEIGHT)
  uint n0 = gl_WorkGroupID.x * 64u;
#else
  uint n0 = (gl_WorkGroupID.x + gl_WorkGroupID.z * gl_NumWorkGroups.x) * 64u; // > 65535 tiles fold into z
  if (n0 >= NCOL) return; // uniform per workgroup
#endif
  uint m0 = gl_WorkGroupID.y * 64u;

  // per-thread constants of the B loads
#if defined(CONV_FWD) || defined(CONV_BWD_DATA)
  // this thread always loads column n0 + (tid & 63) at depths k0 + (tid >> 6) + 4l
  uint bcol = n0 + (tid & 63u);
  bool bvalid = bcol < NCOL;
#if defined(CONV_FWD)
  uint bn = bcol / P, bp = bcol - bn * P, boh = bp / pc.Wo, bow = bp - boh * pc.Wo;
  int ih0 = int(boh * S) - pad, iw0 = int(bow * S) - pad;
  uint xbase = bn * pc.Cin * HW;
#else
  uint bn = bcol / HW, bp = bcol - bn * HW, bih = bp / pc.W, biw = bp - bih * pc.W;
  uint dybase = bn * pc.Cout * P;
#endif
#else
  // this thread always loads the columns (ci,kh,kw) = n0 + (tid >> 4) + 16l at depth k0 + (tid & 15)
  uint cci[4], ckh[4], ckw[4];
  bool cvalid[4];
  [[unroll]] for (uint l = 0u; l < 4u; l++) {
    uint kk = n0 + (tid >> 4u) + 16u * l;
    cvalid[l] = kk < NCOL;
    cci[l] = kk / KK;
    uint tap = kk - cci[l] * KK;
    ckh[l] = tap / KS;
    ckw[l] = tap - ckh[l] * KS;
  }
#endif

  float acc[4][4];
  [[unroll]] for (int r = 0; r < 4; r++)
    [[unroll]] for (int q = 0; q < 4; q++) acc[r][q] = 0.0;

  for (uint k0 = d0; k0 < d1; k0 += 16u) {
#if defined(CONV_FWD) || defined(CONV_BWD_DATA)
    [[unroll]] for (uint l = 0u; l < 4u; l++) {
      // A: weights, row m = m0 + (tid >> 4) + 16l, depth kk = k0 + (tid & 15)
      uint am = (tid >> 4u) + 16u * l, gm = m0 + am, gk = k0 + (tid & 15u);
      float a = 0.0;
      if (gm < M && gk < d1) {
#if defined(CONV_FWD)
        a = in1[gm * d1 + gk];
#else
        uint co = gk / KK, tap = gk - co * KK;
        a = in1[(co * pc.Cin + gm) * KK + tap];
#endif
      }
      As[tid & 15u][am] = a;
      // B: the virtual im2col (FWD) / transposed-conv gather (BWD_DATA) matrix
      uint bk = (tid >> 6u) + 4u * l, kk = k0 + bk;
      float b = 0.0;
      if (bvalid && kk < d1) {
        uint c = kk / KK, tap = kk - c * KK, kh = tap / KS, kw = tap - kh * KS;
#if defined(CONV_FWD)
        int ih = ih0 + int(kh), iw = iw0 + int(kw);
        if (uint(ih) < pc.H && uint(iw) < pc.W) b = in0[xbase + (c * pc.H + uint(ih)) * pc.W + uint(iw)];
#else
        int ohs = int(bih) + pad - int(kh), ows = int(biw) + pad - int(kw);
        if (ohs >= 0 && ows >= 0) {
          uint oh = uint(ohs) / S, ow = uint(ows) / S;
          if (oh * S == uint(ohs) && ow * S == uint(ows) && oh < pc.Ho && ow < pc.Wo)
            b = in0[dybase + (c * pc.Ho + oh) * pc.Wo + ow];
        }
#endif
      }
      Bs[bk][tid & 63u] = b;
    }
#else
    {
      uint dl = tid & 15u, d = k0 + dl;
      bool dv = d < d1;
      uint n = 0u, pix = 0u;
      int ih0 = 0, iw0 = 0;
      if (dv) {
        n = d / P;
        pix = d - n * P;
        uint oh = pix / pc.Wo, ow = pix - oh * pc.Wo;
        ih0 = int(oh * S) - pad;
        iw0 = int(ow * S) - pad;
      }
      [[unroll]] for (uint l = 0u; l < 4u; l++) {
        uint j = (tid >> 4u) + 16u * l, gm = m0 + j;
        float a = 0.0;
        if (dv && gm < M) a = in0[(n * pc.Cout + gm) * P + pix];
        As[dl][j] = a;
        float b = 0.0;
        if (dv && cvalid[l]) {
          int ih = ih0 + int(ckh[l]), iw = iw0 + int(ckw[l]);
          if (uint(ih) < pc.H && uint(iw) < pc.W) b = in1[((n * pc.Cin + cci[l]) * pc.H + uint(ih)) * pc.W + uint(iw)];
        }
        Bs[dl][j] = b;
      }
    }
#endif
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

  [[unroll]] for (uint q = 0u; q < 4u; q++) {
    uint col = n0 + tx + 16u * q;
    if (col >= NCOL) continue;
    [[unroll]] for (uint r = 0u; r < 4u; r++) {
      uint row = m0 + ty + 16u * r;
      if (row < M) conv_store(row, col, M, NCOL, acc[r][q]);
    }
  }
}
