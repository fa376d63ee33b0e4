#version 450
#extension GL_GOOGLE_include_directive : require
// Reference convolution: one invocation per output element, no shared memory (the fallback for devices
// with little shared memory, LDM_CONV_NAIVE=1, and a second oracle). Same three ops, bindings and push
// constants as conv2d.comp (CONV_FWD, CONV_BWD_DATA, CONV_BWD_WEIGHT), and the same fused forward epilogue
// v = ((sum + bias[co]) + chan[n,co]) + res[n,co,p].
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(constant_id = 1) const uint KS = 3u; // kernel size (= pc.k)
layout(constant_id = 2) const uint S = 1u;  // stride (= pc.stride)
const uint KK = KS * KS;
layout(std430, binding = 0) readonly buffer In0 { float in0[]; };
layout(std430, binding = 1) readonly buffer In1 { float in1[]; };
#ifdef CONV_FWD
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer Chan { float chan[]; };
layout(std430, binding = 4) readonly buffer Res { float res[]; };
layout(std430, binding = 5) buffer Out { float o[]; };
#else
layout(std430, binding = 2) buffer Out { float o[]; };
#endif

void main() {
  uint i = ldm_gid();
  uint P = pc.Ho * pc.Wo;
  int pad = int(pc.pad);
  float s = 0.0;
#if defined(CONV_FWD)
  if (i >= pc.N * pc.Cout * P) return;
  uint ow = i % pc.Wo, t = i / pc.Wo, oh = t % pc.Ho;
  t /= pc.Ho;
  uint co = t % pc.Cout, n = t / pc.Cout;
  int ih0 = int(oh * S) - pad, iw0 = int(ow * S) - pad;
  for (uint ci = 0u; ci < pc.Cin; ci++)
    for (uint kh = 0u; kh < KS; kh++) {
      int ih = ih0 + int(kh);
      if (uint(ih) >= pc.H) continue;
      for (uint kw = 0u; kw < KS; kw++) {
        int iw = iw0 + int(kw);
        if (uint(iw) >= pc.W) continue;
        s += in0[((n * pc.Cin + ci) * pc.H + uint(ih)) * pc.W + uint(iw)] *
             in1[((co * pc.Cin + ci) * KS + kh) * KS + kw];
      }
    }
  if (pc.has_bias != 0u) s += bias[co];
  if (pc.has_chan != 0u) s += chan[n * pc.Cout + co];
  if (pc.has_res != 0u) s += res[i];
#elif defined(CONV_BWD_DATA)
  if (i >= pc.N * pc.Cin * pc.H * pc.W) return;
  uint iw = i % pc.W, t = i / pc.W, ih = t % pc.H;
  t /= pc.H;
  uint ci = t % pc.Cin, n = t / pc.Cin;
  for (uint co = 0u; co < pc.Cout; co++)
    for (uint kh = 0u; kh < KS; kh++) {
      int ohs = int(ih) + pad - int(kh);
      if (ohs < 0) continue;
      uint oh = uint(ohs) / S;
      if (oh * S != uint(ohs) || oh >= pc.Ho) continue;
      for (uint kw = 0u; kw < KS; kw++) {
        int ows = int(iw) + pad - int(kw);
        if (ows < 0) continue;
        uint ow = uint(ows) / S;
        if (ow * S != uint(ows) || ow >= pc.Wo) continue;
        s += in0[((n * pc.Cout + co) * pc.Ho + oh) * pc.Wo + ow] * in1[((co * pc.Cin + ci) * KS + kh) * KS + kw];
      }
    }
#else
  uint KD = pc.Cin * KK;
  if (i >= pc.splits * pc.Cout * KD) return;
  uint kk = i % KD, t = i / KD, co = t % pc.Cout, split = t / pc.Cout;
  uint ci = kk / KK, tap = kk - ci * KK, kh = tap / KS, kw = tap - kh * KS;
  uint d0 = split * pc.split_len, d1 = min(pc.N * P, d0 + pc.split_len);
  if (d0 < d1) {
    uint n = d0 / P, pix = d0 - n * P, oh = pix / pc.Wo, ow = pix - oh * pc.Wo;
    for (uint d = d0; d < d1; d++) {
      int ih = int(oh * S) - pad + int(kh), iw = int(ow * S) - pad + int(kw);
      if (uint(ih) < pc.H && uint(iw) < pc.W)
        s += in0[(n * pc.Cout + co) * P + oh * pc.Wo + ow] *
             in1[((n * pc.Cin + ci) * pc.H + uint(ih)) * pc.W + uint(iw)];
      if (++ow == pc.Wo) {
        ow = 0u;
        if (++oh == pc.Ho) {
          oh = 0u;
          n++;
        }
      }
    }
  }
#endif
  o[i] = pc.accumulate != 0u ? o[i] + s : s;
}
