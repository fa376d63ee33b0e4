/* VAE and UNet graph builders mirroring the PyTorch modules of python/ldm_vk/models.py module for module. */
#include "ldm/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldm/ops.h"
#include "ldm/rng.h"
#include "core/ops.h"
#include "ldm_ops_pc.h"

ldm_status ldm_model_config(const char *name, ldm_model_cfg *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->name, sizeof o->name, "%s", name);
  o->z = 4;
  o->nres = 2;
  o->ncls = 10;
  o->tdim = 256;
  o->heads = 4;
  if (strcmp(name, "fmnist") == 0) {
    o->cin = 1, o->res = 32, o->crop = 2;
    o->vae_levels = 3, o->vae_ch[0] = 32, o->vae_ch[1] = 64, o->vae_ch[2] = 128;
    o->unet_levels = 2, o->unet_ch[0] = 64, o->unet_ch[1] = 128, o->attn[1] = 1;
  } else if (strcmp(name, "celeba64") == 0) {
    o->cin = 3, o->res = 64;
    o->vae_levels = 3, o->vae_ch[0] = 64, o->vae_ch[1] = 128, o->vae_ch[2] = 256;
    o->unet_levels = 2, o->unet_ch[0] = 128, o->unet_ch[1] = 256, o->attn[1] = 1;
  } else if (strcmp(name, "tiny") == 0) {
    /* the smallest model that still has every block type: 2 VAE levels, attention, skips */
    o->cin = 1, o->res = 16, o->crop = 0;
    o->vae_levels = 2, o->vae_ch[0] = 8, o->vae_ch[1] = 16;
    o->unet_levels = 2, o->unet_ch[0] = 16, o->unet_ch[1] = 32, o->attn[1] = 1;
    o->nres = 1, o->tdim = 32; /* heads stay 4: the twin's Attn always has 4 heads */
  } else {
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "--config %s: unknown config (fmnist, celeba64 or tiny)", name);
  }
  return LDM_OK;
}

int ldm_latent_res(const ldm_model_cfg *c) { return c->res >> (c->vae_levels - 1); }
/* The graph builders refuse a configuration they cannot build (defence in depth: a config read from a
 * file is validated when it is read, but nothing here may overflow whatever it is given). Every builder
 * below is a chain of graph builders without checks: a refusal makes the rest of the chain append nothing
 * and return LDM_NONE (see "Errors" in ldm/graph.h). */
static bool cfg_check(ldm_graph *g, const ldm_model_cfg *c, const char *who) {
  char why[200];
  if (ldm_model_cfg_valid(c, why, sizeof why)) return true;
  LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "%s: invalid model configuration: %s", who, why);
  return false;
}

/* ---------------------------------------------------------------- parameter helpers */

static int param(ldm_graph *g, const char *prefix, const char *name, int ndim, const int64_t *shape, int init,
                 int64_t fan_in) {
  char full[LDM_NAME_MAX];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  int t = ldm_param(g, full, ndim, shape);
  /* a refused parameter fails the graph here: an optional bias of LDM_NONE would read as "no bias" */
  if (ldm_graph_check(g, t) != LDM_OK) return LDM_NONE;
  g->t[t].init_kind = init;
  g->t[t].fan_in = fan_in;
  return t;
}

/* the parameters of nn.Conv2d(cin, cout, k) named prefix.weight / prefix.bias (ids into *w, *b) */
static void conv_params(ldm_graph *g, const char *prefix, int cin, int cout, int k, int *w, int *b) {
  char p[LDM_NAME_MAX];
  snprintf(p, sizeof p, "%s.", prefix);
  int64_t fan = (int64_t)cin * k * k;
  *w = param(g, p, "weight", 4, LDM_SHAPE(cout, cin, k, k), LDM_INIT_UNIFORM_FAN_IN, fan);
  *b = param(g, p, "bias", 1, LDM_SHAPE(cout), LDM_INIT_UNIFORM_FAN_IN, fan);
}

