#include "core/exec.h"

#include <stdlib.h>

ldm_status ldm_exec_locate(const ldm_exec *e, int tensor, size_t bytes, ldm_arena *a, int64_t *off) {
  const ldm_graph *g = e->g;
  if (tensor < 0 || tensor >= g->nt) return LDM_FAIL(LDM_ERR_INVALID_ARG, "no tensor with id %d", tensor);
  if ((int64_t)bytes > ldm_tensor_bytes(&g->t[tensor]))
    return LDM_FAIL(LDM_ERR_INVALID_ARG, "tensor '%s' holds %lld bytes, %zu requested", g->t[tensor].name,
                    (long long)ldm_tensor_bytes(&g->t[tensor]), bytes);
  ldm_tensor_storage(g, tensor, a, off);
  return LDM_OK;
}

ldm_status ldm_exec_run(ldm_exec *e) { return e->vt->run_range(e, 0, e->g->nn); }
ldm_status ldm_exec_run_range(ldm_exec *e, int first, int last) {
  if (first < 0 || last > e->g->nn || first > last) return LDM_FAIL(LDM_ERR_INVALID_ARG, "bad node range");
  return e->vt->run_range(e, first, last);
}

ldm_status ldm_exec_write(ldm_exec *e, int tensor, const void *data, size_t bytes) {
  ldm_arena a;
  int64_t off;
  LDM_TRY(ldm_exec_locate(e, tensor, bytes, &a, &off));
  return e->vt->write(e, a, off, data, bytes);
}

ldm_status ldm_exec_read(ldm_exec *e, int tensor, void *data, size_t bytes) {
  ldm_arena a;
  int64_t off;
  LDM_TRY(ldm_exec_locate(e, tensor, bytes, &a, &off));
  return e->vt->read(e, a, off, data, bytes);
}

ldm_status ldm_exec_write_arena(ldm_exec *e, ldm_arena a, const void *data, size_t bytes) {
  if ((int64_t)bytes > e->g->arena_size[a]) return LDM_FAIL(LDM_ERR_INVALID_ARG, "arena write past its end");
  return bytes ? e->vt->write(e, a, 0, data, bytes) : LDM_OK;
}

ldm_status ldm_exec_read_arena(ldm_exec *e, ldm_arena a, void *data, size_t bytes) {
  if ((int64_t)bytes > e->g->arena_size[a]) return LDM_FAIL(LDM_ERR_INVALID_ARG, "arena read past its end");
  return bytes ? e->vt->read(e, a, 0, data, bytes) : LDM_OK;
}

void *ldm_exec_host_ptr(ldm_exec *e, int tensor) {
  ldm_arena a;
  int64_t off;
  ldm_tensor_storage(e->g, tensor, &a, &off);
  if (a != LDM_ARENA_HOST) return NULL;
  return e->vt->host_ptr(e, a, off);
}

const ldm_graph *ldm_exec_graph(const ldm_exec *e) { return e->g; }
bool ldm_exec_is_vk(const ldm_exec *e) { return e->is_vk; }
int ldm_exec_record_count(const ldm_exec *e) { return e->record_count; }
const double *ldm_exec_node_times(const ldm_exec *e) { return e->timing ? e->node_ms : NULL; }
void ldm_exec_enable_timing(ldm_exec *e, bool on) { e->timing = on; }

void ldm_exec_free(ldm_exec *e) {
  if (!e) return;
  free(e->node_ms);
  e->vt->destroy(e);
}
