/* Image output of single images and sample grids: PNG by libpng (generation settings as tEXt chunks,
 * iTXt for values that are not plain ASCII) and JPEG by libjpeg (quality LDM_JPEG_QUALITY, the settings
 * in a COM marker). Both are encoded into memory and written with ldm_file_write_atomic, so a reader
 * never sees half a file and a failure leaves any earlier file at the path untouched. */
#include "ldm/io.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jpeglib.h>
#include <png.h>

#define GRID_PAD 2

static uint8_t to_u8(float x) {
  if (!(x >= -1.0f)) x = -1.0f; /* also NaN */
  if (x > 1.0f) x = 1.0f;
  return (uint8_t)lrintf((x + 1.0f) * 127.5f);
}

ldm_image_format ldm_image_format_for_name(const char *path) {
  if (!path) return LDM_IMAGE_UNKNOWN;
  const char *base = strrchr(path, '/');
  const char *dot = strrchr(base ? base + 1 : path, '.');
  if (!dot) return LDM_IMAGE_UNKNOWN;
  if (strcasecmp(dot, ".png") == 0) return LDM_IMAGE_PNG;
  if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0) return LDM_IMAGE_JPEG;
  return LDM_IMAGE_UNKNOWN;
}

/* PNG keywords: 1..79 printable Latin-1 characters without leading, trailing or doubled spaces; we
 * allow the ASCII subset only. */
static bool key_ok(const char *k) {
  size_t n = k ? strlen(k) : 0;
  if (n < 1 || n > 79 || k[0] == ' ' || k[n - 1] == ' ') return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)k[i];
    if (ch < 0x20 || ch > 0x7e || (ch == ' ' && k[i + 1] == ' ')) return false;
  }
  return true;
}

static bool plain_ascii(const char *v) {
  for (; *v; v++) {
    unsigned char ch = (unsigned char)*v;
    if (ch >= 0x7f || (ch < 0x20 && ch != '\n')) return false;
  }
  return true;
}

static ldm_status check_text(const char *path, const ldm_image_text *text, int ntext) {
  if (ntext < 0 || (ntext > 0 && !text)) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: bad image text list", path);
  for (int i = 0; i < ntext; i++) {
    if (!key_ok(text[i].key))
      return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: image text key %d is not 1..79 printable ASCII characters", path, i);
    if (!text[i].value) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: image text %s has no value", path, text[i].key);
  }
  return LDM_OK;
}

/* ------------------------------------------------------------------------------------------------
 * encoders into memory
 * ---------------------------------------------------------------------------------------------- */
typedef struct {
  uint8_t *data;
  size_t n, cap;
  bool nomem;
  char msg[200];
  jmp_buf jb; /* PNG */
} membuf;

static void png_write_cb(png_structp png, png_bytep d, size_t len) {
  membuf *m = png_get_io_ptr(png);
  if (len > m->cap - m->n) {
    size_t nc = m->cap ? m->cap : 4096;
    while (nc - m->n < len) {
      if (nc > SIZE_MAX / 2) png_error(png, "the image is too large");
      nc *= 2;
    }
    uint8_t *q = realloc(m->data, nc);
    if (!q) {
      m->nomem = true;
      png_error(png, "out of host memory");
    }
    m->data = q;
    m->cap = nc;
  }
  memcpy(m->data + m->n, d, len);
  m->n += len;
}

static void png_flush_cb(png_structp png) { (void)png; }

static void png_err_cb(png_structp png, png_const_charp msg) {
  membuf *m = png_get_error_ptr(png);
  snprintf(m->msg, sizeof m->msg, "%s", msg ? msg : "libpng error");
  longjmp(m->jb, 1);
}

static void png_warn_cb(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg; /* never print; a problem that matters is an error */
}

/* Only m (owned by the caller) and the libpng structs are touched after setjmp. */
static int png_encode_inner(membuf *m, png_structp png, png_infop info, const uint8_t *pix, int w, int h, int c,
                            png_textp txt, int ntxt, png_bytep *rows) {
  if (setjmp(m->jb)) return -1;
  png_set_write_fn(png, m, png_write_cb, png_flush_cb);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (ntxt > 0) png_set_text(png, info, txt, ntxt);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) rows[y] = (png_bytep)(uintptr_t)(pix + (size_t)y * (size_t)w * (size_t)c);
  png_write_image(png, rows);
  png_write_end(png, info);
  return 0;
}

