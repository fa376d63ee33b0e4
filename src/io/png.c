/* PNG output of single images and sample grids (stb_image_write encoding, our own checked I/O). */
#include "ldm/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#define GRID_PAD 2

static uint8_t to_u8(float x) {
  if (!(x >= -1.0f)) x = -1.0f; /* also NaN */
  if (x > 1.0f) x = 1.0f;
  return (uint8_t)lrintf((x + 1.0f) * 127.5f);
}

typedef struct {
  FILE *fp;
  bool failed;
  int err;
} png_sink;

static void sink_write(void *ctx, void *data, int size) {
  png_sink *s = ctx;
  if (s->failed || size <= 0) return;
  if (fwrite(data, 1, (size_t)size, s->fp) != (size_t)size) {
    s->failed = true;
    s->err = errno;
  }
}

/* Write an interleaved (HWC) 8-bit image. */
static ldm_status write_png(const char *path, const uint8_t *pix, int w, int h, int c) {
  FILE *fp = fopen(path, "wb");
  if (!fp) return LDM_FAIL(LDM_ERR_IO, "%s: cannot create file: %s", path, strerror(errno));
  png_sink sink = {fp, false, 0};
  int ok = stbi_write_png_to_func(sink_write, &sink, w, h, c, pix, w * c);
  ldm_status s = LDM_OK;
  if (!ok) s = LDM_FAIL(LDM_ERR_NOMEM, "%s: PNG encoding failed (out of host memory?)", path);
  else if (sink.failed) s = LDM_FAIL(LDM_ERR_IO, "%s: write failed: %s", path, strerror(sink.err));
  else if (fflush(fp) != 0) s = LDM_FAIL(LDM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
  if (fclose(fp) != 0 && s == LDM_OK) s = LDM_FAIL(LDM_ERR_IO, "%s: close failed: %s", path, strerror(errno));
  return s;
}

static ldm_status check_args(const char *path, int n, int c, int h, int w, int crop) {
  if (!path) return LDM_FAIL(LDM_ERR_INVALID_ARG, "PNG output: no path given");
  if (n <= 0) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: no images to write", path);
  if (c != 1 && c != 3) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: PNG needs 1 or 3 channels, not %d", path, c);
  if (h <= 0 || w <= 0 || h > 65536 || w > 65536)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: image size %dx%d is out of range", path, h, w);
  if (crop < 0 || 2 * crop >= h || 2 * crop >= w)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: crop %d leaves nothing of a %dx%d image", path, crop, h, w);
  return LDM_OK;
}

ldm_status ldm_png_write_grid(const char *path, const float *imgs, int n, int c, int h, int w, int nrow, int crop) {
  LDM_TRY(check_args(path, n, c, h, w, crop));
  if (!imgs) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: no image data", path);
  if (nrow <= 0) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: %d images per row is not positive", path, nrow);
  int cols = nrow < n ? nrow : n;
  int rows = (n + cols - 1) / cols;
  int th = h - 2 * crop, tw = w - 2 * crop;
  int64_t gw = (int64_t)cols * (tw + GRID_PAD) + GRID_PAD;
  int64_t gh = (int64_t)rows * (th + GRID_PAD) + GRID_PAD;
  if (gw > 65536 || gh > 65536 || gw * gh * c > (int64_t)1 << 31)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: a %dx%d grid of %dx%d images is too large for a PNG", path, rows, cols,
                    th, tw);
  uint8_t *pix = ldm_calloc((size_t)(gw * gh), (size_t)c); /* black padding */
  if (!pix) return LDM_ERR_NOMEM;
  size_t plane = (size_t)h * (size_t)w;
  for (int i = 0; i < n; i++) {
    const float *img = imgs + (size_t)i * (size_t)c * plane;
    int64_t ox = (int64_t)(i % cols) * (tw + GRID_PAD) + GRID_PAD;
    int64_t oy = (int64_t)(i / cols) * (th + GRID_PAD) + GRID_PAD;
    for (int y = 0; y < th; y++)
      for (int x = 0; x < tw; x++)
        for (int ch = 0; ch < c; ch++)
          pix[((size_t)(oy + y) * (size_t)gw + (size_t)(ox + x)) * (size_t)c + (size_t)ch] =
              to_u8(img[(size_t)ch * plane + (size_t)(y + crop) * (size_t)w + (size_t)(x + crop)]);
  }
  ldm_status s = write_png(path, pix, (int)gw, (int)gh, c);
  free(pix);
  return s;
}

ldm_status ldm_png_write_image(const char *path, const float *img, int c, int h, int w, int crop) {
  LDM_TRY(check_args(path, 1, c, h, w, crop));
  if (!img) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: no image data", path);
  int th = h - 2 * crop, tw = w - 2 * crop;
  uint8_t *pix = ldm_malloc((size_t)th * (size_t)tw * (size_t)c);
  if (!pix) return LDM_ERR_NOMEM;
  size_t plane = (size_t)h * (size_t)w;
  for (int y = 0; y < th; y++)
    for (int x = 0; x < tw; x++)
      for (int ch = 0; ch < c; ch++)
        pix[((size_t)y * (size_t)tw + (size_t)x) * (size_t)c + (size_t)ch] =
            to_u8(img[(size_t)ch * plane + (size_t)(y + crop) * (size_t)w + (size_t)(x + crop)]);
  ldm_status s = write_png(path, pix, tw, th, c);
  free(pix);
  return s;
}
