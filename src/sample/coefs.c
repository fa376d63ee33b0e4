/* The samplers' coefficients (see coefs.h and docs/samplers.md), in double.
 *
 * Notation: a noise level is (a, s) with x_t = a x0 + s eps (a = sqrt(abar), s = sqrt(1 - abar)); the
 * k-diffusion sigma is s / a and lambda = log(a / s) (the log-SNR / 2 of DPM-Solver). D is the denoised
 * estimate of the model at the replay's level. Every update is written as a linear combination over the
 * basis (x, D, h1, h2, h3) of the replay's inputs, which is what ldm_sampler_step evaluates. */
#include "sample/coefs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/schedule.h"

/* A zero-terminal-SNR schedule ends with abar = 0: sigma = inf, and eps-prediction's x0 = (x - s eps) / a
 * divides by 0. As diffusers (rescale_betas_zero_snr: alphas_cumprod[-1] = 2^-24) the last entry is
 * replaced by a tiny positive one, here min(2^-24, abar[T-2] / 2) so that the levels stay strictly
 * decreasing (the linear schedule's abar[T-2] is below 2^-24); every other entry is used as it is. */
static double abar_at(const float *abar, int T, int t) {
  double ab = abar[t];
  if (ab > 0 || t == 0) return ab;
  double prev = abar[t - 1] > 0 ? abar[t - 1] : 1.0 / 16777216.0;
  return fmin(1.0 / 16777216.0, prev / 2.0);
}

typedef struct {
  double a, s;
  uint32_t t;
} level;

enum { BX, BD, B1, B2, B3, NB };
typedef struct {
  double v[NB];
} lc; /* a linear combination over (x, D, h1, h2, h3) */

static lc basis(int k) {
  lc r = {{0}};
  r.v[k] = 1.0;
  return r;
}
static lc lc_add(lc a, double f, lc b) {
  for (int k = 0; k < NB; k++) a.v[k] += f * b.v[k];
  return a;
}
static lc lc_scale(double f, lc a) {
  for (int k = 0; k < NB; k++) a.v[k] *= f;
  return a;
}

static double lambda_of(level l) { return l.s <= 0 ? INFINITY : log(l.a / l.s); }

/* One replay's update: outputs over the basis, plus the noise coefficient of x. */
typedef struct {
  lc x, h1, h2, h3;
  double noise;
} update;

typedef struct {
  ldm_replay *r;
  int n, cap;
} replays;

static ldm_status emit(replays *rs, const ldm_sampler_spec *sp, level ev, const update *u, level to) {
  if (rs->n == rs->cap) {
    int cap = rs->cap ? 2 * rs->cap : 64;
    ldm_replay *nr = realloc(rs->r, (size_t)cap * sizeof *nr);
    if (!nr) return LDM_ERR_NOMEM;
    rs->r = nr;
    rs->cap = cap;
  }
  ldm_replay *r = &rs->r[rs->n++];
  memset(r, 0, sizeof *r);
  r->t = ev.t;
  float *c = r->c;
  /* D from the model output m: eps: D = (x - s m) / a; v: D = a x - s m */
  c[0] = (float)(sp->v_pred ? ev.a : 1.0 / ev.a);
  c[1] = (float)(sp->v_pred ? -ev.s : -ev.s / ev.a);
  const lc *rows[4] = {&u->x, &u->h1, &u->h2, &u->h3};
  for (int k = 0; k < NB; k++) c[2 + k] = (float)rows[0]->v[k];
  c[7] = (float)u->noise;
  for (int h = 1; h < 4; h++)
    for (int k = 0; k < NB; k++) c[8 + 5 * (h - 1) + k] = (float)rows[h]->v[k];
  c[LDM_SC_EVAL] = (float)ev.a;
  c[LDM_SC_EVAL + 1] = (float)ev.s;
  /* the blend: the known region at the level x' sits at (a jump changes it afterwards) */
  c[LDM_SC_BLEND] = 1.0f;
  c[LDM_SC_BLEND + 1] = 0.0f;
  c[LDM_SC_BLEND + 2] = (float)to.a;
  c[LDM_SC_BLEND + 3] = (float)to.s;
  return LDM_OK;
}

/* RePaint's jump from level from back to the noisier level to, folded into the last replay's blend:
 * the repainted region is re-noised by q(x_to | x_from) = N(r x, (s_to^2 - r^2 s_from^2) I), r = a_to / a_from,
 * the known region drawn at level to */