/* nn.Conv2d(cin, cout, k, stride, padding) */
static int conv(ldm_graph *g, const char *prefix, int x, int cin, int cout, int k, int stride, int pad) {
  int w, b;
  conv_params(g, prefix, cin, cout, k, &w, &b);
  return ldm_conv2d(g, x, w, b, stride, pad);
}

/* nn.Linear(in, out), followed by an activation of the GEMM's epilogue (act LDM_GEMM_ACT_*) */
static int linear_act(ldm_graph *g, const char *prefix, int x, int in, int out, int act) {
  char p[LDM_NAME_MAX];
  snprintf(p, sizeof p, "%s.", prefix);
  int w = param(g, p, "weight", 2, LDM_SHAPE(out, in), LDM_INIT_UNIFORM_FAN_IN, in);
  int b = param(g, p, "bias", 1, LDM_SHAPE(out), LDM_INIT_UNIFORM_FAN_IN, in);
  return ldm_linear_act(g, x, w, b, act);
}
static int linear(ldm_graph *g, const char *prefix, int x, int in, int out) {
  return linear_act(g, prefix, x, in, out, LDM_GEMM_ACT_NONE);
}

/* nn.GroupNorm(groups, c) by op: ldm_group_norm, or ldm_group_norm_silu for silu(GroupNorm(x)) as one op
 * (the same parameters) */
typedef int (*gn_builder)(ldm_graph *g, int x, int gamma, int beta, int groups, float eps);
static int gnorm_op(ldm_graph *g, const char *prefix, int x, int c, gn_builder op) {
  char p[LDM_NAME_MAX];
  snprintf(p, sizeof p, "%s.", prefix);
  int w = param(g, p, "weight", 1, LDM_SHAPE(c), LDM_INIT_ONES, 0);
  int b = param(g, p, "bias", 1, LDM_SHAPE(c), LDM_INIT_ZEROS, 0);
  return op(g, x, w, b, ldm_gn_groups(c), 1e-5f);
}
static int gnorm(ldm_graph *g, const char *prefix, int x, int c) { return gnorm_op(g, prefix, x, c, ldm_group_norm); }
static int gnorm_silu(ldm_graph *g, const char *prefix, int x, int c) {
  return gnorm_op(g, prefix, x, c, ldm_group_norm_silu);
}

/* "<prefix>.<name>" into n */
static const char *sub(char *n, const char *prefix, const char *name) {
  snprintf(n, LDM_NAME_MAX, "%s.%s", prefix, name);
  return n;
}

/* ResBlock(cin, cout, tdim): h = c1(silu(n1(x))) + t(silu_temb); h = c2(silu(n2(h))) + skip(x).
 * silu_temb is silu(temb) [B, tdim] computed once by the caller; tdim 0: no time embedding (VAE).
 * Both adds are the convolutions' fused epilogues (ldm_conv2d_ex): c1 adds the time-embedding projection
 * per sample and channel, c2 the skip (x itself, or the 1x1 skip convolution, which runs first so that it
 * can share a barrier level with n2). The parameters are made in the module's order (c1, t, n2, c2, skip). */
static int resblock(ldm_graph *g, const char *prefix, int x, int cin, int cout, int silu_temb, int tdim) {
  LDM_INPUTS(g, x);
  char n[LDM_NAME_MAX];
  int w, b;
  int h = gnorm_silu(g, sub(n, prefix, "n1"), x, cin);
  conv_params(g, sub(n, prefix, "c1"), cin, cout, 3, &w, &b);
  int e = tdim > 0 ? linear(g, sub(n, prefix, "t"), silu_temb, tdim, cout) : LDM_NONE; /* [B, cout] */
  h = ldm_conv2d_ex(g, h, w, b, LDM_NONE, e, 1, 1);
  h = gnorm_silu(g, sub(n, prefix, "n2"), h, cout);
  conv_params(g, sub(n, prefix, "c2"), cout, cout, 3, &w, &b);
  int s = cin != cout ? conv(g, sub(n, prefix, "skip"), x, cin, cout, 1, 1, 0) : x;
  return ldm_conv2d_ex(g, h, w, b, s, LDM_NONE, 1, 1);
}

