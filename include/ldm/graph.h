/* ldm-vk static compute graph: tensors are views into arenas, nodes are ops over tensors.
 *
 * A graph is built once per configuration (model, batch size), differentiated by
 * ldm_graph_backward(), planned (offsets assigned), then executed any number of times by a backend
 * (CPU reference interpreter or Vulkan recorded command buffer). Per-step values live in tensors of the
 * HOST arena, which the host writes before each run and shaders read, so nothing is re-recorded. */
#ifndef LDM_GRAPH_H
#define LDM_GRAPH_H
#include "ldm/ldm.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LDM_MAX_DIMS 4
#define LDM_MAX_IN 8
#define LDM_MAX_OUT 4
#define LDM_MAX_PC 128  /* push-constant bytes: the minimum every Vulkan device guarantees */
#define LDM_MAX_SPEC 8
#define LDM_NAME_MAX 96
#define LDM_ALIGN 256   /* byte alignment of every tensor inside its arena (>= minStorageBufferOffsetAlignment) */
#define LDM_SHAPE(...) ((const int64_t[]){__VA_ARGS__}) /* shape literal: LDM_SHAPE(N, C, H, W) */
#define LDM_NONE (-1) /* the tensor id a refused builder returns */

/* Where a tensor lives. PARAM, GRAD, ADAM_M, ADAM_V and EMA share one layout: a parameter sits at the
 * same offset in each, so optimizer, clipping and EMA are single nodes over whole arenas. */
typedef enum ldm_arena {
  LDM_ARENA_PARAM = 0,
  LDM_ARENA_GRAD,
  LDM_ARENA_ADAM_M,
  LDM_ARENA_ADAM_V,
  LDM_ARENA_EMA,
  LDM_ARENA_ACT,   /* activations, activation grads, scratch */
  LDM_ARENA_CONST, /* uploaded once: datasets, schedule tables */
  LDM_ARENA_HOST,  /* host-visible: step buffer, batch indices, losses and flags the host reads */
  LDM_ARENA_COUNT
} ldm_arena;

typedef enum ldm_dtype { LDM_F32 = 0, LDM_U32, LDM_I32, LDM_U8 } ldm_dtype;

/* parameter initialisation, as PyTorch's defaults: uniform(+-1/sqrt(fan_in)) for conv/linear weights
 * and biases, ones/zeros for norm affine, N(0,1) for embeddings */
enum { LDM_INIT_UNIFORM_FAN_IN = 0, LDM_INIT_ONES, LDM_INIT_ZEROS, LDM_INIT_NORMAL };

typedef struct ldm_tensor {
  char name[LDM_NAME_MAX];
  ldm_arena arena;
  ldm_dtype dtype;
  int ndim;
  int64_t shape[LDM_MAX_DIMS];
  int64_t numel;
  int64_t offset;     /* bytes inside the arena; -1 until planned */
  int view_of;        /* >= 0: aliases that tensor's storage at view_offset bytes */
  int64_t view_offset;
  bool requires_grad; /* parameters and everything computed from them */
  int grad;           /* tensor id of the gradient, -1 if none */
  int grad_writes;    /* backward bookkeeping: contributions emitted so far */
  int first_use, last_use; /* node indices, for the memory plan */
  int init_kind;      /* parameters: how the model initialises them (LDM_INIT_*) */
  int64_t fan_in;
  bool scratch;       /* a kernel's private workspace or counters (split-K): written and read inside its node,
                         never compared, never differentiated, not counted as the node's traffic */
} ldm_tensor;

typedef struct ldm_node {
  int op;                       /* index in the op table (core/ops.h) */
  int nin, nout;
  int in[LDM_MAX_IN];
  int out[LDM_MAX_OUT];         /* written (and possibly read: in-place updates) */
  uint8_t pc[LDM_MAX_PC];       /* op parameters = the shader's push-constant block, byte for byte */
  uint32_t pc_size;
  uint32_t spec[LDM_MAX_SPEC];  /* specialization constants (geometry, tiles) */
  uint32_t nspec;
  char label[LDM_NAME_MAX];
  bool backward;                /* emitted by autodiff */
} ldm_node;

#define LDM_MAX_FENCES 8

typedef struct ldm_graph {
  ldm_tensor *t;
  int nt, cap_t;
  ldm_node *n;
  int nn, cap_n;
  int64_t arena_size[LDM_ARENA_COUNT]; /* bytes, after ldm_graph_plan */
  int64_t act_live_peak;               /* the most ACT bytes live in one level (the arena's lower bound) */
  bool planned;
  char scope[LDM_NAME_MAX];            /* name prefix for new parameters, e.g. "enc.0." */
  int n_forward;                        /* nodes before the backward pass was appended */
  int fence[LDM_MAX_FENCES];            /* node boundaries kept through graph passes (ldm_graph_fence) */
  int nfence;
  /* builder errors (see "Errors" below) */
  ldm_status status;                    /* LDM_OK until the graph has failed: the first refusal's status */
  char err_msg[512];                    /* the first refusal's message and location */
  char err_file[64];
  int err_line;
} ldm_graph;

