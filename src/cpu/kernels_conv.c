/* CPU twins of the convolution family: conv2d (forward with fused bias, channel and residual terms, backward-data,
 * backward-weight) and nearest 2x
 * upsample (forward, backward). NCHW activations, weights [Cout, Cin, k, k], exactly PyTorch's Conv2d
 * (cross-correlation, zero padding) and Upsample(scale_factor=2, mode="nearest").
 *
 * Every conv op is an implicit GEMM: no im2col buffer ever exists in full.
 *   forward          Y[co][(n,oh,ow)]  = W[co][(ci,kh,kw)] . col[(ci,kh,kw)][(n,oh,ow)]
 *   backward_data    dx = col2im(W^T . dY)        (GPU: a gather over (co,kh,kw), see conv2d.comp)
 *   backward_weight  dW[co][(ci,kh,kw)] = sum over (n,oh,ow) of dY[co][.] col[(ci,kh,kw)][.]
 * The CPU twin (also the production CPU backend) packs panels of the virtual im2col matrix from a
 * zero-padded copy of the input into thread-local buffers and runs register-blocked vector micro-kernels
 * (forward; backward_data at stride 1 is the forward of dY with the flipped kernel), or, where output rows
 * are whole vector pairs (stride 1, rows of 16 or 32k pixels), reads the padded planes in place;
 * backward_weight reads a channel-last padded input directly; layers with <= 4 output channels use a
 * direct kernel. Work is split into fixed items (sample groups, samples, weight blocks x depth splits) and
 * every sum has a fixed order, so results do not depend on the thread count. Measurements: docs/perf.md.
 * This file: the CPU twins ldm_cpu_<op> (cpu/kernels.h); builders and autodiff: src/ops/conv.c. */
#include "cpu/kernels.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/pool.h"
#include "ldm/log.h"
#include "ops/conv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* Packing copies short rows (4..32 floats); GCC would turn those loops back into memcpy/memset calls. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#define F(i) ((float *)buf[i])
#define PC(type) const type *p = (const type *)n->pc

#include "cpu/conv_ukernels.h" /* VW, NR, uk_outer, uk_dot, ... */

/* Per-thread scratch buffers (ldm_cpu_scratch, src/cpu/pool.c): contents undefined; users initialise what
 * they read. */
enum { SLOT_XP = 4, SLOT_WEIGHTS = 5 }; /* packed weights: the calling thread's buffer, packed by the pool */
static float *scratch(int slot, int64_t nfloats) { return ldm_cpu_scratch(slot, nfloats); }

/* short row copies and clears without library calls (runs are often 4..32 floats) */
static inline void copy_row(float *restrict d, const float *restrict s, int64_t n) {
#if defined(__AVX__)
  if (n == 4) { /* the rows of 4x4 images (one 128-bit move, not a masked 512-bit one) */
    _mm_storeu_ps(d, _mm_loadu_ps(s));
    return;
  }
  if (n == 8) {
    _mm256_storeu_ps(d, _mm256_loadu_ps(s));
    return;
  }
#endif
  int64_t t = 0;
  for (; t + VW <= n; t += VW) vstore(d + t, vload(s + t));
#if defined(__AVX512F__)
  if (t < n) {
    __mmask16 m = (__mmask16)((1u << (n - t)) - 1u);
    _mm512_mask_storeu_ps(d + t, m, _mm512_maskz_loadu_ps(m, s + t));
  }
#else
  for (; t < n; t++) d[t] = s[t];
#endif
}
static inline void zero_row(float *d, int64_t n) {
  int64_t t = 0;
  for (; t + VW <= n; t += VW) vstore(d + t, VSPLAT(0.0f));
#if defined(__AVX512F__)
  if (t < n) _mm512_mask_storeu_ps(d + t, (__mmask16)((1u << (n - t)) - 1u), _mm512_setzero_ps());
#else
  for (; t < n; t++) d[t] = 0.0f;
#endif
}

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* Stride 2: d[t] = s[t * 2] (gather) and d[t * 2] += s[t] (the col2im scatter), t < n. With AVX-512, 16 at a
 * time: two loads and a two-source permute, or an expanding permute and an add masked to the even lanes
 * (the odd ones are stored back as they were). Both touch up to 31 floats past the last one they use: the
 * buffers they run over carry PLANE_SLACK floats after their planes. The same additions, the same bits. */
enum { PLANE_SLACK = 32 };
static inline void gather_s2(float *restrict d, const float *restrict s, int64_t n) {
  int64_t t = 0;
#if defined(__AVX512F__)
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (; t + 16 <= n; t += 16)
    _mm512_storeu_ps(d + t, _mm512_permutex2var_ps(_mm512_loadu_ps(s + 2 * t), even, _mm512_loadu_ps(s + 2 * t + 16)));
  if (t < n)
    _mm512_mask_storeu_ps(d + t, (__mmask16)((1u << (n - t)) - 1u),
                          _mm512_permutex2var_ps(_mm512_loadu_ps(s + 2 * t), even, _mm512_loadu_ps(s + 2 * t + 16)));
#else
  for (; t < n; t++) d[t] = s[t * 2];
#endif
}
static inline void scatter_add_s2(float *restrict d, const float *restrict s, int64_t n) {
  int64_t t = 0;
#if defined(__AVX512F__)
  const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  for (; t < n; t += 16) {
    int64_t m = n - t < 16 ? n - t : 16; /* values t .. t+m-1 go to d[2t], d[2t + 2], ... */
    __m512 v = m == 16 ? _mm512_loadu_ps(s + t) : _mm512_maskz_loadu_ps((__mmask16)((1u << m) - 1u), s + t);
    __mmask16 k0 = (__mmask16)(0x5555u & ((m >= 8 ? 0xFFFFu : (1u << (2 * m)) - 1u)));
    __mmask16 k1 = (__mmask16)(m <= 8 ? 0u : 0x5555u & ((1u << (2 * (m - 8))) - 1u));
    float *p = d + 2 * t;
    _mm512_storeu_ps(p, _mm512_mask_add_ps(_mm512_loadu_ps(p), k0, _mm512_loadu_ps(p), _mm512_permutexvar_ps(lo, v)));
    if (k1)
      _mm512_storeu_ps(p + 16, _mm512_mask_add_ps(_mm512_loadu_ps(p + 16), k1, _mm512_loadu_ps(p + 16),
                                                  _mm512_permutexvar_ps(hi, v)));
  }
#else
  for (; t < n; t++) d[t * 2] += s[t];
#endif
}

/* ================================================================= CPU im2col machinery */
typedef struct {
  int64_t N, Cin, H, W, Cout, Ho, Wo, k, s, pad;
  int64_t KK, Kd, P, Hp, Wp;
} geo;
static geo make_geo(int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t k, int64_t s, int64_t pad) {
  geo G = {N, Cin, H, W, Cout, 0, 0, k, s, pad, k * k, Cin * k * k, 0, H + 2 * pad, W + 2 * pad};
  G.Ho = (G.Hp - k) / s + 1;
  G.Wo = (G.Wp - k) / s + 1;
  G.P = G.Ho * G.Wo;
  return G;
}
static geo geo_of(const ldm_pc_conv2d *p) {
  return make_geo(p->N, p->Cin, p->H, p->W, p->Cout, p->k, p->stride, p->pad);
}

