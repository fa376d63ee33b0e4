#version 450
#extension GL_GOOGLE_include_directive : require
// Reference GEMM: one invocation per output element, no shared memory (fallback and second oracle).
#include "common.glsl"
#include "activations.glsl"
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C { float c[]; };
#ifdef GEMM_SILU
layout(std430, binding = 4) writeonly buffer Z { float zpre[]; }; // the SiLU epilogue (gemm.comp's GEMM_SILU)
#endif
void main() {
  uint n = gl_GlobalInvocationID.x, m = gl_GlobalInvocationID.y, bz = gl_GlobalInvocationID.z;
  if (m >= pc.M || n >= pc.N) return;
  uint aoff = bz * pc.sA, boff = bz * pc.sB;
  float s = 0.0;
  for (uint k = 0u; k < pc.K; k++) {
    float av = pc.ta == 0u ? a[aoff + m * pc.K + k] : a[aoff + k * pc.M + m];
    float bv = pc.tb == 0u ? b[boff + k * pc.N + n] : b[boff + n * pc.K + k];
    s += av * bv;
  }
  float v = pc.alpha * s;
  if (pc.bias_mode == 1u) v += bias[n];
  else if (pc.bias_mode == 2u) v += bias[m];
  uint ci = bz * pc.sC + m * pc.N + n;
#ifdef GEMM_SILU
  zpre[ci] = v;
  c[ci] = act_silu(v);
#else
  c[ci] = pc.accumulate != 0u ? c[ci] + v : v;
#endif
}
