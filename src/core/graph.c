/* Static graph: tensors, nodes, reverse-mode autodiff; ldm_graph_plan runs the level schedule
 * (graph_sched.c) and the memory plan (memplan.c). */
#include "ldm/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fuse.h"
#include "core/ops.h"
#include "core/sched.h"

ldm_status ldm_graph_init(ldm_graph *g) {
  memset(g, 0, sizeof *g);
  g->cap_t = 256;
  g->cap_n = 256;
  g->t = ldm_calloc((size_t)g->cap_t, sizeof *g->t);
  g->n = ldm_calloc((size_t)g->cap_n, sizeof *g->n);
  if (!g->t || !g->n) {
    ldm_graph_free(g);
    return LDM_ERR_NOMEM;
  }
  return LDM_OK;
}

void ldm_graph_free(ldm_graph *g) {
  free(g->t);
  free(g->n);
  memset(g, 0, sizeof *g);
}

/* ---------------------------------------------------------------- builder errors */

ldm_status ldm_graph_status(const ldm_graph *g) { return g->status; }

static void record(ldm_graph *g, ldm_status s, const char *file, int line, const char *msg) {
  const char *base = strrchr(file, '/');
  g->status = s;
  snprintf(g->err_msg, sizeof g->err_msg, "%s", msg);
  snprintf(g->err_file, sizeof g->err_file, "%s", base ? base + 1 : file);
  g->err_line = line;
}

/* the recorded error becomes the thread error again */
static ldm_status restore(const ldm_graph *g) {
  return ldm_set_error(g->status, g->err_file, g->err_line, "%s", g->err_msg);
}

ldm_status ldm_graph_refuse(ldm_graph *g, ldm_status status, const char *file, int line, const char *fmt, ...) {
  if (g->status != LDM_OK) return status;
  char msg[sizeof g->err_msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ldm_set_error(status, file, line, "%s", msg);
  record(g, status, file, line, ldm_last_error()); /* the thread's one-line form; the graph has failed */
  return status;
}

/* A builder was given LDM_NONE. Every refusal fails its graph, so a graph still OK here was given an id
 * that no refusal of its own returned. */
static ldm_status graph_fail(ldm_graph *g) {
  if (g->status == LDM_OK)
    record(g, LDM_ERR_INTERNAL, __FILE__, __LINE__, "a graph builder was given LDM_NONE, but no call was refused");
  return restore(g);
}

ldm_status ldm_graph_check(ldm_graph *g, int id) {
  if (id == LDM_NONE) graph_fail(g);
  return g->status != LDM_OK ? restore(g) : LDM_OK;
}

bool ldm_graph_inputs(ldm_graph *g, const int *ids, int n) {
  if (g->status != LDM_OK) return false;
  for (int i = 0; i < n; i++) {
    if (ids[i] == LDM_NONE) {
      graph_fail(g);
      return false;
    }
    if (ids[i] < 0 || ids[i] >= g->nt) {
      LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "tensor id %d is not a tensor of this graph", ids[i]);
      return false;
    }
  }
  return true;
}

static size_t dtype_size(ldm_dtype d) { return d == LDM_U8 ? 1 : 4; }

int64_t ldm_tensor_bytes(const ldm_tensor *t) {
  int64_t b = t->numel * (int64_t)dtype_size(t->dtype);
  return (b + 3) & ~(int64_t)3; /* storage is always read as 32-bit words */
}

void ldm_scope_set(ldm_graph *g, const char *prefix) {
  snprintf(g->scope, sizeof g->scope, "%s", prefix ? prefix : "");
}