/* Attn(c, heads): x + o(attention(qkv(n(x)))), the residual add fused into o */
static int attn(ldm_graph *g, const char *prefix, int x, int c, int heads) {
  char n[LDM_NAME_MAX];
  int h = gnorm(g, sub(n, prefix, "n"), x, c);
  h = conv(g, sub(n, prefix, "qkv"), h, c, 3 * c, 1, 1, 0);
  h = ldm_attention_core(g, h, heads);
  int w, b;
  conv_params(g, sub(n, prefix, "o"), c, c, 1, &w, &b);
  return ldm_conv2d_ex(g, h, w, b, x, LDM_NONE, 1, 0);
}

/* ---------------------------------------------------------------- VAE */

ldm_status ldm_vae_encode(ldm_graph *g, const ldm_model_cfg *c, int x, int *mu, int *logvar) {
  *mu = *logvar = LDM_NONE;
  if (!cfg_check(g, c, "VAE encoder")) return LDM_ERR_INVALID_ARG;
  char n[LDM_NAME_MAX];
  int h = conv(g, "ein", x, c->cin, c->vae_ch[0], 3, 1, 1);
  int idx = 0;
  for (int i = 0; i < c->vae_levels; i++) {
    snprintf(n, sizeof n, "enc.%d", idx++);
    h = resblock(g, n, h, c->vae_ch[i], c->vae_ch[i], -1, 0);
    if (i + 1 < c->vae_levels) { /* downsample */
      snprintf(n, sizeof n, "enc.%d", idx++);
      h = conv(g, n, h, c->vae_ch[i], c->vae_ch[i + 1], 3, 2, 1);
    }
  }
  int top = c->vae_ch[c->vae_levels - 1];
  h = conv(g, "eout.2", gnorm_silu(g, "eout.0", h, top), top, 2 * c->z, 3, 1, 1);
  int parts[2] = {LDM_NONE, LDM_NONE};
  ldm_split(g, h, 2, parts);
  *mu = parts[0];
  *logvar = ldm_clamp(g, parts[1], -30.0f, 20.0f);
  ldm_graph_check(g, *mu);
  return ldm_graph_check(g, *logvar);
}

int ldm_vae_decode(ldm_graph *g, const ldm_model_cfg *c, int z) {
  if (!cfg_check(g, c, "VAE decoder")) return LDM_NONE;
  char n[LDM_NAME_MAX];
  int L = c->vae_levels;
  int h = conv(g, "din", z, c->z, c->vae_ch[L - 1], 3, 1, 1);
  int idx = 0;
  for (int i = 0; i < L; i++) {
    int ch = c->vae_ch[L - 1 - i];
    snprintf(n, sizeof n, "dec.%d", idx++);
    h = resblock(g, n, h, ch, ch, -1, 0);
    if (i + 1 < L) {
      idx++; /* dec.<idx> is the parameter-free nn.Upsample */
      h = ldm_upsample2x(g, h);
      snprintf(n, sizeof n, "dec.%d", idx++);
      h = conv(g, n, h, ch, c->vae_ch[L - 2 - i], 3, 1, 1);
    }
  }
  h = gnorm_silu(g, "dout.0", h, c->vae_ch[0]);
  return conv(g, "dout.2", h, c->vae_ch[0], c->cin, 3, 1, 1);
}

/* ---------------------------------------------------------------- UNet */