/* Padded planes of narrow images (W < 16, at most PP_CHUNKS x 16 floats) 16 output floats at a time: each
 * chunk of the padded plane holds at most 16 input floats, consecutive in the input (its rows are whole rows
 * or their ends and starts), so one masked load of them and a permute that zeroes the padding lanes write
 * it; the row-by-row loop spent most of its time on 4- and 8-float pieces and the border stores between
 * them. Returns false where it does not apply. */
enum { PP_CHUNKS = 16 };
static bool pad_planes_narrow(const geo *G, const float *x, int64_t C, int64_t n0, int64_t ns, int64_t c0,
                              int64_t nc, float *xp) {
#if defined(__AVX512F__)
  const int64_t H = G->H, W = G->W, pad = G->pad, Wp = G->Wp, HWp = G->Hp * G->Wp;
  if (W >= 16 || pad == 0 || HWp > PP_CHUNKS * 16) return false;
  const int nch = (int)((HWp + 15) / 16);
  int32_t first[PP_CHUNKS], idx[PP_CHUNKS][16];
  __mmask16 lanes[PP_CHUNKS], count[PP_CHUNKS];
  for (int k = 0; k < nch; k++) {
    int n = 0;
    lanes[k] = 0;
    for (int l = 0; l < 16; l++) {
      int64_t q = 16 * k + l, h = q / Wp - pad, w = q % Wp - pad;
      idx[k][l] = 0;
      if (q < HWp && h >= 0 && h < H && w >= 0 && w < W) {
        if (n == 0) first[k] = (int32_t)(h * W + w);
        idx[k][l] = (int32_t)(h * W + w) - first[k];
        lanes[k] |= (__mmask16)(1u << l);
        n++;
      }
    }
    if (n == 0) first[k] = 0;
    count[k] = (__mmask16)((1u << n) - 1u);
  }
  const __mmask16 last = (__mmask16)(HWp % 16 ? (1u << (HWp % 16)) - 1u : 0xffffu);
  __m512i iv[PP_CHUNKS];
  for (int k = 0; k < nch; k++) iv[k] = _mm512_loadu_si512(idx[k]);
  for (int64_t sn = 0; sn < ns; sn++)
    for (int64_t c = 0; c < nc; c++) {
      float *d = xp + (sn * nc + c) * HWp;
      const float *src = x + ((n0 + sn) * C + c0 + c) * H * W;
      for (int k = 0; k < nch; k++) {
        __m512 v = _mm512_maskz_permutexvar_ps(lanes[k], iv[k], _mm512_maskz_loadu_ps(count[k], src + first[k]));
        _mm512_mask_storeu_ps(d + 16 * k, k + 1 < nch ? (__mmask16)0xffffu : last, v);
      }
    }
  return true;
#else
  (void)G, (void)x, (void)C, (void)n0, (void)ns, (void)c0, (void)nc, (void)xp;
  return false;
#endif
}
/* Zero-padded copy of channels [c0, c0+nc) of samples [n0, n0+ns) of x [N][C][H][W] into
 * xp [ns][nc][Hp][Wp]: the im2col packs then read it without bounds checks. */
static void pad_planes(const geo *G, const float *x, int64_t C, int64_t n0, int64_t ns, int64_t c0, int64_t nc,
                       float *xp) {
  const int64_t H = G->H, W = G->W, pad = G->pad, Wp = G->Wp, HWp = G->Hp * G->Wp;
  if (pad_planes_narrow(G, x, C, n0, ns, c0, nc, xp)) return;
  for (int64_t sn = 0; sn < ns; sn++)
    for (int64_t c = 0; c < nc; c++) {
      float *d = xp + (sn * nc + c) * HWp;
      const float *src = x + ((n0 + sn) * C + c0 + c) * H * W;
      zero_row(d, pad * Wp);
      for (int64_t h = 0; h < H; h++) {
        float *row = d + (pad + h) * Wp;
        for (int64_t t = 0; t < pad; t++) row[t] = row[pad + W + t] = 0.0f;
        copy_row(row + pad, src + h * W, W);
      }
      zero_row(d + (pad + H) * Wp, pad * Wp);
    }
}

/* A run of consecutive columns (flattened (n, oh, ow) output pixels) inside one output row; xo: its first
 * tap's offset in padded planes of nch channels from sample n0 ((n - n0) nch Hp Wp + oh s Wp + ow0 s), so
 * that a row (ci, kh, kw) of the im2col reads it at ci Hp Wp + kh Wp + kw + xo. */
typedef struct {
  int64_t n, oh, ow0, ow1, j, xo;
} run_t;
static int make_runs(const geo *G, int64_t c0, int64_t nc, run_t *r, int64_t n0, int64_t nch) {
  int cnt = 0;
  for (int64_t c = c0, end = c0 + nc; c < end;) {
    int64_t n = c / G->P, pix = c % G->P, oh = pix / G->Wo, ow = pix % G->Wo;
    int64_t len = G->Wo - ow < end - c ? G->Wo - ow : end - c;
    int64_t xo = ((n - n0) * nch * G->Hp + oh * G->s) * G->Wp + ow * G->s;
    r[cnt++] = (run_t){n, oh, ow, ow + len, c - c0, xo};
    c += len;
  }
  return cnt;
}

/* Rows [k0, k0+kc) of the virtual im2col matrix (row kk = (ci, kh, kw)) at the columns of `runs`, into
 * dst (row stride ld), read from the padded planes xp the runs were made for (make_runs: samples from its n0,
 * its nch channels from ci0). */
static void pack_im2col(const geo *G, const float *xp, int64_t ci0, const run_t *runs, int nruns, int64_t k0,
                        int64_t kc, float *dst, int64_t ld) {
  const int64_t s = G->s, Wp = G->Wp, HWp = G->Hp * G->Wp;
  for (int64_t r = 0; r < kc; r++) {
    int64_t kk = k0 + r, ci = kk / G->KK - ci0, tap = kk % G->KK, kh = tap / G->k, kw = tap % G->k;
    float *row = dst + r * ld;
    const float *base = xp + ci * HWp + kh * Wp + kw;
    if (s == 1)
      for (int q = 0; q < nruns; q++) copy_row(row + runs[q].j, base + runs[q].xo, runs[q].ow1 - runs[q].ow0);
    else if (s == 2)
      for (int q = 0; q < nruns; q++) gather_s2(row + runs[q].j, base + runs[q].xo, runs[q].ow1 - runs[q].ow0);
    else
      for (int q = 0; q < nruns; q++) {
        const run_t *u = &runs[q];
        const float *src = base + u->xo;
        for (int64_t t = 0; t < u->ow1 - u->ow0; t++) row[u->j + t] = src[t * s];
      }
  }
}

/* pack_im2col for stride-1 images 4 or 8 pixels wide (AVX-512): 16 consecutive columns are 4 (or 2) whole
 * output rows of one sample, whose pixels at one tap lie in a window of 32 floats of the padded plane (rows
 * Wp apart); two loads and one two-source permute gather them, where row copies moved 4 or 8 floats at a
 * time. Needs every run to be a whole row and whole rows per group of 16 (rows16_ok), and 32 readable floats
 * from each group's first tap (the planes carry PLANE_SLACK floats after them). Other targets: not chosen
 * (the plain loop below gathers the same columns). */
