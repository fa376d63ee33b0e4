#!/usr/bin/env python3
"""Every sampler at several step counts on one run: one row per (sampler, steps), the same seed and class
in every row, made with `ldm-vk sample` and stacked into one PNG (Python's standard library only).

  python3 scripts/sampler_grid.py --ldm-vk build/ldm-vk --ckpt runs/fmnist --class 9 --out grid.png

Rows, top to bottom: for each sampler (ddim, ddpm, euler, euler_a, heun, dpmpp_2m, dpmpp_2m_sde, unipc)
its step counts (10, 20, 50); the row order is printed and written into the PNG's text chunk.
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import zlib

SAMPLERS = ["ddim", "ddpm", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_2m_sde", "unipc"]


def read_png(path):
    """(width, height, channels, rows of bytes) of an 8-bit grey / grey+alpha / RGB / RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    ch = {0: 1, 4: 2, 2: 3, 6: 4}.get(ctype)
    if depth != 8 or ch is None or interlace:
        raise ValueError(f"{path}: only 8-bit non-interlaced grey/RGB(A) PNGs")
    raw, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b, c = prev[i], prev[i - ch] if i >= ch else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def write_png(path, w, rows, ch, text):
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, len(rows), 8, ctype, 0, 0, 0))
    out += chunk(b"tEXt", b"Description\x00" + text.encode("latin-1"))
    out += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


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
    write_png(args.out, width, rows, ch, text)
    print(f"wrote {args.out}: {text}")


if __name__ == "__main__":
    main()
