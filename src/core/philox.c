#include "ldm/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void ldm_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    if (r) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

float ldm_u32_to_unit(uint32_t x) { return ((float)(x >> 8) + 0.5f) * (1.0f / 16777216.0f); }

void ldm_rng_block(uint64_t seed, uint64_t stream, uint64_t base, uint64_t b, uint32_t out[4]) {
  uint64_t c = base + b;
  uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  ldm_philox4x32_10(ctr, key, out);
}

uint32_t ldm_rng_u32(uint64_t seed, uint64_t stream, uint64_t base, uint64_t i) {
  uint32_t o[4];
  ldm_rng_block(seed, stream, base, i / 4, o);
  return o[i % 4];
}

void ldm_rng_normal4(uint64_t seed, uint64_t stream, uint64_t base, uint64_t b, float out[4]) {
  uint32_t o[4];
  ldm_rng_block(seed, stream, base, b, o);
  for (int k = 0; k < 4; k += 2) {
    float u1 = ldm_u32_to_unit(o[k]), u2 = ldm_u32_to_unit(o[k + 1]);
    float r = sqrtf(-2.0f * logf(u1));
    float th = 6.28318530717958647692f * u2;
    out[k] = r * cosf(th);
    out[k + 1] = r * sinf(th);
  }
}