int ldm_tensor_new(ldm_graph *g, const char *name, ldm_arena arena, ldm_dtype dt, int ndim, const int64_t *shape) {
  if (g->status != LDM_OK) return LDM_NONE;
  if (g->planned) return LDM_REFUSE(g, LDM_ERR_INTERNAL, "tensor '%s' added after the graph was planned", name);
  if (ndim < 1 || ndim > LDM_MAX_DIMS)
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "tensor '%s': %d dimensions (1..%d allowed)", name, ndim, LDM_MAX_DIMS);
  /* `shape` and `name` may point into g->t itself (a caller passing g->t[x].shape or a pointer from
   * ldm_T()): copy both before the table can move. */
  int64_t dims[LDM_MAX_DIMS];
  char nm[LDM_NAME_MAX];
  snprintf(nm, sizeof nm, "%s", name);
  int64_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    dims[i] = shape[i];
    if (dims[i] <= 0 || numel > INT64_MAX / dims[i])
      return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "tensor '%s': invalid dimension %lld", nm, (long long)dims[i]);
    numel *= dims[i];
  }
  if (g->nt == g->cap_t) {
    ldm_tensor *nt = realloc(g->t, (size_t)g->cap_t * 2 * sizeof *nt);
    if (!nt) return LDM_REFUSE(g, LDM_ERR_NOMEM, "out of host memory growing the tensor table");
    g->t = nt;
    g->cap_t *= 2;
  }
  ldm_tensor *t = &g->t[g->nt];
  memset(t, 0, sizeof *t);
  memcpy(t->name, nm, sizeof t->name);
  t->arena = arena;
  t->dtype = dt;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = dims[i];
  t->numel = numel;
  t->offset = -1;
  t->view_of = -1;
  t->grad = -1;
  t->first_use = t->last_use = -1;
  return g->nt++;
}

int ldm_act(ldm_graph *g, const char *name, int ndim, const int64_t *shape) {
  return ldm_tensor_new(g, name, LDM_ARENA_ACT, LDM_F32, ndim, shape);
}

int ldm_param(ldm_graph *g, const char *name, int ndim, const int64_t *shape) {
  char full[LDM_NAME_MAX];
  snprintf(full, sizeof full, "%s%s", g->scope, name);
  if (g->status != LDM_OK) return LDM_NONE;
  if (ldm_find(g, full) >= 0) return LDM_REFUSE(g, LDM_ERR_INTERNAL, "parameter '%s' defined twice", full);
  int id = ldm_tensor_new(g, full, LDM_ARENA_PARAM, LDM_F32, ndim, shape);
  if (id >= 0) g->t[id].requires_grad = true;
  return id;
}

int ldm_host(ldm_graph *g, const char *name, ldm_dtype dt, int64_t n) {
  return ldm_tensor_new(g, name, LDM_ARENA_HOST, dt, 1, &n);
}

int ldm_view(ldm_graph *g, int base, const char *name, int64_t elem_offset, int ndim, const int64_t *shape) {
  LDM_INPUTS(g, base);
  ldm_arena ar = g->t[base].arena;
  ldm_dtype dt = g->t[base].dtype;
  int id = ldm_tensor_new(g, name, ar, dt, ndim, shape);
  if (id < 0) return -1;
  ldm_tensor *b = &g->t[base];
  if (elem_offset < 0 || elem_offset + g->t[id].numel > b->numel) {
    g->nt--;
    return LDM_REFUSE(g, LDM_ERR_INVALID_ARG, "view '%s' of '%s' out of range", g->t[id].name, b->name);
  }
  int64_t byte_off = elem_offset * (int64_t)dtype_size(dt);
  if (b->view_of >= 0) {
    byte_off += b->view_offset;
    base = b->view_of;
  }
  g->t[id].view_of = base;
  g->t[id].view_offset = byte_off;
  g->t[id].requires_grad = g->t[base].requires_grad;
  return id;
}

