#version 450
#extension GL_GOOGLE_include_directive : require
// One step of any sampler, in place (src/ops/ops.def, `op sampler_step`). The coefficients come from the
// host per replay (src/sample/coefs.c) at word pc.off of the table c:
//   D = c0 x + c1 m                       the denoised estimate from the model output m (eps, v or x0)
//   v = (x, D, h1, h2, h3, noise)
//   x <- c[2..8) . v,  h1 <- c[8..13) . v[0:5],  h2 <- c[13..18) . v[0:5],  h3 <- c[18..23) . v[0:5]
// summed left to right, as ldm_cpu_sampler_step does.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer M { float m[]; };
layout(std430, binding = 2) readonly buffer H1 { float h1[]; };
layout(std430, binding = 3) readonly buffer H2 { float h2[]; };
layout(std430, binding = 4) readonly buffer H3 { float h3[]; };
layout(std430, binding = 5) readonly buffer N { float ns[]; };
layout(std430, binding = 6) readonly buffer C { float c[]; };
layout(std430, binding = 7) writeonly buffer XO { float xo[]; };
layout(std430, binding = 8) writeonly buffer H1O { float h1o[]; };
layout(std430, binding = 9) writeonly buffer H2O { float h2o[]; };
layout(std430, binding = 10) writeonly buffer H3O { float h3o[]; };

float dot5(uint k, float v0, float v1, float v2, float v3, float v4) {
  return (((c[k] * v0 + c[k + 1u] * v1) + c[k + 2u] * v2) + c[k + 3u] * v3) + c[k + 4u] * v4;
}

void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  uint o = pc.off;
  float xv = x[i], a = h1[i], b = h2[i], e = h3[i];
  float d = c[o] * xv + c[o + 1u] * m[i];
  float nx = dot5(o + 2u, xv, d, a, b, e) + c[o + 7u] * ns[i];
  float n1 = dot5(o + 8u, xv, d, a, b, e);
  float n2 = dot5(o + 13u, xv, d, a, b, e);
  float n3 = dot5(o + 18u, xv, d, a, b, e);
  xo[i] = nx;
  h1o[i] = n1;
  h2o[i] = n2;
  h3o[i] = n3;
}
