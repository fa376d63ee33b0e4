"""ldm-vk checkpoints: safetensors files with ``ldm.*`` string metadata.

A small safetensors reader and writer built on the standard library and torch only (no ``safetensors``
package needed), plus the parsing of ldm-vk's metadata into a :class:`ModelConfig` and a
:class:`ScheduleConfig`.

File layout (the safetensors format): an unsigned little-endian 64-bit header length N, N bytes of JSON
(``{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}``), then
the tensor bytes, offsets relative to the end of the header.
"""
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import torch

__all__ = ["load_file", "save_file", "read_metadata", "ModelConfig", "ScheduleConfig", "load_run",
           "save_weights"]

_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
           "F64": (torch.float64, 8), "I64": (torch.int64, 8), "I32": (torch.int32, 4), "I16": (torch.int16, 2),
           "I8": (torch.int8, 1), "U8": (torch.uint8, 1), "BOOL": (torch.bool, 1),
           # torch has no uint32: ldm-vk's U32 tensors (labels, timesteps) are read as int32 bit patterns
           "U32": (torch.int32, 4)}
_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL"}
_MAX_HEADER = 100_000_000  # the limit ldm-vk's own reader enforces


def _read_header(f, path, size):
    raw = f.read(8)
    if len(raw) != 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    n = struct.unpack("<Q", raw)[0]
    if n > _MAX_HEADER or 8 + n > size:
        raise ValueError(f"{path}: header length {n} is out of range")
    hdr = json.loads(f.read(n).decode("utf-8"))
    if not isinstance(hdr, dict):
        raise ValueError(f"{path}: the header is not a JSON object")
    meta = hdr.pop("__metadata__", None) or {}
    return hdr, meta, 8 + n


def read_metadata(path: str) -> Dict[str, str]:
    """The ``__metadata__`` map of a safetensors file, without reading its tensors."""
    with open(path, "rb") as f:
        return _read_header(f, path, os.fstat(f.fileno()).st_size)[1]


def load_file(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Read a safetensors file: (dict name -> CPU tensor, metadata dict).

    Shapes, dtypes and offsets are checked: every tensor's byte range must match its shape and dtype and
    lie inside the file.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        hdr, meta, base = _read_header(f, path, size)
        data = f.read()
    out = {}
    for name, info in hdr.items():
        if info.get("dtype") not in _DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info.get('dtype')}")
        dt, width = _DTYPES[info["dtype"]]
        shape = [int(d) for d in info["shape"]]
        b, e = (int(v) for v in info["data_offsets"])
        numel = 1
        for d in shape:
            numel *= d
        if not (0 <= b <= e <= len(data)) or e - b != numel * width:
            raise ValueError(f"{path}: tensor {name}: data_offsets {b}..{e} do not fit shape {shape} "
                             f"({info['dtype']}) in a {len(data)}-byte buffer")
        if numel == 0:
            out[name] = torch.zeros(shape, dtype=dt)
        else:
            out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=dt).reshape(shape)
    return out, {str(k): str(v) for k, v in meta.items()}


