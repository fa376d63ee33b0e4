#include "cpu/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/env.h"
#include "ldm/ldm.h"
#include "ldm/log.h"

#define MAX_THREADS 64
/* How long a worker waiting for work, and the caller waiting for the workers, poll before they sleep on a
 * condition variable: a CPU train step starts a parallel region every few microseconds, and a sleep and
 * wake-up for each cost the UNet step a third of its time on a 2-vCPU VM (docs/perf.md "The CPU backend
 * against PyTorch's CPU path"). About 0.1-0.3 ms of pause instructions. */
#define SPIN_PAUSES 4096
/* the polling budget: SPIN_PAUSES, or 0 where the pool has more threads than the machine has CPUs (a poller
 * would take a CPU from a thread with work) */
static int spin = SPIN_PAUSES;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int nthreads = 1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER, cv_done = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t submit_mu = PTHREAD_MUTEX_INITIALIZER;
/* the job's fields are written before gen is raised (release) and read after it is seen (acquire) */
static struct {
  ldm_range_fn fn;
  void *ctx;
  int64_t n, chunk;
  atomic_uint gen;
  atomic_int pending;
} job;

static _Thread_local int in_region;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static void run_part(int part) {
  int64_t b = (int64_t)part * job.chunk, e = b + job.chunk;
  if (e > job.n) e = job.n;
  if (b < e) job.fn(job.ctx, b, e);
}

static void *worker(void *arg) {
  int part = (int)(intptr_t)arg;
  in_region = 1;
  unsigned seen = 0;
  for (;;) {
    for (int k = 0; k < spin && atomic_load_explicit(&job.gen, memory_order_acquire) == seen; k++) cpu_relax();
    if (atomic_load_explicit(&job.gen, memory_order_acquire) == seen) {
      pthread_mutex_lock(&mu);
      while (atomic_load_explicit(&job.gen, memory_order_acquire) == seen) pthread_cond_wait(&cv_work, &mu);
      pthread_mutex_unlock(&mu);
    }
    seen = atomic_load_explicit(&job.gen, memory_order_acquire);
    run_part(part);
    if (atomic_fetch_sub_explicit(&job.pending, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&mu); /* the caller may be asleep on cv_done */
      pthread_cond_signal(&cv_done);
      pthread_mutex_unlock(&mu);
    }
  }
  return NULL;
}

static void init(void) {
  ldm_env env;
  ldm_env_read(&env);
  long n = env.threads ? env.threads : sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  nthreads = (int)n;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 0 && n > cpus) spin = 0;
  for (int i = 1; i < nthreads; i++) {
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, worker, (void *)(intptr_t)i) != 0) {
      nthreads = i; /* run with what could be started */
      pthread_attr_destroy(&at);
      break;
    }
    pthread_attr_destroy(&at);
  }
}

int ldm_cpu_threads(void) {
  pthread_once(&once, init);
  return nthreads;
}

void ldm_parallel_for(int64_t n, int64_t min_chunk, ldm_range_fn fn, void *ctx) {
  if (n <= 0) return;
  pthread_once(&once, init);
  if (min_chunk < 1) min_chunk = 1;
  if (nthreads == 1 || n <= min_chunk || in_region) {
    fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&submit_mu); /* one parallel region at a time; nested calls run serially */
  int64_t chunk = (n + nthreads - 1) / nthreads;
  if (chunk < min_chunk) chunk = min_chunk;
  job.fn = fn;
  job.ctx = ctx;
  job.n = n;
  job.chunk = chunk;
  atomic_store_explicit(&job.pending, nthreads - 1, memory_order_relaxed);
  pthread_mutex_lock(&mu); /* raised under mu: a worker going to sleep sees it or is woken */
  atomic_fetch_add_explicit(&job.gen, 1, memory_order_release);
  pthread_cond_broadcast(&cv_work);
  pthread_mutex_unlock(&mu);
  in_region = 1;
  run_part(0);
  in_region = 0;
  for (int k = 0; k < spin && atomic_load_explicit(&job.pending, memory_order_acquire) > 0; k++) cpu_relax();
  if (atomic_load_explicit(&job.pending, memory_order_acquire) > 0) {
    pthread_mutex_lock(&mu);
    while (atomic_load_explicit(&job.pending, memory_order_acquire) > 0) pthread_cond_wait(&cv_done, &mu);
    pthread_mutex_unlock(&mu);
  }
  pthread_mutex_unlock(&submit_mu);
}

static _Thread_local struct {
  void *raw;
  size_t cap;
} scratch_slot[LDM_CPU_SCRATCH_SLOTS];
/* Under AddressSanitizer every request gets a buffer of its own size: a slot kept larger by an earlier
 * request hides an overrun from the redzone (the channel-last backward weight's accumulator overrun went
 * unseen that way wherever a larger request had come first) */
#if defined(__SANITIZE_ADDRESS__)
#define SCRATCH_EXACT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCRATCH_EXACT 1
#endif
#endif
#ifndef SCRATCH_EXACT
#define SCRATCH_EXACT 0
#endif
float *ldm_cpu_scratch(int slot, int64_t nfloats) {
  size_t need = (size_t)nfloats * 4 + 64;
  if (scratch_slot[slot].cap < need || (SCRATCH_EXACT && scratch_slot[slot].cap != need)) {
    free(scratch_slot[slot].raw);
    scratch_slot[slot].raw = ldm_malloc(need);
    scratch_slot[slot].cap = scratch_slot[slot].raw ? need : 0;
    if (!scratch_slot[slot].raw) {
      ldm_log(LDM_LOG_ERROR, "ldm-vk: out of host memory in a CPU kernel");
      abort();
    }
  }
  return (float *)(((uintptr_t)scratch_slot[slot].raw + 63) & ~(uintptr_t)63);
}
