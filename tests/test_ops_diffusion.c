/* Diffusion / VAE-loss / optimizer op family on the CPU reference backend: noise schedules and DDIM
 * timesteps against independent double computations, autodiff against finite differences, the
 * sampler's algebra (DDIM eta 0 recovers x0 from the true noise, DDPM step statistics), the global
 * grad-norm clip, AdamW skipping on NaN, Philox randint / label dropout, row gathers, builder errors.
 * Where a check is the op's own definition, the fast CPU twins are compared with the plain reference
 * (src/ref) run over the same graph from the same state; textbook formulas in another form (min-SNR in
 * terms of snr, the DDPM posterior's eps form), identities and known answers stay as they are. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck_util.h"
#include "ldm/backend.h"
#include "ldm/schedule.h"
#include "ldm/step.h"
#include "ref/ref.h"
#include "runtime/runtime.h"

#define S(...) LDM_SHAPE(__VA_ARGS__)

static float unif(uint64_t stream, uint64_t i, float lo, float hi) {
  return lo + (hi - lo) * ldm_u32_to_unit(ldm_rng_u32(17, stream, 0, i));
}
static void put_f(uint32_t *w, int k, float v) { memcpy(&w[k], &v, 4); }

/* A second CPU executor over e's graph holding a copy of every arena of e, over which the plain reference
 * (src/ref) has run: call it just before ldm_exec_run(e), and both start from the very same state. */
static ldm_exec *ref_run_copy(ldm_exec *e) {
  const ldm_graph *g = ldm_exec_graph(e);
  ldm_exec *er;
  ck_assert_int_eq(ldm_exec_cpu(g, &er), LDM_OK);
  for (int a = 0; a < LDM_ARENA_COUNT; a++) {
    size_t bytes = (size_t)g->arena_size[a];
    if (!bytes) continue;
    void *tmp = malloc(bytes);
    ck_assert_ptr_nonnull(tmp);
    ck_assert_int_eq(ldm_exec_read_arena(e, (ldm_arena)a, tmp, bytes), LDM_OK);
    ck_assert_int_eq(ldm_exec_write_arena(er, (ldm_arena)a, tmp, bytes), LDM_OK);
    free(tmp);
  }
  ck_assert_int_eq(ldm_ref_run(er), LDM_OK);
  return er;
}

/* ================================================================= schedules */
START_TEST(schedule_linear_matches_double_loop) {
  enum { T = 1000 };
  static float b[T], ab[T];
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_LINEAR, T, 1e-4, 0.02, false, b, ab), LDM_OK);
  double p = 1.0;
  for (int i = 0; i < T; i++) {
    double beta = 1e-4 + (0.02 - 1e-4) * i / (T - 1);
    p *= 1.0 - beta;
    ck_assert_double_le(fabs(b[i] - beta), 1e-7 * beta + 1e-12);
    ck_assert_double_le(fabs(ab[i] - p), 1e-6 * p);
  }
  ck_assert_double_eq_tol(ab[0], 0.9999, 1e-7);
  ck_assert_double_eq_tol(ab[999], 4.036e-5, 0.005e-5); /* the well-known DDPM value, ~4.04e-5 */
  ck_assert_float_eq(b[999], 0.02f);
}
END_TEST

START_TEST(schedule_scaled_linear_and_cosine) {
  enum { T = 1000 };
  static float b[T], ab[T];
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_SCALED_LINEAR, T, 0.00085, 0.012, false, b, ab), LDM_OK);
  double p = 1.0;
  for (int i = 0; i < T; i++) {
    double r = sqrt(0.00085) + (sqrt(0.012) - sqrt(0.00085)) * i / (T - 1), beta = r * r;
    p *= 1.0 - beta;
    ck_assert_double_le(fabs(b[i] - beta), 1e-7 * beta);
    ck_assert_double_le(fabs(ab[i] - p), 1e-6 * p);
  }
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_COSINE, T, 0, 0, false, b, ab), LDM_OK);
  double f0 = cos(0.008 / 1.008 * M_PI / 2);
  f0 *= f0;
  for (int i = 0; i < T; i++) {
    double f = cos(((double)(i + 1) / T + 0.008) / 1.008 * M_PI / 2);
    f *= f;
    double expect = f / f0; /* abar(t) = f(t) / f(0) wherever no beta is clipped */
    ck_assert(b[i] > 0.0f && b[i] <= 0.999f);
    if (i > 0) ck_assert(ab[i] < ab[i - 1]);
    if (i < T - 10) ck_assert_double_le(fabs(ab[i] - expect), 1e-5 * expect + 1e-9);
  }
  ck_assert_float_eq(b[T - 1], 0.999f); /* the last beta is clipped */
  ck_assert_double_gt(ab[T - 1], 0.0);
}
END_TEST

