#!/usr/bin/env bash
# The portable build (docs/building.md: -Dnative=false, what is installed or packaged elsewhere) with the
# project's own compiler and warnings as errors:
#
#   tests/portable/run.sh SOURCE_DIR BUILD_DIR CC...      (registered as `meson test --suite portable`)
#
# The normal build is -march=native, so on a host with AVX-512 it never compiles the CPU twins' plain
# (and AVX2) paths; this configures BUILD_DIR with -Dnative=false, builds ldm-vk and the ops-conv and
# ops-norm suites there, runs those suites and `ldm-vk conformance --cpu-only` (every op's fast CPU twin
# against the reference). Exit status: 0 pass, 1 a failure.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 SOURCE_DIR BUILD_DIR CC..." >&2
  exit 2
fi
src=$(cd "$1" && pwd)
bld=$2
shift 2
t0=$(date +%s)
stamp() { echo "portable: [$(($(date +%s) - t0)) s] $*"; }
if [ ! -f "$bld/build.ninja" ]; then
  stamp "configuring $bld (-Dnative=false, CC=$*)"
  log=$(mktemp)
  CC="$*" meson setup "$bld" "$src" --buildtype=release -Dnative=false >"$log" 2>&1 || {
    cat "$log" >&2
    rm -f "$log"
    exit 1
  }
  rm -f "$log"
fi
stamp "building ldm-vk and the ops-conv, ops-norm suites"
ninja -C "$bld" ldm-vk tests/test_ops_conv tests/test_ops_norm
status=0
stamp "running the ops-conv and ops-norm suites"
meson test -C "$bld" --no-rebuild --print-errorlogs ops-conv ops-norm || status=1
stamp "ldm-vk conformance --cpu-only"
out=$("$bld/ldm-vk" conformance --cpu-only 2>&1) || {
  echo "$out" | tail -n 20 >&2
  status=1
}
echo "$out" | tail -n 1
stamp "done: $([ $status = 0 ] && echo pass || echo FAILED)"
exit $status
