/* Hostile checkpoints against the real binary (suite 'hostile').
 *
 * A tiny run is trained once (CPU backend); then well over a hundred malformed variants of its four
 * checkpoint files are generated programmatically: every ldm.* metadata key with out-of-range, NaN,
 * infinite, fractional, empty, overflowing, negative or trailing-garbage values, missing and unknown
 * keys, and generic safetensors corruption (truncation, header length beyond the file, bad JSON,
 * invalid UTF-8, duplicate names, overlapping or out-of-range data offsets, wrong dtype, shape
 * mismatch, missing tensors, ...). Each variant replaces one file of the run directory and the
 * commands that read that file run: `ldm-vk sample`, `ldm-vk forward` and `ldm-vk edit img2img` for
 * vae.safetensors and unet.safetensors, `ldm-vk train --resume` for state_vae.safetensors and state_unet.safetensors.
 * For every command: the exit is a normal non-zero exit (no signal), stderr holds exactly one line
 * besides sample's "backend: ..." line, that line starts with "ldm-vk: " and names the replaced file
 * (its full path), the run directory is byte-for-byte what it was before the command (every file
 * compared), and nothing was written to the output paths (which lie outside the run directory).
 * Positive controls first: the unmodified run, and the run with a file rewritten by this test's own
 * serializer, must sample, forward and resume successfully (this also proves that every ldm.* key the
 * current writers write is one the readers know).
 * Before the files, the graph builders themselves (in process): ldm_unet / ldm_vae_encode /
 * ldm_vae_decode must refuse out-of-range configurations (nres 17, 40, 100000, 0 levels, ...) with a
 * message instead of overflowing, and still build the largest valid ones.
 *
 * The run trains on a small image folder this test writes, so nothing needs to be installed.
 *
 * usage: test_hostile_ckpt PATH/TO/ldm-vk   (LDM_HOSTILE_ONLY=TEXT runs only the variants whose label has
 * TEXT; LDM_HOSTILE_VERBOSE=1 prints every error line)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ldm/graph.h"
#include "ldm/io.h"
#include "ldm/model.h"
#include "ldm/train.h"

static const char *exe;
static char tmp[256], run[300], outdir[300], inputs[400];
static int failures, cases, commands;

/* ------------------------------------------------------------------ small buffers */

typedef struct {
  uint8_t *p;
  size_t n, cap;
} buf;

static void bput(buf *b, const void *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->n + n + 1) nc *= 2;
    b->p = realloc(b->p, nc);
    if (!b->p) {
      fprintf(stderr, "out of memory\n");
      exit(1);
    }
    b->cap = nc;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void bstr(buf *b, const char *s) { bput(b, s, strlen(s)); }
static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...) {
  char t[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t, sizeof t, fmt, ap);
  va_end(ap);
  bput(b, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}
static void bjson(buf *b, const char *s) {
  bstr(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') bprintf(b, "\\%c", *p);
    else if (*p < 0x20) bprintf(b, "\\u%04x", *p);
    else bput(b, p, 1);
  }
  bstr(b, "\"");
}

static bool read_file(const char *path, buf *out) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  char t[65536];
  size_t n;
  while ((n = fread(t, 1, sizeof t, f)) > 0) bput(out, t, n);
  bput(out, "", 0);
  fclose(f);
  return true;
}