static bool rows16_ok(const geo *G) {
#if defined(__AVX512F__)
  if (G->s != 1 || (G->Wo != 4 && G->Wo != 8)) return false;
  int64_t rows = 16 / G->Wo;
  return G->Ho % rows == 0 && (rows - 1) * G->Wp + G->Wo <= 32;
#else
  (void)G;
  return false;
#endif
}
static void pack_im2col_rows16(const geo *G, const float *xp, const run_t *runs, int nruns, int64_t k0, int64_t kc,
                               float *dst, int64_t ld) {
  const int64_t Wp = G->Wp, HWp = G->Hp * G->Wp, rows = 16 / G->Wo;
  int idx[16];
  for (int i = 0; i < 16; i++) idx[i] = (int)((i / G->Wo) * Wp + i % G->Wo);
#if defined(__AVX512F__)
  const __m512i vidx = _mm512_loadu_si512(idx);
#endif
  for (int64_t r = 0, ci = k0 / G->KK, tap = k0 % G->KK; r < kc; r++) {
    const float *base = xp + ci * HWp + (tap / G->k) * Wp + tap % G->k;
    float *row = dst + r * ld;
    for (int q = 0; q < nruns; q += (int)rows) { /* runs[q] starts a group of 16 columns at j = runs[q].j */
      const float *src = base + runs[q].xo;
#if defined(__AVX512F__)
      _mm512_storeu_ps(row + runs[q].j,
                       _mm512_permutex2var_ps(_mm512_loadu_ps(src), vidx, _mm512_loadu_ps(src + 16)));
#else
      for (int i = 0; i < 16; i++) row[runs[q].j + i] = src[idx[i]];
#endif
    }
    if (++tap == G->KK) tap = 0, ci++;
  }
}

/* ================================================================= packed weights */
/* The weights w [Cout][Cin][k][k] in MR-row panels for uk_outer, the panels split over the pool (the calling
 * thread's SLOT_WEIGHTS buffer, written by all): WP_FWD [Mp/MR][Kd][MR] rows co; WP_FLIP (stride-1 backward
 * data) [Mp/MR][Cout x KK][MR] rows ci of the flipped kernel, w'[ci][co][t] = w[co][ci][KK-1-t]; WP_TRANS
 * (other backward data) [Mp/MR][Cout][MR] rows m = (ci, tap). Zero rows past the end. */
enum { WP_FWD, WP_FLIP, WP_TRANS };
typedef struct {
  int mode;
  const geo *G;
  const float *w;
  float *wp;
} wpack_ctx;
static void wpack_panels(void *vc, int64_t b0, int64_t b1) {
  const wpack_ctx *c = vc;
  const geo *G = c->G;
  const float *w = c->w;
  float *wp = c->wp;
  for (int64_t ib = b0; ib < b1; ib++) {
    if (c->mode == WP_FWD) {
      for (int64_t kk = 0; kk < G->Kd; kk++)
        for (int r = 0; r < MR; r++) {
          int64_t co = ib * MR + r;
          wp[(ib * G->Kd + kk) * MR + r] = co < G->Cout ? w[co * G->Kd + kk] : 0.0f;
        }
    } else if (c->mode == WP_FLIP) {
      for (int64_t co = 0; co < G->Cout; co++)
        for (int64_t tap = 0; tap < G->KK; tap++)
          for (int r = 0; r < MR; r++) {
            int64_t ci = ib * MR + r;
            float v = ci < G->Cin ? w[(co * G->Cin + ci) * G->KK + G->KK - 1 - tap] : 0.0f;
            wp[(ib * G->Cout * G->KK + co * G->KK + tap) * MR + r] = v;
          }
    } else {
      for (int64_t co = 0; co < G->Cout; co++)
        for (int r = 0; r < MR; r++) {
          int64_t m = ib * MR + r; /* = ci * KK + tap */
          wp[(ib * G->Cout + co) * MR + r] = m < G->Kd ? w[co * G->Kd + m] : 0.0f;
        }
    }
  }
}
static void pack_weights(int mode, const geo *G, const float *w, float *wp, int64_t Mp) {
  wpack_ctx c = {mode, G, w, wp};
  ldm_parallel_for(Mp / MR, 2, wpack_panels, &c);
}

/* ================================================================= conv2d forward */
/* Items are groups of whole samples (about FWD_NC output pixels, at least one sample), and where those
 * number fewer than twice the threads (a small batch of small images) also ranges of output channels: pad
 * their input, then per block of FWD_NC columns pack K-slabs of im2col rows and run the outer-product
 * kernel over the item's output channels. Each output is the same sum in the same order however the items
 * fall. Also serves backward-data at stride 1 (a stride-1 convolution of dy). */
enum { FWD_NC = 4 * NR, FWD_KC = 256 };

typedef struct {
  geo G;
  const float *x, *bias; /* bias may be NULL */
  float *y;
  const float *chan, *res; /* the fused epilogue's [N, Cout] and [N, Cout, Ho, Wo] terms, NULL when absent */
  const float *wp;       /* [Mp/MR][Kd][MR] */
  int64_t Mp, spi;       /* padded output channels, samples per item */
  int64_t mparts;        /* ranges of the Mp / MR channel blocks per sample group (items = groups x mparts) */
  int accumulate;
} fwd_ctx;

/* The epilogue of one output row segment: d[t] = y[n][co][off + t] (+)= ((s[t] + bias) + chan) + res, the
 * order of shaders/conv2d.comp's conv_store; without chan and res the plain loops of the bias alone. */
static void fwd_store(const fwd_ctx *c, float *restrict d, const float *restrict s, int64_t len, int64_t n,
                      int64_t co, int64_t off) {
  const geo *G = &c->G;
  float bv = c->bias ? c->bias[co] : 0.0f;
  if (!c->chan && !c->res) {
    if (c->accumulate)
      for (int64_t t = 0; t < len; t++) d[t] += s[t] + bv;
    else
      for (int64_t t = 0; t < len; t++) d[t] = s[t] + bv;
    return;
  }
  float cv = c->chan ? c->chan[n * G->Cout + co] : 0.0f;
  const float *r = c->res ? c->res + (n * G->Cout + co) * G->P + off : NULL;
  for (int64_t t = 0; t < len; t++) {
    float v = s[t] + bv;
    if (c->chan) v += cv;
    if (r) v += r[t];
    d[t] = c->accumulate ? d[t] + v : v;
  }
}

/* Item it of a forward: the range [ib0, ib1) of MR-row channel blocks (channels below co1) of the sample group
 * [n0, n0 + ns), and xp, its input planes: padded into buf unless this thread did that for the group already;
 * without padding (1x1 kernels) the input itself, where PLANE_SLACK floats of it follow the group's planes
 * (the copy was a tenth of a 1x1 layer's forward and backward data). */
typedef struct {
  int64_t ib0, ib1, co1, n0, ns;
  const float *xp;
} fwd_item;
static fwd_item fwd_item_start(const fwd_ctx *c, int64_t it, int64_t i0, float *buf) {
  const geo *G = &c->G;
  int64_t sg = it / c->mparts, mp = it % c->mparts, nb = c->Mp / MR;
  fwd_item t = {nb * mp / c->mparts, nb * (mp + 1) / c->mparts, 0, sg * c->spi, 0, buf};
  t.co1 = t.ib1 * MR < G->Cout ? t.ib1 * MR : G->Cout;
  t.ns = G->N - t.n0 < c->spi ? G->N - t.n0 : c->spi;
  const int64_t plane = G->Cin * G->H * G->W;
  if (G->pad == 0 && (G->N - t.n0 - t.ns) * plane >= PLANE_SLACK)
    t.xp = c->x + t.n0 * plane;
  else if (mp == 0 || it == i0)
    pad_planes(G, c->x, G->Cin, t.n0, t.ns, 0, G->Cin, buf); /* once per group and thread */
  return t;
}