int ldm_arena_view(ldm_graph *g, ldm_arena arena, const char *name) {
  /* A pseudo-tensor spanning the arena; planned to offset 0 with the arena's full size. */
  int64_t total = 0;
  /* GRAD, ADAM_M, ADAM_V and EMA mirror the PARAM layout */
  ldm_arena layout = (arena >= LDM_ARENA_GRAD && arena <= LDM_ARENA_EMA) ? LDM_ARENA_PARAM : arena;
  for (int i = 0; i < g->nt; i++) {
    const ldm_tensor *t = &g->t[i];
    if (t->arena != layout || t->view_of != -1) continue;
    total += (ldm_tensor_bytes(t) + LDM_ALIGN - 1) / LDM_ALIGN * LDM_ALIGN;
  }
  if (g->status != LDM_OK) return LDM_NONE;
  if (total == 0) return LDM_REFUSE(g, LDM_ERR_INTERNAL, "arena view '%s' of an empty arena", name);
  int64_t n = total / 4;
  int id = ldm_tensor_new(g, name, arena, LDM_F32, 1, &n);
  if (id < 0) return -1;
  g->t[id].view_of = -2; /* marker: whole-arena view, offset 0 */
  return id;
}

int ldm_find(const ldm_graph *g, const char *name) {
  for (int i = 0; i < g->nt; i++)
    if (strcmp(g->t[i].name, name) == 0) return i;
  return -1;
}

void ldm_tensor_storage(const ldm_graph *g, int id, ldm_arena *arena, int64_t *offset) {
  const ldm_tensor *t = &g->t[id];
  *arena = t->arena;
  if (t->view_of >= 0)
    *offset = g->t[t->view_of].offset + t->view_offset;
  else if (t->view_of == -2)
    *offset = 0;
  else
    *offset = t->offset;
}

int ldm_node_add(ldm_graph *g, int op, const int *in, int nin, const int *out, int nout, const void *pc,
                 uint32_t pc_size, const char *label) {
  if (nin > LDM_MAX_IN || nout > LDM_MAX_OUT || pc_size > LDM_MAX_PC || op < 0 || op >= LDM_OP_COUNT)
    return LDM_REFUSE(g, LDM_ERR_INTERNAL, "node '%s': bad arity or push-constant size", label ? label : "?");
  if (!ldm_graph_inputs(g, in, nin) || !ldm_graph_inputs(g, out, nout)) return -1;
  if (g->nn == g->cap_n) {
    ldm_node *nn = realloc(g->n, (size_t)g->cap_n * 2 * sizeof *nn);
    if (!nn) return LDM_REFUSE(g, LDM_ERR_NOMEM, "out of host memory growing the node list");
    g->n = nn;
    g->cap_n *= 2;
  }
  ldm_node *n = &g->n[g->nn];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->nin = nin;
  n->nout = nout;
  if (nin) memcpy(n->in, in, (size_t)nin * sizeof *in);
  memcpy(n->out, out, (size_t)nout * sizeof *out);
  if (pc_size) memcpy(n->pc, pc, pc_size);
  n->pc_size = pc_size;
  snprintf(n->label, sizeof n->label, "%s", label ? label : ldm_op(op)->name);
  n->backward = g->n_forward > 0;
  /* gradient flows to outputs of nodes reading tensors that require it */
  bool rg = false;
  for (int i = 0; i < nin; i++) rg |= g->t[in[i]].requires_grad;
  if (rg && !n->backward)
    for (int i = 0; i < nout; i++)
      if (g->t[out[i]].arena == LDM_ARENA_ACT && !g->t[out[i]].scratch) g->t[out[i]].requires_grad = true;
  return g->nn++;
}

int ldm_node_emit(ldm_graph *g, int op, const int *in, int nin, const int *out, int nout, const void *pc,
                  uint32_t pc_size, const char *label) {
  return ldm_node_add(g, op, in, nin, out, nout, pc, pc_size, label) < 0 ? LDM_NONE : out[0];
}

void ldm_node_spec(ldm_graph *g, int node, const uint32_t *spec, uint32_t nspec) {
  if (node < 0 || node >= g->nn) return;
  ldm_node *n = &g->n[node];
  n->nspec = nspec > LDM_MAX_SPEC ? LDM_MAX_SPEC : nspec;
  memcpy(n->spec, spec, n->nspec * sizeof *spec);
}

/* ---------------------------------------------------------------- autodiff */

