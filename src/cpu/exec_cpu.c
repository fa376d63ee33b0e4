/* The CPU reference backend: interprets the node list over host arenas. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/exec.h"
#include "core/ops.h"

typedef struct {
  ldm_exec base;
  uint8_t *arena[LDM_ARENA_COUNT];
} cpu_exec;

static void *resolve(cpu_exec *c, int t) {
  ldm_arena a;
  int64_t off;
  ldm_tensor_storage(c->base.g, t, &a, &off);
  return c->arena[a] + off;
}

/* the fast twin of an op (the table entry's cpu function) */
static ldm_node_fn fast_of(int op) { return ldm_op(op)->cpu; }

ldm_status ldm_exec_cpu_run_with(ldm_exec *e, int first, int last, ldm_node_fn (*fn_of)(int op)) {
  if (e->is_vk) return LDM_FAIL(LDM_ERR_INVALID_ARG, "a CPU node function cannot run over a Vulkan executor");
  const ldm_graph *g = e->g;
  if (first < 0 || last > g->nn || first > last) return LDM_FAIL(LDM_ERR_INVALID_ARG, "bad node range");
  cpu_exec *c = (cpu_exec *)e;
  for (int i = first; i < last; i++) {
    const ldm_node *n = &g->n[i];
    ldm_node_fn f = fn_of(n->op);
    if (!f) return LDM_FAIL(LDM_ERR_INTERNAL, "node %d (%s): no CPU function for op %d", i, n->label, n->op);
    void *buf[LDM_MAX_IN + LDM_MAX_OUT];
    for (int k = 0; k < n->nin; k++) buf[k] = resolve(c, n->in[k]);
    for (int k = 0; k < n->nout; k++) buf[n->nin + k] = resolve(c, n->out[k]);
    struct timespec t0, t1;
    if (e->timing) clock_gettime(CLOCK_MONOTONIC, &t0);
    f(g, n, buf);
    if (e->timing) {
      clock_gettime(CLOCK_MONOTONIC, &t1);
      e->node_ms[i] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6;
    }
  }
  return LDM_OK;
}

static ldm_status cpu_run(ldm_exec *e, int first, int last) { return ldm_exec_cpu_run_with(e, first, last, fast_of); }

static ldm_status cpu_write(ldm_exec *e, ldm_arena a, int64_t off, const void *d, size_t n) {
  memcpy(((cpu_exec *)e)->arena[a] + off, d, n);
  return LDM_OK;
}
static ldm_status cpu_read(ldm_exec *e, ldm_arena a, int64_t off, void *d, size_t n) {
  memcpy(d, ((cpu_exec *)e)->arena[a] + off, n);
  return LDM_OK;
}
static void *cpu_host_ptr(ldm_exec *e, ldm_arena a, int64_t off) { return ((cpu_exec *)e)->arena[a] + off; }
static void cpu_destroy(ldm_exec *e) {
  cpu_exec *c = (cpu_exec *)e;
  for (int a = 0; a < LDM_ARENA_COUNT; a++) free(c->arena[a]);
  free(c);
}

static const ldm_exec_vtbl cpu_vt = {cpu_run, cpu_write, cpu_read, cpu_host_ptr, cpu_destroy};

ldm_status ldm_exec_cpu(const ldm_graph *g, ldm_exec **out) {
  if (!g->planned) return LDM_FAIL(LDM_ERR_INTERNAL, "graph must be planned before execution");
  for (int i = 0; i < g->nn; i++) LDM_TRY(ldm_op_check_pc(&g->n[i])); /* pc_size = the manifest's block size */
  cpu_exec *c = ldm_calloc(1, sizeof *c);
  if (!c) return LDM_ERR_NOMEM;
  c->base.g = g;
  c->base.vt = &cpu_vt;
  c->base.node_ms = ldm_calloc((size_t)g->nn + 1, sizeof(double));
  if (!c->base.node_ms) {
    free(c);
    return LDM_ERR_NOMEM;
  }
  for (int a = 0; a < LDM_ARENA_COUNT; a++) {
    size_t sz = (size_t)g->arena_size[a];
    c->arena[a] = aligned_alloc(64, (sz + 63) / 64 * 64 + 64);
    if (!c->arena[a]) {
      ldm_exec_free(&c->base);
      return LDM_FAIL(LDM_ERR_NOMEM, "out of host memory for a %zu-byte arena", sz);
    }
    memset(c->arena[a], 0, sz + 64);
  }
  *out = &c->base;
  return LDM_OK;
}
