/* The library side of ldm-vk edit that needs the internal weights type (src/sample/sampler.h). */
#ifndef LDM_SAMPLE_EDIT_H
#define LDM_SAMPLE_EDIT_H
#include "ldm/edit.h"
#include "sample/sampler.h"

/* The VAE encoder's posterior mean of n images x ([n, cin, res, res] in [-1, 1]) into mu ([n, z, lr, lr],
 * unscaled), nb images per run, on be with the weights vae. */
ldm_status ldm_edit_encode(const ldm_backend *be, const ldm_model_cfg *c, const ldm_weights *vae, const float *x, int n,
                           int nb, float *mu);
#endif
