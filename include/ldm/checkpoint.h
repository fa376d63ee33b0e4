/* Moving graph parameters (and optimizer state) between executors and safetensors files by name. */
#ifndef LDM_CHECKPOINT_H
#define LDM_CHECKPOINT_H
#include "ldm/backend.h"
#include "ldm/io.h"

/* Add every parameter of g, read from arena `a` of e (PARAM, ADAM_M, ADAM_V or EMA), to the writer as
 * F32 tensors named prefix + parameter name. The data is copied. */
ldm_status ldm_ckpt_add_arena(ldm_st_writer *w, ldm_exec *e, ldm_arena a, const char *prefix);
/* Load every parameter of g into arena `a` from tensors named prefix + name; a missing tensor or a
 * shape mismatch is an error naming the file and the tensor (a checkpoint from another config). */
ldm_status ldm_ckpt_load_arena(const ldm_st_file *f, ldm_exec *e, ldm_arena a, const char *prefix);
/* mkdir -p: create a directory and its missing parents (LDM_ERR_IO naming the path on failure). */
ldm_status ldm_mkdir_p(const char *path);
/* Copy arena `from` to arena `to` of the same executor (e.g. PARAM -> EMA at initialisation). */
ldm_status ldm_exec_copy_arena(ldm_exec *e, ldm_arena from, ldm_arena to);
#endif
