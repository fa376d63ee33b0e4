/* Reference of the diffusion / VAE-loss / optimizer op family (ops/diffusion.h). */
#include <math.h>

#include "ldm/ops.h"
#include "ldm/rng.h"
#include "ldm/step.h"
#include "ops/diffusion.h"
#include "ref/ref.h"
#include "ref/ref_util.h"

/* z = mu + exp(logvar / 2) eps. in: mu, logvar, eps */
void ldm_ref_reparam(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_reparam);
  for (uint32_t i = 0; i < p->n; i++) RF(3)[i] = (float)(RF(0)[i] + exp(0.5 * RF(1)[i]) * RF(2)[i]);
}

/* dmu (+)= dz; dlogvar (+)= dz exp(logvar / 2) eps / 2 (each only when wanted; with one wanted both
 * output slots are the same tensor). in: logvar, eps, dz; out: dmu, dlogvar */
void ldm_ref_reparam_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_reparam_backward);
  const float *lv = RF(0), *e = RF(1), *dz = RF(2);
  for (uint32_t i = 0; i < p->n; i++) {
    if (p->want_mu) ref_store(&RF(3)[i], p->acc_mu, dz[i]);
    if (p->want_lv) ref_store(&RF(4)[i], p->acc_lv, dz[i] * 0.5 * exp(0.5 * lv[i]) * e[i]);
  }
}

/* y = x < lo ? lo : x > hi ? hi : x (a NaN passes through, as torch.clamp) */
void ldm_ref_clamp(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_clamp);
  for (uint32_t i = 0; i < p->n; i++) {
    float x = RF(0)[i];
    RF(1)[i] = x < p->lo ? p->lo : x > p->hi ? p->hi : x;
  }
}

/* dx (+)= lo <= x <= hi ? dy : 0 (bounds included, as torch.clamp). in: x, dy */
void ldm_ref_clamp_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_clamp_backward);
  for (uint32_t i = 0; i < p->n; i++) {
    float x = RF(0)[i];
    ref_store(&RF(2)[i], p->accumulate, x >= p->lo && x <= p->hi ? RF(1)[i] : 0.0);
  }
}

/* loss[1] = scale sum (mu^2 + exp(logvar) - 1 - logvar), scale = 0.5 / batch. in: mu, logvar */
void ldm_ref_kl_loss(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_kl_loss);
  double s = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    double mu = RF(0)[i], lv = RF(1)[i];
    s += mu * mu + exp(lv) - 1.0 - lv;
  }
  RF(2)[0] = (float)(s * p->scale);
}

/* with s = dl / batch: dmu (+)= s mu, dlogvar (+)= s (exp(logvar) - 1) / 2. in: mu, logvar, dl[1] */
void ldm_ref_kl_loss_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_kl_loss_backward);
  double s = (double)p->inv_batch * RF(2)[0];
  for (uint32_t i = 0; i < p->n; i++) {
    if (p->want_mu) ref_store(&RF(3)[i], p->acc_mu, s * RF(0)[i]);
    if (p->want_lv) ref_store(&RF(4)[i], p->acc_lv, s * 0.5 * (exp((double)RF(1)[i]) - 1.0));
  }
}

/* the per-sample coefficients of (x0, noise), a = abar[t_b] (t past the table: its last entry):
 * q_sample (sqrt a, sqrt(1 - a)), v_target (-sqrt(1 - a), sqrt a) */
static void qs_coef(const float *abar, const uint32_t *t, uint32_t T, uint64_t b, int v, double *c0, double *cn) {
  double a = abar[ref_tidx(t[b], T)];
  *c0 = v ? -sqrt(1.0 - a) : sqrt(a);
  *cn = v ? sqrt(a) : sqrt(1.0 - a);
}
static void q_sample_common(const ldm_node *n, void *const *buf, int v) {
  ldm_pc_q_sample p;
  memcpy(&p, n->pc, sizeof p);
  for (uint64_t i = 0; i < p.n; i++) {
    double c0, cn;
    qs_coef(RF(2), RU(3), p.T, i / p.per, v, &c0, &cn);
    RF(4)[i] = (float)(c0 * RF(0)[i] + cn * RF(1)[i]);
  }
}
/* x_t = sqrt(a) x0 + sqrt(1 - a) noise. in: x0 [B, per], noise, abar [T], t [B] u32 */
void ldm_ref_q_sample(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  (void)g;
  q_sample_common(n, buf, 0);
}
/* v = sqrt(a) noise - sqrt(1 - a) x0. in: as q_sample */
void ldm_ref_v_target(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  (void)g;
  q_sample_common(n, buf, 1);
}
/* dx0 (+)= c0 dy, dnoise (+)= cn dy (each only when wanted). in: abar, t, dy; out: dx0, dnoise */
void ldm_ref_q_sample_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_q_sample_backward);
  for (uint64_t i = 0; i < p->n; i++) {
    double c0, cn;
    qs_coef(RF(0), RU(1), p->T, i / p->per, (int)p->v_target, &c0, &cn);
    if (p->want_x0) ref_store(&RF(3)[i], p->acc_x0, c0 * RF(2)[i]);
    if (p->want_noise) ref_store(&RF(4)[i], p->acc_noise, cn * RF(2)[i]);
  }
}

