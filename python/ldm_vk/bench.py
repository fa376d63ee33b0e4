"""``python3 -m ldm_vk.bench``: the PyTorch side of ``ldm-vk bench``.

Median time of a VAE train step, a UNet train step (forward + backward + AdamW) and a UNet forward (one
sampling step) of the fmnist or celeba64 models on a torch device, eager, as a CUDA graph or under
torch.compile; one JSON line on stdout. These are the anchors ``docs/design.md`` compares ldm-vk with.
Synthetic inputs; the numbers are timings only.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

from .checkpoint import ModelConfig
from .models import VAE, UNet
from .sampling import make_schedule

CONFIGS = {
    "fmnist": ModelConfig("fmnist", 1, 32, 4, 2, 10, 256, 4, 2, (32, 64, 128), (64, 128), (False, True)),
    "celeba64": ModelConfig("celeba64", 3, 64, 4, 2, 10, 256, 4, 0, (64, 128, 256), (128, 256), (False, True)),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ldm_vk.bench", description=__doc__.split("\n\n")[1])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="fmnist", help="[fmnist]")
    ap.add_argument("--batch", type=int, default=128, help="[128]")
    ap.add_argument("--steps", type=int, default=20, help="timed repetitions [20]")
    ap.add_argument("--mode", choices=["eager", "graph", "compile"], default="eager", help="[eager]")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 on CUDA (off: fp32)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads, 0 = torch's default")
    a = ap.parse_args(argv)
    if a.batch < 1 or a.steps < 1:
        ap.error("--batch and --steps must be >= 1")
    cfg, dev = CONFIGS[a.config], torch.device(a.device)
    if a.mode == "graph" and dev.type != "cuda":
        ap.error("--mode graph needs a CUDA device")
    if a.mode == "compile" and not hasattr(torch, "compile"):
        ap.error(f"--mode compile needs torch.compile (PyTorch 2; this is {torch.__version__})")
    if a.threads:
        torch.set_num_threads(a.threads)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    vae, unet = VAE.from_config(cfg).to(dev), UNet.from_config(cfg).to(dev)
    B, lr = a.batch, cfg.latent_res
    x = torch.randn(B, cfg.cin, cfg.res, cfg.res, device=dev)
    ev = torch.randn(B, cfg.z, lr, lr, device=dev)
    z0 = torch.randn(B, cfg.z, lr, lr, device=dev)
    t = torch.randint(0, 1000, (B,), device=dev)
    y = torch.randint(0, cfg.ncls + 1, (B,), device=dev)
    abar = make_schedule("linear", 1000)[1].to(dev)
    cap = a.mode == "graph"
    ov = torch.optim.AdamW(vae.parameters(), 2e-4, weight_decay=0.0, capturable=cap)
    ou = torch.optim.AdamW(unet.parameters(), 2e-4, weight_decay=0.0, capturable=cap)

    def vae_step():
        ov.zero_grad(set_to_none=False)
        loss = vae.loss(x, ev)
        loss.backward()
        ov.step()

    def unet_step():
        ou.zero_grad(set_to_none=False)
        n = torch.randn_like(z0)
        ab = abar[t][:, None, None, None]
        loss = F.mse_loss(unet(ab.sqrt() * z0 + (1 - ab).sqrt() * n, t, y), n)
        loss.backward()
        ou.step()

    @torch.no_grad()
    def unet_forward():
        unet(z0, t, y)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    res = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
           "mode": a.mode, "tf32": a.tf32, "batch": B, "config": a.config,
           "params_vae": sum(p.numel() for p in vae.parameters()),
           "params_unet": sum(p.numel() for p in unet.parameters())}
    for name, fn in (("vae_train_step", vae_step), ("unet_train_step", unet_step), ("unet_forward", unet_forward)):
        f = torch.compile(fn) if a.mode == "compile" else fn
        for _ in range(3):
            f()
        sync()
        if a.mode == "graph":
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    fn()
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                fn()
            f = g.replay
            for _ in range(3):
                f()
            sync()
        ts = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            f()
            sync()
            ts.append(time.perf_counter() - t0)
        ts.sort()
        res[name + "_ms_median"] = round(1000 * ts[len(ts) // 2], 3)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
