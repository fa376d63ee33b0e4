/* The op table: one entry per op = one shader (variant family) + one CPU twin + a backward emitter. */
#ifndef LDM_CORE_OPS_H
#define LDM_CORE_OPS_H
#include "ldm/graph.h"

/* Device limits an op may specialise on (filled by the Vulkan backend, possibly forced lower). */
typedef struct ldm_dev_limits {
  uint32_t max_shared;       /* bytes of shared memory per workgroup */
  uint32_t subgroup_size;    /* 0 when subgroup ops are unavailable / disabled */
  bool fp16;                 /* shaderFloat16 + 16-bit storage */
  uint32_t max_wg_invocations;
  uint64_t max_buffer_range; /* bytes per binding */
  bool gemm_naive;           /* LDM_GEMM_NAIVE: use the simple GEMM shader */
  bool conv_naive;           /* LDM_CONV_NAIVE: use the simple convolution shaders */
  int tile;                  /* LDM_VK_TILE: a forced tile variant (core/env.h LDM_TILE_*), 0 = auto */
  uint32_t compute_units;    /* SMs / CUs / cores a workgroup runs on (the tile choice's wave) */
  const char *cu_source;     /* where compute_units came from, in words (a static string) */
  int splitk;                /* LDM_VK_SPLITK: 0 the plan chooses the split-K S, -1 never split, N > 0 min(N, S_max) */
  bool no_subpixel;          /* LDM_VK_SUBPIXEL=0: strided backward data with its stride holes, not by parity */
  /* fp32 FMA lanes x clock per byte of DRAM bandwidth, a guess by device class (vk/plan.h
   * ldm_fma_per_byte_guess, for devices and the model's targets alike): what a byte of a node's tensors or of
   * a split's workspace costs the tile choice against an FMA (its memory side, docs/perf.md "Change 17"). 0: 8 */
  double fma_per_byte;
} ldm_dev_limits;

/* How the Vulkan backend launches one node. */
typedef struct ldm_launch {
  const char *shader;      /* shader variant name (src/ops/ops.def) */
  uint32_t spec[LDM_MAX_SPEC];
  uint32_t nspec;
  uint32_t groups[3];
  uint32_t local;          /* invocations per workgroup when the plan says (0: spec[0], else 256) */
  int tile;                /* the tiled GEMM / convolution's variant (LDM_TILE_*), 0 for other shaders */
} ldm_launch;

typedef struct ldm_op_desc {
  const char *name;
  /* CPU twin: buf[0..nin-1] are the inputs, buf[nin..nin+nout-1] the outputs (resolved pointers). */
  void (*cpu)(const ldm_graph *g, const ldm_node *n, void *const *buf);
  /* Vulkan launch plan. NULL: shader = name, spec[0] = 256 (local size), 1-D grid over out[0]. */
  void (*plan)(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);
  /* Autodiff: append the backward nodes of node index `ni`. NULL: not differentiable. */
  ldm_status (*backward)(ldm_graph *g, int ni);
  /* the check mode / conformance tolerance is the manifest's: ldm_op_tol(id) */
} ldm_op_desc;

/* Op ids, from the X-macro list in core/op_list.h. */
typedef enum ldm_op_id {
#define LDM_OP(name) LDM_OP_##name,
#include "core/op_list.h"
#undef LDM_OP
  LDM_OP_COUNT
} ldm_op_id;

const ldm_op_desc *ldm_op(int id);
int ldm_op_by_name(const char *name);

/* From the op manifest src/ops/ops.def (generated table; id out of range: 0 / NULL / -1). */
uint32_t ldm_op_pc_size(int id);     /* bytes of the op's push-constant block (sizeof ldm_pc_<op>) */
double ldm_op_tol(int id);           /* NMSE tolerance of conformance and check mode (-1 out of range) */
const char *ldm_op_family(int id);   /* basic, norm, conv or diffusion */
bool ldm_op_has_grad(int id);        /* the manifest says the op has an autodiff rule */
/* LDM_ERR_INTERNAL (naming the op and both sizes) when node n's pc_size is not its op's block size: the
 * executors check every node before recording it. */
ldm_status ldm_op_check_pc(const ldm_node *n);

/* The plan of most elementwise ops: a 1-D launch of the op's own shader over the count held in the
 * first push-constant word (every such op's block starts with `uint n`). */
void ldm_plan_1d_n(const ldm_graph *g, const ldm_node *n, const ldm_dev_limits *lim, ldm_launch *l);

/* Default 1-D launch over n elements with 256-wide workgroups (x and y split for large n). */
void ldm_launch_1d(ldm_launch *l, const char *shader, int64_t n);

/* Small helpers for op builders. */
static inline int64_t ldm_numel(const ldm_graph *g, int t) { return g->t[t].numel; }

#endif