static bool write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  bool ok = fwrite(p, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

/* ------------------------------------------------------------------ a checkpoint as editable parts */

typedef struct {
  char name[300];
  char dtype[16];
  int ndim;
  int64_t shape[12];
  const uint8_t *data;
  size_t nbytes;
  bool raw_off; /* use begin/end below instead of the running offset */
  uint64_t begin, end;
  char extra[64]; /* text appended inside the tensor's JSON object */
} tdesc;

typedef struct {
  char k[128], v[300];
} mdesc;

typedef struct {
  tdesc *t;
  int nt;
  mdesc m[64];
  int nm;
  buf orig; /* the file's bytes (tensor data points here) */
} ckpt;

/* the parts of an ldm-vk safetensors file, parsed by hand (the library's reader validates; the test
 * needs the raw layout: data offsets relative to the data region) */
static bool ckpt_load(const char *path, ckpt *c) {
  memset(c, 0, sizeof *c);
  if (!read_file(path, &c->orig)) return false;
  ldm_st_file *f;
  if (ldm_st_open(path, &f) != LDM_OK) return false;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | c->orig.p[i];
  const uint8_t *data = c->orig.p + 8 + hlen;
  c->nt = ldm_st_count(f);
  c->t = calloc((size_t)c->nt, sizeof *c->t);
  for (int i = 0; i < c->nt; i++) {
    const ldm_st_tensor *t = ldm_st_at(f, i);
    tdesc *d = &c->t[i];
    snprintf(d->name, sizeof d->name, "%s", t->name);
    snprintf(d->dtype, sizeof d->dtype, "%s", ldm_st_dtype_name(t->dtype));
    d->ndim = t->ndim;
    memcpy(d->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    d->data = data + t->offset;
    d->nbytes = t->nbytes;
  }
  c->nm = ldm_st_meta_count(f);
  for (int i = 0; i < c->nm && i < 64; i++) {
    const char *k, *v;
    ldm_st_meta_at(f, i, &k, &v);
    snprintf(c->m[i].k, sizeof c->m[i].k, "%s", k);
    snprintf(c->m[i].v, sizeof c->m[i].v, "%s", v);
  }
  ldm_st_close(f);
  return true;
}

static ckpt ckpt_copy(const ckpt *c) {
  ckpt d = *c;
  d.t = malloc(sizeof *d.t * (size_t)(c->nt + 2));
  memcpy(d.t, c->t, sizeof *d.t * (size_t)c->nt);
  memset(&d.orig, 0, sizeof d.orig); /* data still points into c->orig */
  return d;
}

static void set_meta(ckpt *c, const char *k, const char *v) {
  for (int i = 0; i < c->nm; i++)
    if (strcmp(c->m[i].k, k) == 0) {
      if (v) snprintf(c->m[i].v, sizeof c->m[i].v, "%s", v);
      else c->m[i] = c->m[--c->nm];
      return;
    }
  if (v && c->nm < 64) {
    snprintf(c->m[c->nm].k, sizeof c->m[c->nm].k, "%s", k);
    snprintf(c->m[c->nm].v, sizeof c->m[c->nm].v, "%s", v);
    c->nm++;
  }
}

static int find_tensor(const ckpt *c, const char *suffix_or_name, int ndim) {
  for (int i = 0; i < c->nt; i++)
    if ((ndim == 0 || c->t[i].ndim == ndim) && strstr(c->t[i].name, suffix_or_name)) return i;
  return -1;
}

/* serialize: header JSON (metadata first), padded with spaces to a multiple of 8, then the data */
static void ckpt_bytes(const ckpt *c, buf *out, const char *meta_raw) {
  buf h = {0};
  bstr(&h, "{\"__metadata__\":");
  if (meta_raw) bstr(&h, meta_raw);
  else {
    bstr(&h, "{");
    for (int i = 0; i < c->nm; i++) {
      if (i) bstr(&h, ",");
      bjson(&h, c->m[i].k);
      bstr(&h, ":");
      bjson(&h, c->m[i].v);
    }
    bstr(&h, "}");
  }
  uint64_t off = 0;
  for (int i = 0; i < c->nt; i++) {
    const tdesc *t = &c->t[i];
    bstr(&h, ",");
    bjson(&h, t->name);
    bstr(&h, ":{\"dtype\":");
    bjson(&h, t->dtype);
    bstr(&h, ",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) bprintf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    uint64_t b = t->raw_off ? t->begin : off, e = t->raw_off ? t->end : off + t->nbytes;
    bprintf(&h, "],\"data_offsets\":[%llu,%llu]%s}", (unsigned long long)b, (unsigned long long)e, t->extra);
    off += t->nbytes;
  }
  bstr(&h, "}");
  while (h.n % 8) bstr(&h, " ");
  memset(out, 0, sizeof *out);
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
  bput(out, len8, 8);
  bput(out, h.p, h.n);
  for (int i = 0; i < c->nt; i++) bput(out, c->t[i].data, c->t[i].nbytes);
  free(h.p);
}

/* ------------------------------------------------------------------ the run directory, compared */

typedef struct {
  char rel[256];
  buf content;
  bool dir;
} entry;

typedef struct {
  entry *e;
  int n, cap;
} snapshot;

static void snap_dir(snapshot *s, const char *root, const char *rel) {
  char p[700];
  snprintf(p, sizeof p, "%s%s%s", root, rel[0] ? "/" : "", rel);
  DIR *d = opendir(p);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    char r[256], full[1000];
    snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
    snprintf(full, sizeof full, "%s/%s", root, r);
    struct stat st;
    if (lstat(full, &st) != 0) continue;
    if (s->n == s->cap) {
      s->cap = s->cap ? 2 * s->cap : 32;
      s->e = realloc(s->e, sizeof *s->e * (size_t)s->cap);
    }
    entry *e = &s->e[s->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->rel, sizeof e->rel, "%s", r);
    e->dir = S_ISDIR(st.st_mode);
    if (e->dir) snap_dir(s, root, r);
    else read_file(full, &e->content);
  }
  closedir(d);
}

static void snap_free(snapshot *s) {
  for (int i = 0; i < s->n; i++) free(s->e[i].content.p);
  free(s->e);
  memset(s, 0, sizeof *s);
}

/* "" if equal, else what differs */
static void snap_diff(const snapshot *a, const snapshot *b, char *why, size_t len) {
  why[0] = 0;
  for (int i = 0; i < a->n; i++) {
    int j = 0;
    while (j < b->n && strcmp(a->e[i].rel, b->e[j].rel) != 0) j++;
    if (j == b->n) {
      snprintf(why, len, "%s disappeared", a->e[i].rel);
      return;
    }
    if (a->e[i].dir != b->e[j].dir || a->e[i].content.n != b->e[j].content.n ||
        (a->e[i].content.n && memcmp(a->e[i].content.p, b->e[j].content.p, a->e[i].content.n) != 0)) {
      snprintf(why, len, "%s changed", a->e[i].rel);
      return;
    }
  }
  if (b->n != a->n) {
    for (int j = 0; j < b->n; j++) {
      int i = 0;
      while (i < a->n && strcmp(a->e[i].rel, b->e[j].rel) != 0) i++;
      if (i == a->n) {
        snprintf(why, len, "%s appeared", b->e[j].rel);
        return;
      }
    }
  }
}

/* ------------------------------------------------------------------ running the binary */

/* argv-style command; returns the wait status; stderr into *err */
static int run_cmd(char *const argv[], buf *err) {
  char ep[400];
  snprintf(ep, sizeof ep, "%s/stderr.txt", tmp);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int nul = open("/dev/null", O_RDWR);
    if (fd < 0 || nul < 0) _exit(126);
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(fd, 2);
    alarm(120); /* a hang is a failure too (SIGALRM shows as a signal) */
    execv(argv[0], argv);
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  commands++;
  read_file(ep, err);
  return st;
}

enum { F_VAE, F_UNET, F_STATE_VAE, F_STATE_UNET, F_COUNT };
static const char *fname[F_COUNT] = {"vae.safetensors", "unet.safetensors", "state_vae.safetensors",
                                     "state_unet.safetensors"};
static ckpt base[F_COUNT];

static char datadir[300];
static const char *train_args[] = {"train", "--config", "tiny", "--device", "cpu", "--vae-steps", "2",
                                   "--unet-steps", "2", "--batch", "4", "--sample-steps", "1", "--quiet", "--data",
                                   datadir, NULL};

static int build_argv(int which, char **argv, bool resume) {
  int n = 0;
  argv[n++] = (char *)exe;
  static char png[400], fout[400];
  snprintf(png, sizeof png, "%s/x.png", outdir);
  snprintf(fout, sizeof fout, "%s/fwd.safetensors", outdir);
  if (which == 0) {
    const char *a[] = {"sample", "--ckpt", run, "--device", "cpu", "--n", "1", "--steps", "1", "--out", png, NULL};
    for (int i = 0; a[i]; i++) argv[n++] = (char *)a[i];
  } else if (which == 3) {
    static char init[500];
    snprintf(init, sizeof init, "%s/0/0.png", datadir); /* an image of the dataset: outside the run directory */
    const char *a[] = {"edit", "img2img", "--ckpt", run, "--device", "cpu", "--init", init, "--steps", "1", "--out",
                       png, NULL};
    for (int i = 0; a[i]; i++) argv[n++] = (char *)a[i];
  } else if (which == 1) {
    const char *a[] = {"forward", "--ckpt", run, "--device", "cpu", "--inputs", inputs, "--out", fout, NULL};
    for (int i = 0; a[i]; i++) argv[n++] = (char *)a[i];
  } else {
    for (int i = 0; train_args[i]; i++) argv[n++] = (char *)train_args[i];
    if (resume) argv[n++] = "--resume";
    argv[n++] = "--out";
    argv[n++] = run;
  }
  argv[n] = NULL;
  return n;
}

static const char *cmd_name[4] = {"sample", "forward", "train --resume", "edit img2img"};

static void fail(const char *label, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(const char *label, const char *cmd, const char *fmt, ...) {
  char t[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t, sizeof t, fmt, ap);
  va_end(ap);
  fprintf(stderr, "FAIL [%s] %s: %s\n", label, cmd, t);
  failures++;
}

static void clear_outdir(void) {
  char p[500];
  snprintf(p, sizeof p, "%s/x.png", outdir);
  unlink(p);
  snprintf(p, sizeof p, "%s/fwd.safetensors", outdir);
  unlink(p);
}

/* one command against the current run directory: it must fail cleanly, naming `file` */
static void expect_rejected(const char *label, int which, const char *file) {
  char *argv[40];
  build_argv(which, argv, true);
  clear_outdir();
  snapshot before = {0}, after = {0}, obefore = {0}, oafter = {0};
  snap_dir(&before, run, "");
  snap_dir(&obefore, outdir, "");
  buf err = {0};
  int st = run_cmd(argv, &err);
  snap_dir(&after, run, "");
  snap_dir(&oafter, outdir, "");
  const char *cmd = cmd_name[which];
  char *text = err.p ? (char *)err.p : "";
  /* the error line: the one line that is not sample's backend report */
  int nlines = 0;
  char first[1024] = "";
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    if (!(len >= 9 && strncmp(line, "backend: ", 9) == 0)) {
      if (nlines++ == 0) snprintf(first, sizeof first, "%.*s", (int)(len < 1000 ? len : 1000), line);
    }
    line += len + (nl ? 1 : 0);
  }
  char path[600], why[600];
  snprintf(path, sizeof path, "%s/%s", run, file);
  if (WIFSIGNALED(st)) fail(label, cmd, "killed by signal %d; stderr: %s", WTERMSIG(st), text);
  else if (!WIFEXITED(st) || WEXITSTATUS(st) == 0) fail(label, cmd, "exit status 0 for a hostile %s", file);
  else if (WEXITSTATUS(st) >= 126) fail(label, cmd, "exit status %d (could not run?)", WEXITSTATUS(st));
  else if (nlines != 1) fail(label, cmd, "stderr has %d lines besides the backend line, not 1: %s", nlines, text);
  else if (strncmp(first, "ldm-vk: ", 8) != 0)
    fail(label, cmd, "the error line does not start with 'ldm-vk: ': %s", first);
  else if (!strstr(first, path)) fail(label, cmd, "the error does not name %s: %s", path, first);
  snap_diff(&before, &after, why, sizeof why);
  if (why[0]) fail(label, cmd, "the run directory changed: %s", why);
  snap_diff(&obefore, &oafter, why, sizeof why);
  if (why[0]) fail(label, cmd, "the output directory changed: %s", why);
  if (getenv("LDM_HOSTILE_VERBOSE")) fprintf(stderr, "  [%s] %s: %s\n", label, cmd, first);
  free(err.p);
  snap_free(&before);
  snap_free(&after);
  snap_free(&obefore);
  snap_free(&oafter);
}

static void expect_ok(const char *label, int which) {
  char *argv[40];
  build_argv(which, argv, true);
  clear_outdir();
  buf err = {0};
  int st = run_cmd(argv, &err);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail(label, cmd_name[which], "the positive control failed (status %d): %s", st, err.p ? (char *)err.p : "");
  free(err.p);
}

/* restore file f of the run directory to its trained bytes */
static void restore(int f) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", run, fname[f]);
  struct stat st;
  if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rmdir(p);
  if (!write_file(p, base[f].orig.p, base[f].orig.n)) {
    fprintf(stderr, "cannot restore %s\n", p);
    exit(1);
  }
}

/* place `bytes` (or, for bytes == NULL: special 1 = no file, 2 = a directory) as file f and run the
 * commands that read it */
static void hostile(int f, const char *label, const void *bytes, size_t n, int special) {
  char p[600], lab[300];
  snprintf(p, sizeof p, "%s/%s", run, fname[f]);
  snprintf(lab, sizeof lab, "%s: %s", fname[f], label);
  const char *only = getenv("LDM_HOSTILE_ONLY"); /* debugging: run only the variants whose label has this */
  if (only && !strstr(lab, only)) return;
  cases++;
  unlink(p);
  if (special == 2) mkdir(p, 0755);
  else if (special == 0 && !write_file(p, bytes, n)) {
    fprintf(stderr, "cannot write %s\n", p);
    exit(1);
  }
  if (f == F_VAE || f == F_UNET) {
    expect_rejected(lab, 0, fname[f]);
    expect_rejected(lab, 1, fname[f]);
    expect_rejected(lab, 3, fname[f]);
  } else {
    expect_rejected(lab, 2, fname[f]);
  }
  restore(f);
}

static void hostile_ckpt(int f, const char *label, const ckpt *c, const char *meta_raw) {
  buf b;
  ckpt_bytes(c, &b, meta_raw);
  hostile(f, label, b.p, b.n, 0);
  free(b.p);
}

/* one metadata key set to a value (NULL: removed) */
static void hostile_meta(int f, const char *key, const char *value) {
  ckpt c = ckpt_copy(&base[f]);
  set_meta(&c, key, value);
  char label[400];
  if (value) {
    char shown[120];
    size_t o = 0;
    for (const char *s = value; *s && o + 5 < sizeof shown; s++)
      o += (size_t)snprintf(shown + o, sizeof shown - o, ((unsigned char)*s < 0x20) ? "\\x%02x" : "%c",
                            (unsigned char)*s);
    shown[o] = 0;
    snprintf(label, sizeof label, "%s = \"%s\"", key, shown);
  } else {
    snprintf(label, sizeof label, "%s missing", key);
  }
  hostile_ckpt(f, label, &c, NULL);
  free(c.t);
}

/* ------------------------------------------------------------------ the variants */

static void model_meta_variants(int f, bool all) {
  /* the crash of the issue: nres >= 32 overflowed the UNet builder's skip arrays */
  const char *nres[] = {"40", "32", "17", "100000", "0", "-1", "3.5", "1x", "", " 1", "+1", "1e2",
                        "99999999999999999999", "0x10", "nan", NULL};
  const char *nres_few[] = {"40", "0", "3.5", "", "nan", NULL};
  for (const char *const *v = all ? nres : nres_few; *v; v++) hostile_meta(f, "ldm.nres", *v);
  struct {
    const char *k;
    const char *v[12];
  } kv_all[] = {
      {"ldm.cin", {"0", "2", "4", "-3", "1.0", NULL}},
      {"ldm.res", {"0", "3", "18", "2048", "-16", "nan", "16\n", NULL}},
      {"ldm.z", {"0", "65", "1000000", "4.0", NULL}},
      {"ldm.ncls", {"-1", "65537", "1e9", NULL}},
      {"ldm.tdim", {"0", "30", "5000", "inf", NULL}},
      {"ldm.heads", {"0", "3", "65", "-4", NULL}},
      {"ldm.crop", {"8", "-1", "1000", NULL}},
      {"ldm.vae_ch", {"", "8", "8,16,32,64,128", "8,,16", "8,16,", "8;16", "0,16", "-8,16", "8,9999999", "9,16",
                      "8.5,16", NULL}},
      {"ldm.unet_ch", {"", "16,32,64,128,256", "16,0", "18,32", "16,33", NULL}},
      {"ldm.attn", {"", "0", "0,1,1", "0,2", "0,-1", "a,b", NULL}},
      {"ldm.config", {"", "a-very-long-configuration-name-of-40-bytes", "ti\nny", "ti ny", NULL}},
  };
  struct {
    const char *k;
    const char *v[4];
  } kv_few[] = {
      {"ldm.res", {"2048", "nan", NULL}},
      {"ldm.vae_ch", {"8,,16", "9,16", NULL}},
      {"ldm.unet_ch", {"16,33", NULL}},
      {"ldm.attn", {"0,2", NULL}},
      {"ldm.tdim", {"30", NULL}},
  };
  if (all)
    for (size_t i = 0; i < sizeof kv_all / sizeof kv_all[0]; i++)
      for (int j = 0; kv_all[i].v[j]; j++) hostile_meta(f, kv_all[i].k, kv_all[i].v[j]);
  else
    for (size_t i = 0; i < sizeof kv_few / sizeof kv_few[0]; i++)
      for (int j = 0; kv_few[i].v[j]; j++) hostile_meta(f, kv_few[i].k, kv_few[i].v[j]);
  const char *required[] = {"ldm.config", "ldm.cin", "ldm.res", "ldm.z", "ldm.nres", "ldm.ncls", "ldm.tdim",
                            "ldm.heads", "ldm.crop", "ldm.vae_ch", "ldm.unet_ch", "ldm.attn", NULL};
  const char *required_few[] = {"ldm.config", "ldm.nres", "ldm.vae_ch", NULL};
  for (const char *const *k = all ? required : required_few; *k; k++) hostile_meta(f, *k, NULL);
  /* unknown keys with the ldm. prefix */
  hostile_meta(f, "ldm.bogus", "1");
  if (all) {
    hostile_meta(f, "ldm.NRES", "1");
    hostile_meta(f, "ldm.", "x");
    hostile_meta(f, "ldm.x\ny", "1");
  }
}

static void sched_meta_variants(void) {
  struct {
    const char *k;
    const char *v[12];
  } kv[] = {
      {"ldm.scale", {"nan", "inf", "-inf", "-1", "0", "1e400", "", "1.0x", "1e7", "0x1p3", NULL}},
      {"ldm.T", {"nan", "1", "0", "-5", "1000.5", "100001", "1e3", "2147483648", "99999999999999999999", NULL}},
      {"ldm.beta_start", {"0", "-0.1", "1", "nan", "0.03", "inf", NULL}},
      {"ldm.beta_end", {"1", "1.5", "0.00001", "nan", "", NULL}},
      {"ldm.schedule", {"", "bogus", "LINEAR", "linear ", NULL}},
      {"ldm.prediction", {"", "x0", "EPS", NULL}},
      {"ldm.zero_snr", {"2", "", "yes", "-1", NULL}},
      {"ldm.step", {"-1", "nan", "1.5", "9999999999999", NULL}},
  };
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
    for (int j = 0; kv[i].v[j]; j++) hostile_meta(F_UNET, kv[i].k, kv[i].v[j]);
    hostile_meta(F_UNET, kv[i].k, NULL);
  }
  /* a valid configuration that does not fit the weights or the VAE */
  hostile_meta(F_UNET, "ldm.tdim", "64");
  hostile_meta(F_UNET, "ldm.nres", "2");
  hostile_meta(F_UNET, "ldm.res", "32");
  hostile_meta(F_VAE, "ldm.z", "8");
}