START_TEST(schedule_zero_terminal_snr) {
  enum { T = 1000 };
  static float b0[T], ab0[T], b[T], ab[T];
  for (int kind = 0; kind < 3; kind++) {
    double lo = kind == 1 ? 0.00085 : 1e-4, hi = kind == 1 ? 0.012 : 0.02;
    ck_assert_int_eq(ldm_schedule_make((ldm_schedule_kind)kind, T, lo, hi, false, b0, ab0), LDM_OK);
    ck_assert_int_eq(ldm_schedule_make((ldm_schedule_kind)kind, T, lo, hi, true, b, ab), LDM_OK);
    ck_assert_float_eq(ab[T - 1], 0.0f); /* exactly zero SNR at the last step */
    ck_assert_float_eq(b[T - 1], 1.0f);
    ck_assert_double_le(fabs(ab[0] - ab0[0]), 1e-6); /* the first step keeps its SNR */
    for (int i = 1; i < T; i++) {
      ck_assert(ab[i] < ab[i - 1]);
      ck_assert(b[i] > 0.0f && b[i] <= 1.0f);
    }
    /* sqrt(abar) is an affine map of the original: check it in the middle */
    double s0 = sqrt(ab0[0]), sT = sqrt(ab0[T - 1]), sm = sqrt(ab0[T / 2]);
    double expect = (sm - sT) * s0 / (s0 - sT);
    ck_assert_double_le(fabs(sqrt(ab[T / 2]) - expect), 2e-6);
  }
}
END_TEST

/* betas near 1 over many steps: alphas_cumprod underflows to 0 before the last step, and the zero-SNR rescale
 * must keep it 0 there (beta 1), not divide 0 by 0 (the fuzzer's checkpoint metadata: scaled_linear, T 2080,
 * betas 0.00085 .. 0.812) */
START_TEST(schedule_underflow_stays_finite) {
  enum { T = 2080 };
  static float b[T], ab[T];
  for (int zs = 0; zs < 2; zs++) {
    ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_SCALED_LINEAR, T, 0.00085, 0.812, zs, b, ab), LDM_OK);
    for (int i = 0; i < T; i++) {
      ck_assert_msg(isfinite(ab[i]) && ab[i] >= 0.0f && ab[i] <= 1.0f, "zero_snr %d: abar[%d] = %g", zs, i, ab[i]);
      ck_assert_msg(isfinite(b[i]) && b[i] > 0.0f && b[i] <= 1.0f, "zero_snr %d: beta[%d] = %g", zs, i, b[i]);
      if (i > 0) ck_assert(ab[i] <= ab[i - 1]);
    }
    ck_assert_float_eq(ab[T - 1], 0.0f);
  }
}
END_TEST

START_TEST(schedule_errors_and_names) {
  float b[4];
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_LINEAR, 0, 1e-4, 0.02, false, b, NULL), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_LINEAR, 4, 0.0, 0.02, false, b, NULL), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_LINEAR, 4, 1e-4, 1.0, false, b, NULL), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_LINEAR, 1, 1e-4, 0.02, true, b, NULL), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_schedule_make(LDM_SCHEDULE_LINEAR, 1, 1e-4, 0.02, false, b, NULL), LDM_OK);
  ck_assert_float_eq(b[0], 1e-4f);
  ldm_schedule_kind k;
  ck_assert_int_eq(ldm_schedule_kind_parse("scaled_linear", &k), LDM_OK);
  ck_assert_int_eq(k, LDM_SCHEDULE_SCALED_LINEAR);
  ck_assert_str_eq(ldm_schedule_kind_name(LDM_SCHEDULE_COSINE), "cosine");
  ck_assert_int_eq(ldm_schedule_kind_parse("sigmoid", &k), LDM_ERR_INVALID_ARG);
  ck_assert_ptr_nonnull(strstr(ldm_last_error(), "sigmoid"));
}
END_TEST

START_TEST(ddim_timesteps) {
  int ts[1000];
  ck_assert_int_eq(ldm_ddim_timesteps(1000, 50, ts), LDM_OK);
  ck_assert_int_eq(ts[0], 999);
  ck_assert_int_eq(ts[1], 979); /* 999 - 999/49 = 978.61 */
  ck_assert_int_eq(ts[2], 958);
  ck_assert_int_eq(ts[48], 20);
  ck_assert_int_eq(ts[49], 0);
  for (int i = 0; i < 50; i++) ck_assert_int_eq(ts[i], (int)lround(999.0 * (49 - i) / 49.0));
  ck_assert_int_eq(ldm_ddim_timesteps(1000, 1, ts), LDM_OK);
  ck_assert_int_eq(ts[0], 999);
  ck_assert_int_eq(ldm_ddim_timesteps(1000, 1000, ts), LDM_OK);
  for (int i = 0; i < 1000; i++) ck_assert_int_eq(ts[i], 999 - i);
  ck_assert_int_eq(ldm_ddim_timesteps(10, 4, ts), LDM_OK); /* 9, 6, 3, 0 */
  ck_assert_int_eq(ts[1], 6);
  ck_assert_int_eq(ldm_ddim_timesteps(1000, 0, ts), LDM_ERR_INVALID_ARG);
  ck_assert_int_eq(ldm_ddim_timesteps(10, 11, ts), LDM_ERR_INVALID_ARG);
}
END_TEST