/* The segment of runs from q on that belong to run q's sample: its offset in the sample's output planes and
 * its length; returns the first run past it. */
static int run_segment(const geo *G, const run_t *runs, int nr, int q, int64_t *off, int64_t *len) {
  const run_t *u = &runs[q];
  int q1 = q + 1;
  *off = u->oh * G->Wo + u->ow0, *len = u->ow1 - u->ow0;
  for (; q1 < nr && runs[q1].n == u->n; q1++) *len += runs[q1].ow1 - runs[q1].ow0;
  return q1;
}

/* The epilogue of a block: channels [co0, co1) of Cb (row stride ldc; column j of run q at runs[q].j) into
 * y; the runs of one sample are consecutive in its output planes, so each sample's go as one segment. */
static void fwd_store_runs(const fwd_ctx *c, const run_t *runs, int nr, const float *Cb, int64_t ldc, int64_t co0,
                           int64_t co1) {
  const geo *G = &c->G;
  for (int q = 0, q1; q < nr; q = q1) {
    const run_t *u = &runs[q];
    int64_t off, len;
    q1 = run_segment(G, runs, nr, q, &off, &len);
    for (int64_t co = co0; co < co1; co++)
      fwd_store(c, c->y + (u->n * G->Cout + co) * G->P + off, Cb + co * ldc + u->j, len, u->n, co, off);
  }
}

/* Before a block's kernel: fetch the lines its epilogue will read (the residual) and write (the outputs).
 * One 32-pixel block of a 32-channel layer touches 64 lines in 32 planes, too many streams for the
 * hardware prefetcher; the loads then missed one after another in the epilogue. Fetched here, they arrive
 * while the kernel runs. A hint only: no value changes. */
static void fwd_prefetch_runs(const fwd_ctx *c, const run_t *runs, int nr, int64_t co0, int64_t co1) {
  const geo *G = &c->G;
  for (int q = 0, q1; q < nr; q = q1) {
    int64_t off, len, n = runs[q].n;
    q1 = run_segment(G, runs, nr, q, &off, &len);
    for (int64_t co = co0; co < co1; co++) {
      int64_t base = (n * G->Cout + co) * G->P + off;
      for (int64_t t = 0; t < len; t += 16) {
        if (c->res) __builtin_prefetch(c->res + base + t, 0, 3);
        __builtin_prefetch(c->y + base + t, 1, 3);
      }
      if (c->res) __builtin_prefetch(c->res + base + len - 1, 0, 3);
      __builtin_prefetch(c->y + base + len - 1, 1, 3);
    }
  }
}

static void fwd_items(void *vc, int64_t i0, int64_t i1) {
  const fwd_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t ldb = FWD_NC + VW; /* padded: the rows of a micro-panel do not alias in L1 */
  float *Bp = scratch(0, FWD_KC * ldb);
  float *Cb = scratch(1, c->Mp * FWD_NC);
  run_t *runs = (run_t *)scratch(2, (int64_t)(FWD_NC + 2) * (int64_t)(sizeof(run_t) / 4));
  const bool r16 = rows16_ok(G);
  const int64_t planes = c->spi * G->Cin * G->Hp * G->Wp;
  float *xp = scratch(3, planes + PLANE_SLACK);
  memset(xp + planes, 0, PLANE_SLACK * sizeof(float)); /* read by the last windows of pack_im2col_rows16, never used */
  for (int64_t it = i0; it < i1; it++) {
    fwd_item t = fwd_item_start(c, it, i0, xp);
    const int64_t ib0 = t.ib0, ib1 = t.ib1, n0 = t.n0, ns = t.ns;
    for (int64_t c0 = n0 * G->P; c0 < (n0 + ns) * G->P; c0 += FWD_NC) {
      int64_t nc = (n0 + ns) * G->P - c0 < FWD_NC ? (n0 + ns) * G->P - c0 : FWD_NC;
      int nr = make_runs(G, c0, nc, runs, n0, G->Cin);
      fwd_prefetch_runs(c, runs, nr, ib0 * MR, t.co1);
      int64_t njr = (nc + NR - 1) / NR;
      for (int64_t k0 = 0; k0 < G->Kd; k0 += FWD_KC) {
        int64_t kc = G->Kd - k0 < FWD_KC ? G->Kd - k0 : FWD_KC;
        if (r16)
          pack_im2col_rows16(G, t.xp, runs, nr, k0, kc, Bp, ldb);
        else
          pack_im2col(G, t.xp, 0, runs, nr, k0, kc, Bp, ldb);
        if (nc < njr * NR) /* columns past the end: finite values for lanes that are discarded */
          for (int64_t r = 0; r < kc; r++) zero_row(Bp + r * ldb + nc, njr * NR - nc);
        for (int64_t jr = 0; jr < njr; jr++)
          for (int64_t ib = ib0; ib < ib1; ib++)
            uk_outer(kc, c->wp + (ib * G->Kd + k0) * MR, Bp + jr * NR, ldb, Cb + ib * MR * FWD_NC + jr * NR, FWD_NC,
                     k0 > 0);
      }
      fwd_store_runs(c, runs, nr, Cb, FWD_NC, ib0 * MR, t.co1);
    }
  }
}

/* Stride 1 with output rows of a multiple of NR pixels, or of VW pixels in pairs (32x32 and 16x16 images
 * with AVX-512): a block of NR output pixels is one piece of a row, or two rows, so its im2col column of
 * depth row (ci, kh, kw) is two vectors of the padded planes at a fixed offset from the block's first
 * pixel. The kernel reads them there (uk_outer_off) instead of from packed panels: no packing, and the
 * planes a block reads (a few rows of each channel) stay in L1 across the output channel panels. The
 * same products summed in the same order as fwd_items, so the same bits. */
static bool fwd_direct_ok(const geo *G) { /* shallow ones (a 1-channel input: depth 9) pack better in wide blocks */
  return G->s == 1 && G->Kd >= 64 && (G->Wo % NR == 0 || (G->Wo == VW && G->Ho % 2 == 0));
}

static void fwd_direct_items(void *vc, int64_t i0, int64_t i1) {
  const fwd_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t HWp = G->Hp * G->Wp;
  float *Cb = scratch(1, c->Mp * NR);
  run_t *runs = (run_t *)scratch(2, 4 * (int64_t)(sizeof(run_t) / 4));
  float *xp = scratch(3, c->spi * G->Cin * HWp);
  int64_t *koff = (int64_t *)scratch(0, 2 * G->Kd);
  for (int64_t kk = 0, ci = 0, kh = 0, kw = 0; kk < G->Kd; kk++) { /* (ci, kh, kw) in order */
    koff[kk] = ci * HWp + kh * G->Wp + kw;
    if (++kw == G->k) kw = 0, kh++;
    if (kh == G->k) kh = 0, ci++;
  }
  for (int64_t it = i0; it < i1; it++) {
    fwd_item t = fwd_item_start(c, it, i0, xp);
    for (int64_t c0 = t.n0 * G->P; c0 < (t.n0 + t.ns) * G->P; c0 += NR) {
      int nr = make_runs(G, c0, NR, runs, t.n0, G->Cin);
      fwd_prefetch_runs(c, runs, nr, t.ib0 * MR, t.co1);
      const float *b0 = t.xp + runs[0].xo, *b1 = nr == 1 ? b0 + VW : t.xp + runs[1].xo;
      for (int64_t ib = t.ib0; ib < t.ib1; ib++)
        uk_outer_off(G->Kd, c->wp + ib * G->Kd * MR, b0, b1, koff, Cb + ib * MR * NR, NR);
      fwd_store_runs(c, runs, nr, Cb, NR, t.ib0 * MR, t.co1);
    }
  }
}

