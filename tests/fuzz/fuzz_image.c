/* libFuzzer harness: PNG and JPEG decoding (ldm_image_decode: libpng / libjpeg-turbo behind our
 * checks), to 0 (as stored), 1 or 3 channels, under small limits so that large images stay cheap.
 * LDM_FUZZ_SOURCES: src/io/image.c */
#include "fuzz_util.h"
#include "ldm/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int chans[3] = {0, 1, 3};
  int ch = chans[size % 3];
  const ldm_image_limits lim = {2048, 1 << 20};
  uint8_t *pix = (uint8_t *)1;
  int w = -1, h = -1, src = -1;
  ldm_status s = ldm_image_decode("fuzz-input.img", data, size, ch, &lim, &pix, &w, &h, &src);
  if (s != LDM_OK) {
    if (pix || w || h || src) abort();
    fuzz_check_error(s, "fuzz-input.img");
    return 0;
  }
  if (w <= 0 || h <= 0 || w > lim.max_side || h > lim.max_side || (int64_t)w * h > lim.max_pixels) abort();
  if (src < 1 || src > 4) abort();
  if (ldm_image_sniff(data, size) == LDM_IMAGE_UNKNOWN) abort();
  int out = ch ? ch : src;
  fuzz_touch(pix, (size_t)w * (size_t)h * (size_t)out);
  free(pix);
  return 0;
}