/* ================================================================= gradient checks */
/* values from Philox key 17 (w from stream 99), 40 samples a tensor, tolerance 2e-3 */
static void check_grad(const char *what, gc_body body, int nin, const gc_in *in) {
  gc_check_case(&(gc_case){.what = what, .body = body, .nin = nin, .in = in, .tol = 2e-3, .key = 17, .w_stream = 99});
}

static int b_reparam(ldm_graph *g, const int *in, const int *arg) { return ldm_reparam(g, in[0], in[1], in[2]); }
static int b_clamp(ldm_graph *g, const int *in, const int *arg) { return ldm_clamp(g, in[0], -0.45f, 0.6f); }
static int b_kl(ldm_graph *g, const int *in, const int *arg) { return ldm_kl_loss(g, in[0], in[1]); }
static int b_wmse(ldm_graph *g, const int *in, const int *arg) { return ldm_weighted_mse(g, in[0], in[1], in[2]); }
static int b_q_sample(ldm_graph *g, const int *in, const int *arg) {
  return ldm_q_sample(g, in[0], in[1], in[2], in[3]);
}
static int b_v_target(ldm_graph *g, const int *in, const int *arg) {
  return ldm_v_target(g, in[0], in[1], in[2], in[3]);
}
/* x used by two consumers: the second gradient contribution accumulates */
static int b_clamp_twice(ldm_graph *g, const int *in, const int *arg) {
  return ldm_add(g, ldm_clamp(g, in[0], -0.45f, 0.6f), ldm_reparam(g, in[0], in[1], in[2]));
}

START_TEST(grad_vae_ops) {
  gc_in r[3] = {{GC_SHAPE(6, 7), .lo = -1, .hi = 1},
                {GC_SHAPE(6, 7), .kind = GC_ACT_GRAD, .lo = -2, .hi = 2},
                {GC_SHAPE(6, 7), .kind = GC_ACT, .lo = -2, .hi = 2}};
  check_grad("reparam", b_reparam, 3, r);
  gc_in r_lv_only[3] = {r[0], r[1], r[2]};
  r_lv_only[0].kind = GC_ACT;
  check_grad("reparam (logvar only)", b_reparam, 3, r_lv_only);
  gc_in r_mu_only[3] = {r[0], r[1], r[2]};
  r_mu_only[1].kind = GC_ACT;
  check_grad("reparam (mu only)", b_reparam, 3, r_mu_only);
  gc_in c[1] = {{GC_SHAPE(37), .kind = GC_ACT_GRAD, .lo = -1, .hi = 1}};
  check_grad("clamp", b_clamp, 1, c);
  gc_in ct[3] = {{GC_SHAPE(37), .kind = GC_ACT_GRAD, .lo = -1, .hi = 1},
                 {GC_SHAPE(37), .kind = GC_PARAM, .lo = -1, .hi = 1},
                 {GC_SHAPE(37), .kind = GC_ACT, .lo = -1, .hi = 1}};
  check_grad("clamp + reparam sharing x", b_clamp_twice, 3, ct);
  gc_in k[2] = {{GC_SHAPE(3, 2, 2, 2), .kind = GC_PARAM, .lo = -1.5f, .hi = 1.5f},
                {GC_SHAPE(3, 2, 2, 2), .kind = GC_ACT_GRAD, .lo = -2, .hi = 2}};
  check_grad("kl_loss", b_kl, 2, k);
  k[0].kind = GC_ACT;
  check_grad("kl_loss (logvar only)", b_kl, 2, k);
}
END_TEST

START_TEST(grad_diffusion_ops) {
  gc_in w[3] = {{GC_SHAPE(5, 9), .kind = GC_PARAM, .lo = -1, .hi = 1},
                {GC_SHAPE(5, 9), .kind = GC_ACT_GRAD, .lo = -1, .hi = 1},
                {GC_SHAPE(5), .kind = GC_ACT, .lo = 0, .hi = 2}};
  check_grad("weighted_mse", b_wmse, 3, w);
  w[0].kind = GC_ACT;
  check_grad("weighted_mse (to b only)", b_wmse, 3, w);
  gc_in q[4] = {{GC_SHAPE(4, 11), .kind = GC_PARAM, .lo = -1, .hi = 1},
                {GC_SHAPE(4, 11), .kind = GC_ACT_GRAD, .lo = -1, .hi = 1},
                {GC_SHAPE(17), .kind = GC_ACT, .lo = 0.05f, .hi = 0.95f},
                {GC_SHAPE(4), .kind = GC_U32, .max = 17}};
  check_grad("q_sample", b_q_sample, 4, q);
  check_grad("v_target", b_v_target, 4, q);
  q[1].kind = GC_ACT;
  check_grad("q_sample (x0 only)", b_q_sample, 4, q);
  q[1].kind = GC_ACT_GRAD;
  q[0].kind = GC_ACT;
  check_grad("v_target (noise only)", b_v_target, 4, q);
}
END_TEST

