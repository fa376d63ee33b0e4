#!/usr/bin/env bash
# Suite mpi: data-parallel `mpirun -np 2 ldm-vk train` (docs/distributed.md) on a tiny run.
#  - cpu: 2 ranks match the 1-rank run at the same global batch at every logged step of both stages
#    (|loss difference| <= TOL_REL * |loss|: the runs differ only in the order of the gradient sum), and
#    two 2-rank runs give bitwise the same losses and weights
#  - vk (lavapipe, the 2 ranks share the one device): the same
#  - a rank that fails (rank 1 given a data directory that does not exist) ends the job with a message
#    naming the rank; a rank killed (SIGKILL) ends the job, mpirun names the rank, and `--resume` with 2
#    ranks finishes from the last checkpoint bitwise like an uninterrupted 2-rank run
#  - --batch 7 with 2 ranks: one line, exit status 2
# Skips (77) without mpirun or in a build without MPI, unless LDM_REQUIRE_MPI=1 (CI) makes that a failure.
# usage: run.sh LDM_VK mpi|nompi
set -uo pipefail
exe=$1
built=$2
skip() {
  if [ "${LDM_REQUIRE_MPI:-0}" = 1 ]; then echo "FAIL (LDM_REQUIRE_MPI=1): $1"; exit 1; fi
  echo "SKIP: $1"; exit 77
}
command -v mpirun >/dev/null || skip "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
[ "$built" = mpi ] || skip "ldm-vk was built without MPI (install libopenmpi-dev, reconfigure)"
TOL_REL=1e-5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
MPI=(mpirun --oversubscribe -np 2)
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
# shared memory without cross-memory attach: works in containers that forbid ptrace
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export LDM_THREADS=1 # one CPU thread per rank: 2 ranks on 2 cores
fail=0
bad() { echo "FAIL: $*"; fail=1; }
run() { # run LOG CMD...: the command's stdout+stderr into LOG; returns its status
  local log=$1
  shift
  timeout 600 "$@" >"$log" 2>&1
}
ARGS=(train --config tiny --vae-steps 8 --unet-steps 8 --batch 8 --limit-images 128 --log-every 1 --ckpt-every 0
      --sample-steps 2 --quiet)

# compare A B MODE: metrics rows (stage, step) alike; MODE tol: losses within TOL_REL; bitwise: equal
compare() {
  python3 - "$1" "$2" "$3" "$TOL_REL" <<'PY'
import json, sys
a, b, mode, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
ra = [json.loads(l) for l in open(a)]
rb = [json.loads(l) for l in open(b)]
if [(r["stage"], r["step"]) for r in ra] != [(r["stage"], r["step"]) for r in rb] or not ra:
    sys.exit("rows differ: %d vs %d" % (len(ra), len(rb)))
worst = {}
for x, y in zip(ra, rb):
    for k in ("loss", "rec", "kl", "grad_norm"):
        if k not in x: continue
        if mode == "bitwise":
            if x[k] != y[k]: sys.exit("%s step %d %s: %r vs %r" % (x["stage"], x["step"], k, x[k], y[k]))
        elif k == "loss":
            d = abs(x[k] - y[k])
            worst[x["stage"]] = max(worst.get(x["stage"], 0), d)
            if d > tol * abs(x[k]): sys.exit("%s step %d loss %r vs %r" % (x["stage"], x["step"], x[k], y[k]))
print(" ".join("%s max |loss diff| %.3g;" % (s, worst[s]) for s in sorted(worst)) if worst else "bitwise equal")
PY
}
same_files() {
  for f in state_vae.safetensors state_unet.safetensors vae.safetensors unet.safetensors; do
    cmp -s "$1/$f" "$2/$f" || { echo "$f differs"; return 1; }
  done
}
no_validation() { ! grep -qi "validation" "$1" || { grep -i -m3 validation "$1"; return 1; }; }