/* loss[1] = inv_n sum_b w[b] sum_{i in sample b} (a - b)^2. in: a [B, per], b, w [B] */
void ldm_ref_weighted_mse(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_weighted_mse);
  double s = 0;
  for (uint64_t i = 0; i < p->n; i++) {
    double d = (double)RF(0)[i] - RF(1)[i];
    s += RF(2)[i / p->per] * d * d;
  }
  RF(3)[0] = (float)(s * p->inv_n);
}

/* dx (+)= scale dl w[b] (a - b) (scale = +-2 / n). in: a, b, w, dl[1] */
void ldm_ref_weighted_mse_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_weighted_mse_backward);
  double s = (double)p->scale * RF(3)[0];
  for (uint64_t i = 0; i < p->n; i++)
    ref_store(&RF(4)[i], p->accumulate, s * RF(2)[i / p->per] * ((double)RF(0)[i] - RF(1)[i]));
}

/* min-SNR-gamma loss weights, a = abar[t_b], snr = a / (1 - a): eps-prediction min(snr, gamma) / snr
 * = min(1, gamma (1 - a) / a) (1 at a = 0); v-prediction min(snr, gamma) / (snr + 1) = min(a, gamma (1 - a)).
 * in: abar [T], t [B] u32; out: w [B] */
void ldm_ref_min_snr_weight(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_min_snr_weight);
  for (uint32_t b = 0; b < p->B; b++) {
    double a = RF(0)[ref_tidx(RU(1)[b], p->T)], om = 1.0 - a, gm = p->gamma;
    double w = p->v_pred ? fmin(a, gm * om) : a > 0.0 ? fmin(1.0, gm * om / a) : 1.0;
    RF(2)[b] = (float)w;
  }
}

/* x2 = [cond; uncond] halves of n elements: out = uncond + scale (cond - uncond) */
void ldm_ref_cfg_combine(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_cfg_combine);
  const float *c = RF(0), *u = RF(0) + p->n;
  for (uint32_t i = 0; i < p->n; i++) RF(1)[i] = (float)(u[i] + (double)p->scale * ((double)c[i] - u[i]));
}

/* One step of any sampler, in double: c = coef + off, D = c0 x + c1 m, v = (x, D, h1, h2, h3, noise);
 * x <- c[2..8) . v, h1 <- c[8..13) . v[0:5], h2 <- c[13..18) . v[0:5], h3 <- c[18..23) . v[0:5].
 * in: x, m, h1, h2, h3, noise, coef; out: x, h1, h2, h3 (the same tensors: in place) */
void ldm_ref_sampler_step(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_sampler_step);
  const float *c = RF(6) + p->off;
  for (uint32_t i = 0; i < p->n; i++) {
    double v[6] = {RF(0)[i], (double)c[0] * RF(0)[i] + (double)c[1] * RF(1)[i], RF(2)[i], RF(3)[i], RF(4)[i],
                   RF(5)[i]};
    double o[4] = {0, 0, 0, 0};
    for (int k = 0; k < 6; k++) o[0] += (double)c[2 + k] * v[k];
    for (int h = 0; h < 3; h++)
      for (int k = 0; k < 5; k++) o[1 + h] += (double)c[8 + 5 * h + k] * v[k];
    for (int h = 0; h < 4; h++) RF(7 + h)[i] = (float)o[h];
  }
}

/* x [B, C, HW] <- mask (c0 x + c1 n2) + (1 - mask) (c2 z0 + c3 n1), mask [B, 1, HW], c = coef + off.
 * in: x, z0, mask, n1, n2, coef; out: x */
