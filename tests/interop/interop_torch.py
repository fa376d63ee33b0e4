#!/usr/bin/env python3
"""Cross-check a trained ldm-vk run against the PyTorch reference twin (shared/reference/ref_ldm.py).

Loads <run>/vae.safetensors and <run>/unet.safetensors into the twin with strict=True (a minimal
safetensors reader, no extra packages), runs the same random inputs through both implementations
(ldm-vk via `ldm-vk forward`) and reports the NMSE of every output. Exit 0 when all NMSE < 1e-6,
1 otherwise, 77 when torch is not installed.

usage: interop_torch.py LDM_VK_BINARY RUN_DIR [--device cpu|vk]
"""
import json, os, struct, subprocess, sys, tempfile

try:
    import torch
except ImportError:
    print("torch not installed: skipping the interop check")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
# the twin lives in shared/reference beside the checkout (or where LDM_SHARED points)
REF = os.path.join(os.environ.get("LDM_SHARED") or os.path.join(HERE, "..", "..", "..", "shared"), "reference")
REF = os.path.normpath(REF)
if not os.path.isfile(os.path.join(REF, "ref_ldm.py")):
    print(f"reference twin not found at {REF}/ref_ldm.py (set LDM_SHARED): skipping the interop check")
    sys.exit(77)
sys.path.insert(0, REF)
import ref_ldm  # noqa: E402

DT = {"F32": (torch.float32, 4), "I32": (torch.int32, 4), "U32": (torch.int32, 4), "U8": (torch.uint8, 1),
      "I64": (torch.int64, 8)}


def st_load(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for k, v in hdr.items():
        dt, size = DT[v["dtype"]]
        b, e = v["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + b:base + e]), dtype=dt).reshape(v["shape"])
        out[k] = t.clone()
    return out, meta


def st_save(path, tensors):
    hdr, blobs, off = {}, [], 0
    for k, t in tensors.items():
        t = t.contiguous()
        dt = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        b = t.numpy().tobytes()
        hdr[k] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def ints(s):
    return tuple(int(x) for x in s.split(","))


def main():
    exe, run = sys.argv[1], sys.argv[2]
    device = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--device" else "cpu"
    vsd, vmeta = st_load(os.path.join(run, "vae.safetensors"))
    usd, umeta = st_load(os.path.join(run, "unet.safetensors"))
    cin, z = int(vmeta["ldm.cin"]), int(vmeta["ldm.z"])
    vae = ref_ldm.VAE(cin, ints(vmeta["ldm.vae_ch"]), z)
    unet = ref_ldm.UNet(z, ints(umeta["ldm.unet_ch"]), tuple(bool(a) for a in ints(umeta["ldm.attn"])),
                        int(umeta["ldm.nres"]), int(umeta["ldm.ncls"]), int(umeta["ldm.tdim"]))
    vae.load_state_dict(vsd, strict=True)
    unet.load_state_dict(usd, strict=True)
    res = int(vmeta["ldm.res"])
    lr = res // 2 ** (len(ints(vmeta["ldm.vae_ch"])) - 1)
    g = torch.Generator().manual_seed(0)
    B = 4
    inp = {"x": torch.rand(B, cin, res, res, generator=g) * 2 - 1,
           "z": torch.randn(B, z, lr, lr, generator=g),
           "xt": torch.randn(B, z, lr, lr, generator=g),
           "t": torch.tensor([0, 17, 500, 999][:B], dtype=torch.int32),
           "y": torch.tensor([0, 3, int(umeta["ldm.ncls"]), 1][:B], dtype=torch.int32)}
    with tempfile.TemporaryDirectory() as d:
        ip, op = os.path.join(d, "in.safetensors"), os.path.join(d, "out.safetensors")
        st_save(ip, inp)
        subprocess.run([exe, "forward", "--ckpt", run, "--inputs", ip, "--out", op, "--device", device], check=True)
        got, _ = st_load(op)
    with torch.no_grad():
        mu, lv = vae.encode(inp["x"])
        ref = {"mu": mu, "logvar": lv, "x_dec": vae.decode(inp["z"]),
               "eps": unet(inp["xt"], inp["t"].long(), inp["y"].long())}
    ok = True
    print(f"state_dict: VAE {len(vsd)} tensors, UNet {len(usd)} tensors loaded with strict=True")
    for k, r in ref.items():
        a = got[k].double()
        nmse = float(((a - r.double()) ** 2).sum() / (r.double() ** 2).sum())
        print(f"{k:8s} shape {tuple(r.shape)}  NMSE {nmse:.3e}  max abs {float((a - r).abs().max()):.3e}")
        ok &= nmse < 1e-6
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
