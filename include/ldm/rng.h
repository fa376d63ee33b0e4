/* Philox4x32-10 (Salmon et al. 2011), bit-identical in C and GLSL (shaders/philox.glsl).
 * Stream mapping used by every random op: key = {seed_lo, seed_hi}, counter = {c_lo, c_hi, stream_lo,
 * stream_hi} with c = base + block (64-bit), block = element index / 4. The step buffer's counter
 * advances by 2^32 per step, so one step's draws never overlap the next one's. */
#ifndef LDM_RNG_H
#define LDM_RNG_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
void ldm_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* uniform in (0,1) from 24 high bits, exactly as the shaders compute it */
float ldm_u32_to_unit(uint32_t x);
/* Element i of the (seed, stream, base) stream: raw uint32, uniform (0,1), standard normal. */
uint32_t ldm_rng_u32(uint64_t seed, uint64_t stream, uint64_t base, uint64_t i);
void ldm_rng_block(uint64_t seed, uint64_t stream, uint64_t base, uint64_t block, uint32_t out[4]);
void ldm_rng_normal4(uint64_t seed, uint64_t stream, uint64_t base, uint64_t block, float out[4]);
#ifdef __cplusplus
}
#endif
#endif