int ldm_grad_of(const ldm_graph *g, int t) { return t >= 0 && t < g->nt ? g->t[t].grad : LDM_NONE; }

int ldm_grad_target(ldm_graph *g, int t, int *accumulate) {
  *accumulate = 0;
  if (!ldm_graph_inputs(g, &t, 1)) return LDM_NONE;
  ldm_tensor *x = &g->t[t];
  if (x->grad < 0) {
    char nm[LDM_NAME_MAX];
    snprintf(nm, sizeof nm, "grad:%.80s", x->name);
    ldm_arena ar = x->arena == LDM_ARENA_PARAM ? LDM_ARENA_GRAD : LDM_ARENA_ACT;
    int gid = ldm_tensor_new(g, nm, ar, LDM_F32, x->ndim, x->shape);
    if (gid < 0) return LDM_NONE;
    x = &g->t[t]; /* table may have moved */
    x->grad = gid;
  }
  /* parameter grads always accumulate (+=); the trainer zeroes the GRAD arena once per step */
  *accumulate = (x->arena == LDM_ARENA_PARAM || x->grad_writes > 0) ? 1 : 0;
  x->grad_writes++;
  return x->grad;
}

int ldm_grad_out(const ldm_graph *g, int ni, int k) { return ldm_grad_of(g, g->n[ni].out[k]); }

int ldm_grad_in(ldm_graph *g, int ni, int k, int *accumulate) {
  int t = g->n[ni].in[k];
  *accumulate = 0;
  return g->t[t].requires_grad ? ldm_grad_target(g, t, accumulate) : LDM_NONE;
}

int ldm_grad_alias(ldm_graph *g, int ni, int k, int dy) {
  if (dy < 0 || dy >= g->nt || ni < 0 || ni >= g->nn || k < 0 || k >= g->n[ni].nin) return 0;
  const ldm_node *n = &g->n[ni];
  int t = n->in[k];
  const ldm_tensor *x = &g->t[t], *d = &g->t[dy];
  if (!x->requires_grad || x->grad >= 0 || x->arena == LDM_ARENA_PARAM || d->arena != LDM_ARENA_ACT) return 0;
  if (x->dtype != d->dtype || x->ndim != d->ndim) return 0;
  for (int i = 0; i < x->ndim; i++)
    if (x->shape[i] != d->shape[i]) return 0;
  /* x + x: the second contribution would read what it writes; a + b: dy is one input's gradient at most,
   * or the other's contributions would land in it */
  for (int j = 0; j < n->nin; j++)
    if (j != k && (n->in[j] == t || g->t[n->in[j]].grad == dy)) return 0;
  g->t[t].grad = dy;
  g->t[t].grad_writes = 1;
  return 1;
}

ldm_status ldm_emit_unary_backward(ldm_graph *g, int ni, int op, int a, void *pc, uint32_t pc_size,
                                   size_t acc_offset) {
  int acc, dx = ldm_grad_in(g, ni, 0, &acc);
  uint32_t flag = (uint32_t)acc;
  memcpy((uint8_t *)pc + acc_offset, &flag, sizeof flag);
  ldm_node_add(g, op, (int[]){a, ldm_grad_out(g, ni, 0)}, 2, &dx, 1, pc, pc_size, ldm_op(op)->name);
  return LDM_OK; /* a refusal fails the graph in ldm_graph_backward */
}

