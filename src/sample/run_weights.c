/* The weights files of a run directory, opened and checked for sampling and editing. */
#include <stdio.h>
#include <string.h>

#include "ldm/checkpoint.h"
#include "ldm/train.h"
#include "sample/sampler.h"

ldm_status ldm_run_weights_open(const char *dir, ldm_run_weights *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->upath, sizeof r->upath, "%s/unet.safetensors", dir);
  snprintf(r->vpath, sizeof r->vpath, "%s/vae.safetensors", dir);
  LDM_TRY(ldm_ckpt_name_error(ldm_st_open(r->upath, &r->uf), r->upath));
  ldm_status s = ldm_ckpt_name_error(ldm_st_open(r->vpath, &r->vf), r->vpath);
  /* both files are untrusted: config and schedule are validated (range, finiteness) before use */
  ldm_model_cfg vc;
  if (s == LDM_OK) s = ldm_cfg_from_meta(r->uf, &r->c);
  if (s == LDM_OK) s = ldm_ckpt_read_sched_meta(r->uf, &r->sch);
  if (s == LDM_OK) s = ldm_cfg_from_meta(r->vf, &vc);
  if (s == LDM_OK && !ldm_model_cfg_vae_equal(&r->c, &vc))
    s = LDM_FAIL(LDM_ERR_MISMATCH, "%s: its VAE configuration (config %s) is not the one %s was trained on", r->vpath,
                 vc.name, r->upath);
  r->unet = (ldm_weights){r->uf, NULL, NULL, r->upath};
  r->vae = (ldm_weights){r->vf, NULL, NULL, r->vpath};
  if (s != LDM_OK) ldm_run_weights_close(r);
  return s;
}

void ldm_run_weights_close(ldm_run_weights *r) {
  ldm_st_close(r->uf);
  ldm_st_close(r->vf);
  r->uf = r->vf = NULL;
  r->unet.file = r->vae.file = NULL;
}