/* Stride 1 and at most 4 output channels (image/latent output layers, and the data gradient of layers
 * with few input channels): packing would cost more than the arithmetic. Direct convolution in the
 * padded domain instead: q = oh*Wp + ow over padded-width rows (the columns ow >= Wo are computed and
 * dropped), and per block of NV_S vectors of q the shifted input rows of every (ci, kh, kw) times the
 * broadcast weights, summed in (ci, kh, kw) order. Items are samples. */
#if VW == 16
#define NV_SMALL(co) ((co) <= 2 ? 8 : 4)
#else
#define NV_SMALL(co) ((co) <= 2 ? 4 : 2)
#endif
#define DEF_FWD_SMALL(CO)                                                                                        \
  static void fwd_small_##CO(const fwd_ctx *c, const float *xp, int64_t n) {                                   \
    enum { NVS = NV_SMALL(CO) };                                                                               \
    const geo *G = &c->G;                                                                                      \
    const int64_t HWp = G->Hp * G->Wp, Q = G->Ho * G->Wp;                                                      \
    int64_t oh = 0, ow = 0; /* output position of q0 */                                                        \
    for (int64_t q0 = 0; q0 < Q; q0 += NVS * VW) {                                                             \
      vf acc[CO][NVS];                                                                                         \
      for (int o = 0; o < CO; o++)                                                                             \
        for (int v = 0; v < NVS; v++) acc[o][v] = VSPLAT(0.0f);                                                \
      for (int64_t ci = 0; ci < G->Cin; ci++)                                                                  \
        for (int64_t kh = 0; kh < G->k; kh++)                                                                  \
          for (int64_t kw = 0; kw < G->k; kw++) {                                                              \
            const float *src = xp + ci * HWp + kh * G->Wp + kw + q0;                                           \
            const float *wv = c->wp + ((ci * G->k + kh) * G->k + kw) * MR;                                     \
            vf xv[NVS];                                                                                        \
            for (int v = 0; v < NVS; v++) xv[v] = vload(src + v * VW);                                         \
            for (int o = 0; o < CO; o++) {                                                                     \
              vf a = VSPLAT(wv[o]);                                                                            \
              for (int v = 0; v < NVS; v++) acc[o][v] = VFMA(a, xv[v], acc[o][v]);                             \
            }                                                                                                  \
          }                                                                                                    \
      int64_t nq = Q - q0 < NVS * VW ? Q - q0 : NVS * VW, oh1 = oh, ow1 = ow;                                  \
      for (int o = 0; o < CO; o++) {                                                                           \
        float t[NVS * VW];                                                                                     \
        for (int v = 0; v < NVS; v++) vstore(t + v * VW, acc[o][v]);                                           \
        float *yo = c->y + (n * G->Cout + o) * G->P;                                                           \
        oh1 = oh, ow1 = ow;                                                                                    \
        for (int64_t i = 0; i < nq; i++) {                                                                     \
          if (ow1 < G->Wo) fwd_store(c, yo + oh1 * G->Wo + ow1, t + i, 1, n, o, oh1 * G->Wo + ow1);            \
          if (++ow1 == G->Wp) ow1 = 0, oh1++;                                                                  \
        }                                                                                                      \
      }                                                                                                        \
      oh = oh1, ow = ow1;                                                                                      \
    }                                                                                                          \
  }
DEF_FWD_SMALL(1)
DEF_FWD_SMALL(2)
DEF_FWD_SMALL(3)
DEF_FWD_SMALL(4)

static void fwd_small_items(void *vc, int64_t n0, int64_t n1) {
  const fwd_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t planes = G->Cin * G->Hp * G->Wp, slack = 8 * VW + G->k + G->Wp;
  float *xp = scratch(3, planes + slack);
  zero_row(xp + planes, slack); /* read (times weights) only by dropped columns */
  for (int64_t n = n0; n < n1; n++) {
    pad_planes(G, c->x, G->Cin, n, 1, 0, G->Cin, xp);
    switch (G->Cout) {
    case 1: fwd_small_1(c, xp, n); break;
    case 2: fwd_small_2(c, xp, n); break;
    case 3: fwd_small_3(c, xp, n); break;
    default: fwd_small_4(c, xp, n); break;
    }
  }
}

static void fwd_run(fwd_ctx *c) {
  if (c->G.s == 1 && c->G.Cout <= 4) {
    ldm_parallel_for(c->G.N, 1, fwd_small_items, c);
    return;
  }
  c->spi = FWD_NC / c->G.P > 1 ? FWD_NC / c->G.P : 1;
  int64_t groups = (c->G.N + c->spi - 1) / c->spi, nb = c->Mp / MR, want = 2 * (int64_t)ldm_cpu_threads();
  c->mparts = groups >= want ? 1 : (want + groups - 1) / groups;
  if (c->mparts > nb) c->mparts = nb;
  ldm_parallel_for(groups * c->mparts, 1, fwd_direct_ok(&c->G) ? fwd_direct_items : fwd_items, c);
}

void ldm_cpu_conv2d(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_conv2d);
  fwd_ctx c = {geo_of(p), F(0), p->bias ? F(2) : NULL, F(5), p->chan ? F(3) : NULL, p->res ? F(4) : NULL,
               NULL, 0, 0, 1, (int)p->accumulate};
  const geo *G = &c.G;
  const float *w = F(1);
  c.Mp = round_up(G->Cout, MR);
  float *wp = scratch(SLOT_WEIGHTS, c.Mp * G->Kd);
  pack_weights(WP_FWD, G, w, wp, c.Mp);
  c.wp = wp;
  fwd_run(&c);
}

/* ================================================================= conv2d backward-data */
/* Stride 1 (pad <= k-1): dx is the stride-1 convolution of dy padded by k-1-pad with the flipped,
 * transposed kernel w'[ci][co][kh][kw] = w[co][ci][k-1-kh][k-1-kw]: the forward machinery as is.
 * Other strides: per sample dcol[(ci,kh,kw)][pix] = W^T . dY[n] in column blocks, scattered (col2im)
 * into a padded local dx in a fixed order; items are whole samples. */
enum { BD_NC = 4 * NR };

typedef struct {
  geo G;
  const ldm_pc_conv2d *p;
  const float *dy;
  float *dx;
  const float *wtp; /* [Mp/MR][Cout][MR], rows m = (ci, kh, kw) */
  int64_t Mp;
} bd_ctx;