static void state_meta_variants(int f, bool all) {
  if (!all) {
    hostile_meta(f, "ldm.opt_t", "4294967295");
    hostile_meta(f, "ldm.step", "nan");
    hostile_meta(f, "ldm.scale", "inf");
    hostile_meta(f, "ldm.done", "2");
    hostile_meta(f, "ldm.seed", "-1");
    hostile_meta(f, "ldm.batch", "0");
    hostile_meta(f, "ldm.grad_accum", NULL);
    hostile_meta(f, "ldm.stage", f == F_STATE_VAE ? "unet" : "vae");
    return;
  }
  struct {
    const char *k;
    const char *v[8];
  } kv[] = {
      {"ldm.step", {"-1", "2147483647", "99999999999999999999", "1.5", "nan", "", NULL}},
      {"ldm.opt_t", {"4294967295", "4294967296", "-1", "3", "1.0", NULL}},
      {"ldm.done", {"2", "yes", "", NULL}},
      {"ldm.scale", {"nan", "inf", "-1", NULL}},
      {"ldm.seed", {"-1", "18446744073709551616", "1.5", "", "0x0", NULL}},
      {"ldm.batch", {"0", "-4", "4.0", "99999999999", "8", NULL}},
      {"ldm.grad_accum", {"0", "-1", "", "2", NULL}},
      {"ldm.stage", {"bogus", "", NULL}},
  };
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
    for (int j = 0; kv[i].v[j]; j++) hostile_meta(f, kv[i].k, kv[i].v[j]);
    hostile_meta(f, kv[i].k, NULL);
  }
  hostile_meta(f, "ldm.stage", f == F_STATE_VAE ? "unet" : "vae");
  hostile_meta(f, "ldm.seed", "1"); /* another run's seed */
}

