/* The Configuration section of report.html: config.json, or else the ldm.* metadata of the run's
 * checkpoints (read once per file version and cached, as reading a checkpoint validates all of it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ldm/io.h"
#include "report/json.h"
#include "report/run.h"

/* ---------------------------------------------------------------- checkpoint metadata (cached) */

static meta_cache g_meta[4];

static void meta_clear(meta_cache *c) {
  for (int i = 0; i < c->n; i++) free(c->k[i]), free(c->v[i]);
  free(c->k);
  free(c->v);
  memset(c, 0, sizeof *c);
}

/* the ldm.* metadata of a safetensors file; NULL if the file does not exist. Reading a checkpoint
 * validates the whole file, so the result is kept until the file changes. */
const meta_cache *ldm_run_checkpoint_meta(const char *path) {
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return NULL;
  meta_cache *slot = NULL;
  for (int i = 0; i < 4; i++)
    if (g_meta[i].valid && !strcmp(g_meta[i].path, path)) slot = &g_meta[i];
  if (slot && slot->dev == sb.st_dev && slot->ino == sb.st_ino && slot->size == sb.st_size &&
      slot->mtime.tv_sec == sb.st_mtim.tv_sec && slot->mtime.tv_nsec == sb.st_mtim.tv_nsec)
    return slot;
  if (!slot)
    for (int i = 0; i < 4 && !slot; i++)
      if (!g_meta[i].valid) slot = &g_meta[i];
  if (!slot) slot = &g_meta[0];
  meta_clear(slot);
  snprintf(slot->path, sizeof slot->path, "%s", path);
  slot->dev = sb.st_dev, slot->ino = sb.st_ino, slot->size = sb.st_size, slot->mtime = sb.st_mtim;
  slot->valid = true;
  ldm_st_file *f;
  if (ldm_st_open(path, &f) != LDM_OK) {
    snprintf(slot->err, sizeof slot->err, "%s", ldm_last_error());
    ldm_clear_error();
    return slot;
  }
  int n = ldm_st_meta_count(f);
  slot->k = calloc((size_t)(n ? n : 1), sizeof *slot->k);
  slot->v = calloc((size_t)(n ? n : 1), sizeof *slot->v);
  for (int i = 0; i < n && slot->k && slot->v; i++) {
    const char *k, *v;
    ldm_st_meta_at(f, i, &k, &v);
    if (strncmp(k, "ldm.", 4) != 0) continue;
    slot->k[slot->n] = strdup(k);
    slot->v[slot->n] = strdup(v ? v : "");
    if (!slot->k[slot->n] || !slot->v[slot->n]) {
      free(slot->k[slot->n]), free(slot->v[slot->n]);
      break;
    }
    slot->n++;
  }
  if (!slot->k || !slot->v) snprintf(slot->err, sizeof slot->err, "out of memory reading its metadata");
  ldm_st_close(f);
  return slot;
}

const char *ldm_run_meta_get(const meta_cache *c, const char *key) {
  for (int i = 0; c && i < c->n; i++)
    if (!strcmp(c->k[i], key)) return c->v[i];
  return NULL;
}

/* ---------------------------------------------------------------- configuration */

static void json_inline(ldm_sbuf *o, const ldm_json *v) {
  char b[64];
  switch (v->type) {
  case LDM_JSON_NULL: ldm_sb_put(o, "null"); break;
  case LDM_JSON_BOOL: ldm_sb_put(o, v->b ? "true" : "false"); break;
  case LDM_JSON_NUM:
    snprintf(b, sizeof b, "%.10g", v->num);
    ldm_sb_put(o, b);
    break;
  case LDM_JSON_STR: ldm_sb_html(o, v->str); break;
  case LDM_JSON_ARR:
    ldm_sb_put(o, "[");
    for (size_t i = 0; i < v->n; i++) {
      if (i) ldm_sb_put(o, ", ");
      json_inline(o, &v->items[i]);
    }
    ldm_sb_put(o, "]");
    break;
  case LDM_JSON_OBJ:
    ldm_sb_put(o, "{");
    for (size_t i = 0; i < v->n; i++) {
      if (i) ldm_sb_put(o, ", ");
      ldm_sb_html(o, v->keys[i]);
      ldm_sb_put(o, ": ");
      json_inline(o, &v->items[i]);
    }
    ldm_sb_put(o, "}");
    break;
  }
}

