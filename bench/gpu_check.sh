#!/usr/bin/env bash
# One prepared device check for a lent GPU (see the device tool's README): devices, conformance, the bench
# (fmnist, full preset, batch 128), PyTorch's eager and CUDA-graph steps alongside, every tile variant forced
# in turn and which one wins per shape, and the model's predictions against the measured node times. Builds
# nothing. Prints a short table last, exits non-zero if a part failed, and writes results under $OUT (or
# bench/results/ when $OUT is unset).
#   here, first:  bash bench/gpu_prepare.sh --dry-run   (a portable ldm-vk and its libraries in .gpu/bin,
#                 then this script's quick form on lavapipe from there)
#   device:       run(command="bash bench/gpu_check.sh", carry=[".gpu/bin"], timeout_s=540)
# Without .gpu/bin it runs build/ldm-vk (LDM_VK overrides either), unpacking any .gl/*.deb into / first.
# LDM_GPU_CHECK_QUICK=1: the tiny config at batch 4, one conformance op, one timed run, the small tile
# variant only (a dry run of this script: suite gpu-check).
set -uo pipefail
t0=$(date +%s)
if [ -z "${LDM_VK:-}" ] && [ -f .gpu/bin/ldm-vk ]; then
  B=.gpu/bin/ldm-vk
  [ -x "$B" ] || chmod +x "$B" # should a copy have lost the mode
  libs=$PWD/.gpu/bin/lib
else
  B=${LDM_VK:-build/ldm-vk}
  libs=
  for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
fi
# the device machines' recipe: refresh the loader's cache there (unpacked .debs, the driver's libraries)
nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nv" ] || compgen -G ".gl/*.deb" > /dev/null; then ldconfig 2> /dev/null || true; fi
[ -x "$B" ] || { echo "gpu_check.sh: $B not found: run bench/gpu_prepare.sh here first (and carry .gpu/bin)" >&2; exit 2; }
# ldm-vk's own libraries for ldm-vk alone: python3 and torch keep the system's
ldpath=${libs:+$libs${LD_LIBRARY_PATH:+:}}${LD_LIBRARY_PATH:-}
ldm() { LD_LIBRARY_PATH=$ldpath timeout -k 5 "$1" "$B" "${@:2}"; }
# the NVIDIA driver of the device machines, where no other is named (elsewhere: the loader finds its own)
[ -n "${VK_DRIVER_FILES:-}" ] || [ ! -f "$nv" ] || export VK_DRIVER_FILES=$nv
export LDM_VK_PIPELINE_CACHE=off
PY=${PYTHON:-python3}
if [ "${LDM_GPU_CHECK_QUICK:-0}" = 1 ]; then
  cfg=(--config tiny --batch 4) conf=(--op conv2d) it=1 tit=1 torch_args=(--batch 4 --steps 1) variants=(small)
else
  cfg=(--preset full) conf=() it=30 tit=10 torch_args=(--steps 30) variants=(large medium small narrow wide)
fi
day=$(date +%F)
# under the device tool's $OUT (8 files come back at most) the results are one archive, rewritten after every
# part so that a run stopped at its limit still brings back what it had; elsewhere they go to bench/results/
if [ -n "${OUT:-}" ]; then
  res=$(mktemp -d)
  trap 'rm -rf "$res"' EXIT
else
  res=bench/results
  mkdir -p "$res"
fi
phase() {
  echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$res/gpu-check-phases-$day.txt"
  [ -z "${OUT:-}" ] || tar -czf "$OUT/gpu-check-$day.tar.gz" -C "$res" .
}
phase "$(ldm 10 --version 2>&1 | head -1), VK_DRIVER_FILES=${VK_DRIVER_FILES:-(unset)}"
ldm 60 devices | tee "$res/devices-$day.txt"
dev_rc=${PIPESTATUS[0]}
phase "conformance"
ldm 300 conformance --device vk "${conf[@]}" --json "$res/conformance-vk-$day.json" > "$res/conformance-vk-$day.txt" 2>&1
conf_rc=$?
phase "bench, $it runs"
ldm 180 bench --device vk "${cfg[@]}" --iters $it --json "$res/bench-vk-$day.json" > "$res/bench-vk-$day.txt" 2>&1
bench_rc=$?
torch_line="(PyTorch reference not run: $PY has no torch)"
if "$PY" -c "import torch" 2> /dev/null; then
  phase "PyTorch eager and CUDA graph"
  for m in eager graph; do
    PYTHONPATH=python timeout -k 5 180 "$PY" -m ldm_vk.bench --mode $m "${torch_args[@]}" > "$res/torch-$m-$day.json" \
      2> "$res/torch-$m-$day.err"
  done
  torch_line=
  for m in eager graph; do # the JSON line, or the last line of what went wrong
    l=$(tail -1 "$res/torch-$m-$day.json")
    torch_line+=" $m: ${l:-$(tail -1 "$res/torch-$m-$day.err")}"
  done
fi
# every tile variant forced in turn (LDM_VK_TILE), then which one wins per GEMM / convolution shape
phase "tile variants, $tit runs each"
tiles_rc=0
for t in auto "${variants[@]}"; do
  LDM_VK_TILE=$t ldm 120 bench --device vk "${cfg[@]}" --iters $tit --json "$res/bench-tile-$t-$day.json" \
    > "$res/bench-tile-$t-$day.txt" 2>&1 || tiles_rc=$?
done
"$PY" scripts/tile_winners.py "$res/bench-tile-auto-$day.json" $(for t in "${variants[@]}"; do
  printf '%s=%s ' $t "$res/bench-tile-$t-$day.json"; done) > "$res/tile-winners-$day.txt" 2>&1 || tiles_rc=$?
# the model's node predictions under the same switches, against those node times: which occupancy rule the
# device follows (whole waves or min(1, w)) and the tiled efficiency's factor (docs/perf.md "Change 16")
phase "the model against the measured node times"
fit_rc=0
pairs=()
for t in auto "${variants[@]}"; do
  LDM_VK_TILE=$t ldm 60 bench --model --target h200 "${cfg[@]}" --json "$res/model-tile-$t-$day.json" \
    > /dev/null 2>&1 || fit_rc=$?
  pairs+=("$res/model-tile-$t-$day.json" "$res/bench-tile-$t-$day.json")
done
"$PY" scripts/model_vs_measured.py "${pairs[@]}" --top 40 > "$res/model-vs-measured-$day.txt" 2>&1 || fit_rc=$?
summary() {
  echo "==== summary"
  tail -1 "$res/conformance-vk-$day.txt"
  echo "devices rc=$dev_rc conformance rc=$conf_rc bench rc=$bench_rc"
  grep -E "train step|forward" "$res/bench-vk-$day.txt"
  echo "torch:$torch_line"
  echo "tile variants rc=$tiles_rc: $(tail -1 "$res/tile-winners-$day.txt")"
  (cd "$res" && grep -E "train step|forward" bench-tile-*-$day.txt)
  echo "model against measured rc=$fit_rc:"
  grep -E "measured / model|follows|alike|cannot tell" "$res/model-vs-measured-$day.txt"
  # the level overlap of the default plans (the first pair: LDM_VK_TILE=auto)
  grep -m 3 "its nodes one at a time" "$res/model-vs-measured-$day.txt"
}
summary | tee "$res/gpu-check-summary-$day.txt"
phase "done"
[ -z "${OUT:-}" ] || cp "$res/gpu-check-summary-$day.txt" "$OUT/"
[ $((dev_rc | conf_rc | bench_rc | tiles_rc | fit_rc)) = 0 ]
