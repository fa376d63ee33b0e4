/* `ldm-vk forward`: run the trained VAE and UNet on inputs from a safetensors file and write the
 * outputs, for cross-checks against the PyTorch twin (tests/interop/) and for debugging. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "ldm/backend.h"
#include "ldm/checkpoint.h"
#include "ldm/io.h"
#include "ldm/train.h"
#include "ldm/vk.h"

typedef struct {
  ldm_graph g;
  ldm_exec *e;
} fwd_graph;

static ldm_status input(fwd_graph *f, const ldm_st_file *in, const char *name, ldm_dtype dt, int ndim,
                        const int64_t *shape, int *t) {
  const ldm_st_tensor *st;
  LDM_TRY(ldm_st_expect(in, name, dt == LDM_F32 ? LDM_DT_F32 : LDM_DT_I32, ndim, shape, &st));
  *t = ldm_tensor_new(&f->g, name, LDM_ARENA_ACT, dt, ndim, shape);
  ldm_keep(&f->g, *t);
  return LDM_OK;
}

static ldm_status write_input(fwd_graph *f, const ldm_st_file *in, const char *name, int t) {
  const ldm_st_tensor *st = ldm_st_find(in, name);
  return ldm_exec_write(f->e, t, st->data, st->nbytes);
}

static ldm_status add_output(ldm_st_writer *w, fwd_graph *f, const char *name, int t) {
  size_t bytes = (size_t)ldm_tensor_bytes(&f->g.t[t]);
  float *buf = ldm_malloc(bytes);
  if (!buf) return LDM_ERR_NOMEM;
  ldm_status s = ldm_exec_read(f->e, t, buf, bytes);
  if (s == LDM_OK) s = ldm_st_writer_add(w, name, LDM_DT_F32, f->g.t[t].ndim, f->g.t[t].shape, buf);
  free(buf);
  return s;
}

static ldm_status run_forward(const ldm_backend *be, const char *ckpt, const char *inpath, const char *outpath) {
  char up[700], vp[700];
  ldm_st_file *uf = NULL, *vf = NULL, *in = NULL;
  snprintf(up, sizeof up, "%s/unet.safetensors", ckpt);
  snprintf(vp, sizeof vp, "%s/vae.safetensors", ckpt);
  LDM_TRY(ldm_ckpt_name_error(ldm_st_open(up, &uf), up));
  ldm_status s = ldm_ckpt_name_error(ldm_st_open(vp, &vf), vp);
  if (s == LDM_OK) s = ldm_ckpt_name_error(ldm_st_open(inpath, &in), inpath);
  /* both checkpoints are untrusted: their configs are validated before anything is built from them,
   * and they must describe the same VAE (the UNet's latents are the VAE's) */
  ldm_model_cfg c, uc;
  if (s == LDM_OK) s = ldm_cfg_from_meta(vf, &c);
  if (s == LDM_OK) s = ldm_cfg_from_meta(uf, &uc);
  ldm_ckpt_sched sch; /* not used here, but a UNet file whose diffusion metadata is broken is refused */
  if (s == LDM_OK) s = ldm_ckpt_read_sched_meta(uf, &sch);
  if (s == LDM_OK && !ldm_model_cfg_vae_equal(&c, &uc))
    s = LDM_FAIL(LDM_ERR_MISMATCH, "%s: its VAE configuration (config %s) is not the one of %s", up, uc.name, vp);
  const ldm_st_tensor *xt = s == LDM_OK ? ldm_st_find(in, "x") : NULL;
  if (s == LDM_OK && !xt) s = LDM_FAIL(LDM_ERR_FORMAT, "%s: no tensor 'x'", inpath);
  if (s == LDM_OK && xt->ndim < 1) s = LDM_FAIL(LDM_ERR_FORMAT, "%s: tensor 'x' is a scalar", inpath);
  int64_t B = s == LDM_OK ? xt->shape[0] : 0;
  int lr = s == LDM_OK ? ldm_latent_res(&c) : 0;
  fwd_graph vg = {0}, ug = {0};
  int x = -1, z = -1, mu = -1, lv = -1, xd = -1, xn = -1, tt = -1, yy = -1, eps = -1;
  /* VAE: encode x, decode z */
  if (s == LDM_OK) s = ldm_graph_init(&vg.g);
  if (s == LDM_OK) s = input(&vg, in, "x", LDM_F32, 4, LDM_SHAPE(B, c.cin, c.res, c.res), &x);
  if (s == LDM_OK) s = input(&vg, in, "z", LDM_F32, 4, LDM_SHAPE(B, c.z, lr, lr), &z);
  if (s == LDM_OK) s = ldm_ckpt_name_error(ldm_vae_encode(&vg.g, &c, x, &mu, &lv), vp);
  if (s == LDM_OK) {
    xd = ldm_vae_decode(&vg.g, &c, z);
    ldm_keep(&vg.g, mu);
    ldm_keep(&vg.g, lv);
    ldm_keep(&vg.g, xd);
    s = ldm_ckpt_name_error(ldm_graph_check(&vg.g, xd), vp);
  }
  if (s == LDM_OK) s = ldm_ckpt_name_error(ldm_graph_plan(&vg.g), vp);
  if (s == LDM_OK) s = ldm_ckpt_name_error(ldm_exec_new(be, &vg.g, &vg.e), vp);
  if (s == LDM_OK) s = ldm_ckpt_name_error(ldm_ckpt_load_arena(vf, vg.e, LDM_ARENA_PARAM, ""), vp);
  if (s == LDM_OK) s = write_input(&vg, in, "x", x);
  if (s == LDM_OK) s = write_input(&vg, in, "z", z);
  if (s == LDM_OK) s = ldm_exec_run(vg.e);
  /* UNet on (xt, t, y) */
  if (s == LDM_OK) s = ldm_graph_init(&ug.g);
  if (s == LDM_OK) s = input(&ug, in, "xt", LDM_F32, 4, LDM_SHAPE(B, uc.z, lr, lr), &xn);
  if (s == LDM_OK) s = input(&ug, in, "t", LDM_U32, 1, LDM_SHAPE(B), &tt);
  if (s == LDM_OK) s = input(&ug, in, "y", LDM_U32, 1, LDM_SHAPE(B), &yy);
  if (s == LDM_OK) {
    eps = ldm_unet(&ug.g, &uc, xn, tt, yy);
    ldm_keep(&ug.g, eps);
    s = ldm_ckpt_name_error(ldm_graph_check(&ug.g, eps), up);
  }
  if (s == LDM_OK) s = ldm_ckpt_name_error(ldm_graph_plan(&ug.g), up);
  if (s == LDM_OK) s = ldm_ckpt_name_error(ldm_exec_new(be, &ug.g, &ug.e), up);
  if (s == LDM_OK) s = ldm_ckpt_name_error(ldm_ckpt_load_arena(uf, ug.e, LDM_ARENA_PARAM, ""), up);
  if (s == LDM_OK) s = write_input(&ug, in, "xt", xn);
  if (s == LDM_OK) s = write_input(&ug, in, "t", tt);
  if (s == LDM_OK) s = write_input(&ug, in, "y", yy);
  if (s == LDM_OK) s = ldm_exec_run(ug.e);
  ldm_st_writer *w = NULL;
  if (s == LDM_OK) s = ldm_st_writer_new(&w);
  if (s == LDM_OK) s = add_output(w, &vg, "mu", mu);
  if (s == LDM_OK) s = add_output(w, &vg, "logvar", lv);
  if (s == LDM_OK) s = add_output(w, &vg, "x_dec", xd);
  if (s == LDM_OK) s = add_output(w, &ug, "eps", eps);
  if (s == LDM_OK) s = ldm_st_write_atomic(w, outpath);
  ldm_st_writer_free(w);
  ldm_exec_free(vg.e);
  ldm_exec_free(ug.e);
  if (vg.g.t) ldm_graph_free(&vg.g);
  if (ug.g.t) ldm_graph_free(&ug.g);
  ldm_st_close(uf);
  ldm_st_close(vf);
  ldm_st_close(in);
  return s;
}

