/* ldm-vk datasets: idx (MNIST / Fashion-MNIST), folders of PNG/JPEG, seeded shuffling. */
#ifndef LDM_DATA_H
#define LDM_DATA_H
#include <stdbool.h>
#include <stdint.h>

#include "ldm/ldm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* idx files, plain or gzip-compressed (detected by content, not by name).
 * Images: magic 0x00000803, u8 [N,H,W]. Labels: magic 0x00000801, u8 [N].
 * The returned buffers are malloc'd; free() them. */
ldm_status ldm_idx_load_images(const char *path, uint8_t **pix, int *n, int *h, int *w);
ldm_status ldm_idx_load_labels(const char *path, uint8_t **labels, int *n);

typedef struct ldm_dataset {
  int n, channels, height, width;
  uint8_t *pixels;    /* n*c*h*w, NCHW, 0..255 (scale to [-1,1] as x/127.5 - 1) */
  int32_t *labels;    /* n entries, -1 if unlabeled */
  int num_classes;    /* 0 if unlabeled */
  char **class_names; /* num_classes entries (UTF-8): the sub-folder names of a folder dataset; Fashion-MNIST's
                       * T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot */
} ldm_dataset;

/* Fashion-MNIST from dir: {train,t10k}-{images-idx3,labels-idx1}-ubyte, each with or without .gz.
 * 28x28 images are padded (centred) with 0 to pad_to x pad_to (pixel 0 is -1 after scaling);
 * pad_to <= 0 keeps the native size. A missing directory or file gives LDM_ERR_IO with
 * "dataset not found: <dir> has no ... (install dataset-fashion-mnist or pass --data DIR)". */
ldm_status ldm_dataset_load_fmnist(const char *dir, bool train, int pad_to, ldm_dataset *out);

/* A folder of .png/.jpg/.jpeg images (case-insensitive; hidden entries and other files ignored).
 * If dir has sub-folders, each sub-folder (sorted by name) is a class: label = its index, name =
 * folder name (any characters, but valid UTF-8: the names are stored in config.json and the
 * checkpoints' ldm.classes), and only images inside sub-folders are used. Otherwise all images are unlabeled.
 * Files are sorted by name (byte order). Each image is centre-cropped to a square, resized to
 * size x size and converted to `channels` (1 = luminance, 3 = RGB; alpha dropped). Files are decoded
 * by ldm_image_load (include/ldm/io.h): PNG or JPEG by content, which must agree with the name, within
 * LDM_IMAGE_MAX_SIDE / LDM_IMAGE_MAX_PIXELS; the first bad file fails the load, naming it. */
ldm_status ldm_dataset_load_folder(const char *dir, int size, int channels, ldm_dataset *out);

/* The square image the folder loader makes of a decoded one (img: h rows of w * channels bytes, as
 * ldm_image_load gives them): the centred square of side min(w, h) (odd margins: one more pixel right /
 * below), resized to size x size by stb_image_resize (unchanged when it is that size already), into dst
 * as channels x size x size (CHW). name is used in messages only. ldm-vk edit prepares its inputs so. */
ldm_status ldm_image_square(const char *name, const uint8_t *img, int w, int h, int channels, int size, uint8_t *dst);

/* The .png/.jpg/.jpeg files directly in dir (sub-folders and hidden entries ignored), full paths sorted by
 * name as the folder loader lists them; none is LDM_ERR_FORMAT naming dir. *files: malloc'd, each entry
 * too (free them and the array). */
ldm_status ldm_image_files(const char *dir, char ***files, int *n);

void ldm_dataset_free(ldm_dataset *ds); /* frees the members and zeroes *ds; NULL is fine */

/* Fill idx[0..n) with a permutation of 0..n-1 that depends only on (n, seed, epoch), identical on
 * every platform: a Fisher-Yates shuffle (i from n-1 down to 1, j uniform in [0,i] by rejection
 * sampling of 64-bit outputs) driven by splitmix64 seeded with seed ^ (epoch * 0x9E3779B97F4A7C15). */
void ldm_shuffle_indices(uint32_t *idx, int n, uint64_t seed, uint64_t epoch);

/* The generator used above, exposed for reuse: advances *state and returns the next output. */
uint64_t ldm_splitmix64(uint64_t *state);

#ifdef __cplusplus
}
#endif
#endif
