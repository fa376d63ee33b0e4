// The element functions of the activation ops (the `act NAME` entries of src/ops/ops.def), two per
// activation: act_NAME(x) = y and act_NAME_backward(x, dy) = dx. unary.comp (variant NAME, -DLDM_ACT=act_NAME)
// and binary.comp (variant NAME_backward, -DLDM_ACT_BACKWARD=act_NAME_backward) call them once per element.
// Their CPU twins are ldm_cpu_act_NAME[_backward] (src/cpu/kernels_elementwise.c), the references
// ldm_ref_act_NAME[_backward] (src/ref/ref_basic.c): the same expression, in the same order.
#ifndef LDM_ACTIVATIONS_GLSL
#define LDM_ACTIVATIONS_GLSL

// ---- silu: y = x sigmoid(x); dx = dy s (1 + x (1 - s)), s = sigmoid(x)
float act_silu(float x) { return x / (1.0 + exp(-x)); }
float act_silu_backward(float x, float dy) {
  float s = 1.0 / (1.0 + exp(-x));
  return dy * s * (1.0 + x * (1.0 - s));
}

// ---- gelu (exact, as torch.nn.GELU()): y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); dx = dy (Phi(x) + x phi(x)),
// phi(x) = exp(-x^2 / 2) / sqrt(2 pi). GLSL has no erf: erfc(|z|) by Abramowitz-Stegun 7.1.26
// (|error| < 1.5e-7), Phi from it without cancellation for x < 0.
float act_erfc_abs(float z) {
  float a = abs(z);
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float p = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return p * exp(-(a * a));
}
float act_gauss_cdf(float x) {
  float q = 0.5 * act_erfc_abs(x * 0.70710678118654752);
  return x >= 0.0 ? 1.0 - q : q;
}
float act_gelu(float x) { return x * act_gauss_cdf(x); }
float act_gelu_backward(float x, float dy) {
  return dy * (act_gauss_cdf(x) + x * (0.39894228040143268 * exp(-0.5 * (x * x))));
}

#endif