/* generic safetensors corruption of file f */
static void structure_variants(int f, bool all) {
  const buf *o = &base[f].orig;
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | o->p[i];
  uint8_t *b = malloc(o->n + 64);
  /* truncations */
  size_t cuts[] = {0, 4, 7, 8, 8 + (size_t)hlen / 2, 8 + (size_t)hlen, o->n - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    if (!all && i != 3 && i != 6) continue;
    char l[64];
    snprintf(l, sizeof l, "truncated to %zu bytes", cuts[i]);
    hostile(f, l, o->p, cuts[i], 0);
  }
  /* header length field */
  uint64_t lens[] = {(uint64_t)o->n, UINT64_MAX, (uint64_t)1 << 63, 0, 1, hlen - 8, hlen + 8};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    if (!all && i != 0 && i != 5) continue;
    memcpy(b, o->p, o->n);
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)(lens[i] >> (8 * k));
    char l[64];
    snprintf(l, sizeof l, "header length %llu", (unsigned long long)lens[i]);
    hostile(f, l, b, o->n, 0);
  }
  /* byte damage inside the header */
  struct {
    const char *what;
    size_t at;
    uint8_t byte;
  } pokes[] = {{"'{' -> '['", 8, '['},
               {"invalid UTF-8 byte", 8 + 20, 0xff},
               {"NUL byte in the header", 8 + 20, 0},
               {"header end '}' -> ','", 8 + (size_t)hlen - 1, ','},
               {"control byte in a string", 8 + 3, '\n'}};
  for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
    if (!all && i > 1) continue;
    memcpy(b, o->p, o->n);
    /* the last header byte is padding for most files: damage the last non-space byte instead */
    size_t at = pokes[i].at;
    if (i == 3)
      while (at > 8 && b[at] == ' ') at--;
    b[at] = pokes[i].byte;
    hostile(f, pokes[i].what, b, o->n, 0);
  }
  /* trailing bytes after the data region */
  memcpy(b, o->p, o->n);
  memset(b + o->n, 0, 16);
  hostile(f, "16 trailing bytes", b, o->n + 16, 0);
  free(b);

  /* header-level edits through the serializer */
  ckpt c;
  int w = -1; /* a conv weight with Cout != Cin (swapping them changes the shape) */
  for (int i = 0; i < base[f].nt && w < 0; i++)
    if (base[f].t[i].ndim == 4 && base[f].t[i].shape[0] != base[f].t[i].shape[1] &&
        (f != F_VAE || strncmp(base[f].t[i].name, "dec.", 4) == 0)) /* sample reads only the decoder */
      w = i;
  int bias = find_tensor(&base[f], ".bias", 1);
