/* The sample-grid timeline of report.html: samples/<prefix>_<step>.png grouped by prefix (VAE
 * reconstructions first, then UNet samples) in step order, and the final samples.png. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ldm/ldm.h"
#include "report/run.h"

typedef struct {
  char name[256];
  char prefix[128];
  long long step;
} sample_png;

static int group_rank(const char *p) {
  if (!strcmp(p, "vae_recon")) return 0;
  if (!strcmp(p, "unet")) return 1;
  return 2;
}

static int cmp_png(const void *a, const void *b) {
  const sample_png *x = a, *y = b;
  int rx = group_rank(x->prefix), ry = group_rank(y->prefix);
  if (rx != ry) return rx - ry;
  int c = strcmp(x->prefix, y->prefix);
  if (c) return c;
  if (x->step != y->step) return x->step < y->step ? -1 : 1;
  return strcmp(x->name, y->name);
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static ldm_status list_samples(const char *dir, sample_png **out, int *n) {
  *out = NULL;
  *n = 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/samples", dir);
  DIR *d = opendir(path);
  if (!d) return LDM_OK;
  int cap = 0;
  struct dirent *e;
  ldm_status s = LDM_OK;
  while ((e = readdir(d))) {
    const char *nm = e->d_name;
    if (nm[0] == '.' || !ends_with(nm, ".png") || strstr(nm, ".tmp") || strlen(nm) >= sizeof(*out)[0].name) continue;
    char full[4500];
    struct stat sb;
    snprintf(full, sizeof full, "%s/%s", path, nm);
    if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (*n == cap) {
      int nc = cap ? cap * 2 : 32;
      sample_png *np = realloc(*out, (size_t)nc * sizeof *np);
      if (!np) {
        s = LDM_FAIL(LDM_ERR_NOMEM, "out of memory listing %s", path);
        break;
      }
      *out = np, cap = nc;
    }
    sample_png *p = &(*out)[(*n)++];
    snprintf(p->name, sizeof p->name, "%s", nm);
    /* <prefix>_<digits>.png */
    size_t L = strlen(nm) - 4, k = L;
    while (k > 0 && nm[k - 1] >= '0' && nm[k - 1] <= '9') k--;
    if (k < L && k > 1 && nm[k - 1] == '_' && L - k < 16 && k - 1 < sizeof p->prefix) {
      memcpy(p->prefix, nm, k - 1);
      p->prefix[k - 1] = 0;
      p->step = strtoll(nm + k, NULL, 10);
    } else {
      snprintf(p->prefix, sizeof p->prefix, "%.*s", (int)(L < sizeof p->prefix - 1 ? L : sizeof p->prefix - 1), nm);
      p->step = -1;
    }
  }
  closedir(d);
  if (s == LDM_OK && *n > 1) qsort(*out, (size_t)*n, sizeof **out, cmp_png);
  return s;
}

/* width and height from a PNG's IHDR (false if it is not a PNG) */
static bool png_size(const char *path, int *w, int *h) {
  unsigned char b[24];
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t k = fread(b, 1, sizeof b, f);
  fclose(f);
  if (k != sizeof b || memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0) return false;
  unsigned long W = (unsigned long)b[16] << 24 | (unsigned long)b[17] << 16 | (unsigned long)b[18] << 8 | b[19];
  unsigned long H = (unsigned long)b[20] << 24 | (unsigned long)b[21] << 16 | (unsigned long)b[22] << 8 | b[23];
  if (W == 0 || H == 0 || W > 100000 || H > 100000) return false;
  *w = (int)W, *h = (int)H;
  return true;
}

/* <img> of a sample grid, scaled up by an integer factor (pixelated) to about 320 px */
static void img_tag(ldm_sbuf *o, const char *dir, const char *rel, const char *base, const char *alt) {
  char full[4500];
  snprintf(full, sizeof full, "%s/%s", dir, rel);
  ldm_sb_put(o, "<a href=\"");
  ldm_sb_url(o, base);
  ldm_sb_url(o, rel);
  ldm_sb_put(o, "\"><img src=\"");
  ldm_sb_url(o, base);
  ldm_sb_url(o, rel);
  ldm_sb_put(o, "\" alt=\"");
  ldm_sb_html(o, alt);
  ldm_sb_put(o, "\"");
  int w, h;
  if (png_size(full, &w, &h)) {
    int big = w > h ? w : h, k = (int)(320.0 / big + 0.5);
    k = k < 1 ? 1 : k > 8 ? 8 : k;
    ldm_sb_printf(o, " width=\"%d\" height=\"%d\"", w * k, h * k);
  }
  ldm_sb_put(o, "></a>");
}

static const char *group_title(const char *p) {
  if (!strcmp(p, "vae_recon")) return "VAE reconstructions (top row: training images, bottom row: reconstructions)";
  if (!strcmp(p, "unet")) return "UNet samples (DDIM, classifier-free guidance; one row per class)";
  return p;
}

void ldm_run_samples_section(ldm_sbuf *o, const char *dir, const char *base) {
  sample_png *pngs;
  int n;
  ldm_sb_put(o, "<h2 id=\"samples\">Sample grids</h2>\n");
  if (list_samples(dir, &pngs, &n) != LDM_OK) {
    ldm_sb_put(o, "<p class=\"warn\">");
    ldm_sb_html(o, ldm_last_error());
    ldm_sb_put(o, "</p>\n");
    ldm_clear_error();
    return;
  }
  if (n == 0) ldm_sb_put(o, "<p class=\"muted\">no sample grids under samples/ yet</p>\n");
  for (int i = 0; i < n;) {
    int j = i;
    while (j < n && !strcmp(pngs[j].prefix, pngs[i].prefix)) j++;
    ldm_sb_put(o, "<h3>");
    ldm_sb_html(o, group_title(pngs[i].prefix));
    ldm_sb_printf(o, " <span class=\"muted\">(%d)</span></h3>\n<div class=\"timeline\">\n", j - i);
    for (int k = i; k < j; k++) {
      char rel[300];
      snprintf(rel, sizeof rel, "samples/%s", pngs[k].name);
      ldm_sb_put(o, "<figure>");
      img_tag(o, dir, rel, base, pngs[k].name);
      ldm_sb_put(o, "<figcaption>");
      if (pngs[k].step >= 0) ldm_sb_printf(o, "step %lld", pngs[k].step);
      else ldm_sb_html(o, pngs[k].name);
      ldm_sb_put(o, "</figcaption></figure>\n");
    }
    ldm_sb_put(o, "</div>\n");
    i = j;
  }
  free(pngs);
  char fin[4200];
  struct stat sb;
  snprintf(fin, sizeof fin, "%s/samples.png", dir);
  if (stat(fin, &sb) == 0 && S_ISREG(sb.st_mode)) {
    ldm_sb_put(o, "<h3>Final samples (samples.png)</h3>\n<div class=\"timeline\"><figure>");
    img_tag(o, dir, "samples.png", base, "samples.png");
    ldm_sb_put(o, "<figcaption>end of training</figcaption></figure></div>\n");
  }
}

