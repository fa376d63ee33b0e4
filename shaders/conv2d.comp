#version 450
#extension GL_GOOGLE_include_directive : require
// Convolution as an implicit GEMM (no im2col buffer in memory). Each workgroup computes a BM x BN output
// tile: 16-deep slabs of the weights and of the virtual im2col matrix are staged in shared memory, each
// thread accumulates a register block: the tile variants of tile.glsl, as gemm.comp. One source, three ops:
//   CONV_FWD         conv2d:                 y[n,co,oh,ow] = sum_{ci,kh,kw} w[co,ci,kh,kw] x[n,ci,ih,iw] + bias[co]
//                    rows co, columns (n,oh,ow), depth (ci,kh,kw);    ih = oh*S - pad + kh, iw = ow*S - pad + kw
//   CONV_BWD_DATA    conv2d_backward_data:   dx[n,ci,ih,iw] = sum_{co,kh,kw} w[co,ci,kh,kw] dy[n,co,oh,ow]
//                    rows ci, columns (n,ih,iw), depth (co,kh,kw); taps whose oh/ow are not integers or out
//                    of range contribute zero (a gather: each output written once, no atomics)
//   CONV_BWD_WEIGHT  conv2d_backward_weight: dw[s,co,ci,kh,kw] = sum_{(n,oh,ow) in split s} dy[n,co,oh,ow]
//                                                                                   * x[n,ci,ih,iw]
//                    rows co, columns (ci,kh,kw), depth = the output pixels of split s (workgroup z), in order
//                    CONV_SUB (conv2d_backward_data_sub, stride S > 1; docs/perf.md "Change 15"): workgroup z is
//                    the parity class py * S + px of the dx pixels (ih % S == py, iw % S == px); its columns
//                    are that class's pixels, its depth (co, jh, jw) the taps kh = rh + S jh, kw = rw + S jw
//                    (rh = (py + pad) % S) that reach it: the stride holes are not computed, and the valid
//                    taps are added in the same increasing (co, kh, kw) order
// Bindings: FWD x, w, bias, chan, res, y; BWD_DATA dy, w, dx; BWD_WEIGHT dy, x, dw. Every output:
// o = acc ? o + v : v. FWD's fused epilogue (conv_store): v = ((sum + bias[co]) + chan[n,co]) + res[n,co,p],
// each term only where pc.has_bias / has_chan / has_res is set (an absent one is bound to x, never read).
#include "common.glsl"
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
#define SPLIT_BINDING 6
#else
layout(std430, binding = 2) buffer Out { float o[]; };
#define SPLIT_BINDING 3
#endif
#ifdef CONV_SPLIT
// split-K (conv2d_split, conv2d_backward_data_split; docs/perf.md "Change 7"; conv2d_backward_weight_split,
// "Change 10": each builder split's range of pixels split again, z = builder split x S): S = gl_NumWorkGroups.z splits of
// the depth, whole slabs each; workgroup (tile, s) writes its partial sums to ws[s][row][col], the last of a
// tile's S workgroups (its counter's atomicAdd returned S - 1) adds the S partials in order s = 0..S-1, resets
// the counter to 0 and stores through conv_store once. Fixed order: deterministic, no float atomics.
layout(std430, binding = SPLIT_BINDING) coherent buffer Ws { float ws[]; }; // [S, M, NCOL]
layout(std430, binding = SPLIT_BINDING + 1) coherent buffer Cnt { uint cnt[]; }; // one per tile, zero between runs
// "this workgroup is its tile's last" goes through As[0] (free after tile_loop's last barrier): a shared variable
// of its own would take the large tile past a 32 KiB limit
#endif
#include "tile.glsl"