static void jump_blend(ldm_replay *r, level from, level to) {
  double ra = to.a / from.a, q = to.s * to.s - ra * ra * from.s * from.s;
  r->c[LDM_SC_BLEND] = (float)ra;
  r->c[LDM_SC_BLEND + 1] = (float)sqrt(q > 0 ? q : 0);
  r->c[LDM_SC_BLEND + 2] = (float)to.a;
  r->c[LDM_SC_BLEND + 3] = (float)to.s;
}

/* x' = (c / s) x + (a_n - c a / s) D + sigma noise: DDIM (Song et al. 2021, eq. 12) with
 * sigma = eta s_n / s sqrt(1 - a^2 / a_n^2), c = sqrt(s_n^2 - sigma^2); eta 0 is also k-diffusion's Euler
 * (Karras et al. 2022, Alg. 1 without churn) rewritten in x_t */
static update ddim_update(level l, level n, double eta) {
  update u = {{{0}}, {{0}}, {{0}}, {{0}}, 0};
  double r2 = 1.0 - (l.a * l.a) / (n.a * n.a);
  double sig = eta * (n.s / l.s) * sqrt(r2 > 0 ? r2 : 0), c2 = n.s * n.s - sig * sig, c = sqrt(c2 > 0 ? c2 : 0);
  u.x.v[BX] = c / l.s;
  u.x.v[BD] = n.a - c * l.a / l.s;
  u.noise = sig;
  return u;
}
/* DDPM ancestral (Ho et al. 2020, eq. 7): the posterior q(x_n | x, D) with alpha = a^2 / a_n^2 over the
 * stride, beta = 1 - alpha: x' = a_n beta / s^2 D + sqrt(alpha) s_n^2 / s^2 x + sqrt(beta s_n^2 / s^2) noise */
static update ddpm_update(level l, level n) {
  update u = {{{0}}, {{0}}, {{0}}, {{0}}, 0};
  double alpha = (l.a * l.a) / (n.a * n.a), beta = 1.0 - alpha, s2 = l.s * l.s, v = beta * n.s * n.s / s2;
  u.x.v[BD] = n.a * beta / s2;
  u.x.v[BX] = sqrt(alpha) * n.s * n.s / s2;
  u.noise = sqrt(v > 0 ? v : 0);
  return u;
}
/* Euler ancestral (k-diffusion sample_euler_ancestral, eta 1): sigma_up = min(sigma_n, eta sigma_n
 * sqrt(1 - sigma_n^2 / sigma^2)), sigma_down = sqrt(sigma_n^2 - sigma_up^2), an Euler step to sigma_down plus
 * sigma_up noise; in x_t with u = sigma_up / sigma_n, d = sigma_down / sigma_n */
static update euler_a_update(level l, level n, double eta) {
  update u = {{{0}}, {{0}}, {{0}}, {{0}}, 0};
  if (n.s <= 0) return u.x.v[BD] = 1.0, u;
  double r = (n.s * l.a) / (n.a * l.s), q = 1.0 - r * r, up = eta * sqrt(q > 0 ? q : 0);
  if (up > 1) up = 1;
  double d = sqrt(1.0 - up * up);
  u.x.v[BX] = n.s * d / l.s;
  u.x.v[BD] = n.a - n.s * d * l.a / l.s;
  u.noise = n.s * up;
  return u;
}

/* the multistep samplers' history on the host: how many earlier D are held and at which levels */
typedef struct {
  int nd;         /* 0, 1 or 2 earlier estimates D_{i-1}, D_{i-2} held */
  level prev[2];  /* their levels */
  int last_order; /* UniPC: the order of the previous predictor */
} history;

/* DPM-Solver++(2M) (Lu et al. 2022, Alg. 2; k-diffusion sample_dpmpp_2m) and its SDE variant
 * (sample_dpmpp_2m_sde, midpoint, eta 1), in x_t: h = lambda_n - lambda, r = h_last / h,
 * ODE: x' = s_n / s x - a_n expm1(-h) ((1 + 1/(2r)) D - 1/(2r) D_prev);
 * SDE: x' = s_n / s e^-h x - a_n expm1(-2h) (D + 1/(2r) (D - D_prev)) + s_n sqrt(-expm1(-2h)) noise.
 * The first step and the last (s_n = 0) are first order. h1 <- D. */