static void bd_samples(void *vc, int64_t s0, int64_t s1) {
  const bd_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t ldb = BD_NC + VW, HW = G->H * G->W, HWp = G->Hp * G->Wp;
  float *Bp = scratch(0, G->Cout * ldb);
  float *Cb = scratch(1, c->Mp * BD_NC);
  float *dxp = scratch(3, G->Cin * HWp + PLANE_SLACK);
  memset(dxp + G->Cin * HWp, 0, PLANE_SLACK * sizeof(float)); /* touched (and kept) by scatter_add_s2 only */
  run_t *runs = (run_t *)scratch(2, (int64_t)(BD_NC + 2) * (int64_t)(sizeof(run_t) / 4));
  for (int64_t n = s0; n < s1; n++) {
    for (int64_t i = 0; i < G->Cin * HWp; i += HWp) zero_row(dxp + i, HWp);
    for (int64_t pc0 = 0; pc0 < G->P; pc0 += BD_NC) {
      int64_t nc = G->P - pc0 < BD_NC ? G->P - pc0 : BD_NC;
      int nr = make_runs(G, n * G->P + pc0, nc, runs, n, G->Cin); /* col2im: xo unused */
      int64_t njr = (nc + NR - 1) / NR;
      for (int64_t co = 0; co < G->Cout; co++) {
        copy_row(Bp + co * ldb, c->dy + (n * G->Cout + co) * G->P + pc0, nc);
        zero_row(Bp + co * ldb + nc, njr * NR - nc);
      }
      for (int64_t jr = 0; jr < njr; jr++)
        for (int64_t ib = 0; ib < c->Mp / MR; ib++)
          uk_outer(G->Cout, c->wtp + ib * G->Cout * MR, Bp + jr * NR, ldb, Cb + ib * MR * BD_NC + jr * NR, BD_NC, 0);
      /* col2im: row m = (ci, kh, kw) adds into dxp[ci][oh*s + kh][ow*s + kw] (padded coordinates) */
      for (int64_t m = 0; m < G->Kd; m++) {
        int64_t ci = m / G->KK, tap = m % G->KK, kh = tap / G->k, kw = tap % G->k;
        const float *row = Cb + m * BD_NC;
        for (int q = 0; q < nr; q++) {
          const run_t *u = &runs[q];
          float *d = dxp + ci * HWp + (u->oh * G->s + kh) * G->Wp + kw + u->ow0 * G->s;
          const float *sv = row + u->j;
          if (G->s == 2)
            scatter_add_s2(d, sv, u->ow1 - u->ow0);
          else
            for (int64_t t = 0; t < u->ow1 - u->ow0; t++) d[t * G->s] += sv[t];
        }
      }
    }
    float *o = c->dx + n * G->Cin * HW;
    for (int64_t ci = 0; ci < G->Cin; ci++)
      for (int64_t h = 0; h < G->H; h++) {
        const float *sv = dxp + ci * HWp + (h + G->pad) * G->Wp + G->pad;
        float *d = o + (ci * G->H + h) * G->W;
        if (c->p->accumulate)
          for (int64_t t = 0; t < G->W; t++) d[t] += sv[t];
        else
          copy_row(d, sv, G->W);
      }
  }
}

void ldm_cpu_conv2d_backward_data(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_conv2d);
  const geo G = geo_of(p);
  const float *w = F(1);
  if (G.s == 1 && G.pad <= G.k - 1) {
    fwd_ctx c = {make_geo(G.N, G.Cout, G.Ho, G.Wo, G.Cin, G.k, 1, G.k - 1 - G.pad), F(0), NULL, F(2), NULL, NULL,
                 NULL, 0, 0, 1, (int)p->accumulate};
    c.Mp = round_up(G.Cin, MR);
    float *wp = scratch(SLOT_WEIGHTS, c.Mp * c.G.Kd);
    pack_weights(WP_FLIP, &G, w, wp, c.Mp);
    c.wp = wp;
    fwd_run(&c);
    return;
  }
  bd_ctx c = {G, p, F(0), F(2), NULL, 0};
  c.Mp = round_up(G.Kd, MR);
  float *wtp = scratch(SLOT_WEIGHTS, c.Mp * G.Cout);
  pack_weights(WP_TRANS, &G, w, wtp, c.Mp);
  c.wtp = wtp;
  ldm_parallel_for(G.N, 1, bd_samples, &c);
}

/* ================================================================= conv2d backward-weight */
/* Items = (split, block of output channels, block of im2col rows). Each walks its split's output pixels
 * in fixed chunks: dY rows and im2col rows are packed along the pixel axis and reduced by the dot kernel
 * into per-element vector partial sums, which are summed lane by lane at the end. */
enum { BW_CB = 64, BW_MB = 48, BW_DC = 1024 };

typedef struct {
  geo G;
  const ldm_pc_conv2d *p;
  const float *dy, *x;
  float *out;
  int64_t ncb, nmb;
} bw_ctx;

static void bw_items(void *vc, int64_t i0, int64_t i1) {
  const bw_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t ld = BW_DC + VW, HWp = G->Hp * G->Wp;
  const int64_t max_ns = (BW_DC + G->P - 1) / G->P + 1, max_nci = (BW_MB + G->KK - 1) / G->KK + 1;
  float *Ap = scratch(0, BW_CB * ld);
  float *Bp = scratch(1, BW_MB * ld);
  float *acc = scratch(3, BW_CB * BW_MB * VW);
  run_t *runs = (run_t *)scratch(2, (int64_t)(BW_DC + 2) * (int64_t)(sizeof(run_t) / 4));
  float *xpad = scratch(SLOT_XP, max_ns * max_nci * HWp + PLANE_SLACK);
  memset(xpad + max_ns * max_nci * HWp, 0, PLANE_SLACK * sizeof(float)); /* read (never used) by gather_s2 */
  const int64_t D = G->N * G->P;
  for (int64_t it = i0; it < i1; it++) {
    int64_t split = it / (c->ncb * c->nmb), rest = it % (c->ncb * c->nmb);
    int64_t co0 = rest / c->nmb * BW_CB, m0 = rest % c->nmb * BW_MB;
    int64_t cn = G->Cout - co0 < BW_CB ? G->Cout - co0 : BW_CB, mn = G->Kd - m0 < BW_MB ? G->Kd - m0 : BW_MB;
    int64_t cnp = round_up(cn, DI), mnp = round_up(mn, DJ);
    int64_t ci0 = m0 / G->KK, nci = (m0 + mn - 1) / G->KK - ci0 + 1;
    int64_t d0 = split * c->p->split_len, d1 = d0 + c->p->split_len < D ? d0 + c->p->split_len : D;
    for (int64_t i = 0; i < cnp * BW_MB; i++) vstore(acc + i * VW, VSPLAT(0.0f));
    /* equal chunks of at most BW_DC pixels (multiples of VW but the last) */
    int64_t nch = (d1 - d0 + BW_DC - 1) / BW_DC, chunk = round_up((d1 - d0 + nch - 1) / (nch > 0 ? nch : 1), VW);
    for (int64_t dc0 = d0; dc0 < d1; dc0 += chunk) {
      int64_t dn = d1 - dc0 < chunk ? d1 - dc0 : chunk, dnp = round_up(dn, VW);
      /* dY rows: per sample a contiguous piece of each channel */
      for (int64_t cc = dc0; cc < dc0 + dn;) {
        int64_t n = cc / G->P, pix = cc % G->P;
        int64_t len = G->P - pix < dc0 + dn - cc ? G->P - pix : dc0 + dn - cc;
        for (int64_t co = 0; co < cn; co++)
          copy_row(Ap + co * ld + (cc - dc0), c->dy + (n * G->Cout + co0 + co) * G->P + pix, len);
        cc += len;
      }
      /* im2col rows from the padded input of the chunk's samples */
      int64_t n0 = dc0 / G->P, ns = (dc0 + dn - 1) / G->P - n0 + 1;
      pad_planes(G, c->x, G->Cin, n0, ns, ci0, nci, xpad);
      int nr = make_runs(G, dc0, dn, runs, n0, nci);
      pack_im2col(G, xpad, ci0, runs, nr, m0, mn, Bp, ld);
      /* pixels past the chunk and padding rows: zeros (padding rows' sums are discarded) */
      for (int64_t co = 0; co < cn; co++) zero_row(Ap + co * ld + dn, dnp - dn);
      for (int64_t m = 0; m < mn; m++) zero_row(Bp + m * ld + dn, dnp - dn);
      for (int64_t co = cn; co < cnp; co++) zero_row(Ap + co * ld, dnp);
      for (int64_t m = mn; m < mnp; m++) zero_row(Bp + m * ld, dnp);
      for (int64_t i = 0; i < cnp; i += DI)
        for (int64_t j = 0; j < mnp; j += DJ)
          uk_dot(dnp / VW, Ap + i * ld, ld, Bp + j * ld, ld, acc + (i * BW_MB + j) * VW, BW_MB);
    }
    float *o = c->out + split * G->Cout * G->Kd;
    for (int64_t co = 0; co < cn; co++)
      for (int64_t mg = 0; mg < mn; mg += 16) { /* acc rows past mnp are zero */
        float sums[16];
        hsum16(acc + (co * BW_MB + mg) * VW, sums);
        float *d = o + (co0 + co) * G->Kd + m0 + mg;
        for (int64_t m = 0; m < 16 && mg + m < mn; m++) d[m] = c->p->accumulate ? d[m] + sums[m] : sums[m];
      }
  }
}