for dev in cpu vk; do
  if [ "$dev" = vk ] && ! "$exe" devices >/dev/null 2>&1; then
    [ "${LDM_REQUIRE_VULKAN:-0}" = 1 ] && bad "vk: no Vulkan device" || echo "vk: no Vulkan device, skipped"
    continue
  fi
  d=$tmp/$dev
  run "$d.1.log" "$exe" "${ARGS[@]}" --device $dev --out "$d/one" || { bad "$dev 1 rank: exit $?"; cat "$d.1.log"; continue; }
  for k in a b; do
    run "$d.2$k.log" "${MPI[@]}" "$exe" "${ARGS[@]}" --device $dev --out "$d/two$k" ||
      { bad "$dev 2 ranks ($k): exit $?"; cat "$d.2$k.log"; }
  done
  [ "$fail" = 0 ] || continue
  for l in "$d.1.log" "$d.2a.log" "$d.2b.log"; do no_validation "$l" || bad "$dev: validation messages in $l"; done
  r=$(compare "$d/one/metrics.jsonl" "$d/twoa/metrics.jsonl" tol) && echo "$dev 1 vs 2 ranks: $r" ||
    bad "$dev 1 vs 2 ranks: $r"
  r=$(compare "$d/twoa/metrics.jsonl" "$d/twob/metrics.jsonl" bitwise) && echo "$dev 2 ranks twice: $r" ||
    bad "$dev 2 ranks twice: $r"
  same_files "$d/twoa" "$d/twob" || bad "$dev: two 2-rank runs wrote different weights"
  grep -q '"allreduce_ms"' "$d/twoa/metrics.jsonl" || bad "$dev: no allreduce_ms in the 2-rank metrics"
done

# --batch not divisible by the ranks: one line, exit 2 (mpirun -q: no banner of mpirun's own)
run "$tmp/b7.log" "${MPI[@]}" -q "$exe" train --config tiny --device cpu --out "$tmp/b7" --batch 7 --quiet
rc=$?
[ "$rc" = 2 ] || bad "--batch 7 with 2 ranks: exit $rc, expected 2"
[ "$(grep -c . "$tmp/b7.log")" = 1 ] && grep -q -- "--batch 7" "$tmp/b7.log" ||
  { bad "--batch 7 with 2 ranks: expected one line naming --batch 7"; cat "$tmp/b7.log"; }
[ -e "$tmp/b7" ] && bad "--batch 7 with 2 ranks: made the run directory"

# a rank that fails on its own (rank 1's --data does not exist): the job ends, the message names rank 1
run "$tmp/r1.log" mpirun --oversubscribe $([ "$(id -u)" = 0 ] && echo --allow-run-as-root) \
  -np 1 "$exe" "${ARGS[@]}" --device cpu --out "$tmp/r1" : -np 1 "$exe" "${ARGS[@]}" --device cpu --out "$tmp/r1" \
  --data "$tmp/no-such-dir"
rc=$?
[ "$rc" != 0 ] || bad "a failing rank 1: the job exited 0"
grep -q "ldm-vk: rank 1: .*no-such-dir" "$tmp/r1.log" || { bad "a failing rank 1: no message naming it"; cat "$tmp/r1.log"; }

# kill rank 1 after the first checkpoint; --resume finishes like an uninterrupted run
K=(train --config tiny --device cpu --vae-steps 300 --unet-steps 4 --batch 8 --limit-images 128 --log-every 10
   --ckpt-every 10 --sample-steps 2 --quiet)
run "$tmp/full.log" "${MPI[@]}" "$exe" "${K[@]}" --out "$tmp/full" || { bad "uninterrupted 2-rank run: exit $?"; cat "$tmp/full.log"; }
"${MPI[@]}" "$exe" "${K[@]}" --out "$tmp/kill" >"$tmp/kill.log" 2>&1 &
mp=$!
for _ in $(seq 1 600); do [ -e "$tmp/kill/state_vae.safetensors" ] && break; sleep 0.05; done
victim=""
for p in $(pgrep -P $mp); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$p
done
if [ -z "$victim" ] || [ ! -e "$tmp/kill/state_vae.safetensors" ]; then
  bad "kill: no checkpoint or no rank 1 to kill"
  wait $mp
else
  kill -9 "$victim"
  wait $mp
  rc=$?
  [ "$rc" != 0 ] || bad "kill: the job exited 0 after rank 1 was killed"
  grep -qi "rank 1" "$tmp/kill.log" || { bad "kill: no message naming rank 1"; cat "$tmp/kill.log"; }
  if grep -q '"stage":"unet"' "$tmp/kill/metrics.jsonl"; then
    echo "kill: the run had reached the UNet stage; the kill test says nothing"
  fi
  run "$tmp/resume.log" "${MPI[@]}" "$exe" "${K[@]}" --out "$tmp/kill" --resume ||
    { bad "kill: --resume with 2 ranks: exit $?"; cat "$tmp/resume.log"; }
  r=$(compare "$tmp/full/metrics.jsonl" "$tmp/kill/metrics.jsonl" bitwise) && echo "kill rank 1 + resume: $r" ||
    bad "kill rank 1 + resume: $r"
  same_files "$tmp/full" "$tmp/kill" || bad "kill rank 1 + resume: the weights differ from the uninterrupted run"
fi
[ "$fail" = 0 ] && echo "mpi: all passed"
exit $fail