static update dpmpp_update(level l, level n, const history *hs, bool sde) {
  update u = {{{0}}, {{0}}, {{0}}, {{0}}, 0};
  u.h1 = basis(BD);
  if (n.s <= 0) return u.x.v[BD] = 1.0, u;
  double h = lambda_of(n) - lambda_of(l);
  lc d = basis(BD);
  if (hs->nd >= 1) {
    double r = (lambda_of(l) - lambda_of(hs->prev[0])) / h;
    d = lc_add(lc_scale(1.0 + 0.5 / r, basis(BD)), -0.5 / r, basis(B1));
  }
  if (!sde) {
    u.x = lc_add(lc_scale(n.s / l.s, basis(BX)), -n.a * expm1(-h), d);
  } else {
    u.x = lc_add(lc_scale(n.s / l.s * exp(-h), basis(BX)), -n.a * expm1(-2.0 * h), d);
    double q = -expm1(-2.0 * h);
    u.noise = n.s * sqrt(q > 0 ? q : 0);
  }
  return u;
}

/* UniPC (Zhao et al. 2023) with B(h) = expm1(h) (bh2), data prediction, order 2 with the lower orders of
 * diffusers' UniPCMultistepScheduler (first step order 1, last step order 1), the corrector UniC applied at
 * the start of every step but the first with the new model output (no extra evaluation).
 * History: h1 = the last (corrected) sample, h2 = D_{i-1}, h3 = D_{i-2}. */
static void unipc_b(double hh, double *b1, double *b2) {
  double bh = expm1(hh), hpk = expm1(hh) / hh - 1.0;
  *b1 = hpk / bh;
  hpk = hpk / hh - 0.5;
  *b2 = hpk * 2.0 / bh;
}
static update unipc_update(level l, level n, history *hs, int remaining) {
  update u = {{{0}}, {{0}}, {{0}}, {{0}}, 0};
  lc sample = basis(BX);
  double li = lambda_of(l);
  if (hs->nd >= 1) { /* UniC: x^c = s_i / s_{i-1} L - a_i (e^-h - 1) m0 - a_i B(h) (sum rho_k D1_k + rho_last (D - m0)) */
    level p0 = hs->prev[0];
    double h = li - lambda_of(p0), hh = -h, bh = expm1(hh), rho_last = 0.5;
    lc corr = {{0}};
    if (hs->last_order >= 2 && hs->nd >= 2) {
      double rk = (lambda_of(hs->prev[1]) - lambda_of(p0)) / h, b1, b2;
      unipc_b(hh, &b1, &b2);
      double rho0 = (b1 - b2) / (1.0 - rk);
      rho_last = b1 - rho0;
      corr = lc_scale(rho0 / rk, lc_add(basis(B3), -1.0, basis(B2))); /* rho0 (m1 - m0) / rk */
    }
    sample = lc_scale(l.s / p0.s, basis(B1));
    sample = lc_add(sample, -l.a * expm1(hh), basis(B2));
    lc dd = lc_add(corr, rho_last, lc_add(basis(BD), -1.0, basis(B2)));
    sample = lc_add(sample, -l.a * bh, dd);
  }
  int order = hs->nd + 1 < 2 ? hs->nd + 1 : 2;
  if (remaining < order) order = remaining;
  if (n.s <= 0) {
    u.x = basis(BD);
  } else { /* UniP: x' = s_n / s_i x^c - a_n (e^-h - 1) D - a_n B(h) rho_p D1, rho_p = 1/2 for order 2 */
    double h = lambda_of(n) - li, hh = -h;
    u.x = lc_add(lc_scale(n.s / l.s, sample), -n.a * expm1(hh), basis(BD));
    if (order == 2) {
      double rk = (lambda_of(hs->prev[0]) - li) / h;
      lc d1 = lc_scale(1.0 / rk, lc_add(basis(B2), -1.0, basis(BD)));
      u.x = lc_add(u.x, -n.a * expm1(hh) * 0.5, d1);
    }
  }
  u.h1 = sample;
  u.h2 = basis(BD);
  u.h3 = basis(B2);
  hs->last_order = order;
  return u;
}

static void history_push(history *hs, level l) {
  hs->prev[1] = hs->prev[0];
  hs->prev[0] = l;
  if (hs->nd < 2) hs->nd++;
}

/* Heun (Karras et al. 2022, Alg. 2 without churn): an Euler step to sigma_n (h1 <- x, h2 <- D), then at
 * sigma_n with D': x' = x + (sigma_n - sigma) (d + d') / 2, d = (x - D) / sigma, d' = (x_mid - D') / sigma_n,
 * in x_t; the last step (sigma_n = 0) is Euler's */
