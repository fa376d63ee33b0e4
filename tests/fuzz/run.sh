#!/usr/bin/env bash
# Build and run every libFuzzer harness: tests/fuzz/fuzz_<name>.c (see tests/fuzz/README.md).
#
#   tests/fuzz/run.sh [SECONDS_PER_HARNESS]      (default 60; 0 = only replay corpus and regressions)
#
# For each harness, found by glob:
#   1. build it with clang -fsanitize=fuzzer,address,undefined over the sources named on its
#      "LDM_FUZZ_SOURCES:" line (paths from the repository root) plus src/core/error.c and env.c;
#   2. run every file in tests/fuzz/regressions/<name>/ once, then every file of the seed corpus
#      tests/fuzz/corpus/<name>/ once;
#   3. fuzz for SECONDS_PER_HARNESS (-max_total_time) starting from the seeds, the regressions and
#      what earlier runs found (kept in the build folder, never in the checked-in corpus), with the
#      dictionary tests/fuzz/fuzz_<name>.dict if there is one.
# Any crash, sanitizer report, leak, timeout or out-of-memory fails the run; the input that caused
# it is kept under the build folder and named in the output: copy it into regressions/<name>/ and
# fix the cause.
#
# Environment: LDM_FUZZ_BUILD (build folder; default <repo>/build-fuzz), LDM_FUZZ_ONLY (a
# comma-separated list of harness names), CLANG (default clang), LDM_FUZZ_FLAGS (extra libFuzzer
# flags, e.g. -jobs=2).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-60}
case "$secs" in '' | *[!0-9]*) echo "fuzz: seconds per harness must be a whole number, not '$secs'" >&2; exit 2 ;; esac
out=${LDM_FUZZ_BUILD:-$root/build-fuzz}
cc=${CLANG:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found: run scripts/deps.sh (it installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
if ! pkg-config --exists libpng libjpeg zlib; then
  echo "fuzz: libpng / libjpeg / zlib development files not found: run scripts/deps.sh" >&2
  exit 1
fi
mkdir -p "$out"

# shellcheck disable=SC2207,SC2054
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter -I"$root/include" -I"$root/src"
        $(pkg-config --cflags libpng libjpeg zlib))
# shellcheck disable=SC2207
libs=($(pkg-config --libs libpng libjpeg zlib) -lm -lpthread)
# libFuzzer: a 10 s input is a hang; 2 GiB of RSS, or one malloc of more than 1 GiB, is a failure.
fflags=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1)
# shellcheck disable=SC2206
extra=(${LDM_FUZZ_FLAGS:-})
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

files_in() { [ -d "$1" ] && find "$1" -maxdepth 1 -type f ! -name '.*' | LC_ALL=C sort; return 0; }

failed=()
summary=()
shopt -s nullglob
harnesses=("$here"/fuzz_*.c)
[ ${#harnesses[@]} -gt 0 ] || { echo "fuzz: no harness (tests/fuzz/fuzz_*.c)" >&2; exit 1; }
for src in "${harnesses[@]}"; do
  name=$(basename "$src" .c)
  name=${name#fuzz_}
  if [ -n "${LDM_FUZZ_ONLY:-}" ] && [[ ",$LDM_FUZZ_ONLY," != *",$name,"* ]]; then continue; fi
  bin="$out/fuzz_$name"
  srcs=("$root/src/core/error.c" "$root/src/core/env.c")
  # shellcheck disable=SC2013 # words: the source paths on that line
  for s in $(sed -n 's/.*LDM_FUZZ_SOURCES:\(.*\)$/\1/p' "$src" | sed 's/\*\///'); do
    [ -f "$root/$s" ] || { echo "fuzz: $name: LDM_FUZZ_SOURCES names $s, which does not exist" >&2; exit 1; }
    [ "$s" = src/core/error.c ] || [ "$s" = src/core/env.c ] || srcs+=("$root/$s")
  done
  echo "fuzz: building $name"
  "$cc" "${cflags[@]}" "$src" "${srcs[@]}" -o "$bin" "${libs[@]}"

  regs="$here/regressions/$name"
  seeds="$here/corpus/$name"
  work="$out/corpus-$name"
  arts="$out/artifacts-$name"
  mkdir -p "$work" "$arts"
  log="$out/fuzz_$name.log"
  dict=()
  [ -f "$here/fuzz_$name.dict" ] && dict=(-dict="$here/fuzz_$name.dict")

  # 1 + 2: replay regressions and seeds, each file once.
  mapfile -t replay < <(files_in "$regs"; files_in "$seeds")
  if [ ${#replay[@]} -gt 0 ]; then
    if ! "$bin" "${fflags[@]}" -artifact_prefix="$arts/" "${replay[@]}" >"$log.replay" 2>&1; then
      tail -n 60 "$log.replay" >&2
      echo "fuzz: $name FAILED replaying its regressions/corpus (full log: $log.replay)" >&2
      failed+=("$name")
      continue
    fi
  fi
  echo "fuzz: $name: replayed ${#replay[@]} regression and seed inputs"
  [ "$secs" -gt 0 ] || { summary+=("$name: replay only"); continue; }

  # 3: fuzz. New inputs go to $work (first corpus folder); the others are only read.
  dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  [ -d "$regs" ] && dirs+=("$regs")
  echo "fuzz: $name: fuzzing for ${secs}s"
  rc=0
  "$bin" "${fflags[@]}" "${dict[@]}" "${extra[@]}" -max_total_time="$secs" -artifact_prefix="$arts/" "${dirs[@]}" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
  if [ $rc -ne 0 ]; then
    tail -n 60 "$log" >&2
    art=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/Test unit written to //' || true)
    echo "fuzz: $name FAILED (exit $rc) after ${execs:-?} executions; input: ${art:-see $log}" >&2
    echo "fuzz: reproduce with: $bin ${art:-<input>}; keep it as tests/fuzz/regressions/$name/<short-name>" >&2
    failed+=("$name")
  else
    summary+=("$name: ${execs:-?} executions in ${secs}s, ${cov:-cov ?}, corpus $(files_in "$work" | wc -l) found")
  fi
done

for l in "${summary[@]}"; do echo "fuzz: $l"; done
if [ ${#summary[@]} -eq 0 ] && [ ${#failed[@]} -eq 0 ]; then
  echo "fuzz: no harness ran (LDM_FUZZ_ONLY=${LDM_FUZZ_ONLY:-} names none of: $(cd "$here" && ls fuzz_*.c | sed 's/fuzz_//; s/\.c$//' | tr '\n' ' '))" >&2
  exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all harnesses passed"
