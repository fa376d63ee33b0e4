#!/usr/bin/env bash
# ldm-vk's CPU backend against PyTorch's CPU path, side by side in one run: the same models (fmnist,
# preset full unless --preset), the same batch, the same number of threads, synthetic inputs; A B A B ...
# pairs (ldm-vk then PyTorch, PAIRS times) so that both see the same machine load. Prints one row per
# pair and the median ratio of each workload; writes the raw JSON lines under $OUT (or bench/results/).
#   bash bench/cpu_vs_torch.sh [--batch N] [--threads T] [--iters N] [--pairs P] [--preset full|quick]
# Needs a built ldm-vk (build/ldm-vk or $LDM_VK) and a python3 with torch (PYTHON, default /usr/bin/python3).
# Timings only: nothing here passes or fails on speed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
B=128 T=$(nproc) IT=5 P=3 PRESET=full
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) B=$2; shift 2 ;;
    --threads) T=$2; shift 2 ;;
    --iters) IT=$2; shift 2 ;;
    --pairs) P=$2; shift 2 ;;
    --preset) PRESET=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "cpu_vs_torch.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
LDM=${LDM_VK:-$here/build/ldm-vk}
PY=${PYTHON:-/usr/bin/python3}
[ -x "$LDM" ] || { echo "cpu_vs_torch.sh: $LDM not found: build first (meson setup build && ninja -C build)" >&2; exit 2; }
"$PY" -c "import torch" 2>/dev/null || { echo "cpu_vs_torch.sh: $PY has no torch (Debian: apt-get install python3-torch)" >&2; exit 2; }
# PyTorch's bench builds the preset-full fmnist models; the quick preset's smaller models exist only in ldm-vk
[ "$PRESET" = full ] || { echo "cpu_vs_torch.sh: --preset $PRESET: the PyTorch side has the full preset only" >&2; exit 2; }
res=${OUT:-$here/bench/results}
mkdir -p "$res"
day=$(date +%F)
raw="$res/cpu-vs-torch-$day.jsonl"
: > "$raw"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "ldm-vk CPU backend vs PyTorch $("$PY" -c 'import torch; print(torch.__version__)') CPU: fmnist preset $PRESET, batch $B, $T threads, $IT timed steps each, $P A/B pairs"
blas=$("$PY" -c 'import torch; torch.ones(64, 64) @ torch.ones(64, 64); print(" ".join(sorted({l.split()[-1].rsplit("/", 1)[-1] for l in open("/proc/self/maps") if "blas" in l})) or "none found")')
echo "torch's BLAS: $blas (convolutions: oneDNN where torch was built with it)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
printf "%-5s %-7s %12s %12s %12s\n" pair side "VAE step ms" "UNet step ms" "UNet fwd ms"
for p in $(seq 1 "$P"); do
  LDM_THREADS=$T OMP_NUM_THREADS=$T "$LDM" bench --device cpu --config fmnist --preset "$PRESET" --batch "$B" \
    --iters "$IT" --json "$tmp/a.json" > "$tmp/a.txt" 2>&1 || { cat "$tmp/a.txt" >&2; exit 1; }
  OMP_NUM_THREADS=$T PYTHONPATH="$here/python" "$PY" -m ldm_vk.bench --device cpu --batch "$B" --threads "$T" \
    --steps "$IT" > "$tmp/b.json" 2> "$tmp/b.err" || { cat "$tmp/b.err" >&2; exit 1; }
  "$PY" - "$tmp/a.json" "$tmp/b.json" "$p" "$raw" <<'EOF'
import json, sys
a, b = json.load(open(sys.argv[1])), json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
keys = ("vae_train_step_ms_median", "unet_train_step_ms_median", "unet_forward_ms_median")
with open(sys.argv[4], "a") as f:
    for side, d in (("ldm-vk", a), ("torch", b)):
        f.write(json.dumps({"pair": int(sys.argv[3]), "side": side, **{k: d[k] for k in keys}}) + "\n")
        print("%-5s %-7s %12.1f %12.1f %12.1f" % (sys.argv[3], side, *(d[k] for k in keys)))
EOF
done
"$PY" - "$raw" <<'EOF'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
print("median over pairs of ldm-vk / torch (below 1: ldm-vk faster):")
for k, name in (("vae_train_step_ms_median", "VAE train step"), ("unet_train_step_ms_median", "UNet train step"),
                ("unet_forward_ms_median", "UNet forward")):
    r = []
    for p in sorted({x["pair"] for x in rows}):
        a = [x[k] for x in rows if x["pair"] == p and x["side"] == "ldm-vk"][0]
        b = [x[k] for x in rows if x["pair"] == p and x["side"] == "torch"][0]
        r.append(a / b)
    print("  %-16s %.3f  (pairs: %s)" % (name, statistics.median(r), " ".join("%.3f" % v for v in r)))
EOF
echo "raw rows: $raw"