/* The sampler step and its coefficients: tests/test_samplers.c */

START_TEST(cfg_and_min_snr) {
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int x2 = ldm_act(&g, "x2", 2, S(4, 3));
  ldm_keep(&g, x2);
  int o = ldm_cfg_combine(&g, x2, 2.0f);
  ck_assert_int_ge(o, 0);
  ck_assert_int_eq(g.t[o].shape[0], 2);
  ldm_keep(&g, o);
  int abar = ldm_act(&g, "abar", 1, S(3));
  int t = ldm_tensor_new(&g, "t", LDM_ARENA_HOST, LDM_U32, 1, S(3));
  ldm_keep(&g, abar);
  int we = ldm_min_snr_weight(&g, abar, t, 5.0f, 0), wv = ldm_min_snr_weight(&g, abar, t, 5.0f, 1);
  ck_assert_int_ge(we, 0);
  ck_assert_int_ge(wv, 0);
  ldm_keep(&g, we);
  ldm_keep(&g, wv);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  float xv[12] = {1, 2, 3, 4, 5, 6, 0, 1, 1, 2, 2, 2};
  ck_assert_int_eq(ldm_exec_write(e, x2, xv, sizeof xv), LDM_OK);
  float av[3] = {0.9f, 0.1f, 0.0f};
  ck_assert_int_eq(ldm_exec_write(e, abar, av, sizeof av), LDM_OK);
  uint32_t *tt = ldm_exec_host_ptr(e, t);
  tt[0] = 0, tt[1] = 1, tt[2] = 2;
  ldm_exec *er = ref_run_copy(e);
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  float ov[6], rov[6], wev[3], wvv[3], rwe[3], rwv[3];
  ck_assert_int_eq(ldm_exec_read(e, o, ov, sizeof ov), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(er, o, rov, sizeof rov), LDM_OK);
  for (int i = 0; i < 6; i++) ck_assert_float_eq_tol(ov[i], rov[i], 1e-6);
  ck_assert_int_eq(ldm_exec_read(e, we, wev, sizeof wev), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(e, wv, wvv, sizeof wvv), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(er, we, rwe, sizeof rwe), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(er, wv, rwv, sizeof rwv), LDM_OK);
  for (int i = 0; i < 3; i++) {
    /* Hang et al.'s weights in terms of snr (the op and the reference use min(1, g (1 - a) / a) and
     * min(a, g (1 - a)), which never divide by zero) */
    double a = av[i], snr = a / (1 - a);
    double eps_w = a > 0 ? fmin(snr, 5.0) / snr : 1.0, v_w = fmin(snr, 5.0) / (snr + 1);
    ck_assert_double_le(fabs(wev[i] - eps_w), 1e-6);
    ck_assert_double_le(fabs(wvv[i] - v_w), 1e-6);
    ck_assert_double_le(fabs(wev[i] - rwe[i]), 1e-6);
    ck_assert_double_le(fabs(wvv[i] - rwv[i]), 1e-6);
  }
  ldm_exec_free(er);
  ldm_exec_free(e);
  ldm_graph_free(&g);
}
END_TEST

/* ================================================================= optimizer pieces */
START_TEST(grad_norm_clip_coefficient) {
  enum { N = 300001 };
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int gr = ldm_act(&g, "grads", 1, S(N));
  int st = ldm_host(&g, "step", LDM_U32, LDM_STEP_WORDS), gs = ldm_host(&g, "gs", LDM_F32, 4);
  ldm_keep(&g, gr);
  ck_assert_int_ge(ldm_grad_norm_clip(&g, gr, st, gs), 0);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  float *v = malloc(N * 4);
  ck_assert_ptr_nonnull(v);
  for (int i = 0; i < N; i++) v[i] = unif(3, (uint64_t)i, -0.01f, 0.01f);
  ck_assert_int_eq(ldm_exec_write(e, gr, v, N * 4), LDM_OK);
  uint32_t *w = ldm_exec_host_ptr(e, st);
  const float *o = ldm_exec_host_ptr(e, gs);
  /* {clip, loss scale, 1 / accumulation steps, clipped?}: the raw norm is ~3.2 */
  struct { float clip, ls, ia; int clipped; } cases[] = {
      {1.0f, 1, 1, 1}, {1e9f, 1, 1, 0}, {0.0f, 1, 1, 0}, {1.0f, 4, 0.5f, 0}, {5.0f, 0.25f, 1, 1}};
  for (int c = 0; c < 5; c++) {
    put_f(w, LDM_STEP_GRAD_CLIP, cases[c].clip);
    put_f(w, LDM_STEP_LOSS_SCALE, cases[c].ls);
    put_f(w, LDM_STEP_INV_ACCUM, cases[c].ia);
    ldm_exec *er = ref_run_copy(e);
    ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
    const float *r = ldm_exec_host_ptr(er, gs); /* {coef / ls * ia, flag, norm, coef} in double, rounded */
    ck_assert_msg(fabs(o[3] - r[3]) <= 1e-6 * r[3], "case %d: coef %.9g, reference %.9g", c, o[3], r[3]);
    ck_assert_double_le(fabs(o[2] - r[2]), 1e-6 * r[2]);
    ck_assert_double_le(fabs(o[0] - r[0]), 1e-6 * r[0]);
    ck_assert_float_eq(o[1], 0.0f);
    ck_assert_float_eq(r[1], 0.0f);
    if (cases[c].clipped) ck_assert_msg(o[3] < 1.0f && r[3] < 1.0f, "case %d: not clipped", c);
    else ck_assert_msg(o[3] == 1.0f && r[3] == 1.0f, "case %d: clipped (%.9g)", c, o[3]);
    /* independent of both: E[v^2] = 0.01^2 / 3 for v uniform in [-0.01, 0.01), so the raw norm is
     * sqrt(N / 3) 0.01 (its standard deviation here ~0.08%: 1% is over 10 of them) */
    double raw = o[2] * cases[c].ls / cases[c].ia;
    ck_assert_msg(fabs(raw / (sqrt(N / 3.0) * 0.01) - 1) < 0.01, "case %d: raw norm %g", c, raw);
    ldm_exec_free(er);
  }
  v[N / 2] = NAN;
  ck_assert_int_eq(ldm_exec_write(e, gr, v, N * 4), LDM_OK);
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  ck_assert_float_eq(o[1], 1.0f);
  v[N / 2] = -INFINITY;
  ck_assert_int_eq(ldm_exec_write(e, gr, v, N * 4), LDM_OK);
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  ck_assert_float_eq(o[1], 1.0f);
  free(v);
  ldm_exec_free(e);
  ldm_graph_free(&g);
}
END_TEST