/* Channel-last path (inputs with many channels): items = (split, block of output channels, chunk of NR
 * input channels). The chunk's input is padded into channel-last planes xpc[n][hp][wp][NR], so the
 * im2col column of an output pixel at tap (kh, kw) is NR contiguous floats: the outer-product kernel
 * reads them through a per-pixel offset table, and only dY is transposed (into [pixel][MR] panels).
 * C[co][(tap, ci)] accumulates over the split's pixels in fixed chunks and order. */
enum { BWC_CB = 64, BWC_DC = 256 };

/* d[j KK + tap] (+)= src[tap NR + j]: a block's accumulators ([tap][channel] in Cacc) into its output row
 * ([channel][tap]); inlined with KK a constant where the caller gives one */
static inline void bwc_write_taps(float *restrict d, const float *restrict src, int64_t cin, int64_t KK, int acc) {
  for (int64_t j = 0; j < cin; j++)
    for (int64_t tap = 0; tap < KK; tap++) {
      float v = src[tap * NR + j];
      d[j * KK + tap] = acc ? d[j * KK + tap] + v : v;
    }
}

static void bwc_items(void *vc, int64_t i0, int64_t i1) {
  const bw_ctx *c = vc;
  const geo *G = &c->G;
  const int64_t HWp = G->Hp * G->Wp, ldc = (G->KK + TAPS_1) * NR, D = G->N * G->P; /* slack: tap groups */
  const int64_t max_ns = (BWC_DC + G->P - 1) / G->P + 1;
  float *At = scratch(0, (BWC_CB + MR) * BWC_DC);
  float *Cacc = scratch(1, (BWC_CB + MR) * ldc); /* ceil(cn / R) panels of R rows: up to BWC_CB + MR - 1 rows */
  int64_t *boff = (int64_t *)scratch(2, 2 * BWC_DC);
  float *xpc = scratch(SLOT_XP, max_ns * HWp * NR);
  /* padded planes of whole 16-pixel blocks: pixel p's place in the channel-last padded plane */
  int64_t *poff = NULL;
  if (G->pad > 0 && G->H * G->W % 16 == 0) {
    poff = (int64_t *)scratch(3, 2 * G->H * G->W);
    for (int64_t q = 0; q < G->H * G->W; q++) poff[q] = (q / G->W * G->Wp + q % G->W) * NR;
  }
  for (int64_t it = i0; it < i1; it++) {
    int64_t split = it / (c->ncb * c->nmb), rest = it % (c->ncb * c->nmb);
    int64_t co0 = rest / c->nmb * BWC_CB, ci0 = rest % c->nmb * NR;
    int64_t cn = G->Cout - co0 < BWC_CB ? G->Cout - co0 : BWC_CB, cin = G->Cin - ci0 < NR ? G->Cin - ci0 : NR;
    /* rows per panel: MR, or fewer for layers with few output channels (then taps go in groups) */
    const int R = cn >= MR ? MR : cn > 2 ? 4 : (int)cn, T = R == MR ? 1 : R == 4 ? TAPS_4 : R == 2 ? TAPS_2 : TAPS_1;
    int64_t ncp = (cn + R - 1) / R;
    int64_t d0 = split * c->p->split_len, d1 = d0 + c->p->split_len < D ? d0 + c->p->split_len : D;
    /* the columns the tap groups touch (a partial last group's too): the rest of each row is never read */
    const int64_t cw = (G->KK + T - 1) / T * T * NR;
    for (int64_t i = 0; i < ncp * R; i++) zero_row(Cacc + i * ldc, cw);
    int64_t cached = -1; /* the sample in xpc when samples are larger than a chunk */
    for (int64_t dc0 = d0, dn; dc0 < d1; dc0 += dn) {
      /* chunks of whole samples when they fit (each sample transposed once), else pieces of one sample */
      int64_t end = G->P <= BWC_DC ? (dc0 + BWC_DC) / G->P * G->P : (dc0 / G->P + 1) * G->P;
      if (G->P > BWC_DC && end > dc0 + BWC_DC) end = dc0 + BWC_DC;
      dn = (end < d1 ? end : d1) - dc0;
      int64_t n0 = dc0 / G->P, ns = (dc0 + dn - 1) / G->P - n0 + 1;
      if (!(ns == 1 && n0 == cached)) {
        cached = G->P > BWC_DC ? n0 : -1;
        /* channel-last padded input of the chunk's samples (channels past cin and borders are zero; without
         * either, the transposes below write every element) */
        if (G->pad > 0 || cin < NR)
          for (int64_t i = 0; i < ns * HWp; i++) zero_row(xpc + i * NR, NR);
        for (int64_t sn = 0; sn < ns; sn++) {
          const float *xs = c->x + ((n0 + sn) * G->Cin + ci0) * G->H * G->W;
          float *xd = xpc + (sn * HWp + G->pad * G->Wp + G->pad) * NR;
          /* unpadded planes (1x1 kernels) are one row of H W pixels, so that small images move in whole blocks;
           * padded ones whose planes are whole blocks of 16 pixels go in those, each pixel to its padded place
           * (poff), where rows of 4 or 8 went one at a time through the scalar remainder */
          const int64_t rows = G->pad == 0 ? 1 : G->H, rlen = G->pad == 0 ? G->H * G->W : G->W, HW = G->H * G->W;
          int64_t j = 0;
          if (poff)
            for (; j + 8 <= cin; j += 8)
              for (int64_t p0 = 0; p0 < HW; p0 += 16) tr8x16_at(xs + j * HW + p0, HW, xd + j, poff + p0);
          for (; j + 8 <= cin; j += 8) /* 8 channels x 16 pixels at a time */
            for (int64_t h = 0; h < rows; h++)
              tr8(xs + j * HW + h * rlen, HW, xd + h * G->Wp * NR + j, NR, rlen);
          for (; j < cin; j++) {
            const float *src = xs + j * G->H * G->W;
            float *dst = xd + j;
            for (int64_t h = 0; h < G->H; h++)
              for (int64_t w = 0; w < G->W; w++) dst[(h * G->Wp + w) * NR] = src[h * G->W + w];
          }
        }
      }
      /* pixel offsets and the transposed dY panels At[cp][t][R] */
      for (int64_t cc = dc0; cc < dc0 + dn;) {
        int64_t n = cc / G->P, pix = cc % G->P, len = G->P - pix < dc0 + dn - cc ? G->P - pix : dc0 + dn - cc;
        for (int64_t t = 0; t < len; t++) {
          int64_t oh = (pix + t) / G->Wo, ow = (pix + t) % G->Wo;
          boff[cc - dc0 + t] = ((n - n0) * HWp + oh * G->s * G->Wp + ow * G->s) * NR;
        }
        for (int64_t cp = 0; cp < ncp; cp++) {
          if (R == 8 && cp * R + R <= cn) { /* a whole panel of 8 rows: 16 pixels at a time */
            tr8(c->dy + (n * G->Cout + co0 + cp * R) * G->P + pix, G->P, At + (cp * dn + (cc - dc0)) * R, R, len);
            continue;
          }
          for (int r = 0; r < R; r++) {
            int64_t co = cp * R + r;
            float *dst = At + (cp * dn + (cc - dc0)) * R + r;
            if (co < cn) {
              const float *src = c->dy + (n * G->Cout + co0 + co) * G->P + pix;
              for (int64_t t = 0; t < len; t++) dst[t * R] = src[t];
            } else {
              for (int64_t t = 0; t < len; t++) dst[t * R] = 0.0f;
            }
          }
        }
        cc += len;
      }
      for (int64_t t0 = 0; t0 < G->KK; t0 += T) {
        int64_t toff[TAPS_1];
        for (int j = 0; j < T; j++) { /* a partial last group repeats its last tap into unused columns */
          int64_t tap = t0 + j < G->KK ? t0 + j : G->KK - 1;
          toff[j] = ((tap / G->k) * G->Wp + tap % G->k) * NR;
        }
        for (int64_t cp = 0; cp < ncp; cp++) {
          const float *Ac = At + cp * dn * R;
          float *Cc = Cacc + cp * R * ldc + t0 * NR;
          switch (R) {
          case 1: uk_taps_1(dn, Ac, xpc, boff, toff, Cc, ldc); break;
          case 2: uk_taps_2(dn, Ac, xpc, boff, toff, Cc, ldc); break;
          case 4: uk_taps_4(dn, Ac, xpc, boff, toff, Cc, ldc); break;
          default: uk_outer_rows(dn, Ac, xpc + toff[0], boff, Cc, ldc); break;
          }
        }
      }
    }
    float *o = c->out + split * G->Cout * G->Kd;
    for (int64_t co = 0; co < cn; co++) { /* row co's (j, tap) are contiguous in the output */
      const float *src = Cacc + co * ldc;
      float *d = o + ((co0 + co) * G->Cin + ci0) * G->KK;
      if (G->KK == 1) {
        if (c->p->accumulate)
          for (int64_t j = 0; j < cin; j++) d[j] += src[j];
        else
          copy_row(d, src, cin);
        continue;
      }
      if (G->KK == 9) /* 3x3: the tap loop unrolled (9 iterations per j mispredicted its exit every time) */
        bwc_write_taps(d, src, cin, 9, c->p->accumulate);
      else
        bwc_write_taps(d, src, cin, G->KK, c->p->accumulate);
    }
  }
}

