#version 450
#extension GL_GOOGLE_include_directive : require
// The elementwise ops with (at most) one input tensor: o[i] = f(i) for i < pc.n, one invocation per
// element; with EW_ACCUMULATE o[i] = pc.accumulate != 0 ? o[i] + f(i) : f(i). The variant being compiled
// (LDM_VARIANT_<NAME>, from src/ops/ops.def) picks the bindings and f. Bindings: inputs, then the output.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
#define EW_T float

#if defined(LDM_VARIANT_FILL)
// o = value
layout(std430, binding = 0) writeonly buffer Out { float o[]; };
float f(uint i) { return pc.value; }

#elif defined(LDM_VARIANT_COPY)
// bit-exact copy of 32-bit words (any dtype)
#undef EW_T
#define EW_T uint
layout(std430, binding = 0) readonly buffer In { uint x[]; };
layout(std430, binding = 1) writeonly buffer Out { uint o[]; };
uint f(uint i) { return x[i]; }

#elif defined(LDM_VARIANT_CLAMP)
// y = clamp(x, lo, hi) by comparisons (a NaN passes through, as in torch.clamp)
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float o[]; };
float f(uint i) {
  float v = x[i];
  return v < pc.lo ? pc.lo : (v > pc.hi ? pc.hi : v);
}

#elif defined(LDM_VARIANT_EW_SCALE)
// o (+)= alpha x
#define EW_ACCUMULATE
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Out { float o[]; };
float f(uint i) { return pc.alpha * x[i]; }

#elif defined(LDM_VARIANT_CFG_COMBINE)
// classifier-free guidance: out = uncond + s (cond - uncond); x2 = [cond (n) | uncond (n)]
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
float f(uint i) {
  float c = x[i], u = x[pc.n + i];
  return u + pc.scale * (c - u);
}

#elif defined(LDM_ACT)
// an activation op (`act` in the manifest): y = LDM_ACT(x), LDM_ACT = act_<name> of activations.glsl
#include "activations.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float o[]; };
float f(uint i) { return LDM_ACT(x[i]); }

#else
#error unary.comp: no elementwise op for this variant
#endif

void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  EW_T r = f(i);
#ifdef EW_ACCUMULATE
  o[i] = pc.accumulate != 0u ? o[i] + r : r;
#else
  o[i] = r;
#endif
}
