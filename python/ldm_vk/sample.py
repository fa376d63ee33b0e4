"""``python3 -m ldm_vk.sample``: sample an ldm-vk run directory in PyTorch, with the options and output
of ``ldm-vk sample`` (same seed -> the same images, up to floating-point rounding)."""
import argparse
import os
import sys

import torch

from .checkpoint import load_run
from .images import grid_png, image_png, write_png
from .sampling import sample


def resolve_class(ap, value: str, names) -> int:
    """--class: all (-1), an index (digits only) or a class name (exact, else the one match ignoring case)."""
    if value == "all":
        return -1
    if value.isdigit():
        return int(value)
    if not names:
        ap.error(f"--class {value}: the checkpoint names no classes: give a class index")
    if value in names:
        return names.index(value)
    folded = [i for i, n in enumerate(names) if n.lower() == value.lower()]
    if len(folded) == 1:
        return folded[0]
    ap.error(f"--class {value}: {'several classes have that name ignoring case' if folded else 'no such class'}; "
             f"the classes are: {', '.join(names)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ldm_vk.sample",
                                 description="Sample an ldm-vk run directory (vae.safetensors, unet.safetensors) "
                                             "with PyTorch.")
    ap.add_argument("--ckpt", required=True, help="run directory of `ldm-vk train`")
    ap.add_argument("--out", help="write one grid PNG here")
    ap.add_argument("--out-dir", help="write one PNG per image, <class>_<index>.png")
    ap.add_argument("--n", type=int, default=40, help="number of images [40]")
    ap.add_argument("--class", dest="cls", default="all",
                    help="all, a class index or a class name of the run (exact, else ignoring case) [all]")
    ap.add_argument("--sampler", choices=["ddim", "ddpm"], default="ddim", help="[ddim]")
    ap.add_argument("--steps", type=int, default=50, help="sampling steps, at most the run's timesteps [50]")
    ap.add_argument("--eta", type=float, default=0.0, help="DDIM eta, 0 = deterministic [0]")
    ap.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance scale, 1 = off [2.0]")
    ap.add_argument("--seed", type=int, default=0, help="random seed [0]")
    ap.add_argument("--batch", type=int, default=100, help="images per batch [100]")
    ap.add_argument("--device", default="cpu", help="torch device [cpu]")
    a = ap.parse_args(argv)
    if not a.out and not a.out_dir:
        ap.error("give --out FILE.png or --out-dir DIR")
    if a.n < 1 or a.batch < 1 or a.steps < 1 or not 0 <= a.eta <= 1 or a.guidance < 0 or not 0 <= a.seed < 2 ** 63:
        ap.error("--n, --batch, --steps must be >= 1, --eta in [0, 1], --guidance >= 0, --seed in [0, 2^63)")
    try:
        run = load_run(a.ckpt)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"ldm_vk.sample: {e}", file=sys.stderr)
        return 1
    c = run.config
    a.cls = resolve_class(ap, a.cls, run.classes)
    if a.cls >= c.ncls:
        ap.error(f"--class {a.cls}: the model has {c.ncls} classes")
    if a.steps > run.schedule.T:
        ap.error(f"--steps {a.steps} exceeds the {run.schedule.T} training timesteps")
    dev = torch.device(a.device)
    run.vae.to(dev)
    run.unet.to(dev)
    imgs, labels = sample(run, n=a.n, cls=a.cls, steps=a.steps, sampler=a.sampler, eta=a.eta, guidance=a.guidance,
                          seed=a.seed, batch=a.batch)
    if a.out:
        # all classes in turn (image i has class i % ncls): one class per row, as ldm-vk sample --out
        by_class = c.ncls > 0 and a.cls < 0 and a.n % c.ncls == 0
        nrow = a.n // c.ncls if by_class else min(a.n, 10)
        if by_class:
            order = [k * c.ncls + cl for cl in range(c.ncls) for k in range(nrow)]
            imgs = imgs[order]
        write_png(a.out, grid_png(imgs, nrow, c.crop))
        print(f"wrote {a.out} ({a.n} images)", file=sys.stderr)
    if a.out_dir:
        os.makedirs(a.out_dir, exist_ok=True)
        count = {}
        for img, lab in zip(imgs, labels):
            k = count.get(lab, 0)
            count[lab] = k + 1
            name = f"{lab}_{k}.png" if lab >= 0 else f"uncond_{k}.png"
            write_png(os.path.join(a.out_dir, name), image_png(img, c.crop))
        print(f"wrote {a.n} images to {a.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
