/* Finite-difference gradient checks on the CPU reference backend. */
#ifndef LDM_GRADCHECK_H
#define LDM_GRADCHECK_H
#include "ldm/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mark a non-parameter tensor (e.g. a test input) as needing its gradient. Call before using it. */
void ldm_requires_grad(ldm_graph *g, int t);

/* For each tensor in wrt, compare the autodiff gradient with central differences
 * (L(x+eps) - L(x-eps)) / 2eps on `samples` seeded elements (all when numel <= samples).
 * The graph must have had ldm_graph_backward(g, loss) and be planned; `cpu` is a CPU executor whose
 * inputs are already written. The error of a tensor is max|analytic - numeric| / (max|numeric| + 1e-6);
 * *worst gets the largest over tensors, *worst_name the tensor's name. */
ldm_status ldm_gradcheck(ldm_exec *cpu, int loss, const int *wrt, int nwrt, int samples, double eps, uint64_t seed,
                         double *worst, const char **worst_name);
#ifdef __cplusplus
}
#endif
#endif
