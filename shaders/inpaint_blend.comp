#version 450
#extension GL_GOOGLE_include_directive : require
// Inpainting, in place (src/ops/ops.def, `op inpaint_blend`): x [B, C, HW], mask [B, 1, HW] (1 = repaint,
// 0 = keep), init latent z0 like x, two noise tensors; c = coef + pc.off:
//   x <- mask (c0 x + c1 n2) + (1 - mask) (c2 z0 + c3 n1)
// The same expression, in the same order, as ldm_cpu_inpaint_blend.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Z { float z0[]; };
layout(std430, binding = 2) readonly buffer MK { float mk[]; };
layout(std430, binding = 3) readonly buffer N1 { float n1[]; };
layout(std430, binding = 4) readonly buffer N2 { float n2[]; };
layout(std430, binding = 5) readonly buffer C { float c[]; };
layout(std430, binding = 6) writeonly buffer O { float o[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  uint img = pc.C * pc.HW;
  uint b = i / img, p = i - b * img;
  float m = mk[b * pc.HW + p % pc.HW];
  uint k = pc.off;
  float keep = c[k + 2u] * z0[i] + c[k + 3u] * n1[i];
  float paint = c[k] * x[i] + c[k + 1u] * n2[i];
  o[i] = m * paint + (1.0 - m) * keep;
}