static ldm_status encode_png(const char *path, const uint8_t *pix, int w, int h, int c, const ldm_image_text *text,
                             int ntext, membuf *m) {
  png_textp txt = ntext > 0 ? calloc((size_t)ntext, sizeof *txt) : NULL;
  png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
  if ((ntext > 0 && !txt) || !rows) {
    free(txt);
    free(rows);
    return LDM_FAIL(LDM_ERR_NOMEM, "%s: out of host memory encoding a PNG", path);
  }
  for (int i = 0; i < ntext; i++) {
    txt[i].key = (png_charp)(uintptr_t)text[i].key;
    txt[i].text = (png_charp)(uintptr_t)text[i].value;
    if (plain_ascii(text[i].value)) {
      txt[i].compression = PNG_TEXT_COMPRESSION_NONE; /* tEXt */
      txt[i].text_length = strlen(text[i].value);
    } else {
      txt[i].compression = PNG_ITXT_COMPRESSION_NONE; /* iTXt: UTF-8 */
      txt[i].itxt_length = strlen(text[i].value);
      txt[i].lang = (png_charp)(uintptr_t)"";
      txt[i].lang_key = (png_charp)(uintptr_t)"";
    }
  }
  ldm_status s = LDM_OK;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, m, png_err_cb, png_warn_cb);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) s = LDM_FAIL(LDM_ERR_NOMEM, "%s: out of host memory starting the PNG encoder", path);
  else if (png_encode_inner(m, png, info, pix, w, h, c, txt, ntext, rows) != 0)
    s = LDM_FAIL(m->nomem ? LDM_ERR_NOMEM : LDM_ERR_INTERNAL, "%s: PNG encoding failed: %s", path, m->msg);
  if (png) png_destroy_write_struct(&png, info ? &info : NULL);
  free(txt);
  free(rows);
  return s;
}

typedef struct {
  struct jpeg_error_mgr pub; /* first: libjpeg hands us a pointer to it */
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
} jpeg_guard;

static void jpeg_error_exit_cb(j_common_ptr ci) {
  jpeg_guard *g = (jpeg_guard *)ci->err;
  ci->err->format_message(ci, g->msg);
  longjmp(g->jb, 1);
}

static void jpeg_output_cb(j_common_ptr ci) { (void)ci; /* never print */ }

/* The settings as one COM marker: "key: value" lines. */
static char *jpeg_comment(const ldm_image_text *text, int ntext, size_t *len) {
  size_t n = 1;
  for (int i = 0; i < ntext; i++) n += strlen(text[i].key) + strlen(text[i].value) + 3;
  char *b = malloc(n);
  if (!b) return NULL;
  size_t k = 0;
  for (int i = 0; i < ntext; i++) k += (size_t)snprintf(b + k, n - k, "%s: %s\n", text[i].key, text[i].value);
  *len = k > 65533 ? 65533 : k; /* one marker holds at most 65533 bytes */
  return b;
}

static int jpeg_encode_inner(jpeg_guard *g, struct jpeg_compress_struct *ci, unsigned char **out, unsigned long *outn,
                             const uint8_t *pix, int w, int h, int c, const char *com, size_t comlen) {
  if (setjmp(g->jb)) return -1;
  jpeg_create_compress(ci);
  jpeg_mem_dest(ci, out, outn);
  ci->image_width = (JDIMENSION)w;
  ci->image_height = (JDIMENSION)h;
  ci->input_components = c;
  ci->in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(ci);
  jpeg_set_quality(ci, LDM_JPEG_QUALITY, TRUE);
  jpeg_start_compress(ci, TRUE);
  if (comlen > 0) jpeg_write_marker(ci, JPEG_COM, (const JOCTET *)com, (unsigned)comlen);
  size_t stride = (size_t)w * (size_t)c;
  while (ci->next_scanline < ci->image_height) {
    JSAMPROW row = (JSAMPROW)(uintptr_t)(pix + (size_t)ci->next_scanline * stride);
    jpeg_write_scanlines(ci, &row, 1);
  }
  jpeg_finish_compress(ci);
  return 0;
}

static ldm_status encode_jpeg(const char *path, const uint8_t *pix, int w, int h, int c, const ldm_image_text *text,
                              int ntext, membuf *m) {
  size_t comlen = 0;
  char *com = jpeg_comment(text, ntext, &comlen);
  if (!com) return LDM_FAIL(LDM_ERR_NOMEM, "%s: out of host memory encoding a JPEG", path);
  struct jpeg_compress_struct ci;
  jpeg_guard g;
  memset(&ci, 0, sizeof ci);
  memset(&g, 0, sizeof g);
  ci.err = jpeg_std_error(&g.pub);
  g.pub.error_exit = jpeg_error_exit_cb;
  g.pub.output_message = jpeg_output_cb;
  unsigned char *out = NULL;
  unsigned long outn = 0;
  int r = jpeg_encode_inner(&g, &ci, &out, &outn, pix, w, h, c, com, comlen);
  jpeg_destroy_compress(&ci);
  free(com);
  if (r != 0) {
    free(out);
    return LDM_FAIL(LDM_ERR_INTERNAL, "%s: JPEG encoding failed: %s", path, g.msg);
  }
  m->data = out;
  m->n = m->cap = (size_t)outn;
  return LDM_OK;
}

