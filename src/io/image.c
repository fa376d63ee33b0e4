/* PNG and JPEG decoding of untrusted files (image-folder datasets): libpng and libjpeg-turbo, the
 * Debian builds of two decoders that are fuzzed upstream continuously, behind our own checks.
 * Why these and not stb_image: docs/security.md. Rules kept here:
 *   - the format comes from the magic bytes, never the name; only PNG and JPEG are decoded;
 *   - width, height and width * height are checked against the limits from the header, before the
 *     pixel buffer (or, for JPEG, the decoder's own buffers) is allocated; a PNG whose header claims
 *     more pixel data than its size can hold even at deflate's best ratio is refused as well;
 *   - every library error unwinds by longjmp out of one small function (its caller owns all the
 *     memory), and the library's message becomes one line that names the file;
 *   - a libjpeg warning (corrupt data, premature end) is an error: libjpeg would otherwise fill the
 *     missing part with grey and carry on. */
#include "ldm/io.h"
#include "io/open_read.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

/* Deflate cannot expand input more than 1032:1; with slack for headers and Adam7 filter bytes. */
#define PNG_MAX_RATIO 1100u
#define PNG_RATIO_SLACK 65536u
#define PNG_MAX_CHUNK 0x7fffffffu

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};

ldm_image_format ldm_image_sniff(const void *data, size_t n) {
  const uint8_t *b = data;
  if (n >= 8 && memcmp(b, png_magic, 8) == 0) return LDM_IMAGE_PNG;
  if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return LDM_IMAGE_JPEG;
  return LDM_IMAGE_UNKNOWN;
}