#define VARIANT(label, edit, raw)                                                                  \
  do {                                                                                             \
    c = ckpt_copy(&base[f]);                                                                       \
    edit;                                                                                          \
    hostile_ckpt(f, label, &c, raw);                                                               \
    free(c.t);                                                                                     \
  } while (0)
  VARIANT("missing tensor", c.t[w] = c.t[--c.nt], NULL);
  VARIANT("duplicate tensor name", (c.t[c.nt] = c.t[w], c.t[c.nt].data = c.t[w].data, c.nt++), NULL);
  VARIANT("wrong dtype (F16, same bytes)",
          (snprintf(c.t[w].dtype, sizeof c.t[w].dtype, "F16"), c.t[w].shape[0] *= 2), NULL);
  VARIANT("shape mismatch (dims swapped)",
          (c.t[w].shape[0] = base[f].t[w].shape[1], c.t[w].shape[1] = base[f].t[w].shape[0]), NULL);
  if (all) {
    VARIANT("wrong dtype (I32)", snprintf(c.t[w].dtype, sizeof c.t[w].dtype, "I32"), NULL);
    VARIANT("unknown dtype", snprintf(c.t[w].dtype, sizeof c.t[w].dtype, "F33"), NULL);
    VARIANT("shape mismatch (one dim dropped)",
            (c.t[w].shape[0] *= c.t[w].shape[1], c.t[w].shape[1] = c.t[w].shape[2], c.t[w].shape[2] = c.t[w].shape[3],
             c.t[w].ndim = 3),
            NULL);
    VARIANT("shape does not match data_offsets", c.t[w].shape[0] += 1, NULL);
    VARIANT("negative dimension", c.t[w].shape[0] = -c.t[w].shape[0], NULL);
    VARIANT("9 dimensions", (c.t[bias].ndim = 9, c.t[bias].shape[8] = c.t[bias].shape[0],
                             memcpy(c.t[bias].shape, (int64_t[8]){1, 1, 1, 1, 1, 1, 1, 1}, 64)), NULL);
    VARIANT("overflowing shape", (c.t[w].shape[0] = INT64_MAX, c.t[w].shape[1] = INT64_MAX), NULL);
    VARIANT("overlapping data offsets",
            (c.t[1].raw_off = true, c.t[1].begin = c.t[0].nbytes / 2, c.t[1].end = c.t[1].begin + c.t[1].nbytes), NULL);
    VARIANT("data_offsets end before begin", (c.t[0].raw_off = true, c.t[0].begin = c.t[0].nbytes, c.t[0].end = 0),
            NULL);
    VARIANT("data_offsets beyond the data region",
            (c.t[c.nt - 1].raw_off = true, c.t[c.nt - 1].begin = (uint64_t)1 << 40,
             c.t[c.nt - 1].end = ((uint64_t)1 << 40) + c.t[c.nt - 1].nbytes),
            NULL);
    VARIANT("unknown tensor field", snprintf(c.t[w].extra, sizeof c.t[w].extra, ",\"bogus\":1"), NULL);
    VARIANT("tensor name with a newline and an unknown dtype",
            (snprintf(c.t[w].name, sizeof c.t[w].name, "evil\nname"), snprintf(c.t[w].dtype, 16, "X")), NULL);
    VARIANT("__metadata__ is a number", (void)0, "5");
    VARIANT("__metadata__ value is not a string", (void)0, "{\"ldm.nres\":40}");
    VARIANT("duplicate __metadata__ key", (void)0, "{\"ldm.config\":\"tiny\",\"ldm.config\":\"tiny\"}");
    VARIANT("__metadata__ is null", (void)0, "null");
  }
