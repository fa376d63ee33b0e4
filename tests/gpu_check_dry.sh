#!/usr/bin/env bash
# bench/gpu_check.sh, the one prepared run for a lent GPU, in its quick form (LDM_GPU_CHECK_QUICK=1: tiny
# config) on this machine's Vulkan device (lavapipe in CI): every part runs and writes what the summary
# reads, and its fit of the model against the measured node times matches the bench graphs node for node.
# A GPU session spends its few minutes on the real run, not on finding a broken script.
# usage: gpu_check_dry.sh LDM_VK PYTHON3 SOURCE_ROOT
set -uo pipefail
bin=$1 py=$2 root=$3
if ! "$bin" devices 2> /dev/null | grep -q '^vk:'; then
  [ "${LDM_REQUIRE_VULKAN:-0}" = 1 ] && { echo "no Vulkan device, and LDM_REQUIRE_VULKAN=1"; exit 1; }
  echo "no Vulkan device: skipped"
  exit 77
fi
# the PyTorch part wants a python3 with torch (Debian's is /usr/bin/python3); the scripts need only python3
torch=0
for c in /usr/bin/python3 "$py"; do
  if "$c" -c "import torch" 2> /dev/null; then py=$c torch=1; break; fi
done
[ $torch = 1 ] || [ "${LDM_REQUIRE_TORCH:-0}" != 1 ] || { echo "LDM_REQUIRE_TORCH=1 but no python3 can import torch"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
mkdir "$tmp/out"
OUT=$tmp/out LDM_VK=$bin PYTHON=$py LDM_GPU_CHECK_QUICK=1 bash bench/gpu_check.sh > "$tmp/log" 2>&1
rc=$?
cat "$tmp/log"
[ $rc = 0 ] || { echo "gpu_check.sh exited $rc"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }
day=$(ls "$tmp/out" | sed -n 's/^gpu-check-\(....-..-..\)\.tar\.gz$/\1/p') # the script's date
# what comes back from the device tool's $OUT: one archive and the summary (8 files at most come back)
[ "$(ls "$tmp/out" | wc -l)" = 2 ] || fail "\$OUT holds $(ls "$tmp/out" | tr '\n' ' '), not the archive and the summary"
[ -s "$tmp/out/gpu-check-summary-$day.txt" ] || fail "no summary file"
mkdir "$tmp/x" && tar -xzf "$tmp/out/gpu-check-$day.tar.gz" -C "$tmp/x" || fail "no archive gpu-check-$day.tar.gz"
for f in devices.txt conformance-vk.json bench-vk.json bench-tile-auto.json bench-tile-small.json tile-winners.txt \
  model-tile-auto.json model-vs-measured.txt gpu-check-phases.txt gpu-check-summary.txt; do
  [ -s "$tmp/x/${f%.*}-$day.${f##*.}" ] || fail "gpu_check.sh wrote no ${f%.*}-$day.${f##*.}"
done
grep -q "passed, 0 failed" "$tmp/x/conformance-vk-$day.txt" || fail "conformance did not pass"
[ "$(grep -c -E "^(VAE|UNet) .*(train step|forward)" "$tmp/x/bench-vk-$day.txt")" = 3 ] || fail "bench: not 3 workloads"
grep -q "auto picked the fastest variant for" "$tmp/x/tile-winners-$day.txt" || fail "no tile winners"
fit=$tmp/x/model-vs-measured-$day.txt
! grep -q "without a model node" "$fit" || fail "the bench and model graphs differ"
grep -q "tiled GEMM/conv nodes matched" "$fit" || fail "no tiled nodes matched"
[ "$(grep -c "its nodes one at a time" "$fit")" = 6 ] || fail "not 3 workloads' level overlap per pair"
grep -q "^==== summary" "$tmp/x/gpu-check-summary-$day.txt" || fail "no summary"
grep -q '\] done$' "$tmp/x/gpu-check-phases-$day.txt" || fail "the phases file does not reach the end"
[ $torch = 0 ] || grep -q '^torch: eager: {.*"vae_train_step_ms_median"' "$tmp/log" || fail "no PyTorch eager figures"
echo "gpu_check.sh quick form: every part ran"
