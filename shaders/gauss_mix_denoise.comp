#version 450
#extension GL_GOOGLE_include_directive : require
// The exact denoiser of a mixture of K isotropic Gaussians in d dimensions (src/ops/ops.def,
// `op gauss_mix_denoise`), one invocation per sample. params [K, d + 2]: weight w_k, variance v_k, mean
// mu_k. At x = a x0 + s eps (a = c[off], s = c[off + 1]): component k has x ~ N(a mu_k, q_k I), q_k =
// a^2 v_k + s^2; responsibilities r_k = softmax_k(log w_k - d/2 log q_k - |x - a mu_k|^2 / (2 q_k));
// E[x0 | x] = sum_k r_k (mu_k + a v_k / q_k (x - a mu_k)); out = eps (pred 0) = (x - a x0) / s,
// v (1) = a eps - s x0, x0 (2). The same steps, in the same order, as ldm_cpu_gauss_mix_denoise.
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer P { float prm[]; };
layout(std430, binding = 2) readonly buffer C { float c[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
void main() {
  uint b = ldm_gid();
  if (b >= pc.B) return;
  float a = c[pc.off], s = c[pc.off + 1u];
  uint d = pc.d, row = d + 2u, base = b * d;
  float lmax = -3.0e38;
  for (uint k = 0u; k < pc.K; k++) {
    float q = a * a * prm[k * row + 1u] + s * s, r2 = 0.0;
    for (uint j = 0u; j < d; j++) {
      float e = x[base + j] - a * prm[k * row + 2u + j];
      r2 += e * e;
    }
    float l = log(prm[k * row]) - 0.5 * float(d) * log(q) - r2 / (2.0 * q);
    lmax = max(lmax, l);
  }
  float z = 0.0;
  for (uint k = 0u; k < pc.K; k++) {
    float q = a * a * prm[k * row + 1u] + s * s, r2 = 0.0;
    for (uint j = 0u; j < d; j++) {
      float e = x[base + j] - a * prm[k * row + 2u + j];
      r2 += e * e;
    }
    z += exp(log(prm[k * row]) - 0.5 * float(d) * log(q) - r2 / (2.0 * q) - lmax);
  }
  for (uint j = 0u; j < d; j++) {
    float xj = x[base + j], x0 = 0.0;
    for (uint k = 0u; k < pc.K; k++) {
      float q = a * a * prm[k * row + 1u] + s * s, r2 = 0.0;
      for (uint jj = 0u; jj < d; jj++) {
        float e = x[base + jj] - a * prm[k * row + 2u + jj];
        r2 += e * e;
      }
      float r = exp(log(prm[k * row]) - 0.5 * float(d) * log(q) - r2 / (2.0 * q) - lmax) / z;
      float mu = prm[k * row + 2u + j];
      x0 += r * (mu + a * prm[k * row + 1u] / q * (xj - a * mu));
    }
    float eps = s > 0.0 ? (xj - a * x0) / s : 0.0;
    o[base + j] = pc.pred == 0u ? eps : pc.pred == 1u ? a * eps - s * x0 : x0;
  }
}
