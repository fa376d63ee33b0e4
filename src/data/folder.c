/* Folder-of-images dataset: PNG/JPEG (decoded by src/io/image.c: libpng, libjpeg-turbo), centre-crop,
 * resize (stb_image_resize), grey or RGB. */
#include "ldm/data.h"
#include "ldm/io.h"
#include "ldm/runinfo.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

typedef struct {
  char **v;
  int n, cap;
} strlist;

static void sl_free(strlist *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

/* Takes ownership of s. */
static ldm_status sl_push(strlist *l, char *s) {
  if (!s) return LDM_ERR_NOMEM;
  if (l->n == l->cap) {
    int nc = l->cap ? l->cap * 2 : 64;
    char **q = realloc(l->v, sizeof(char *) * (size_t)nc);
    if (!q) {
      free(s);
      return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory listing image files");
    }
    l->v = q;
    l->cap = nc;
  }
  l->v[l->n++] = s;
  return LDM_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  bool slash = la > 0 && a[la - 1] != '/';
  char *p = ldm_malloc(la + lb + 2);
  if (!p) return NULL;
  memcpy(p, a, la);
  if (slash) p[la++] = '/';
  memcpy(p + la, b, lb + 1);
  return p;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = ldm_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static bool is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return false;
  return strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0;
}

/* List dir: sub-directories (names) into dirs (if non-NULL), image files (full paths) appended to
 * files. Hidden entries are skipped. dirs and the newly appended files are sorted by name. */
static ldm_status list_dir(const char *dir, strlist *dirs, strlist *files) {
  int start = files->n;
  DIR *d = opendir(dir);
  if (!d) return LDM_FAIL(LDM_ERR_IO, "cannot open image folder %s: %s", dir, strerror(errno));
  ldm_status s = LDM_OK;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno) s = LDM_FAIL(LDM_ERR_IO, "cannot read image folder %s: %s", dir, strerror(errno));
      break;
    }
    if (de->d_name[0] == '.') continue;
    char *full = join(dir, de->d_name);
    if (!full) {
      s = LDM_ERR_NOMEM;
      break;
    }
    struct stat st;
    if (stat(full, &st) != 0) {
      s = LDM_FAIL(LDM_ERR_IO, "cannot stat %s: %s", full, strerror(errno));
      free(full);
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      free(full);
      if (dirs && (s = sl_push(dirs, dupstr(de->d_name))) != LDM_OK) break;
    } else if (S_ISREG(st.st_mode) && is_image_name(de->d_name)) {
      if ((s = sl_push(files, full)) != LDM_OK) break;
    } else {
      free(full);
    }
  }
  if (closedir(d) != 0 && s == LDM_OK) s = LDM_FAIL(LDM_ERR_IO, "cannot close image folder %s: %s", dir, strerror(errno));
  if (dirs && dirs->n > 1) qsort(dirs->v, (size_t)dirs->n, sizeof(char *), cmp_str);
  if (files->n - start > 1) qsort(files->v + start, (size_t)(files->n - start), sizeof(char *), cmp_str);
  return s;
}

ldm_status ldm_image_square(const char *name, const uint8_t *img, int w, int h, int channels, int size, uint8_t *dst) {
  if (w < 1 || h < 1 || size < 1 || (channels != 1 && channels != 3))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "%s: cannot make a %dx%d image of a %dx%d one with %d channels", name, size,
                    size, w, h, channels);
  int side = w < h ? w : h;
  int x0 = (w - side) / 2, y0 = (h - side) / 2;
  size_t stride = (size_t)w * (size_t)channels;
  const unsigned char *src = img + (size_t)y0 * stride + (size_t)x0 * (size_t)channels;
  size_t row = (size_t)size * (size_t)channels;
  uint8_t *tmp = ldm_malloc(row * (size_t)size);
  if (!tmp) return LDM_ERR_NOMEM;
  if (side == size) {
    for (int y = 0; y < size; y++) memcpy(tmp + (size_t)y * row, src + (size_t)y * stride, row);
  } else if (!stbir_resize_uint8(src, side, side, (int)stride, tmp, size, size, 0, channels)) {
    free(tmp);
    return LDM_FAIL(LDM_ERR_NOMEM, "%s: out of host memory resizing %dx%d to %dx%d", name, side, side, size, size);
  }
  size_t plane = (size_t)size * (size_t)size;
  for (size_t p = 0; p < plane; p++)
    for (int c = 0; c < channels; c++) dst[(size_t)c * plane + p] = tmp[p * (size_t)channels + (size_t)c];
  free(tmp);
  return LDM_OK;
}