static ldm_status heun_move(replays *rs, const ldm_sampler_spec *sp, level l, level n) {
  update u = ddim_update(l, n, 0.0);
  if (n.s <= 0) return emit(rs, sp, l, &u, n);
  u.h1 = basis(BX);
  u.h2 = basis(BD);
  LDM_TRY(emit(rs, sp, l, &u, n));
  double sg = l.s / l.a, sn = n.s / n.a, hh = sn - sg;
  update v = {{{0}}, {{0}}, {{0}}, {{0}}, 0};
  v.x.v[B1] = n.a / l.a * (1.0 + hh / (2.0 * sg));
  v.x.v[B2] = -n.a * hh / (2.0 * sg);
  v.x.v[BX] = hh / (2.0 * sn);
  v.x.v[BD] = -n.a * hh / (2.0 * sn);
  return emit(rs, sp, n, &v, n);
}

/* ---------------------------------------------------------------- the noise-level grid */
static level level_of_abar(double ab, uint32_t t) {
  return (level){sqrt(ab), sqrt(1.0 - ab), t};
}
static level level_of_sigma(double sg, const float *abar, int T) {
  /* k-diffusion's quantize=True: the model sees the training timestep nearest in log sigma (the UNet's
   * timestep embedding reads integers); the update uses sg itself */
  int best = 0;
  double bd = INFINITY;
  for (int t = 0; t < T; t++) {
    double ab = abar_at(abar, T, t);
    double d = fabs(log(sqrt((1.0 - ab) / ab)) - log(sg));
    if (d < bd) bd = d, best = t;
  }
  double a = 1.0 / sqrt(1.0 + sg * sg);
  return (level){a, sg * a, (uint32_t)best};
}

static ldm_status make_levels(const ldm_sampler_spec *sp, level *L) {
  int N = sp->steps, T = sp->T;
  if (sp->sigmas == LDM_SIGMAS_DISCRETE) {
    int *ts = malloc((size_t)N * sizeof *ts);
    if (!ts) return LDM_ERR_NOMEM;
    ldm_status s = LDM_OK;
    if (sp->spacing == LDM_SPACING_LINSPACE) s = ldm_ddim_timesteps(T, N, ts);
    for (int i = 0; i < N && s == LDM_OK; i++) {
      if (sp->spacing == LDM_SPACING_LEADING) ts[i] = (N - 1 - i) * (T / N); /* diffusers, steps_offset 0 */
      if (sp->spacing == LDM_SPACING_TRAILING) ts[i] = (int)nearbyint((double)T - (double)i * T / N) - 1;
    }
    if (sp->sampler == LDM_SAMPLER_DDPM && N == T && s == LDM_OK)
      for (int i = 0; i < N; i++) ts[i] = T - 1 - i;
    for (int i = 0; i < N && s == LDM_OK; i++) L[i] = level_of_abar(abar_at(sp->abar, T, ts[i]), (uint32_t)ts[i]);
    free(ts);
    LDM_TRY(s);
  } else {
    double a0 = abar_at(sp->abar, T, 0), aT = abar_at(sp->abar, T, T - 1);
    double smin = sqrt((1.0 - a0) / a0), smax = sqrt((1.0 - aT) / aT);
    for (int i = 0; i < N; i++) {
      double f = N > 1 ? (double)i / (N - 1) : 0.0, sg;
      if (sp->sigmas == LDM_SIGMAS_KARRAS) { /* Karras et al. 2022 eq. 5, rho = 7 */
        double rho = 7.0, lo = pow(smin, 1.0 / rho), hi = pow(smax, 1.0 / rho);
        sg = pow(hi + f * (lo - hi), rho);
      } else {
        sg = exp(log(smax) + f * (log(smin) - log(smax)));
      }
      L[i] = level_of_sigma(sg, sp->abar, T);
    }
  }
  L[N] = (level){1.0, 0.0, 0};
  return LDM_OK;
}

