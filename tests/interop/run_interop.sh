#!/usr/bin/env bash
# Train small runs with ldm-vk, then cross-check them against the repository's PyTorch package
# (python/ldm_vk) with tests/interop/interop_torch.py: strict loading, forward outputs, sampling.
# Runs: tiny (eps, linear betas), tiny (v prediction, cosine, zero-terminal-SNR, T = 200), and the full
# fmnist architecture after one step of each stage (its tensor layout against tests/data).
# Skips (77) when no python3 with torch is found (Debian: apt-get install python3-torch), unless
# LDM_REQUIRE_TORCH=1, where that is a failure. LDM_INTEROP_DEVICE=vk runs ldm-vk on Vulkan.
set -euo pipefail
exe="$1"
py=""
for c in /usr/bin/python3 python3; do
  if command -v "$c" >/dev/null && "$c" -c "import torch" 2>/dev/null; then py="$c"; break; fi
done
if [ -z "$py" ]; then
  if [ "${LDM_REQUIRE_TORCH:-0}" = 1 ]; then echo "LDM_REQUIRE_TORCH=1 but no python3 can import torch"; exit 1; fi
  echo "torch not installed (apt-get install python3-torch): interop check skipped"
  exit 77
fi
here="$(cd "$(dirname "$0")" && pwd)"
dev="${LDM_INTEROP_DEVICE:-cpu}"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
common=(--device "$dev" --batch 8 --limit-images 64 --sample-steps 2 --quiet)
"$exe" train --config tiny --vae-steps 20 --unet-steps 20 "${common[@]}" --out "$d/eps"
"$exe" train --config tiny --vae-steps 20 --unet-steps 20 "${common[@]}" --schedule cosine --zero-snr \
  --prediction v --timesteps 200 --out "$d/v"
"$exe" train --config fmnist --preset full --vae-steps 1 --unet-steps 1 --device "$dev" --batch 4 \
  --limit-images 16 --sample-steps 1 --quiet --out "$d/fmnist"
PYTHONPATH="$here/../../python${PYTHONPATH:+:$PYTHONPATH}" "$py" "$here/interop_torch.py" "$exe" --device "$dev" \
  "$d/eps:--n 12 --batch 5 --steps 10 --guidance 2" \
  "$d/eps:--n 10 --sampler ddpm --steps 25 --guidance 3 --seed 7" \
  "$d/v:--n 10 --steps 20 --eta 0.5 --seed 3" \
  "$d/v:--n 4 --sampler ddpm --steps 200 --class sneaker" \
  "$d/fmnist:--n 10 --steps 3"