/* What a file that is neither PNG nor JPEG looks like, for the message. */
static const char *guess_other(const uint8_t *b, size_t n) {
  if (n == 0) return "an empty file";
  if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return "a netpbm (PBM/PGM/PPM/PAM) image";
  if (n >= 4 && memcmp(b, "GIF8", 4) == 0) return "a GIF image";
  if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "a BMP image";
  if (n >= 4 && (memcmp(b, "II*", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) return "a TIFF image";
  if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "a WebP image";
  if (n >= 4 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') return "a damaged PNG signature";
  if (n >= 2 && b[0] == 0xff && b[1] == 0xd8) return "a damaged JPEG start";
  return "an unknown format";
}

/* Library messages are copied into one line (no control characters). */
static void one_line(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

static ldm_image_limits limits_or_default(const ldm_image_limits *lim) {
  ldm_image_limits l = {LDM_IMAGE_MAX_SIDE, LDM_IMAGE_MAX_PIXELS};
  if (lim) {
    if (lim->max_side > 0 && lim->max_side < l.max_side) l.max_side = lim->max_side;
    if (lim->max_pixels > 0 && lim->max_pixels < l.max_pixels) l.max_pixels = lim->max_pixels;
  }
  return l;
}

/* Shared by both decoders; lives in the caller of the function that calls setjmp. */
typedef struct {
  const char *name;
  const uint8_t *data;
  size_t n, pos;
  ldm_image_limits lim;
  ldm_status status; /* of a failure we detected ourselves (the message is in msg) */
  char msg[JMSG_LENGTH_MAX + 64];
  char warn[128]; /* libpng's last warning: it explains a following "Invalid IHDR data" */
  uint64_t idat;  /* PNG: bytes of IDAT chunk data, from the pre-scan */
  uint8_t *pix;   /* h rows of w * ch bytes */
  void **rows;    /* PNG: row pointers into pix */
  int w, h, ch;
} dec_ctx;

static int check_dims(dec_ctx *c, const char *fmt, uint64_t w, uint64_t h) {
  if (w == 0 || h == 0) {
    snprintf(c->msg, sizeof c->msg, "%s image has size %llux%llu", fmt, (unsigned long long)w, (unsigned long long)h);
    return -1;
  }
  if (w > (uint64_t)c->lim.max_side || h > (uint64_t)c->lim.max_side || w * h > (uint64_t)c->lim.max_pixels) {
    snprintf(c->msg, sizeof c->msg, "%s image is %llux%llu pixels, over the limit of %d per side and %lld pixels", fmt,
             (unsigned long long)w, (unsigned long long)h, c->lim.max_side, (long long)c->lim.max_pixels);
    return -1;
  }
  return 0;
}

static int alloc_pix(dec_ctx *c) {
  size_t bytes = (size_t)c->w * (size_t)c->h * (size_t)c->ch; /* <= max_pixels * 4: no overflow */
  c->pix = malloc(bytes);
  if (!c->pix) {
    c->status = LDM_ERR_NOMEM;
    snprintf(c->msg, sizeof c->msg, "out of host memory decoding a %dx%d image (%zu bytes)", c->w, c->h, bytes);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------------
 * PNG
 * ---------------------------------------------------------------------------------------------- */
static void png_err_cb(png_structp png, png_const_charp msg) {
  dec_ctx *c = png_get_error_ptr(png);
  if (c->warn[0]) snprintf(c->msg, sizeof c->msg, "corrupt PNG: %s (%s)", msg ? msg : "unknown error", c->warn);
  else snprintf(c->msg, sizeof c->msg, "corrupt PNG: %s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

/* Warnings alone are not fatal: they are about ancillary chunks (a text chunk's CRC, ...) that do
 * not change the pixels. The last one is kept for the message of an error that may follow. */
static void png_warn_cb(png_structp png, png_const_charp msg) {
  dec_ctx *c = png_get_error_ptr(png);
  snprintf(c->warn, sizeof c->warn, "%s", msg ? msg : "");
}

static void png_read_cb(png_structp png, png_bytep out, size_t len) {
  dec_ctx *c = png_get_io_ptr(png);
  if (len > c->n - c->pos) png_error(png, "the file is truncated");
  memcpy(out, c->data + c->pos, len);
  c->pos += len;
}

static uint32_t be32(const uint8_t *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | (uint32_t)b[3];
}

/* Walk the chunk list before libpng sees it: every chunk must lie inside the file and the list must
 * reach IEND. libpng 1.6.39 allocates an ancillary chunk's claimed length (up to 2 GiB) before it
 * finds the file too short; after this walk no claimed length can exceed the file. Also sums the
 * IDAT bytes, which bound the image data (deflate ratio). */
static int png_prescan(dec_ctx *c) {
  size_t o = 8;
  c->idat = 0;
  for (;;) {
    if (c->n - o < 12) {
      snprintf(c->msg, sizeof c->msg, "truncated PNG: the file ends at byte %zu, before the IEND chunk", c->n);
      return -1;
    }
    uint32_t len = be32(c->data + o);
    char type[5];
    for (int i = 0; i < 4; i++) {
      uint8_t t = c->data[o + 4 + (size_t)i];
      type[i] = (t >= 'A' && t <= 'Z') || (t >= 'a' && t <= 'z') ? (char)t : '?';
    }
    type[4] = 0;
    if (len > PNG_MAX_CHUNK) {
      snprintf(c->msg, sizeof c->msg, "corrupt PNG: chunk %s at byte %zu has length %u (at most 2^31 - 1)", type, o,
               (unsigned)len);
      return -1;
    }
    if (len > c->n - o - 12) {
      snprintf(c->msg, sizeof c->msg, "truncated PNG: chunk %s at byte %zu claims %u bytes, the file has %zu more", type,
               o, (unsigned)len, c->n - o - 12);
      return -1;
    }
    if (memcmp(c->data + o + 4, "IDAT", 4) == 0) c->idat += len;
    if (memcmp(c->data + o + 4, "IEND", 4) == 0) return 0;
    o += 12 + (size_t)len;
  }
}

/* Returns 0 on success; on failure c->msg is set. Only c (owned by the caller) is written after
 * setjmp, so nothing here is indeterminate after the longjmp. */
static int png_decode_inner(dec_ctx *c, png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png))) return -1;
  png_set_user_limits(png, (png_uint_32)c->lim.max_side, (png_uint_32)c->lim.max_side);
  png_set_chunk_cache_max(png, 1000);
  png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);
  png_set_read_fn(png, c, png_read_cb);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, ctype = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
  if (check_dims(c, "PNG", w, h)) return -1;
  uint64_t stored_ch = ctype == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_GA ? 2 : 1;
  uint64_t raw = ((uint64_t)w * stored_ch * (uint64_t)depth + 7) / 8 + 1;
  raw *= h;
  if (raw > (uint64_t)PNG_MAX_RATIO * c->idat + PNG_RATIO_SLACK) {
    snprintf(c->msg, sizeof c->msg,
             "corrupt PNG: the header says %ux%u pixels (%llu bytes of image data), more than %llu bytes of compressed "
             "data can hold (truncated?)",
             (unsigned)w, (unsigned)h, (unsigned long long)raw, (unsigned long long)c->idat);
    return -1;
  }
  if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_scale_16(png);
  (void)png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int ch = png_get_channels(png, info);
  if (png_get_bit_depth(png, info) != 8 || ch < 1 || ch > 4 || png_get_rowbytes(png, info) != (size_t)w * (size_t)ch) {
    snprintf(c->msg, sizeof c->msg, "PNG colour type %d with bit depth %d did not convert to 8-bit samples", ctype, depth);
    return -1;
  }
  c->w = (int)w;
  c->h = (int)h;
  c->ch = ch;
  if (alloc_pix(c)) return -1;
  png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
  c->rows = (void **)rows; /* freed by the caller, also after a longjmp */
  if (!rows) {
    c->status = LDM_ERR_NOMEM;
    snprintf(c->msg, sizeof c->msg, "out of host memory decoding a PNG");
    return -1;
  }
  for (png_uint_32 y = 0; y < h; y++) rows[y] = c->pix + (size_t)y * (size_t)w * (size_t)ch;
  png_read_image(png, rows);
  png_read_end(png, NULL); /* the chunks after the image data, up to IEND */
  return 0;
}

static int png_decode(dec_ctx *c) {
  if (png_prescan(c)) return -1;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, png_err_cb, png_warn_cb);
  if (!png) {
    c->status = LDM_ERR_NOMEM;
    snprintf(c->msg, sizeof c->msg, "out of host memory starting the PNG decoder");
    return -1;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    c->status = LDM_ERR_NOMEM;
    snprintf(c->msg, sizeof c->msg, "out of host memory starting the PNG decoder");
    return -1;
  }
  int r = png_decode_inner(c, png, info);
  png_destroy_read_struct(&png, &info, NULL);
  free(c->rows);
  c->rows = NULL;
  return r;
}

/* ------------------------------------------------------------------------------------------------
 * JPEG
 * ---------------------------------------------------------------------------------------------- */
typedef struct {
  struct jpeg_error_mgr pub; /* first: libjpeg hands us a pointer to it */
  struct jpeg_progress_mgr progress;
  jmp_buf jb;
  dec_ctx *c;
} jpeg_guard;

static void jpeg_fail(j_common_ptr ci, const char *prefix) {
  jpeg_guard *g = (jpeg_guard *)ci->err;
  char buf[JMSG_LENGTH_MAX];
  ci->err->format_message(ci, buf);
  snprintf(g->c->msg, sizeof g->c->msg, "%s%s", prefix, buf);
  longjmp(g->jb, 1);
}

static void jpeg_error_exit_cb(j_common_ptr ci) { jpeg_fail(ci, "corrupt JPEG: "); }

static void jpeg_emit_cb(j_common_ptr ci, int level) {
  /* level -1: a warning, i.e. corrupt data libjpeg would paper over; 0..: trace output. */
  if (level >= 0) return;
  if (ci->err->msg_code == JWRN_JFIF_MAJOR) return; /* a newer JFIF revision number: harmless */
  jpeg_fail(ci, ci->err->msg_code == JWRN_JPEG_EOF ? "truncated JPEG: " : "corrupt JPEG: ");
}

static void jpeg_output_cb(j_common_ptr ci) { (void)ci; /* never print */ }

static void jpeg_progress_cb(j_common_ptr ci) {
  /* A progressive file can hold any number of scans, each a full pass over the coefficients. */
  if (!ci->is_decompressor) return;
  j_decompress_ptr d = (j_decompress_ptr)ci;
  if (d->input_scan_number > LDM_IMAGE_MAX_JPEG_SCANS) {
    jpeg_guard *g = (jpeg_guard *)ci->err;
    snprintf(g->c->msg, sizeof g->c->msg, "corrupt JPEG: more than %d scans", LDM_IMAGE_MAX_JPEG_SCANS);
    longjmp(g->jb, 1);
  }
}

static int jpeg_decode_inner(jpeg_guard *g, struct jpeg_decompress_struct *ci) {
  dec_ctx *c = g->c;
  if (setjmp(g->jb)) return -1;
  jpeg_create_decompress(ci);
  /* libjpeg's own buffers (whole-image coefficient arrays of progressive files) stay in proportion to
   * the pixel limit: about 2 bytes per pixel per component, 3 components, some slack. */
  ci->mem->max_memory_to_use = (long)(c->lim.max_pixels * 8 + (16 << 20));
  ci->progress = &g->progress;
  jpeg_mem_src(ci, c->data, (unsigned long)c->n);
  if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK) {
    snprintf(c->msg, sizeof c->msg, "corrupt JPEG: no image in the file");
    return -1;
  }
  if (check_dims(c, "JPEG", ci->image_width, ci->image_height)) return -1;
  int ch;
  switch (ci->jpeg_color_space) {
  case JCS_GRAYSCALE:
    ci->out_color_space = JCS_GRAYSCALE;
    ch = 1;
    break;
  case JCS_YCbCr:
  case JCS_RGB:
    ci->out_color_space = JCS_RGB;
    ch = 3;
    break;
  case JCS_CMYK:
  case JCS_YCCK:
    snprintf(c->msg, sizeof c->msg, "CMYK JPEG images are not supported (convert it to RGB)");
    return -1;
  default:
    snprintf(c->msg, sizeof c->msg, "JPEG colour space %d (%d components) is not supported", (int)ci->jpeg_color_space,
             ci->num_components);
    return -1;
  }
  jpeg_start_decompress(ci);
  if (ci->output_components != ch || ci->output_width != ci->image_width || ci->output_height != ci->image_height) {
    snprintf(c->msg, sizeof c->msg, "JPEG decoder gave %d components at %ux%u", ci->output_components,
             (unsigned)ci->output_width, (unsigned)ci->output_height);
    return -1;
  }
  c->w = (int)ci->output_width;
  c->h = (int)ci->output_height;
  c->ch = ch;
  if (alloc_pix(c)) return -1;
  size_t stride = (size_t)c->w * (size_t)ch;
  while (ci->output_scanline < ci->output_height) {
    JSAMPROW row = c->pix + (size_t)ci->output_scanline * stride;
    if (jpeg_read_scanlines(ci, &row, 1) != 1) {
      snprintf(c->msg, sizeof c->msg, "corrupt JPEG: the decoder stopped at row %u", (unsigned)ci->output_scanline);
      return -1;
    }
  }
  jpeg_finish_decompress(ci);
  return 0;
}

static int jpeg_decode(dec_ctx *c) {
  struct jpeg_decompress_struct ci;
  jpeg_guard g;
  memset(&ci, 0, sizeof ci);
  memset(&g, 0, sizeof g);
  g.c = c;
  ci.err = jpeg_std_error(&g.pub);
  g.pub.error_exit = jpeg_error_exit_cb;
  g.pub.emit_message = jpeg_emit_cb;
  g.pub.output_message = jpeg_output_cb;
  g.progress.progress_monitor = jpeg_progress_cb;
  int r = jpeg_decode_inner(&g, &ci);
  jpeg_destroy_decompress(&ci); /* fine on a half-created object: it checks ci.mem */
  return r;
}

/* ------------------------------------------------------------------------------------------------
 * channel conversion and the public entry points
 * ---------------------------------------------------------------------------------------------- */
static uint8_t luma(const uint8_t *p) { return (uint8_t)((77u * p[0] + 150u * p[1] + 29u * p[2]) >> 8); }

static uint8_t *convert(const uint8_t *src, size_t npix, int from, int to) {
  uint8_t *dst = malloc(npix * (size_t)to);
  if (!dst) return NULL;
  for (size_t i = 0; i < npix; i++) {
    const uint8_t *s = src + i * (size_t)from;
    uint8_t *d = dst + i * (size_t)to;
    if (to == 1) d[0] = from >= 3 ? luma(s) : s[0];
    else if (from >= 3) memcpy(d, s, 3);
    else d[0] = d[1] = d[2] = s[0];
  }
  return dst;
}

ldm_status ldm_image_decode(const char *name, const void *data, size_t n, int channels, const ldm_image_limits *lim,
                            uint8_t **pix, int *w, int *h, int *src_channels) {
  *pix = NULL;
  *w = *h = 0;
  if (src_channels) *src_channels = 0;
  if (!name) name = "(image)";
  if (channels != 0 && channels != 1 && channels != 3)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: cannot decode to %d channels (1 or 3)", name, channels);
  if (!data && n) return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: no image data", name);
  dec_ctx c;
  memset(&c, 0, sizeof c);
  c.name = name;
  c.data = data;
  c.n = n;
  c.lim = limits_or_default(lim);
  c.status = LDM_ERR_FORMAT;
  ldm_image_format fmt = ldm_image_sniff(data, n);
  int r;
  if (fmt == LDM_IMAGE_PNG) r = png_decode(&c);
  else if (fmt == LDM_IMAGE_JPEG) r = jpeg_decode(&c);
  else
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: not a PNG or JPEG image (the content looks like %s); only PNG and JPEG are decoded",
                    name, guess_other(data, n));
  if (r != 0) {
    free(c.pix);
    one_line(c.msg);
    return LDM_FAIL(c.status, "%s: %s", name, c.msg[0] ? c.msg : "cannot decode the image");
  }
  if (src_channels) *src_channels = c.ch;
  if (channels != 0 && channels != c.ch) {
    uint8_t *q = convert(c.pix, (size_t)c.w * (size_t)c.h, c.ch, channels);
    free(c.pix);
    if (!q) return LDM_FAIL(LDM_ERR_NOMEM, "%s: out of host memory converting a %dx%d image", name, c.w, c.h);
    c.pix = q;
  }
  *pix = c.pix;
  *w = c.w;
  *h = c.h;
  return LDM_OK;
}

static const char *format_name(ldm_image_format f) { return f == LDM_IMAGE_PNG ? "PNG" : "JPEG"; }

ldm_status ldm_image_load(const char *path, int channels, uint8_t **pix, int *w, int *h, int *src_channels) {
  *pix = NULL;
  *w = *h = 0;
  if (src_channels) *src_channels = 0;
  if (!path) return LDM_FAIL(LDM_ERR_INVALID_ARG, "image: no path given");
  int fd;
  struct stat st;
  LDM_TRY(ldm_open_read(path, &fd, &st));
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return LDM_FAIL(LDM_ERR_IO, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > LDM_IMAGE_MAX_FILE) {
    close(fd);
    return LDM_FAIL(LDM_ERR_FORMAT, "%s: image file of %lld bytes is over the limit of %zu bytes", path,
                    (long long)st.st_size, LDM_IMAGE_MAX_FILE);
  }
  size_t n = (size_t)st.st_size, got = 0;
  uint8_t *buf = ldm_malloc(n);
  if (!buf) {
    close(fd);
    return LDM_ERR_NOMEM;
  }
  while (got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      int e = errno;
      close(fd);
      free(buf);
      return LDM_FAIL(LDM_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    if (k == 0) break; /* shrank while we read: decode what is there, it is checked anyway */
    got += (size_t)k;
  }
  close(fd);
  ldm_image_format fmt = ldm_image_sniff(buf, got);
  const char *dot = strrchr(path, '/');
  dot = strrchr(dot ? dot : path, '.');
  ldm_image_format named = LDM_IMAGE_UNKNOWN;
  if (dot && strcasecmp(dot, ".png") == 0) named = LDM_IMAGE_PNG;
  else if (dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0)) named = LDM_IMAGE_JPEG;
  ldm_status s;
  if (named != LDM_IMAGE_UNKNOWN && fmt != LDM_IMAGE_UNKNOWN && fmt != named)
    s = LDM_FAIL(LDM_ERR_FORMAT, "%s: named like a %s image but the content is a %s image (rename it to %s)", path,
                 format_name(named), format_name(fmt), fmt == LDM_IMAGE_PNG ? ".png" : ".jpg");
  else
    s = ldm_image_decode(path, buf, got, channels, NULL, pix, w, h, src_channels);
  free(buf);
  return s;
}
