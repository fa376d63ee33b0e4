#!/usr/bin/env bash
# scripts/model_vs_measured.py (bench/gpu_check.sh's recalibration step) on the model's own fmnist
# predictions: under the default plans and under a forced tile variant, node times made from either
# occupancy rule must be recognised as that rule, with its factor; then a tiny bench file of the Vulkan device
# against the model of the same graphs.
# usage: model_vs_measured.sh LDM_VK PYTHON3 SCRIPT
set -euo pipefail
bin=$1 py=$2 script=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" bench --model --json "$tmp/auto.json" > /dev/null
LDM_VK_TILE=small "$bin" bench --model --json "$tmp/small.json" > /dev/null
"$py" "$script" --self-test "$tmp/auto.json"
"$py" "$script" --self-test "$tmp/small.json"
# a real bench file (tiny config on the Vulkan device; lavapipe in CI) against the model of the same graphs:
# every field the script reads is there and the graphs match node for node
if "$bin" bench --device vk --config tiny --iters 1 --json "$tmp/bench.json" > "$tmp/bench.txt" 2>&1; then
  "$bin" bench --model --config tiny --json "$tmp/model.json" > /dev/null
  "$py" "$script" "$tmp/model.json" "$tmp/bench.json" --top 0 > "$tmp/fit.txt"
  cat "$tmp/fit.txt"
  if grep -q "without a model node" "$tmp/fit.txt"; then echo "the bench and model graphs differ"; exit 1; fi
  grep -q "tiled GEMM/conv nodes matched" "$tmp/fit.txt"
  # the level-overlap comparison: one line per workload (three)
  [ "$(grep -c "its nodes one at a time" "$tmp/fit.txt")" = 3 ]
elif [ "${LDM_REQUIRE_VULKAN:-0}" = 1 ]; then
  cat "$tmp/bench.txt"
  exit 1
else
  echo "no Vulkan device: the bench-file part is skipped"
fi
