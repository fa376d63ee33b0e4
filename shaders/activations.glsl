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

#endif
