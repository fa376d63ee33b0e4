/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_<name>.c; built and run by run.sh). */
#ifndef LDM_FUZZ_UTIL_H
#define LDM_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include "ldm/ldm.h"

/* For readers that take a path: the input becomes the contents of an in-memory file (memfd), whose
 * path (/proc/self/fd/N) is returned. Slot 0..3: up to four such files at once. */
static inline const char *fuzz_as_file(int slot, const uint8_t *data, size_t size) {
  static int fd[4] = {-1, -1, -1, -1};
  static char path[4][64];
  if (slot < 0 || slot > 3) abort();
  if (fd[slot] < 0) {
    fd[slot] = memfd_create("ldm-fuzz", MFD_CLOEXEC);
    if (fd[slot] < 0) {
      perror("memfd_create");
      abort();
    }
    snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
  }
  if (ftruncate(fd[slot], 0) != 0) abort();
  size_t done = 0;
  while (done < size) {
    ssize_t k = pwrite(fd[slot], data + done, size - done, (off_t)done);
    if (k <= 0) abort();
    done += (size_t)k;
  }
  return path[slot];
}

/* The project's promise for hostile input: a failure is one line that names the file. (An
 * out-of-memory failure names the allocation instead; libFuzzer's -malloc_limit_mb catches the
 * allocations that are too large for an input.) */
static inline void fuzz_check_error(ldm_status s, const char *name) {
  if (s == LDM_OK) abort();
  if (s == LDM_ERR_NOMEM) return;
  const char *m = ldm_last_error();
  if (!strstr(m, name)) {
    fprintf(stderr, "fuzz: error message does not name %s: %s\n", name, m);
    abort();
  }
  if (strchr(m, '\n') || strchr(m, '\r')) {
    fprintf(stderr, "fuzz: error message is not one line: %s\n", m);
    abort();
  }
}

/* Read every byte (ASan then checks that the whole buffer is in bounds). */
static volatile uint8_t fuzz_sink;
static inline void fuzz_touch(const void *p, size_t n) {
  const uint8_t *b = p;
  uint8_t x = 0;
  for (size_t i = 0; i < n; i++) x ^= b[i];
  fuzz_sink ^= x;
}
#endif
