#version 450
#extension GL_GOOGLE_include_directive : require
// The elementwise ops with two or more input tensors and one output: o[i] = f(i) for i < pc.n, one
// invocation per element; with EW_ACCUMULATE o[i] = pc.accumulate != 0 ? o[i] + f(i) : f(i). The variant
// being compiled (LDM_VARIANT_<NAME>, from src/ops/ops.def) picks the bindings and f. Bindings: inputs,
// then the output.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;

#if defined(LDM_VARIANT_EW_BINARY)
// o (+)= a + b (kind 0), a - b (1), a * b (2)
#define EW_ACCUMULATE
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) buffer Out { float o[]; };
float f(uint i) { return pc.kind == 0u ? a[i] + b[i] : pc.kind == 1u ? a[i] - b[i] : a[i] * b[i]; }

#elif defined(LDM_VARIANT_CLAMP_BACKWARD)
// dx (+)= dy where lo <= x <= hi (torch.clamp's gradient: bounds included), else 0
#define EW_ACCUMULATE
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) buffer DX { float o[]; };
float f(uint i) {
  float v = x[i];
  return (v >= pc.lo && v <= pc.hi) ? dy[i] : 0.0;
}

#elif defined(LDM_VARIANT_MSE_LOSS_BACKWARD)
// da (+)= scale dl (a - b)
#define EW_ACCUMULATE
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer DL { float dl[]; };
layout(std430, binding = 3) buffer DA { float o[]; };
float f(uint i) { return pc.scale * dl[0] * (a[i] - b[i]); }

#elif defined(LDM_VARIANT_WEIGHTED_MSE_BACKWARD)
// dx (+)= scale * dl * w[i / per] * (a - b), scale = +-2 / n (gradient to a or to b)
#define EW_ACCUMULATE
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer W { float w[]; };
layout(std430, binding = 3) readonly buffer DL { float dl[]; };
layout(std430, binding = 4) buffer DX { float o[]; };
float f(uint i) {
  float sw = (pc.scale * dl[0]) * w[i / pc.per];
  return sw * (a[i] - b[i]);
}

#elif defined(LDM_VARIANT_REPARAM)
// VAE reparameterisation: z = mu + exp(logvar / 2) * eps
layout(std430, binding = 0) readonly buffer MU { float mu[]; };
layout(std430, binding = 1) readonly buffer LV { float lv[]; };
layout(std430, binding = 2) readonly buffer E { float e[]; };
layout(std430, binding = 3) writeonly buffer Z { float o[]; };
float f(uint i) { return mu[i] + exp(0.5 * lv[i]) * e[i]; }

#elif defined(LDM_ACT_BACKWARD)
// the backward op of an activation (`act` in the manifest): dx (+)= LDM_ACT_BACKWARD(x, dy),
// LDM_ACT_BACKWARD = act_<name>_backward of activations.glsl
#define EW_ACCUMULATE
#include "activations.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) buffer DX { float o[]; };
float f(uint i) { return LDM_ACT_BACKWARD(x[i], dy[i]); }

#else
#error binary.comp: no elementwise op for this variant
#endif

void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  float r = f(i);
#ifdef EW_ACCUMULATE
  o[i] = pc.accumulate != 0u ? o[i] + r : r;
#else
  o[i] = r;
#endif
}