ldm_status ldm_sampler_plan_make(const ldm_sampler_spec *sp, ldm_sampler_plan *p) {
  memset(p, 0, sizeof *p);
  if (sp->sampler < 0 || sp->sampler >= LDM_SAMPLER_COUNT)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--sampler: unknown sampler %d", sp->sampler);
  if (sp->steps < 1 || sp->steps > sp->T)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--steps %d: 1 to the model's %d timesteps", sp->steps, sp->T);
  if (sp->sigmas < 0 || sp->sigmas > 2 || sp->spacing < 0 || sp->spacing > 2)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--sigmas / --spacing: unknown value");
  if (!(sp->strength >= 0 && sp->strength <= 1))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--strength %g must lie in [0, 1]", sp->strength);
  if ((sp->repaint_jump > 0) != (sp->repaint_resample > 0) || sp->repaint_jump < 0 || sp->repaint_resample < 0)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "RePaint needs both a jump length and a resample count >= 1 (or neither)");
  if (sp->repaint_jump > 0 && !sp->inpaint) return LDM_FAIL(LDM_ERR_INVALID_ARG, "RePaint needs a mask");
  int N = sp->steps;
  level *L = malloc((size_t)(N + 1) * sizeof *L);
  int *left = calloc((size_t)(N + 1), sizeof *left);
  if (!L || !left) {
    free(L);
    free(left);
    return LDM_ERR_NOMEM;
  }
  ldm_status s = make_levels(sp, L);
  /* img2img (SDEdit, diffusers' img2img): int(steps * strength) steps are run, from level k0 */
  int run = sp->strength >= 1 ? N : (int)floor(N * sp->strength + 1e-9);
  int k0 = N - run;
  p->from_init = sp->strength < 1;
  p->a0 = L[k0].a;
  p->s0 = L[k0].s;
  p->points = run;
  int J = sp->repaint_jump;
  for (int q = k0 + J; J > 0 && q < N; q += J) left[q] = sp->repaint_resample;
  replays rs = {NULL, 0, 0};
  history hs;
  memset(&hs, 0, sizeof hs);
  for (int i = k0; i < N && s == LDM_OK;) {
    level l = L[i], n = L[i + 1];
    update u;
    switch (sp->sampler) {
      case LDM_SAMPLER_DDIM: u = ddim_update(l, n, sp->eta); break;
      case LDM_SAMPLER_DDPM: u = ddpm_update(l, n); break;
      case LDM_SAMPLER_EULER: u = ddim_update(l, n, 0.0); break;
      case LDM_SAMPLER_EULER_A: u = euler_a_update(l, n, 1.0); break;
      case LDM_SAMPLER_DPMPP_2M: u = dpmpp_update(l, n, &hs, false); break;
      case LDM_SAMPLER_DPMPP_2M_SDE: u = dpmpp_update(l, n, &hs, true); break;
      case LDM_SAMPLER_UNIPC: u = unipc_update(l, n, &hs, N - i); break;
      default: u = ddim_update(l, n, 0.0); break;
    }
    s = sp->sampler == LDM_SAMPLER_HEUN ? heun_move(&rs, sp, l, n) : emit(&rs, sp, l, &u, n);
    history_push(&hs, l);
    i++;
    if (s == LDM_OK && i < N && left[i] > 0) { /* RePaint: back to the noisier level i - J, then again */
      left[i]--;
      jump_blend(&rs.r[rs.n - 1], L[i], L[i - J]);
      i -= J;
      memset(&hs, 0, sizeof hs); /* the history belongs to the levels left behind */
    }
  }
  free(L);
  free(left);
  if (s != LDM_OK) {
    free(rs.r);
    return s;
  }
  p->r = rs.r;
  p->n = rs.n;
  return LDM_OK;
}

void ldm_sampler_plan_free(ldm_sampler_plan *p) {
  free(p->r);
  memset(p, 0, sizeof *p);
}

static const char *const sampler_names[LDM_SAMPLER_COUNT] = {"ddim", "ddpm", "euler", "euler_a",
                                                             "heun", "dpmpp_2m", "dpmpp_2m_sde", "unipc"};
static int find_name(const char *const *names, int n, const char *name) {
  for (int i = 0; i < n && name; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}
const char *ldm_sampler_name(int kind) {
  return kind >= 0 && kind < LDM_SAMPLER_COUNT ? sampler_names[kind] : "unknown";
}
int ldm_sampler_parse(const char *name) { return find_name(sampler_names, LDM_SAMPLER_COUNT, name); }
int ldm_sigmas_parse(const char *name) {
  static const char *const n[] = {"discrete", "karras", "exponential"};
  return find_name(n, 3, name);
}
int ldm_spacing_parse(const char *name) {
  static const char *const n[] = {"linspace", "leading", "trailing"};
  return find_name(n, 3, name);
}
