"""Noise schedules, DDIM / DDPM sampling with classifier-free guidance, and the stage-2 training loss,
as ldm-vk computes them (``src/core/schedule.c``, ``src/sample/coefs.c``, the ``sampler_step`` op).

With the same checkpoint and seed, :func:`sample` draws the same initial latents and step noise as
``ldm-vk sample --sampler ddim|ddpm`` (Philox streams keyed by image index, :mod:`ldm_vk.rng`) and applies
the same float32 update with the same double-precision coefficients, so the two produce the same images up
to floating-point rounding. The other samplers of ``ldm-vk sample`` (euler, euler_a, heun, dpmpp_2m,
dpmpp_2m_sde, unipc; Karras / exponential sigmas; guidance rescale) are not mirrored here.
"""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F

from .checkpoint import ScheduleConfig
from .rng import random_normal

__all__ = ["make_schedule", "ddim_timesteps", "sampler_coefficients", "sample_latents", "sample",
           "training_loss", "STREAM_INIT", "STREAM_STEP"]

STREAM_INIT = 0xA11CE   # Philox stream of z_T: image i draws blocks (i * per + j) / 4
STREAM_STEP = 0x5A5A    # the step noise of step k: base (k + 1) << 32, image i blocks (i * per + j) / 4


def _linspace(a: float, b: float, n: int, i: int) -> float:
    """torch.linspace(a, b, n)[i], evaluated symmetrically from both ends as torch does (in double)."""
    if n == 1:
        return a
    step = (b - a) / (n - 1)
    return a + step * i if i < n // 2 else b - step * (n - 1 - i)


def _cosine_abar(t: float) -> float:
    c = math.cos((t + 0.008) / 1.008 * (math.pi / 2))
    return c * c


def make_schedule(kind: str = "linear", T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                  zero_snr: bool = False):
    """(betas, alphas_cumprod) as float32 tensors of length T, computed in double and rounded once.

    linear: betas = linspace(beta_start, beta_end, T); scaled_linear: linspace of the square roots,
    squared; cosine: Nichol & Dhariwal (s = 0.008), betas capped at 0.999. zero_snr: rescale sqrt(abar)
    linearly so that the last is 0 and the first unchanged (Lin et al. 2024), the last beta exactly 1.
    """
    if T < 1:
        raise ValueError(f"noise schedule: T = {T}")
    if kind == "linear":
        beta = [_linspace(beta_start, beta_end, T, i) for i in range(T)]
    elif kind == "scaled_linear":
        beta = [_linspace(math.sqrt(beta_start), math.sqrt(beta_end), T, i) ** 2 for i in range(T)]
    elif kind == "cosine":
        beta = [min(1.0 - _cosine_abar((i + 1) / T) / _cosine_abar(i / T), 0.999) for i in range(T)]
    else:
        raise ValueError(f"unknown noise schedule {kind!r} (linear, scaled_linear or cosine)")
    if zero_snr:
        sab, ab = [], 1.0
        for b in beta:
            ab *= 1.0 - b
            sab.append(math.sqrt(ab))
        a0, aT = sab[0], sab[-1]
        if T < 2 or not a0 > aT:
            raise ValueError("zero-terminal-SNR rescale needs T >= 2 and a decreasing alphas_cumprod")
        prev = 1.0
        for i in range(T):
            s = (sab[i] - aT) * (a0 / (a0 - aT))
            abar = s * s
            beta[i] = 1.0 - abar if i == 0 else 1.0 - abar / prev
            prev = abar
        beta[-1] = 1.0
    abars, ab = [], 1.0
    for b in beta:
        ab *= 1.0 - b
        abars.append(ab)
    return torch.tensor(beta, dtype=torch.float32), torch.tensor(abars, dtype=torch.float32)


def ddim_timesteps(T: int, steps: int) -> List[int]:
    """round(linspace(T - 1, 0, steps)), ties to even (as C's nearbyint and Python's round)."""
    if not 1 <= steps <= T:
        raise ValueError(f"{steps} sampling steps over T = {T} (1 <= steps <= T needed)")
    return [int(round(_linspace(T - 1.0, 0.0, steps, i))) for i in range(steps)]


