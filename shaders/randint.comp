#version 450
#extension GL_GOOGLE_include_directive : require
// u32 in [lo, lo + range): lo + floor(r * range / 2^32) of the Philox stream (one invocation per
// 4-word block), bit-identical to the CPU twin. Counter base = the step buffer's RNG counter.
#include "common.glsl"
#include "philox.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer Step { uint step[]; };
layout(std430, binding = 1) writeonly buffer Out { uint o[]; };
void main() {
  uint b = ldm_gid();
  if (4u * b >= pc.n) return;
  uvec2 base = pc.use_step != 0u ? uvec2(step[STEP_RNG_LO], step[STEP_RNG_HI]) : uvec2(0u);
  uvec4 r = philox_block(uvec2(pc.seed_lo, pc.seed_hi), uvec2(pc.stream_lo, pc.stream_hi), base, b);
  [[unroll]] for (uint k = 0u; k < 4u; k++) {
    if (4u * b + k < pc.n) {
      uint hi, lo;
      umulExtended(r[k], pc.range, hi, lo);
      o[4u * b + k] = pc.lo + hi;
    }
  }
}