/* Encode an interleaved (HWC) 8-bit image and write it atomically. */
static ldm_status write_image(const char *path, ldm_image_format fmt, const uint8_t *pix, int w, int h, int c,
                              const ldm_image_text *text, int ntext) {
  membuf m;
  memset(&m, 0, sizeof m);
  ldm_status s = fmt == LDM_IMAGE_JPEG ? encode_jpeg(path, pix, w, h, c, text, ntext, &m)
                                       : encode_png(path, pix, w, h, c, text, ntext, &m);
  if (s == LDM_OK) s = ldm_file_write_atomic(path, m.data, m.n);
  free(m.data);
  return s;
}

static ldm_status check_args(const char *path, ldm_image_format *fmt, int n, int c, int h, int w, int crop,
                             const ldm_image_text *text, int ntext) {
  if (!path) return LDM_FAIL(LDM_ERR_INVALID_ARG, "image output: no path given");
  if (*fmt == LDM_IMAGE_UNKNOWN) *fmt = ldm_image_format_for_name(path);
  if (*fmt != LDM_IMAGE_PNG && *fmt != LDM_IMAGE_JPEG) {
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base + 1 : path, '.');
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: cannot write images of type '%s' (use .png, .jpg or .jpeg)", path,
                    dot ? dot : "(no extension)");
  }
  if (n <= 0) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: no images to write", path);
  if (c != 1 && c != 3) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: an image needs 1 or 3 channels, not %d", path, c);
  if (h <= 0 || w <= 0 || h > 65536 || w > 65536)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: image size %dx%d is out of range", path, h, w);
  if (crop < 0 || 2 * crop >= h || 2 * crop >= w)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: crop %d leaves nothing of a %dx%d image", path, crop, h, w);
  return check_text(path, text, ntext);
}

ldm_status ldm_image_write_grid(const char *path, ldm_image_format fmt, const float *imgs, int n, int c, int h, int w,
                                int nrow, int crop, const ldm_image_text *text, int ntext) {
  LDM_TRY(check_args(path, &fmt, n, c, h, w, crop, text, ntext));
  if (!imgs) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: no image data", path);
  if (nrow <= 0) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: %d images per row is not positive", path, nrow);
  int cols = nrow < n ? nrow : n;
  int rows = (n + cols - 1) / cols;
  int th = h - 2 * crop, tw = w - 2 * crop;
  int64_t gw = (int64_t)cols * (tw + GRID_PAD) + GRID_PAD;
  int64_t gh = (int64_t)rows * (th + GRID_PAD) + GRID_PAD;
  /* JPEG's limit is 65500 pixels a side */
  int64_t lim = fmt == LDM_IMAGE_JPEG ? 65500 : 65536;
  if (gw > lim || gh > lim || gw * gh * c > (int64_t)1 << 31)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: a %dx%d grid of %dx%d images is too large for a %s", path, rows, cols,
                    th, tw, fmt == LDM_IMAGE_JPEG ? "JPEG" : "PNG");
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
  ldm_status s = write_image(path, fmt, pix, (int)gw, (int)gh, c, text, ntext);
  free(pix);
  return s;
}

ldm_status ldm_image_write(const char *path, ldm_image_format fmt, const float *img, int c, int h, int w, int crop,
                           const ldm_image_text *text, int ntext) {
  LDM_TRY(check_args(path, &fmt, 1, c, h, w, crop, text, ntext));
  if (!img) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: no image data", path);
  int th = h - 2 * crop, tw = w - 2 * crop;
  if (fmt == LDM_IMAGE_JPEG && (th > 65500 || tw > 65500))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: a %dx%d image is too large for a JPEG", path, th, tw);
  uint8_t *pix = ldm_malloc((size_t)th * (size_t)tw * (size_t)c);
  if (!pix) return LDM_ERR_NOMEM;
  size_t plane = (size_t)h * (size_t)w;
  for (int y = 0; y < th; y++)
    for (int x = 0; x < tw; x++)
      for (int ch = 0; ch < c; ch++)
        pix[((size_t)y * (size_t)tw + (size_t)x) * (size_t)c + (size_t)ch] =
            to_u8(img[(size_t)ch * plane + (size_t)(y + crop) * (size_t)w + (size_t)(x + crop)]);
  ldm_status s = write_image(path, fmt, pix, tw, th, c, text, ntext);
  free(pix);
  return s;
}

ldm_status ldm_png_write_grid(const char *path, const float *imgs, int n, int c, int h, int w, int nrow, int crop) {
  return ldm_image_write_grid(path, LDM_IMAGE_PNG, imgs, n, c, h, w, nrow, crop, NULL, 0);
}

ldm_status ldm_png_write_image(const char *path, const float *img, int c, int h, int w, int crop) {
  return ldm_image_write(path, LDM_IMAGE_PNG, img, c, h, w, crop, NULL, 0);
}