def _f32(v) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float32)


def _abar_at(abar, t: int) -> float:
    """abar[t] in double; a zero (the last entry of a zero-terminal-SNR schedule) becomes
    min(2^-24, abar[t-1] / 2), as src/sample/coefs.c (diffusers sets 2^-24)."""
    ab = float(abar[t])
    if ab > 0 or t == 0:
        return ab
    prev = float(abar[t - 1]) if float(abar[t - 1]) > 0 else 2.0 ** -24
    return min(2.0 ** -24, prev / 2.0)


def sampler_coefficients(at: float, ap: float, sampler: str = "ddim", eta: float = 0.0, v_pred: bool = False):
    """The float32 coefficients of one step from abar_t = at to abar_prev = ap (1 = the last step), computed
    in double as ldm-vk does: the denoised estimate D = cx x + cm m from the model output m, then
    x_prev = kx x + kd D + kn noise.

    With a = sqrt(at), s = sqrt(1 - at) (and a_n, s_n of ap): DDIM (Song et al. 2021) sigma =
    eta s_n / s sqrt(1 - a^2 / a_n^2), c = sqrt(s_n^2 - sigma^2): kx = c / s, kd = a_n - c a / s, kn = sigma;
    DDPM: the posterior with alpha = a^2 / a_n^2, beta = 1 - alpha: kd = a_n beta / s^2,
    kx = sqrt(alpha) s_n^2 / s^2, kn = sqrt(beta s_n^2 / s^2). Radicands are clamped at 0.
    """
    a, s = math.sqrt(at), math.sqrt(1.0 - at)
    an, sn = math.sqrt(ap), math.sqrt(max(1.0 - ap, 0.0))
    cx, cm = (a, -s) if v_pred else (1.0 / a, -s / a)
    if sampler == "ddpm":
        alpha = (a * a) / (an * an)
        beta = 1.0 - alpha
        kd, kx, kn = an * beta / (s * s), math.sqrt(alpha) * sn * sn / (s * s), math.sqrt(max(beta * sn * sn / (s * s), 0.0))
    elif sampler == "ddim":
        sig = eta * (sn / s) * math.sqrt(max(1.0 - (a * a) / (an * an), 0.0))
        c = math.sqrt(max(sn * sn - sig * sig, 0.0))
        kx, kd, kn = c / s, an - c * a / s, sig
    else:
        raise ValueError(f"unknown sampler {sampler!r} (ddim or ddpm here; ldm-vk sample has more)")
    return {k: _f32(v) for k, v in dict(cx=cx, cm=cm, kx=kx, kd=kd, kn=kn).items()}