void ldm_ref_inpaint_blend(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_inpaint_blend);
  const float *c = RF(5) + p->off;
  for (uint32_t i = 0; i < p->n; i++) {
    uint32_t b = i / (p->C * p->HW);
    double m = RF(2)[b * p->HW + i % p->HW];
    RF(6)[i] = (float)(m * ((double)c[0] * RF(0)[i] + (double)c[1] * RF(4)[i]) +
                       (1.0 - m) * ((double)c[2] * RF(1)[i] + (double)c[3] * RF(3)[i]));
  }
}

/* out_b = phi g_b std(cond_b) / std(g_b) + (1 - phi) g_b over the per elements of sample b (std(g) = 0:
 * out = g). in: x2 [2B, per] (cond = first half), g [B, per]; out [B, per] */
void ldm_ref_cfg_rescale(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_cfg_rescale);
  for (uint32_t b = 0; b < p->B; b++) {
    const float *cd = RF(0) + (size_t)b * p->per, *gd = RF(1) + (size_t)b * p->per;
    double mc = 0, mg = 0, vc = 0, vg = 0;
    for (uint32_t j = 0; j < p->per; j++) mc += cd[j], mg += gd[j];
    mc /= p->per;
    mg /= p->per;
    for (uint32_t j = 0; j < p->per; j++) vc += (cd[j] - mc) * (cd[j] - mc), vg += (gd[j] - mg) * (gd[j] - mg);
    double f = vg > 0 ? p->phi * sqrt(vc / vg) + (1.0 - p->phi) : 1.0;
    for (uint32_t j = 0; j < p->per; j++) RF(2)[(size_t)b * p->per + j] = (float)(f * gd[j]);
  }
}

/* The exact E[x0 | x_t] of a mixture of K isotropic Gaussians (params [K, d + 2]: weight, variance,
 * mean) at x_t = a x0 + s eps (a, s = coef[off], coef[off + 1]): component posteriors by Bayes' rule,
 * each component's posterior mean mu + a v / (a^2 v + s^2) (x - a mu); out eps (pred 0), v (1), x0 (2).
 * in: x [B, d], params, coef; out [B, d] */
void ldm_ref_gauss_mix_denoise(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_gauss_mix_denoise);
  const float *prm = RF(1), *c = RF(2) + p->off;
  double a = c[0], s = c[1];
  uint32_t row = p->d + 2;
  for (uint32_t b = 0; b < p->B; b++) {
    const float *x = RF(0) + (size_t)b * p->d;
    double lp[64], lmax = -INFINITY, z = 0;
    for (uint32_t k = 0; k < p->K && k < 64; k++) {
      double q = a * a * prm[k * row + 1] + s * s, r2 = 0;
      for (uint32_t j = 0; j < p->d; j++) r2 += (x[j] - a * prm[k * row + 2 + j]) * (x[j] - a * prm[k * row + 2 + j]);
      lp[k] = log(prm[k * row]) - 0.5 * p->d * log(q) - r2 / (2 * q);
      lmax = fmax(lmax, lp[k]);
    }
    for (uint32_t k = 0; k < p->K && k < 64; k++) z += exp(lp[k] - lmax);
    for (uint32_t j = 0; j < p->d; j++) {
      double x0 = 0;
      for (uint32_t k = 0; k < p->K && k < 64; k++) {
        double q = a * a * prm[k * row + 1] + s * s, mu = prm[k * row + 2 + j];
        x0 += exp(lp[k] - lmax) / z * (mu + a * prm[k * row + 1] / q * (x[j] - a * mu));
      }
      double eps = s > 0 ? (x[j] - a * x0) / s : 0;
      RF(3)[(size_t)b * p->d + j] = (float)(p->pred == 0 ? eps : p->pred == 1 ? a * eps - s * x0 : x0);
    }
  }
}

/* ema = d ema + (1 - d) p, d = step[EMA] (nothing on an accumulation-only micro-step). in: p, step; out: ema */
void ldm_ref_ema(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_ema);
  if (RU(1)[LDM_STEP_ACCUM_ONLY] != 0) return;
  double d = ref_step_f(RU(1), LDM_STEP_EMA);
  for (uint32_t i = 0; i < p->n; i++) RF(2)[i] = (float)(d * RF(2)[i] + (1.0 - d) * RF(0)[i]);
}

static bool nonfinite(float v) { return isnan(v) || isinf(v); }

