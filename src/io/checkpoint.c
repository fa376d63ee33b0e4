#include "ldm/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

ldm_status ldm_ckpt_add_arena(ldm_st_writer *w, ldm_exec *e, ldm_arena a, const char *prefix) {
  const ldm_graph *g = ldm_exec_graph(e);
  size_t sz = (size_t)g->arena_size[a];
  uint8_t *img = ldm_malloc(sz ? sz : 1);
  if (!img) return LDM_ERR_NOMEM;
  ldm_status s = ldm_exec_read_arena(e, a, img, sz);
  for (int i = 0; i < g->nt && s == LDM_OK; i++) {
    const ldm_tensor *t = &g->t[i];
    if (t->arena != LDM_ARENA_PARAM || t->view_of != -1) continue;
    char name[LDM_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    s = ldm_st_writer_add(w, name, LDM_DT_F32, t->ndim, t->shape, img + t->offset);
  }
  free(img);
  return s;
}

ldm_status ldm_ckpt_load_arena(const ldm_st_file *f, ldm_exec *e, ldm_arena a, const char *prefix) {
  const ldm_graph *g = ldm_exec_graph(e);
  size_t sz = (size_t)g->arena_size[a];
  uint8_t *img = ldm_calloc(1, sz ? sz : 1);
  if (!img) return LDM_ERR_NOMEM;
  ldm_status s = LDM_OK;
  for (int i = 0; i < g->nt && s == LDM_OK; i++) {
    const ldm_tensor *t = &g->t[i];
    if (t->arena != LDM_ARENA_PARAM || t->view_of != -1) continue;
    char name[LDM_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    const ldm_st_tensor *st;
    s = ldm_st_expect(f, name, LDM_DT_F32, t->ndim, t->shape, &st);
    if (s == LDM_OK) memcpy(img + t->offset, st->data, st->nbytes);
  }
  if (s == LDM_OK) s = ldm_exec_write_arena(e, a, img, sz);
  free(img);
  return s;
}

ldm_status ldm_mkdir_p(const char *path) {
  char tmp[1024];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return LDM_FAIL(LDM_ERR_IO, "path too long: %s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return LDM_FAIL(LDM_ERR_IO, "cannot create directory %s: %s", tmp, strerror(errno));
      *p = '/';
    }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
    return LDM_FAIL(LDM_ERR_IO, "cannot create directory %s: %s", tmp, strerror(errno));
  return LDM_OK;
}

ldm_status ldm_exec_copy_arena(ldm_exec *e, ldm_arena from, ldm_arena to) {
  const ldm_graph *g = ldm_exec_graph(e);
  size_t sz = (size_t)g->arena_size[from];
  if ((int64_t)sz > g->arena_size[to]) return LDM_FAIL(LDM_ERR_INTERNAL, "arena copy into a smaller arena");
  uint8_t *img = ldm_malloc(sz ? sz : 1);
  if (!img) return LDM_ERR_NOMEM;
  ldm_status s = ldm_exec_read_arena(e, from, img, sz);
  if (s == LDM_OK) s = ldm_exec_write_arena(e, to, img, sz);
  free(img);
  return s;
}
