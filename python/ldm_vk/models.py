"""The VAE and the class-conditional UNet of ldm-vk, in PyTorch.

Module names, parameter shapes and layouts are exactly those ldm-vk writes into ``vae.safetensors`` and
``unet.safetensors`` (conv weights ``[Cout, Cin, kh, kw]``, linear weights ``[out, in]``), so
``load_state_dict(strict=True)`` takes its files as they are, and ``state_dict()`` written back with
:func:`ldm_vk.checkpoint.save_weights` is read by ``ldm-vk sample``. The graph builders of
``src/model/model.c`` build the same networks op for op.
"""
import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["group_norm", "ResBlock", "Attention", "VAE", "UNet", "timestep_embedding"]


def gn_groups(c: int) -> int:
    """GroupNorm groups of ldm-vk: min(32, C/4), one group below 8 channels."""
    return min(32, c // 4) if c >= 8 else 1


def group_norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(gn_groups(c), c, eps=1e-5)


class ResBlock(nn.Module):
    """``h = c1(silu(n1(x))); h += t(silu(temb)); h = c2(silu(n2(h))); return h + skip(x)``.

    ``skip`` is a 1x1 convolution when the channel count changes, the identity otherwise; ``t`` (the time
    embedding projection) exists only when ``tdim > 0`` (the UNet's blocks, not the VAE's).
    """

    def __init__(self, cin: int, cout: int, tdim: int = 0):
        super().__init__()
        self.n1, self.c1 = group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.n2, self.c2 = group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout) if tdim else None
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb=None):
        h = self.c1(F.silu(self.n1(x)))
        if self.t is not None:
            h = h + self.t(F.silu(temb))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    """Self-attention over the pixels: ``x + o(softmax(q^T k / sqrt(d)) v)``.

    ``qkv`` is one 1x1 convolution to 3C channels laid out [q | k | v], each split into ``heads`` heads of
    d = C / heads channels.
    """

    def __init__(self, c: int, heads: int = 4):
        super().__init__()
        if c % heads:
            raise ValueError(f"attention: {c} channels do not split into {heads} heads")
        self.n, self.qkv, self.o, self.heads = group_norm(c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1), heads

    def forward(self, x):
        B, C, H, W = x.shape
        d = C // self.heads
        q, k, v = self.qkv(self.n(x)).reshape(B, 3, self.heads, d, H * W).unbind(1)
        a = torch.softmax(q.transpose(-1, -2) @ k / math.sqrt(d), -1)  # [B, heads, HW, HW]
        o = (v @ a.transpose(-1, -2)).reshape(B, C, H, W)
        return x + self.o(o)


