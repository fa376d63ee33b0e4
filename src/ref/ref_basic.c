/* Reference of the basic op family (ops/basic.h): fill, copy, Philox fill, elementwise, SiLU,
 * reduce_sum, broadcast, MSE, GEMM, SGD, AdamW. */
#include <math.h>

#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "ops/basic.h"
#include "ref/ref.h"
#include "ref/ref_util.h"

/* out[n] = value */
void ldm_ref_fill(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_fill);
  for (uint32_t i = 0; i < p->n; i++) RF(0)[i] = p->value;
}

/* out[n] = x[n] (word copy; x and out may overlap) */
void ldm_ref_copy(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_copy);
  memmove(buf[1], buf[0], (size_t)p->n * 4);
}

/* out[i] = element i of the Philox stream (seed, stream, base [+ step counter]): raw u32, uniform (0,1)
 * or standard normal (Box-Muller on pairs), as core/philox.c defines them. in: step words (if use_step) */
void ldm_ref_philox_fill(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_philox_fill);
  uint64_t seed = ref_u64(p->seed_lo, p->seed_hi), stream = ref_u64(p->stream_lo, p->stream_hi);
  uint64_t base = ref_u64(p->base_lo, p->base_hi);
  if (p->use_step) base += ref_u64(RU(0)[LDM_STEP_RNG_LO], RU(0)[LDM_STEP_RNG_HI]);
  for (uint32_t i = 0; i < p->n; i++) {
    uint32_t r = ldm_rng_u32(seed, stream, base, i);
    if (p->dist == LDM_RNG_U32) {
      RU(1)[i] = r;
    } else if (p->dist == LDM_RNG_UNIFORM) {
      RF(1)[i] = ldm_u32_to_unit(r);
    } else {
      float f[4];
      ldm_rng_normal4(seed, stream, base, i / 4, f);
      RF(1)[i] = f[i % 4];
    }
  }
}

/* out[n] (+)= a[n] op b[n], op = add / sub / mul */
void ldm_ref_ew_binary(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_ew_binary);
  const float *a = RF(0), *b = RF(1);
  for (uint32_t i = 0; i < p->n; i++) {
    double r = p->kind == LDM_EW_ADD   ? (double)a[i] + b[i]
               : p->kind == LDM_EW_SUB ? (double)a[i] - b[i]
                                       : (double)a[i] * b[i];
    ref_store(&RF(2)[i], p->accumulate, r);
  }
}

/* out[n] (+)= alpha x[n] */
void ldm_ref_ew_scale(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_ew_scale);
  for (uint32_t i = 0; i < p->n; i++) ref_store(&RF(1)[i], p->accumulate, (double)p->alpha * RF(0)[i]);
}

/* ---- activations: the element functions of the activation ops (`act NAME` in src/ops/ops.def) in double,
 * y = ldm_ref_act_NAME(x), dx = ldm_ref_act_NAME_backward(x, dy); ldm_ref_NAME[_backward] below run them */

/* silu: ldm_ref_act_silu[_backward] are in ref/ref_util.h (the group_norm_silu reference runs them too) */

/* gelu (exact, torch.nn.GELU()): y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); dx = dy (Phi(x) + x phi(x)),
 * phi(x) = exp(-x^2 / 2) / sqrt(2 pi); Phi by libm's erfc: 0.5 erfc(-x / sqrt 2) = 0.5 (1 + erf(x / sqrt 2)),
 * accurate in the negative tail too */
static double ref_gauss_cdf(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }
static double ldm_ref_act_gelu(double x) { return x * ref_gauss_cdf(x); }
static double ldm_ref_act_gelu_backward(double x, double dy) {
  return dy * (ref_gauss_cdf(x) + x * 0.39894228040143268 * exp(-0.5 * x * x));
}

/* the references of every activation of ldm_act_list.h: y = act(x); dx (+)= act'(x) dy. in: x (, dy) */
#define LDM_ACT(a)                                                                                 \
  void ldm_ref_##a(const ldm_graph *g, const ldm_node *n, void *const *buf) {                      \
    RPC(ldm_pc_##a);                                                                               \
    for (uint32_t i = 0; i < p->n; i++) RF(1)[i] = (float)ldm_ref_act_##a(RF(0)[i]);               \
  }                                                                                                \
  void ldm_ref_##a##_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {           \
    RPC(ldm_pc_##a##_backward);                                                                    \
    for (uint32_t i = 0; i < p->n; i++)                                                            \
      ref_store(&RF(2)[i], p->accumulate, ldm_ref_act_##a##_backward(RF(0)[i], RF(1)[i]));         \
  }
#include "ldm_act_list.h"
#undef LDM_ACT

/* x [O, J, I] -> out[J] (+)= scale sum_{o, i} x[o][j][i] */
static void ref_reduce(const float *x, float *out, uint32_t O, uint32_t J, uint32_t I, float scale, uint32_t acc) {
  for (uint32_t j = 0; j < J; j++) {
    double s = 0;
    for (uint32_t o = 0; o < O; o++)
      for (uint32_t i = 0; i < I; i++) s += x[((uint64_t)o * J + j) * I + i];
    ref_store(&out[j], acc, s * scale);
  }
}
void ldm_ref_reduce_sum(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_reduce_sum);
  ref_reduce(RF(0), RF(1), p->O, p->J, p->I, p->scale, p->accumulate);
}
/* job k: input k -> output njobs + k, its block read from the manifest's field order (O_k, J_k, I_k, scale_k,
 * flags_k: bit 0 accumulate; the launch form, bit 1, does not change the result) */
