#!/bin/sh
# Build the installed libldm.a from the internal static library: partial-link all its objects into one
# relocatable object, then make every global symbol but ldm_* local to it (objcopy), so volk's vk*
# pointers and stb's functions in it cannot clash with a host program's. Undefined references (libc,
# zlib, libpng, libjpeg) stay as they are.
#   static_lib.sh CC OBJCOPY AR INPUT.a OUTPUT.a
set -eu
cc=$1 objcopy=$2 ar=$3 in=$4 out=$5
tmp="$out.ldm.o"
rm -f "$tmp" "$out"
# shellcheck disable=SC2086 # CC may carry flags (ccache gcc, gcc -m32)
$cc -r -nostdlib -Wl,--whole-archive "$in" -Wl,--no-whole-archive -o "$tmp"
"$objcopy" --wildcard --keep-global-symbol='ldm_*' "$tmp"
"$ar" rcs "$out" "$tmp"
rm -f "$tmp"
