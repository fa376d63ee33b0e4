#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer Step { uint step[]; };
layout(std430, binding = 1) writeonly buffer Out { uint o[]; };
void main() {
  uint b = ldm_gid();
  if (4u * b >= pc.n) return;
  uint lo = pc.base_lo, hi = pc.base_hi;
  if (pc.use_step != 0u) {
    uint carry;
    lo = uaddCarry(lo, step[STEP_RNG_LO], carry);
    hi = hi + step[STEP_RNG_HI] + carry;
  }
  uvec4 r = philox_block(uvec2(pc.seed_lo, pc.seed_hi), uvec2(pc.stream_lo, pc.stream_hi), uvec2(lo, hi), b);
  if (pc.dist == 2u) {
    r = floatBitsToUint(philox_normal4(r));
  } else if (pc.dist == 1u) {
    r = uvec4(floatBitsToUint(u32_to_unit(r.x)), floatBitsToUint(u32_to_unit(r.y)),
              floatBitsToUint(u32_to_unit(r.z)), floatBitsToUint(u32_to_unit(r.w)));
  }
  [[unroll]] for (uint k = 0u; k < 4u; k++)
    if (4u * b + k < pc.n) o[4u * b + k] = r[k];
}
