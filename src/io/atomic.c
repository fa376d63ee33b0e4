/* The atomic-write protocol of every file ldm-vk writes (checkpoints, metrics.jsonl rewrites, images,
 * reports): write "<path>.tmp.<pid>", fflush + fsync it, rename it over path, fsync the directory; on
 * failure the temporary file is removed and path is untouched. Also the clean-up of the temporaries a
 * killed writer left behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"

static ldm_status fsync_dir_of(const char *path) {
  size_t n = strlen(path);
  char *dir = ldm_malloc(n + 2);
  if (!dir) return LDM_ERR_NOMEM;
  memcpy(dir, path, n + 1);
  char *slash = strrchr(dir, '/');
  if (!slash) strcpy(dir, ".");
  else if (slash == dir) dir[1] = 0;
  else *slash = 0;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    ldm_status s = LDM_FAIL(LDM_ERR_IO, "%s: cannot open directory to sync it: %s", dir, strerror(errno));
    free(dir);
    return s;
  }
  /* Some file systems cannot fsync a directory (EINVAL); the rename itself is then all we get. */
  if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
    ldm_status s = LDM_FAIL(LDM_ERR_IO, "%s: cannot sync directory: %s", dir, strerror(errno));
    close(fd);
    free(dir);
    return s;
  }
  close(fd);
  free(dir);
  return LDM_OK;
}

ldm_status ldm_atomic_open(ldm_atomic_file *a, const char *path) {
  a->path = path;
  a->fp = NULL;
  size_t tlen = strlen(path) + 32;
  a->tmp = ldm_malloc(tlen);
  if (!a->tmp) return LDM_ERR_NOMEM;
  snprintf(a->tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
  a->fp = fopen(a->tmp, "wb");
  if (!a->fp) {
    ldm_status s = LDM_FAIL(LDM_ERR_IO, "cannot write %s (its temporary %s): %s", path, a->tmp, strerror(errno));
    free(a->tmp);
    a->tmp = NULL;
    return s;
  }
  return LDM_OK;
}

ldm_status ldm_atomic_write(ldm_atomic_file *a, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
    size_t wrote = fwrite(p, 1, chunk, a->fp);
    if (wrote != chunk)
      return LDM_FAIL(LDM_ERR_IO, "%s: write failed: %s", a->tmp, strerror(errno));
    p += chunk;
    n -= chunk;
  }
  return LDM_OK;
}

ldm_status ldm_atomic_close(ldm_atomic_file *a, ldm_status s) {
  const char *tmp = a->tmp;
  if (s == LDM_OK && fflush(a->fp) != 0) s = LDM_FAIL(LDM_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
  if (s == LDM_OK && fsync(fileno(a->fp)) != 0) s = LDM_FAIL(LDM_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
  if (fclose(a->fp) != 0 && s == LDM_OK) s = LDM_FAIL(LDM_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
  if (s == LDM_OK && rename(tmp, a->path) != 0)
    s = LDM_FAIL(LDM_ERR_IO, "%s: cannot rename %s over it: %s", a->path, tmp, strerror(errno));
  if (s != LDM_OK) unlink(tmp); /* best effort; the first error is the one reported */
  else s = fsync_dir_of(a->path);
  free(a->tmp);
  a->tmp = NULL;
  a->fp = NULL;
  return s;
}

ldm_status ldm_file_write_atomic(const char *path, const void *data, size_t n) {
  if (!path || (!data && n)) return LDM_FAIL(LDM_ERR_INVALID_ARG, "atomic write: missing path or data");
  ldm_atomic_file a;
  LDM_TRY(ldm_atomic_open(&a, path));
  return ldm_atomic_close(&a, ldm_atomic_write(&a, data, n));
}

/* "<name>.tmp.<pid>" (the temporaries of the atomic writers): the pid, or -1 for any other name */
static long temp_owner(const char *name) {
  const char *t = NULL;
  for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp.")) t = p;
  if (!t || t == name || t[5] < '1' || t[5] > '9') return -1;
  char *end;
  errno = 0;
  long pid = strtol(t + 5, &end, 10);
  return *end || errno || pid <= 0 ? -1 : pid;
}

int ldm_clean_stale_temps(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    long pid = temp_owner(de->d_name);
    if (pid < 0) continue;
    /* alive (kill succeeds, or EPERM: someone else's live process) = a write in progress; leave it */
    if (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)) continue;
    size_t len = strlen(dir) + strlen(de->d_name) + 2;
    char *p = ldm_malloc(len);
    if (!p) break;
    snprintf(p, len, "%s/%s", dir, de->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && unlink(p) == 0) removed++;
    free(p);
  }
  closedir(d);
  return removed;
}

