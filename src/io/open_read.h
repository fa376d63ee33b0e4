/* Opening an input file: shared by the image reader (io/image.c) and the idx reader (data/idx.c). */
#ifndef LDM_IO_OPEN_READ_H
#define LDM_IO_OPEN_READ_H
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ldm/ldm.h"

/* Open path read-only (close-on-exec) and fstat it. On failure nothing is left open and the error
 * (LDM_ERR_IO) names the file and the reason. */
static inline ldm_status ldm_open_read(const char *path, int *fd, struct stat *st) {
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0) return LDM_FAIL(LDM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(*fd, st) != 0) {
    int e = errno;
    close(*fd);
    *fd = -1;
    return LDM_FAIL(LDM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  return LDM_OK;
}
#endif
