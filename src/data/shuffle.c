/* Deterministic, platform-independent shuffling (see ldm_shuffle_indices in ldm/data.h). */
#include "ldm/data.h"

/* splitmix64 (Steele, Lea, Flood 2014; the reference constants of Vigna's public-domain code). */
uint64_t ldm_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform integer in [0, bound) by rejection: no modulo bias, same result everywhere. */
static uint64_t uniform_below(uint64_t *state, uint64_t bound) {
  uint64_t threshold = (0 - bound) % bound; /* 2^64 mod bound */
  for (;;) {
    uint64_t r = ldm_splitmix64(state);
    if (r >= threshold) return r % bound;
  }
}

void ldm_shuffle_indices(uint32_t *idx, int n, uint64_t seed, uint64_t epoch) {
  if (!idx || n <= 0) return;
  for (int i = 0; i < n; i++) idx[i] = (uint32_t)i;
  uint64_t state = seed ^ (epoch * 0x9E3779B97F4A7C15ull);
  for (int i = n - 1; i > 0; i--) {
    uint32_t j = (uint32_t)uniform_below(&state, (uint64_t)i + 1);
    uint32_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}