#undef VARIANT
}

/* ------------------------------------------------------------------ the graph builders themselves */

/* Defence in depth: the builders must refuse (return -1 with a message), not overflow, whatever config
 * they are given; and they must still build the largest valid one (4 levels x 16 ResBlocks fills the
 * skip arrays exactly). */
static int builder_case(const char *label, const ldm_model_cfg *c, bool valid) {
  ldm_graph g;
  if (ldm_graph_init(&g) != LDM_OK) return 1;
  ldm_clear_error();
  int lr = c->vae_levels >= 1 && c->vae_levels <= LDM_MAX_LEVELS && c->res > 0 ? ldm_latent_res(c) : 8;
  if (lr < 1 || lr > 64) lr = 8;
  int x = ldm_act(&g, "x", 4, (int64_t[]){1, c->z >= 1 && c->z <= 64 ? c->z : 4, lr, lr});
  int t = ldm_host(&g, "t", LDM_U32, 1), y = ldm_host(&g, "y", LDM_U32, 1);
  int out = ldm_unet(&g, c, x, t, y);
  int px = ldm_act(&g, "img", 4, (int64_t[]){1, c->cin >= 1 && c->cin <= 3 ? c->cin : 1, 16, 16});
  int mu = -1, lv = -1;
  ldm_status es = ldm_vae_encode(&g, c, px, &mu, &lv);
  int dec = ldm_vae_decode(&g, c, x);
  int bad = 0;
  if (valid && (out < 0 || (c->res == 16 && (es != LDM_OK || dec < 0)))) {
    fprintf(stderr, "FAIL [builder: %s] a valid config was refused: %s\n", label, ldm_last_error());
    bad = 1;
  } else if (!valid && (out >= 0 || es == LDM_OK || dec >= 0)) {
    fprintf(stderr, "FAIL [builder: %s] an invalid config was built (unet %d, encoder %d, decoder %d)\n", label, out,
            (int)es, dec);
    bad = 1;
  } else if (!valid && !strstr(ldm_last_error(), "invalid model configuration")) {
    fprintf(stderr, "FAIL [builder: %s] refused without saying why: %s\n", label, ldm_last_error());
    bad = 1;
  }
  ldm_graph_free(&g);
  return bad;
}

