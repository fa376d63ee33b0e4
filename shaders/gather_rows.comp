#version 450
#extension GL_GOOGLE_include_directive : require
// out[b, k] = table[idx[b], k] for rows of `row` elements. -DU8: the table is bytes (read as packed
// little-endian words) converted to f32 v * scale + shift; otherwise 32-bit words (f32, u32, i32) are
// copied bit for bit. An index past the table reads its last row.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer Tab { uint tab[]; };
layout(std430, binding = 1) readonly buffer Idx { uint idx[]; };
#ifdef U8
layout(std430, binding = 2) writeonly buffer Out { float o[]; };
#else
layout(std430, binding = 2) writeonly buffer Out { uint o[]; };
#endif
void main() {
  uint i = ldm_gid();
  if (i >= pc.B * pc.row) return;
  uint b = i / pc.row, k = i - b * pc.row;
  uint e = min(idx[b], pc.V - 1u) * pc.row + k;
#ifdef U8
  float v = float((tab[e >> 2u] >> ((e & 3u) * 8u)) & 0xffu);
  o[i] = v * pc.scale + pc.shift;
#else
  o[i] = tab[e];
#endif
}