class VAE(nn.Module):
    """Convolutional VAE: one ResBlock per level, stride-2 convolutions down, nearest 2x up + conv.

    ``encode(x)`` returns (mu, logvar) with logvar clamped to [-30, 20]; ``decode(z)`` the image.
    The latent side is ``res / 2**(len(ch) - 1)``.
    """

    def __init__(self, cin: int = 1, ch: Sequence[int] = (32, 64, 128), z: int = 4):
        super().__init__()
        ch = tuple(ch)
        self.ein = nn.Conv2d(cin, ch[0], 3, padding=1)
        enc = []
        for i, c in enumerate(ch):
            enc.append(ResBlock(c, c))
            if i + 1 < len(ch):
                enc.append(nn.Conv2d(c, ch[i + 1], 3, stride=2, padding=1))
        self.enc = nn.Sequential(*enc)
        self.eout = nn.Sequential(group_norm(ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], 2 * z, 3, padding=1))
        self.din = nn.Conv2d(z, ch[-1], 3, padding=1)
        dec, rc = [], list(reversed(ch))
        for i, c in enumerate(rc):
            dec.append(ResBlock(c, c))
            if i + 1 < len(rc):
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, rc[i + 1], 3, padding=1)]
        self.dec = nn.Sequential(*dec)
        self.dout = nn.Sequential(group_norm(ch[0]), nn.SiLU(), nn.Conv2d(ch[0], cin, 3, padding=1))

    @classmethod
    def from_config(cls, cfg) -> "VAE":
        return cls(cfg.cin, cfg.vae_ch, cfg.z)

    def encode(self, x):
        mu, logvar = self.eout(self.enc(self.ein(x))).chunk(2, 1)
        return mu, logvar.clamp(-30, 20)

    def decode(self, z):
        return self.dout(self.dec(self.din(z)))

    def loss(self, x, eps, kl_weight: float = 1e-6):
        """ldm-vk's stage-1 loss: pixel MSE + kl_weight * KL (summed over latent dims, mean over the batch)."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps
        rec = F.mse_loss(self.decode(z), x)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum((1, 2, 3)).mean()
        return rec + kl_weight * kl


def timestep_embedding(t, dim: int):
    """Sinusoidal embedding of integer timesteps: [cos(t f_k) | sin(t f_k)], f_k = 10000^(-k/(dim/2))."""
    half = dim // 2
    f = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    a = t.float()[:, None] * f[None]
    return torch.cat([torch.cos(a), torch.sin(a)], 1)


class UNet(nn.Module):
    """Class-conditional UNet denoiser on VAE latents.

    ``forward(x, t, y)``: x the noisy latents [B, z, h, w], t integer timesteps [B], y class labels [B]
    (``ncls`` = the "null" label of classifier-free guidance). Returns the prediction (eps or v, as the
    checkpoint's ``ldm.prediction`` says) of the shape of x. Time embedding: sinusoidal (tdim/2) -> Linear
    -> SiLU -> Linear (tdim), plus a learned class embedding of ncls + 1 rows.
    """

    def __init__(self, z: int = 4, ch: Sequence[int] = (64, 128), attn: Sequence[bool] = (False, True),
                 nres: int = 2, ncls: int = 10, tdim: int = 256, heads: int = 4):
        super().__init__()
        ch, attn = tuple(ch), tuple(attn)
        if len(attn) != len(ch):
            raise ValueError("UNet: one attention flag per level needed")
        self.tdim, self.ncls = tdim, ncls
        self.temb = nn.Sequential(nn.Linear(tdim // 2, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.cemb = nn.Embedding(ncls + 1, tdim)
        self.cin = nn.Conv2d(z, ch[0], 3, padding=1)
        self.down, skips, c = nn.ModuleList(), [ch[0]], ch[0]
        for i, co in enumerate(ch):
            for _ in range(nres):
                self.down.append(nn.ModuleList([ResBlock(c, co, tdim), Attention(co, heads) if attn[i] else nn.Identity()]))
                c = co
                skips.append(c)
            if i + 1 < len(ch):
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, tdim), Attention(c, heads), ResBlock(c, c, tdim)])
        self.up = nn.ModuleList()
        for i, co in reversed(list(enumerate(ch))):
            for _ in range(nres + 1):
                self.up.append(nn.ModuleList([ResBlock(c + skips.pop(), co, tdim),
                                              Attention(co, heads) if attn[i] else nn.Identity()]))
                c = co
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)))
        self.out = nn.Sequential(group_norm(c), nn.SiLU(), nn.Conv2d(c, z, 3, padding=1))

    @classmethod
    def from_config(cls, cfg) -> "UNet":
        return cls(cfg.z, cfg.unet_ch, cfg.attn, cfg.nres, cfg.ncls, cfg.tdim, cfg.heads)

    def forward(self, x, t, y):
        e = self.temb(timestep_embedding(t, self.tdim // 2)) + self.cemb(y)
        h = self.cin(x)
        hs = [h]
        for m in self.down:
            h = m[1](m[0](h, e)) if isinstance(m, nn.ModuleList) else m(h)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, e)), e)
        for m in self.up:
            h = m[1](m[0](torch.cat([h, hs.pop()], 1), e)) if isinstance(m, nn.ModuleList) else m(h)
        return self.out(h)