/* AdamW reading gs: the same as plain AdamW on the pre-scaled gradient; skipped on a NaN flag. EMA. */
/* the inputs of the refusal probes, built afresh on each probe's own graph */
typedef struct { int p, g, m, v, st; } adamw_probe;
static adamw_probe adamw_probe_inputs(ldm_graph *g) {
  adamw_probe in = {ldm_act(g, "p1", 1, S(33)), ldm_act(g, "g1", 1, S(33)), ldm_act(g, "m1", 1, S(33)),
                    ldm_act(g, "v", 1, S(33)), ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS)};
  return in;
}
#define REFUSES(call, ...) GC_REFUSES(adamw_probe, adamw_probe_inputs, call, __VA_ARGS__)
START_TEST(adamw_gs_and_ema) {
  enum { N = 33 };
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int st = ldm_host(&g, "step", LDM_U32, LDM_STEP_WORDS), gs = ldm_host(&g, "gs", LDM_F32, 4);
  int names[7];
  const char *nm[7] = {"p1", "p2", "g1", "g2", "m1", "m2", "v"};
  for (int i = 0; i < 7; i++) {
    names[i] = ldm_act(&g, nm[i], 1, S(N));
    ldm_keep(&g, names[i]);
  }
  int v2 = ldm_act(&g, "v2", 1, S(N)), ema = ldm_act(&g, "ema", 1, S(N));
  ldm_keep(&g, v2);
  ldm_keep(&g, ema);
  const ldm_adamw_cfg *ac = &ldm_adamw_recipe; /* the recipe's betas and eps, with weight decay 0.01 */
  ck_assert_int_ge(ldm_adamw_gs(&g, names[0], names[2], names[4], names[6], st, gs, ac->beta1, ac->beta2, ac->eps, 0.01f), 0);
  ck_assert_int_ge(ldm_adamw(&g, names[1], names[3], names[5], v2, st, ac->beta1, ac->beta2, ac->eps, 0.01f), 0);
  ck_assert_int_ge(ldm_ema(&g, ema, names[0], st), 0);
  REFUSES(ldm_adamw_gs(&g, in.p, in.g, in.m, in.v, in.st, in.st, ac->beta1, ac->beta2, ac->eps, 0), NULL);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  float p[N], gr[N], gr2[N], z[N] = {0};
  for (int i = 0; i < N; i++) {
    p[i] = unif(1, (uint64_t)i, -1, 1);
    gr[i] = unif(2, (uint64_t)i, -1, 1);
    gr2[i] = gr[i] * 0.25f;
  }
  int wr[][2] = {{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 3}, {6, 3}};
  const float *src[] = {p, gr, gr2, z};
  for (int i = 0; i < 7; i++) ck_assert_int_eq(ldm_exec_write(e, names[wr[i][0]], src[wr[i][1]], sizeof p), LDM_OK);
  ck_assert_int_eq(ldm_exec_write(e, v2, z, sizeof z), LDM_OK);
  ck_assert_int_eq(ldm_exec_write(e, ema, z, sizeof z), LDM_OK);
  uint32_t *w = ldm_exec_host_ptr(e, st);
  float *gv = ldm_exec_host_ptr(e, gs);
  w[LDM_STEP_T] = 1;
  put_f(w, LDM_STEP_LR, 1e-2f);
  put_f(w, LDM_STEP_BC1, 0.1f);
  put_f(w, LDM_STEP_BC2, 0.001f);
  put_f(w, LDM_STEP_EMA, 0.75f);
  gv[0] = 0.25f, gv[1] = 0, gv[2] = 0, gv[3] = 0;
  ldm_exec *er = ref_run_copy(e);
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  float a[N], b[N], em[N], got[N], ref[N];
  ck_assert_int_eq(ldm_exec_read(e, names[0], a, sizeof a), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(e, names[1], b, sizeof b), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(e, ema, em, sizeof em), LDM_OK);
  for (int i = 0; i < N; i++) {
    ck_assert_float_eq(a[i], b[i]); /* 0.25 is exact: bitwise the same update */
    ck_assert(a[i] != p[i]);
  }
  /* parameters, moments (both updates), gradients (zeroed) and the EMA against the reference */
  const int cmp[] = {names[0], names[1], names[2], names[3], names[4], names[5], names[6], v2, ema};
  for (size_t k = 0; k < sizeof cmp / sizeof cmp[0]; k++) {
    ck_assert_int_eq(ldm_exec_read(e, cmp[k], got, sizeof got), LDM_OK);
    ck_assert_int_eq(ldm_exec_read(er, cmp[k], ref, sizeof ref), LDM_OK);
    for (int i = 0; i < N; i++)
      ck_assert_msg(fabsf(got[i] - ref[i]) <= 1e-7f * fmaxf(1, fabsf(ref[i])), "%s[%d]: %.9g, reference %.9g",
                    g.t[cmp[k]].name, i, got[i], ref[i]);
  }
  ldm_exec_free(er);
  gv[1] = 1.0f; /* NaN/Inf flagged: the update is skipped */
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(e, names[0], b, sizeof b), LDM_OK);
  for (int i = 0; i < N; i++) ck_assert_float_eq(a[i], b[i]);
  ldm_exec_free(e);
  ldm_graph_free(&g);
}
END_TEST

