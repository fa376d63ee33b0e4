#!/usr/bin/env bash
# scripts/model_vs_measured.py (bench/gpu_check.sh's recalibration step) on the model's own fmnist
# predictions: under the default plans and under a forced tile variant, node times made from either
# occupancy rule must be recognised as that rule, with its factor. (A real bench file of the Vulkan device
# against the model of the same graphs: suite gpu-check, tests/gpu_check_dry.sh.)
# usage: model_vs_measured.sh LDM_VK PYTHON3 SCRIPT
set -euo pipefail
bin=$1 py=$2 script=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" bench --model --json "$tmp/auto.json" > /dev/null
LDM_VK_TILE=small "$bin" bench --model --json "$tmp/small.json" > /dev/null
"$py" "$script" --self-test "$tmp/auto.json"
"$py" "$script" --self-test "$tmp/small.json"
