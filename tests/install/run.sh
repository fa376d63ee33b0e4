#!/usr/bin/env bash
# Install-and-consume test (meson test --suite install): stage `meson install` of the build directory
# into a temporary DESTDIR, check what was installed (headers, libldm.so exporting only ldm_* symbols,
# libldm.a with only ldm_* global, ldm.pc, ldm-vk and its man page), then build programs against the
# staged prefix with nothing but `pkg-config ldm`:
#   consumer.c    dynamically and statically (pkg-config --static): trains `tiny` a few CPU steps, samples
#   consumer.cpp  the same from C++ (the headers' extern "C" guards), dynamically
#   clash.c       statically, defining its own vkCreateInstance / stbi_write_png / ...: must link and run
#
#   run.sh BUILD_ROOT MESON MAN(yes|no) STATIC_LOCAL(yes|no) CC...
# Exit 77 (skip) when no C++ compiler exists, after every other check passed.
set -euo pipefail
build=$1 meson=$2 man=$3 static_local=$4
shift 4
cc=("$@")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cxx=${CXX:-c++}

tmp=$(mktemp -d /tmp/ldm-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "install: FAIL: $*" >&2
  exit 1
}
stage=$tmp/stage

echo "install: meson install -C $build --destdir $stage"
DESTDIR='' "$meson" install -C "$build" --destdir "$stage" --no-rebuild --skip-subprojects --quiet \
  >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "meson install"; }

pc=$(find "$stage" -name ldm.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no pkgconfig/ldm.pc installed"
# the staged ldm.pc with prefix= pointing into DESTDIR (what relocating an install does); includedir and
# libdir must be relative to ${prefix}, or the checks below find nothing
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir "$tmp/pc"
sed "s|^prefix=.*|prefix=$stage$prefix|" "$pc" >"$tmp/pc/ldm.pc"
export PKG_CONFIG_PATH=$tmp/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
[ "$(pkg-config --modversion ldm)" = "$("$build/ldm-vk" --version | awk '{print $2}')" ] ||
  fail "ldm.pc version $(pkg-config --modversion ldm) is not ldm-vk's ($("$build/ldm-vk" --version))"
libdir=$(pkg-config --variable=libdir ldm)
incdir=$(pkg-config --variable=includedir ldm)

# what was installed
for h in "$here"/../../include/ldm/*.h; do
  [ -f "$incdir/ldm/$(basename "$h")" ] || fail "header ldm/$(basename "$h") not installed"
done
[ -f "$incdir/ldm/version.h" ] || fail "the generated ldm/version.h is not installed"
so=$(find "$libdir" -maxdepth 1 -name 'libldm.so.*.*' | head -n 1)
{ [ -n "$so" ] && [ -L "$libdir/libldm.so" ]; } || fail "libldm.so (with its version links) not installed in $libdir"
[ -f "$libdir/libldm.a" ] || fail "libldm.a not installed in $libdir"
exe=$(find "$stage" -path '*/bin/ldm-vk' -type f | head -n 1)
{ [ -n "$exe" ] && [ -x "$exe" ]; } || fail "bin/ldm-vk not installed"
"$exe" --version | grep -Eq '^ldm-vk [0-9]+\.[0-9]+\.[0-9]+ \(git [^)]+\)$' ||
  fail "installed ldm-vk --version: '$("$exe" --version)'"
if [ "$man" = yes ]; then
  page=$(find "$stage" -path '*/man1/ldm-vk.1' -type f | head -n 1)
  [ -n "$page" ] || fail "man page ldm-vk.1 not installed"
  for c in $("$build/ldm-vk" --help | awk '/^commands:/ {on = 1; next} on && /^$/ {exit} on {print $1}'); do
    grep -q "^\.SS \"ldm-vk $c\"" "$page" || fail "the man page lacks the section of 'ldm-vk $c'"
  done
fi

# only ldm_* leaves libldm
bad=$(nm -D --defined-only "$so" | awk 'NF >= 3 {print $3}' | grep -v '^ldm_' || true)
[ -z "$bad" ] || fail "libldm.so exports symbols other than ldm_*: $(echo "$bad" | head -n 20 | tr '\n' ' ')"
[ "$(nm -D --defined-only "$so" | grep -c ' ldm_train$')" = 1 ] || fail "libldm.so does not export ldm_train"
if [ "$static_local" = yes ]; then
  bad=$(nm -g --defined-only "$libdir/libldm.a" | awk 'NF >= 3 {print $3}' | grep -v '^ldm_' || true)
  [ -z "$bad" ] || fail "libldm.a has global symbols other than ldm_*: $(echo "$bad" | head -n 20 | tr '\n' ' ')"
fi

# consumers: flags from pkg-config only
read -r -a cflags <<<"$(pkg-config --cflags ldm)"
read -r -a libs <<<"$(pkg-config --libs ldm)"
# static: libldm.a by name, then what pkg-config --static adds (Libs.private, Requires.private)
read -r -a slibs <<<"$(pkg-config --static --libs ldm | sed 's/\(^\| \)-lldm\( \|$\)/\1-l:libldm.a\2/')"
cd "$tmp"
warn=(-Wall -Wextra -Werror)
"${cc[@]}" -std=c11 -pedantic "${warn[@]}" "${cflags[@]}" "$here/consumer.c" -o consumer_dyn "${libs[@]}" ||
  fail "building consumer.c against libldm.so"
"${cc[@]}" -std=c11 -pedantic "${warn[@]}" "${cflags[@]}" "$here/consumer.c" -o consumer_static "${slibs[@]}" ||
  fail "building consumer.c against libldm.a"
"${cc[@]}" -std=c11 -pedantic "${warn[@]}" "${cflags[@]}" "$here/clash.c" -o clash "${slibs[@]}" ||
  fail "building clash.c (host vk*/stb* symbols) against libldm.a"
readelf -d consumer_dyn | grep -q 'NEEDED.*libldm\.so' || fail "consumer_dyn does not load libldm.so"
! readelf -d consumer_static | grep -q 'NEEDED.*libldm' || fail "consumer_static still needs libldm.so"

export LDM_THREADS=${LDM_THREADS:-2}
mkdir w_dyn w_static w_cxx
LD_LIBRARY_PATH=$libdir ./consumer_dyn w_dyn || fail "consumer_dyn (libldm.so)"
./consumer_static w_static || fail "consumer_static (libldm.a)"
./clash clash.png || fail "clash (libldm.a beside host vk*/stb* symbols)"

if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "install: no C++ compiler ($cxx): the C++ consumer is skipped (install g++)" >&2
  exit 77
fi
"$cxx" -std=c++11 -pedantic "${warn[@]}" "${cflags[@]}" "$here/consumer.cpp" -o consumer_cxx "${libs[@]}" ||
  fail "building consumer.cpp against libldm.so"
LD_LIBRARY_PATH=$libdir ./consumer_cxx w_cxx || fail "consumer_cxx (libldm.so)"
echo "install: ok"
