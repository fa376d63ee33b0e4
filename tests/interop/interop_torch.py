#!/usr/bin/env python3
"""Cross-check ldm-vk against its PyTorch side, the ldm_vk package of this repository (python/ldm_vk).

For every run directory given:
  * vae.safetensors and unet.safetensors are loaded into ldm_vk.VAE / ldm_vk.UNet, built from the
    files' ldm.* metadata, with strict=True;
  * the same random inputs go through both implementations (ldm-vk via `ldm-vk forward`): NMSE of mu,
    logvar, the decoded image and the UNet output must stay below 1e-6;
  * `ldm-vk sample` and ldm_vk.sample (same seed, steps, sampler, guidance) must write the same PNGs:
    every pixel within one 8-bit level, at most 1% of them off by one (float rounding at a
    quantisation boundary); the images must not be flat, and another seed must give other images (so
    the comparison can fail).
Also: the Philox known-answer vectors through ldm_vk.rng; the checked-in layout files
tests/data/ref_{fmnist,celeba64}_state_dict.txt against the modules, and every run's tensors against the
modules built from its metadata (and against the layout file for a full-size fmnist run); a short PyTorch
fine-tuning of the first run written back with ldm_vk.save_weights, which ldm-vk must read and compute
with as PyTorch does.

usage: interop_torch.py LDM_VK_BINARY [--device cpu|vk] RUN:SAMPLE_ARGS...
  each RUN:SAMPLE_ARGS is a run directory and, after a colon, the `sample` flags of one comparison
  (e.g. "/tmp/run:--steps 10 --n 12"); a run may be named more than once.
Exit 0 when everything agrees, 1 otherwise, 77 when torch is not installed.
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import torch
except ImportError:
    print("torch not installed: skipping the interop check")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))
import ldm_vk  # noqa: E402
from ldm_vk.sample import main as py_sample  # noqa: E402

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def check_philox():
    kat = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
           ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD))]
    for ctr, key, want in kat:
        got = tuple(int(v) for v in ldm_vk.rng.philox4x32_10(torch.tensor([ctr]), key)[0])
        check(got == want, f"Philox4x32-10 ctr={ctr[0]:#x}.. key={key[0]:#x}..: {' '.join(f'{v:08x}' for v in got)}")


def layout_lines(cfg):
    lines = [f"vae {k} {' '.join(map(str, v.shape))}" for k, v in ldm_vk.VAE.from_config(cfg).state_dict().items()]
    return lines + [f"unet {k} {' '.join(map(str, v.shape))}" for k, v in ldm_vk.UNet.from_config(cfg).state_dict().items()]


def read_layout(name):
    with open(os.path.join(REPO, "tests", "data", f"ref_{name}_state_dict.txt")) as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


REF_CONFIGS = {
    "fmnist": ldm_vk.ModelConfig("fmnist", 1, 32, 4, 2, 10, 256, 4, 2, (32, 64, 128), (64, 128), (False, True)),
    "celeba64": ldm_vk.ModelConfig("celeba64", 3, 64, 4, 2, 10, 256, 4, 0, (64, 128, 256), (128, 256), (False, True))}


def check_layouts():
    for name, cfg in REF_CONFIGS.items():
        check(layout_lines(cfg) == read_layout(name), f"ldm_vk modules of config {name} == tests/data/ref_{name}_state_dict.txt")


def check_run_layout(run, cfg):
    """The run's files hold exactly the tensors (names, shapes) of the modules built from their metadata,
    and, for a full-size fmnist or celeba64 run, those of the layout file."""
    lines = []
    for model in ("vae", "unet"):
        sd, _ = ldm_vk.load_file(os.path.join(run, f"{model}.safetensors"))
        lines += [f"{model} {k} {' '.join(map(str, v.shape))}" for k, v in sd.items()]
    check(sorted(lines) == sorted(layout_lines(cfg)), f"{run}: {len(lines)} checkpoint tensors == the modules' state_dict()")
    ref = REF_CONFIGS.get(cfg.name)
    if ref is not None and ref == cfg:
        check(sorted(lines) == sorted(read_layout(cfg.name)),
              f"{run}: ldm-vk's {cfg.name} checkpoint tensors == tests/data/ref_{cfg.name}_state_dict.txt")


def nmse(a, r):
    a, r = a.double(), r.double()
    return float(((a - r) ** 2).sum() / (r ** 2).sum())


def check_forward(exe, run, device, tmp):
    r = ldm_vk.load_run(run)
    c = r.config
    print(f"{run}: config {c.name}, VAE {len(r.vae.state_dict())} tensors, UNet {len(r.unet.state_dict())} tensors "
          f"loaded with strict=True; schedule {r.schedule.schedule} T={r.schedule.T} zero_snr={r.schedule.zero_snr} "
          f"prediction {r.schedule.prediction}")
    g = torch.Generator().manual_seed(0)
    B, lr = 4, c.latent_res
    T = r.schedule.T
    inp = {"x": torch.rand(B, c.cin, c.res, c.res, generator=g) * 2 - 1,
           "z": torch.randn(B, c.z, lr, lr, generator=g),
           "xt": torch.randn(B, c.z, lr, lr, generator=g),
           "t": torch.tensor([0, 17, T // 2, T - 1], dtype=torch.int32),
           "y": torch.tensor([0, 3 % max(c.ncls, 1), c.ncls, 1 % max(c.ncls, 1)], dtype=torch.int32)}
    ip, op = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
    ldm_vk.save_file(ip, inp)
    subprocess.run([exe, "forward", "--ckpt", run, "--inputs", ip, "--out", op, "--device", device], check=True)
    got, _ = ldm_vk.load_file(op)
    with torch.no_grad():
        mu, lv = r.vae.encode(inp["x"])
        ref = {"mu": mu, "logvar": lv, "x_dec": r.vae.decode(inp["z"]),
               "eps": r.unet(inp["xt"], inp["t"].long(), inp["y"].long())}
    for k, v in ref.items():
        e = nmse(got[k], v)
        check(e < 1e-6, f"forward {k:6s} shape {tuple(v.shape)}  NMSE {e:.3e}  max abs {float((got[k] - v).abs().max()):.3e}")


def check_finetune_roundtrip(exe, run, device, tmp):
    """A few PyTorch fine-tuning steps, written back with ldm_vk.save_weights: ldm-vk must read the new
    files and compute what the fine-tuned modules compute."""
    r = ldm_vk.load_run(run)
    s, c = r.schedule, r.config
    _, abar = ldm_vk.make_schedule(s.schedule, s.T, s.beta_start, s.beta_end, s.zero_snr)
    g = torch.Generator().manual_seed(1)
    before = {k: v.clone() for k, v in r.unet.state_dict().items()}
    opt = torch.optim.AdamW(r.unet.train().parameters(), lr=1e-3)
    for _ in range(3):
        z0 = torch.randn(8, c.z, c.latent_res, c.latent_res, generator=g)
        y = torch.randint(0, c.ncls + 1, (8,), generator=g)
        loss = ldm_vk.training_loss(r.unet, abar, z0, y, s.prediction, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    moved = max(float((v - before[k]).abs().max()) for k, v in r.unet.state_dict().items())
    ft = os.path.join(tmp, "finetuned")
    os.makedirs(ft, exist_ok=True)
    shutil.copy(os.path.join(run, "vae.safetensors"), ft)
    ldm_vk.save_weights(os.path.join(ft, "unet.safetensors"), r.unet, r.unet_metadata)
    back, _ = ldm_vk.load_file(os.path.join(ft, "unet.safetensors"))
    same = all(torch.equal(back[k], v) for k, v in r.unet.state_dict().items())
    check(moved > 0 and same and torch.isfinite(loss).item(),
          f"fine-tune 3 steps (loss {float(loss):.4f}, weights moved by up to {moved:.2e}) -> save_weights -> read back bitwise")
    check_forward(exe, ft, device, tmp)


def png_files(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".png"))


def compare_pngs(a, b):
    """(max abs difference, fraction of differing values, std of a) of two PNG files."""
    x, y = ldm_vk.read_png(a).int(), ldm_vk.read_png(b).int()
    if x.shape != y.shape:
        return 255, 1.0, 0.0
    return int((x - y).abs().max()), float((x != y).float().mean()), float(x.float().std())


def check_sampling(exe, run, args, device, tmp):
    sub = os.path.join(tmp, "s")
    cdir, pdir, odir = os.path.join(sub, "c"), os.path.join(sub, "p"), os.path.join(sub, "o")
    shutil.rmtree(sub, ignore_errors=True)
    os.makedirs(sub)
    flags = shlex.split(args)
    t0 = time.time()
    p = subprocess.run([exe, "sample", "--ckpt", run, "--device", device, "--out", cdir + ".png", "--out-dir", cdir]
                       + flags, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        check(False, f"ldm-vk sample {args}: exit {p.returncode}")
        return
    t1 = time.time()
    rc = py_sample(["--ckpt", run, "--out", pdir + ".png", "--out-dir", pdir] + flags)
    t2 = time.time()
    check(rc == 0, f"python3 -m ldm_vk.sample {args}: exit {rc}")
    names = png_files(cdir)
    check(names == png_files(pdir) and names, f"sample {args}: the same {len(names)} files")
    worst, frac, flat = 0, 0.0, 1e9
    for nm in names + [".."]:
        a, b = (cdir + ".png", pdir + ".png") if nm == ".." else (os.path.join(cdir, nm), os.path.join(pdir, nm))
        m, f, s = compare_pngs(a, b)
        worst, frac, flat = max(worst, m), max(frac, f), min(flat, s)
    check(worst <= 1 and frac <= 0.01, f"sample {args}: ldm-vk ({t1 - t0:.1f} s) vs ldm_vk ({t2 - t1:.1f} s): "
          f"max diff {worst} levels, at most {100 * frac:.3f}% of the values of a file differ")
    check(flat > 1.0, f"sample {args}: the images are not flat (smallest pixel std {flat:.1f})")
    seed = int(flags[flags.index("--seed") + 1]) if "--seed" in flags else 0
    other = [f for i, f in enumerate(flags) if f != "--seed" and (i == 0 or flags[i - 1] != "--seed")]
    py_sample(["--ckpt", run, "--out", odir + ".png", "--seed", str(seed + 1)] + other)
    m, f, _ = compare_pngs(cdir + ".png", odir + ".png")
    check(f > 0.2, f"sample {args}: seed {seed + 1} gives other images ({100 * f:.0f}% of the grid differs)")


def main():
    argv = sys.argv[1:]
    if not argv:
        print(__doc__)
        return 2
    exe, device, jobs = argv[0], "cpu", []
    rest = argv[1:]
    while rest:
        a = rest.pop(0)
        if a == "--device":
            device = rest.pop(0)
        else:
            run, _, sargs = a.partition(":")
            jobs.append((run, sargs))
    t0 = time.time()
    check_philox()
    check_layouts()
    done = set()
    with tempfile.TemporaryDirectory() as tmp:
        for run, sargs in jobs:
            if run not in done:
                done.add(run)
                check_forward(exe, run, device, tmp)
                if len(done) == 1:
                    check_finetune_roundtrip(exe, run, device, tmp)
                check_run_layout(run, ldm_vk.ModelConfig.from_metadata(
                    ldm_vk.read_metadata(os.path.join(run, "unet.safetensors"))))
            if sargs:
                check_sampling(exe, run, sargs, device, tmp)
    print(f"{'PASS' if not failures else 'FAIL'} ({len(failures)} failed) in {time.time() - t0:.1f} s")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
