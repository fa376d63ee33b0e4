// Philox4x32-10, bit-identical to src/core/philox.c. key = {seed lo, seed hi},
// ctr = {c lo, c hi, stream lo, stream hi} with c = base + block (64-bit).
uvec4 philox4x32_10(uvec4 c, uvec2 k) {
  [[unroll]] for (int r = 0; r < 10; r++) {
    if (r > 0) k += uvec2(0x9E3779B9u, 0xBB67AE85u);
    uint hi0, lo0, hi1, lo1;
    umulExtended(0xD2511F53u, c.x, hi0, lo0);
    umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
    c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}
uvec4 philox_block(uvec2 seed, uvec2 stream, uvec2 base, uint block) {
  uint carry;
  uint lo = uaddCarry(base.x, block, carry);
  return philox4x32_10(uvec4(lo, base.y + carry, stream.x, stream.y), seed);
}
float u32_to_unit(uint x) { return (float(x >> 8) + 0.5) * (1.0 / 16777216.0); }
vec4 philox_normal4(uvec4 o) {
  vec2 u1 = vec2(u32_to_unit(o.x), u32_to_unit(o.z));
  vec2 u2 = vec2(u32_to_unit(o.y), u32_to_unit(o.w));
  vec2 r = sqrt(-2.0 * log(u1));
  vec2 th = 6.28318530717958647692 * u2;
  return vec4(r.x * cos(th.x), r.x * sin(th.x), r.y * cos(th.y), r.y * sin(th.y));
}
