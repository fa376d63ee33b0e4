/* Model graphs: the VAE and the class-conditional UNet of shared/reference/ref_ldm.py, built from
 * ldm ops. Parameter names, shapes and layouts equal the twin's state_dict(). */
#ifndef LDM_MODEL_H
#define LDM_MODEL_H
#include "ldm/graph.h"

#define LDM_MAX_LEVELS 4

typedef struct ldm_model_cfg {
  char name[32];
  int cin, res;                   /* image channels and (square) training resolution */
  int vae_ch[LDM_MAX_LEVELS], vae_levels;
  int z;                          /* latent channels */
  int unet_ch[LDM_MAX_LEVELS], unet_levels;
  int attn[LDM_MAX_LEVELS];       /* attention at that UNet level */
  int nres;                       /* ResBlocks per UNet level (down path; up path has nres + 1) */
  int ncls;                       /* classes; the embedding has ncls + 1 rows (last = null) */
  int tdim;                       /* time embedding width (sinusoid has tdim / 2) */
  int heads;
  int crop;                       /* pixels cropped from each side when writing samples (fmnist: 2) */
} ldm_model_cfg;

/* "fmnist", "celeba64", "tiny" (tiny: any data, for tests). */
ldm_status ldm_model_config(const char *name, ldm_model_cfg *out);
int ldm_latent_res(const ldm_model_cfg *c);
/* GroupNorm groups as the twin: min(32, C/4) for C >= 8, else 1 */
int ldm_gn_groups(int c);

/* VAE: x [B, cin, res, res] -> mu, logvar (clamped to [-30, 20]), each [B, z, lr, lr] */
ldm_status ldm_vae_encode(ldm_graph *g, const ldm_model_cfg *c, int x, int *mu, int *logvar);
/* z [B, z, lr, lr] -> x_hat [B, cin, res, res] */
int ldm_vae_decode(ldm_graph *g, const ldm_model_cfg *c, int z);
/* eps-prediction (or v) UNet: x [B, z, lr, lr], t u32 [B], y u32 [B] (ncls = null) */
int ldm_unet(ldm_graph *g, const ldm_model_cfg *c, int x, int t, int y);

/* Number of parameter elements in the graph (for reports and checks against the twin). */
int64_t ldm_param_count(const ldm_graph *g);
/* Host-side initialisation of the PARAM arena image (arena_size bytes) per the tensors' init kinds. */
ldm_status ldm_params_init(const ldm_graph *g, uint64_t seed, void *arena_image);

#endif
