#!/usr/bin/env python3
"""Every sampler at several step counts on one run: one row per (sampler, steps), the same seed and class
in every row, made with `ldm-vk sample` and stacked into one PNG (Python's standard library only).

  python3 scripts/sampler_grid.py --ldm-vk build/ldm-vk --ckpt runs/fmnist --class 9 --out grid.png

Rows, top to bottom: for each sampler (ddim, ddpm, euler, euler_a, heun, dpmpp_2m, dpmpp_2m_sde, unipc)
its step counts (10, 20, 50); the row order is printed and written into the PNG's text chunk.
"""
import argparse
import os
import subprocess
import sys
import tempfile

from pngio import read_png, write_png

SAMPLERS = ["ddim", "ddpm", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_2m_sde", "unipc"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ldm-vk", default="build/ldm-vk")
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--class", dest="cls", default="9")
    ap.add_argument("--n", type=int, default=8, help="images per row")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--steps", default="10,20,50")
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    ap.add_argument("--device", default="")
    args = ap.parse_args()
    rows, order, width, ch = [], [], None, None
    with tempfile.TemporaryDirectory() as tmp:
        for s in args.samplers.split(","):
            for st in args.steps.split(","):
                png = os.path.join(tmp, f"{s}_{st}.png")
                cmd = [args.ldm_vk, "sample", "--ckpt", args.ckpt, "--sampler", s, "--steps", st, "--class",
                       args.cls, "--n", str(args.n), "--seed", str(args.seed), "--out", png]
                if s not in ("ddim", "ddpm", "unipc"):
                    cmd += ["--sigmas", "karras"]
                if args.device:
                    cmd += ["--device", args.device]
                print(" ".join(cmd), flush=True)
                subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
                w, h, c, r = read_png(png)
                if width is None:
                    width, ch = w, c
                if (w, c) != (width, ch):
                    sys.exit(f"{png}: {w}x{h}x{c}, expected width {width} and {ch} channels")
                if rows:
                    rows.append(bytes([255]) * (w * c))  # a white line between the rows
                rows += r
                order.append(f"{s} {st}" + (" karras" if "--sigmas" in cmd else ""))
    text = "rows: " + "; ".join(order)
    write_png(args.out, width, len(rows), rows, ch, text)
    print(f"wrote {args.out}: {text}")


if __name__ == "__main__":
    main()
