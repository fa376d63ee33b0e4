#version 450
#extension GL_GOOGLE_include_directive : require
// Sinusoidal timestep embedding as the reference twin: f_k = exp((-ln(10000) * k) / half) and
// a = t * f_k in fp32, out[b][k] = cos(a), out[b][half + k] = sin(a).
// Built-in exp/sin/cos carry loose precision guarantees in Vulkan (sin/cos: 2^-11 absolute, and
// worse for |a| up to 1000), so this shader uses only correctly rounded + - * and its own
// ~1-ulp routines: Cody-Waite reduction + Cephes polynomials.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer T { uint t[]; };
layout(std430, binding = 1) writeonly buffer Out { float o[]; };

// exp(x) for x in [-87, 0]: x = n ln2 + r, |r| <= ln2/2 (ln2 in two parts), Cephes expf polynomial
float exp_acc(float x) {
  float n = floor(x * 1.44269504088896341 + 0.5);
  float r = (x - n * 0.693359375) - n * -2.12194440e-4;
  float z = r * r;
  float p = (((((1.9875691500e-4 * r + 1.3981999507e-3) * r + 8.3334519073e-3) * r + 4.1665795894e-2) * r +
              1.6666665459e-1) * r + 5.0000001201e-1) * z + r + 1.0;
  return ldexp(p, int(n));
}

void main() {
  uint e = ldm_gid();
  uint H = pc.half_dim;
  if (e >= pc.B * H) return;
  uint b = e / H, k = e - b * H;
  float v = pc.neg_log_base * float(k);
  v = v / float(H);
  float a = float(t[b]) * exp_acc(v);
  // a = j pi/2 + r, |r| <= pi/4 (pi/2 in three parts; j pi/2's leading part is exact for a < 2^16)
  float j = floor(a * 0.636619772367581343 + 0.5);
  float r = ((a - j * 1.5703125) - j * 4.837512969970703125e-4) - j * 7.54978995489188216e-8;
  float z = r * r;
  float s = r + r * z * ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1);
  float c = (z * z * ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) - 0.5 * z) + 1.0;
  uint q = uint(j) & 3u;
  float cs = q == 0u ? c : q == 1u ? -s : q == 2u ? -c : s;
  float sn = q == 0u ? s : q == 1u ? c : q == 2u ? -s : -c;
  uint row = b * 2u * H;
  o[row + k] = cs;
  o[row + H + k] = sn;
}
