/* Philox4x32-10 (Salmon et al. 2011), bit-identical in C and GLSL (shaders/philox.glsl).
 * Stream mapping used by every random op: key = {seed, stream}, counter = {block, 0, base_lo, base_hi},
 * where block = element index / 4 and base is a 64-bit per-call counter (e.g. from the step buffer). */
#ifndef LDM_RNG_H
#define LDM_RNG_H
#include <stdint.h>
void ldm_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* uniform in (0,1) from 24 high bits, exactly as the shaders compute it */
float ldm_u32_to_unit(uint32_t x);
/* Element i of the (seed, stream, base) stream: raw uint32, uniform (0,1), standard normal. */
uint32_t ldm_rng_u32(uint32_t seed, uint32_t stream, uint64_t base, uint64_t i);
void ldm_rng_normal4(uint32_t seed, uint32_t stream, uint64_t base, uint64_t block, float out[4]);
#endif