/* Element i belongs to group (i / 256) % groups: out[g] = sum of its squares, out[groups + g] = 1 when
 * one of them is NaN/Inf, else 0. in: grads [n]; out: [2 groups] */
void ldm_ref_grad_norm_partial(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_grad_norm_partial);
  const float *x = RF(0);
  double s[LDM_GN_MAX_GROUPS] = {0};
  bool bad[LDM_GN_MAX_GROUPS] = {0};
  for (uint64_t i = 0; i < p->n; i++) {
    uint64_t gi = (i / LDM_GN_LOCAL) % p->groups;
    s[gi] += (double)x[i] * x[i];
    bad[gi] |= nonfinite(x[i]);
  }
  for (uint32_t gi = 0; gi < p->groups; gi++) {
    RF(1)[gi] = (float)s[gi];
    RF(1)[p->groups + gi] = bad[gi] ? 1.0f : 0.0f;
  }
}

/* norm = sqrt(sum partials) inv_accum / loss_scale; coef = clip > 0 && norm > clip ? clip / norm : 1;
 * gs = {coef / loss_scale inv_accum, any flag, norm, coef}. in: partials [2 groups], step; out: gs [4] */
void ldm_ref_grad_norm_clip(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_grad_norm_clip);
  const float *part = RF(0);
  double s = 0, bad = 0;
  for (uint32_t i = 0; i < p->groups; i++) {
    s += part[i];
    bad = part[p->groups + i] > bad ? part[p->groups + i] : bad;
  }
  double ls = ref_step_f(RU(1), LDM_STEP_LOSS_SCALE), ia = ref_step_f(RU(1), LDM_STEP_INV_ACCUM);
  double clip = ref_step_f(RU(1), LDM_STEP_GRAD_CLIP);
  double norm = sqrt(s) * ia / ls, coef = clip > 0.0 && norm > clip ? clip / norm : 1.0;
  RF(2)[0] = (float)(coef / ls * ia);
  RF(2)[1] = (float)bad;
  RF(2)[2] = (float)norm;
  RF(2)[3] = (float)coef;
}

/* out[i] = lo + floor(r_i range / 2^32), r_i element i of the Philox stream (seed, stream, step counter
 * if use_step). in: step; out [n] u32 */
void ldm_ref_randint(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_randint);
  uint64_t seed = ref_u64(p->seed_lo, p->seed_hi), stream = ref_u64(p->stream_lo, p->stream_hi);
  uint64_t base = p->use_step ? ref_u64(RU(0)[LDM_STEP_RNG_LO], RU(0)[LDM_STEP_RNG_HI]) : 0;
  for (uint32_t i = 0; i < p->n; i++)
    RU(1)[i] = p->lo + (uint32_t)(((uint64_t)ldm_rng_u32(seed, stream, base, i) * p->range) >> 32);
}

/* out[i] = unit(r_i) < p ? null_class : labels[i] (unit: the 24-bit uniform of core/philox.c).
 * in: labels [n] u32, step; out [n] u32 */
void ldm_ref_label_dropout(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_label_dropout);
  uint64_t seed = ref_u64(p->seed_lo, p->seed_hi), stream = ref_u64(p->stream_lo, p->stream_hi);
  uint64_t base = p->use_step ? ref_u64(RU(1)[LDM_STEP_RNG_LO], RU(1)[LDM_STEP_RNG_HI]) : 0;
  for (uint32_t i = 0; i < p->n; i++)
    RU(2)[i] = ldm_u32_to_unit(ldm_rng_u32(seed, stream, base, i)) < p->p ? p->null_class : RU(0)[i];
}

/* out[b] = row idx[b] of table [V, row] (idx past the table: the last row); a u8 table converts each byte
 * to byte scale + shift, any 32-bit table is copied word for word. in: table, idx [B] u32; out [B, row] */
void ldm_ref_gather_rows(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_gather_rows);
  bool u8 = g->t[n->in[0]].dtype == LDM_U8;
  for (uint64_t b = 0; b < p->B; b++) {
    uint64_t r = ref_tidx(RU(1)[b], p->V);
    for (uint64_t k = 0; k < p->row; k++) {
      if (u8) RF(2)[b * p->row + k] = (float)(((const uint8_t *)buf[0])[r * p->row + k] * (double)p->scale + p->shift);
      else RU(2)[b * p->row + k] = RU(0)[r * p->row + k];
    }
  }
}