ldm_status ldm_graph_backward(ldm_graph *g, int loss) {
  if (ldm_graph_check(g, loss) != LDM_OK) return g->status;
  if (loss < 0 || loss >= g->nt)
    return LDM_GRAPH_FAIL(g, LDM_ERR_INVALID_ARG, "backward: loss id %d is not a tensor", loss);
  if (g->n_forward > 0) return LDM_FAIL(LDM_ERR_INTERNAL, "backward called twice on one graph");
  if (g->t[loss].numel != 1) return LDM_FAIL(LDM_ERR_INTERNAL, "backward: loss '%s' is not a scalar", g->t[loss].name);
  if (!g->t[loss].requires_grad) return LDM_FAIL(LDM_ERR_INTERNAL, "backward: loss does not depend on any parameter");
  int nf = g->nn;
  g->n_forward = nf;
  /* seed: d loss / d loss = 1 */
  int acc;
  int seed = ldm_grad_target(g, loss, &acc);
  if (seed < 0) return restore(g);
  struct { float value; uint32_t n; } fpc = {1.0f, 1};
  if (ldm_node_add(g, LDM_OP_fill, NULL, 0, &seed, 1, &fpc, sizeof fpc, "backward seed") < 0) return restore(g);
  g->n[g->nn - 1].backward = true;
  for (int i = nf - 1; i >= 0; i--) {
    const ldm_node *n = &g->n[i];
    bool has = false;
    for (int k = 0; k < n->nout; k++)
      if (g->t[n->out[k]].grad >= 0) has = true;
    if (!has) continue;
    bool needs = false;
    for (int k = 0; k < n->nin; k++)
      if (g->t[n->in[k]].requires_grad) needs = true;
    if (!needs) continue;
    const ldm_op_desc *d = ldm_op(n->op);
    if (!d->backward)
      return LDM_FAIL(LDM_ERR_INTERNAL, "op '%s' (node '%s') has no backward", d->name, n->label);
    int before = g->nn;
    ldm_status s = d->backward(g, i);
    /* a refused call inside an emitter has failed the graph: the gradient is incomplete */
    if (g->status != LDM_OK) s = restore(g);
    if (s != LDM_OK) return s;
    for (int k = before; k < g->nn; k++) g->n[k].backward = true;
  }
  return LDM_OK;
}

/* ---------------------------------------------------------------- memory plan */

void ldm_keep(ldm_graph *g, int t) {
  if (t < 0 || t >= g->nt) return;
  if (g->t[t].view_of >= 0) t = g->t[t].view_of;
  g->t[t].first_use = 0;
  g->t[t].last_use = INT32_MAX;
}

int ldm_graph_fence(ldm_graph *g) {
  if (g->status != LDM_OK) return -1;
  if (g->nfence >= LDM_MAX_FENCES) {
    LDM_GRAPH_FAIL(g, LDM_ERR_INTERNAL, "more than %d node fences in one graph", LDM_MAX_FENCES);
    return -1;
  }
  g->fence[g->nfence] = g->nn;
  return g->nfence++;
}

int ldm_graph_fence_node(const ldm_graph *g, int slot) {
  return slot >= 0 && slot < g->nfence ? g->fence[slot] : g->nn;
}

ldm_status ldm_graph_plan(ldm_graph *g) {
  if (g->status != LDM_OK) return restore(g);
  if (g->planned) return LDM_OK;
  LDM_TRY(ldm_graph_merge_copies(g));     /* a concat's / split's channel copies -> one dispatch (fuse.c) */
  LDM_TRY(ldm_graph_schedule(g));         /* the level schedule (graph_sched.c): reorders nodes inside fences */
  LDM_TRY(ldm_graph_merge_reductions(g)); /* adjacent independent reduce_sums -> one dispatch (fuse.c) */
  LDM_TRY(ldm_memplan(g));                /* offsets (memplan.c), on the final order's levels */
  g->planned = true;
  return LDM_OK;
}

void ldm_graph_dump(const ldm_graph *g, void *stream) {
  FILE *f = stream;
  for (int i = 0; i < g->nn; i++) {
    const ldm_node *n = &g->n[i];
    fprintf(f, "%4d %-18s %-40s in:", i, ldm_op(n->op)->name, n->label);
    for (int k = 0; k < n->nin; k++) fprintf(f, " %s", g->t[n->in[k]].name);
    fprintf(f, " out:");
    for (int k = 0; k < n->nout; k++) fprintf(f, " %s", g->t[n->out[k]].name);
    fprintf(f, "\n");
  }
}
