#version 450
#extension GL_GOOGLE_include_directive : require
// Classifier-free guidance training: label i becomes null_class when its uniform (0,1) Philox draw
// (24 bits, exact in float) is below p. Counter base = the step buffer's RNG counter.
#include "common.glsl"
#include "philox.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer L { uint lab[]; };
layout(std430, binding = 1) readonly buffer Step { uint step[]; };
layout(std430, binding = 2) writeonly buffer Out { uint o[]; };
void main() {
  uint b = ldm_gid();
  if (4u * b >= pc.n) return;
  uvec2 base = pc.use_step != 0u ? uvec2(step[STEP_RNG_LO], step[STEP_RNG_HI]) : uvec2(0u);
  uvec4 r = philox_block(uvec2(pc.seed_lo, pc.seed_hi), uvec2(pc.stream_lo, pc.stream_hi), base, b);
  [[unroll]] for (uint k = 0u; k < 4u; k++) {
    uint i = 4u * b + k;
    if (i < pc.n) o[i] = u32_to_unit(r[k]) < pc.p ? pc.null_class : lab[i];
  }
}
