/* A small persistent thread pool for the CPU reference backend. Work is split into contiguous index
 * ranges; each output element is computed by exactly one thread in a fixed order, so results do not
 * depend on the thread count. LDM_THREADS overrides the count (default: online CPUs). */
#ifndef LDM_CPU_POOL_H
#define LDM_CPU_POOL_H
#include <stdint.h>
typedef void (*ldm_range_fn)(void *ctx, int64_t begin, int64_t end);
void ldm_parallel_for(int64_t n, int64_t min_chunk, ldm_range_fn fn, void *ctx);
int ldm_cpu_threads(void);
/* Per-thread scratch buffer `slot` (0 .. LDM_CPU_SCRATCH_SLOTS-1) of at least nfloats floats, 64-byte
 * aligned, kept between calls (the pool's workers persist): no allocation, page faults or clearing per node.
 * Contents are undefined. The CPU backends cannot report an error from inside a node, so running out of
 * host memory here is fatal (as in the CPU GEMM). */
enum { LDM_CPU_SCRATCH_SLOTS = 6 };
float *ldm_cpu_scratch(int slot, int64_t nfloats);
#endif
