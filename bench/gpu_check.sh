#!/usr/bin/env bash
# One prepared device check for a lent NVIDIA GPU (see the device tool's README): run from the repo root
# on the device machine with `build/` and `.gl/` carried. Builds nothing. Prints a short table last and
# writes results under $OUT (or bench/results/ when $OUT is unset).
#   here, once:  echo /.gl/ >> .git/info/exclude; mkdir -p .gl /tmp/amd64/partial
#                o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#                apt-get $o update; (cd .gl && apt-get $o download libvulkan1)
#   device:      run(command="bash bench/gpu_check.sh", carry=["build", ".gl"])
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" / ; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export LDM_VK_PIPELINE_CACHE=off
res=${OUT:-bench/results}
mkdir -p "$res"
day=$(date +%F)
B=build/ldm-vk
$B devices | tee "$res/devices-$day.txt"
$B conformance --device vk --json "$res/conformance-nvidia-$day.json" > "$res/conformance-nvidia-$day.txt" 2>&1
conf_rc=$?
$B bench --device vk --preset full --iters 30 --json "$res/bench-vk-full-$day.json" > "$res/bench-vk-full-$day.txt" 2>&1
bench_rc=$?
torch_line="(PyTorch reference not run)"
if python3 -c "import torch" 2>/dev/null; then
  for m in eager graph; do
    PYTHONPATH=python python3 -m ldm_vk.bench --mode $m --steps 30 > "$res/torch-$m-$day.json" 2>/dev/null
  done
  torch_line="$(cat "$res/torch-graph-$day.json")"
fi
# every tile variant forced in turn (LDM_VK_TILE), then which one wins per GEMM / convolution shape
tiles_rc=0
for t in auto large medium small narrow wide; do
  LDM_VK_TILE=$t $B bench --device vk --preset full --iters 10 --json "$res/bench-tile-$t-$day.json" \
    > "$res/bench-tile-$t-$day.txt" 2>&1 || tiles_rc=$?
done
python3 scripts/tile_winners.py "$res/bench-tile-auto-$day.json" $(for t in large medium small narrow wide; do
  printf '%s=%s ' $t "$res/bench-tile-$t-$day.json"; done) > "$res/tile-winners-$day.txt" 2>&1 || tiles_rc=$?
# the model's node predictions under the same switches, against those node times: which occupancy rule the
# device follows (whole waves or min(1, w)) and the tiled efficiency's factor (docs/perf.md "Change 16")
fit_rc=0
pairs=()
for t in auto large medium small narrow wide; do
  LDM_VK_TILE=$t $B bench --model --target h200 --preset full --json "$res/model-tile-$t-$day.json" \
    > /dev/null 2>&1 || fit_rc=$?
  pairs+=("$res/model-tile-$t-$day.json" "$res/bench-tile-$t-$day.json")
done
python3 scripts/model_vs_measured.py "${pairs[@]}" --top 40 > "$res/model-vs-measured-$day.txt" 2>&1 || fit_rc=$?
echo "==== summary"
tail -1 "$res/conformance-nvidia-$day.txt"
echo "conformance rc=$conf_rc bench rc=$bench_rc"
grep -E "train step|forward" "$res/bench-vk-full-$day.txt"
echo "torch (CUDA graph): $torch_line"
echo "tile variants rc=$tiles_rc: $(tail -1 "$res/tile-winners-$day.txt")"
grep -E "train step|forward" "$res"/bench-tile-*-$day.txt
echo "model against measured rc=$fit_rc:"
grep -E "measured / model|follows|alike|cannot tell" "$res/model-vs-measured-$day.txt"
# the level overlap of the default plans (the first pair: LDM_VK_TILE=auto)
grep -m 3 "its nodes one at a time" "$res/model-vs-measured-$day.txt"
