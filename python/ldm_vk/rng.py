"""Philox4x32-10 (Salmon et al. 2011) with ldm-vk's stream mapping, vectorised over blocks in torch.

ldm-vk draws every random number as element i of a (seed, stream, base) stream: block b = i / 4 is the
Philox output for key = (seed_lo, seed_hi), counter = (c_lo, c_hi, stream_lo, stream_hi) with
c = base + b (64-bit); element i is word i % 4 of it. Uniforms take the 24 high bits,
u = ((x >> 8) + 0.5) / 2^24; normals are Box-Muller pairs, words (0, 1) and (2, 3) of each block:
r = sqrt(-2 log u1), (r cos(2 pi u2), r sin(2 pi u2)), in float32. This reproduces the streams of
``src/core/philox.c`` (the raw words bit for bit; normals to float32 rounding of log/cos/sin).
"""
import torch

__all__ = ["philox4x32_10", "random_u32", "random_normal"]

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF


def _mulhilo(m: int, c: torch.Tensor):
    """(hi, lo) 32-bit words of the 64-bit product m * c (c int64 holding uint32 values), without overflow."""
    mh, ml = m >> 16, m & 0xFFFF
    a, b = mh * c, ml * c          # both < 2^48
    lo = (((a & 0xFFFF) << 16) + b) & _MASK
    hi = ((a + (b >> 16)) >> 16) & _MASK
    return hi, lo


def philox4x32_10(ctr, key):
    """ctr: int64 tensor [..., 4] of uint32 words, key: (k0, k1) ints. Returns int64 [..., 4]."""
    c0, c1, c2, c3 = (ctr[..., i].clone() for i in range(4))
    k0, k1 = key[0] & _MASK, key[1] & _MASK
    for r in range(10):
        if r:
            k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return torch.stack([c0, c1, c2, c3], -1)


def _blocks(seed: int, stream: int, base: int, nblocks: int):
    c = base + torch.arange(nblocks, dtype=torch.int64)  # base < 2^63 in every use of ldm-vk
    ctr = torch.stack([c & _MASK, (c >> 32) & _MASK, torch.full_like(c, stream & _MASK),
                       torch.full_like(c, (stream >> 32) & _MASK)], -1)
    return philox4x32_10(ctr, (seed & _MASK, (seed >> 32) & _MASK))


def random_u32(seed: int, stream: int, base: int, n: int) -> torch.Tensor:
    """Elements 0..n-1 of a stream as uint32 values in an int64 tensor."""
    return _blocks(seed, stream, base, (n + 3) // 4).reshape(-1)[:n]


def random_normal(seed: int, stream: int, base: int, n: int) -> torch.Tensor:
    """Elements 0..n-1 of a stream as standard normals (float32), as ``ldm_rng_normal4`` draws them."""
    w = _blocks(seed, stream, base, (n + 3) // 4)
    u = ((w >> 8).to(torch.float32) + 0.5) * (1.0 / 16777216.0)
    u1, u2 = u[:, 0::2], u[:, 1::2]                     # (w0, w2) and (w1, w3)
    r = torch.sqrt(-2.0 * torch.log(u1))
    th = torch.tensor(6.28318530717958647692, dtype=torch.float32) * u2
    out = torch.stack([r * torch.cos(th), r * torch.sin(th)], -1)  # [blocks, 2 pairs, (cos, sin)]
    return out.reshape(-1)[:n]
