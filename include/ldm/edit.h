/* Image editing with a trained run (`ldm-vk edit`): img2img (SDEdit) and inpainting (with RePaint),
 * docs/editing.md. */
#ifndef LDM_EDIT_H
#define LDM_EDIT_H
#include "ldm/backend.h"
#include "ldm/model.h"
#include "ldm/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ldm_edit_mode { LDM_EDIT_IMG2IMG = 0, LDM_EDIT_INPAINT = 1 } ldm_edit_mode;

typedef struct ldm_edit_opts {
  /* the sampling settings: ckpt, cls, sampler, steps, eta, guidance, seed, batch, the hooks, strength,
   * repaint_jump / repaint_resample; s.n = variations per input. s.init and s.mask are ignored (ldm_edit
   * sets them from the inputs). */
  ldm_sample_opts s;
  ldm_edit_mode mode;
  const char *const *init; /* ninit PNG/JPEG files */
  int ninit;
  const char *mask;        /* LDM_EDIT_INPAINT: one mask file for every input (white = repaint); else NULL */
} ldm_edit_opts;

/* ldm_sample_defaults, mode img2img, strength 1, one variation. */
void ldm_edit_defaults(ldm_edit_opts *o);

typedef struct ldm_edit_result {
  int n;              /* ninit * variations images, input-major (image i * variations + v) */
  int ninit, variations;
  float *images;      /* [n, cin, res, res] in [-1, 1]: the results (inpaint: after the final paste) */
  int *labels;        /* [n] the class of each result (-1 unconditional) */
  float *inputs;      /* [ninit, cin, res, res] the inputs as the model sees them */
  float *masks;       /* inpaint: [ninit, res, res] the pixel masks (0 keep, 1 repaint); else NULL */
  ldm_model_cfg cfg;  /* the run's model */
} ldm_edit_result;

/* Edit o->ninit images with the run in o->s.ckpt on the backend be: load and prepare the inputs
 * (ldm_edit_load), encode them with the run's VAE (posterior mean), sample with init / mask / strength
 * (ldm_sample_weights), and for inpainting paste the kept pixels back (ldm_edit_paste). Errors are
 * one line naming the file or the option. r is zeroed first; free it with ldm_edit_result_free. */
ldm_status ldm_edit(const ldm_backend *be, const ldm_edit_opts *o, ldm_edit_result *r);
/* ldm_edit in two parts, so that bad inputs are found before a backend is opened: prepare checks the
 * options, reads the run's model configuration and loads the inputs (r->cfg, ninit, variations, inputs,
 * masks; on failure r is freed); run encodes, samples and pastes into r->images / r->labels / r->n with
 * the same options (the caller frees r in every case). */
ldm_status ldm_edit_prepare(const ldm_edit_opts *o, ldm_edit_result *r);
ldm_status ldm_edit_run(const ldm_backend *be, const ldm_edit_opts *o, ldm_edit_result *r);
void ldm_edit_result_free(ldm_edit_result *r);

/* The pieces (exposed for tests and hosts) ------------------------------------------------------------ */

/* Load one input: init_path decoded (PNG/JPEG) to `channels`, centre-cropped and resized to res x res as
 * the folder loader prepares training images (ldm_image_square), into x (channels x res x res, in [-1, 1]:
 * v / 127.5 - 1). With mask_path (may be NULL): the mask, which must have the size of the image (else
 * LDM_ERR_INVALID_ARG naming both files and sizes), decoded as luminance, given the same crop and resize,
 * thresholded at half (>= 128: 1 = repaint, else 0) into m (res x res). */
ldm_status ldm_edit_load(const char *init_path, const char *mask_path, int res, int channels, float *x, float *m);
/* The latent mask of a pixel mask m (res x res, 0/1): max-pooled to the latent grid (lr x lr, f = res / lr
 * pixels a side per cell: a cell is repainted if any of its pixels is), then dilated by one cell (3 x 3
 * max), so no latent cell that sees the hole is kept. */
void ldm_edit_latent_mask(const float *m, int res, int lr, float *lm);
/* The feathered paste mask of a pixel mask m (res x res): feather(p) = min(1, d(p) / width), d(p) the
 * chessboard distance from p to the nearest kept pixel (m = 0); so it is exactly 0 wherever m is 0 and
 * ramps from 1 / width at the hole's edge to 1 `width` pixels inside it (1 everywhere if nothing is kept). */
void ldm_edit_feather(const float *m, int res, int width, float *feather);
/* out = feather * gen + (1 - feather) * init per pixel and channel (c x res x res); where feather is 0
 * out is init exactly. out may be gen. */
void ldm_edit_paste(const float *gen, const float *init, const float *feather, int c, int res, float *out);

#ifdef __cplusplus
}
#endif
#endif
