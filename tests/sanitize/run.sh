#!/usr/bin/env bash
# Sanitizer run of ldm-vk: AddressSanitizer with LeakSanitizer, and UndefinedBehaviorSanitizer.
#
#   tests/sanitize/run.sh SOURCE_DIR [BUILD_DIR]      (registered as `meson test --suite sanitize`)
#
# Configures a separate build directory (clang, -Db_sanitize=address,undefined, -Dnative=false),
# builds ldm-vk and the core, io and train suites there, runs those suites, one tiny CPU training run,
# the CPU conformance (`conformance --cpu-only`) and one step of each stage of the fmnist full preset on
# the CPU, of the sanitized ldm-vk; then, in BUILD_DIR-native (-Dnative=true: this host's vector paths of
# the CPU twins), the ops-conv and ops-norm suites, the CPU conformance and the fmnist steps again. Every sanitized process (the test binaries, the ldm-vk runs the train
# suite starts) writes its reports to BUILD_DIR/sanitizer-logs/; any report there, or any failing
# suite, fails this script. tests/sanitize/ubsan.supp suppresses findings in third-party code only
# (each entry documented there); nothing of ours is suppressed, and there are no leak suppressions.
#
# Environment:
#   LDM_SANITIZE_VK=1    also run the train suite's Vulkan parts (lavapipe) under the sanitizers;
#                        off by default because it doubles the run time on a 2-core machine
#   LDM_SANITIZE_CC=cc   compiler (default clang, else gcc)
# Exit status: 0 clean, 1 a failure or a sanitizer report, 77 (skip) no compiler with sanitizers.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 SOURCE_DIR [BUILD_DIR]" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
bld=${2:-$src/build-sanitize}
t0=$(date +%s)
stamp() { echo "sanitize: [$(($(date +%s) - t0)) s] $*"; }

cc=${LDM_SANITIZE_CC:-}
if [ -z "$cc" ]; then
  if command -v clang >/dev/null 2>&1; then cc=clang; else cc=gcc; fi
fi
# the compiler must link an ASan+UBSan program (the runtimes come with clang, or gcc's libasan/libubsan)
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int main(void) { return 0; }' >"$probe/p.c"
if ! "$cc" -fsanitize=address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
  echo "sanitize: $cc cannot build with -fsanitize=address,undefined: skipped (install clang)" >&2
  exit 77
fi

# configure DIR NATIVE: a sanitized build directory, -Dnative=NATIVE
configure() {
  [ -f "$1/build.ninja" ] && return 0
  # clang keeps -Werror (its extra warnings are worth failing on); the project passes gcc-only -Wno-*
  # flags, which clang must not turn into errors. gcc (the fallback when clang is missing) builds here
  # without -Werror: the normal build already holds gcc's warnings to -Werror, and the instrumentation
  # changes what gcc's flow-based warnings see, so a warning here would not be a finding of this run.
  if "$cc" --version 2>/dev/null | grep -qi clang; then
    cargs=(-Dc_args=-Wno-unknown-warning-option)
  else
    cargs=(-Dwerror=false)
  fi
  stamp "configuring $1 with $cc (-Dnative=$2)"
  CC="$cc" meson setup "$1" "$src" --buildtype=debugoptimized -Db_sanitize=address,undefined \
    -Db_lundef=false -Dnative="$2" "${cargs[@]}" >"$probe/setup.log" 2>&1 || {
    cat "$probe/setup.log" >&2
    exit 1
  }
}
configure "$bld" false
stamp "building ldm-vk and the core, io, train suites"
ninja -C "$bld" ldm-vk tests/test_core tests/test_io tests/test_train

logs="$bld/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
# log_path: every process writes its reports to LOG.PID (created only when there is a report), so a
# report from an ldm-vk run whose stderr a test swallows is still seen. Set unconditionally: meson test
# would otherwise put in its own defaults.
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$src/tests/sanitize/ubsan.supp:log_path=$logs/ubsan"
export LSAN_OPTIONS="log_path=$logs/lsan"
if [ "${LDM_SANITIZE_VK:-0}" = 1 ]; then
  unset LDM_TEST_CPU_ONLY
else
  export LDM_TEST_CPU_ONLY=1
  unset LDM_REQUIRE_VULKAN
fi

status=0
stamp "running the core, io and train suites (LDM_TEST_CPU_ONLY=${LDM_TEST_CPU_ONLY:-0})"
meson test -C "$bld" --no-rebuild --print-errorlogs core io train || status=1

stamp "ldm-vk train --config tiny --device cpu --vae-steps 10 --unet-steps 10"
work=$(mktemp -d /tmp/ldm-sanitize-XXXXXX)
# --limit-images and --sample-steps keep the latent cache and the final grid short under ASan; the graph
# building, both stages, checkpoints and sampling are the same code as without them
if "$bld/ldm-vk" train --config tiny --device cpu --vae-steps 10 --unet-steps 10 --limit-images 2048 \
  --sample-steps 5 --out "$work/tiny" >"$work/train.log" 2>&1; then
  tail -n 3 "$work/train.log"
else
  echo "sanitize: ldm-vk train failed:" >&2
  cat "$work/train.log" >&2
  status=1
fi
# cpu_checks LDM_VK WHAT: every op's fast CPU twin against the reference (each CPU scratch request exactly
# sized under ASan, src/cpu/pool.c), and the fmnist full preset's own layer shapes for one step of each
# stage: the tiny config's layers are too small for the CPU convolutions' channel-last and blocked paths
cpu_checks() {
  stamp "$2ldm-vk conformance --cpu-only; ldm-vk train --config fmnist --preset full, 1 + 1 steps"
  if ! "$1" conformance --cpu-only >"$work/conf.log" 2>&1; then
    echo "sanitize: $2ldm-vk conformance --cpu-only failed:" >&2
    tail -n 20 "$work/conf.log" >&2
    status=1
  fi
  rm -rf "$work/fmnist"
  if ! "$1" train --config fmnist --preset full --vae-steps 1 --unet-steps 1 --device cpu --batch 4 \
    --limit-images 16 --sample-steps 1 --quiet --out "$work/fmnist" >"$work/fmnist.log" 2>&1; then
    echo "sanitize: $2ldm-vk train --config fmnist failed:" >&2
    cat "$work/fmnist.log" >&2
    status=1
  fi
}
cpu_checks "$bld/ldm-vk" ""

# The same CPU checks built with -march=native: the build above is generic, so the CPU twins' vector
# paths for this host (AVX-512 permute packing, transposes and the buffers' slack they read, AVX
# statistics) run under the sanitizers here
nbld="$bld-native"
configure "$nbld" true
stamp "building the -Dnative=true variant: ldm-vk, the ops-conv and ops-norm suites"
ninja -C "$nbld" ldm-vk tests/test_ops_conv tests/test_ops_norm
meson test -C "$nbld" --no-rebuild --print-errorlogs ops-conv ops-norm || status=1
cpu_checks "$nbld/ldm-vk" "native: "
rm -rf "$work"

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  for f in $reports; do
    echo "==== $f" >&2
    cat "$f" >&2
  done
  echo "sanitize: $(echo "$reports" | wc -l) sanitizer report(s), see above" >&2
  status=1
fi
stamp "done: $([ $status = 0 ] && echo clean || echo FAILED)"
exit $status
