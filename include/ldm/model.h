/* Model graphs: the VAE and the class-conditional UNet of python/ldm_vk/models.py (docs/design.md), built from
 * ldm ops. Parameter names, shapes and layouts equal the twin's state_dict(). */
#ifndef LDM_MODEL_H
#define LDM_MODEL_H
#include "ldm/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LDM_MAX_LEVELS 4
/* Bounds of a model configuration (ldm_model_cfg_valid); anything outside is refused by the graph
 * builders and by the checkpoint metadata reader (ldm_cfg_from_meta). */
#define LDM_MAX_NRES 16      /* ResBlocks per UNet level */
#define LDM_MAX_CH 4096      /* channels of any VAE or UNet level */
#define LDM_MAX_RES 512      /* training resolution */
#define LDM_MIN_RES 4
#define LDM_MAX_Z 64         /* latent channels */
#define LDM_MAX_TDIM 4096    /* time embedding width (a multiple of 4) */
#define LDM_MAX_HEADS 64
#define LDM_MAX_CLASSES 65536
/* The UNet keeps one skip activation per down-path ResBlock plus the stem and each downsampler:
 * 1 + levels * nres + (levels - 1) = levels * (nres + 1). */
#define LDM_UNET_MAX_SKIPS (LDM_MAX_LEVELS * (LDM_MAX_NRES + 1))

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
/* Whether the graph builders can build c: every field in range (the LDM_MAX_* bounds above; cin 1 or
 * 3, name 1..31 characters of [A-Za-z0-9_.-]), res divisible by 2^(vae_levels-1) and the latent
 * resolution by 2^(unet_levels-1), every GroupNorm width divisible into its groups (including the
 * concatenated widths of the up path), attention widths divisible by heads, tdim a multiple of 4,
 * attn entries 0/1, 2 * crop < res. If not, why (may be NULL) gets a one-line reason naming the field. */
bool ldm_model_cfg_valid(const ldm_model_cfg *c, char *why, size_t why_len);
/* Same VAE (cin, res, z, vae levels and channels): a UNet checkpoint and a VAE checkpoint fit together. */
bool ldm_model_cfg_vae_equal(const ldm_model_cfg *a, const ldm_model_cfg *b);
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

#ifdef __cplusplus
}
#endif
#endif
