#!/usr/bin/env bash
# Train a tiny run with ldm-vk, then cross-check it against the PyTorch twin (tests/interop/interop_torch.py).
# Skips (77) when Debian's python3-torch is not installed.
set -euo pipefail
exe="$1"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c "import torch" 2>/dev/null; then echo "torch not installed: interop check skipped"; exit 77; fi
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
"$exe" train --device cpu --config tiny --vae-steps 20 --unet-steps 20 --batch 8 --limit-images 64 \
  --sample-steps 2 --out "$d/run" --quiet
"$py" "$(dirname "$0")/interop_torch.py" "$exe" "$d/run" --device "${LDM_INTEROP_DEVICE:-cpu}"