static void builder_variants(void) {
  ldm_model_cfg tiny, c;
  if (ldm_model_config("tiny", &tiny) != LDM_OK) {
    fprintf(stderr, "FAIL [builder] no tiny config\n");
    failures++;
    return;
  }
  failures += builder_case("tiny", &tiny, true);
  c = tiny, c.nres = LDM_MAX_NRES;
  failures += builder_case("nres 16", &c, true);
  c = tiny, c.unet_levels = 4, c.nres = LDM_MAX_NRES;
  for (int i = 0; i < 4; i++) c.unet_ch[i] = 16, c.attn[i] = 0;
  failures += builder_case("4 levels x 16 ResBlocks", &c, true);
  struct {
    const char *label;
    int field, value;
  } bad[] = {{"nres 17", 0, 17}, {"nres 40", 0, 40}, {"nres 100000", 0, 100000}, {"nres 0", 0, 0},
             {"nres -1", 0, -1}, {"unet_levels 0", 1, 0}, {"unet_levels 5", 1, 5}, {"vae_levels 5", 2, 5},
             {"vae_levels 0", 2, 0}, {"tdim 30", 3, 30}, {"heads 0", 4, 0}, {"ncls -1", 5, -1},
             {"unet_ch[0] 0", 6, 0}, {"res 18", 7, 18}, {"res 100000", 7, 100000}, {"vae_ch[1] -16", 8, -16}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c = tiny;
    int v = bad[i].value;
    switch (bad[i].field) {
    case 0: c.nres = v; break;
    case 1: c.unet_levels = v; break;
    case 2: c.vae_levels = v; break;
    case 3: c.tdim = v; break;
    case 4: c.heads = v; break;
    case 5: c.ncls = v; break;
    case 6: c.unet_ch[0] = v; break;
    case 7: c.res = v; break;
    default: c.vae_ch[1] = v; break;
    }
    failures += builder_case(bad[i].label, &c, false);
  }
}

/* ------------------------------------------------------------------ setup */

/* a small image-folder dataset (two classes of 16x16 grey PNGs): loads in no time, needs nothing installed */
static bool make_dataset(void) {
  float img[16 * 16];
  for (int cls = 0; cls < 2; cls++) {
    char d[400];
    snprintf(d, sizeof d, "%s/%d", datadir, cls);
    if (mkdir(datadir, 0755) != 0 && errno != EEXIST) return false;
    if (mkdir(d, 0755) != 0) return false;
    for (int k = 0; k < 8; k++) {
      for (int i = 0; i < 16 * 16; i++) img[i] = (float)(((i / 16 + k) % 4 == cls * 2) - 0.5) * 1.5f;
      char p[500];
      snprintf(p, sizeof p, "%s/%d.png", d, k);
      if (ldm_png_write_image(p, img, 1, 16, 16, 0) != LDM_OK) return false;
    }
  }
  return true;
}