ldm_status ldm_graph_init(ldm_graph *g);
void ldm_graph_free(ldm_graph *g);

/* Errors. A builder (a tensor constructor, ldm_node_add, every op builder in ldm/ops.h, the model
 * builders) that cannot do what it is asked REFUSES: it appends nothing, returns LDM_NONE, sets the thread
 * error and FAILS the graph, recording that error (status, message, file:line). The first refusal is the
 * graph's error: from then on every builder returns LDM_NONE and appends nothing, later refusals do not
 * replace the recorded error, and ldm_graph_backward and ldm_graph_plan return its status with its message
 * and location restored as the thread error. So a refused call cannot go unnoticed even when its result is
 * not used (a builder with an explicit out, an in-place update), and a chain of builders needs no check per
 * call: check the graph once (ldm_graph_check on the chain's result, or the status ldm_graph_plan
 * returns). A builder GIVEN LDM_NONE appends nothing either (its graph has failed already). */
ldm_status ldm_graph_status(const ldm_graph *g); /* LDM_OK, or the status of the error that failed g */
/* The result of a chain kept by the caller. Returns ldm_graph_status(g), the recorded error restored as
 * the thread error when it is not LDM_OK (LDM_NONE on a graph that has not failed fails it: internal). */
ldm_status ldm_graph_check(ldm_graph *g, int id);
/* Refuse a builder call: set the thread error, fail g with it (unless g has failed already: the first
 * error stays) and return status. Use through LDM_REFUSE (in builders returning a tensor id) or LDM_GRAPH_FAIL. */