#undef REFUSES
typedef struct { int st, r, lab, out; } randint_probe;
static randint_probe randint_probe_inputs(ldm_graph *g) {
  randint_probe in = {ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS),
                      ldm_tensor_new(g, "r", LDM_ARENA_HOST, LDM_U32, 1, S(7)),
                      ldm_tensor_new(g, "labels", LDM_ARENA_HOST, LDM_U32, 1, S(7)),
                      ldm_tensor_new(g, "out", LDM_ARENA_HOST, LDM_U32, 1, S(7))};
  return in;
}
#define REFUSES(call, ...) GC_REFUSES(randint_probe, randint_probe_inputs, call, __VA_ARGS__)
START_TEST(randint_and_label_dropout) {
  enum { N = 100003 };
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int st = ldm_host(&g, "step", LDM_U32, LDM_STEP_WORDS);
  int r = ldm_tensor_new(&g, "r", LDM_ARENA_HOST, LDM_U32, 1, S(N));
  int lab = ldm_tensor_new(&g, "labels", LDM_ARENA_HOST, LDM_U32, 1, S(N));
  int out = ldm_tensor_new(&g, "out", LDM_ARENA_HOST, LDM_U32, 1, S(N));
  ck_assert_int_ge(ldm_randint(&g, r, st, 42, 1, 7, 1007), 0);
  ck_assert_int_ge(ldm_label_dropout(&g, lab, out, st, 42, 2, 0.1f, 10), 0);
  REFUSES(ldm_randint(&g, in.r, in.st, 42, 1, 5, 5), "empty range");
  REFUSES(ldm_label_dropout(&g, in.lab, in.out, in.st, 42, 2, 1.5f, 10), NULL);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  uint32_t *w = ldm_exec_host_ptr(e, st), *rv = ldm_exec_host_ptr(e, r), *lv = ldm_exec_host_ptr(e, lab),
           *ov = ldm_exec_host_ptr(e, out);
  for (int i = 0; i < N; i++) lv[i] = (uint32_t)(i % 10);
  static uint32_t first[N];
  for (int step = 0; step < 2; step++) {
    w[LDM_STEP_RNG_LO] = 0;
    w[LDM_STEP_RNG_HI] = (uint32_t)step; /* the trainer advances the counter by 2^32 per step */
    ldm_exec *er = ref_run_copy(e);
    ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
    const uint32_t *rr = ldm_exec_host_ptr(er, r), *ro = ldm_exec_host_ptr(er, out);
    static int hits[1000];
    memset(hits, 0, sizeof hits);
    int dropped = 0, same = 0;
    for (int i = 0; i < N; i++) {
      ck_assert(rv[i] >= 7 && rv[i] < 1007);
      hits[rv[i] - 7]++;
      ck_assert_uint_eq(rv[i], rr[i]); /* the same Philox word and integer map as the reference */
      ck_assert_uint_eq(ov[i], ro[i]);
      if (ov[i] == 10) dropped++;
      else ck_assert_uint_eq(ov[i], lv[i]);
      if (step == 0) first[i] = rv[i];
      else same += first[i] == rv[i];
    }
    for (int k = 0; k < 1000; k++) ck_assert_int_gt(hits[k], 50); /* ~100 each */
    ck_assert_msg(fabs(dropped / (double)N - 0.1) < 0.005, "dropped fraction %g", dropped / (double)N);
    if (step == 1) ck_assert_int_lt(same, N / 200); /* fresh draws each step (~1/1000 collide) */
    ldm_exec_free(er);
  }
  ldm_exec_free(e);
  ldm_graph_free(&g);
}
END_TEST