int ldm_unet(ldm_graph *g, const ldm_model_cfg *c, int x, int t, int y) {
  if (!cfg_check(g, c, "UNet")) return LDM_NONE;
  char n[LDM_NAME_MAX];
  int td = c->tdim;
  /* time and class embedding: temb = Linear(SiLU(Linear(sinusoid(t)))) + cemb(y); the inner SiLU is the
   * first GEMM's epilogue (docs/perf.md "Change 9"): its two outputs, silu(z) and the pre-activation z, are
   * the two tensors the unfused linear and silu made, so the parameters' init streams are unchanged */
  int e = linear_act(g, "temb.0", ldm_timestep_embedding(g, t, td / 2), td / 2, td, LDM_GEMM_ACT_SILU);
  e = linear(g, "temb.2", e, td, td);
  int ctab = param(g, "", "cemb.weight", 2, LDM_SHAPE(c->ncls + 1, td), LDM_INIT_NORMAL, 0);
  e = ldm_add(g, e, ldm_embedding(g, ctab, y));
  int se = ldm_silu(g, e); /* every ResBlock applies silu to the same embedding: computed once */

  /* levels * (nres + 1) skips at most (cfg_check bounds levels and nres); the pushes below are checked
   * against the array size all the same */
  int hs[LDM_UNET_MAX_SKIPS], skipc[LDM_UNET_MAX_SKIPS], nh = 0;
  int h = conv(g, "cin", x, c->z, c->unet_ch[0], 3, 1, 1);
  hs[nh] = h, skipc[nh++] = c->unet_ch[0];
  int ch = c->unet_ch[0], di = 0;
  for (int i = 0; i < c->unet_levels; i++) {
    int co = c->unet_ch[i];
    for (int r = 0; r < c->nres; r++) {
      snprintf(n, sizeof n, "down.%d.0", di);
      h = resblock(g, n, h, ch, co, se, td);
      if (c->attn[i]) {
        snprintf(n, sizeof n, "down.%d.1", di);
        h = attn(g, n, h, co, c->heads);
      }
      di++;
      ch = co;
      if (nh >= LDM_UNET_MAX_SKIPS) return LDM_REFUSE(g, LDM_ERR_INTERNAL, "UNet: more skips than the builder holds");
      hs[nh] = h, skipc[nh++] = ch;
    }
    if (i + 1 < c->unet_levels) { /* downsample */
      snprintf(n, sizeof n, "down.%d", di++);
      h = conv(g, n, h, ch, ch, 3, 2, 1);
      if (nh >= LDM_UNET_MAX_SKIPS) return LDM_REFUSE(g, LDM_ERR_INTERNAL, "UNet: more skips than the builder holds");
      hs[nh] = h, skipc[nh++] = ch;
    }
  }
  h = resblock(g, "mid.0", h, ch, ch, se, td);
  h = attn(g, "mid.1", h, ch, c->heads);
  h = resblock(g, "mid.2", h, ch, ch, se, td);
  int ui = 0;
  for (int i = c->unet_levels - 1; i >= 0; i--) {
    int co = c->unet_ch[i];
    for (int r = 0; r < c->nres + 1; r++) {
      if (nh < 1) return LDM_REFUSE(g, LDM_ERR_INTERNAL, "UNet: the up path has more blocks than skips");
      nh--;
      snprintf(n, sizeof n, "up.%d.0", ui);
      h = resblock(g, n, ldm_concat(g, h, hs[nh]), ch + skipc[nh], co, se, td);
      if (c->attn[i]) {
        snprintf(n, sizeof n, "up.%d.1", ui);
        h = attn(g, n, h, co, c->heads);
      }
      ch = co;
      ui++;
    }
    if (i > 0) { /* upsample */
      snprintf(n, sizeof n, "up.%d.1", ui++);
      h = conv(g, n, ldm_upsample2x(g, h), ch, ch, 3, 1, 1);
    }
  }
  h = gnorm_silu(g, "out.0", h, ch);
  return conv(g, "out.2", h, ch, c->z, 3, 1, 1);
}

/* ---------------------------------------------------------------- init */

