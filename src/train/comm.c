/* Data-parallel training over the host's collective (ldm_train_opts.comm, ldm/train.h): rank and size,
 * rank 0's status to every rank where it alone wrote something, and the gradient all-reduce of an
 * optimizer step. Without a comm (or with one rank) every function is the one-process case: nothing is
 * exchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

int tr_rank(const ldm_train_opts *o) { return o->comm && o->comm->size > 1 ? o->comm->rank : 0; }
int tr_size(const ldm_train_opts *o) { return o->comm && o->comm->size > 1 ? o->comm->size : 1; }

/* a collective's failure: the job cannot go on (the host ends it) */
static ldm_status comm_failed(const ldm_train_opts *o, ldm_status s, const char *what) {
  char why[480]; /* a copy: the message is about to be replaced */
  snprintf(why, sizeof why, "%s", ldm_last_error());
  return LDM_FAIL(s != LDM_OK ? s : LDM_ERR_IO, "the %s between the ranks failed: %s", what, why);
}

ldm_status tr_bcast(const ldm_train_opts *o, void *data, size_t bytes, int root) {
  if (tr_size(o) == 1 || bytes == 0) return LDM_OK;
  ldm_status s = o->comm->bcast(o->comm->user, data, bytes, root);
  return s == LDM_OK ? s : comm_failed(o, s, "broadcast");
}

ldm_status tr_allreduce(const ldm_train_opts *o, float *data, size_t n) {
  if (tr_size(o) == 1 || n == 0) return LDM_OK;
  ldm_status s = o->comm->allreduce_sum(o->comm->user, data, n);
  return s == LDM_OK ? s : comm_failed(o, s, "all-reduce");
}

/* rank 0's verdict: its status, whether it is a usage error, and its message */
typedef struct {
  int32_t status, usage;
  char msg[480];
} verdict;

ldm_status tr_agree(const ldm_train_opts *o, ldm_status s, ldm_train_result *res) {
  if (tr_size(o) == 1) return s;
  verdict v;
  memset(&v, 0, sizeof v);
  bool root = tr_rank(o) == 0;
  if (root) {
    v.status = (int32_t)s;
    v.usage = res && res->usage_error;
    if (s != LDM_OK) snprintf(v.msg, sizeof v.msg, "%s", ldm_last_error());
  }
  ldm_status bs = o->comm->bcast(o->comm->user, &v, sizeof v, 0);
  if (bs != LDM_OK) return comm_failed(o, bs, "broadcast");
  if (v.status == LDM_OK) return s; /* rank 0 went on: this rank's own status (a failure here is its alone) */
  if (res) {
    res->collective = true;
    res->usage_error = v.usage != 0;
  }
  if (root) return s;
  if (s != LDM_OK) return s; /* both failed (the run went non-finite everywhere, a usage error) */
  return LDM_FAIL((ldm_status)v.status, "%s", v.msg); /* rank 0's failure, its message */
}

ldm_status tr_allreduce_grads(const ldm_train_opts *o, tr_stage *r, float *x, int nx) {
  const ldm_graph *g = ldm_exec_graph(r->e);
  size_t bytes = (size_t)g->arena_size[LDM_ARENA_GRAD], n = bytes / 4;
  if (!r->ar_buf) r->ar_buf = ldm_malloc((n + (size_t)nx) * 4);
  if (!r->ar_buf) return LDM_ERR_NOMEM;
  double t0 = tr_now();
  LDM_TRY(ldm_exec_read_arena(r->e, LDM_ARENA_GRAD, r->ar_buf, bytes));
  memcpy(r->ar_buf + n, x, (size_t)nx * 4);
  LDM_TRY(tr_allreduce(o, r->ar_buf, n + (size_t)nx));
  LDM_TRY(ldm_exec_write_arena(r->e, LDM_ARENA_GRAD, r->ar_buf, bytes));
  memcpy(x, r->ar_buf + n, (size_t)nx * 4);
  r->ar_s += tr_now() - t0;
  r->ar_steps++;
  return LDM_OK;
}