#undef REFUSES
typedef struct { int t8, tf, idx, of, lab, ol; } gather_probe;
static gather_probe gather_probe_inputs(ldm_graph *g) {
  gather_probe in = {ldm_tensor_new(g, "images", LDM_ARENA_CONST, LDM_U8, 2, S(5, 7)),
                     ldm_tensor_new(g, "latents", LDM_ARENA_CONST, LDM_F32, 2, S(5, 7)),
                     ldm_tensor_new(g, "idx", LDM_ARENA_HOST, LDM_U32, 1, S(9)),
                     ldm_act(g, "of", 2, S(9, 7)),
                     ldm_tensor_new(g, "labels", LDM_ARENA_CONST, LDM_U32, 1, S(5)),
                     ldm_tensor_new(g, "ol", LDM_ARENA_HOST, LDM_U32, 1, S(9))};
  return in;
}
#define REFUSES(call, ...) GC_REFUSES(gather_probe, gather_probe_inputs, call, __VA_ARGS__)
START_TEST(gather_rows_u8_and_f32) {
  enum { V = 5, R = 7, B = 9 };
  ldm_graph g;
  ck_assert_int_eq(ldm_graph_init(&g), LDM_OK);
  int t8 = ldm_tensor_new(&g, "images", LDM_ARENA_CONST, LDM_U8, 2, S(V, R));
  int tf = ldm_tensor_new(&g, "latents", LDM_ARENA_CONST, LDM_F32, 2, S(V, R));
  int idx = ldm_tensor_new(&g, "idx", LDM_ARENA_HOST, LDM_U32, 1, S(B));
  int o8 = ldm_act(&g, "o8", 2, S(B, R)), of = ldm_act(&g, "of", 2, S(B, R));
  ldm_keep(&g, o8);
  ldm_keep(&g, of);
  ck_assert_int_ge(ldm_gather_rows(&g, t8, idx, o8, R, 2.0f / 255.0f, -1.0f), 0);
  ck_assert_int_ge(ldm_gather_rows(&g, tf, idx, of, R, 2.0f / 255.0f, -1.0f), 0);
  int lab = ldm_tensor_new(&g, "labels", LDM_ARENA_CONST, LDM_U32, 1, S(V));
  int ol = ldm_tensor_new(&g, "ol", LDM_ARENA_HOST, LDM_U32, 1, S(B));
  ck_assert_int_ge(ldm_gather_rows(&g, lab, idx, ol, 1, 1.0f, 0.0f), 0); /* u32 words copied */
  REFUSES(ldm_gather_rows(&g, in.tf, in.idx, in.of, 6, 1, 0), NULL);
  REFUSES(ldm_gather_rows(&g, in.lab, in.idx, in.of, 1, 1, 0), "of"); /* u32 table into f32 rows */
  REFUSES(ldm_gather_rows(&g, in.t8, in.idx, in.ol, R, 1, 0), NULL);
  ck_assert_int_eq(ldm_graph_plan(&g), LDM_OK);
  ldm_exec *e;
  ck_assert_int_eq(ldm_exec_cpu(&g, &e), LDM_OK);
  uint8_t bytes[V * R];
  float fl[V * R];
  for (int i = 0; i < V * R; i++) {
    bytes[i] = (uint8_t)(i * 37 + 11);
    fl[i] = (float)i * 0.5f - 3;
  }
  bytes[0] = 0, bytes[1] = 255;
  ck_assert_int_eq(ldm_exec_write(e, t8, bytes, sizeof bytes), LDM_OK);
  ck_assert_int_eq(ldm_exec_write(e, tf, fl, sizeof fl), LDM_OK);
  uint32_t *iv = ldm_exec_host_ptr(e, idx);
  uint32_t ids[B] = {0, 4, 4, 2, 0, 1, 3, 3, 7 /* past the table: last row */};
  memcpy(iv, ids, sizeof ids);
  uint32_t labs[V] = {3, 0, 0xffffffffu, 9, 10};
  ck_assert_int_eq(ldm_exec_write(e, lab, labs, sizeof labs), LDM_OK);
  ldm_exec *er = ref_run_copy(e);
  ck_assert_int_eq(ldm_exec_run(e), LDM_OK);
  float a[B * R], b[B * R], ra[B * R], rb[B * R];
  ck_assert_int_eq(ldm_exec_read(e, o8, a, sizeof a), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(e, of, b, sizeof b), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(er, o8, ra, sizeof ra), LDM_OK);
  ck_assert_int_eq(ldm_exec_read(er, of, rb, sizeof rb), LDM_OK);
  for (int i = 0; i < B * R; i++) {
    ck_assert_float_eq_tol(a[i], ra[i], 1e-6);
    ck_assert_float_eq(b[i], rb[i]); /* f32 rows: copied */
  }
  const uint32_t *lo = ldm_exec_host_ptr(e, ol), *rlo = ldm_exec_host_ptr(er, ol);
  for (int i = 0; i < B; i++) ck_assert_uint_eq(lo[i], rlo[i]);
  /* known answers: bytes 0 and 255 land on -1 and 1; index 7 reads the last row (label 10) */
  ck_assert_float_eq(a[0], -1.0f);
  ck_assert_float_eq_tol(a[1], 1.0f, 1e-6);
  ck_assert_uint_eq(lo[B - 1], 10);
  ck_assert_float_eq(b[(B - 1) * R], fl[(V - 1) * R]);
  ldm_exec_free(er);
  ldm_exec_free(e);
  ldm_graph_free(&g);
}
END_TEST

