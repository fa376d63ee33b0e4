"""Images in and out, as ldm-vk handles them: 8-bit PNG files (standard library zlib only) with ldm-vk's
quantisation and grid layout (the codec: png.py), and the Fashion-MNIST / MNIST idx files ``ldm-vk train`` reads."""
import gzip
import os
import struct
from typing import Tuple

import torch
import torch.nn.functional as F

from . import png

__all__ = ["to_u8", "write_png", "read_png", "image_png", "grid_png", "load_idx_dataset"]

GRID_PAD = 2


def to_u8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to bytes as ldm-vk writes them: clamp (NaN -> -1), round((x + 1) * 127.5) to even."""
    x = torch.nan_to_num(x.float(), nan=-1.0).clamp(-1.0, 1.0)
    return torch.round((x + 1.0) * 127.5).to(torch.uint8)


def write_png(path: str, pix: torch.Tensor) -> None:
    """pix: uint8 [H, W] or [H, W, C] with C in {1, 3}."""
    if pix.dim() == 2:
        pix = pix[:, :, None]
    h, w, c = pix.shape
    if c not in (1, 3):
        raise ValueError("PNG: 1 or 3 channels")
    data, stride = pix.contiguous().numpy().tobytes(), w * c
    png.encode(path, w, h, [data[y * stride:(y + 1) * stride] for y in range(h)], c, level=6)


def read_png(path: str) -> torch.Tensor:
    """An 8-bit grey or RGB, non-interlaced PNG as uint8 [H, W, C] (enough for the files ldm-vk writes)."""
    w, h, c, rows = png.decode(path)
    if c not in (1, 3):
        raise ValueError(f"{path}: only 8-bit grey/RGB non-interlaced PNGs are read")
    return torch.frombuffer(bytearray(b"".join(rows)), dtype=torch.uint8).reshape(h, w, c)


def image_png(img: torch.Tensor, crop: int = 0) -> torch.Tensor:
    """One image [C, H, W] in [-1, 1] to uint8 [H - 2 crop, W - 2 crop, C], as ``ldm-vk sample --out-dir``."""
    H, W = img.shape[-2:]
    return to_u8(img[:, crop:H - crop, crop:W - crop]).permute(1, 2, 0)


def grid_png(imgs: torch.Tensor, nrow: int, crop: int = 0) -> torch.Tensor:
    """Images [N, C, H, W] in a grid of ``nrow`` per row with 2-pixel black gaps, as ``ldm-vk sample --out``."""
    n, c, h, w = imgs.shape
    cols = min(nrow, n)
    rows = (n + cols - 1) // cols
    th, tw = h - 2 * crop, w - 2 * crop
    g = torch.zeros(rows * (th + GRID_PAD) + GRID_PAD, cols * (tw + GRID_PAD) + GRID_PAD, c, dtype=torch.uint8)
    for i in range(n):
        oy, ox = (i // cols) * (th + GRID_PAD) + GRID_PAD, (i % cols) * (tw + GRID_PAD) + GRID_PAD
        g[oy:oy + th, ox:ox + tw] = image_png(imgs[i], crop)
    return g


def _read_idx(path: str) -> Tuple[Tuple[int, ...], bytes]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def _find(dir_: str, base: str) -> str:
    for p in (os.path.join(dir_, base + ".gz"), os.path.join(dir_, base)):
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{dir_}: no {base}(.gz)")


def load_idx_dataset(dir_: str, res: int = 32, train: bool = True, limit: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST / MNIST as ``ldm-vk train`` sees it: 28x28 centred in max(res, 32) with black borders,
    box-downsampled by an integer factor to ``res`` (the tiny config: 16) with rounding, scaled to [-1, 1].
    Returns (images [N, 1, res, res] float32, labels [N] int64); ``limit`` > 0 keeps the first N."""
    pre = "train" if train else "t10k"
    (n, h, w), pix = _read_idx(_find(dir_, f"{pre}-images-idx3-ubyte"))
    (nl,), lab = _read_idx(_find(dir_, f"{pre}-labels-idx1-ubyte"))
    if nl != n:
        raise ValueError(f"{dir_}: {n} images but {nl} labels")
    if limit > 0:
        n = min(n, limit)
    x = torch.frombuffer(bytearray(pix[:n * h * w]), dtype=torch.uint8).reshape(n, 1, h, w).to(torch.int32)
    side = max(res, 32)
    y0, x0 = (side - h) // 2, (side - w) // 2
    x = F.pad(x, (x0, side - w - x0, y0, side - h - y0))
    if side != res:
        f = side // res
        x = x.reshape(n, 1, res, f, res, f).sum((3, 5))
        x = (x + f * f // 2) // (f * f)
    return x.float() * (2.0 / 255.0) - 1.0, torch.frombuffer(bytearray(lab[:n]), dtype=torch.uint8).long()