ldm_status ldm_graph_refuse(ldm_graph *g, ldm_status status, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define LDM_GRAPH_FAIL(g, status, ...) ldm_graph_refuse((g), (status), __FILE__, __LINE__, __VA_ARGS__)
#define LDM_REFUSE(g, status, ...) (LDM_GRAPH_FAIL((g), (status), __VA_ARGS__), LDM_NONE)
/* Builder entry guard: false when g has failed, or when one of the n ids is LDM_NONE or not a tensor of g
 * (a refusal). LDM_INPUTS(g, a, b, ...) returns LDM_NONE from the calling builder then. */
bool ldm_graph_inputs(ldm_graph *g, const int *ids, int n);
#define LDM_INPUTS(g, ...)                                                                         \
  do {                                                                                             \
    const int ldm_in_[] = {__VA_ARGS__};                                                           \
    if (!ldm_graph_inputs((g), ldm_in_, (int)(sizeof ldm_in_ / sizeof ldm_in_[0]))) return LDM_NONE; \
  } while (0)

/* New tensors. Shapes are outermost first (N, C, H, W), as in PyTorch. Returns the id, or LDM_NONE
 * (refused, see Errors). */
int ldm_tensor_new(ldm_graph *g, const char *name, ldm_arena arena, ldm_dtype dt, int ndim, const int64_t *shape);
int ldm_act(ldm_graph *g, const char *name, int ndim, const int64_t *shape);  /* f32 activation */
int ldm_param(ldm_graph *g, const char *name, int ndim, const int64_t *shape); /* scoped, requires grad */
int ldm_host(ldm_graph *g, const char *name, ldm_dtype dt, int64_t n);         /* host-visible vector */
/* A view of `base` with a new shape, numel elements starting at element `elem_offset`. */
int ldm_view(ldm_graph *g, int base, const char *name, int64_t elem_offset, int ndim, const int64_t *shape);
/* A view that covers a whole arena (after all its tensors exist), e.g. every gradient for AdamW. */
int ldm_arena_view(ldm_graph *g, ldm_arena arena, const char *name);
/* The parameter tensor named `name` (full name), or -1. */
int ldm_find(const ldm_graph *g, const char *name);

/* Pointer lifetime: g->t and g->n are growable arrays (realloc). A pointer from ldm_T(), &g->t[i],
 * g->t[i].shape / .name or &g->n[i] is INVALIDATED by any call that creates a tensor (ldm_tensor_new,
 * ldm_act, ldm_param, ldm_host, ldm_view, ldm_arena_view, ldm_grad_target, every op builder) or appends
 * a node (ldm_node_add, every op builder, backward emitters). Hold tensor ids and node indices, or copy
 * the fields you need, across such calls; re-take the pointer afterwards. Passing such a pointer as the
 * `shape` or `name` argument of a creating call itself is fine: ldm_tensor_new copies both first. */
static inline ldm_tensor *ldm_T(ldm_graph *g, int id) { return &g->t[id]; }
int64_t ldm_tensor_bytes(const ldm_tensor *t);
/* Resolved storage of a tensor: arena and byte offset (following views). Only after planning. */
void ldm_tensor_storage(const ldm_graph *g, int id, ldm_arena *arena, int64_t *offset);

/* Append a node. pc is copied (pc_size bytes). Returns the node index or -1 (refused). */
int ldm_node_add(ldm_graph *g, int op, const int *in, int nin, const int *out, int nout, const void *pc,
                 uint32_t pc_size, const char *label);
/* ldm_node_add for a builder: returns the node's first output (the builder's result) or LDM_NONE. */
int ldm_node_emit(ldm_graph *g, int op, const int *in, int nin, const int *out, int nout, const void *pc,
                  uint32_t pc_size, const char *label);
void ldm_node_spec(ldm_graph *g, int node, const uint32_t *spec, uint32_t nspec);

/* Scoped parameter naming: the prefix of the names ldm_param gives (e.g. "enc.0."); NULL or "" for none. */
void ldm_scope_set(ldm_graph *g, const char *prefix);

/* Reverse-mode autodiff from the scalar `loss`: seeds d(loss)/d(loss) = 1 (a fill node), then walks the
 * forward nodes backwards, asking each op to append its backward nodes (a refusal there fails the graph).
 * Parameter gradients accumulate (+=) into the GRAD arena; activation gradients are written by their
 * first contribution and accumulated by later ones. */
ldm_status ldm_graph_backward(ldm_graph *g, int loss);
/* Gradient bookkeeping for op backward emitters. ldm_grad_target returns the gradient tensor of t
 * (creating it) and sets *accumulate to 1 when the new contribution must be added (a parameter, or a
 * second consumer), 0 when it is the first write. */
int ldm_grad_target(ldm_graph *g, int t, int *accumulate);
/* The gradient of an output of a forward node (must exist when backward is called); -1 if none. */
int ldm_grad_of(const ldm_graph *g, int t);
/* The same for emitters, by position in forward node ni: ldm_grad_out is the gradient of output k
 * (ldm_grad_of); ldm_grad_in the gradient target of input k (ldm_grad_target, *accumulate set), or -1
 * with *accumulate 0 when that input takes no gradient (does not require grad, or refused). */
int ldm_grad_out(const ldm_graph *g, int ni, int k);
int ldm_grad_in(ldm_graph *g, int ni, int k, int *accumulate);
/* The gradient of input k of forward node ni is its output's gradient dy itself, with no node (the
 * backward of an addition, a copy, a scale by 1): when that input has no gradient yet, is an activation of
 * dy's shape and dtype, is no other input of ni and no other input of ni has dy already. Returns 1 when it was aliased (dy is then the input's
 * gradient, its first contribution; later ones accumulate into it), 0 when the caller must write the
 * gradient itself (ldm_grad_in). dy is complete at this point: every consumer of ni's output comes later in
 * the forward order and has emitted its backward already. */
int ldm_grad_alias(ldm_graph *g, int ni, int k, int dy);
/* The common backward emitter: the gradient of input 0 of forward node ni, by one node of op `op` that
 * reads {a, dy} (a: a tensor of the forward node, dy: the gradient of its output 0) and writes it. pc is
 * that node's push-constant block; its 32-bit word at acc_offset receives the accumulate flag. */
ldm_status ldm_emit_unary_backward(ldm_graph *g, int ni, int op, int a, void *pc, uint32_t pc_size,
                                   size_t acc_offset);

/* Schedule and assign arena offsets (a failed graph is refused: its status, the error restored). The
 * nodes are first reordered into levels of independent nodes (inside each fenced part, every conflicting
 * pair in its order; LDM_NO_SCHEDULE=1 keeps the recorded order), so node indices change here. Activations
 * are packed by liveness in levels (buffers reused when lifetimes do not overlap) unless LDM_NO_MEMPLAN=1.
 * Tensors read by the host after a run (ldm_keep) stay live. */
ldm_status ldm_graph_plan(ldm_graph *g);
/* A node boundary that outlives graph passes: marks "the nodes appended so far | the nodes after" and
 * returns its slot (-1, graph failed, when all LDM_MAX_FENCES are taken). A pass of ldm_graph_plan that
 * reorders or merges nodes never moves a node across a fence (nor across n_forward) and keeps every
 * fence at the same boundary; read it back with ldm_graph_fence_node after planning. */
int ldm_graph_fence(ldm_graph *g);
int ldm_graph_fence_node(const ldm_graph *g, int slot);
void ldm_keep(ldm_graph *g, int t); /* t must survive the whole run (an output the host reads) */

/* Debug print of the node list. */
void ldm_graph_dump(const ldm_graph *g, void *FILE_stream);

#ifdef __cplusplus
}
#endif
#endif
