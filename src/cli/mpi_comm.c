/* The ldm_comm of `ldm-vk train` over MPI (src/cli/comm.h): MPI_COMM_WORLD, the local rank from the
 * shared-memory split, errors returned (MPI_ERRORS_RETURN) so that a failed collective is a message. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/comm.h"
#include "ldm/ldm.h"

static ldm_status mpi_fail(int rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", rc);
  return LDM_FAIL(LDM_ERR_IO, "%s: %s", what, msg);
}

/* in pieces of at most INT_MAX / 2 elements (MPI counts are ints) */
#define PIECE ((size_t)INT_MAX / 2)

static ldm_status mpi_allreduce(void *user, float *data, size_t n) {
  (void)user;
  for (size_t i = 0; i < n; i += PIECE) {
    int k = (int)(n - i < PIECE ? n - i : PIECE);
    int rc = MPI_Allreduce(MPI_IN_PLACE, data + i, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allreduce");
  }
  return LDM_OK;
}

/* A small message's wait: a rank that waits for rank 0 (its checkpoint, its sample grid) tests the request
 * for 1 ms, then sleeps 0.2 ms between tests, leaving the CPU to the ranks that work (Open MPI's blocking
 * calls poll without sleeping). */
static int wait_idle(MPI_Request *rq) {
  double t0 = MPI_Wtime();
  for (;;) {
    int done = 0, rc = MPI_Test(rq, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS || done) return rc;
    if (MPI_Wtime() - t0 > 1e-3) nanosleep(&(struct timespec){0, 200000}, NULL);
  }
}

static ldm_status mpi_bcast(void *user, void *data, size_t bytes, int root) {
  (void)user;
  if (bytes <= 65536) { /* a verdict: waited for without spinning */
    MPI_Request rq;
    int rc = MPI_Ibcast(data, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD, &rq);
    if (rc == MPI_SUCCESS) rc = wait_idle(&rq);
    return rc == MPI_SUCCESS ? LDM_OK : mpi_fail(rc, "MPI_Bcast");
  }
  for (size_t i = 0; i < bytes; i += PIECE) {
    int k = (int)(bytes - i < PIECE ? bytes - i : PIECE);
    int rc = MPI_Bcast((char *)data + i, k, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Bcast");
  }
  return LDM_OK;
}

static ldm_status mpi_barrier(void *user) {
  (void)user;
  int rc = MPI_Barrier(MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? LDM_OK : mpi_fail(rc, "MPI_Barrier");
}

int cli_mpi_init(ldm_comm *c) {
  int rc = MPI_Init(NULL, NULL);
  if (rc != MPI_SUCCESS) {
    fprintf(stderr, "ldm-vk: MPI_Init failed (error %d)\n", rc);
    return 1;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  c->user = NULL;
  c->allreduce_sum = mpi_allreduce;
  c->bcast = mpi_bcast;
  c->barrier = mpi_barrier;
  MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &c->size);
  MPI_Comm local;
  rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &local);
  if (rc != MPI_SUCCESS) {
    mpi_fail(rc, "MPI_Comm_split_type");
    fprintf(stderr, "ldm-vk: rank %d: %s\n", c->rank, ldm_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Comm_rank(local, &c->local_rank);
  MPI_Comm_size(local, &c->local_size);
  MPI_Comm_free(&local);
  return 0;
}

void cli_mpi_finalize(void) { MPI_Finalize(); }

_Noreturn void cli_mpi_abort(int code) {
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
  exit(code ? code : 1); /* MPI_Abort does not return; in case it does */
}

int cli_mpi_time_allreduce(size_t n, int iters, double *median, double *best) {
  float *buf = malloc((n ? n : 1) * sizeof *buf);
  double *t = malloc((size_t)iters * sizeof *t);
  int ok = buf && t;
  for (size_t i = 0; ok && i < n; i++) buf[i] = (float)(i % 97) * 1e-3f;
  for (int i = 0; ok && i < 3 + iters; i++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    ok = mpi_allreduce(NULL, buf, n) == LDM_OK;
    double dt = MPI_Wtime() - t0;
    /* the slowest rank's time: a step waits for it */
    if (ok) ok = MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) == MPI_SUCCESS;
    if (i >= 3) t[i - 3] = dt;
  }
  if (ok) {
    for (int i = 1; i < iters; i++) /* in order (insertion: a few dozen times) */
      for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
        double x = t[j];
        t[j] = t[j - 1];
        t[j - 1] = x;
      }
    *median = t[iters / 2];
    *best = t[0];
  }
  free(buf);
  free(t);
  return ok ? 0 : -1;
}