#undef REFUSES
typedef struct { int x0, n, abar, t3, st, small; } diffusion_probe;
static diffusion_probe diffusion_probe_inputs(ldm_graph *g) {
  diffusion_probe in = {ldm_act(g, "x0", 2, S(4, 8)),
                        ldm_act(g, "noise", 2, S(4, 8)),
                        ldm_act(g, "abar", 1, S(10)),
                        ldm_tensor_new(g, "t3", LDM_ARENA_HOST, LDM_U32, 1, S(3)),
                        ldm_host(g, "step", LDM_U32, LDM_STEP_WORDS),
                        ldm_host(g, "small", LDM_U32, 4)};
  return in;
}
#define REFUSES(call, ...) GC_REFUSES(diffusion_probe, diffusion_probe_inputs, call, __VA_ARGS__)
START_TEST(builder_errors_name_tensors) {
  REFUSES(ldm_q_sample(&g, in.x0, in.n, in.abar, in.t3), "x0", "t3");
  REFUSES(ldm_q_sample(&g, in.x0, in.n, in.abar, in.abar), NULL); /* f32 timesteps */
  REFUSES(ldm_cfg_combine(&g, ldm_act(&g, "odd", 2, S(3, 2)), 2.0f), "odd");
  REFUSES(ldm_kl_loss(&g, in.x0, in.abar), NULL);
  REFUSES(ldm_clamp(&g, in.x0, 1.0f, -1.0f), NULL);
  REFUSES(ldm_weighted_mse(&g, in.x0, in.n, in.abar), NULL);
  REFUSES(ldm_sampler_step(&g, in.x0, in.n, in.x0, in.x0, in.x0, in.n, ldm_host(&g, "coef4", LDM_F32, 4), 0), "coef4");
  REFUSES(ldm_sampler_step(&g, in.x0, in.abar, in.x0, in.x0, in.x0, in.n, ldm_host(&g, "coef", LDM_F32, 32), 0), "abar");
  REFUSES(ldm_inpaint_blend(&g, in.x0, in.n, in.abar, in.n, in.n, ldm_host(&g, "coef", LDM_F32, 32), 0), "abar");
  REFUSES(ldm_cfg_rescale(&g, in.x0, in.x0, 0.5f), NULL);
  REFUSES(ldm_gauss_mix_denoise(&g, in.x0, in.abar, ldm_host(&g, "coef", LDM_F32, 32), 0, 0), NULL);
  REFUSES(ldm_grad_norm_clip(&g, in.x0, in.st, ldm_host(&g, "gs2", LDM_F32, 2)), NULL);
  REFUSES(ldm_min_snr_weight(&g, in.abar, in.t3, 0.0f, 0), NULL);
}
END_TEST
#undef REFUSES

static void add_tests(TCase *tc) {
  tcase_add_test(tc, schedule_linear_matches_double_loop);
  tcase_add_test(tc, schedule_scaled_linear_and_cosine);
  tcase_add_test(tc, schedule_zero_terminal_snr);
  tcase_add_test(tc, schedule_underflow_stays_finite);
  tcase_add_test(tc, schedule_errors_and_names);
  tcase_add_test(tc, ddim_timesteps);
  tcase_add_test(tc, grad_vae_ops);
  tcase_add_test(tc, grad_diffusion_ops);
  tcase_add_test(tc, cfg_and_min_snr);
  tcase_add_test(tc, grad_norm_clip_coefficient);
  tcase_add_test(tc, adamw_gs_and_ema);
  tcase_add_test(tc, randint_and_label_dropout);
  tcase_add_test(tc, gather_rows_u8_and_f32);
  tcase_add_test(tc, builder_errors_name_tensors);
}

int main(void) { return gc_run_suite("ops-diffusion", "diffusion", 300, add_tests); }