void ldm_ref_reduce_sum_multi(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_reduce_sum_multi);
  const uint32_t O[4] = {p->O0, p->O1, p->O2, p->O3}, J[4] = {p->J0, p->J1, p->J2, p->J3};
  const uint32_t I[4] = {p->I0, p->I1, p->I2, p->I3}, fl[4] = {p->flags0, p->flags1, p->flags2, p->flags3};
  const float sc[4] = {p->scale0, p->scale1, p->scale2, p->scale3};
  for (uint32_t k = 0; k < p->njobs && k < 4; k++) ref_reduce(RF(k), RF(p->njobs + k), O[k], J[k], I[k], sc[k], fl[k] & 1u);
}

/* x [xO, J] -> out[o][j][i] (+)= alpha x[o % xO][j], out [O, J, I] */
void ldm_ref_broadcast(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_broadcast);
  for (uint32_t o = 0; o < p->O; o++)
    for (uint32_t j = 0; j < p->J; j++)
      for (uint32_t i = 0; i < p->I; i++)
        ref_store(&RF(1)[((uint64_t)o * p->J + j) * p->I + i], p->accumulate,
                  (double)p->alpha * RF(0)[(uint64_t)(o % p->xO) * p->J + j]);
}

/* loss[1] = inv_n sum (a - b)^2 */
void ldm_ref_mse_loss(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_mse_loss);
  double s = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    double d = (double)RF(0)[i] - RF(1)[i];
    s += d * d;
  }
  RF(2)[0] = (float)(s * p->inv_n);
}

/* da (+)= scale dl (a - b). in: a, b, dl[1] */
void ldm_ref_mse_loss_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_mse_loss_backward);
  double gs = (double)p->scale * RF(2)[0];
  for (uint32_t i = 0; i < p->n; i++) ref_store(&RF(3)[i], p->accumulate, gs * ((double)RF(0)[i] - RF(1)[i]));
}

/* per batch b: C[M,N] (+)= alpha op(A)[M,K] op(B)[K,N] + bias, op(A) = ta ? A^T (A stored [K,M]) : A,
 * op(B) = tb ? B^T (B stored [N,K]) : B; bias[N] added to every row (COLS) or bias[M] to every column
 * (ROWS); batch b reads A + b sA, B + b sB (sB = 0: one B for all), writes C + b sC. in: A, B, bias.
 * act 1 (the SiLU epilogue): z = that sum (out 1, as a float), C = silu(z) in double */
void ldm_ref_gemm(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_gemm);
  const uint64_t M = p->M, N = p->N, K = p->K;
  for (uint64_t b = 0; b < p->batch; b++) {
    const float *A = RF(0) + b * p->sA, *B = RF(1) + b * p->sB, *bias = RF(2);
    float *C = RF(3) + b * p->sC;
    for (uint64_t i = 0; i < M; i++)
      for (uint64_t j = 0; j < N; j++) {
        double s = 0;
        for (uint64_t k = 0; k < K; k++) {
          double a = p->ta ? A[k * M + i] : A[i * K + k];
          double bv = p->tb ? B[j * K + k] : B[k * N + j];
          s += a * bv;
        }
        double v = p->alpha * s;
        if (p->bias_mode == LDM_BIAS_COLS) v += bias[j];
        else if (p->bias_mode == LDM_BIAS_ROWS) v += bias[i];
        if (p->act == 1u) {
          RF(4)[b * p->sC + i * N + j] = (float)v;
          C[i * N + j] = (float)ldm_ref_act_silu(v);
        } else {
          ref_store(&C[i * N + j], p->accumulate, v);
        }
      }
  }
}

/* p -= lr grad, lr = step[LR]. in: grad, step; out: p (in place) */
void ldm_ref_sgd(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_sgd);
  double lr = ref_step_f(RU(1), LDM_STEP_LR);
  for (uint32_t i = 0; i < p->n; i++) RF(2)[i] = (float)(RF(2)[i] - lr * RF(0)[i]);
}

/* AdamW (decoupled weight decay), in place. in: step, gs (use_gs: {grad scale, non-finite flag, ...});
 * out: p, m, v, grad. g = grad gs[0]; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p = p (1 - lr wd) - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps); then grad = 0. A non-finite flag skips
 * the update (grad is still zeroed); an accumulation-only micro-step changes nothing. */
void ldm_ref_adamw(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_adamw);
  const uint32_t *st = RU(0);
  const float *gs = RF(1);
  float *w = RF(2), *m = RF(3), *v = RF(4), *gr = RF(5);
  if (st[LDM_STEP_ACCUM_ONLY] != 0) return;
  double gsc = 1.0;
  if (p->use_gs) {
    if (gs[1] != 0.0f) {
      for (uint32_t i = 0; i < p->n; i++) gr[i] = 0.0f;
      return;
    }
    gsc = gs[0];
  }
  double lr = ref_step_f(st, LDM_STEP_LR), bc1 = ref_step_f(st, LDM_STEP_BC1), bc2 = ref_step_f(st, LDM_STEP_BC2);
  double b1 = p->beta1, b2 = p->beta2;
  for (uint32_t i = 0; i < p->n; i++) {
    double gi = gr[i] * gsc;
    double mi = b1 * m[i] + (1.0 - b1) * gi;
    double vi = b2 * v[i] + (1.0 - b2) * gi * gi;
    m[i] = (float)mi;
    v[i] = (float)vi;
    double denom = sqrt((double)v[i]) / sqrt(bc2) + p->eps;
    w[i] = (float)(w[i] * (1.0 - lr * p->wd) - (lr / bc1) * m[i] / denom);
    gr[i] = 0.0f;
  }
}