void ldm_cpu_conv2d_backward_weight(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  PC(ldm_pc_conv2d);
  bw_ctx c = {geo_of(p), p, F(0), F(1), F(2), 0, 0};
  if (c.G.Cin % NR == 0 || c.G.Cin > 2 * NR) { /* channel-last path, at most a third of its lanes idle */
    c.ncb = (c.G.Cout + BWC_CB - 1) / BWC_CB;
    c.nmb = (c.G.Cin + NR - 1) / NR;
    ldm_parallel_for((int64_t)p->splits * c.ncb * c.nmb, 1, bwc_items, &c);
    return;
  }
  c.ncb = (c.G.Cout + BW_CB - 1) / BW_CB;
  c.nmb = (c.G.Kd + BW_MB - 1) / BW_MB;
  ldm_parallel_for((int64_t)p->splits * c.ncb * c.nmb, 1, bw_items, &c);
}

/* ================================================================= upsample2x */
typedef struct {
  const ldm_pc_upsample2x *p;
  const float *in;
  float *out;
} up_ctx;

static void up_planes(void *vc, int64_t a, int64_t b) {
  const up_ctx *c = vc;
  int64_t H = c->p->H, W = c->p->W;
  for (int64_t pl = a; pl < b; pl++) {
    const float *x = c->in + pl * H * W;
    float *y = c->out + pl * 4 * H * W;
    for (int64_t h = 0; h < H; h++) {
      float *r0 = y + 2 * h * 2 * W, *r1 = r0 + 2 * W;
      const float *xr = x + h * W;
      if (c->p->accumulate)
        for (int64_t w = 0; w < W; w++) {
          r0[2 * w] += xr[w];
          r0[2 * w + 1] += xr[w];
          r1[2 * w] += xr[w];
          r1[2 * w + 1] += xr[w];
        }
      else {
        for (int64_t w = 0; w < W; w++) r0[2 * w] = r0[2 * w + 1] = xr[w];
        memcpy(r1, r0, (size_t)(2 * W) * 4);
      }
    }
  }
}
void ldm_cpu_upsample2x(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  up_ctx c = {(const ldm_pc_upsample2x *)n->pc, F(0), F(1)};
  ldm_parallel_for(c.p->NC, 4, up_planes, &c);
}

/* dx[h][w] (+)= ((dy[2h][2w] + dy[2h][2w+1]) + dy[2h+1][2w]) + dy[2h+1][2w+1] (the shader's order) */
static void up_back_planes(void *vc, int64_t a, int64_t b) {
  const up_ctx *c = vc;
  int64_t H = c->p->H, W = c->p->W;
  for (int64_t pl = a; pl < b; pl++) {
    const float *dy = c->in + pl * 4 * H * W;
    float *dx = c->out + pl * H * W;
    for (int64_t h = 0; h < H; h++) {
      const float *r0 = dy + 2 * h * 2 * W, *r1 = r0 + 2 * W;
      float *d = dx + h * W;
      for (int64_t w = 0; w < W; w++) {
        float s = r0[2 * w] + r0[2 * w + 1];
        s += r1[2 * w];
        s += r1[2 * w + 1];
        d[w] = c->p->accumulate ? d[w] + s : s;
      }
    }
  }
}
void ldm_cpu_upsample2x_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  up_ctx c = {(const ldm_pc_upsample2x *)n->pc, F(0), F(1)};
  ldm_parallel_for(c.p->NC, 4, up_back_planes, &c);
}