int64_t ldm_param_count(const ldm_graph *g) {
  int64_t n = 0;
  for (int i = 0; i < g->nt; i++)
    if (g->t[i].arena == LDM_ARENA_PARAM && g->t[i].view_of == -1) n += g->t[i].numel;
  return n;
}

ldm_status ldm_params_init(const ldm_graph *g, uint64_t seed, void *image) {
  if (!g->planned) return LDM_FAIL(LDM_ERR_INTERNAL, "params_init before plan");
  /* fused[i]: how many tensors more the unfused model had below tensor i (a difference array first). A
   * group_norm_silu: one (the pair's second output) above its output. A conv2d with a fused epilogue: the
   * unfused model had the convolution's output right after its parameters (before the tensors of what
   * computes its res/chan terms, which the fused model must build first), then one add output per term
   * and, for chan, the map it was broadcast into. */
  int *fused = calloc((size_t)g->nt + 2, sizeof *fused);
  if (!fused) return LDM_FAIL(LDM_ERR_NOMEM, "params_init: out of host memory");
  for (int k = 0; k < g->nn; k++) {
    const ldm_node *nd = &g->n[k];
    if (nd->op == LDM_OP_group_norm_silu) fused[nd->out[0] + 1]++;
    /* the fused attention: O and P where the composition had q, k, v, the scores, P and O */
    if (nd->op == LDM_OP_attention) fused[(nd->out[0] > nd->out[1] ? nd->out[0] : nd->out[1]) + 1] += 4;
    if (nd->op != LDM_OP_conv2d) continue;
    const ldm_pc_conv2d *pc = (const ldm_pc_conv2d *)nd->pc;
    if (!pc->chan && !pc->res) continue;
    int y = nd->out[0], last = pc->bias ? nd->in[2] : nd->in[1];
    if (last < y) fused[last + 1]++, fused[y]--;
    fused[y + 1] += (int)pc->res + 2 * (int)pc->chan;
  }
  /* a split convolution's scratch outputs (workspace, counters) are tensors the model did not have before
   * split-K: one fewer above each */
  for (int i = 0; i < g->nt; i++)
    if (g->t[i].scratch) fused[i + 1]--;
  for (int i = 1; i <= g->nt; i++) fused[i] += fused[i - 1];
  for (int i = 0; i < g->nt; i++) {
    const ldm_tensor *t = &g->t[i];
    if (t->arena != LDM_ARENA_PARAM || t->view_of != -1) continue;
    float *p = (float *)((uint8_t *)image + t->offset);
    /* one Philox stream per parameter, keyed by its position in the model, where a group_norm_silu counts
     * as the group_norm and silu it replaces (one tensor more) and scratch tensors do not count: a seed
     * gives the initial weights it gave before the models fused the pair (docs/perf.md) */
    uint64_t stream = 0x1000u + (uint64_t)i + (uint64_t)fused[i];
    switch (t->init_kind) {
    case LDM_INIT_ONES:
      for (int64_t k = 0; k < t->numel; k++) p[k] = 1.0f;
      break;
    case LDM_INIT_ZEROS:
      memset(p, 0, (size_t)t->numel * 4);
      break;
    case LDM_INIT_NORMAL:
      for (int64_t b = 0; b < (t->numel + 3) / 4; b++) {
        float v[4];
        ldm_rng_normal4(seed, stream, 0, (uint64_t)b, v);
        for (int k = 0; k < 4 && 4 * b + k < t->numel; k++) p[4 * b + k] = v[k];
      }
      break;
    default: {
      float bound = t->fan_in > 0 ? 1.0f / sqrtf((float)t->fan_in) : 0.0f;
      for (int64_t k = 0; k < t->numel; k++)
        p[k] = bound * (2.0f * ldm_u32_to_unit(ldm_rng_u32(seed, stream, 0, (uint64_t)k)) - 1.0f);
    }
    }
  }
  free(fused);
  return LDM_OK;
}
