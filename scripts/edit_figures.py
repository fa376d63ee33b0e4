#!/usr/bin/env python3
"""The figures of docs/editing.md: an inpainting grid and an img2img strength sweep, made with `ldm-vk edit`
from a trained Fashion-MNIST run and Fashion-MNIST test images (Python's standard library only).

  scripts/edit_figures.py --ldm-vk build/ldm-vk --ckpt runs/fmnist --out docs/images [--device cpu]

writes OUT/edit_inpaint.png (top row: test images of one class with a square hole, grey; below: the
repainted results, one row per seed) and OUT/edit_img2img.png (one row per input: the input, then img2img at
each strength of --strengths), enlarged --scale times. The commands it runs are printed.
"""
import argparse
import gzip
import os
import struct
import subprocess
import sys
import tempfile

from pngio import read_png, write_png


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def grid(tiles, cols, pad=2):
    """tiles: list of (w, h, rows) of one size (grey) -> a grid as torchvision's make_grid, black padding"""
    w, h = tiles[0][0], tiles[0][1]
    nrows = (len(tiles) + cols - 1) // cols
    gw, gh = cols * (w + pad) + pad, nrows * (h + pad) + pad
    out = [bytearray(gw) for _ in range(gh)]
    for k, (_, _, rows) in enumerate(tiles):
        ox, oy = pad + (k % cols) * (w + pad), pad + (k // cols) * (h + pad)
        for y in range(h):
            out[oy + y][ox:ox + w] = rows[y]
    return gw, gh, out


def enlarge(gw, gh, rows, k):
    return gw * k, gh * k, [bytes(v for v in r for _ in range(k)) for r in rows for _ in range(k)]


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ldm-vk", default="build/ldm-vk")
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--class", dest="cls", type=int, default=7, help="Fashion-MNIST class of the inputs [7, Sneaker]")
    ap.add_argument("--count", type=int, default=8, help="input images [8]")
    ap.add_argument("--hole", default="8,8,16", help="the square hole X,Y,SIZE on the 32x32 input [8,8,16]")
    ap.add_argument("--seeds", type=int, default=2, help="inpainting results per input (rows) [2]")
    ap.add_argument("--strengths", default="0,0.25,0.5,0.75,1")
    ap.add_argument("--steps", default="50")
    ap.add_argument("--repaint", default="", help="JUMP,RESAMPLE for the inpainting (RePaint) [off]")
    ap.add_argument("--scale", type=int, default=2, help="enlarge the figures by this factor (nearest) [2]")
    a = ap.parse_args()
    (n, h, w), pix = read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz"))
    _, labels = read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz"))
    idx = [i for i in range(n) if labels[i] == a.cls][:a.count]
    tmp = tempfile.mkdtemp(prefix="ldm-edit-figures-")
    inputs = os.path.join(tmp, "inputs")
    os.makedirs(inputs)
    S = 32  # training pads the 28x28 images to 32x32 with 0 (ldm_dataset_load_fmnist); so do the inputs
    off = (S - w) // 2
    for k, i in enumerate(idx):
        img = pix[i * h * w:(i + 1) * h * w]
        rows = [bytes(S) if not off <= y < off + h else bytes(off) + img[(y - off) * w:(y - off + 1) * w] + bytes(S - off - w)
                for y in range(S)]
        write_png(os.path.join(inputs, "%02d.png" % k), S, S, rows)
    hx, hy, hs = (int(v) for v in a.hole.split(","))
    mask = os.path.join(tmp, "mask.png")
    write_png(mask, S, S, [bytes(255 if hx <= x < hx + hs and hy <= y < hy + hs else 0 for x in range(S)) for y in range(S)])
    base = [a.ldm_vk, "edit"]
    common = ["--ckpt", a.ckpt, "--init", inputs, "--class", str(a.cls), "--device", a.device, "--steps", a.steps]
    # inpainting: the inputs with the hole (as the model gets them), then one row of results per seed
    tiles = []
    for seed in range(a.seeds):
        d = os.path.join(tmp, "inpaint_%d" % seed)
        run(base + ["inpaint"] + common + ["--mask", mask, "--seed", str(seed), "--out-dir", d] +
            (["--repaint", a.repaint] if a.repaint else []))
        tiles.append([read_png(os.path.join(d, "%02d_0.png" % k)) for k in range(len(idx))])
    crop = 2  # the images are written 28x28 (the model's crop of 2 pixels)
    holed = []
    for k in range(len(idx)):
        iw, ih, _, rows = read_png(os.path.join(inputs, "%02d.png" % k))
        rows = [bytes(128 if hx <= x < hx + hs and hy <= y < hy + hs else rows[y][x] for x in range(crop, S - crop))
                for y in range(crop, S - crop)]
        holed.append((S - 2 * crop, S - 2 * crop, 1, rows))
    allt = [(t[0], t[1], t[3]) for t in holed + [x for row in tiles for x in row]]
    os.makedirs(a.out, exist_ok=True)
    write_png(os.path.join(a.out, "edit_inpaint.png"), *enlarge(*grid(allt, len(idx)), a.scale))
    # img2img: per strength, then one row per input: the input, then the strengths
    strengths = a.strengths.split(",")
    res = []
    for s in strengths:
        d = os.path.join(tmp, "img2img_%s" % s)
        run(base + ["img2img"] + common + ["--strength", s, "--seed", "0", "--out-dir", d])
        res.append([read_png(os.path.join(d, "%02d_0.png" % k)) for k in range(len(idx))])
    rows_t = []
    for k in range(len(idx)):
        iw, ih, _, rows = read_png(os.path.join(inputs, "%02d.png" % k))
        rows_t.append((S - 2 * crop, S - 2 * crop, [r[crop:S - crop] for r in rows[crop:S - crop]]))
        rows_t += [(t[k][0], t[k][1], t[k][3]) for t in res]
    write_png(os.path.join(a.out, "edit_img2img.png"), *enlarge(*grid(rows_t, 1 + len(strengths)), a.scale))
    print("wrote %s/edit_inpaint.png and %s/edit_img2img.png (inputs in %s)" % (a.out, a.out, tmp))


if __name__ == "__main__":
    sys.exit(main())