int ldm_cmd_forward(int argc, char **argv) {
  char ckpt[512] = "", inputs[512] = "", out[512] = "", device[32] = "";
  const arg_def defs[] = {
      {"ckpt", ARG_STR, ckpt, sizeof ckpt, "run directory (vae.safetensors, unet.safetensors)", ARG_TEXT},
      {"inputs", ARG_STR, inputs, sizeof inputs, "safetensors with x [B,cin,res,res], z and xt [B,z,h,w], t and y (I32 [B])", ARG_TEXT},
      {"out", ARG_STR, out, sizeof out, "output safetensors: mu, logvar, x_dec, eps", ARG_TEXT},
      {"device", ARG_STR, device, sizeof device, "(default: a GPU if present, else cpu)", ARG_DEVICE},
  };
  int r = ldm_args_parse("forward",
                         "usage: ldm-vk forward --ckpt DIR --inputs IN.safetensors --out OUT.safetensors\n\n"
                         "Runs VAE encode(x), decode(z) and the UNet on (xt, t, y) with the run's weights.",
                         defs, (int)(sizeof defs / sizeof defs[0]), argc, argv);
  if (r) return r == 1 ? 0 : 2;
  if (!ckpt[0] || !inputs[0] || !out[0]) return ldm_cli_usage_error("forward", "--ckpt, --inputs and --out are required");
  ldm_backend be;
  if (ldm_backend_open(device, &be) != LDM_OK) return ldm_cli_error();
  ldm_status s = run_forward(&be, ckpt, inputs, out);
  ldm_backend_close(&be);
  return s == LDM_OK ? 0 : ldm_cli_error();
}