def save_file(path: str, tensors: Dict[str, torch.Tensor], metadata: Dict[str, str] = None) -> None:
    """Write tensors (and string metadata) as a safetensors file, atomically (temp file + rename)."""
    hdr, blobs, off = {}, [], 0
    if metadata:
        hdr["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            raise ValueError(f"tensor {name}: dtype {t.dtype} cannot be written")
        b = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        hdr[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _ints(s: str) -> Tuple[int, ...]:
    return tuple(int(x) for x in s.split(","))


@dataclass
class ModelConfig:
    """The architecture keys of an ldm-vk checkpoint (``ldm.config`` ... ``ldm.attn``)."""
    name: str = "fmnist"
    cin: int = 1           # image channels
    res: int = 32          # image side (after padding)
    z: int = 4             # latent channels
    nres: int = 2          # ResBlocks per UNet level (the up path has nres + 1)
    ncls: int = 10         # classes; the class table has ncls + 1 rows, the last is "null" (CFG)
    tdim: int = 256        # time embedding width (the sinusoidal part has tdim / 2)
    heads: int = 4         # attention heads
    crop: int = 0          # border cropped from written images (Fashion-MNIST: 32 -> 28)
    vae_ch: Tuple[int, ...] = (32, 64, 128)
    unet_ch: Tuple[int, ...] = (64, 128)
    attn: Tuple[bool, ...] = (False, True)

    @property
    def latent_res(self) -> int:
        return self.res >> (len(self.vae_ch) - 1)

    @classmethod
    def from_metadata(cls, m: Dict[str, str]) -> "ModelConfig":
        try:
            return cls(name=m["ldm.config"], cin=int(m["ldm.cin"]), res=int(m["ldm.res"]), z=int(m["ldm.z"]),
                       nres=int(m["ldm.nres"]), ncls=int(m["ldm.ncls"]), tdim=int(m["ldm.tdim"]),
                       heads=int(m.get("ldm.heads", "4")), crop=int(m.get("ldm.crop", "0")),
                       vae_ch=_ints(m["ldm.vae_ch"]), unet_ch=_ints(m["ldm.unet_ch"]),
                       attn=tuple(bool(a) for a in _ints(m["ldm.attn"])))
        except KeyError as e:
            raise ValueError(f"not an ldm-vk checkpoint: metadata {e.args[0]} missing") from None

    def to_metadata(self) -> Dict[str, str]:
        return {"ldm.config": self.name, "ldm.cin": str(self.cin), "ldm.res": str(self.res), "ldm.z": str(self.z),
                "ldm.nres": str(self.nres), "ldm.ncls": str(self.ncls), "ldm.tdim": str(self.tdim),
                "ldm.heads": str(self.heads), "ldm.crop": str(self.crop),
                "ldm.vae_ch": ",".join(map(str, self.vae_ch)), "ldm.unet_ch": ",".join(map(str, self.unet_ch)),
                "ldm.attn": ",".join("1" if a else "0" for a in self.attn)}


@dataclass
class ScheduleConfig:
    """The diffusion keys of a UNet checkpoint (``ldm.scale``, ``ldm.schedule`` ... ``ldm.prediction``)."""
    scale: float = 1.0             # latent scale factor 1/std(z): the UNet sees scale * z
    schedule: str = "linear"       # linear | scaled_linear | cosine
    T: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    zero_snr: bool = False
    prediction: str = "eps"        # eps | v
    step: int = 0

    @classmethod
    def from_metadata(cls, m: Dict[str, str]) -> "ScheduleConfig":
        d = cls()
        s = cls(scale=float(m.get("ldm.scale", d.scale)), schedule=m.get("ldm.schedule", d.schedule),
                T=int(m.get("ldm.T", d.T)), beta_start=float(m.get("ldm.beta_start", d.beta_start)),
                beta_end=float(m.get("ldm.beta_end", d.beta_end)), zero_snr=m.get("ldm.zero_snr", "0") == "1",
                prediction=m.get("ldm.prediction", d.prediction), step=int(m.get("ldm.step", "0")))
        if s.schedule not in ("linear", "scaled_linear", "cosine"):
            raise ValueError(f"unknown noise schedule {s.schedule!r}")
        if s.prediction not in ("eps", "v"):
            raise ValueError(f"unknown prediction {s.prediction!r}")
        if not s.scale > 0:
            raise ValueError("ldm.scale is 0: the latent scale was never computed (not a trained UNet)")
        return s

    def to_metadata(self) -> Dict[str, str]:
        return {"ldm.scale": repr(float(self.scale)), "ldm.schedule": self.schedule, "ldm.T": str(self.T),
                "ldm.beta_start": repr(float(self.beta_start)), "ldm.beta_end": repr(float(self.beta_end)),
                "ldm.zero_snr": "1" if self.zero_snr else "0", "ldm.prediction": self.prediction,
                "ldm.step": str(self.step)}


@dataclass
class Run:
    """A loaded run directory: the two models (eval mode, on the CPU) and their metadata."""
    vae: "torch.nn.Module"
    unet: "torch.nn.Module"
    config: ModelConfig
    schedule: ScheduleConfig
    vae_metadata: Dict[str, str] = field(default_factory=dict)
    unet_metadata: Dict[str, str] = field(default_factory=dict)

    @property
    def classes(self) -> List[str]:
        """The class names of the training data (metadata ``ldm.classes``, a JSON array); [] if none."""
        v = self.unet_metadata.get("ldm.classes")
        names = json.loads(v) if v else []
        return [str(n) for n in names] if isinstance(names, list) else []


def load_run(run_dir: str) -> Run:
    """Build the VAE and UNet of an ldm-vk run directory from its metadata and load
    ``vae.safetensors`` and ``unet.safetensors`` (the UNet file holds the EMA weights) with strict=True."""
    from .models import VAE, UNet
    vsd, vmeta = load_file(os.path.join(run_dir, "vae.safetensors"))
    usd, umeta = load_file(os.path.join(run_dir, "unet.safetensors"))
    cfg, ucfg = ModelConfig.from_metadata(vmeta), ModelConfig.from_metadata(umeta)
    if (cfg.cin, cfg.res, cfg.z, cfg.vae_ch) != (ucfg.cin, ucfg.res, ucfg.z, ucfg.vae_ch):
        raise ValueError(f"{run_dir}: vae.safetensors and unet.safetensors describe different VAEs")
    vae, unet = VAE.from_config(cfg), UNet.from_config(ucfg)
    vae.load_state_dict(vsd, strict=True)
    unet.load_state_dict(usd, strict=True)
    return Run(vae.eval(), unet.eval(), ucfg, ScheduleConfig.from_metadata(umeta), vmeta, umeta)


def save_weights(path: str, module: "torch.nn.Module", metadata: Dict[str, str]) -> None:
    """Write a module's state_dict (as float32) with ldm-vk metadata, so that ``ldm-vk sample`` and
    ``ldm-vk forward`` read it back: usually the metadata the weights came with (``run.unet_metadata``,
    ``run.vae_metadata``); for a new model ``ModelConfig.to_metadata()`` merged with
    ``ScheduleConfig.to_metadata()`` (a UNet file needs both)."""
    save_file(path, {k: v.float() for k, v in module.state_dict().items()}, dict(metadata))