/* Decode one image into dst (channels x size x size, CHW). */
static ldm_status load_one(const char *path, int size, int channels, uint8_t *dst) {
  int w = 0, h = 0;
  uint8_t *img = NULL;
  LDM_TRY(ldm_image_load(path, channels, &img, &w, &h, NULL));
  ldm_status s = ldm_image_square(path, img, w, h, channels, size, dst);
  free(img);
  return s;
}

ldm_status ldm_image_files(const char *dir, char ***files, int *n) {
  *files = NULL;
  *n = 0;
  strlist l = {0};
  ldm_status s = list_dir(dir, NULL, &l);
  if (s == LDM_OK && l.n == 0) s = LDM_FAIL(LDM_ERR_FORMAT, "image folder %s contains no .png/.jpg/.jpeg images", dir);
  if (s != LDM_OK) {
    sl_free(&l);
    return s;
  }
  *files = l.v;
  *n = l.n;
  return LDM_OK;
}

ldm_status ldm_dataset_load_folder(const char *dir, int size, int channels, ldm_dataset *out) {
  memset(out, 0, sizeof *out);
  if (!dir || !dir[0]) return LDM_FAIL(LDM_ERR_INVALID_ARG, "image folder not given (pass --data DIR)");
  if (size <= 0 || size > 16384) return LDM_FAIL(LDM_ERR_INVALID_ARG, "image size %d is out of range 1..16384", size);
  if (channels != 1 && channels != 3)
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "image channels must be 1 or 3, not %d", channels);
  strlist classes = {0}, files = {0};
  int32_t *labels = NULL;
  int nlab = 0, caplab = 0;
  ldm_status s = list_dir(dir, &classes, &files);
  if (s != LDM_OK) goto done;
  if (classes.n > 0) {
    /* Class mode: images directly in dir are ignored; each sub-folder is one class. */
    sl_free(&files);
    for (int c = 0; c < classes.n; c++) {
      /* the names go into config.json and the checkpoints' ldm.classes (JSON: UTF-8) */
      if (!ldm_utf8_valid(classes.v[c], strlen(classes.v[c]))) {
        s = LDM_FAIL(LDM_ERR_FORMAT, "class folder %s/%s: its name is not valid UTF-8 (class names are stored as "
                     "UTF-8 text); rename it", dir, classes.v[c]);
        goto done;
      }
      char *sub = join(dir, classes.v[c]);
      if (!sub) {
        s = LDM_ERR_NOMEM;
        goto done;
      }
      int before = files.n;
      s = list_dir(sub, NULL, &files);
      if (s == LDM_OK && files.n == before)
        s = LDM_FAIL(LDM_ERR_FORMAT, "class folder %s contains no .png/.jpg/.jpeg images", sub);
      free(sub);
      if (s != LDM_OK) goto done;
      if (files.n > caplab) {
        int nc = files.n * 2;
        int32_t *q = realloc(labels, sizeof(int32_t) * (size_t)nc);
        if (!q) {
          s = LDM_FAIL(LDM_ERR_NOMEM, "out of host memory listing image files");
          goto done;
        }
        labels = q;
        caplab = nc;
      }
      for (int i = before; i < files.n; i++) labels[nlab++] = c;
    }
  }
  if (files.n == 0) {
    s = LDM_FAIL(LDM_ERR_FORMAT, "image folder %s contains no .png/.jpg/.jpeg images", dir);
    goto done;
  }
  size_t per = (size_t)channels * (size_t)size * (size_t)size;
  size_t total;
  if (__builtin_mul_overflow(per, (size_t)files.n, &total)) {
    s = LDM_FAIL(LDM_ERR_NOMEM, "image folder %s: %d images of %dx%d do not fit in memory", dir, files.n, size, size);
    goto done;
  }
  out->pixels = ldm_malloc(total);
  out->labels = ldm_malloc(sizeof(int32_t) * (size_t)files.n);
  if (!out->pixels || !out->labels) {
    s = LDM_ERR_NOMEM;
    goto done;
  }
  for (int i = 0; i < files.n; i++) {
    if ((s = load_one(files.v[i], size, channels, out->pixels + per * (size_t)i)) != LDM_OK) goto done;
    out->labels[i] = classes.n > 0 ? labels[i] : -1;
  }
  out->n = files.n;
  out->channels = channels;
  out->height = out->width = size;
  if (classes.n > 0) {
    out->num_classes = classes.n;
    out->class_names = classes.v; /* take ownership */
    classes.v = NULL;
    classes.n = classes.cap = 0;
  }
done:
  sl_free(&classes);
  sl_free(&files);
  free(labels);
  if (s != LDM_OK) ldm_dataset_free(out);
  return s;
}
