#version 450
#extension GL_GOOGLE_include_directive : require
// One reverse diffusion step (DDIM with eta, kind 0; DDPM ancestral, kind 1) at t = step[STEP_USER],
// t_prev = step[STEP_USER + 1] (0xffffffff: the final step, abar_prev = 1). The same expressions, in the
// same order, as ldm_sampler_coefs_make in src/ops/diffusion.c:
//   x_prev = c_x0 x0_hat + c_xt x_t + c_eps eps_hat + sigma noise
#include "common.glsl"
LDM_LOCAL_1D
layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer M { float m[]; };
layout(std430, binding = 2) readonly buffer AB { float abar[]; };
layout(std430, binding = 3) readonly buffer N { float ns[]; };
layout(std430, binding = 4) readonly buffer Step { uint step[]; };
layout(std430, binding = 5) writeonly buffer O { float o[]; };
void main() {
  uint i = ldm_gid();
  if (i >= pc.n) return;
  uint t = step[STEP_USER], tp = step[STEP_USER + 1];
  float at = abar[min(t, pc.T - 1u)];
  float ap = tp == 0xffffffffu ? 1.0 : abar[min(tp, pc.T - 1u)];
  float om = max(1.0 - at, 1e-20), apc = max(ap, 1e-20);
  float sa = sqrt(at), s1a = sqrt(1.0 - at);
  float c_x0, c_xt, c_eps, sigma;
  if (pc.kind == 1u) {
    // DDPM: posterior q(x_prev | x_t, x0_hat), beta = 1 - at / ap (strided steps too)
    float alpha = at / apc, beta = 1.0 - alpha;
    c_x0 = sqrt(ap) * beta / om;
    c_xt = sqrt(alpha) * (1.0 - ap) / om;
    c_eps = 0.0;
    sigma = sqrt(max(beta * (1.0 - ap) / om, 0.0));
  } else {
    // DDIM: sigma = eta sqrt((1-ap)/(1-at)) sqrt(1 - at/ap)
    sigma = pc.eta * sqrt(max((1.0 - ap) / om * (1.0 - at / apc), 0.0));
    c_x0 = sqrt(ap);
    c_xt = 0.0;
    c_eps = sqrt(max(1.0 - ap - sigma * sigma, 0.0));
  }
  float xt = x[i], mo = m[i];
  float x0 = pc.v_pred != 0u ? sa * xt - s1a * mo : (xt - s1a * mo) / sa;
  float eps = pc.v_pred != 0u ? s1a * xt + sa * mo : mo;
  o[i] = c_x0 * x0 + c_xt * xt + c_eps * eps + sigma * ns[i];
}
