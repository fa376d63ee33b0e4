/* The job's collective for `ldm-vk train` and `ldm-vk bench --mpi` (docs/distributed.md): MPI, compiled
 * in when the meson feature `mpi` finds it (src/cli/mpi_comm.c), and used only when an MPI launcher
 * started the process (mpirun sets OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE): a plain `ldm-vk train`
 * never calls MPI_Init. */
#ifndef LDM_CLI_COMM_H
#define LDM_CLI_COMM_H
#include <stdbool.h>
#include <stddef.h>

#include "ldm/train.h"

/* the size of the job that launched this process (from the launcher's environment); 0: not launched */
int cli_launched_size(void);

#ifdef LDM_HAVE_MPI
/* MPI_Init and *c over MPI_COMM_WORLD (local rank and size: the shared-memory split). Returns 0, or the exit
 * status after printing why MPI could not start. */
int cli_mpi_init(ldm_comm *c);
void cli_mpi_finalize(void);
/* end every rank of the job with exit status code (MPI_Abort) */
_Noreturn void cli_mpi_abort(int code);
/* the median and best seconds of `iters` all-reduces of n floats (after 3 warm-ups), the same on every rank */
int cli_mpi_time_allreduce(size_t n, int iters, double *median, double *best);
#endif

/* --device for a rank: "vk" (and the automatic choice, where there is a GPU) becomes the local rank's GPU
 * among the machine's Vulkan GPUs (discrete, then integrated, then virtual; in their order), shared round
 * robin when there are fewer GPUs than ranks; with no GPU, "vk" is the one default device for every rank.
 * vk:N and cpu are kept. out gets the --device to open; *shared: another rank of the machine has it too. */
void cli_rank_device(const char *device, int local_rank, int local_size, char *out, size_t n, bool *shared);
#endif