@torch.no_grad()
def sample_latents(unet, schedule: ScheduleConfig, labels: Sequence[int], steps: int = 50, sampler: str = "ddim",
                   eta: float = 0.0, guidance: float = 2.0, seed: int = 0, batch: int = 100, x_T=None,
                   latent_shape=None):
    """Reverse diffusion from z_T to z_0 (in the UNet's scaled latent space; divide by schedule.scale
    before decoding). ``labels``: one class per image, -1 = unconditional.

    Images are processed in device batches of ``min(batch, n)`` as ``ldm-vk sample --batch`` does; image i
    draws its z_T and step noise from the Philox streams of ``ldm-vk sample --seed`` keyed by i (so the
    batch size changes nothing), unless ``x_T`` [n, z, h, w] is given; the last, partial batch is padded
    with copies of the first label, like the C sampler.
    Guidance runs the UNet on [x; x] with [labels; null] and combines u + g (c - u); it is skipped at
    guidance 1 or for a model without classes.
    """
    p = next(unet.parameters())
    dev = p.device
    ncls = unet.ncls
    if latent_shape is None:
        raise ValueError("latent_shape (z, h, w) is needed")
    z, h, w = latent_shape
    per = z * h * w
    n = len(labels)
    T = schedule.T
    _, abar = make_schedule(schedule.schedule, T, schedule.beta_start, schedule.beta_end, schedule.zero_snr)
    ts = ddim_timesteps(T, steps)
    if sampler == "ddpm" and steps == T:
        ts = list(range(T - 1, -1, -1))
    v_pred = schedule.prediction == "v"
    use_cfg = ncls > 0 and guidance != 1.0
    nb = batch if 0 < batch < n else n
    out = torch.empty(n, z, h, w, dtype=torch.float32)
    g32 = _f32(guidance).to(dev)
    for b in range((n + nb - 1) // nb):
        base = b * nb
        m = min(nb, n - base)
        if x_T is not None:
            x = torch.zeros(nb, z, h, w)
            x[:m] = x_T[base:base + m]
        else:
            x = random_normal(seed, STREAM_INIT, base * per // 4, nb * per).reshape(nb, z, h, w)
        x = x.to(dev)
        lab = [labels[base + i] if base + i < n else labels[0] for i in range(nb)]
        y = torch.tensor([l if l >= 0 else ncls for l in lab], dtype=torch.long, device=dev)
        if use_cfg:
            y = torch.cat([y, torch.full_like(y, ncls)])
        for k, t in enumerate(ts):
            tp = ts[k + 1] if k + 1 < len(ts) else None
            c = {key: v.to(dev) for key, v in
                 sampler_coefficients(_abar_at(abar, t), _abar_at(abar, tp) if tp is not None else 1.0, sampler, eta,
                                      v_pred).items()}
            xin = torch.cat([x, x]) if use_cfg else x
            mo = unet(xin, torch.full((xin.shape[0],), t, dtype=torch.long, device=dev), y)
            if use_cfg:
                cond, unc = mo[:nb], mo[nb:]
                mo = unc + g32 * (cond - unc)
            d = c["cx"] * x + c["cm"] * mo
            xn = c["kx"] * x + c["kd"] * d
            if float(c["kn"]) != 0.0:
                noise = random_normal(seed, STREAM_STEP, ((k + 1) << 32) + base * per // 4, nb * per)
                xn = xn + c["kn"] * noise.reshape(nb, z, h, w).to(dev)
            x = xn
        out[base:base + m] = x[:m].float().cpu()
    return out


@torch.no_grad()
def sample(run, n: int = 40, cls: int = -1, **kw) -> "tuple[torch.Tensor, List[int]]":
    """Sample images from a loaded run (:func:`ldm_vk.checkpoint.load_run`): (images [n, cin, res, res]
    in [-1, 1] before clamping, labels). ``cls`` -1 cycles through the classes (image i gets i % ncls),
    as ``ldm-vk sample`` does. Keyword arguments go to :func:`sample_latents`."""
    cfg = run.config
    labels = [(cls if cls >= 0 else i % cfg.ncls) if cfg.ncls > 0 else -1 for i in range(n)]
    lat = sample_latents(run.unet, run.schedule, labels, latent_shape=(cfg.z, cfg.latent_res, cfg.latent_res), **kw)
    lat = lat / _f32(run.schedule.scale)
    dev = next(run.vae.parameters()).device
    return run.vae.decode(lat.to(dev)).float().cpu(), labels


def training_loss(unet, abar: torch.Tensor, z0, y, prediction: str = "eps", generator: Optional[torch.Generator] = None):
    """ldm-vk's stage-2 loss on scaled latents z0 (``scale * (mu + sigma eps)``): t ~ U{0..T-1},
    x_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) n, MSE of the UNet's output against n (eps) or
    v = sqrt(abar_t) n - sqrt(1 - abar_t) z0. ``y`` may hold the null label ``ncls`` (CFG dropout)."""
    B = z0.shape[0]
    t = torch.randint(0, abar.shape[0], (B,), device=z0.device, generator=generator)
    n = torch.randn(z0.shape, device=z0.device, generator=generator)
    a = abar.to(z0.device)[t][:, None, None, None]
    xt = a.sqrt() * z0 + (1 - a).sqrt() * n
    target = n if prediction == "eps" else a.sqrt() * n - (1 - a).sqrt() * z0
    return F.mse_loss(unet(xt, t, y), target)
