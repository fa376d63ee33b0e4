/* Reference of the convolution family (ops/conv.h): direct loops over every output element. */
#include "ops/conv.h"
#include "ref/ref.h"
#include "ref/ref_util.h"

/* x[n][ci] at output pixel (oh, ow), tap (kh, kw): 0 in the zero padding */
static double x_at(const float *x, const ldm_pc_conv2d *p, uint64_t nn, uint64_t ci, uint64_t oh, uint64_t ow,
                   uint64_t kh, uint64_t kw) {
  int64_t h = (int64_t)(oh * p->stride + kh) - p->pad, w = (int64_t)(ow * p->stride + kw) - p->pad;
  if (h < 0 || w < 0 || h >= (int64_t)p->H || w >= (int64_t)p->W) return 0.0;
  return x[((nn * p->Cin + ci) * p->H + (uint64_t)h) * p->W + (uint64_t)w];
}

/* y[n][co][oh][ow] (+)= ((bias[co] + sum_{ci, kh, kw} w[co][ci][kh][kw] x[n][ci][oh s + kh - pad][ow s + kw - pad])
 *                       + chan[n][co]) + res[n][co][oh][ow].
 * in: x [N, Cin, H, W], w [Cout, Cin, k, k], bias [Cout] (if p->bias), chan [N, Cout] (if p->chan), res
 * [N, Cout, Ho, Wo] (if p->res); out: y [N, Cout, Ho, Wo] */
void ldm_ref_conv2d(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_conv2d);
  const float *x = RF(0), *w = RF(1), *bias = RF(2), *chan = RF(3), *res = RF(4);
  const uint64_t k = p->k;
  for (uint64_t nn = 0; nn < p->N; nn++)
    for (uint64_t co = 0; co < p->Cout; co++)
      for (uint64_t oh = 0; oh < p->Ho; oh++)
        for (uint64_t ow = 0; ow < p->Wo; ow++) {
          double s = p->bias ? bias[co] : 0.0;
          for (uint64_t ci = 0; ci < p->Cin; ci++)
            for (uint64_t kh = 0; kh < k; kh++)
              for (uint64_t kw = 0; kw < k; kw++)
                s += w[((co * p->Cin + ci) * k + kh) * k + kw] * x_at(x, p, nn, ci, oh, ow, kh, kw);
          uint64_t yi = ((nn * p->Cout + co) * p->Ho + oh) * p->Wo + ow;
          if (p->chan) s += chan[nn * p->Cout + co];
          if (p->res) s += res[yi];
          ref_store(&RF(5)[yi], p->accumulate, s);
        }
}

/* dx (+)= the transpose of the forward map applied to dy: dx[n][ci][h][w] = sum over (co, kh, kw, oh, ow)
 * with oh s + kh - pad = h, ow s + kw - pad = w of w[co][ci][kh][kw] dy[n][co][oh][ow].
 * in: dy [N, Cout, Ho, Wo], w; out: dx [N, Cin, H, W] */
void ldm_ref_conv2d_backward_data(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_conv2d);
  const float *dy = RF(0), *w = RF(1);
  const int64_t k = p->k, s = p->stride, pad = p->pad;
  for (uint64_t nn = 0; nn < p->N; nn++)
    for (uint64_t ci = 0; ci < p->Cin; ci++)
      for (int64_t h = 0; h < (int64_t)p->H; h++)
        for (int64_t x = 0; x < (int64_t)p->W; x++) {
          double acc = 0;
          for (uint64_t co = 0; co < p->Cout; co++)
            for (int64_t kh = 0; kh < k; kh++)
              for (int64_t kw = 0; kw < k; kw++) {
                int64_t th = h + pad - kh, tw = x + pad - kw; /* = oh s, ow s */
                if (th < 0 || tw < 0 || th % s || tw % s || th / s >= (int64_t)p->Ho || tw / s >= (int64_t)p->Wo)
                  continue;
                acc += (double)w[((co * p->Cin + ci) * (uint64_t)k + (uint64_t)kh) * (uint64_t)k + (uint64_t)kw] *
                       dy[((nn * p->Cout + co) * p->Ho + (uint64_t)(th / s)) * p->Wo + (uint64_t)(tw / s)];
              }
          ref_store(&RF(2)[((nn * p->Cin + ci) * p->H + (uint64_t)h) * p->W + (uint64_t)x], p->accumulate, acc);
        }
}

/* The output pixels q = (n Ho + oh) Wo + ow split into `splits` consecutive ranges of split_len; split sp
 * writes out[sp][co][ci][kh][kw] (+)= sum over its pixels of dy[n][co][oh][ow] x[n][ci][oh s + kh - pad][ow s + kw - pad].
 * in: dy [N, Cout, Ho, Wo], x [N, Cin, H, W]; out [splits, Cout, Cin k k] */
void ldm_ref_conv2d_backward_weight(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_conv2d);
  const float *dy = RF(0), *x = RF(1);
  const uint64_t k = p->k, P = (uint64_t)p->Ho * p->Wo, Kd = (uint64_t)p->Cin * k * k;
  const uint64_t len = p->split_len ? p->split_len : (uint64_t)p->N * P;
  for (uint64_t sp = 0; sp < p->splits; sp++)
    for (uint64_t co = 0; co < p->Cout; co++)
      for (uint64_t ci = 0; ci < p->Cin; ci++)
        for (uint64_t kh = 0; kh < k; kh++)
          for (uint64_t kw = 0; kw < k; kw++) {
            double s = 0;
            for (uint64_t q = sp * len; q < (sp + 1) * len && q < (uint64_t)p->N * P; q++) {
              uint64_t nn = q / P, oh = q % P / p->Wo, ow = q % p->Wo;
              s += dy[(nn * p->Cout + co) * P + oh * p->Wo + ow] * x_at(x, p, nn, ci, oh, ow, kh, kw);
            }
            ref_store(&RF(2)[(sp * p->Cout + co) * Kd + (ci * k + kh) * k + kw], p->accumulate, s);
          }
}

/* nearest 2x: y[pl][h][w] (+)= x[pl][h / 2][w / 2] over NC planes; x [NC, H, W], y [NC, 2H, 2W] */
void ldm_ref_upsample2x(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_upsample2x);
  const uint64_t H = p->H, W = p->W;
  for (uint64_t pl = 0; pl < p->NC; pl++)
    for (uint64_t h = 0; h < 2 * H; h++)
      for (uint64_t w = 0; w < 2 * W; w++)
        ref_store(&RF(1)[(pl * 2 * H + h) * 2 * W + w], p->accumulate, RF(0)[(pl * H + h / 2) * W + w / 2]);
}

/* dx[pl][h][w] (+)= sum of the 2x2 block dy[pl][2h..2h+1][2w..2w+1]; dy [NC, 2H, 2W], dx [NC, H, W] */
void ldm_ref_upsample2x_backward(const ldm_graph *g, const ldm_node *n, void *const *buf) {
  RPC(ldm_pc_upsample2x);
  const uint64_t H = p->H, W = p->W;
  const float *dy = RF(0);
  for (uint64_t pl = 0; pl < p->NC; pl++)
    for (uint64_t h = 0; h < H; h++)
      for (uint64_t w = 0; w < W; w++) {
        double s = 0;
        for (uint64_t a = 0; a < 2; a++)
          for (uint64_t b = 0; b < 2; b++) s += dy[(pl * 2 * H + 2 * h + a) * 2 * W + 2 * w + b];
        ref_store(&RF(1)[(pl * H + h) * W + w], p->accumulate, s);
      }
}