// The epilogue: output element (row, col) of the implicit GEMM, v its accumulated sum (of the builder's
// split wsplit for BWD_WEIGHT). Every tile variant's store goes through here.
uint wsplit;
#ifdef CONV_SUB
uint sub_py, sub_px, sub_rh, sub_rw, sub_nkw, sub_nkk, sub_Hc, sub_Wc; // this workgroup's parity class
#endif
void conv_store(uint row, uint col, uint M, uint NCOL, float v) {
#if defined(CONV_FWD)
  uint P = pc.Ho * pc.Wo, n = col / P, pix = col - n * P;
  uint oi = n * pc.Cout * P + pix + row * P;
  if (pc.has_bias != 0u) v += bias[row];
  if (pc.has_chan != 0u) v += chan[n * pc.Cout + row];
  if (pc.has_res != 0u) v += res[oi];
#elif defined(CONV_BWD_DATA)
  uint HW = pc.H * pc.W;
#ifdef CONV_SUB
  uint HWc = sub_Hc * sub_Wc, n = col / HWc, c2 = col - n * HWc, ihc = c2 / sub_Wc;
  uint pix = (sub_py + S * ihc) * pc.W + sub_px + S * (c2 - ihc * sub_Wc);
#else
  uint n = col / HW, pix = col - n * HW;
#endif
  uint oi = n * pc.Cin * HW + pix + row * HW;
#else
  uint oi = wsplit * pc.Cout * NCOL + col + row * NCOL;
#endif
  o[oi] = pc.accumulate != 0u ? o[oi] + v : v;
}

// per-thread constants of the loads (set once in main)
uint tid, m0, n0, M, NCOL, d1, P, HW;
int pad;
#if defined(CONV_FWD) || defined(CONV_BWD_DATA)
// this thread always loads B column n0 + tid % BN at depths k0 + tid / BN + (NT / BN) l
bool bvalid;
#if defined(CONV_FWD)
int ih0, iw0;
uint xbase;
#else
uint bih, biw, dybase;
#endif
#else
// this thread always loads depth k0 + tid % 16: rows m0 + j and columns n0 + j, j = tid / 16 + (NT / 16) l
uint cci[LB], ckh[LB], ckw[LB];
bool cvalid[LB];
#endif

#if defined(CONV_BWD_DATA)
// depth index gk of the implicit GEMM: its output channel co and weight tap kh * KS + kw
uint bwd_tap(uint gk, out uint co) {
#ifdef CONV_SUB
  co = gk / sub_nkk;
  uint t = gk - co * sub_nkk, jh = t / sub_nkw;
  return (sub_rh + S * jh) * KS + sub_rw + S * (t - jh * sub_nkw);
#else
  co = gk / KK;
  return gk - co * KK;
#endif
}
#endif

