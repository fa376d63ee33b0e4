/* Model configurations: the bounds the graph builders can build (ldm_model_cfg_valid), GroupNorm
 * groups. No graph code here, so that the checkpoint-metadata fuzz harness can link it alone. */
#include <stdio.h>
#include <string.h>

#include "ldm/model.h"

int ldm_gn_groups(int c) { return c >= 8 ? (c / 4 < 32 ? c / 4 : 32) : 1; }

static bool gn_ok(int c) { return c >= 1 && c % ldm_gn_groups(c) == 0; }

#define WHY(...)                                                                                   \
  do {                                                                                             \
    if (why && why_len) snprintf(why, why_len, __VA_ARGS__);                                       \
    return false;                                                                                  \
  } while (0)

bool ldm_model_cfg_valid(const ldm_model_cfg *c, char *why, size_t why_len) {
  size_t nl = strnlen(c->name, sizeof c->name);
  if (nl == 0 || nl == sizeof c->name)
    WHY("config name is empty or longer than %d characters", (int)sizeof c->name - 1);
  for (size_t i = 0; i < nl; i++) {
    char ch = c->name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
          ch == '.'))
      WHY("config name has a character other than A-Z a-z 0-9 _ . -");
  }
  if (c->cin != 1 && c->cin != 3) WHY("cin %d: images have 1 or 3 channels", c->cin);
  if (c->res < LDM_MIN_RES || c->res > LDM_MAX_RES) WHY("res %d is outside %d..%d", c->res, LDM_MIN_RES, LDM_MAX_RES);
  if (c->z < 1 || c->z > LDM_MAX_Z) WHY("z %d is outside 1..%d", c->z, LDM_MAX_Z);
  if (c->vae_levels < 1 || c->vae_levels > LDM_MAX_LEVELS)
    WHY("%d VAE levels (1..%d allowed)", c->vae_levels, LDM_MAX_LEVELS);
  if (c->unet_levels < 1 || c->unet_levels > LDM_MAX_LEVELS)
    WHY("%d UNet levels (1..%d allowed)", c->unet_levels, LDM_MAX_LEVELS);
  for (int i = 0; i < c->vae_levels; i++) {
    if (c->vae_ch[i] < 1 || c->vae_ch[i] > LDM_MAX_CH)
      WHY("vae_ch[%d] = %d is outside 1..%d", i, c->vae_ch[i], LDM_MAX_CH);
    if (!gn_ok(c->vae_ch[i])) WHY("vae_ch[%d] = %d does not split into %d GroupNorm groups", i, c->vae_ch[i],
                                  ldm_gn_groups(c->vae_ch[i]));
  }
  for (int i = 0; i < c->unet_levels; i++) {
    if (c->unet_ch[i] < 1 || c->unet_ch[i] > LDM_MAX_CH)
      WHY("unet_ch[%d] = %d is outside 1..%d", i, c->unet_ch[i], LDM_MAX_CH);
    if (c->attn[i] != 0 && c->attn[i] != 1) WHY("attn[%d] = %d is not 0 or 1", i, c->attn[i]);
  }
  if (c->nres < 1 || c->nres > LDM_MAX_NRES) WHY("nres %d is outside 1..%d", c->nres, LDM_MAX_NRES);
  if (c->ncls < 0 || c->ncls > LDM_MAX_CLASSES) WHY("ncls %d is outside 0..%d", c->ncls, LDM_MAX_CLASSES);
  if (c->tdim < 4 || c->tdim > LDM_MAX_TDIM || c->tdim % 4 != 0)
    WHY("tdim %d is not a multiple of 4 in 4..%d", c->tdim, LDM_MAX_TDIM);
  if (c->heads < 1 || c->heads > LDM_MAX_HEADS) WHY("heads %d is outside 1..%d", c->heads, LDM_MAX_HEADS);
  if (c->crop < 0 || 2 * c->crop >= c->res) WHY("crop %d leaves nothing of %d pixels", c->crop, c->res);
  int vdown = 1 << (c->vae_levels - 1), udown = 1 << (c->unet_levels - 1);
  if (c->res % vdown != 0) WHY("res %d is not divisible by %d (%d VAE levels)", c->res, vdown, c->vae_levels);
  int lr = c->res / vdown;
  if (lr % udown != 0)
    WHY("the latent resolution %d is not divisible by %d (%d UNet levels)", lr, udown, c->unet_levels);
  /* the UNet's channel flow, exactly as ldm_unet builds it: every GroupNorm width and attention width */
  int skipc[LDM_UNET_MAX_SKIPS], ns = 0;
  int ch = c->unet_ch[0];
  skipc[ns++] = ch;
  for (int i = 0; i < c->unet_levels; i++) {
    int co = c->unet_ch[i];
    if (!gn_ok(ch) || !gn_ok(co)) WHY("UNet level %d: width %d or %d does not split into GroupNorm groups", i, ch, co);
    if (c->attn[i] && co % c->heads != 0) WHY("unet_ch[%d] = %d is not divisible by %d heads", i, co, c->heads);
    for (int r = 0; r < c->nres; r++) skipc[ns++] = ch = co;
    if (i + 1 < c->unet_levels) skipc[ns++] = ch;
  }
  if (ch % c->heads != 0) WHY("the middle block's width %d is not divisible by %d heads", ch, c->heads);
  for (int i = c->unet_levels - 1; i >= 0; i--) {
    int co = c->unet_ch[i];
    for (int r = 0; r < c->nres + 1; r++) {
      int cat = ch + skipc[--ns];
      if (!gn_ok(cat)) WHY("UNet up level %d: concatenated width %d does not split into %d GroupNorm groups", i, cat,
                           ldm_gn_groups(cat));
      ch = co;
    }
  }
  return true;
}
#undef WHY

bool ldm_model_cfg_vae_equal(const ldm_model_cfg *a, const ldm_model_cfg *b) {
  if (a->cin != b->cin || a->res != b->res || a->z != b->z || a->vae_levels != b->vae_levels) return false;
  for (int i = 0; i < a->vae_levels && i < LDM_MAX_LEVELS; i++)
    if (a->vae_ch[i] != b->vae_ch[i]) return false;
  return true;
}