static void config_rows(ldm_sbuf *o, const char *prefix, const ldm_json *v, int depth) {
  for (size_t i = 0; i < v->n; i++) {
    const ldm_json *x = &v->items[i];
    char key[512];
    snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", v->keys[i]);
    if (x->type == LDM_JSON_OBJ && depth < 4) {
      config_rows(o, key, x, depth + 1);
      continue;
    }
    ldm_sb_put(o, "<tr><th>");
    ldm_sb_html(o, key);
    ldm_sb_put(o, "</th><td>");
    json_inline(o, x);
    ldm_sb_put(o, "</td></tr>\n");
  }
}

ldm_status ldm_run_config_section(ldm_sbuf *o, const char *dir, const meta_cache *mv, const meta_cache *mu) {
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", dir);
  ldm_sb_put(o, "<h2 id=\"config\">Configuration</h2>\n");
  struct stat sb;
  if (stat(path, &sb) == 0) {
    ldm_json cfg;
    LDM_TRY(ldm_json_parse_file(path, (size_t)64 << 20, false, &cfg));
    ldm_sb_put(o, "<p class=\"sub\">from config.json</p>\n<table>\n");
    if (cfg.type == LDM_JSON_OBJ) config_rows(o, "", &cfg, 0);
    else {
      ldm_sb_put(o, "<tr><td>");
      json_inline(o, &cfg);
      ldm_sb_put(o, "</td></tr>\n");
    }
    ldm_sb_put(o, "</table>\n");
    ldm_json_free(&cfg);
    return LDM_OK;
  }
  const meta_cache *m[2] = {mv, mu};
  const char *names[2] = {"vae.safetensors", "unet.safetensors"};
  if (!mv && !mu) {
    ldm_sb_put(o, "<p class=\"muted\">no config.json and no checkpoint (vae.safetensors, unet.safetensors) yet</p>\n");
    return LDM_OK;
  }
  ldm_sb_put(o, "<p class=\"sub\">no config.json: the <code>ldm.*</code> metadata of the checkpoints</p>\n");
  for (int k = 0; k < 2; k++)
    if (m[k] && m[k]->err[0]) {
      ldm_sb_printf(o, "<p class=\"warn\">%s could not be read: ", names[k]);
      ldm_sb_html(o, m[k]->err);
      ldm_sb_put(o, "</p>\n");
    }
  /* union of the keys, in the order of the first file that has them */
  ldm_sb_put(o, "<table>\n<tr><th>key</th>");
  for (int k = 0; k < 2; k++)
    if (m[k]) ldm_sb_printf(o, "<th>%s</th>", names[k]);
  ldm_sb_put(o, "</tr>\n");
  for (int k = 0; k < 2; k++) {
    if (!m[k]) continue;
    for (int i = 0; i < m[k]->n; i++) {
      const char *key = m[k]->k[i];
      if (k == 1 && ldm_run_meta_get(m[0], key)) continue; /* already listed */
      ldm_sb_put(o, "<tr><th>");
      ldm_sb_html(o, key);
      ldm_sb_put(o, "</th>");
      for (int j = 0; j < 2; j++) {
        if (!m[j]) continue;
        const char *v = ldm_run_meta_get(m[j], key);
        ldm_sb_put(o, v ? "<td>" : "<td class=\"miss\">");
        ldm_sb_html(o, v ? v : "\xE2\x80\x93");
        ldm_sb_put(o, "</td>");
      }
      ldm_sb_put(o, "</tr>\n");
    }
  }
  ldm_sb_put(o, "</table>\n");
  return LDM_OK;
}