static bool make_inputs(void) {
  ldm_st_file *f;
  char p[600];
  snprintf(p, sizeof p, "%s/vae.safetensors", run);
  if (ldm_st_open(p, &f) != LDM_OK) return false;
  ldm_model_cfg c;
  ldm_status s = ldm_cfg_from_meta(f, &c);
  ldm_st_close(f);
  if (s != LDM_OK) {
    fprintf(stderr, "the trained vae.safetensors does not load: %s\n", ldm_last_error());
    return false;
  }
  int B = 2, lr = ldm_latent_res(&c);
  size_t nx = (size_t)B * c.cin * c.res * c.res, nz = (size_t)B * c.z * lr * lr;
  float *x = calloc(nx, 4), *z = calloc(nz, 4);
  for (size_t i = 0; i < nx; i++) x[i] = (float)((int)(i % 7) - 3) / 3.0f;
  for (size_t i = 0; i < nz; i++) z[i] = (float)((int)(i % 5) - 2) / 2.0f;
  int32_t t[2] = {10, 500}, y[2] = {0, 3};
  ldm_st_writer *w;
  s = ldm_st_writer_new(&w);
  if (s == LDM_OK) s = ldm_st_writer_add(w, "x", LDM_DT_F32, 4, (int64_t[]){B, c.cin, c.res, c.res}, x);
  if (s == LDM_OK) s = ldm_st_writer_add(w, "z", LDM_DT_F32, 4, (int64_t[]){B, c.z, lr, lr}, z);
  if (s == LDM_OK) s = ldm_st_writer_add(w, "xt", LDM_DT_F32, 4, (int64_t[]){B, c.z, lr, lr}, z);
  if (s == LDM_OK) s = ldm_st_writer_add(w, "t", LDM_DT_I32, 1, (int64_t[]){B}, t);
  if (s == LDM_OK) s = ldm_st_writer_add(w, "y", LDM_DT_I32, 1, (int64_t[]){B}, y);
  if (s == LDM_OK) s = ldm_st_write_atomic(w, inputs);
  ldm_st_writer_free(w);
  free(x);
  free(z);
  return s == LDM_OK;
}

static void rm_rf(const char *p) {
  struct stat st;
  if (lstat(p, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(p);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
      char q[1000];
      snprintf(q, sizeof q, "%s/%s", p, de->d_name);
      rm_rf(q);
    }
    if (d) closedir(d);
    rmdir(p);
  } else {
    unlink(p);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_hostile_ckpt PATH/TO/ldm-vk\n");
    return 2;
  }
  exe = argv[1];
  snprintf(tmp, sizeof tmp, "/tmp/ldm-hostile-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  snprintf(datadir, sizeof datadir, "%s/data", tmp);
  if (!make_dataset()) {
    fprintf(stderr, "cannot write the dataset in %s: %s\n", datadir, ldm_last_error());
    return 1;
  }
  snprintf(run, sizeof run, "%s/run", tmp);
  snprintf(outdir, sizeof outdir, "%s/out", tmp);
  snprintf(inputs, sizeof inputs, "%s/inputs.safetensors", tmp);
  mkdir(outdir, 0755);
  time_t t0 = time(NULL);
  /* the run every variant is made from */
  char *targv[40];
  build_argv(2, targv, false);
  buf err = {0};
  int st = run_cmd(targv, &err);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "training the tiny run failed: %s\n", err.p ? (char *)err.p : "");
    return 1;
  }
  free(err.p);
  for (int f = 0; f < F_COUNT; f++) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", run, fname[f]);
    if (!ckpt_load(p, &base[f])) {
      fprintf(stderr, "cannot read the trained %s: %s\n", p, ldm_last_error());
      return 1;
    }
  }
  if (!make_inputs()) {
    fprintf(stderr, "cannot write %s: %s\n", inputs, ldm_last_error());
    return 1;
  }
  /* positive controls: the trained run, and every file as this test's serializer writes it (so that a
   * rejection below is caused by the variant, not by the serializer), plus a foreign metadata key */
  expect_ok("trained run", 0);
  expect_ok("trained run", 1);
  expect_ok("trained run", 2);
  expect_ok("trained run", 3);
  for (int f = 0; f < F_COUNT; f++) {
    ckpt c = ckpt_copy(&base[f]);
    set_meta(&c, "format", "pt");
    buf b;
    ckpt_bytes(&c, &b, NULL);
    char p[600];
    snprintf(p, sizeof p, "%s/%s", run, fname[f]);
    write_file(p, b.p, b.n);
    free(b.p);
    free(c.t);
  }
  expect_ok("re-serialized files with a foreign key", 0);
  expect_ok("re-serialized files with a foreign key", 1);
  expect_ok("re-serialized files with a foreign key", 2);
  expect_ok("re-serialized files with a foreign key", 3);
  for (int f = 0; f < F_COUNT; f++) restore(f);
  if (failures) {
    fprintf(stderr, "the positive controls failed: the hostile variants would prove nothing\n");
    return 1;
  }

  builder_variants();
  /* unet.safetensors: everything (sample and forward) */
  model_meta_variants(F_UNET, true);
  sched_meta_variants();
  structure_variants(F_UNET, true);
  /* (a missing weights file is not hostile: it is rebuilt from its state file) */
  hostile(F_UNET, "a directory", NULL, 0, 2);
  /* vae.safetensors: a selection (sample and forward) */
  model_meta_variants(F_VAE, false);
  structure_variants(F_VAE, false);
  /* run state for --resume */
  state_meta_variants(F_STATE_UNET, true);
  state_meta_variants(F_STATE_VAE, false);
  model_meta_variants(F_STATE_UNET, false);
  structure_variants(F_STATE_UNET, false);
  structure_variants(F_STATE_VAE, false);
  {
    ckpt c = ckpt_copy(&base[F_STATE_UNET]);
    int m = find_tensor(&c, "optim.m.", 0);
    c.t[m] = c.t[--c.nt];
    hostile_ckpt(F_STATE_UNET, "missing optimizer moment", &c, NULL);
    free(c.t);
  }

  fprintf(stderr, "%d hostile variants, %d commands, %d failures, %lld s\n", cases, commands, failures,
          (long long)(time(NULL) - t0));
  if (!failures) rm_rf(tmp);
  else fprintf(stderr, "kept %s for inspection\n", tmp);
  return failures ? 1 : 0;
}