void tile_fetch(uint k0) {
#if defined(CONV_FWD) || defined(CONV_BWD_DATA)
  [[unroll]] for (uint l = 0u; l < LA; l++) {
    // A: weights, row m = m0 + e / 16, depth kk = k0 + e % 16
    uint e = tid + l * NT, gm = m0 + e / BK, gk = k0 + e % BK;
    float a = 0.0;
    if (gm < M && gk < d1) {
#if defined(CONV_FWD)
      a = in1[gm * d1 + gk];
#else
      uint co;
      uint tap = bwd_tap(gk, co);
      a = in1[(co * pc.Cin + gm) * KK + tap];
#endif
    }
    ra[l] = a;
  }
  [[unroll]] for (uint l = 0u; l < LB; l++) {
    // B: the virtual im2col (FWD) / transposed-conv gather (BWD_DATA) matrix
    uint kk = k0 + tid / BN + (NT / BN) * l;
    float b = 0.0;
    if (bvalid && kk < d1) {
#if defined(CONV_FWD)
      uint c = kk / KK, tap = kk - c * KK;
#else
      uint c;
      uint tap = bwd_tap(kk, c);
#endif
      uint kh = tap / KS, kw = tap - kh * KS;
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
    rb[l] = b;
  }
#else
  uint d = k0 + tid % BK;
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
  [[unroll]] for (uint l = 0u; l < LA; l++) {
    uint gm = m0 + tid / BK + (NT / BK) * l;
    float a = 0.0;
    if (dv && gm < M) a = in0[(n * pc.Cout + gm) * P + pix];
    ra[l] = a;
  }
  [[unroll]] for (uint l = 0u; l < LB; l++) {
    float b = 0.0;
    if (dv && cvalid[l]) {
      int ih = ih0 + int(ckh[l]), iw = iw0 + int(ckw[l]);
      if (uint(ih) < pc.H && uint(iw) < pc.W) b = in1[((n * pc.Cin + cci[l]) * pc.H + uint(ih)) * pc.W + uint(iw)];
    }
    rb[l] = b;
  }
#endif
}

void tile_stash(uint buf) {
#if defined(CONV_FWD) || defined(CONV_BWD_DATA)
  [[unroll]] for (uint l = 0u; l < LA; l++) {
    uint e = tid + l * NT;
    tile_st_a(buf, e % BK, e / BK, ra[l]);
  }
  [[unroll]] for (uint l = 0u; l < LB; l++) tile_st_b(buf, tid / BN + (NT / BN) * l, tid % BN, rb[l]);
#else
  [[unroll]] for (uint l = 0u; l < LA; l++) tile_st_a(buf, tid % BK, tid / BK + (NT / BK) * l, ra[l]);
  [[unroll]] for (uint l = 0u; l < LB; l++) tile_st_b(buf, tid % BK, tid / BK + (NT / BK) * l, rb[l]);
#endif
}

void main() {
  tid = gl_LocalInvocationIndex;
  uint tx = tid % TX, ty = tid / TX;
  P = pc.Ho * pc.Wo;
  HW = pc.H * pc.W;
  pad = int(pc.pad);
  uint d0 = 0u;
  wsplit = 0u;
#if defined(CONV_FWD)
  M = pc.Cout, NCOL = pc.N * P, d1 = pc.Cin * KK;
#elif defined(CONV_BWD_DATA)
  M = pc.Cin, NCOL = pc.N * HW, d1 = pc.Cout * KK;
#ifdef CONV_SUB
  sub_py = gl_WorkGroupID.z / S;
  sub_px = gl_WorkGroupID.z - sub_py * S;
  sub_rh = (sub_py + pc.pad) % S;
  sub_rw = (sub_px + pc.pad) % S;
  uint nkh = sub_rh < KS ? (KS - sub_rh + S - 1u) / S : 0u;
  sub_nkw = sub_rw < KS ? (KS - sub_rw + S - 1u) / S : 0u;
  sub_nkk = nkh * sub_nkw;
  sub_Hc = pc.H > sub_py ? (pc.H - sub_py + S - 1u) / S : 0u;
  sub_Wc = pc.W > sub_px ? (pc.W - sub_px + S - 1u) / S : 0u;
  NCOL = pc.N * sub_Hc * sub_Wc; // 0: the class is empty, every workgroup returns below
  d1 = pc.Cout * sub_nkk;        // 0: no tap reaches the class, its dx is 0 (or kept, accumulating)
#endif
#else
  M = pc.Cout, NCOL = pc.Cin * KK;
#if defined(CONV_SPLIT)
  // conv2d_backward_weight_split (docs/perf.md "Change 10"): z = builder split wsplit x nsplit + split;
  // the builder split's pixels [b0, b1) in nsplit ranges of whole slabs, reduced as the other splits are
  uint nsplit = gl_NumWorkGroups.z / pc.splits;
  wsplit = gl_WorkGroupID.z / nsplit;
  uint split = gl_WorkGroupID.z - wsplit * nsplit, wsb = wsplit * nsplit;
  uint b0 = wsplit * pc.split_len, b1 = min(pc.N * P, b0 + pc.split_len);
  uint per = ((b1 - b0 + BK - 1u) / BK + nsplit - 1u) / nsplit * BK;
  d0 = min(b1, b0 + split * per);
  d1 = min(b1, d0 + per);
  uint dend = d1;
#else
  wsplit = gl_WorkGroupID.z;
  d0 = wsplit * pc.split_len;
  d1 = min(pc.N * P, d0 + pc.split_len);
#endif
#endif
#if defined(CONV_BWD_WEIGHT)
  n0 = gl_WorkGroupID.x * BN;
#else
#if defined(CONV_SPLIT)
  n0 = gl_WorkGroupID.x * BN; // z is the split (the plan splits only grids of <= 65535 column tiles)
  uint nsplit = gl_NumWorkGroups.z, split = gl_WorkGroupID.z, wsb = 0u;
  uint per = ((d1 + BK - 1u) / BK + nsplit - 1u) / nsplit * BK; // whole slabs per split
  d0 = min(d1, split * per);
  uint dend = min(d1, d0 + per);
#else
#if defined(CONV_SUB)
  n0 = gl_WorkGroupID.x * BN; // z is the parity class (the plan uses it only for <= 65535 column tiles)
#else
  n0 = (gl_WorkGroupID.x + gl_WorkGroupID.z * gl_NumWorkGroups.x) * BN; // > 65535 tiles fold into z
#endif
  if (n0 >= NCOL) return; // uniform per workgroup
#endif
#endif
  m0 = gl_WorkGroupID.y * BM;

#if defined(CONV_FWD) || defined(CONV_BWD_DATA)
  uint bcol = n0 + tid % BN;
  bvalid = bcol < NCOL;
#if defined(CONV_FWD)
  uint bn = bcol / P, bp = bcol - bn * P, boh = bp / pc.Wo, bow = bp - boh * pc.Wo;
  ih0 = int(boh * S) - pad;
  iw0 = int(bow * S) - pad;
  xbase = bn * pc.Cin * HW;
#else
#if defined(CONV_SUB)
  uint HWc = sub_Hc * sub_Wc, bn = bcol / HWc, bp = bcol - bn * HWc, bihc = bp / sub_Wc;
  bih = sub_py + S * bihc;
  biw = sub_px + S * (bp - bihc * sub_Wc);
#else
  uint bn = bcol / HW, bp = bcol - bn * HW;
  bih = bp / pc.W;
  biw = bp - bih * pc.W;
#endif
  dybase = bn * pc.Cout * P;
#endif
#else
  [[unroll]] for (uint l = 0u; l < LB; l++) {
    uint kk = n0 + tid / BK + (NT / BK) * l;
    cvalid[l] = kk < NCOL;
    cci[l] = kk / KK;
    uint tap = kk - cci[l] * KK;
    ckh[l] = tap / KS;
    ckw[l] = tap - ckh[l] * KS;
  }
#endif

#if defined(CONV_SPLIT)
  tile_loop(d0, dend, tx, ty);
  [[unroll]] for (uint q = 0u; q < TN; q++) {
    uint col = n0 + tile_col(tx, q);
    if (col >= NCOL) continue;
    [[unroll]] for (uint r = 0u; r < TM; r++) {
      uint row = m0 + tile_row(ty, r);
      if (row < M) ws[((wsb + split) * M + row) * NCOL + col] = tacc[r * TN + q];
    }
  }
  memoryBarrierBuffer();
  barrier();
  // one counter per tile (and builder split: BWD_WEIGHT)
  uint tile = (wsplit * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (tid == 0u) As[0].x = atomicAdd(cnt[tile], 1u) == nsplit - 1u ? 1.0 : 0.0;
  barrier();
  if (As[0].x == 0.0) return; // uniform per workgroup
  memoryBarrierBuffer();
  if (tid == 0u) atomicExchange(cnt[tile], 0u);
  [[unroll]] for (uint q = 0u; q < TN; q++) {
    uint col = n0 + tile_col(tx, q);
    if (col >= NCOL) continue;
    [[unroll]] for (uint r = 0u; r < TM; r++) {
      uint row = m0 + tile_row(ty, r);
      if (row >= M) continue;
      float v = split == 0u ? tacc[r * TN + q] : ws[(wsb * M + row) * NCOL + col];
      for (uint s2 = 1u; s2 < nsplit; s2++)
        v += s2 == split ? tacc[r * TN + q] : ws[((wsb + s2) * M + row) * NCOL + col];
      conv_store(row, col, M, NCOL, v);
    }
  }
  return;
#else
  tile_loop(d0, d1, tx, ty);
#endif

  [[unroll]] for (uint q = 0u; q < TN; q++) {
    uint col = n0 + tile_col(tx, q);
    if (col >= NCOL) continue;
    [[unroll]] for (uint r = 0u; r < TM; r++) {
      uint row = m0 + tile_row(ty, r);
      if (row < M) conv_store(row, col, M, NCOL, tacc[r * TN + q]);
    }
  }
}
